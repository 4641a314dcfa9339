//! `Liveness` and `LivenessResult`: passive liveness (is a detected face a live person, or a
//! printed photo or a screen held up to the camera?). See `docs/liveness.md`.

use facecore::liveness::{DEFAULT_THRESHOLD, STRICT_THRESHOLD};
use facecore::{LivenessConfig, LivenessDecision, LivenessOp};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};

use crate::convert::{PixelArgs, load};
use crate::detector::PyFace;
use crate::errors::{invalid, to_py};

/// An `op=` argument: "default", "strict", or a threshold in 0..1.
pub(crate) fn parse_op(op: &Bound<'_, PyAny>) -> PyResult<LivenessOp> {
    if let Ok(s) = op.cast::<PyString>() {
        let s = s.to_cow()?;
        return match s.as_ref() {
            "default" => Ok(LivenessOp::Default),
            "strict" => Ok(LivenessOp::Strict),
            other => Err(invalid(format!("op must be \"default\", \"strict\" or a threshold in 0..1, not {other:?}"))),
        };
    }
    if op.is_instance_of::<PyBool>() {
        return Err(invalid("op must be \"default\", \"strict\" or a threshold in 0..1, not a bool"));
    }
    let t: f64 = op.extract().map_err(|_| {
        let ty = op.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        invalid(format!("op must be \"default\", \"strict\" or a threshold in 0..1, not {ty}"))
    })?;
    if !(0.0..=1.0).contains(&t) {
        return Err(invalid(format!("liveness threshold {t} is not in 0..1")));
    }
    Ok(LivenessOp::Threshold(t as f32))
}

/// The verdict on one face; true in a boolean context only when it is live.
#[pyclass(frozen, module = "facecore", name = "LivenessResult")]
pub(crate) struct PyLivenessResult {
    score: Option<f32>,
    decision: &'static str,
    reason: Option<&'static str>,
    threshold: f32,
}

impl PyLivenessResult {
    /// The Python object of a core result decided at `threshold`.
    pub(crate) fn new(r: facecore::LivenessResult, threshold: f32) -> Self {
        let reason = match r.decision {
            LivenessDecision::Unknown(why) => Some(why.name()),
            _ => None,
        };
        PyLivenessResult { score: r.score, decision: r.decision.name(), reason, threshold }
    }
}

#[pymethods]
impl PyLivenessResult {
    /// The live score in 0..1, or None when the face was not judged (decision "unknown").
    #[getter]
    fn score(&self) -> Option<f32> {
        self.score
    }

    /// "live" (score >= threshold), "spoof", or "unknown" (not judged; never treat as live).
    #[getter]
    fn decision(&self) -> &'static str {
        self.decision
    }

    /// Why the face was not judged ("too_small", "cut_by_edge"), or None.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.reason
    }

    /// The threshold of the operating point asked for.
    #[getter]
    fn threshold(&self) -> f32 {
        self.threshold
    }

    fn __bool__(&self) -> bool {
        self.decision == "live"
    }

    fn __repr__(&self) -> String {
        let score = self.score.map_or_else(|| "None".to_string(), |s| format!("{s:.4}"));
        let reason = self.reason.map_or_else(|| "None".to_string(), |r| format!("{r:?}"));
        format!("LivenessResult(score={score}, decision={:?}, reason={reason}, threshold={})", self.decision, self.threshold)
    }
}

/// Passive liveness: two small networks (minivision's MiniFASNetV2 and V1SE) judge the frame
/// around a detected face. Immutable and safe to share between threads.
#[pyclass(frozen, module = "facecore", name = "Liveness")]
pub(crate) struct PyLiveness {
    inner: facecore::Liveness,
}

#[pymethods]
impl PyLiveness {
    /// Faces narrower than `min_face_px` or with more than `max_outside` of their box outside
    /// the frame are not judged ("unknown"). `InvalidInputError` for a negative `min_face_px`
    /// or a `max_outside` outside 0..1. The networks load once per process (GIL released).
    #[new]
    #[pyo3(signature = (*, min_face_px = 40.0, max_outside = 0.1))]
    fn new(py: Python<'_>, min_face_px: f32, max_outside: f32) -> PyResult<Self> {
        Ok(PyLiveness { inner: crate::models::liveness(py, LivenessConfig { min_face_px, max_outside })? })
    }

    /// Judges `face` (a `Face` detected in `image`; pass the whole frame, not a crop): its live
    /// score and the decision at `op` ("default": print attacks, "strict": screen replays, or
    /// your own threshold in 0..1). The image arguments are those of `Detector.detect`.
    #[pyo3(signature = (image, face, *, op = None, channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[pyo3(
        text_signature = "($self, image, face, *, op='default', channel_order='rgb', pixel_format=None, color_range='limited', width=None, height=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        face: &PyFace,
        op: Option<&Bound<'_, PyAny>>,
        channel_order: &str,
        pixel_format: Option<&str>,
        color_range: &str,
        width: Option<u32>,
        height: Option<u32>,
    ) -> PyResult<PyLivenessResult> {
        let op = op.map_or(Ok(LivenessOp::Default), parse_op)?;
        let img = load(py, image, &PixelArgs { channel_order, pixel_format, color_range, width, height })?;
        let f = face.face;
        let r = py.detach(|| self.inner.check(&img, &f, op)).map_err(to_py)?;
        Ok(PyLivenessResult::new(r, op.threshold()))
    }

    /// The live score of `face` in 0..1, or None when it cannot be judged (too small, cut by
    /// the frame edge). The image arguments are those of `Detector.detect`.
    #[pyo3(signature = (image, face, *, channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[allow(clippy::too_many_arguments)]
    fn score(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        face: &PyFace,
        channel_order: &str,
        pixel_format: Option<&str>,
        color_range: &str,
        width: Option<u32>,
        height: Option<u32>,
    ) -> PyResult<Option<f32>> {
        let img = load(py, image, &PixelArgs { channel_order, pixel_format, color_range, width, height })?;
        let f = face.face;
        let s = py.detach(|| self.inner.score(&img, &f)).map_err(to_py)?;
        Ok(s.ok())
    }

    /// The threshold of an operating point ("default" or "strict"; a number is returned as is).
    #[staticmethod]
    #[pyo3(signature = (op = None))]
    #[pyo3(text_signature = "(op='default')")]
    fn threshold(op: Option<&Bound<'_, PyAny>>) -> PyResult<f32> {
        Ok(op.map_or(Ok(LivenessOp::Default), parse_op)?.threshold())
    }

    #[getter]
    fn min_face_px(&self) -> f32 {
        self.inner.config().min_face_px
    }

    #[getter]
    fn max_outside(&self) -> f32 {
        self.inner.config().max_outside
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!("Liveness(min_face_px={}, max_outside={})", c.min_face_px, c.max_outside)
    }
}

// The defaults documented in the stubs and docs/python.md.
const _: () = assert!(DEFAULT_THRESHOLD == 0.03 && STRICT_THRESHOLD == 0.999);
