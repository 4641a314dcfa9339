//! Face quality: measures on the fixtures, blurred and dark copies, pose of a mirrored face,
//! and enrolment's quality floor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{image, pipeline};
use facecore::{EnrollOptions, Error, Gallery, Image, Preset, Quality, QualityConfig, image_crate::imageops};

fn quality_of(img: &Image) -> Quality {
    let faces = pipeline(Preset::Fast).analyze(img).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    faces[0].quality
}

fn blurred(img: &Image, sigma: f32) -> Image {
    Image::from_rgb(imageops::blur(img.as_rgb(), sigma)).unwrap()
}

fn darkened(img: &Image, factor: f32) -> Image {
    let mut rgb = img.as_rgb().clone();
    rgb.pixels_mut().for_each(|p| p.0.iter_mut().for_each(|c| *c = (f32::from(*c) * factor) as u8));
    Image::from_rgb(rgb).unwrap()
}

#[test]
fn the_fixtures_are_good_faces() {
    for name in ["obama.jpg", "obama2.jpg", "biden.jpg", "obama_small.jpg", "astronaut.png"] {
        let q = quality_of(&image(name));
        assert!(q.score > 0.9, "{name}: {q:?}");
        assert!(QualityConfig::default().check(&q).is_ok(), "{name}: {q:?}");
        assert!(q.eye_distance > 40.0 && q.sharpness > 100.0 && q.brightness > 80.0 && q.contrast > 25.0, "{name}: {q:?}");
    }
    // analyze() gives every face its quality; embed_best too.
    let p = pipeline(Preset::Fast);
    let two = p.analyze(&image("two_people.jpg")).unwrap();
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|f| f.quality.score > 0.8), "{two:?}");
    let best = p.embed_best(&image("biden.jpg")).unwrap().unwrap();
    assert_eq!(best.quality, quality_of(&image("biden.jpg")));
}

#[test]
fn blur_and_darkness_lower_the_quality_and_enrolment_refuses_them() {
    let p = pipeline(Preset::Fast);
    for name in ["obama.jpg", "biden.jpg"] {
        let img = image(name);
        let q = quality_of(&img);
        let blur = quality_of(&blurred(&img, 6.0));
        let dark = quality_of(&darkened(&img, 0.15));
        assert!(blur.sharpness < q.sharpness / 20.0 && blur.score < q.score - 0.5, "{name}: {q:?} vs blurred {blur:?}");
        assert!(dark.brightness < q.brightness / 4.0 && dark.contrast < q.contrast / 4.0, "{name}: {q:?} vs dark {dark:?}");
        assert!(dark.score < q.score - 0.5, "{name}: {q:?} vs dark {dark:?}");
        // A milder blur lowers it too, without ruining it.
        let mild = quality_of(&blurred(&img, 2.0));
        assert!(mild.sharpness < q.sharpness && mild.score <= q.score, "{name}: {mild:?}");

        let mut g = Gallery::new();
        let e = p.enroll(&mut g, "x", &blurred(&img, 6.0), &EnrollOptions::default()).unwrap_err();
        assert!(matches!(e, Error::LowQuality { measure: "sharpness", .. }), "{name}: {e}");
        assert!(e.to_string().contains("sharpness"), "{e}");
        let e = p.enroll(&mut g, "x", &darkened(&img, 0.15), &EnrollOptions::default()).unwrap_err();
        assert!(matches!(e, Error::LowQuality { measure: "brightness", value, limit } if value < limit), "{name}: {e}");
        assert!(g.is_empty(), "a refused face is not enrolled");
        // The caller may lower the floor.
        let lowered = EnrollOptions { quality: QualityConfig::NONE };
        p.enroll(&mut g, "x", &blurred(&img, 6.0), &lowered).unwrap();
        let floor = QualityConfig { min_brightness: 0.0, min_contrast: 0.0, min_sharpness: 0.0, min_score: 0.0, ..Default::default() };
        let done = p.enroll(&mut g, "x", &darkened(&img, 0.15), &EnrollOptions { quality: floor }).unwrap();
        assert_eq!(g.person(done.person).unwrap().embeddings, 2);
        // The good photo passes the default floor.
        let ok = p.enroll(&mut g, name, &img, &EnrollOptions::default()).unwrap();
        assert_eq!(ok.face.quality, q);
    }
    // No face at all.
    let blank = Image::from_rgb(facecore::image_crate::RgbImage::new(64, 64)).unwrap();
    let e = p.enroll(&mut Gallery::new(), "x", &blank, &EnrollOptions::default()).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
}

#[test]
fn a_mirrored_face_flips_its_yaw() {
    for name in ["obama2.jpg", "biden.jpg"] {
        let img = image(name);
        let (a, m) = (quality_of(&img), quality_of(&img.mirrored()));
        assert!(a.yaw.abs() > 12.0, "{name}: a turned face: {a:?}");
        assert!(a.yaw.signum() != m.yaw.signum(), "{name}: {a:?} vs mirrored {m:?}");
        assert!((a.yaw + m.yaw).abs() < 6.0, "{name}: {a:?} vs mirrored {m:?}");
        assert!((a.pitch - m.pitch).abs() < 8.0, "{name}: {a:?} vs mirrored {m:?}");
        assert!((a.eye_distance - m.eye_distance).abs() < 0.2 * a.eye_distance);
    }
    // obama2 turns to the image's left (nose left of the midline): negative yaw.
    assert!(quality_of(&image("obama2.jpg")).yaw < -15.0);
}

#[test]
fn pose_penalises_a_turned_face() {
    // The cameraman of camera.png is in three-quarter to profile view.
    let q = quality_of(&image("camera.png"));
    assert!(q.yaw.abs() > 45.0, "{q:?}");
    assert!(matches!(QualityConfig::default().check(&q), Err(Error::LowQuality { .. })), "{q:?}");
}
