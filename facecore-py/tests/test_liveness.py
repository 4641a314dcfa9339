"""Liveness from Python: the Rust CLI's scores exactly, operating points, faces too small or
cut by the frame edge, configs and bad arguments."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, IMAGES, ROOT, unavailable

import facecore


@pytest.fixture(scope="module")
def liveness() -> facecore.Liveness:
    return facecore.Liveness()


def _cli() -> Path:
    cli = Path(os.environ.get("FACECORE_CLI", ROOT / "target" / "debug" / "facecore"))
    if not cli.exists():
        unavailable(f"Rust CLI not built at {cli} (scripts/python-tests.sh builds it)")
    return cli


def _shrink(img: np.ndarray, k: int) -> np.ndarray:
    """Block means of k x k pixels (a face of about 240 px becomes 240 / k)."""
    h, w = img.shape[0] // k * k, img.shape[1] // k * k
    blocks = img[:h, :w].astype(np.float32).reshape(h // k, k, w // k, k, 3)
    return blocks.mean(axis=(1, 3)).round().astype(np.uint8)


@pytest.mark.parametrize("op", ["default", "strict"])
def test_scores_equal_the_rust_cli(detector: facecore.Detector, liveness: facecore.Liveness, op: str) -> None:
    paths = [str(FIXTURES / n) for n in IMAGES]
    out = subprocess.run(
        [str(_cli()), "liveness", "--json", "--op", op, *paths], capture_output=True, text=True, check=True
    )
    by_image: dict[str, list[dict]] = {p: [] for p in paths}
    for line in out.stdout.splitlines():
        rec = json.loads(line)
        if rec["decision"] != "no_face":
            by_image[rec["image"]].append(rec)
    judged = 0
    for p in paths:
        faces = detector.detect(p)
        rust = by_image[p]
        assert len(faces) == len(rust), p
        for f, r in zip(faces, rust):
            np.testing.assert_allclose(f.bbox, r["box"], atol=1e-3)
            res = liveness.check(p, f, op=op)
            # The CLI prints the f32 score widened to f64: the same number, bit for bit.
            assert res.score == r["live"], (p, res.score, r["live"])
            assert res.decision == r["decision"] and res.reason == r["reason"], p
            assert np.float32(res.threshold) == np.float32(r["threshold"])
            assert liveness.score(p, f) == r["live"]
            judged += res.score is not None
    assert judged >= 5


def test_result_and_operating_points(detector: facecore.Detector, liveness: facecore.Liveness, obama: np.ndarray) -> None:
    (face,) = detector.detect(obama)
    r = liveness.check(obama, face)
    assert isinstance(r, facecore.LivenessResult)
    assert isinstance(r.score, float) and 0.0 <= r.score <= 1.0
    assert r.decision == "live" and r.reason is None and bool(r)
    assert r.threshold == pytest.approx(0.03) and r.threshold == facecore.Liveness.threshold()
    assert "LivenessResult(score=" in repr(r) and "decision='live'" in repr(r).replace('"', "'")
    # The same score at every operating point; the decision is score >= threshold.
    strict = liveness.check(obama, face, op="strict")
    assert strict.score == r.score and strict.threshold == pytest.approx(0.999)
    assert strict.decision == ("live" if r.score >= strict.threshold else "spoof")
    assert facecore.Liveness.threshold("strict") == strict.threshold
    at_score = liveness.check(obama, face, op=r.score)
    assert at_score.decision == "live" and at_score.score == r.score
    if r.score < 1.0:
        above = liveness.check(obama, face, op=1.0)
        assert above.decision == "spoof" and not above and above.reason is None
    assert liveness.check(obama, face, op=0).decision == "live"
    # Any input form gives the same score: path, BGR array, encoded bytes.
    assert liveness.score(FIXTURES / "obama.jpg", face) == r.score
    assert liveness.score(np.ascontiguousarray(obama[:, :, ::-1]), face, channel_order="bgr") == r.score
    assert liveness.score((FIXTURES / "obama.jpg").read_bytes(), face) == r.score
    assert liveness.score(obama[:, :, ::-1], face, pixel_format="bgr") == r.score


def test_small_and_cut_faces_are_unknown(detector: facecore.Detector, liveness: facecore.Liveness, obama: np.ndarray) -> None:
    # A face of about 13 px (obama.jpg shrunk 20 times): not judged, whatever the operating point.
    tiny = _shrink(obama, 20)
    faces = detector.detect(tiny)
    assert len(faces) == 1 and faces[0].bbox[2] < 20
    for op in ("default", "strict", 0.0):
        r = liveness.check(tiny, faces[0], op=op)
        assert (r.score, r.decision, r.reason) == (None, "unknown", "too_small") and not r
    assert liveness.score(tiny, faces[0]) is None
    # The same face with no minimum is judged.
    lax = facecore.Liveness(min_face_px=0.0)
    assert lax.min_face_px == 0.0 and lax.max_outside == pytest.approx(0.1)
    s = lax.score(tiny, faces[0])
    assert s is not None and 0.0 <= s <= 1.0
    # Half of the face outside the frame: the image is cut through the face box.
    (face,) = detector.detect(obama)
    x, y, w, h = face.bbox
    cut = np.ascontiguousarray(obama[:, : int(x + w / 2)])
    r = liveness.check(cut, face)
    assert (r.score, r.decision, r.reason) == (None, "unknown", "cut_by_edge")
    assert facecore.Liveness(max_outside=1.0).check(cut, face).score is not None
    # A larger minimum than the face: too small.
    assert facecore.Liveness(min_face_px=10_000).check(obama, face).reason == "too_small"
    assert repr(lax) == "Liveness(min_face_px=0, max_outside=0.1)"


def test_grey_frame_and_other_images(detector: facecore.Detector, liveness: facecore.Liveness, obama: np.ndarray) -> None:
    (face,) = detector.detect(obama)
    grey = np.full(obama.shape[:2], 128, np.uint8)
    s = liveness.score(grey, face)
    assert s is not None and 0.0 <= s <= 1.0 and math.isfinite(s)


def test_bad_arguments(detector: facecore.Detector, liveness: facecore.Liveness, obama: np.ndarray) -> None:
    (face,) = detector.detect(obama)
    for op in ("loose", "", "0.5", 1.5, -0.01, float("nan"), float("inf"), True, [0.5], b"default"):
        with pytest.raises(facecore.InvalidInputError):
            liveness.check(obama, face, op=op)  # type: ignore[arg-type]
        with pytest.raises(facecore.InvalidInputError):
            facecore.Liveness.threshold(op)  # type: ignore[arg-type]
    for kwargs in ({"min_face_px": -1.0}, {"min_face_px": float("nan")}, {"max_outside": -0.1}, {"max_outside": 1.5}):
        with pytest.raises(facecore.InvalidInputError):
            facecore.Liveness(**kwargs)
    with pytest.raises(TypeError):
        liveness.check(obama, "not a face")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        facecore.Liveness(40.0)  # type: ignore[misc]
    with pytest.raises(facecore.InvalidInputError):
        liveness.check(obama.astype(np.float32), face)
    with pytest.raises(facecore.InvalidInputError):
        liveness.score(obama, face, pixel_format="nv12")
    with pytest.raises(facecore.ImageDecodeError):
        liveness.check(b"not an image", face)
    with pytest.raises(FileNotFoundError):
        liveness.check(FIXTURES / "missing.jpg", face)


def test_pipeline_faces_and_threads(pipeline: facecore.Pipeline, liveness: facecore.Liveness) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = FIXTURES / "two_people.jpg"
    img = facecore.load_image(path)
    faces = pipeline.analyze(img)
    assert len(faces) == 2
    ref = [liveness.score(img, f) for f in faces]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: liveness.score(img, faces[i % 2]), range(8)))
    assert got == [ref[i % 2] for i in range(8)]
