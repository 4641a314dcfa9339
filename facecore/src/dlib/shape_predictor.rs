//! dlib's `shape_predictor` (Kazemi & Sullivan's ensemble of regression trees), restricted
//! to 5-landmark models such as `shape_predictor_5_face_landmarks.dat` (15 cascades of 500
//! depth-4 trees, 800 feature pixels per cascade).
//!
//! Port of `dlib/image_processing/shape_predictor.h` (dlib 20.0.1). Feature pixels are
//! dlib's `get_pixel_intensity` of an `rgb_pixel`, `(r + g + b) / 3` in integers; the
//! similarity transforms use dlib's own SVD, so every feature pixel lands on the same
//! integer position as in dlib and the output points are identical.

use std::fmt;

use image::RgbImage;

use super::DlibError;
use super::geometry::{AffineTransform, find_affine_transform, find_similarity_transform, round_to_point};
use super::serialize::Reader;

/// Number of landmarks of the supported models.
const PARTS: usize = 5;
/// Coordinates in a shape vector (`x0, y0, x1, y1, ...`).
const COORDS: usize = 2 * PARTS;

/// dlib's `rectangle`: inclusive integer corners, as `dlib.rectangle(left, top, right,
/// bottom)` (face_recognition's `(top, right, bottom, left)` boxes reordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    /// Left column.
    pub left: i64,
    /// Top row.
    pub top: i64,
    /// Right column (inclusive).
    pub right: i64,
    /// Bottom row (inclusive).
    pub bottom: i64,
}

/// The landmarks found by [`ShapePredictor::predict_detailed`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The points dlib returns (`full_object_detection::part(i)`): the sub-pixel points
    /// rounded with `floor(x + 0.5)`.
    pub points: [(i64, i64); PARTS],
    /// The same points before dlib rounds them to integers.
    pub points_f64: [(f64, f64); PARTS],
}

#[derive(Debug, Clone, Copy)]
struct Split {
    idx1: u32,
    idx2: u32,
    thresh: f32,
}

/// Where one tree's nodes live in its cascade's arrays.
#[derive(Debug, Clone, Copy)]
struct Tree {
    /// First split node; the tree's `n_splits` nodes are in breadth-first order (children
    /// of node `i` are `2i+1` and `2i+2`).
    split_start: u32,
    n_splits: u32,
    /// First of its `n_splits + 1` leaves.
    leaf_start: u32,
}

/// One level of the cascade. The nodes of all its trees are stored contiguously, in tree
/// order, so a prediction streams through the model (7.5 MB for the 5-point model).
#[derive(Debug, Clone)]
struct Cascade {
    trees: Vec<Tree>,
    splits: Vec<Split>,
    leaves: Vec<[f32; COORDS]>,
    /// For each feature pixel, the index of the landmark it is anchored to ...
    anchors: Vec<usize>,
    /// ... and its offset from that landmark in the mean-shape frame.
    deltas: Vec<[f32; 2]>,
}

/// A loaded dlib 5-point shape predictor.
#[derive(Clone)]
pub struct ShapePredictor {
    initial_shape: [f32; COORDS],
    cascades: Vec<Cascade>,
}

impl fmt::Debug for ShapePredictor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShapePredictor")
            .field("parts", &PARTS)
            .field("cascades", &self.cascades.len())
            .field("trees", &self.cascades.iter().map(|c| c.trees.len()).sum::<usize>())
            .finish()
    }
}

fn finite(v: f32, what: &str) -> Result<f32, DlibError> {
    if v.is_finite() { Ok(v) } else { Err(DlibError::InvalidModel(format!("non-finite value in {what}"))) }
}

fn shape_vector(v: Vec<f32>, what: &str) -> Result<[f32; COORDS], DlibError> {
    let n = v.len();
    let arr: [f32; COORDS] = v.try_into().map_err(|_| {
        DlibError::InvalidModel(if n.is_multiple_of(2) {
            format!("{what} has {} landmarks; only 5-landmark models are supported", n / 2)
        } else {
            format!("{what} has an odd length {n}")
        })
    })?;
    for x in arr {
        finite(x, what)?;
    }
    Ok(arr)
}

impl ShapePredictor {
    /// Parses a dlib `shape_predictor` file (e.g. `shape_predictor_5_face_landmarks.dat`,
    /// uncompressed) held in memory.
    ///
    /// # Errors
    /// [`DlibError::Truncated`] or [`DlibError::Malformed`] for a damaged file;
    /// [`DlibError::InvalidModel`] for a file that is not a usable 5-landmark predictor
    /// (wrong version, inconsistent sizes, out-of-range indices, non-finite numbers).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DlibError> {
        let mut r = Reader::new(bytes);
        let version = r.int("version")?;
        if version != 1 {
            return Err(DlibError::InvalidModel(format!("unexpected shape_predictor version {version} (expected 1)")));
        }
        let initial_shape = shape_vector(r.f32_column("initial_shape")?, "initial_shape")?;

        // forests: vector<vector<regression_tree>>, regression_tree = (vector<split_feature>,
        // vector<matrix<float,0,1>>), split_feature = (unsigned long, unsigned long, float).
        let forests = r.vec(2, "forests", |r| {
            r.vec(4, "forest", |r| {
                let splits = r.vec(8, "tree splits", |r| {
                    let idx1 = r.ulong("split idx1")?;
                    let idx2 = r.ulong("split idx2")?;
                    let thresh = r.f32("split threshold")?;
                    Ok((idx1, idx2, thresh))
                })?;
                let leaves = r.vec(4, "tree leaves", |r| r.f32_column("leaf value"))?;
                Ok((splits, leaves))
            })
        })?;
        let anchor_idx = r.vec(2, "anchor_idx", |r| r.vec(2, "anchor_idx[i]", |r| r.ulong("anchor index")))?;
        let deltas = r.vec(2, "deltas", |r| r.vec(8, "deltas[i]", |r| Ok([r.f32("delta x")?, r.f32("delta y")?])))?;

        if forests.len() != anchor_idx.len() || forests.len() != deltas.len() {
            return Err(DlibError::InvalidModel(format!(
                "{} forests but {} anchor sets and {} delta sets",
                forests.len(),
                anchor_idx.len(),
                deltas.len()
            )));
        }
        let mut cascades = Vec::with_capacity(forests.len());
        for (ci, ((forest, anchors), deltas)) in forests.into_iter().zip(anchor_idx).zip(deltas).enumerate() {
            let nfeat = anchors.len();
            if deltas.len() != nfeat {
                return Err(DlibError::InvalidModel(format!("cascade {ci}: {nfeat} anchors but {} deltas", deltas.len())));
            }
            let anchors = anchors
                .into_iter()
                .map(|a| match usize::try_from(a) {
                    Ok(a) if a < PARTS => Ok(a),
                    _ => Err(DlibError::InvalidModel(format!("cascade {ci}: anchor index {a} out of range"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            for d in &deltas {
                finite(d[0], "deltas")?;
                finite(d[1], "deltas")?;
            }
            let mut cascade = Cascade {
                trees: Vec::with_capacity(forest.len()),
                splits: Vec::with_capacity(forest.iter().map(|t| t.0.len()).sum()),
                leaves: Vec::with_capacity(forest.iter().map(|t| t.1.len()).sum()),
                anchors,
                deltas,
            };
            let too_big = || DlibError::InvalidModel(format!("cascade {ci} is too large"));
            for (ti, (splits, leaves)) in forest.into_iter().enumerate() {
                if leaves.len() != splits.len() + 1 {
                    return Err(DlibError::InvalidModel(format!(
                        "cascade {ci} tree {ti}: {} splits but {} leaves",
                        splits.len(),
                        leaves.len()
                    )));
                }
                let tree = Tree {
                    split_start: u32::try_from(cascade.splits.len()).map_err(|_| too_big())?,
                    n_splits: u32::try_from(splits.len()).map_err(|_| too_big())?,
                    leaf_start: u32::try_from(cascade.leaves.len()).map_err(|_| too_big())?,
                };
                for (i1, i2, thresh) in splits {
                    let idx = |i: u64| u32::try_from(i).ok().filter(|&i| (i as usize) < nfeat);
                    let split = match (idx(i1), idx(i2)) {
                        (Some(idx1), Some(idx2)) => Split { idx1, idx2, thresh: finite(thresh, "split thresholds")? },
                        _ => {
                            return Err(DlibError::InvalidModel(format!(
                                "cascade {ci} tree {ti}: feature index out of range ({i1}, {i2} >= {nfeat})"
                            )));
                        }
                    };
                    cascade.splits.push(split);
                }
                for l in leaves {
                    cascade.leaves.push(shape_vector(l, "leaf value")?);
                }
                cascade.trees.push(tree);
            }
            cascades.push(cascade);
        }
        Ok(ShapePredictor { initial_shape, cascades })
    }

    /// dlib's 5 landmarks for the face in `rect`, as the integer points dlib returns
    /// (`shape_predictor(img, rect).parts()`).
    pub fn predict(&self, img: &RgbImage, rect: Rect) -> [(i64, i64); PARTS] {
        self.predict_detailed(img, rect).points
    }

    /// Like [`ShapePredictor::predict`], also giving the sub-pixel points before rounding.
    pub fn predict_detailed(&self, img: &RgbImage, rect: Rect) -> Prediction {
        let tform_to_img = unnormalizing_tform(rect);
        let (w, h) = (i64::from(img.width()), i64::from(img.height()));
        let raw = img.as_raw();
        let intensity = |x: i64, y: i64| -> f32 {
            if x < 0 || y < 0 || x >= w || y >= h {
                return 0.0;
            }
            let i = ((y * w + x) * 3) as usize;
            match raw.get(i..i + 3) {
                Some(&[r, g, b]) => ((u32::from(r) + u32::from(g) + u32::from(b)) / 3) as f32,
                _ => 0.0,
            }
        };

        let mut shape = self.initial_shape;
        let mut features: Vec<f32> = Vec::new();
        let mut leaf_idx: Vec<usize> = Vec::new();
        for cascade in &self.cascades {
            // extract_feature_pixel_values
            let m = shape_tform(&self.initial_shape, &shape);
            features.clear();
            for (&a, d) in cascade.anchors.iter().zip(&cascade.deltas) {
                let ax = shape.get(2 * a).copied().unwrap_or(0.0);
                let ay = shape.get(2 * a + 1).copied().unwrap_or(0.0);
                let x = (m[0][0] * d[0] + m[0][1] * d[1]) + ax;
                let y = (m[1][0] * d[0] + m[1][1] * d[1]) + ay;
                let (px, py) = round_to_point(tform_to_img.apply([f64::from(x), f64::from(y)]));
                features.push(intensity(px, py));
            }
            // Evaluate all the trees of this cascade. The leaves are found first and summed
            // afterwards (in tree order, as dlib does), so that the leaf fetches, which miss
            // the cache, do not wait on each other.
            leaf_idx.clear();
            for tree in &cascade.trees {
                let start = tree.split_start as usize;
                let n = tree.n_splits as usize;
                let splits = cascade.splits.get(start..start + n).unwrap_or(&[]);
                let mut i = 0usize;
                while let Some(s) = splits.get(i) {
                    let f1 = features.get(s.idx1 as usize).copied().unwrap_or(0.0);
                    let f2 = features.get(s.idx2 as usize).copied().unwrap_or(0.0);
                    i = if f1 - f2 > s.thresh { 2 * i + 1 } else { 2 * i + 2 };
                }
                leaf_idx.push(tree.leaf_start as usize + (i - n));
            }
            for &li in &leaf_idx {
                if let Some(leaf) = cascade.leaves.get(li) {
                    for (s, l) in shape.iter_mut().zip(leaf) {
                        *s += *l;
                    }
                }
            }
        }

        let mut points = [(0i64, 0i64); PARTS];
        let mut points_f64 = [(0f64, 0f64); PARTS];
        for (k, (p, pf)) in points.iter_mut().zip(points_f64.iter_mut()).enumerate() {
            let x = shape.get(2 * k).copied().unwrap_or(0.0);
            let y = shape.get(2 * k + 1).copied().unwrap_or(0.0);
            let q = tform_to_img.apply([f64::from(x), f64::from(y)]);
            *pf = (q[0], q[1]);
            *p = round_to_point(q);
        }
        Prediction { points, points_f64 }
    }
}

/// `unnormalizing_tform(rect)`: maps (0,0) to the top-left and (1,1) to the bottom-right
/// corner. Corners go through `vector<float,2>` as in dlib.
fn unnormalizing_tform(rect: Rect) -> AffineTransform {
    let c = |x: i64, y: i64| [f64::from(x as f32), f64::from(y as f32)];
    let to = [c(rect.left, rect.top), c(rect.right, rect.top), c(rect.right, rect.bottom)];
    let from = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]];
    find_affine_transform(&from, &to)
}

/// `matrix_cast<float>(find_tform_between_shapes(from, to).get_m())`.
fn shape_tform(from: &[f32; COORDS], to: &[f32; COORDS]) -> [[f32; 2]; 2] {
    let pts = |s: &[f32; COORDS]| -> [[f64; 2]; PARTS] {
        let mut out = [[0.0; 2]; PARTS];
        for (k, o) in out.iter_mut().enumerate() {
            *o = [f64::from(s[2 * k]), f64::from(s[2 * k + 1])];
        }
        out
    };
    let t = find_similarity_transform(&pts(from), &pts(to));
    [[t.m[0][0] as f32, t.m[0][1] as f32], [t.m[1][0] as f32, t.m[1][1] as f32]]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    // --- a tiny dlib serialiser for synthetic models ---
    use crate::dlib::serialize::test_pack::pack_int as sint;
    fn uint(v: u64, out: &mut Vec<u8>) {
        sint(v as i64, out);
    }
    /// floats that are multiples of 1/1024 (exact)
    fn float(v: f32, out: &mut Vec<u8>) {
        sint((v * 1024.0) as i64, out);
        sint(-10, out);
    }
    fn column(v: &[f32], out: &mut Vec<u8>) {
        sint(-(v.len() as i64), out);
        sint(-1, out);
        for &x in v {
            float(x, out);
        }
    }

    /// One cascade, one depth-1 tree splitting on "feature 0 brighter than feature 1".
    fn synthetic_model(leaf_shift: f32) -> Vec<u8> {
        let mut b = Vec::new();
        sint(1, &mut b); // version
        let init = [0.75, 0.25, 0.625, 0.25, 0.125, 0.25, 0.375, 0.25, 0.5, 0.625];
        column(&init, &mut b);
        uint(1, &mut b); // forests
        uint(1, &mut b); // trees in forest 0
        uint(1, &mut b); // splits
        uint(0, &mut b);
        uint(1, &mut b);
        float(0.0, &mut b);
        uint(2, &mut b); // leaves
        column(&[leaf_shift; 10], &mut b);
        column(&[-leaf_shift; 10], &mut b);
        uint(1, &mut b); // anchor_idx
        uint(2, &mut b);
        uint(4, &mut b); // anchored to the nose
        uint(4, &mut b);
        uint(1, &mut b); // deltas
        uint(2, &mut b);
        float(-0.25, &mut b);
        float(0.0, &mut b);
        float(0.25, &mut b);
        float(0.0, &mut b);
        b
    }

    #[test]
    fn synthetic_model_predicts() {
        let sp = ShapePredictor::from_bytes(&synthetic_model(0.125)).unwrap();
        let rect = Rect { left: 0, top: 0, right: 80, bottom: 80 };
        // Left half bright: feature 0 (left of the nose) - feature 1 > 0 -> +0.125.
        let bright_left = |x: u32, _| if x < 40 { image::Rgb([200, 200, 200]) } else { image::Rgb([0, 0, 0]) };
        let img = RgbImage::from_fn(81, 81, bright_left);
        let p = sp.predict_detailed(&img, rect);
        assert_eq!(p.points[4], (50, 60));
        assert!((p.points_f64[0].0 - 70.0).abs() < 1e-9, "{:?}", p.points_f64);
        // Right half bright: -0.125.
        let img = RgbImage::from_fn(81, 81, |x, y| bright_left(80 - x, y));
        assert_eq!(sp.predict(&img, rect)[4], (30, 40));
        // Empty image and absurd rectangles must not panic.
        let empty = RgbImage::new(0, 0);
        let _ = sp.predict(&empty, rect);
        let _ = sp.predict(&img, Rect { left: i64::MIN, top: i64::MAX, right: -5, bottom: 7 });
        let _ = sp.predict(&img, Rect { left: 10, top: 10, right: 10, bottom: 10 });
    }

    #[test]
    fn synthetic_model_errors() {
        let good = synthetic_model(0.125);
        for cut in 0..good.len() {
            assert!(ShapePredictor::from_bytes(&good[..cut]).is_err(), "prefix {cut} parsed");
        }
        let mut bad_version = good.clone();
        bad_version[1] = 2;
        assert!(matches!(ShapePredictor::from_bytes(&bad_version), Err(DlibError::InvalidModel(_))));
        // Non-finite leaf value: exponent 32000 (= +inf).
        let mut b = Vec::new();
        sint(1, &mut b);
        column(&[0.5; 10], &mut b);
        uint(1, &mut b);
        uint(1, &mut b);
        uint(0, &mut b);
        uint(1, &mut b);
        sint(-10, &mut b);
        sint(-1, &mut b);
        for _ in 0..10 {
            sint(1, &mut b);
            sint(32000, &mut b);
        }
        uint(1, &mut b);
        uint(0, &mut b);
        uint(1, &mut b);
        uint(0, &mut b);
        assert!(matches!(ShapePredictor::from_bytes(&b), Err(DlibError::InvalidModel(_))), "{:?}", ShapePredictor::from_bytes(&b));
        // Garbage must give an error, not a panic or a huge allocation.
        let garbage: Vec<u8> = (0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        assert!(ShapePredictor::from_bytes(&garbage).is_err());
    }

    fn real_model() -> Option<Vec<u8>> {
        crate::models::bytes(crate::models::ModelFile::DlibShapePredictor5).ok().map(|b| b.to_vec())
    }

    #[test]
    fn real_model_parses_and_rejects_damage() {
        let bytes = real_model();
        assert!(bytes.is_some() || !cfg!(feature = "bundled-models"), "the bundled shape predictor does not load");
        let Some(bytes) = bytes else {
            eprintln!("SKIP real_model_parses_and_rejects_damage: built without bundled models");
            return;
        };
        let sp = ShapePredictor::from_bytes(&bytes).unwrap();
        assert_eq!(sp.cascades.len(), 15);
        for c in &sp.cascades {
            assert_eq!(c.trees.len(), 500);
            assert_eq!(c.anchors.len(), 800);
            assert!(c.trees.iter().all(|t| t.n_splits == 15));
            assert_eq!((c.splits.len(), c.leaves.len()), (500 * 15, 500 * 16));
        }
        // Truncations anywhere are errors.
        let n = bytes.len();
        let mut cut = 0usize;
        while cut < n {
            assert!(ShapePredictor::from_bytes(&bytes[..cut]).is_err(), "prefix {cut} parsed");
            cut = cut * 2 + 1 + (cut % 7919);
        }
        for cut in [n - 1, n - 2, n - 9, n / 2 + 3] {
            assert!(ShapePredictor::from_bytes(&bytes[..cut]).is_err(), "prefix {cut} parsed");
        }
        // Corrupted bytes: Ok or Err, never a panic.
        let mut damaged = bytes.clone();
        for k in 0..200usize {
            let i = (k * 45_677 + 11) % n;
            damaged[i] ^= 0xA5;
            let _ = ShapePredictor::from_bytes(&damaged);
        }
    }
}
