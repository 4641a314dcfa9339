//! Loading models from memory bytes: every load returns an error or a model, never panics or
//! aborts.
//!
//! Each input (at most 64 KiB; the seeds are tiny hand-made ONNX graphs with YuNet's and the
//! embedders' input and output shapes, so loads get past the engine into facecore's checks)
//! goes through:
//! - `Detector::from_onnx` (ONNX parse, graph building and optimisation in tract, the probe
//!   run and YuNet's output check); a detector that loads runs on a 40 x 40 frame;
//! - `Embedder::from_onnx` for SFace or dlib ResNet (the input length's parity picks one, so
//!   that the seeds stay plain ONNX files); an embedder that loads embeds one chip;
//! - `ModelSource::memory().with_file` for every manifest file (size and SHA-256 check);
//! - `models::pack::decode_fcmp`, the model crates' pack decoder.
#![no_main]

use facecore::image_crate::{Rgb, RgbImage};
use facecore::{Detector, DetectorConfig, EmbedModel, Embedder, Image, ModelFile, ModelSource};
use libfuzzer_sys::fuzz_target;

const MAX_INPUT: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    if let Ok(det) = Detector::from_onnx(data, DetectorConfig::default()) {
        let img = Image::from_rgb(RgbImage::from_fn(40, 40, |x, y| Rgb([(x * 6) as u8, (y * 6) as u8, 128]))).expect("valid image");
        // Any model that passed the load checks must run (or fail cleanly) on a frame.
        if let Ok(faces) = det.detect(&img) {
            assert!(faces.iter().all(|f| f.bbox.width > 0.0 && f.bbox.height > 0.0 && (0.0..=1.0).contains(&f.score)));
        }
    }
    let model = if data.len() % 2 == 0 { EmbedModel::Sface } else { EmbedModel::DlibResnet };
    if let Ok(emb) = Embedder::from_onnx(model, data) {
        let s = model.input_size();
        let chip = RgbImage::from_fn(s, s, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 64]));
        if let Ok(e) = emb.embed_chip(&chip) {
            assert_eq!(e.dim(), model.dim());
            let n: f32 = e.as_slice().iter().map(|v| v * v).sum();
            assert!((n - 1.0).abs() < 1e-3, "embedding norm^2 {n}");
        }
    }
    for file in ModelFile::ALL {
        assert!(ModelSource::memory().with_file(file, data.to_vec()).is_err(), "{file:?} accepted foreign bytes");
    }
    let _ = facecore::models::pack::decode_fcmp("fuzz", data);
});
