//! The bundled models, their manifest (source, licence, SHA-256) and the checksum check.
//!
//! `models/manifest.tsv` at the repository root is the single source of truth: the same
//! file is compiled in here and every bundled file is verified against it on first use.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The manifest text (tab-separated: file, bytes, sha256, source, licence).
pub const MANIFEST: &str = include_str!("../../models/manifest.tsv");

/// The model files facecore knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelFile {
    /// YuNet 2023mar face detector (MIT).
    Yunet,
    /// SFace 2021dec recogniser, fp32 folded from the block-quantised release (Apache-2.0).
    Sface,
    /// dlib's face recognition ResNet v1 as ONNX (public domain / CC0).
    DlibResnet,
    /// dlib's 5-point shape predictor (CC0).
    DlibShapePredictor5,
}

impl ModelFile {
    /// All known files.
    pub const ALL: [ModelFile; 4] = [ModelFile::Yunet, ModelFile::Sface, ModelFile::DlibResnet, ModelFile::DlibShapePredictor5];

    /// The file name under `models/`.
    pub fn file_name(self) -> &'static str {
        match self {
            ModelFile::Yunet => "yunet_2023mar.onnx",
            ModelFile::Sface => "sface_2021dec.onnx",
            ModelFile::DlibResnet => "dlib_resnet_v1.onnx",
            ModelFile::DlibShapePredictor5 => "shape_predictor_5_face_landmarks.dat",
        }
    }

    /// The manifest's expected SHA-256 (lowercase hex) and size.
    ///
    /// # Errors
    /// [`Error::ModelLoad`] if the manifest lacks the file (a build defect).
    pub fn expected(self) -> Result<(&'static str, usize)> {
        MANIFEST
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&self.file_name()))
            .and_then(|f| Some((*f.get(2)?, f.get(1)?.parse().ok()?)))
            .ok_or_else(|| Error::ModelLoad { model: self.file_name().into(), detail: "missing from models/manifest.tsv".into() })
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `bytes` against the manifest entry of `file`.
///
/// # Errors
/// [`Error::ModelLoad`] when the size or the SHA-256 differ.
pub fn verify(file: ModelFile, bytes: &[u8]) -> Result<()> {
    let (sha, len) = file.expected()?;
    if bytes.len() != len {
        return Err(Error::ModelLoad {
            model: file.file_name().into(),
            detail: format!("size {} differs from the manifest's {len}", bytes.len()),
        });
    }
    let got = sha256_hex(bytes);
    if got != sha {
        return Err(Error::ModelLoad { model: file.file_name().into(), detail: format!("sha256 {got} differs from the manifest's {sha}") });
    }
    Ok(())
}

#[cfg(feature = "bundled-models")]
fn raw(file: ModelFile) -> Option<&'static [u8]> {
    Some(match file {
        ModelFile::Yunet => include_bytes!("../../models/yunet_2023mar.onnx"),
        ModelFile::Sface => include_bytes!("../../models/sface_2021dec.onnx"),
        ModelFile::DlibResnet => include_bytes!("../../models/dlib_resnet_v1.onnx"),
        ModelFile::DlibShapePredictor5 => include_bytes!("../../models/shape_predictor_5_face_landmarks.dat"),
    })
}

#[cfg(not(feature = "bundled-models"))]
fn raw(_file: ModelFile) -> Option<&'static [u8]> {
    None
}

/// The bundled bytes of `file`, verified against the manifest once per process.
///
/// # Errors
/// [`Error::ModelLoad`] when facecore was built without the `bundled-models` feature or
/// the bytes do not match the manifest.
pub fn bytes(file: ModelFile) -> Result<&'static [u8]> {
    static CHECKED: [OnceLock<Result<(), String>>; 4] = [const { OnceLock::new() }; 4];
    let bytes = raw(file).ok_or_else(|| Error::ModelLoad {
        model: file.file_name().into(),
        detail: "facecore was built without the bundled-models feature; load the file from a path".into(),
    })?;
    let idx = ModelFile::ALL.iter().position(|f| *f == file).unwrap_or(0);
    CHECKED[idx]
        .get_or_init(|| verify(file, bytes).map_err(|e| e.to_string()))
        .clone()
        .map_err(|detail| Error::ModelLoad { model: file.file_name().into(), detail })?;
    Ok(bytes)
}

/// Reads a model file from disk and verifies it against the manifest entry of `file`.
///
/// # Errors
/// [`Error::Io`] if unreadable, [`Error::ModelLoad`] on a checksum mismatch.
pub fn read_verified(file: ModelFile, path: impl AsRef<std::path::Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    verify(file, &bytes)?;
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lists_every_file_and_bundled_bytes_match() {
        for f in ModelFile::ALL {
            let (sha, len) = f.expected().unwrap();
            assert_eq!(sha.len(), 64);
            assert!(len > 1000);
            #[cfg(feature = "bundled-models")]
            assert_eq!(bytes(f).unwrap().len(), len);
        }
    }

    #[test]
    fn tampered_bytes_are_refused() {
        let mut b = bytes(ModelFile::Yunet).unwrap().to_vec();
        b[1000] ^= 1;
        assert!(verify(ModelFile::Yunet, &b).unwrap_err().to_string().contains("sha256"));
        assert!(verify(ModelFile::Yunet, &b[..10]).is_err());
    }
}
