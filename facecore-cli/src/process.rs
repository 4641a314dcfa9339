//! Process settings for this binary, never for the library (a library must not change the
//! process-wide state of the program that embeds it): the allocator, and SIGPIPE.
//!
//! Allocator:
//!
//! tract allocates every intermediate tensor on each run. For YuNet at 640x480 that is ~20 MB
//! per frame in blocks above glibc's mmap threshold, so each run maps and unmaps them and pays
//! the page faults again: run times become bimodal (about 28 or 40 ms on the test machine).
//! Raising the mmap and trim thresholds lets glibc recycle the blocks from its heap. Programs
//! that embed facecore can do the same with `mallopt` or, without code,
//! `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824`
//! (see docs/performance.md). Set `FACECORE_MALLOC_DEFAULTS=1` to keep glibc's defaults.

/// Applies the settings; returns a description of what was done, for benchmark headers.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn tune() -> &'static str {
    if std::env::var_os("FACECORE_MALLOC_DEFAULTS").is_some() {
        return "glibc malloc defaults (FACECORE_MALLOC_DEFAULTS set)";
    }
    // SAFETY: mallopt only changes allocator parameters; it is called first thing in main,
    // before this program starts any thread, and both values are valid for these options.
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1 };
    if ok { "glibc malloc: mmap threshold 32 MiB, trim threshold 1 GiB" } else { "glibc malloc defaults (mallopt refused)" }
}

/// Applies the settings; returns a description of what was done, for benchmark headers.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() -> &'static str {
    "system allocator defaults"
}

/// Restores the default SIGPIPE action, so `facecore ... | head` ends quietly like other
/// command-line tools instead of panicking on the closed pipe (Rust ignores SIGPIPE).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn default_sigpipe() {
    // SAFETY: installs the default disposition for one signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Restores the default SIGPIPE action (nothing to do on this platform).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn default_sigpipe() {}
