//! `facecore keygen` and encrypted galleries from the CLI: enrol and identify with a key file;
//! without it, or with another key, the gallery is refused; a key file is never overwritten.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name).to_str().unwrap().to_string()
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

#[test]
fn enrol_and_identify_with_a_key_file() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-key-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (key, other, gallery) = (dir.join("k.hex"), dir.join("other.hex"), dir.join("people.fcg"));
    let (key, other, gallery) = (key.to_str().unwrap(), other.to_str().unwrap(), gallery.to_str().unwrap());
    assert!(facecore(&["keygen", key]).status.success());
    assert!(facecore(&["keygen", other]).status.success());
    let text = std::fs::read_to_string(key).unwrap();
    assert_eq!(text.trim().len(), 64);
    #[cfg(unix)]
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(key).unwrap().permissions()) & 0o777, 0o600);
    assert!(!facecore(&["keygen", key]).status.success(), "an existing key file is never overwritten");
    assert_eq!(std::fs::read_to_string(key).unwrap(), text);

    let fast = ["--preset", "fast"];
    let enrol = |name: &str, img: &str| {
        facecore(&[&["enroll", "--gallery", gallery, "--key-file", key], &fast[..], &[name, &fixture(img)]].concat())
    };
    assert!(enrol("obama", "obama.jpg").status.success());
    assert!(enrol("biden", "biden.jpg").status.success());
    let bytes = std::fs::read(gallery).unwrap();
    assert!(!bytes.windows(5).any(|w| w == b"obama"), "names are not readable in the file");

    let two = fixture("two_people.jpg");
    let out = facecore(&[&["identify", "--gallery", gallery, "--key-file", key, "--json"], &fast[..], &[two.as_str()]].concat());
    assert!(out.status.success());
    let names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"obama".to_string()) && names.contains(&"biden".to_string()), "{names:?}");

    for args in [vec!["identify", "--gallery", gallery], vec!["identify", "--gallery", gallery, "--key-file", other]] {
        let out = facecore(&[&args[..], &fast[..], &[two.as_str()]].concat());
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("key"), "the error names the key problem");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
