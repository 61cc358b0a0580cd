#!/usr/bin/env python3
"""FLOPs (2 x multiply-accumulates) of facelab's default models at their input sizes, counted
from the ONNX graph.

The input shape is fixed (batch 1) and ONNX shape inference gives every tensor's shape. Counted:
  Conv (dense, grouped and depthwise): N * Cout * Hout * Wout * (Cin / group) * kh * kw MACs
  ConvTranspose:                       N * Cin * Hin * Win * (Cout / group) * kh * kw MACs
  Gemm, MatMul:                        M * N * K MACs (batched: times the batch)
Every other op (Relu, PRelu, Add, Sigmoid, MaxPool, Resize, Reshape, ...) is listed with the
number of elements it writes, as an upper bound on its (negligible) arithmetic, not counted.
A bias add is one add per output element; it is not in the MAC count.

  python benches/python/flops.py                      # the default table
  python benches/python/flops.py --json
  python benches/python/flops.py MODEL.onnx 1x3x112x112   # any model and input shape

Model files are read from the model mirror (default ../shared/models, read-only).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import shape_inference

HERE = Path(__file__).resolve().parent
DEFAULT_MODELS = (HERE.parent.parent / ".." / "shared" / "models").resolve()

# (label, manifest id, file in the mirror, input shape NCHW)
DEFAULTS = [
    ("YuNet 2023mar (default detector), 640x640", "yunet-2023mar",
     "yunet/face_detection_yunet_2023mar.onnx", (1, 3, 640, 640)),
    ("YuNet-s dynamic, 640x640", "yunet-s-dynamic", "yunet/yunet_s_dynamic.onnx", (1, 3, 640, 640)),
    ("YuNet-s dynamic, 1024x704 (WIDER mini typical)", "yunet-s-dynamic",
     "yunet/yunet_s_dynamic.onnx", (1, 3, 704, 1024)),
    ("YuNet-s dynamic, 1280x896", "yunet-s-dynamic", "yunet/yunet_s_dynamic.onnx", (1, 3, 896, 1280)),
    ("MobileFaceNet 128-D, 112x112, one face", "mobilefacenet-128",
     "mobilefacenet/MobileFaceNet.onnx", (1, 3, 112, 112)),
]


def fixed(model: onnx.ModelProto, shape) -> onnx.ModelProto:
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        sys.exit(f"expected one graph input, found {[i.name for i in inputs]}")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != len(shape):
        sys.exit(f"input rank {len(dims)} != {len(shape)}")
    for d, v in zip(dims, shape):
        d.ClearField("dim_param")
        d.dim_value = v
    return shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)


def shapes_of(model: onnx.ModelProto):
    out = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            out[vi.name] = dims
    for i in model.graph.initializer:
        out[i.name] = list(i.dims)
    return out


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def count(path: Path, shape):
    model = fixed(onnx.load(str(path)), shape)
    shapes = shapes_of(model)

    def known(name):
        s = shapes.get(name)
        if s is None or any(v is None for v in s):
            sys.exit(f"{path.name}: no static shape for tensor {name!r} at input {shape}")
        return s

    macs = {"Conv": 0, "ConvTranspose": 0, "Gemm": 0, "MatMul": 0}
    n_nodes = {k: 0 for k in macs}
    depthwise = 0
    other = {}
    for node in model.graph.node:
        op = node.op_type
        if op == "Conv":
            y = known(node.output[0])
            w = known(node.input[1])  # Cout, Cin/group, kh, kw
            m = y[0] * y[1] * int(np.prod(y[2:])) * int(np.prod(w[1:]))
            group = attr(node, "group", 1)
            if group > 1 and w[1] == 1:
                depthwise += m
        elif op == "ConvTranspose":
            x = known(node.input[0])
            w = known(node.input[1])  # Cin, Cout/group, kh, kw
            m = x[0] * x[1] * int(np.prod(x[2:])) * int(np.prod(w[1:]))
        elif op == "Gemm":
            a, b = known(node.input[0]), known(node.input[1])
            m_, k = (a[1], a[0]) if attr(node, "transA", 0) else (a[0], a[1])
            n = b[0] if attr(node, "transB", 0) else b[1]
            m = m_ * n * k
        elif op == "MatMul":
            a, b = known(node.input[0]), known(node.input[1])
            y = known(node.output[0])
            k = a[-1]
            m = int(np.prod(y)) * k
        else:
            elems = 0
            for o in node.output:
                s = shapes.get(o)
                if s is not None and all(v is not None for v in s):
                    elems += int(np.prod(s))
            other.setdefault(op, [0, 0])
            other[op][0] += 1
            other[op][1] += elems
            continue
        macs[op] += m
        n_nodes[op] += 1
    total = sum(macs.values())
    return {
        "file": path.name,
        "input": list(shape),
        "macs": total,
        "gflops": 2 * total / 1e9,
        "by_op": {k: {"nodes": n_nodes[k], "gflops": 2 * v / 1e9} for k, v in macs.items() if n_nodes[k]},
        "depthwise_gflops": 2 * depthwise / 1e9,
        "other_ops": {k: {"nodes": v[0], "output_elements": v[1]} for k, v in sorted(other.items())},
    }


def main(argv=None):
    p = argparse.ArgumentParser(description="FLOPs of facelab's default models from the ONNX graph.")
    p.add_argument("--models", default=str(DEFAULT_MODELS), help="model mirror (default %(default)s)")
    p.add_argument("--json", action="store_true")
    p.add_argument("model", nargs="?", help="an .onnx file instead of the default table")
    p.add_argument("shape", nargs="?", help="its input shape, e.g. 1x3x112x112")
    a = p.parse_args(argv)
    if a.model:
        if not a.shape:
            p.error("give the input shape too")
        rows = [(a.model, "", Path(a.model), tuple(int(v) for v in a.shape.split("x")))]
    else:
        rows = [(label, mid, Path(a.models) / f, s) for label, mid, f, s in DEFAULTS]
    results = []
    for label, mid, path, shape in rows:
        r = count(path, shape)
        r["label"], r["model"] = label, mid
        results.append(r)
    if a.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'model and input':50} {'GFLOPs':>8} {'of it depthwise':>16}  counted ops (nodes)")
    for r in results:
        ops = ", ".join(f"{k} {v['nodes']}" for k, v in r["by_op"].items())
        print(f"{r['label']:50} {r['gflops']:8.3f} {r['depthwise_gflops']:16.3f}  {ops}")
    print("\nnot counted (elements written, batch 1):")
    for r in results:
        others = ", ".join(f"{k} {v['output_elements'] / 1e6:.2f}M" for k, v in r["other_ops"].items()
                           if v["output_elements"])
        print(f"  {r['label']}: {others}")


if __name__ == "__main__":
    main()
