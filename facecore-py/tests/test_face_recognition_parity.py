"""facecore.compat against face_recognition's golden outputs (dlib 20.0.1).

Given face_recognition's own HOG boxes, dlib's landmarks must be identical and the encodings
within 1e-5 (measured: 1.2e-6 to 1.4e-6; the bound the README states). The boxes facecore finds by itself (YuNet mapped to HOG-like
boxes) are reported and must overlap HOG's.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, SHARED, unavailable

import facecore.compat as fr

GOLDEN = SHARED / "golden" / "face_recognition_reference.json"


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    if not GOLDEN.exists():
        unavailable(f"face_recognition golden file not found at {GOLDEN}")
    data: dict[str, Any] = json.loads(GOLDEN.read_text())
    return data


def _css(ltrb: list[int]) -> tuple[int, int, int, int]:
    left, top, right, bottom = ltrb
    return (top, right, bottom, left)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    (t1, r1, b1, l1), (t2, r2, b2, l2) = a, b
    iw, ih = max(0, min(r1, r2) - max(l1, l2)), max(0, min(b1, b2) - max(t1, t2))
    inter = iw * ih
    union = (r1 - l1) * (b1 - t1) + (r2 - l2) * (b2 - t2) - inter
    return inter / union if union else 0.0


# face_recognition 1.3 + dlib 20.0.1 + Pillow 13 do not reproduce the golden values of this
# image themselves (descriptor distances 0.012..0.074 to the file, landmarks off by one pixel),
# while facecore's equal theirs on the same pixels: the file was made from other pixels (another
# JPEG decoder). It is checked against face_recognition directly by test_against_installed_fr.
NOT_REPRODUCIBLE = {"insightface/t1.jpg"}


def test_landmarks_and_encodings_match(golden: dict[str, Any]) -> None:
    worst = 0.0
    n = 0
    for entry in golden["images"]:
        if entry["file"] in NOT_REPRODUCIBLE:
            continue
        img = fr.load_image_file(SHARED / "faces" / entry["file"])
        assert img.shape == (entry["height"], entry["width"], 3)
        boxes = [_css(f["box_ltrb"]) for f in entry["faces"]]
        if not boxes:
            continue
        marks = fr.face_landmarks(img, boxes, model="small")
        encs = fr.face_encodings(img, known_face_locations=boxes)
        for face, lm, enc in zip(entry["faces"], marks, encs):
            pts = [tuple(p) for p in face["landmarks5"]]
            assert lm == {"nose_tip": [pts[4]], "left_eye": pts[2:4], "right_eye": pts[0:2]}, entry["file"]
            assert enc.shape == (128,) and enc.dtype == np.float64
            d = float(np.linalg.norm(enc - np.array(face["descriptor"])))
            worst = max(worst, d)
            assert d <= 1e-5, (entry["file"], d)
            n += 1
    print(f"\nface_recognition parity: {n} faces, landmarks identical, max descriptor distance {worst:.2e}")
    assert n >= 8


FR_SCRIPT = """
import json, sys
import numpy as np
import face_recognition as fr
out = []
for path, boxes in json.loads(sys.stdin.read()):
    img = np.load(path)
    boxes = [tuple(b) for b in boxes]
    lms = fr.face_landmarks(img, boxes, model="small")
    encs = [e.tolist() for e in fr.face_encodings(img, boxes)]
    out.append([lms, encs])
print(json.dumps(out))
"""


def test_against_installed_face_recognition(golden: dict[str, Any], tmp_path: Path) -> None:
    """Same pixels (decoded here, passed as .npy), same boxes: run face_recognition itself
    (FACE_RECOGNITION_PYTHON, an interpreter where it is installed) on every golden image."""
    py = os.environ.get("FACE_RECOGNITION_PYTHON")
    if not py:
        unavailable("FACE_RECOGNITION_PYTHON is not set (an interpreter with face_recognition and dlib)")
        return
    images = [fr.load_image_file(SHARED / "faces" / e["file"]) for e in golden["images"]]
    jobs = []
    for i, (e, img) in enumerate(zip(golden["images"], images)):
        np.save(tmp_path / f"{i}.npy", img)
        jobs.append((str(tmp_path / f"{i}.npy"), [_css(f["box_ltrb"]) for f in e["faces"]]))
    res = subprocess.run([py, "-c", FR_SCRIPT], input=json.dumps(jobs), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    theirs = json.loads(res.stdout.strip().splitlines()[-1])
    worst, n = 0.0, 0
    for img, (path, boxes), (lms, encs) in zip(images, jobs, theirs):
        ours_lm = fr.face_landmarks(img, boxes, model="small")
        ours_enc = fr.face_encodings(img, boxes)
        assert [{k: [tuple(p) for p in v] for k, v in d.items()} for d in lms] == ours_lm, path
        for a, b in zip(ours_enc, encs):
            worst = max(worst, float(np.linalg.norm(a - np.array(b))))
            n += 1
    print(f"\nvs installed face_recognition: {n} faces, landmarks identical, max descriptor distance {worst:.2e}")
    assert worst <= 1e-5


def test_face_locations_close_to_hog(golden: dict[str, Any]) -> None:
    ious = []
    for entry in golden["images"]:
        img = fr.load_image_file(SHARED / "faces" / entry["file"])
        ours = fr.face_locations(img)
        for face in entry["faces"]:
            hog = _css(face["box_ltrb"])
            ious.append(max((_iou(hog, o) for o in ours), default=0.0))
    found = sum(i >= 0.5 for i in ious)
    print(f"\nHOG boxes vs facecore.compat.face_locations: median IoU {np.median(ious):.2f}, "
          f"{found}/{len(ious)} HOG faces matched at IoU >= 0.5")
    # HOG's second astronaut.png "face" is a false positive that YuNet rightly does not report.
    assert np.median(ious) >= 0.6 and found >= 0.9 * len(ious)


def test_stored_encodings_keep_matching(golden: dict[str, Any]) -> None:
    # Encodings stored by face_recognition compare as before with facecore's own pipeline.
    known = {e["file"]: np.array(e["faces"][0]["descriptor"]) for e in golden["images"] if e["faces"]}
    obama = fr.face_encodings(fr.load_image_file(FIXTURES / "obama2.jpg"))
    assert len(obama) == 1
    names = list(known)
    matches = fr.compare_faces([known[n] for n in names], obama[0])
    d = fr.face_distance([known[n] for n in names], obama[0])
    assert matches[names.index("face_recognition/examples/obama.jpg")]
    assert not matches[names.index("face_recognition/examples/biden.jpg")]
    assert d.shape == (len(names),)


def test_compat_api_shapes() -> None:
    img = fr.load_image_file(FIXTURES / "two_people.jpg")
    assert img.dtype == np.uint8 and img.shape[2] == 3
    grey = fr.load_image_file(str(FIXTURES / "two_people.jpg"), mode="L")
    assert grey.shape == img.shape[:2]
    with open(FIXTURES / "two_people.jpg", "rb") as fh:
        np.testing.assert_array_equal(fr.load_image_file(fh), img)
    locs = fr.face_locations(img, number_of_times_to_upsample=0)
    assert len(locs) == 2 and all(len(b) == 4 and all(isinstance(v, int) for v in b) for b in locs)
    for top, right, bottom, left in locs:
        assert 0 <= top < bottom <= img.shape[0] and 0 <= left < right <= img.shape[1]
    assert fr.batch_face_locations([img, img]) == [fr.face_locations(img)] * 2
    encs = fr.face_encodings(img, locs, num_jitters=1)
    assert len(encs) == 2
    assert fr.compare_faces(encs, encs[0]) == [True, False]
    assert fr.face_distance([], encs[0]).shape == (0,)
    assert len(fr.face_landmarks(img, model="small")) == 2
    with pytest.raises(ValueError):
        fr.face_landmarks(img, model="medium")
    with pytest.raises(ValueError):
        fr.face_locations(img, model="svm")
