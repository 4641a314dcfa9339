//! dlib's `shape_predictor` (Kazemi & Sullivan's ensemble of regression trees), for models
//! with any number of landmarks: the 5-point `shape_predictor_5_face_landmarks.dat` (15
//! cascades of 500 depth-4 trees, 800 feature pixels per cascade) that facecore bundles, the
//! 68-point `shape_predictor_68_face_landmarks.dat` face_recognition uses (10 cascades of 500
//! depth-5 trees, 500 feature pixels), or any other model dlib trains.
//!
//! Port of `dlib/image_processing/shape_predictor.h` (dlib 20.0.1). Feature pixels are
//! dlib's `get_pixel_intensity` of an `rgb_pixel`, `(r + g + b) / 3` in integers; the
//! similarity transforms use dlib's own SVD, so every feature pixel lands on the same
//! integer position as in dlib and the output points are identical.
//!
//! [`AnyShapePredictor`] takes any number of landmarks; [`ShapePredictor`] is the same
//! engine restricted to 5-landmark models, with fixed-size results.

use std::fmt;

use image::RgbImage;

use super::DlibError;
use super::geometry::{AffineTransform, find_affine_transform, find_similarity_transform, round_to_point};
use super::serialize::Reader;

/// Landmarks of the models [`ShapePredictor`] accepts.
const PARTS5: usize = 5;

/// Most landmarks accepted in a model (dlib's face models have 5, 68 or 194).
pub const MAX_PARTS: usize = 4096;

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
    pub points: [(i64, i64); PARTS5],
    /// The same points before dlib rounds them to integers.
    pub points_f64: [(f64, f64); PARTS5],
}

/// The landmarks found by [`AnyShapePredictor::predict_detailed`], one per model part.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// The points dlib returns (`full_object_detection::part(i)`): the sub-pixel points
    /// rounded with `floor(x + 0.5)`.
    pub points: Vec<(i64, i64)>,
    /// The same points before dlib rounds them to integers.
    pub points_f64: Vec<(f64, f64)>,
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
/// order, so a prediction streams through the model (7.5 MB for the 5-point model, 87 MB
/// for the 68-point one).
#[derive(Debug, Clone)]
struct Cascade {
    trees: Vec<Tree>,
    splits: Vec<Split>,
    /// Leaf values, `2 * parts` floats per leaf, leaves in tree order.
    leaves: Vec<f32>,
    /// For each feature pixel, the index of the landmark it is anchored to ...
    anchors: Vec<usize>,
    /// ... and its offset from that landmark in the mean-shape frame.
    deltas: Vec<[f32; 2]>,
}

impl Cascade {
    fn leaf_count(&self, coords: usize) -> usize {
        self.leaves.len() / coords.max(1)
    }
}

/// A loaded dlib shape predictor with any number of landmarks.
#[derive(Clone)]
pub struct AnyShapePredictor {
    parts: usize,
    /// The mean shape (`x0, y0, x1, y1, ...`), where every prediction starts.
    initial_shape: Vec<f32>,
    /// The same points in f64, for the similarity transforms.
    initial_points: Vec<[f64; 2]>,
    cascades: Vec<Cascade>,
}

impl fmt::Debug for AnyShapePredictor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyShapePredictor")
            .field("parts", &self.parts)
            .field("cascades", &self.cascades.len())
            .field("trees", &self.cascades.iter().map(|c| c.trees.len()).sum::<usize>())
            .finish()
    }
}

fn finite(v: f32, what: &str) -> Result<f32, DlibError> {
    if v.is_finite() { Ok(v) } else { Err(DlibError::InvalidModel(format!("non-finite value in {what}"))) }
}

impl AnyShapePredictor {
    /// Parses a dlib `shape_predictor` file (uncompressed, e.g.
    /// `shape_predictor_68_face_landmarks.dat`) held in memory. Models of 1 to
    /// [`MAX_PARTS`] landmarks are accepted.
    ///
    /// Every length is checked against the bytes left before anything is allocated, so a
    /// damaged file gives an error, never a panic or a huge allocation.
    ///
    /// # Errors
    /// [`DlibError::Truncated`] or [`DlibError::Malformed`] for a damaged file;
    /// [`DlibError::InvalidModel`] for a file that is not a usable predictor (wrong version,
    /// inconsistent sizes, out-of-range indices, non-finite numbers, too many landmarks).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DlibError> {
        Self::parse(bytes, None)
    }

    /// Number of landmarks the model predicts.
    pub fn num_parts(&self) -> usize {
        self.parts
    }

    /// `expect_parts`: refuse other models as soon as the mean shape is read.
    fn parse(bytes: &[u8], expect_parts: Option<usize>) -> Result<Self, DlibError> {
        let mut r = Reader::new(bytes);
        let version = r.int("version")?;
        if version != 1 {
            return Err(DlibError::InvalidModel(format!("unexpected shape_predictor version {version} (expected 1)")));
        }
        let initial_shape = r.f32_column("initial_shape")?;
        let coords = initial_shape.len();
        if coords == 0 || !coords.is_multiple_of(2) {
            return Err(DlibError::InvalidModel(format!("initial_shape has {coords} values, not a positive even number")));
        }
        let parts = coords / 2;
        if let Some(want) = expect_parts
            && parts != want
        {
            return Err(DlibError::InvalidModel(format!(
                "initial_shape has {parts} landmarks; only {want}-landmark models are supported here"
            )));
        }
        if parts > MAX_PARTS {
            return Err(DlibError::InvalidModel(format!("the model has {parts} landmarks; at most {MAX_PARTS} are supported")));
        }
        for &x in &initial_shape {
            finite(x, "initial_shape")?;
        }

        // forests: vector<vector<regression_tree>>, regression_tree = (vector<split_feature>,
        // vector<matrix<float,0,1>>), split_feature = (unsigned long, unsigned long, float).
        // Read straight into each cascade's flat arrays (the 68-point model has 22 million
        // leaf values). Feature indices are checked once the anchors are known.
        let n_forests = r.read_len(2, "forests")?;
        let mut cascades = Vec::with_capacity(n_forests);
        let mut max_feature = Vec::with_capacity(n_forests);
        for ci in 0..n_forests {
            let too_big = || DlibError::InvalidModel(format!("cascade {ci} is too large"));
            let n_trees = r.read_len(4, "forest")?;
            let mut c = Cascade {
                trees: Vec::with_capacity(n_trees),
                splits: Vec::new(),
                leaves: Vec::new(),
                anchors: Vec::new(),
                deltas: Vec::new(),
            };
            let mut max_idx: Option<(usize, u32)> = None;
            for ti in 0..n_trees {
                let n_splits = r.read_len(8, "tree splits")?;
                let split_start = u32::try_from(c.splits.len()).map_err(|_| too_big())?;
                c.splits.reserve(n_splits);
                for _ in 0..n_splits {
                    let i1 = r.ulong("split idx1")?;
                    let i2 = r.ulong("split idx2")?;
                    let thresh = finite(r.f32("split threshold")?, "split thresholds")?;
                    let (Ok(idx1), Ok(idx2)) = (u32::try_from(i1), u32::try_from(i2)) else {
                        return Err(DlibError::InvalidModel(format!("cascade {ci} tree {ti}: feature index out of range ({i1}, {i2})")));
                    };
                    let m = idx1.max(idx2);
                    if max_idx.is_none_or(|(_, best)| m > best) {
                        max_idx = Some((ti, m));
                    }
                    c.splits.push(Split { idx1, idx2, thresh });
                }
                let n_leaves = r.read_len(4, "tree leaves")?;
                if n_leaves != n_splits + 1 {
                    return Err(DlibError::InvalidModel(format!("cascade {ci} tree {ti}: {n_splits} splits but {n_leaves} leaves")));
                }
                let leaf_start = u32::try_from(c.leaf_count(coords)).map_err(|_| too_big())?;
                for _ in 0..n_leaves {
                    let before = c.leaves.len();
                    let n = r.f32_column_into("leaf value", &mut c.leaves)?;
                    if n != coords {
                        return Err(DlibError::InvalidModel(format!(
                            "cascade {ci} tree {ti}: a leaf has {n} values but the model has {parts} landmarks ({coords} values)"
                        )));
                    }
                    for &x in c.leaves.get(before..).unwrap_or(&[]) {
                        finite(x, "leaf value")?;
                    }
                }
                let n_splits = u32::try_from(n_splits).map_err(|_| too_big())?;
                c.trees.push(Tree { split_start, n_splits, leaf_start });
            }
            cascades.push(c);
            max_feature.push(max_idx);
        }
        let anchor_idx = r.vec(2, "anchor_idx", |r| r.vec(2, "anchor_idx[i]", |r| r.ulong("anchor index")))?;
        let deltas = r.vec(2, "deltas", |r| r.vec(8, "deltas[i]", |r| Ok([r.f32("delta x")?, r.f32("delta y")?])))?;

        if cascades.len() != anchor_idx.len() || cascades.len() != deltas.len() {
            return Err(DlibError::InvalidModel(format!(
                "{} forests but {} anchor sets and {} delta sets",
                cascades.len(),
                anchor_idx.len(),
                deltas.len()
            )));
        }
        for (ci, ((c, anchors), deltas)) in cascades.iter_mut().zip(anchor_idx).zip(deltas).enumerate() {
            let nfeat = anchors.len();
            if deltas.len() != nfeat {
                return Err(DlibError::InvalidModel(format!("cascade {ci}: {nfeat} anchors but {} deltas", deltas.len())));
            }
            if let Some(Some((ti, m))) = max_feature.get(ci)
                && *m as usize >= nfeat
            {
                return Err(DlibError::InvalidModel(format!("cascade {ci} tree {ti}: feature index {m} out of range (>= {nfeat})")));
            }
            c.anchors = anchors
                .into_iter()
                .map(|a| match usize::try_from(a) {
                    Ok(a) if a < parts => Ok(a),
                    _ => Err(DlibError::InvalidModel(format!("cascade {ci}: anchor index {a} out of range"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            for d in &deltas {
                finite(d[0], "deltas")?;
                finite(d[1], "deltas")?;
            }
            c.deltas = deltas;
        }
        let initial_points = initial_shape.chunks_exact(2).map(|p| [f64::from(p[0]), f64::from(p[1])]).collect();
        Ok(AnyShapePredictor { parts, initial_shape, initial_points, cascades })
    }

    /// dlib's landmarks for the face in `rect`, as the integer points dlib returns
    /// (`shape_predictor(img, rect).parts()`), one per model part.
    pub fn predict(&self, img: &RgbImage, rect: Rect) -> Vec<(i64, i64)> {
        self.predict_detailed(img, rect).points
    }

    /// Like [`AnyShapePredictor::predict`], also giving the sub-pixel points before rounding.
    pub fn predict_detailed(&self, img: &RgbImage, rect: Rect) -> Shape {
        let mut shape = Shape { points: vec![(0, 0); self.parts], points_f64: vec![(0.0, 0.0); self.parts] };
        self.predict_into(img, rect, &mut shape.points, &mut shape.points_f64);
        shape
    }

    /// The prediction, written into `points` and `points_f64` (each `parts` long).
    fn predict_into(&self, img: &RgbImage, rect: Rect, points: &mut [(i64, i64)], points_f64: &mut [(f64, f64)]) {
        let coords = 2 * self.parts;
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

        let mut shape = self.initial_shape.clone();
        let mut features: Vec<f32> = Vec::new();
        let mut leaf_idx: Vec<usize> = Vec::new();
        let mut to_points: Vec<[f64; 2]> = Vec::with_capacity(self.parts);
        for cascade in &self.cascades {
            // extract_feature_pixel_values
            let m = shape_tform(&self.initial_points, &shape, &mut to_points);
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
                if let Some(leaf) = cascade.leaves.get(li * coords..(li + 1) * coords) {
                    for (s, l) in shape.iter_mut().zip(leaf) {
                        *s += *l;
                    }
                }
            }
        }

        for (k, (p, pf)) in points.iter_mut().zip(points_f64.iter_mut()).enumerate() {
            let x = shape.get(2 * k).copied().unwrap_or(0.0);
            let y = shape.get(2 * k + 1).copied().unwrap_or(0.0);
            let q = tform_to_img.apply([f64::from(x), f64::from(y)]);
            *pf = (q[0], q[1]);
            *p = round_to_point(q);
        }
    }
}

/// A loaded dlib 5-point shape predictor (such as `shape_predictor_5_face_landmarks.dat`):
/// [`AnyShapePredictor`] restricted to 5-landmark models, with fixed-size results.
#[derive(Clone)]
pub struct ShapePredictor {
    inner: AnyShapePredictor,
}

impl fmt::Debug for ShapePredictor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShapePredictor")
            .field("parts", &PARTS5)
            .field("cascades", &self.inner.cascades.len())
            .field("trees", &self.inner.cascades.iter().map(|c| c.trees.len()).sum::<usize>())
            .finish()
    }
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
        Ok(ShapePredictor { inner: AnyShapePredictor::parse(bytes, Some(PARTS5))? })
    }

    /// dlib's 5 landmarks for the face in `rect`, as the integer points dlib returns
    /// (`shape_predictor(img, rect).parts()`).
    pub fn predict(&self, img: &RgbImage, rect: Rect) -> [(i64, i64); PARTS5] {
        self.predict_detailed(img, rect).points
    }

    /// Like [`ShapePredictor::predict`], also giving the sub-pixel points before rounding.
    pub fn predict_detailed(&self, img: &RgbImage, rect: Rect) -> Prediction {
        let mut p = Prediction { points: [(0, 0); PARTS5], points_f64: [(0.0, 0.0); PARTS5] };
        self.inner.predict_into(img, rect, &mut p.points, &mut p.points_f64);
        p
    }

    /// The same model as an [`AnyShapePredictor`].
    pub fn as_any(&self) -> &AnyShapePredictor {
        &self.inner
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

/// `matrix_cast<float>(find_tform_between_shapes(from, to).get_m())`; `to_points` is a
/// reused buffer. dlib uses the identity for one-landmark shapes.
fn shape_tform(from: &[[f64; 2]], to: &[f32], to_points: &mut Vec<[f64; 2]>) -> [[f32; 2]; 2] {
    if from.len() == 1 {
        return [[1.0, 0.0], [0.0, 1.0]];
    }
    to_points.clear();
    to_points.extend(to.chunks_exact(2).map(|p| [f64::from(p[0]), f64::from(p[1])]));
    let t = find_similarity_transform(from, to_points);
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
        let any = sp.as_any();
        assert_eq!((any.num_parts(), any.cascades.len()), (5, 15));
        for c in &any.cascades {
            assert_eq!(c.trees.len(), 500);
            assert_eq!(c.anchors.len(), 800);
            assert!(c.trees.iter().all(|t| t.n_splits == 15));
            assert_eq!((c.splits.len(), c.leaf_count(10), c.leaves.len()), (500 * 15, 500 * 16, 500 * 16 * 10));
        }
        // The general engine gives the 5-point wrapper's results.
        let img = RgbImage::from_fn(200, 180, |x, y| image::Rgb([(x * 7 % 256) as u8, (y * 3 % 256) as u8, ((x ^ y) % 256) as u8]));
        let rect = Rect { left: 40, top: 30, right: 150, bottom: 140 };
        let d = sp.predict_detailed(&img, rect);
        let a = AnyShapePredictor::from_bytes(&bytes).unwrap().predict_detailed(&img, rect);
        assert_eq!((a.points, a.points_f64), (d.points.to_vec(), d.points_f64.to_vec()));
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

    /// A model of `parts` landmarks on a row, one cascade of one depth-1 tree splitting on
    /// "feature 0 brighter than feature 1" (anchored left and right of landmark 0), whose
    /// leaves move every landmark by +-`shift` in x.
    fn n_point_model(parts: usize, shift: f32) -> Vec<u8> {
        n_point_model_split(parts, shift, 1)
    }

    /// x of landmark `k` of `parts` in [`n_point_model`]'s mean shape: 0.25 + 0.5 k / parts,
    /// in multiples of 1/1024 (which `float` stores exactly).
    fn row_x(k: usize, parts: usize) -> f32 {
        (256 + 512 * k / parts) as f32 / 1024.0
    }

    /// [`n_point_model`] whose split compares feature 0 with feature `idx2`.
    fn n_point_model_split(parts: usize, shift: f32, idx2: u64) -> Vec<u8> {
        let mut b = Vec::new();
        sint(1, &mut b);
        let init: Vec<f32> = (0..parts).flat_map(|k| [row_x(k, parts), 0.5]).collect();
        column(&init, &mut b);
        uint(1, &mut b); // forests
        uint(1, &mut b); // trees
        uint(1, &mut b); // splits
        uint(0, &mut b);
        uint(idx2, &mut b);
        float(0.0, &mut b);
        uint(2, &mut b); // leaves
        let leaf = |s: f32| (0..parts).flat_map(move |_| [s, 0.0]).collect::<Vec<f32>>();
        column(&leaf(shift), &mut b);
        column(&leaf(-shift), &mut b);
        uint(1, &mut b); // anchor_idx
        uint(2, &mut b);
        uint(0, &mut b);
        uint(0, &mut b);
        uint(1, &mut b); // deltas
        uint(2, &mut b);
        float(-0.125, &mut b);
        float(0.0, &mut b);
        float(0.125, &mut b);
        float(0.0, &mut b);
        b
    }

    #[test]
    fn any_number_of_landmarks() {
        let rect = Rect { left: 0, top: 0, right: 160, bottom: 160 };
        // Bright left of x = 70: feature 0 (x = 20 at first landmark 40 - 20) is bright.
        let img = RgbImage::from_fn(161, 161, |x, _| if x < 30 { image::Rgb([255, 255, 255]) } else { image::Rgb([0, 0, 0]) });
        for parts in [1usize, 2, 3, 68] {
            let sp = AnyShapePredictor::from_bytes(&n_point_model(parts, 0.0625)).unwrap();
            assert_eq!(sp.num_parts(), parts);
            let p = sp.predict_detailed(&img, rect);
            assert_eq!((p.points.len(), p.points_f64.len()), (parts, parts));
            for (k, &(x, y)) in p.points.iter().enumerate() {
                // (x_k + 0.0625) * 160, rounded; y = 80.
                let want = ((f64::from(row_x(k, parts)) + 0.0625) * 160.0 + 0.5).floor() as i64;
                assert_eq!((x, y), (want, 80), "{parts} parts, landmark {k}");
            }
            // Only 5-landmark models go through the fixed-size predictor.
            let err = ShapePredictor::from_bytes(&n_point_model(parts, 0.0625)).unwrap_err();
            assert!(err.to_string().contains("only 5-landmark models"), "{err}");
        }
        // A 5-landmark model works through both, with the same points.
        let five = n_point_model(5, 0.0625);
        let a = AnyShapePredictor::from_bytes(&five).unwrap().predict(&img, rect);
        assert_eq!(a, ShapePredictor::from_bytes(&five).unwrap().predict(&img, rect).to_vec());
    }

    #[test]
    fn n_point_models_reject_damage() {
        let good = n_point_model(68, 0.0625);
        for cut in 0..good.len() {
            assert!(AnyShapePredictor::from_bytes(&good[..cut]).is_err(), "prefix {cut} parsed");
        }
        // Too many landmarks, an odd or empty mean shape.
        for init in [vec![0.5f32; 2 * (MAX_PARTS + 1)], vec![0.5; 3], vec![]] {
            let mut b = Vec::new();
            sint(1, &mut b);
            column(&init, &mut b);
            let err = AnyShapePredictor::from_bytes(&b).unwrap_err();
            assert!(matches!(err, DlibError::InvalidModel(_)), "{err:?}");
        }
        // A leaf of another size than the mean shape.
        let mut b = Vec::new();
        sint(1, &mut b);
        column(&[0.5; 6], &mut b);
        uint(1, &mut b);
        uint(1, &mut b);
        uint(0, &mut b);
        uint(1, &mut b);
        column(&[0.0; 4], &mut b);
        let err = AnyShapePredictor::from_bytes(&b).unwrap_err();
        assert!(err.to_string().contains("a leaf has 4 values but the model has 3 landmarks"), "{err}");
        // A split on a feature pixel the cascade does not have (2 features: 0 and 1).
        let bad = n_point_model_split(3, 0.0625, 7);
        let err = AnyShapePredictor::from_bytes(&bad).unwrap_err();
        assert!(err.to_string().contains("feature index 7 out of range"), "{err}");
    }
}
