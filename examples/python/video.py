"""Track and name the people in a video, a camera, an image directory or raw frames on stdin.

    python examples/python/video.py --enroll lin=lin-manuel-miranda.png clip.mp4      # OpenCV, if installed
    python examples/python/video.py --enroll lin=lin-manuel-miranda.png 0             # camera 0 (OpenCV)
    python examples/python/video.py --enroll lin=lin-manuel-miranda.png frames/       # images in name order
    ffmpeg -i clip.mp4 -f rawvideo -pix_fmt nv12 - | \\
        python examples/python/video.py --enroll lin=lin.png --size 640x360 --pixel-format nv12 -

facecore.Stream follows each face across frames, embeds it only when worth it and prints one
line per event: a track started, was identified (or is unknown), changed name, ended.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import facecore

# Bytes per frame of each raw format (4:2:0 chroma and YUYV pairs round up).
FRAME_BYTES = {
    "rgb": lambda w, h: 3 * w * h, "bgr": lambda w, h: 3 * w * h, "rgba": lambda w, h: 4 * w * h,
    "bgra": lambda w, h: 4 * w * h, "gray": lambda w, h: w * h, "yuyv": lambda w, h: 4 * ((w + 1) // 2) * h,
    **{f: (lambda w, h: w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)) for f in ("nv12", "nv21", "i420")},
}


def frames(args: argparse.Namespace) -> Iterator[tuple[Any, float, dict[str, Any]]]:
    """(frame, seconds, keywords of Stream.push) from the source."""
    if args.source == "-":
        w, h = (int(v) for v in args.size.lower().split("x"))
        n = FRAME_BYTES[args.pixel_format](w, h)
        raw = dict(pixel_format=args.pixel_format, width=w, height=h, color_range=args.color_range)
        i = 0
        while len(buf := sys.stdin.buffer.read(n)) == n:
            yield buf, i / args.fps, raw
            i += 1
    elif Path(args.source).is_dir():
        for i, path in enumerate(sorted(p for p in Path(args.source).iterdir() if p.is_file())):
            yield path, i / args.fps, {}
    else:
        try:
            import cv2  # type: ignore[import-not-found, import-untyped, unused-ignore]
        except ImportError:
            sys.exit("videos and cameras are read with OpenCV (pip install opencv-python-headless); "
                     "or pass a directory of images, or raw frames on stdin (-)")
        cap = cv2.VideoCapture(int(args.source) if args.source.isdigit() else args.source)
        if not cap.isOpened():
            sys.exit(f"cannot open {args.source}")
        start = time.monotonic()
        while (got := cap.read())[0]:
            # Files carry their frame times; a camera's are taken as the frames arrive.
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000 if not args.source.isdigit() else time.monotonic() - start
            yield got[1], t, {"channel_order": "bgr"}


def show(e: facecore.StreamEvent) -> None:
    score = "-" if e.score is None else f"{e.score:.3f}"
    x, y, w, h = e.bbox
    extra = {"changed": f"  (was {e.previous_name})", "ended": f"  after {e.duration:.2f} s"}.get(e.kind, "")
    if e.liveness:
        extra += f"  {e.liveness} ({e.live:.3f})"
    print(f"{e.timestamp:8.3f} s  {e.kind:<10} track {e.track:<3} {e.name or '-':<20} score {score:>5}  "
          f"box {x:.0f} {y:.0f} {w:.0f} {h:.0f}{extra}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="video file, camera index, image directory, or - for raw frames on stdin")
    ap.add_argument("--enroll", action="append", default=[], metavar="NAME=IMAGE", help="a known person (repeat)")
    ap.add_argument("--preset", default="accurate", choices=facecore.PRESETS)
    ap.add_argument("--every", type=int, default=1, help="run the detector on every K-th frame")
    ap.add_argument("--liveness", action="store_true", help="also judge each track live or spoof")
    ap.add_argument("--fps", type=float, default=25.0, help="frame rate of a directory or of raw frames")
    ap.add_argument("--size", default="640x360", help="WxH of raw frames")
    ap.add_argument("--pixel-format", default="bgr", choices=sorted(FRAME_BYTES), help="layout of raw frames")
    ap.add_argument("--color-range", default="limited", choices=("limited", "full"), help="of raw YUV frames")
    args = ap.parse_args()

    pipe = facecore.Pipeline(args.preset, liveness=args.liveness)
    gallery = facecore.Gallery(space=pipe.space)
    for spec in args.enroll:
        name, _, path = spec.partition("=")
        pipe.enroll(gallery, name, path)
    stream = facecore.Stream(pipe, gallery, detect_every=args.every)

    started, failed = time.perf_counter(), 0
    for frame, t, kw in frames(args):
        try:
            for e in stream.push(frame, t, **kw):
                show(e)
        except facecore.FacecoreError as err:  # a bad frame is skipped; the stream goes on
            print(f"frame at {t:.3f} s: {err}", file=sys.stderr)
            failed += 1
    for e in stream.finish():
        show(e)
    s, elapsed = stream.stats, time.perf_counter() - started
    print(f"{s['frames']} frames in {elapsed:.1f} s ({s['frames'] / max(elapsed, 1e-9):.1f} frames/s), "
          f"{s['detections']} faces detected, {s['embeddings']} embedded, {s['tracks_started']} tracks", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
