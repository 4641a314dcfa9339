#!/usr/bin/env python3
"""Minimal reproducers for the tract 0.23 slow paths in docs/tract-upstream.md.

    target/peers-venv/bin/python tools/tract_repro.py [--out target/tract-repro] [--facecore target/debug/facecore]

Writes one-operator ONNX models (random weights, fixed seed) shaped like the hot spots of
YuNet, SFace and the dlib ResNet, then times each in tract (through `facecore profile
--against`, which runs two models interleaved in one process) and, when installed, in
onnxruntime (one thread). Every pair is an op as exported next to an equivalent form.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(0)


def model(name: str, shape: list[int], nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    g = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="facecore-tract-repro")
    m.ir_version = 7
    # Output shape left unknown for the engines to infer.
    m.graph.output[0].type.tensor_type.ClearField("shape")
    return m


def cases() -> list[tuple[str, list[int], onnx.ModelProto, onnx.ModelProto]]:
    out = []
    # 1. PRelu with per-channel slopes (SFace: 27 of them), against the exact Max(x, a*x).
    s = [1, 64, 56, 56]
    a = (RNG.random((64, 1, 1)) - 0.5).astype(np.float32)
    out.append((
        "prelu",
        s,
        model("prelu", s, [helper.make_node("PRelu", ["x", "a"], ["y"])], {"a": a}),
        model("prelu_as_max", s, [helper.make_node("Mul", ["x", "a"], ["ax"]), helper.make_node("Max", ["x", "ax"], ["y"])], {"a": a}),
    ))
    # 2. MaxPool 2x2 stride 2 (YuNet: 4 of them, a quarter of its time), against the same
    #    maximum in two 1-D pools (what models/yunet_2023mar.onnx now does) ...
    s = [1, 16, 224, 320]
    pool = model("maxpool2x2", s, [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], {})
    out.append((
        "maxpool2x2",
        s,
        pool,
        model(
            "maxpool_separable",
            s,
            [
                helper.make_node("MaxPool", ["x"], ["w"], kernel_shape=[1, 2], strides=[1, 2]),
                helper.make_node("MaxPool", ["w"], ["y"], kernel_shape=[2, 1], strides=[2, 1]),
            ],
            {},
        ),
    ))
    # 2b. ... and written as Reshape + ReduceMax over two inner axes.
    shape6 = np.array([1, 16, 112, 2, 160, 2], dtype=np.int64)
    out.append((
        "maxpool2x2_vs_reduce",
        s,
        pool,
        model(
            "maxpool_as_reduce",
            s,
            [
                helper.make_node("Constant", [], ["s6"], value=numpy_helper.from_array(shape6, "s6")),
                helper.make_node("Reshape", ["x", "s6"], ["x6"]),
                helper.make_node("ReduceMax", ["x6"], ["y"], axes=[3, 5], keepdims=0),
            ],
            {},
        ),
    ))
    # 3. Depthwise 3x3 + Relu (YuNet's backbone), against the same conv without the Relu.
    s = [1, 64, 112, 160]
    w = RNG.standard_normal((64, 1, 3, 3)).astype(np.float32) * 0.1
    b = RNG.standard_normal(64).astype(np.float32) * 0.1
    out.append((
        "depthwise_relu",
        s,
        model("depthwise_relu", s, [helper.make_node("Conv", ["x", "w", "b"], ["c"], group=64, kernel_shape=[3, 3], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])], {"w": w, "b": b}),
        model("depthwise", s, [helper.make_node("Conv", ["x", "w", "b"], ["y"], group=64, kernel_shape=[3, 3], pads=[1, 1, 1, 1])], {"w": w, "b": b}),
    ))
    # 4. A padded 3x3 convolution (dlib ResNet: 29, each preceded by a Pad in tract's plan),
    #    against the unpadded conv on an input 2 px larger (the same multiply-adds).
    s = [1, 64, 38, 38]
    w = RNG.standard_normal((64, 64, 3, 3)).astype(np.float32) * 0.05
    out.append((
        "conv3x3_pad1",
        s,
        model("conv3x3_pad1", s, [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], {"w": w}),
        model("conv3x3_valid", [1, 64, 40, 40], [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])], {"w": w}),
    ))
    return out


def ort_ms(path: Path, shape: list[int], runs: int = 50) -> float | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    x = RNG.random(shape, dtype=np.float32)
    sess.run(None, {"x": x})
    t = []
    for _ in range(runs):
        s = time.perf_counter()
        sess.run(None, {"x": x})
        t.append(time.perf_counter() - s)
    return statistics.median(t) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "target" / "tract-repro"))
    ap.add_argument("--facecore", default=str(ROOT / "target" / "debug" / "facecore"))
    ap.add_argument("--runs", type=int, default=50)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print("| case | input | tract ms (as exported) | tract ms (equivalent form) | onnxruntime ms (as exported) |")
    print("|---|---|---:|---:|---:|")
    for name, shape, m1, m2 in cases():
        p1, p2 = out / f"{name}.onnx", out / f"{name}_alt.onnx"
        onnx.save(m1, p1)
        onnx.save(m2, p2)
        s2 = [int(d.dim_value) for d in m2.graph.input[0].type.tensor_type.shape.dim]
        t1 = t2 = "n/a"
        if Path(a.facecore).exists():
            if s2 == shape:
                cmd = [a.facecore, "profile", str(p1), "--against", str(p2), "--shape", ",".join(map(str, shape)), "--runs", str(a.runs)]
                r = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                ms = re.findall(r"([0-9.]+) ms", r)
                t1, t2 = ms[0], ms[1]
            else:
                for p, sh, slot in ((p1, shape, 1), (p2, s2, 2)):
                    cmd = [a.facecore, "profile", str(p), "--shape", ",".join(map(str, sh)), "--runs", str(a.runs), "--top", "0"]
                    r = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                    v = re.search(r"([0-9.]+) ms per run", r)
                    if slot == 1:
                        t1 = v.group(1) if v else "?"
                    else:
                        t2 = v.group(1) if v else "?"
        o = ort_ms(p1, shape, a.runs)
        print(f"| {name} | {'x'.join(map(str, shape))} | {t1} | {t2} | {'n/a' if o is None else f'{o:.3f}'} |")
    print(f"\nmodels in {out}; per-node view: {a.facecore} profile {out}/prelu.onnx --shape 1,64,56,56")
    return 0


if __name__ == "__main__":
    sys.exit(main())
