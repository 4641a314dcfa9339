"""The Pythonic API: inputs, results, pipeline, gallery, verification, console command."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, faces_equal, unavailable

import facecore


def test_version_and_exports() -> None:
    assert isinstance(facecore.__version__, str) and facecore.__version__.count(".") == 2
    for name in facecore.__all__:
        assert hasattr(facecore, name), name
    assert facecore.Detector.__module__ == "facecore"
    assert facecore.FacecoreError.__module__ == "facecore"


def test_detect_result_types(detector: facecore.Detector, obama: np.ndarray) -> None:
    faces = detector.detect(obama)
    assert len(faces) == 1
    f = faces[0]
    x, y, w, h = f.bbox
    assert all(isinstance(v, float) for v in f.bbox)
    assert 0 < x < obama.shape[1] and 0 < y < obama.shape[0] and w > 100 and h > 100
    assert 0.6 <= f.score <= 1.0
    lm = f.landmarks
    assert lm.shape == (5, 2) and lm.dtype == np.float32
    assert lm[0, 0] < lm[1, 0]  # left to right in the image
    assert f.embedding is None and f.space is None
    assert "Face(bbox=" in repr(f)
    # A new array each time: mutating it does not touch the result.
    lm[:] = 0
    assert f.landmarks.sum() > 0


def test_image_inputs_agree(detector: facecore.Detector, obama: np.ndarray) -> None:
    path = FIXTURES / "obama.jpg"
    ref = detector.detect(obama)
    assert faces_equal(ref, detector.detect(str(path)))
    assert faces_equal(ref, detector.detect(path))
    data = path.read_bytes()
    assert faces_equal(ref, detector.detect(data))
    assert faces_equal(ref, detector.detect(bytearray(data)))
    assert faces_equal(ref, detector.detect(memoryview(data)))
    bgr = np.ascontiguousarray(obama[:, :, ::-1])
    assert faces_equal(ref, detector.detect(bgr, channel_order="bgr"))
    rgba = np.dstack([obama, np.full(obama.shape[:2], 255, np.uint8)])
    assert faces_equal(ref, detector.detect(rgba))
    grey = obama.mean(axis=2).astype(np.uint8)
    assert len(detector.detect(grey)) == 1
    assert len(detector.detect(grey[:, :, None])) == 1


def test_pil_input(detector: facecore.Detector, obama: np.ndarray) -> None:
    try:
        from PIL import Image
    except ImportError as e:
        unavailable(f"Pillow is not installed: {e}")
    pil = Image.open(FIXTURES / "obama.jpg")
    assert faces_equal(detector.detect(np.asarray(pil)), detector.detect(pil))
    # PIL's JPEG decoder rounds a little differently from facecore's.
    assert faces_equal(detector.detect(obama), detector.detect(pil), tol=1.0)
    # Palette / grey PIL modes are converted to RGB first.
    assert len(detector.detect(pil.convert("L"))) == 1
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    assert faces_equal(detector.detect(pil), detector.detect(buf.getvalue()))


def test_detector_options() -> None:
    d = facecore.Detector(score_threshold=0.9, max_faces=1, input_size=None)
    assert d.score_threshold == pytest.approx(0.9) and d.max_faces == 1 and d.input_size is None
    assert "max_faces=1" in repr(d)
    assert len(d.detect(FIXTURES / "two_people.jpg")) == 1
    assert len(facecore.Detector().detect(FIXTURES / "two_people.jpg")) == 2
    with pytest.raises(TypeError):
        facecore.Detector(0.5)  # type: ignore[misc]  # options are keyword-only


def test_frozen(detector: facecore.Detector) -> None:
    with pytest.raises(AttributeError):
        detector.score_threshold = 0.1  # type: ignore[misc]


def test_pipeline_embeddings(pipeline: facecore.Pipeline, obama: np.ndarray) -> None:
    faces = pipeline.analyze(obama)
    assert len(faces) == 1
    e = faces[0].embedding
    assert e is not None and e.dtype == np.float32 and e.ndim == 1
    assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)
    assert faces[0].space == pipeline.space
    assert pipeline.preset == "accurate"
    # Recognizer.embed on the detected face gives the same vector.
    rec = facecore.Recognizer("accurate")
    assert rec.space == pipeline.space
    np.testing.assert_allclose(rec.embed(obama, faces[0]), e, atol=1e-6)
    best = pipeline.embed_best(obama)
    assert best is not None and best.embedding is not None
    np.testing.assert_allclose(best.embedding, e, atol=1e-6)
    assert pipeline.embed_best(np.zeros((64, 64, 3), np.uint8)) is None
    assert pipeline.analyze(np.zeros((64, 64, 3), np.uint8)) == []


def _emb(p: facecore.Pipeline, name: str) -> np.ndarray:
    best = p.embed_best(FIXTURES / name)
    assert best is not None and best.embedding is not None
    return best.embedding


@pytest.mark.parametrize("preset", ["accurate", "fast", "dlib", "sface"])
def test_presets_separate_people(preset: str) -> None:
    p = facecore.Pipeline(preset)
    o1, o2, b = _emb(p, "obama.jpg"), _emb(p, "obama2.jpg"), _emb(p, "biden.jpg")
    assert facecore.similarity(o1, o2) > facecore.similarity(o1, b) + 0.1


def test_verify(pipeline: facecore.Pipeline) -> None:
    o1, o2, b = _emb(pipeline, "obama.jpg"), _emb(pipeline, "obama2.jpg"), _emb(pipeline, "biden.jpg")
    # Every preset's space is calibrated (facecore/src/thresholds.tsv): no threshold is a bug.
    t = pipeline.threshold()
    same = pipeline.verify(o1, o2)
    assert same and same.same_person and same.threshold == pytest.approx(t)
    assert not pipeline.verify(o1, b)
    v = facecore.verify(o1, o2, space=pipeline.space, operating_point="fmr1e-4")
    assert v.threshold == pytest.approx(facecore.threshold(pipeline.space, operating_point="fmr1e-4"))
    assert "Verification(" in repr(v)


def test_gallery_roundtrip(pipeline: facecore.Pipeline, tmp_path: Path) -> None:
    g = facecore.Gallery(space=pipeline.space)
    assert len(g) == 0 and g.space == pipeline.space
    obama = g.enroll("obama", _emb(pipeline, "obama.jpg"))
    assert g.enroll("obama", _emb(pipeline, "obama2.jpg")) == obama
    biden = g.enroll("biden", _emb(pipeline, "biden.jpg"))
    assert (obama, biden) == (1, 2) and g.id_of("biden") == biden
    g.set_metadata("biden", '{"role": "vp"}')
    assert len(g) == 2 and "obama" in g and "nobody" not in g
    people = {p.name: p for p in g.people()}
    assert people["obama"].embeddings == 2 and people["biden"].metadata == '{"role": "vp"}'
    faces = pipeline.analyze(FIXTURES / "two_people.jpg")
    names = set()
    for f in faces:
        assert f.embedding is not None
        hits = g.search(f.embedding, k=2)
        assert len(hits) == 2 and hits[0].score >= hits[1].score
        names.add(hits[0].name)
        assert hits[0].id == g.id_of(hits[0].name)
        m = g.identify(f.embedding, threshold=0.3)
        assert m is not None and (m.id, m.name) == (hits[0].id, hits[0].name)
        assert g.identify(f.embedding, threshold=1.01) is None
    assert names == {"obama", "biden"}
    path = tmp_path / "people.fcg"
    g.save(path)
    g2 = facecore.Gallery.load(str(path))
    assert len(g2) == 2 and g2.space == g.space
    assert g2.to_bytes() == g.to_bytes() == path.read_bytes()
    g3 = facecore.Gallery.from_bytes(path.read_bytes())
    assert [(p.id, p.name) for p in g3.people()] == [(obama, "obama"), (biden, "biden")]
    assert g3.remove("obama") and not g3.remove("obama") and not g3.remove(obama) and len(g3) == 1
    assert g3.remove(biden) and len(g3) == 0
    assert "Gallery(people=0" in repr(g3)


def test_load_image(obama: np.ndarray) -> None:
    assert obama.shape == (1137, 910, 3) and obama.dtype == np.uint8 and obama.flags.c_contiguous
    bgr = facecore.load_image(obama, channel_order="bgr")
    np.testing.assert_array_equal(bgr, obama[:, :, ::-1])


def test_console_command(tmp_path: Path) -> None:
    run = lambda *a: subprocess.run([sys.executable, "-m", "facecore.cli", *a], capture_output=True, text=True)  # noqa: E731
    out = run("detect", "--json", str(FIXTURES / "two_people.jpg"))
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 2
    gallery = str(tmp_path / "g.fcg")
    out = run("enroll", "--preset", "fast", "--gallery", gallery, "obama", str(FIXTURES / "obama.jpg"))
    assert out.returncode == 0 and "enrolled 1 face(s) of obama" in out.stdout, out.stderr
    out = run("enroll", "--preset", "fast", "--gallery", gallery, "biden", str(FIXTURES / "biden.jpg"))
    assert out.returncode == 0, out.stderr
    out = run("identify", "--preset", "fast", "--op", "best-accuracy", "--gallery", gallery, str(FIXTURES / "obama2.jpg"))
    if "no calibrated" not in out.stderr:
        assert out.returncode == 0 and "\tobama\t" in out.stdout, out.stderr
    out = run("detect", str(FIXTURES / "missing.jpg"))
    assert out.returncode == 1 and "facecore:" in out.stderr
