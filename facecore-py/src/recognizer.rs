//! `Recognizer`, `Pipeline` (its `identify` and `verify_images` results are in `identify.rs`),
//! `Verification` and the module-level matching functions.

use std::path::PathBuf;
use std::sync::Arc;

use facecore::{EmbedModel, Embedding, EnrollOptions, LivenessConfig, LivenessOp, OperatingPoint, Preset, QualityConfig};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString};

use crate::convert::{PixelArgs, extract_vector, load, vec_to_numpy};
use crate::detector::{PyDetector, PyFace, config};
use crate::errors::to_py;
use crate::gallery::PyGallery;
use crate::identify::{PyIdentified, PyVerified};

pub(crate) fn parse_preset(s: &str) -> PyResult<Preset> {
    s.parse::<Preset>().map_err(to_py)
}

pub(crate) fn parse_op(s: &str) -> PyResult<OperatingPoint> {
    s.parse::<OperatingPoint>().map_err(to_py)
}

/// An embedding argument in `space`.
pub(crate) fn embedding(obj: &Bound<'_, PyAny>, space: &str, what: &str) -> PyResult<Embedding> {
    Embedding::new(space, extract_vector(obj, what)?).map_err(to_py)
}

/// Turns detected faces into embeddings. Immutable and safe to share between threads.
#[pyclass(frozen, module = "facecore", name = "Recognizer")]
pub(crate) struct PyRecognizer {
    inner: facecore::Recognizer,
    preset: Preset,
}

#[pymethods]
impl PyRecognizer {
    /// `preset`: "accurate" (default), "fast", "dlib" (face_recognition's space) or "sface".
    #[new]
    #[pyo3(signature = (preset = "accurate"))]
    fn new(py: Python<'_>, preset: &str) -> PyResult<Self> {
        let preset = parse_preset(preset)?;
        Ok(PyRecognizer { inner: crate::models::recognizer(py, preset)?, preset })
    }

    /// The L2-normalised float32 embedding of `face` (a `Face` detected in `image`).
    #[pyo3(signature = (image, face, *, channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[allow(clippy::too_many_arguments)]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        image: &Bound<'py, PyAny>,
        face: &PyFace,
        channel_order: &str,
        pixel_format: Option<&str>,
        color_range: &str,
        width: Option<u32>,
        height: Option<u32>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let img = load(py, image, &PixelArgs { channel_order, pixel_format, color_range, width, height })?;
        let f = face.face;
        let e = py.detach(|| self.inner.embed(&img, &f)).map_err(to_py)?;
        Ok(vec_to_numpy(py, e.as_slice()))
    }

    /// The embedding space id (galleries and thresholds are per space).
    #[getter]
    fn space(&self) -> &str {
        self.inner.space()
    }

    #[getter]
    fn preset(&self) -> &'static str {
        self.preset.name()
    }

    fn __repr__(&self) -> String {
        format!("Recognizer(preset={:?}, space={:?})", self.preset.name(), self.inner.space())
    }
}

/// One embedding network on chips the caller has already aligned: one network run per call,
/// no flip, no fusion. For custom alignment, and for timing the networks alone.
#[pyclass(frozen, module = "facecore", name = "Embedder")]
pub(crate) struct PyEmbedder {
    inner: facecore::Embedder,
}

fn parse_model(model: &str) -> PyResult<EmbedModel> {
    match model {
        "sface-2021dec" => Ok(EmbedModel::Sface),
        "dlib-resnet-v1" => Ok(EmbedModel::DlibResnet),
        other => Err(to_py(facecore::Error::InvalidInput {
            what: "model",
            detail: format!("unknown embedding model {other:?} (sface-2021dec, dlib-resnet-v1)"),
        })),
    }
}

#[pymethods]
impl PyEmbedder {
    /// `model`: "sface-2021dec" (112 px chips, ArcFace alignment) or "dlib-resnet-v1" (150 px).
    #[new]
    fn new(py: Python<'_>, model: &str) -> PyResult<Self> {
        Ok(PyEmbedder { inner: crate::models::embedder(py, parse_model(model)?)? })
    }

    /// Your own embedding network (ONNX `bytes`, or a path to the file) taking the chips of
    /// `like` ("sface-2021dec" or "dlib-resnet-v1": same input size, alignment and output
    /// size). Its embeddings carry `space`, which must not be one of facecore's own spaces
    /// (`InvalidInputError`): they get no calibrated thresholds. `ModelLoadError` when the
    /// bytes are not such a network, `LimitExceededError` over the model size limit.
    #[staticmethod]
    fn custom(py: Python<'_>, like: &str, space: &str, onnx: &Bound<'_, PyAny>) -> PyResult<Self> {
        let like = parse_model(like)?;
        let inner = if let Ok(b) = onnx.cast::<PyBytes>() {
            let bytes = b.as_bytes();
            py.detach(|| facecore::Embedder::custom(like, space, bytes))
        } else if onnx.is_instance_of::<PyString>() || onnx.hasattr("__fspath__")? {
            let path: PathBuf = onnx.extract()?;
            py.detach(|| {
                let bytes = facecore::limits::read_file("model file", &path, facecore::limits::get().model_file_bytes)?;
                facecore::Embedder::custom(like, space, &bytes)
            })
        } else {
            let ty = onnx.get_type().name()?.to_string();
            return Err(crate::errors::invalid(format!("onnx must be bytes or a path, not {ty}")));
        };
        Ok(PyEmbedder { inner: inner.map_err(to_py)? })
    }

    /// The L2-normalised float32 embedding of an aligned `input_size` x `input_size` chip.
    #[pyo3(signature = (chip, *, channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[allow(clippy::too_many_arguments)]
    fn embed_chip<'py>(
        &self,
        py: Python<'py>,
        chip: &Bound<'py, PyAny>,
        channel_order: &str,
        pixel_format: Option<&str>,
        color_range: &str,
        width: Option<u32>,
        height: Option<u32>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let img = load(py, chip, &PixelArgs { channel_order, pixel_format, color_range, width, height })?;
        let e = py.detach(|| self.inner.embed_chip(img.as_rgb())).map_err(to_py)?;
        Ok(vec_to_numpy(py, e.as_slice()))
    }

    /// The network's model id (for a custom network: the one whose chips it takes).
    #[getter]
    fn model(&self) -> &'static str {
        self.inner.model().id()
    }

    /// The embedding space its embeddings belong to: the model id, or a custom network's own.
    #[getter]
    fn space(&self) -> &str {
        self.inner.space()
    }

    /// Side of the square chip the network takes.
    #[getter]
    fn input_size(&self) -> u32 {
        self.inner.model().input_size()
    }

    fn __repr__(&self) -> String {
        format!("Embedder(model={:?}, space={:?})", self.inner.model().id(), self.inner.space())
    }
}

/// The outcome of a 1:1 comparison; true in a boolean context when it is the same person.
#[pyclass(frozen, module = "facecore", name = "Verification")]
pub(crate) struct PyVerification {
    #[pyo3(get)]
    similarity: f32,
    #[pyo3(get)]
    threshold: f32,
    #[pyo3(get)]
    same_person: bool,
}

#[pymethods]
impl PyVerification {
    fn __bool__(&self) -> bool {
        self.same_person
    }

    fn __repr__(&self) -> String {
        format!(
            "Verification(similarity={:.4}, threshold={:.4}, same_person={})",
            self.similarity,
            self.threshold,
            if self.same_person { "True" } else { "False" }
        )
    }
}

fn do_verify(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>, space: &str, op: &str) -> PyResult<PyVerification> {
    let v = facecore::verify(&embedding(a, space, "a")?, &embedding(b, space, "b")?, parse_op(op)?).map_err(to_py)?;
    Ok(PyVerification { similarity: v.similarity, threshold: v.threshold, same_person: v.same_person })
}

/// Detector plus recognizer: every face with its embedding. Immutable and thread-safe.
#[pyclass(frozen, module = "facecore", name = "Pipeline")]
pub(crate) struct PyPipeline {
    inner: facecore::FacePipeline,
    preset: Preset,
}

#[pymethods]
impl PyPipeline {
    /// `liveness`: False (default), True or "default" (print attacks), "strict" (screen
    /// replays) or a threshold in 0..1: every analysed face then carries `liveness`, and
    /// streams over this pipeline decide each track's liveness. Two small networks per face.
    #[new]
    #[pyo3(signature = (preset = "accurate", *, score_threshold = 0.6, nms_iou = 0.3, min_face_size = 0.0, max_faces = 256, input_size = Some(640), threads = 1, liveness = None))]
    #[pyo3(
        text_signature = "(preset='accurate', *, score_threshold=0.6, nms_iou=0.3, min_face_size=0.0, max_faces=256, input_size=640, threads=1, liveness=False)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        preset: &str,
        score_threshold: f32,
        nms_iou: f32,
        min_face_size: f32,
        max_faces: usize,
        input_size: Option<u32>,
        threads: usize,
        liveness: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let preset = parse_preset(preset)?;
        let op = parse_liveness(liveness)?;
        let det = crate::models::detector(py, config(score_threshold, nms_iou, min_face_size, max_faces, input_size))?;
        let rec = crate::models::recognizer(py, preset)?;
        let mut inner = facecore::FacePipeline::new(det, rec).with_threads(threads).map_err(to_py)?;
        if let Some(op) = op {
            inner = inner.with_liveness(crate::models::liveness(py, LivenessConfig::default())?, op);
        }
        Ok(PyPipeline { inner, preset })
    }

    /// The liveness threshold faces are judged at (`Pipeline(..., liveness=...)`), or None
    /// when the pipeline does not check liveness.
    #[getter]
    fn liveness(&self) -> Option<f32> {
        self.inner.liveness().map(|(_, op)| op.threshold())
    }

    /// Enrols the most confident face of `image` under `name` in `gallery` and returns the
    /// person's id. The face's quality is checked first, against floors that each keyword
    /// lowers or raises (`check_quality=False` accepts any face): `LowQualityError` (with
    /// `measure`, `value`, `limit`) for a face below them, `InvalidInputError` for an image
    /// without a face; the gallery is unchanged then. The gallery is locked only to add the
    /// embedding, not while the networks run.
    #[pyo3(signature = (gallery, name, image, *, min_score = 0.4, min_eye_distance = 16.0, min_sharpness = 20.0, min_brightness = 40.0, max_brightness = 230.0, min_contrast = 12.0, max_yaw = 45.0, max_pitch = 35.0, check_quality = true, channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[allow(clippy::too_many_arguments)]
    fn enroll(
        &self,
        py: Python<'_>,
        gallery: &PyGallery,
        name: &str,
        image: &Bound<'_, PyAny>,
        min_score: f32,
        min_eye_distance: f32,
        min_sharpness: f32,
        min_brightness: f32,
        max_brightness: f32,
        min_contrast: f32,
        max_yaw: f32,
        max_pitch: f32,
        check_quality: bool,
        channel_order: &str,
        pixel_format: Option<&str>,
        color_range: &str,
        width: Option<u32>,
        height: Option<u32>,
    ) -> PyResult<u64> {
        let img = load(py, image, &PixelArgs { channel_order, pixel_format, color_range, width, height })?;
        let quality = if check_quality {
            QualityConfig { min_score, min_eye_distance, min_sharpness, min_brightness, max_brightness, min_contrast, max_yaw, max_pitch }
        } else {
            QualityConfig::NONE
        };
        gallery.check_space(py, self.inner.recognizer().space())?;
        // The core's enroll (quality floor, then the embedding) on a scratch gallery, so that
        // the caller's gallery is locked only to add the embedding.
        let enrolled =
            py.detach(|| self.inner.enroll(&mut facecore::Gallery::new(), name, &img, &EnrollOptions { quality })).map_err(to_py)?;
        gallery.enroll_embedding(py, name, &enrolled.face.embedding)
    }

    /// Threads per call: `analyze` embeds the faces of one image in parallel when > 1.
    #[getter]
    fn threads(&self) -> usize {
        self.inner.threads()
    }

    /// Every face, most confident first, each with `embedding` set.
    #[pyo3(signature = (image, *, channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[allow(clippy::too_many_arguments)]
    fn analyze(
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
        let faces = py.detach(|| self.inner.analyze(&img)).map_err(to_py)?;
        Ok(faces.into_iter().map(|f| self.face(f)).collect())
    }

    /// The most confident face with its embedding, or None when there is no face.
    #[pyo3(signature = (image, *, channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[allow(clippy::too_many_arguments)]
    fn embed_best(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        channel_order: &str,
        pixel_format: Option<&str>,
        color_range: &str,
        width: Option<u32>,
        height: Option<u32>,
    ) -> PyResult<Option<PyFace>> {
        let img = load(py, image, &PixelArgs { channel_order, pixel_format, color_range, width, height })?;
        let best = py.detach(|| self.inner.embed_best(&img)).map_err(to_py)?;
        Ok(best.map(|f| self.face(f)))
    }

    /// Faces only (no embeddings), as `Detector.detect`.
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
        let faces = py.detach(|| self.inner.detector().detect(&img)).map_err(to_py)?;
        Ok(faces.into_iter().map(PyFace::detected).collect())
    }

    /// Compares two embeddings of this pipeline's space at an operating point
    /// ("fmr1e-3" default, "fmr1e-4", "best-accuracy").
    #[pyo3(signature = (a, b, *, operating_point = "fmr1e-3"))]
    fn verify(&self, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>, operating_point: &str) -> PyResult<PyVerification> {
        do_verify(a, b, self.inner.recognizer().space(), operating_point)
    }

    /// Every face of `image` named against `gallery` at an operating point ("fmr1e-3" default,
    /// "fmr1e-4", "best-accuracy"), in detection order (most confident first): a list of
    /// `Identified` (box, landmarks, quality, name and person id or None, score, threshold,
    /// stage). With the "accurate" preset this runs the cascade: the dlib ResNet first, SFace
    /// and the mirrored chips only for faces it cannot decide (and for turned faces); the
    /// decisions equal `gallery.identify(face.embedding)` on `analyze`'s faces but for a
    /// calibrated sliver, at a fraction of the cost. Other presets embed every face fully.
    ///
    /// A gallery in PostgreSQL (`Gallery.connect`) gets the full embedding of every face and
    /// the store's identify (stage "full"): the cascade's first stage scores one network's part
    /// of each template, which the store's search does not offer.
    ///
    /// The GIL is released after the arguments are converted; an in-memory gallery's lock is
    /// held (shared with other searches, enrolments wait) only while the recognition networks
    /// run. `ModelMismatchError` for a gallery of another embedding space (or an empty one made
    /// with another `space=`); an image without a face gives an empty list.
    #[pyo3(signature = (image, gallery, *, operating_point = "fmr1e-3", channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[allow(clippy::too_many_arguments)]
    fn identify(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        gallery: &PyGallery,
        operating_point: &str,
        channel_order: &str,
        pixel_format: Option<&str>,
        color_range: &str,
        width: Option<u32>,
        height: Option<u32>,
    ) -> PyResult<Vec<PyIdentified>> {
        let op = parse_op(operating_point)?;
        let img = load(py, image, &PixelArgs { channel_order, pixel_format, color_range, width, height })?;
        gallery.check_space(py, self.inner.recognizer().space())?;
        let found = gallery.identify_image(py, &self.inner, &img, op)?;
        let live = self.live_threshold();
        Ok(found.into_iter().map(|f| PyIdentified::new(f, live)).collect())
    }

    /// Are the most confident faces of `image_a` and `image_b` the same person, at an
    /// operating point? A `Verified` (similarity, threshold, same_person, stage, faces). With
    /// the "accurate" preset this runs the cascade (the dlib ResNet decides pairs far from the
    /// threshold with both faces near frontal); other presets compare the full embeddings, as
    /// `verify(a.embedding, b.embedding)` does. The pixel keywords apply to both images.
    /// `InvalidInputError` naming the image ("first image" or "second image") without a face.
    /// (`verify(a, b)` compares two embeddings.)
    #[pyo3(signature = (image_a, image_b, *, operating_point = "fmr1e-3", channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[allow(clippy::too_many_arguments)]
    fn verify_images(
        &self,
        py: Python<'_>,
        image_a: &Bound<'_, PyAny>,
        image_b: &Bound<'_, PyAny>,
        operating_point: &str,
        channel_order: &str,
        pixel_format: Option<&str>,
        color_range: &str,
        width: Option<u32>,
        height: Option<u32>,
    ) -> PyResult<PyVerified> {
        let op = parse_op(operating_point)?;
        let args = PixelArgs { channel_order, pixel_format, color_range, width, height };
        let (a, b) = (load(py, image_a, &args)?, load(py, image_b, &args)?);
        let v = py.detach(|| self.inner.verify(&a, &b, op)).map_err(to_py)?;
        Ok(PyVerified::from(v))
    }

    /// The calibrated similarity threshold of this pipeline's space.
    #[pyo3(signature = (*, operating_point = "fmr1e-3"))]
    fn threshold(&self, operating_point: &str) -> PyResult<f32> {
        parse_op(operating_point)?.threshold(self.inner.recognizer().space()).map_err(to_py)
    }

    #[getter]
    fn space(&self) -> &str {
        self.inner.recognizer().space()
    }

    #[getter]
    fn preset(&self) -> &'static str {
        self.preset.name()
    }

    #[getter]
    fn detector(&self) -> PyDetector {
        PyDetector { inner: self.inner.detector().clone() }
    }

    fn __repr__(&self) -> String {
        format!("Pipeline(preset={:?}, space={:?})", self.preset.name(), self.space())
    }
}

impl PyPipeline {
    /// The liveness threshold faces are judged at (0 when the pipeline does not check it).
    fn live_threshold(&self) -> f32 {
        self.inner.liveness().map_or(0.0, |(_, op)| op.threshold())
    }

    fn face(&self, f: facecore::AnalyzedFace) -> PyFace {
        let threshold = self.live_threshold();
        PyFace {
            face: f.face,
            embedding: Some(Arc::from(f.embedding.as_slice())),
            space: Some(f.embedding.model().to_string()),
            quality: Some(f.quality),
            liveness: f.liveness.map(|r| (r, threshold)),
        }
    }

    /// The core pipeline (cheap to clone), for streams.
    pub(crate) fn core(&self) -> &facecore::FacePipeline {
        &self.inner
    }
}

/// A `liveness=` argument: None/False (off), True ("default"), or an `op` of `Liveness.check`.
fn parse_liveness(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<LivenessOp>> {
    let Some(v) = value else { return Ok(None) };
    if v.is_none() {
        return Ok(None);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(b.is_true().then_some(LivenessOp::Default));
    }
    crate::liveness::parse_op(v).map(Some)
}

/// Compares two embeddings of `space` at an operating point.
#[pyfunction]
#[pyo3(signature = (a, b, *, space, operating_point = "fmr1e-3"))]
pub(crate) fn verify(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>, space: &str, operating_point: &str) -> PyResult<PyVerification> {
    do_verify(a, b, space, operating_point)
}

/// The calibrated cosine-similarity threshold of an embedding space at an operating point.
#[pyfunction]
#[pyo3(signature = (space, *, operating_point = "fmr1e-3"))]
pub(crate) fn threshold(space: &str, operating_point: &str) -> PyResult<f32> {
    parse_op(operating_point)?.threshold(space).map_err(to_py)
}

/// Cosine similarity of two embeddings (both are L2-normalised first).
#[pyfunction]
pub(crate) fn similarity(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<f32> {
    embedding(a, "any", "a")?.similarity(&embedding(b, "any", "b")?).map_err(to_py)
}
