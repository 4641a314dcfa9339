"""Pipeline.identify and Pipeline.verify_images: identify and verify on whole images, with the
cascade of the "accurate" preset. On the committed fixtures the cascade decides like the full
fusion, computed here the way a caller would without it (Pipeline.analyze's embeddings with
Gallery.identify, Pipeline.verify on embed_best's embeddings); names come out right; bad
arguments raise the package's exceptions; the GIL is released and the gallery never deadlocks.
With FACECORE_PG_URL a gallery in PostgreSQL is named too (full embeddings, stage "full")."""

from __future__ import annotations

import gc
import itertools
import os
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
from conftest import FIXTURES

import facecore

ALL = ["obama.jpg", "obama2.jpg", "biden.jpg", "obama_small.jpg", "two_people.jpg", "astronaut.png", "camera.png"]
ONE_FACE = ["obama.jpg", "obama2.jpg", "biden.jpg", "obama_small.jpg", "astronaut.png"]
OPS = ["fmr1e-3", "fmr1e-4", "best-accuracy"]


def image(name: str) -> np.ndarray:
    return facecore.load_image(FIXTURES / name)


@pytest.fixture(scope="module")
def people(pipeline: facecore.Pipeline) -> facecore.Gallery:
    """Obama and Biden, enrolled from their portraits with the accurate preset's full embedding."""
    g = facecore.Gallery(space=pipeline.space)
    for name in ("obama", "biden"):
        pipeline.enroll(g, name, FIXTURES / f"{name}.jpg", check_quality=False)
    return g


def test_names_both_people_of_two_people(pipeline: facecore.Pipeline, people: facecore.Gallery) -> None:
    found = pipeline.identify(FIXTURES / "two_people.jpg", people)
    assert len(found) == 2
    assert sorted(f.name or "" for f in found) == ["biden", "obama"]
    for f in found:
        assert f and f.known and isinstance(f, facecore.Identified)
        assert f.name is not None and f.person == people.id_of(f.name)
        assert f.score is not None and f.score >= f.threshold
        assert f.stage in ("first", "second", "full")
        assert f.candidate is not None and (f.candidate.id, f.candidate.name) == (f.person, f.name)
        assert f.candidate.score == f.score
        assert all(isinstance(v, float) for v in f.bbox) and f.bbox == f.face.bbox
        assert f.landmarks.shape == (5, 2) and f.landmarks.dtype == np.float32
        assert np.array_equal(f.landmarks, f.face.landmarks)
        assert isinstance(f.quality, facecore.Quality) and 0.0 <= f.quality.score <= 1.0
        assert f.face.embedding is None and f.face.quality is not None and f.face.liveness is None
        assert repr(f).startswith("Identified(") and f.name in repr(f)
    # Detection order, as Pipeline.detect gives it.
    assert [f.bbox for f in found] == [d.bbox for d in pipeline.detect(FIXTURES / "two_people.jpg")]


def test_identify_decides_like_the_full_fusion(pipeline: facecore.Pipeline, people: facecore.Gallery) -> None:
    stages: dict[str, int] = {"first": 0, "second": 0, "full": 0}
    for name in ALL:
        img = image(name)
        analyzed = pipeline.analyze(img)
        for op in OPS:
            threshold = pipeline.threshold(operating_point=op)
            found = pipeline.identify(img, people, operating_point=op)
            assert len(found) == len(analyzed), name
            for f, a in zip(found, analyzed):
                assert a.embedding is not None
                assert f.bbox == a.bbox and np.array_equal(f.landmarks, a.landmarks), name
                full = people.identify(a.embedding, operating_point=op)
                assert f.name == (full.name if full else None), f"{name} at {op}: {f!r} / full fusion {full!r}"
                assert f.person == (full.id if full else None)
                assert f.known == (f.score is not None and f.score >= f.threshold)
                stages[f.stage] += 1
                if f.stage == "full":
                    # The full stage is the fusion itself: the same score and threshold, exactly.
                    best = people.search(a.embedding, k=1)[0]
                    assert (f.score, f.threshold) == (best.score, threshold), f"{name} at {op}"
    print(f"\nidentify stages on the fixtures: {stages}")
    # The cascade did stop at the first network for some faces (else this proves nothing).
    assert stages["first"] > 0, stages


def test_verify_images_decides_like_the_full_fusion(pipeline: facecore.Pipeline) -> None:
    imgs = {n: image(n) for n in ONE_FACE}
    best = {n: pipeline.embed_best(img) for n, img in imgs.items()}
    stages: dict[str, int] = {"first": 0, "second": 0, "full": 0}
    for a, b in itertools.combinations(ONE_FACE, 2):
        # Every operating point for Obama's two portraits and Obama against Biden.
        for op in OPS if a == "obama.jpg" and b in ("obama2.jpg", "biden.jpg") else OPS[:1]:
            ea, eb = best[a], best[b]
            assert ea is not None and eb is not None and ea.embedding is not None and eb.embedding is not None
            v = pipeline.verify_images(imgs[a], imgs[b], operating_point=op)
            full = pipeline.verify(ea.embedding, eb.embedding, operating_point=op)
            assert v.same_person == full.same_person, f"{a} / {b} at {op}: {v!r} / full fusion {full!r}"
            assert bool(v) == v.same_person == (v.similarity >= v.threshold)
            assert [f.bbox for f in v.faces] == [ea.bbox, eb.bbox]
            stages[v.stage] += 1
            if v.stage == "full":
                assert (v.similarity, v.threshold) == (full.similarity, full.threshold)
    print(f"\nverify stages on the fixture pairs: {stages}")
    assert stages["first"] > 0, stages
    same = pipeline.verify_images(imgs["obama.jpg"], imgs["obama2.jpg"])
    assert same and isinstance(same, facecore.Verified) and repr(same).startswith("Verified(")
    assert not pipeline.verify_images(FIXTURES / "obama.jpg", FIXTURES / "biden.jpg")
    faces = same.faces
    assert isinstance(faces, tuple) and len(faces) == 2 and all(isinstance(f, facecore.Face) for f in faces)


def test_inputs_and_presets(pipeline: facecore.Pipeline, people: facecore.Gallery) -> None:
    rgb = image("two_people.jpg")
    names = [f.name for f in pipeline.identify(rgb, people)]
    # BGR frames, encoded bytes and paths give the same answers.
    assert [f.name for f in pipeline.identify(np.ascontiguousarray(rgb[:, :, ::-1]), people, channel_order="bgr")] == names
    assert [f.name for f in pipeline.identify((FIXTURES / "two_people.jpg").read_bytes(), people)] == names
    assert [f.name for f in pipeline.identify(str(FIXTURES / "two_people.jpg"), people)] == names
    bgr = [image(n)[:, :, ::-1] for n in ("obama.jpg", "obama2.jpg")]
    assert pipeline.verify_images(bgr[0], bgr[1], channel_order="bgr").same_person
    # A preset without a cascade: every face at the full stage, named the same.
    fast = facecore.Pipeline("fast")
    g = facecore.Gallery(space=fast.space)
    for name in ("obama", "biden"):
        fast.enroll(g, name, FIXTURES / f"{name}.jpg", check_quality=False)
    found = fast.identify(rgb, g)
    assert sorted(f.name or "" for f in found) == ["biden", "obama"] and {f.stage for f in found} == {"full"}
    for f, a in zip(found, fast.analyze(rgb)):
        assert a.embedding is not None
        m = g.identify(a.embedding)
        assert m is not None and (f.person, f.score, f.threshold) == (m.id, m.score, fast.threshold())
    v = fast.verify_images(FIXTURES / "obama.jpg", FIXTURES / "obama2.jpg")
    assert v.same_person and v.stage == "full"


def test_empty_gallery_and_faceless_images(pipeline: facecore.Pipeline, people: facecore.Gallery) -> None:
    for g in (facecore.Gallery(), facecore.Gallery(space=pipeline.space)):
        found = pipeline.identify(FIXTURES / "two_people.jpg", g)
        assert len(found) == 2
        for f in found:
            assert not f and f.name is None and f.person is None and f.score is None and f.candidate is None
            assert f.stage == "full" and f.threshold == pipeline.threshold()
    grey = np.full((96, 96, 3), 128, np.uint8)
    assert pipeline.identify(grey, people) == []
    with pytest.raises(facecore.InvalidInputError, match="second image"):
        pipeline.verify_images(FIXTURES / "obama.jpg", grey)
    with pytest.raises(facecore.InvalidInputError, match="first image"):
        pipeline.verify_images(grey, FIXTURES / "obama.jpg")
    # An unknown face keeps its nearest candidate for inspection.
    astronaut = pipeline.identify(FIXTURES / "astronaut.png", people)
    assert len(astronaut) == 1 and not astronaut[0] and astronaut[0].name is None
    assert astronaut[0].candidate is not None and astronaut[0].candidate.name in ("obama", "biden")
    assert astronaut[0].score is not None and astronaut[0].score < astronaut[0].threshold


def test_bad_arguments(pipeline: facecore.Pipeline, people: facecore.Gallery) -> None:
    path = FIXTURES / "two_people.jpg"
    with pytest.raises(facecore.InvalidInputError, match="operating point"):
        pipeline.identify(path, people, operating_point="fmr1e-9")
    with pytest.raises(facecore.InvalidInputError, match="operating point"):
        pipeline.verify_images(path, path, operating_point="strict")
    with pytest.raises(facecore.InvalidInputError):
        pipeline.identify(np.zeros((64, 64, 3), np.float32), people)
    with pytest.raises(facecore.InvalidInputError):
        pipeline.verify_images(path, np.zeros((64, 64, 3), np.int16))
    with pytest.raises(facecore.InvalidInputError):
        pipeline.identify(np.zeros((64, 64, 5), np.uint8), people)
    with pytest.raises(facecore.InvalidInputError, match="channel_order"):
        pipeline.identify(path, people, channel_order="xyz")
    with pytest.raises(facecore.ImageDecodeError):
        pipeline.identify(b"not an image", people)
    with pytest.raises(FileNotFoundError):
        pipeline.verify_images(FIXTURES / "missing.jpg", path)
    with pytest.raises(TypeError):
        pipeline.identify(path, "people")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pipeline.identify(path)  # type: ignore[call-arg]
    # Galleries of another embedding space: refused before the networks run.
    fast = facecore.Pipeline("fast")
    other = facecore.Gallery(space=fast.space)
    fast.enroll(other, "obama", FIXTURES / "obama.jpg", check_quality=False)
    with pytest.raises(facecore.ModelMismatchError):
        pipeline.identify(path, other)
    with pytest.raises(facecore.ModelMismatchError):
        pipeline.identify(path, facecore.Gallery(space="someone-else"))
    with pytest.raises(facecore.ModelMismatchError):
        fast.identify(path, people)


def stranger(seed: int, dim: int) -> np.ndarray:
    """A random unit vector: a template nobody's face comes near."""
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


class ReentrantImage:
    """An image whose conversion (numpy's __array__) uses the gallery it is identified against:
    a search and an enrolment. The binding converts arguments before it takes any lock."""

    def __init__(self, img: np.ndarray, gallery: facecore.Gallery, probe: np.ndarray) -> None:
        self.img, self.gallery, self.probe = img, gallery, probe

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        assert self.gallery.search(self.probe, k=1)[0].name == "obama"
        self.gallery.enroll("visitor", stranger(0, self.probe.shape[0]))
        return self.img


def test_gil_and_gallery_lock(pipeline: facecore.Pipeline) -> None:
    g = facecore.Gallery(space=pipeline.space)
    for name in ("obama", "biden"):
        pipeline.enroll(g, name, FIXTURES / f"{name}.jpg", check_quality=False)
    obama = pipeline.embed_best(FIXTURES / "obama2.jpg")
    assert obama is not None and obama.embedding is not None
    rgb = image("two_people.jpg")
    found = pipeline.identify(ReentrantImage(rgb, g, obama.embedding), g)
    assert sorted(f.name or "" for f in found) == ["biden", "obama"] and "visitor" in g

    # The GIL is released while the networks run: the main thread keeps executing Python,
    # and another thread enrols into the same gallery meanwhile (it waits for the lock at
    # most, never for the GIL held by a thread that holds the lock).
    done = threading.Event()
    errors: list[BaseException] = []
    results: list[list[facecore.Identified]] = []

    def identify() -> None:
        try:
            for _ in range(2):
                results.append(pipeline.identify(rgb, g))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            done.set()

    def enrol() -> None:
        try:
            for i in range(20):
                g.enroll(f"extra{i}", stranger(i + 1, obama.embedding.shape[0]))
                g.search(obama.embedding, k=3)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=identify), threading.Thread(target=enrol)]
    ticks = 0
    for w in workers:
        w.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0)
    for w in workers:
        w.join(timeout=120)
        assert not w.is_alive(), "deadlock: a worker did not finish"
    assert not errors, errors
    assert ticks > 100, ticks
    assert len(results) == 2 and all(sorted(f.name or "" for f in r) == ["biden", "obama"] for r in results)
    assert len(g) == 23


# --- a gallery in PostgreSQL (FACECORE_PG_URL) -----------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on FACECORE_PG_URL's server (as test_pg_gallery.py makes them)."""
    url = os.environ.get("FACECORE_PG_URL")
    if not url:
        reason = "FACECORE_PG_URL is not set (export FACECORE_PG_URL=$(scripts/pg-test-server.sh start))"
        if os.environ.get("FACECORE_REQUIRE_PG") == "1":
            pytest.fail(f"{reason}; FACECORE_REQUIRE_PG=1 requires it")
        print(f"\n*** SKIP: {reason} ***")
        pytest.skip(reason)
    import psycopg  # only needed here (scripts/python-tests.sh installs it)

    name = f"facecore_py_identify_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        if "://" in url:
            yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
        else:
            yield f"{url} dbname={name}"
    finally:
        gc.collect()  # the test's galleries close their connections
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_postgres_gallery_full_embeddings(pipeline: facecore.Pipeline, people: facecore.Gallery, pg_url: str) -> None:
    g = facecore.Gallery.connect(pg_url, space=pipeline.space)
    for name in ("obama", "biden"):
        pipeline.enroll(g, name, FIXTURES / f"{name}.jpg", check_quality=False)
    for name in ALL:
        img = image(name)
        for op in OPS[:2]:
            remote = pipeline.identify(img, g, operating_point=op)
            local = pipeline.identify(img, people, operating_point=op)
            analyzed = pipeline.analyze(img)
            assert len(remote) == len(local) == len(analyzed)
            for r, loc, a in zip(remote, local, analyzed):
                assert a.embedding is not None
                m = g.identify(a.embedding, operating_point=op)
                # The store's identify on the full embedding: stage "full", its score and name.
                assert r.stage == "full" and r.threshold == pipeline.threshold(operating_point=op)
                assert r.name == (m.name if m else None) == loc.name, f"{name} at {op}"
                if m is not None:
                    assert r.score == m.score
    found = pipeline.identify(FIXTURES / "two_people.jpg", g)
    assert sorted(f.name or "" for f in found) == ["biden", "obama"]
    other = facecore.Gallery.connect(pg_url)
    with pytest.raises(facecore.ModelMismatchError):
        facecore.Pipeline("fast").identify(FIXTURES / "two_people.jpg", other)
