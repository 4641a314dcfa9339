//! Size limits: what facecore refuses before reading or allocating (`facecore::limits`).

use crate::boundary::{Fail, boundary, facecore_status, out_arg, write};

/// One size limit (see `facecore_limit_get` / `facecore_limit_set`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_limit {
    /// Largest encoded image file or buffer, in bytes (default 512 MiB).
    ImageFileBytes = 0,
    /// Largest image side, in pixels (default 16384; at most 65535).
    ImageSide = 1,
    /// Largest image area, in pixels (default 67108864).
    ImagePixels = 2,
    /// Largest frame side the detector runs on at native input size, in pixels (default 4096).
    NativeDetectorSide = 3,
    /// Largest gallery file or buffer, in bytes (default 2 GiB).
    GalleryFileBytes = 4,
    /// Largest model file or buffer, in bytes (default 512 MiB).
    ModelFileBytes = 5,
}

fn field(limit: u32) -> Result<fn(&mut facecore::limits::Limits) -> LimitRef<'_>, Fail> {
    Ok(match limit {
        0 => |l| LimitRef::U64(&mut l.image_file_bytes),
        1 => |l| LimitRef::U32(&mut l.image_side),
        2 => |l| LimitRef::U64(&mut l.image_pixels),
        3 => |l| LimitRef::U32(&mut l.native_detector_side),
        4 => |l| LimitRef::U64(&mut l.gallery_file_bytes),
        5 => |l| LimitRef::U64(&mut l.model_file_bytes),
        _ => return Err(Fail::invalid(format!("limit {limit} is not a facecore_limit value"))),
    })
}

enum LimitRef<'a> {
    U64(&'a mut u64),
    U32(&'a mut u32),
}

/// @brief `*out_value` receives the current value of limit `limit` (a `facecore_limit` value).
///
/// # Safety
/// `out_value` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_limit_get(limit: u32, out_value: *mut u64) -> facecore_status {
    boundary(|| {
        let f = field(limit)?;
        let out_value = out_arg(out_value, "out_value")?;
        let mut l = facecore::limits::get();
        let v = match f(&mut l) {
            LimitRef::U64(v) => *v,
            LimitRef::U32(v) => u64::from(*v),
        };
        // SAFETY: checked non-NULL; valid per the caller's contract.
        unsafe { write(out_value, v) };
        Ok(())
    })
}

/// @brief Sets limit `limit` (a `facecore_limit` value) for the whole process; calls already
/// running keep the old value. Inputs over a limit fail with FACECORE_STATUS_LIMIT_EXCEEDED
/// before anything is read. Fails with FACECORE_STATUS_INVALID_ARGUMENT for 0 or a value out
/// of the limit's range.
#[unsafe(no_mangle)]
pub extern "C" fn facecore_limit_set(limit: u32, value: u64) -> facecore_status {
    boundary(|| {
        let f = field(limit)?;
        let mut l = facecore::limits::get();
        match f(&mut l) {
            LimitRef::U64(v) => *v = value,
            LimitRef::U32(v) => *v = u32::try_from(value).map_err(|_| Fail::invalid(format!("{value} is out of range for this limit")))?,
        }
        facecore::limits::set(l)?;
        Ok(())
    })
}
