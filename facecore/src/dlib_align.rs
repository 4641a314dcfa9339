//! dlib's alignment path (face_recognition's): 5-point shape predictor on a face box, then
//! dlib's 150 px face chip with padding 0.25.

use image::RgbImage;

use crate::detect::Face;
use crate::dlib::chip::face_chip;
use crate::dlib::shape_predictor::{Rect as PredRect, ShapePredictor};
use crate::error::{Error, Result};
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
    /// The box dlib's HOG detector would give for a YuNet detection, so the shape predictor
    /// (trained on HOG boxes) starts where it expects: a square of 1.04 x YuNet's width
    /// centred on the mean of the 5 landmarks, shifted by (-0.017, -0.028) x width. Fitted
    /// (medians) on the 13 frontal faces of the face_recognition golden fixtures, where the
    /// landmark mean predicts the HOG centre within 0.05 x width while YuNet's box centre
    /// is off by up to 0.2 x width on turned heads.
    pub fn from_face(f: &Face) -> DlibRect {
        let w = f.bbox.width;
        let mx = f.landmarks.iter().map(|p| p.x).sum::<f32>() / 5.0;
        let my = f.landmarks.iter().map(|p| p.y).sum::<f32>() / 5.0;
        let (cx, cy) = (mx - 0.0165 * w, my - 0.028 * w);
        let half = 1.0416 * w / 2.0;
        DlibRect {
            left: (cx - half).round() as i64,
            top: (cy - half).round() as i64,
            right: (cx + half).round() as i64,
            bottom: (cy + half).round() as i64,
        }
    }
}

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
        Self::from_source(&crate::models::ModelSource::default())
    }

    /// The predictor from `source`, verified against the manifest.
    ///
    /// # Errors
    /// [`Error::ModelLoad`] when `source` lacks a valid file.
    pub fn from_source(source: &crate::models::ModelSource) -> Result<Self> {
        Self::from_bytes(&source.load(ModelFile::DlibShapePredictor5)?)
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
