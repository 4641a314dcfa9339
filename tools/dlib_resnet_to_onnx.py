#!/usr/bin/env python3
"""Convert dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1.dat,
the 128-d model used by face_recognition) to ONNX.

Pure Python: parses dlib's portable serialisation directly (no dlib/C++ build
needed), checks the parsed layers against the network definition of dlib's
examples/dnn_face_recognition_ex.cpp (`anet_type`), and writes an ONNX graph
made only of plain ops (Sub, Conv, Relu, MaxPool, AveragePool, Pad, Add,
GlobalAveragePool, Flatten, MatMul), opset 13, static shapes.

Graph contract:
  input     "input"      float32 [1,3,150,150], NCHW, RGB, raw pixel values 0..255
  output    "embedding"  float32 [1,128], dlib's raw (un-normalised) descriptor

Usage: dlib_resnet_to_onnx.py MODEL.dat OUT.onnx
The output is byte-for-byte deterministic for a given input file.
"""

import argparse
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# --------------------------------------------------------------------------
# dlib portable serialisation reader


class Reader:
    def __init__(self, data):
        self.b = data
        self.p = 0

    def byte(self):
        c = self.b[self.p]
        self.p += 1
        return c

    def int(self):
        # dlib pack_int: 1 control byte (low nibble = byte count, 0x80 = negative),
        # then the magnitude, little endian.
        c = self.byte()
        n = c & 0x0F
        if n > 8 or (c & 0x70):
            raise ValueError(f"bad integer control byte 0x{c:02x} at {self.p - 1}")
        v = int.from_bytes(self.b[self.p:self.p + n], "little")
        self.p += n
        return -v if c & 0x80 else v

    def float(self):
        # float/double: (int64 mantissa, int16 exponent); value = m * 2^e
        m = self.int()
        e = self.int()
        return float(m) * 2.0 ** e

    def bool(self):
        c = self.byte()
        if c not in (0x30, 0x31):
            raise ValueError(f"bad bool 0x{c:02x} at {self.p - 1}")
        return c == 0x31

    def string(self):
        n = self.int()
        s = self.b[self.p:self.p + n].decode("ascii")
        self.p += n
        return s

    def peek_string(self):
        save = self.p
        try:
            return self.string()
        except Exception:
            return None
        finally:
            self.p = save

    def tensor(self):
        v = self.int()
        if v != 2:
            raise ValueError(f"unsupported tensor version {v}")
        shape = tuple(self.int() for _ in range(4))
        cnt = int(np.prod(shape))
        a = np.frombuffer(self.b, dtype="<f4", count=cnt, offset=self.p).reshape(shape)
        self.p += 4 * cnt
        return a.astype(np.float32)

    def alias_tensor(self):
        v = self.int()
        if v != 1:
            raise ValueError(f"unsupported alias_tensor version {v}")
        return tuple(self.int() for _ in range(4))


def read_details(r):
    """One layer's details object (layers.h)."""
    name = r.string()
    if name == "con_4":
        params = r.tensor()
        nf, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
        fshape = r.alias_tensor()
        bshape = r.alias_tensor()
        for _ in range(4):
            r.float()  # learning-rate / weight-decay multipliers
        flat = params.reshape(-1)
        nfilt = int(np.prod(fshape))
        assert fshape[0] == nf and fshape[2:] == (nr, nc), fshape
        assert flat.size == nfilt + nf and bshape == (1, nf, 1, 1), (flat.size, bshape)
        return dict(type="con", nf=nf, k=(nr, nc), stride=(sy, sx), pad=(py, px),
                    W=flat[:nfilt].reshape(fshape), b=flat[nfilt:])
    if name == "affine_":
        params = r.tensor()
        g = r.alias_tensor()
        bt = r.alias_tensor()
        mode = r.int()
        assert mode == 0, "only CONV_MODE affine layers are expected"
        n = int(np.prod(g))
        assert g == bt and g[0] == 1 and g[2:] == (1, 1)
        flat = params.reshape(-1)
        assert flat.size == 2 * n
        return dict(type="affine", gamma=flat[:n], beta=flat[n:])
    if name == "relu_":
        return dict(type="relu")
    if name == "add_prev_":
        return dict(type="add_prev")
    if name in ("max_pool_2", "avg_pool_2"):
        nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
        return dict(type=name[:-2], k=(nr, nc), stride=(sy, sx), pad=(py, px))
    if name == "fc_2":
        nout = r.int()
        nin = r.int()
        params = r.tensor()
        w = r.alias_tensor()
        r.alias_tensor()  # biases (empty for fc_no_bias)
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        assert bias_mode == 1, "expected fc_no_bias"
        assert w == (nin, nout, 1, 1)
        return dict(type="fc_no_bias", nin=nin, nout=nout,
                    W=params.reshape(-1)[: nin * nout].reshape(nin, nout))
    raise ValueError(f"unsupported layer details '{name}' at offset {r.p}")


def read_subnet(r, layers):
    """add_layer / add_tag_layer / add_skip_layer, recursively (core.h).

    The serialised order is: version, subnetwork, details, ... so layers come out
    input-first.  Tag and skip layers both serialise as (version 1, subnetwork);
    they are told apart later by matching against the known architecture.
    """
    version = r.int()
    if r.peek_string() == "input_rgb_image_sized":
        if version not in (2, 3):
            raise ValueError(f"unexpected input add_layer version {version}")
        r.string()
        means = [r.float(), r.float(), r.float()]
        nr, nc = r.int(), r.int()
        layers.append(dict(type="input", mean=means, size=(nr, nc)))
        layers.append(read_details(r))
        for _ in range(3):
            r.bool()
        r.tensor()  # x_grad
        r.tensor()  # cached_output
        r.tensor()  # grad_final
        if version >= 3:
            r.int()  # sample_expansion_factor
        return
    if version == 2:
        read_subnet(r, layers)
        layers.append(read_details(r))
        for _ in range(3):
            r.bool()
        r.tensor()  # x_grad
        r.tensor()  # cached_output
        r.tensor()  # params_grad
        return
    if version == 1:
        read_subnet(r, layers)
        layers.append(dict(type="tag_or_skip"))
        return
    raise ValueError(f"unexpected layer version {version} at offset {r.p}")


def read_net(data):
    r = Reader(data)
    if r.int() != 1:
        raise ValueError("not a dlib add_loss_layer (version != 1)")
    loss = r.string()
    if loss != "loss_metric_2":
        raise ValueError(f"unexpected loss layer {loss}")
    r.float()  # margin
    r.float()  # distance threshold
    layers = []
    read_subnet(r, layers)
    if r.p != len(data):
        raise ValueError(f"{len(data) - r.p} trailing bytes after the network")
    return layers


# --------------------------------------------------------------------------
# expected architecture: dlib examples/dnn_face_recognition_ex.cpp (anet_type),
# listed input-first (the order the file stores layers in).


def expected_layers():
    seq = [("input",), ("con", 32, 7, 2), ("affine",), ("relu",), ("max_pool", 3, 2)]

    def block(n, stride):  # BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
        return [("con", n, 3, stride), ("affine",), ("relu",), ("con", n, 3, 1), ("affine",)]

    def ares(n):  # relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
        return [("tag", 1)] + block(n, 1) + [("add_prev", 1), ("relu",)]

    def ares_down(n):  # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>
        return ([("tag", 1)] + block(n, 2)
                + [("tag", 2), ("skip", 1), ("avg_pool", 2, 2), ("add_prev", 2), ("relu",)])

    seq += ares(32) * 3                         # alevel4
    seq += ares_down(64) + ares(64) * 3         # alevel3
    seq += ares_down(128) + ares(128) * 2       # alevel2
    seq += ares_down(256) + ares(256) * 2       # alevel1
    seq += ares_down(256)                       # alevel0
    seq += [("avg_pool_everything",), ("fc_no_bias", 128)]
    return seq


def match_architecture(layers):
    exp = expected_layers()
    if len(exp) != len(layers):
        raise ValueError(f"layer count {len(layers)} != expected {len(exp)}")
    out = []
    for i, (e, l) in enumerate(zip(exp, layers)):
        t = l["type"]
        ok = False
        if e[0] in ("tag", "skip"):
            ok = t == "tag_or_skip"
            l = dict(type=e[0], id=e[1])
        elif e[0] == "add_prev":
            ok = t == "add_prev"
            l = dict(l, id=e[1])
        elif e[0] == "con":
            n, k, s = e[1:]
            pad = k // 2 if s == 1 else 0  # dlib default: pad k/2 iff stride 1
            ok = (t == "con" and l["nf"] == n and l["k"] == (k, k)
                  and l["stride"] == (s, s) and l["pad"] == (pad, pad))
        elif e[0] in ("max_pool", "avg_pool"):
            k, s = e[1:]
            pad = k // 2 if s == 1 else 0
            ok = t == e[0] and l["k"] == (k, k) and l["stride"] == (s, s) and l["pad"] == (pad, pad)
        elif e[0] == "avg_pool_everything":
            ok = t == "avg_pool" and l["k"] == (0, 0) and l["stride"] == (1, 1) and l["pad"] == (0, 0)
            l = dict(type="avg_pool_everything")
        elif e[0] == "fc_no_bias":
            ok = t == "fc_no_bias" and l["nout"] == e[1]
        elif e[0] == "input":
            ok = t == "input" and l["size"] == (150, 150)
        else:
            ok = t == e[0]
        if not ok:
            raise ValueError(f"layer {i}: expected {e}, found {t}")
        out.append(l)
    return out


# --------------------------------------------------------------------------
# ONNX graph


class GraphBuilder:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self.counter = {}

    def name(self, prefix):
        i = self.counter.get(prefix, 0)
        self.counter[prefix] = i + 1
        return f"{prefix}_{i}"

    def const(self, prefix, arr):
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def node(self, op, inputs, prefix=None, out=None, **attrs):
        # Node name == output name: tract labels outlets by node name.
        nname = out or self.name(prefix or op.lower())
        out = nname
        self.nodes.append(helper.make_node(op, inputs, [out], name=nname, **attrs))
        return out


def pool_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def build_onnx(layers):
    g = GraphBuilder()
    shape = None      # current (C, H, W)
    cur = None        # current tensor name
    tags = {}         # tag id -> (name, shape)
    pending_affine = None  # conv node awaiting affine folding
    in_scale = None   # 1/256 folded into the first conv
    convs = 0
    params = 0

    i = 0
    while i < len(layers):
        l = layers[i]
        t = l["type"]
        if t == "input":
            mean = np.array(l["mean"], dtype=np.float32).reshape(1, 3, 1, 1)
            # dlib: value = float(pixel - mean) / 256; the subtraction is kept as an
            # exact float32 Sub, the /256 (a power of two) is folded into the first conv.
            cur = g.node("Sub", ["input", g.const("input_mean", mean)], prefix="input_sub")
            in_scale = 1.0 / 256.0
            shape = (3,) + l["size"]
        elif t == "con":
            W = l["W"].astype(np.float64)
            b = l["b"].astype(np.float64)
            if in_scale is not None:
                W = W * in_scale
                in_scale = None
            if i + 1 < len(layers) and layers[i + 1]["type"] == "affine":
                a = layers[i + 1]
                gam = a["gamma"].astype(np.float64)
                W = W * gam[:, None, None, None]
                b = b * gam + a["beta"].astype(np.float64)
                i += 1
            assert W.shape[1] == shape[0]
            (ky, kx), (sy, sx), (py, px) = l["k"], l["stride"], l["pad"]
            cur = g.node("Conv", [cur, g.const("conv_w", W.astype(np.float32)),
                                  g.const("conv_b", b.astype(np.float32))],
                         prefix="conv", kernel_shape=[ky, kx], strides=[sy, sx],
                         pads=[py, px, py, px], dilations=[1, 1], group=1)
            shape = (l["nf"], pool_out(shape[1], ky, sy, py), pool_out(shape[2], kx, sx, px))
            convs += 1
            params += l["W"].size + l["b"].size
        elif t == "affine":
            raise ValueError("affine layer not preceded by a con layer")
        elif t == "relu":
            cur = g.node("Relu", [cur])
        elif t in ("max_pool", "avg_pool"):
            (ky, kx), (sy, sx), (py, px) = l["k"], l["stride"], l["pad"]
            assert (py, px) == (0, 0), "only unpadded pooling is used by this net"
            op = "MaxPool" if t == "max_pool" else "AveragePool"
            cur = g.node(op, [cur], kernel_shape=[ky, kx], strides=[sy, sx], pads=[0, 0, 0, 0])
            shape = (shape[0], pool_out(shape[1], ky, sy, 0), pool_out(shape[2], kx, sx, 0))
        elif t == "tag":
            tags[l["id"]] = (cur, shape)
        elif t == "skip":
            cur, shape = tags[l["id"]]
        elif t == "add_prev":
            # dlib add_prev: output has the per-dimension max shape; each operand
            # contributes where it exists (i.e. zero-padded at the END of C, H, W).
            other, oshape = tags[l["id"]]
            out_shape = tuple(max(a, b) for a, b in zip(shape, oshape))
            ops = []
            for name, shp in ((cur, shape), (other, oshape)):
                if shp != out_shape:
                    pads = [0, 0, 0, 0, 0] + [o - s for o, s in zip(out_shape, shp)]
                    name = g.node("Pad", [name, g.const("pads", np.array(pads, dtype=np.int64))],
                                  mode="constant")
                ops.append(name)
            cur = g.node("Add", ops)
            shape = out_shape
        elif t == "avg_pool_everything":
            cur = g.node("GlobalAveragePool", [cur])
            shape = (shape[0], 1, 1)
        elif t == "fc_no_bias":
            assert l["nin"] == shape[0] * shape[1] * shape[2]
            flat = g.node("Flatten", [cur], axis=1)
            cur = g.node("MatMul", [flat, g.const("fc_w", l["W"].astype(np.float32))],
                         out="embedding")
            shape = (l["nout"],)
            params += l["W"].size
        else:
            raise ValueError(f"unhandled layer {t}")
        i += 1

    assert cur == "embedding" and shape == (128,)
    graph = helper.make_graph(
        g.nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 150, 150])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 128])],
        initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="facecore dlib_resnet_to_onnx.py",
                              doc_string="dlib_face_recognition_resnet_model_v1 (dlib anet_type). "
                                         "input: RGB 0..255 NCHW 1x3x150x150 aligned face chip "
                                         "(dlib.get_face_chip, size 150, padding 0.25); "
                                         "output: raw 128-d descriptor (not normalised).")
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    return model, convs, params


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dat", help="dlib_face_recognition_resnet_model_v1.dat")
    ap.add_argument("out", help="output .onnx path")
    a = ap.parse_args(argv)
    with open(a.dat, "rb") as f:
        data = f.read()
    layers = match_architecture(read_net(data))
    model, convs, params = build_onnx(layers)
    with open(a.out, "wb") as f:
        f.write(model.SerializeToString())
    print(f"wrote {a.out}: {convs} convs, {params} parameters, {len(model.graph.node)} nodes",
          file=sys.stderr)


if __name__ == "__main__":
    main()
