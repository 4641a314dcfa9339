//! Face alignment: a similarity transform of the 5 landmarks onto a model's template, then
//! a bilinear warp (OpenCV `warpAffine` semantics: pixel-index coordinates, black border).

use image::RgbImage;

use crate::error::{Error, Result};
use crate::geometry::Point;

/// ArcFace's 112x112 template for the 5 points in YuNet's order (SFace's alignment).
pub const ARCFACE_112: [(f32, f32); 5] =
    [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041)];

/// A 150x150 template for YuNet's 5 points that reproduces dlib's face chips (padding 0.25),
/// fitted on 565 dlib chips.
pub const DLIB_150: [(f32, f32); 5] = [(46.705, 45.831), (101.272, 46.081), (73.247, 78.507), (50.261, 102.669), (96.767, 102.904)];

/// A 2x3 affine matrix `[a, b, tx; c, d, ty]` mapping source to destination pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [[f32; 3]; 2]);

impl Affine {
    /// Least-squares similarity (rotation, uniform scale, translation; no reflection) taking
    /// `src` onto `dst` (the closed form of Umeyama's method in 2-D).
    ///
    /// # Errors
    /// [`Error::DegenerateFace`] when the source points are non-finite or all coincide.
    pub fn similarity(src: &[Point], dst: &[(f32, f32)]) -> Result<Affine> {
        if src.len() != dst.len() || src.is_empty() {
            return Err(Error::input("landmarks", "point sets differ in length"));
        }
        let n = src.len() as f64;
        let (mut sx, mut sy, mut dx, mut dy) = (0.0, 0.0, 0.0, 0.0);
        for (p, q) in src.iter().zip(dst) {
            sx += f64::from(p.x);
            sy += f64::from(p.y);
            dx += f64::from(q.0);
            dy += f64::from(q.1);
        }
        let (sx, sy, dx, dy) = (sx / n, sy / n, dx / n, dy / n);
        let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
        for (p, q) in src.iter().zip(dst) {
            let (px, py) = (f64::from(p.x) - sx, f64::from(p.y) - sy);
            let (qx, qy) = (f64::from(q.0) - dx, f64::from(q.1) - dy);
            num_a += px * qx + py * qy;
            num_b += px * qy - py * qx;
            den += px * px + py * py;
        }
        if !(den.is_finite() && den > 1e-9) {
            return Err(Error::degenerate("collapsed or non-finite landmarks"));
        }
        let (a, b) = (num_a / den, num_b / den);
        let tx = dx - (a * sx - b * sy);
        let ty = dy - (b * sx + a * sy);
        Ok(Affine([[a as f32, -b as f32, tx as f32], [b as f32, a as f32, ty as f32]]))
    }

    /// Applies the transform to a point.
    pub fn apply(&self, p: Point) -> Point {
        let m = &self.0;
        Point { x: m[0][0] * p.x + m[0][1] * p.y + m[0][2], y: m[1][0] * p.x + m[1][1] * p.y + m[1][2] }
    }

    fn inverse(&self) -> Option<Affine> {
        let m = &self.0;
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        let (a, b, c, d) = (m[1][1] / det, -m[0][1] / det, -m[1][0] / det, m[0][0] / det);
        Some(Affine([[a, b, -(a * m[0][2] + b * m[1][2])], [c, d, -(c * m[0][2] + d * m[1][2])]]))
    }
}

/// Warps `src` into a `size` x `size` image: each destination pixel samples the source at
/// the inverse transform, bilinearly; taps outside the source read black.
///
/// # Errors
/// [`Error::DegenerateFace`] for a singular transform.
pub fn warp(src: &RgbImage, m: &Affine, size: u32) -> Result<RgbImage> {
    let inv = m.inverse().ok_or_else(|| Error::degenerate("singular alignment transform"))?;
    let (w, h) = (src.width() as i64, src.height() as i64);
    let raw = src.as_raw();
    let mut out = vec![0u8; (size * size * 3) as usize];
    let tap = |x: i64, y: i64, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h { 0.0 } else { f32::from(raw[((y * w + x) * 3) as usize + c]) }
    };
    for v in 0..size {
        for u in 0..size {
            let p = inv.apply(Point { x: u as f32, y: v as f32 });
            if !(p.x > -1.0 && p.y > -1.0 && p.x < w as f32 && p.y < h as f32) {
                continue;
            }
            let (x0, y0) = (floor_i64(p.x), floor_i64(p.y));
            let (fx, fy) = (p.x - x0 as f32, p.y - y0 as f32);
            let o = ((v * size + u) * 3) as usize;
            if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
                // All four taps inside: index the rows directly (the common case).
                let i = ((y0 * w + x0) * 3) as usize;
                let j = i + (w * 3) as usize;
                let (a, b) = (&raw[i..i + 6], &raw[j..j + 6]);
                for c in 0..3 {
                    let top = f32::from(a[c]) * (1.0 - fx) + f32::from(a[c + 3]) * fx;
                    let bot = f32::from(b[c]) * (1.0 - fx) + f32::from(b[c + 3]) * fx;
                    out[o + c] = to_u8(top * (1.0 - fy) + bot * fy);
                }
                continue;
            }
            for c in 0..3 {
                let top = tap(x0, y0, c) * (1.0 - fx) + tap(x0 + 1, y0, c) * fx;
                let bot = tap(x0, y0 + 1, c) * (1.0 - fx) + tap(x0 + 1, y0 + 1, c) * fx;
                out[o + c] = to_u8(top * (1.0 - fy) + bot * fy);
            }
        }
    }
    RgbImage::from_raw(size, size, out).ok_or_else(|| Error::input("alignment", "output size"))
}

/// `v.floor() as i64` for the small coordinates of a warp, without `floorf` (a libm call on
/// baseline x86-64).
#[inline]
fn floor_i64(v: f32) -> i64 {
    let t = v as i64;
    if (t as f32) > v { t - 1 } else { t }
}

/// Rounds a blend of u8 values (so within 0..=255) to the nearest integer, halves up. Same
/// result as `round()` for these values, without a libm call on baseline x86-64.
#[inline]
fn to_u8(v: f32) -> u8 {
    (v + 0.5) as u8
}

/// Aligns a face: similarity of `landmarks` onto `template` (defined for a `size` square).
///
/// # Errors
/// [`Error::DegenerateFace`] for degenerate landmarks.
pub fn align(src: &RgbImage, landmarks: &[Point; 5], template: &[(f32, f32); 5], size: u32) -> Result<RgbImage> {
    let m = Affine::similarity(landmarks, template)?;
    warp(src, &m, size)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (s, th, tx, ty) = (1.7f32, 0.3f32, 12.0, -4.0);
        let src: Vec<Point> = ARCFACE_112.iter().map(|&(x, y)| Point { x, y }).collect();
        let dst: Vec<(f32, f32)> =
            src.iter().map(|p| (s * (th.cos() * p.x - th.sin() * p.y) + tx, s * (th.sin() * p.x + th.cos() * p.y) + ty)).collect();
        let m = Affine::similarity(&src, &dst).unwrap();
        for (p, q) in src.iter().zip(&dst) {
            let r = m.apply(*p);
            assert!((r.x - q.0).abs() < 1e-3 && (r.y - q.1).abs() < 1e-3);
        }
        let inv = m.inverse().unwrap();
        let back = inv.apply(m.apply(src[0]));
        assert!((back.x - src[0].x).abs() < 1e-3);
    }

    #[test]
    fn degenerate_landmarks_are_an_error() {
        let p = [Point { x: 5.0, y: 5.0 }; 5];
        assert!(matches!(Affine::similarity(&p, &ARCFACE_112), Err(Error::DegenerateFace { .. })));
        let nan = [Point { x: f32::NAN, y: 0.0 }; 5];
        assert!(matches!(Affine::similarity(&nan, &ARCFACE_112), Err(Error::DegenerateFace { .. })));
    }

    #[test]
    fn identity_warp_copies_pixels() {
        let img = RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 10, y as u8 * 10, 7]));
        let id = Affine([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
        let out = warp(&img, &id, 8).unwrap();
        assert_eq!(out, img);
    }
}
