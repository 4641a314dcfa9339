"""Recognise known people in a video (or a webcam) from OpenCV frames.

    pip install opencv-python-headless
    python examples/python/video.py --enroll alex=alex-lacamoire.png \
        --enroll lin=lin-manuel-miranda.png short_hamilton_clip.mp4 [--every 5]

OpenCV delivers BGR frames: they go straight to facecore with ``channel_order="bgr"``.
Prints, per analysed frame, the names found; ``--show`` opens a window with boxes.
"""

from __future__ import annotations

import argparse
import sys
import time

import facecore


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--enroll", action="append", default=[], metavar="NAME=IMAGE")
    ap.add_argument("--preset", default="accurate", choices=facecore.PRESETS)
    ap.add_argument("--every", type=int, default=1, help="analyse every Nth frame")
    ap.add_argument("--show", action="store_true", help="display annotated frames")
    ap.add_argument("source", help="video file, or a camera index such as 0")
    args = ap.parse_args()

    try:
        import cv2  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        print("video.py reads frames with OpenCV, which is not installed:\n"
              "    pip install opencv-python-headless\n"
              "(facecore itself does not need OpenCV: any (H, W, 3) uint8 array works.)", file=sys.stderr)
        return 2

    pipe = facecore.Pipeline(args.preset)
    gallery = facecore.Gallery(space=pipe.space)
    for spec in args.enroll:
        name, _, path = spec.partition("=")
        best = pipe.embed_best(path)
        if best is None or best.embedding is None:
            print(f"no face in {path}", file=sys.stderr)
            return 1
        gallery.enroll(name, best.embedding)
    threshold = pipe.threshold(operating_point="fmr1e-3") if len(gallery) else 1.0

    cap = cv2.VideoCapture(int(args.source) if args.source.isdigit() else args.source)
    if not cap.isOpened():
        print(f"cannot open {args.source}", file=sys.stderr)
        return 1
    index, analysed, started = 0, 0, time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        index += 1
        if (index - 1) % args.every:
            continue
        analysed += 1
        labels = []
        for face in pipe.analyze(frame, channel_order="bgr"):
            assert face.embedding is not None
            match = gallery.identify(face.embedding, threshold=threshold) if len(gallery) else None
            labels.append((face.bbox, match.name if match else "unknown"))
        print(f"frame {index}: {', '.join(name for _, name in labels) or '-'}")
        if args.show:
            for (x, y, w, h), name in labels:
                cv2.rectangle(frame, (int(x), int(y)), (int(x + w), int(y + h)), (0, 255, 0), 2)
                cv2.putText(frame, name, (int(x), int(y) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 0), 2)
            cv2.imshow("facecore", frame)
            if cv2.waitKey(1) & 0xFF == ord("q"):
                break
    elapsed = time.perf_counter() - started
    print(f"{analysed} frames analysed in {elapsed:.1f} s ({analysed / max(elapsed, 1e-9):.1f} fps)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
