//! Shared helpers for the integration tests (not a test target of its own).
#![allow(dead_code, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use facecore::{FacePipeline, Image, Preset};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name)
}

pub fn image(name: &str) -> Image {
    Image::open(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Whether a missing prerequisite must fail the test rather than skip it: set
/// `FACECORE_REQUIRE_SHARED=1` where the shared data is expected (CI).
pub fn shared_required() -> bool {
    std::env::var("FACECORE_REQUIRE_SHARED").is_ok_and(|v| v == "1")
}

/// A skip notice that shows in `cargo test` output even for a passing test: written to the
/// stderr handle directly, which the test harness does not capture (it captures the
/// `print!` family only).
pub fn loud_skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** SKIP {test}: {why} ***\n");
}

/// `../shared/data` if present. When it is absent the test skips with a loud notice, or fails
/// when `FACECORE_REQUIRE_SHARED=1` (CI). Files the test needs inside it are [`shared_file`]s:
/// shared data present but incomplete is a failure, never a skip.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if p.is_dir() {
        return Some(p);
    }
    let why = format!("{} not found (CI provides ../shared/data)", p.display());
    if shared_required() {
        panic!("{test}: {why}, and FACECORE_REQUIRE_SHARED=1 requires it");
    }
    loud_skip(test, &why);
    None
}

/// `rel` inside the shared data; the test fails when it is missing.
pub fn shared_file(data: &Path, rel: &str) -> PathBuf {
    let p = data.join(rel);
    assert!(p.exists(), "{} is missing: ../shared/data is present but incomplete", p.display());
    p
}

/// One pipeline per preset per test binary: models are loaded and optimised once.
pub fn pipeline(p: Preset) -> &'static FacePipeline {
    static CACHE: [OnceLock<FacePipeline>; 4] = [const { OnceLock::new() }; 4];
    let i = Preset::ALL.iter().position(|x| *x == p).unwrap_or(0);
    CACHE[i].get_or_init(|| FacePipeline::from_preset(p).unwrap_or_else(|e| panic!("load {p:?}: {e}")))
}
