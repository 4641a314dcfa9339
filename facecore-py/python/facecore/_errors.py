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
    "LowQualityError",
    "StreamBusyError",
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


class LowQualityError(FacecoreError, ValueError):
    """A face is below the quality floor of :meth:`facecore.Pipeline.enroll` (blurred, dark,
    small, turned); the gallery was not changed.

    ``measure`` names the failing measure ("eye_distance", "sharpness", "brightness",
    "contrast", "yaw", "pitch" or "score", as in :class:`facecore.Quality`), ``value`` is the
    face's value and ``limit`` the bound it failed (a ceiling for ``|yaw|``, ``|pitch|`` and the
    upper brightness bound). Lower that bound with the keyword of the same name
    (``min_sharpness=``, ``max_yaw=``, ...) or pass ``check_quality=False`` to enrol anyway.
    They are None when the error was raised without them.
    """

    __module__ = "facecore"

    measure: str | None
    value: float | None
    limit: float | None

    def __init__(
        self, message: str, measure: str | None = None, value: float | None = None, limit: float | None = None
    ) -> None:
        super().__init__(message)
        self.measure = measure
        self.value = value
        self.limit = limit

    def __reduce__(self) -> tuple[type[LowQualityError], tuple[str, str | None, float | None, float | None]]:
        return (type(self), (str(self), self.measure, self.value, self.limit))


class StreamBusyError(FacecoreError, RuntimeError):
    """A :class:`facecore.Stream` was called while another thread was inside a call on the
    same stream. A stream is driven by one thread at a time (its events depend on the order of
    the frames); the call that raises this did nothing. Give each thread its own stream, or
    serialise the calls with your own lock."""

    __module__ = "facecore"
