"""Bad inputs raise documented exceptions (rooted at FacecoreError), never crash or panic."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, faces_equal

import facecore


def test_hierarchy() -> None:
    for cls in (facecore.InvalidInputError, facecore.ImageDecodeError, facecore.ModelLoadError,
                facecore.InferenceError, facecore.ModelMismatchError, facecore.GalleryError,
                facecore.FacecoreIOError, facecore.DegenerateFaceError, facecore.LimitExceededError,
                facecore.GalleryKeyError):
        assert issubclass(cls, facecore.FacecoreError) and cls.__module__ == "facecore"
    assert issubclass(facecore.InvalidInputError, ValueError)
    assert issubclass(facecore.LimitExceededError, ValueError)
    assert issubclass(facecore.FacecoreIOError, OSError)
    e = pickle.loads(pickle.dumps(facecore.GalleryError("x")))
    assert isinstance(e, facecore.GalleryError) and str(e) == "x"


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.int8, np.bool_])
def test_wrong_dtype(detector: facecore.Detector, dtype: type) -> None:
    with pytest.raises(facecore.InvalidInputError, match="dtype uint8"):
        detector.detect(np.zeros((64, 64, 3), dtype))


@pytest.mark.parametrize("shape", [(64,), (64, 64, 2), (64, 64, 5), (1, 64, 64, 3), (0, 64, 3), (64, 0)])
def test_wrong_shape(detector: facecore.Detector, shape: tuple[int, ...]) -> None:
    with pytest.raises(facecore.InvalidInputError):
        detector.detect(np.zeros(shape, np.uint8))


def test_non_contiguous_arrays_are_read_correctly(detector: facecore.Detector, obama: np.ndarray) -> None:
    # Views with arbitrary strides are copied in logical order: same result as a contiguous copy.
    views = {
        "flipped": obama[:, ::-1],
        "strided": obama[::2, ::2],
        "crop": obama[100:900, 50:850],
        "fortran": np.asfortranarray(obama),
        "bgr view": obama[:, :, ::-1],
    }
    for name, v in views.items():
        assert not v.flags.c_contiguous, name
        order = "bgr" if name == "bgr view" else "rgb"
        assert faces_equal(detector.detect(v, channel_order=order),
                           detector.detect(np.ascontiguousarray(v), channel_order=order)), name
    assert len(detector.detect(obama[:, ::-1])) == 1


def test_read_only_array(detector: facecore.Detector, obama: np.ndarray) -> None:
    ro = obama.copy()
    ro.setflags(write=False)
    assert len(detector.detect(ro)) == 1


def test_missing_files(detector: facecore.Detector, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError) as e:
        detector.detect(missing)
    assert e.value.filename == str(missing) and e.value.errno == 2
    with pytest.raises(FileNotFoundError):
        facecore.Gallery.load(tmp_path / "nope.fcg")
    with pytest.raises(FileNotFoundError):
        facecore.load_image(str(missing))


def test_bad_encoded_images(detector: facecore.Detector, tmp_path: Path) -> None:
    with pytest.raises(facecore.ImageDecodeError):
        detector.detect(b"definitely not an image")
    truncated = (FIXTURES / "obama.jpg").read_bytes()[:2000]
    with pytest.raises(facecore.ImageDecodeError):
        detector.detect(truncated)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(facecore.ImageDecodeError, match="bad.png"):
        detector.detect(bad)
    with pytest.raises(facecore.InvalidInputError):
        detector.detect(b"")


def test_bad_arguments(detector: facecore.Detector) -> None:
    with pytest.raises(facecore.InvalidInputError, match="image must be"):
        detector.detect(42)
    with pytest.raises(facecore.InvalidInputError, match="channel_order"):
        detector.detect(np.zeros((8, 8, 3), np.uint8), channel_order="xyz")
    with pytest.raises(facecore.InvalidInputError, match="score_threshold"):
        facecore.Detector(score_threshold=2.0)
    with pytest.raises(facecore.InvalidInputError, match="input size"):
        facecore.Detector(input_size=8)
    with pytest.raises(facecore.InvalidInputError, match="preset"):
        facecore.Pipeline("bogus")
    with pytest.raises(facecore.InvalidInputError, match="operating point"):
        facecore.threshold("sface-2021dec", operating_point="nope")
    with pytest.raises(facecore.InvalidInputError):
        facecore.similarity(np.zeros(4), np.ones(4))
    with pytest.raises(facecore.ModelMismatchError):
        facecore.similarity(np.ones(4), np.ones(5))
    too_big = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(20000, 20000, 3), strides=(0, 0, 0))
    with pytest.raises(facecore.LimitExceededError, match="image side exceeds the limit: 20000 > 16384 px"):
        detector.detect(too_big)
    wide = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(9000, 9000), strides=(0, 0))
    with pytest.raises(facecore.LimitExceededError, match="image area"):
        detector.detect(wide)


def test_damaged_galleries(tmp_path: Path) -> None:
    g = facecore.Gallery(space="test-space")
    g.enroll("a", np.array([1.0, 0.0, 0.0], np.float32))
    g.enroll("b", [0.0, 1.0, 0.0])
    good = g.to_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    cases = {
        "flipped byte": bytes(flipped),
        "truncated": good[:-10],
        "foreign": b"PK\x03\x04 not a gallery at all, a zip file maybe" * 3,
        "empty": b"",
    }
    for name, data in cases.items():
        with pytest.raises(facecore.GalleryError):
            facecore.Gallery.from_bytes(data)
        p = tmp_path / f"{name}.fcg"
        p.write_bytes(data)
        with pytest.raises(facecore.GalleryError, match=str(p.name)):
            facecore.Gallery.load(p)
    assert len(facecore.Gallery.from_bytes(good)) == 2


def test_gallery_misuse() -> None:
    g = facecore.Gallery()
    with pytest.raises(facecore.InvalidInputError, match="space"):
        g.enroll("a", np.ones(3))
    g.enroll("a", np.ones(3), space="s1")
    with pytest.raises(facecore.ModelMismatchError):
        g.enroll("b", np.ones(3), space="s2")
    with pytest.raises(facecore.ModelMismatchError):
        g.enroll("b", np.ones(4))
    with pytest.raises(facecore.ModelMismatchError):
        g.search(np.ones(4))
    with pytest.raises(facecore.InvalidInputError):
        g.enroll("  ", np.ones(3))
    with pytest.raises(facecore.InvalidInputError):
        g.enroll("c", np.array([np.nan, 1.0, 0.0]))
    with pytest.raises(facecore.InvalidInputError, match="1-D"):
        g.enroll("c", np.ones((3, 1)))
    assert facecore.Gallery(space="x").search(np.ones(3)) == []
