//! Points, boxes, IoU and non-maximum suppression.

/// A 2-D point in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    /// Horizontal coordinate, pixels from the left edge.
    pub x: f32,
    /// Vertical coordinate, pixels from the top edge.
    pub y: f32,
}

/// An axis-aligned box: top-left corner and size, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

impl Rect {
    /// Area (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union, 0 when either box is empty.
    ///
    /// ```
    /// use facecore::Rect;
    /// let a = Rect { x: 0.0, y: 0.0, width: 2.0, height: 2.0 };
    /// let b = Rect { x: 1.0, y: 0.0, width: 2.0, height: 2.0 };
    /// assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
    /// ```
    pub fn iou(&self, o: &Rect) -> f32 {
        let ix = (self.x + self.width).min(o.x + o.width) - self.x.max(o.x);
        let iy = (self.y + self.height).min(o.y + o.height) - self.y.max(o.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        let union = self.area() + o.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// The part of the box inside a `w` x `h` image.
    pub fn clip(&self, w: f32, h: f32) -> Rect {
        let x0 = self.x.clamp(0.0, w);
        let y0 = self.y.clamp(0.0, h);
        let x1 = (self.x + self.width).clamp(0.0, w);
        let y1 = (self.y + self.height).clamp(0.0, h);
        Rect { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }
    }

    pub(crate) fn is_finite(&self) -> bool {
        self.x.is_finite() && self.y.is_finite() && self.width.is_finite() && self.height.is_finite()
    }
}

/// Greedy non-maximum suppression: best score first, drop boxes overlapping a kept one by
/// more than `iou`.
pub(crate) fn nms<T>(mut items: Vec<T>, key: impl Fn(&T) -> (Rect, f32), iou: f32) -> Vec<T> {
    items.sort_by(|a, b| key(b).1.total_cmp(&key(a).1));
    let mut kept: Vec<T> = Vec::with_capacity(items.len().min(64));
    for it in items {
        let r = key(&it).0;
        if kept.iter().all(|k| key(k).0.iou(&r) <= iou) {
            kept.push(it);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: f32, y: f32, w: f32, h: f32) -> Rect {
        Rect { x, y, width: w, height: h }
    }

    #[test]
    fn iou_cases() {
        assert_eq!(r(0.0, 0.0, 1.0, 1.0).iou(&r(2.0, 2.0, 1.0, 1.0)), 0.0);
        assert!((r(0.0, 0.0, 1.0, 1.0).iou(&r(0.0, 0.0, 1.0, 1.0)) - 1.0).abs() < 1e-6);
        assert_eq!(r(0.0, 0.0, 0.0, 0.0).iou(&r(0.0, 0.0, 0.0, 0.0)), 0.0);
    }

    #[test]
    fn nms_keeps_best_of_overlapping() {
        let items = vec![(r(0.0, 0.0, 10.0, 10.0), 0.5), (r(1.0, 0.0, 10.0, 10.0), 0.9), (r(50.0, 50.0, 10.0, 10.0), 0.7)];
        let kept = nms(items, |t| *t, 0.3);
        assert_eq!(kept.iter().map(|t| t.1).collect::<Vec<_>>(), vec![0.9, 0.7]);
    }

    #[test]
    fn clip_inside_image() {
        let c = r(-5.0, -5.0, 20.0, 20.0).clip(10.0, 8.0);
        assert_eq!(c, r(0.0, 0.0, 10.0, 8.0));
    }
}
