//! Crash-safe, concurrency-safe replacement of a file's contents (galleries).
//!
//! A save writes a temporary file created exclusively (`O_EXCL`, a name no other writer uses)
//! in the target's own directory, syncs it, renames it over the target and syncs the
//! directory: a crash leaves the old file or the new one, never a torn one. Saves of one path
//! are serialised within the process (a lock per path) and across processes (an advisory
//! lock on a `.NAME.lock` file beside it). A symlinked path is followed: the link stays and
//! its target is replaced. New files are created with mode 0600 (galleries hold biometric
//! templates); an existing file keeps its mode.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Mode of newly created files: owner read and write only.
#[cfg(unix)]
pub(crate) const NEW_FILE_MODE: u32 = 0o600;

/// One lock per target path, for saves within this process.
fn path_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: Mutex<Option<HashMap<PathBuf, Arc<Mutex<()>>>>> = Mutex::new(None);
    let mut map = LOCKS.lock().unwrap_or_else(PoisonError::into_inner);
    map.get_or_insert_with(HashMap::new).entry(path.to_path_buf()).or_default().clone()
}

/// The file a save of `path` must replace: `path` itself, or the final target of a symlink.
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path),
        _ => Ok(path.to_path_buf()),
    }
}

fn open_new(path: &Path, mode: Option<u32>) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode.unwrap_or(NEW_FILE_MODE));
    }
    #[cfg(not(unix))]
    let _ = mode;
    o.open(path)
}

/// Replaces the contents of `path` with `bytes`, atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = resolve(path)?;
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let name = target
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path has no file name"))?
        .to_string_lossy()
        .into_owned();
    let in_process = path_lock(&target);
    let _guard = in_process.lock().unwrap_or_else(PoisonError::into_inner);
    // Across processes: an advisory lock on a lock file beside the target (never the target
    // itself, which the rename replaces).
    let lock_path = dir.join(format!(".{name}.lock"));
    let lock = match open_new(&lock_path, None) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => OpenOptions::new().write(true).open(&lock_path)?,
        Err(e) => return Err(e),
    };
    lock.lock()?;
    // Keep an existing file's permissions (a 0600 gallery stays 0600, a shared one stays shared).
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(&target).ok().map(|m| m.permissions().mode() & 0o7777)
    };
    #[cfg(not(unix))]
    let mode = None;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut f = open_new(&tmp, mode)?;
        #[cfg(unix)]
        if let Some(mode) = mode {
            // The umask may have cleared bits of the kept mode.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &target)?;
        // Persist the rename itself; not every platform can open a directory.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let _ = lock.unlock();
    result
}
