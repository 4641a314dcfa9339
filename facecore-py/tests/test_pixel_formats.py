"""Camera pixel formats from Python: NV12, NV21, I420 and YUYV frames made with numpy from a
fixture (BT.601 equations, limited and full range) as one buffer, in OpenCV's layouts, as
bytes and as separate planes with their own strides, find the RGB image's faces; wrong sizes,
truncated buffers and bad keywords are InvalidInputError."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES

import facecore

FORMATS_420 = ("nv12", "nv21", "i420")


def _yuv(rgb: np.ndarray, full: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y (h, w), and U, V per pixel (h, w), as floats, from the BT.601 equations."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    cb, cr = (b - luma) / 1.772, (r - luma) / 1.402
    if full:
        return luma, 128.0 + cb, 128.0 + cr
    return 16.0 + luma * 219.0 / 255.0, 128.0 + cb * 224.0 / 255.0, 128.0 + cr * 224.0 / 255.0


def _code(v: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)


def planes_420(rgb: np.ndarray, full: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y (h, w) and U, V (h/2, w/2), chroma the mean of each 2x2 block (even sizes)."""
    y, u, v = _yuv(rgb, full)
    h, w = y.shape
    block = lambda c: c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # noqa: E731
    return _code(y), _code(block(u)), _code(block(v))


def yuyv(rgb: np.ndarray, full: bool = False) -> np.ndarray:
    """(h, w, 2): Y0 U Y1 V per pair of pixels, chroma the mean of each pair."""
    y, u, v = _yuv(rgb, full)
    h, w = y.shape
    pair = lambda c: c.reshape(h, w // 2, 2).mean(axis=2)  # noqa: E731
    out = np.empty((h, w, 2), np.uint8)
    out[..., 0] = _code(y)
    out[:, 0::2, 1] = _code(pair(u))
    out[:, 1::2, 1] = _code(pair(v))
    return out


def one_buffer(fmt: str, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The frame in OpenCV's layout: (h * 3 // 2, w), planes back to back."""
    h, w = y.shape
    if fmt == "i420":
        chroma = np.concatenate([u.ravel(), v.ravel()])
    else:
        first, second = (u, v) if fmt == "nv12" else (v, u)
        chroma = np.stack([first, second], axis=-1).ravel()
    return np.concatenate([y.ravel(), chroma]).reshape(h * 3 // 2, w)


def separate(fmt: str, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, ...]:
    """Separate planes, each a view into a larger padded array (its own stride)."""

    def padded(p: np.ndarray, pad: int) -> np.ndarray:
        big = np.zeros((p.shape[0], p.shape[1] + pad), np.uint8)
        big[:, : p.shape[1]] = p
        return big[:, : p.shape[1]]

    if fmt == "i420":
        return padded(y, 7), padded(u, 3), padded(v, 5)
    first, second = (u, v) if fmt == "nv12" else (v, u)
    uv = np.stack([first, second], axis=-1)  # (h/2, w/2, 2)
    return padded(y, 32), uv


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """obama.jpg cropped to even sizes (910 x 1136)."""
    img = facecore.load_image(FIXTURES / "obama.jpg")
    return np.ascontiguousarray(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2])


@pytest.fixture(scope="module")
def reference(detector: facecore.Detector, photo: np.ndarray) -> list[facecore.Face]:
    faces = detector.detect(photo)
    assert len(faces) == 1
    return faces


def same_faces(a: list[facecore.Face], b: list[facecore.Face], tol: float = 2.0) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.bbox, y.bbox, atol=tol)
        np.testing.assert_allclose(x.landmarks, y.landmarks, atol=tol)


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("fmt", FORMATS_420)
def test_420_frames_find_the_same_faces(
    detector: facecore.Detector, photo: np.ndarray, reference: list[facecore.Face], fmt: str, full: bool
) -> None:
    h, w = photo.shape[:2]
    y, u, v = planes_420(photo, full)
    rng = "full" if full else "limited"
    frame = one_buffer(fmt, y, u, v)
    # OpenCV's (h * 3 // 2, w) array.
    same_faces(reference, detector.detect(frame, pixel_format=fmt, color_range=rng))
    # A 1-D buffer, numpy or bytes, with width= and height=.
    flat = frame.ravel()
    for buf in (flat, flat.tobytes(), bytearray(flat.tobytes()), memoryview(flat.tobytes())):
        same_faces(reference, detector.detect(buf, pixel_format=fmt, color_range=rng, width=w, height=h))
    # Separate planes with their own strides.
    same_faces(reference, detector.detect(separate(fmt, y, u, v), pixel_format=fmt, color_range=rng))
    # The converted image is the RGB photo within the subsampling error.
    rgb = facecore.load_image(frame, pixel_format=fmt, color_range=rng)
    assert rgb.shape == photo.shape and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(np.int16) - photo).mean() < 3.0
    assert np.array_equal(rgb, facecore.load_image(flat, pixel_format=fmt, color_range=rng, width=w, height=h))
    assert np.array_equal(rgb, facecore.load_image(separate(fmt, y, u, v), pixel_format=fmt, color_range=rng))


@pytest.mark.parametrize("full", [False, True])
def test_yuyv_frames_find_the_same_faces(
    detector: facecore.Detector, photo: np.ndarray, reference: list[facecore.Face], full: bool
) -> None:
    h, w = photo.shape[:2]
    frame = yuyv(photo, full)
    rng = "full" if full else "limited"
    same_faces(reference, detector.detect(frame, pixel_format="yuyv", color_range=rng))
    same_faces(reference, detector.detect(frame.ravel(), pixel_format="yuyv", color_range=rng, width=w, height=h))
    same_faces(reference, detector.detect((frame,), pixel_format="yuyv", color_range=rng))
    rgb = facecore.load_image(frame, pixel_format="yuyv", color_range=rng)
    assert np.abs(rgb.astype(np.int16) - photo).mean() < 3.0


def test_every_image_call_takes_pixel_formats(
    pipeline: facecore.Pipeline, photo: np.ndarray, reference: list[facecore.Face]
) -> None:
    y, u, v = planes_420(photo)
    frame = one_buffer("nv12", y, u, v)
    same_faces(reference, pipeline.detect(frame, pixel_format="nv12"))
    analyzed = pipeline.analyze(frame, pixel_format="nv12")
    same_faces(reference, analyzed)
    rgb_analyzed = pipeline.analyze(photo)
    for a, b in zip(analyzed, rgb_analyzed):
        assert a.embedding is not None and b.embedding is not None
        assert float(np.dot(a.embedding, b.embedding)) > 0.95
    best = pipeline.embed_best(frame, pixel_format="nv12")
    assert best is not None
    rec = facecore.Recognizer("fast")
    e = rec.embed(frame, analyzed[0], pixel_format="nv12")
    assert e.shape == (128,)
    live = facecore.Liveness()
    s_yuv, s_rgb = live.score(frame, analyzed[0], pixel_format="nv12"), live.score(photo, analyzed[0])
    assert s_yuv is not None and s_rgb is not None and abs(s_yuv - s_rgb) < 0.2
    chip = photo[:112, :112]
    emb = facecore.Embedder("sface-2021dec")
    cy, cu, cv = planes_420(np.ascontiguousarray(chip))
    assert emb.embed_chip(one_buffer("i420", cy, cu, cv), pixel_format="i420").shape == (128,)


def test_packed_formats_by_name(detector: facecore.Detector, obama: np.ndarray) -> None:
    ref = detector.detect(obama)
    bgr = np.ascontiguousarray(obama[:, :, ::-1])
    alpha = np.full(obama.shape[:2] + (1,), 255, np.uint8)
    same_faces(ref, detector.detect(obama, pixel_format="rgb"), 1e-3)
    same_faces(ref, detector.detect(bgr, pixel_format="bgr"), 1e-3)
    same_faces(ref, detector.detect(bgr, pixel_format="BGR"), 1e-3)
    same_faces(ref, detector.detect(np.concatenate([obama, alpha], axis=2), pixel_format="rgba"), 1e-3)
    same_faces(ref, detector.detect(np.concatenate([bgr, alpha], axis=2), pixel_format="bgra"), 1e-3)
    h, w = obama.shape[:2]
    same_faces(ref, detector.detect(bgr.tobytes(), pixel_format="bgr", width=w, height=h), 1e-3)
    grey = obama.mean(axis=2).astype(np.uint8)
    assert len(detector.detect(grey, pixel_format="gray")) == 1
    # channel_order keeps working, and says the same as pixel_format.
    same_faces(ref, detector.detect(bgr, channel_order="bgr"), 1e-3)
    assert np.array_equal(facecore.load_image(bgr, channel_order="bgr"), facecore.load_image(bgr, pixel_format="bgr"))


def test_odd_sizes_as_one_buffer() -> None:
    # A 5x3 frame: chroma of ceil(w / 2) x ceil(h / 2), as in the C API.
    w, h = 5, 3
    cw, ch = 3, 2
    grey_nv12 = np.concatenate([np.full(w * h, 126, np.uint8), np.full(2 * cw * ch, 128, np.uint8)])
    rgb = facecore.load_image(grey_nv12, pixel_format="nv12", width=w, height=h)
    assert rgb.shape == (3, 5, 3) and np.all(np.abs(rgb.astype(int) - 128) <= 1)
    grey_i420 = np.concatenate([np.full(w * h, 126, np.uint8), np.full(2 * cw * ch, 128, np.uint8)])
    assert facecore.load_image(grey_i420, pixel_format="i420", width=w, height=h).shape == (3, 5, 3)
    grey_yuyv = np.tile(np.array([126, 128], np.uint8), 2 * cw * h)
    assert facecore.load_image(grey_yuyv, pixel_format="yuyv", width=w, height=h).shape == (3, 5, 3)


def test_wrong_sizes_and_truncated_buffers(detector: facecore.Detector, photo: np.ndarray) -> None:
    h, w = photo.shape[:2]
    y, u, v = planes_420(photo)
    nv12 = one_buffer("nv12", y, u, v)
    flat = nv12.ravel()
    bad: list[tuple[Any, dict[str, Any]]] = [
        (flat[:-1], {"pixel_format": "nv12", "width": w, "height": h}),  # truncated by one byte
        (flat[: w * h], {"pixel_format": "nv12", "width": w, "height": h}),  # no chroma
        (np.concatenate([flat, flat[:1]]), {"pixel_format": "nv12", "width": w, "height": h}),  # one byte too many
        (flat, {"pixel_format": "nv12", "width": w + 2, "height": h}),  # another width
        (flat, {"pixel_format": "nv12", "width": w, "height": h - 2}),
        (flat.tobytes()[:-10], {"pixel_format": "i420", "width": w, "height": h}),
        (flat, {"pixel_format": "nv12"}),  # 1-D without a size
        (flat, {"pixel_format": "nv12", "width": w}),  # width without height
        (flat.tobytes(), {"pixel_format": "nv12"}),  # raw bytes without a size
        (flat, {"width": w, "height": h}),  # 1-D without a format
        (flat.tobytes(), {"width": w, "height": h}),
        (nv12[:-1], {"pixel_format": "nv12"}),  # OpenCV layout with a row missing
        (nv12[:, :-1], {"pixel_format": "nv12"}),  # odd width in OpenCV's layout
        (nv12, {"pixel_format": "nv12", "width": w, "height": h + 2}),  # size disagrees with shape
        (photo, {"pixel_format": "nv12"}),  # an RGB array is not NV12
        (photo, {"pixel_format": "rgba"}),
        (photo, {"pixel_format": "gray"}),
        (nv12, {"pixel_format": "yuyv"}),
        (yuyv(photo)[:, :-1], {"pixel_format": "yuyv"}),  # odd W in (H, W, 2)
        (yuyv(photo).ravel()[:-2], {"pixel_format": "yuyv", "width": w, "height": h}),
        (nv12, {"pixel_format": "nv16"}),  # unknown format
        (nv12, {"pixel_format": "nv12", "color_range": "tv"}),  # unknown range
        (photo, {"color_range": "full"}),  # full range of an RGB image
        (photo, {"pixel_format": "rgb", "color_range": "full"}),
        (photo, {"pixel_format": "rgb", "channel_order": "bgr"}),  # both spellings
        (nv12.astype(np.uint16), {"pixel_format": "nv12"}),
        ((y, u, v), {}),  # planes without a format
        ((y, u), {"pixel_format": "i420"}),  # too few planes
        ((y, u, v), {"pixel_format": "nv12"}),  # too many
        ((y, np.stack([u, v], -1)[:-1]), {"pixel_format": "nv12"}),  # truncated chroma plane
        ((y, np.stack([u, v], -1)[:, :-1]), {"pixel_format": "nv12"}),  # chroma rows too short
        ((y, u.astype(np.float32), v), {"pixel_format": "i420"}),
        ((y.ravel(), u, v), {"pixel_format": "i420"}),  # a 1-D plane
        ((y[:, :, None].repeat(2, 2), u), {"pixel_format": "nv12"}),  # no size from a 3-D Y plane
        (str(FIXTURES / "obama.jpg"), {"pixel_format": "nv12"}),  # a path is not raw pixels
        (str(FIXTURES / "obama.jpg"), {"width": 10, "height": 10}),
    ]
    for image, kwargs in bad:
        with pytest.raises(facecore.InvalidInputError):
            detector.detect(image, **kwargs)
    # Negative sizes are not sizes.
    with pytest.raises((OverflowError, TypeError, ValueError)):
        detector.detect(flat, pixel_format="nv12", width=-w, height=h)


def test_limits_are_checked_before_copying(detector: facecore.Detector) -> None:
    tiny = np.zeros(12, np.uint8)
    with pytest.raises(facecore.LimitExceededError):
        detector.detect(tiny, pixel_format="nv12", width=100_000, height=100_000)
    with pytest.raises(facecore.LimitExceededError):
        detector.detect((np.zeros((2, 20_000), np.uint8), np.zeros((1, 20_000), np.uint8)), pixel_format="nv12")
