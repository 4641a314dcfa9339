#!/usr/bin/env python3
"""Check models/dlib_resnet_v1.onnx against dlib itself.

1. Real face chips: for each example image, detect faces with
   dlib.get_frontal_face_detector() (1 upsample), fit shape_predictor_5_face_landmarks,
   cut the chip with dlib.get_face_chip(img, shape, size=150, padding=0.25), and compare
   dlib's face_recognition_model_v1.compute_face_descriptor(chip) with the ONNX output
   (onnxruntime).  Also a few synthetic chips (constant and random noise).
2. The golden descriptors in face_recognition_reference.json (pipeline:
   detector(img,1) -> shape_predictor_5 -> compute_face_descriptor(img, shape)); the
   JSON rounds values to 7 decimals.

Exits 1 if any max abs difference exceeds --tol (default 1e-5).

Needs: dlib (pip dlib-bin 20.0.1), onnxruntime, numpy.
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
EXAMPLES = ["obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg"]


def find_models_dir(cli):
    cands = []
    if cli:
        cands.append(cli)
    cache = os.environ.get("FACECORE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "facecore")
    cands.append(os.path.join(cache, "face_recognition_models-0.3.0", "face_recognition_models", "models"))
    try:
        import face_recognition_models  # noqa: F401

        cands.append(os.path.join(os.path.dirname(face_recognition_models.__file__), "models"))
    except ImportError:
        pass
    for c in cands:
        if os.path.isfile(os.path.join(c, "dlib_face_recognition_resnet_model_v1.dat")):
            return c
    sys.exit("cannot find dlib_face_recognition_resnet_model_v1.dat; run tools/build_dlib_resnet.sh "
             "or pass --models-dir (tried: " + ", ".join(cands) + ")")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", default=os.path.join(REPO, "models", "dlib_resnet_v1.onnx"))
    ap.add_argument("--models-dir", help="dir holding the face_recognition_models .dat files")
    ap.add_argument("--data", default=os.environ.get("FACECORE_DATA", "/work/shared/data"),
                    help="dir holding faces/face_recognition/examples and golden/")
    ap.add_argument("--tol", type=float, default=1e-5)
    a = ap.parse_args()

    import dlib
    import onnxruntime as ort

    mdir = find_models_dir(a.models_dir)
    rec = dlib.face_recognition_model_v1(os.path.join(mdir, "dlib_face_recognition_resnet_model_v1.dat"))
    sp = dlib.shape_predictor(os.path.join(mdir, "shape_predictor_5_face_landmarks.dat"))
    det = dlib.get_frontal_face_detector()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])

    def to_input(chip):
        return np.ascontiguousarray(chip.transpose(2, 0, 1)[None].astype(np.float32))

    def run_onnx(chip):
        return sess.run(["embedding"], {"input": to_input(chip)})[0][0].astype(np.float64)

    # Optional: the same check through tract (pip package `tract`, the Python
    # bindings of the tract version facecore links), if installed.
    try:
        import tract
        tract_model = tract.onnx().load(a.onnx).into_model().into_runnable()
        from importlib.metadata import version as _v
        print(f"tract python bindings {_v('tract')} found: also checking tract")
    except ImportError:
        tract_model = None
    tract_worst = 0.0

    def faces(path):
        img = dlib.load_rgb_image(path)
        out = []
        for r in det(img, 1):
            shape = sp(img, r)
            chip = dlib.get_face_chip(img, shape, size=150, padding=0.25)
            out.append((r, img, shape, chip))
        return out

    worst = 0.0
    failed = False
    print(f"onnx: {a.onnx}\ndlib {dlib.__version__}, models: {mdir}")

    # 1. real chips, dlib vs ONNX
    ex_dir = os.path.join(a.data, "faces", "face_recognition", "examples")
    n = 0
    for fn in EXAMPLES:
        for k, (r, img, shape, chip) in enumerate(faces(os.path.join(ex_dir, fn))):
            ref = np.array(rec.compute_face_descriptor(chip))
            got = run_onnx(chip)
            d = float(np.abs(ref - got).max())
            worst = max(worst, d)
            n += 1
            if tract_model is not None:
                tgot = tract_model.run([to_input(chip)])[0].to_numpy()[0].astype(np.float64)
                tract_worst = max(tract_worst, float(np.abs(ref - tgot).max()))
            print(f"  {fn}#{k} box=({r.left()},{r.top()},{r.right()},{r.bottom()}) "
                  f"|dlib|={np.linalg.norm(ref):.4f} max|diff|={d:.3g}")
    if n < 5:
        print(f"FAIL: expected >= 5 faces in {EXAMPLES}, found {n}")
        failed = True
    # synthetic chips (exercise the full 0..255 range)
    rng = np.random.default_rng(0)
    synth = {"zeros": np.zeros((150, 150, 3), np.uint8),
             "255": np.full((150, 150, 3), 255, np.uint8),
             "noise": rng.integers(0, 256, (150, 150, 3), dtype=np.uint8)}
    for name, chip in synth.items():
        d = float(np.abs(np.array(rec.compute_face_descriptor(chip)) - run_onnx(chip)).max())
        worst = max(worst, d)
        print(f"  synthetic {name}: max|diff|={d:.3g}")
    print(f"dlib vs ONNX on {n} real + {len(synth)} synthetic chips: max abs diff = {worst:.3g} "
          f"(tol {a.tol:g})")
    if worst > a.tol:
        failed = True
    if tract_model is not None:
        print(f"dlib vs tract on {n} real chips: max abs diff = {tract_worst:.3g}")
        if tract_worst > a.tol:
            failed = True

    # 2. golden reference descriptors
    gpath = os.path.join(a.data, "golden", "face_recognition_reference.json")
    if os.path.isfile(gpath):
        gold = json.load(open(gpath))
        gworst, gn = 0.0, 0
        for im in gold["images"]:
            path = os.path.join(a.data, "faces", im["file"])
            if not os.path.isfile(path):
                print(f"  golden: skip missing {im['file']}")
                continue
            found = faces(path)
            for gf in im["faces"]:
                box = gf["box_ltrb"]
                match = [f for f in found
                         if [f[0].left(), f[0].top(), f[0].right(), f[0].bottom()] == box]
                if len(match) != 1:
                    print(f"  golden: FAIL no detection matches {im['file']} {box}")
                    failed = True
                    continue
                got = run_onnx(match[0][3])
                d = float(np.abs(np.array(gf["descriptor"]) - got).max())
                gworst = max(gworst, d)
                gn += 1
        print(f"golden JSON vs ONNX on {gn} faces: max abs diff = {gworst:.3g} "
              f"(JSON has 7 decimals; tol {a.tol:g})")
        if gworst > a.tol or gn == 0:
            failed = True
    else:
        print(f"golden: {gpath} not found, skipped")

    print("FAIL" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
