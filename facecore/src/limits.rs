//! Size limits, checked before anything is read or allocated.
//!
//! Every file facecore reads (images, galleries, models) and every pixel buffer it accepts is
//! checked against a limit first, so that `/dev/zero`, a 40 GB file or a 100k x 100k frame is
//! refused with [`Error::LimitExceeded`] instead of growing memory until the process dies.
//! The limits are process-wide (like an allocator setting): read them with [`get`], change
//! them with [`set`], typically once at start-up.
//!
//! ```
//! let mut l = facecore::limits::get();
//! l.gallery_file_bytes = 8 << 30; // a 16-million-person gallery
//! facecore::limits::set(l)?;
//! # facecore::limits::set(facecore::limits::Limits::default())?;
//! # Ok::<(), facecore::Error>(())
//! ```

use std::io::Read;
use std::path::Path;
use std::sync::RwLock;

use crate::error::{Error, Result};

/// The limits in force. [`Limits::default`] documents each default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest encoded image file or buffer, in bytes (default 512 MiB).
    pub image_file_bytes: u64,
    /// Largest image side, in pixels, for decoded and borrowed images (default 16,384).
    pub image_side: u32,
    /// Largest image area, in pixels (default 64 Mi = 67,108,864).
    pub image_pixels: u64,
    /// Largest frame side [`crate::InputSize::Native`] runs the detector on, in pixels
    /// (default 4,096): YuNet's intermediate tensors grow with the input area.
    pub native_detector_side: u32,
    /// Largest gallery file or buffer, in bytes (default 2 GiB: about 4 million people with
    /// one 128-d embedding each).
    pub gallery_file_bytes: u64,
    /// Largest model file or buffer (ONNX network, dlib `.dat`), in bytes (default 512 MiB;
    /// the largest bundled file is 38.6 MB, dlib's 68-point predictor 99.7 MB).
    pub model_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        DEFAULT
    }
}

const DEFAULT: Limits = Limits {
    image_file_bytes: 512 << 20,
    image_side: 16_384,
    image_pixels: 64 << 20,
    native_detector_side: 4096,
    gallery_file_bytes: 2 << 30,
    model_file_bytes: 512 << 20,
};

static CURRENT: RwLock<Limits> = RwLock::new(DEFAULT);

/// The limits in force.
pub fn get() -> Limits {
    *CURRENT.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Replaces the limits for the whole process (calls already running keep the old ones).
///
/// # Errors
/// [`Error::InvalidInput`] for a zero limit, or image sides over 65,535 (the decoders'
/// own ceiling).
pub fn set(limits: Limits) -> Result<()> {
    let l = limits;
    if [
        l.image_file_bytes,
        u64::from(l.image_side),
        l.image_pixels,
        u64::from(l.native_detector_side),
        l.gallery_file_bytes,
        l.model_file_bytes,
    ]
    .contains(&0)
    {
        return Err(Error::input("limits", "every limit must be at least 1"));
    }
    if l.image_side > u32::from(u16::MAX) || l.native_detector_side > u32::from(u16::MAX) {
        return Err(Error::input("limits", "image sides above 65535 px are not supported"));
    }
    *CURRENT.write().unwrap_or_else(std::sync::PoisonError::into_inner) = limits;
    Ok(())
}

/// Checks an in-memory buffer of `len` bytes against `limit`.
///
/// # Errors
/// [`Error::LimitExceeded`] when `len > limit`.
pub fn check_len(what: &'static str, len: usize, limit: u64) -> Result<()> {
    if len as u64 > limit { Err(Error::limit(what, limit, len as u64, "bytes")) } else { Ok(()) }
}

/// Reads a whole file of at most `limit` bytes: a regular file's size is checked before
/// reading, and reading stops one byte past the limit (pipes, devices, files that grow).
///
/// # Errors
/// [`Error::Io`] if unreadable or a directory, [`Error::LimitExceeded`] over `limit`.
pub fn read_file(what: &'static str, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory")));
    }
    if meta.is_file() && meta.len() > limit {
        return Err(Error::limit(what, limit, meta.len(), "bytes"));
    }
    let hint = if meta.is_file() { meta.len().min(limit) as usize } else { 0 };
    let mut bytes = Vec::with_capacity(hint);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::limit(what, limit, bytes.len() as u64, "bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_big_files_are_refused_without_reading_them() {
        let e = read_file("test file", Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(matches!(e, Error::LimitExceeded { limit: 1_048_576, actual: 1_048_577, .. }), "{e}");
        let dir = std::env::temp_dir().join(format!("facecore-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("sparse");
        std::fs::File::create(&big).unwrap().set_len(10 << 30).unwrap();
        let e = read_file("test file", &big, 1 << 20).unwrap_err();
        assert!(matches!(e, Error::LimitExceeded { actual: 10_737_418_240, .. }), "{e}");
        assert!(read_file("test file", &dir, 1 << 20).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn zero_limits_are_refused() {
        let l = Limits { gallery_file_bytes: 0, ..Limits::default() };
        assert!(set(l).is_err());
        assert_eq!(get(), Limits::default());
    }
}
