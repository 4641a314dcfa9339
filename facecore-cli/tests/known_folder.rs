//! `facecore identify --known DIR`: the face_recognition CLI's job shape (known people from a
//! folder, enrolled in memory) and, with `--face-recognition-format`, its output format.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name).to_str().unwrap().to_string()
}

#[test]
fn known_folder_and_face_recognition_output() {
    let known = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("known-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&known);
    std::fs::create_dir_all(&known).unwrap();
    std::fs::copy(fixture("obama.jpg"), known.join("barack.jpg")).unwrap();
    std::fs::copy(fixture("biden.jpg"), known.join("joe.jpg")).unwrap();
    // A flat grey PNG: no face.
    let grey = known.join("grey.png");
    facecore::image_crate::GrayImage::from_pixel(200, 200, facecore::image_crate::Luma([128])).save(&grey).unwrap();
    let (two, obama2) = (fixture("two_people.jpg"), fixture("obama.jpg"));
    let out = Command::new(env!("CARGO_BIN_EXE_facecore"))
        .args([
            "identify",
            "--preset",
            "fast",
            "--known",
            known.to_str().unwrap(),
            "--face-recognition-format",
            &two,
            &obama2,
            grey.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("WARNING: No faces found in") && stderr.contains("grey.png"), "{stderr}");
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort_unstable();
    let mut want =
        vec![format!("{two},barack"), format!("{two},joe"), format!("{obama2},barack"), format!("{},no_persons_found", grey.display())];
    want.sort_unstable();
    assert_eq!(lines, want);
    std::fs::remove_dir_all(&known).unwrap();
}
