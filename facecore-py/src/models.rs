//! Bundled models, loaded once per process and shared by every Python object.
//!
//! Loading verifies checksums and optimises the networks (hundreds of milliseconds), so it
//! happens on first use, with the GIL released, never at import time.

use std::sync::Mutex;

use facecore::{Detector, DetectorConfig, DlibPredictor, EmbedModel, Embedder, Liveness, LivenessConfig, Preset, Recognizer};
use pyo3::prelude::*;

use crate::errors::to_py;

static DETECTOR: Mutex<Option<Detector>> = Mutex::new(None);
static RECOGNIZERS: Mutex<Vec<(Preset, Recognizer)>> = Mutex::new(Vec::new());
static EMBEDDERS: Mutex<Vec<Embedder>> = Mutex::new(Vec::new());
static DLIB: Mutex<Option<(std::sync::Arc<DlibPredictor>, Embedder)>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A detector sharing the one loaded YuNet, with `config`.
pub(crate) fn detector(py: Python<'_>, config: DetectorConfig) -> PyResult<Detector> {
    py.detach(|| {
        let mut d = lock(&DETECTOR);
        let base = match &*d {
            Some(b) => b.clone(),
            None => {
                let b = Detector::bundled(DetectorConfig::default())?;
                *d = Some(b.clone());
                b
            }
        };
        base.with_config(config)
    })
    .map_err(to_py)
}

/// The recognizer of a preset (shared).
pub(crate) fn recognizer(py: Python<'_>, preset: Preset) -> PyResult<Recognizer> {
    py.detach(|| {
        let mut r = lock(&RECOGNIZERS);
        if let Some((_, rec)) = r.iter().find(|(p, _)| *p == preset) {
            return Ok(rec.clone());
        }
        let rec = Recognizer::from_preset(preset)?;
        r.push((preset, rec.clone()));
        Ok(rec)
    })
    .map_err(to_py)
}

/// dlib's 5-point shape predictor and the dlib ResNet (face_recognition's models).
pub(crate) fn dlib(py: Python<'_>) -> PyResult<(std::sync::Arc<DlibPredictor>, Embedder)> {
    py.detach(|| {
        let mut d = lock(&DLIB);
        if let Some(v) = &*d {
            return Ok(v.clone());
        }
        let v = (std::sync::Arc::new(DlibPredictor::bundled()?), Embedder::bundled(EmbedModel::DlibResnet)?);
        *d = Some(v.clone());
        Ok(v)
    })
    .map_err(to_py)
}

/// One bundled embedding network (shared).
pub(crate) fn embedder(py: Python<'_>, model: EmbedModel) -> PyResult<Embedder> {
    py.detach(|| {
        let mut e = lock(&EMBEDDERS);
        if let Some(x) = e.iter().find(|x| x.model() == model) {
            return Ok(x.clone());
        }
        let x = Embedder::bundled(model)?;
        e.push(x.clone());
        Ok(x)
    })
    .map_err(to_py)
}

static LIVENESS: Mutex<Option<Liveness>> = Mutex::new(None);

/// The liveness networks (loaded once, shared) with `config`, which is checked first.
pub(crate) fn liveness(py: Python<'_>, config: LivenessConfig) -> PyResult<Liveness> {
    if !(config.min_face_px.is_finite() && config.min_face_px >= 0.0 && (0.0..=1.0).contains(&config.max_outside)) {
        return Err(to_py(facecore::Error::InvalidInput {
            what: "liveness config",
            detail: format!("min_face_px must be >= 0 and max_outside in 0..1, not {} and {}", config.min_face_px, config.max_outside),
        }));
    }
    py.detach(|| {
        let mut l = lock(&LIVENESS);
        if let Some(b) = &*l {
            return Ok(b.with_config(config));
        }
        let b = Liveness::bundled()?;
        *l = Some(b.clone());
        Ok(b.with_config(config))
    })
    .map_err(to_py)
}
