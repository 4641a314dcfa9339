//! dlib's alignment path (face_recognition's): a shape predictor on a face box (the bundled
//! 5-point one, or any other loaded from a file or memory, such as face_recognition's 68-point
//! model), then dlib's 150 px face chip with padding 0.25.

use std::path::Path;

use image::RgbImage;

use crate::detect::Face;
use crate::dlib::chip::{face_chip, face_chip_from_shape};
use crate::dlib::shape_predictor::{AnyShapePredictor, Rect as PredRect, ShapePredictor};
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
        Ok(self.sp.predict(img, pred_rect(r)?))
    }

    /// dlib's 150 px face chip for landmarks from [`DlibPredictor::landmarks`].
    ///
    /// # Errors
    /// [`Error::DegenerateFace`] for degenerate landmarks.
    pub fn chip(&self, img: &RgbImage, lm: &[(i64, i64); 5]) -> Result<RgbImage> {
        let pts = lm.map(|(x, y)| (x as f64, y as f64));
        face_chip(img, &pts, 150, 0.25).map_err(|e| Error::degenerate(e.to_string()))
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

fn pred_rect(r: &DlibRect) -> Result<PredRect> {
    if r.right < r.left || r.bottom < r.top {
        return Err(Error::input("face box", format!("empty box {r:?}")));
    }
    Ok(PredRect { left: r.left, top: r.top, right: r.right, bottom: r.bottom })
}

/// A dlib shape predictor with any number of landmarks, loaded from a `.dat` file or from
/// memory, with dlib's face chip for 5- and 68-point shapes.
///
/// This is how facecore runs the 68-point `shape_predictor_68_face_landmarks.dat` that
/// face_recognition uses for `model="large"`. facecore does not ship that file (its training
/// data, iBUG 300-W, is licensed for non-commercial use only); users who have it (for
/// example from the `face_recognition_models` Python package) load it with
/// [`DlibShapePredictor::from_path`]. Landmarks and chips follow dlib 20.0.1 operation for
/// operation.
///
/// ```no_run
/// use facecore::{DlibRect, DlibShapePredictor, Image};
/// let sp = DlibShapePredictor::from_path("shape_predictor_68_face_landmarks.dat")?;
/// let img = Image::open("obama.jpg")?;
/// let rect = DlibRect { left: 319, top: 243, right: 587, bottom: 511 };
/// let points = sp.landmarks(img.as_rgb(), &rect)?; // 68 (x, y) points, dlib's order
/// let chip = sp.chip(img.as_rgb(), &points)?; // 150 x 150, as dlib's ResNet wants it
/// # Ok::<(), facecore::Error>(())
/// ```
#[derive(Clone)]
pub struct DlibShapePredictor {
    sp: AnyShapePredictor,
}

impl std::fmt::Debug for DlibShapePredictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DlibShapePredictor").field("parts", &self.sp.num_parts()).finish()
    }
}

impl DlibShapePredictor {
    /// Reads and parses a dlib shape-predictor file (uncompressed `.dat`) of at most
    /// [`crate::limits::Limits::model_file_bytes`] (the 68-point
    /// `shape_predictor_68_face_landmarks.dat` is 99.7 MB, the 5-point one 9.2 MB).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read (a missing file satisfies
    /// [`Error::is_not_found`]); [`Error::LimitExceeded`] if it is too large (checked before
    /// reading); [`Error::ModelLoad`], naming the file, if it is damaged, truncated,
    /// compressed (`.bz2`) or not a shape predictor.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::limits::read_file("shape predictor file", path, crate::limits::get().model_file_bytes)?;
        Self::parse(&bytes).map_err(|detail| Error::ModelLoad { model: path.display().to_string(), detail })
    }

    /// Parses a dlib shape-predictor file held in memory.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] over [`crate::limits::Limits::model_file_bytes`],
    /// [`Error::ModelLoad`] for a damaged, truncated or foreign file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        crate::limits::check_len("shape predictor", bytes.len(), crate::limits::get().model_file_bytes)?;
        Self::parse(bytes).map_err(|detail| Error::ModelLoad { model: "dlib shape predictor".into(), detail })
    }

    fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.starts_with(b"BZh") {
            return Err("the file is bzip2-compressed (.dat.bz2): decompress it first".into());
        }
        AnyShapePredictor::from_bytes(bytes).map(|sp| DlibShapePredictor { sp }).map_err(|e| e.to_string())
    }

    /// Number of landmarks the model predicts (68 for face_recognition's large model).
    pub fn num_parts(&self) -> usize {
        self.sp.num_parts()
    }

    /// dlib's landmarks (integer pixels, dlib's order, [`DlibShapePredictor::num_parts`] of
    /// them) for a face box.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty box.
    pub fn landmarks(&self, img: &RgbImage, r: &DlibRect) -> Result<Vec<(i64, i64)>> {
        Ok(self.sp.predict(img, pred_rect(r)?))
    }

    /// dlib's 150 px face chip (padding 0.25, as `dlib.face_recognition_model_v1` cuts it)
    /// for a 5- or 68-point shape from [`DlibShapePredictor::landmarks`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a shape of another size, [`Error::DegenerateFace`] for
    /// degenerate landmarks.
    pub fn chip(&self, img: &RgbImage, lm: &[(i64, i64)]) -> Result<RgbImage> {
        let pts: Vec<(f64, f64)> = lm.iter().map(|&(x, y)| (x as f64, y as f64)).collect();
        if !matches!(pts.len(), 5 | 68) {
            return Err(Error::input("landmarks", format!("a face chip needs 5 or 68 landmarks, not {}", pts.len())));
        }
        face_chip_from_shape(img, &pts, 150, 0.25).map_err(|e| Error::degenerate(e.to_string()))
    }

    /// Landmarks then chip.
    ///
    /// # Errors
    /// As [`DlibShapePredictor::landmarks`] and [`DlibShapePredictor::chip`].
    pub fn chip_for_box(&self, img: &RgbImage, r: &DlibRect) -> Result<RgbImage> {
        let lm = self.landmarks(img, r)?;
        self.chip(img, &lm)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("facecore-dlib-align-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn shape_predictor_files_fail_clearly() {
        let dir = scratch("files");
        let missing = DlibShapePredictor::from_path(dir.join("nope.dat")).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");

        // Oversized (sparse file: nothing is written or read).
        let big = dir.join("big.dat");
        std::fs::File::create(&big).unwrap().set_len(crate::limits::get().model_file_bytes + 1).unwrap();
        let err = DlibShapePredictor::from_path(&big).unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
        assert!(err.to_string().contains("shape predictor file"), "{err}");

        let bz = dir.join("sp.dat.bz2");
        std::fs::write(&bz, b"BZh91AY&SY\x00\x01").unwrap();
        let err = DlibShapePredictor::from_path(&bz).unwrap_err();
        assert!(err.to_string().contains("bzip2"), "{err}");

        let junk = dir.join("junk.dat");
        std::fs::write(&junk, [1u8, 1, 0x81, 4]).unwrap();
        let err = DlibShapePredictor::from_path(&junk).unwrap_err();
        assert!(matches!(err, Error::ModelLoad { .. }) && err.to_string().contains("junk.dat"), "{err}");
        assert!(DlibShapePredictor::from_bytes(&[]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bundled_five_point_model_through_the_general_predictor() {
        let bytes = match crate::models::bytes(ModelFile::DlibShapePredictor5) {
            Ok(b) => b,
            Err(e) if cfg!(feature = "bundled-models") => panic!("the bundled shape predictor does not load: {e}"),
            Err(_) => {
                eprintln!("SKIP bundled_five_point_model_through_the_general_predictor: built without bundled models");
                return;
            }
        };
        let dir = scratch("five");
        let path = dir.join("sp5.dat");
        std::fs::write(&path, &*bytes).unwrap();
        let any = DlibShapePredictor::from_path(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let five = DlibPredictor::from_bytes(&bytes).unwrap();
        assert_eq!(any.num_parts(), 5);
        let img = image::RgbImage::from_fn(300, 260, |x, y| image::Rgb([(x * 5 % 256) as u8, (y * 9 % 256) as u8, ((x * y) % 251) as u8]));
        for r in [DlibRect { left: 60, top: 40, right: 220, bottom: 200 }, DlibRect { left: -30, top: 100, right: 90, bottom: 300 }] {
            let lm = any.landmarks(&img, &r).unwrap();
            assert_eq!(lm, five.landmarks(&img, &r).unwrap().to_vec());
            assert_eq!(any.chip(&img, &lm).unwrap(), five.chip_for_box(&img, &r).unwrap());
        }
        assert!(any.landmarks(&img, &DlibRect { left: 5, top: 5, right: 4, bottom: 9 }).is_err());
        assert!(any.chip(&img, &[(1, 1); 7]).is_err());
    }
}
