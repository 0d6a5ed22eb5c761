"""ONNX models, one or a few operators each, with ONNX Runtime's results.

usage: onnx_cases.py DIR

For each case writes DIR/NAME.onnx, DIR/NAME.in.K.npy for its inputs and
DIR/NAME.out.K.npy for ONNX Runtime's outputs, and lists the cases in
DIR/cases.json: {"name", "inputs": [onnx names], "outputs": [onnx names]}.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

out_dir = sys.argv[1]
rng = np.random.default_rng(7)
F = T.FLOAT
cases = []


def f32(*shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def case(name, nodes, inputs, outputs, inits=None, opset=17, want=None):
    """inputs: [(name, array or (elem type, shape with symbols), value)];
    want: the outputs from the feeds, where ONNX Runtime departs from the
    operator's definition (else ONNX Runtime's are expected)."""
    vi_in = []
    feeds = {}
    for iname, value, dims in inputs:
        elem = {np.float32: F, np.int64: T.INT64, np.int32: T.INT32, np.bool_: T.BOOL}[value.dtype.type]
        vi_in.append(h.make_tensor_value_info(iname, elem, dims or list(value.shape)))
        feeds[iname] = value
    vi_out = [h.make_empty_tensor_value_info(o) for o in outputs]
    g = h.make_graph(nodes, name, vi_in, vi_out,
                     [nh.from_array(v, k) for k, v in (inits or {}).items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = min(m.ir_version, 10)
    path = os.path.join(out_dir, f"{name}.onnx")
    onnx.save(m, path)
    if want is None:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        results = sess.run(None, feeds)
    else:
        results = want(**feeds)
    for k, (iname, value, _) in enumerate(inputs):
        np.save(os.path.join(out_dir, f"{name}.in.{k}.npy"), value)
    for k, r in enumerate(results):
        np.save(os.path.join(out_dir, f"{name}.out.{k}.npy"), r)
    cases.append({"name": name, "inputs": [i[0] for i in inputs], "outputs": outputs})


x = f32(2, 3, 4)
pos = f32(2, 3, 4, lo=0.1, hi=3.0)
for op in ["Abs", "Neg", "Exp", "Relu", "Sigmoid", "Tanh", "Sin", "Cos", "Floor", "Ceil", "Sign",
           "Erf", "Softplus", "Reciprocal", "Identity"]:
    case(f"unary_{op}", [h.make_node(op, ["x"], ["y"])], [("x", x, None)], ["y"])
for op in ["Log", "Sqrt"]:
    case(f"unary_{op}", [h.make_node(op, ["x"], ["y"])], [("x", pos, None)], ["y"])
b = f32(3, 4)
for op in ["Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean"]:
    case(f"binary_{op}", [h.make_node(op, ["a", "b"], ["y"])], [("a", x, None), ("b", b, None)], ["y"])
case("pow", [h.make_node("Pow", ["a", "b"], ["y"])], [("a", pos, None), ("b", b, None)], ["y"])
for op in ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]:
    case(f"compare_{op}", [h.make_node(op, ["a", "b"], ["y"])],
         [("a", np.round(x), None), ("b", np.round(b), None)], ["y"])
bools = rng.integers(0, 2, (3, 4)).astype(bool)
case("logic", [h.make_node("Greater", ["a", "z"], ["g"]), h.make_node("And", ["g", "m"], ["y1"]),
               h.make_node("Or", ["g", "m"], ["y2"]), h.make_node("Not", ["m"], ["y3"]),
               h.make_node("Xor", ["g", "m"], ["y4"]),
               h.make_node("Where", ["m", "a", "b"], ["y5"])],
     [("a", b, None), ("b", f32(3, 4), None), ("m", bools, None)], ["y1", "y2", "y3", "y4", "y5"],
     {"z": np.array(0.0, np.float32)})
ints = rng.integers(-9, 10, (3, 4)).astype(np.int64)
case("mod", [h.make_node("Mod", ["a", "d"], ["y"]), h.make_node("Mod", ["f", "e"], ["z"], fmod=1)],
     [("a", ints, None), ("f", x, None)], ["y", "z"],
     {"d": np.array(4, np.int64), "e": np.array(0.7, np.float32)})
case("int_div", [h.make_node("Div", ["a", "d"], ["y"])], [("a", ints, None)], ["y"],
     {"d": np.array(-4, np.int64)})
case("activations", [h.make_node("LeakyRelu", ["x"], ["y1"], alpha=0.1),
                     h.make_node("Elu", ["x"], ["y2"], alpha=0.5),
                     h.make_node("Selu", ["x"], ["y3"]),
                     h.make_node("HardSigmoid", ["x"], ["y4"]),
                     h.make_node("PRelu", ["x", "s"], ["y5"])],
     [("x", x, None)], ["y1", "y2", "y3", "y4", "y5"], {"s": f32(4)})
case("gelu", [h.make_node("Gelu", ["x"], ["y1"]), h.make_node("Gelu", ["x"], ["y2"], approximate="tanh")],
     [("x", x, None)], ["y1", "y2"], opset=20)
case("clip11", [h.make_node("Clip", ["x", "lo", "hi"], ["y"]), h.make_node("Clip", ["x", "lo"], ["z"])],
     [("x", x, None)], ["y", "z"], {"lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32)})
case("clip6", [h.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.7)], [("x", x, None)], ["y"], opset=6)
case("cast", [h.make_node("Cast", ["x"], ["y"], to=T.INT64), h.make_node("Cast", ["y"], ["z"], to=T.FLOAT)],
     [("x", x * 3, None)], ["y", "z"])
case("matmul", [h.make_node("MatMul", ["a", "w"], ["y"])], [("a", x, None)], ["y"], {"w": f32(4, 5)})
case("matmul_batched", [h.make_node("MatMul", ["a", "c"], ["y"])],
     [("a", x, None), ("c", f32(2, 4, 3), None)], ["y"])
case("gemm", [h.make_node("Gemm", ["a", "w", "c"], ["y"], transA=1, transB=1, alpha=0.5, beta=2.0)],
     [("a", f32(4, 3), None)], ["y"], {"w": f32(5, 4), "c": f32(5)})
case("transpose", [h.make_node("Transpose", ["x"], ["y"], perm=[2, 0, 1]),
                   h.make_node("Transpose", ["x"], ["z"])], [("x", x, None)], ["y", "z"])
for op in ["Softmax", "LogSoftmax"]:
    case(f"{op}_13", [h.make_node(op, ["x"], ["y"], axis=1)], [("x", x, None)], ["y"])
    case(f"{op}_11", [h.make_node(op, ["x"], ["y"])], [("x", x, None)], ["y"], opset=11)
case("concat", [h.make_node("Concat", ["a", "b"], ["y"], axis=-1)],
     [("a", x, None), ("b", f32(2, 3, 2), None)], ["y"])
case("reshape_flatten", [h.make_node("Reshape", ["x", "s"], ["y"]), h.make_node("Flatten", ["x"], ["z"], axis=2),
                         h.make_node("Reshape", ["x", "t"], ["w"])],
     [("x", x, None)], ["y", "z", "w"], {"s": np.array([0, -1], np.int64), "t": np.array([4, 6], np.int64)})
case("squeeze13", [h.make_node("Unsqueeze", ["x", "a"], ["u"]), h.make_node("Squeeze", ["u", "a"], ["y"])],
     [("x", x, None)], ["u", "y"], {"a": np.array([0, 3], np.int64)})
case("squeeze11", [h.make_node("Unsqueeze", ["x"], ["u"], axes=[1]), h.make_node("Squeeze", ["u"], ["y"])],
     [("x", x, None)], ["u", "y"], opset=11)
case("expand_tile", [h.make_node("Expand", ["c", "s"], ["y"]), h.make_node("Tile", ["x", "r"], ["z"])],
     [("c", f32(3, 1), None), ("x", x, None)], ["y", "z"],
     {"s": np.array([2, 1, 4], np.int64), "r": np.array([1, 2, 1], np.int64)})
case("gather", [h.make_node("Gather", ["x", "i"], ["y"], axis=1), h.make_node("Gather", ["x", "j"], ["z"])],
     [("x", x, None)], ["y", "z"], {"i": np.array([[2, -1], [0, 1]], np.int64), "j": np.array(1, np.int64)})
case("gather_runtime", [h.make_node("Gather", ["e", "i"], ["y"])],
     [("e", f32(10, 3), None), ("i", np.array([[1, 9], [-2, 0]], np.int64), None)], ["y"])
case("slice", [h.make_node("Slice", ["x", "s", "e", "a", "p"], ["y"]),
               h.make_node("Slice", ["x", "s2", "e2"], ["z"])],
     [("x", x, None)], ["y", "z"],
     {"s": np.array([-1, 0], np.int64), "e": np.array([-100, 3], np.int64), "a": np.array([2, 1], np.int64),
      "p": np.array([-2, 2], np.int64), "s2": np.array([1], np.int64), "e2": np.array([1000], np.int64)})
case("slice1", [h.make_node("Slice", ["x"], ["y"], starts=[0, 1], ends=[1, 3], axes=[0, 2])],
     [("x", x, None)], ["y"], opset=9)
case("split", [h.make_node("Split", ["x", "s"], ["y1", "y2"], axis=2)], [("x", x, None)], ["y1", "y2"],
     {"s": np.array([1, 3], np.int64)})
case("split_even", [h.make_node("Split", ["x"], ["y1", "y2"], axis=2, num_outputs=2)],
     [("x", x, None)], ["y1", "y2"], opset=18)
for op in ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
           "ReduceL2", "ReduceLogSumExp"]:
    case(f"{op}_18", [h.make_node(op, ["x", "a"], ["y"], keepdims=0)], [("x", x, None)], ["y"],
         {"a": np.array([0, 2], np.int64)}, opset=18)
    case(f"{op}_11", [h.make_node(op, ["x"], ["y"], axes=[1])], [("x", x, None)], ["y"], opset=11)
case("argmax", [h.make_node("ArgMax", ["x"], ["y"], axis=1), h.make_node("ArgMin", ["x"], ["z"], axis=-1, keepdims=0)],
     [("x", x, None)], ["y", "z"])
case("cumsum", [h.make_node("CumSum", ["x", "a"], ["y"])], [("x", x, None)], ["y"], {"a": np.array(1, np.int64)})
case("celu_thresholded", [h.make_node("Celu", ["x"], ["c"], alpha=0.7),
                          h.make_node("ThresholdedRelu", ["x"], ["t"], alpha=0.3)],
     [("x", x, None)], ["c", "t"], opset=13)
case("activations_more", [h.make_node("Softsign", ["x"], ["s"]), h.make_node("HardSwish", ["x"], ["hs"]),
                          h.make_node("Mish", ["x"], ["m"]), h.make_node("Shrink", ["x"], ["sh"], bias=0.3, lambd=0.8)],
     [("x", x, None)], ["s", "hs", "m", "sh"], opset=18)
# The hyperbolic functions and their inverses, each on its domain.
case("hyperbolic", [h.make_node("Sinh", ["x"], ["sinh"]), h.make_node("Cosh", ["x"], ["cosh"]),
                    h.make_node("Tan", ["x"], ["tan"]), h.make_node("Asinh", ["x"], ["asinh"]),
                    h.make_node("Acosh", ["g"], ["acosh"]), h.make_node("Atanh", ["u"], ["atanh"])],
     [("x", x, None), ("g", f32(2, 3, 4, lo=1.0, hi=5.0), None), ("u", f32(2, 3, 4, lo=-0.95, hi=0.95), None)],
     ["sinh", "cosh", "tan", "asinh", "acosh", "atanh"])
# The inverse circular functions: atan far out and at the reduction's
# seams (|x| = 1, tan(pi/8)), asin and acos over [-1, 1] and at its ends.
seams = np.array([[-1e4, -3.0, -1.0, -0.41421357, 0.0, 0.41421357], [1.0, 2.5, 1e4, 0.7, -0.2, 7.0]], np.float32)
ends = np.array([[-1.0, -0.999, -0.5, 0.0, 0.5, 1.0], [0.999, 0.3, -0.7, 0.1, -0.05, 0.9]], np.float32)
case("inverse_circular", [h.make_node("Atan", ["x"], ["atan"]), h.make_node("Atan", ["s"], ["atan_seams"]),
                          h.make_node("Asin", ["u"], ["asin"]), h.make_node("Acos", ["u"], ["acos"]),
                          h.make_node("Asin", ["e"], ["asin_ends"]), h.make_node("Acos", ["e"], ["acos_ends"])],
     [("x", x, None), ("s", seams, None), ("u", f32(2, 3, 4, lo=-1.0, hi=1.0), None), ("e", ends, None)],
     ["atan", "atan_seams", "asin", "acos", "asin_ends", "acos_ends"])
# Normalizations over some axes: per instance and channel (3-D and 4-D),
# over chosen axes (MVN), per group of channels (scale and bias per channel
# from opset 21, per group before).
case("normalizations", [h.make_node("InstanceNormalization", ["x", "s3", "b3"], ["inst"], epsilon=1e-3),
                        h.make_node("InstanceNormalization", ["img", "s3", "b3"], ["inst2d"]),
                        h.make_node("MeanVarianceNormalization", ["img"], ["mvn"]),
                        h.make_node("MeanVarianceNormalization", ["img"], ["mvn_axes"], axes=[1, -1])],
     [("x", x, None), ("img", f32(2, 3, 5, 4), ["N", 3, 5, 4])], ["inst", "inst2d", "mvn", "mvn_axes"],
     {"s3": f32(3), "b3": f32(3)}, opset=18)
case("group_norm", [h.make_node("GroupNormalization", ["img", "s", "b"], ["y"], num_groups=3, epsilon=1e-4)],
     [("img", f32(2, 6, 4, 3), ["N", 6, 4, 3])], ["y"], {"s": f32(6), "b": f32(6)}, opset=21)
case("group_norm_18", [h.make_node("GroupNormalization", ["img", "s", "b"], ["y"], num_groups=2)],
     [("img", f32(2, 6, 4, 3), None)], ["y"], {"s": f32(2), "b": f32(2)}, opset=18)
# LpPool: the p-norm of each window, zero padding counted as zeros.
case("lp_pool", [h.make_node("LpPool", ["img"], ["y2"], kernel_shape=[3, 2], pads=[1, 0, 1, 1], strides=[2, 1]),
                 h.make_node("LpPool", ["img"], ["y3"], kernel_shape=[2, 2], p=3, auto_pad="SAME_UPPER"),
                 h.make_node("LpPool", ["x"], ["y1"], kernel_shape=[2], p=1, strides=[2])],
     [("img", f32(2, 3, 5, 4), ["N", 3, 5, 4]), ("x", x, None)], ["y2", "y3", "y1"], opset=11)
# EyeLike off the diagonal, either way, and of another dtype.
case("eye_like", [h.make_node("EyeLike", ["m"], ["up"], k=2), h.make_node("EyeLike", ["m"], ["down"], k=-1),
                  h.make_node("EyeLike", ["m"], ["ints"], dtype=T.INT64)],
     [("m", f32(4, 6), None)], ["up", "down", "ints"], opset=9)
# GatherND: whole-element tuples with a negative index, slices (tuples
# shorter than the rank), and index tuples paired with batches.
cube = f32(3, 4, 5)
case("gather_nd", [h.make_node("GatherND", ["d", "full"], ["elems"]), h.make_node("GatherND", ["d", "part"], ["rows"]),
                   h.make_node("GatherND", ["d", "batched"], ["per_batch"], batch_dims=1)],
     [("d", cube, None)], ["elems", "rows", "per_batch"],
     {"full": np.array([[0, 1, 2], [-1, -2, 4], [2, 0, 0]], np.int64),
      "part": np.array([[[1, 3], [0, -1]], [[2, 2], [1, 0]]], np.int64),
      "batched": np.array([[[1], [3]], [[0], [2]], [[-1], [1]]], np.int64)}, opset=12)
# CumProd along a middle axis of 5 (not a power of two), every mode.
case("cumprod_modes", [h.make_node("CumProd", ["x5", "a"], ["p"]), h.make_node("CumProd", ["x5", "a"], ["e"], exclusive=1),
                       h.make_node("CumProd", ["x5", "a"], ["r"], reverse=1),
                       h.make_node("CumProd", ["x5", "a"], ["er"], exclusive=1, reverse=1),
                       h.make_node("CumProd", ["i", "z"], ["ints"])],
     [("x5", f32(2, 5, 3, lo=0.5, hi=1.5), None), ("i", np.array([[2, -1, 3], [1, 4, -2]], np.int64), None)],
     ["p", "e", "r", "er", "ints"], {"a": np.array(1, np.int64), "z": np.array(-1, np.int64)}, opset=26)
# TopK: ties come out by index, infinities among the picks, the smallest
# along a middle axis, integers, and k as an attribute (opset 1).
ties = np.array([[3.0, -np.inf, 3.0, 1.0, np.inf, 3.0], [-np.inf, -np.inf, 0.5, -np.inf, 2.0, 0.5]], np.float32)
case("top_k", [h.make_node("TopK", ["t", "k4"], ["tv", "ti"]), h.make_node("TopK", ["x", "k2"], ["sv", "si"], axis=1, largest=0),
               h.make_node("TopK", ["i", "k2"], ["iv", "ii"])],
     [("t", ties, None), ("x", x, None), ("i", np.array([[5, -3, 5, 9], [0, 0, -7, 0]], np.int64), None)],
     ["tv", "ti", "sv", "si", "iv", "ii"], {"k4": np.array([4], np.int64), "k2": np.array([2], np.int64)}, opset=11)
case("top_k_attribute", [h.make_node("TopK", ["x"], ["v", "i"], k=3)], [("x", x, None)], ["v", "i"], opset=9)
# Scatters: indices smaller than the data (the rest untouched), negative
# indices, duplicates summed by reduction = add, the other reductions, rows
# (ScatterND tuples shorter than the rank) and single elements, integers.
grid = f32(3, 5)
case("scatter_elements", [h.make_node("ScatterElements", ["d", "ix", "u"], ["y"], axis=1),
                          h.make_node("ScatterElements", ["d", "dup", "u"], ["last"], axis=1),
                          h.make_node("ScatterElements", ["d", "dup", "u"], ["sum"], axis=1, reduction="add"),
                          h.make_node("ScatterElements", ["d", "ix", "u"], ["top"], axis=1, reduction="max"),
                          h.make_node("ScatterElements", ["d", "rows", "u"], ["y0"]),
                          h.make_node("ScatterElements", ["n", "rows", "m"], ["ints"], reduction="mul")],
     [("d", grid, None), ("u", f32(2, 2), None), ("n", np.arange(15, dtype=np.int64).reshape(3, 5), None),
      ("m", np.array([[2, -1], [3, 5]], np.int64), None)], ["y", "last", "sum", "top", "y0", "ints"],
     {"ix": np.array([[4, -5], [1, 3]], np.int64), "dup": np.array([[2, 2], [0, 0]], np.int64),
      "rows": np.array([[-1, 0], [0, 1]], np.int64)}, opset=18)
case("scatter_nd", [h.make_node("ScatterND", ["c", "tuples", "upd"], ["y"]),
                    h.make_node("ScatterND", ["c", "dups", "upd2"], ["last"]),
                    h.make_node("ScatterND", ["c", "rows", "slab"], ["rows_y"]),
                    h.make_node("ScatterND", ["c", "dups", "upd2"], ["sum"], reduction="add"),
                    h.make_node("ScatterND", ["c", "dups", "upd2"], ["prod"], reduction="mul"),
                    h.make_node("ScatterND", ["c", "tuples", "upd"], ["low"], reduction="min")],
     [("c", cube, None), ("upd", f32(3), None), ("slab", f32(2, 4, 5), None), ("upd2", f32(2, 5), None)],
     ["y", "last", "rows_y", "sum", "prod", "low"],
     {"tuples": np.array([[0, 1, 2], [-1, -2, 4], [2, 0, 0]], np.int64), "rows": np.array([[2], [0]], np.int64),
      "dups": np.array([[1, 3], [1, 3]], np.int64)}, opset=18)
# Recurrent operators: every input (biases, initial states, peepholes),
# both directions, GRU's reset after its product, other activations and a
# clip. (The batch first, layout 1, which ONNX Runtime refuses, is checked
# by the ONNX node tests.)
seq = f32(5, 2, 3)
H = 4
case("lstm", [h.make_node("LSTM", ["seq", "lw", "lr", "lb", "", "h0", "c0", "lp"], ["y", "yh", "yc"],
                          hidden_size=H, direction="bidirectional")],
     [("seq", seq, None)], ["y", "yh", "yc"],
     {"lw": f32(2, 4 * H, 3), "lr": f32(2, 4 * H, H), "lb": f32(2, 8 * H), "h0": f32(2, 2, H), "c0": f32(2, 2, H),
      "lp": f32(2, 3 * H)}, opset=14)
case("gru", [h.make_node("GRU", ["seq", "gw", "gr", "gb"], ["y", "yh"], hidden_size=H, linear_before_reset=1,
                         direction="reverse"),
             h.make_node("GRU", ["seq", "gw", "gr", "gb"], ["y0"], hidden_size=H)],
     [("seq", seq, None)], ["y", "yh", "y0"], {"gw": f32(1, 3 * H, 3), "gr": f32(1, 3 * H, H), "gb": f32(1, 6 * H)},
     opset=14)
case("rnn", [h.make_node("RNN", ["seq", "rw", "rr", "rb"], ["y", "yh"], hidden_size=H, activations=["Relu"], clip=1.5)],
     [("seq", seq, None)], ["y", "yh"], {"rw": f32(1, H, 3), "rr": f32(1, H, H), "rb": f32(1, 2 * H)}, opset=14)
# RotaryEmbedding: heads first (4-D) with positions, interleaved pairs and
# part of each head turned; 3-D with the caches per position already.
angles = rng.uniform(0, 6.3, (8, 3)).astype(np.float32)
case("rotary_embedding", [h.make_node("RotaryEmbedding", ["q", "cos", "sin", "pos"], ["y"], interleaved=1,
                                      rotary_embedding_dim=6),
                          h.make_node("RotaryEmbedding", ["k3", "cos_bs", "sin_bs"], ["y3"], num_heads=2)],
     [("q", f32(2, 2, 3, 8), None), ("k3", f32(2, 3, 12), None), ("pos", np.array([[0, 5, 7], [1, 1, 2]], np.int64), None)],
     ["y", "y3"], {"cos": np.cos(angles), "sin": np.sin(angles),
                   "cos_bs": np.cos(angles[:6]).reshape(2, 3, 3), "sin_bs": np.sin(angles[:6]).reshape(2, 3, 3)},
     opset=23)
# GridSample: points inside and past the borders (the grid reaches 1.6),
# every mode against every padding, corners aligned or not; a 3-D volume.
pic, where_to = f32(2, 3, 5, 4), f32(2, 6, 7, 2, lo=-1.6, hi=1.6)
case("grid_sample", [h.make_node("GridSample", ["pic", "at"], ["lz"], mode="linear"),
                     h.make_node("GridSample", ["pic", "at"], ["cr"], mode="cubic", padding_mode="reflection",
                                 align_corners=1),
                     h.make_node("GridSample", ["pic", "at"], ["nb"], mode="nearest", padding_mode="border"),
                     h.make_node("GridSample", ["pic", "at"], ["lr"], mode="linear", padding_mode="reflection"),
                     h.make_node("GridSample", ["pic", "at"], ["cz"], mode="cubic")],
     [("pic", pic, None), ("at", where_to, None)], ["lz", "cr", "nb", "lr", "cz"], opset=20)
case("grid_sample_3d", [h.make_node("GridSample", ["vol", "at3"], ["y"], mode="linear", padding_mode="border")],
     [("vol", f32(1, 2, 3, 4, 5), None), ("at3", f32(1, 2, 3, 4, 3, lo=-1.3, hi=1.3), None)], ["y"], opset=20)
# AffineGrid: the sampling grid of a batch of 2-D and 3-D affine maps.
case("affine_grid", [h.make_node("AffineGrid", ["theta", "size"], ["g"]),
                     h.make_node("AffineGrid", ["theta", "size"], ["ga"], align_corners=1),
                     h.make_node("AffineGrid", ["theta3", "size3"], ["g3"])],
     [("theta", f32(2, 2, 3), None), ("theta3", f32(1, 3, 4), None)], ["g", "ga", "g3"],
     {"size": np.array([2, 3, 4, 5], np.int64), "size3": np.array([1, 1, 2, 3, 4], np.int64)}, opset=20)
# CenterCropPad: one axis cut, one padded (odd differences), one kept;
# Compress along an axis and of the flattened input.
case("crop_pad_compress", [h.make_node("CenterCropPad", ["img", "size"], ["cp"], axes=[2, -1]),
                           h.make_node("Compress", ["img", "keep"], ["c1"], axis=1),
                           h.make_node("Compress", ["x", "flat"], ["c0"])],
     [("img", f32(2, 3, 5, 4), None), ("x", x, None)], ["cp", "c1", "c0"],
     {"size": np.array([2, 7], np.int64), "keep": np.array([True, False, True]),
      "flat": np.array([False, True, True, False, False, True])}, opset=18)
# OneHot: a negative index, one out of range, the depth axis in the middle.
case("onehot", [h.make_node("OneHot", ["i", "depth", "values"], ["y"], axis=1)],
     [("i", np.array([[1, -1, 7], [0, 2, -4]], np.int64), None)], ["y"],
     {"depth": np.array(4, np.int64), "values": np.array([-0.5, 2.0], np.float32)}, opset=11)
case("cumsum_modes", [h.make_node("CumSum", ["x", "a"], ["e"], exclusive=1),
                      h.make_node("CumSum", ["x", "a"], ["r"], reverse=1),
                      h.make_node("CumSum", ["x", "b"], ["er"], exclusive=1, reverse=1)],
     [("x", x, None)], ["e", "r", "er"], {"a": np.array(-1, np.int64), "b": np.array(1, np.int64)})
img = f32(2, 3, 7, 6)
case("conv", [h.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 0, 2, 1], strides=[2, 1], dilations=[1, 2])],
     [("x", img, ["N", 3, 7, 6])], ["y"], {"w": f32(4, 3, 3, 2), "b": f32(4)})
case("conv_same_group", [h.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", group=3)],
     [("x", img, None)], ["y"], {"w": f32(6, 1, 3, 3)})
case("conv_transpose", [h.make_node("ConvTranspose", ["x", "w", "b"], ["y1"], strides=[2, 3], pads=[1, 0, 2, 1],
                                    dilations=[1, 2], output_padding=[1, 0], group=3),
                       h.make_node("ConvTranspose", ["x", "w2"], ["y2"], strides=[2, 2], auto_pad="SAME_UPPER"),
                       h.make_node("ConvTranspose", ["x", "w2"], ["y3"], strides=[3, 2], output_shape=[23, 13]),
                       h.make_node("ConvTranspose", ["x", "w2"], ["y4"], pads=[3, 2, 2, 3])],
     [("x", img, ["N", 3, 7, 6])], ["y1", "y2", "y3", "y4"],
     {"w": f32(3, 2, 3, 2), "b": f32(6), "w2": f32(3, 4, 3, 3)})
case("conv_transpose_1d", [h.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[3], pads=[1, 2], group=2)],
     [("x", f32(2, 4, 11), None)], ["y"], {"w": f32(4, 3, 4)})
case("pools", [h.make_node("MaxPool", ["x"], ["y1"], kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1]),
               h.make_node("AveragePool", ["x"], ["y2"], kernel_shape=[2, 2]),
               h.make_node("AveragePool", ["x"], ["y3"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
               h.make_node("GlobalAveragePool", ["x"], ["y4"]), h.make_node("GlobalMaxPool", ["x"], ["y5"])],
     [("x", img, None)], ["y1", "y2", "y3", "y4", "y5"])
# Padding the language has no keyword for: ceil_mode (a last, partial window),
# SAME_LOWER, count_include_pad = 1; on a 1-D window too.
case("pool_padding", [h.make_node("MaxPool", ["x"], ["y1"], kernel_shape=[2, 3], strides=[2, 2], ceil_mode=1),
                      h.make_node("AveragePool", ["x"], ["y2"], kernel_shape=[3, 2], strides=[2, 2],
                                  pads=[1, 0, 0, 1], ceil_mode=1, count_include_pad=1),
                      h.make_node("AveragePool", ["x"], ["y3"], kernel_shape=[3, 2], strides=[2, 1],
                                  auto_pad="SAME_LOWER"),
                      h.make_node("AveragePool", ["x"], ["y4"], kernel_shape=[2, 3], strides=[2, 2],
                                  auto_pad="SAME_UPPER", count_include_pad=1),
                      h.make_node("MaxPool", ["x"], ["y5"], kernel_shape=[2, 2], strides=[2, 2],
                                  auto_pad="SAME_LOWER"),
                      h.make_node("Conv", ["x", "w"], ["y6"], auto_pad="SAME_LOWER", strides=[2, 2])],
     [("x", img, None)], ["y1", "y2", "y3", "y4", "y5", "y6"], {"w": f32(4, 3, 2, 3)})
# Dilated pools, which the language's pools do not take: written tap by tap.
case("pool_dilated", [h.make_node("MaxPool", ["x"], ["y1"], kernel_shape=[2, 2], strides=[1, 2], dilations=[2, 2],
                                  pads=[1, 1, 0, 1]),
                      h.make_node("AveragePool", ["x"], ["y2"], kernel_shape=[2, 3], strides=[2, 1],
                                  dilations=[3, 2], pads=[1, 0, 1, 1], ceil_mode=1),
                      h.make_node("AveragePool", ["x"], ["y3"], kernel_shape=[2, 2], strides=[2, 2],
                                  dilations=[2, 1], pads=[1, 1, 1, 1], count_include_pad=1)],
     [("x", img, None)], ["y1", "y2", "y3"], opset=19)
case("pool1d_ceil", [h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[4], strides=[3], ceil_mode=1)],
     [("x", f32(2, 4, 11), None)], ["y"])
# Ties (small integers), the last extreme chosen.
ties = rng.integers(0, 3, (3, 5, 4)).astype(np.float32)
case("arg_last", [h.make_node("ArgMax", ["x"], ["a"], axis=1, select_last_index=1),
                  h.make_node("ArgMin", ["x"], ["b"], axis=-1, keepdims=0, select_last_index=1)],
     [("x", ties, None)], ["a", "b"])
# Normalisations, reductions and shape moves that are compositions in tfg.
case("layer_norm", [h.make_node("LayerNormalization", ["x", "s", "b"], ["y", "m", "r"], axis=-2, epsilon=1e-3),
                    h.make_node("LayerNormalization", ["x", "s2"], ["y2"])],
     [("x", x, None)], ["y", "m", "r", "y2"], {"s": f32(3, 4), "b": f32(3, 4), "s2": f32(4)})
case("rms_norm", [h.make_node("RMSNormalization", ["x", "s"], ["y"], axis=1)],
     [("x", x, None)], ["y"], {"s": f32(3, 4)}, opset=23)
case("lp_norm", [h.make_node("LpNormalization", ["x"], ["y1"], axis=1, p=1),
                 h.make_node("LpNormalization", ["z"], ["y2"])],
     [("x", x, None), ("z", np.array([[0, 0, 0], [3, 4, 0]], np.float32), None)], ["y1", "y2"])
case("reduce_l1_logsum", [h.make_node("ReduceL1", ["x"], ["a"], axes=[1], keepdims=0),
                          h.make_node("ReduceLogSum", ["p"], ["b"], axes=[0, 2])],
     [("x", x, None), ("p", pos, None)], ["a", "b"], opset=17)
case("castlike_isinf_round", [h.make_node("CastLike", ["x", "i"], ["c"]),
                              h.make_node("IsInf", ["s"], ["inf"]),
                              h.make_node("IsInf", ["s"], ["neg"], detect_positive=0),
                              h.make_node("IsInf", ["s"], ["none"], detect_positive=0, detect_negative=0),
                              h.make_node("IsNaN", ["s"], ["nan"]),
                              h.make_node("Round", ["r"], ["rounded"])],
     [("x", x * 3, None), ("i", np.array([1], np.int64), None),
      ("s", np.array([1.0, np.inf, -np.inf, np.nan, -0.0], np.float32), None),
      ("r", np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, -2.6, 7.0, -0.0, np.inf], np.float32), None)],
     ["c", "inf", "neg", "none", "nan", "rounded"])
case("hardmax_trilu", [h.make_node("Hardmax", ["t"], ["h1"]),
                       h.make_node("Hardmax", ["t"], ["h2"], axis=1),
                       h.make_node("Trilu", ["x", "k"], ["up"]),
                       h.make_node("Trilu", ["x"], ["low"], upper=0)],
     [("t", rng.integers(0, 3, (2, 3, 4)).astype(np.float32), None), ("x", x, None)], ["h1", "h2", "up", "low"],
     {"k": np.array(1, np.int64)}, opset=14)
case("hardmax_v11", [h.make_node("Hardmax", ["t"], ["h"], axis=1)],
     [("t", rng.integers(0, 3, (2, 3, 4)).astype(np.float32), None)], ["h"], opset=11)
case("depth_space", [h.make_node("SpaceToDepth", ["x"], ["d"], blocksize=2),
                     h.make_node("DepthToSpace", ["y"], ["s1"], blocksize=2),
                     h.make_node("DepthToSpace", ["y"], ["s2"], blocksize=2, mode="CRD")],
     [("x", f32(2, 3, 4, 6), ["N", 3, 4, 6]), ("y", f32(2, 8, 3, 2), None)], ["d", "s1", "s2"])
# Integer arithmetic on known values (folded at import where no element
# repeats but a single one), broadcasting [3, 1] against [1, 3] included.
case("fold_masks", [h.make_node("Range", ["zero", "three", "one"], ["r"]),
                    h.make_node("Unsqueeze", ["r", "ax1"], ["col"]),
                    h.make_node("Unsqueeze", ["r", "ax0"], ["row"]),
                    h.make_node("Sub", ["col", "row"], ["d"]),
                    h.make_node("Mod", ["d", "two"], ["m"]),
                    h.make_node("Div", ["d", "two"], ["q"]),
                    h.make_node("Equal", ["m", "zero"], ["even"]),
                    h.make_node("Less", ["d", "zero"], ["below"]),
                    h.make_node("Not", ["below"], ["above"]),
                    h.make_node("And", ["even", "above"], ["keep"]),
                    h.make_node("Where", ["keep", "x", "zeros"], ["y"]),
                    h.make_node("Cast", ["q", ], ["qf"], to=T.FLOAT),
                    h.make_node("Add", ["y", "qf"], ["z"])],
     [("x", f32(3, 3), None)], ["z"],
     {"zero": np.array(0, np.int64), "three": np.array(3, np.int64), "one": np.array(1, np.int64),
      "two": np.array(2, np.int64), "ax0": np.array([0], np.int64), "ax1": np.array([1], np.int64),
      "zeros": np.zeros((3, 3), np.float32)}, opset=14)
# GatherElements and the classification losses (one-hot selections).
case("gather_elements", [h.make_node("GatherElements", ["x", "i"], ["y1"], axis=1),
                         h.make_node("GatherElements", ["x", "j"], ["y2"], axis=0)],
     [("x", x, None), ("i", rng.integers(-3, 3, (2, 5, 4)).astype(np.int64), None),
      ("j", rng.integers(0, 2, (1, 2, 3)).astype(np.int64), None)], ["y1", "y2"], opset=13)
scores = f32(4, 5, 3)
labels = rng.integers(0, 5, (4, 3)).astype(np.int64)
labels[1, 2] = -1
case("losses", [h.make_node("NegativeLogLikelihoodLoss", ["s", "t", "w"], ["nll"], ignore_index=-1),
                h.make_node("NegativeLogLikelihoodLoss", ["s", "t0"], ["nll_sum"], reduction="sum"),
                h.make_node("SoftmaxCrossEntropyLoss", ["s", "t", "w"], ["sce", "logp"], ignore_index=-1),
                h.make_node("SoftmaxCrossEntropyLoss", ["s", "t0"], ["sce_none"], reduction="none")],
     [("s", scores, None), ("t", labels, None), ("t0", np.abs(labels), None)],
     ["nll", "nll_sum", "sce", "logp", "sce_none"], {"w": f32(5, lo=0.2, hi=1.5)}, opset=13)
# Resize: nearest and linear, by scales or sizes, over the coordinate modes.
case("resize", [h.make_node("Resize", ["x", "", "up"], ["y1"], mode="nearest"),
                h.make_node("Resize", ["x", "", "", "sizes"], ["y2"], mode="linear"),
                h.make_node("Resize", ["x", "", "down"], ["y3"], mode="linear"),
                h.make_node("Resize", ["x", "", "", "small"], ["y6"], mode="linear",
                            coordinate_transformation_mode="align_corners"),
                h.make_node("Resize", ["x", "", "", "sizes"], ["y4"], mode="nearest",
                            coordinate_transformation_mode="asymmetric", nearest_mode="ceil"),
                h.make_node("Resize", ["x", "", "up"], ["y5"], mode="linear",
                            coordinate_transformation_mode="pytorch_half_pixel")],
     [("x", img, None)], ["y1", "y2", "y3", "y4", "y5", "y6"],
     {"up": np.array([1, 1, 2, 1.5], np.float32), "down": np.array([1, 1, 0.6, 0.5], np.float32),
      "sizes": np.array([2, 3, 10, 4], np.int64), "small": np.array([2, 3, 4, 3], np.int64)}, opset=13)
# Resize at opset 19: cubic (exclude_outside, another coefficient), axes,
# a kept aspect ratio, half_pixel_symmetric, antialiased downsampling, a
# crop past the input's edges.
case("resize_cubic", [h.make_node("Resize", ["x", "", "up"], ["c1"], mode="cubic"),
                      h.make_node("Resize", ["x", "", "", "hw"], ["c2"], mode="cubic", axes=[3, 2],
                                  exclude_outside=1, cubic_coeff_a=-0.5),
                      h.make_node("Resize", ["x", "", "", "hw"], ["n1"], mode="nearest", axes=[2, 3],
                                  keep_aspect_ratio_policy="not_larger"),
                      h.make_node("Resize", ["x", "", "", "hw"], ["l1"], mode="linear", axes=[2, 3],
                                  keep_aspect_ratio_policy="not_smaller",
                                  coordinate_transformation_mode="half_pixel_symmetric"),
                      h.make_node("Resize", ["x", "", "down"], ["a1"], mode="linear", antialias=1),
                      h.make_node("Resize", ["x", "", "down"], ["a2"], mode="cubic", antialias=1),
                      h.make_node("Resize", ["x", "roi", "", "crop"], ["t1"], mode="linear", axes=[2, 3],
                                  coordinate_transformation_mode="tf_crop_and_resize",
                                  extrapolation_value=2.5)],
     [("x", img, None)], ["c1", "c2", "n1", "l1", "a1", "a2", "t1"],
     {"up": np.array([1, 1, 1.7, 0.6], np.float32), "hw": np.array([9, 4], np.int64),
      "down": np.array([1, 1, 0.4, 0.7], np.float32), "crop": np.array([5, 4], np.int64),
      "roi": np.array([0.2, -0.3, 0.9, 1.2], np.float32)}, opset=19)
# Attention (opset 23): 4-D with a boolean mask, causal, a
# past; 3-D with grouped KV heads, a scale and a softcap.
case("attention", [h.make_node("Attention", ["q", "k", "v", "m", "pk", "pv"], ["y", "kp", "vp", "qk"],
                               is_causal=1, qk_matmul_output_mode=3),
                   h.make_node("Attention", ["q3", "k3", "v3"], ["y3"], q_num_heads=4, kv_num_heads=2,
                               scale=0.3, softcap=2.0)],
     [("q", f32(2, 3, 4, 8), None), ("k", f32(2, 3, 5, 8), None), ("v", f32(2, 3, 5, 6), None),
      ("m", rng.uniform(size=(4, 7)) > 0.3, None), ("pk", f32(2, 3, 2, 8), None), ("pv", f32(2, 3, 2, 6), None),
      ("q3", f32(2, 4, 16), None), ("k3", f32(2, 6, 8), None), ("v3", f32(2, 6, 10), None)],
     ["y", "kp", "vp", "qk", "y3"], opset=23)
case("batchnorm", [h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)],
     [("x", img, None)], ["y"],
     {"s": f32(3), "b": f32(3), "m": f32(3), "v": f32(3, lo=0.5, hi=2.0)})
case("lrn", [h.make_node("LRN", ["x"], ["y"], size=3, alpha=1e-2, beta=0.75, bias=1.5)],
     [("x", img, None)], ["y"])
case("pad", [h.make_node("Pad", ["x", "p", "v"], ["y"])], [("x", x, None)], ["y"],
     {"p": np.array([0, 1, 2, 1, 0, 1], np.int64), "v": np.array(0.5, np.float32)})
# Pad's other modes, wider than the axis where they repeat it (opset 19: wrap).
case("pad_modes", [h.make_node("Pad", ["x", "p"], ["edge"], mode="edge"),
                   h.make_node("Pad", ["x", "p"], ["reflect"], mode="reflect"),
                   h.make_node("Pad", ["x", "pw", "", "ax"], ["wrap"], mode="wrap")],
     [("x", x, None)], ["edge", "reflect", "wrap"],
     {"p": np.array([1, 0, 2, 0, 1, 3], np.int64), "pw": np.array([2, 5, 1, 0], np.int64),
      "ax": np.array([1, 2], np.int64)}, opset=19)
case("dropout_constant", [h.make_node("Dropout", ["x"], ["d"]),
                          h.make_node("Constant", [], ["c"], value=nh.from_array(f32(4), "c")),
                          h.make_node("Add", ["d", "c"], ["y"])], [("x", x, None)], ["y"])
# PyTorch's flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape, a symbolic batch.
case("shape_subgraph", [h.make_node("Shape", ["x"], ["sh"]), h.make_node("Gather", ["sh", "zero"], ["n"]),
                        h.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
                        h.make_node("Concat", ["n1", "m1"], ["ns"], axis=0),
                        h.make_node("Reshape", ["x", "ns"], ["y"]),
                        h.make_node("ConstantOfShape", ["sh"], ["z"],
                                    value=nh.from_array(np.array([1.5], np.float32)))],
     [("x", x, ["batch", 3, 4])], ["y", "z"],
     {"zero": np.array(0, np.int64), "ax": np.array([0], np.int64), "m1": np.array([-1], np.int64)})
# Shapes, bounds and axes given as graph inputs: tfg compiles the model for their fed values.
case("shapes_from_inputs", [h.make_node("Add", ["shape:0", "zero"], ["s2"]),
                            h.make_node("Reshape", ["x", "s2"], ["y"]),
                            h.make_node("Slice", ["x", "starts", "ends", "axes"], ["z"]),
                            h.make_node("ReduceSum", ["x", "raxes"], ["r"], keepdims=0)],
     [("x", x, None), ("shape:0", np.array([4, -1], np.int64), None),
      ("starts", np.array([1, 0], np.int64), None), ("ends", np.array([3, -1], np.int64), None),
      ("axes", np.array([1, 2], np.int64), None), ("raxes", np.array([0, 2], np.int64), None)],
     ["y", "z", "r"], {"zero": np.array([0], np.int64)}, opset=18)
# Shape arithmetic the importer folds: Size, Neg, a small ConstantOfShape, Max with a fed shape.
case("shape_folds", [h.make_node("Shape", ["x"], ["sh"]), h.make_node("Size", ["sh"], ["rank"]),
                     h.make_node("Sub", ["rank", "two"], ["one"]),
                     h.make_node("ConstantOfShape", ["one"], ["three"],
                                 value=nh.from_array(np.array([3], np.int64))),
                     h.make_node("Neg", ["minus4"], ["four"]),
                     h.make_node("Slice", ["sh", "zero", "one"], ["first"]),
                     h.make_node("Concat", ["first", "three", "four"], ["target"], axis=0),
                     h.make_node("Reshape", ["x", "target"], ["y"]),
                     h.make_node("Max", ["target", "s"], ["big"]),
                     h.make_node("Expand", ["x", "big"], ["z"])],
     [("x", x, None), ("s", np.array([1, 3, 1], np.int64), None)], ["y", "z"],
     {"two": np.array([2], np.int64), "zero": np.array([0], np.int64),
      "minus4": np.array([-4], np.int64)}, opset=13)
# 1-D windows (NCL), run as 2-D ones of height 1.
seq = f32(2, 4, 11)
case("conv1d", [h.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 2], strides=[2], dilations=[2], group=2),
                h.make_node("MaxPool", ["x"], ["m"], kernel_shape=[3], strides=[2], pads=[1, 1]),
                h.make_node("AveragePool", ["x"], ["a"], kernel_shape=[2], auto_pad="VALID")],
     [("x", seq, None)], ["y", "m", "a"], {"w": f32(6, 2, 3), "b": f32(6)})
# 3-D pools (NCDHW), run as two 2-D pools: explicit pads, "same", "valid".
vol = f32(2, 3, 7, 8, 9)
case("pool3d", [h.make_node("MaxPool", ["x"], ["m1"], kernel_shape=[3, 2, 3], strides=[2, 1, 2],
                            pads=[1, 0, 1, 0, 1, 1]),
                h.make_node("AveragePool", ["x"], ["a1"], kernel_shape=[3, 3, 2], strides=[1, 2, 2],
                            pads=[1, 1, 0, 1, 1, 1]),
                h.make_node("AveragePool", ["x"], ["a2"], kernel_shape=[3, 3, 3], strides=[2, 2, 2],
                            auto_pad="SAME_UPPER"),
                h.make_node("MaxPool", ["x"], ["m2"], kernel_shape=[2, 3, 3], strides=[2, 2, 1],
                            auto_pad="VALID")],
     [("x", vol, ["N", 3, 7, 8, 9])], ["m1", "a1", "a2", "m2"])
case("pool3d_padding", [h.make_node("MaxPool", ["x"], ["m"], kernel_shape=[2, 3, 2], strides=[2, 2, 2],
                                    ceil_mode=1),
                        h.make_node("AveragePool", ["x"], ["a1"], kernel_shape=[3, 2, 2], strides=[2, 3, 2],
                                    pads=[1, 0, 1, 0, 1, 0], ceil_mode=1, count_include_pad=1),
                        h.make_node("AveragePool", ["x"], ["a2"], kernel_shape=[2, 3, 2], strides=[1, 2, 2],
                                    auto_pad="SAME_LOWER")],
     [("x", vol, None)], ["m", "a1", "a2"])


def dilated_same_pools(x):
    """MaxPool and AveragePool, kernel 3x2, strides 2x1, dilations 2x2,
    SAME_UPPER, by the ONNX definition: output ceil(H / stride), the total
    padding (out - 1)·stride + (k - 1)·dilation + 1 - H split with the odd
    element at the end; pads are not counted."""
    n, c, hh, ww = x.shape
    (kh, kw), (sh, sw), (dh, dw) = (3, 2), (2, 1), (2, 2)
    oh, ow = -(-hh // sh), -(-ww // sw)
    th = (oh - 1) * sh + (kh - 1) * dh + 1 - hh
    tw = (ow - 1) * sw + (kw - 1) * dw + 1 - ww
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2)),
                constant_values=np.nan)
    m, a = np.zeros((n, c, oh, ow)), np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            w = xp[:, :, i * sh:i * sh + (kh - 1) * dh + 1:dh, j * sw:j * sw + (kw - 1) * dw + 1:dw]
            m[:, :, i, j] = np.nanmax(w.reshape(n, c, -1), axis=2)
            a[:, :, i, j] = np.nanmean(w.reshape(n, c, -1), axis=2)
    return [m.astype(np.float32), a.astype(np.float32)]


case("pool_dilated_same", [h.make_node(op, ["x"], [o], kernel_shape=[3, 2], strides=[2, 1], dilations=[2, 2],
                                       auto_pad="SAME_UPPER") for op, o in [("MaxPool", "m"), ("AveragePool", "a")]],
     [("x", img, None)], ["m", "a"], opset=19, want=dilated_same_pools)
case("pool3d_dilated", [h.make_node("MaxPool", ["x"], ["m"], kernel_shape=[2, 2, 2], strides=[1, 2, 1],
                                    dilations=[2, 1, 3], pads=[1, 0, 1, 0, 1, 1]),
                        h.make_node("AveragePool", ["x"], ["a"], kernel_shape=[2, 2, 3], strides=[2, 1, 2],
                                    dilations=[3, 2, 1], ceil_mode=1)],
     [("x", vol, None)], ["m", "a"], opset=19)
# Reductions ONNX defines beyond numpy: max/min of booleans (opset 20), and
# of an empty axis (the identity).
case("reduce_bool", [h.make_node("ReduceMax", ["m", "ax"], ["any"], keepdims=0),
                     h.make_node("ReduceMin", ["m", "ax"], ["all"])],
     [("m", rng.uniform(size=(3, 4)) > 0.3, None)], ["any", "all"], {"ax": np.array([1], np.int64)},
     opset=20)
case("reduce_empty", [h.make_node("ReduceMax", ["e"], ["emax"], axes=[1]),
                      h.make_node("ReduceMin", ["e"], ["emin"], axes=[1], keepdims=0),
                      h.make_node("ReduceLogSumExp", ["e"], ["else"], axes=[1])],
     [("e", np.zeros((2, 0, 3), np.float32), None)], ["emax", "emin", "else"], opset=13)

with open(os.path.join(out_dir, "cases.json"), "w") as f:
    json.dump(cases, f)
print(len(cases))

# Not a case: operators tfg does not support, for the error that lists them.
g = h.make_graph([h.make_node("Relu", ["x"], ["a"]), h.make_node("NonZero", ["a"], ["b"], name="nz1"),
                  h.make_node("NonZero", ["a"], ["c"]), h.make_node("Unique", ["a"], ["d"], name="uniq")],
                 "unsupported", [h.make_tensor_value_info("x", F, [4])], [h.make_empty_tensor_value_info("b")])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), os.path.join(out_dir, "unsupported.onnx"))
