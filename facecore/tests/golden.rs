//! face_recognition compatibility on the committed fixtures: given face_recognition's own
//! boxes, facecore's dlib path (shape predictor, face chip, dlib ResNet) gives the same
//! landmarks and descriptors (`tests/fixtures/golden`, a subset of the shared golden file).
//!
//! On the same pixels the match is exact: identical landmarks, descriptors within 1e-5
//! (measured 1.2e-6; PNG fixtures, and JPEGs decoded by PIL as face_recognition does, in the
//! Python tests). JPEG decoders differ: the `image` crate's and libjpeg-turbo's outputs differ
//! by up to 3 levels on under 1% of the values, which moves a few landmarks by one pixel and
//! descriptors by up to 0.09 (bound 0.1; dlib's match threshold is a distance of 0.6). These
//! bounds are the ones the README states.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use facecore::{DlibPredictor, DlibRect, EmbedModel, Embedder};

/// Runs the dlib path on every face of a golden file; returns (faces, worst distance).
/// Images are found under `images` by their `file` entry. PNGs must match exactly (landmarks)
/// and within 1e-5 (descriptors); JPEGs (decoded by another decoder than face_recognition's)
/// within 1 px and 0.1.
fn check_golden(golden: &Path, images: &Path) -> (usize, f64) {
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(golden).unwrap()).unwrap();
    let sp = DlibPredictor::bundled().unwrap();
    let net = Embedder::bundled(EmbedModel::DlibResnet).unwrap();
    let (mut faces, mut worst) = (0, 0.0f64);
    for im in golden["images"].as_array().unwrap() {
        let name = im["file"].as_str().unwrap();
        let img = facecore::Image::open(images.join(name)).unwrap();
        let exact = name.ends_with(".png");
        for f in im["faces"].as_array().unwrap() {
            let b: Vec<i64> = f["box_ltrb"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            let lm = sp.landmarks(img.as_rgb(), &DlibRect { left: b[0], top: b[1], right: b[2], bottom: b[3] }).unwrap();
            let want: Vec<(i64, i64)> =
                f["landmarks5"].as_array().unwrap().iter().map(|p| (p[0].as_i64().unwrap(), p[1].as_i64().unwrap())).collect();
            let off = lm.iter().zip(&want).map(|(a, b)| (a.0 - b.0).abs().max((a.1 - b.1).abs())).max().unwrap_or(0);
            if exact {
                assert_eq!(lm.to_vec(), want, "{name} landmarks");
            } else {
                assert!(off <= 1, "{name} landmarks {lm:?} vs {want:?}");
            }
            let chip = sp.chip(img.as_rgb(), &lm).unwrap();
            let d = net.run_chips(&[&chip]).unwrap().pop().unwrap();
            let g: Vec<f64> = f["descriptor"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let dist = d.iter().zip(&g).map(|(a, b)| (f64::from(*a) - b).powi(2)).sum::<f64>().sqrt();
            eprintln!("{name}: landmarks within {off} px, descriptor distance to face_recognition {dist:.2e}");
            assert!(dist <= if exact { 1e-5 } else { 0.1 }, "{name}: distance {dist}");
            worst = worst.max(dist);
            faces += 1;
        }
    }
    (faces, worst)
}

#[test]
fn landmarks_and_descriptors_match_face_recognition() {
    let (faces, worst) = check_golden(&common::fixture("golden/face_recognition_reference.json"), &common::fixture(""));
    assert!(faces >= 7);
    eprintln!("{faces} faces, worst descriptor distance {worst:.2e}");
}

#[test]
fn full_shared_golden_file_when_available() {
    let Some(data) = common::shared_data("full_shared_golden_file_when_available") else { return };
    let (faces, _) =
        check_golden(&common::shared_file(&data, "golden/face_recognition_reference.json"), &common::shared_file(&data, "faces"));
    assert!(faces >= 14);
}
