//! Python inputs to owned Rust values, and Rust results to new numpy arrays.
//!
//! Every input is copied while attached to the interpreter ([`ImageSource`] owns its bytes), so
//! inference can then run with the GIL released without another thread mutating the buffer
//! under it (STYLE.md pitfall 8).

use std::path::PathBuf;

use facecore::{ColorRange, Image, ImageView, PixelFormat, Plane};
use numpy::ndarray::{Array1, Array2, Array3};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString, PyTuple};

use crate::errors::{invalid, to_py};

/// An image as the caller gave it, owned and ready to decode/convert without the GIL.
pub(crate) enum ImageSource {
    /// One buffer: the first plane's rows `stride` bytes apart, the other planes after it.
    Pixels {
        data: Vec<u8>,
        width: u32,
        height: u32,
        stride: usize,
        format: PixelFormat,
        range: ColorRange,
    },
    /// Separate planes, each `(bytes, stride)`.
    Planes {
        planes: Vec<(Vec<u8>, usize)>,
        width: u32,
        height: u32,
        format: PixelFormat,
        range: ColorRange,
    },
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

/// The `pixel_format=` names, in the order of the stubs' `Literal`.
const FORMATS: [(&str, PixelFormat); 9] = [
    ("rgb", PixelFormat::Rgb8),
    ("bgr", PixelFormat::Bgr8),
    ("rgba", PixelFormat::Rgba8),
    ("bgra", PixelFormat::Bgra8),
    ("gray", PixelFormat::Gray8),
    ("nv12", PixelFormat::Nv12),
    ("nv21", PixelFormat::Nv21),
    ("i420", PixelFormat::I420),
    ("yuyv", PixelFormat::Yuyv),
];

fn format_name(f: PixelFormat) -> &'static str {
    FORMATS.iter().find(|(_, g)| *g == f).map_or("?", |(n, _)| n)
}

/// A `pixel_format=` value.
pub(crate) fn parse_pixel_format(name: &str) -> PyResult<PixelFormat> {
    let lower = name.to_ascii_lowercase();
    FORMATS.iter().find(|(n, _)| *n == lower).map(|(_, f)| *f).ok_or_else(|| {
        let all: Vec<&str> = FORMATS.iter().map(|(n, _)| *n).collect();
        invalid(format!("pixel_format must be one of {}, not {name:?}", all.join(", ")))
    })
}

/// The keyword arguments that say how raw pixels are laid out; every call that takes an image
/// takes them (`channel_order` is the older, RGB-only spelling of `pixel_format`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PixelArgs<'a> {
    pub(crate) channel_order: &'a str,
    pub(crate) pixel_format: Option<&'a str>,
    pub(crate) color_range: &'a str,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
}

impl PixelArgs<'static> {
    /// The defaults: RGB (or grey, RGBA by the array's shape), nothing else said.
    pub(crate) const RGB: PixelArgs<'static> =
        PixelArgs { channel_order: "rgb", pixel_format: None, color_range: "limited", width: None, height: None };
}

/// [`PixelArgs`] checked and parsed.
struct Spec {
    /// `pixel_format=`, when given.
    format: Option<PixelFormat>,
    bgr: bool,
    range: ColorRange,
    /// `width=` and `height=`, when given (always both).
    size: Option<(u32, u32)>,
}

impl PixelArgs<'_> {
    fn parse(&self) -> PyResult<Spec> {
        let bgr = parse_channel_order(self.channel_order)?;
        let format = self.pixel_format.map(parse_pixel_format).transpose()?;
        if format.is_some() && bgr {
            return Err(invalid("give pixel_format= or channel_order=, not both (channel_order=\"bgr\" is pixel_format=\"bgr\")"));
        }
        let range = match self.color_range.to_ascii_lowercase().as_str() {
            "limited" => ColorRange::Limited,
            "full" => ColorRange::Full,
            other => return Err(invalid(format!("color_range must be \"limited\" or \"full\", not {other:?}"))),
        };
        if range == ColorRange::Full && !format.is_some_and(PixelFormat::is_yuv) {
            return Err(invalid("color_range=\"full\" applies to the YUV pixel formats only (nv12, nv21, i420, yuyv)"));
        }
        let size = match (self.width, self.height) {
            (Some(w), Some(h)) => Some((w, h)),
            (None, None) => None,
            _ => return Err(invalid("width= and height= go together")),
        };
        Ok(Spec { format, bgr, range, size })
    }
}

/// Refuses an image beyond the core's limits (before anything is copied).
fn check_limits(width: u32, height: u32) -> PyResult<()> {
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
    Ok(())
}

/// Bytes in a row of the first plane of a frame without padding (the stride of one buffer).
fn packed_stride(format: PixelFormat, width: u32) -> usize {
    match format {
        PixelFormat::Yuyv => 4 * (width as usize).div_ceil(2),
        f => width as usize * f.bytes_per_pixel(),
    }
}

/// Bytes of a whole frame in one buffer without padding: planes back to back, as
/// [`ImageView::new`] reads them with [`packed_stride`].
fn packed_len(format: PixelFormat, width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    let chroma = 2 * w.div_ceil(2) * h.div_ceil(2);
    match format {
        PixelFormat::Nv12 | PixelFormat::Nv21 | PixelFormat::I420 => w * h + chroma,
        f => packed_stride(f, width) * h,
    }
}

fn dim(n: usize, shape: &[usize]) -> PyResult<u32> {
    u32::try_from(n).map_err(|_| invalid(format!("image of shape {shape:?} is too large")))
}

/// Copies a uint8 array in logical (C) order, whatever its strides: slices, crops, flips and
/// transposes all work. (numpy's "contiguous" includes Fortran order, so ndarray is asked for
/// the standard layout.)
fn copy_u8(arr: &Bound<'_, PyUntypedArray>, what: &str) -> PyResult<Vec<u8>> {
    let typed = arr.cast::<PyArrayDyn<u8>>()?;
    let ro = typed.try_readonly().map_err(|e| invalid(format!("{what} is not readable: {e}")))?;
    let view = ro.as_array();
    Ok(match view.as_slice() {
        Some(s) => s.to_vec(),
        None => view.iter().copied().collect(),
    })
}

fn check_u8(arr: &Bound<'_, PyUntypedArray>, what: &str) -> PyResult<()> {
    let py = arr.py();
    if !arr.dtype().is_equiv_to(&numpy::dtype::<u8>(py)) {
        return Err(invalid(format!(
            "{what} must have dtype uint8, not {}; for floats in 0..1 use (img * 255).astype(numpy.uint8)",
            arr.dtype().str()?
        )));
    }
    Ok(())
}

/// A numpy array from an array argument or anything `numpy.asarray` takes.
fn as_array<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    let arr = obj.py().import("numpy")?.call_method1("asarray", (obj,))?;
    arr.cast_into::<PyUntypedArray>().map_err(|_| invalid(format!("{what} must be a numpy uint8 array")))
}

impl ImageSource {
    /// Copies an image argument: a numpy uint8 array (H,W), (H,W,1), (H,W,3) or (H,W,4), in
    /// any memory layout; a `str`/`os.PathLike` path; encoded `bytes`/`bytearray`/`memoryview`;
    /// a PIL image; or anything `numpy.asarray` turns into such an array. With `pixel_format=`:
    /// raw pixels of that format (see `docs/python.md`), as an array, as `bytes` with
    /// `width=` and `height=`, or as a tuple of planes.
    pub(crate) fn extract(obj: &Bound<'_, PyAny>, args: &PixelArgs<'_>) -> PyResult<Self> {
        let spec = args.parse()?;
        let py = obj.py();
        if let Ok(arr) = obj.cast::<PyUntypedArray>() {
            return Self::from_array(arr, &spec);
        }
        if let Ok(t) = obj.cast::<PyTuple>() {
            return Self::from_planes(t, &spec);
        }
        let raw = spec.format.is_some() || spec.size.is_some();
        let not_raw = |what: &str| {
            invalid(format!(
                "pixel_format=, width= and height= describe raw pixels (an array, bytes with width= and height=, or a tuple \
                 of planes), not {what}"
            ))
        };
        if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
            if raw {
                return Err(not_raw("a path"));
            }
            return Ok(ImageSource::Path(obj.extract::<PathBuf>()?));
        }
        // Encoded bytes over the limit are refused before they are copied.
        let fits = |len: usize| facecore::limits::check_len("image buffer", len, facecore::limits::get().image_file_bytes).map_err(to_py);
        let bytes_like = obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() || obj.is_instance_of::<PyMemoryView>();
        if bytes_like && raw {
            // Raw pixels in a bytes-like object: a 1-D uint8 view of it, checked then copied.
            let arr = py.import("numpy")?.call_method1("frombuffer", (obj, "uint8"))?;
            return Self::from_array(arr.cast::<PyUntypedArray>()?, &spec);
        }
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
            if raw {
                return Err(not_raw("a PIL image"));
            }
            let rgb = obj.call_method1("convert", ("RGB",))?;
            let arr = py.import("numpy")?.call_method1("asarray", (rgb,))?;
            return Self::extract(&arr, &PixelArgs::RGB);
        }
        if obj.hasattr("__array_interface__")? || obj.hasattr("__array__")? {
            let arr = py.import("numpy")?.call_method1("asarray", (obj,))?;
            if arr.cast::<PyUntypedArray>().is_ok() {
                return Self::extract(&arr, args);
            }
        }
        let ty = obj.get_type().name()?.to_string();
        Err(invalid(format!("image must be a numpy uint8 array, a path, encoded bytes or a PIL image, not {ty}")))
    }

    /// One array holding the whole frame.
    fn from_array(arr: &Bound<'_, PyUntypedArray>, spec: &Spec) -> PyResult<Self> {
        check_u8(arr, "image array")?;
        let shape = arr.shape().to_vec();
        let bad_shape = |expected: &str| invalid(format!("{expected}, not {shape:?}"));
        let (format, width, height) = match (spec.format, shape.as_slice()) {
            (None, [h, w] | [h, w, 1]) => (PixelFormat::Gray8, *w, *h),
            (None, [h, w, 3]) => (if spec.bgr { PixelFormat::Bgr8 } else { PixelFormat::Rgb8 }, *w, *h),
            (None, [h, w, 4]) => (if spec.bgr { PixelFormat::Bgra8 } else { PixelFormat::Rgba8 }, *w, *h),
            (None, [_]) => return Err(invalid("a 1-D image buffer needs pixel_format=, width= and height=")),
            (None, _) => return Err(bad_shape("image array must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)")),
            (Some(f), [_]) => {
                let Some((w, h)) = spec.size else {
                    return Err(invalid(format!("a 1-D {} buffer needs width= and height=", format_name(f))));
                };
                (f, w as usize, h as usize)
            }
            (Some(f @ PixelFormat::Gray8), [h, w] | [h, w, 1]) => (f, *w, *h),
            (Some(f @ (PixelFormat::Rgb8 | PixelFormat::Bgr8)), [h, w, 3]) => (f, *w, *h),
            (Some(f @ (PixelFormat::Rgba8 | PixelFormat::Bgra8)), [h, w, 4]) => (f, *w, *h),
            (Some(f @ (PixelFormat::Nv12 | PixelFormat::Nv21 | PixelFormat::I420)), [rows, w]) => {
                if rows % 3 != 0 || w % 2 != 0 || (rows / 3) % 2 != 0 || *w == 0 {
                    return Err(bad_shape(&format!(
                        "a 2-D {} array is OpenCV's layout, shape (height * 3 // 2, width) with even width and height; pass \
                         other sizes as a 1-D buffer with width= and height=",
                        format_name(f)
                    )));
                }
                (f, *w, rows / 3 * 2)
            }
            (Some(f @ PixelFormat::Yuyv), [h, w, 2]) => {
                if w % 2 != 0 {
                    return Err(bad_shape("a YUYV array of shape (H, W, 2) needs an even W; pass odd widths as a 1-D buffer"));
                }
                (f, *w, *h)
            }
            (Some(f), _) => {
                let expected = match f {
                    PixelFormat::Gray8 => "(H, W) or (H, W, 1)",
                    PixelFormat::Rgb8 | PixelFormat::Bgr8 => "(H, W, 3)",
                    PixelFormat::Rgba8 | PixelFormat::Bgra8 => "(H, W, 4)",
                    PixelFormat::Yuyv => "(H, W, 2)",
                    _ => "(H * 3 // 2, W)",
                };
                return Err(bad_shape(&format!("a {} image array must have shape {expected} or be 1-D", format_name(f))));
            }
        };
        let (width, height) = (dim(width, &shape)?, dim(height, &shape)?);
        if shape.len() > 1
            && let Some((w, h)) = spec.size
            && (w, h) != (width, height)
        {
            return Err(invalid(format!(
                "width={w}, height={h} disagree with the {} array of shape {shape:?} ({width}x{height})",
                format_name(format)
            )));
        }
        check_limits(width, height)?;
        // Exactly one frame: a buffer of another length is another size or format.
        let (expected, len) = (packed_len(format, width, height), shape.iter().product::<usize>());
        if len != expected {
            return Err(invalid(format!(
                "a {width}x{height} {} frame takes {expected} bytes, the buffer holds {len}",
                format_name(format)
            )));
        }
        let data = copy_u8(arr, "image array")?;
        Ok(ImageSource::Pixels { data, width, height, stride: packed_stride(format, width), format, range: spec.range })
    }

    /// A tuple of planes, each a 2-D array (rows, row bytes) or 3-D (rows, columns, channels)
    /// with its own stride.
    fn from_planes(planes: &Bound<'_, PyTuple>, spec: &Spec) -> PyResult<Self> {
        let Some(format) = spec.format else {
            return Err(invalid("a tuple of planes needs pixel_format= (nv12 and nv21: (y, uv); i420: (y, u, v))"));
        };
        let names = match format {
            PixelFormat::Nv12 => "(y, uv)",
            PixelFormat::Nv21 => "(y, vu)",
            PixelFormat::I420 => "(y, u, v)",
            _ => "(pixels,)",
        };
        if planes.len() != format.planes() {
            return Err(invalid(format!("{} takes {} plane(s) {names}, {} given", format_name(format), format.planes(), planes.len())));
        }
        let mut arrays = Vec::with_capacity(planes.len());
        for (i, p) in planes.iter().enumerate() {
            let what = format!("plane {i}");
            let arr = as_array(&p, &what)?;
            check_u8(&arr, &what)?;
            let shape = arr.shape().to_vec();
            let row = match shape.as_slice() {
                [_, w] => *w,
                [_, w, c] => w * c,
                _ => return Err(invalid(format!("{what} must be 2-D (rows, bytes per row) or 3-D, not of shape {shape:?}"))),
            };
            arrays.push((arr, shape, row));
        }
        let (width, height) = match spec.size {
            Some(s) => s,
            None => {
                let shape = &arrays[0].1;
                let size = match (format, shape.as_slice()) {
                    (PixelFormat::Nv12 | PixelFormat::Nv21 | PixelFormat::I420 | PixelFormat::Gray8, [h, w]) => Some((*w, *h)),
                    (f, [h, w, c]) if *c == f.bytes_per_pixel() => Some((*w, *h)),
                    _ => None,
                };
                let (w, h) = size.ok_or_else(|| invalid(format!("give width= and height= for a first plane of shape {shape:?}")))?;
                (dim(w, shape)?, dim(h, shape)?)
            }
        };
        check_limits(width, height)?;
        let planes = arrays.iter().map(|(arr, _, row)| Ok((copy_u8(arr, "plane")?, *row))).collect::<PyResult<Vec<_>>>()?;
        Ok(ImageSource::Planes { planes, width, height, format, range: spec.range })
    }

    /// Decodes or converts to facecore's owned RGB image (call with the GIL released).
    pub(crate) fn into_image(self) -> facecore::Result<Image> {
        match self {
            ImageSource::Pixels { data, width, height, stride, format, range } => {
                Ok(Image::from_view(ImageView::new(&data, width, height, stride, format)?.with_color_range(range)))
            }
            ImageSource::Planes { planes, width, height, format, range } => {
                let planes: Vec<Plane<'_>> = planes.iter().map(|(d, stride)| Plane::new(d, *stride)).collect();
                Ok(Image::from_view(ImageView::from_planes(&planes, width, height, format)?.with_color_range(range)))
            }
            ImageSource::Path(p) => Image::open(p),
            ImageSource::Encoded(b) => Image::decode(&b),
        }
    }
}

/// Copies the argument then converts it with the GIL released.
pub(crate) fn load(py: Python<'_>, obj: &Bound<'_, PyAny>, args: &PixelArgs<'_>) -> PyResult<Image> {
    let src = ImageSource::extract(obj, args)?;
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
