//! Configurable size limits: every input is checked before it is read or allocated, and the
//! writer refuses what the reader would refuse. One test function: the limits are
//! process-wide, and this file is its own test process.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use facecore::limits::{self, Limits};
use facecore::{Detector, DetectorConfig, EmbedModel, Embedder, Embedding, Error, Gallery, Image, ImageView, InputSize, PixelFormat};

fn exceeded<T: std::fmt::Debug>(r: facecore::Result<T>, what: &str) {
    match r {
        Err(Error::LimitExceeded { what: w, .. }) => assert!(w.contains(what), "{w:?} is not about {what}"),
        other => panic!("expected LimitExceeded ({what}), got {other:?}"),
    }
}

#[test]
fn every_limit_is_enforced_and_can_be_raised() {
    let defaults = Limits::default();
    assert_eq!(limits::get(), defaults);
    let dir = std::env::temp_dir().join(format!("facecore-limits-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jpeg = std::fs::read(common::fixture("obama.jpg")).unwrap();
    let img = Image::decode(&jpeg).unwrap();
    let (w, h) = (img.width(), img.height());

    // Images: file size, buffer size, side, area.
    let mut l = limits::get();
    l.image_file_bytes = jpeg.len() as u64 - 1;
    limits::set(l).unwrap();
    exceeded(Image::open(common::fixture("obama.jpg")), "image file");
    exceeded(Image::decode(&jpeg), "image buffer");
    let mut l = defaults;
    l.image_side = w.max(h) - 1;
    limits::set(l).unwrap();
    exceeded(Image::decode(&jpeg), "image side");
    let rgb = img.as_rgb().as_raw().clone();
    exceeded(ImageView::new(&rgb, w, h, w as usize * 3, PixelFormat::Rgb8), "image side");
    let mut l = defaults;
    l.image_pixels = u64::from(w) * u64::from(h) - 1;
    limits::set(l).unwrap();
    exceeded(Image::decode(&jpeg), "image area");
    limits::set(defaults).unwrap();
    assert_eq!(Image::decode(&jpeg).unwrap(), img, "the defaults accept it again");

    // Native detector input.
    let native = Detector::bundled(DetectorConfig { input_size: InputSize::Native, ..Default::default() }).unwrap();
    let mut l = defaults;
    l.native_detector_side = w.max(h) - 1;
    limits::set(l).unwrap();
    exceeded(native.detect(&img), "InputSize::Native");
    limits::set(defaults).unwrap();
    assert!(!native.detect(&img).unwrap().is_empty());

    // Galleries: the reader's limit binds the writer too.
    let mut g = Gallery::new();
    for i in 0..50 {
        g.enroll(&format!("p{i}"), &Embedding::new("space", (0..128).map(|j| ((i * 7 + j) % 13) as f32 - 6.0).collect()).unwrap()).unwrap();
    }
    let path = dir.join("g.fcg");
    g.save(&path).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let mut l = defaults;
    l.gallery_file_bytes = size - 1;
    limits::set(l).unwrap();
    exceeded(Gallery::load(&path), "gallery file");
    exceeded(Gallery::from_bytes(&g.to_bytes()), "gallery");
    exceeded(g.save(dir.join("other.fcg")), "gallery file");
    assert!(!dir.join("other.fcg").exists(), "nothing written that could not be loaded");
    limits::set(defaults).unwrap();
    assert_eq!(Gallery::load(&path).unwrap(), g);

    // Models.
    let dlib = facecore::models::bytes(facecore::ModelFile::DlibResnet).unwrap();
    let mut l = defaults;
    l.model_file_bytes = dlib.len() as u64 - 1;
    limits::set(l).unwrap();
    exceeded(Embedder::custom(EmbedModel::DlibResnet, "mine", &dlib), "model");
    let yunet = facecore::models::bytes(facecore::ModelFile::Yunet).unwrap();
    l.model_file_bytes = yunet.len() as u64 - 1;
    limits::set(l).unwrap();
    exceeded(Detector::custom(&yunet, DetectorConfig::default()), "model");
    limits::set(defaults).unwrap();

    let mut l = defaults;
    l.image_side = 70_000;
    assert!(limits::set(l).is_err());
    assert_eq!(limits::get(), defaults);
    std::fs::remove_dir_all(&dir).unwrap();
}
