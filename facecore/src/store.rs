//! Gallery storage behind one interface: the same semantics (enrol, remove, list, metadata,
//! identify, top-k, the embedding-space check, stable person ids) whichever store holds the
//! people.
//!
//! - [`FileStore`]: a [`Gallery`] in memory, saved atomically to its file after every change
//!   (optionally encrypted). The embedded default: one process owns the file.
//! - A PostgreSQL + pgvector store (feature `postgres`) shares one gallery between processes
//!   and machines.
//!
//! Every method takes `&self`: stores are `Send + Sync` and lock internally, so one store
//! serves any number of threads.

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::embed::Embedding;
use crate::error::{Error, Result};
use crate::gallery::{Gallery, GalleryKey, Identity, Match, Person, PersonId};

#[cfg(feature = "postgres")]
pub mod postgres;

/// Who a call is about: a person's id or their name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonRef<'a> {
    /// By stable id.
    Id(PersonId),
    /// By name.
    Name(&'a str),
}

/// A place that holds enrolled people. See the [module docs](self).
pub trait GalleryStore: Send + Sync {
    /// The embedding space id, once something is enrolled.
    ///
    /// # Errors
    /// Store failures ([`Error::Io`], [`Error::Gallery`]).
    fn space(&self) -> Result<Option<String>>;

    /// Number of people.
    ///
    /// # Errors
    /// Store failures.
    fn len(&self) -> Result<usize>;

    /// Whether nobody is enrolled.
    ///
    /// # Errors
    /// Store failures.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Adds an embedding to `name`, creating the person if needed; returns their id.
    /// Concurrent enrolments of one new name create one person.
    ///
    /// # Errors
    /// As [`Gallery::enroll`]; store failures (nothing is enrolled then).
    fn enroll(&self, name: &str, embedding: &Embedding) -> Result<PersonId>;

    /// Sets a person's metadata.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an unknown person or metadata over 1 MiB; store failures.
    fn set_metadata(&self, person: PersonRef<'_>, metadata: &str) -> Result<()>;

    /// Removes a person and all their embeddings; whether they were enrolled.
    ///
    /// # Errors
    /// Store failures.
    fn remove(&self, person: PersonRef<'_>) -> Result<bool>;

    /// One person.
    ///
    /// # Errors
    /// Store failures.
    fn person(&self, person: PersonRef<'_>) -> Result<Option<Person>>;

    /// People in enrolment order, `offset` first, at most `limit`.
    ///
    /// # Errors
    /// Store failures.
    fn people(&self, offset: usize, limit: usize) -> Result<Vec<Person>>;

    /// The `k` best people for a probe, best first (each person scored by their best
    /// embedding).
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] for a probe of another space; store failures.
    fn search(&self, probe: &Embedding, k: usize) -> Result<Vec<Match>>;

    /// Open-set identification: the best person if their score reaches `threshold`.
    ///
    /// # Errors
    /// As [`GalleryStore::search`].
    fn identify(&self, probe: &Embedding, threshold: f32) -> Result<Identity> {
        let best = self.search(probe, 1)?.pop();
        Ok(match best {
            Some(m) if m.score >= threshold => Identity::Known(m),
            other => Identity::Unknown(other),
        })
    }

    /// A human-readable description (`file /path`, `postgres host/db`), for logs.
    fn describe(&self) -> String;
}

/// A [`Gallery`] held in memory and saved atomically to its file after every change.
///
/// Readers (search, identify, listing) share a read lock; a change takes the write lock,
/// applies in memory and saves the whole file before returning. A failed save returns the
/// error and restores the gallery from the file (which the atomic save left unchanged), so
/// memory and file never disagree; a crash leaves the file's previous state (see
/// `docs/reliability.md`). Every change rewrites the file: O(gallery size) per enrolment,
/// fine for thousands of people; large galleries with frequent changes belong in PostgreSQL.
pub struct FileStore {
    path: Option<PathBuf>,
    key: Option<GalleryKey>,
    gallery: RwLock<Gallery>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore").field("path", &self.path).field("encrypted", &self.key.is_some()).finish_non_exhaustive()
    }
}

impl FileStore {
    /// Opens the gallery file at `path` (encrypted with `key` when given), or starts an empty
    /// one there if the file does not exist.
    ///
    /// # Errors
    /// As [`Gallery::load_or_new`] / [`Gallery::load_or_new_encrypted`].
    pub fn open(path: impl AsRef<Path>, key: Option<GalleryKey>) -> Result<Self> {
        let path = path.as_ref();
        let gallery = match &key {
            Some(k) => Gallery::load_or_new_encrypted(path, k)?,
            None => Gallery::load_or_new(path)?,
        };
        Ok(FileStore { path: Some(path.to_path_buf()), key, gallery: RwLock::new(gallery) })
    }

    /// A store in memory only (nothing is saved), e.g. for tests.
    pub fn in_memory(gallery: Gallery) -> Self {
        FileStore { path: None, key: None, gallery: RwLock::new(gallery) }
    }

    /// A copy of the gallery as it is now.
    pub fn snapshot(&self) -> Gallery {
        self.read().clone()
    }

    fn read(&self) -> RwLockReadGuard<'_, Gallery> {
        self.gallery.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Gallery> {
        self.gallery.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies `change`, saves, and on a failed save goes back to what the file holds.
    fn change<T>(&self, change: impl FnOnce(&mut Gallery) -> Result<T>) -> Result<T> {
        let mut g = self.write();
        let out = change(&mut g)?;
        let Some(path) = &self.path else { return Ok(out) };
        let saved = match &self.key {
            Some(k) => g.save_encrypted(path, k),
            None => g.save(path),
        };
        if let Err(e) = saved {
            // The atomic save left the file as it was: reload it (an empty gallery when it
            // did not exist yet, or could not be read back).
            let reloaded = match &self.key {
                Some(k) => Gallery::load_or_new_encrypted(path, k),
                None => Gallery::load_or_new(path),
            };
            *g = reloaded.unwrap_or_default();
            return Err(e);
        }
        Ok(out)
    }
}

fn id_of(g: &Gallery, person: PersonRef<'_>) -> Option<PersonId> {
    match person {
        PersonRef::Id(id) => g.name_of(id).map(|_| id),
        PersonRef::Name(name) => g.id_of(name),
    }
}

impl GalleryStore for FileStore {
    fn space(&self) -> Result<Option<String>> {
        Ok(self.read().space().map(str::to_string))
    }

    fn len(&self) -> Result<usize> {
        Ok(self.read().len())
    }

    fn enroll(&self, name: &str, embedding: &Embedding) -> Result<PersonId> {
        self.change(|g| g.enroll(name, embedding))
    }

    fn set_metadata(&self, person: PersonRef<'_>, metadata: &str) -> Result<()> {
        self.change(|g| {
            let id = id_of(g, person).ok_or_else(|| Error::input("person", format!("{person:?} is not enrolled")))?;
            let name = g.name_of(id).map(str::to_string).unwrap_or_default();
            g.set_metadata(&name, metadata)
        })
    }

    fn remove(&self, person: PersonRef<'_>) -> Result<bool> {
        if id_of(&self.read(), person).is_none() {
            return Ok(false);
        }
        self.change(|g| Ok(id_of(g, person).is_some_and(|id| g.remove_id(id))))
    }

    fn person(&self, person: PersonRef<'_>) -> Result<Option<Person>> {
        let g = self.read();
        Ok(id_of(&g, person).and_then(|id| g.person(id)))
    }

    fn people(&self, offset: usize, limit: usize) -> Result<Vec<Person>> {
        let g = self.read();
        Ok((offset..g.len().min(offset.saturating_add(limit))).filter_map(|i| g.id_at(i).and_then(|id| g.person(id))).collect())
    }

    fn search(&self, probe: &Embedding, k: usize) -> Result<Vec<Match>> {
        self.read().search(probe, k)
    }

    fn describe(&self) -> String {
        match &self.path {
            Some(p) => format!("file {}{}", p.display(), if self.key.is_some() { " (encrypted)" } else { "" }),
            None => "memory".into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn e(v: &[f32]) -> Embedding {
        Embedding::new("m", v.to_vec()).unwrap()
    }

    #[test]
    fn file_store_persists_every_change_and_keeps_ids() {
        let dir = std::env::temp_dir().join(format!("facecore-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.fcg");
        let s = FileStore::open(&path, None).unwrap();
        let ann = s.enroll("ann", &e(&[1.0, 0.0])).unwrap();
        let bob = s.enroll("bob", &e(&[0.0, 1.0])).unwrap();
        s.set_metadata(PersonRef::Id(bob), "{}").unwrap();
        assert!(s.remove(PersonRef::Name("ann")).unwrap());
        assert!(!s.remove(PersonRef::Id(ann)).unwrap());
        let reopened = FileStore::open(&path, None).unwrap();
        assert_eq!(reopened.snapshot(), s.snapshot());
        assert_eq!(reopened.person(PersonRef::Name("bob")).unwrap().unwrap().metadata, "{}");
        assert_eq!(reopened.people(0, 10).unwrap().len(), 1);
        assert_eq!(reopened.search(&e(&[0.0, 1.0]), 1).unwrap()[0].id, bob);
        assert!(s.set_metadata(PersonRef::Id(ann), "x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_save_changes_nothing() {
        let s = FileStore { path: Some("/nonexistent-dir/g.fcg".into()), key: None, gallery: RwLock::new(Gallery::new()) };
        assert!(s.enroll("ann", &e(&[1.0, 0.0])).is_err());
        assert!(s.is_empty().unwrap());
    }
}
