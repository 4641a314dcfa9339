//! `Gallery`: enrolled people with stable ids, 1:N search; held in memory (with a
//! checksummed, optionally encrypted file) or in PostgreSQL (`Gallery.connect`).
//!
//! Locking rule: every Python argument is converted first (numpy's `asarray`, `__array__`,
//! `__float__`, `__fspath__` run Python code, which may call back into this gallery); the
//! gallery lock is then taken only with the GIL released ([`read`] and [`write`], the only
//! ways to reach it), and nothing under it touches a Python object. Results are turned into
//! Python objects after the lock is released. A thread waiting for the lock therefore never
//! holds the GIL, and a thread holding the lock never waits for the GIL. Searches share a
//! read lock, so they scan in parallel.
//!
//! A gallery in PostgreSQL follows the same rule with the database in place of the lock:
//! arguments are converted first, and every database call runs with the GIL released
//! ([`remote`]); the store takes its own pooled connection per call, so calls from many
//! threads run in parallel.

use std::path::PathBuf;
use std::sync::{PoisonError, RwLock};

use facecore::store::postgres::PgStore;
use facecore::store::{GalleryStore, PersonRef};
use facecore::{Gallery, GalleryKey, Identity, Match, Person};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{Kind, invalid, new_err, to_py};
use crate::recognizer::parse_op;

mod args;
mod identify;
mod shared;
use args::{Who, parse_key};
use shared::Shared;

/// A search hit: a person's id and name and their best cosine similarity to the probe.
#[pyclass(frozen, module = "facecore", name = "Match")]
pub(crate) struct PyMatch {
    #[pyo3(get)]
    id: u64,
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    score: f32,
}

#[pymethods]
impl PyMatch {
    fn __repr__(&self) -> String {
        format!("Match(id={}, name={:?}, score={:.4})", self.id, self.name, self.score)
    }
}

impl From<Match> for PyMatch {
    fn from(m: Match) -> Self {
        PyMatch { id: m.id.0, name: m.name, score: m.score }
    }
}

/// An enrolled person.
#[pyclass(frozen, module = "facecore", name = "Person")]
pub(crate) struct PyPerson {
    #[pyo3(get)]
    id: u64,
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    metadata: String,
    #[pyo3(get)]
    embeddings: usize,
}

#[pymethods]
impl PyPerson {
    fn __repr__(&self) -> String {
        format!("Person(id={}, name={:?}, embeddings={})", self.id, self.name, self.embeddings)
    }
}

impl From<Person> for PyPerson {
    fn from(p: Person) -> Self {
        PyPerson { id: p.id.0, name: p.name, metadata: p.metadata, embeddings: p.embeddings }
    }
}

/// Where a gallery's people are.
// One per Gallery object, never moved around: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Backend {
    /// In this process, behind a read/write lock; saved to a file on request.
    Memory(RwLock<Gallery>),
    /// In a shared store (PostgreSQL), which commits every change as it is made.
    Store(Shared),
}

/// Runs `f` under `g`'s read lock with the GIL released. `f` must not touch Python.
fn read<R: Send>(py: Python<'_>, g: &RwLock<Gallery>, f: impl FnOnce(&Gallery) -> R + Send) -> R {
    py.detach(|| f(&g.read().unwrap_or_else(PoisonError::into_inner)))
}

/// Runs `f` under `g`'s write lock with the GIL released. `f` must not touch Python.
fn write<R: Send>(py: Python<'_>, g: &RwLock<Gallery>, f: impl FnOnce(&mut Gallery) -> R + Send) -> R {
    py.detach(|| f(&mut g.write().unwrap_or_else(PoisonError::into_inner)))
}

/// Runs `f` on the shared store with the GIL released (every database call goes through
/// here); its error becomes the Python exception. `f` must not touch Python.
fn remote<R: Send>(py: Python<'_>, s: &Shared, f: impl FnOnce(&dyn GalleryStore) -> facecore::Result<R> + Send) -> PyResult<R> {
    let store = s.get()?;
    py.detach(|| f(store)).map_err(to_py)
}

/// `GalleryError` for a file operation (`what`) on a gallery in a shared store.
fn not_a_file(s: &Shared, what: &str) -> PyErr {
    new_err(
        Kind::Gallery,
        format!(
            "{what}: this gallery is in {}, which commits every change as it is made; there is no file to write \
             (save and to_bytes are for in-memory galleries: Gallery(), Gallery.load, Gallery.from_bytes)",
            s.describe()
        ),
    )
}

/// People with one or more embeddings each, all of one embedding space. Thread-safe: searches
/// run in parallel under a shared lock, changes take turns; the GIL is released while the
/// gallery is locked, and during every database call of a gallery in PostgreSQL.
#[pyclass(frozen, module = "facecore", name = "Gallery")]
pub(crate) struct PyGallery {
    backend: Backend,
    /// The space of embeddings enrolled before the gallery has one of its own.
    default_space: Option<String>,
}

impl PyGallery {
    /// The space the gallery holds, once something is enrolled.
    fn stored_space(&self, py: Python<'_>) -> PyResult<Option<String>> {
        match &self.backend {
            Backend::Memory(g) => Ok(read(py, g, |g| g.space().map(str::to_string))),
            Backend::Store(s) => remote(py, s, |st| st.space()),
        }
    }

    /// The gallery's space, else the constructor's.
    fn current_space(&self, py: Python<'_>) -> PyResult<Option<String>> {
        Ok(self.stored_space(py)?.or_else(|| self.default_space.clone()))
    }

    /// The space to convert an embedding argument in. Read before the conversion (which runs
    /// Python code, so never under the lock): should the space change in between, the core's
    /// own check under the lock (or in the database's transaction) reports
    /// `ModelMismatchError`.
    fn space_for(&self, py: Python<'_>, space: Option<&str>) -> PyResult<String> {
        match space {
            Some(s) => Ok(s.to_string()),
            None => self.current_space(py)?.ok_or_else(|| {
                invalid("an empty gallery needs an embedding space: Gallery(space=pipeline.space) or enroll(..., space=...)")
            }),
        }
    }

    /// A copy of the gallery, taken under the read lock with the GIL released (for streams,
    /// which own a snapshot). A gallery in a shared store has no in-memory copy to give
    /// (`InvalidInputError`).
    pub(crate) fn snapshot(&self, py: Python<'_>) -> PyResult<Gallery> {
        match &self.backend {
            Backend::Memory(g) => Ok(read(py, g, Gallery::clone)),
            Backend::Store(s) => Err(invalid(format!(
                "a Stream searches its own in-memory copy of the gallery, and a gallery in {} is not copied into each \
                 process: give the stream an in-memory Gallery (Gallery(), Gallery.load), or identify faces with \
                 Pipeline.analyze and this gallery's identify",
                s.describe()
            ))),
        }
    }

    /// `ModelMismatchError` when embeddings of `space` do not belong here: the gallery holds
    /// another space, or is empty and was made for another one (`Gallery(space=...)`).
    pub(crate) fn check_space(&self, py: Python<'_>, space: &str) -> PyResult<()> {
        match self.current_space(py)? {
            Some(g) if g != space => {
                Err(to_py(facecore::Error::ModelMismatch { left: format!("gallery of {g}"), right: format!("embeddings of {space}") }))
            }
            _ => Ok(()),
        }
    }

    /// Adds an embedding (under the write lock, or in one database transaction); the
    /// person's id.
    pub(crate) fn enroll_embedding(&self, py: Python<'_>, name: &str, e: &facecore::Embedding) -> PyResult<u64> {
        let id = match &self.backend {
            Backend::Memory(g) => write(py, g, |g| g.enroll(name, e)).map_err(to_py)?,
            Backend::Store(s) => remote(py, s, |st| st.enroll(name, e))?,
        };
        Ok(id.0)
    }

    fn wrap(g: Gallery) -> Self {
        PyGallery { backend: Backend::Memory(RwLock::new(g)), default_space: None }
    }
}

#[pymethods]
impl PyGallery {
    /// An empty gallery for embeddings of `space` (e.g. `Pipeline.space`).
    #[new]
    #[pyo3(signature = (*, space = None))]
    fn new(space: Option<String>) -> Self {
        PyGallery { backend: Backend::Memory(RwLock::new(Gallery::new())), default_space: space }
    }

    /// A gallery in PostgreSQL with pgvector (`postgres://user:password@host:port/db`, or the
    /// key=value form), shared with every process connected to the same database: `facecore
    /// serve --gallery postgres://...` and other Python workers see each enrolment and removal
    /// at once. Creates the schema in a database without one. `space` plays the role of
    /// `Gallery(space=...)` while the database is empty, and is checked against the space of
    /// a gallery that has one (`ModelMismatchError`). `migrate=True` brings an older schema
    /// up to this facecore's version (connecting never changes an existing schema).
    /// `FacecoreIOError` when the server cannot be reached or refuses; `GalleryError` for a
    /// malformed URL or a schema of another version.
    #[staticmethod]
    #[pyo3(signature = (url, *, space = None, migrate = false))]
    fn connect(py: Python<'_>, url: &str, space: Option<String>, migrate: bool) -> PyResult<Self> {
        let store = py.detach(|| if migrate { PgStore::migrate(url) } else { PgStore::connect(url) }).map_err(to_py)?;
        let g = PyGallery { backend: Backend::Store(Shared::new(Box::new(store))), default_space: space };
        if let Some(space) = &g.default_space {
            g.check_space(py, space)?;
        }
        Ok(g)
    }

    /// Reads a gallery file; `key` (32 bytes) for an encrypted one. `FileNotFoundError` if
    /// missing, `GalleryError` if damaged, `GalleryKeyError` for a wrong, missing or
    /// superfluous key or a forged file, `LimitExceededError` over the size limit.
    #[staticmethod]
    #[pyo3(signature = (path, *, key = None))]
    fn load(py: Python<'_>, path: PathBuf, key: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let key = parse_key(key)?;
        let g = py.detach(|| match &key {
            Some(k) => Gallery::load_encrypted(&path, k),
            None => Gallery::load(&path),
        });
        Ok(Self::wrap(g.map_err(to_py)?))
    }

    /// Parses a gallery held in memory; errors as `load`.
    #[staticmethod]
    #[pyo3(signature = (data, *, key = None))]
    fn from_bytes(py: Python<'_>, data: &[u8], key: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let key = parse_key(key)?;
        let g = py.detach(|| match &key {
            Some(k) => Gallery::from_encrypted_bytes(data, k),
            None => Gallery::from_bytes(data),
        });
        Ok(Self::wrap(g.map_err(to_py)?))
    }

    /// A new random 32-byte key for `save(..., key=...)` from the operating system's
    /// generator. Keep it safe: without it the gallery cannot be read.
    #[staticmethod]
    fn generate_key(py: Python<'_>) -> PyResult<Bound<'_, PyBytes>> {
        let k = GalleryKey::generate().map_err(to_py)?;
        Ok(PyBytes::new(py, k.as_bytes()))
    }

    /// Writes the gallery atomically (exclusive temporary file, fsync, rename), encrypted
    /// with `key` (XChaCha20-Poly1305) when given. Searches go on during a save; changes
    /// wait for it. `GalleryError` for a gallery in PostgreSQL (nothing to save there).
    #[pyo3(signature = (path, *, key = None))]
    fn save(&self, py: Python<'_>, path: PathBuf, key: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let key = parse_key(key)?;
        let g = match &self.backend {
            Backend::Memory(g) => g,
            Backend::Store(s) => return Err(not_a_file(s, "save")),
        };
        read(py, g, |g| match &key {
            Some(k) => g.save_encrypted(&path, k),
            None => g.save(&path),
        })
        .map_err(to_py)
    }

    /// The file format, as bytes (encrypted with `key` when given). `GalleryError` for a
    /// gallery in PostgreSQL.
    #[pyo3(signature = (*, key = None))]
    fn to_bytes<'py>(&self, py: Python<'py>, key: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyBytes>> {
        let key = parse_key(key)?;
        let g = match &self.backend {
            Backend::Memory(g) => g,
            Backend::Store(s) => return Err(not_a_file(s, "to_bytes")),
        };
        let bytes = read(py, g, |g| match &key {
            Some(k) => g.to_encrypted_bytes(k),
            None => Ok(g.to_bytes()),
        });
        Ok(PyBytes::new(py, &bytes.map_err(to_py)?))
    }

    /// Adds an embedding to `name` (creating the person); returns the person's id, which
    /// stays theirs for the life of the gallery (never reused, kept by save and load).
    /// `space` defaults to the gallery's.
    #[pyo3(signature = (name, embedding, *, space = None))]
    fn enroll(&self, py: Python<'_>, name: &str, embedding: &Bound<'_, PyAny>, space: Option<&str>) -> PyResult<u64> {
        let space = self.space_for(py, space)?;
        let e = crate::recognizer::embedding(embedding, &space, "embedding")?;
        self.enroll_embedding(py, name, &e)
    }

    /// Removes a person, by name (`str`) or id (`int`); False if there is no such person.
    #[pyo3(signature = (person, /))]
    fn remove(&self, py: Python<'_>, person: &Bound<'_, PyAny>) -> PyResult<bool> {
        let who = Who::extract(person)?;
        match &self.backend {
            Backend::Memory(g) => Ok(write(py, g, |g| match &who {
                Who::Name(n) => g.remove(n),
                Who::Id(id) => g.remove_id(*id),
            })),
            Backend::Store(s) => remote(py, s, |st| st.remove(who.as_ref())),
        }
    }

    /// Sets a person's free-form metadata (e.g. JSON); the person by name or id.
    fn set_metadata(&self, py: Python<'_>, person: &Bound<'_, PyAny>, metadata: &str) -> PyResult<()> {
        let who = Who::extract(person)?;
        match &self.backend {
            Backend::Memory(g) => write(py, g, |g| match &who {
                Who::Name(n) => g.set_metadata(n, metadata),
                Who::Id(id) => match g.name_of(*id).map(str::to_string) {
                    Some(n) => g.set_metadata(&n, metadata),
                    None => Err(facecore::Error::InvalidInput { what: "person", detail: format!("no person has id {id}") }),
                },
            })
            .map_err(to_py),
            Backend::Store(s) => remote(py, s, |st| st.set_metadata(who.as_ref(), metadata)),
        }
    }

    /// The person with this id (`int`) or name (`str`), or None.
    #[pyo3(signature = (person, /))]
    fn person(&self, py: Python<'_>, person: &Bound<'_, PyAny>) -> PyResult<Option<PyPerson>> {
        let who = Who::extract(person)?;
        let p = match &self.backend {
            Backend::Memory(g) => read(py, g, |g| who.id(g).and_then(|id| g.person(id))),
            Backend::Store(s) => remote(py, s, |st| st.person(who.as_ref()))?,
        };
        Ok(p.map(PyPerson::from))
    }

    /// The id of `name`, or None.
    fn id_of(&self, py: Python<'_>, name: &str) -> PyResult<Option<u64>> {
        let id = match &self.backend {
            Backend::Memory(g) => read(py, g, |g| g.id_of(name)),
            Backend::Store(s) => remote(py, s, |st| Ok(st.person(PersonRef::Name(name))?.map(|p| p.id)))?,
        };
        Ok(id.map(|id| id.0))
    }

    /// The `k` best people for `embedding`, best first.
    #[pyo3(signature = (embedding, *, k = 5))]
    fn search(&self, py: Python<'_>, embedding: &Bound<'_, PyAny>, k: usize) -> PyResult<Vec<PyMatch>> {
        let Some(space) = self.stored_space(py)? else {
            return Ok(Vec::new());
        };
        let e = crate::recognizer::embedding(embedding, &space, "embedding")?;
        let hits = match &self.backend {
            Backend::Memory(g) => read(py, g, |g| g.search(&e, k)).map_err(to_py)?,
            Backend::Store(s) => remote(py, s, |st| st.search(&e, k))?,
        };
        Ok(hits.into_iter().map(PyMatch::from).collect())
    }

    /// The best person if they reach `threshold` (default: the space's calibrated threshold at
    /// `operating_point`), else None.
    #[pyo3(signature = (embedding, *, threshold = None, operating_point = "fmr1e-3"))]
    fn identify(
        &self,
        py: Python<'_>,
        embedding: &Bound<'_, PyAny>,
        threshold: Option<f32>,
        operating_point: &str,
    ) -> PyResult<Option<PyMatch>> {
        let Some(space) = self.stored_space(py)? else {
            return Ok(None);
        };
        let t = match threshold {
            Some(t) => t,
            None => parse_op(operating_point)?.threshold(&space).map_err(to_py)?,
        };
        let e = crate::recognizer::embedding(embedding, &space, "embedding")?;
        let found = match &self.backend {
            Backend::Memory(g) => read(py, g, |g| g.identify(&e, t)).map_err(to_py)?,
            Backend::Store(s) => remote(py, s, |st| st.identify(&e, t))?,
        };
        Ok(match found {
            Identity::Known(m) => Some(m.into()),
            Identity::Unknown(_) => None,
        })
    }

    /// The people in enrolment order: all of them, or `limit` from `offset` on (pages of a
    /// large gallery).
    #[pyo3(signature = (*, offset = 0, limit = None))]
    fn people(&self, py: Python<'_>, offset: usize, limit: Option<usize>) -> PyResult<Vec<PyPerson>> {
        let limit = limit.unwrap_or(usize::MAX);
        let people = match &self.backend {
            Backend::Memory(g) => read(py, g, |g| {
                let end = g.len().min(offset.saturating_add(limit));
                (offset..end).filter_map(|i| g.id_at(i).and_then(|id| g.person(id))).collect()
            }),
            Backend::Store(s) => remote(py, s, |st| st.people(offset, limit))?,
        };
        Ok(people.into_iter().map(PyPerson::from).collect())
    }

    /// The embedding space, once something is enrolled (or as given to the constructor).
    #[getter]
    fn space(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.current_space(py)
    }

    /// Where the people are: `"memory"`, or `"postgres HOST:PORT/DB"` for `Gallery.connect`.
    #[getter]
    fn store(&self) -> String {
        match &self.backend {
            Backend::Memory(_) => "memory".into(),
            Backend::Store(s) => s.describe().to_string(),
        }
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        match &self.backend {
            Backend::Memory(g) => Ok(read(py, g, Gallery::len)),
            Backend::Store(s) => remote(py, s, |st| st.len()),
        }
    }

    /// `name in gallery` or `id in gallery` (O(1) in memory, one indexed query in PostgreSQL).
    fn __contains__(&self, py: Python<'_>, person: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(who) = Who::extract(person) else {
            return Ok(false);
        };
        match &self.backend {
            Backend::Memory(g) => Ok(read(py, g, |g| who.id(g).is_some())),
            Backend::Store(s) => remote(py, s, |st| Ok(st.person(who.as_ref())?.is_some())),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match &self.backend {
            Backend::Memory(g) => {
                let (n, space) = read(py, g, |g| (g.len(), g.space().map(str::to_string)));
                format!("Gallery(people={n}, space={:?})", space.or_else(|| self.default_space.clone()))
            }
            // No database round trip in a repr (it may be printed while the server is down).
            Backend::Store(s) => format!("Gallery(store={:?})", s.describe()),
        }
    }
}
