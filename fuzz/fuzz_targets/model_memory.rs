//! Loading models from memory bytes: every load returns an error or a model, never panics or
//! aborts.
//!
//! Each input (at most 64 KiB; the seeds are tiny hand-made ONNX graphs with YuNet's and the
//! embedders' input and output shapes, so loads get past the engine into facecore's checks)
//! goes through one network load, picked by the input length so that the seeds stay plain
//! ONNX files (protobuf readers skip trailing unknown fields, so mutations reach every pick).
//!
//! Speed by design: a load that gets through the protobuf parse builds, optimises and runs the
//! graph in tract, about 20 ms here (47 executions per second when every input was loaded).
//! So the full load runs on one input in 32, picked by a hash of the input (FNV-1a; the same
//! input always takes the same path, as libFuzzer needs; the ONNX seeds carry a skipped
//! protobuf field that makes them loaded), and every 100,000 executions the target prints how
//! many full loads it made. The cheap checks below run on every input.
//! The loads:
//! - even length: `Detector::custom` (ONNX parse, graph building and optimisation in tract,
//!   the probe run and YuNet's output check); a detector that loads runs on a 40 x 40 frame;
//! - odd length: `Embedder::custom` like SFace or dlib ResNet (length / 2 odd or even); an
//!   embedder that loads embeds one chip.
//!
//! And, cheap, on every input: `Detector::from_onnx` and `Embedder::from_onnx` (the manifest
//! check: only the real files load), `ModelSource::memory().with_file` for every manifest file,
//! and `models::pack::decode_fcmp`, the model crates' pack decoder.
#![no_main]

use facecore::image_crate::{Rgb, RgbImage};
use facecore::{Detector, DetectorConfig, EmbedModel, Embedder, Image, ModelFile, ModelSource};
use libfuzzer_sys::fuzz_target;
use std::sync::atomic::{AtomicU64, Ordering};

const MAX_INPUT: usize = 64 << 10;

/// 64-bit FNV-1a: stable, so that fuzz/seeds/make_seeds.py can pad the seeds to be loaded.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

static EXECS: AtomicU64 = AtomicU64::new(0);
static LOADS: AtomicU64 = AtomicU64::new(0);

/// libfuzzer-sys's panic hook aborts on every panic, even one that facecore catches: facecore
/// contains tract's panics on malformed graphs (`model::Net::plan`) and reports them as load
/// errors, which is the behaviour under test. So the hook only prints; a panic that reaches
/// the harness is still a crash (libfuzzer-sys aborts on it).
fn print_panics() {
    drop(std::panic::take_hook());
    std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
}

fuzz_target!(init: { print_panics(); }, |data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    assert!(Detector::from_onnx(data, DetectorConfig::default()).is_err(), "foreign bytes passed the manifest check");
    assert!(Embedder::from_onnx(EmbedModel::Sface, data).is_err(), "foreign bytes passed the manifest check");
    for file in ModelFile::ALL {
        assert!(ModelSource::memory().with_file(file, data.to_vec()).is_err(), "{file:?} accepted foreign bytes");
    }
    let _ = facecore::models::pack::decode_fcmp("fuzz", data);
    let n = EXECS.fetch_add(1, Ordering::Relaxed) + 1;
    if n % 100_000 == 0 {
        eprintln!("model_memory: {n} executions, {} full network loads", LOADS.load(Ordering::Relaxed));
    }
    if fnv1a(data) % 32 != 0 {
        return;
    }
    LOADS.fetch_add(1, Ordering::Relaxed);
    if data.len() % 2 == 0 {
        if let Ok(det) = Detector::custom(data, DetectorConfig::default()) {
            let img = Image::from_rgb(RgbImage::from_fn(40, 40, |x, y| Rgb([(x * 6) as u8, (y * 6) as u8, 128]))).expect("valid image");
            // Any model that passed the load checks must run (or fail cleanly) on a frame.
            if let Ok(faces) = det.detect(&img) {
                assert!(faces.iter().all(|f| f.bbox.width > 0.0 && f.bbox.height > 0.0 && (0.0..=1.0).contains(&f.score)));
            }
        }
    } else {
        let like = if (data.len() / 2) % 2 == 0 { EmbedModel::Sface } else { EmbedModel::DlibResnet };
        if let Ok(emb) = Embedder::custom(like, "fuzz-space", data) {
            let s = like.input_size();
            let chip = RgbImage::from_fn(s, s, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 64]));
            if let Ok(e) = emb.embed_chip(&chip) {
                assert_eq!(e.dim(), like.dim());
                let n: f32 = e.as_slice().iter().map(|v| v * v).sum();
                assert!((n - 1.0).abs() < 1e-3, "embedding norm^2 {n}");
            }
        }
    }
});
