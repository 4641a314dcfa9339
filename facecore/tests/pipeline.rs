//! End-to-end behaviour on the committed fixtures: detection counts, 1:1 verification,
//! 1:N identification, model mismatches.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{image, pipeline};
use facecore::{Detector, DetectorConfig, Error, Gallery, Identity, OperatingPoint, Preset, verify};

#[test]
fn detects_the_right_number_of_faces() {
    let det = Detector::bundled(DetectorConfig::default()).unwrap();
    for (name, n) in [
        ("obama.jpg", 1),
        ("obama2.jpg", 1),
        ("biden.jpg", 1),
        ("obama_small.jpg", 1),
        ("two_people.jpg", 2),
        ("astronaut.png", 1),
        ("camera.png", 1),
    ] {
        let faces = det.detect(&image(name)).unwrap();
        assert_eq!(faces.len(), n, "{name}: {faces:?}");
        for f in &faces {
            assert!(f.score > 0.6 && f.score <= 1.0);
            // Landmarks sit inside the box, eyes above the mouth, right eye left of left eye.
            for p in &f.landmarks {
                assert!(p.x >= f.bbox.x - 2.0 && p.x <= f.bbox.x + f.bbox.width + 2.0, "{name}");
                assert!(p.y >= f.bbox.y - 2.0 && p.y <= f.bbox.y + f.bbox.height + 2.0, "{name}");
            }
            assert!(f.landmarks[0].x < f.landmarks[1].x && f.landmarks[0].y < f.landmarks[3].y);
        }
    }
}

#[test]
fn detection_is_consistent_across_resolutions_and_native_input() {
    let img = image("obama.jpg");
    let a = Detector::bundled(DetectorConfig::default()).unwrap().detect(&img).unwrap();
    let b = Detector::bundled(DetectorConfig { input_size: facecore::InputSize::FitLongest(320), ..Default::default() })
        .unwrap()
        .detect(&img)
        .unwrap();
    assert_eq!((a.len(), b.len()), (1, 1));
    assert!(a[0].bbox.iou(&b[0].bbox) > 0.8, "{:?} vs {:?}", a[0].bbox, b[0].bbox);
    let small = image("obama_small.jpg");
    let n = Detector::bundled(DetectorConfig { input_size: facecore::InputSize::Native, ..Default::default() })
        .unwrap()
        .detect(&small)
        .unwrap();
    assert_eq!(n.len(), 1);
    let none = Detector::bundled(DetectorConfig { min_face_size: 5000.0, ..Default::default() }).unwrap().detect(&img).unwrap();
    assert!(none.is_empty());
}

#[test]
fn verification_every_preset() {
    for preset in Preset::ALL {
        let p = pipeline(preset);
        let e = |n: &str| p.embed_best(&image(n)).unwrap().expect("a face").embedding;
        let (o1, o2, b) = (e("obama.jpg"), e("obama2.jpg"), e("biden.jpg"));
        assert!((o1.as_slice().iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-4, "unit length");
        let same = verify(&o1, &o2, OperatingPoint::Fmr1e3).unwrap();
        let diff = verify(&o1, &b, OperatingPoint::Fmr1e3).unwrap();
        assert!(same.same_person, "{preset:?}: obama vs obama2 {same:?}");
        eprintln!("{preset:?}: obama/obama2 {:.3}, obama/biden {:.3}, threshold {:.3}", same.similarity, diff.similarity, same.threshold);
        assert!(!diff.same_person, "{preset:?}: obama vs biden {diff:?}");
        assert!(same.similarity > diff.similarity + 0.05, "{preset:?}: {same:?} {diff:?}");
    }
}

#[test]
fn identification_in_two_people() {
    let p = pipeline(Preset::Accurate);
    let mut g = Gallery::new();
    for (name, file) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
        g.enroll(name, &p.embed_best(&image(file)).unwrap().unwrap().embedding).unwrap();
    }
    let t = OperatingPoint::Fmr1e3.threshold(p.recognizer().space()).unwrap();
    let mut found: Vec<(f32, String)> = p
        .analyze(&image("two_people.jpg"))
        .unwrap()
        .into_iter()
        .map(|f| match g.identify(&f.embedding, t).unwrap() {
            Identity::Known(m) => (f.face.bbox.x, m.name),
            Identity::Unknown(b) => panic!("unknown face at {:?} (best {b:?})", f.face.bbox),
        })
        .collect();
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Obama stands on the left of two_people.jpg, Biden on the right (face_recognition's own
    // descriptors agree: distance 0.34 to obama.jpg for the left face, 0.83 for the right).
    assert_eq!(found.iter().map(|f| f.1.as_str()).collect::<Vec<_>>(), ["obama", "biden"]);
    // A stranger (the astronaut) is unknown.
    let astro = p.embed_best(&image("astronaut.png")).unwrap().unwrap().embedding;
    assert!(matches!(g.identify(&astro, t).unwrap(), Identity::Unknown(_)));
}

#[test]
fn embeddings_of_different_models_do_not_compare() {
    let a = pipeline(Preset::Fast).embed_best(&image("obama.jpg")).unwrap().unwrap().embedding;
    let b = pipeline(Preset::Sface).embed_best(&image("obama.jpg")).unwrap().unwrap().embedding;
    assert!(matches!(a.similarity(&b), Err(Error::ModelMismatch { .. })));
    let mut g = Gallery::new();
    g.enroll("x", &a).unwrap();
    assert!(matches!(g.enroll("y", &b), Err(Error::ModelMismatch { .. })));
}

#[test]
fn handles_are_send_and_sync_and_shareable() {
    fn check<T: Send + Sync>() {}
    check::<facecore::FacePipeline>();
    check::<facecore::Detector>();
    check::<facecore::Recognizer>();
    check::<facecore::Embedder>();
    check::<facecore::Gallery>();
    check::<facecore::DlibPredictor>();
    let p = pipeline(Preset::Fast);
    let img = image("two_people.jpg");
    let seq = p.analyze(&img).unwrap();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..2).map(|_| s.spawn(|| p.analyze(&img).unwrap())).collect();
        for h in hs {
            let par = h.join().unwrap();
            assert_eq!(par.len(), seq.len());
            for (a, b) in par.iter().zip(&seq) {
                assert_eq!(a.face, b.face);
                assert_eq!(a.embedding, b.embedding);
            }
        }
    });
}

/// Faces embedded on several threads, and frames analysed in the two-stage pipelined mode,
/// give bit-identical results to the single-thread path, in the same order.
#[test]
fn threads_and_pipelined_frames_match_the_single_thread_path() {
    let single = pipeline(Preset::Fast);
    let multi = single.clone().with_threads(3).unwrap();
    assert_eq!(multi.threads(), 3);
    let frames = ["two_people.jpg", "obama.jpg", "astronaut.png", "biden.jpg"];
    let expected: Vec<_> = frames.iter().map(|f| single.analyze(&image(f)).unwrap()).collect();
    assert_eq!(expected[0].len(), 2);
    let same = |a: &[facecore::AnalyzedFace], b: &[facecore::AnalyzedFace]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.face == y.face && x.embedding.as_slice() == y.embedding.as_slice())
    };
    assert!(same(&multi.analyze(&image(frames[0])).unwrap(), &expected[0]));

    let mut seen = Vec::new();
    multi
        .analyze_frames(frames.iter().map(|f| image(f)), |i, img, faces| {
            assert!(img.width() > 0);
            assert!(same(&faces, &expected[i]), "frame {i}");
            seen.push(i);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, [0, 1, 2, 3]);

    // An error from the callback stops the stream and comes back to the caller.
    let mut calls = 0;
    let err = single
        .analyze_frames(frames.iter().map(|f| image(f)), |_, _, _| {
            calls += 1;
            Err(Error::InvalidInput { what: "callback", detail: "stop".into() })
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }) && calls == 1, "{err}");
    assert!(single.clone().with_threads(0).is_err());
    assert!(single.clone().with_threads(facecore::MAX_THREADS + 1).is_err());
}
