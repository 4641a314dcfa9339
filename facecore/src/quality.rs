//! Per-face quality: size, sharpness, exposure and pose, and one combined score in 0..1.
//!
//! Every measure comes from the detector's output (box and 5 landmarks) and one cheap chip:
//! the face aligned on ArcFace's 112 x 112 template ([`crate::ARCFACE_112`], the alignment
//! SFace uses), converted to grey. The chip is the same whatever the preset, so scores compare
//! across presets. A face smaller than the chip in the frame gets a proportionally smaller
//! chip (down to [`MIN_CHIP`] px), so that sharpness is measured on the frame's own pixels,
//! not on interpolated ones (which would call every small face blurred). It costs one small
//! bilinear warp (well under a millisecond), nothing next to an embedding.
//!
//! # Measures
//! - **eye distance**: between the two eye landmarks, in frame pixels. A face with less than
//!   about 35 px between the eyes (their distance in the 112 px chip) has less detail than
//!   the networks can use, however sharp the camera.
//! - **sharpness**: variance of the 4-neighbour Laplacian over the chip's central face region
//!   ([`QUALITY_REGION`]). Blur (focus, motion, upsampling) removes high frequencies and lowers it.
//! - **brightness** and **contrast**: mean and standard deviation of the grey levels
//!   (0..255) in the same region.
//! - **pose** (`yaw`, `pitch`, `roll`, degrees), from the 5 landmarks under a weak-perspective
//!   model of a generic head (see [`Quality::pose`]).
//!
//! # Combined score
//! Each measure is mapped to 0..1 by a linear ramp between a "useless" and a "good" value
//! ([`SCORE_RAMPS`]); the score is the weighted geometric mean of the four components
//! `size^0.30 * sharpness^0.30 * pose^0.25 * exposure^0.15` ([`SCORE_WEIGHTS`]), so any one
//! measure at its useless end brings the score to 0, and a face good on all counts scores 1.
//! Roll does not count: alignment removes it.

use crate::align::{ARCFACE_112, Affine, align};
use crate::detect::Face;
use crate::error::{Error, Result};
use crate::geometry::Point;
use crate::image::Image;

/// The chip region the sharpness, brightness and contrast are measured on: columns
/// `x0..x1`, rows `y0..y1` of the 112 x 112 ArcFace chip (scaled for a smaller chip), from the brows to below the mouth and
/// between the cheeks, so hair, background and the black border of faces near the frame's
/// edge count little.
pub const QUALITY_REGION: (u32, u32, u32, u32) = (20, 28, 92, 104);

/// The smallest quality chip, px: faces smaller than that are upsampled to it.
pub const MIN_CHIP: u32 = 32;

/// Depth of the nose tip in front of the plane of the eyes and mouth corners, in half
/// inter-eye distances (the generic head of [`Quality::pose`]).
pub const NOSE_DEPTH: f32 = 0.8;

/// Where YuNet puts the nose tip between the eye line (0) and the mouth line (1) in a frontal
/// face: the median over 159 LFW faces (ArcFace's template says 0.495, which made the median
/// LFW pitch 11.5 degrees).
pub const NOSE_HEIGHT: f32 = 0.565;

/// Distance from the eye line to the mouth line in a frontal face, in half inter-eye
/// distances: ArcFace's template, 40.69 / 17.62.
pub const MOUTH_DROP: f32 = 2.31;

/// The ramps mapping each measure to 0..1: `(measure, useless, good)`. Linear in between;
/// sharpness is ramped on its logarithm. Pose uses the larger of `|yaw|` and `1.5 |pitch|`;
/// exposure is the smaller of the brightness and contrast ramps (brightness ramps down again
/// from 190 to 240).
pub const SCORE_RAMPS: [(&str, f32, f32); 5] =
    [("eye_distance", 4.0, 32.0), ("sharpness", 15.0, 150.0), ("pose", 75.0, 15.0), ("brightness", 25.0, 70.0), ("contrast", 8.0, 30.0)];

/// Weights of the size, sharpness, pose and exposure components in the combined score
/// (a weighted geometric mean; the weights sum to 1).
pub const SCORE_WEIGHTS: [(&str, f32); 4] = [("size", 0.30), ("sharpness", 0.30), ("pose", 0.25), ("exposure", 0.15)];

/// How good a face is for recognition. Plain data; see the [module docs](self) for the
/// definitions.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quality {
    /// Distance between the eye landmarks, frame pixels.
    pub eye_distance: f32,
    /// Variance of the Laplacian of the grey chip's face region (0 for a flat chip).
    pub sharpness: f32,
    /// Mean grey level of the chip's face region, 0..255.
    pub brightness: f32,
    /// Standard deviation of the grey levels of the chip's face region, 0..255.
    pub contrast: f32,
    /// Left-right head turn, degrees: positive when the nose points to the image's right
    /// (the subject turns to their left), 0 frontal. Mirroring the image flips its sign.
    pub yaw: f32,
    /// Up-down head tilt, degrees: positive when the nose points down (the subject looks down).
    pub pitch: f32,
    /// In-plane rotation of the eye line, degrees: positive when it turns clockwise on screen
    /// (the subject's left eye, on the image's right, lower than the other).
    pub roll: f32,
    /// The combined score, 0..1 (weights in [`SCORE_WEIGHTS`]).
    pub score: f32,
}

fn ramp(v: f32, useless: f32, good: f32) -> f32 {
    if !v.is_finite() {
        return 0.0;
    }
    ((v - useless) / (good - useless)).clamp(0.0, 1.0)
}

impl Quality {
    /// Measures a detected face of `img`. Never fails: a face whose landmarks cannot be
    /// aligned gets zero sharpness, brightness and contrast, and a score of 0.
    pub fn measure(img: &Image, face: &Face) -> Quality {
        let lm = &face.landmarks;
        let eye_distance = dist(lm[0], lm[1]);
        let (yaw, pitch, roll) = Quality::pose(lm);
        let (sharpness, brightness, contrast) = chip_side(lm)
            .and_then(|side| {
                let f = side as f32 / 112.0;
                let chip = align(img.as_rgb(), lm, &ARCFACE_112.map(|(x, y)| (x * f, y * f)), side)?;
                Ok(chip_stats(chip.as_raw(), side as usize))
            })
            .unwrap_or((0.0, 0.0, 0.0));
        let mut q = Quality { eye_distance, sharpness, brightness, contrast, yaw, pitch, roll, score: 0.0 };
        q.score = q.combined();
        q
    }

    /// Yaw, pitch and roll in degrees from YuNet's 5 landmarks (right eye, left eye, nose,
    /// right and left mouth corners, as in the image).
    ///
    /// The model: a generic head under weak perspective. The eyes and mouth corners lie in
    /// one plane, symmetric about the face's midline, the mouth line [`MOUTH_DROP`] half
    /// inter-eye distances below the eye line; the nose tip sits on the midline,
    /// [`NOSE_HEIGHT`] of the way from the eye line to the mouth line, [`NOSE_DEPTH`] half
    /// inter-eye distances in front of that plane. Roll is the angle of the eye line; the
    /// points are rotated by `-roll` about the eyes' midpoint first. Turning the head by yaw
    /// `θ` shortens the eye distance to `2E cos θ` and moves the nose tip sideways from the
    /// midline (the mean x of the four other points) by `D sin θ`, so
    /// `θ = atan2(dx, NOSE_DEPTH * half eye distance)`. Pitch `φ` likewise moves the nose tip
    /// along the eye-to-mouth line by `D sin φ` while that line shortens to `M cos φ`, so with
    /// `t` the nose's position along it, `φ = atan((t - NOSE_HEIGHT) * MOUTH_DROP / NOSE_DEPTH)`.
    /// A rough estimate (good to perhaps 10 degrees near frontal, saturating in profile),
    /// meant for ranking shots and refusing strongly turned faces, not for measurement.
    pub fn pose(lm: &[Point; 5]) -> (f32, f32, f32) {
        let (re, le) = (lm[0], lm[1]);
        let roll = (le.y - re.y).atan2(le.x - re.x);
        let (c, s) = (roll.cos(), roll.sin());
        let o = Point { x: (re.x + le.x) / 2.0, y: (re.y + le.y) / 2.0 };
        // Rotate by -roll about the eye midpoint: the eye line becomes horizontal.
        let un = |p: Point| {
            let (x, y) = (p.x - o.x, p.y - o.y);
            Point { x: c * x + s * y, y: -s * x + c * y }
        };
        let p: Vec<Point> = lm.iter().map(|&q| un(q)).collect();
        let half_eye = (p[1].x - p[0].x) / 2.0;
        if !(half_eye.is_finite() && half_eye > 1e-3) {
            return (0.0, 0.0, roll.to_degrees());
        }
        let mid_x = (p[0].x + p[1].x + p[3].x + p[4].x) / 4.0;
        let yaw = (p[2].x - mid_x).atan2(NOSE_DEPTH * half_eye);
        let mouth_y = (p[3].y + p[4].y) / 2.0; // eyes are at y = 0 after the rotation
        let pitch = if mouth_y > 1e-3 {
            let t = p[2].y / mouth_y;
            ((t - NOSE_HEIGHT) * MOUTH_DROP / NOSE_DEPTH).atan()
        } else {
            0.0
        };
        (yaw.to_degrees(), pitch.to_degrees(), roll.to_degrees())
    }

    /// The size, sharpness, pose and exposure components, each 0..1 (before weighting).
    pub fn components(&self) -> [f32; 4] {
        let r = |i: usize, v: f32| ramp(v, SCORE_RAMPS[i].1, SCORE_RAMPS[i].2);
        let size = r(0, self.eye_distance);
        let sharp = ramp(self.sharpness.max(1e-6).ln(), SCORE_RAMPS[1].1.ln(), SCORE_RAMPS[1].2.ln());
        let pose = r(2, self.yaw.abs().max(1.5 * self.pitch.abs()));
        let bright = r(3, self.brightness).min(ramp(self.brightness, 240.0, 190.0));
        let exposure = bright.min(r(4, self.contrast));
        [size, sharp, pose, exposure]
    }

    fn combined(&self) -> f32 {
        let mut log = 0.0f32;
        for (c, (_, w)) in self.components().into_iter().zip(SCORE_WEIGHTS) {
            if c <= 0.0 {
                return 0.0;
            }
            log += w * c.ln();
        }
        log.exp().clamp(0.0, 1.0)
    }
}

fn dist(a: Point, b: Point) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// The side of the quality chip: 112 px, or less for a face smaller than that in the frame
/// (never upsampled by more than [`MIN_CHIP`] requires), so that sharpness is measured on the
/// frame's own pixels rather than on interpolated ones.
fn chip_side(lm: &[Point; 5]) -> Result<u32> {
    let m = Affine::similarity(lm, &ARCFACE_112)?;
    let scale = m.0[0][0].hypot(m.0[1][0]);
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::degenerate("zero-size face"));
    }
    Ok(if scale > 1.0 { ((112.0 / scale).round() as u32).clamp(MIN_CHIP, 112) } else { 112 })
}

/// Laplacian variance, mean and standard deviation of the grey levels of [`QUALITY_REGION`]
/// (scaled to the chip) of a packed RGB chip of side `size`.
fn chip_stats(rgb: &[u8], size: usize) -> (f32, f32, f32) {
    let grey: Vec<f32> = rgb.chunks_exact(3).map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])).collect();
    let f = |v: u32| (v as usize * size + 56) / 112;
    let (x0, y0, x1, y1) = (f(QUALITY_REGION.0), f(QUALITY_REGION.1), f(QUALITY_REGION.2), f(QUALITY_REGION.3));
    let (mut n, mut sum, mut sum2) = (0.0f64, 0.0f64, 0.0f64);
    let (mut ln, mut lsum, mut lsum2) = (0.0f64, 0.0f64, 0.0f64);
    for y in y0..y1.min(size) {
        for x in x0..x1.min(size) {
            let g = f64::from(grey[y * size + x]);
            n += 1.0;
            sum += g;
            sum2 += g * g;
            if x > 0 && y > 0 && x + 1 < size && y + 1 < size {
                let l = 4.0 * g
                    - f64::from(grey[(y - 1) * size + x])
                    - f64::from(grey[(y + 1) * size + x])
                    - f64::from(grey[y * size + x - 1])
                    - f64::from(grey[y * size + x + 1]);
                ln += 1.0;
                lsum += l;
                lsum2 += l * l;
            }
        }
    }
    if n == 0.0 || ln == 0.0 {
        return (0.0, 0.0, 0.0);
    }
    let mean = sum / n;
    let var = (sum2 / n - mean * mean).max(0.0);
    let lmean = lsum / ln;
    let lvar = (lsum2 / ln - lmean * lmean).max(0.0);
    (lvar as f32, mean as f32, var.sqrt() as f32)
}

/// Floors (and ceilings) a face must meet, e.g. to be enrolled. Every bound is inclusive;
/// [`QualityConfig::NONE`] accepts every face. The defaults accept ordinary portraits
/// (the repository's fixtures, LFW) and refuse tiny, blurred, dark or strongly turned faces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityConfig {
    /// Lowest combined score (default 0.4).
    pub min_score: f32,
    /// Fewest pixels between the eyes (default 16).
    pub min_eye_distance: f32,
    /// Lowest Laplacian variance (default 20).
    pub min_sharpness: f32,
    /// Lowest mean grey level (default 40).
    pub min_brightness: f32,
    /// Highest mean grey level (default 230).
    pub max_brightness: f32,
    /// Lowest grey-level standard deviation (default 12).
    pub min_contrast: f32,
    /// Largest `|yaw|`, degrees (default 45).
    pub max_yaw: f32,
    /// Largest `|pitch|`, degrees (default 35).
    pub max_pitch: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            min_score: 0.4,
            min_eye_distance: 16.0,
            min_sharpness: 20.0,
            min_brightness: 40.0,
            max_brightness: 230.0,
            min_contrast: 12.0,
            max_yaw: 45.0,
            max_pitch: 35.0,
        }
    }
}

impl QualityConfig {
    /// Accepts every face (no floor at all).
    pub const NONE: QualityConfig = QualityConfig {
        min_score: 0.0,
        min_eye_distance: 0.0,
        min_sharpness: 0.0,
        min_brightness: 0.0,
        max_brightness: f32::INFINITY,
        min_contrast: 0.0,
        max_yaw: f32::INFINITY,
        max_pitch: f32::INFINITY,
    };

    /// Checks a face's quality against every bound, the single measures first and the
    /// combined score last.
    ///
    /// # Errors
    /// [`Error::LowQuality`] naming the first failing measure (`eye_distance`, `sharpness`,
    /// `brightness`, `contrast`, `yaw`, `pitch`, `score`), its value and the bound;
    /// [`Error::InvalidInput`] when a bound is NaN.
    pub fn check(&self, q: &Quality) -> Result<()> {
        let bounds = [
            self.min_score,
            self.min_eye_distance,
            self.min_sharpness,
            self.min_brightness,
            self.max_brightness,
            self.min_contrast,
            self.max_yaw,
            self.max_pitch,
        ];
        if bounds.iter().any(|b| b.is_nan()) {
            return Err(Error::input("quality floor", "a bound is NaN"));
        }
        let low = |measure, value: f32, limit| Err(Error::LowQuality { measure, value, limit });
        // A NaN measure fails too (it is neither above nor below anything).
        let below = |v: f32, floor: f32| v.partial_cmp(&floor).is_none_or(|o| o == std::cmp::Ordering::Less);
        let above = |v: f32, ceiling: f32| v.partial_cmp(&ceiling).is_none_or(|o| o == std::cmp::Ordering::Greater);
        if below(q.eye_distance, self.min_eye_distance) {
            return low("eye_distance", q.eye_distance, self.min_eye_distance);
        }
        if below(q.sharpness, self.min_sharpness) {
            return low("sharpness", q.sharpness, self.min_sharpness);
        }
        if below(q.brightness, self.min_brightness) {
            return low("brightness", q.brightness, self.min_brightness);
        }
        if above(q.brightness, self.max_brightness) {
            return low("brightness", q.brightness, self.max_brightness);
        }
        if below(q.contrast, self.min_contrast) {
            return low("contrast", q.contrast, self.min_contrast);
        }
        if above(q.yaw.abs(), self.max_yaw) {
            return low("yaw", q.yaw, self.max_yaw);
        }
        if above(q.pitch.abs(), self.max_pitch) {
            return low("pitch", q.pitch, self.max_pitch);
        }
        if below(q.score, self.min_score) {
            return low("score", q.score, self.min_score);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn template() -> [Point; 5] {
        ARCFACE_112.map(|(x, y)| Point { x, y })
    }

    #[test]
    fn the_template_is_frontal() {
        // ArcFace's template puts the nose higher than YuNet does on frontal faces (0.495 of
        // the way to the mouth, not NOSE_HEIGHT): it reads as looking up by about 11 degrees.
        let (yaw, pitch, roll) = Quality::pose(&template());
        assert!(yaw.abs() < 1.0 && roll.abs() < 1.0, "{yaw} {roll}");
        let expected = ((0.495 - NOSE_HEIGHT) * MOUTH_DROP / NOSE_DEPTH).atan().to_degrees();
        assert!((pitch - expected).abs() < 0.5 && pitch < -10.0, "{pitch} vs {expected}");
    }

    #[test]
    fn rotating_the_generic_head_recovers_the_angles() {
        // Project the generic head of `pose` rotated by yaw, then pitch, then roll.
        let e = 1.0f32;
        let head = [
            (-e, 0.0, 0.0),
            (e, 0.0, 0.0),
            (0.0, NOSE_HEIGHT * MOUTH_DROP * e, NOSE_DEPTH * e),
            (-0.83 * e, MOUTH_DROP * e, 0.0),
            (0.83 * e, MOUTH_DROP * e, 0.0),
        ];
        for (yaw, pitch, roll) in [(20.0f32, 0.0f32, 0.0f32), (-30.0, 0.0, 10.0), (0.0, 15.0, -5.0), (0.0, -15.0, 0.0)] {
            let (ty, tp, tr) = (yaw.to_radians(), pitch.to_radians(), roll.to_radians());
            let lm = head.map(|(x, y, z)| {
                // Yaw about the vertical axis (z towards the camera), then pitch about the
                // horizontal axis, then roll in the image plane; orthographic projection.
                let (x1, z1) = (x * ty.cos() + z * ty.sin(), -x * ty.sin() + z * ty.cos());
                let y2 = y * tp.cos() + z1 * tp.sin();
                let (x3, y3) = (x1 * tr.cos() - y2 * tr.sin(), x1 * tr.sin() + y2 * tr.cos());
                Point { x: 100.0 + 30.0 * x3, y: 100.0 + 30.0 * y3 }
            });
            let (y, p, r) = Quality::pose(&lm);
            assert!((y - yaw).abs() < 3.0 && (p - pitch).abs() < 3.0 && (r - roll).abs() < 0.5, "{yaw} {pitch} {roll} -> {y} {p} {r}");
        }
    }

    #[test]
    fn floors_name_the_failing_measure() {
        let good = Quality {
            eye_distance: 60.0,
            sharpness: 300.0,
            brightness: 120.0,
            contrast: 40.0,
            yaw: 5.0,
            pitch: 0.0,
            roll: 0.0,
            score: 0.0,
        };
        let good = Quality { score: good.combined(), ..good };
        assert!((good.score - 1.0).abs() < 1e-6, "{good:?}");
        let cfg = QualityConfig::default();
        assert!(cfg.check(&good).is_ok());
        let dark = Quality { brightness: 10.0, ..good };
        assert!(matches!(cfg.check(&dark), Err(Error::LowQuality { measure: "brightness", .. })));
        let turned = Quality { yaw: -70.0, ..good };
        assert!(matches!(cfg.check(&turned), Err(Error::LowQuality { measure: "yaw", .. })));
        assert!(QualityConfig::NONE.check(&Quality { eye_distance: 1.0, ..dark }).is_ok());
        let nan = Quality { sharpness: f32::NAN, ..good };
        assert!(cfg.check(&nan).is_err());
    }
}
