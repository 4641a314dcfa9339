"""face_recognition's API on facecore: ``import facecore.compat as face_recognition``.

Same names, arguments, defaults and return types as the face_recognition package (1.3), so
existing code and stored encodings keep working:

- ``face_encodings`` runs dlib's own path: the shape predictor on each box, dlib's 150 px
  face chip (padding 0.25) and dlib's ResNet, returning the raw 128-d float64 descriptor.
  Given the same boxes, encodings match face_recognition's to about 1e-6 and landmarks are
  identical, so ``compare_faces``/``face_distance`` against encodings stored by
  face_recognition behave as before (tolerance 0.6).
- ``model="small"`` (``face_encodings``' default) uses dlib's 5-point shape predictor, which
  facecore bundles. ``model="large"`` (``face_landmarks``' default, as in face_recognition)
  uses dlib's 68-point ``shape_predictor_68_face_landmarks.dat``, which facecore does not
  ship (its training data is licensed for non-commercial use only): it is read from the
  ``face_recognition_models`` package when that is installed (``pip install
  face_recognition_models``, which face_recognition users have), and run by facecore's native
  dlib port; without it, ``model="large"`` raises :class:`facecore.ModelLoadError` naming
  the package.
- ``face_locations`` uses facecore's YuNet detector (``model="hog"`` and ``"cnn"`` alike),
  whose boxes are mapped to the square boxes dlib's HOG detector draws
  (``facecore::DlibRect::from_face``). They are close to, not equal to, HOG's: a few pixels on
  frontal faces; YuNet also finds faces HOG misses (profiles, small or dark faces).
  ``number_of_times_to_upsample`` upscales small images as dlib does (the network input's
  longest side is ``min(side * 2**n, 640 * 2**max(n - 1, 0))``).
- ``num_jitters`` > 1 is accepted and computes one un-jittered encoding (dlib's jitter is random).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from ._errors import ModelLoadError
from ._facecore import DlibCompat, DlibShapeCompat, load_image

__all__ = [
    "LARGE_MODEL_FILE",
    "batch_face_locations",
    "compare_faces",
    "face_distance",
    "face_encodings",
    "face_landmarks",
    "face_locations",
    "large_model_path",
    "load_image_file",
]

Css = tuple[int, int, int, int]
"""A face box as face_recognition gives it: (top, right, bottom, left)."""

_lock = threading.Lock()
_models: DlibCompat | None = None


_large_models: DlibShapeCompat | None = None

LARGE_MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
"""dlib's 68-point shape predictor, as the face_recognition_models package holds it."""


def _compat() -> DlibCompat:
    global _models
    with _lock:
        if _models is None:
            _models = DlibCompat()
        return _models


def large_model_path() -> Path:
    """Where ``model="large"`` reads dlib's 68-point shape predictor: ``models/`` of the
    installed ``face_recognition_models`` package (located without importing it, since it
    imports ``pkg_resources``, which recent setuptools no longer provide).

    Raises :class:`facecore.ModelLoadError` naming the package when it is not installed or
    lacks the file.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ModelLoadError(
            f"model='large' needs dlib's 68-point shape predictor ({LARGE_MODEL_FILE}), which facecore "
            "does not ship (its training data is licensed for non-commercial use only); it comes with "
            "the face_recognition_models package: pip install face_recognition_models "
            "(or use model='small', facecore's bundled 5-point predictor)"
        )
    path = Path(spec.origin).parent / "models" / LARGE_MODEL_FILE
    if not path.is_file():
        raise ModelLoadError(
            f"the face_recognition_models package at {Path(spec.origin).parent} has no models/{LARGE_MODEL_FILE}: "
            "reinstall it with pip install --force-reinstall face_recognition_models"
        )
    return path


def _large() -> DlibShapeCompat:
    global _large_models
    with _lock:
        if _large_models is None:
            models = DlibShapeCompat(large_model_path())
            if models.num_parts != 68:
                raise ModelLoadError(f"{large_model_path()} has {models.num_parts} landmarks, not 68")
            _large_models = models
        return _large_models


def _check_model(model: str) -> None:
    if model not in ("small", "large"):
        raise ValueError(f"invalid landmarks model type {model!r}: supported models are ['small', 'large']")


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


def _large_dict(points: list[tuple[int, int]]) -> dict[str, list[tuple[int, int]]]:
    # face_recognition's index ranges for the iBUG 300-W 68-point layout.
    return {
        "chin": points[0:17],
        "left_eyebrow": points[17:22],
        "right_eyebrow": points[22:27],
        "nose_bridge": points[27:31],
        "nose_tip": points[31:36],
        "left_eye": points[36:42],
        "right_eye": points[42:48],
        "top_lip": points[48:55] + [points[64]] + [points[63]] + [points[62]] + [points[61]] + [points[60]],
        "bottom_lip": points[54:60] + [points[48]] + [points[60]] + [points[67]] + [points[66]] + [points[65]] + [points[64]],
    }


def face_landmarks(
    face_image: npt.NDArray[np.uint8], face_locations: Iterable[Css] | None = None, model: str = "large"
) -> list[dict[str, list[tuple[int, int]]]]:
    """dlib's landmarks per face as face_recognition's dicts.

    ``model="large"`` (the default, as in face_recognition): the 68-point predictor from the
    ``face_recognition_models`` package, keys ``chin``, ``left_eyebrow``, ``right_eyebrow``,
    ``nose_bridge``, ``nose_tip``, ``left_eye``, ``right_eye``, ``top_lip``, ``bottom_lip``.
    ``model="small"``: facecore's bundled 5-point predictor,
    ``{"nose_tip": [p4], "left_eye": [p2, p3], "right_eye": [p0, p1]}``.
    """
    _check_model(model)
    if model == "large":
        large = _large()
        boxes = _boxes(face_image, face_locations)
        return [_large_dict(pts) for pts in large.landmarks(face_image, boxes)]
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
    """The 128-d dlib descriptor of each face (float64), exactly on the given boxes.

    ``model="small"`` (the default) aligns with the bundled 5-point predictor, ``"large"``
    with the 68-point one from ``face_recognition_models``, each through dlib's face chip.
    """
    _check_model(model)
    if model == "large":
        large = _large()
        return large.encodings(face_image, _boxes(face_image, known_face_locations))
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
