"""facecore's exception hierarchy, raised by the native module.

Every error facecore raises is a :class:`FacecoreError`, except a missing file, which is the
built-in :class:`FileNotFoundError` (as ``open()`` raises it). Input and decoding errors are
also :class:`ValueError`, file errors also :class:`OSError`, so generic handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "FacecoreError",
    "InvalidInputError",
    "ImageDecodeError",
    "ModelLoadError",
    "InferenceError",
    "ModelMismatchError",
    "GalleryError",
    "FacecoreIOError",
]


class FacecoreError(Exception):
    """Base class of every facecore error."""

    __module__ = "facecore"


class InvalidInputError(FacecoreError, ValueError):
    """The caller passed an invalid argument: image dtype/shape, option value, face box."""

    __module__ = "facecore"


class ImageDecodeError(FacecoreError, ValueError):
    """Encoded image bytes could not be decoded (corrupt, truncated, unsupported)."""

    __module__ = "facecore"


class ModelLoadError(FacecoreError):
    """A model failed its checksum or does not have the expected shape."""

    __module__ = "facecore"


class InferenceError(FacecoreError):
    """The inference engine failed while running a model."""

    __module__ = "facecore"


class ModelMismatchError(FacecoreError, ValueError):
    """Embeddings from different embedding spaces (models) were compared or mixed."""

    __module__ = "facecore"


class GalleryError(FacecoreError):
    """A gallery file is damaged, truncated, of a newer version or not a gallery."""

    __module__ = "facecore"


class FacecoreIOError(FacecoreError, OSError):
    """A file could not be read or written (a missing file raises FileNotFoundError instead)."""

    __module__ = "facecore"
