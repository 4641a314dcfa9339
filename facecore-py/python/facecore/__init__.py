"""facecore: face detection and recognition with bundled models, numpy in and out.

>>> import facecore
>>> pipe = facecore.Pipeline()                      # preset="accurate"
>>> faces = pipe.analyze("group.jpg")               # or a numpy uint8 (H, W, 3) RGB array
>>> faces[0].bbox, faces[0].score, faces[0].landmarks.shape, faces[0].embedding.shape
>>> gallery = facecore.Gallery(space=pipe.space)
>>> pipe.enroll(gallery, "obama", "obama.jpg")
>>> [(f.name, f.score, f.stage) for f in pipe.identify("group.jpg", gallery)]   # name or None
>>> pipe.verify_images("a.jpg", "b.jpg").same_person

Images are numpy uint8 arrays (H, W, 3) RGB by default (``channel_order="bgr"`` for OpenCV
frames), (H, W, 4) and (H, W) grey, in any memory layout; paths (``str``/``os.PathLike``),
encoded ``bytes`` and PIL images are accepted too. Camera frames go in as they come with
``pixel_format="nv12"`` (``"nv21"``, ``"i420"``, ``"yuyv"``) and ``color_range="limited"`` or
``"full"``. Results are new numpy arrays.

Liveness (is the face a live person or a photo held up to the camera?):
``facecore.Liveness().check(image, face)``, or ``Pipeline(..., liveness=True)``.

Cameras and videos: ``stream = facecore.Stream(pipe, gallery)``, then
``stream.push(frame, timestamp)`` per frame returns events (a person's track started, was
identified or is unknown, ended); faces are tracked and embedded only when worth it.

Threads: every object is immutable (``Gallery`` has an internal read/write lock, taken only
with the GIL released, after the arguments are converted) and the GIL is released while
decoding, running the networks and searching galleries, after the inputs are copied, so a
thread pool scales with cores. Models load on first use (not at import time); nothing starts threads in the
background, so ``fork()`` is safe.

face_recognition users: ``import facecore.compat as face_recognition``.
"""

from ._errors import (
    DegenerateFaceError,
    FacecoreError,
    FacecoreIOError,
    GalleryError,
    GalleryKeyError,
    ImageDecodeError,
    InferenceError,
    InvalidInputError,
    LimitExceededError,
    LowQualityError,
    ModelLoadError,
    ModelMismatchError,
    StreamBusyError,
)
from ._facecore import (
    Detector,
    Embedder,
    Face,
    Gallery,
    Identified,
    Liveness,
    LivenessResult,
    Match,
    Person,
    Pipeline,
    Quality,
    Recognizer,
    Stream,
    StreamEvent,
    TrackInfo,
    Verification,
    Verified,
    __version__,
    limits,
    load_image,
    set_limits,
    similarity,
    threshold,
    verify,
)

PRESETS = ("accurate", "fast", "dlib", "sface")
"""Recognizer presets: "dlib" shares face_recognition's embedding space."""

OPERATING_POINTS = ("fmr1e-3", "fmr1e-4", "best-accuracy")
"""Calibrated verification thresholds (false match rate 1e-3 is the default)."""

__all__ = [
    "DegenerateFaceError",
    "Detector",
    "Embedder",
    "Face",
    "FacecoreError",
    "FacecoreIOError",
    "Gallery",
    "GalleryError",
    "GalleryKeyError",
    "Identified",
    "ImageDecodeError",
    "InferenceError",
    "InvalidInputError",
    "LimitExceededError",
    "Liveness",
    "LivenessResult",
    "LowQualityError",
    "Match",
    "ModelLoadError",
    "ModelMismatchError",
    "OPERATING_POINTS",
    "PRESETS",
    "Person",
    "Pipeline",
    "Quality",
    "Recognizer",
    "Stream",
    "StreamBusyError",
    "StreamEvent",
    "TrackInfo",
    "Verification",
    "Verified",
    "__version__",
    "limits",
    "load_image",
    "set_limits",
    "similarity",
    "threshold",
    "verify",
]
