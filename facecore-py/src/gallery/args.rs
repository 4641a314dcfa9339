//! The person and key arguments of `Gallery`'s methods.

use facecore::store::PersonRef;
use facecore::{Gallery, GalleryKey, PersonId};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyInt, PyMemoryView, PyString};

use crate::errors::{invalid, to_py};

/// A person argument: a name (`str`) or an id (`int`).
pub(super) enum Who {
    Name(String),
    Id(PersonId),
}

impl Who {
    /// `str` is a name, `int` an id (a negative or huge int is an id nobody has: ids are 1 and
    /// up); `bool` and anything else are refused.
    pub(super) fn extract(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
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
    pub(super) fn id(&self, g: &Gallery) -> Option<PersonId> {
        match self {
            Who::Name(n) => g.id_of(n),
            Who::Id(id) => g.name_of(*id).map(|_| *id),
        }
    }

    /// The store's form of the same person.
    pub(super) fn as_ref(&self) -> PersonRef<'_> {
        match self {
            Who::Name(n) => PersonRef::Name(n),
            Who::Id(id) => PersonRef::Id(*id),
        }
    }
}

/// A gallery key argument: exactly 32 bytes as `bytes`, `bytearray` or `memoryview`.
pub(super) fn parse_key(key: Option<&Bound<'_, PyAny>>) -> PyResult<Option<GalleryKey>> {
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
