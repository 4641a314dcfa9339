//! Cascade recognition on the committed fixtures: its decisions equal the full fusion's, the
//! band table loads, turned faces take the full path, and each stage's runs are reused exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{image, pipeline};
use facecore::{
    CascadeBands, CascadeMode, EnrollOptions, Face, Gallery, Identity, Image, OperatingPoint, Preset, Quality, QualityConfig, Stage,
};

const FIXTURES: [&str; 7] = ["obama.jpg", "obama2.jpg", "biden.jpg", "obama_small.jpg", "two_people.jpg", "astronaut.png", "camera.png"];

/// Every face of every fixture, with its image.
fn faces() -> Vec<(String, Image, Face)> {
    let p = pipeline(Preset::Accurate);
    let mut out = Vec::new();
    for name in FIXTURES {
        let img = image(name);
        for (k, f) in p.detector().detect(&img).unwrap().into_iter().enumerate() {
            out.push((format!("{name}#{k}"), img.clone(), f));
        }
    }
    out
}

fn name_of(id: &Identity) -> Option<&str> {
    match id {
        Identity::Known(m) => Some(&m.name),
        Identity::Unknown(_) => None,
    }
}

#[test]
fn band_table_loads_for_accurate_only() {
    let p = pipeline(Preset::Accurate);
    for mode in [CascadeMode::Verify, CascadeMode::Identify] {
        for op in OperatingPoint::ALL {
            let (b, branch) = p.cascade_bands(mode, op).unwrap_or_else(|| panic!("no {} {} bands", mode.name(), op.name()));
            assert_eq!(b.first, "dlib-resnet-v1");
            let (first, second) = (b.first_band, b.second_band.unwrap_or_else(|| panic!("no second band: {b:?}")));
            assert!(first.lo < first.hi && first.hi < 1.0 && b.max_yaw > 10.0, "{b:?}");
            assert!(second.lo < second.hi && second.hi < 1.0, "{b:?}");
            assert_eq!(p.recognizer().branch_layout(branch), Some((128, 128, 0.7)));
            // The first band sits around the first network's own scores, above the fused
            // threshold; the second (unmirrored fused scores) brackets the fused threshold.
            let t = op.threshold(p.recognizer().space()).unwrap();
            assert!(first.lo > t, "{b:?}");
            assert!(second.lo <= t && t < second.hi, "{b:?}");
        }
    }
    assert!(pipeline(Preset::Fast).cascade_bands(CascadeMode::Verify, OperatingPoint::Fmr1e3).is_none());
    assert!(p.clone().with_cascade(false).cascade_bands(CascadeMode::Verify, OperatingPoint::Fmr1e3).is_none());
    assert!(CascadeBands::lookup("sface-2021dec", CascadeMode::Identify, OperatingPoint::Fmr1e3).is_none());
}

#[test]
fn partial_passes_are_reused_bit_for_bit() {
    let rec = pipeline(Preset::Accurate).recognizer();
    let (_, img, face) = faces().into_iter().next().unwrap();
    let branch = rec.branch_of_space("dlib-resnet-v1").unwrap();
    let first = rec.embed_first(&img, &face, branch).unwrap();
    let full = rec.embed(&img, &face).unwrap();
    assert_eq!(rec.embed_rest(&img, &face, &first).unwrap(), full);
    // The first pass is the `fast` preset's embedding (same network, chip and no mirror).
    let fast = pipeline(Preset::Fast).recognizer().embed(&img, &face).unwrap();
    assert_eq!(first.embedding(), &fast);
    assert!(!first.is_second());
    // The second pass: both networks unmirrored, in the fused space, each part the unit
    // embedding of its network scaled by sqrt(weight).
    let second = rec.embed_second(&img, &face, &first).unwrap();
    assert!(second.is_second());
    assert_eq!(second.embedding().model(), rec.space());
    assert_eq!(rec.embed_rest(&img, &face, &second).unwrap(), full);
    let v = second.embedding().as_slice();
    let (offset, dim, w) = rec.branch_layout(branch).unwrap();
    for (a, b) in v[offset..offset + dim].iter().zip(fast.as_slice()) {
        assert!((a / w.sqrt() - b).abs() < 1e-6, "{a} {b}");
    }
    let sface = pipeline(Preset::Sface).recognizer().chip(&img, &face, 0).unwrap();
    let plain = facecore::Embedder::bundled(facecore::EmbedModel::Sface).unwrap().embed_chip(&sface).unwrap();
    for (a, b) in v[..128].iter().zip(plain.as_slice()) {
        assert!((a / 0.3f32.sqrt() - b).abs() < 1e-6, "{a} {b}");
    }
}

#[test]
fn verify_decisions_equal_the_full_fusion() {
    let cascade = pipeline(Preset::Accurate);
    let full = cascade.clone().with_cascade(false);
    let faces = faces();
    let mut stages = [0usize; 3];
    for (i, (na, ia, fa)) in faces.iter().enumerate() {
        for (nb, ib, fb) in &faces[i + 1..] {
            let reference = full.verify_faces([ia, ib], [*fa, *fb], OperatingPoint::Fmr1e3).unwrap();
            assert_eq!(reference.stage, Stage::Full);
            for op in OperatingPoint::ALL {
                let t = op.threshold(cascade.recognizer().space()).unwrap();
                let c = cascade.verify_faces([ia, ib], [*fa, *fb], op).unwrap();
                assert_eq!(c.verification.same_person, reference.verification.similarity >= t, "{na} / {nb} at {}: {c:?}", op.name());
                match c.stage {
                    Stage::Full => {
                        assert_eq!(c.verification.similarity, reference.verification.similarity);
                        stages[2] += 1;
                    }
                    Stage::Second => stages[1] += 1,
                    _ => stages[0] += 1,
                }
            }
        }
    }
    // The cascade did decide some pairs with the first network alone (obama against the
    // astronaut, for one) and some at the second stage.
    assert!(stages[0] > 0 && stages[1] > 0, "{stages:?}");
}

#[test]
fn verify_on_images_names_the_faceless_one() {
    let p = pipeline(Preset::Accurate);
    let v = p.verify(&image("obama.jpg"), &image("obama2.jpg"), OperatingPoint::Fmr1e3).unwrap();
    assert!(v.verification.same_person);
    let v = p.verify(&image("obama.jpg"), &image("biden.jpg"), OperatingPoint::Fmr1e3).unwrap();
    assert!(!v.verification.same_person);
    let blank = Image::from_rgb(facecore::image_crate::RgbImage::from_pixel(64, 64, facecore::image_crate::Rgb([128, 128, 128]))).unwrap();
    let e = p.verify(&image("obama.jpg"), &blank, OperatingPoint::Fmr1e3).unwrap_err();
    assert!(e.to_string().contains("second image"), "{e}");
}

#[test]
fn identify_decisions_equal_the_full_fusion() {
    let cascade = pipeline(Preset::Accurate);
    let full = cascade.clone().with_cascade(false);
    let mut g = Gallery::new();
    let opts = EnrollOptions { quality: QualityConfig::NONE };
    cascade.enroll(&mut g, "obama", &image("obama.jpg"), &opts).unwrap();
    cascade.enroll(&mut g, "biden", &image("biden.jpg"), &opts).unwrap();
    let mut stages = [0usize; 3];
    for name in FIXTURES {
        let img = image(name);
        for op in OperatingPoint::ALL {
            let c = cascade.identify(&img, &g, op).unwrap();
            let r = full.identify(&img, &g, op).unwrap();
            assert_eq!(c.len(), r.len());
            for (c, r) in c.iter().zip(&r) {
                assert_eq!(r.stage, Stage::Full);
                assert_eq!(c.face, r.face);
                assert_eq!(name_of(&c.identity), name_of(&r.identity), "{name} at {}: {c:?} / {r:?}", op.name());
                stages[match c.stage {
                    Stage::First => 0,
                    Stage::Second => 1,
                    _ => 2,
                }] += 1;
            }
        }
    }
    // Both people of two_people.jpg are named, and the cascade decided some faces alone.
    let named: Vec<_> = cascade.identify(&image("two_people.jpg"), &g, OperatingPoint::Fmr1e3).unwrap();
    let mut names: Vec<_> = named.iter().filter_map(|f| name_of(&f.identity)).collect();
    names.sort_unstable();
    assert_eq!(names, ["biden", "obama"]);
    assert!(stages[0] > 0, "{stages:?}");
}

/// A face with its nose moved sideways by 1.5 half eye distances: a strongly turned head for
/// the pose estimate (about 60 degrees of yaw).
fn turned(f: &Face) -> Face {
    let mut t = *f;
    let half_eye = (f.landmarks[1].x - f.landmarks[0].x) / 2.0;
    t.landmarks[2].x += 1.5 * half_eye;
    t
}

#[test]
fn a_profile_face_takes_the_full_path() {
    let p = pipeline(Preset::Accurate);
    let (a, b) = (image("obama.jpg"), image("obama2.jpg"));
    let fa = p.detector().detect(&a).unwrap()[0];
    let fb = p.detector().detect(&b).unwrap()[0];
    let (bands, _) = p.cascade_bands(CascadeMode::Verify, OperatingPoint::Fmr1e3).unwrap();
    let yaw = Quality::pose(&turned(&fa).landmarks).0;
    assert!(yaw.abs() > bands.max_yaw, "yaw {yaw}");
    // Frontal, this pair is decided by the first network: same person, far above the band.
    let frontal = p.verify_faces([&a, &b], [fa, fb], OperatingPoint::Fmr1e3).unwrap();
    assert_eq!(frontal.stage, Stage::First, "{frontal:?}");
    let profile = p.verify_faces([&a, &b], [turned(&fa), fb], OperatingPoint::Fmr1e3).unwrap();
    assert_eq!(profile.stage, Stage::Full);
    assert_eq!(profile.verification.threshold, OperatingPoint::Fmr1e3.threshold(p.recognizer().space()).unwrap());

    let mut g = Gallery::new();
    p.enroll(&mut g, "obama", &b, &EnrollOptions { quality: QualityConfig::NONE }).unwrap();
    let f = p.identify_faces(&a, &[fa], &g, OperatingPoint::Fmr1e3).unwrap();
    assert_eq!(f[0].stage, Stage::First);
    let f = p.identify_faces(&a, &[turned(&fa)], &g, OperatingPoint::Fmr1e3).unwrap();
    assert_eq!(f[0].stage, Stage::Full);
    assert!(f[0].quality.yaw.abs() > bands.max_yaw);
}
