"""Builds small int8 models with onnxruntime's own quantization tooling and
records onnxruntime's outputs on them, for veriflop-infer's differential test.

    python make_models.py OUTDIR

For each case it writes, under OUTDIR:
  <case>.onnx        the quantized model as quantize_static writes it (float in, float out)
  <case>.int8.onnx   the same model cut to its int8 part: the leading
                     QuantizeLinear and trailing DequantizeLinear removed
  <case>.x.npy       an int8 input batch
  <case>.y.npy       onnxruntime's int8 output of <case>.int8.onnx on it
and cases.json listing the cases. Everything is seeded: no downloads.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static


def float_mlp(dims, bias, relu_last, seed):
    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "x"
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        w = (rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"W{i}"))
        ins = [x, f"W{i}"]
        if bias:
            inits.append(numpy_helper.from_array((rng.normal(size=b) * 0.3).astype(np.float32), f"B{i}"))
            ins.append(f"B{i}")
            nodes.append(helper.make_node("Gemm", ins, [f"h{i}"]))
        else:
            nodes.append(helper.make_node("MatMul", ins, [f"h{i}"]))
        x = f"h{i}"
        if i < len(dims) - 2 or relu_last:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    g = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", dims[0]])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", dims[-1]])],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


class Batches(CalibrationDataReader):
    def __init__(self, d, seed):
        rng = np.random.default_rng(seed)
        self.it = iter([{"x": rng.normal(size=(16, d)).astype(np.float32)} for _ in range(4)])

    def get_next(self):
        return next(self.it, None)


def int8_part(model):
    """Drops the leading QuantizeLinear and trailing DequantizeLinear."""
    g = model.graph
    first = next(n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] == g.input[0].name)
    last = next(n for n in g.node if n.op_type == "DequantizeLinear" and n.output[0] == g.output[0].name)
    d = int(g.input[0].type.tensor_type.shape.dim[1].dim_value)
    e = int(g.output[0].type.tensor_type.shape.dim[1].dim_value) if g.output[0].type.tensor_type.shape.dim[1].dim_value else None
    nodes = [n for n in g.node if n is not first and n is not last]
    out_shape = ["N", e] if e else None
    new = helper.make_graph(
        nodes, g.name,
        [helper.make_tensor_value_info(first.output[0], TensorProto.INT8, ["N", d])],
        [helper.make_tensor_value_info(last.input[0], TensorProto.INT8, out_shape)],
        list(g.initializer),
    )
    m = helper.make_model(new, opset_imports=list(model.opset_import))
    m.ir_version = model.ir_version
    return m


def main(out):
    os.makedirs(out, exist_ok=True)
    cases = []
    specs = [
        # name, dims, bias, relu on the last layer, format, batch
        ("mlp-qop", [16, 12, 8, 4], True, False, QuantFormat.QOperator, 8),
        ("mlp-qdq", [16, 12, 8, 4], True, False, QuantFormat.QDQ, 8),
        ("relu-last-qop", [20, 9, 7], True, True, QuantFormat.QOperator, 5),
        ("nobias-qop", [12, 10, 6], False, False, QuantFormat.QOperator, 4),
        ("nobias-qdq", [12, 10, 6], False, False, QuantFormat.QDQ, 4),
        ("mnist-qop", [784, 256, 256, 10], True, False, QuantFormat.QOperator, 64),
        ("mnist-qdq", [784, 256, 256, 10], True, False, QuantFormat.QDQ, 64),
    ]
    for i, (name, dims, bias, relu_last, fmt, batch) in enumerate(specs):
        f = os.path.join(out, f"{name}.float.onnx")
        onnx.save(float_mlp(dims, bias, relu_last, seed=100 + i), f)
        q = os.path.join(out, f"{name}.onnx")
        quantize_static(f, q, Batches(dims[0], seed=200 + i), quant_format=fmt,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=False)
        os.remove(f)
        cut = int8_part(onnx.load(q))
        c = os.path.join(out, f"{name}.int8.onnx")
        onnx.save(cut, c)
        rng = np.random.default_rng(300 + i)
        x = rng.integers(-128, 128, size=(batch, dims[0]), dtype=np.int8)
        sess = ort.InferenceSession(c, providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
        assert y.dtype == np.int8, y.dtype
        np.save(os.path.join(out, f"{name}.x.npy"), x)
        np.save(os.path.join(out, f"{name}.y.npy"), y)
        cases.append({"name": name, "batch": batch, "dims": dims})
    # Hand-built QGemm where float32 requantization and real-number rounding
    # differ: acc = (1 - 0)·1 + (-2022) = -2021, scale s = 0x3DA9D1DD (a float32),
    # -2021·s = -167.4999937 rounds to -167.5 in float32, then to even: -168;
    # plus zero point 100: -68 (real-number rounding would give -67).
    s32 = np.array([1034534109], dtype=np.uint32).view(np.float32)[0]
    g = helper.make_graph(
        [helper.make_node("QGemm", ["x", "one", "zero", "w", "ws", "zero", "b", "one", "yz"], ["y"],
                          domain="com.microsoft")],
        "double-rounding",
        [helper.make_tensor_value_info("x", TensorProto.INT8, ["N", 1])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, ["N", 1])],
        [numpy_helper.from_array(np.array(1.0, np.float32), "one"),
         numpy_helper.from_array(np.array(0, np.int8), "zero"),
         numpy_helper.from_array(np.array([[1]], np.int8), "w"),
         numpy_helper.from_array(np.array(s32, np.float32), "ws"),
         numpy_helper.from_array(np.array([-2022], np.int32), "b"),
         numpy_helper.from_array(np.array(100, np.int8), "yz")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    for suffix in ("onnx", "int8.onnx"):
        onnx.save(m, os.path.join(out, f"double-rounding.{suffix}"))
    x = np.array([[1], [2], [0]], dtype=np.int8)
    sess = ort.InferenceSession(os.path.join(out, "double-rounding.onnx"), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"x": x})
    np.save(os.path.join(out, "double-rounding.x.npy"), x)
    np.save(os.path.join(out, "double-rounding.y.npy"), y)
    cases.append({"name": "double-rounding", "batch": 3, "dims": [1, 1], "y": [int(v) for v in y.ravel()]})
    # Models outside the layer set, each refused naming the operator.
    refused = []
    for i, (name, dims, bias, fmt, kw, op) in enumerate([
        # MatMul + Add (not Gemm) quantizes to QLinearMatMul + QLinearAdd: an int8 add with its own requantization.
        ("matmul-add-qop", [8, 6, 4], "add", QuantFormat.QOperator, {}, "com.microsoft::QLinearAdd"),
        # Per-channel weight scales.
        ("per-channel-qop", [8, 6, 4], True, QuantFormat.QOperator, {"per_channel": True}, "com.microsoft::QGemm"),
        # uint8 activations.
        ("uint8-qop", [8, 6, 4], True, QuantFormat.QOperator, {"activation_type": QuantType.QUInt8}, "QuantizeLinear"),
    ]):
        m = float_mlp(dims, bias is True, False, seed=400 + i)
        if bias == "add":
            m = float_mlp(dims, False, False, seed=400 + i)
            g = m.graph
            rng = np.random.default_rng(500 + i)
            for j, node in enumerate([n for n in g.node if n.op_type == "MatMul"]):
                b = numpy_helper.from_array((rng.normal(size=dims[j + 1]) * 0.3).astype(np.float32), f"A{j}")
                g.initializer.append(b)
                old = node.output[0]
                node.output[0] = old + "_mm"
                g.node.append(helper.make_node("Add", [old + "_mm", f"A{j}"], [old]))
            # Restore a topological order: each Add right after its MatMul.
            order = []
            rest = [n for n in g.node if n.op_type != "Add"]
            adds = {n.input[0]: n for n in g.node if n.op_type == "Add"}
            for n in rest:
                order.append(n)
                if n.output[0] in adds:
                    order.append(adds[n.output[0]])
            del g.node[:]
            g.node.extend(order)
        f = os.path.join(out, f"{name}.float.onnx")
        onnx.save(m, f)
        args = dict(quant_format=fmt, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=False)
        args.update(kw)
        quantize_static(f, os.path.join(out, f"{name}.onnx"), Batches(dims[0], seed=600 + i), **args)
        os.remove(f)
        refused.append({"name": name, "op": op})
    # The unquantized float model itself.
    onnx.save(float_mlp([8, 6, 4], True, False, seed=700), os.path.join(out, "float.onnx"))
    refused.append({"name": "float", "op": "Gemm"})
    with open(os.path.join(out, "cases.json"), "w") as fh:
        json.dump({"onnxruntime": ort.__version__, "cases": cases, "refused": refused}, fh, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
