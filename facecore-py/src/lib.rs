//! `facecore._facecore`: the native module of the `facecore` Python package.
//!
//! Every class is frozen and wraps shared, immutable core objects (the gallery holds a lock,
//! taken only with the GIL released: see `gallery.rs`), so instances can be used from many
//! threads; inputs are copied before the GIL is released for decoding and inference. The models are compiled into this module and loaded on first
//! use, never at import time.

mod compat;
mod convert;
mod detector;
mod errors;
mod gallery;
mod identify;
mod limits;
mod liveness;
mod models;
mod quality;
mod recognizer;
mod stream;

use pyo3::prelude::*;

/// The native module; see the `facecore` package for the documented API.
#[pymodule]
fn _facecore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<detector::PyFace>()?;
    m.add_class::<detector::PyDetector>()?;
    m.add_class::<recognizer::PyRecognizer>()?;
    m.add_class::<recognizer::PyEmbedder>()?;
    m.add_class::<recognizer::PyPipeline>()?;
    m.add_class::<recognizer::PyVerification>()?;
    m.add_class::<identify::PyIdentified>()?;
    m.add_class::<identify::PyVerified>()?;
    m.add_class::<gallery::PyGallery>()?;
    m.add_class::<gallery::PyMatch>()?;
    m.add_class::<gallery::PyPerson>()?;
    m.add_class::<liveness::PyLiveness>()?;
    m.add_class::<liveness::PyLivenessResult>()?;
    m.add_class::<quality::PyQuality>()?;
    m.add_class::<stream::PyStream>()?;
    m.add_class::<stream::PyStreamEvent>()?;
    m.add_class::<stream::PyTrackInfo>()?;
    m.add_class::<compat::DlibCompat>()?;
    m.add_class::<compat::DlibShapeCompat>()?;
    m.add_function(wrap_pyfunction!(recognizer::verify, m)?)?;
    m.add_function(wrap_pyfunction!(recognizer::threshold, m)?)?;
    m.add_function(wrap_pyfunction!(recognizer::similarity, m)?)?;
    m.add_function(wrap_pyfunction!(compat::load_image, m)?)?;
    m.add_function(wrap_pyfunction!(limits::get_limits, m)?)?;
    m.add_function(wrap_pyfunction!(limits::set_limits, m)?)?;
    Ok(())
}
