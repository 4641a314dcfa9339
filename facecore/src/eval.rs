//! Evaluation maths and dataset readers: LFW pairs (k-fold accuracy, TAR at FMR) and
//! WIDER-format detection ground truth (precision, recall, average precision).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::geometry::Rect;

/// One LFW pair: two image paths (relative to the dataset root) and whether they show the
/// same person, with the fold it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfwPair {
    /// First image, relative path.
    pub a: PathBuf,
    /// Second image, relative path.
    pub b: PathBuf,
    /// Same person.
    pub same: bool,
    /// Fold index.
    pub fold: usize,
}

fn lfw_path(name: &str, idx: &str) -> Result<PathBuf> {
    let i: u32 = idx.parse().map_err(|_| Error::input("pairs file", format!("bad image number {idx:?}")))?;
    Ok(PathBuf::from(format!("lfw-deepfunneled/{name}/{name}_{i:04}.jpg")))
}

/// Parses an LFW `pairs.txt` (`FOLDS N` header or the classic `10 300`).
///
/// # Errors
/// [`Error::InvalidInput`] for malformed lines.
pub fn parse_lfw_pairs(text: &str) -> Result<Vec<LfwPair>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    let per = match header.as_slice() {
        ["FOLDS", n] | [_, n] => n.parse::<usize>().ok(),
        _ => None,
    }
    .filter(|&n| n > 0)
    .ok_or_else(|| Error::input("pairs file", "missing 'FOLDS N' header"))?;
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let fold = i / (2 * per);
        let pair = match f.as_slice() {
            [n, a, b] => LfwPair { a: lfw_path(n, a)?, b: lfw_path(n, b)?, same: true, fold },
            [n1, a, n2, b] => LfwPair { a: lfw_path(n1, a)?, b: lfw_path(n2, b)?, same: false, fold },
            _ => return Err(Error::input("pairs file", format!("line {}: {line:?}", i + 2))),
        };
        out.push(pair);
    }
    Ok(out)
}

/// Accuracy of `scores >= t` as a same-person decision.
pub fn accuracy_at(scores: &[(f32, bool)], t: f32) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let ok = scores.iter().filter(|(s, same)| (*s >= t) == *same).count();
    ok as f64 / scores.len() as f64
}

/// The threshold with the best accuracy (midpoint between neighbouring scores).
pub fn best_threshold(scores: &[(f32, bool)]) -> f32 {
    let mut s: Vec<f32> = scores.iter().map(|x| x.0).collect();
    s.sort_by(f32::total_cmp);
    let mut best = (f64::NEG_INFINITY, 0.0);
    for w in s.windows(2) {
        let t = (w[0] + w[1]) / 2.0;
        let a = accuracy_at(scores, t);
        if a > best.0 {
            best = (a, t);
        }
    }
    best.1
}

/// The standard protocol: for each fold, pick the threshold on the other folds and score
/// this fold. Returns (mean accuracy, standard deviation, per-fold accuracies).
pub fn kfold_accuracy(scores: &[(f32, bool, usize)]) -> (f64, f64, Vec<f64>) {
    let folds = scores.iter().map(|s| s.2).max().map_or(0, |m| m + 1);
    let mut accs = Vec::new();
    for k in 0..folds {
        let train: Vec<(f32, bool)> = scores.iter().filter(|s| s.2 != k).map(|s| (s.0, s.1)).collect();
        let test: Vec<(f32, bool)> = scores.iter().filter(|s| s.2 == k).map(|s| (s.0, s.1)).collect();
        if test.is_empty() {
            continue;
        }
        let t = if train.is_empty() { best_threshold(&test) } else { best_threshold(&train) };
        accs.push(accuracy_at(&test, t));
    }
    let n = accs.len().max(1) as f64;
    let mean = accs.iter().sum::<f64>() / n;
    let std = (accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
    (mean, std, accs)
}

/// The smallest threshold whose false match rate on `impostor` is at most `fmr`, and the
/// true accept rate of `genuine` at it. `None` without impostor scores.
pub fn tar_at_fmr(genuine: &[f32], impostor: &[f32], fmr: f64) -> Option<(f32, f64, f64)> {
    if impostor.is_empty() {
        return None;
    }
    let mut imp = impostor.to_vec();
    imp.sort_by(|a, b| b.total_cmp(a));
    // Allow floor(fmr * n) impostors strictly above the threshold.
    let allowed = (fmr * imp.len() as f64).floor() as usize;
    let t = if allowed >= imp.len() { f32::NEG_INFINITY } else { next_up(imp[allowed]) };
    let fa = imp.iter().filter(|&&s| s >= t).count() as f64 / imp.len() as f64;
    let tar = if genuine.is_empty() { 0.0 } else { genuine.iter().filter(|&&s| s >= t).count() as f64 / genuine.len() as f64 };
    Some((t, tar, fa))
}

fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    let bits = x.to_bits();
    f32::from_bits(if x >= 0.0 {
        bits + 1
    } else if x == 0.0 {
        1
    } else {
        bits - 1
    })
}

/// Ground truth of one image in WIDER format.
#[derive(Debug, Clone, PartialEq)]
pub struct GtImage {
    /// Image path relative to the images directory.
    pub file: PathBuf,
    /// Face boxes.
    pub boxes: Vec<Rect>,
}

/// Parses WIDER FACE's `gt_bbx.txt` format: file, count, then `x y w h ...` lines
/// (lines starting with `#` are comments).
///
/// # Errors
/// [`Error::InvalidInput`] for malformed content.
pub fn parse_wider_gt(text: &str) -> Result<Vec<GtImage>> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let bad = |m: String| Error::input("ground truth", m);
    let mut out = Vec::new();
    while let Some(file) = lines.next() {
        let n: usize = lines.next().and_then(|l| l.parse().ok()).ok_or_else(|| bad(format!("count missing after {file}")))?;
        let mut boxes = Vec::new();
        // WIDER writes one dummy line for images with 0 faces.
        for _ in 0..n.max(1) {
            let l = lines.next().ok_or_else(|| bad(format!("boxes missing for {file}")))?;
            let v: Vec<f32> = l.split_whitespace().take(4).filter_map(|x| x.parse().ok()).collect();
            if v.len() != 4 {
                return Err(bad(format!("bad box line {l:?}")));
            }
            if n > 0 && v[2] > 0.0 && v[3] > 0.0 {
                boxes.push(Rect { x: v[0], y: v[1], width: v[2], height: v[3] });
            }
        }
        out.push(GtImage { file: PathBuf::from(file), boxes });
    }
    Ok(out)
}

/// Detection scores: matches at IoU >= `iou`, greedy by confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectionScore {
    /// Ground-truth faces.
    pub gt: usize,
    /// Detections.
    pub detections: usize,
    /// Detections matched to a ground-truth face.
    pub true_positives: usize,
    /// `true_positives / detections`.
    pub precision: f64,
    /// `true_positives / gt`.
    pub recall: f64,
    /// Area under the precision/recall curve (all-point interpolation, VOC style).
    pub average_precision: f64,
}

/// Scores detections against ground truth; `dets[i]` are (box, score) for `gt[i]`.
pub fn score_detections(gt: &[Vec<Rect>], dets: &[Vec<(Rect, f32)>], iou: f32) -> DetectionScore {
    let n_gt: usize = gt.iter().map(Vec::len).sum();
    let mut all: Vec<(f32, bool)> = Vec::new();
    for (g, d) in gt.iter().zip(dets) {
        let mut d = d.clone();
        d.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut used = vec![false; g.len()];
        for (r, s) in d {
            let best = g.iter().enumerate().filter(|(i, _)| !used[*i]).map(|(i, gb)| (i, gb.iou(&r))).max_by(|a, b| a.1.total_cmp(&b.1));
            let tp = match best {
                Some((i, v)) if v >= iou => {
                    used[i] = true;
                    true
                }
                _ => false,
            };
            all.push((s, tp));
        }
    }
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut tp = 0usize;
    let mut curve = Vec::with_capacity(all.len());
    for (i, (_, t)) in all.iter().enumerate() {
        tp += usize::from(*t);
        curve.push((tp as f64 / n_gt.max(1) as f64, tp as f64 / (i + 1) as f64));
    }
    // Precision envelope, then area under it.
    let mut ap = 0.0;
    let mut prev_r = 0.0;
    for i in 0..curve.len() {
        let p = curve[i..].iter().map(|c| c.1).fold(0.0, f64::max);
        ap += (curve[i].0 - prev_r) * p;
        prev_r = curve[i].0;
    }
    DetectionScore {
        gt: n_gt,
        detections: all.len(),
        true_positives: tp,
        precision: if all.is_empty() { 0.0 } else { tp as f64 / all.len() as f64 },
        recall: tp as f64 / n_gt.max(1) as f64,
        average_precision: ap,
    }
}

/// Reads a text file with a clear error.
///
/// # Errors
/// [`Error::Io`].
pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse() {
        let p = parse_lfw_pairs("FOLDS 1\nAbel 1 2\nAbel 1 Bo 3\n").unwrap();
        assert_eq!(p.len(), 2);
        assert!(p[0].same && !p[1].same);
        assert_eq!(p[1].b, PathBuf::from("lfw-deepfunneled/Bo/Bo_0003.jpg"));
        assert!(parse_lfw_pairs("nonsense").is_err());
    }

    #[test]
    fn kfold_on_separable_scores_is_perfect() {
        let s: Vec<(f32, bool, usize)> = (0..40).map(|i| (if i % 2 == 0 { 0.9 } else { 0.1 }, i % 2 == 0, i % 4)).collect();
        let (m, sd, _) = kfold_accuracy(&s);
        assert_eq!(m, 1.0);
        assert_eq!(sd, 0.0);
    }

    #[test]
    fn tar_at_fmr_counts() {
        let imp: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let (t, tar, fa) = tar_at_fmr(&[0.5, 0.9995, 1.0], &imp, 1e-3).unwrap();
        assert!(fa <= 1e-3);
        assert!(t > 0.998);
        assert!((tar - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn detection_scores() {
        let r = |x: f32| Rect { x, y: 0.0, width: 10.0, height: 10.0 };
        let s = score_detections(&[vec![r(0.0), r(50.0)]], &[vec![(r(1.0), 0.9), (r(100.0), 0.8)]], 0.5);
        assert_eq!((s.true_positives, s.gt, s.detections), (1, 2, 2));
        assert!((s.average_precision - 0.5).abs() < 1e-9);
        let gt = parse_wider_gt("a.jpg\n1\n1 2 3 4 0 0\nb.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n").unwrap();
        assert_eq!(gt.len(), 2);
        assert!(gt[1].boxes.is_empty());
    }
}
