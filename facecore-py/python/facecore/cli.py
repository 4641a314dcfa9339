"""The ``facecore`` console command (Python): detect, enroll, identify, verify.

Same commands, options and output lines (text or ``--json``) as the Rust ``facecore`` CLI for
these four; evaluation and benchmarks live in the Rust CLI only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import FacecoreError, Gallery, Pipeline, __version__, verify
from ._facecore import Detector

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _expand(inputs: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in _IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def _box(b: tuple[float, float, float, float]) -> str:
    return " ".join(f"{v:.0f}" for v in b)


def _detect(args: argparse.Namespace) -> int:
    det = Detector(score_threshold=args.score)
    for path in _expand(args.images):
        for f in det.detect(path):
            if args.json:
                print(json.dumps({"image": str(path), "box": list(f.bbox), "score": f.score,
                                  "landmarks": f.landmarks.tolist()}))
            else:
                print(f"{path}\t{_box(f.bbox)}\t{f.score:.3f}")
    return 0


def _enroll(args: argparse.Namespace) -> int:
    pipe = Pipeline(args.preset)
    try:
        gallery = Gallery.load(args.gallery)
    except FileNotFoundError:
        gallery = Gallery(space=pipe.space)
    added = 0
    for path in _expand(args.images):
        best = pipe.embed_best(path)
        if best is None or best.embedding is None:
            print(f"facecore: no face found in {path}", file=sys.stderr)
            continue
        gallery.enroll(args.name, best.embedding, space=pipe.space)
        added += 1
    if added == 0:
        print(f"facecore: no face enrolled for {args.name}", file=sys.stderr)
        return 1
    gallery.save(args.gallery)
    if args.json:
        print(json.dumps({"name": args.name, "enrolled": added, "people": len(gallery), "gallery": args.gallery}))
    else:
        print(f"enrolled {added} face(s) of {args.name}; {len(gallery)} people in {args.gallery}")
    return 0


def _identify(args: argparse.Namespace) -> int:
    pipe = Pipeline(args.preset)
    gallery = Gallery.load(args.gallery)
    threshold = pipe.threshold(operating_point=args.op)
    for path in _expand(args.inputs):
        for f in pipe.analyze(path):
            assert f.embedding is not None
            hits = gallery.search(f.embedding, k=1)
            best = hits[0] if hits else None
            known = best is not None and best.score >= threshold
            name = best.name if known and best is not None else "unknown"
            score = best.score if best is not None else 0.0
            if args.json:
                print(json.dumps({"image": str(path), "box": list(f.bbox), "name": name, "score": score,
                                  "threshold": threshold}))
            else:
                print(f"{path}\t{_box(f.bbox)}\t{name}\t{score:.3f}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    pipe = Pipeline(args.preset)
    embs = []
    for p in (args.image1, args.image2):
        best = pipe.embed_best(p)
        if best is None or best.embedding is None:
            print(f"facecore: no face found in {p}", file=sys.stderr)
            return 1
        embs.append(best.embedding)
    v = verify(embs[0], embs[1], space=pipe.space, operating_point=args.op)
    if args.json:
        print(json.dumps({"same_person": v.same_person, "similarity": v.similarity, "threshold": v.threshold,
                          "operating_point": args.op}))
    else:
        print(f"{'same' if v else 'different'}\tsimilarity={v.similarity:.4f}\tthreshold={v.threshold:.4f} ({args.op})")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facecore", description="Face detection and recognition (Python package)")
    p.add_argument("--version", action="version", version=f"facecore {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--preset", default="accurate", help="accurate (default), fast, dlib, sface")
        sp.add_argument("--json", action="store_true", help="print JSON lines")

    d = sub.add_parser("detect", help="detect faces: image, box x y w h, score")
    d.add_argument("images", nargs="*")
    d.add_argument("--json", action="store_true")
    d.add_argument("--score", type=float, default=0.6, help="minimum detector score")
    d.set_defaults(run=_detect)

    e = sub.add_parser("enroll", help="enrol NAME from the most confident face of each image")
    common(e)
    e.add_argument("--gallery", required=True)
    e.add_argument("name")
    e.add_argument("images", nargs="+")
    e.set_defaults(run=_enroll)

    i = sub.add_parser("identify", help="identify every face against a gallery")
    common(i)
    i.add_argument("--gallery", required=True)
    i.add_argument("--op", default="fmr1e-3", help="fmr1e-3 (default), fmr1e-4, best-accuracy")
    i.add_argument("inputs", nargs="+")
    i.set_defaults(run=_identify)

    v = sub.add_parser("verify", help="are the most confident faces of two images the same person?")
    common(v)
    v.add_argument("--op", default="fmr1e-3")
    v.add_argument("image1")
    v.add_argument("image2")
    v.set_defaults(run=_verify)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (FacecoreError, OSError) as e:
        print(f"facecore: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
