//! Bit-exactness of the native dlib ports (`facecore::dlib`) against dlib 20.0.1 itself.
//!
//! * `landmarks_match_golden`: the 5-point shape predictor on the face boxes of the shared
//!   `golden/face_recognition_reference.json`, within 1 px. The pixels differ from the ones
//!   the golden file was made from: the `image` crate's JPEG decoder differs from PIL's
//!   libjpeg-turbo by up to 4 levels on some pixels, which moves some landmarks by 1 px, and
//!   for `insightface/t1.jpg` even dlib 20.0.1 itself, run on Pillow 13's decoding, gives
//!   landmarks 1 px off the golden ones.
//! * `chips_match_dlib`: face chips, and landmarks on jittered and off-image boxes, against
//!   dumps of `dlib.shape_predictor` / `dlib.get_face_chip` made by `tools/dlib_chip_dump.py`:
//!   `cases.json`, the chips as PNG, and the PIL-decoded sources in `src/`. Must be exact.
//!   The test makes the dumps itself (about 5 s) with a Python that has dlib:
//!   `$FACECORE_DLIB_PYTHON`, else the venv of `scripts/install-peers.sh`
//!   (`$FACECORE_PEERS_VENV`, default `target/peers-venv`). `$DLIB_CHIPS_DIR` names dumps made
//!   beforehand instead (then they must be there).
//!
//! Without `../shared/data` both tests skip with a loud notice, or fail under
//! `FACECORE_REQUIRE_SHARED=1` (CI); with it, missing files fail. Without a Python with dlib,
//! `chips_match_dlib` skips loudly, or fails under `FACECORE_REQUIRE_DLIB=1` (CI sets it where
//! the peers are installed). The PIL-decoded check of `landmarks_match_golden` runs when the
//! dumps are available.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use facecore::dlib::chip::face_chip;
use facecore::dlib::shape_predictor::{Rect, ShapePredictor};
use facecore::image_crate::{self as image, RgbImage};
use serde_json::Value;

fn load_predictor() -> Option<ShapePredictor> {
    let bytes = facecore::models::bytes(facecore::models::ModelFile::DlibShapePredictor5);
    assert!(bytes.is_ok() || !cfg!(feature = "bundled-models"), "the bundled shape predictor does not load");
    let Ok(bytes) = bytes else {
        common::loud_skip("dlib_compat", "built without bundled models");
        return None;
    };
    Some(ShapePredictor::from_bytes(&bytes).unwrap())
}

/// RGB pixels, no EXIF rotation (as face_recognition.load_image_file).
fn load_rgb(path: &Path) -> RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// A Python interpreter that has dlib, if one is configured or installed.
fn dlib_python() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates: Vec<PathBuf> = match std::env::var_os("FACECORE_DLIB_PYTHON") {
        Some(p) => vec![PathBuf::from(p)],
        None => {
            let venv = std::env::var_os("FACECORE_PEERS_VENV").map_or_else(|| root.join("target/peers-venv"), PathBuf::from);
            vec![venv.join("bin/python")]
        }
    };
    for py in &candidates {
        let ok = Command::new(py).args(["-c", "import dlib, numpy, PIL"]).output().is_ok_and(|o| o.status.success());
        if ok {
            return Ok(py.clone());
        }
    }
    Err(format!(
        "no Python with dlib, numpy and PIL (tried {}; scripts/install-peers.sh makes one, or set FACECORE_DLIB_PYTHON)",
        candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    ))
}

/// The dlib dumps: `$DLIB_CHIPS_DIR` when set, else made once per test run by
/// `tools/dlib_chip_dump.py` under the target directory. `Err` says why there are none.
fn chips_dir(data: &Path) -> Result<&'static Path, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("DLIB_CHIPS_DIR") {
            let dir = PathBuf::from(dir);
            assert!(dir.join("cases.json").exists(), "DLIB_CHIPS_DIR={}: no cases.json there", dir.display());
            return Ok(dir);
        }
        // Kept between runs while newer than the script that made it.
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dlib-chips");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/dlib_chip_dump.py");
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if modified(&cache.join("cases.json")).is_some_and(|t| modified(&script).is_some_and(|s| t >= s)) {
            return Ok(cache);
        }
        let py = dlib_python()?;
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dlib-chips.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(&py).arg(&script).env("DLIB_CHIPS_DIR", &dir).env("FACECORE_SHARED_DATA", data).output().unwrap();
        assert!(
            out.status.success() && dir.join("cases.json").exists(),
            "{} {} failed ({}):\n{}{}",
            py.display(),
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("dlib dumps: {}", String::from_utf8_lossy(&out.stdout).trim());
        let _ = std::fs::remove_dir_all(&cache);
        // Another test run may have put its own there first: then this run uses its own copy.
        Ok(if std::fs::rename(&dir, &cache).is_ok() { cache } else { dir })
    })
    .as_ref()
    .map(PathBuf::as_path)
    .map_err(Clone::clone)
}

/// The pixels dlib saw for `file` (decoded by PIL, saved losslessly by `tools/dlib_chip_dump.py`).
fn pil_decoded(chips: Option<&Path>, file: &str) -> Option<RgbImage> {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s).replace('/', "_");
    let p = chips?.join("src").join(format!("{stem}.png"));
    p.exists().then(|| load_rgb(&p))
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn points(v: &Value) -> [(i64, i64); 5] {
    let p: Vec<(i64, i64)> = v.as_array().unwrap().iter().map(|p| (p[0].as_i64().unwrap(), p[1].as_i64().unwrap())).collect();
    p.try_into().unwrap()
}

fn rect_of(b: &[i64]) -> Rect {
    Rect { left: b[0], top: b[1], right: b[2], bottom: b[3] }
}

fn max_point_diff(a: &[(i64, i64); 5], b: &[(i64, i64); 5]) -> i64 {
    a.iter().zip(b).map(|(p, q)| (p.0 - q.0).abs().max((p.1 - q.1).abs())).max().unwrap_or(0)
}

#[test]
fn landmarks_match_golden() {
    let Some(data) = common::shared_data("landmarks_match_golden") else { return };
    let Some(sp) = load_predictor() else { return };
    let text = std::fs::read_to_string(common::shared_file(&data, "golden/face_recognition_reference.json")).unwrap();
    let golden: Value = serde_json::from_str(&text).unwrap();
    let chips = chips_dir(&data).ok();

    let (mut faces, mut exact, mut worst) = (0usize, 0usize, 0i64);
    let (mut pil_faces, mut pil_exact, mut pil_worst) = (0usize, 0usize, 0i64);
    for im in golden["images"].as_array().unwrap() {
        let file = im["file"].as_str().unwrap();
        let img = load_rgb(&data.join("faces").join(file));
        let pil = pil_decoded(chips, file);
        for face in im["faces"].as_array().unwrap() {
            let rect = rect_of(&ints(&face["box_ltrb"]));
            let want = points(&face["landmarks5"]);
            let got = sp.predict(&img, rect);
            let d = max_point_diff(&got, &want);
            faces += 1;
            if d == 0 {
                exact += 1;
            } else {
                eprintln!("{file}: box {rect:?}: {got:?} vs dlib {want:?} ({d} px, image-crate decoding)");
            }
            worst = worst.max(d);
            if let Some(pil) = &pil {
                let d = max_point_diff(&sp.predict(pil, rect), &want);
                pil_faces += 1;
                pil_exact += usize::from(d == 0);
                pil_worst = pil_worst.max(d);
            }
        }
    }

    // Time per call on the first golden face.
    let im = &golden["images"][0];
    let img = load_rgb(&data.join("faces").join(im["file"].as_str().unwrap()));
    let rect = rect_of(&ints(&im["faces"][0]["box_ltrb"]));
    let n = 200u32;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(sp.predict(std::hint::black_box(&img), rect));
    }
    let per_call = t.elapsed() / n;

    eprintln!(
        "shape predictor: image-crate decoding {exact}/{faces} faces exact (max diff {worst} px); \
         PIL-decoded pixels {pil_exact}/{pil_faces} faces exact (max diff {pil_worst} px); {per_call:?} per predict"
    );
    assert!(faces > 0, "no golden faces");
    assert!(worst <= 1, "landmarks differ from dlib by {worst} px");
    assert!(pil_worst <= 1, "landmarks on PIL-decoded pixels differ from dlib by {pil_worst} px");
}

#[test]
fn chips_match_dlib() {
    let Some(data) = common::shared_data("chips_match_dlib") else { return };
    let dir = match chips_dir(&data) {
        Ok(dir) => dir,
        Err(why) if std::env::var("FACECORE_REQUIRE_DLIB").is_ok_and(|v| v == "1") => {
            panic!("chips_match_dlib: {why}, and FACECORE_REQUIRE_DLIB=1 requires it")
        }
        Err(why) => {
            common::loud_skip("chips_match_dlib", &why);
            return;
        }
    };
    let text = std::fs::read_to_string(dir.join("cases.json")).unwrap();
    let Some(sp) = load_predictor() else { return };
    let cases: Value = serde_json::from_str(&text).unwrap();

    let mut sources: BTreeMap<String, RgbImage> = BTreeMap::new();
    let (mut n, mut lm_exact, mut chip_exact, mut worst_lm, mut worst_px) = (0usize, 0usize, 0usize, 0i64, 0i32);
    let mut chip_time = std::time::Duration::ZERO;
    for case in cases["cases"].as_array().unwrap() {
        let name = case["chip"].as_str().unwrap();
        let src = case["src_png"].as_str().unwrap();
        let img = sources.entry(src.to_string()).or_insert_with(|| load_rgb(&dir.join(src)));

        let rect = rect_of(&ints(&case["box_ltrb"]));
        let want_lm = points(&case["landmarks5"]);
        let got_lm = sp.predict(img, rect);
        let d = max_point_diff(&got_lm, &want_lm);
        if d == 0 {
            lm_exact += 1;
        } else {
            eprintln!("{name}: box {rect:?}: {got_lm:?} vs dlib {want_lm:?}");
        }
        worst_lm = worst_lm.max(d);

        let size = u32::try_from(case["size"].as_u64().unwrap()).unwrap();
        // dlib's Python binding takes the padding as a C++ float.
        let padding = f64::from(case["padding"].as_f64().unwrap() as f32);
        let lm = want_lm.map(|(x, y)| (x as f64, y as f64));
        let t = Instant::now();
        let chip = face_chip(img, &lm, size, padding).unwrap();
        chip_time += t.elapsed();
        let want = load_rgb(&dir.join(name));
        assert_eq!(chip.dimensions(), want.dimensions(), "{name}");
        let diff = chip.as_raw().iter().zip(want.as_raw()).map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs()).max().unwrap_or(0);
        if diff == 0 {
            chip_exact += 1;
        } else {
            let count = chip.as_raw().iter().zip(want.as_raw()).filter(|(a, b)| a != b).count();
            eprintln!("{name}: chip differs from dlib: max {diff}, {count} values");
        }
        worst_px = worst_px.max(diff);
        n += 1;
    }
    eprintln!(
        "dlib compat: {n} cases; landmarks exact {lm_exact}/{n} (max diff {worst_lm} px); \
         chips exact {chip_exact}/{n} (max abs pixel diff {worst_px}); {:?} per chip",
        chip_time / u32::try_from(n.max(1)).unwrap()
    );
    assert!(n > 0);
    assert_eq!(worst_lm, 0, "landmarks differ from dlib");
    assert_eq!(worst_px, 0, "chips differ from dlib");
}
