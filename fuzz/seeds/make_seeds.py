"""Writes the committed seed corpus, fuzz/corpus/<target>/ (run once; the output is committed).

    target/peers-venv/bin/python fuzz/seeds/make_seeds.py

Needs Pillow (image crops), the C library built by scripts/build-capi.sh
(target/capi/debug/lib/libfacecore.so: galleries are written by facecore itself, through
facecore_gallery_enroll and facecore_gallery_save_to_memory) and the CLI binary
(target/debug/facecore: one real gallery from `facecore enroll`). Everything comes from files
already in the repository: tests/fixtures photos, the bundled YuNet, dlib's 5-point predictor
(CC0) and the tiny ONNX graphs of make_onnx.py.
"""
import ctypes
import hashlib
import io
import os
import shutil
import struct
import subprocess
import tempfile

from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- image_detect
def images():
    face = Image.open(os.path.join(ROOT, "tests/fixtures/obama_small.jpg")).convert("RGB")
    w, h = face.size
    crop = face.crop((w // 5, h // 8, 4 * w // 5, 7 * h // 8))
    two = Image.open(os.path.join(ROOT, "tests/fixtures/two_people.jpg")).convert("RGB")
    cam = Image.open(os.path.join(ROOT, "tests/fixtures/camera.png"))

    def enc(img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return b.getvalue()

    seeds = {
        "face24.jpg": enc(crop.resize((24, 24)), "JPEG", quality=60),
        "face48.png": enc(crop.resize((48, 48)).quantize(32), "PNG", optimize=True),
        "face64q30.jpg": enc(crop.resize((64, 64)), "JPEG", quality=30),
        "face40_progressive.jpg": enc(crop.resize((40, 40)), "JPEG", quality=50, progressive=True),
        "face32_grey.jpg": enc(crop.resize((32, 32)).convert("L"), "JPEG", quality=50),
        "face20_rgba.png": enc(crop.resize((20, 20)).convert("RGBA"), "PNG"),
        "face16_la.png": enc(crop.resize((16, 16)).convert("LA"), "PNG"),
        "camera12_grey.png": enc(cam.convert("L").resize((12, 12)), "PNG"),
        "camera8_16bit.png": enc(cam.convert("I;16").resize((8, 8)), "PNG"),
        "two_people96x64.jpg": enc(two.resize((96, 64)), "JPEG", quality=40),
        "one_pixel.png": enc(Image.new("RGB", (1, 1), (200, 150, 100)), "PNG"),
    }
    # EXIF orientation 6 (rotate 90): facecore applies it.
    exif = Image.Exif()
    exif[0x0112] = 6
    seeds["face24x16_exif6.jpg"] = enc(crop.resize((24, 16)), "JPEG", quality=50, exif=exif.tobytes())
    # Interlaced PNG (Adam7) is written by hand: Pillow cannot write it. Skipped; the fuzzer
    # mutates the interlace byte of the IHDR of the PNGs above.
    for name, data in seeds.items():
        out("image_detect", name, data)


# ---------------------------------------------------------------- gallery_parse
def galleries():
    lib = ctypes.CDLL(os.path.join(ROOT, "target/capi/debug/lib/libfacecore.so"))
    P = ctypes.c_void_p
    lib.facecore_gallery_new.argtypes = [ctypes.POINTER(P)]
    lib.facecore_gallery_enroll.argtypes = [P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_void_p]
    lib.facecore_gallery_set_metadata.argtypes = [P, ctypes.c_char_p, ctypes.c_char_p]
    lib.facecore_gallery_save_to_memory.argtypes = [P, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
    lib.facecore_gallery_free.argtypes = [P]

    def gallery(people, space=b"sface-2021dec", meta=None):
        g = P()
        assert lib.facecore_gallery_new(ctypes.byref(g)) == 0
        for name, vecs in people:
            for v in vecs:
                arr = (ctypes.c_float * len(v))(*v)
                assert lib.facecore_gallery_enroll(g, name, space, arr, len(v), None) == 0
        for name, m in (meta or {}).items():
            assert lib.facecore_gallery_set_metadata(g, name, m) == 0
        size = ctypes.c_size_t()
        lib.facecore_gallery_save_to_memory(g, None, 0, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        assert lib.facecore_gallery_save_to_memory(g, buf, size.value, ctypes.byref(size)) == 0
        lib.facecore_gallery_free(g)
        return buf.raw[: size.value]

    out("gallery_parse", "empty.fcg", gallery([]))
    out("gallery_parse", "one_dim4.fcg", gallery([(b"alice", [[1, 2, 3, 4]])], space=b"s"))
    out(
        "gallery_parse",
        "two_people_dim8.fcg",
        gallery(
            [(b"alice", [[1, 0, 0, 0, 0, 0, 0, 1], [0.5] * 8]), ("bj\u00f6rn".encode(), [[-1, 2, -3, 4, -5, 6, -7, 8]])],
            meta={b"alice": b'{"id": 7}'},
        ),
    )
    out("gallery_parse", "three_dim1.fcg", gallery([(b"a", [[1]]), (b"b", [[-2]]), (b"c", [[3], [-4]])], space=b"x"))
    # A real one: the CLI enrols the committed portrait (accurate preset, 256-d fused space).
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "g.fcg")
        subprocess.run(
            [os.path.join(ROOT, "target/debug/facecore"), "enroll", "--gallery", p, "obama", os.path.join(ROOT, "tests/fixtures/obama_small.jpg")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        out("gallery_parse", "cli_obama_accurate.fcg", open(p, "rb").read())


# ---------------------------------------------------------------- dlib_dat
def pack_int(v):
    m = abs(v)
    b = []
    while True:
        b.append(m & 0xFF)
        m >>= 8
        if m == 0:
            break
    return bytes([len(b) | (0x80 if v < 0 else 0)] + b)


def pack_f32(v):
    """dlib's float_details of a float (as the unit tests in serialize.rs write it)."""
    if v == 0.0:
        return pack_int(0) + pack_int(0)
    bits = struct.unpack("<I", struct.pack("<f", v))[0]
    exp = (bits >> 23) & 0xFF
    frac = bits & 0x7FFFFF
    man, e = (frac, -149) if exp == 0 else (frac | 0x800000, exp - 150)
    if v < 0:
        man = -man
    while man & 0xFF == 0:
        man >>= 8
        e += 8
    return pack_int(man) + pack_int(e)


def column(vals):
    return pack_int(-len(vals)) + pack_int(-1) + b"".join(pack_f32(x) for x in vals)


def shape_predictor(parts, cascades=2, trees=2, depth=1, feats=4):
    """A small but valid dlib shape_predictor: `cascades` forests of `trees` complete trees."""
    import random

    rnd = random.Random(parts * 1000 + cascades)
    coords = 2 * parts
    mean = [rnd.uniform(0.1, 0.9) for _ in range(coords)]
    b = pack_int(1) + column(mean) + pack_int(cascades)
    for _ in range(cascades):
        b += pack_int(trees)
        for _ in range(trees):
            n = 2**depth - 1
            b += pack_int(n)
            for _ in range(n):
                b += pack_int(rnd.randrange(feats)) + pack_int(rnd.randrange(feats)) + pack_f32(rnd.uniform(-20, 20))
            b += pack_int(n + 1)
            for _ in range(n + 1):
                b += column([rnd.uniform(-0.02, 0.02) for _ in range(coords)])
    b += pack_int(cascades)
    for _ in range(cascades):
        b += pack_int(feats) + b"".join(pack_int(rnd.randrange(parts)) for _ in range(feats))
    b += pack_int(cascades)
    for _ in range(cascades):
        b += pack_int(feats) + b"".join(pack_f32(rnd.uniform(-0.1, 0.1)) + pack_f32(rnd.uniform(-0.1, 0.1)) for _ in range(feats))
    return b


def dlib():
    out("dlib_dat", "sp5_2x2_depth1.dat", shape_predictor(5))
    out("dlib_dat", "sp5_1x3_depth2.dat", shape_predictor(5, cascades=1, trees=3, depth=2, feats=6))
    out("dlib_dat", "sp68_1x1_depth1.dat", shape_predictor(68, cascades=1, trees=1))
    out("dlib_dat", "sp3_1x1_depth1.dat", shape_predictor(3, cascades=1, trees=1))
    out("dlib_dat", "sp5_no_cascades.dat", shape_predictor(5, cascades=0))
    real = open(os.path.join(ROOT, "models/shape_predictor_5_face_landmarks.dat"), "rb").read()
    out("dlib_dat", "real_sp5_head2048.dat", real[:2048])
    out("dlib_dat", "bzip2_magic.dat", b"BZh91AY&SY" + real[:54])


# ---------------------------------------------------------------- model_memory
def fnv1a(data):
    """64-bit FNV-1a, as the model_memory target hashes its inputs."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def with_full_load(onnx, extra):
    """`onnx` plus an unknown protobuf field 100 of `extra` - 3 bytes (skipped by readers) whose
    content makes the model_memory target pick the input for a full load (hash % 32 == 0)."""
    n = extra - 3
    for i in range(1 << 20):
        pad = bytes([0xA2, 0x06, n]) + i.to_bytes(n, "little")
        if fnv1a(onnx + pad) % 32 == 0:
            return onnx + pad
    raise RuntimeError("no padding found")


def models():
    os.makedirs(os.path.join(CORPUS, "model_memory"), exist_ok=True)
    # The model_memory target loads one input in 32 fully (by hash) and picks the loader by
    # the length: even -> Detector::custom, odd -> Embedder::custom like SFace (length / 2
    # even) or dlib ResNet (length / 2 odd). Each seed gets an unknown field that protobuf
    # readers skip, sized for the loader and filled so that the seed is loaded.
    det = open(os.path.join(SEEDS, "tiny_detector.onnx"), "rb").read()
    emb = open(os.path.join(SEEDS, "tiny_embedder.onnx"), "rb").read()
    assert len(det) % 4 == 2 and len(emb) % 4 == 2
    out("model_memory", "tiny_detector.onnx", with_full_load(det, 8))  # even
    out("model_memory", "tiny_embedder_as_detector.onnx", with_full_load(emb, 8))  # even: refused
    out("model_memory", "tiny_embedder_as_sface.onnx", with_full_load(emb, 7))  # odd, len/2 even
    out("model_memory", "tiny_embedder_as_dlib.onnx", with_full_load(emb, 9))  # odd, len/2 odd
    yunet = open(os.path.join(ROOT, "facecore/models/yunet_2023mar.onnx"), "rb").read()
    out("model_memory", "yunet_head4096.onnx", yunet[:4096])
    # A model pack (models::pack): one raw segment and one int8 block tensor.
    raw = b"abc"
    tensor = bytes([1, 0, 1]) + struct.pack("<I", 4) + bytes([0]) + struct.pack("<II", 2, 0)
    tensor += bytes([1, 2, 3, 250]) + bytes([0, 1]) + struct.pack("<ff", 0.5, 2.0)
    pack = b"FCMP" + struct.pack("<IQI", 1, 3 + 16, 2) + b"\x00" + struct.pack("<Q", 3) + raw + tensor
    out("model_memory", "pack.fcmp", pack)


# ---------------------------------------------------------------- c_abi
def c_abi():
    # Scripts are read by arbitrary::Unstructured; these give the fuzzer a start with real
    # gallery and image bytes behind assorted call numbers.
    g = open(os.path.join(CORPUS, "gallery_parse", "two_people_dim8.fcg"), "rb").read()
    img = open(os.path.join(CORPUS, "image_detect", "face24.jpg"), "rb").read()
    out("c_abi", "zeros64", bytes(64))
    out("c_abi", "counting256", bytes(range(256)))
    out("c_abi", "load_gallery", bytes([8]) + struct.pack(">H", len(g)) + g + bytes([15, 3, 0, 4]) + bytes(range(40)))
    out("c_abi", "decode_view_detect", bytes([6]) + struct.pack(">H", len(img)) + img + bytes([7, 0]))
    out("c_abi", "detect_rgb24", bytes([0, 5, 24, 24, 5, 5]) + bytes(range(200)))
    out("c_abi", "align_embed", bytes([3, 1, 40, 40, 3, 3]) + bytes(range(60, 255)) + bytes([4, 2, 30, 30]) + bytes(120))
    out("c_abi", "enroll_search_save", bytes([9, 10, 1, 3, 4, 10, 2, 3, 4, 15, 3, 4, 17, 5, 14, 0, 3]) + bytes(range(100)))


if __name__ == "__main__":
    import sys

    steps = {"image_detect": images, "gallery_parse": galleries, "dlib_dat": dlib, "model_memory": models, "c_abi": c_abi}
    for t in sys.argv[1:] or steps:
        if os.path.isdir(os.path.join(CORPUS, t)):
            shutil.rmtree(os.path.join(CORPUS, t))
        steps[t]()
    total = 0
    for d, _, files in sorted(os.walk(CORPUS)):
        for f in sorted(files):
            p = os.path.join(d, f)
            total += os.path.getsize(p)
            print(f"{os.path.getsize(p):8d}  {os.path.relpath(p, ROOT)}")
    print(f"{total:8d}  total")
