//! A gallery in a shared store (PostgreSQL), opened by `Gallery.connect`.

use facecore::store::GalleryStore;
use pyo3::prelude::*;

use crate::errors::{Kind, new_err};

/// A store this process connected to.
///
/// Its connections are sockets of this process. After `fork()` the child must neither use
/// them (its queries would interleave with the parent's on the same connection) nor close
/// them (closing sends the server a terminate message on the parent's connection). So calls
/// from another process than the one that connected are refused with a `GalleryError` that
/// says to connect again, and a child that drops its copy forgets it without closing.
pub(super) struct Shared {
    store: Option<Box<dyn GalleryStore>>,
    pid: u32,
    desc: String,
}

impl Shared {
    pub(super) fn new(store: Box<dyn GalleryStore>) -> Self {
        let desc = store.describe();
        Shared { store: Some(store), pid: std::process::id(), desc }
    }

    /// The store, in the process that connected.
    pub(super) fn get(&self) -> PyResult<&dyn GalleryStore> {
        match &self.store {
            Some(s) if std::process::id() == self.pid => Ok(s.as_ref()),
            _ => Err(new_err(
                Kind::Gallery,
                format!(
                    "this Gallery was connected to {} by process {}; connections cannot be used across fork(): call Gallery.connect(url) in this process",
                    self.desc, self.pid
                ),
            )),
        }
    }

    /// `postgres HOST:PORT/DB` (never the password).
    pub(super) fn describe(&self) -> &str {
        &self.desc
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if std::process::id() != self.pid
            && let Some(s) = self.store.take()
        {
            // The parent's sockets: leave them open (see the type's docs).
            std::mem::forget(s);
        }
    }
}
