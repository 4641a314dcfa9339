//! Where models come from: the bundled model crates, a directory or memory buffers, always
//! checked against the manifest (source, licence, size, SHA-256) before use.
//!
//! `facecore/models/manifest.tsv` is the single source of truth: it is compiled in, and
//! every model file, wherever it comes from, must match its row byte for byte. The stages
//! ([`crate::Detector`], [`crate::Embedder`], [`crate::DlibPredictor`]) ask a
//! [`ModelSource`] for a verified file; nothing else in facecore knows where models live.
//!
//! With the default `bundled-models` feature, YuNet is compiled into this crate and the
//! larger models come from the `facecore-model-*` crates (the Rust package registry takes at
//! most 10 MiB per crate): byte ranges that are joined and, for SFace, expanded from its
//! published int8-block form (see [`pack`]) when loaded.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub mod pack;

/// The manifest text (tab-separated: file, bytes, sha256, source, licence).
pub const MANIFEST: &str = include_str!("../../models/manifest.tsv");

/// The environment variable naming a directory of model files, used by
/// [`ModelSource::default`] when facecore was built without bundled models.
pub const MODELS_DIR_ENV: &str = "FACECORE_MODELS_DIR";

/// The model files facecore knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// MiniFASNetV2 liveness network, 2.7x face crops (Apache-2.0).
    MiniFasNetV2,
    /// MiniFASNetV1SE liveness network, 4.0x face crops (Apache-2.0).
    MiniFasNetV1Se,
}

/// One manifest row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The file name.
    pub file: &'static str,
    /// Size in bytes.
    pub bytes: usize,
    /// SHA-256, lowercase hex.
    pub sha256: &'static str,
    /// Where it comes from (package, version, checksum) and what was changed.
    pub source: &'static str,
    /// Its licence.
    pub licence: &'static str,
}

impl ModelFile {
    /// All known files.
    pub const ALL: [ModelFile; 6] = [
        ModelFile::Yunet,
        ModelFile::Sface,
        ModelFile::DlibResnet,
        ModelFile::DlibShapePredictor5,
        ModelFile::MiniFasNetV2,
        ModelFile::MiniFasNetV1Se,
    ];

    /// The file name (in the manifest and in a model directory).
    pub fn file_name(self) -> &'static str {
        match self {
            ModelFile::Yunet => "yunet_2023mar.onnx",
            ModelFile::Sface => "sface_2021dec.onnx",
            ModelFile::DlibResnet => "dlib_resnet_v1.onnx",
            ModelFile::DlibShapePredictor5 => "shape_predictor_5_face_landmarks.dat",
            ModelFile::MiniFasNetV2 => "minifasnet_v2.onnx",
            ModelFile::MiniFasNetV1Se => "minifasnet_v1se.onnx",
        }
    }

    /// The file whose name is `name`.
    pub fn from_file_name(name: &str) -> Option<ModelFile> {
        ModelFile::ALL.into_iter().find(|f| f.file_name() == name)
    }

    /// This file's manifest row.
    ///
    /// # Errors
    /// [`Error::ModelLoad`] if the manifest lacks the file (a build defect).
    pub fn manifest(self) -> Result<ManifestEntry> {
        MANIFEST
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&self.file_name()))
            .and_then(|f| {
                Some(ManifestEntry {
                    file: self.file_name(),
                    bytes: f.get(1)?.parse().ok()?,
                    sha256: f.get(2)?,
                    source: f.get(3)?,
                    licence: f.get(4)?,
                })
            })
            .ok_or_else(|| Error::ModelLoad { model: self.file_name().into(), detail: "missing from the manifest".into() })
    }

    /// The manifest's expected SHA-256 (lowercase hex) and size.
    ///
    /// # Errors
    /// As [`ModelFile::manifest`].
    pub fn expected(self) -> Result<(&'static str, usize)> {
        self.manifest().map(|m| (m.sha256, m.bytes))
    }

    #[cfg(feature = "bundled-models")]
    fn index(self) -> usize {
        ModelFile::ALL.iter().position(|f| *f == self).unwrap_or(0)
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

/// Where a pipeline's models come from. Cheap to clone.
///
/// Every file handed out by [`ModelSource::load`] has passed the manifest check, so a
/// foreign or damaged file never silently takes a model's place (and its thresholds).
#[derive(Clone, Debug)]
pub struct ModelSource {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    /// The bundled model crates, else [`MODELS_DIR_ENV`], decided at load time.
    Default,
    Bundled,
    Dir(PathBuf),
    Memory(Arc<HashMap<ModelFile, Arc<[u8]>>>),
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Default => write!(f, "Default"),
            Kind::Bundled => write!(f, "Bundled"),
            Kind::Dir(p) => write!(f, "Dir({})", p.display()),
            Kind::Memory(m) => write!(f, "Memory({:?})", m.keys().collect::<Vec<_>>()),
        }
    }
}

impl Default for ModelSource {
    /// The bundled models when facecore was built with them (the default feature), else the
    /// directory named by `FACECORE_MODELS_DIR`; with neither, loading fails with an error
    /// that says how to get the files.
    fn default() -> Self {
        ModelSource { kind: Kind::Default }
    }
}

impl ModelSource {
    /// The models compiled in (feature `bundled-models`).
    pub fn bundled() -> Self {
        ModelSource { kind: Kind::Bundled }
    }

    /// Files in `dir`, under their manifest names (what `facecore models export DIR` writes).
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        ModelSource { kind: Kind::Dir(dir.into()) }
    }

    /// No files yet: add them with [`ModelSource::with_file`] (e.g. models kept on flash).
    pub fn memory() -> Self {
        ModelSource { kind: Kind::Memory(Arc::default()) }
    }

    /// This memory source plus `bytes` as `file`, checked against the manifest now.
    ///
    /// # Errors
    /// [`Error::ModelLoad`] when the bytes are not the manifest's file;
    /// [`Error::InvalidInput`] when this source is not a memory source.
    pub fn with_file(self, file: ModelFile, bytes: impl Into<Arc<[u8]>>) -> Result<Self> {
        let Kind::Memory(map) = self.kind else {
            return Err(Error::input("model source", "with_file needs ModelSource::memory()"));
        };
        let bytes = bytes.into();
        verify(file, &bytes)?;
        let mut map = Arc::unwrap_or_clone(map);
        map.insert(file, bytes);
        Ok(ModelSource { kind: Kind::Memory(Arc::new(map)) })
    }

    /// Whether this build carries the bundled models.
    pub fn has_bundled() -> bool {
        cfg!(feature = "bundled-models")
    }

    /// A human-readable description ("bundled", "directory /x", ...).
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Default => match default_kind() {
                Some(k) => ModelSource { kind: k }.describe(),
                None => format!("none (no bundled models, {MODELS_DIR_ENV} unset)"),
            },
            Kind::Bundled => "bundled".into(),
            Kind::Dir(p) => format!("directory {}", p.display()),
            Kind::Memory(_) => "memory buffers".into(),
        }
    }

    /// The bytes of `file`, verified against the manifest.
    ///
    /// # Errors
    /// [`Error::ModelLoad`] when the file is missing from this source, damaged or not the
    /// manifest's; [`Error::Io`] when a directory's file cannot be read.
    pub fn load(&self, file: ModelFile) -> Result<Cow<'static, [u8]>> {
        match &self.kind {
            Kind::Default => match default_kind() {
                Some(kind) => ModelSource { kind }.load(file),
                None => Err(Error::ModelLoad { model: file.file_name().into(), detail: missing_help() }),
            },
            Kind::Bundled => bundled::load(file),
            Kind::Dir(dir) => read_verified(file, dir.join(file.file_name())).map(Cow::Owned),
            Kind::Memory(map) => map.get(&file).map(|b| Cow::Owned(b.to_vec())).ok_or_else(|| Error::ModelLoad {
                model: file.file_name().into(),
                detail: "not among the memory source's files (add it with ModelSource::with_file)".into(),
            }),
        }
    }
}

/// What [`ModelSource::default`] means in this build and environment, if anything.
fn default_kind() -> Option<Kind> {
    if cfg!(feature = "bundled-models") {
        return Some(Kind::Bundled);
    }
    std::env::var_os(MODELS_DIR_ENV).filter(|d| !d.is_empty()).map(|d| Kind::Dir(d.into()))
}

fn missing_help() -> String {
    format!(
        "facecore was built without the `bundled-models` feature and no model directory was given. \
         Set {MODELS_DIR_ENV} to a directory holding the model files, or pass ModelSource::dir / ModelSource::memory. \
         `facecore models export DIR` (from any build with bundled models, e.g. `cargo install facecore-cli`) writes them, \
         and `facecore models list` shows their names, sources and SHA-256"
    )
}

/// The bundled bytes of `file`, verified against the manifest.
///
/// # Errors
/// As [`ModelSource::load`] on [`ModelSource::default`].
pub fn bytes(file: ModelFile) -> Result<Cow<'static, [u8]>> {
    ModelSource::default().load(file)
}

/// Reads a model file from disk and verifies it against the manifest entry of `file`. Reads
/// at most one byte more than the manifest's size, so `/dev/zero` or a huge file is refused
/// without filling memory.
///
/// # Errors
/// [`Error::Io`] if unreadable, [`Error::ModelLoad`] on a size or checksum mismatch.
pub fn read_verified(file: ModelFile, path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let (_, len) = file.expected()?;
    let f = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::ModelLoad { model: file.file_name().into(), detail: format!("{} not found. {}", path.display(), missing_help()) }
        } else {
            Error::io(path, e)
        }
    })?;
    let mut bytes = Vec::with_capacity(len);
    f.take(len as u64 + 1).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    verify(file, &bytes).map_err(|e| match e {
        Error::ModelLoad { model, detail } => Error::ModelLoad { model, detail: format!("{}: {detail}", path.display()) },
        e => e,
    })?;
    Ok(bytes)
}

/// Results of the one-time check of each bundled model (the bytes are fixed at build time).
#[cfg(feature = "bundled-models")]
static BUNDLED_CHECKED: [std::sync::OnceLock<Result<(), String>>; ModelFile::ALL.len()] =
    [const { std::sync::OnceLock::new() }; ModelFile::ALL.len()];

#[cfg(feature = "bundled-models")]
mod bundled {
    use super::*;

    /// How a bundled model is stored.
    enum Form {
        /// The parts concatenate to the file.
        Raw,
        /// The parts concatenate to an fcmp pack ([`pack::decode_fcmp`]).
        Fcmp,
    }

    /// A model crate's identity, to name it in errors.
    struct Part {
        krate: &'static str,
        bytes: &'static [u8],
        sha256: &'static str,
        model: &'static str,
    }

    macro_rules! part {
        ($krate:ident) => {
            Part { krate: stringify!($krate), bytes: $krate::PART, sha256: $krate::PART_SHA256, model: $krate::MODEL_SHA256 }
        };
    }

    static YUNET: &[u8] = include_bytes!("../../models/yunet_2023mar.onnx");
    static MINIFASNET_V2: &[u8] = include_bytes!("../../models/minifasnet_v2.onnx");
    static MINIFASNET_V1SE: &[u8] = include_bytes!("../../models/minifasnet_v1se.onnx");

    fn parts(file: ModelFile) -> (Form, Vec<Part>) {
        match file {
            ModelFile::Yunet => (Form::Raw, vec![Part { krate: "facecore", bytes: YUNET, sha256: "", model: "" }]),
            ModelFile::Sface => (Form::Fcmp, vec![part!(facecore_model_sface_1), part!(facecore_model_sface_2)]),
            ModelFile::DlibResnet => (
                Form::Raw,
                vec![part!(facecore_model_dlib_resnet_1), part!(facecore_model_dlib_resnet_2), part!(facecore_model_dlib_resnet_3)],
            ),
            ModelFile::DlibShapePredictor5 => (Form::Raw, vec![part!(facecore_model_dlib_sp5)]),
            ModelFile::MiniFasNetV2 => (Form::Raw, vec![Part { krate: "facecore", bytes: MINIFASNET_V2, sha256: "", model: "" }]),
            ModelFile::MiniFasNetV1Se => (Form::Raw, vec![Part { krate: "facecore", bytes: MINIFASNET_V1SE, sha256: "", model: "" }]),
        }
    }

    pub(super) fn load(file: ModelFile) -> Result<Cow<'static, [u8]>> {
        let (form, parts) = parts(file);
        if let Some(Err(detail)) = BUNDLED_CHECKED[file.index()].get() {
            return Err(Error::ModelLoad { model: file.file_name().into(), detail: detail.clone() });
        }
        let joined: Cow<'static, [u8]> = match parts.as_slice() {
            [one] => Cow::Borrowed(one.bytes),
            many => Cow::Owned(many.iter().flat_map(|p| p.bytes.iter().copied()).collect()),
        };
        let bytes = match form {
            Form::Raw => Ok(joined),
            Form::Fcmp => pack::decode_fcmp(file.file_name(), &joined).map(Cow::Owned),
        };
        let checked = BUNDLED_CHECKED[file.index()].get_or_init(|| match &bytes {
            Ok(b) => verify(file, b).map_err(|e| diagnose(file, &parts, e.to_string())),
            Err(e) => Err(diagnose(file, &parts, e.to_string())),
        });
        if let Err(detail) = checked {
            return Err(Error::ModelLoad { model: file.file_name().into(), detail: detail.clone() });
        }
        bytes
    }

    /// Names the model crate at fault when a joined model fails its check.
    fn diagnose(file: ModelFile, parts: &[Part], detail: String) -> String {
        let want = file.expected().map(|(s, _)| s).unwrap_or_default();
        for p in parts {
            if !p.model.is_empty() && p.model != want {
                return format!(
                    "crate {} carries another version of the model (sha256 {}, the manifest wants {want}): \
                     use the facecore-model-* versions this facecore release depends on",
                    p.krate, p.model
                );
            }
            if !p.sha256.is_empty() && sha256_hex(p.bytes) != p.sha256 {
                return format!("crate {} is damaged (its bytes do not match its own sha256)", p.krate);
            }
        }
        detail
    }
}

#[cfg(not(feature = "bundled-models"))]
mod bundled {
    use super::*;

    pub(super) fn load(file: ModelFile) -> Result<Cow<'static, [u8]>> {
        Err(Error::ModelLoad { model: file.file_name().into(), detail: missing_help() })
    }
}

/// Writes every model file into `dir` (created if needed), each checked against the
/// manifest first and written atomically (temporary file, then rename). Returns the paths.
///
/// # Errors
/// As [`ModelSource::load`]; [`Error::Io`] when `dir` is not writable.
pub fn export(source: &ModelSource, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    for file in ModelFile::ALL {
        let bytes = source.load(file)?;
        let path = dir.join(file.file_name());
        let tmp = dir.join(format!(".{}.tmp-{}", file.file_name(), std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lists_every_file() {
        for f in ModelFile::ALL {
            let m = f.manifest().unwrap();
            assert_eq!(m.sha256.len(), 64);
            assert!(m.bytes > 1000 && !m.source.is_empty() && !m.licence.is_empty());
            assert_eq!(ModelFile::from_file_name(m.file), Some(f));
        }
    }

    #[cfg(feature = "bundled-models")]
    #[test]
    fn bundled_models_decode_to_the_manifest_bytes() {
        for f in ModelFile::ALL {
            // load() verifies size and SHA-256; check again here, explicitly.
            let b = ModelSource::bundled().load(f).unwrap();
            verify(f, &b).unwrap();
        }
    }

    #[cfg(feature = "bundled-models")]
    #[test]
    fn tampered_bytes_are_refused_by_every_source() {
        let mut b = bytes(ModelFile::Yunet).unwrap().to_vec();
        b[1000] ^= 1;
        assert!(verify(ModelFile::Yunet, &b).unwrap_err().to_string().contains("sha256"));
        assert!(verify(ModelFile::Yunet, &b[..10]).is_err());
        assert!(ModelSource::memory().with_file(ModelFile::Yunet, b.clone()).unwrap_err().to_string().contains("sha256"));
        let dir = std::env::temp_dir().join(format!("facecore-models-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("yunet_2023mar.onnx"), &b).unwrap();
        let e = ModelSource::dir(&dir).load(ModelFile::Yunet).unwrap_err().to_string();
        assert!(e.contains("sha256") && e.contains("yunet_2023mar.onnx"), "{e}");
        // A model file of another name is still refused: the manifest decides, not the name.
        std::fs::write(dir.join("yunet_2023mar.onnx"), &*bytes(ModelFile::DlibShapePredictor5).unwrap()).unwrap();
        assert!(ModelSource::dir(&dir).load(ModelFile::Yunet).unwrap_err().to_string().contains("size"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(feature = "bundled-models")]
    #[test]
    fn export_then_load_from_the_directory_and_from_memory() {
        let dir = std::env::temp_dir().join(format!("facecore-export-test-{}", std::process::id()));
        let paths = export(&ModelSource::bundled(), &dir).unwrap();
        assert_eq!(paths.len(), ModelFile::ALL.len());
        let mut mem = ModelSource::memory();
        for f in ModelFile::ALL {
            let from_dir = ModelSource::dir(&dir).load(f).unwrap();
            assert_eq!(from_dir, bytes(f).unwrap());
            mem = mem.with_file(f, from_dir.to_vec()).unwrap();
        }
        assert_eq!(mem.load(ModelFile::Sface).unwrap(), bytes(ModelFile::Sface).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_says_how_to_get_the_models() {
        let e = ModelSource::dir("/nonexistent/facecore-models").load(ModelFile::Sface).unwrap_err().to_string();
        assert!(e.contains("not found") && e.contains("facecore models export"), "{e}");
        assert!(ModelSource::memory().load(ModelFile::Yunet).unwrap_err().to_string().contains("with_file"));
    }

    #[cfg(not(feature = "bundled-models"))]
    #[test]
    fn without_bundled_models_the_error_says_how_to_get_them() {
        let e = ModelSource::bundled().load(ModelFile::Sface).unwrap_err().to_string();
        assert!(e.contains("bundled-models") && e.contains("FACECORE_MODELS_DIR") && e.contains("facecore models export"), "{e}");
        assert!(!ModelSource::has_bundled());
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_file_is_refused_without_reading_it_all() {
        let e = read_verified(ModelFile::Yunet, "/dev/zero").unwrap_err().to_string();
        assert!(e.contains("size"), "{e}");
    }
}
