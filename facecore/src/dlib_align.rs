//! dlib's alignment path (face_recognition's): 5-point shape predictor on a face box, then
//! dlib's 150 px face chip with padding 0.25.

use image::RgbImage;

use crate::dlib::chip::face_chip;
use crate::dlib::shape_predictor::{Rect as PredRect, ShapePredictor};
use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::models::ModelFile;

/// A dlib rectangle: inclusive integer corners, as face_recognition's `(top, right, bottom,
/// left)` boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DlibRect {
    /// Left column.
    pub left: i64,
    /// Top row.
    pub top: i64,
    /// Right column (inclusive).
    pub right: i64,
    /// Bottom row (inclusive).
    pub bottom: i64,
}

impl DlibRect {
    /// The box dlib's HOG detector would give for a YuNet detection: HOG boxes are square,
    /// tighter and lower (brows to chin). The mapping was fitted on the face_recognition
    /// golden fixtures (`cargo run -p facecore-cli -- fit-dlib-box`).
    pub fn from_detection(b: &Rect) -> DlibRect {
        let (cx, cy) = (b.x + b.width * HOG_CX, b.y + b.height * HOG_CY);
        let side = b.width * HOG_SIDE;
        DlibRect {
            left: (cx - side / 2.0).round() as i64,
            top: (cy - side / 2.0).round() as i64,
            right: (cx + side / 2.0).round() as i64,
            bottom: (cy + side / 2.0).round() as i64,
        }
    }
}

/// Box centre (fraction of YuNet's width/height) and side (fraction of the width) of the
/// HOG-like box; see [`DlibRect::from_detection`].
const HOG_CX: f32 = 0.5;
const HOG_CY: f32 = 0.5;
const HOG_SIDE: f32 = 1.0;

/// dlib's 5-point shape predictor with its face-chip extraction.
pub struct DlibPredictor {
    sp: ShapePredictor,
}

impl DlibPredictor {
    /// The bundled, checksum-verified predictor.
    ///
    /// # Errors
    /// [`Error::ModelLoad`] if the file is damaged.
    pub fn bundled() -> Result<Self> {
        Self::from_bytes(crate::models::bytes(ModelFile::DlibShapePredictor5)?)
    }

    /// Parses a `shape_predictor_5_face_landmarks.dat` held in memory.
    ///
    /// # Errors
    /// [`Error::ModelLoad`] for a damaged or foreign file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let sp = ShapePredictor::from_bytes(bytes)
            .map_err(|e| Error::ModelLoad { model: "dlib-shape-predictor-5".into(), detail: e.to_string() })?;
        Ok(DlibPredictor { sp })
    }

    /// dlib's 5 landmarks (integer pixels, dlib's order) for a face box.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty box.
    pub fn landmarks(&self, img: &RgbImage, r: &DlibRect) -> Result<[(i64, i64); 5]> {
        if r.right < r.left || r.bottom < r.top {
            return Err(Error::input("face box", format!("empty box {r:?}")));
        }
        let pr = PredRect { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
        Ok(self.sp.predict(img, pr))
    }

    /// dlib's 150 px face chip for landmarks from [`DlibPredictor::landmarks`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for degenerate landmarks.
    pub fn chip(&self, img: &RgbImage, lm: &[(i64, i64); 5]) -> Result<RgbImage> {
        let pts = lm.map(|(x, y)| (x as f64, y as f64));
        face_chip(img, &pts, 150, 0.25).map_err(|e| Error::input("landmarks", e.to_string()))
    }

    /// Landmarks then chip.
    ///
    /// # Errors
    /// As [`DlibPredictor::landmarks`] and [`DlibPredictor::chip`].
    pub fn chip_for_box(&self, img: &RgbImage, r: &DlibRect) -> Result<RgbImage> {
        let lm = self.landmarks(img, r)?;
        self.chip(img, &lm)
    }
}
