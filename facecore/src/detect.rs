//! Face detection with YuNet (2023mar): boxes, scores and 5 landmarks.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::geometry::{Point, Rect, nms};
use crate::image::Image;
use crate::model::Net;

/// A detected face, in the coordinates of the image it was found in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// The face box.
    pub bbox: Rect,
    /// Detector confidence in 0..1.
    pub score: f32,
    /// Five landmarks in YuNet's order, left to right in the image: the subject's right eye,
    /// left eye, nose tip, right mouth corner, left mouth corner.
    pub landmarks: [Point; 5],
}

/// How a frame is scaled before it enters the network (whose sides must be multiples of 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputSize {
    /// Scale down so that the longest side is at most this many pixels; smaller frames keep
    /// their size (no upscaling). Aspect kept, sides padded up to multiples of 32. The
    /// default, `MaxLongest(640)`. Upscaling a 250 px LFW crop to 640 px makes YuNet's
    /// landmarks worse: SFace's LFW accuracy drops from 99.56% to 99.28% (README).
    ///
    /// [`DetectorConfig::min_face_size`] scales the frame down further, as for `FitLongest`.
    MaxLongest(u32),
    /// Scale so that the longest side is exactly this many pixels, up or down (upscaling
    /// finds smaller faces in small frames, at a cost). Aspect kept, sides padded up to
    /// multiples of 32.
    ///
    /// When [`DetectorConfig::min_face_size`] is set, the frame is scaled down further, to the
    /// point where a face of that size still spans [`DETECTABLE_FACE_PX`] network pixels:
    /// a doorbell that only cares about faces of 80 px or more runs YuNet on a quarter of the
    /// pixels. The network cost falls with the input area.
    FitLongest(u32),
    /// Keep the frame's own size, padded up to multiples of 32 (no resampling). Frames
    /// larger than [`crate::limits::Limits::native_detector_side`] (default
    /// [`MAX_NATIVE_SIDE`]) on a side are refused: YuNet's intermediate tensors grow with the
    /// input area (a 16384 x 4096 frame would need gigabytes).
    Native,
}

/// The default largest frame side [`InputSize::Native`] accepts (see [`crate::limits`]);
/// larger frames need [`InputSize::MaxLongest`] or [`InputSize::FitLongest`].
pub const MAX_NATIVE_SIDE: u32 = 4096;

/// The smallest face, in network input pixels, that [`InputSize::FitLongest`] keeps when it
/// scales a frame down for [`DetectorConfig::min_face_size`]. YuNet's finest anchors are 8 px
/// apart; `facecore eval detect --min-face` measures the effect on recall (README).
pub const DETECTABLE_FACE_PX: f32 = 20.0;

/// Detector settings, all with documented defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Minimum score to keep a face (default 0.6).
    pub score_threshold: f32,
    /// IoU above which the weaker of two overlapping boxes is dropped (default 0.3).
    pub nms_iou: f32,
    /// Faces whose box is narrower or shorter than this, in input-image pixels, are dropped
    /// (default 0: keep all). With [`InputSize::FitLongest`] it also lowers the network input
    /// size (see there), which is the main speed setting of the detector.
    pub min_face_size: f32,
    /// Keep at most this many faces, the highest scores first (default 256).
    pub max_faces: usize,
    /// Network input size policy (default `MaxLongest(640)`).
    pub input_size: InputSize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig { score_threshold: 0.6, nms_iou: 0.3, min_face_size: 0.0, max_faces: 256, input_size: InputSize::MaxLongest(640) }
    }
}

impl DetectorConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        let bad = |d: String| Err(Error::input("detector option", d));
        if !(0.0..=1.0).contains(&self.score_threshold) {
            return bad(format!("score_threshold {} is not in 0..1", self.score_threshold));
        }
        if !(0.0..=1.0).contains(&self.nms_iou) {
            return bad(format!("nms_iou {} is not in 0..1", self.nms_iou));
        }
        if !self.min_face_size.is_finite() || self.min_face_size < 0.0 {
            return bad(format!("min_face_size {} must be a finite number >= 0", self.min_face_size));
        }
        if let InputSize::FitLongest(n) | InputSize::MaxLongest(n) = self.input_size
            && !(32..=4096).contains(&n)
        {
            return bad(format!("input size {n} is not in 32..4096"));
        }
        Ok(())
    }
}

/// The YuNet face detector. Cheap to clone (shared model); `Send + Sync`.
#[derive(Clone)]
pub struct Detector {
    net: Arc<Net>,
    config: DetectorConfig,
}

/// Network input geometry for one frame.
struct Letterbox {
    in_w: usize,
    in_h: usize,
    /// Resized content size (before padding).
    w: usize,
    h: usize,
    /// Original pixels per network pixel.
    sx: f32,
    sy: f32,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("config", &self.config).finish_non_exhaustive()
    }
}

fn round_up_32(v: usize) -> usize {
    v.div_ceil(32).max(1) * 32
}

impl Detector {
    /// Loads YuNet from ONNX bytes, which must be the manifest's file (same SHA-256). Your
    /// own YuNet-compatible detector goes through [`Detector::custom`].
    ///
    /// # Errors
    /// [`Error::ModelLoad`] for other bytes, [`Error::InvalidInput`] for a bad config.
    pub fn from_onnx(onnx: &[u8], config: DetectorConfig) -> Result<Self> {
        crate::models::verify(crate::models::ModelFile::Yunet, onnx)?;
        Self::load(onnx, config)
    }

    /// Loads your own detector with YuNet's inputs and outputs (a retrained YuNet), checked
    /// by its output shapes only.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] over [`crate::limits::Limits::model_file_bytes`],
    /// [`Error::ModelLoad`] for a network without YuNet's outputs, [`Error::InvalidInput`] for
    /// a bad config.
    pub fn custom(onnx: &[u8], config: DetectorConfig) -> Result<Self> {
        crate::limits::check_len("model", onnx.len(), crate::limits::get().model_file_bytes)?;
        Self::load(onnx, config)
    }

    fn load(onnx: &[u8], config: DetectorConfig) -> Result<Self> {
        config.validate()?;
        let net = Net::from_bytes("yunet-2023mar", onnx)?;
        let det = Detector { net: Arc::new(net), config };
        // Prove the file is YuNet now rather than on the first frame.
        det.check_outputs()?;
        Ok(det)
    }

    /// YuNet from [`crate::models::ModelSource::default`]: the bundled model (default
    /// feature), else `FACECORE_MODELS_DIR`.
    ///
    /// # Errors
    /// As [`Detector::from_onnx`].
    pub fn bundled(config: DetectorConfig) -> Result<Self> {
        Self::from_source(&crate::models::ModelSource::default(), config)
    }

    /// YuNet from `source`, verified against the manifest.
    ///
    /// # Errors
    /// As [`Detector::from_onnx`], or when `source` lacks a valid file.
    pub fn from_source(source: &crate::models::ModelSource, config: DetectorConfig) -> Result<Self> {
        Self::load(&source.load(crate::models::ModelFile::Yunet)?, config)
    }

    fn check_outputs(&self) -> Result<()> {
        let outs = self
            .net
            .run([1, 3, 64, 64], &vec![0.0; 3 * 64 * 64])
            .map_err(|e| Error::ModelLoad { model: self.net.id().into(), detail: format!("not a YuNet detector: {e}") })?;
        let ok = outs.len() == 12
            && [8usize, 16, 32].iter().enumerate().all(|(i, s)| {
                let n = (64 / s) * (64 / s);
                [1usize, 1, 4, 10].iter().enumerate().all(|(k, c)| outs[k * 3 + i].data.len() == n * c)
            });
        if ok {
            Ok(())
        } else {
            Err(Error::ModelLoad {
                model: self.net.id().into(),
                detail: "outputs are not YuNet's cls/obj/bbox/kps at strides 8, 16, 32".into(),
            })
        }
    }

    /// A detector sharing this model with other settings.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad config.
    pub fn with_config(&self, config: DetectorConfig) -> Result<Self> {
        config.validate()?;
        Ok(Detector { net: self.net.clone(), config })
    }

    /// The settings in use.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }
}

/// The network input geometry for a `w` x `h` frame under `config`.
/// The network input a frame resized to `rw` x `rh` is padded to. The long side goes up to a
/// multiple of 32 (as YuNet needs), the short side to the first of 3/8, 1/2, 9/16, 2/3, 3/4,
/// 4/5 or all of the padded long side (for 640: 256, 320, 384, 448, 480, 512, 640, which covers
/// 16:9, 3:2, 4:3, 5:4 and 1:1 frames exactly). So photos of any aspect ratio share at most 13
/// shapes per input size (fewer than the 16 plans a model caches; each new shape costs a plan
/// build of about 55 ms), and a camera's frames keep their exact shape. `docs/performance.md` has the measured effect on cost and accuracy. Native inputs
/// are not bucketed.
fn bucketed(rw: usize, rh: usize) -> (usize, usize) {
    let long = round_up_32(rw.max(rh));
    let short = rw.min(rh);
    let short = [3 * long / 8, long / 2, 9 * long / 16, 2 * long / 3, 3 * long / 4, 4 * long / 5, long]
        .into_iter()
        .map(round_up_32)
        .find(|&b| b >= short && b <= long)
        .unwrap_or(long);
    if rw >= rh { (long, short) } else { (short, long) }
}

fn letterbox(config: &DetectorConfig, w: u32, h: u32) -> Letterbox {
    let (w, h) = (w as usize, h as usize);
    let (rw, rh) = match config.input_size {
        InputSize::Native => (w, h),
        InputSize::FitLongest(n) | InputSize::MaxLongest(n) => {
            let mut s = n as f32 / w.max(h) as f32;
            if matches!(config.input_size, InputSize::MaxLongest(_)) {
                s = s.min(1.0);
            }
            if config.min_face_size > 0.0 {
                s = s.min(DETECTABLE_FACE_PX / config.min_face_size);
            }
            (((w as f32 * s).round() as usize).max(1), ((h as f32 * s).round() as usize).max(1))
        }
    };
    let (in_w, in_h) = match config.input_size {
        InputSize::Native => (round_up_32(rw), round_up_32(rh)),
        InputSize::FitLongest(_) | InputSize::MaxLongest(_) => bucketed(rw, rh),
    };
    Letterbox { in_w, in_h, w: rw, h: rh, sx: w as f32 / rw as f32, sy: h as f32 / rh as f32 }
}

impl Detector {
    /// Finds faces, best first.
    ///
    /// # Errors
    /// [`Error::Inference`] if the engine fails.
    pub fn detect(&self, img: &Image) -> Result<Vec<Face>> {
        let native_cap = crate::limits::get().native_detector_side;
        if self.config.input_size == InputSize::Native && img.width().max(img.height()) > native_cap {
            let side = img.width().max(img.height());
            return Err(Error::limit("image side for InputSize::Native (use MaxLongest)", u64::from(native_cap), u64::from(side), "px"));
        }
        let lb = letterbox(&self.config, img.width(), img.height());
        let input = to_bgr_planes(img, &lb);
        let outs = self.net.run([1, 3, lb.in_h, lb.in_w], &input)?;
        let mut faces = Vec::new();
        for (i, stride) in [8usize, 16, 32].into_iter().enumerate() {
            let (cols, rows) = (lb.in_w / stride, lb.in_h / stride);
            let (cls, obj, bbox, kps) = (&outs[i].data, &outs[3 + i].data, &outs[6 + i].data, &outs[9 + i].data);
            if cls.len() < rows * cols || obj.len() < rows * cols || bbox.len() < 4 * rows * cols || kps.len() < 10 * rows * cols {
                return Err(Error::Inference { model: self.net.id(), source: "unexpected output size".into() });
            }
            for idx in 0..rows * cols {
                let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
                // A NaN score (a broken model or input) is dropped too.
                if score.is_nan() || score < self.config.score_threshold {
                    continue;
                }
                let (row, col) = ((idx / cols) as f32, (idx % cols) as f32);
                let s = stride as f32;
                let b = &bbox[idx * 4..idx * 4 + 4];
                let (cx, cy) = ((col + b[0]) * s, (row + b[1]) * s);
                let (bw, bh) = (b[2].exp() * s, b[3].exp() * s);
                let k = &kps[idx * 10..idx * 10 + 10];
                let mut landmarks = [Point::default(); 5];
                for (j, lm) in landmarks.iter_mut().enumerate() {
                    *lm = Point { x: (col + k[2 * j]) * s * lb.sx, y: (row + k[2 * j + 1]) * s * lb.sy };
                }
                let bbox = Rect { x: (cx - bw / 2.0) * lb.sx, y: (cy - bh / 2.0) * lb.sy, width: bw * lb.sx, height: bh * lb.sy };
                if !bbox.is_finite() || !landmarks.iter().all(|p| p.x.is_finite() && p.y.is_finite()) {
                    continue;
                }
                faces.push(Face { bbox, score, landmarks });
            }
        }
        let mut faces = nms(faces, |f| (f.bbox, f.score), self.config.nms_iou);
        let (iw, ih) = (img.width() as f32, img.height() as f32);
        faces.retain(|f| f.bbox.width >= self.config.min_face_size && f.bbox.height >= self.config.min_face_size);
        for f in &mut faces {
            f.bbox = f.bbox.clip(iw, ih);
        }
        faces.retain(|f| f.bbox.width > 0.0 && f.bbox.height > 0.0);
        faces.truncate(self.config.max_faces);
        Ok(faces)
    }
}

/// Resamples (bilinear, pixel centres aligned) into BGR float planes of the padded input size,
/// values 0..255, zeros in the padding.
fn to_bgr_planes(img: &Image, lb: &Letterbox) -> Vec<f32> {
    let plane = lb.in_w * lb.in_h;
    let mut out = vec![0.0f32; 3 * plane];
    let src = img.as_rgb();
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    let raw = src.as_raw();
    if lb.w == sw && lb.h == sh {
        for y in 0..sh {
            for x in 0..sw {
                let p = &raw[(y * sw + x) * 3..];
                let o = y * lb.in_w + x;
                out[o] = f32::from(p[2]);
                out[plane + o] = f32::from(p[1]);
                out[2 * plane + o] = f32::from(p[0]);
            }
        }
        return out;
    }
    // Precompute horizontal taps once per column.
    let taps = |n_dst: usize, n_src: usize, scale: f32| -> Vec<(usize, usize, f32)> {
        (0..n_dst)
            .map(|d| {
                let s = ((d as f32 + 0.5) * scale - 0.5).clamp(0.0, (n_src - 1) as f32);
                let i0 = s.floor() as usize;
                let i1 = (i0 + 1).min(n_src - 1);
                (i0, i1, s - i0 as f32)
            })
            .collect()
    };
    let xt = taps(lb.w, sw, lb.sx);
    let yt = taps(lb.h, sh, lb.sy);
    for (y, &(y0, y1, fy)) in yt.iter().enumerate() {
        let (r0, r1) = (&raw[y0 * sw * 3..(y0 + 1) * sw * 3], &raw[y1 * sw * 3..(y1 + 1) * sw * 3]);
        for (x, &(x0, x1, fx)) in xt.iter().enumerate() {
            let o = y * lb.in_w + x;
            for c in 0..3 {
                let top = f32::from(r0[x0 * 3 + c]) * (1.0 - fx) + f32::from(r0[x1 * 3 + c]) * fx;
                let bot = f32::from(r1[x0 * 3 + c]) * (1.0 - fx) + f32::from(r1[x1 * 3 + c]) * fx;
                out[(2 - c) * plane + o] = top * (1.0 - fy) + bot * fy;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        assert!(DetectorConfig::default().validate().is_ok());
        let c = DetectorConfig { score_threshold: 1.5, ..Default::default() };
        assert!(c.validate().is_err());
        let c = DetectorConfig { min_face_size: f32::NAN, ..Default::default() };
        assert!(c.validate().is_err());
        let c = DetectorConfig { input_size: InputSize::FitLongest(8), ..Default::default() };
        assert!(c.validate().is_err());
    }

    #[test]
    fn min_face_size_lowers_the_input_size() {
        let geo = |min_face_size, input_size| {
            let lb = letterbox(&DetectorConfig { min_face_size, input_size, ..Default::default() }, 640, 480);
            (lb.in_w, lb.in_h, lb.w, lb.h)
        };
        assert_eq!(geo(0.0, InputSize::FitLongest(640)), (640, 480, 640, 480));
        // 80 px faces need only 20 px at the input: a quarter of each side.
        assert_eq!(geo(80.0, InputSize::FitLongest(640)), (160, 128, 160, 120));
        // Never upscaled past FitLongest, and Native never resamples.
        assert_eq!(geo(10.0, InputSize::FitLongest(320)), (320, 256, 320, 240));
        assert_eq!(geo(80.0, InputSize::Native), (640, 480, 640, 480));
        // MaxLongest never upscales; FitLongest does.
        assert_eq!(geo(0.0, InputSize::MaxLongest(1280)), (640, 480, 640, 480));
        assert_eq!(geo(0.0, InputSize::FitLongest(1280)), (1280, 960, 1280, 960));
        assert_eq!(geo(0.0, InputSize::MaxLongest(320)), (320, 256, 320, 240));
        assert_eq!(geo(80.0, InputSize::MaxLongest(640)), (160, 128, 160, 120));
    }

    #[test]
    fn photos_of_any_size_share_a_few_input_shapes() {
        let shape = |w, h| {
            let lb = letterbox(&DetectorConfig::default(), w, h);
            assert!(lb.in_w >= lb.w && lb.in_h >= lb.h && lb.in_w.is_multiple_of(32) && lb.in_h.is_multiple_of(32));
            (lb.in_w, lb.in_h)
        };
        // Camera frames keep their exact shape.
        assert_eq!(shape(640, 480), (640, 480));
        assert_eq!(shape(1280, 720), (640, 384));
        assert_eq!(shape(1920, 1080), (640, 384));
        // Photos: 3:2, 4:3 and 4:5 keep their shape, portraits their transpose.
        assert_eq!(shape(3000, 2000), (640, 448));
        assert_eq!(shape(4032, 3024), (640, 480));
        assert_eq!(shape(2000, 3000), (448, 640));
        assert_eq!(shape(910, 1137), (512, 640));
        assert_eq!(shape(1126, 661), (640, 384));
        let mut shapes = std::collections::BTreeSet::new();
        for w in (700..4000).step_by(37) {
            for h in (700..4000).step_by(53) {
                shapes.insert(shape(w, h));
            }
        }
        assert!(shapes.len() <= 13, "{shapes:?}");
        // Small images: the short side in the buckets of their own long side.
        assert_eq!(shape(250, 250), (256, 256));
        assert_eq!(shape(300, 200), (320, 224));
    }

    #[test]
    fn letterbox_keeps_aspect_and_pads_to_32() {
        assert_eq!(round_up_32(480), 480);
        assert_eq!(round_up_32(443), 448);
        assert_eq!(round_up_32(1), 32);
    }
}
