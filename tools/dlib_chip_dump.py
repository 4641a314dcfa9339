"""Dump dlib reference outputs (landmarks + face chips) for the facecore dlib_compat checks.

usage: DLIB_CHIPS_DIR=/tmp/chips python tools/dlib_chip_dump.py  (needs dlib, numpy, pillow)
then: DLIB_CHIPS_DIR=/tmp/chips cargo test -p facecore --test dlib_compat
Writes $DLIB_CHIPS_DIR/cases.json and $DLIB_CHIPS_DIR/*.png.
Images are loaded exactly like face_recognition.load_image_file (PIL convert('RGB'), no EXIF).
"""
import json, os, random
import numpy as np
import PIL.Image
import dlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("FACECORE_SHARED_DATA", os.path.join(HERE, "../../shared/data"))
ROOT = os.path.join(DATA, "faces")
GOLD = os.path.join(DATA, "golden/face_recognition_reference.json")
SP = os.path.join(HERE, "../models/shape_predictor_5_face_landmarks.dat")
OUT = os.environ.get("DLIB_CHIPS_DIR", "/tmp/facecore-dlib-chips")
os.makedirs(OUT, exist_ok=True)

sp = dlib.shape_predictor(SP)
gold = json.load(open(GOLD))
rng = random.Random(1234)
cases = []
for im in gold["images"]:
    path = os.path.join(ROOT, im["file"])
    img = np.array(PIL.Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    stem = os.path.splitext(im["file"].replace("/", "_"))[0]
    os.makedirs(os.path.join(OUT, "src"), exist_ok=True)
    # the exact pixels dlib saw (PIL's JPEG decoder may differ from other decoders)
    PIL.Image.fromarray(img).save(os.path.join(OUT, "src", stem + ".png"))
    for fi, face in enumerate(im["faces"]):
        l, t, r, b = face["box_ltrb"]
        boxes = [(l, t, r, b)]
        for _ in range(6):
            dx, dy = rng.randint(-15, 15), rng.randint(-15, 15)
            s = rng.uniform(0.6, 1.5)
            cx, cy = (l + r) / 2 + dx, (t + b) / 2 + dy
            hw, hh = (r - l) * s / 2, (b - t) * s / 2
            boxes.append((int(cx - hw), int(cy - hh), int(cx + hw), int(cy + hh)))
        # a few boxes partly/fully outside the image
        boxes.append((l - w // 2, t - h // 2, r - w // 2, b - h // 2))
        boxes.append((w - 30, h - 30, w + 200, h + 200))
        for bi, box in enumerate(boxes):
            shape = sp(img, dlib.rectangle(*box))
            pts = [[p.x, p.y] for p in shape.parts()]
            chip = dlib.get_face_chip(img, shape, size=150, padding=0.25)
            name = f"{stem}_f{fi}_b{bi}.png"
            PIL.Image.fromarray(chip).save(os.path.join(OUT, name))
            case = {"file": im["file"], "src_png": "src/" + stem + ".png", "box_ltrb": list(box), "landmarks5": pts, "chip": name,
                    "size": 150, "padding": 0.25}
            cases.append(case)
        # other chip sizes/paddings on the golden landmarks (exercises pyramid depth)
        shape = sp(img, dlib.rectangle(l, t, r, b))
        pts = [[p.x, p.y] for p in shape.parts()]
        for size, pad in [(40, 0.25), (80, 0.0), (224, 0.5), (300, 0.25), (17, 0.1)]:
            chip = dlib.get_face_chip(img, shape, size=size, padding=pad)
            name = f"{stem}_f{fi}_s{size}_p{pad}.png"
            PIL.Image.fromarray(chip).save(os.path.join(OUT, name))
            cases.append({"file": im["file"], "src_png": "src/" + stem + ".png", "box_ltrb": [l, t, r, b], "landmarks5": pts, "chip": name,
                          "size": size, "padding": pad})
json.dump({"cases": cases}, open(os.path.join(OUT, "cases.json"), "w"), indent=1)
print(len(cases), "cases written to", OUT)
