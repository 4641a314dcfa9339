//! Liveness on real pixels: bad input never panics and never passes as live, results are
//! deterministic and in range.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use facecore::liveness::UnknownReason;
use facecore::{Detector, DetectorConfig, Face, Image, ImageView, Liveness, LivenessDecision, LivenessOp, PixelFormat, Point, Rect};

fn face_at(x: f32, y: f32, w: f32, h: f32) -> Face {
    Face { bbox: Rect { x, y, width: w, height: h }, score: 0.9, landmarks: [Point { x: x + w / 2.0, y: y + h / 2.0 }; 5] }
}

#[test]
fn faces_too_small_or_cut_by_the_edge_are_unknown_never_live() {
    let live = Liveness::bundled().unwrap();
    let img = Image::open(common::fixture("two_people.jpg")).unwrap();
    for op in [LivenessOp::Default, LivenessOp::Strict, LivenessOp::Threshold(0.0)] {
        let tiny = live.check(&img, &face_at(100.0, 100.0, 10.0, 10.0), op).unwrap();
        assert_eq!(tiny.decision, LivenessDecision::Unknown(UnknownReason::TooSmall));
        assert_eq!(tiny.score, None);
        let cut = live.check(&img, &face_at(-60.0, 50.0, 120.0, 120.0), op).unwrap();
        assert_eq!(cut.decision, LivenessDecision::Unknown(UnknownReason::CutByEdge));
        let nan = live.check(&img, &face_at(f32::NAN, 50.0, 120.0, 120.0), op).unwrap();
        assert!(matches!(nan.decision, LivenessDecision::Unknown(_)));
    }
    assert!(live.check(&img, &face_at(10.0, 10.0, 100.0, 100.0), LivenessOp::Threshold(1.5)).is_err());
}

#[test]
fn scores_are_deterministic_and_in_range_on_real_and_flat_frames() {
    let live = Liveness::bundled().unwrap();
    let det = Detector::bundled(DetectorConfig::default()).unwrap();
    for name in ["obama.jpg", "two_people.jpg"] {
        let img = Image::open(common::fixture(name)).unwrap();
        let faces = det.detect(&img).unwrap();
        assert!(!faces.is_empty());
        for f in &faces {
            let a = live.score(&img, f).unwrap().unwrap();
            let b = live.score(&img, f).unwrap().unwrap();
            assert_eq!(a.to_bits(), b.to_bits(), "{name}: deterministic");
            assert!((0.0..=1.0).contains(&a), "{name}: {a}");
        }
    }
    // A flat grey frame has no face; a box forced onto it still gives a finite score.
    let grey = vec![128u8; 640 * 480];
    let img = Image::from_view(ImageView::new(&grey, 640, 480, 640, PixelFormat::Gray8).unwrap());
    assert!(det.detect(&img).unwrap().is_empty());
    let s = live.score(&img, &face_at(270.0, 190.0, 100.0, 100.0)).unwrap().unwrap();
    assert!(s.is_finite() && (0.0..=1.0).contains(&s));
    // A face larger than the frame once scaled (the crop shrinks to fit) is still judged.
    let big = live.score(&img, &face_at(120.0, 40.0, 400.0, 400.0)).unwrap();
    assert!(big.is_ok());
}

#[test]
fn pipelines_check_liveness_only_when_asked() {
    let img = Image::open(common::fixture("two_people.jpg")).unwrap();
    let plain = facecore::FacePipeline::from_preset(facecore::Preset::Fast).unwrap();
    assert!(plain.analyze(&img).unwrap().iter().all(|f| f.liveness.is_none()));
    let live = Liveness::bundled().unwrap();
    let checked = plain.clone().with_liveness(live.clone(), LivenessOp::Strict);
    let faces = checked.analyze(&img).unwrap();
    assert!(!faces.is_empty());
    for f in &faces {
        assert_eq!(f.liveness, Some(live.check(&img, &f.face, LivenessOp::Strict).unwrap()));
    }
}
