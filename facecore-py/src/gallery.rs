//! `Gallery`: enrolled people, 1:N search, a checksummed file.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use facecore::{Gallery, Identity, Match};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{invalid, to_py};
use crate::recognizer::parse_op;

/// A search hit: a person and their best cosine similarity to the probe.
#[pyclass(frozen, module = "facecore", name = "Match")]
pub(crate) struct PyMatch {
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    score: f32,
}

#[pymethods]
impl PyMatch {
    fn __repr__(&self) -> String {
        format!("Match(name={:?}, score={:.4})", self.name, self.score)
    }
}

impl From<Match> for PyMatch {
    fn from(m: Match) -> Self {
        PyMatch { name: m.name, score: m.score }
    }
}

/// An enrolled person.
#[pyclass(frozen, module = "facecore", name = "Person")]
pub(crate) struct PyPerson {
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
        format!("Person(name={:?}, embeddings={})", self.name, self.embeddings)
    }
}

/// People with one or more embeddings each, all of one embedding space. Thread-safe (an
/// internal lock serialises changes).
#[pyclass(frozen, module = "facecore", name = "Gallery")]
pub(crate) struct PyGallery {
    inner: Mutex<Gallery>,
    /// The space of embeddings enrolled before the gallery has one of its own.
    default_space: Option<String>,
}

impl PyGallery {
    fn lock(&self) -> MutexGuard<'_, Gallery> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn space_for(&self, space: Option<&str>) -> PyResult<String> {
        let g = self.lock();
        match (space, g.space(), self.default_space.as_deref()) {
            (Some(s), _, _) => Ok(s.to_string()),
            (None, Some(s), _) | (None, None, Some(s)) => Ok(s.to_string()),
            (None, None, None) => {
                Err(invalid("an empty gallery needs an embedding space: Gallery(space=pipeline.space) or enroll(..., space=...)"))
            }
        }
    }

    fn wrap(g: Gallery) -> Self {
        PyGallery { inner: Mutex::new(g), default_space: None }
    }
}

#[pymethods]
impl PyGallery {
    /// An empty gallery for embeddings of `space` (e.g. `Pipeline.space`).
    #[new]
    #[pyo3(signature = (*, space = None))]
    fn new(space: Option<String>) -> Self {
        PyGallery { inner: Mutex::new(Gallery::new()), default_space: space }
    }

    /// Reads a gallery file (`FileNotFoundError` if missing, `GalleryError` if damaged).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        Ok(Self::wrap(py.detach(|| Gallery::load(&path)).map_err(to_py)?))
    }

    /// Parses a gallery held in memory (`GalleryError` if damaged).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(Self::wrap(Gallery::from_bytes(data).map_err(to_py)?))
    }

    /// Writes the gallery atomically (temporary file, fsync, rename).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let snapshot = self.lock().clone();
        py.detach(|| snapshot.save(&path)).map_err(to_py)
    }

    /// The file format, as bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.lock().to_bytes())
    }

    /// Adds an embedding to `name` (creating the person). `space` defaults to the gallery's.
    #[pyo3(signature = (name, embedding, *, space = None))]
    fn enroll(&self, name: &str, embedding: &Bound<'_, PyAny>, space: Option<&str>) -> PyResult<()> {
        let e = crate::recognizer::embedding(embedding, &self.space_for(space)?, "embedding")?;
        self.lock().enroll(name, &e).map_err(to_py)
    }

    /// Removes a person; False if unknown.
    fn remove(&self, name: &str) -> bool {
        self.lock().remove(name)
    }

    /// Sets a person's free-form metadata (e.g. JSON).
    fn set_metadata(&self, name: &str, metadata: &str) -> PyResult<()> {
        self.lock().set_metadata(name, metadata).map_err(to_py)
    }

    /// The `k` best people for `embedding`, best first.
    #[pyo3(signature = (embedding, *, k = 5))]
    fn search(&self, embedding: &Bound<'_, PyAny>, k: usize) -> PyResult<Vec<PyMatch>> {
        let g = self.lock();
        let Some(space) = g.space().map(str::to_string) else {
            return Ok(Vec::new());
        };
        let e = crate::recognizer::embedding(embedding, &space, "embedding")?;
        Ok(g.search(&e, k).map_err(to_py)?.into_iter().map(PyMatch::from).collect())
    }

    /// The best person if they reach `threshold` (default: the space's calibrated threshold at
    /// `operating_point`), else None.
    #[pyo3(signature = (embedding, *, threshold = None, operating_point = "fmr1e-3"))]
    fn identify(&self, embedding: &Bound<'_, PyAny>, threshold: Option<f32>, operating_point: &str) -> PyResult<Option<PyMatch>> {
        let g = self.lock();
        let Some(space) = g.space().map(str::to_string) else {
            return Ok(None);
        };
        let t = match threshold {
            Some(t) => t,
            None => parse_op(operating_point)?.threshold(&space).map_err(to_py)?,
        };
        let e = crate::recognizer::embedding(embedding, &space, "embedding")?;
        Ok(match g.identify(&e, t).map_err(to_py)? {
            Identity::Known(m) => Some(m.into()),
            _ => None,
        })
    }

    /// The people, in enrolment order.
    fn people(&self) -> Vec<PyPerson> {
        self.lock().people().into_iter().map(|p| PyPerson { name: p.name, metadata: p.metadata, embeddings: p.embeddings }).collect()
    }

    /// The embedding space, once something is enrolled (or as given to the constructor).
    #[getter]
    fn space(&self) -> Option<String> {
        self.lock().space().map(str::to_string).or_else(|| self.default_space.clone())
    }

    fn __len__(&self) -> usize {
        self.lock().len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.lock().people().iter().any(|p| p.name == name)
    }

    fn __repr__(&self) -> String {
        format!("Gallery(people={}, space={:?})", self.__len__(), self.space())
    }
}
