//! JPEG files with data after the end-of-image marker (phones' "motion photos" append an MP4;
//! other tools pad or append a second image) decode exactly like the JPEG alone, whatever the
//! appended bytes look like, while a JPEG cut short is still refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use facecore::{Error, Image};

const JPEGS: [&str; 5] = ["obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg", "obama_small.jpg"];

/// Deterministic pseudo-random bytes (xorshift64*).
fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// An MP4 as a motion photo carries it: an `ftyp` box, then `mdat` with (random) media data.
fn mp4_like(seed: u64, media: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&24u32.to_be_bytes());
    v.extend_from_slice(b"ftypmp42\0\0\0\0isommp42");
    v.extend_from_slice(&u32::try_from(media + 8).unwrap().to_be_bytes());
    v.extend_from_slice(b"mdat");
    v.extend_from_slice(&random_bytes(seed, media));
    v
}

/// Trailing payloads: random data of many lengths, MP4-like boxes, and bytes that look like
/// JPEG markers (start of image, start of scan, end of image, a whole second JPEG, half of one).
fn payloads() -> Vec<(String, Vec<u8>)> {
    let mut p: Vec<(String, Vec<u8>)> = Vec::new();
    for (seed, n) in [(1, 1), (2, 2), (3, 7), (4, 100), (5, 4096), (6, 65_536), (7, 300_000)] {
        p.push((format!("{n} random bytes"), random_bytes(seed, n)));
    }
    for seed in 10..22 {
        // Long enough to hold FF DA (start of scan) about half of the time: the old check
        // took the last FF DA in the file for the image's own.
        p.push((format!("MP4-like, seed {seed}"), mp4_like(seed, 40_000)));
    }
    let small = std::fs::read(common::fixture("obama_small.jpg")).unwrap();
    p.push(("a second JPEG".into(), small.clone()));
    p.push(("the first half of a second JPEG".into(), small[..small.len() / 2].to_vec()));
    p.push(("FF D8 FF DA and no end".into(), b"\xff\xd8\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00\x12\x34".to_vec()));
    p.push(("FF D9".into(), b"\xff\xd9".to_vec()));
    p.push(("FF DA then FF D9".into(), b"\xff\xda\x00\x02\xab\xcd\xff\xd9junk".to_vec()));
    p.push(("FF".into(), b"\xff".to_vec()));
    p.push(("FF FF FF".into(), b"\xff\xff\xff".to_vec()));
    p.push(("zeros".into(), vec![0; 10_000]));
    p.push(("markers throughout".into(), [0xFFu8, 0xD8, 0xFF, 0xDA, 0x00, 0x00, 0xFF, 0xD0, 0xFF, 0x00].repeat(500)));
    p
}

#[test]
fn trailing_bytes_after_the_end_of_image_are_ignored() {
    let payloads = payloads();
    let mut checked = 0;
    for name in JPEGS {
        let jpeg = std::fs::read(common::fixture(name)).unwrap();
        let alone = Image::decode(&jpeg).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (what, tail) in &payloads {
            let mut with_tail = jpeg.clone();
            with_tail.extend_from_slice(tail);
            match Image::decode(&with_tail) {
                Ok(img) => assert!(img == alone, "{name} + {what}: decodes to other pixels than {name} alone"),
                Err(e) => panic!("{name} + {what}: refused: {e}"),
            }
            checked += 1;
        }
    }
    // From a file too (the path the CLI takes).
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("jpeg-trailing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jpeg = std::fs::read(common::fixture("obama.jpg")).unwrap();
    let motion = dir.join("motion.jpg");
    std::fs::write(&motion, [jpeg.as_slice(), &mp4_like(99, 200_000)].concat()).unwrap();
    assert!(Image::open(&motion).unwrap() == Image::decode(&jpeg).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("{checked} JPEG + trailing data combinations decode like the JPEG alone");
}

#[test]
fn truncated_jpegs_are_still_refused() {
    for name in JPEGS {
        let jpeg = std::fs::read(common::fixture(name)).unwrap();
        // Cuts all through the file: headers, EXIF (with its thumbnail's own markers), scan
        // data, and one byte short of the end.
        let mut cuts: Vec<usize> = (1..40).map(|k| jpeg.len() * k / 40).collect();
        cuts.extend([3, 4, 20, jpeg.len() - 2, jpeg.len() - 1]);
        for cut in cuts {
            assert!(
                matches!(Image::decode(&jpeg[..cut]), Err(Error::ImageDecode { .. })),
                "{name} cut to {cut} of {} bytes was not refused",
                jpeg.len()
            );
        }
    }
}
