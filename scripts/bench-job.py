#!/usr/bin/env python3
"""The 12-photo job as whole processes: enrol 2 known people, name every face in 12 photos.

    scripts/install-peers.sh        # once: a venv with face_recognition, OpenCV and this facecore
    target/peers-venv/bin/python scripts/bench-job.py --data ../shared/data --facecore target/debug/facecore

Known: obama.jpg, biden.jpg (face_recognition's examples). Unknown: two_people.jpg, obama2.jpg
and knn_examples/test/obama_and_biden.jpg, four copies of each (12 files). Contenders, each a
fresh process per run, interleaved over the rounds, one thread each:
  face_recognition  its CLI: `face_recognition KNOWN_DIR UNKNOWN_DIR` (HOG detector, dlib ResNet)
  facecore fast     `facecore identify --preset fast --known KNOWN_DIR UNKNOWN_DIR --face-recognition-format`
  facecore default  the same with the default preset (accurate)
  OpenCV            this script's --opencv-job mode: cv2.FaceDetectorYN + cv2.FaceRecognizerSF on
                    the same YuNet and SFace files, cosine threshold 0.363 (OpenCV's documented
                    SFace threshold), the same output format
Every contender must name every known face (obama and biden where they are) for its time to
count. Prints the median wall time per contender, the ratios, and facecore's plan builds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
UNKNOWN = {
    "two_people.jpg": {"obama", "biden"},
    "obama2.jpg": {"obama"},
    "knn_examples/test/obama_and_biden.jpg": {"obama", "biden"},
}


def opencv_job(known: Path, unknown: Path) -> int:
    """The job with OpenCV's pipeline, printing face_recognition's format."""
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    yn = cv2.FaceDetectorYN.create(str(ROOT / "models" / "yunet_2023mar.onnx"), "", (320, 320), 0.6, 0.3, 5000)
    sf = cv2.FaceRecognizerSF.create(str(ROOT / "models" / "sface_2021dec.onnx"), "")

    def faces(path: Path):
        img = cv2.imread(str(path))
        h, w = img.shape[:2]
        s = min(1.0, 640 / max(w, h))
        if s < 1.0:
            img = cv2.resize(img, (round(w * s), round(h * s)))
        yn.setInputSize((img.shape[1], img.shape[0]))
        _, found = yn.detect(img)
        out = []
        for f in found if found is not None else []:
            feat = sf.feature(sf.alignCrop(img, f))
            feat = feat.reshape(-1)
            out.append(feat / np.linalg.norm(feat))
        return out

    names, feats = [], []
    for p in sorted(known.iterdir()):
        fs = faces(p)
        if fs:
            names.append(p.stem)
            feats.append(fs[0])
    for p in sorted(unknown.iterdir()):
        fs = faces(p)
        if not fs:
            print(f"{p},no_persons_found")
        for f in fs:
            scores = [float(f @ k) for k in feats]
            best = int(np.argmax(scores))
            print(f"{p},{names[best] if scores[best] >= 0.363 else 'unknown_person'}")
    return 0


def named(stdout: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in stdout.splitlines():
        path, _, name = line.rpartition(",")
        if path:
            out.setdefault(Path(path).name, set()).add(name)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--facecore", default=str(ROOT / "target" / "debug" / "facecore"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--opencv-job", nargs=2, metavar=("KNOWN", "UNKNOWN"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.opencv_job:
        return opencv_job(Path(args.opencv_job[0]), Path(args.opencv_job[1]))

    ex = Path(args.data) / "faces" / "face_recognition" / "examples"
    work = Path(tempfile.mkdtemp(prefix="facecore-job-"))
    known, unknown = work / "known", work / "unknown"
    known.mkdir()
    unknown.mkdir()
    for name in ("obama", "biden"):
        shutil.copy(ex / f"{name}.jpg", known / f"{name}.jpg")
    expected: dict[str, set[str]] = {}
    for rel, people in UNKNOWN.items():
        for i in range(4):
            dst = unknown / f"{i}_{Path(rel).name}"
            shutil.copy(ex / rel, dst)
            expected[dst.name] = people

    env = {**os.environ, **SINGLE_THREAD_ENV, "FACECORE_STATS": "1"}
    fr_cli = Path(sys.executable).parent / "face_recognition"
    contenders = {
        "face_recognition": [str(fr_cli), str(known), str(unknown)] if fr_cli.exists() else None,
        "facecore fast": [args.facecore, "identify", "--preset", "fast", "--known", str(known), str(unknown), "--face-recognition-format"],
        "facecore default": [args.facecore, "identify", "--known", str(known), str(unknown), "--face-recognition-format"],
        "OpenCV YuNet+SFace": [sys.executable, __file__, "--opencv-job", str(known), str(unknown)],
    }
    try:
        import cv2  # noqa: F401
    except ImportError:
        contenders["OpenCV YuNet+SFace"] = None
    times: dict[str, list[float]] = {k: [] for k, v in contenders.items() if v}
    notes: dict[str, str] = {}
    for k, v in contenders.items():
        if not v:
            print(f"skipped {k}: not installed in {sys.executable}'s environment")
    order = [k for k in contenders if contenders[k]]
    for r in range(args.rounds):
        for k in order[r % len(order):] + order[: r % len(order)]:
            t = time.perf_counter()
            p = subprocess.run(contenders[k], capture_output=True, text=True, env=env)
            dt = time.perf_counter() - t
            if p.returncode != 0:
                print(f"{k} failed ({p.returncode}):\n{p.stderr[-2000:]}")
                return 1
            got = named(p.stdout)
            missed = {f: sorted(people - got.get(f, set())) for f, people in expected.items() if people - got.get(f, set())}
            if missed:
                print(f"{k}: known faces not named: {missed}")
                return 1
            times[k].append(dt)
            plans = [l for l in p.stderr.splitlines() if "optimised plans built" in l]
            if plans:
                notes[k] = plans[-1].replace("facecore: ", "")
    shutil.rmtree(work)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    isa = ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni") if f in flags)
    print(f"12-photo job (enrol 2, name every face in 12 photos), whole processes, median of {args.rounds}; {cpu} ({isa})")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, m in med.items():
        print(f"  {k:22} {m:7.2f} s  {notes.get(k, '')}")
    fr = med.get("face_recognition")
    cv = med.get("OpenCV YuNet+SFace")
    def ratio(peer: float, ours: float) -> str:
        return f"{peer / ours:.2f}x faster" if peer >= ours else f"{ours / peer:.2f}x slower"

    for k in ("facecore fast", "facecore default"):
        if fr:
            print(f"  {k} vs face_recognition: {ratio(fr, med[k])}")
        if cv:
            print(f"  {k} vs OpenCV: {ratio(cv, med[k])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
