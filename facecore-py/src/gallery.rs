//! `Gallery`: enrolled people with stable ids, 1:N search, a checksummed (optionally
//! encrypted) file.
//!
//! Locking rule: every Python argument is converted first (numpy's `asarray`, `__array__`,
//! `__float__`, `__fspath__` run Python code, which may call back into this gallery); the
//! gallery lock is then taken only with the GIL released ([`PyGallery::read`] and
//! [`PyGallery::write`], the only ways to reach it), and nothing under it touches a Python
//! object. Results are turned into Python objects after the lock is released. A thread
//! waiting for the lock therefore never holds the GIL, and a thread holding the lock never
//! waits for the GIL. Searches share a read lock, so they scan in parallel.

use std::path::PathBuf;
use std::sync::{PoisonError, RwLock};

use facecore::{Gallery, GalleryKey, Identity, Match, Person, PersonId};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyInt, PyMemoryView, PyString};

use crate::errors::{invalid, to_py};
use crate::recognizer::parse_op;

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

/// A person argument: a name (`str`) or an id (`int`).
enum Who {
    Name(String),
    Id(PersonId),
}

impl Who {
    /// `str` is a name, `int` an id (a negative or huge int is an id nobody has: ids are 1 and
    /// up); `bool` and anything else are refused.
    fn extract(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(Who::Name(s.to_str()?.to_string()));
        }
        if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
            return Ok(Who::Id(PersonId(obj.extract::<u64>().unwrap_or(0))));
        }
        let ty = obj.get_type().name()?.to_string();
        Err(invalid(format!("a person is a name (str) or an id (int), not {ty}")))
    }

    /// This person's id, if enrolled (O(1)).
    fn id(&self, g: &Gallery) -> Option<PersonId> {
        match self {
            Who::Name(n) => g.id_of(n),
            Who::Id(id) => g.name_of(*id).map(|_| *id),
        }
    }
}

/// A gallery key argument: exactly 32 bytes as `bytes`, `bytearray` or `memoryview`.
fn parse_key(key: Option<&Bound<'_, PyAny>>) -> PyResult<Option<GalleryKey>> {
    let Some(obj) = key else {
        return Ok(None);
    };
    let k = if let Ok(b) = obj.cast::<PyBytes>() {
        GalleryKey::from_bytes(b.as_bytes())
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        let mut copy = b.to_vec();
        let k = GalleryKey::from_bytes(&copy);
        // Our temporary copy; the caller's objects are theirs to wipe.
        copy.fill(0);
        std::hint::black_box(&copy);
        k
    } else if obj.is_instance_of::<PyMemoryView>() {
        let b = obj.call_method0("tobytes")?;
        GalleryKey::from_bytes(b.cast::<PyBytes>()?.as_bytes())
    } else {
        let ty = obj.get_type().name()?.to_string();
        return Err(invalid(format!("key must be 32 bytes (bytes, bytearray or memoryview), not {ty}")));
    };
    k.map(Some).map_err(to_py)
}

/// People with one or more embeddings each, all of one embedding space. Thread-safe: searches
/// run in parallel under a shared lock, changes take turns; the GIL is released while the
/// gallery is locked.
#[pyclass(frozen, module = "facecore", name = "Gallery")]
pub(crate) struct PyGallery {
    inner: RwLock<Gallery>,
    /// The space of embeddings enrolled before the gallery has one of its own.
    default_space: Option<String>,
}

impl PyGallery {
    /// Runs `f` under the read lock with the GIL released. `f` must not touch Python.
    fn read<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&Gallery) -> R + Send) -> R {
        py.detach(|| f(&self.inner.read().unwrap_or_else(PoisonError::into_inner)))
    }

    /// Runs `f` under the write lock with the GIL released. `f` must not touch Python.
    fn write<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Gallery) -> R + Send) -> R {
        py.detach(|| f(&mut self.inner.write().unwrap_or_else(PoisonError::into_inner)))
    }

    /// The gallery's space (a short read lock), else the constructor's.
    fn current_space(&self, py: Python<'_>) -> Option<String> {
        self.read(py, |g| g.space().map(str::to_string)).or_else(|| self.default_space.clone())
    }

    /// The space to convert an embedding argument in. Read before the conversion (which runs
    /// Python code, so never under the lock): should the space change in between, the core's
    /// own check under the lock reports `ModelMismatchError`.
    fn space_for(&self, py: Python<'_>, space: Option<&str>) -> PyResult<String> {
        match space {
            Some(s) => Ok(s.to_string()),
            None => self.current_space(py).ok_or_else(|| {
                invalid("an empty gallery needs an embedding space: Gallery(space=pipeline.space) or enroll(..., space=...)")
            }),
        }
    }

    /// A copy of the gallery, taken under the read lock with the GIL released (for streams,
    /// which own a snapshot).
    pub(crate) fn snapshot(&self, py: Python<'_>) -> Gallery {
        self.read(py, Gallery::clone)
    }

    /// `ModelMismatchError` when embeddings of `space` do not belong here: the gallery holds
    /// another space, or is empty and was made for another one (`Gallery(space=...)`).
    pub(crate) fn check_space(&self, py: Python<'_>, space: &str) -> PyResult<()> {
        match self.current_space(py) {
            Some(g) if g != space => {
                Err(to_py(facecore::Error::ModelMismatch { left: format!("gallery of {g}"), right: format!("embeddings of {space}") }))
            }
            _ => Ok(()),
        }
    }

    /// Adds an embedding under the write lock; the person's id.
    pub(crate) fn enroll_embedding(&self, py: Python<'_>, name: &str, e: &facecore::Embedding) -> PyResult<u64> {
        Ok(self.write(py, |g| g.enroll(name, e)).map_err(to_py)?.0)
    }

    fn wrap(g: Gallery) -> Self {
        PyGallery { inner: RwLock::new(g), default_space: None }
    }
}

#[pymethods]
impl PyGallery {
    /// An empty gallery for embeddings of `space` (e.g. `Pipeline.space`).
    #[new]
    #[pyo3(signature = (*, space = None))]
    fn new(space: Option<String>) -> Self {
        PyGallery { inner: RwLock::new(Gallery::new()), default_space: space }
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
    /// wait for it.
    #[pyo3(signature = (path, *, key = None))]
    fn save(&self, py: Python<'_>, path: PathBuf, key: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let key = parse_key(key)?;
        self.read(py, |g| match &key {
            Some(k) => g.save_encrypted(&path, k),
            None => g.save(&path),
        })
        .map_err(to_py)
    }

    /// The file format, as bytes (encrypted with `key` when given).
    #[pyo3(signature = (*, key = None))]
    fn to_bytes<'py>(&self, py: Python<'py>, key: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyBytes>> {
        let key = parse_key(key)?;
        let bytes = self.read(py, |g| match &key {
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
        Ok(self.write(py, |g| g.enroll(name, &e)).map_err(to_py)?.0)
    }

    /// Removes a person, by name (`str`) or id (`int`); False if there is no such person.
    #[pyo3(signature = (person, /))]
    fn remove(&self, py: Python<'_>, person: &Bound<'_, PyAny>) -> PyResult<bool> {
        let who = Who::extract(person)?;
        Ok(self.write(py, |g| match &who {
            Who::Name(n) => g.remove(n),
            Who::Id(id) => g.remove_id(*id),
        }))
    }

    /// Sets a person's free-form metadata (e.g. JSON); the person by name or id.
    fn set_metadata(&self, py: Python<'_>, person: &Bound<'_, PyAny>, metadata: &str) -> PyResult<()> {
        let who = Who::extract(person)?;
        self.write(py, |g| match &who {
            Who::Name(n) => g.set_metadata(n, metadata),
            Who::Id(id) => match g.name_of(*id).map(str::to_string) {
                Some(n) => g.set_metadata(&n, metadata),
                None => Err(facecore::Error::InvalidInput { what: "person", detail: format!("no person has id {id}") }),
            },
        })
        .map_err(to_py)
    }

    /// The person with this id (`int`) or name (`str`), or None.
    #[pyo3(signature = (person, /))]
    fn person(&self, py: Python<'_>, person: &Bound<'_, PyAny>) -> PyResult<Option<PyPerson>> {
        let who = Who::extract(person)?;
        Ok(self.read(py, |g| who.id(g).and_then(|id| g.person(id))).map(PyPerson::from))
    }

    /// The id of `name`, or None.
    fn id_of(&self, py: Python<'_>, name: &str) -> Option<u64> {
        self.read(py, |g| g.id_of(name)).map(|id| id.0)
    }

    /// The `k` best people for `embedding`, best first.
    #[pyo3(signature = (embedding, *, k = 5))]
    fn search(&self, py: Python<'_>, embedding: &Bound<'_, PyAny>, k: usize) -> PyResult<Vec<PyMatch>> {
        let Some(space) = self.read(py, |g| g.space().map(str::to_string)) else {
            return Ok(Vec::new());
        };
        let e = crate::recognizer::embedding(embedding, &space, "embedding")?;
        let hits = self.read(py, |g| g.search(&e, k)).map_err(to_py)?;
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
        let Some(space) = self.read(py, |g| g.space().map(str::to_string)) else {
            return Ok(None);
        };
        let t = match threshold {
            Some(t) => t,
            None => parse_op(operating_point)?.threshold(&space).map_err(to_py)?,
        };
        let e = crate::recognizer::embedding(embedding, &space, "embedding")?;
        Ok(match self.read(py, |g| g.identify(&e, t)).map_err(to_py)? {
            Identity::Known(m) => Some(m.into()),
            Identity::Unknown(_) => None,
        })
    }

    /// The people, in enrolment order.
    fn people(&self, py: Python<'_>) -> Vec<PyPerson> {
        self.read(py, Gallery::people).into_iter().map(PyPerson::from).collect()
    }

    /// The embedding space, once something is enrolled (or as given to the constructor).
    #[getter]
    fn space(&self, py: Python<'_>) -> Option<String> {
        self.current_space(py)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.read(py, Gallery::len)
    }

    /// `name in gallery` or `id in gallery` (O(1)).
    fn __contains__(&self, py: Python<'_>, person: &Bound<'_, PyAny>) -> bool {
        match Who::extract(person) {
            Ok(who) => self.read(py, |g| who.id(g).is_some()),
            Err(_) => false,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let (n, space) = self.read(py, |g| (g.len(), g.space().map(str::to_string)));
        format!("Gallery(people={n}, space={:?})", space.or_else(|| self.default_space.clone()))
    }
}
