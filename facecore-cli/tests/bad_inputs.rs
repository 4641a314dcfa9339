//! The directory-walking commands (`identify`, `detect`, `enroll`, `eval detect`) on a folder
//! with an undecodable image: each reports it (stderr, and a JSON error line with `--json`),
//! goes on with the other images, and exits non-zero at the end. `enroll` saves nothing then.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name)
}

fn facecore(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_facecore")).args(args).output().unwrap();
    eprintln!(
        "$ facecore {}\n-> {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn image_of(v: &Value) -> String {
    Path::new(v["image"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned()
}

/// a_obama.jpg, b_broken.jpg (the first third of a JPEG), c_biden.jpg, d_empty.png (0 bytes)
/// and notes.txt (not an image, not listed).
fn folder(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture("obama.jpg"), dir.join("a_obama.jpg")).unwrap();
    let jpeg = std::fs::read(fixture("two_people.jpg")).unwrap();
    std::fs::write(dir.join("b_broken.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    std::fs::copy(fixture("biden.jpg"), dir.join("c_biden.jpg")).unwrap();
    std::fs::write(dir.join("d_empty.png"), b"").unwrap();
    std::fs::write(dir.join("notes.txt"), b"not an image").unwrap();
    dir
}

const BAD: [&str; 2] = ["b_broken.jpg", "d_empty.png"];

/// Exit status 1, each bad file named on stderr, the count at the end.
fn assert_fails_naming_bad_files(out: &Output) {
    assert_eq!(out.status.code(), Some(1), "must fail when an image could not be read");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for bad in BAD {
        assert!(stderr.contains(bad), "stderr does not name {bad}: {stderr}");
    }
    assert!(stderr.contains("2 of 4 images could not be processed"), "{stderr}");
}

/// As [`assert_fails_naming_bad_files`], and one JSON error line per bad file.
fn assert_reports_bad_files(out: &Output, json: &[Value]) {
    assert_fails_naming_bad_files(out);
    for bad in BAD {
        let errors: Vec<&Value> = json.iter().filter(|v| image_of(v) == bad).collect();
        assert_eq!(errors.len(), 1, "one JSON line for {bad}");
        assert!(!errors[0]["error"].as_str().unwrap().is_empty(), "{bad}: {}", errors[0]);
    }
}

#[test]
fn identify_detect_and_enroll_go_on_past_undecodable_files() {
    let dir = folder("walk");
    let d = dir.to_str().unwrap();
    let gallery = dir.join("people.fcg");
    let g = gallery.to_str().unwrap();

    // A gallery from the single good photo.
    let out = facecore(&["enroll", "--preset", "fast", "--gallery", g, "obama", fixture("obama.jpg").to_str().unwrap()]);
    assert!(out.status.success());
    let saved = std::fs::read(&gallery).unwrap();

    // identify: faces of the images before and after the broken ones, an error line for each.
    let out = facecore(&["identify", "--preset", "fast", "--json", "--gallery", g, d]);
    let lines = json_lines(&out);
    assert_reports_bad_files(&out, &lines);
    let order: Vec<String> = lines.iter().map(image_of).collect();
    assert_eq!(order, ["a_obama.jpg", "b_broken.jpg", "c_biden.jpg", "d_empty.png"], "one line per face or error, in order");
    assert_eq!(lines[0]["name"], "obama");
    assert_eq!(lines[2]["name"], "unknown");
    // Text output: the same, errors on stderr only.
    let out = facecore(&["identify", "--preset", "fast", "--gallery", g, d]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("a_obama.jpg") && text.contains("c_biden.jpg") && !text.contains("b_broken"), "{text}");

    // detect: likewise.
    let out = facecore(&["detect", "--json", d]);
    let lines = json_lines(&out);
    assert_reports_bad_files(&out, &lines);
    assert!(lines.iter().any(|v| image_of(v) == "c_biden.jpg" && v["score"].as_f64().unwrap() > 0.5));

    // enroll: every bad file reported, nothing saved (a new gallery is not created, an
    // existing one is unchanged).
    let fresh = dir.join("fresh.fcg");
    let out = facecore(&["enroll", "--preset", "fast", "--json", "--gallery", fresh.to_str().unwrap(), "someone", d]);
    assert_reports_bad_files(&out, &json_lines(&out));
    assert!(!fresh.exists(), "a gallery was written despite the failures");
    let out = facecore(&["enroll", "--preset", "fast", "--gallery", g, "someone", d]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&gallery).unwrap(), saved, "the gallery changed");

    // Without the bad files, all is well.
    for bad in BAD {
        std::fs::remove_file(dir.join(bad)).unwrap();
    }
    assert!(facecore(&["identify", "--preset", "fast", "--gallery", g, d]).status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eval_detect_reports_unreadable_images_and_fails() {
    let dir = folder("eval");
    let gt = dir.join("gt.txt");
    std::fs::write(&gt, "a_obama.jpg\n1\n100 100 200 200 0 0 0 0 0 0\nb_broken.jpg\n1\n10 10 50 50 0 0 0 0 0 0\nc_biden.jpg\n0\n0 0 0 0 0 0 0 0 0 0\nd_empty.png\n0\n0 0 0 0 0 0 0 0 0 0\n").unwrap();
    let out = facecore(&["eval", "detect", "--images", dir.to_str().unwrap(), "--gt", gt.to_str().unwrap()]);
    assert_fails_naming_bad_files(&out);
    // The figures cover the two readable images (and their one face).
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 images, 1 faces"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
