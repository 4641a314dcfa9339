//! The few pieces of dlib's linear algebra and geometry that the shape predictor and the
//! face chip depend on, reproduced operation for operation (same formulas, same evaluation
//! order, same intermediate precision) so that results round exactly like dlib's.
//!
//! Sources (dlib 20.0.1, built without LAPACK as in the `dlib-bin` wheels):
//! `matrix/matrix_la.h` (`svd4`, `svd3`, `pinv`), `geometry/point_transforms.h`
//! (`find_affine_transform`, `find_similarity_transform`, `rotate_point`) and
//! `geometry/drectangle.h`.
//!
//! dlib's matrix expression templates matter for bit-exactness in two places:
//! `matrix / scalar` is evaluated as `matrix * (1 / scalar)`, and a scalar factor in a
//! product (`c * r * v`) is moved outside the product (`(r * v) * c`).

/// A dense row-major matrix of `f64`, only for the tiny (2x2, 3x3) systems used here.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mat {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Mat {
    pub(crate) fn zeros(rows: usize, cols: usize) -> Mat {
        Mat { rows, cols, data: vec![0.0; rows * cols] }
    }

    #[inline]
    pub(crate) fn get(&self, r: usize, c: usize) -> f64 {
        self.data.get(r * self.cols + c).copied().unwrap_or(f64::NAN)
    }

    #[inline]
    pub(crate) fn set(&mut self, r: usize, c: usize, v: f64) {
        if let Some(x) = self.data.get_mut(r * self.cols + c) {
            *x = v;
        }
    }
}

/// dlib's `svd4` (the Golub-Reinsch "Handbook" SVD) with `SVD_SKINNY_U` and `withv`.
///
/// Requires `a.rows >= a.cols`. Returns `(u, q, v)` with `a = u * diag(q) * v'`, `u` being
/// `rows x cols` and `v` `cols x cols`.
pub(crate) fn svd4(a: &Mat) -> (Mat, Vec<f64>, Mat) {
    let m = a.rows;
    let n = a.cols;
    let mut u = a.clone();
    let mut v = Mat::zeros(n, n);
    let mut q = vec![0.0f64; n];
    let mut e = vec![0.0f64; n];
    if n == 0 || m < n {
        return (u, q, v);
    }
    // Small helpers with the C code's element syntax; indices are always in range for
    // finite input, and out of range reads give NaN instead of a panic.
    let qg = |q: &[f64], i: usize| q.get(i).copied().unwrap_or(f64::NAN);

    let eps0 = f64::EPSILON;
    let tol = f64::MIN_POSITIVE / eps0;

    // Householder's reduction to bidiagonal form.
    let mut g = 0.0f64;
    let mut x = 0.0f64;
    let mut l = 0usize;
    let (mut f, mut h, mut s, mut y, mut z, mut c);
    for i in 0..n {
        e[i] = g;
        s = 0.0;
        l = i + 1;
        for j in i..m {
            s += u.get(j, i) * u.get(j, i);
        }
        if s < tol {
            g = 0.0;
        } else {
            f = u.get(i, i);
            g = if f < 0.0 { s.sqrt() } else { -s.sqrt() };
            h = f * g - s;
            u.set(i, i, f - g);
            for j in l..n {
                s = 0.0;
                for k in i..m {
                    s += u.get(k, i) * u.get(k, j);
                }
                f = s / h;
                for k in i..m {
                    let val = u.get(k, j) + f * u.get(k, i);
                    u.set(k, j, val);
                }
            }
        }
        q[i] = g;
        s = 0.0;
        for j in l..n {
            s += u.get(i, j) * u.get(i, j);
        }
        if s < tol {
            g = 0.0;
        } else {
            f = u.get(i, i + 1);
            g = if f < 0.0 { s.sqrt() } else { -s.sqrt() };
            h = f * g - s;
            u.set(i, i + 1, f - g);
            for j in l..n {
                e[j] = u.get(i, j) / h;
            }
            for j in l..m {
                s = 0.0;
                for k in l..n {
                    s += u.get(j, k) * u.get(i, k);
                }
                for k in l..n {
                    let val = u.get(j, k) + s * e[k];
                    u.set(j, k, val);
                }
            }
        }
        y = q[i].abs() + e[i].abs();
        if y > x {
            x = y;
        }
    }

    // Accumulation of right-hand transformations.
    for i in (0..n).rev() {
        if g != 0.0 {
            h = u.get(i, i + 1) * g;
            for j in l..n {
                v.set(j, i, u.get(i, j) / h);
            }
            for j in l..n {
                s = 0.0;
                for k in l..n {
                    s += u.get(i, k) * v.get(k, j);
                }
                for k in l..n {
                    let val = v.get(k, j) + s * v.get(k, i);
                    v.set(k, j, val);
                }
            }
        }
        for j in l..n {
            v.set(i, j, 0.0);
            v.set(j, i, 0.0);
        }
        v.set(i, i, 1.0);
        g = e[i];
        l = i;
    }

    // Accumulation of left-hand transformations (skinny U: nothing to pad).
    for i in (0..n).rev() {
        l = i + 1;
        g = q[i];
        for j in l..n {
            u.set(i, j, 0.0);
        }
        if g != 0.0 {
            h = u.get(i, i) * g;
            for j in l..n {
                s = 0.0;
                for k in l..m {
                    s += u.get(k, i) * u.get(k, j);
                }
                f = s / h;
                for k in i..m {
                    let val = u.get(k, j) + f * u.get(k, i);
                    u.set(k, j, val);
                }
            }
            for j in i..m {
                let val = u.get(j, i) / g;
                u.set(j, i, val);
            }
        } else {
            for j in i..m {
                u.set(j, i, 0.0);
            }
        }
        let val = u.get(i, i) + 1.0;
        u.set(i, i, val);
    }

    // Diagonalization of the bidiagonal form.
    let eps = eps0 * x;
    'k_loop: for k in (0..n).rev() {
        let mut iter = 0u32;
        loop {
            // test_f_splitting
            let mut to_convergence_test = false;
            let mut ll = k;
            loop {
                if e[ll].abs() <= eps {
                    to_convergence_test = true;
                    break;
                }
                if ll == 0 {
                    // Unreachable for finite input (e[0] is always 0); dlib would read
                    // q(-1) here. Treat as converged to stay in bounds.
                    to_convergence_test = true;
                    break;
                }
                if qg(&q, ll - 1).abs() <= eps {
                    break;
                }
                ll -= 1;
            }
            l = ll;
            if !to_convergence_test {
                // cancellation of e(l) if l > 0
                c = 0.0;
                s = 1.0;
                let l1 = l - 1;
                for i in l..=k {
                    f = s * e[i];
                    e[i] *= c;
                    if f.abs() <= eps {
                        break;
                    }
                    g = q[i];
                    h = (f * f + g * g).sqrt();
                    q[i] = h;
                    c = g / h;
                    s = -f / h;
                    for j in 0..m {
                        y = u.get(j, l1);
                        z = u.get(j, i);
                        u.set(j, l1, y * c + z * s);
                        u.set(j, i, -y * s + z * c);
                    }
                }
            }
            // test_f_convergence
            z = q[k];
            if l == k {
                break;
            }
            // shift from bottom 2x2 minor
            iter += 1;
            if iter > 300 {
                break 'k_loop;
            }
            x = q[l];
            y = q[k - 1];
            g = e[k - 1];
            h = e[k];
            f = ((y - z) * (y + z) + (g - h) * (g + h)) / (2.0 * h * y);
            g = (f * f + 1.0).sqrt();
            f = ((x - z) * (x + z) + h * (y / (if f < 0.0 { f - g } else { f + g }) - h)) / x;

            // next QR transformation
            c = 1.0;
            s = 1.0;
            for i in (l + 1)..=k {
                g = e[i];
                y = q[i];
                h = s * g;
                g *= c;
                z = (f * f + h * h).sqrt();
                e[i - 1] = z;
                c = f / z;
                s = h / z;
                f = x * c + g * s;
                g = -x * s + g * c;
                h = y * s;
                y *= c;
                for j in 0..n {
                    x = v.get(j, i - 1);
                    z = v.get(j, i);
                    v.set(j, i - 1, x * c + z * s);
                    v.set(j, i, -x * s + z * c);
                }
                z = (f * f + h * h).sqrt();
                q[i - 1] = z;
                if z != 0.0 {
                    c = f / z;
                    s = h / z;
                }
                f = c * g + s * y;
                x = -s * g + c * y;
                for j in 0..m {
                    y = u.get(j, i - 1);
                    z = u.get(j, i);
                    u.set(j, i - 1, y * c + z * s);
                    u.set(j, i, -y * s + z * c);
                }
            }
            e[l] = 0.0;
            e[k] = f;
            q[k] = x;
        }
        // convergence
        if z < 0.0 {
            q[k] = -z;
            for j in 0..n {
                let val = -v.get(j, k);
                v.set(j, k, val);
            }
        }
    }
    (u, q, v)
}

/// dlib's `pinv(m)` (tolerance 0) for a matrix with `rows >= cols` (the `pinv_helper` path).
fn pinv_tall(a: &Mat) -> Mat {
    let (u, w, v) = svd4(a);
    // max(): the element with the largest value (dlib compares values, not magnitudes).
    let mut maxw = w.first().copied().unwrap_or(0.0);
    for &x in &w {
        if x > maxw {
            maxw = x;
        }
    }
    let eps = f64::EPSILON * (a.rows.max(a.cols) as f64) * maxw;
    let rw: Vec<f64> = w
        .iter()
        .map(|&x| {
            let x = if x >= eps || x <= -eps { x } else { 0.0 };
            if x != 0.0 { 1.0 / x } else { 0.0 }
        })
        .collect();
    // tmp(scale_columns(v, rw)) * trans(u)
    let n = a.cols;
    let mut sv = Mat::zeros(n, n);
    for r in 0..n {
        for c in 0..n {
            sv.set(r, c, v.get(r, c) * rw.get(c).copied().unwrap_or(0.0));
        }
    }
    let mut out = Mat::zeros(n, a.rows);
    for r in 0..n {
        for c in 0..a.rows {
            let mut t = sv.get(r, 0) * u.get(c, 0);
            for k in 1..n {
                t += sv.get(r, k) * u.get(c, k);
            }
            out.set(r, c, t);
        }
    }
    out
}

/// dlib's `point_transform_affine`: `p -> m * p + b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AffineTransform {
    pub(crate) m: [[f64; 2]; 2],
    pub(crate) b: [f64; 2],
}

impl AffineTransform {
    /// `m * p + b`, evaluated like dlib (`(m00*x + m01*y) + b0`).
    #[inline]
    pub(crate) fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        [(self.m[0][0] * p[0] + self.m[0][1] * p[1]) + self.b[0], (self.m[1][0] * p[0] + self.m[1][1] * p[1]) + self.b[1]]
    }
}

/// dlib's `find_affine_transform(from, to)`: least squares via `Q * pinv(P)`.
///
/// Only the three-point case is needed (and implemented): both callers map three corners.
pub(crate) fn find_affine_transform(from: &[[f64; 2]; 3], to: &[[f64; 2]; 3]) -> AffineTransform {
    let n = 3;
    let mut p = Mat::zeros(3, n);
    for (i, f) in from.iter().enumerate() {
        p.set(0, i, f[0]);
        p.set(1, i, f[1]);
        p.set(2, i, 1.0);
    }
    // pinv(P): P is 3 x 3, so not wider than tall -> pinv_helper(P) directly.
    let pi = pinv_tall(&p);
    let mut m = [[0.0f64; 3]; 2];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, out) in row.iter_mut().enumerate() {
            let mut t = to[0][r] * pi.get(0, c);
            for (k, tk) in to.iter().enumerate().skip(1) {
                t += tk[r] * pi.get(k, c);
            }
            *out = t;
        }
    }
    AffineTransform { m: [[m[0][0], m[0][1]], [m[1][0], m[1][1]]], b: [m[0][2], m[1][2]] }
}

/// dlib's `find_similarity_transform(from, to)` (Umeyama), for any number of points >= 2.
pub(crate) fn find_similarity_transform(from: &[[f64; 2]], to: &[[f64; 2]]) -> AffineTransform {
    let n = from.len().min(to.len());
    let nf = n as f64;
    let mut mean_from = [0.0f64; 2];
    let mut mean_to = [0.0f64; 2];
    for i in 0..n {
        mean_from[0] += from[i][0];
        mean_from[1] += from[i][1];
        mean_to[0] += to[i][0];
        mean_to[1] += to[i][1];
    }
    // dlib::vector /= scalar: true division.
    mean_from[0] /= nf;
    mean_from[1] /= nf;
    mean_to[0] /= nf;
    mean_to[1] /= nf;

    // (dlib also accumulates sigma_to, which it never uses.)
    let mut sigma_from = 0.0f64;
    let mut cov = [[0.0f64; 2]; 2];
    for i in 0..n {
        let df = [from[i][0] - mean_from[0], from[i][1] - mean_from[1]];
        let dt = [to[i][0] - mean_to[0], to[i][1] - mean_to[1]];
        sigma_from += df[0] * df[0] + df[1] * df[1];
        for r in 0..2 {
            for c in 0..2 {
                cov[r][c] += dt[r] * df[c];
            }
        }
    }
    sigma_from /= nf;
    // matrix /= scalar is matrix * (1/scalar) in dlib.
    let inv_n = 1.0 / nf;
    for row in &mut cov {
        for x in row.iter_mut() {
            *x *= inv_n;
        }
    }

    let mut cm = Mat::zeros(2, 2);
    for r in 0..2 {
        for c in 0..2 {
            cm.set(r, c, cov[r][c]);
        }
    }
    let (um, w, vm) = svd4(&cm);
    let u = [[um.get(0, 0), um.get(0, 1)], [um.get(1, 0), um.get(1, 1)]];
    let v = [[vm.get(0, 0), vm.get(0, 1)], [vm.get(1, 0), vm.get(1, 1)]];
    let d = [[w.first().copied().unwrap_or(0.0), 0.0], [0.0, w.get(1).copied().unwrap_or(0.0)]];
    let det2 = |a: &[[f64; 2]; 2]| a[0][0] * a[1][1] - a[0][1] * a[1][0];
    let mut s = [[1.0f64, 0.0], [0.0, 1.0]];
    let det_cov = det2(&cov);
    if det_cov < 0.0 || (det_cov == 0.0 && det2(&u) * det2(&v) < 0.0) {
        if d[1][1] < d[0][0] {
            s[1][1] = -1.0;
        } else {
            s[0][0] = -1.0;
        }
    }
    // r = u * s * trans(v)
    let mut us = [[0.0f64; 2]; 2];
    for i in 0..2 {
        for k in 0..2 {
            us[i][k] = u[i][0] * s[0][k] + u[i][1] * s[1][k];
        }
    }
    let mut r = [[0.0f64; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            r[i][j] = us[i][0] * v[j][0] + us[i][1] * v[j][1];
        }
    }
    let mut c = 1.0f64;
    if sigma_from != 0.0 {
        // trace(d*s) = sum(diag(d*s)), starting from 0
        let ds00 = d[0][0] * s[0][0] + d[0][1] * s[1][0];
        let ds11 = d[1][0] * s[0][1] + d[1][1] * s[1][1];
        let tr = 0.0 + ds00 + ds11;
        c = 1.0 / sigma_from * tr;
    }
    // t = mean_to - c*r*mean_from, with dlib moving the scalar outside: (r*mean_from)*c
    let t = [
        mean_to[0] - (r[0][0] * mean_from[0] + r[0][1] * mean_from[1]) * c,
        mean_to[1] - (r[1][0] * mean_from[0] + r[1][1] * mean_from[1]) * c,
    ];
    AffineTransform { m: [[r[0][0] * c, r[0][1] * c], [r[1][0] * c, r[1][1] * c]], b: t }
}

/// dlib's `rotate_point(center, p, angle)`.
#[inline]
pub(crate) fn rotate_point(center: [f64; 2], p: [f64; 2], angle: f64) -> [f64; 2] {
    let (sin, cos) = (angle.sin(), angle.cos());
    let dx = p[0] - center[0];
    let dy = p[1] - center[1];
    let x = cos * dx - sin * dy;
    let y = sin * dx + cos * dy;
    [x + center[0], y + center[1]]
}

/// `x.floor() as i64` (saturating, NaN to 0) without a libm call.
#[inline]
pub(crate) fn floor_i64(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) > x { t.saturating_sub(1) } else { t }
}

/// dlib's conversion of a floating point vector to an integer `point`: `floor(x + 0.5)`.
#[inline]
pub(crate) fn round_to_point(p: [f64; 2]) -> (i64, i64) {
    (floor_i64(p[0] + 0.5), floor_i64(p[1] + 0.5))
}

/// dlib's `drectangle` (inclusive floating point rectangle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DRect {
    pub(crate) l: f64,
    pub(crate) t: f64,
    pub(crate) r: f64,
    pub(crate) b: f64,
}

impl DRect {
    /// The default (empty) drectangle.
    pub(crate) const EMPTY: DRect = DRect { l: 0.0, t: 0.0, r: -1.0, b: -1.0 };

    pub(crate) fn is_empty(&self) -> bool {
        self.t > self.b || self.l > self.r
    }
    pub(crate) fn width(&self) -> f64 {
        if self.is_empty() { 0.0 } else { self.r - self.l + 1.0 }
    }
    pub(crate) fn height(&self) -> f64 {
        if self.is_empty() { 0.0 } else { self.b - self.t + 1.0 }
    }
    pub(crate) fn area(&self) -> f64 {
        self.width() * self.height()
    }
    pub(crate) fn center(&self) -> [f64; 2] {
        [(self.l + self.r) / 2.0, (self.t + self.b) / 2.0]
    }
    pub(crate) fn tl(&self) -> [f64; 2] {
        [self.l, self.t]
    }
    pub(crate) fn tr(&self) -> [f64; 2] {
        [self.r, self.t]
    }
    pub(crate) fn bl(&self) -> [f64; 2] {
        [self.l, self.b]
    }
    pub(crate) fn br(&self) -> [f64; 2] {
        [self.r, self.b]
    }
    /// `*this + rhs` (bounding union, empties ignored).
    pub(crate) fn union(&self, rhs: &DRect) -> DRect {
        if rhs.is_empty() {
            *self
        } else if self.is_empty() {
            *rhs
        } else {
            DRect { l: self.l.min(rhs.l), t: self.t.min(rhs.t), r: self.r.max(rhs.r), b: self.b.max(rhs.b) }
        }
    }
    pub(crate) fn point(p: [f64; 2]) -> DRect {
        DRect { l: p[0], t: p[1], r: p[0], b: p[1] }
    }
    pub(crate) fn intersect(&self, rhs: &DRect) -> DRect {
        DRect { l: self.l.max(rhs.l), t: self.t.max(rhs.t), r: self.r.min(rhs.r), b: self.b.min(rhs.b) }
    }
    pub(crate) fn grow(&self, num: f64) -> DRect {
        // shrink_rect(rect, -num)
        let num = -num;
        DRect { l: self.l + num, t: self.t + num, r: self.r - num, b: self.b - num }
    }
    pub(crate) fn translate(&self, dx: f64, dy: f64) -> DRect {
        DRect { l: self.l + dx, t: self.t + dy, r: self.r + dx, b: self.b + dy }
    }
    /// `centered_drect(p, width, height)`.
    pub(crate) fn centered(p: [f64; 2], width: f64, height: f64) -> DRect {
        let w = width - 1.0;
        let h = height - 1.0;
        DRect { l: p[0] - w / 2.0, t: p[1] - h / 2.0, r: p[0] + w / 2.0, b: p[1] + h / 2.0 }
    }
    /// `pyramid_down<2>::rect_down`.
    pub(crate) fn pyramid_down(&self) -> DRect {
        let down = |p: [f64; 2]| [p[0] / 2.0 - 1.25, p[1] / 2.0 - 0.75];
        // drectangle(p1, p2) = drectangle(p1) + drectangle(p2)
        DRect::point(down(self.tl())).union(&DRect::point(down(self.br())))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn approx(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn svd_reconstructs() {
        let mut a = Mat::zeros(3, 3);
        let vals = [0.0, 149.0, 0.0, 0.0, 0.0, 149.0, 1.0, 1.0, 1.0];
        for (i, v) in vals.iter().enumerate() {
            a.set(i / 3, i % 3, *v);
        }
        let (u, q, v) = svd4(&a);
        for r in 0..3 {
            for c in 0..3 {
                let mut s = 0.0;
                for k in 0..3 {
                    s += u.get(r, k) * q[k] * v.get(c, k);
                }
                assert!(approx(s, a.get(r, c)), "{r},{c}: {s}");
            }
        }
        assert!(q.iter().all(|&x| x >= 0.0));
    }

    #[test]
    fn affine_maps_points() {
        let from = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]];
        let to = [[10.0, 20.0], [110.0, 20.0], [110.0, 220.0]];
        let t = find_affine_transform(&from, &to);
        for (f, g) in from.iter().zip(&to) {
            let p = t.apply(*f);
            assert!(approx(p[0], g[0]) && approx(p[1], g[1]), "{p:?} vs {g:?}");
        }
    }

    #[test]
    fn similarity_recovers_rotation_scale() {
        let ang = 0.3f64;
        let sc = 2.5;
        let from = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 3.0], [-1.0, 0.5]];
        let to: Vec<[f64; 2]> = from
            .iter()
            .map(|p| [sc * (ang.cos() * p[0] - ang.sin() * p[1]) + 7.0, sc * (ang.sin() * p[0] + ang.cos() * p[1]) - 3.0])
            .collect();
        let t = find_similarity_transform(&from, &to);
        for (f, g) in from.iter().zip(&to) {
            let p = t.apply(*f);
            assert!(approx(p[0], g[0]) && approx(p[1], g[1]), "{p:?} vs {g:?}");
        }
    }

    #[test]
    fn floor_i64_is_floor() {
        for x in [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.5, -2.5, 1e300, -1e300, 9.3e18, -9.3e18, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(floor_i64(x), x.floor() as i64, "{x}");
        }
        for i in -1000..1000 {
            let x = f64::from(i) * 0.37;
            assert_eq!(floor_i64(x), x.floor() as i64, "{x}");
        }
    }

    #[test]
    fn svd_of_nan_does_not_panic() {
        let mut a = Mat::zeros(2, 2);
        a.set(0, 0, f64::NAN);
        a.set(1, 1, f64::INFINITY);
        let _ = svd4(&a);
        let _ = find_similarity_transform(&[[f64::NAN, 0.0], [1.0, 1.0]], &[[0.0, 0.0], [1.0, 1.0]]);
    }
}
