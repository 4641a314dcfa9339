//! The face detector handle and its options.

use std::ffi::c_char;

use facecore::{Detector, DetectorConfig, InputSize};

use crate::boundary::{
    Fail, boundary, facecore_status, handle, handle_free, handle_ref, out_arg, path_arg, read_model_file, slice, slice_mut, write,
};
use crate::image::{facecore_face, facecore_image, image_arg};

/// Detector settings, a mutable builder. Not thread-safe: use from one thread at a time.
pub struct facecore_detector_options {
    tag: u64,
    pub(crate) config: DetectorConfig,
}
handle!(facecore_detector_options, 0x4643_4445_544F_5054, { config: DetectorConfig });

/// The YuNet face detector. Immutable: thread-safe, one handle may be used by several
/// threads at once.
pub struct facecore_detector {
    tag: u64,
    pub(crate) detector: Detector,
}
handle!(facecore_detector, 0x4643_4445_5445_4354, { detector: Detector });

/// @brief Creates detector options holding the defaults (score threshold 0.6, NMS IoU 0.3,
/// no minimum face size, at most 256 faces, input scaled to 640 px on the longest side).
///
/// Returns NULL only if memory runs out. Free with `facecore_detector_options_free`.
#[unsafe(no_mangle)]
pub extern "C" fn facecore_detector_options_new() -> *mut facecore_detector_options {
    crate::boundary::getter(std::ptr::null_mut(), || Some(facecore_detector_options::boxed(DetectorConfig::default())))
}

/// @brief Frees detector options. NULL is a no-op.
///
/// # Safety
/// `options` is NULL or a live handle, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_options_free(options: *mut facecore_detector_options) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(options) }
}

/// Applies `f` to the options, keeping the change only when the whole config stays valid.
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
unsafe fn set(options: *mut facecore_detector_options, f: impl FnOnce(&mut DetectorConfig)) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        unsafe { handle_ref(options, "options") }?;
        // SAFETY: checked live above; single-threaded use per the contract, so no alias.
        let h = unsafe { &mut *options };
        let mut c = h.config;
        f(&mut c);
        c.validate()?;
        h.config = c;
        Ok(())
    })
}

/// @brief Minimum score to keep a face, 0..1 (default 0.6).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_options_set_score_threshold(
    options: *mut facecore_detector_options,
    value: f32,
) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe { set(options, |c| c.score_threshold = value) }
}

/// @brief IoU above which the weaker of two overlapping boxes is dropped, 0..1 (default 0.3).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_options_set_nms_iou(options: *mut facecore_detector_options, value: f32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe { set(options, |c| c.nms_iou = value) }
}

/// @brief Drop faces narrower or shorter than this many image pixels (default 0).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_options_set_min_face_size(
    options: *mut facecore_detector_options,
    value: f32,
) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe { set(options, |c| c.min_face_size = value) }
}

/// @brief Keep at most this many faces, best first (default 256).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_options_set_max_faces(options: *mut facecore_detector_options, value: usize) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe { set(options, |c| c.max_faces = value) }
}

/// @brief Network input size: frames whose longest side exceeds `longest_side` pixels
/// (32..4096, default 640) are scaled down to it, smaller frames keep their size; 0 keeps
/// every frame's own size. A minimum face size scales frames down further.
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_options_set_input_size(
    options: *mut facecore_detector_options,
    longest_side: u32,
) -> facecore_status {
    let size = if longest_side == 0 { InputSize::Native } else { InputSize::MaxLongest(longest_side) };
    // SAFETY: forwarded caller contract.
    unsafe { set(options, |c| c.input_size = size) }
}

/// The options' config, or the defaults for NULL.
///
/// # Safety
/// `options` is NULL or a live handle.
pub(crate) unsafe fn config_arg(options: *const facecore_detector_options) -> Result<DetectorConfig, Fail> {
    if options.is_null() {
        return Ok(DetectorConfig::default());
    }
    // SAFETY: forwarded caller contract.
    Ok(unsafe { handle_ref(options, "options") }?.config)
}

/// Creates a detector handle from ONNX bytes or the bundled model.
///
/// # Safety
/// As the public constructors.
unsafe fn create(onnx: Option<&[u8]>, options: *const facecore_detector_options, out: *mut *mut facecore_detector) -> Result<(), Fail> {
    // SAFETY: forwarded caller contract.
    unsafe { create_as(onnx, false, options, out) }
}

/// As [`create`]; `custom` loads the bytes as the caller's own YuNet-compatible network.
///
/// # Safety
/// As the public constructors.
unsafe fn create_as(
    onnx: Option<&[u8]>,
    custom: bool,
    options: *const facecore_detector_options,
    out: *mut *mut facecore_detector,
) -> Result<(), Fail> {
    // SAFETY: forwarded caller contract.
    let config = unsafe { config_arg(options) }?;
    let out = out_arg(out, "out")?;
    let detector = match onnx {
        Some(bytes) if custom => Detector::custom(bytes, config)?,
        Some(bytes) => Detector::from_onnx(bytes, config)?,
        None => Detector::bundled(config)?,
    };
    // SAFETY: `out` checked non-NULL; valid per the caller's contract.
    unsafe { write(out, facecore_detector::boxed(detector)) };
    Ok(())
}

/// @brief Creates a detector from the bundled YuNet model.
///
/// `options` may be NULL for the defaults; it is copied, not kept. On success `*out`
/// receives a new handle, owned by the caller and freed with `facecore_detector_free`.
/// Fails with FACECORE_STATUS_MODEL_LOAD when the library was built without bundled models.
///
/// # Safety
/// `options` is NULL or a live handle; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_new(
    options: *const facecore_detector_options,
    out: *mut *mut facecore_detector,
) -> facecore_status {
    // SAFETY: forwarded caller contract.
    boundary(|| unsafe { create(None, options, out) })
}

/// @brief Creates a detector from a YuNet ONNX file.
///
/// As `facecore_detector_new`; `path` is a NUL-terminated path (bytes on Unix).
///
/// # Safety
/// `path` is a NUL-terminated string; `options` is NULL or a live handle; `out` is valid for
/// one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_new_from_file(
    path: *const c_char,
    options: *const facecore_detector_options,
    out: *mut *mut facecore_detector,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let path = unsafe { path_arg(path, "path") }?;
        out_arg(out, "out")?;
        let bytes = read_model_file(&path)?;
        // SAFETY: forwarded caller contract.
        unsafe { create(Some(&bytes), options, out) }
    })
}

/// @brief Creates a detector from YuNet ONNX bytes in memory (for firmware without a file
/// system). The bytes must be the bundled model's file (same SHA-256, see `facecore models
/// list`), else FACECORE_STATUS_MODEL_LOAD; your own network goes through
/// `facecore_detector_new_custom_from_memory`. The bytes are copied: the caller may free them
/// after the call.
///
/// # Safety
/// `onnx` is readable for `len` bytes; `options` is NULL or a live handle; `out` is valid for
/// one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_new_from_memory(
    onnx: *const u8,
    len: usize,
    options: *const facecore_detector_options,
    out: *mut *mut facecore_detector,
) -> facecore_status {
    boundary(|| {
        if onnx.is_null() {
            return Err(Fail::null("onnx"));
        }
        // SAFETY: forwarded caller contract.
        let bytes = unsafe { slice(onnx, len, "onnx") }?;
        // SAFETY: forwarded caller contract.
        unsafe { create(Some(bytes), options, out) }
    })
}

/// @brief Creates a detector from your own YuNet-compatible ONNX network in memory (a
/// retrained YuNet: same input and outputs), checked by its output shapes only. Fails with
/// FACECORE_STATUS_LIMIT_EXCEEDED over the model limit, FACECORE_STATUS_MODEL_LOAD for a
/// network without YuNet's outputs.
///
/// # Safety
/// As `facecore_detector_new_from_memory`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_new_custom_from_memory(
    onnx: *const u8,
    len: usize,
    options: *const facecore_detector_options,
    out: *mut *mut facecore_detector,
) -> facecore_status {
    boundary(|| {
        if onnx.is_null() {
            return Err(Fail::null("onnx"));
        }
        // SAFETY: forwarded caller contract.
        let bytes = unsafe { slice(onnx, len, "onnx") }?;
        // SAFETY: forwarded caller contract.
        unsafe { create_as(Some(bytes), true, options, out) }
    })
}

/// @brief Frees a detector. NULL is a no-op.
///
/// # Safety
/// `detector` is NULL or a live handle that no other thread is using, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detector_free(detector: *mut facecore_detector) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(detector) }
}

/// @brief Finds faces, best first, and copies them into `faces`.
///
/// `*out_count` receives the number of faces found. When it exceeds `capacity`, nothing is
/// written to `faces`, the call returns FACECORE_STATUS_BUFFER_TOO_SMALL and `*out_count` still
/// holds the needed count (the one exception to "outputs only on success"). `faces` may be NULL
/// when `capacity` is 0, to ask for the count. Thread-safe.
///
/// # Safety
/// `detector` is a live handle; `image` a valid image; `faces` is NULL or writable for
/// `capacity` faces; `out_count` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_detect(
    detector: *const facecore_detector,
    image: *const facecore_image,
    faces: *mut facecore_face,
    capacity: usize,
    out_count: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let d = unsafe { handle_ref(detector, "detector") }?;
        // SAFETY: forwarded caller contract.
        let image = unsafe { image_arg(image, "image") }?;
        // SAFETY: forwarded caller contract.
        let faces = unsafe { slice_mut(faces, capacity, "faces") }?;
        let out_count = out_arg(out_count, "out_count")?;
        let found = d.detector.detect(&image)?;
        // SAFETY: `out_count` checked non-NULL; valid per the caller's contract.
        unsafe { write(out_count, found.len()) };
        if found.len() > faces.len() {
            return Err(Fail::too_small(format!("{} faces found, capacity is {}", found.len(), faces.len())));
        }
        for (dst, f) in faces.iter_mut().zip(&found) {
            *dst = facecore_face::from(f);
        }
        Ok(())
    })
}
