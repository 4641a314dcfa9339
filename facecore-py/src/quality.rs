//! `Quality`: how good a detected face is for recognition (size, sharpness, exposure, pose).

use pyo3::prelude::*;

/// How good a face is for recognition: eye distance (px), sharpness (Laplacian variance),
/// brightness and contrast (0..255), yaw, pitch and roll (degrees) and the combined `score` in
/// 0..1. See docs/streams.md, "Face quality", for the definitions and the score's weights.
#[pyclass(frozen, module = "facecore", name = "Quality")]
pub(crate) struct PyQuality {
    /// Distance between the eye landmarks, frame pixels.
    #[pyo3(get)]
    eye_distance: f32,
    /// Variance of the Laplacian of the grey face chip (0 for a flat chip).
    #[pyo3(get)]
    sharpness: f32,
    /// Mean grey level of the face, 0..255.
    #[pyo3(get)]
    brightness: f32,
    /// Standard deviation of the face's grey levels, 0..255.
    #[pyo3(get)]
    contrast: f32,
    /// Left-right turn, degrees (positive: the nose points to the image's right).
    #[pyo3(get)]
    yaw: f32,
    /// Up-down tilt, degrees (positive: looking down).
    #[pyo3(get)]
    pitch: f32,
    /// Rotation of the eye line on screen, degrees (positive: clockwise).
    #[pyo3(get)]
    roll: f32,
    /// The combined score, 0..1.
    #[pyo3(get)]
    score: f32,
}

impl From<facecore::Quality> for PyQuality {
    fn from(q: facecore::Quality) -> Self {
        PyQuality {
            eye_distance: q.eye_distance,
            sharpness: q.sharpness,
            brightness: q.brightness,
            contrast: q.contrast,
            yaw: q.yaw,
            pitch: q.pitch,
            roll: q.roll,
            score: q.score,
        }
    }
}

#[pymethods]
impl PyQuality {
    fn __repr__(&self) -> String {
        format!(
            "Quality(score={:.3}, eye_distance={:.1}, sharpness={:.1}, brightness={:.1}, contrast={:.1}, yaw={:.1}, pitch={:.1}, \
             roll={:.1})",
            self.score, self.eye_distance, self.sharpness, self.brightness, self.contrast, self.yaw, self.pitch, self.roll
        )
    }
}
