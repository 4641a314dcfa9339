//! Embedding networks (one model each) and recognizers (alignment + networks, per preset).

use std::ffi::{CString, c_char};

use facecore::{Alignment, Branch, EmbedModel, Embedder, Preset, Recognizer};

use crate::boundary::{
    Fail, boundary, facecore_status, getter, handle, handle_free, handle_ref, out_arg, path_arg, read_model_file, slice, slice_mut,
    str_arg, write,
};
use crate::image::{face_from_c, facecore_face, facecore_image, image_arg};

/// The embedding networks.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_embed_model {
    /// SFace 2021dec: 112x112 chips on the ArcFace template, 128 values.
    Sface = 0,
    /// dlib's face recognition ResNet v1: 150x150 chips, 128 values.
    DlibResnet = 1,
}

/// Recognition presets (see the README for their measured accuracy and speed).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_preset {
    /// SFace and dlib ResNet fused, flip-averaged; 256 values. The most accurate.
    Accurate = 0,
    /// dlib ResNet on the 150 px template, no flip; 128 values.
    Fast = 1,
    /// face_recognition compatible (dlib's shape predictor and chip); 128 values.
    Dlib = 2,
    /// SFace alone, flip-averaged; 128 values.
    Sface = 3,
}

/// Bytes of the largest aligned face chip (150 x 150 RGB): an `facecore_align` buffer of this
/// size always suffices.
pub const FACECORE_CHIP_MAX_BYTES: usize = 150 * 150 * 3;

/// Values of the largest embedding any preset writes (the fused Accurate preset).
pub const FACECORE_EMBEDDING_MAX_DIM: usize = 256;

pub(crate) fn embed_model(v: u32) -> Result<EmbedModel, Fail> {
    Ok(match v {
        0 => EmbedModel::Sface,
        1 => EmbedModel::DlibResnet,
        v => return Err(Fail::invalid(format!("unknown embedding model {v}"))),
    })
}

pub(crate) fn preset(v: u32) -> Result<Preset, Fail> {
    Ok(match v {
        0 => Preset::Accurate,
        1 => Preset::Fast,
        2 => Preset::Dlib,
        3 => Preset::Sface,
        v => return Err(Fail::invalid(format!("unknown preset {v}"))),
    })
}

/// Embedding size of a preset's recognizer (the core fuses by concatenation).
pub(crate) fn preset_dim(p: Preset) -> usize {
    match p {
        Preset::Accurate => EmbedModel::Sface.dim() + EmbedModel::DlibResnet.dim(),
        Preset::Sface => EmbedModel::Sface.dim(),
        _ => EmbedModel::DlibResnet.dim(),
    }
}

/// One embedding network. Immutable: thread-safe, may be shared across threads.
pub struct facecore_embedder {
    tag: u64,
    pub(crate) embedder: Embedder,
}
handle!(facecore_embedder, 0x4643_454D_4245_4444, { embedder: Embedder });

/// Alignment plus one or more embedding networks. Immutable: thread-safe, may be shared
/// across threads.
pub struct facecore_recognizer {
    tag: u64,
    pub(crate) recognizer: Recognizer,
    pub(crate) space: CString,
    pub(crate) dim: usize,
}
handle!(facecore_recognizer, 0x4643_5245_434F_474E, { recognizer: Recognizer, space: CString, dim: usize });

pub(crate) fn new_recognizer(recognizer: Recognizer, dim: usize) -> Result<*mut facecore_recognizer, Fail> {
    let space = CString::new(recognizer.space()).map_err(|_| Fail::invalid("embedding space id contains NUL"))?;
    Ok(facecore_recognizer::boxed(recognizer, space, dim))
}

fn write_embedder(model: u32, onnx: Option<&[u8]>, out: *mut *mut facecore_embedder) -> Result<(), Fail> {
    write_embedder_as(model, onnx, None, out)
}

fn write_embedder_as(model: u32, onnx: Option<&[u8]>, custom_space: Option<&str>, out: *mut *mut facecore_embedder) -> Result<(), Fail> {
    let model = embed_model(model)?;
    let out = out_arg(out, "out")?;
    let embedder = match (onnx, custom_space) {
        (Some(b), Some(space)) => Embedder::custom(model, space, b)?,
        (Some(b), None) => Embedder::from_onnx(model, b)?,
        (None, _) => Embedder::bundled(model)?,
    };
    // SAFETY: `out` checked non-NULL; valid for one write per the caller's contract.
    unsafe { write(out, facecore_embedder::boxed(embedder)) };
    Ok(())
}

/// @brief Loads the bundled network `model` (a `facecore_embed_model` value).
///
/// On success `*out` receives a new handle, owned by the caller and freed with
/// `facecore_embedder_free`.
///
/// # Safety
/// `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_embedder_new(model: u32, out: *mut *mut facecore_embedder) -> facecore_status {
    boundary(|| write_embedder(model, None, out))
}

/// @brief Loads network `model` from an ONNX file. As `facecore_embedder_new`.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_embedder_new_from_file(
    model: u32,
    path: *const c_char,
    out: *mut *mut facecore_embedder,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let path = unsafe { path_arg(path, "path") }?;
        embed_model(model)?;
        out_arg(out, "out")?;
        write_embedder(model, Some(&read_model_file(&path)?), out)
    })
}

/// @brief Loads network `model` from ONNX bytes in memory (copied; the caller may free them
/// after the call). The bytes must be the bundled model's file (same SHA-256), else
/// FACECORE_STATUS_MODEL_LOAD: embeddings carry the model's space and its calibrated
/// thresholds, which another network may not claim. Your own network goes through
/// `facecore_embedder_new_custom_from_memory`. As `facecore_embedder_new`.
///
/// # Safety
/// `onnx` is readable for `len` bytes; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_embedder_new_from_memory(
    model: u32,
    onnx: *const u8,
    len: usize,
    out: *mut *mut facecore_embedder,
) -> facecore_status {
    boundary(|| {
        if onnx.is_null() {
            return Err(Fail::null("onnx"));
        }
        // SAFETY: forwarded caller contract.
        let bytes = unsafe { slice(onnx, len, "onnx") }?;
        write_embedder(model, Some(bytes), out)
    })
}

/// @brief Loads your own embedding network (a fine-tuned SFace, a retrained dlib ResNet) that
/// takes the chips of `like_model` (a `facecore_embed_model`: same input size, alignment and
/// pixels) and outputs as many values. Its embeddings carry the embedding space `space`
/// (printable UTF-8, 1..256 bytes), which must not be one of facecore's own: they get no
/// bundled thresholds (`facecore_threshold` fails with FACECORE_STATUS_NO_THRESHOLD; pass your
/// own). Fails with FACECORE_STATUS_LIMIT_EXCEEDED over the model limit.
///
/// # Safety
/// `space` is a NUL-terminated string; `onnx` is readable for `len` bytes; `out` is valid for
/// one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_embedder_new_custom_from_memory(
    like_model: u32,
    space: *const c_char,
    onnx: *const u8,
    len: usize,
    out: *mut *mut facecore_embedder,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let space = unsafe { str_arg(space, "space") }?;
        if onnx.is_null() {
            return Err(Fail::null("onnx"));
        }
        // SAFETY: forwarded caller contract.
        let bytes = unsafe { slice(onnx, len, "onnx") }?;
        write_embedder_as(like_model, Some(bytes), Some(space), out)
    })
}

/// @brief Frees an embedder. NULL is a no-op. Recognizers made from it stay valid.
///
/// # Safety
/// `embedder` is NULL or a live handle that no other thread is using, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_embedder_free(embedder: *mut facecore_embedder) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(embedder) }
}

/// @brief Creates a recognizer for a preset (a `facecore_preset` value) from the bundled models.
///
/// On success `*out` receives a new handle, owned by the caller and freed with
/// `facecore_recognizer_free`.
///
/// # Safety
/// `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_recognizer_new(preset: u32, out: *mut *mut facecore_recognizer) -> facecore_status {
    boundary(|| {
        let p = crate::recognizer::preset(preset)?;
        let out = out_arg(out, "out")?;
        let h = new_recognizer(Recognizer::from_preset(p)?, preset_dim(p))?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, h) };
        Ok(())
    })
}

/// @brief Creates a recognizer from loaded networks (e.g. loaded from memory): each network
/// gets its landmark alignment (SFace: ArcFace 112 px; dlib ResNet: the 150 px template), their
/// cosines are fused with `weights` (NULL: equal weights), and mirrored chips are averaged in
/// when `flip` is true. SFace at weight 0.3 with dlib ResNet at 0.7 and `flip` reproduces the
/// Accurate preset; dlib ResNet alone without flip, the Fast preset.
///
/// The networks are shared, not copied: the embedders may be freed afterwards. On success
/// `*out` receives a new handle, freed with `facecore_recognizer_free`.
///
/// # Safety
/// `embedders` is readable for `count` live handles; `weights` is NULL or readable for
/// `count` floats; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_recognizer_new_from_embedders(
    embedders: *const *const facecore_embedder,
    weights: *const f32,
    count: usize,
    flip: bool,
    out: *mut *mut facecore_recognizer,
) -> facecore_status {
    boundary(|| {
        if embedders.is_null() {
            return Err(Fail::null("embedders"));
        }
        // SAFETY: forwarded caller contract.
        let handles = unsafe { slice(embedders, count, "embedders") }?;
        let weights = if weights.is_null() {
            vec![1.0; count]
        } else {
            // SAFETY: forwarded caller contract.
            unsafe { slice(weights, count, "weights") }?.to_vec()
        };
        let out = out_arg(out, "out")?;
        let mut branches = Vec::with_capacity(count);
        for (i, (&e, &weight)) in handles.iter().zip(&weights).enumerate() {
            // SAFETY: forwarded caller contract.
            let e = unsafe { handle_ref(e, &format!("embedders[{i}]")) }?;
            let alignment = match e.embedder.model() {
                EmbedModel::Sface => Alignment::ArcFace112,
                _ => Alignment::Template150,
            };
            branches.push(Branch { embedder: e.embedder.clone(), alignment, weight });
        }
        let dim = branches.iter().map(|b| b.embedder.model().dim()).sum();
        let h = new_recognizer(Recognizer::new(branches, flip)?, dim)?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, h) };
        Ok(())
    })
}

/// @brief Frees a recognizer. NULL is a no-op.
///
/// # Safety
/// `recognizer` is NULL or a live handle that no other thread is using, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_recognizer_free(recognizer: *mut facecore_recognizer) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(recognizer) }
}

/// @brief Number of floats in this recognizer's embeddings (0 for a NULL or invalid handle).
///
/// # Safety
/// `recognizer` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_recognizer_dim(recognizer: *const facecore_recognizer) -> usize {
    // SAFETY: forwarded caller contract.
    getter(0, || unsafe { handle_ref(recognizer, "recognizer") }.ok().map(|h| h.dim))
}

/// @brief The id of the embedding space this recognizer writes (pass it to the gallery and
/// verification calls). Owned by the handle: valid until it is freed. NULL for a NULL or
/// invalid handle.
///
/// # Safety
/// `recognizer` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_recognizer_space(recognizer: *const facecore_recognizer) -> *const c_char {
    // SAFETY: forwarded caller contract.
    getter(std::ptr::null(), || unsafe { handle_ref(recognizer, "recognizer") }.ok().map(|h| h.space.as_ptr()))
}

/// @brief Cuts out the aligned chip that network `branch` (0 for the first) would embed for
/// `face`, as packed RGB rows, into `out` (`out_len` bytes; FACECORE_CHIP_MAX_BYTES always
/// suffices).
///
/// `*out_side` receives the chip's side in pixels (it is `side * side * 3` bytes). On
/// FACECORE_STATUS_BUFFER_TOO_SMALL nothing is written to `out` but `*out_side` is set.
/// Thread-safe.
///
/// # Safety
/// `recognizer` is a live handle; `image` and `face` are valid; `out` is writable for
/// `out_len` bytes; `out_side` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_align(
    recognizer: *const facecore_recognizer,
    image: *const facecore_image,
    face: *const facecore_face,
    branch: usize,
    out: *mut u8,
    out_len: usize,
    out_side: *mut u32,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let r = unsafe { handle_ref(recognizer, "recognizer") }?;
        // SAFETY: forwarded caller contract.
        let image = unsafe { image_arg(image, "image") }?;
        // SAFETY: forwarded caller contract.
        let face = face_from_c(unsafe { crate::boundary::arg_ref(face, "face") }?)?;
        // SAFETY: forwarded caller contract.
        let out = unsafe { slice_mut(out, out_len, "out") }?;
        let out_side = out_arg(out_side, "out_side")?;
        let chip = r.recognizer.chip(&image, &face, branch)?;
        // SAFETY: `out_side` checked non-NULL; valid per the caller's contract.
        unsafe { write(out_side, chip.width()) };
        let raw = chip.as_raw();
        if raw.len() > out.len() {
            return Err(Fail::too_small(format!("chip needs {} bytes, buffer has {}", raw.len(), out.len())));
        }
        out[..raw.len()].copy_from_slice(raw);
        Ok(())
    })
}

/// @brief Embeds one detected face: writes `facecore_recognizer_dim()` floats (unit length)
/// to `out`, which holds `out_len` floats. Thread-safe.
///
/// # Safety
/// `recognizer` is a live handle; `image` and `face` are valid; `out` is writable for
/// `out_len` floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_recognizer_embed(
    recognizer: *const facecore_recognizer,
    image: *const facecore_image,
    face: *const facecore_face,
    out: *mut f32,
    out_len: usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let r = unsafe { handle_ref(recognizer, "recognizer") }?;
        // SAFETY: forwarded caller contract.
        let image = unsafe { image_arg(image, "image") }?;
        // SAFETY: forwarded caller contract.
        let face = face_from_c(unsafe { crate::boundary::arg_ref(face, "face") }?)?;
        // SAFETY: forwarded caller contract.
        let out = unsafe { slice_mut(out, out_len, "out") }?;
        if out.len() < r.dim {
            return Err(Fail::too_small(format!("embedding has {} values, buffer holds {}", r.dim, out.len())));
        }
        let e = r.recognizer.embed(&image, &face)?;
        copy_embedding(e.as_slice(), out)
    })
}

pub(crate) fn copy_embedding(values: &[f32], out: &mut [f32]) -> Result<(), Fail> {
    let have = out.len();
    let dst = out
        .get_mut(..values.len())
        .ok_or_else(|| Fail::too_small(format!("embedding has {} values, buffer holds {have}", values.len())))?;
    dst.copy_from_slice(values);
    Ok(())
}

/// @brief Embeds a chip that is already aligned for this network (RGB or any format, exactly
/// the model's chip size: 112 px for SFace, 150 px for dlib ResNet): writes 128 floats (unit
/// length, no flip averaging) to `out`, which holds `out_len` floats. Thread-safe.
///
/// # Safety
/// `embedder` is a live handle; `chip` is valid; `out` is writable for `out_len` floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_embedder_embed_chip(
    embedder: *const facecore_embedder,
    chip: *const facecore_image,
    out: *mut f32,
    out_len: usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let e = unsafe { handle_ref(embedder, "embedder") }?;
        // SAFETY: forwarded caller contract.
        let chip = unsafe { image_arg(chip, "chip") }?;
        // SAFETY: forwarded caller contract.
        let out = unsafe { slice_mut(out, out_len, "out") }?;
        if out.len() < e.embedder.model().dim() {
            return Err(Fail::too_small(format!("embedding has {} values, buffer holds {}", e.embedder.model().dim(), out.len())));
        }
        let v = e.embedder.embed_chip(chip.as_rgb())?;
        copy_embedding(v.as_slice(), out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_values_match_the_core() {
        assert_eq!(preset(facecore_preset::Accurate as u32).ok(), Some(Preset::Accurate));
        assert_eq!(preset(facecore_preset::Fast as u32).ok(), Some(Preset::Fast));
        assert_eq!(preset(facecore_preset::Dlib as u32).ok(), Some(Preset::Dlib));
        assert_eq!(preset(facecore_preset::Sface as u32).ok(), Some(Preset::Sface));
        assert!(preset(4).is_err());
        assert_eq!(embed_model(facecore_embed_model::Sface as u32).ok(), Some(EmbedModel::Sface));
        assert_eq!(embed_model(facecore_embed_model::DlibResnet as u32).ok(), Some(EmbedModel::DlibResnet));
        assert!(embed_model(2).is_err());
        assert!(Preset::ALL.iter().all(|&p| preset_dim(p) <= FACECORE_EMBEDDING_MAX_DIM));
    }
}
