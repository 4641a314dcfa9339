//! `Face` results and the `Detector`.

use std::sync::Arc;

use facecore::{DetectorConfig, InputSize};
use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;

use crate::convert::{PixelArgs, load, points_to_numpy, vec_to_numpy};
use crate::errors::to_py;
use crate::liveness::PyLivenessResult;
use crate::quality::PyQuality;

/// A detected face: box, score, five landmarks and, from a pipeline, its embedding, quality
/// and (when the pipeline checks it) liveness.
#[pyclass(frozen, module = "facecore", name = "Face")]
pub(crate) struct PyFace {
    pub(crate) face: facecore::Face,
    pub(crate) embedding: Option<Arc<[f32]>>,
    pub(crate) space: Option<String>,
    pub(crate) quality: Option<facecore::Quality>,
    /// The result and the threshold of the operating point it was decided at.
    pub(crate) liveness: Option<(facecore::LivenessResult, f32)>,
}

impl PyFace {
    pub(crate) fn detected(face: facecore::Face) -> Self {
        PyFace { face, embedding: None, space: None, quality: None, liveness: None }
    }
}

#[pymethods]
impl PyFace {
    /// `(x, y, width, height)` in pixels of the input image.
    #[getter]
    fn bbox(&self) -> (f32, f32, f32, f32) {
        let b = self.face.bbox;
        (b.x, b.y, b.width, b.height)
    }

    /// Detector confidence in 0..1.
    #[getter]
    fn score(&self) -> f32 {
        self.face.score
    }

    /// (5, 2) float32 array of (x, y): the subject's right eye, left eye, nose tip, right
    /// mouth corner, left mouth corner (left to right in the image). A new array each call.
    #[getter]
    fn landmarks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let pts: Vec<[f32; 2]> = self.face.landmarks.iter().map(|p| [p.x, p.y]).collect();
        points_to_numpy(py, &pts)
    }

    /// The L2-normalised float32 embedding (from `Pipeline.analyze`), or None.
    #[getter]
    fn embedding<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f32>>> {
        self.embedding.as_ref().map(|e| vec_to_numpy(py, e))
    }

    /// The embedding space of `embedding`, or None.
    #[getter]
    fn space(&self) -> Option<&str> {
        self.space.as_deref()
    }

    /// How good the face is for recognition (`Quality`), on faces from a pipeline; None on
    /// detections.
    #[getter]
    fn quality(&self) -> Option<PyQuality> {
        self.quality.map(PyQuality::from)
    }

    /// Live or spoof (`LivenessResult`), on faces from a `Pipeline(..., liveness=...)`; else None.
    #[getter]
    fn liveness(&self) -> Option<PyLivenessResult> {
        self.liveness.map(|(r, threshold)| PyLivenessResult::new(r, threshold))
    }

    fn __repr__(&self) -> String {
        let b = self.face.bbox;
        let emb = match &self.space {
            Some(s) => format!(", embedding=<{} floats of {s}>", self.embedding.as_ref().map_or(0, |e| e.len())),
            None => String::new(),
        };
        let quality = self.quality.map_or_else(String::new, |q| format!(", quality={:.3}", q.score));
        let live = self.liveness.map_or_else(String::new, |(r, _)| format!(", liveness={:?}", r.decision.name()));
        format!("Face(bbox=({:.1}, {:.1}, {:.1}, {:.1}), score={:.3}{emb}{quality}{live})", b.x, b.y, b.width, b.height, self.face.score)
    }
}

/// Builds a detector config from the Python keyword options.
pub(crate) fn config(score_threshold: f32, nms_iou: f32, min_face_size: f32, max_faces: usize, input_size: Option<u32>) -> DetectorConfig {
    DetectorConfig {
        score_threshold,
        nms_iou,
        min_face_size,
        max_faces,
        input_size: input_size.map_or(InputSize::Native, InputSize::MaxLongest),
    }
}

/// The YuNet face detector (bundled). Immutable and safe to share between threads.
#[pyclass(frozen, module = "facecore", name = "Detector")]
pub(crate) struct PyDetector {
    pub(crate) inner: facecore::Detector,
}

#[pymethods]
impl PyDetector {
    /// Options are validated now: `InvalidInputError` for values out of range.
    /// `input_size`: largest longest side of the network input (default 640; larger frames are
    /// scaled down, smaller ones keep their size); None keeps the image size.
    #[new]
    #[pyo3(signature = (*, score_threshold = 0.6, nms_iou = 0.3, min_face_size = 0.0, max_faces = 256, input_size = Some(640)))]
    #[pyo3(text_signature = "(*, score_threshold=0.6, nms_iou=0.3, min_face_size=0.0, max_faces=256, input_size=640)")]
    fn new(
        py: Python<'_>,
        score_threshold: f32,
        nms_iou: f32,
        min_face_size: f32,
        max_faces: usize,
        input_size: Option<u32>,
    ) -> PyResult<Self> {
        let cfg = config(score_threshold, nms_iou, min_face_size, max_faces, input_size);
        Ok(PyDetector { inner: crate::models::detector(py, cfg)? })
    }

    /// Finds faces, most confident first. `image`: numpy uint8 (H,W,3) RGB (or
    /// `channel_order="bgr"`), (H,W,4), (H,W), a path, encoded bytes or a PIL image; camera
    /// frames with `pixel_format=` ("nv12", "nv21", "i420", "yuyv", ...) and `color_range=`.
    #[pyo3(signature = (image, *, channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[allow(clippy::too_many_arguments)]
    fn detect(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        channel_order: &str,
        pixel_format: Option<&str>,
        color_range: &str,
        width: Option<u32>,
        height: Option<u32>,
    ) -> PyResult<Vec<PyFace>> {
        let img = load(py, image, &PixelArgs { channel_order, pixel_format, color_range, width, height })?;
        let faces = py.detach(|| self.inner.detect(&img)).map_err(to_py)?;
        Ok(faces.into_iter().map(PyFace::detected).collect())
    }

    #[getter]
    fn score_threshold(&self) -> f32 {
        self.inner.config().score_threshold
    }

    #[getter]
    fn nms_iou(&self) -> f32 {
        self.inner.config().nms_iou
    }

    #[getter]
    fn min_face_size(&self) -> f32 {
        self.inner.config().min_face_size
    }

    #[getter]
    fn max_faces(&self) -> usize {
        self.inner.config().max_faces
    }

    #[getter]
    fn input_size(&self) -> Option<u32> {
        match self.inner.config().input_size {
            InputSize::FitLongest(n) | InputSize::MaxLongest(n) => Some(n),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "Detector(score_threshold={}, nms_iou={}, min_face_size={}, max_faces={}, input_size={})",
            c.score_threshold,
            c.nms_iou,
            c.min_face_size,
            c.max_faces,
            self.input_size().map_or("None".to_string(), |n| n.to_string())
        )
    }
}
