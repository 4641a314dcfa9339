//! dlib's aligned face chip: `get_face_chip_details(shape, size, padding)` followed by
//! `extract_image_chips` with bilinear interpolation, i.e. `dlib.get_face_chip(img, shape,
//! size, padding)` and the crop `dlib.face_recognition_model_v1` embeds.
//!
//! Port of `dlib/image_transforms/interpolation.h` and the `pyramid_down<2>` RGB overload of
//! `dlib/image_transforms/image_pyramid.h` (dlib 20.0.1). When the chip is much smaller than
//! the face, dlib first halves the (cropped) image with its 5x5 Gaussian pyramid until the
//! chip is no more than 2x smaller, then samples it bilinearly; both steps are reproduced
//! here, down to the integer arithmetic and the truncation of the interpolated values.

use image::RgbImage;

use super::DlibError;
use super::geometry::{DRect, find_affine_transform, find_similarity_transform, floor_i64, rotate_point};

/// Largest accepted chip side, to bound the output allocation.
pub const MAX_CHIP_SIZE: u32 = 4096;

/// Largest accepted landmark coordinate magnitude (pixels).
const MAX_COORD: f64 = 1e7;

/// Upper bound on pyramid depth loops (only reachable with absurd inputs).
const MAX_DEPTH: usize = 64;

/// dlib's 5-point template (`get_face_chip_details`), in chip units before padding.
const TEMPLATE_5: [[f64; 2]; 5] = [
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
];

/// dlib's mean face shape for the 68-point (iBUG 300-W) landmarks 17..=67
/// (`get_face_chip_details`), x then y, in chip units before padding.
const MEAN_FACE_68_X: [f64; 51] = [
    0.000213256,
    0.0752622,
    0.18113,
    0.29077,
    0.393397,
    0.586856,
    0.689483,
    0.799124,
    0.904991,
    0.98004,
    0.490127,
    0.490127,
    0.490127,
    0.490127,
    0.36688,
    0.426036,
    0.490127,
    0.554217,
    0.613373,
    0.121737,
    0.187122,
    0.265825,
    0.334606,
    0.260918,
    0.182743,
    0.645647,
    0.714428,
    0.793132,
    0.858516,
    0.79751,
    0.719335,
    0.254149,
    0.340985,
    0.428858,
    0.490127,
    0.551395,
    0.639268,
    0.726104,
    0.642159,
    0.556721,
    0.490127,
    0.423532,
    0.338094,
    0.290379,
    0.428096,
    0.490127,
    0.552157,
    0.689874,
    0.553364,
    0.490127,
    0.42689,
];
const MEAN_FACE_68_Y: [f64; 51] = [
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805,
    0.515625, 0.587326, 0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733,
    0.179852, 0.178758, 0.216423, 0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746, 0.784792, 0.824182, 0.831803, 0.824182,
];

/// dlib's `chip_details`: where in the image the chip is taken from.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ChipDetails {
    rect: DRect,
    angle: f64,
    rows: u64,
    cols: u64,
}

/// An RGB raster (interleaved, row-major), possibly empty.
#[derive(Debug, Clone, Default)]
struct Raster {
    w: usize,
    h: usize,
    data: Vec<u8>,
}

impl Raster {
    #[inline]
    fn px(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.w + x) * 3;
        match self.data.get(i..i + 3) {
            Some(&[r, g, b]) => [r, g, b],
            _ => [0, 0, 0],
        }
    }
}

/// dlib's integer `rectangle` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IRect {
    l: i64,
    t: i64,
    r: i64,
    b: i64,
}

impl IRect {
    const EMPTY: IRect = IRect { l: 0, t: 0, r: -1, b: -1 };
    fn is_empty(&self) -> bool {
        self.t > self.b || self.l > self.r
    }
    fn width(&self) -> i64 {
        if self.is_empty() { 0 } else { self.r - self.l + 1 }
    }
    fn height(&self) -> i64 {
        if self.is_empty() { 0 } else { self.b - self.t + 1 }
    }
    /// `rectangle + rectangle`.
    fn union(&self, rhs: &IRect) -> IRect {
        if rhs.is_empty() {
            *self
        } else if self.is_empty() {
            *rhs
        } else {
            IRect { l: self.l.min(rhs.l), t: self.t.min(rhs.t), r: self.r.max(rhs.r), b: self.b.max(rhs.b) }
        }
    }
    fn intersect(&self, rhs: &IRect) -> IRect {
        IRect { l: self.l.max(rhs.l), t: self.t.max(rhs.t), r: self.r.min(rhs.r), b: self.b.min(rhs.b) }
    }
    /// `drectangle -> rectangle` (`std::lround` of each side).
    fn from_drect(d: &DRect) -> IRect {
        let lr = |x: f64| x.round() as i64;
        IRect { l: lr(d.l), t: lr(d.t), r: lr(d.r), b: lr(d.b) }
    }
}

/// dlib's aligned face chip for 5 landmarks in dlib's order (as returned by the 5-point
/// shape predictor), equal to `dlib.get_face_chip(img, shape, size, padding)`.
///
/// face_recognition and `dlib.face_recognition_model_v1` use `size = 150, padding = 0.25`.
/// dlib's Python binding passes `padding` through a C++ `float`; for paddings that are not
/// exactly representable in `f32` (e.g. 0.1), pass `f64::from(padding as f32)` to
/// reproduce the Python results bit for bit.
///
/// # Errors
/// [`DlibError::InvalidArgument`] if `size` is 0 or above [`MAX_CHIP_SIZE`], `padding` is
/// negative or not finite, or a landmark is not finite or absurdly far (beyond 1e7 px).
pub fn face_chip(img: &RgbImage, landmarks: &[(f64, f64); 5], size: u32, padding: f64) -> Result<RgbImage, DlibError> {
    face_chip_from_shape(img, landmarks, size, padding)
}

/// dlib's aligned face chip for a 5-point or a 68-point (iBUG 300-W, as
/// `shape_predictor_68_face_landmarks.dat` gives them) shape: `get_face_chip_details` aligns
/// 5-point shapes on their 5 points and 68-point shapes on 33 of them (nose, eyes, upper
/// lip; not the jaw, eyebrows or lower lip), then `extract_image_chip` as in [`face_chip`].
///
/// # Errors
/// As [`face_chip`]; also [`DlibError::InvalidArgument`] for a shape of another size.
pub fn face_chip_from_shape(img: &RgbImage, landmarks: &[(f64, f64)], size: u32, padding: f64) -> Result<RgbImage, DlibError> {
    if landmarks.len() != 5 && landmarks.len() != 68 {
        return Err(DlibError::InvalidArgument(format!("a face chip needs 5 or 68 landmarks, not {}", landmarks.len())));
    }
    if size == 0 || size > MAX_CHIP_SIZE {
        return Err(DlibError::InvalidArgument(format!("chip size {size} is not in 1..={MAX_CHIP_SIZE}")));
    }
    if !(padding.is_finite() && padding >= 0.0) {
        return Err(DlibError::InvalidArgument(format!("chip padding {padding} is not a finite value >= 0")));
    }
    for &(x, y) in landmarks {
        if !(x.is_finite() && y.is_finite() && x.abs() <= MAX_COORD && y.abs() <= MAX_COORD) {
            return Err(DlibError::InvalidArgument(format!("landmark ({x}, {y}) is not a finite in-range point")));
        }
    }
    let details = face_chip_details(landmarks, u64::from(size), padding);
    Ok(extract_image_chip(img, &details))
}

/// `get_face_chip_details(det, size, padding)` for a 5- or 68-point detection.
fn face_chip_details(landmarks: &[(f64, f64)], size: u64, padding: f64) -> ChipDetails {
    let sz = size as f64;
    let (from, to): (Vec<[f64; 2]>, Vec<[f64; 2]>) = if landmarks.len() == 5 {
        // p = (padding + p) / (2*padding + 1): a matrix expression in dlib, where dividing
        // by a scalar multiplies by its reciprocal.
        let inv = 1.0 / (2.0 * padding + 1.0);
        let from = TEMPLATE_5.iter().map(|p| [((p[0] + padding) * inv) * sz, ((p[1] + padding) * inv) * sz]).collect();
        (from, landmarks.iter().map(|&(x, y)| [x, y]).collect())
    } else {
        // Points 17..=67 without the eyebrows (17..=26) and the lower lip (55..=59, 65..=67);
        // here the division is a plain double one.
        let keep = |i: usize| !((17..=26).contains(&i) || (55..=59).contains(&i) || (65..=67).contains(&i));
        (17..landmarks.len().min(68))
            .filter(|&i| keep(i))
            .map(|i| {
                let (mx, my) = (MEAN_FACE_68_X[i - 17], MEAN_FACE_68_Y[i - 17]);
                let p = [(padding + mx) / (2.0 * padding + 1.0), (padding + my) / (2.0 * padding + 1.0)];
                let (x, y) = landmarks[i];
                ([p[0] * sz, p[1] * sz], [x, y])
            })
            .unzip()
    };

    // chip_details(chip_points, img_points, chip_dims(size, size))
    let (rows, cols) = (size, size);
    let tform = find_similarity_transform(&from, &to);
    let p = [tform.m[0][0] * 1.0 + tform.m[0][1] * 0.0, tform.m[1][0] * 1.0 + tform.m[1][1] * 0.0];
    let angle = p[1].atan2(p[0]);
    let scale = (p[0] * p[0] + p[1] * p[1]).sqrt();
    let center = tform.apply([cols as f64 / 2.0, rows as f64 / 2.0]);
    let rect = DRect::centered(center, cols as f64 * scale, rows as f64 * scale);
    ChipDetails { rect, angle, rows, cols }
}

/// `extract_image_chips(img, {details}, chips)` with `interpolate_bilinear`.
fn extract_image_chip(img: &RgbImage, details: &ChipDetails) -> RgbImage {
    let (iw, ih) = (img.width(), img.height());
    let img_rect = IRect { l: 0, t: 0, r: i64::from(iw) - 1, b: i64::from(ih) - 1 };
    let img_drect = DRect { l: 0.0, t: 0.0, r: img_rect.r as f64, b: img_rect.b as f64 };
    let chip_size = (details.rows * details.cols) as f64;

    // Depth of the pyramid and the crop (with a border for the filter) it is built from.
    let mut grow = 2.0f64;
    let mut r = details.rect.pyramid_down();
    let mut depth = 0usize;
    while r.area() > chip_size && depth < MAX_DEPTH {
        r = r.pyramid_down();
        depth += 1;
        grow = grow * 2.0 + 2.0;
    }
    let cent = details.rect.center();
    let mut rot_rect = DRect::EMPTY;
    for corner in [details.rect.tl(), details.rect.tr(), details.rect.bl(), details.rect.br()] {
        rot_rect = rot_rect.union(&DRect::point(rotate_point(cent, corner, details.angle)));
    }
    let bbox = IRect::EMPTY.union(&IRect::from_drect(&rot_rect.grow(grow).intersect(&img_drect)));

    // Fast path: no rotation or scaling, plain copy.
    if details.angle == 0.0 && details.rows as f64 == details.rect.height() && details.cols as f64 == details.rect.width() {
        return basic_extract(img, &IRect::from_drect(&details.rect));
    }

    let rows = details.rows as usize;
    let cols = details.cols as usize;

    // Which pyramid level to sample from.
    let mut level: Option<usize> = None;
    let mut rect = details.rect.translate(-bbox.l as f64, -bbox.t as f64);
    while rect.pyramid_down().area() > chip_size && level.map_or(0, |l| l + 1) < MAX_DEPTH {
        level = Some(level.map_or(0, |l| l + 1));
        rect = rect.pyramid_down();
    }

    // The (clipped) crop of the image, then its pyramid down to the needed level.
    let mut src = crop(img, &bbox.intersect(&img_rect));
    if let Some(lv) = level {
        for _ in 0..=lv {
            src = pyramid_down(&src);
        }
    }

    let from = [[0.0, 0.0], [cols as f64 - 1.0, 0.0], [0.0, rows as f64 - 1.0]];
    let rc = rect.center();
    let to = [
        rotate_point(rc, rect.tl(), details.angle),
        rotate_point(rc, rect.tr(), details.angle),
        rotate_point(rc, rect.bl(), details.angle),
    ];
    let trns = find_affine_transform(&from, &to);

    let mut out = vec![0u8; rows * cols * 3];
    for (r, row) in out.chunks_exact_mut(cols * 3).enumerate() {
        for (c, px) in row.chunks_exact_mut(3).enumerate() {
            let p = trns.apply([c as f64, r as f64]);
            if let Some(v) = bilinear(&src, p) {
                px.copy_from_slice(&v);
            }
        }
    }
    RgbImage::from_raw(cols as u32, rows as u32, out).unwrap_or_default()
}

/// `impl::basic_extract_image_chip`: copy `location` out of `img`, zero outside.
fn basic_extract(img: &RgbImage, location: &IRect) -> RgbImage {
    let (w, h) = (location.width().max(0), location.height().max(0));
    let mut out = RgbImage::new(w as u32, h as u32);
    let img_rect = IRect { l: 0, t: 0, r: i64::from(img.width()) - 1, b: i64::from(img.height()) - 1 };
    let area = location.intersect(&img_rect);
    if area.is_empty() {
        return out;
    }
    for y in area.t..=area.b {
        for x in area.l..=area.r {
            let p = *img.get_pixel(x as u32, y as u32);
            out.put_pixel((x - location.l) as u32, (y - location.t) as u32, p);
        }
    }
    out
}

/// Copies `r` (already inside the image, possibly empty) out of `img`.
fn crop(img: &RgbImage, r: &IRect) -> Raster {
    if r.is_empty() {
        return Raster::default();
    }
    let (w, h) = (r.width() as usize, r.height() as usize);
    let iw = img.width() as usize;
    let raw = img.as_raw();
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let start = ((r.t as usize + y) * iw + r.l as usize) * 3;
        match raw.get(start..start + w * 3) {
            Some(row) => data.extend_from_slice(row),
            None => return Raster::default(),
        }
    }
    Raster { w, h, data }
}

/// `pyramid_down<2>` for RGB images: 5x5 binomial filter, keep every other row/column,
/// integer arithmetic with a final `/ 256`.
fn pyramid_down(src: &Raster) -> Raster {
    if src.h <= 8 || src.w <= 8 {
        return Raster::default();
    }
    let tw = (src.w - 3) / 2;
    let th = src.h;
    // Row filter.
    let mut temp = vec![0u32; th * tw * 3];
    for r in 0..th {
        for c in 0..tw {
            let oc = 2 * c;
            let p = |k: usize| src.px(oc + k, r);
            let (p1, p2, p3, p4, p5) = (p(0), p(1), p(2), p(3), p(4));
            for ch in 0..3 {
                let v = u32::from(p1[ch]) + 4 * u32::from(p2[ch]) + 6 * u32::from(p3[ch]) + 4 * u32::from(p4[ch]) + u32::from(p5[ch]);
                if let Some(t) = temp.get_mut((r * tw + c) * 3 + ch) {
                    *t = v;
                }
            }
        }
    }
    // Column filter.
    let dh = (src.h - 3) / 2;
    let mut data = vec![0u8; dh * tw * 3];
    let t = |r: usize, c: usize, ch: usize| temp.get((r * tw + c) * 3 + ch).copied().unwrap_or(0);
    let mut dr = 0usize;
    let mut r = 2usize;
    while r + 2 < th {
        for c in 0..tw {
            for ch in 0..3 {
                let v = t(r - 2, c, ch) + 4 * t(r - 1, c, ch) + 6 * t(r, c, ch) + 4 * t(r + 1, c, ch) + t(r + 2, c, ch);
                if let Some(d) = data.get_mut((dr * tw + c) * 3 + ch) {
                    *d = (v / 256) as u8;
                }
            }
        }
        dr += 1;
        r += 2;
    }
    Raster { w: tw, h: dh, data }
}

/// `interpolate_bilinear`: `None` when the 2x2 neighbourhood leaves the image (dlib then
/// paints the pixel black).
#[inline]
fn bilinear(img: &Raster, p: [f64; 2]) -> Option<[u8; 3]> {
    let left = floor_i64(p[0]);
    let top = floor_i64(p[1]);
    let right = left.checked_add(1)?;
    let bottom = top.checked_add(1)?;
    if !(left >= 0 && top >= 0 && right < img.w as i64 && bottom < img.h as i64) {
        return None;
    }
    let lr = p[0] - left as f64;
    let tb = p[1] - top as f64;
    let (l, t, r, b) = (left as usize, top as usize, right as usize, bottom as usize);
    let (tl, tr, bl, br) = (img.px(l, t), img.px(r, t), img.px(l, b), img.px(r, b));
    let mut out = [0u8; 3];
    for ch in 0..3 {
        let v = (1.0 - tb) * ((1.0 - lr) * f64::from(tl[ch]) + lr * f64::from(tr[ch]))
            + tb * ((1.0 - lr) * f64::from(bl[ch]) + lr * f64::from(br[ch]));
        out[ch] = v as u8;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn test_image(w: u32, h: u32) -> RgbImage {
        // (x * 7, y * 5, x + y) modulo 256
        RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, ((x + y) % 256) as u8]))
    }

    /// Landmarks of a frontal face whose eye corners span `s` pixels around (cx, cy).
    fn face(cx: f64, cy: f64, s: f64) -> [(f64, f64); 5] {
        let mut out = [(0.0, 0.0); 5];
        for (o, t) in out.iter_mut().zip(&TEMPLATE_5) {
            *o = (cx + (t[0] - 0.5) * s, cy + (t[1] - 0.4) * s);
        }
        out
    }

    #[test]
    fn rejects_bad_arguments() {
        let img = test_image(64, 64);
        let lm = face(32.0, 32.0, 30.0);
        assert!(face_chip(&img, &lm, 0, 0.25).is_err());
        assert!(face_chip(&img, &lm, MAX_CHIP_SIZE + 1, 0.25).is_err());
        assert!(face_chip(&img, &lm, 150, -0.1).is_err());
        assert!(face_chip(&img, &lm, 150, f64::NAN).is_err());
        let mut bad = lm;
        bad[2].0 = f64::INFINITY;
        assert!(face_chip(&img, &bad, 150, 0.25).is_err());
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let img = test_image(64, 64);
        for lm in [face(32.0, 32.0, 30.0), face(-500.0, 900.0, 3.0), [(10.0, 10.0); 5], face(0.0, 0.0, 1e6)] {
            for size in [1, 2, 17, 150] {
                let chip = face_chip(&img, &lm, size, 0.25).unwrap();
                assert_eq!(chip.dimensions(), (size, size));
            }
        }
        let empty = RgbImage::new(0, 0);
        let chip = face_chip(&empty, &face(5.0, 5.0, 100.0), 150, 0.25).unwrap();
        assert!(chip.pixels().all(|p| p.0 == [0, 0, 0]));
    }

    #[test]
    fn upright_chip_samples_the_image() {
        // A face whose template maps 1:1 onto the image, on a linear gradient: the chip is
        // the crop starting at (100.5, 50.5) (dlib's centred-rectangle convention).
        let img = RgbImage::from_fn(400, 400, |x, y| image::Rgb([x.min(255) as u8, y.min(255) as u8, 77]));
        let pad = 0.25;
        let lm: [(f64, f64); 5] = std::array::from_fn(|i| {
            let t = TEMPLATE_5[i];
            (100.0 + (t[0] + pad) / (1.0 + 2.0 * pad) * 150.0, 50.0 + (t[1] + pad) / (1.0 + 2.0 * pad) * 150.0)
        });
        let chip = face_chip(&img, &lm, 150, pad).unwrap();
        assert_is_crop_at_100_50(&chip);
    }

    /// The 150 px chip equals the crop of the gradient test image at (100, 50), within 1.
    fn assert_is_crop_at_100_50(chip: &RgbImage) {
        let mut max_diff = 0i32;
        for y in 0..150u32 {
            for x in 0..150u32 {
                let a = chip.get_pixel(x, y).0;
                let want = [100 + x as i32, 50 + y as i32, 77];
                for c in 0..3 {
                    max_diff = max_diff.max((i32::from(a[c]) - want[c]).abs());
                }
            }
        }
        assert!(max_diff <= 1, "max diff {max_diff}");
    }

    #[test]
    fn pyramid_down_matches_dlib_shape_and_filter() {
        let src = Raster { w: 9, h: 9, data: vec![100; 9 * 9 * 3] };
        let d = pyramid_down(&src);
        assert_eq!((d.w, d.h), (3, 3));
        assert!(d.data.iter().all(|&v| v == 100)); // 100*256/256
        assert_eq!(pyramid_down(&Raster { w: 8, h: 20, data: vec![0; 8 * 20 * 3] }).w, 0);
    }

    #[test]
    fn chip_from_68_points_samples_the_image() {
        // A 68-point shape whose aligned points sit exactly on dlib's mean face at 150 px
        // (padding 0.25) placed at (100, 50): the chip is the crop there, as for 5 points.
        // Points dlib ignores (jaw, eyebrows, lower lip) are set far away: they must not matter.
        let img = RgbImage::from_fn(400, 400, |x, y| image::Rgb([x.min(255) as u8, y.min(255) as u8, 77]));
        let pad = 0.25;
        let mut shape = vec![(-5000.0, 9000.0); 68];
        for i in 17..68 {
            let (mx, my) = (MEAN_FACE_68_X[i - 17], MEAN_FACE_68_Y[i - 17]);
            shape[i] = (100.0 + (pad + mx) / (2.0 * pad + 1.0) * 150.0, 50.0 + (pad + my) / (2.0 * pad + 1.0) * 150.0);
        }
        let ignored = [17usize, 20, 26, 55, 57, 59, 65, 67];
        for &i in &ignored {
            shape[i] = (1.0, 2.0);
        }
        // Jaw points first (0..17) and the ignored ones must not change the result.
        let chip = face_chip_from_shape(&img, &shape, 150, pad).unwrap();
        let mut moved = shape.clone();
        for &i in &ignored {
            moved[i] = (333.0, 1.0);
        }
        moved[3] = (0.0, 0.0);
        assert_eq!(face_chip_from_shape(&img, &moved, 150, pad).unwrap(), chip);
        assert_is_crop_at_100_50(&chip);
        // A used point moved changes the chip.
        let mut nose = shape.clone();
        nose[30].0 += 40.0;
        assert_ne!(face_chip_from_shape(&img, &nose, 150, pad).unwrap(), chip);
    }

    #[test]
    fn shape_sizes_other_than_5_and_68_are_refused() {
        let img = test_image(64, 64);
        for n in [0usize, 4, 6, 67, 69, 194] {
            let err = face_chip_from_shape(&img, &vec![(10.0, 10.0); n], 150, 0.25).unwrap_err();
            assert!(err.to_string().contains("5 or 68 landmarks"), "{err}");
        }
        let lm = face(32.0, 32.0, 30.0);
        assert_eq!(face_chip_from_shape(&img, &lm, 150, 0.25).unwrap(), face_chip(&img, &lm, 150, 0.25).unwrap());
        let mut bad = vec![(10.0, 10.0); 68];
        bad[40].1 = f64::NAN;
        assert!(face_chip_from_shape(&img, &bad, 150, 0.25).is_err());
    }
}
