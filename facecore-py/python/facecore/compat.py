"""face_recognition's API on facecore: ``import facecore.compat as face_recognition``.

Same names, arguments and return types as the face_recognition package (1.3), so existing
code and stored encodings keep working:

- ``face_encodings`` runs dlib's own path: the 5-point shape predictor on each box, dlib's
  150 px face chip (padding 0.25) and dlib's ResNet, returning the raw 128-d float64 descriptor.
  Given the same boxes, encodings match face_recognition's to about 1e-6 and landmarks are
  identical, so ``compare_faces``/``face_distance`` against encodings stored by
  face_recognition behave as before (tolerance 0.6).
- ``face_locations`` uses facecore's YuNet detector (``model="hog"`` and ``"cnn"`` alike),
  whose boxes are mapped to the square boxes dlib's HOG detector draws
  (``facecore::DlibRect::from_face``). They are close to, not equal to, HOG's: a few pixels on
  frontal faces; YuNet also finds faces HOG misses (profiles, small or dark faces).
  ``number_of_times_to_upsample`` upscales small images as dlib does (the network input's
  longest side is ``min(side * 2**n, 640 * 2**max(n - 1, 0))``).
- ``face_landmarks`` supports the 5-point model only (``model="small"``, the default here);
  ``model="large"`` (68 points) raises ``ValueError``.
- ``num_jitters`` > 1 is accepted and computes one un-jittered encoding (dlib's jitter is random).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from ._facecore import DlibCompat, load_image

__all__ = [
    "batch_face_locations",
    "compare_faces",
    "face_distance",
    "face_encodings",
    "face_landmarks",
    "face_locations",
    "load_image_file",
]

Css = tuple[int, int, int, int]
"""A face box as face_recognition gives it: (top, right, bottom, left)."""

_lock = threading.Lock()
_models: DlibCompat | None = None


def _compat() -> DlibCompat:
    global _models
    with _lock:
        if _models is None:
            _models = DlibCompat()
        return _models


def load_image_file(file: str | os.PathLike[str] | IO[bytes], mode: str = "RGB") -> npt.NDArray[np.uint8]:
    """Loads an image file (path or binary file object) into a numpy array.

    ``mode="RGB"`` gives (H, W, 3) uint8; ``mode="L"`` gives (H, W) grey (PIL's luma weights).
    Decodes with PIL when it is installed, as face_recognition does (JPEG decoders differ by
    a grey level here and there, which can move a dlib landmark by a pixel); otherwise with
    facecore's own decoder.
    """
    try:
        import PIL.Image
    except ImportError:
        pass
    else:
        with PIL.Image.open(file) as im:
            return np.array(im.convert(mode))
    source: Any = file.read() if hasattr(file, "read") else file
    rgb = load_image(source)
    if mode == "RGB":
        return rgb
    if mode == "L":
        r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
        return ((r * 299 + g * 587 + b * 114 + 500) // 1000).astype(np.uint8)
    raise ValueError(f"unsupported mode {mode!r} (use 'RGB' or 'L')")


def face_locations(img: npt.NDArray[np.uint8], number_of_times_to_upsample: int = 1, model: str = "hog") -> list[Css]:
    """Face boxes as (top, right, bottom, left), trimmed to the image, most confident first."""
    if model not in ("hog", "cnn"):
        raise ValueError(f"unknown model {model!r} (use 'hog' or 'cnn')")
    return _compat().locations(img, upsample=max(int(number_of_times_to_upsample), 0))


def batch_face_locations(
    images: Sequence[npt.NDArray[np.uint8]], number_of_times_to_upsample: int = 1, batch_size: int = 128
) -> list[list[Css]]:
    """``face_locations`` for each image (a 2-D list, one list of boxes per image)."""
    models = _compat()
    return [models.locations(img, upsample=max(int(number_of_times_to_upsample), 0)) for img in images]


def _boxes(img: npt.NDArray[np.uint8], locations: Iterable[Css] | None) -> list[Css]:
    if locations is None:
        return _compat().locations(img, upsample=1)
    return [(int(t), int(r), int(b), int(l)) for (t, r, b, l) in locations]


def face_landmarks(
    face_image: npt.NDArray[np.uint8], face_locations: Iterable[Css] | None = None, model: str = "small"
) -> list[dict[str, list[tuple[int, int]]]]:
    """dlib's 5 landmarks per face as face_recognition's ``model="small"`` dicts:
    ``{"nose_tip": [p4], "left_eye": [p2, p3], "right_eye": [p0, p1]}``."""
    if model != "small":
        raise ValueError("facecore ships dlib's 5-point shape predictor only: use model='small'")
    boxes = _boxes(face_image, face_locations)
    return [
        {"nose_tip": [pts[4]], "left_eye": pts[2:4], "right_eye": pts[0:2]}
        for pts in _compat().landmarks(face_image, boxes)
    ]


def face_encodings(
    face_image: npt.NDArray[np.uint8],
    known_face_locations: Iterable[Css] | None = None,
    num_jitters: int = 1,
    model: str = "small",
) -> list[npt.NDArray[np.float64]]:
    """The 128-d dlib descriptor of each face (float64), exactly on the given boxes."""
    if model != "small":
        raise ValueError("facecore ships dlib's 5-point shape predictor only: use model='small'")
    boxes = _boxes(face_image, known_face_locations)
    return _compat().encodings(face_image, boxes)


def face_distance(face_encodings: Sequence[npt.ArrayLike] | npt.NDArray[Any], face_to_compare: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Euclidean distance between each known encoding and the one to compare."""
    if len(face_encodings) == 0:
        return np.empty((0))
    dist: npt.NDArray[np.float64] = np.linalg.norm(np.asarray(face_encodings) - np.asarray(face_to_compare), axis=1)
    return dist


def compare_faces(
    known_face_encodings: Sequence[npt.ArrayLike] | npt.NDArray[Any], face_encoding_to_check: npt.ArrayLike, tolerance: float = 0.6
) -> list[bool]:
    """True for each known encoding within ``tolerance`` (face_recognition's 0.6 default)."""
    return list(face_distance(known_face_encodings, face_encoding_to_check) <= tolerance)
