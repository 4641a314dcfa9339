#!/usr/bin/env python3
"""facecore against its peers, in one run, interleaved, single thread: medians and ratios.

    scripts/install-peers.sh                  # once: a venv with the peers and this facecore
    target/peers-venv/bin/python scripts/bench-peers.py --image ../shared/data/faces/insightface/t1.jpg

Contenders (each skipped with a note when its package is missing):
  facecore          the installed wheel: presets fast / accurate / sface, and single networks
  onnxruntime       the same ONNX files facecore ships (models/), one network run per call
  OpenCV            cv2.FaceDetectorYN + cv2.FaceRecognizerSF on the same ONNX files
  face_recognition  dlib's HOG detector (upsample 1), 5-point predictor and ResNet

With --lfw DIR (an LFW-layout folder with pairs.txt, e.g. ../shared/data/lfw-dev) it also
compares the embedding cost per face over a verification run: `facecore eval lfw` (the CLI
given by --facecore-cli, one thread) times every cascade stage on every face and prints the
mean cost per face with the cascade at each operating point; OpenCV's FaceRecognizerSF
(alignCrop + feature on YuNet's face nearest the centre, as the evaluation picks it) is timed
on the same images before and after it, and the two OpenCV passes are averaged.

Every round times one call of every contender, in a rotating order, so that machine load
spreads over all of them alike; the table shows medians over the rounds. Every library runs
on one thread (ORT intra/inter-op 1, cv2.setNumThreads(1), OMP_NUM_THREADS=1; facecore's
default). The process runs with glibc's mmap/trim thresholds raised (GLIBC_TUNABLES, set by
re-executing itself), which steadies tract and costs the others nothing; --malloc-defaults
turns it off. After the timed rounds each whole-job contender runs alone in a child process
to report its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def reexec_if_needed(args: argparse.Namespace) -> None:
    want = dict(SINGLE_THREAD_ENV)
    if not args.malloc_defaults:
        want["GLIBC_TUNABLES"] = TUNABLES
    if all(os.environ.get(k) == v for k, v in want.items()):
        return
    env = {**os.environ, **want}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def load_rgb(path: str, resize: int | None) -> Any:
    import numpy as np
    from PIL import Image

    im = Image.open(path).convert("RGB")
    if resize:
        s = resize / max(im.size)
        im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(im))


class Contender:
    def __init__(self, group: str, name: str, fn: Callable[[], Any], note: str = "") -> None:
        self.group, self.name, self.fn, self.note = group, name, fn, note
        self.times: list[float] = []

    def median(self) -> float:
        return statistics.median(self.times) * 1000 if self.times else float("nan")


def ort_session(path: Path, shape: tuple[int, ...]) -> Callable[[], Any]:
    """One onnxruntime run of a model file on a fixed random input, one thread."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "tools"))
    from verify_rewrite import session  # the session setup the rewrite checks use

    sess = session(str(path), shape)
    name = sess.get_inputs()[0].name
    x = (np.random.default_rng(0).random(shape, dtype=np.float32) * 255).astype(np.float32)
    return lambda: sess.run(None, {name: x})


def pipeline_job(pipe: Any, rgb: Any) -> Callable[[], list[Any]]:
    return lambda: pipe.analyze(rgb)


def build(args: argparse.Namespace, only: str | None = None) -> tuple[list[Contender], dict[str, Any]]:
    """The contenders; with `only`, just that whole-job contender (for its own peak RSS)."""
    import numpy as np

    rgb = load_rgb(args.image, args.resize)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    h, w = rgb.shape[:2]
    in_h, in_w = -(-h // 32) * 32, -(-w // 32) * 32
    info: dict[str, Any] = {"image": args.image, "size": f"{w}x{h}", "versions": {}, "faces": {}, "skipped": []}
    cs: list[Contender] = []

    def whole(name: str, make: Callable[[], Callable[[], list[Any]]]) -> None:
        if only is not None and name != only:
            return
        fn = make()
        info["faces"][name] = len(fn())
        cs.append(Contender("whole", name, fn))

    import facecore

    info["versions"]["facecore"] = facecore.__version__
    # facecore at its defaults (every face), and with the minimum face size that
    # face_recognition's HOG detector has at upsample=1 (about 40 px: an 80 px window on the
    # twice-upsampled image), which lets the detector run on a smaller input.
    variants = [("fast", 0.0), ("fast", args.hog_min_face), ("accurate", 0.0), ("accurate", args.hog_min_face), ("sface", 0.0)]
    for preset, mf in variants:
        label = f"facecore {preset}" + (f", min face {mf:g} px" if mf else "")
        whole(label, lambda preset=preset, mf=mf: pipeline_job(facecore.Pipeline(preset, min_face_size=mf), rgb))

    try:
        import cv2

        cv2.setNumThreads(1)
        info["versions"]["opencv"] = cv2.__version__

        def make_cv() -> Callable[[], list[Any]]:
            yn = cv2.FaceDetectorYN.create(str(MODELS / "yunet_2023mar.onnx"), "", (w, h), 0.6, 0.3, 5000)
            sf = cv2.FaceRecognizerSF.create(args.opencv_sface or str(MODELS / "sface_2021dec.onnx"), "")

            def run() -> list[Any]:
                _, found = yn.detect(bgr)
                return [sf.feature(sf.alignCrop(bgr, f)) for f in ([] if found is None else found)]

            return run

        whole("OpenCV YuNet+SFace", make_cv)
    except ImportError as e:
        info["skipped"].append(f"OpenCV: {e}")

    try:
        import dlib
        import face_recognition as fr

        info["versions"]["face_recognition"] = getattr(fr, "__version__", "?")
        info["versions"]["dlib"] = dlib.__version__
        whole("face_recognition", lambda: (lambda: fr.face_encodings(rgb)))
    except ImportError as e:
        info["skipped"].append(f"face_recognition: {e}")

    if only is not None:
        return cs, info

    # Single networks on the same input, each engine at its own API's lowest level.
    det = facecore.Detector(input_size=max(w, h))
    info["faces"]["facecore detector"] = len(det.detect(rgb))
    # The cost of a dense network does not depend on the pixel values: every engine gets
    # the same grey chip.
    sface, dres = facecore.Embedder("sface-2021dec"), facecore.Embedder("dlib-resnet-v1")
    chip112 = np.full((112, 112, 3), 128, np.uint8)
    chip150 = np.full((150, 150, 3), 128, np.uint8)
    cs.append(Contender("yunet", "facecore (tract)", lambda: det.detect(rgb), "incl. resize/decode/NMS"))
    cs.append(Contender("sface", "facecore (tract)", lambda: sface.embed_chip(chip112)))
    cs.append(Contender("dlib", "facecore (tract)", lambda: dres.embed_chip(chip150)))
    try:
        import onnxruntime as ort

        info["versions"]["onnxruntime"] = ort.__version__
        cs.append(Contender("yunet", "onnxruntime", ort_session(MODELS / "yunet_2023mar.onnx", (1, 3, in_h, in_w)), "network only"))
        cs.append(Contender("sface", "onnxruntime", ort_session(MODELS / "sface_2021dec.onnx", (1, 3, 112, 112))))
        cs.append(Contender("dlib", "onnxruntime", ort_session(MODELS / "dlib_resnet_v1.onnx", (1, 3, 150, 150))))
    except ImportError as e:
        info["skipped"].append(f"onnxruntime: {e}")
    try:
        import cv2

        yn = cv2.FaceDetectorYN.create(str(MODELS / "yunet_2023mar.onnx"), "", (w, h), 0.6, 0.3, 5000)
        sf = cv2.FaceRecognizerSF.create(args.opencv_sface or str(MODELS / "sface_2021dec.onnx"), "")
        bgr112 = np.ascontiguousarray(chip112[:, :, ::-1])
        cs.append(Contender("yunet", "OpenCV FaceDetectorYN", lambda: yn.detect(bgr), "incl. resize/decode/NMS"))
        cs.append(Contender("sface", "OpenCV FaceRecognizerSF", lambda: sf.feature(bgr112)))
    except ImportError:
        pass
    try:
        import face_recognition as fr

        enc = fr.api.face_encoder
        cs.append(Contender("dlib", "dlib (C++)", lambda: enc.compute_face_descriptor(chip150)))
        cs.append(Contender("yunet", "face_recognition HOG", lambda: fr.face_locations(rgb), "another detector"))
    except ImportError:
        pass
    return cs, info


def run_rounds(cs: list[Contender], rounds: int, warmup: int = 2) -> None:
    for c in cs:
        for _ in range(warmup):
            c.fn()
    for r in range(rounds):
        k = r % len(cs)
        for c in cs[k:] + cs[:k]:
            t = time.perf_counter()
            c.fn()
            c.times.append(time.perf_counter() - t)


GROUPS = {
    "whole": "Whole job: detect, align, embed every face",
    "yunet": "YuNet detector on the frame",
    "sface": "SFace network, one 112x112 chip",
    "dlib": "dlib ResNet network, one 150x150 chip",
}


def cpu_line() -> str:
    """The CPU model and the instruction sets the engines pick kernels by (from /proc/cpuinfo)."""
    try:
        lines = open("/proc/cpuinfo").read().splitlines()
    except OSError:
        return "CPU unknown"
    cpu = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("model name")), "unknown CPU")
    flags = next((l.split(":", 1)[1].split() for l in lines if l.startswith("flags")), [])
    isa = ", ".join(f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags)
    return f"CPU: {cpu}, {os.cpu_count()} logical CPUs ({isa or 'no AVX2'})"


def report(cs: list[Contender], info: dict[str, Any], rss: dict[str, float]) -> None:
    print(f"image {info['image']} at {info['size']}; one thread; medians of interleaved rounds")
    print(cpu_line())
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    for s in info["skipped"]:
        print(f"skipped {s}")
    for g, title in GROUPS.items():
        rows = [c for c in cs if c.group == g]
        if not rows:
            continue
        ref = rows[0]
        print(f"\n{title}")
        if g == "whole":
            fr = next((c for c in rows if c.name == "face_recognition"), None)
            cv = next((c for c in rows if c.name == "OpenCV YuNet+SFace"), None)
            print("| contender | faces | median ms | speed-up vs face_recognition | vs OpenCV YuNet+SFace | peak RSS MiB |")
            print("|---|---:|---:|---:|---:|---:|")
            for c in rows:
                r_fr = f"{fr.median() / c.median():.1f}x" if fr else "n/a"
                r_cv = f"{cv.median() / c.median():.2f}x" if cv else "n/a"
                mem = f"{rss[c.name]:.0f}" if c.name in rss else "n/a"
                print(f"| {c.name} | {info['faces'].get(c.name, '?')} | {c.median():.1f} | {r_fr} | {r_cv} | {mem} |")
        else:
            print(f"| engine | median ms | {ref.name} / this | note |")
            print("|---|---:|---:|---|")
            for c in rows:
                print(f"| {c.name} | {c.median():.2f} | {ref.median() / c.median():.2f} | {c.note} |")


def lfw_images(root: Path, limit: int) -> list[Path]:
    """The images of the first `limit` pairs of each fold half, as `facecore eval lfw --limit`."""
    lines = (root / "pairs.txt").read_text().split("\n")
    per = int(lines[0].split()[1])
    seen: dict[tuple[int, bool], int] = {}
    out: set[Path] = set()
    body = [l.split() for l in lines[1:] if l.strip()]
    for i, f in enumerate(body):
        fold, same = i // (2 * per), len(f) == 3
        seen[(fold, same)] = seen.get((fold, same), 0) + 1
        if seen[(fold, same)] > limit:
            continue
        names = [(f[0], f[1]), (f[0], f[2])] if same else [(f[0], f[1]), (f[2], f[3])]
        out.update(root / "lfw-deepfunneled" / n / f"{n}_{int(k):04d}.jpg" for n, k in names)
    return sorted(out)


def opencv_sface_per_face(images: list[Path], sface: str) -> tuple[float, int]:
    """Mean ms of alignCrop + feature per face (YuNet's detection nearest the centre, untimed)."""
    import cv2

    cv2.setNumThreads(1)
    yn = cv2.FaceDetectorYN.create(str(MODELS / "yunet_2023mar.onnx"), "", (320, 320), 0.3, 0.3, 5000)
    sf = cv2.FaceRecognizerSF.create(sface, "")
    total, n = 0.0, 0
    for p in images:
        img = cv2.imread(str(p))
        h, w = img.shape[:2]
        yn.setInputSize((w, h))
        _, found = yn.detect(img)
        if found is None or len(found) == 0:
            continue
        f = min(found, key=lambda r: (r[0] + r[2] / 2 - w / 2) ** 2 + (r[1] + r[3] / 2 - h / 2) ** 2)
        t = time.perf_counter()
        sf.feature(sf.alignCrop(img, f))
        total += time.perf_counter() - t
        n += 1
    return total * 1e3 / max(n, 1), n


def lfw_cost(args: argparse.Namespace) -> None:
    """Embedding cost per face over the lfw verification run: facecore's cascade against OpenCV."""
    import re

    root = Path(args.lfw)
    images = lfw_images(root, args.lfw_limit)
    sface = args.opencv_sface or str(MODELS / "sface_2021dec.onnx")
    before, faces_cv = opencv_sface_per_face(images, sface)
    cmd = [args.facecore_cli, "eval", "lfw", "--root", str(root), "--pairs", str(root / "pairs.txt"), "--preset", "accurate",
           "--limit", str(args.lfw_limit), "--threads", "1"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    after, _ = opencv_sface_per_face(images, sface)
    cv_ms = (before + after) / 2
    stages = re.search(r"cascade: per face, first stage .*? ([\d.]+) ms, second .*? ([\d.]+) ms, the rest .*? ([\d.]+) ms, full fusion ([\d.]+) ms", out)
    print(f"\n**Embedding cost per face over the verification run** ({root}, {len(images)} images of the first "
          f"{args.lfw_limit} pairs of each fold half; one thread; `{' '.join(cmd[1:])}`)\n")
    if stages:
        print(f"facecore stages, mean per face: dlib ResNet {stages[1]} ms, SFace {stages[2]} ms, mirrored chips {stages[3]} ms, "
              f"full fusion {stages[4]} ms; OpenCV FaceRecognizerSF {before:.2f} ms before and {after:.2f} ms after\n")
    print("| contender | operating point | faces needing SFace | needing the mirrored chips | mean ms per face | this / OpenCV |")
    print("|---|---|---:|---:|---:|---:|")
    for op in ("fmr1e-3", "fmr1e-4", "best-accuracy"):
        m = re.search(rf"cascade {re.escape(op)}\s+faces needing the second network \(SFace\): ([\d.]+)% .*?the mirrored chips: ([\d.]+)% .*?mean embedding cost per face ([\d.]+) ms", out)
        if m:
            print(f"| facecore accurate, cascade | {op} | {m[1]}% | {m[2]}% | {m[3]} | {float(m[3]) / cv_ms:.2f} |")
    if stages:
        print(f"| facecore accurate, full fusion | | 100% | 100% | {stages[4]} | {float(stages[4]) / cv_ms:.2f} |")
    print(f"| OpenCV FaceRecognizerSF (alignCrop + feature) | | | | {cv_ms:.2f} ({faces_cv} faces) | 1.00 |")
    acc = re.search(r"lfw accuracy=([\d.]+)% std=([\d.]+) tar@fmr1e-3=([\d.]+)%", out)
    if acc:
        print(f"\nfacecore accurate on these pairs: accuracy {acc[1]}% ± {acc[2]}, TAR at FMR 1e-3 {acc[3]}% (full fusion; "
              "the cascade's own decisions are in the eval output)")
    for line in out.splitlines():
        if line.startswith("cascade fmr1e-3") and "accuracy" in line:
            print(line)


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM belongs to the address space, which exec replaces;
    ru_maxrss would carry over the parent's peak through fork + exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_of(name: str, args: argparse.Namespace) -> float | None:
    cmd = [sys.executable, __file__, "--image", args.image, "--rounds", "3", "--only", name, "--hog-min-face", str(args.hog_min_face)]
    if args.resize:
        cmd += ["--resize", str(args.resize)]
    if args.malloc_defaults:
        cmd.append("--malloc-defaults")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("peak_rss_mib "):
            return float(line.split()[1])
    sys.stderr.write(f"peak RSS of {name} failed: {out.stderr[-400:]}\n")
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default=str(ROOT / "tests" / "fixtures" / "two_people.jpg"))
    ap.add_argument("--resize", type=int, default=640, help="longest side first (0 = as is)")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--hog-min-face", type=float, default=40.0, help="minimum face size of the extra facecore rows (px)")
    ap.add_argument("--opencv-sface", help="another SFace file for OpenCV (default: models/sface_2021dec.onnx)")
    ap.add_argument("--malloc-defaults", action="store_true", help="keep glibc's malloc thresholds")
    ap.add_argument("--json", help="also write the medians here")
    ap.add_argument("--lfw", help="also compare the embedding cost per face over this LFW-layout folder's verification run")
    ap.add_argument("--lfw-limit", type=int, default=50, help="pairs per fold half for --lfw (as eval lfw --limit)")
    ap.add_argument("--facecore-cli", default=str(ROOT / "target" / "debug" / "facecore"), help="the facecore CLI for --lfw")
    ap.add_argument("--only", help=argparse.SUPPRESS)
    args = ap.parse_args()
    reexec_if_needed(args)

    if args.only:
        cs, _ = build(args, only=args.only)
        run_rounds(cs, args.rounds, warmup=1)
        print(f"peak_rss_mib {peak_rss_mib():.1f}")
        return 0

    cs, info = build(args)
    run_rounds(cs, args.rounds)
    rss = {}
    for c in cs:
        if c.group == "whole":
            v = peak_rss_of(c.name, args)
            if v is not None:
                rss[c.name] = v
    report(cs, info, rss)
    if args.lfw:
        lfw_cost(args)
    if args.json:
        data = {"info": info, "peak_rss_mib": rss, "median_ms": {f"{c.group}/{c.name}": c.median() for c in cs}}
        Path(args.json).write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
