"""Writes the two tiny ONNX graphs the fuzz targets use (fuzz/seeds/*.onnx).

tiny_detector.onnx: YuNet's interface (input [1,3,H,W]; outputs cls, obj, bbox and kps at
strides 8, 16 and 32, with 1, 1, 4 and 10 channels) from average pooling and 1x1 convolutions.
tiny_embedder.onnx: any [1,3,H,W] -> 128 values (global average pool, matrix product).

Both are a few KB, generated here from fixed pseudo-random weights (no external data), so
they are licence-clean and let a fuzzed load get past the engine into facecore's own checks
quickly. Needs the `onnx` and `numpy` Python packages; the outputs are committed.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(20261202)


def model(nodes, inits, outputs, name):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])
    g = helper.make_graph(nodes, name, [x], outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="facecore-fuzz")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def detector():
    nodes, inits, outs = [], [], []
    heads = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}
    for s in (8, 16, 32):
        nodes.append(helper.make_node("AveragePool", ["input"], [f"pool_{s}"], kernel_shape=[s, s], strides=[s, s]))
    for head, c in heads.items():
        for s in (8, 16, 32):
            w = (rng.standard_normal((c, 3, 1, 1)) / 255.0).astype(np.float32)
            b = (rng.standard_normal(c) * 0.5).astype(np.float32)
            inits += [numpy_helper.from_array(w, f"w_{head}_{s}"), numpy_helper.from_array(b, f"b_{head}_{s}")]
            conv = f"{head}_{s}" if head in ("bbox", "kps") else f"{head}_{s}_logit"
            nodes.append(helper.make_node("Conv", [f"pool_{s}", f"w_{head}_{s}", f"b_{head}_{s}"], [conv]))
            if head in ("cls", "obj"):
                nodes.append(helper.make_node("Sigmoid", [conv], [f"{head}_{s}"]))
            outs.append(helper.make_tensor_value_info(f"{head}_{s}", TensorProto.FLOAT, [1, c, "oh", "ow"]))
    return model(nodes, inits, outs, "tiny_detector")


def embedder():
    w = rng.standard_normal((3, 128)).astype(np.float32) / 128.0
    b = rng.standard_normal(128).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["output"]),
    ]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 128])
    return model(nodes, inits, [out], "tiny_embedder")


if __name__ == "__main__":
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    onnx.save(detector(), os.path.join(here, "tiny_detector.onnx"))
    onnx.save(embedder(), os.path.join(here, "tiny_embedder.onnx"))
