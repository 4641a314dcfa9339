//! Passive liveness (presentation-attack detection): is the face in front of the camera a
//! live person, or a printed photo or a screen held up to it?
//!
//! Two small networks from minivision's Silent-Face-Anti-Spoofing, MiniFASNetV2 on a crop of
//! 2.7x the face box and MiniFASNetV1SE on a crop of 4.0x (80x80 BGR pixels, 0..255), each
//! giving three logits. The live score is the mean of the two softmax probabilities of class
//! 1 (live), in 0..1. The crop rule is minivision's: the box is scaled about its centre,
//! shrunk to fit when the scaled box is larger than the frame, and shifted back inside the
//! frame (not clamped). Context around the face is what the networks judge (paper edges, a
//! screen's bezel), so a tight crop padded with black would be called a spoof.
//!
//! The decision compares the score with a calibrated threshold ([`LivenessOp`]). A face too
//! small, or cut by the frame edge, for a reliable answer is [`LivenessDecision::Unknown`],
//! never live. See `docs/liveness.md` for what the calibration data covers (print attacks)
//! and what it does not (replays on screens, masks, deepfakes).

use std::sync::Arc;

use crate::detect::Face;
use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::image::Image;
use crate::model::Net;
use crate::models::{ModelFile, ModelSource};

/// Side of the networks' square input.
pub const LIVENESS_INPUT: u32 = 80;

/// Crop scales of the two networks (minivision's model names say them: `2.7_80x80`, `4_0_0_80x80`).
pub const LIVENESS_SCALES: [f64; 2] = [2.7, 4.0];

/// An operating point: the live score a face must reach to be called live.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum LivenessOp {
    /// Calibrated on the pad-dev print attacks for at most 1% of spoofs accepted (APCER).
    Default,
    /// For screen replays, whose scores separate from lives only near 1: rejects many more
    /// lives (see `docs/liveness.md` for the measured cost).
    Strict,
    /// Your own threshold in 0..1.
    Threshold(f32),
}

/// Threshold of [`LivenessOp::Default`]. On pad-dev (`facecore eval liveness --calibrate`,
/// `docs/liveness.md`) 99% of the print attacks score below 0.0132 and 99% of the lives above
/// 0.062; 0.03 sits in that gap: 0.6% of spoofs accepted, 0.2% of lives rejected there.
pub const DEFAULT_THRESHOLD: f32 = 0.03;
/// Threshold of [`LivenessOp::Strict`]: screen replays score close to lives and separate only
/// above about 0.999 (minivision's networks, measured on MSU-MFSD replays); on pad-dev's
/// webcam lives it rejects 93% of them, so it suits well-lit, sharp cameras only.
pub const STRICT_THRESHOLD: f32 = 0.999;

impl LivenessOp {
    /// The threshold in 0..1.
    pub fn threshold(self) -> f32 {
        match self {
            LivenessOp::Default => DEFAULT_THRESHOLD,
            LivenessOp::Strict => STRICT_THRESHOLD,
            LivenessOp::Threshold(t) => t,
        }
    }

    /// `default`, `strict`, or a number in 0..1.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for anything else.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "default" => Ok(LivenessOp::Default),
            "strict" => Ok(LivenessOp::Strict),
            other => match other.parse::<f32>() {
                Ok(t) if (0.0..=1.0).contains(&t) => Ok(LivenessOp::Threshold(t)),
                _ => Err(Error::input("liveness operating point", format!("{other:?} (default, strict, or a threshold in 0..1)"))),
            },
        }
    }
}

impl std::str::FromStr for LivenessOp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        LivenessOp::parse(s)
    }
}

/// Why a face could not be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownReason {
    /// The face box is narrower than [`LivenessConfig::min_face_px`].
    TooSmall,
    /// More of the face box than [`LivenessConfig::max_outside`] lies outside the frame.
    CutByEdge,
}

impl UnknownReason {
    /// A short stable name (`too_small`, `cut_by_edge`).
    pub fn name(self) -> &'static str {
        match self {
            UnknownReason::TooSmall => "too_small",
            UnknownReason::CutByEdge => "cut_by_edge",
        }
    }
}

/// The verdict on one face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivenessDecision {
    /// The score reaches the operating point's threshold.
    Live,
    /// It does not.
    Spoof,
    /// The face cannot be judged reliably; no score was computed.
    Unknown(UnknownReason),
}

impl LivenessDecision {
    /// `live`, `spoof` or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            LivenessDecision::Live => "live",
            LivenessDecision::Spoof => "spoof",
            LivenessDecision::Unknown(_) => "unknown",
        }
    }
}

/// Score and decision for one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LivenessResult {
    /// The live score in 0..1 (`None` when the face could not be judged).
    pub score: Option<f32>,
    /// The decision at the operating point asked for.
    pub decision: LivenessDecision,
}

/// When a face is judged at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LivenessConfig {
    /// Narrowest face box, in pixels, that is judged (default 40: the networks see the face
    /// at about 80 / 2.7 = 30 px, and smaller faces carry no print or screen texture).
    pub min_face_px: f32,
    /// Largest fraction of the face box's area that may lie outside the frame (default 0.1).
    pub max_outside: f32,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig { min_face_px: 40.0, max_outside: 0.1 }
    }
}

/// The two-network liveness ensemble; `Send + Sync`, cheap to clone.
#[derive(Clone)]
pub struct Liveness {
    nets: [Arc<Net>; 2],
    config: LivenessConfig,
}

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Liveness").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The crop minivision takes for a face box and scale in a `w` x `h` frame: inclusive pixel
/// corners `(left, top, right, bottom)`.
///
/// The box is scaled about its centre by `scale`, or by less when that would not fit the frame
/// (the largest scale that fits, the same on both axes), then shifted back inside the frame.
/// Corners are truncated to integers as minivision's `int()` does.
pub fn crop_box(bbox: &Rect, scale: f64, w: u32, h: u32) -> (u32, u32, u32, u32) {
    let (src_w, src_h) = (f64::from(w), f64::from(h));
    let (bw, bh) = (f64::from(bbox.width).max(1.0), f64::from(bbox.height).max(1.0));
    let s = scale.min((src_h - 1.0) / bh).min((src_w - 1.0) / bw);
    let (nw, nh) = (bw * s, bh * s);
    let (cx, cy) = (f64::from(bbox.x) + bw / 2.0, f64::from(bbox.y) + bh / 2.0);
    let (mut l, mut t, mut r, mut b) = (cx - nw / 2.0, cy - nh / 2.0, cx + nw / 2.0, cy + nh / 2.0);
    if l < 0.0 {
        r -= l;
        l = 0.0;
    }
    if t < 0.0 {
        b -= t;
        t = 0.0;
    }
    if r > src_w - 1.0 {
        l -= r - src_w + 1.0;
        r = src_w - 1.0;
    }
    if b > src_h - 1.0 {
        t -= b - src_h + 1.0;
        b = src_h - 1.0;
    }
    // Truncation towards zero, as Python's int(); never outside the frame.
    let clamp = |v: f64, hi: f64| v.clamp(0.0, hi.max(0.0)) as u32;
    (clamp(l, src_w - 1.0), clamp(t, src_h - 1.0), clamp(r, src_w - 1.0), clamp(b, src_h - 1.0))
}

/// Bilinear resize of the crop `(l, t, r, b)` (inclusive) of `img` to an 80x80 BGR planar
/// float tensor, with OpenCV's `INTER_LINEAR` pixel-centre convention (what minivision's
/// `cv2.resize` does).
fn crop_tensor(img: &Image, (l, t, r, b): (u32, u32, u32, u32)) -> Vec<f32> {
    let rgb = img.as_rgb();
    let (cw, ch) = ((r - l + 1) as usize, (b - t + 1) as usize);
    let n = LIVENESS_INPUT as usize;
    let plane = n * n;
    let mut out = vec![0f32; 3 * plane];
    let (sx, sy) = (cw as f32 / n as f32, ch as f32 / n as f32);
    let taps = |dst: usize, len: usize, scale: f32| -> (usize, usize, f32) {
        let src = ((dst as f32 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(len - 1);
        let i1 = (i0 + 1).min(len - 1);
        (i0, i1, src - i0 as f32)
    };
    let px = |x: usize, y: usize| rgb.get_pixel(l + x as u32, t + y as u32).0;
    for v in 0..n {
        let (y0, y1, fy) = taps(v, ch, sy);
        for u in 0..n {
            let (x0, x1, fx) = taps(u, cw, sx);
            let (a, b2, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
            for k in 0..3 {
                let top = f32::from(a[k]) * (1.0 - fx) + f32::from(b2[k]) * fx;
                let bot = f32::from(c[k]) * (1.0 - fx) + f32::from(d[k]) * fx;
                // BGR planes: channel k of RGB goes to plane 2 - k.
                out[(2 - k) * plane + v * n + u] = top * (1.0 - fy) + bot * fy;
            }
        }
    }
    out
}

fn softmax_live(logits: &[f32]) -> Option<f32> {
    if logits.len() != 3 || logits.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|v| (v - m).exp()).collect();
    Some(e[1] / e.iter().sum::<f32>())
}

impl Liveness {
    /// The bundled networks (or `FACECORE_MODELS_DIR`; see [`ModelSource::default`]).
    ///
    /// # Errors
    /// [`Error::ModelLoad`] when a network is missing, damaged or gives non-finite outputs.
    pub fn bundled() -> Result<Self> {
        Self::from_source(&ModelSource::default(), LivenessConfig::default())
    }

    /// The networks from `source`, verified against the manifest.
    ///
    /// # Errors
    /// As [`Liveness::bundled`]; [`Error::InvalidInput`] for a bad config.
    pub fn from_source(source: &ModelSource, config: LivenessConfig) -> Result<Self> {
        if !(config.min_face_px.is_finite() && config.min_face_px >= 0.0 && (0.0..=1.0).contains(&config.max_outside)) {
            return Err(Error::input("liveness config", "min_face_px must be >= 0 and max_outside in 0..1"));
        }
        let load = |file: ModelFile, id: &'static str| -> Result<Arc<Net>> {
            let net = Net::from_bytes(id, &source.load(file)?)?;
            // Probe once: builds the plan now and proves the network gives three finite logits.
            let n = LIVENESS_INPUT as usize;
            let out = net
                .run([1, 3, n, n], &vec![128.0; 3 * n * n])
                .map_err(|e| Error::ModelLoad { model: id.into(), detail: format!("not an 80x80 liveness network: {e}") })?;
            if out.len() != 1 || softmax_live(&out[0].data).is_none() {
                return Err(Error::ModelLoad { model: id.into(), detail: "expected one output of 3 finite logits".into() });
            }
            Ok(Arc::new(net))
        };
        Ok(Liveness {
            nets: [load(ModelFile::MiniFasNetV2, "minifasnet-v2")?, load(ModelFile::MiniFasNetV1Se, "minifasnet-v1se")?],
            config,
        })
    }

    /// The same networks with another config.
    pub fn with_config(&self, config: LivenessConfig) -> Self {
        Liveness { nets: self.nets.clone(), config }
    }

    /// The config in force.
    pub fn config(&self) -> LivenessConfig {
        self.config
    }

    /// Why `face` cannot be judged in a `w` x `h` frame, if it cannot.
    pub fn unjudgeable(&self, face: &Face, w: u32, h: u32) -> Option<UnknownReason> {
        let b = &face.bbox;
        if !(b.width.is_finite() && b.height.is_finite() && b.x.is_finite() && b.y.is_finite()) || b.width < self.config.min_face_px {
            return Some(UnknownReason::TooSmall);
        }
        let area = b.width * b.height;
        let ix = (b.x + b.width).min(w as f32) - b.x.max(0.0);
        let iy = (b.y + b.height).min(h as f32) - b.y.max(0.0);
        let inside = ix.max(0.0) * iy.max(0.0);
        if area <= 0.0 || 1.0 - inside / area > self.config.max_outside {
            return Some(UnknownReason::CutByEdge);
        }
        None
    }

    /// The live score of `face` in `img` (0..1), or why it cannot be judged.
    ///
    /// # Errors
    /// [`Error::Inference`] on engine failure or non-finite network outputs.
    pub fn score(&self, img: &Image, face: &Face) -> Result<std::result::Result<f32, UnknownReason>> {
        if let Some(why) = self.unjudgeable(face, img.width(), img.height()) {
            return Ok(Err(why));
        }
        let n = LIVENESS_INPUT as usize;
        let mut sum = 0.0;
        for (net, scale) in self.nets.iter().zip(LIVENESS_SCALES) {
            let input = crop_tensor(img, crop_box(&face.bbox, scale, img.width(), img.height()));
            let out = net.run([1, 3, n, n], &input)?;
            let live = out
                .first()
                .and_then(|o| softmax_live(&o.data))
                .ok_or_else(|| Error::Inference { model: net.id(), source: "expected 3 finite logits".into() })?;
            sum += live;
        }
        Ok(Ok(sum / 2.0))
    }

    /// Score and decision at `op`.
    ///
    /// # Errors
    /// As [`Liveness::score`]; [`Error::InvalidInput`] for a threshold outside 0..1.
    pub fn check(&self, img: &Image, face: &Face, op: LivenessOp) -> Result<LivenessResult> {
        let t = op.threshold();
        if !(0.0..=1.0).contains(&t) {
            return Err(Error::input("liveness threshold", format!("{t} is not in 0..1")));
        }
        Ok(match self.score(img, face)? {
            Ok(s) => LivenessResult { score: Some(s), decision: if s >= t { LivenessDecision::Live } else { LivenessDecision::Spoof } },
            Err(why) => LivenessResult { score: None, decision: LivenessDecision::Unknown(why) },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rect(x: f32, y: f32, w: f32, h: f32) -> Rect {
        Rect { x, y, width: w, height: h }
    }

    #[test]
    /// Expected corners from minivision's `_get_new_box` run in Python (float64).
    fn crop_rule_matches_hand_computed_boxes() {
        // Centred 100 px face in 640x480 at 2.7: 270 px about the centre (370, 290).
        assert_eq!(crop_box(&rect(320.0, 240.0, 100.0, 100.0), 2.7, 640, 480), (235, 155, 505, 425));
        // At the left edge: shifted right, not clamped (still 270 px wide).
        assert_eq!(crop_box(&rect(0.0, 200.0, 100.0, 100.0), 2.7, 640, 480), (0, 115, 270, 385));
        // At the top edge.
        assert_eq!(crop_box(&rect(300.0, 0.0, 100.0, 100.0), 2.7, 640, 480), (215, 0, 485, 270));
        // At the right and bottom edges: shifted left and up to end at w-1, h-1.
        assert_eq!(crop_box(&rect(540.0, 380.0, 100.0, 100.0), 2.7, 640, 480), (369, 209, 639, 479));
        // Larger than the frame after scaling: 4.0 x 200 = 800 > 479, so the scale shrinks to
        // 479 / 200 = 2.395 on both axes (479 x 479), centred on (320, 240), then shifted inside.
        assert_eq!(crop_box(&rect(220.0, 140.0, 200.0, 200.0), 4.0, 640, 480), (80, 0, 559, 479));
        // A box partly outside the frame stays inside after the shift.
        let (l, t, r, b) = crop_box(&rect(-30.0, -30.0, 100.0, 100.0), 2.7, 640, 480);
        assert!(l == 0 && t == 0 && r <= 639 && b <= 479 && r - l == 270 && b - t == 270, "{:?}", (l, t, r, b));
    }

    #[test]
    fn operating_points_parse() {
        assert_eq!(LivenessOp::parse("default").unwrap(), LivenessOp::Default);
        assert_eq!(LivenessOp::parse("strict").unwrap().threshold(), STRICT_THRESHOLD);
        assert_eq!(LivenessOp::parse("0.25").unwrap().threshold(), 0.25);
        assert!(LivenessOp::parse("1.5").is_err() && LivenessOp::parse("loose").is_err());
    }

    #[test]
    fn softmax_refuses_broken_outputs() {
        assert!((softmax_live(&[0.0, 0.0, 0.0]).unwrap() - 1.0 / 3.0).abs() < 1e-6);
        assert!(softmax_live(&[0.0, f32::NAN, 0.0]).is_none());
        assert!(softmax_live(&[0.0, 1.0]).is_none());
    }
}
