"""Identify people in a photo against a few enrolment photos.

    python examples/python/identify.py --enroll obama=tests/fixtures/obama.jpg \
        --enroll biden=tests/fixtures/biden.jpg tests/fixtures/two_people.jpg

Prints one line per face: box, name (or "unknown") and cosine similarity.
"""

from __future__ import annotations

import argparse
import sys

import facecore


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--enroll", action="append", default=[], metavar="NAME=IMAGE", help="a person's photo (repeatable)")
    ap.add_argument("--gallery", help="load/save the gallery here instead of enrolling each run")
    ap.add_argument("--preset", default="accurate", choices=facecore.PRESETS)
    ap.add_argument("--op", default="fmr1e-3", choices=facecore.OPERATING_POINTS, help="operating point")
    ap.add_argument("image", help="photo to search")
    args = ap.parse_args()

    pipe = facecore.Pipeline(args.preset)
    gallery = facecore.Gallery(space=pipe.space)
    if args.gallery:
        try:
            gallery = facecore.Gallery.load(args.gallery)
        except FileNotFoundError:
            pass
    for spec in args.enroll:
        name, _, path = spec.partition("=")
        best = pipe.embed_best(path)
        if best is None or best.embedding is None:
            print(f"no face in {path}", file=sys.stderr)
            continue
        gallery.enroll(name, best.embedding, space=pipe.space)
    if args.gallery and args.enroll:
        gallery.save(args.gallery)
    if len(gallery) == 0:
        print("the gallery is empty: use --enroll NAME=IMAGE", file=sys.stderr)
        return 1

    threshold = pipe.threshold(operating_point=args.op)
    for face in pipe.analyze(args.image):
        assert face.embedding is not None
        match = gallery.identify(face.embedding, threshold=threshold)
        hits = gallery.search(face.embedding, k=1)
        score = hits[0].score if hits else 0.0
        x, y, w, h = face.bbox
        print(f"{x:.0f} {y:.0f} {w:.0f} {h:.0f}\t{match.name if match else 'unknown'}\t{score:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
