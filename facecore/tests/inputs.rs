//! Bad input gets a clear error, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use facecore::{Detector, DetectorConfig, EmbedModel, Embedder, Error, Gallery, Image, ImageView, PixelFormat};

#[test]
fn camera_buffers_in_every_format_give_the_same_faces() {
    let img = common::image("two_people.jpg");
    let det = Detector::bundled(DetectorConfig::default()).unwrap();
    let want = det.detect(&img).unwrap();
    let (w, h) = (img.width(), img.height());
    let rgb = img.as_rgb().as_raw();
    // BGR with padded rows.
    let stride = w as usize * 3 + 13;
    let mut bgr = vec![0u8; stride * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let s = (y * w as usize + x) * 3;
            bgr[y * stride + x * 3..y * stride + x * 3 + 3].copy_from_slice(&[rgb[s + 2], rgb[s + 1], rgb[s]]);
        }
    }
    let from_bgr = Image::from_view(ImageView::new(&bgr, w, h, stride, PixelFormat::Bgr8).unwrap());
    assert_eq!(&from_bgr, &img);
    let rgba: Vec<u8> = rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    let from_rgba = Image::from_view(ImageView::new(&rgba, w, h, w as usize * 4, PixelFormat::Rgba8).unwrap());
    assert_eq!(det.detect(&from_rgba).unwrap(), want);
    let grey: Vec<u8> = rgb.chunks_exact(3).map(|p| ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3) as u8).collect();
    let g = Image::from_view(ImageView::new(&grey, w, h, w as usize, PixelFormat::Gray8).unwrap());
    assert_eq!(det.detect(&g).unwrap().len(), 2, "faces found in the grey frame too");
}

#[test]
fn corrupt_and_truncated_files_are_errors() {
    let bytes = std::fs::read(common::fixture("obama.jpg")).unwrap();
    assert!(matches!(Image::decode(&bytes[..bytes.len() / 3]), Err(Error::ImageDecode { .. })));
    let png = std::fs::read(common::fixture("camera.png")).unwrap();
    assert!(Image::decode(&png).is_ok());
    assert!(matches!(Image::decode(&png[..png.len() / 2]), Err(Error::ImageDecode { .. })));
    let mut garbage = bytes.clone();
    for b in garbage.iter_mut().skip(200).step_by(7) {
        *b = 0xff;
    }
    // Either decodes to something or errors: never panics.
    let _ = Image::decode(&garbage);
    assert!(matches!(Image::decode(b"\xff\xd8\xff garbage"), Err(Error::ImageDecode { .. })));
    assert!(Image::open(common::fixture("nope.jpg")).unwrap_err().is_not_found());
}

#[test]
fn wrong_models_are_refused() {
    let yunet = &*facecore::models::bytes(facecore::models::ModelFile::Yunet).unwrap();
    assert!(matches!(Embedder::from_onnx(EmbedModel::Sface, yunet), Err(Error::ModelLoad { .. })));
    assert!(matches!(Detector::from_onnx(b"not onnx", DetectorConfig::default()), Err(Error::ModelLoad { .. })));
    assert!(Detector::from_onnx(yunet, DetectorConfig { nms_iou: 2.0, ..Default::default() }).is_err());
    // Bytes from memory are checked against the manifest: one changed weight is refused ...
    let mut altered = yunet.to_vec();
    let at = altered.len() / 2; // inside a weight tensor
    altered[at] ^= 1;
    assert!(matches!(Detector::from_onnx(&altered, DetectorConfig::default()), Err(Error::ModelLoad { .. })));
    // ... unless loaded as a custom network, which is checked by its shapes only.
    assert!(Detector::custom(&altered, DetectorConfig::default()).is_ok());
    // A custom embedder may not claim a built-in space (and its thresholds) ...
    for space in ["sface-2021dec", "dlib-resnet-v1", "fused(x)", "", "a\nb"] {
        assert!(matches!(Embedder::custom(EmbedModel::Sface, space, yunet), Err(Error::InvalidInput { .. })), "{space:?}");
    }
    // ... and must have the shapes of the model whose chips it takes.
    assert!(matches!(Embedder::custom(EmbedModel::Sface, "my-net", yunet), Err(Error::ModelLoad { .. })));
}

#[test]
fn custom_embedders_write_their_own_space_without_thresholds() {
    let dlib = &*facecore::models::bytes(facecore::models::ModelFile::DlibResnet).unwrap();
    let own = Embedder::custom(EmbedModel::DlibResnet, "acme-dlib-finetune-3", dlib).unwrap();
    assert!(own.is_custom() && own.space() == "acme-dlib-finetune-3");
    let chip = facecore::image_crate::RgbImage::from_pixel(150, 150, facecore::image_crate::Rgb([120, 100, 90]));
    let e = own.embed_chip(&chip).unwrap();
    assert_eq!(e.model(), "acme-dlib-finetune-3");
    let builtin = Embedder::bundled(EmbedModel::DlibResnet).unwrap().embed_chip(&chip).unwrap();
    assert_eq!(e.as_slice(), builtin.as_slice(), "same network, same values");
    assert!(matches!(e.similarity(&builtin), Err(Error::ModelMismatch { .. })), "but another space");
    assert!(facecore::OperatingPoint::Fmr1e3.threshold(e.model()).is_err(), "no bundled threshold");
}

#[test]
fn damaged_gallery_files_are_errors() {
    let dir = std::env::temp_dir().join(format!("facecore-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("g.fcg");
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(Gallery::load(&p), Err(Error::Gallery { .. })));
    std::fs::write(&p, std::fs::read(common::fixture("obama.jpg")).unwrap()).unwrap();
    let e = Gallery::load(&p).unwrap_err();
    assert!(e.to_string().contains(&p.display().to_string()), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tiny_and_flat_images_have_no_faces() {
    let det = Detector::bundled(DetectorConfig::default()).unwrap();
    let one = Image::from_view(ImageView::new(&[9, 9, 9], 1, 1, 3, PixelFormat::Rgb8).unwrap());
    assert!(det.detect(&one).unwrap().is_empty());
    let flat = vec![128u8; 300 * 200 * 3];
    let img = Image::from_view(ImageView::new(&flat, 300, 200, 900, PixelFormat::Rgb8).unwrap());
    assert!(det.detect(&img).unwrap().is_empty());
}

#[test]
fn native_input_is_capped() {
    let native = Detector::bundled(DetectorConfig { input_size: facecore::InputSize::Native, ..Default::default() }).unwrap();
    let side = facecore::MAX_NATIVE_SIDE as usize + 1;
    let wide = vec![0u8; side * 8];
    let img = Image::from_view(ImageView::new(&wide, side as u32, 8, side, PixelFormat::Gray8).unwrap());
    let e = native.detect(&img).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { limit: 4096, actual: 4097, .. }) && e.to_string().contains("MaxLongest"), "{e}");
    // The default input scales the same frame down and runs.
    assert!(Detector::bundled(DetectorConfig::default()).unwrap().detect(&img).unwrap().is_empty());
}

#[cfg(unix)]
#[test]
fn huge_and_endless_image_files_are_refused_without_reading_them_whole() {
    let dir = std::env::temp_dir().join(format!("facecore-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A sparse file one byte over the limit: refused from its size, nothing read.
    let big = dir.join("big.jpg");
    std::fs::File::create(&big).unwrap().set_len(facecore::MAX_FILE_BYTES + 1).unwrap();
    assert!(matches!(Image::open(&big), Err(Error::LimitExceeded { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
    // An endless stream: read up to the limit only.
    assert!(matches!(Image::open("/dev/zero"), Err(Error::LimitExceeded { .. })));
}
