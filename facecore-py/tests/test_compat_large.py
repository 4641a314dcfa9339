"""facecore.compat with face_recognition's 68-point model (``model="large"``).

facecore does not ship dlib's 68-point shape predictor; these tests use the copy in the
``face_recognition_models`` package, which scripts/python-tests.sh installs in the test venv.
With ``FACE_RECOGNITION_PYTHON`` (an interpreter with face_recognition and dlib, which
scripts/python-tests.sh provides) the landmarks and encodings are compared with
face_recognition's own on the same pixels and face_recognition's own HOG boxes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, IMAGES, SHARED, unavailable

import facecore
import facecore.compat as fr
from facecore._facecore import DlibShapeCompat

# face_recognition 1.3's keys for model="large" and their sizes (api.py index ranges).
LARGE_KEYS = {
    "chin": 17,
    "left_eyebrow": 5,
    "right_eyebrow": 5,
    "nose_bridge": 4,
    "nose_tip": 5,
    "left_eye": 6,
    "right_eye": 6,
    "top_lip": 12,
    "bottom_lip": 12,
}

# Measured against face_recognition 1.3.0 + dlib-bin 20.0.1 on the fixtures and the shared
# golden images (scripts/python-tests.sh): landmarks identical, descriptor distances <= 1.5e-6
# (float32 ResNet here, dlib's float32 in C++ there). Asserted with headroom:
ENCODING_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def large_model() -> Path:
    try:
        return fr.large_model_path()
    except facecore.ModelLoadError as e:
        unavailable(f"face_recognition_models is not installed: {e}")
        raise


def _dist(a: Any, b: Any) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def test_large_landmarks_have_face_recognition_keys(large_model: Path) -> None:
    img = fr.load_image_file(FIXTURES / "two_people.jpg")
    boxes = fr.face_locations(img)
    assert len(boxes) == 2
    large = fr.face_landmarks(img, boxes)  # model="large" is the default, as in face_recognition
    assert large == fr.face_landmarks(img, boxes, model="large")
    small = fr.face_landmarks(img, boxes, model="small")
    assert len(large) == len(small) == 2
    for lm, sm, (top, right, bottom, left) in zip(large, small, boxes):
        assert {k: len(v) for k, v in lm.items()} == LARGE_KEYS
        assert list(lm) == list(LARGE_KEYS)  # face_recognition's key order
        for pts in lm.values():
            for p in pts:
                assert isinstance(p, tuple) and len(p) == 2 and all(type(v) is int for v in p)
        # The lips share their corners and inner points as face_recognition's lists do.
        assert lm["top_lip"][0] == lm["bottom_lip"][6] and lm["top_lip"][6] == lm["bottom_lip"][0]
        # Both models find the same eyes: the 68-point eye centres lie between the 5-point
        # model's two corners of that eye, within a few pixels.
        w = right - left
        for eye in ("left_eye", "right_eye"):
            c68 = np.mean(lm[eye], axis=0)
            c5 = np.mean(sm[eye], axis=0)
            assert np.linalg.norm(c68 - c5) < 0.05 * w, (eye, c68, c5, w)
        # The jaw runs from one side of the box to the other, below the eyes.
        chin = np.array(lm["chin"])
        assert chin[0, 0] < chin[8, 0] < chin[16, 0]
        assert chin[8, 1] > np.mean(lm["left_eye"], axis=0)[1] + 0.3 * w
        assert left - 0.2 * w < chin[:, 0].min() and chin[:, 0].max() < right + 0.2 * w


def test_large_encodings_recognise_people(large_model: Path) -> None:
    def enc(name: str, model: str) -> np.ndarray:
        img = fr.load_image_file(FIXTURES / name)
        out = fr.face_encodings(img, model=model)
        assert len(out) == 1, name
        assert out[0].shape == (128,) and out[0].dtype == np.float64
        return out[0]

    obama, obama2, biden = (enc(n, "large") for n in ("obama.jpg", "obama2.jpg", "biden.jpg"))
    assert _dist(obama, obama2) < 0.6 < _dist(obama, biden)
    assert fr.compare_faces([obama2, biden], obama) == [True, False]
    # The two alignments differ a little (33 of 68 points against 5), the identity not.
    small = enc("obama.jpg", "small")
    assert 0 < _dist(obama, small) < 0.2
    # Known boxes give the same as detection, and an empty list gives nothing.
    img = fr.load_image_file(FIXTURES / "obama.jpg")
    np.testing.assert_array_equal(fr.face_encodings(img, fr.face_locations(img), model="large")[0], obama)
    assert fr.face_encodings(img, [], model="large") == []
    assert fr.face_landmarks(img, []) == []


def test_large_without_face_recognition_models(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if the package were not installed (and nothing loaded yet).
    monkeypatch.setitem(sys.modules, "face_recognition_models", None)
    monkeypatch.setattr(fr, "_large_models", None)
    img = fr.load_image_file(FIXTURES / "obama.jpg")
    for call in (lambda: fr.face_landmarks(img), lambda: fr.face_encodings(img, model="large")):
        with pytest.raises(facecore.ModelLoadError, match="pip install face_recognition_models") as e:
            call()
        assert "model='small'" in str(e.value) and fr.LARGE_MODEL_FILE in str(e.value)
    # The bundled 5-point model needs nothing.
    assert len(fr.face_landmarks(img, model="small")) == 1
    with pytest.raises(ValueError, match="supported models"):
        fr.face_encodings(img, model="medium")


def test_damaged_or_missing_predictor_files(tmp_path: Path, large_model: Path) -> None:
    with pytest.raises(FileNotFoundError):
        DlibShapeCompat(tmp_path / "missing.dat")
    data = large_model.read_bytes()
    assert len(data) == 99_693_937
    for name, blob in [("truncated.dat", data[: len(data) // 3]), ("empty.dat", b""), ("text.dat", b"not a model\n" * 100)]:
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(facecore.ModelLoadError, match=name):
            DlibShapeCompat(tmp_path / name)
    model = DlibShapeCompat(large_model)
    assert model.num_parts == 68 and repr(model) == "DlibShapeCompat(num_parts=68)"


FR_LARGE_SCRIPT = """
import json, sys
import numpy as np
import face_recognition as fr
out = []
for path in json.loads(sys.stdin.read()):
    img = np.load(path)
    boxes = fr.face_locations(img)
    lms = fr.face_landmarks(img, boxes, model="large")
    encs = [e.tolist() for e in fr.face_encodings(img, boxes, model="large")]
    out.append([boxes, lms, encs])
print(json.dumps(out))
"""


def test_large_matches_face_recognition(large_model: Path, tmp_path: Path) -> None:
    """Same pixels, face_recognition's own HOG boxes: run face_recognition (in the
    FACE_RECOGNITION_PYTHON interpreter) and compare model="large" landmarks and encodings."""
    py = os.environ.get("FACE_RECOGNITION_PYTHON")
    if not py:
        unavailable("FACE_RECOGNITION_PYTHON is not set (an interpreter with face_recognition and dlib)")
        return
    files = [FIXTURES / n for n in IMAGES]
    golden = SHARED / "golden" / "face_recognition_reference.json"
    if golden.exists():
        files += [SHARED / "faces" / e["file"] for e in json.loads(golden.read_text())["images"]]
    images, paths = [], []
    for i, f in enumerate(files):
        img = fr.load_image_file(f)
        images.append(img)
        paths.append(str(tmp_path / f"{i}.npy"))
        np.save(paths[-1], img)
    res = subprocess.run([py, "-c", FR_LARGE_SCRIPT], input=json.dumps(paths), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    theirs = json.loads(res.stdout.strip().splitlines()[-1])
    faces, worst, off = 0, 0.0, []
    for f, img, (boxes, lms, encs) in zip(files, images, theirs):
        boxes = [tuple(b) for b in boxes]
        ours_lm = fr.face_landmarks(img, boxes, model="large")
        ours_enc = fr.face_encodings(img, boxes, model="large")
        theirs_lm = [{k: [tuple(p) for p in v] for k, v in d.items()} for d in lms]
        if ours_lm != theirs_lm:
            off.append(f.name)
        for a, b in zip(ours_enc, encs):
            worst = max(worst, _dist(a, b))
            faces += 1
    print(f"\nmodel='large' vs installed face_recognition: {len(files)} images, {faces} faces, "
          f"landmarks identical on {len(files) - len(off)}/{len(files)} images, max descriptor distance {worst:.2e}")
    assert faces >= 6
    assert off == [], f"68-point landmarks differ from face_recognition's on {off}"
    assert worst <= ENCODING_TOLERANCE
