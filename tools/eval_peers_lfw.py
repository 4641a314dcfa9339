#!/usr/bin/env python3
"""The peers' own LFW accuracy on the same pairs and protocol as `facecore eval lfw`.

--peer face_recognition (default): HOG detector (1x upsample), 5-point shape predictor, dlib
  chip, dlib ResNet; score = -euclidean distance.
--peer opencv: cv2.FaceDetectorYN (YuNet) + cv2.FaceRecognizerSF (SFace, alignCrop, no
  flip) on models/ (the files facecore ships); score = cosine.
Both take the face nearest the image centre. For each fold the threshold is chosen on the
other folds (best accuracy), as facecore does.

usage: eval_peers_lfw.py --root LFW_DIR --pairs pairs.txt [--peer opencv]
(the peers venv from scripts/install-peers.sh has everything)
"""
import argparse
import math
import time

from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parents[1] / "models"


def face_recognition_encoder():
    import face_recognition

    def encode(path):
        img = face_recognition.load_image_file(path)
        locs = face_recognition.face_locations(img)
        if not locs:
            return None
        h, w = img.shape[:2]
        loc = min(locs, key=lambda l: ((l[1] + l[3]) / 2 - w / 2) ** 2 + ((l[0] + l[2]) / 2 - h / 2) ** 2)
        return face_recognition.face_encodings(img, [loc])[0]

    return encode, lambda a, b: -float(np.linalg.norm(a - b))


def opencv_encoder():
    import cv2

    cv2.setNumThreads(1)
    det = cv2.FaceDetectorYN.create(str(MODELS / "yunet_2023mar.onnx"), "", (320, 320), 0.6, 0.3, 5000)
    rec = cv2.FaceRecognizerSF.create(str(MODELS / "sface_2021dec.onnx"), "")

    def encode(path):
        img = cv2.imread(path)
        h, w = img.shape[:2]
        det.setInputSize((w, h))
        _, faces = det.detect(img)
        if faces is None or len(faces) == 0:
            return None
        f = min(faces, key=lambda f: (f[0] + f[2] / 2 - w / 2) ** 2 + (f[1] + f[3] / 2 - h / 2) ** 2)
        v = rec.feature(rec.alignCrop(img, f)).ravel()
        return v / np.linalg.norm(v)

    return encode, lambda a, b: float(a @ b)


def parse_pairs(path):
    lines = [l.split() for l in open(path) if l.strip()]
    per = int(lines[0][1])
    out = []
    for i, f in enumerate(lines[1:]):
        fold = i // (2 * per)
        if len(f) == 3:
            out.append((f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg", f"{f[0]}/{f[0]}_{int(f[2]):04d}.jpg", True, fold))
        else:
            out.append((f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg", f"{f[2]}/{f[2]}_{int(f[3]):04d}.jpg", False, fold))
    return out


def best_threshold(scores):
    s = sorted(x[0] for x in scores)
    best = (-1, 0.0)
    for a, b in zip(s, s[1:]):
        t = (a + b) / 2
        acc = sum((x >= t) == y for x, y in scores) / len(scores)
        if acc > best[0]:
            best = (acc, t)
    return best[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--peer", choices=["face_recognition", "opencv"], default="face_recognition")
    a = ap.parse_args()
    encode, score = face_recognition_encoder() if a.peer == "face_recognition" else opencv_encoder()
    pairs = parse_pairs(a.pairs)
    files = sorted({p for x in pairs for p in x[:2]})
    enc = {}
    t0 = time.time()
    for i, f in enumerate(files):
        e = encode(f"{a.root}/lfw-deepfunneled/{f}")
        if e is not None:
            enc[f] = e
        if i % 200 == 0:
            print(f"{i}/{len(files)} {time.time() - t0:.0f}s", flush=True)
    missing = len(files) - len(enc)
    scores = []
    for x, y, same, fold in pairs:
        s = score(enc[x], enc[y]) if x in enc and y in enc else -10.0
        scores.append((s, same, fold))
    folds = max(s[2] for s in scores) + 1
    accs = []
    for k in range(folds):
        train = [(s, y) for s, y, f in scores if f != k]
        test = [(s, y) for s, y, f in scores if f == k]
        t = best_threshold(train)
        accs.append(sum((s >= t) == y for s, y in test) / len(test))
    mean = sum(accs) / len(accs)
    std = math.sqrt(sum((x - mean) ** 2 for x in accs) / len(accs))
    print(f"{a.peer}: folds {[round(x * 100, 2) for x in accs]}, {missing} images without a face, {(time.time() - t0) * 1e3 / len(files):.0f} ms/image")
    print(f"lfw accuracy={mean * 100:.2f}% std={std * 100:.2f} pipeline={a.peer} pairs={len(pairs)} folds={folds}")


if __name__ == "__main__":
    main()
