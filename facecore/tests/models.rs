//! The bundled models (YuNet in this crate, the others joined and expanded from the
//! facecore-model-* crates) are byte for byte the reference files in the repository's
//! `models/` directory, the input of `tools/build_model_crates.py`.
#![allow(clippy::unwrap_used, missing_docs)]

#[cfg(feature = "bundled-models")]
#[test]
fn bundled_models_equal_the_reference_files_in_models_dir() {
    use facecore::models::{ModelFile, ModelSource, sha256_hex};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    for f in ModelFile::ALL {
        let reference = std::fs::read(dir.join(f.file_name())).unwrap();
        let bundled = ModelSource::bundled().load(f).unwrap();
        assert_eq!(sha256_hex(&bundled), sha256_hex(&reference), "{}", f.file_name());
        assert!(bundled[..] == reference[..], "{}", f.file_name());
        // The directory source reads the same files and verifies them.
        assert!(ModelSource::dir(&dir).load(f).unwrap()[..] == reference[..]);
    }
}
