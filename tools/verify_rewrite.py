#!/usr/bin/env python3
"""Checks that a rewritten model computes what the reference model computes, on real faces.

    python tools/verify_rewrite.py sface REF.onnx NEW.onnx [IMAGE_OR_DIR ...]
    python tools/verify_rewrite.py yunet REF.onnx NEW.onnx [IMAGE_OR_DIR ...]

Both models run in onnxruntime (one thread) on the same inputs:
  sface  112x112 chips of every face YuNet (OpenCV's FaceDetectorYN) finds, aligned with
         OpenCV's FaceRecognizerSF.alignCrop, as float BGR NCHW (what facecore feeds).
  yunet  every image, resized so its longest side is 640 and padded to multiples of 32;
         NEW may have fewer outputs (merged heads) and a --map of how to rebuild REF's.
Default images: tests/fixtures. Prints the worst absolute difference (and, for SFace, the
lowest cosine between the two embeddings) and exits non-zero above --tol.
Needs numpy, onnx, onnxruntime and opencv-python-headless (scripts/install-peers.sh).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def images(args: list[str]) -> list[Path]:
    paths = [Path(a) for a in args] or [ROOT / "tests" / "fixtures"]
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(x for x in p.rglob("*") if x.suffix.lower() in (".jpg", ".jpeg", ".png"))
        else:
            out.append(p)
    return out


def session(path: str, shape: tuple[int, ...] | None = None) -> Any:
    """An onnxruntime session on one thread, the input pinned to `shape` when given (YuNet's
    file declares 640x640) and stale intermediate shapes dropped. Shared with
    scripts/bench-peers.py."""
    import onnx
    import onnxruntime as ort

    m = onnx.load(path)
    if shape is not None:
        for d, v in zip(m.graph.input[0].type.tensor_type.shape.dim, shape):
            d.ClearField("dim_param")
            d.dim_value = v
        del m.graph.value_info[:]
        for o in m.graph.output:
            o.type.tensor_type.ClearField("shape")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


def sface_inputs(files: list[Path], limit: int) -> list[np.ndarray]:
    import cv2

    det = cv2.FaceDetectorYN.create(str(ROOT / "models" / "yunet_2023mar.onnx"), "", (320, 320), 0.6, 0.3, 5000)
    rec = cv2.FaceRecognizerSF.create(str(ROOT / "models" / "sface_2021dec.onnx"), "")
    chips = []
    for f in files:
        img = cv2.imread(str(f))
        if img is None:
            continue
        det.setInputSize((img.shape[1], img.shape[0]))
        _, faces = det.detect(img)
        for face in [] if faces is None else faces:
            chip = rec.alignCrop(img, face)
            chips.append(chip.transpose(2, 0, 1)[None].astype(np.float32))
            if len(chips) >= limit:
                return chips
    return chips


def yunet_inputs(files: list[Path], limit: int) -> list[np.ndarray]:
    import cv2

    out = []
    for f in files[:limit]:
        img = cv2.imread(str(f))
        if img is None:
            continue
        s = 640 / max(img.shape[:2])
        w, h = round(img.shape[1] * s), round(img.shape[0] * s)
        r = cv2.resize(img, (w, h))
        pad = np.zeros((-(-h // 32) * 32, -(-w // 32) * 32, 3), np.uint8)
        pad[:h, :w] = r
        out.append(pad.transpose(2, 0, 1)[None].astype(np.float32))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["sface", "yunet"])
    ap.add_argument("ref")
    ap.add_argument("new")
    ap.add_argument("images", nargs="*")
    ap.add_argument("--limit", type=int, default=200, help="at most this many inputs")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest allowed absolute difference")
    a = ap.parse_args()

    files = images(a.images)
    xs = sface_inputs(files, a.limit) if a.kind == "sface" else yunet_inputs(files, a.limit)
    if not xs:
        sys.exit("no inputs (no faces found?)")
    worst, worst_rel, min_cos = 0.0, 0.0, 1.0
    cache: dict[tuple[int, ...], tuple[Any, Any]] = {}
    for x in xs:
        if x.shape not in cache:
            cache[x.shape] = (session(a.ref, x.shape), session(a.new, x.shape))
        ref, new = cache[x.shape]
        ro = ref.run(None, {ref.get_inputs()[0].name: x})
        no = new.run(None, {new.get_inputs()[0].name: x})
        if len(ro) != len(no):
            sys.exit(f"output count differs: {len(ro)} vs {len(no)}")
        for r, n in zip(ro, no):
            d = float(np.abs(r - n).max())
            worst = max(worst, d)
            worst_rel = max(worst_rel, d / max(float(np.abs(r).max()), 1e-12))
        if a.kind == "sface":
            r, n = ro[0].ravel(), no[0].ravel()
            min_cos = min(min_cos, float(r @ n / (np.linalg.norm(r) * np.linalg.norm(n))))
    msg = f"{a.kind}: {len(xs)} real inputs from {len(files)} images; max |ref - new| = {worst:.3g} (relative to the output range {worst_rel:.3g})"
    if a.kind == "sface":
        msg += f"; lowest cosine(ref, new) = {min_cos:.9f}"
    print(msg)
    if worst > a.tol:
        print(f"FAIL: above --tol {a.tol}")
        return 1
    print("OK: equal within float rounding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
