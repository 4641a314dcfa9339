#!/usr/bin/env python3
"""face_recognition's own LFW accuracy on the same pairs and protocol as `facecore eval lfw`.

face_recognition pipeline: HOG detector (1x upsample), 5-point shape predictor, dlib chip,
dlib ResNet; the face nearest the image centre; score = -euclidean distance. For each fold
the threshold is chosen on the other folds (best accuracy), as facecore does.

usage: eval_face_recognition_lfw.py --root LFW_DIR --pairs pairs.txt
(needs `pip install dlib-bin face_recognition --no-deps` plus face-recognition-models, numpy, pillow)
"""
import argparse
import math
import time

import face_recognition
import numpy as np


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
    a = ap.parse_args()
    pairs = parse_pairs(a.pairs)
    files = sorted({p for x in pairs for p in x[:2]})
    enc = {}
    t0 = time.time()
    for i, f in enumerate(files):
        img = face_recognition.load_image_file(f"{a.root}/lfw-deepfunneled/{f}")
        locs = face_recognition.face_locations(img)
        if locs:
            h, w = img.shape[:2]
            loc = min(locs, key=lambda l: ((l[1] + l[3]) / 2 - w / 2) ** 2 + ((l[0] + l[2]) / 2 - h / 2) ** 2)
            enc[f] = face_recognition.face_encodings(img, [loc])[0]
        if i % 200 == 0:
            print(f"{i}/{len(files)} {time.time() - t0:.0f}s", flush=True)
    missing = len(files) - len(enc)
    scores = []
    for x, y, same, fold in pairs:
        s = -float(np.linalg.norm(enc[x] - enc[y])) if x in enc and y in enc else -10.0
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
    print(f"face_recognition: folds {[round(x * 100, 2) for x in accs]}, {missing} images without a face, {(time.time() - t0) * 1e3 / len(files):.0f} ms/image")
    print(f"lfw accuracy={mean * 100:.2f}% std={std * 100:.2f} pipeline=face_recognition pairs={len(pairs)} folds={folds}")


if __name__ == "__main__":
    main()
