//! Arbitrary bytes -> `Image::decode` (JPEG/PNG, EXIF orientation, size limits) and, when
//! they decode to a small image, YuNet detection on the result.
//!
//! Speed by design: decoding runs on every input; detection only on decoded images whose
//! longest side is at most 32 px (so the network input is always 32 x 32: one plan, built
//! once), with a score threshold of 0 so that every anchor reaches the box decoding, NMS and
//! clipping, and only once per distinct decoded image (most mutations that still decode
//! change nothing the detector sees). One YuNet run costs about as much as a hundred decodes
//! of these tiny files, even at 32 x 32: with detection on every decoded image of up to
//! 64 px (64 x 64 network input) the target ran at about 340 executions per second, with
//! up to 256 px scaled to 32 at about 420.
//!
//! Larger images are decoded only: the detector resizes every frame anyway, so their pixels
//! add decoding work (fuzzed here) but no new detector code. The downscaling path is fuzzed
//! by the c_abi target, whose detector takes frames of up to 72 px at a 32 px input size.
#![no_main]

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, OnceLock};

use facecore::{Detector, DetectorConfig, Image, ModelFile, ModelSource};
use libfuzzer_sys::fuzz_target;

/// The bundled YuNet, byte for byte (checked against the manifest when loaded).
static YUNET: &[u8] = include_bytes!("../../facecore/models/yunet_2023mar.onnx");

fn detector() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| {
        let src = ModelSource::memory().with_file(ModelFile::Yunet, YUNET).expect("YuNet matches the manifest");
        Detector::from_source(&src, DetectorConfig { score_threshold: 0.0, ..DetectorConfig::default() }).expect("YuNet loads")
    })
}

/// Whether these pixels were detected on before (a bounded memory of the last images).
fn seen(img: &Image) -> bool {
    static SEEN: Mutex<Option<HashSet<u64>>> = Mutex::new(None);
    let mut h = DefaultHasher::new();
    (img.width(), img.height(), img.as_rgb().as_raw()).hash(&mut h);
    let mut guard = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let set = guard.get_or_insert_with(HashSet::new);
    if set.len() > 1 << 16 {
        set.clear();
    }
    !set.insert(h.finish())
}

fuzz_target!(init: { detector(); }, |data: &[u8]| {
    let Ok(img) = Image::decode(data) else { return };
    let (w, h) = (img.width(), img.height());
    assert!(w > 0 && h > 0 && w <= facecore::MAX_SIDE && h <= facecore::MAX_SIDE);
    assert_eq!(img.as_rgb().as_raw().len(), w as usize * h as usize * 3);
    if w.max(h) > 32 || seen(&img) {
        return;
    }
    let det = detector();
    let faces = det.detect(&img).expect("detection of a decoded image succeeds");
    assert!(faces.len() <= det.config().max_faces);
    for f in &faces {
        let b = f.bbox;
        assert!([b.x, b.y, b.width, b.height].iter().all(|v| v.is_finite()) && b.width > 0.0 && b.height > 0.0, "bad box {b:?}");
        assert!(b.x >= 0.0 && b.y >= 0.0 && b.x + b.width <= w as f32 + 1e-3 && b.y + b.height <= h as f32 + 1e-3, "box {b:?} outside {w}x{h}");
        assert!((0.0..=1.0).contains(&f.score), "score {}", f.score);
        assert!(f.landmarks.iter().all(|p| p.x.is_finite() && p.y.is_finite()));
    }
});
