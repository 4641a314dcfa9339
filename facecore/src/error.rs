//! The one error type of facecore, grouped by who is at fault.

use std::path::PathBuf;

/// A boxed error from a lower layer (the inference engine, a decoder).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in facecore.
///
/// Variants are grouped by cause: the caller's input, a model file, the inference engine,
/// a gallery file, the file system.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller passed an invalid argument (image geometry, option value, ...).
    #[error("invalid {what}: {detail}")]
    InvalidInput {
        /// What was invalid, e.g. "image" or "detector option".
        what: &'static str,
        /// Why it was rejected.
        detail: String,
    },
    /// An encoded image could not be decoded (corrupt, truncated, unsupported format).
    #[error("cannot decode image{}: {source}", path_suffix(.path))]
    ImageDecode {
        /// The file, when decoding from a path.
        path: Option<PathBuf>,
        /// The decoder's error.
        #[source]
        source: BoxError,
    },
    /// A model file could not be loaded: wrong checksum, not ONNX, unexpected shapes.
    #[error("cannot load model {model}: {detail}")]
    ModelLoad {
        /// The model's id or path.
        model: String,
        /// What went wrong.
        detail: String,
    },
    /// The inference engine failed while running a model.
    #[error("inference failed in {model}: {source}")]
    Inference {
        /// The model's id.
        model: &'static str,
        /// The engine's error.
        #[source]
        source: BoxError,
    },
    /// Two embeddings from different models (or of different sizes) were compared.
    #[error("embeddings come from different models: {left} vs {right}")]
    ModelMismatch {
        /// The model id of the left operand (or the gallery).
        left: String,
        /// The model id of the right operand.
        right: String,
    },
    /// A gallery file is damaged, truncated, of a newer version or not a gallery at all.
    #[error("invalid gallery file{}: {detail}", path_suffix(.path))]
    Gallery {
        /// The file, when reading from a path.
        path: Option<PathBuf>,
        /// What is wrong with it.
        detail: String,
    },
    /// A face's landmarks are too degenerate (collapsed, collinear, non-finite) to align it.
    /// Pipelines skip such faces; calls on one face report this.
    #[error("cannot align the face: {detail}")]
    DegenerateFace {
        /// What is wrong with the landmarks.
        detail: String,
    },
    /// An input is larger than a configured limit ([`crate::limits`]); nothing was read past it.
    #[error("{what} exceeds the limit: {actual} > {limit} {unit} (see facecore::limits to raise it)")]
    LimitExceeded {
        /// What was too large, e.g. "image file" or "gallery file".
        what: &'static str,
        /// The limit in force.
        limit: u64,
        /// The size found (a lower bound when reading stopped at the limit).
        actual: u64,
        /// The unit of both numbers ("bytes", "pixels", "px").
        unit: &'static str,
    },
    /// An encrypted gallery could not be opened with the given key: wrong key, a file
    /// forged or altered by someone without the key, no key given for an encrypted file, or
    /// a key given for an unencrypted one.
    #[error("gallery key{}: {detail}", path_suffix(.path))]
    Key {
        /// The file, when reading from a path.
        path: Option<PathBuf>,
        /// What is wrong.
        detail: String,
    },
    /// A face is below a quality floor (see [`crate::QualityConfig`]): too small, blurred,
    /// dark, flat or turned away. Enrolment refuses such faces unless the caller lowers the
    /// floor.
    #[error("face quality too low: {measure} is {value:.2}, the limit is {limit:.2} (lower the floor in QualityConfig to accept it)")]
    LowQuality {
        /// The failing measure: `eye_distance`, `sharpness`, `brightness`, `contrast`, `yaw`,
        /// `pitch` or `score` (see [`crate::Quality`]).
        measure: &'static str,
        /// The face's value of that measure.
        value: f32,
        /// The bound it failed: a floor, or a ceiling for `|yaw|`, `|pitch|` and the upper
        /// brightness bound.
        limit: f32,
    },
    /// An I/O error, with the path involved.
    #[error("i/o error on {}: {source}", .path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

fn path_suffix(p: &Option<PathBuf>) -> String {
    p.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default()
}

impl Error {
    pub(crate) fn input(what: &'static str, detail: impl Into<String>) -> Self {
        Error::InvalidInput { what, detail: detail.into() }
    }

    pub(crate) fn degenerate(detail: impl Into<String>) -> Self {
        Error::DegenerateFace { detail: detail.into() }
    }

    pub(crate) fn limit(what: &'static str, limit: u64, actual: u64, unit: &'static str) -> Self {
        Error::LimitExceeded { what, limit, actual, unit }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// True when the error is a missing file (bindings map it to their "not found" error).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// facecore's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
