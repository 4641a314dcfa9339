//! `Identified` and `Verified`: the results of `Pipeline.identify` and `Pipeline.verify_images`
//! (whole images, with the cascade of the `accurate` preset).

use facecore::{Identity, LivenessResult, Match};
use numpy::PyArray2;
use pyo3::prelude::*;

use crate::convert::points_to_numpy;
use crate::detector::PyFace;
use crate::gallery::PyMatch;
use crate::quality::PyQuality;

/// One face named by `Pipeline.identify`; true in a boolean context when the person is known.
///
/// `score` and `threshold` are those of the stage that decided (`stage`): at "full" the
/// fused cosine and the operating point's calibrated threshold, as `Gallery.identify` on
/// `Pipeline.analyze`'s embedding gives them; at "first" (the dlib ResNet alone) and "second"
/// (both networks, unmirrored) that stage's score and the band bound it passed.
#[pyclass(frozen, module = "facecore", name = "Identified")]
pub(crate) struct PyIdentified {
    face: facecore::Face,
    quality: facecore::Quality,
    liveness: Option<(LivenessResult, f32)>,
    known: bool,
    candidate: Option<Match>,
    threshold: f32,
    stage: &'static str,
}

impl PyIdentified {
    /// `live_threshold`: the liveness operating point's threshold (for `Face.liveness`).
    pub(crate) fn new(f: facecore::Identified, live_threshold: f32) -> Self {
        let (known, candidate) = match f.identity {
            Identity::Known(m) => (true, Some(m)),
            Identity::Unknown(m) => (false, m),
        };
        PyIdentified {
            face: f.face,
            quality: f.quality,
            liveness: f.liveness.map(|r| (r, live_threshold)),
            known,
            candidate,
            threshold: f.threshold,
            stage: f.stage.name(),
        }
    }
}

#[pymethods]
impl PyIdentified {
    /// The face (box, detector score, landmarks, quality, and liveness with a
    /// `Pipeline(..., liveness=...)`); no embedding: the cascade may not compute the full one.
    #[getter]
    fn face(&self) -> PyFace {
        PyFace { face: self.face, embedding: None, space: None, quality: Some(self.quality), liveness: self.liveness }
    }

    /// `(x, y, width, height)` of the face, as `face.bbox`.
    #[getter]
    fn bbox(&self) -> (f32, f32, f32, f32) {
        let b = self.face.bbox;
        (b.x, b.y, b.width, b.height)
    }

    /// (5, 2) float32 array of the face's landmarks, as `face.landmarks`.
    #[getter]
    fn landmarks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let pts: Vec<[f32; 2]> = self.face.landmarks.iter().map(|p| [p.x, p.y]).collect();
        points_to_numpy(py, &pts)
    }

    /// How good the face is for recognition (`Quality`); its yaw sends turned faces to the
    /// full stage.
    #[getter]
    fn quality(&self) -> PyQuality {
        PyQuality::from(self.quality)
    }

    /// Whether the face is an enrolled person (`name`, `person`): `score >= threshold`.
    #[getter]
    fn known(&self) -> bool {
        self.known
    }

    /// The person's name when known, else None.
    #[getter]
    fn name(&self) -> Option<&str> {
        self.candidate.as_ref().filter(|_| self.known).map(|m| m.name.as_str())
    }

    /// The person's id when known, else None.
    #[getter]
    fn person(&self) -> Option<u64> {
        self.candidate.as_ref().filter(|_| self.known).map(|m| m.id.0)
    }

    /// The best candidate's score at the deciding stage (known or not); None when the gallery
    /// is empty.
    #[getter]
    fn score(&self) -> Option<f32> {
        self.candidate.as_ref().map(|m| m.score)
    }

    /// The best candidate (`Match`), also for an unknown face (for inspection); None when the
    /// gallery is empty.
    #[getter]
    fn candidate(&self) -> Option<PyMatch> {
        self.candidate.clone().map(PyMatch::from)
    }

    /// What `score` was compared with at the deciding stage.
    #[getter]
    fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Which networks decided: "first" (the dlib ResNet alone), "second" (both networks,
    /// unmirrored) or "full" (the full embedding; every preset but "accurate", and turned
    /// faces, always).
    #[getter]
    fn stage(&self) -> &'static str {
        self.stage
    }

    fn __bool__(&self) -> bool {
        self.known
    }

    fn __repr__(&self) -> String {
        let b = self.face.bbox;
        let who = match (&self.candidate, self.known) {
            (Some(m), true) => format!("name={:?}, person={}, score={:.4}", m.name, m.id.0, m.score),
            (Some(m), false) => format!("name=None, score={:.4}", m.score),
            (None, _) => "name=None, score=None".to_string(),
        };
        format!(
            "Identified(bbox=({:.1}, {:.1}, {:.1}, {:.1}), {who}, threshold={:.4}, stage={:?})",
            b.x, b.y, b.width, b.height, self.threshold, self.stage
        )
    }
}

/// The answer of `Pipeline.verify_images`; true in a boolean context when it is the same
/// person. `similarity` and `threshold` are those of the stage that decided (`stage`), as in
/// `Identified`.
#[pyclass(frozen, module = "facecore", name = "Verified")]
pub(crate) struct PyVerified {
    #[pyo3(get)]
    similarity: f32,
    #[pyo3(get)]
    threshold: f32,
    #[pyo3(get)]
    same_person: bool,
    stage: &'static str,
    faces: [facecore::Face; 2],
}

impl From<facecore::Verified> for PyVerified {
    fn from(v: facecore::Verified) -> Self {
        let facecore::Verified { verification: s, stage, faces } = v;
        PyVerified { similarity: s.similarity, threshold: s.threshold, same_person: s.same_person, stage: stage.name(), faces }
    }
}

#[pymethods]
impl PyVerified {
    /// Which networks decided: "first", "second" or "full" (as `Identified.stage`).
    #[getter]
    fn stage(&self) -> &'static str {
        self.stage
    }

    /// The two faces compared, the most confident of each image (as `Detector.detect` gives
    /// them: no embedding, no quality).
    #[getter]
    fn faces(&self) -> (PyFace, PyFace) {
        (PyFace::detected(self.faces[0]), PyFace::detected(self.faces[1]))
    }

    fn __bool__(&self) -> bool {
        self.same_person
    }

    fn __repr__(&self) -> String {
        format!(
            "Verified(similarity={:.4}, threshold={:.4}, same_person={}, stage={:?})",
            self.similarity,
            self.threshold,
            if self.same_person { "True" } else { "False" },
            self.stage
        )
    }
}
