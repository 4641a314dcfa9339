//! Crash-safe, concurrency-safe replacement of a file's contents (galleries).
//!
//! A save writes a temporary file created exclusively (`O_EXCL`, a name no other writer uses)
//! in the target's own directory, syncs it, renames it over the target and syncs the
//! directory: a crash leaves the old file or the new one, never a torn one. Saves of one path
//! are serialised within the process (a lock per path) and across processes (an advisory
//! lock on a `.NAME.lock` file beside it). A symlinked path is followed: the link stays and
//! its target is replaced. New files are created with mode 0600 (galleries hold biometric
//! templates); an existing file keeps its mode.
//!
//! What a save killed part-way (SIGKILL, power loss) leaves: the old file or the new one at
//! the path, the lock file (kept by design), and at most one temporary file
//! `.NAME.tmp-PID-N` of its own. The next save of the same path removes such leftovers while
//! it holds the lock (no live save of that path can own one then), so they never accumulate.

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

/// The temporary files of saves of `name` are `.NAME.tmp-PID-N`; this is their common prefix.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

/// Removes the temporary files that killed saves of `name` left in `dir`. Must be called with
/// the cross-process lock held: every save takes it before creating its temporary file, so
/// none of the files removed belongs to a save in progress. Only exact `.NAME.tmp-PID-N` names
/// (digits) that are regular files are touched; a failure only leaves the file for later.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = temp_prefix(name);
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(prefix.as_str())) else { continue };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let ours = rest.split_once('-').is_some_and(|(pid, n)| digits(pid) && digits(n));
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
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
    remove_stale_temps(&dir, &name);
    // Keep an existing file's permissions (a 0600 gallery stays 0600, a shared one stays shared).
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(&target).ok().map(|m| m.permissions().mode() & 0o7777)
    };
    #[cfg(not(unix))]
    let mode = None;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!("{}{}-{}", temp_prefix(&name), std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_save_removes_what_killed_saves_of_the_same_file_left() {
        let dir = std::env::temp_dir().join(format!("facecore-persist-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Leftovers of killed saves of g.fcg, and files that only look alike.
        let stale = [".g.fcg.tmp-4242-0", ".g.fcg.tmp-1-17"];
        let kept =
            [".other.fcg.tmp-4242-0", ".g.fcg.tmp-x-1", ".g.fcg.tmp-12", "g.fcg.tmp-1-1", ".g.fcg.tmp-1-1.bak", ".g.fcg.tmp-1.tmp-2-3"];
        for n in stale.iter().chain(&kept) {
            std::fs::write(dir.join(n), b"partial").unwrap();
        }
        // A directory with a matching name is not a leftover of ours.
        std::fs::create_dir(dir.join(".g.fcg.tmp-5-5")).unwrap();
        write_atomic(&dir.join("g.fcg"), b"new contents").unwrap();
        assert_eq!(std::fs::read(dir.join("g.fcg")).unwrap(), b"new contents");
        let mut left: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        let mut want: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
        want.extend([".g.fcg.lock".to_string(), ".g.fcg.tmp-5-5".to_string(), "g.fcg".to_string()]);
        want.sort();
        assert_eq!(left, want);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
