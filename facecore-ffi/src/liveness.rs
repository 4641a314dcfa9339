//! Passive liveness (presentation-attack detection): is a detected face a live person, or a
//! printed photo or a screen held up to the camera? Two small networks (minivision's
//! MiniFASNetV2 and V1SE) judge crops around the face; see docs/liveness.md.

use facecore::liveness::{DEFAULT_THRESHOLD, STRICT_THRESHOLD, UnknownReason};
use facecore::{Liveness, LivenessConfig, LivenessDecision, LivenessOp, ModelSource};

use crate::boundary::{Fail, arg_ref, boundary, facecore_status, handle, handle_free, handle_ref, out_arg, write};
use crate::image::{face_from_c, facecore_face, facecore_image, image_arg};
use crate::models::facecore_models;

/// Threshold of `FACECORE_LIVENESS_OP_DEFAULT`: calibrated on print attacks (pad-dev) for at
/// most 1% of spoofs accepted.
pub const FACECORE_LIVENESS_DEFAULT_THRESHOLD: f32 = 0.03;
/// Threshold of `FACECORE_LIVENESS_OP_STRICT`: for screen replays, which score close to lives;
/// rejects many more lives (see docs/liveness.md).
pub const FACECORE_LIVENESS_STRICT_THRESHOLD: f32 = 0.999;

const _: () = assert!(FACECORE_LIVENESS_DEFAULT_THRESHOLD == DEFAULT_THRESHOLD && FACECORE_LIVENESS_STRICT_THRESHOLD == STRICT_THRESHOLD);

/// The operating point of `facecore_liveness_check`: the live score a face must reach to be
/// called live. Values are stable: new ones are appended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_liveness_op {
    /// `FACECORE_LIVENESS_DEFAULT_THRESHOLD` (print attacks, at most 1% accepted on pad-dev).
    Default = 0,
    /// `FACECORE_LIVENESS_STRICT_THRESHOLD` (screen replays; rejects many more lives).
    Strict = 1,
    /// The `threshold` argument, in 0..1.
    Threshold = 2,
}

/// The verdict on one face (`facecore_liveness_result.decision`). Values are stable.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_liveness_decision {
    /// The live score reaches the operating point's threshold.
    Live = 0,
    /// It does not: a printed photo or a screen, most likely.
    Spoof = 1,
    /// The face could not be judged reliably (see `unknown_reason`); no score was computed.
    /// Never treat it as live.
    Unknown = 2,
}

/// Why a face could not be judged (`facecore_liveness_result.unknown_reason`). Values are
/// stable: new ones are appended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_liveness_unknown_reason {
    /// The face was judged (decision LIVE or SPOOF).
    None = 0,
    /// The face box is narrower than the config's `min_face_px`.
    TooSmall = 1,
    /// More of the face box than the config's `max_outside` lies outside the frame.
    CutByEdge = 2,
}

/// The score and decision for one face.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct facecore_liveness_result {
    /// The live score in 0..1 (the mean of both networks' probabilities of "live"), or NAN when
    /// the face was not judged (decision UNKNOWN).
    pub score: f32,
    /// A `facecore_liveness_decision` value.
    pub decision: u32,
    /// A `facecore_liveness_unknown_reason` value: NONE unless the decision is UNKNOWN.
    pub unknown_reason: u32,
}

/// When a face is judged at all (faces outside these bounds are UNKNOWN).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct facecore_liveness_config {
    /// Narrowest face box, in pixels, that is judged (default 40; at least 0).
    pub min_face_px: f32,
    /// Largest fraction of the face box's area that may lie outside the frame, 0..1
    /// (default 0.1).
    pub max_outside: f32,
}

/// The liveness networks and their config. Immutable: thread-safe, one handle may be used by
/// several threads at once.
pub struct facecore_liveness {
    tag: u64,
    pub(crate) liveness: Liveness,
}
handle!(facecore_liveness, 0x4643_4C49_5645_4E53, { liveness: Liveness });

/// The operating point of a C `op` value.
pub(crate) fn liveness_op(op: u32, threshold: f32) -> Result<LivenessOp, Fail> {
    match op {
        0 => Ok(LivenessOp::Default),
        1 => Ok(LivenessOp::Strict),
        2 if (0.0..=1.0).contains(&threshold) => Ok(LivenessOp::Threshold(threshold)),
        2 => Err(Fail::invalid(format!("liveness threshold {threshold} is not in 0..1"))),
        v => Err(Fail::invalid(format!("unknown liveness operating point {v}"))),
    }
}

fn config_from_c(c: &facecore_liveness_config) -> Result<LivenessConfig, Fail> {
    if !(c.min_face_px.is_finite() && c.min_face_px >= 0.0) {
        return Err(Fail::invalid(format!("min_face_px {} must be a number >= 0", c.min_face_px)));
    }
    if !(0.0..=1.0).contains(&c.max_outside) {
        return Err(Fail::invalid(format!("max_outside {} is not in 0..1", c.max_outside)));
    }
    Ok(LivenessConfig { min_face_px: c.min_face_px, max_outside: c.max_outside })
}

pub(crate) fn result_to_c(r: &facecore::LivenessResult) -> Result<facecore_liveness_result, Fail> {
    let (decision, reason) = match r.decision {
        LivenessDecision::Live => (facecore_liveness_decision::Live, facecore_liveness_unknown_reason::None),
        LivenessDecision::Spoof => (facecore_liveness_decision::Spoof, facecore_liveness_unknown_reason::None),
        LivenessDecision::Unknown(UnknownReason::TooSmall) => {
            (facecore_liveness_decision::Unknown, facecore_liveness_unknown_reason::TooSmall)
        }
        LivenessDecision::Unknown(UnknownReason::CutByEdge) => {
            (facecore_liveness_decision::Unknown, facecore_liveness_unknown_reason::CutByEdge)
        }
        LivenessDecision::Unknown(other) => {
            return Err(Fail::new(facecore_status::Unknown, format!("liveness reason {} has no C value yet", other.name())));
        }
    };
    Ok(facecore_liveness_result { score: r.score.unwrap_or(f32::NAN), decision: decision as u32, unknown_reason: reason as u32 })
}

fn write_liveness(source: &ModelSource, out: *mut *mut facecore_liveness) -> Result<(), Fail> {
    let out = out_arg(out, "out")?;
    let liveness = Liveness::from_source(source, LivenessConfig::default())?;
    // SAFETY: `out` checked non-NULL; valid for one write per the caller's contract.
    unsafe { write(out, facecore_liveness::boxed(liveness)) };
    Ok(())
}

/// @brief Loads the bundled liveness networks (in a build without them, the directory named by
/// the FACECORE_MODELS_DIR environment variable), with the default config (faces of at least
/// 40 px, at most 10% outside the frame).
///
/// On success `*out` receives a new handle, owned by the caller and freed with
/// `facecore_liveness_free`. FACECORE_STATUS_MODEL_LOAD when a network is missing or damaged.
///
/// # Safety
/// `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_liveness_new(out: *mut *mut facecore_liveness) -> facecore_status {
    boundary(|| write_liveness(&ModelSource::default(), out))
}

/// @brief As `facecore_liveness_new`, with the networks ("minifasnet_v2.onnx" and
/// "minifasnet_v1se.onnx") from a model set (NULL: as `facecore_liveness_new`). A set without
/// them fails with FACECORE_STATUS_MODEL_LOAD.
///
/// # Safety
/// `models` is NULL or a live handle; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_liveness_new_with_models(
    models: *const facecore_models,
    out: *mut *mut facecore_liveness,
) -> facecore_status {
    boundary(|| {
        let source = if models.is_null() {
            ModelSource::default()
        } else {
            // SAFETY: forwarded caller contract.
            unsafe { handle_ref(models, "models") }?.source.clone()
        };
        write_liveness(&source, out)
    })
}

/// @brief A new handle sharing the networks of `liveness` (nothing is loaded again) with
/// another config. FACECORE_STATUS_INVALID_ARGUMENT when `min_face_px` is negative or not a
/// number, or `max_outside` is outside 0..1. Free it with `facecore_liveness_free`;
/// `liveness` may be freed first.
///
/// # Safety
/// `liveness` is a live handle; `config` is valid for reads; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_liveness_with_config(
    liveness: *const facecore_liveness,
    config: *const facecore_liveness_config,
    out: *mut *mut facecore_liveness,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let h = unsafe { handle_ref(liveness, "liveness") }?;
        // SAFETY: forwarded caller contract.
        let config = config_from_c(unsafe { arg_ref(config, "config") }?)?;
        let out = out_arg(out, "out")?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, facecore_liveness::boxed(h.liveness.with_config(config))) };
        Ok(())
    })
}

/// @brief The config of `liveness` (to change one field and pass it to
/// `facecore_liveness_with_config`).
///
/// # Safety
/// `liveness` is a live handle; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_liveness_get_config(
    liveness: *const facecore_liveness,
    out: *mut facecore_liveness_config,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let h = unsafe { handle_ref(liveness, "liveness") }?;
        let out = out_arg(out, "out")?;
        let c = h.liveness.config();
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, facecore_liveness_config { min_face_px: c.min_face_px, max_outside: c.max_outside }) };
        Ok(())
    })
}

/// @brief Judges `face` (as detected in `image`, in the same image's pixels): its live score and
/// the decision at operating point `op` (a `facecore_liveness_op` value; `threshold`, in 0..1,
/// is used only with FACECORE_LIVENESS_OP_THRESHOLD and ignored otherwise).
///
/// A face too small or cut by the frame edge is not judged: `out_result->decision` is UNKNOWN
/// with its reason and `out_result->score` is NAN (the call succeeds). Pass the whole frame,
/// not a crop: the networks look at context around the face (2.7 and 4 times the box). Runs
/// two small networks on the calling thread. Errors: INVALID_ARGUMENT for an unknown `op`, a
/// threshold outside 0..1 (or NAN), a face with a non-finite coordinate, or a bad image;
/// INFERENCE if the engine fails.
///
/// # Safety
/// `liveness` is a live handle; `image` and `face` are valid for reads (the image's `data`
/// for `len` bytes); `out_result` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_liveness_check(
    liveness: *const facecore_liveness,
    image: *const facecore_image,
    face: *const facecore_face,
    op: u32,
    threshold: f32,
    out_result: *mut facecore_liveness_result,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let h = unsafe { handle_ref(liveness, "liveness") }?;
        // SAFETY: forwarded caller contract.
        let face = face_from_c(unsafe { arg_ref(face, "face") }?)?;
        let op = liveness_op(op, threshold)?;
        let out = out_arg(out_result, "out_result")?;
        // SAFETY: forwarded caller contract.
        let img = unsafe { image_arg(image, "image") }?;
        let r = result_to_c(&h.liveness.check(&img, &face, op)?)?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, r) };
        Ok(())
    })
}

/// @brief Frees a liveness handle. NULL is a no-op. Handles made from it by
/// `facecore_liveness_with_config` stay valid.
///
/// # Safety
/// `liveness` is NULL or a live handle that no other thread is using, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_liveness_free(liveness: *mut facecore_liveness) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(liveness) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn operating_points_are_range_checked() {
        assert_eq!(liveness_op(0, f32::NAN).unwrap(), LivenessOp::Default);
        assert_eq!(liveness_op(1, -5.0).unwrap(), LivenessOp::Strict);
        assert_eq!(liveness_op(2, 0.5).unwrap(), LivenessOp::Threshold(0.5));
        for (op, t) in [(2, -0.01), (2, 1.01), (2, f32::NAN), (2, f32::INFINITY), (3, 0.5), (u32::MAX, 0.5)] {
            assert_eq!(liveness_op(op, t).unwrap_err().status, facecore_status::InvalidArgument, "{op} {t}");
        }
    }

    #[test]
    fn configs_are_range_checked() {
        let ok = facecore_liveness_config { min_face_px: 0.0, max_outside: 1.0 };
        assert_eq!(config_from_c(&ok).unwrap(), LivenessConfig { min_face_px: 0.0, max_outside: 1.0 });
        for (m, o) in [(-1.0, 0.1), (f32::NAN, 0.1), (f32::INFINITY, 0.1), (40.0, -0.1), (40.0, 1.5), (40.0, f32::NAN)] {
            let c = facecore_liveness_config { min_face_px: m, max_outside: o };
            assert_eq!(config_from_c(&c).unwrap_err().status, facecore_status::InvalidArgument, "{m} {o}");
        }
    }
}
