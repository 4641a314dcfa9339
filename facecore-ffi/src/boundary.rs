//! The ABI boundary: status codes, the thread-local last error, panic catching, NULL and
//! handle checks, out-parameter writes. Every `extern "C"` function goes through here.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Result of every fallible call. Values are stable: new ones are appended, none is reused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_status {
    /// Success; out-parameters were written.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// An argument was out of range: image geometry, enum value, option, name, dimension.
    InvalidArgument = 2,
    /// A model could not be loaded (not the expected network, wrong checksum, not built in).
    ModelLoad = 3,
    /// The inference engine failed.
    Inference = 4,
    /// An output buffer is too small; the needed count or size was written where documented.
    BufferTooSmall = 5,
    /// An encoded image could not be decoded.
    ImageDecode = 6,
    /// Embeddings from different models or of different sizes were combined.
    ModelMismatch = 7,
    /// A gallery file is damaged, truncated, foreign or of a newer version.
    Gallery = 8,
    /// A file could not be read or written.
    Io = 9,
    /// A file does not exist.
    NotFound = 10,
    /// No calibrated threshold exists for this embedding space and operating point; pass an
    /// explicit threshold instead.
    NoThreshold = 11,
    /// A handle argument is not a live handle of the expected type (freed, or another type).
    WrongHandle = 12,
    /// A face's landmarks are too degenerate to align it (collapsed or non-finite points).
    DegenerateFace = 13,
    /// An input is larger than a configured limit (see `facecore_limit_set`); nothing was
    /// read past the limit.
    LimitExceeded = 14,
    /// An encrypted gallery could not be opened with the given key: wrong key, a forged or
    /// altered file, no key for an encrypted file, or a key for an unencrypted one.
    Key = 15,
    /// No person with this id is enrolled (removed, or never enrolled).
    NoSuchPerson = 16,
    /// A face is below the quality floor (too small, blurred, dark, flat or turned away); the
    /// message names the measure, its value and the bound. Lower the floor to accept it.
    LowQuality = 17,
    /// An error facecore does not classify yet (a newer core error); see the message.
    Unknown = 99,
    /// A bug inside facecore was caught at the boundary; the process is intact. See the message.
    Panic = 100,
}

/// A failed call: its status and message.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) status: facecore_status,
    pub(crate) message: String,
}

impl Fail {
    pub(crate) fn new(status: facecore_status, message: impl Into<String>) -> Fail {
        Fail { status, message: message.into() }
    }
    pub(crate) fn null(arg: &str) -> Fail {
        Fail::new(facecore_status::NullArgument, format!("{arg} is NULL"))
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Fail {
        Fail::new(facecore_status::InvalidArgument, message)
    }
    pub(crate) fn too_small(message: impl Into<String>) -> Fail {
        Fail::new(facecore_status::BufferTooSmall, message)
    }
}

/// The status of each core error (one place, so a new core variant is mapped deliberately).
pub(crate) fn status_of(e: &facecore::Error) -> facecore_status {
    use facecore::Error as E;
    match e {
        E::InvalidInput { .. } => facecore_status::InvalidArgument,
        E::ImageDecode { .. } => facecore_status::ImageDecode,
        E::ModelLoad { .. } => facecore_status::ModelLoad,
        E::Inference { .. } => facecore_status::Inference,
        E::ModelMismatch { .. } => facecore_status::ModelMismatch,
        E::Gallery { .. } => facecore_status::Gallery,
        E::DegenerateFace { .. } => facecore_status::DegenerateFace,
        E::LimitExceeded { .. } => facecore_status::LimitExceeded,
        E::Key { .. } => facecore_status::Key,
        E::LowQuality { .. } => facecore_status::LowQuality,
        e @ E::Io { .. } if e.is_not_found() => facecore_status::NotFound,
        E::Io { .. } => facecore_status::Io,
        _ => facecore_status::Unknown,
    }
}

impl From<facecore::Error> for Fail {
    fn from(e: facecore::Error) -> Fail {
        Fail { status: status_of(&e), message: e.to_string() }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: String) {
    // Interior NULs cannot appear in a C string: replace them rather than lose the message.
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with`/`try_borrow_mut`: never panic, even during thread teardown or re-entrance.
    let _ = LAST_ERROR.try_with(|e| e.try_borrow_mut().map(|mut e| *e = Some(c)));
}

fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|e| e.try_borrow_mut().map(|mut e| *e = None));
}

/// The message of the last failed call on this thread, or NULL when the last fallible call
/// succeeded.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.try_with(|e| e.try_borrow().ok().and_then(|e| e.as_ref().map(|c| c.as_ptr()))).ok().flatten().unwrap_or(std::ptr::null())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown payload".into())
}

/// Runs the body of a fallible entry point: clears the last error, catches panics, maps the
/// failure to a status and records its message.
pub(crate) fn boundary(body: impl FnOnce() -> Result<(), Fail>) -> facecore_status {
    // Everything, the thread-local bookkeeping included, runs under catch_unwind: no panic
    // may unwind into C (that aborts the process).
    let run = || {
        clear_last_error();
        body()
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(())) => facecore_status::Ok,
        Ok(Err(fail)) => {
            let status = fail.status;
            let _ = catch_unwind(AssertUnwindSafe(|| set_last_error(fail.message)));
            status
        }
        Err(payload) => {
            let message = format!("internal error (panic caught at the C boundary): {}", panic_message(&*payload));
            // Recording the message can only fail if the thread-local is gone (thread exit);
            // the status still reports the failure.
            let _ = catch_unwind(AssertUnwindSafe(|| set_last_error(message)));
            facecore_status::Panic
        }
    }
}

/// Runs an infallible getter: a panic or a failed check yields `fallback`.
pub(crate) fn getter<T>(fallback: T, body: impl FnOnce() -> Option<T>) -> T {
    catch_unwind(AssertUnwindSafe(body)).ok().flatten().unwrap_or(fallback)
}

/// An opaque handle type: a heap object tagged with a magic number, checked on every use and
/// cleared on free, so a freed or wrong-type handle is usually reported instead of misused.
pub(crate) trait Handle: Sized {
    /// The tag of live handles of this type.
    const MAGIC: u64;
    /// The C type name, for messages.
    const NAME: &'static str;
    /// The stored tag.
    fn tag(&self) -> u64;
    /// Overwrites the stored tag (on free).
    fn set_tag(&mut self, tag: u64);
}

/// Implements [`Handle`] and a `boxed` constructor for an opaque handle struct, declared
/// next to the call as `pub struct $name { tag: u64, $(pub(crate) $field: $ty),* }` (written
/// out, not generated, so that cbindgen sees it).
macro_rules! handle {
    ($name:ident, $magic:expr, { $($field:ident : $ty:ty),* $(,)? }) => {
        impl $name {
            pub(crate) fn boxed($($field: $ty),*) -> *mut $name {
                Box::into_raw(Box::new($name { tag: <$name as $crate::boundary::Handle>::MAGIC, $($field,)* }))
            }
        }
        impl $crate::boundary::Handle for $name {
            const MAGIC: u64 = $magic;
            const NAME: &'static str = stringify!($name);
            fn tag(&self) -> u64 { self.tag }
            fn set_tag(&mut self, tag: u64) { self.tag = tag; }
        }
    };
}
pub(crate) use handle;

/// Borrows a handle argument.
///
/// # Safety
/// `p` is NULL or points to a handle of type `T` created by this library and not yet freed
/// (a freed or wrong-type pointer is detected on a best-effort basis only).
pub(crate) unsafe fn handle_ref<'a, T: Handle>(p: *const T, arg: &str) -> Result<&'a T, Fail> {
    if p.is_null() {
        return Err(Fail::null(arg));
    }
    // SAFETY: non-NULL, and the caller guarantees it is a live `T` from this library.
    let h = unsafe { &*p };
    if h.tag() != T::MAGIC {
        return Err(Fail::new(facecore_status::WrongHandle, format!("{arg} is not a live {}", T::NAME)));
    }
    Ok(h)
}

/// Frees a handle; NULL and handles with a wrong tag are ignored.
///
/// # Safety
/// As [`handle_ref`], and `p` is not used afterwards.
pub(crate) unsafe fn handle_free<T: Handle>(p: *mut T) {
    if p.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: non-NULL, and the caller guarantees it is a live `T` from this library.
        let tag = unsafe { (*p).tag() };
        if tag == T::MAGIC {
            // SAFETY: as above; the tag is cleared first so a double free is usually detected.
            unsafe { (*p).set_tag(0xDEAD_DEAD_DEAD_DEAD) };
            // SAFETY: created by `Box::into_raw` in `boxed` and not freed before (tag was live).
            drop(unsafe { Box::from_raw(p) });
        }
    }));
}

/// Borrows a plain (non-handle) input struct.
///
/// # Safety
/// `p` is NULL or valid for reads of one `T`.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, arg: &str) -> Result<&'a T, Fail> {
    // SAFETY: the caller guarantees validity when non-NULL.
    unsafe { p.as_ref() }.ok_or_else(|| Fail::null(arg))
}

/// Checks an out-parameter for NULL (before any work is done).
pub(crate) fn out_arg<T>(p: *mut T, arg: &str) -> Result<*mut T, Fail> {
    if p.is_null() { Err(Fail::null(arg)) } else { Ok(p) }
}

/// Writes an out-parameter checked by [`out_arg`].
///
/// # Safety
/// `p` is non-NULL and valid for writes of one `T`.
pub(crate) unsafe fn write<T>(p: *mut T, v: T) {
    // SAFETY: guaranteed by the caller (checked non-NULL by `out_arg`).
    unsafe { p.write(v) }
}

/// Borrows `len` elements from C; `ptr` may be NULL only when `len` is 0.
///
/// # Safety
/// When non-NULL, `ptr` is valid for reads of `len` elements that nobody mutates meanwhile.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize, arg: &str) -> Result<&'a [T], Fail> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(Fail::null(arg)) };
    }
    if len.checked_mul(size_of::<T>()).is_none_or(|b| b > isize::MAX as usize) {
        return Err(Fail::invalid(format!("{arg}: length {len} is too large")));
    }
    // SAFETY: non-NULL, size checked against isize::MAX, validity guaranteed by the caller.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a caller output buffer of `len` elements; NULL only when `len` is 0.
///
/// # Safety
/// When non-NULL, `ptr` is valid for writes of `len` elements, not aliased by other arguments.
pub(crate) unsafe fn slice_mut<'a, T>(ptr: *mut T, len: usize, arg: &str) -> Result<&'a mut [T], Fail> {
    if ptr.is_null() {
        return if len == 0 { Ok(&mut []) } else { Err(Fail::null(arg)) };
    }
    if len.checked_mul(size_of::<T>()).is_none_or(|b| b > isize::MAX as usize) {
        return Err(Fail::invalid(format!("{arg}: length {len} is too large")));
    }
    // SAFETY: non-NULL, size checked against isize::MAX, validity guaranteed by the caller.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// Reads a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for reads.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, arg: &str) -> Result<&'a str, Fail> {
    if p.is_null() {
        return Err(Fail::null(arg));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| Fail::invalid(format!("{arg} is not valid UTF-8")))
}

/// Reads a NUL-terminated path argument (any bytes on Unix, UTF-8 elsewhere).
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn path_arg(p: *const c_char, arg: &str) -> Result<std::path::PathBuf, Fail> {
    if p.is_null() {
        return Err(Fail::null(arg));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    if c.is_empty() {
        return Err(Fail::invalid(format!("{arg} is empty")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(std::ffi::OsStr::from_bytes(c.to_bytes()).into())
    }
    #[cfg(not(unix))]
    {
        c.to_str().map(Into::into).map_err(|_| Fail::invalid(format!("{arg} is not valid UTF-8")))
    }
}

/// Reads a whole model file, refusing files over the model limit before reading them.
pub(crate) fn read_model_file(path: &std::path::Path) -> Result<Vec<u8>, Fail> {
    Ok(facecore::limits::read_file("model file", path, facecore::limits::get().model_file_bytes)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_a_status_and_a_message() {
        let s = boundary(|| panic!("injected"));
        assert_eq!(s, facecore_status::Panic);
        // SAFETY: the pointer is a live thread-local C string.
        let msg = unsafe { CStr::from_ptr(last_error_ptr()) }.to_str().unwrap();
        assert!(msg.contains("injected"), "{msg}");
        assert_eq!(boundary(|| Ok(())), facecore_status::Ok);
        assert!(last_error_ptr().is_null());
    }

    #[test]
    fn every_core_variant_has_a_distinct_status() {
        use facecore::Error as E;
        let io = |k| E::Io { path: "x".into(), source: std::io::Error::from(k) };
        let all = [
            E::InvalidInput { what: "x", detail: String::new() },
            E::ImageDecode { path: None, source: "x".into() },
            E::ModelLoad { model: String::new(), detail: String::new() },
            E::Inference { model: "m", source: "x".into() },
            E::ModelMismatch { left: String::new(), right: String::new() },
            E::Gallery { path: None, detail: String::new() },
            E::DegenerateFace { detail: String::new() },
            E::LimitExceeded { what: "x", limit: 1, actual: 2, unit: "bytes" },
            E::Key { path: None, detail: String::new() },
            E::LowQuality { measure: "sharpness", value: 1.0, limit: 2.0 },
            io(std::io::ErrorKind::PermissionDenied),
            io(std::io::ErrorKind::NotFound),
        ];
        let mut seen: Vec<_> = all.iter().map(|e| status_of(e) as u32).collect();
        assert!(!seen.contains(&(facecore_status::Unknown as u32)));
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), all.len());
    }

    #[test]
    fn interior_nul_is_kept_visible() {
        let s = boundary(|| Err(Fail::invalid("a\0b")));
        assert_eq!(s, facecore_status::InvalidArgument);
        // SAFETY: as above.
        assert_eq!(unsafe { CStr::from_ptr(last_error_ptr()) }.to_str().unwrap(), "a\\0b");
    }
}
