//! Shared helpers for the integration tests (not a test target of its own).
#![allow(dead_code, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::sync::OnceLock;

use facecore::{FacePipeline, Image, Preset};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name)
}

pub fn image(name: &str) -> Image {
    Image::open(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// `../shared/data` if present; tests that need it print why they skip otherwise.
pub fn shared_data() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIP: {} not found (CI provides ../shared/data)", p.display());
        None
    }
}

/// One pipeline per preset per test binary: models are loaded and optimised once.
pub fn pipeline(p: Preset) -> &'static FacePipeline {
    static CACHE: [OnceLock<FacePipeline>; 4] = [const { OnceLock::new() }; 4];
    let i = Preset::ALL.iter().position(|x| *x == p).unwrap_or(0);
    CACHE[i].get_or_init(|| FacePipeline::from_preset(p).unwrap_or_else(|e| panic!("load {p:?}: {e}")))
}
