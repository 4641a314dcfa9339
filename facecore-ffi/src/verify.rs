//! 1:1 comparison: similarity, calibrated thresholds, verification.

use std::ffi::c_char;

use facecore::OperatingPoint;

use crate::boundary::{Fail, boundary, facecore_status, out_arg, str_arg, write};
use crate::gallery::embedding_arg;

/// Named decision thresholds, calibrated per embedding space.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_operating_point {
    /// False match rate 1e-3 on the calibration impostor pairs.
    Fmr1e3 = 0,
    /// False match rate 1e-4: stricter, for access control.
    Fmr1e4 = 1,
    /// Best accuracy on the calibration pairs.
    BestAccuracy = 2,
}

pub(crate) fn operating_point(v: u32) -> Result<OperatingPoint, Fail> {
    Ok(match v {
        0 => OperatingPoint::Fmr1e3,
        1 => OperatingPoint::Fmr1e4,
        2 => OperatingPoint::BestAccuracy,
        v => return Err(Fail::invalid(format!("unknown operating point {v}"))),
    })
}

fn threshold(space: &str, op: OperatingPoint) -> Result<f32, Fail> {
    op.threshold(space).map_err(|e| Fail::new(facecore_status::NoThreshold, e.to_string()))
}

/// @brief Cosine similarity (-1..1) of two embeddings of `dim` floats from the same space.
///
/// # Safety
/// `a` and `b` are readable for `dim` floats; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_similarity(a: *const f32, b: *const f32, dim: usize, out: *mut f32) -> facecore_status {
    boundary(|| {
        // The space id only has to agree between the two: both come from the caller.
        let space = c"c-caller".as_ptr();
        // SAFETY: forwarded caller contract.
        let a = unsafe { embedding_arg(space, a, dim, "a") }?;
        // SAFETY: forwarded caller contract.
        let b = unsafe { embedding_arg(space, b, dim, "b") }?;
        let out = out_arg(out, "out")?;
        let s = a.similarity(&b)?;
        // SAFETY: checked non-NULL; valid per the caller's contract.
        unsafe { write(out, s) };
        Ok(())
    })
}

/// @brief The calibrated threshold of operating point `op` (a `facecore_operating_point`
/// value) for embedding space `space`. Fails with FACECORE_STATUS_NO_THRESHOLD when that space
/// has not been calibrated: then choose a threshold yourself and compare
/// `facecore_similarity` against it.
///
/// # Safety
/// `space` is a NUL-terminated string; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_threshold(space: *const c_char, op: u32, out: *mut f32) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let space = unsafe { str_arg(space, "space") }?;
        let op = operating_point(op)?;
        let out = out_arg(out, "out")?;
        let t = threshold(space, op)?;
        // SAFETY: checked non-NULL; valid per the caller's contract.
        unsafe { write(out, t) };
        Ok(())
    })
}

/// @brief Verifies that two embeddings of `space` show the same person at operating point
/// `op`: `*out_similarity` receives the cosine and `*out_same` whether it reaches the
/// calibrated threshold. FACECORE_STATUS_NO_THRESHOLD as `facecore_threshold`.
///
/// # Safety
/// `space` is a NUL-terminated string; `a` and `b` are readable for `dim` floats;
/// `out_similarity` and `out_same` are valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_verify(
    space: *const c_char,
    a: *const f32,
    b: *const f32,
    dim: usize,
    op: u32,
    out_similarity: *mut f32,
    out_same: *mut bool,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let a = unsafe { embedding_arg(space, a, dim, "a") }?;
        // SAFETY: forwarded caller contract.
        let b = unsafe { embedding_arg(space, b, dim, "b") }?;
        let op = operating_point(op)?;
        let out_similarity = out_arg(out_similarity, "out_similarity")?;
        let out_same = out_arg(out_same, "out_same")?;
        threshold(a.model(), op)?;
        let v = facecore::verify(&a, &b, op)?;
        // SAFETY: both checked non-NULL; valid per the caller's contract.
        unsafe {
            write(out_similarity, v.similarity);
            write(out_same, v.same_person);
        }
        Ok(())
    })
}
