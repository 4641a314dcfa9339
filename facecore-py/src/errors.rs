//! The one mapping from `facecore::Error` to Python exceptions.
//!
//! The classes live in `facecore/_errors.py` so that they can have two bases (for example
//! `InvalidInputError(FacecoreError, ValueError)`); they are looked up once and cached.

use pyo3::PyErrArguments;
use pyo3::exceptions::PyFileNotFoundError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// The exception classes, in the order of [`Kind`].
static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

/// One Python exception class per core error group.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Base = 0,
    InvalidInput,
    ImageDecode,
    ModelLoad,
    Inference,
    ModelMismatch,
    Gallery,
    Io,
    DegenerateFace,
    LimitExceeded,
    GalleryKey,
    LowQuality,
    StreamBusy,
}

const NAMES: [&str; 13] = [
    "FacecoreError",
    "InvalidInputError",
    "ImageDecodeError",
    "ModelLoadError",
    "InferenceError",
    "ModelMismatchError",
    "GalleryError",
    "FacecoreIOError",
    "DegenerateFaceError",
    "LimitExceededError",
    "GalleryKeyError",
    "LowQualityError",
    "StreamBusyError",
];

/// A new exception of `kind` with `msg`.
pub(crate) fn new_err(kind: Kind, msg: impl Into<String>) -> PyErr {
    new_err_args(kind, msg.into())
}

/// A new exception of `kind` constructed with `args` (a message, or a tuple of the class's
/// constructor arguments).
fn new_err_args<A: PyErrArguments + Send + Sync + 'static>(kind: Kind, args: A) -> PyErr {
    Python::attach(|py| {
        let classes = CLASSES.get_or_try_init(py, || -> PyResult<Vec<Py<PyType>>> {
            let m = py.import("facecore._errors")?;
            NAMES.iter().map(|n| Ok(m.getattr(*n)?.cast_into::<PyType>()?.unbind())).collect()
        });
        match classes {
            Ok(c) => PyErr::from_type(c[kind as usize].bind(py).clone(), args),
            Err(e) => e,
        }
    })
}

/// An invalid-argument error (wrong dtype, shape, option value).
pub(crate) fn invalid(msg: impl Into<String>) -> PyErr {
    new_err(Kind::InvalidInput, msg)
}

/// Maps a core error to its Python class; a missing file is the built-in `FileNotFoundError`
/// (with `errno`, `strerror` and `filename` set).
pub(crate) fn to_py(e: facecore::Error) -> PyErr {
    use facecore::Error as E;
    if let E::Io { path, source } = &e
        && e.is_not_found()
    {
        return PyFileNotFoundError::new_err((2, source.to_string(), path.display().to_string()));
    }
    let kind = match &e {
        E::InvalidInput { .. } => Kind::InvalidInput,
        E::ImageDecode { .. } => Kind::ImageDecode,
        E::ModelLoad { .. } => Kind::ModelLoad,
        E::Inference { .. } => Kind::Inference,
        E::ModelMismatch { .. } => Kind::ModelMismatch,
        E::Gallery { .. } => Kind::Gallery,
        E::Io { .. } => Kind::Io,
        E::DegenerateFace { .. } => Kind::DegenerateFace,
        E::LimitExceeded { .. } => Kind::LimitExceeded,
        E::Key { .. } => Kind::GalleryKey,
        E::LowQuality { .. } => Kind::LowQuality,
        // `facecore::Error` is non-exhaustive: a future variant is still a FacecoreError.
        _ => Kind::Base,
    };
    let mut msg = message(&e);
    if let E::Gallery { path: Some(p), .. } = &e
        && p.to_string_lossy().starts_with("postgres ")
    {
        // A PostgreSQL store's schema: not a file, and the core names its Rust API where
        // Python users migrate through Gallery.connect.
        msg = msg
            .replacen("invalid gallery file postgres ", "invalid gallery in postgres ", 1)
            .replace("call PgStore::migrate to migrate it", "Gallery.connect(url, migrate=True) migrates it");
    }
    if let E::LimitExceeded { what, limit, actual, unit } = e {
        // The core names its Rust API; Python users raise a limit with facecore.set_limits.
        let msg = msg.replace("see facecore::limits to raise it", "facecore.set_limits() raises it");
        // LimitExceededError(message, what, limit, actual, unit): the numbers as attributes.
        return new_err_args(kind, (msg, what, limit, actual, unit));
    }
    if let E::LowQuality { measure, value, limit } = e {
        // LowQualityError(message, measure, value, limit); the floor is lowered by the keywords
        // of Pipeline.enroll in Python.
        let msg =
            msg.replace("lower the floor in QualityConfig to accept it", "lower the floor with Pipeline.enroll's keywords to accept it");
        return new_err_args(kind, (msg, measure, value, limit));
    }
    new_err(kind, msg)
}

/// The error's message followed by its sources' (those it does not already contain).
fn message(e: &facecore::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        src = s.source();
    }
    msg
}
