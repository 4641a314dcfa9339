"""Objects are shared across threads; concurrent calls give the sequential results."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from conftest import FIXTURES, IMAGES, faces_equal

import facecore


def test_detect_threadpool_equals_sequential(detector: facecore.Detector) -> None:
    images = [facecore.load_image(FIXTURES / n) for n in IMAGES] * 3
    sequential = [detector.detect(img) for img in images]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(detector.detect, images))
    assert all(faces_equal(a, b, tol=0) for a, b in zip(sequential, concurrent))
    assert sum(len(f) for f in sequential) >= 2 * len(images) // 3


def test_pipeline_and_gallery_threads(pipeline: facecore.Pipeline) -> None:
    names = ["obama.jpg", "biden.jpg", "obama2.jpg", "two_people.jpg"]
    sequential = [[f.embedding for f in pipeline.analyze(FIXTURES / n)] for n in names]
    g = facecore.Gallery(space=pipeline.space)

    def work(i: int) -> list[np.ndarray]:
        faces = pipeline.analyze(FIXTURES / names[i % len(names)])
        for f in faces:
            assert f.embedding is not None
            g.enroll(f"p{i}", f.embedding)
        return [f.embedding for f in faces]  # type: ignore[misc]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(8)))
    for i, r in enumerate(results):
        for a, b in zip(r, sequential[i % len(names)]):
            np.testing.assert_array_equal(a, b)
    assert len(g) == 8


def test_gil_released_during_inference(detector: facecore.Detector, obama: np.ndarray) -> None:
    # While detect runs in a worker thread, the main thread keeps executing Python.
    done = threading.Event()
    spans: list[float] = []

    def worker() -> None:
        for _ in range(3):
            t = time.perf_counter()
            detector.detect(obama)
            spans.append(time.perf_counter() - t)
        done.set()

    th = threading.Thread(target=worker)
    ticks = 0
    th.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0)
    th.join()
    # With the GIL held for the whole call, the loop could only run between calls.
    assert ticks > 100, (ticks, spans)


def test_pipeline_threads_give_identical_embeddings() -> None:
    one = facecore.Pipeline("fast")
    three = facecore.Pipeline("fast", threads=3)
    assert (one.threads, three.threads) == (1, 3)
    img = str(FIXTURES / "two_people.jpg")
    a, b = one.analyze(img), three.analyze(img)
    assert len(a) == len(b) == 2
    for x, y in zip(a, b):
        assert x.bbox == y.bbox
        assert x.embedding is not None and y.embedding is not None
        assert np.array_equal(x.embedding, y.embedding)


def test_embedder_on_aligned_chips() -> None:
    fast = facecore.Pipeline("fast")
    emb = facecore.Embedder("dlib-resnet-v1")
    assert (emb.model, emb.input_size) == ("dlib-resnet-v1", 150)
    chip = np.full((150, 150, 3), 128, np.uint8)
    v = emb.embed_chip(chip)
    assert v.dtype == np.float32 and v.shape == (128,)
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-4
    # A chip of the wrong size and an unknown model are clear errors.
    try:
        emb.embed_chip(np.zeros((112, 112, 3), np.uint8))
        raise AssertionError("expected an error")
    except facecore.InvalidInputError:
        pass
    try:
        facecore.Embedder("arcface")
        raise AssertionError("expected an error")
    except facecore.InvalidInputError:
        pass
    assert fast.space == emb.model
