#!/usr/bin/env python3
"""Per-call latency of the facecore Python package next to face_recognition's, same image.

    python scripts/bench-python.py [--image IMG] [--runs 10]
        [--face-recognition-python /path/to/python]   # another interpreter that has face_recognition

Medians of ``--runs`` calls after one warm-up call, single thread. face_recognition is timed in
this interpreter when importable, else in ``--face-recognition-python`` (or
$FACE_RECOGNITION_PYTHON) through a subprocess running this script with ``--only fr``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Pairs of calls doing the same job; the ratio column compares them.
ROWS = [
    ("load_image_file", "load_image_file(path)"),
    ("face_locations", "face_locations(img) (upsample=1)"),
    ("face_encodings_known", "face_encodings(img, known boxes) per face"),
    ("face_encodings_full", "face_encodings(img) incl. detection"),
]


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def bench_face_recognition(image: str, runs: int) -> dict[str, float]:
    import face_recognition as fr  # type: ignore[import-not-found, import-untyped, unused-ignore]

    img = fr.load_image_file(image)
    boxes = fr.face_locations(img)
    n = max(len(boxes), 1)
    return {
        "load_image_file": median_ms(lambda: fr.load_image_file(image), runs),
        "face_locations": median_ms(lambda: fr.face_locations(img), runs),
        "face_encodings_known": median_ms(lambda: fr.face_encodings(img, boxes), runs) / n,
        "face_encodings_full": median_ms(lambda: fr.face_encodings(img), runs),
        "faces": float(len(boxes)),
    }


def bench_facecore(image: str, runs: int) -> dict[str, float]:
    import numpy as np

    import facecore
    import facecore.compat as fr

    img = fr.load_image_file(image)
    boxes = fr.face_locations(img)
    n = max(len(boxes), 1)
    out = {
        "load_image_file": median_ms(lambda: fr.load_image_file(image), runs),
        "face_locations": median_ms(lambda: fr.face_locations(img), runs),
        "face_encodings_known": median_ms(lambda: fr.face_encodings(img, boxes), runs) / n,
        "face_encodings_full": median_ms(lambda: fr.face_encodings(img), runs),
        "faces": float(len(boxes)),
    }
    det = facecore.Detector()
    out["Detector.detect"] = median_ms(lambda: det.detect(img), runs)
    for preset in ("fast", "accurate"):
        p = facecore.Pipeline(preset)
        out[f"Pipeline('{preset}').analyze"] = median_ms(lambda: p.analyze(img), runs)
    frames = [np.ascontiguousarray(img)] * 8
    seq = median_ms(lambda: [det.detect(f) for f in frames], max(runs // 4, 2))
    with ThreadPoolExecutor(4) as pool:
        par = median_ms(lambda: list(pool.map(det.detect, frames)), max(runs // 4, 2))
    out["detect x8 sequential"] = seq
    out["detect x8 ThreadPoolExecutor(4)"] = par
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default=str(ROOT / "tests" / "fixtures" / "obama.jpg"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--face-recognition-python", default=os.environ.get("FACE_RECOGNITION_PYTHON"))
    ap.add_argument("--only", choices=["fr"], help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.only == "fr":
        print(json.dumps(bench_face_recognition(args.image, args.runs)))
        return 0

    print(f"image: {args.image}  runs: {args.runs} (median ms, single thread, {os.cpu_count()} cpus)")
    ours = bench_facecore(args.image, args.runs)
    theirs: dict[str, float] | None = None
    try:
        theirs = bench_face_recognition(args.image, args.runs)
    except ImportError:
        if args.face_recognition_python:
            res = subprocess.run([args.face_recognition_python, __file__, "--only", "fr", "--image", args.image,
                                  "--runs", str(args.runs)], capture_output=True, text=True)
            if res.returncode == 0:
                theirs = json.loads(res.stdout.strip().splitlines()[-1])
            else:
                print(f"face_recognition run failed: {res.stderr.strip().splitlines()[-1:]}")
    if theirs is None:
        print("face_recognition is not importable: its column is empty "
              "(pip install dlib-bin face_recognition --no-deps, plus face_recognition_models)")

    print(f"faces found: facecore {ours['faces']:.0f}" + (f", face_recognition {theirs['faces']:.0f}" if theirs else ""))
    print(f"{'call':45} {'facecore':>10} {'face_rec.':>10} {'ratio':>7}")
    for key, label in ROWS:
        fc = ours[key]
        if theirs:
            print(f"{label:45} {fc:10.1f} {theirs[key]:10.1f} {theirs[key] / fc:6.1f}x")
        else:
            print(f"{label:45} {fc:10.1f} {'-':>10} {'-':>7}")
    for key in ("Detector.detect", "Pipeline('fast').analyze", "Pipeline('accurate').analyze",
                "detect x8 sequential", "detect x8 ThreadPoolExecutor(4)"):
        print(f"{key:45} {ours[key]:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
