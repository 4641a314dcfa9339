//! `facecore.limits()` and `facecore.set_limits(**limits)`: the process-wide size limits.

use facecore::limits::{self, Limits};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt};

use crate::errors::{invalid, to_py};

/// The limits' names, in the order `limits()` lists them.
const NAMES: [&str; 6] =
    ["image_file_bytes", "image_side", "image_pixels", "native_detector_side", "gallery_file_bytes", "model_file_bytes"];

fn as_dict<'py>(py: Python<'py>, l: &Limits) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let values = [
        l.image_file_bytes,
        u64::from(l.image_side),
        l.image_pixels,
        u64::from(l.native_detector_side),
        l.gallery_file_bytes,
        l.model_file_bytes,
    ];
    for (name, v) in NAMES.iter().zip(values) {
        d.set_item(*name, v)?;
    }
    Ok(d)
}

/// The size limits in force, as a new dict of ints (bytes, pixels or px).
#[pyfunction(name = "limits")]
pub(crate) fn get_limits(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    as_dict(py, &limits::get())
}

/// Changes the named limits for the whole process (others keep their values) and returns
/// the previous limits, so that `facecore.set_limits(**old)` restores them. Unknown names,
/// values that are not positive ints, and limits the core refuses raise `InvalidInputError`.
#[pyfunction]
#[pyo3(signature = (**limits))]
pub(crate) fn set_limits<'py>(py: Python<'py>, limits: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyDict>> {
    let old = limits::get();
    let mut l = old;
    for (k, v) in limits.into_iter().flatten() {
        let name: String = k.extract()?;
        if !v.is_instance_of::<PyInt>() || v.is_instance_of::<PyBool>() {
            return Err(invalid(format!("limit {name} must be an int, not {}", v.get_type().name()?)));
        }
        let n: u64 = v.extract().map_err(|_| invalid(format!("limit {name} must be a positive int, not {v}")))?;
        let side = || u32::try_from(n).map_err(|_| invalid(format!("limit {name} of {n} px is too large")));
        match name.as_str() {
            "image_file_bytes" => l.image_file_bytes = n,
            "image_side" => l.image_side = side()?,
            "image_pixels" => l.image_pixels = n,
            "native_detector_side" => l.native_detector_side = side()?,
            "gallery_file_bytes" => l.gallery_file_bytes = n,
            "model_file_bytes" => l.model_file_bytes = n,
            other => return Err(invalid(format!("unknown limit {other:?} (known: {})", NAMES.join(", ")))),
        }
    }
    limits::set(l).map_err(to_py)?;
    as_dict(py, &old)
}
