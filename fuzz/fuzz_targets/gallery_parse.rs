//! `Gallery::from_bytes` on arbitrary bytes; whatever parses must serialise back to bytes
//! that parse to an equal gallery (and to the same bytes again).
//!
//! A gallery file ends with the SHA-256 of everything before it, which random mutations
//! almost never satisfy. So each input is parsed twice: as it is (the magic, length and
//! checksum checks), and resealed, with its last 32 bytes replaced by the SHA-256 of the rest,
//! so that mutations of the body reach the record parser. Encrypted galleries: each input is
//! also opened with a fixed key (the AEAD tag refuses almost everything), and every gallery
//! that parses must survive an encrypted round trip with that key.
#![no_main]

use facecore::{Embedding, Gallery, GalleryKey};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn key() -> GalleryKey {
    GalleryKey::from_bytes(&[0x5a; 32]).expect("32 bytes")
}

fn check(bytes: &[u8]) {
    let Ok(g) = Gallery::from_bytes(bytes) else { return };
    let out = g.to_bytes();
    let again = Gallery::from_bytes(&out).expect("a re-serialised gallery parses");
    assert_eq!(again, g, "round trip changed the gallery");
    assert_eq!(again.to_bytes(), out, "second serialisation differs");
    let sealed = g.to_encrypted_bytes(&key()).expect("encryption succeeds");
    assert_eq!(Gallery::from_encrypted_bytes(&sealed, &key()).expect("an encrypted gallery opens"), g, "encrypted round trip");

    // Use what was parsed: people, search and identification with a probe of its space.
    let people = g.people();
    assert_eq!(people.len(), g.len());
    if let (Some(space), false) = (g.space(), g.is_empty()) {
        // The dimension (> 0 once someone is enrolled), from the header: magic, version, flags, space id, then dim.
        let at = 24 + 4 + space.len();
        let dim = u32::from_le_bytes(out[at..at + 4].try_into().expect("4 bytes")) as usize;
        for d in [dim, dim + 1] {
            let probe = Embedding::new(space, (0..d).map(|i| (i % 7) as f32 - 3.0).collect()).expect("finite probe");
            match g.search(&probe, 3) {
                Ok(hits) => {
                    assert_eq!(d, dim, "a probe of another dimension was accepted");
                    assert_eq!(hits.len(), 3.min(g.len()));
                    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score || w[1].score.is_nan()));
                }
                Err(_) => assert_ne!(d, dim, "a probe of the gallery's space and dimension was refused"),
            }
            let _ = g.identify(&probe, 0.5);
        }
    }
    if let Some(first) = people.first() {
        let mut g2 = g.clone();
        assert!(g2.remove(&first.name));
        assert_eq!(g2.len(), g.len() - 1);
        let b2 = g2.to_bytes();
        assert_eq!(Gallery::from_bytes(&b2).expect("a gallery with one person removed parses"), g2);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Ok(g) = Gallery::from_encrypted_bytes(data, &key()) {
        check(&g.to_bytes());
    }
    if data.len() >= 32 {
        let body = &data[..data.len() - 32];
        let mut sealed = Vec::with_capacity(data.len());
        sealed.extend_from_slice(body);
        sealed.extend_from_slice(&Sha256::digest(body));
        if sealed != data {
            check(&sealed);
        }
    }
});
