//! Python inputs to owned Rust values, and Rust results to new numpy arrays.
//!
//! Every input is copied while attached to the interpreter ([`ImageSource`] owns its bytes), so
//! inference can then run with the GIL released without another thread mutating the buffer
//! under it (STYLE.md pitfall 8).

use std::path::PathBuf;

use facecore::{Image, ImageView, PixelFormat};
use numpy::ndarray::{Array1, Array2, Array3};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

use crate::errors::{invalid, to_py};

/// An image as the caller gave it, owned and ready to decode/convert without the GIL.
pub(crate) enum ImageSource {
    Pixels { data: Vec<u8>, width: u32, height: u32, format: PixelFormat },
    Path(PathBuf),
    Encoded(Vec<u8>),
}

/// `"rgb"` or `"bgr"`.
pub(crate) fn parse_channel_order(order: &str) -> PyResult<bool> {
    match order.to_ascii_lowercase().as_str() {
        "rgb" => Ok(false),
        "bgr" => Ok(true),
        other => Err(invalid(format!("channel_order must be \"rgb\" or \"bgr\", not {other:?}"))),
    }
}

impl ImageSource {
    /// Copies an image argument: a numpy uint8 array (H,W), (H,W,1), (H,W,3) or (H,W,4), in
    /// any memory layout; a `str`/`os.PathLike` path; encoded `bytes`/`bytearray`/`memoryview`;
    /// a PIL image; or anything `numpy.asarray` turns into such an array.
    pub(crate) fn extract(obj: &Bound<'_, PyAny>, channel_order: &str) -> PyResult<Self> {
        let bgr = parse_channel_order(channel_order)?;
        let py = obj.py();
        if let Ok(arr) = obj.cast::<PyUntypedArray>() {
            return Self::from_array(arr, bgr);
        }
        if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
            return Ok(ImageSource::Path(obj.extract::<PathBuf>()?));
        }
        // Encoded bytes over the limit are refused before they are copied.
        let fits = |len: usize| facecore::limits::check_len("image buffer", len, facecore::limits::get().image_file_bytes).map_err(to_py);
        if let Ok(b) = obj.cast::<PyBytes>() {
            fits(b.as_bytes().len())?;
            return Ok(ImageSource::Encoded(b.as_bytes().to_vec()));
        }
        if let Ok(b) = obj.cast::<PyByteArray>() {
            fits(b.len())?;
            return Ok(ImageSource::Encoded(b.to_vec()));
        }
        if obj.is_instance_of::<PyMemoryView>() {
            let b = py.import("builtins")?.getattr("bytes")?.call1((obj,))?;
            return Ok(ImageSource::Encoded(b.cast::<PyBytes>()?.as_bytes().to_vec()));
        }
        // PIL.Image.Image: convert to RGB (palette, CMYK, 16-bit...) then view as an array.
        if obj.hasattr("convert")? && obj.hasattr("mode")? && obj.hasattr("size")? {
            let rgb = obj.call_method1("convert", ("RGB",))?;
            let arr = py.import("numpy")?.call_method1("asarray", (rgb,))?;
            return Self::extract(&arr, "rgb");
        }
        if obj.hasattr("__array_interface__")? || obj.hasattr("__array__")? {
            let arr = py.import("numpy")?.call_method1("asarray", (obj,))?;
            if arr.cast::<PyUntypedArray>().is_ok() {
                return Self::extract(&arr, channel_order);
            }
        }
        let ty = obj.get_type().name()?.to_string();
        Err(invalid(format!("image must be a numpy uint8 array, a path, encoded bytes or a PIL image, not {ty}")))
    }

    fn from_array(arr: &Bound<'_, PyUntypedArray>, bgr: bool) -> PyResult<Self> {
        let py = arr.py();
        if !arr.dtype().is_equiv_to(&numpy::dtype::<u8>(py)) {
            return Err(invalid(format!(
                "image array must have dtype uint8, not {}; for floats in 0..1 use (img * 255).astype(numpy.uint8)",
                arr.dtype().str()?
            )));
        }
        let shape = arr.shape().to_vec();
        let format = match shape.as_slice() {
            [_, _] | [_, _, 1] => PixelFormat::Gray8,
            [_, _, 3] => {
                if bgr {
                    PixelFormat::Bgr8
                } else {
                    PixelFormat::Rgb8
                }
            }
            [_, _, 4] => {
                if bgr {
                    PixelFormat::Bgra8
                } else {
                    PixelFormat::Rgba8
                }
            }
            _ => {
                return Err(invalid(format!("image array must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), not {shape:?}")));
            }
        };
        let (h, w) = (shape[0], shape[1]);
        let too_big = |n: usize| u32::try_from(n).map_err(|_| invalid(format!("image of shape {shape:?} is too large")));
        let (width, height) = (too_big(w)?, too_big(h)?);
        // Refuse oversized arrays before copying them (the core's limits, as for decoded files).
        let l = facecore::limits::get();
        let (side, area) = (width.max(height), u64::from(width) * u64::from(height));
        if side > l.image_side {
            return Err(to_py(facecore::Error::LimitExceeded {
                what: "image side",
                limit: l.image_side.into(),
                actual: side.into(),
                unit: "px",
            }));
        }
        if area > l.image_pixels {
            return Err(to_py(facecore::Error::LimitExceeded { what: "image area", limit: l.image_pixels, actual: area, unit: "pixels" }));
        }
        let typed = arr.cast::<PyArrayDyn<u8>>()?;
        let ro = typed.try_readonly().map_err(|e| invalid(format!("image array is not readable: {e}")))?;
        // Logical (C) order whatever the strides: slices, crops, flips and transposes all work.
        // (numpy's "contiguous" includes Fortran order, so ask ndarray for standard layout.)
        let view = ro.as_array();
        let data = match view.as_slice() {
            Some(s) => s.to_vec(),
            None => view.iter().copied().collect(),
        };
        Ok(ImageSource::Pixels { data, width, height, format })
    }

    /// Decodes or converts to facecore's owned RGB image (call with the GIL released).
    pub(crate) fn into_image(self) -> facecore::Result<Image> {
        match self {
            ImageSource::Pixels { data, width, height, format } => {
                let stride = width as usize * format.bytes_per_pixel();
                Ok(Image::from_view(ImageView::new(&data, width, height, stride, format)?))
            }
            ImageSource::Path(p) => Image::open(p),
            ImageSource::Encoded(b) => Image::decode(&b),
        }
    }
}

/// Copies the argument then converts it with the GIL released.
pub(crate) fn load(py: Python<'_>, obj: &Bound<'_, PyAny>, channel_order: &str) -> PyResult<Image> {
    let src = ImageSource::extract(obj, channel_order)?;
    py.detach(move || src.into_image()).map_err(to_py)
}

/// A new (H, W, 3) uint8 RGB array.
pub(crate) fn image_to_numpy<'py>(py: Python<'py>, img: &Image) -> PyResult<Bound<'py, PyArray3<u8>>> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let a = Array3::from_shape_vec((h, w, 3), img.as_rgb().as_raw().clone()).map_err(|e| invalid(format!("image buffer: {e}")))?;
    Ok(a.into_pyarray(py))
}

/// A new (N, 2) float32 array of points.
pub(crate) fn points_to_numpy<'py>(py: Python<'py>, pts: &[[f32; 2]]) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let flat: Vec<f32> = pts.iter().flatten().copied().collect();
    let a = Array2::from_shape_vec((pts.len(), 2), flat).map_err(|e| invalid(format!("points: {e}")))?;
    Ok(a.into_pyarray(py))
}

/// A new 1-D float32 array.
pub(crate) fn vec_to_numpy<'py>(py: Python<'py>, v: &[f32]) -> Bound<'py, PyArray1<f32>> {
    Array1::from(v.to_vec()).into_pyarray(py)
}

/// A 1-D embedding argument (any array-like of numbers), copied to f32.
pub(crate) fn extract_vector(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f32>> {
    let py = obj.py();
    let arr = py.import("numpy")?.call_method1("asarray", (obj, "float32"))?;
    let arr = arr.cast_into::<PyArrayDyn<f32>>().map_err(|_| invalid(format!("{what} must be a 1-D array of numbers")))?;
    if arr.ndim() != 1 {
        return Err(invalid(format!("{what} must be 1-D, not of shape {:?}", arr.shape())));
    }
    let ro = arr.try_readonly().map_err(|e| invalid(format!("{what} is not readable: {e}")))?;
    Ok(ro.as_array().iter().copied().collect())
}
