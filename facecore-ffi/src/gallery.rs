//! Galleries: enrol, remove, search, identify, save and load.

use std::ffi::c_char;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use facecore::{Embedding, Gallery, Identity, Match};

use crate::boundary::{
    Fail, boundary, facecore_status, getter, handle, handle_free, handle_ref, out_arg, path_arg, slice, slice_mut, str_arg, write,
};

/// `facecore_match.index` when there is no candidate at all (empty gallery): SIZE_MAX in C.
const NO_PERSON: usize = usize::MAX;

/// A search hit.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct facecore_match {
    /// The person's index in enrolment order (see `facecore_gallery_person_name`), or
    /// SIZE_MAX.
    pub index: usize,
    /// Best cosine similarity between the probe and the person's embeddings (-1..1).
    pub score: f32,
}

/// People with their embeddings, all from one embedding space. Internally locked: every
/// call is thread-safe, and concurrent readers do not block each other.
pub struct facecore_gallery {
    tag: u64,
    pub(crate) gallery: RwLock<Gallery>,
}
handle!(facecore_gallery, 0x4643_4741_4C4C_5259, { gallery: RwLock<Gallery> });

impl facecore_gallery {
    fn read(&self) -> RwLockReadGuard<'_, Gallery> {
        // A panic while holding the lock cannot leave a gallery half-modified in a way that
        // breaks memory safety; keep serving it.
        self.gallery.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn write(&self) -> RwLockWriteGuard<'_, Gallery> {
        self.gallery.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Builds an embedding of `space` from C floats.
///
/// # Safety
/// `values` is NULL or readable for `dim` floats; `space` is NULL or a NUL-terminated string.
pub(crate) unsafe fn embedding_arg(space: *const c_char, values: *const f32, dim: usize, arg: &str) -> Result<Embedding, Fail> {
    // SAFETY: forwarded caller contract.
    let space = unsafe { str_arg(space, "space") }?;
    if values.is_null() {
        return Err(Fail::null(arg));
    }
    if dim == 0 || dim > 4096 {
        return Err(Fail::invalid(format!("{arg}: dimension {dim} is not in 1..4096")));
    }
    // SAFETY: forwarded caller contract.
    let v = unsafe { slice(values, dim, arg) }?;
    Ok(Embedding::new(space, v.to_vec())?)
}

fn to_c(g: &Gallery, m: &Match) -> facecore_match {
    let index = g.people().iter().position(|p| p.name == m.name).unwrap_or(NO_PERSON);
    facecore_match { index, score: m.score }
}

fn boxed_out(g: Gallery, out: *mut *mut facecore_gallery) {
    // SAFETY: every caller checked `out` with `out_arg`; valid per its caller's contract.
    unsafe { write(out, facecore_gallery::boxed(RwLock::new(g))) }
}

/// @brief Creates an empty gallery; its embedding space is fixed by the first enrolment.
///
/// On success `*out` receives a new handle, owned by the caller and freed with
/// `facecore_gallery_free`.
///
/// # Safety
/// `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_new(out: *mut *mut facecore_gallery) -> facecore_status {
    boundary(|| {
        let out = out_arg(out, "out")?;
        boxed_out(Gallery::new(), out);
        Ok(())
    })
}

/// @brief Reads a gallery file written by `facecore_gallery_save` (or the Rust and Python APIs).
///
/// Fails with FACECORE_STATUS_NOT_FOUND for a missing file, FACECORE_STATUS_GALLERY for a
/// damaged, truncated, foreign or newer file. On success `*out` receives a new handle.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_load(path: *const c_char, out: *mut *mut facecore_gallery) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let path = unsafe { path_arg(path, "path") }?;
        let out = out_arg(out, "out")?;
        boxed_out(Gallery::load(&path)?, out);
        Ok(())
    })
}

/// @brief Parses a gallery held in memory (the bytes of a gallery file; copied). As
/// `facecore_gallery_load`.
///
/// # Safety
/// `data` is readable for `len` bytes; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_load_from_memory(
    data: *const u8,
    len: usize,
    out: *mut *mut facecore_gallery,
) -> facecore_status {
    boundary(|| {
        if data.is_null() {
            return Err(Fail::null("data"));
        }
        // SAFETY: forwarded caller contract.
        let bytes = unsafe { slice(data, len, "data") }?;
        let out = out_arg(out, "out")?;
        boxed_out(Gallery::from_bytes(bytes)?, out);
        Ok(())
    })
}

/// @brief Writes the gallery file atomically (temporary file, fsync, rename): a crash leaves
/// the old or the new file, never a torn one.
///
/// # Safety
/// `gallery` is a live handle; `path` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_save(gallery: *const facecore_gallery, path: *const c_char) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let path = unsafe { path_arg(path, "path") }?;
        g.read().save(&path)?;
        Ok(())
    })
}

/// @brief Serialises the gallery (the bytes of a gallery file) into `out` (`out_len` bytes).
///
/// `*out_size` receives the size in bytes, also on FACECORE_STATUS_BUFFER_TOO_SMALL (then
/// nothing is written to `out`); `out` may be NULL when `out_len` is 0, to ask for the size.
///
/// # Safety
/// `gallery` is a live handle; `out` is writable for `out_len` bytes; `out_size` is valid for
/// one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_save_to_memory(
    gallery: *const facecore_gallery,
    out: *mut u8,
    out_len: usize,
    out_size: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let out = unsafe { slice_mut(out, out_len, "out") }?;
        let out_size = out_arg(out_size, "out_size")?;
        let bytes = g.read().to_bytes();
        // SAFETY: `out_size` checked non-NULL; valid per the caller's contract.
        unsafe { write(out_size, bytes.len()) };
        let dst = out
            .get_mut(..bytes.len())
            .ok_or_else(|| Fail::too_small(format!("gallery needs {} bytes, buffer has {out_len}", bytes.len())))?;
        dst.copy_from_slice(&bytes);
        Ok(())
    })
}

/// @brief Frees a gallery. NULL is a no-op.
///
/// # Safety
/// `gallery` is NULL or a live handle that no other thread is using, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_free(gallery: *mut facecore_gallery) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(gallery) }
}

/// @brief Number of people (0 for a NULL or invalid handle).
///
/// # Safety
/// `gallery` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_len(gallery: *const facecore_gallery) -> usize {
    // SAFETY: forwarded caller contract.
    getter(0, || unsafe { handle_ref(gallery, "gallery") }.ok().map(|g| g.read().len()))
}

/// @brief Adds an embedding of `dim` floats from embedding space `space` (the recognizer's or
/// pipeline's space id) to person `name` (UTF-8, 1..1024 bytes), creating the person if needed.
///
/// Fails with FACECORE_STATUS_MODEL_MISMATCH when the gallery holds another space.
///
/// # Safety
/// `gallery` is a live handle; `name` and `space` are NUL-terminated strings; `embedding` is
/// readable for `dim` floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_enroll(
    gallery: *mut facecore_gallery,
    name: *const c_char,
    space: *const c_char,
    embedding: *const f32,
    dim: usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: forwarded caller contract.
        let e = unsafe { embedding_arg(space, embedding, dim, "embedding") }?;
        g.write().enroll(name, &e)?;
        Ok(())
    })
}

/// @brief Sets a person's free-form metadata (UTF-8, at most 1 MiB).
///
/// # Safety
/// `gallery` is a live handle; `name` and `metadata` are NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_set_metadata(
    gallery: *mut facecore_gallery,
    name: *const c_char,
    metadata: *const c_char,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: forwarded caller contract.
        let metadata = unsafe { str_arg(metadata, "metadata") }?;
        g.write().set_metadata(name, metadata)?;
        Ok(())
    })
}

/// @brief Removes a person and all their embeddings; `*out_removed` tells whether they were
/// enrolled. Later people move down one index.
///
/// # Safety
/// `gallery` is a live handle; `name` is a NUL-terminated string; `out_removed` is valid for
/// one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_remove(
    gallery: *mut facecore_gallery,
    name: *const c_char,
    out_removed: *mut bool,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let name = unsafe { str_arg(name, "name") }?;
        let out_removed = out_arg(out_removed, "out_removed")?;
        let removed = g.write().remove(name);
        // SAFETY: checked non-NULL; valid per the caller's contract.
        unsafe { write(out_removed, removed) };
        Ok(())
    })
}

/// @brief Copies the name of person `index` (enrolment order) into `out` (`out_len` bytes,
/// NUL-terminated).
///
/// `*out_size` receives the name's length plus one for the NUL, also on
/// FACECORE_STATUS_BUFFER_TOO_SMALL (then nothing is written to `out`). Fails with
/// FACECORE_STATUS_INVALID_ARGUMENT for an index past the end.
///
/// # Safety
/// `gallery` is a live handle; `out` is writable for `out_len` bytes (NULL when 0); `out_size`
/// is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_person_name(
    gallery: *const facecore_gallery,
    index: usize,
    out: *mut c_char,
    out_len: usize,
    out_size: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let out = unsafe { slice_mut(out.cast::<u8>(), out_len, "out") }?;
        let out_size = out_arg(out_size, "out_size")?;
        let people = g.read().people();
        let p = people.get(index).ok_or_else(|| Fail::invalid(format!("index {index} is past the {} people", people.len())))?;
        let n = p.name.len() + 1;
        // SAFETY: checked non-NULL; valid per the caller's contract.
        unsafe { write(out_size, n) };
        let dst = out.get_mut(..n).ok_or_else(|| Fail::too_small(format!("name needs {n} bytes, buffer has {out_len}")))?;
        dst[..n - 1].copy_from_slice(p.name.as_bytes());
        dst[n - 1] = 0;
        Ok(())
    })
}

/// @brief The `capacity` best people for a probe embedding, best first (each person scored by
/// their best embedding). `*out_count` receives how many were written (at most `capacity`,
/// fewer when the gallery is smaller).
///
/// # Safety
/// `gallery` is a live handle; `space` a NUL-terminated string; `probe` readable for `dim`
/// floats; `matches` writable for `capacity` entries (NULL when 0); `out_count` valid for one
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_search(
    gallery: *const facecore_gallery,
    space: *const c_char,
    probe: *const f32,
    dim: usize,
    matches: *mut facecore_match,
    capacity: usize,
    out_count: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let probe = unsafe { embedding_arg(space, probe, dim, "probe") }?;
        // SAFETY: forwarded caller contract.
        let matches = unsafe { slice_mut(matches, capacity, "matches") }?;
        let out_count = out_arg(out_count, "out_count")?;
        let g = g.read();
        let found = g.search(&probe, capacity)?;
        for (dst, m) in matches.iter_mut().zip(&found) {
            *dst = to_c(&g, m);
        }
        // SAFETY: checked non-NULL; valid per the caller's contract.
        unsafe { write(out_count, found.len()) };
        Ok(())
    })
}

/// @brief Open-set identification: `*out_known` is true when the best person's score reaches
/// `threshold` (from `facecore_threshold` or your own). `*out_best` receives the best candidate
/// either way (index SIZE_MAX when the gallery is empty).
///
/// # Safety
/// `gallery` is a live handle; `space` a NUL-terminated string; `probe` readable for `dim`
/// floats; `out_best` and `out_known` valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_identify(
    gallery: *const facecore_gallery,
    space: *const c_char,
    probe: *const f32,
    dim: usize,
    threshold: f32,
    out_best: *mut facecore_match,
    out_known: *mut bool,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let probe = unsafe { embedding_arg(space, probe, dim, "probe") }?;
        if !threshold.is_finite() {
            return Err(Fail::invalid(format!("threshold {threshold} is not finite")));
        }
        let out_best = out_arg(out_best, "out_best")?;
        let out_known = out_arg(out_known, "out_known")?;
        let g = g.read();
        let none = facecore_match { index: NO_PERSON, score: f32::NEG_INFINITY };
        let (best, known) = match g.identify(&probe, threshold)? {
            Identity::Known(m) => (to_c(&g, &m), true),
            Identity::Unknown(Some(m)) => (to_c(&g, &m), false),
            Identity::Unknown(None) => (none, false),
        };
        // SAFETY: both checked non-NULL; valid per the caller's contract.
        unsafe {
            write(out_best, best);
            write(out_known, known);
        }
        Ok(())
    })
}
