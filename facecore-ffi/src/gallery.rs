//! Galleries: enrol, remove, search, identify, save and load.

use std::ffi::c_char;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use facecore::{Embedding, Gallery, GalleryKey, Identity, Match, PersonId};

use crate::boundary::{
    Fail, boundary, facecore_status, getter, handle, handle_free, handle_ref, out_arg, path_arg, slice, slice_mut, str_arg, write,
};

/// `facecore_match.id` when there is no candidate at all (empty gallery). Person ids start at 1.
pub const FACECORE_NO_PERSON: u64 = 0;

/// Size of a gallery key in bytes.
pub const FACECORE_GALLERY_KEY_BYTES: usize = 32;

/// A search hit.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct facecore_match {
    /// The person's stable id (given at enrolment, never reused in this gallery, kept across
    /// save and load; see `facecore_gallery_person_name`), or FACECORE_NO_PERSON.
    pub id: u64,
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
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Gallery> {
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

fn to_c(m: &Match) -> facecore_match {
    facecore_match { id: m.id.0, score: m.score }
}

/// Reads a 32-byte gallery key argument.
///
/// # Safety
/// `key` is NULL or readable for `key_len` bytes.
unsafe fn key_arg(key: *const u8, key_len: usize) -> Result<GalleryKey, Fail> {
    if key.is_null() {
        return Err(Fail::null("key"));
    }
    // SAFETY: forwarded caller contract.
    let bytes = unsafe { slice(key, key_len, "key") }?;
    Ok(GalleryKey::from_bytes(bytes)?)
}

/// Copies `text` and a NUL into `out`, reporting the needed size in `*out_size`.
///
/// # Safety
/// `out_size` is checked non-NULL and valid for one write.
unsafe fn copy_str_out(text: &str, out: &mut [u8], out_size: *mut usize, what: &str) -> Result<(), Fail> {
    let n = text.len() + 1;
    // SAFETY: forwarded caller contract.
    unsafe { write(out_size, n) };
    let out_len = out.len();
    let dst = out.get_mut(..n).ok_or_else(|| Fail::too_small(format!("{what} needs {n} bytes, buffer has {out_len}")))?;
    dst[..n - 1].copy_from_slice(text.as_bytes());
    dst[n - 1] = 0;
    Ok(())
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

/// @brief Reads an encrypted gallery file written by `facecore_gallery_save_encrypted`, with
/// its 32-byte key.
///
/// Fails with FACECORE_STATUS_KEY for a wrong key, a forged or altered file, or an
/// unencrypted file (a plain file in place of an encrypted one may be a substitution);
/// otherwise as `facecore_gallery_load`.
///
/// # Safety
/// `path` is a NUL-terminated string; `key` is readable for `key_len` bytes; `out` is valid
/// for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_load_encrypted(
    path: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut facecore_gallery,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let path = unsafe { path_arg(path, "path") }?;
        // SAFETY: forwarded caller contract.
        let key = unsafe { key_arg(key, key_len) }?;
        let out = out_arg(out, "out")?;
        boxed_out(Gallery::load_encrypted(&path, &key)?, out);
        Ok(())
    })
}

/// @brief Parses an encrypted gallery held in memory. As `facecore_gallery_load_encrypted`.
///
/// # Safety
/// `data` is readable for `len` bytes; `key` for `key_len` bytes; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_load_encrypted_from_memory(
    data: *const u8,
    len: usize,
    key: *const u8,
    key_len: usize,
    out: *mut *mut facecore_gallery,
) -> facecore_status {
    boundary(|| {
        if data.is_null() {
            return Err(Fail::null("data"));
        }
        // SAFETY: forwarded caller contract.
        let bytes = unsafe { slice(data, len, "data") }?;
        // SAFETY: forwarded caller contract.
        let key = unsafe { key_arg(key, key_len) }?;
        let out = out_arg(out, "out")?;
        boxed_out(Gallery::from_encrypted_bytes(bytes, &key)?, out);
        Ok(())
    })
}

/// @brief Writes the gallery file atomically (exclusive temporary file, fsync, rename, fsync of
/// the folder): a crash leaves the old or the new file, never a torn one. Saves of one path
/// take turns (threads and processes); a new file gets mode 0600, an existing one keeps its
/// mode. Serialises under the gallery's read lock, writes after releasing it.
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
        let snapshot = g.read().clone();
        snapshot.save(&path)?;
        Ok(())
    })
}

/// @brief As `facecore_gallery_save`, encrypted (XChaCha20-Poly1305) with a 32-byte key that
/// the caller keeps: the file reveals no name, metadata or embedding, and any change to it is
/// detected when loading.
///
/// # Safety
/// `gallery` is a live handle; `path` is a NUL-terminated string; `key` is readable for
/// `key_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_save_encrypted(
    gallery: *const facecore_gallery,
    path: *const c_char,
    key: *const u8,
    key_len: usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let path = unsafe { path_arg(path, "path") }?;
        // SAFETY: forwarded caller contract.
        let key = unsafe { key_arg(key, key_len) }?;
        let snapshot = g.read().clone();
        snapshot.save_encrypted(&path, &key)?;
        Ok(())
    })
}

/// @brief Fills `out` with a new random gallery key from the operating system's generator.
///
/// # Safety
/// `out` is writable for `out_len` bytes (FACECORE_GALLERY_KEY_BYTES).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_key_generate(out: *mut u8, out_len: usize) -> facecore_status {
    boundary(|| {
        if out.is_null() {
            return Err(Fail::null("out"));
        }
        // SAFETY: forwarded caller contract.
        let out = unsafe { slice_mut(out, out_len, "out") }?;
        if out.len() != FACECORE_GALLERY_KEY_BYTES {
            return Err(Fail::invalid(format!("out has {} bytes, a key is {FACECORE_GALLERY_KEY_BYTES}", out.len())));
        }
        out.copy_from_slice(GalleryKey::generate()?.as_bytes());
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
        unsafe { bytes_out(&bytes, out, out_size) }
    })
}

/// Copies `bytes` into `out`, reporting the size in `*out_size`.
///
/// # Safety
/// `out_size` is checked non-NULL and valid for one write.
unsafe fn bytes_out(bytes: &[u8], out: &mut [u8], out_size: *mut usize) -> Result<(), Fail> {
    // SAFETY: forwarded caller contract.
    unsafe { write(out_size, bytes.len()) };
    let out_len = out.len();
    let dst =
        out.get_mut(..bytes.len()).ok_or_else(|| Fail::too_small(format!("gallery needs {} bytes, buffer has {out_len}", bytes.len())))?;
    dst.copy_from_slice(bytes);
    Ok(())
}

/// @brief As `facecore_gallery_save_to_memory`, encrypted with a 32-byte key. Each call
/// encrypts anew (a fresh random nonce): ask for the size with `out_len` 0, then call again
/// with a buffer of at least that size (the size is the same every time).
///
/// # Safety
/// As `facecore_gallery_save_to_memory`; `key` is readable for `key_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_save_encrypted_to_memory(
    gallery: *const facecore_gallery,
    key: *const u8,
    key_len: usize,
    out: *mut u8,
    out_len: usize,
    out_size: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let key = unsafe { key_arg(key, key_len) }?;
        // SAFETY: forwarded caller contract.
        let out = unsafe { slice_mut(out, out_len, "out") }?;
        let out_size = out_arg(out_size, "out_size")?;
        let bytes = g.read().to_encrypted_bytes(&key)?;
        // SAFETY: `out_size` checked non-NULL; valid per the caller's contract.
        unsafe { bytes_out(&bytes, out, out_size) }
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
/// `*out_id` (when `out_id` is not NULL) receives the person's stable id.
/// Fails with FACECORE_STATUS_MODEL_MISMATCH when the gallery holds another space.
///
/// # Safety
/// `gallery` is a live handle; `name` and `space` are NUL-terminated strings; `embedding` is
/// readable for `dim` floats; `out_id` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_enroll(
    gallery: *mut facecore_gallery,
    name: *const c_char,
    space: *const c_char,
    embedding: *const f32,
    dim: usize,
    out_id: *mut u64,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: forwarded caller contract.
        let e = unsafe { embedding_arg(space, embedding, dim, "embedding") }?;
        let id = g.write().enroll(name, &e)?;
        if !out_id.is_null() {
            // SAFETY: non-NULL; valid per the caller's contract.
            unsafe { write(out_id, id.0) };
        }
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
/// enrolled. Other people keep their ids (later people move down one index in
/// `facecore_gallery_person_at`).
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

/// @brief Removes the person with id `id`; `*out_removed` tells whether they were enrolled.
///
/// # Safety
/// `gallery` is a live handle; `out_removed` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_remove_id(gallery: *mut facecore_gallery, id: u64, out_removed: *mut bool) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        let out_removed = out_arg(out_removed, "out_removed")?;
        let removed = g.write().remove_id(PersonId(id));
        // SAFETY: checked non-NULL; valid per the caller's contract.
        unsafe { write(out_removed, removed) };
        Ok(())
    })
}

/// @brief Copies the name of person `id` (from a match, `facecore_gallery_enroll` or
/// `facecore_gallery_person_at`) into `out` (`out_len` bytes, NUL-terminated). O(1).
///
/// `*out_size` receives the name's length plus one for the NUL, also on
/// FACECORE_STATUS_BUFFER_TOO_SMALL (then nothing is written to `out`). Fails with
/// FACECORE_STATUS_NO_SUCH_PERSON when nobody has this id (any more): ids are never reused,
/// so a match whose person was removed meanwhile is reported, never misnamed.
///
/// # Safety
/// `gallery` is a live handle; `out` is writable for `out_len` bytes (NULL when 0); `out_size`
/// is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_person_name(
    gallery: *const facecore_gallery,
    id: u64,
    out: *mut c_char,
    out_len: usize,
    out_size: *mut usize,
) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe { person_text(gallery, id, out, out_len, out_size, "name", Gallery::name_of) }
}

/// @brief Copies the metadata of person `id` into `out`. As `facecore_gallery_person_name`.
///
/// # Safety
/// As `facecore_gallery_person_name`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_person_metadata(
    gallery: *const facecore_gallery,
    id: u64,
    out: *mut c_char,
    out_len: usize,
    out_size: *mut usize,
) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe { person_text(gallery, id, out, out_len, out_size, "metadata", Gallery::metadata_of) }
}

/// Copies one text field of person `id` (`what`, read by `field`) into a caller buffer.
///
/// # Safety
/// As `facecore_gallery_person_name`.
unsafe fn person_text(
    gallery: *const facecore_gallery,
    id: u64,
    out: *mut c_char,
    out_len: usize,
    out_size: *mut usize,
    what: &str,
    field: fn(&Gallery, PersonId) -> Option<&str>,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let out = unsafe { slice_mut(out.cast::<u8>(), out_len, "out") }?;
        let out_size = out_arg(out_size, "out_size")?;
        let g = g.read();
        let text = field(&g, PersonId(id)).ok_or_else(|| no_such_person(id))?;
        // SAFETY: `out_size` checked non-NULL; valid per the caller's contract.
        unsafe { copy_str_out(text, out, out_size, what) }
    })
}

fn no_such_person(id: u64) -> Fail {
    Fail::new(facecore_status::NoSuchPerson, format!("no person with id {id} is enrolled"))
}

/// @brief `*out_id` receives the id of person `name`. O(1). Fails with
/// FACECORE_STATUS_NO_SUCH_PERSON when nobody has this name.
///
/// # Safety
/// `gallery` is a live handle; `name` is a NUL-terminated string; `out_id` is valid for one
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_person_id(
    gallery: *const facecore_gallery,
    name: *const c_char,
    out_id: *mut u64,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        // SAFETY: forwarded caller contract.
        let name = unsafe { str_arg(name, "name") }?;
        let out_id = out_arg(out_id, "out_id")?;
        let id = g.read().id_of(name).ok_or_else(|| Fail::new(facecore_status::NoSuchPerson, format!("{name:?} is not enrolled")))?;
        // SAFETY: checked non-NULL; valid per the caller's contract.
        unsafe { write(out_id, id.0) };
        Ok(())
    })
}

/// @brief `*out_id` receives the id of the person at `index` in enrolment order (0 ..
/// `facecore_gallery_len` - 1), to list the people. O(1). Indices shift when people are
/// removed; ids do not. Fails with FACECORE_STATUS_INVALID_ARGUMENT past the end.
///
/// # Safety
/// `gallery` is a live handle; `out_id` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_gallery_person_at(gallery: *const facecore_gallery, index: usize, out_id: *mut u64) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        let out_id = out_arg(out_id, "out_id")?;
        let g = g.read();
        let id = g.id_at(index).ok_or_else(|| Fail::invalid(format!("index {index} is past the {} people", g.len())))?;
        // SAFETY: checked non-NULL; valid per the caller's contract.
        unsafe { write(out_id, id.0) };
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
        drop(g);
        for (dst, m) in matches.iter_mut().zip(&found) {
            *dst = to_c(m);
        }
        // SAFETY: checked non-NULL; valid per the caller's contract.
        unsafe { write(out_count, found.len()) };
        Ok(())
    })
}

/// @brief Open-set identification: `*out_known` is true when the best person's score reaches
/// `threshold` (from `facecore_threshold` or your own). `*out_best` receives the best candidate
/// either way (id FACECORE_NO_PERSON when the gallery is empty).
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
        let none = facecore_match { id: FACECORE_NO_PERSON, score: f32::NEG_INFINITY };
        let (best, known) = match g.identify(&probe, threshold)? {
            Identity::Known(m) => (to_c(&m), true),
            Identity::Unknown(Some(m)) => (to_c(&m), false),
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
