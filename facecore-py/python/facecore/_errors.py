"""facecore's exception hierarchy, raised by the native module.

Every error facecore raises is a :class:`FacecoreError`, except a missing file, which is the
built-in :class:`FileNotFoundError` (as ``open()`` raises it). Input, decoding and size
errors are also :class:`ValueError`, file errors also :class:`OSError`, so generic handlers
keep working.
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
    "DegenerateFaceError",
    "LimitExceededError",
    "GalleryKeyError",
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


class DegenerateFaceError(FacecoreError, ValueError):
    """A face's landmarks are too degenerate (collapsed, collinear, non-finite) to align it.

    Pipelines skip such faces; calls on one given face or box raise this.
    """

    __module__ = "facecore"


class LimitExceededError(FacecoreError, ValueError):
    """An input is larger than a size limit (see :func:`facecore.limits`); nothing past the
    limit was read or copied.

    ``what`` names the input ("gallery file", "image side", ...), ``limit`` and ``actual``
    are the limit and the size found (a lower bound when reading stopped at the limit), in
    ``unit`` ("bytes", "pixels" or "px"). They are None when the error was raised without them.
    """

    __module__ = "facecore"

    what: str | None
    limit: int | None
    actual: int | None
    unit: str | None

    def __init__(
        self,
        message: str,
        what: str | None = None,
        limit: int | None = None,
        actual: int | None = None,
        unit: str | None = None,
    ) -> None:
        super().__init__(message)
        self.what = what
        self.limit = limit
        self.actual = actual
        self.unit = unit

    def __reduce__(self) -> tuple[type[LimitExceededError], tuple[str, str | None, int | None, int | None, str | None]]:
        return (type(self), (str(self), self.what, self.limit, self.actual, self.unit))


class GalleryKeyError(FacecoreError):
    """An encrypted gallery could not be opened with the key given: a wrong key, a file forged
    or altered by someone without the key, no key for an encrypted file, or a key for a plain
    one (refused: a plain file where an encrypted one belongs may have been substituted)."""

    __module__ = "facecore"
