"""Issue 11 (Python): facecore.Stream on synthetic motion, against `facecore watch --json` on the
same frames; face quality and the enrolment floor; issue 14: Pipeline(..., liveness=...)."""

from __future__ import annotations

import inspect
import json
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, unavailable
from PIL import Image, ImageFilter

import facecore

FPS = 25.0
W, H = 640, 400
EVENT_KINDS = {"started", "identified", "changed", "unknown", "ended", "liveness"}


def _cli() -> Path:
    cli = Path(os.environ.get("FACECORE_CLI", ROOT / "target" / "debug" / "facecore"))
    if not cli.exists():
        unavailable(f"Rust CLI not built at {cli} (scripts/python-tests.sh builds it)")
    return cli


def face_crop(detector: facecore.Detector, name: str, side: int = 150) -> np.ndarray:
    """The fixture's face with some margin, as a side x side RGB array."""
    img = Image.open(FIXTURES / name).convert("RGB")
    x, y, w, h = detector.detect(np.asarray(img))[0].bbox
    cx, cy, r = x + w / 2, y + h / 2, max(w, h) * 0.8
    crop = img.crop((int(cx - r), int(cy - r), int(cx + r), int(cy + r))).resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(crop)


def moving_frames(detector: facecore.Detector, n: int = 16) -> list[np.ndarray]:
    """Obama crossing the top of a grey canvas left to right, Biden the bottom right to left
    from frame 3 on."""
    obama, biden = face_crop(detector, "obama.jpg"), face_crop(detector, "biden.jpg")
    frames = []
    for i in range(n):
        f = np.full((H, W, 3), 118, np.uint8)
        x = 10 + i * 16
        f[20:170, x : x + 150] = obama
        if i >= 3:
            xb = W - 170 - (i - 3) * 14
            f[220:370, xb : xb + 150] = biden
        frames.append(f)
    return frames


@pytest.fixture(scope="module")
def fast() -> facecore.Pipeline:
    return facecore.Pipeline("fast")


@pytest.fixture(scope="module")
def frames(detector: facecore.Detector) -> list[np.ndarray]:
    return moving_frames(detector)


@pytest.fixture(scope="module")
def gallery(fast: facecore.Pipeline) -> facecore.Gallery:
    g = facecore.Gallery(space=fast.space)
    assert fast.enroll(g, "obama", FIXTURES / "obama.jpg") == 1
    assert fast.enroll(g, "biden", FIXTURES / "biden.jpg") == 2
    return g


def run(stream: facecore.Stream, frames: list[np.ndarray], **kw: Any) -> list[facecore.StreamEvent]:
    events = []
    for i, f in enumerate(frames):
        events += stream.push(f, i / FPS, **kw)
    return events + stream.finish()


def as_dict(e: facecore.StreamEvent) -> dict[str, Any]:
    return {k: getattr(e, k) for k in ("kind", "track", "timestamp", "frame", "bbox", "quality", "person", "name", "score",
                                       "previous", "previous_name", "duration", "live", "liveness")}


# --- streams --------------------------------------------------------------------------------


def test_events_on_synthetic_motion(fast: facecore.Pipeline, gallery: facecore.Gallery, frames: list[np.ndarray]) -> None:
    stream = facecore.Stream(fast, gallery)
    events = run(stream, frames)
    kinds = [(e.kind, e.track, e.name) for e in events]
    assert all(e.kind in EVENT_KINDS for e in events)
    # Two tracks, each started, named once, never changed, ended by finish().
    assert sorted(t for k, t, _ in kinds if k == "started") == [1, 2], kinds
    named = {t: n for k, t, n in kinds if k == "identified"}
    assert named == {1: "obama", 2: "biden"}, kinds
    assert not [k for k in kinds if k[0] in ("changed", "unknown")], kinds
    ended = [e for e in events if e.kind == "ended"]
    assert [e.track for e in ended] == [1, 2] and [e.name for e in ended] == ["obama", "biden"]
    assert ended[0].duration == pytest.approx((len(frames) - 1) / FPS)
    ident = next(e for e in events if e.kind == "identified" and e.track == 1)
    assert ident.person == 1 and ident.score is not None and ident.score > stream.threshold
    assert isinstance(ident.bbox, tuple) and len(ident.bbox) == 4
    assert 0.0 < ident.quality <= 1.0 and ident.live is None and ident.liveness is None
    # Events in order of frames; the box follows the face.
    assert [e.frame for e in events] == sorted(e.frame for e in events)
    x, y, w, h = ident.bbox
    fx = 10 + ident.frame * 16
    assert fx - 10 < x < fx + 150 and 20 <= y + h / 2 <= 170
    s = stream.stats
    assert s["frames"] == len(frames) and s["detection_frames"] == len(frames)
    assert s["tracks_started"] == 2 and s["tracks_ended"] == 2
    assert 0 < s["embeddings"] < s["detections"]
    assert set(s) == {"frames", "detection_frames", "detections", "embeddings", "embeddings_deferred", "tracks_started",
                      "tracks_ended"}
    assert "StreamEvent(kind=" in repr(ident) and "obama" in repr(ident)


@pytest.mark.parametrize("every", [1, 2])
def test_events_equal_rust_cli(
    fast: facecore.Pipeline, gallery: facecore.Gallery, frames: list[np.ndarray], tmp_path: Path, every: int
) -> None:
    cli = _cli()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / f"frame{i:03d}.png")
    gallery.save(tmp_path / "people.fcg")
    out = subprocess.run(
        [str(cli), "watch", "--json", "--preset", "fast", "--every", str(every), "--gallery", str(tmp_path / "people.fcg"),
         str(tmp_path)],
        capture_output=True, text=True, check=True,
    )
    rust = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    py = run(facecore.Stream(fast, gallery, detect_every=every), frames)
    assert len(py) == len(rust) > 4, (out.stdout, [as_dict(e) for e in py])
    for e, r in zip(py, rust):
        assert (e.kind, e.track, e.frame, e.name) == (r["event"], r["track"], r["frame"], r["name"]), (as_dict(e), r)
        assert e.timestamp == r["t"]
        np.testing.assert_allclose(e.bbox, r["box"], atol=1e-3)
        assert e.quality == pytest.approx(r["quality"], abs=1e-5)
        if r["score"] is None:
            assert e.score is None
        else:
            assert e.score == pytest.approx(r["score"], abs=1e-5)
        if e.kind == "ended":
            assert e.duration == pytest.approx(r["duration"], abs=1e-9)
    print(f"stream (every {every}): {len(py)} events equal to `facecore watch --json`'s")


def test_same_events_for_every_frame_format(fast: facecore.Pipeline, gallery: facecore.Gallery,
                                            frames: list[np.ndarray]) -> None:
    rgb = [as_dict(e) for e in run(facecore.Stream(fast, gallery), frames[:8])]
    bgr = [as_dict(e) for e in run(facecore.Stream(fast, gallery), [f[:, :, ::-1] for f in frames[:8]], channel_order="bgr")]
    assert rgb == bgr and rgb


def test_defaults_are_the_cores(fast: facecore.Pipeline) -> None:
    stream = facecore.Stream(fast)
    sig = inspect.signature(facecore.Stream)
    documented = {n: p.default for n, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY}
    options = stream.options
    assert set(documented) == set(options)
    for name, value in documented.items():
        assert options[name] == pytest.approx(value) if isinstance(value, float) else options[name] == value, name
    assert stream.threshold == pytest.approx(fast.threshold(operating_point="fmr1e-3"))
    assert stream.confident_threshold >= stream.threshold
    assert stream.frame_size is None and stream.space == fast.space and stream.tracks() == []
    custom = facecore.Stream(fast, detect_every=3, threshold=0.5, operating_point="fmr1e-4", max_embeddings_per_frame=0)
    o = custom.options
    assert (o["detect_every"], o["threshold"], o["operating_point"], o["max_embeddings_per_frame"]) == (3, 0.5, "fmr1e-4", 0)
    assert custom.threshold == 0.5


def test_no_gallery_is_unknown_and_set_gallery(fast: facecore.Pipeline, gallery: facecore.Gallery,
                                               frames: list[np.ndarray]) -> None:
    stream = facecore.Stream(fast, reembed_every=1)
    events = []
    for i, f in enumerate(frames[:8]):
        events += stream.push(f, i / FPS)
    assert any(e.kind == "unknown" and e.score is None for e in events), [as_dict(e) for e in events]
    tracks = stream.tracks()
    assert [t.id for t in tracks] == [1, 2] and all(t.identity == "unknown" for t in tracks)
    stream.set_gallery(gallery)
    for i, f in enumerate(frames[8:], start=8):
        events += stream.push(f, i / FPS)
    named = {e.track: e.name for e in events if e.kind == "identified"}
    assert named == {1: "obama", 2: "biden"}
    t = stream.tracks()[0]
    assert t.identity == "known" and t.name == "obama" and t.person == 1 and t.detected and t.missed == 0
    assert isinstance(t.best_quality, facecore.Quality) and t.best_quality.score > 0.3
    assert t.first_seen == 0.0 and t.last_seen == (len(frames) - 1) / FPS and t.embeddings >= 1
    assert t.liveness is None and t.live is None and t.live_frames == 0
    assert "TrackInfo(id=1" in repr(t)
    stream.set_gallery(None)
    assert len(stream.finish()) == 2 and stream.tracks() == []


def test_bad_input_leaves_the_stream_usable(fast: facecore.Pipeline, frames: list[np.ndarray]) -> None:
    stream = facecore.Stream(fast)
    stream.push(frames[0], 1.0)
    with pytest.raises(facecore.InvalidInputError, match="frame"):
        stream.push(frames[1][:200], 1.1)
    with pytest.raises(facecore.InvalidInputError, match="timestamp"):
        stream.push(frames[1], 0.5)
    with pytest.raises(facecore.InvalidInputError, match="timestamp"):
        stream.push(frames[1], float("nan"))
    with pytest.raises(facecore.InvalidInputError):
        stream.push(np.zeros((10, 10), np.float32), 2.0)
    with pytest.raises(facecore.InvalidInputError):
        stream.push(b"", 2.0, pixel_format="nv12", width=640, height=400)
    assert stream.stats["frames"] == 1
    stream.push(frames[1], 1.0)  # an equal timestamp is fine
    assert stream.frame_size == (W, H) and stream.stats["frames"] == 2
    stream.finish()
    stream.push(frames[1][:200, :300], 3.0)  # finish() forgets the size
    assert stream.frame_size == (300, 200)


def test_bad_options_and_galleries(fast: facecore.Pipeline) -> None:
    for kw in ({"detect_every": 0}, {"iou_threshold": 0.0}, {"min_embed_quality": 2.0}, {"threshold": 1.5},
               {"operating_point": "fmr1e-9"}, {"liveness_frames": 0}):
        with pytest.raises(facecore.InvalidInputError):
            facecore.Stream(fast, **kw)
    other = facecore.Gallery(space="sface-2021dec")
    with pytest.raises(facecore.ModelMismatchError):
        facecore.Stream(fast, other)
    stream = facecore.Stream(fast)
    with pytest.raises(facecore.ModelMismatchError):
        stream.set_gallery(other)
    g = facecore.Gallery()
    g.enroll("x", np.ones(8, np.float32), space="custom")
    with pytest.raises(facecore.ModelMismatchError):
        stream.set_gallery(g)
    with pytest.raises(TypeError):
        facecore.Stream(fast, "people.fcg")  # type: ignore[arg-type]


def test_one_thread_at_a_time(fast: facecore.Pipeline, frames: list[np.ndarray]) -> None:
    """A call while another thread pushes raises StreamBusyError at once (no deadlock, the
    stream is unchanged), and the GIL is released during the push."""
    stream = facecore.Stream(fast)
    big = [np.ascontiguousarray(np.tile(f, (2, 2, 1))) for f in frames[:6]]
    done = threading.Event()
    errors: list[BaseException] = []

    def pusher() -> None:
        try:
            for i, f in enumerate(big):
                stream.push(f, float(i))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=pusher)
    t.start()
    busy = ok = push_busy = 0
    while not done.is_set():
        try:
            stream.stats
            stream.tracks()
            ok += 1
        except facecore.StreamBusyError as e:
            assert "one thread at a time" in str(e)
            busy += 1
        # A push with a bad timestamp changes nothing whether it is refused as busy or as bad.
        try:
            stream.push(big[0], float("nan"))
        except facecore.StreamBusyError:
            push_busy += 1
        except facecore.InvalidInputError:
            pass
    t.join(timeout=60)
    assert not t.is_alive() and not errors, errors
    assert busy > 0 and push_busy > 0, "no call overlapped a push"
    assert stream.stats["frames"] == len(big)
    assert issubclass(facecore.StreamBusyError, facecore.FacecoreError)
    assert issubclass(facecore.StreamBusyError, RuntimeError)
    print(f"Stream busy: {busy} + {push_busy} calls refused during 6 pushes, {ok} went through between them")


# --- liveness on pipelines and streams ------------------------------------------------------


def test_pipeline_liveness_argument() -> None:
    assert facecore.Pipeline("fast").liveness is None
    assert facecore.Pipeline("fast", liveness=False).liveness is None
    assert facecore.Pipeline("fast", liveness=True).liveness == pytest.approx(0.03)
    assert facecore.Pipeline("fast", liveness="default").liveness == pytest.approx(0.03)
    assert facecore.Pipeline("fast", liveness="strict").liveness == pytest.approx(0.999)
    assert facecore.Pipeline("fast", liveness=0.5).liveness == 0.5
    for bad in ("lax", 1.5, -0.1, [0.5]):
        with pytest.raises(facecore.InvalidInputError):
            facecore.Pipeline("fast", liveness=bad)  # type: ignore[arg-type]


def test_analyzed_faces_carry_liveness(obama: np.ndarray) -> None:
    pipe = facecore.Pipeline("fast", liveness=True)
    liveness = facecore.Liveness()
    faces = pipe.analyze(obama)
    assert faces and all(isinstance(f.liveness, facecore.LivenessResult) for f in faces)
    for f in faces:
        expected = liveness.check(obama, f)
        assert f.liveness is not None
        assert (f.liveness.score, f.liveness.decision, f.liveness.threshold) == (expected.score, expected.decision,
                                                                                expected.threshold)
    best = pipe.embed_best(obama)
    assert best is not None and best.liveness is not None and "liveness=" in repr(best)
    strict = facecore.Pipeline("fast", liveness="strict").analyze(obama)[0].liveness
    assert strict is not None and strict.threshold == pytest.approx(0.999) and strict.score == faces[0].liveness.score  # type: ignore[union-attr]
    assert facecore.Pipeline("fast").analyze(obama)[0].liveness is None


def test_stream_reports_liveness(gallery: facecore.Gallery, frames: list[np.ndarray]) -> None:
    pipe = facecore.Pipeline("fast", liveness=True)
    events = run(facecore.Stream(pipe, gallery), frames)
    live = [e for e in events if e.kind == "liveness"]
    assert sorted(e.track for e in live) == [1, 2], [as_dict(e) for e in events]
    for e in live:
        assert e.liveness in ("live", "spoof") and e.live is not None and 0.0 <= e.live <= 1.0
        later = [x for x in events if x.track == e.track and x.frame >= e.frame and x.kind != "liveness"]
        assert later and all(x.liveness == e.liveness and x.live == e.live for x in later)
    print("stream liveness:", [(e.track, e.liveness, round(e.live or 0, 4)) for e in live])


# --- quality and enrolment ------------------------------------------------------------------


def test_quality_on_analyzed_faces(pipeline: facecore.Pipeline, detector: facecore.Detector, obama: np.ndarray) -> None:
    f = pipeline.analyze(obama)[0]
    q = f.quality
    assert isinstance(q, facecore.Quality)
    assert 0.5 < q.score <= 1.0 and q.eye_distance > 50 and q.sharpness > 100
    assert 40 < q.brightness < 230 and q.contrast > 12 and abs(q.yaw) < 30 and abs(q.pitch) < 30 and abs(q.roll) < 20
    assert "Quality(score=" in repr(q) and "quality=" in repr(f)
    best = pipeline.embed_best(obama)
    assert best is not None and best.quality is not None and best.quality.score == q.score
    assert detector.detect(obama)[0].quality is None
    mirrored = pipeline.analyze(np.ascontiguousarray(obama[:, ::-1]))[0].quality
    assert mirrored is not None and np.sign(mirrored.yaw) == -np.sign(q.yaw)


def blurred(name: str, sigma: float = 6.0) -> np.ndarray:
    return np.asarray(Image.open(FIXTURES / name).convert("RGB").filter(ImageFilter.GaussianBlur(sigma)))


def test_enroll_quality_floor(fast: facecore.Pipeline) -> None:
    g = facecore.Gallery(space=fast.space)
    blur = blurred("obama.jpg")
    with pytest.raises(facecore.LowQualityError) as info:
        fast.enroll(g, "obama", blur)
    e = info.value
    assert isinstance(e, facecore.FacecoreError) and isinstance(e, ValueError)
    assert e.measure == "sharpness" and e.limit == pytest.approx(20.0) and e.value is not None and e.value < 20.0
    assert "Pipeline.enroll" in str(e) and len(g) == 0
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is facecore.LowQualityError and (e2.measure, e2.value, e2.limit) == (e.measure, e.value, e.limit)
    with pytest.raises(facecore.LowQualityError) as info:
        fast.enroll(g, "obama", blur, min_sharpness=0.0)
    assert info.value.measure == "score"
    assert fast.enroll(g, "obama", blur, check_quality=False) == 1
    assert fast.enroll(g, "obama", FIXTURES / "obama2.jpg") == 1
    assert g.person("obama").embeddings == 2  # type: ignore[union-attr]
    dark = (np.asarray(Image.open(FIXTURES / "biden.jpg").convert("RGB")) * 0.15).astype(np.uint8)
    with pytest.raises(facecore.LowQualityError) as info:
        fast.enroll(g, "biden", dark)
    assert info.value.measure == "brightness" and "biden" not in g
    assert fast.enroll(g, "biden", dark, min_brightness=0.0, min_contrast=0.0, min_score=0.0) == 2
    with pytest.raises(facecore.InvalidInputError, match="no face"):
        fast.enroll(g, "nobody", np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(facecore.ModelMismatchError):
        fast.enroll(facecore.Gallery(space="sface-2021dec"), "obama", FIXTURES / "obama.jpg")
    acc = facecore.Gallery()
    acc.enroll("x", np.ones(8, np.float32), space="custom")
    with pytest.raises(facecore.ModelMismatchError):
        fast.enroll(acc, "obama", FIXTURES / "obama.jpg")
    with pytest.raises(facecore.LowQualityError):
        facecore.Pipeline("fast").enroll(g, "nv12", FIXTURES / "obama.jpg", min_eye_distance=1e6)


# --- the example ----------------------------------------------------------------------------


def example_frames(detector: facecore.Detector, tmp_path: Path) -> Iterator[Path]:
    for i, f in enumerate(moving_frames(detector, 10)):
        p = tmp_path / f"{i:04d}.png"
        Image.fromarray(f).save(p)
        yield p


def test_video_example_on_an_image_directory(detector: facecore.Detector, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    assert len(list(example_frames(detector, frames))) == 10
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python" / "video.py"), "--preset", "fast",
         "--enroll", f"obama={FIXTURES / 'obama.jpg'}", "--enroll", f"biden={FIXTURES / 'biden.jpg'}", str(frames)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any("identified" in line and "obama" in line for line in lines), out.stdout
    assert any("identified" in line and "biden" in line for line in lines), out.stdout
    assert sum("ended" in line for line in lines) == 2, out.stdout
    assert "frames" in out.stderr


def test_video_example_on_raw_frames(detector: facecore.Detector) -> None:
    raw = b"".join(f[:, :, ::-1].tobytes() for f in moving_frames(detector, 16))
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python" / "video.py"), "--preset", "fast",
         "--enroll", f"obama={FIXTURES / 'obama.jpg'}", "--size", f"{W}x{H}", "--pixel-format", "bgr", "-"],
        input=raw, capture_output=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr.decode()
    text = out.stdout.decode()
    assert "identified" in text and "obama" in text and "unknown" in text, text
