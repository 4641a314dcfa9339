//! The native half of `facecore.compat` (face_recognition's API): HOG-like boxes from YuNet,
//! dlib's 5-point landmarks on given boxes, dlib's face chip and the raw dlib descriptor; and
//! the same with a shape predictor loaded from a file (face_recognition's 68-point model).

use std::path::PathBuf;
use std::sync::Arc;

use facecore::image_crate::RgbImage;
use facecore::{DetectorConfig, DlibPredictor, DlibRect, DlibShapePredictor, EmbedModel, Embedder, Image, InputSize};
use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray1, PyArray3};
use pyo3::prelude::*;

use crate::convert::{PixelArgs, image_to_numpy, load};
use crate::errors::to_py;

/// face_recognition's `(top, right, bottom, left)`.
type Css = (i64, i64, i64, i64);

fn css_to_rect(c: Css) -> DlibRect {
    DlibRect { left: c.3, top: c.0, right: c.1, bottom: c.2 }
}

/// Network input side for face_recognition's `number_of_times_to_upsample`: dlib upsamples so
/// that HOG (80 px minimum face) finds small faces; YuNet finds faces of ~10 px at its input,
/// so small images are upscaled like dlib does and large ones are capped (640 px, doubled per
/// upsample beyond the first).
pub(crate) fn upsample_side(width: u32, height: u32, upsample: u32) -> u32 {
    let longest = u64::from(width.max(height));
    let u = upsample.min(4);
    let cap = 640u64 << u.saturating_sub(1);
    (longest << u).min(cap).clamp(32, 4096) as u32
}

/// face_recognition's models behind one object: YuNet mapped to dlib HOG boxes, dlib's shape
/// predictor, dlib's ResNet. Internal; use `facecore.compat`.
#[pyclass(frozen, module = "facecore._facecore", name = "DlibCompat")]
pub(crate) struct DlibCompat {
    detector: facecore::Detector,
    predictor: Arc<DlibPredictor>,
    embedder: Embedder,
}

impl DlibCompat {
    fn locate(&self, img: &Image, upsample: u32) -> facecore::Result<Vec<Css>> {
        let side = upsample_side(img.width(), img.height(), upsample);
        let det = self.detector.with_config(DetectorConfig { input_size: InputSize::FitLongest(side), ..DetectorConfig::default() })?;
        let (w, h) = (i64::from(img.width()), i64::from(img.height()));
        Ok(det
            .detect(img)?
            .iter()
            .map(|f| {
                let r = DlibRect::from_face(f);
                // face_recognition's _trim_css_to_bounds.
                (r.top.max(0), r.right.min(w), r.bottom.min(h), r.left.max(0))
            })
            .collect())
    }
}

#[pymethods]
impl DlibCompat {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        let detector = crate::models::detector(py, DetectorConfig::default())?;
        let (predictor, embedder) = crate::models::dlib(py)?;
        Ok(DlibCompat { detector, predictor, embedder })
    }

    /// `(top, right, bottom, left)` boxes, most confident first.
    #[pyo3(signature = (image, *, upsample = 1))]
    fn locations(&self, py: Python<'_>, image: &Bound<'_, PyAny>, upsample: u32) -> PyResult<Vec<Css>> {
        let img = load(py, image, &PixelArgs::RGB)?;
        py.detach(|| self.locate(&img, upsample)).map_err(to_py)
    }

    /// dlib's 5 landmarks (x, y) per box, in dlib's order.
    fn landmarks(&self, py: Python<'_>, image: &Bound<'_, PyAny>, boxes: Vec<Css>) -> PyResult<Vec<Vec<(i64, i64)>>> {
        let img = load(py, image, &PixelArgs::RGB)?;
        py.detach(|| {
            boxes
                .iter()
                .map(|c| Ok(self.predictor.landmarks(img.as_rgb(), &css_to_rect(*c))?.to_vec()))
                .collect::<facecore::Result<Vec<_>>>()
        })
        .map_err(to_py)
    }

    /// The raw (unnormalised) 128-d dlib descriptor per box, float64 like dlib's.
    /// `boxes=None` detects first.
    #[pyo3(signature = (image, boxes = None, *, upsample = 1))]
    fn encodings<'py>(
        &self,
        py: Python<'py>,
        image: &Bound<'py, PyAny>,
        boxes: Option<Vec<Css>>,
        upsample: u32,
    ) -> PyResult<Vec<Bound<'py, PyArray1<f64>>>> {
        let img = load(py, image, &PixelArgs::RGB)?;
        let raw = py
            .detach(|| -> facecore::Result<Vec<Vec<f32>>> {
                let boxes = match boxes {
                    Some(b) => b,
                    None => self.locate(&img, upsample)?,
                };
                chip_and_embed(&img, &boxes, |img, r| self.predictor.chip_for_box(img, r), &self.embedder)
            })
            .map_err(to_py)?;
        Ok(descriptors(py, raw))
    }
}

/// dlib's face chip for each box (by `chip`), then the raw ResNet descriptors.
fn chip_and_embed(
    img: &Image,
    boxes: &[Css],
    chip: impl Fn(&RgbImage, &DlibRect) -> facecore::Result<RgbImage>,
    embedder: &Embedder,
) -> facecore::Result<Vec<Vec<f32>>> {
    let chips = boxes.iter().map(|c| chip(img.as_rgb(), &css_to_rect(*c))).collect::<facecore::Result<Vec<_>>>()?;
    let refs: Vec<_> = chips.iter().collect();
    embedder.run_chips(&refs)
}

/// The raw descriptors, float64 like dlib's, as new arrays.
fn descriptors(py: Python<'_>, raw: Vec<Vec<f32>>) -> Vec<Bound<'_, PyArray1<f64>>> {
    raw.into_iter().map(|v| Array1::from(v.into_iter().map(f64::from).collect::<Vec<_>>()).into_pyarray(py)).collect()
}

/// A dlib shape predictor read from a `.dat` file (face_recognition's 68-point
/// `shape_predictor_68_face_landmarks.dat`, which facecore does not ship) with dlib's ResNet:
/// face_recognition's `model="large"`. Internal; use `facecore.compat`.
#[pyclass(frozen, module = "facecore._facecore", name = "DlibShapeCompat")]
pub(crate) struct DlibShapeCompat {
    predictor: DlibShapePredictor,
    embedder: Embedder,
}

#[pymethods]
impl DlibShapeCompat {
    /// Loads the predictor (hundreds of milliseconds for the 68-point model, GIL released).
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let predictor = py.detach(|| DlibShapePredictor::from_path(&path)).map_err(to_py)?;
        let embedder = crate::models::embedder(py, EmbedModel::DlibResnet)?;
        Ok(DlibShapeCompat { predictor, embedder })
    }

    /// Number of landmarks per face.
    #[getter]
    fn num_parts(&self) -> usize {
        self.predictor.num_parts()
    }

    /// dlib's landmarks (x, y) per box, in dlib's order.
    fn landmarks(&self, py: Python<'_>, image: &Bound<'_, PyAny>, boxes: Vec<Css>) -> PyResult<Vec<Vec<(i64, i64)>>> {
        let img = load(py, image, &PixelArgs::RGB)?;
        py.detach(|| boxes.iter().map(|c| self.predictor.landmarks(img.as_rgb(), &css_to_rect(*c))).collect::<facecore::Result<Vec<_>>>())
            .map_err(to_py)
    }

    /// The raw (unnormalised) 128-d dlib descriptor per box, from dlib's face chip of the
    /// predicted shape (5 or 68 points), float64 like dlib's.
    fn encodings<'py>(&self, py: Python<'py>, image: &Bound<'py, PyAny>, boxes: Vec<Css>) -> PyResult<Vec<Bound<'py, PyArray1<f64>>>> {
        let img = load(py, image, &PixelArgs::RGB)?;
        let raw = py
            .detach(|| -> facecore::Result<Vec<Vec<f32>>> {
                chip_and_embed(&img, &boxes, |img, r| self.predictor.chip_for_box(img, r), &self.embedder)
            })
            .map_err(to_py)?;
        Ok(descriptors(py, raw))
    }

    fn __repr__(&self) -> String {
        format!("DlibShapeCompat(num_parts={})", self.predictor.num_parts())
    }
}

/// Decodes or converts any image argument (camera frames too, with `pixel_format=`) to a new
/// (H, W, 3) uint8 RGB array.
#[pyfunction]
#[pyo3(signature = (image, *, channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
pub(crate) fn load_image<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    channel_order: &str,
    pixel_format: Option<&str>,
    color_range: &str,
    width: Option<u32>,
    height: Option<u32>,
) -> PyResult<Bound<'py, PyArray3<u8>>> {
    let img = load(py, image, &PixelArgs { channel_order, pixel_format, color_range, width, height })?;
    image_to_numpy(py, &img)
}
