//! Where models come from, for builds without bundled models (firmware that keeps them on
//! flash or in a file system): a `facecore_models` handle names a directory or holds
//! in-memory files, each checked against the manifest (size and SHA-256) when added.

use facecore::{FacePipeline, ModelFile, ModelSource};

use crate::boundary::{Fail, boundary, facecore_status, handle, handle_free, handle_ref, out_arg, path_arg, slice, str_arg, write};
use crate::detector::{config_arg, facecore_detector_options};
use crate::pipeline::{boxed_pipeline, facecore_pipeline};
use crate::recognizer::preset_dim;

/// A set of model files: a directory or in-memory copies, each verified against facecore's
/// manifest. Immutable: thread-safe, may be shared across threads.
pub struct facecore_models {
    tag: u64,
    pub(crate) source: ModelSource,
}
handle!(facecore_models, 0x4643_4D4F_4445_4C53, { source: ModelSource });

/// One model file held in memory, for `facecore_models_new_from_memory`.
#[repr(C)]
pub struct facecore_model_buffer {
    /// The file's name in facecore's manifest, e.g. "sface_2021dec.onnx" (see
    /// `facecore_model_file_name`).
    pub file_name: *const std::ffi::c_char,
    /// The file's bytes.
    pub data: *const u8,
    /// Their length.
    pub len: usize,
}

/// @brief The manifest name of model file `index` (0 to `facecore_model_file_count() - 1`), or
/// NULL past the end. Static storage: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn facecore_model_file_name(index: usize) -> *const std::ffi::c_char {
    const NAMES: [&std::ffi::CStr; ModelFile::ALL.len()] = [
        c"yunet_2023mar.onnx",
        c"sface_2021dec.onnx",
        c"dlib_resnet_v1.onnx",
        c"shape_predictor_5_face_landmarks.dat",
        c"minifasnet_v2.onnx",
        c"minifasnet_v1se.onnx",
    ];
    debug_assert!(ModelFile::ALL.iter().zip(NAMES).all(|(f, n)| n.to_str().ok() == Some(f.file_name())));
    NAMES.get(index).map_or(std::ptr::null(), |n| n.as_ptr())
}

/// @brief How many model files facecore knows (`facecore_model_file_name` names them).
#[unsafe(no_mangle)]
pub extern "C" fn facecore_model_file_count() -> usize {
    ModelFile::ALL.len()
}

/// @brief Model files from a directory (files under their manifest names, as written by
/// `facecore models export DIR`). Nothing is read yet: each file is read and verified when a
/// pipeline needs it. On success `*out` receives a handle, freed with `facecore_models_free`.
///
/// # Safety
/// `dir` is a NUL-terminated path; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_models_new_from_dir(dir: *const std::ffi::c_char, out: *mut *mut facecore_models) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let dir = unsafe { path_arg(dir, "dir") }?;
        let out = out_arg(out, "out")?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, facecore_models::boxed(ModelSource::dir(dir))) };
        Ok(())
    })
}

/// @brief Model files held in memory (e.g. read from flash). Each of the `count` buffers is
/// checked against the manifest (size and SHA-256) and copied: the caller may free them
/// afterwards. A pipeline needs only its preset's files (see docs/c-api.md). On success
/// `*out` receives a handle, freed with `facecore_models_free`.
///
/// Fails with FACECORE_STATUS_INVALID_ARGUMENT for an unknown file name or a name given twice,
/// FACECORE_STATUS_MODEL_LOAD for bytes that are not the manifest's file.
///
/// # Safety
/// `files` is valid for reads of `count` buffers, each with a NUL-terminated `file_name` and
/// `data` valid for `len` bytes; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_models_new_from_memory(
    files: *const facecore_model_buffer,
    count: usize,
    out: *mut *mut facecore_models,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let files = unsafe { slice(files, count, "files") }?;
        let out = out_arg(out, "out")?;
        let mut source = ModelSource::memory();
        let mut seen = Vec::new();
        for f in files {
            // SAFETY: forwarded caller contract.
            let name = unsafe { str_arg(f.file_name, "file_name") }?;
            let file = ModelFile::from_file_name(name).ok_or_else(|| Fail::invalid(format!("unknown model file {name:?}")))?;
            if seen.contains(&file) {
                return Err(Fail::invalid(format!("model file {name:?} given twice")));
            }
            seen.push(file);
            // SAFETY: forwarded caller contract.
            let data = unsafe { slice(f.data, f.len, "data") }?;
            source = source.with_file(file, data.to_vec())?;
        }
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, facecore_models::boxed(source)) };
        Ok(())
    })
}

/// @brief Releases a model set (NULL is a no-op). Pipelines made from it keep working.
///
/// # Safety
/// `models` is NULL or a live handle, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_models_free(models: *mut facecore_models) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(models) }
}

/// @brief As `facecore_pipeline_new`, with the models from `models` (NULL: the bundled models,
/// or the directory named by the FACECORE_MODELS_DIR environment variable in a build without
/// them).
///
/// # Safety
/// `options` and `models` are NULL or live handles; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_new_with_models(
    preset: u32,
    options: *const facecore_detector_options,
    models: *const facecore_models,
    out: *mut *mut facecore_pipeline,
) -> facecore_status {
    boundary(|| {
        let p = crate::recognizer::preset(preset)?;
        // SAFETY: forwarded caller contract.
        let config = unsafe { config_arg(options) }?;
        let source = if models.is_null() {
            ModelSource::default()
        } else {
            // SAFETY: forwarded caller contract.
            unsafe { handle_ref(models, "models") }?.source.clone()
        };
        let out = out_arg(out, "out")?;
        let pipeline = FacePipeline::from_preset_with(p, &source)?.with_detector_config(config)?;
        let h = boxed_pipeline(pipeline, preset_dim(p))?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, h) };
        Ok(())
    })
}
