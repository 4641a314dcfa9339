//! The whole pipeline: detect, align and embed every face in one call.

use std::ffi::{CString, c_char};

use facecore::{Detector, FacePipeline, Recognizer};

use crate::boundary::{Fail, boundary, facecore_status, getter, handle, handle_free, handle_ref, out_arg, slice_mut, write};
use crate::detector::{config_arg, facecore_detector, facecore_detector_options};
use crate::image::{facecore_face, facecore_image, image_arg};
use crate::recognizer::{facecore_recognizer, preset_dim};

/// A detector plus a recognizer. Immutable: thread-safe, may be shared across threads.
pub struct facecore_pipeline {
    tag: u64,
    pub(crate) pipeline: FacePipeline,
    pub(crate) space: CString,
    pub(crate) dim: usize,
}
handle!(facecore_pipeline, 0x4643_5049_5045_4C4E, { pipeline: FacePipeline, space: CString, dim: usize });

pub(crate) fn boxed_pipeline(pipeline: FacePipeline, dim: usize) -> Result<*mut facecore_pipeline, Fail> {
    let space = CString::new(pipeline.recognizer().space()).map_err(|_| Fail::invalid("embedding space id contains NUL"))?;
    Ok(facecore_pipeline::boxed(pipeline, space, dim))
}

/// @brief Creates a pipeline from the bundled models: the detector with `options` (NULL for
/// the defaults; copied) and the recognizer of `preset` (a `facecore_preset` value).
///
/// On success `*out` receives a new handle, owned by the caller and freed with
/// `facecore_pipeline_free`.
///
/// # Safety
/// `options` is NULL or a live handle; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_new(
    preset: u32,
    options: *const facecore_detector_options,
    out: *mut *mut facecore_pipeline,
) -> facecore_status {
    boundary(|| {
        let p = crate::recognizer::preset(preset)?;
        // SAFETY: forwarded caller contract.
        let config = unsafe { config_arg(options) }?;
        let out = out_arg(out, "out")?;
        let recognizer = Recognizer::from_preset(p)?;
        let h = boxed_pipeline(FacePipeline::new(Detector::bundled(config)?, recognizer), preset_dim(p))?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, h) };
        Ok(())
    })
}

/// @brief Creates a pipeline from a detector and a recognizer (e.g. loaded from memory). The
/// models are shared, not copied: both handles may be freed afterwards. On success `*out`
/// receives a new handle, freed with `facecore_pipeline_free`.
///
/// # Safety
/// `detector` and `recognizer` are live handles; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_new_from_parts(
    detector: *const facecore_detector,
    recognizer: *const facecore_recognizer,
    out: *mut *mut facecore_pipeline,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let d = unsafe { handle_ref(detector, "detector") }?;
        // SAFETY: forwarded caller contract.
        let r = unsafe { handle_ref(recognizer, "recognizer") }?;
        let out = out_arg(out, "out")?;
        let h = boxed_pipeline(FacePipeline::new(d.detector.clone(), r.recognizer.clone()), r.dim)?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, h) };
        Ok(())
    })
}

/// @brief A new pipeline sharing `pipeline`'s models that uses up to `threads` threads per
/// call (1 to 64; 1, the default of every new pipeline, runs on the caller's thread only):
/// `facecore_pipeline_analyze` then embeds the faces of one image in parallel, with results
/// identical to the single-thread path. Firmware keeps 1; a server with spare cores per
/// request raises it. On success `*out` receives a new handle, freed with
/// `facecore_pipeline_free`; `pipeline` stays valid and unchanged.
///
/// # Safety
/// `pipeline` is a live handle; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_with_threads(
    pipeline: *const facecore_pipeline,
    threads: usize,
    out: *mut *mut facecore_pipeline,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let p = unsafe { handle_ref(pipeline, "pipeline") }?;
        let out = out_arg(out, "out")?;
        let h = boxed_pipeline(p.pipeline.clone().with_threads(threads)?, p.dim)?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, h) };
        Ok(())
    })
}

/// @brief A pipeline sharing `pipeline`'s models that also checks the liveness of every face at
/// operating point `op` (a `facecore_liveness_op`; `threshold` is read for
/// FACECORE_LIVENESS_OP_THRESHOLD only). Streams made from it decide each track's liveness
/// from several frames and report it (`facecore_stream_event.live`, `.liveness`, the
/// FACECORE_STREAM_EVENT_LIVENESS event). `liveness` is shared, not copied: it may be freed
/// afterwards. On success `*out` receives a new handle, freed with `facecore_pipeline_free`.
///
/// # Safety
/// `pipeline` and `liveness` are live handles; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_with_liveness(
    pipeline: *const facecore_pipeline,
    liveness: *const crate::liveness::facecore_liveness,
    op: u32,
    threshold: f32,
    out: *mut *mut facecore_pipeline,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let p = unsafe { handle_ref(pipeline, "pipeline") }?;
        // SAFETY: forwarded caller contract.
        let l = unsafe { handle_ref(liveness, "liveness") }?;
        let op = crate::liveness::liveness_op(op, threshold)?;
        let out = out_arg(out, "out")?;
        let h = boxed_pipeline(p.pipeline.clone().with_liveness(l.liveness.clone(), op), p.dim)?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, h) };
        Ok(())
    })
}

/// @brief Threads per call of a pipeline (0 for a NULL or invalid handle).
///
/// # Safety
/// `pipeline` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_threads(pipeline: *const facecore_pipeline) -> usize {
    // SAFETY: forwarded caller contract.
    getter(0, || unsafe { handle_ref(pipeline, "pipeline") }.ok().map(|h| h.pipeline.threads()))
}

/// @brief Frees a pipeline. NULL is a no-op.
///
/// # Safety
/// `pipeline` is NULL or a live handle that no other thread is using, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_free(pipeline: *mut facecore_pipeline) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(pipeline) }
}

/// @brief Number of floats per embedding (0 for a NULL or invalid handle).
///
/// # Safety
/// `pipeline` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_dim(pipeline: *const facecore_pipeline) -> usize {
    // SAFETY: forwarded caller contract.
    getter(0, || unsafe { handle_ref(pipeline, "pipeline") }.ok().map(|h| h.dim))
}

/// @brief The embedding space id of the pipeline's recognizer. Owned by the handle: valid until
/// it is freed. NULL for a NULL or invalid handle.
///
/// # Safety
/// `pipeline` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_space(pipeline: *const facecore_pipeline) -> *const c_char {
    // SAFETY: forwarded caller contract.
    getter(std::ptr::null(), || unsafe { handle_ref(pipeline, "pipeline") }.ok().map(|h| h.space.as_ptr()))
}

/// @brief Detects every face and embeds it. Face `i` goes to `faces[i]` and its embedding to
/// `embeddings[i * dim ... (i + 1) * dim - 1]` (`dim` = `facecore_pipeline_dim()`); faces that
/// cannot be aligned are skipped.
///
/// `*out_count` receives the number of faces. When `faces` (`capacity` entries) or
/// `embeddings` (`embeddings_len` floats) cannot hold them all, nothing is written to either,
/// the call returns FACECORE_STATUS_BUFFER_TOO_SMALL and `*out_count` holds the needed count.
/// Thread-safe.
///
/// # Safety
/// `pipeline` is a live handle; `image` is valid; `faces` is writable for `capacity` faces and
/// `embeddings` for `embeddings_len` floats (either may be NULL when its size is 0);
/// `out_count` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_analyze(
    pipeline: *const facecore_pipeline,
    image: *const facecore_image,
    faces: *mut facecore_face,
    capacity: usize,
    embeddings: *mut f32,
    embeddings_len: usize,
    out_count: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let p = unsafe { handle_ref(pipeline, "pipeline") }?;
        // SAFETY: forwarded caller contract.
        let image = unsafe { image_arg(image, "image") }?;
        // SAFETY: forwarded caller contract.
        let faces = unsafe { slice_mut(faces, capacity, "faces") }?;
        // SAFETY: forwarded caller contract.
        let embeddings = unsafe { slice_mut(embeddings, embeddings_len, "embeddings") }?;
        let out_count = out_arg(out_count, "out_count")?;
        let found = p.pipeline.analyze(&image)?;
        // SAFETY: `out_count` checked non-NULL; valid per the caller's contract.
        unsafe { write(out_count, found.len()) };
        if found.len() > faces.len() || found.len().saturating_mul(p.dim) > embeddings.len() {
            return Err(Fail::too_small(format!(
                "{} faces found; buffers hold {} faces and {} floats ({} per embedding)",
                found.len(),
                faces.len(),
                embeddings.len(),
                p.dim
            )));
        }
        for (i, f) in found.iter().enumerate() {
            faces[i] = facecore_face::from(&f.face);
            crate::recognizer::copy_embedding(f.embedding.as_slice(), &mut embeddings[i * p.dim..(i + 1) * p.dim])?;
        }
        Ok(())
    })
}
