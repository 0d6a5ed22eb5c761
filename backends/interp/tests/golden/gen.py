#!/usr/bin/env python3
"""Writes cases.json: numpy reference results for the tfg interpreter.

Each case is a small graph (leaves, then nodes in order, then outputs) with the
expected value of every output, computed by numpy in float64 from the same
f32-rounded inputs (integers and bools in their own dtype, which is exact).
The Rust test `tests/golden.rs` rebuilds each graph with `Graph::add`, runs it
and compares within SPEC §1.6.

Run from anywhere: `python3 backends/interp/tests/golden/gen.py` (needs only
numpy). The output is deterministic for a given numpy version.

Format of cases.json: {"cases": [CASE, ...]}, one case per line, where
  CASE   = {"name", "leaves": [LEAF], "nodes": [NODE], "outputs": [OUTPUT]}
  LEAF   = {"name", "kind": "input"|"param"|"const", "tensor": TENSOR}
  NODE   = {"name", "op": IR op name, "args": [value names], "attrs": {...}}
  OUTPUT = {"name", "tol": "elementwise"|"reduction", "expect": TENSOR,
            "scale": TENSOR or null}
  TENSOR = {"dtype": "f32"|"f64"|"i32"|"i64"|"bool", "shape": [...],
            "data": row-major list; floats may be "nan", "inf", "-inf"}
Integer and bool outputs must match exactly. A float output matches when
|got - want| <= rtol * max(|want|, scale) + 1e-12, with rtol 1e-5 for
"elementwise" and 1e-4 for "reduction"; `scale` (same shape as the output)
bounds the magnitudes that went into each element, such as sum(|x|) for a
sum, so that cancellation near zero is judged against the operands.
"""

import json
import math
import os
import warnings

import numpy as np

rng = np.random.default_rng(20240601)

FLOATS = ["f32", "f64"]
INTS = ["i32", "i64"]
NUMERIC = FLOATS + INTS
ALL = NUMERIC + ["bool"]
NP = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "bool": np.bool_}


# ---------------------------------------------------------------- values


def as_dtype(x, dtype):
    """`x` rounded to tfg's `dtype`, held as float64 for floats (the reference
    precision) and in its own dtype otherwise."""
    x = np.asarray(x)
    if dtype in FLOATS:
        return x.astype(NP[dtype]).astype(np.float64)
    return x.astype(NP[dtype])


def random(dtype, shape, lo=-3.0, hi=3.0):
    shape = tuple(shape)
    if dtype in FLOATS:
        return as_dtype(rng.uniform(lo, hi, size=shape), dtype)
    if dtype in INTS:
        return as_dtype(rng.integers(int(lo), int(hi) + 1, size=shape), dtype)
    return rng.random(size=shape) < 0.5


def random_shape(rank, lo=1, hi=4):
    return [int(d) for d in rng.integers(lo, hi + 1, size=rank)]


def encode_float(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x)


def tensor(x, dtype):
    x = np.asarray(x)
    flat = x.reshape(-1)
    if dtype in FLOATS:
        data = [encode_float(v) for v in flat.astype(np.float64)]
    elif dtype in INTS:
        data = [int(v) for v in flat]
    else:
        data = [bool(v) for v in flat]
    return {"dtype": dtype, "shape": list(x.shape), "data": data}


# ---------------------------------------------------------------- cases


class Case:
    """A graph under construction, with the numpy value of each of its names."""

    def __init__(self, name):
        self.name = name
        self.leaves, self.nodes, self.outputs = [], [], []
        self.values, self.dtypes = {}, {}

    def _fresh(self, prefix):
        return f"{prefix}{len(self.values)}"

    def leaf(self, x, dtype, kind=None):
        """A leaf holding `x`; most are inputs, some params and constants."""
        name = self._fresh("x")
        kind = kind or str(rng.choice(["input", "input", "input", "param", "const"]))
        x = as_dtype(x, dtype)
        self.leaves.append({"name": name, "kind": kind, "tensor": tensor(x, dtype)})
        self.values[name], self.dtypes[name] = x, dtype
        return name

    def node(self, op, args, value, dtype, **attrs):
        name = self._fresh("v")
        self.nodes.append({"name": name, "op": op, "args": list(args), "attrs": attrs})
        self.values[name], self.dtypes[name] = as_dtype(value, dtype), dtype
        return name

    def output(self, name, tol="elementwise", scale=None):
        dtype = self.dtypes[name]
        out = {"name": name, "tol": tol, "expect": tensor(self.values[name], dtype), "scale": None}
        if scale is not None:
            scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), self.values[name].shape)
            out["scale"] = tensor(scale, "f64")
        self.outputs.append(out)

    def __getitem__(self, name):
        return self.values[name]

    def json(self):
        return {"name": self.name, "leaves": self.leaves, "nodes": self.nodes, "outputs": self.outputs}


CASES = []


def case(name):
    c = Case(name)
    CASES.append(c)
    return c


# ---------------------------------------------------------------- elementwise

# Inputs inside each function's domain, away from f32 overflow.
UNARY_DOMAIN = {
    "log": (0.05, 5.0), "sqrt": (0.0, 9.0), "rsqrt": (0.05, 9.0), "exp": (-8.0, 8.0),
    "tanh": (-4.0, 4.0), "sigmoid": (-12.0, 12.0), "sin": (-7.0, 7.0), "cos": (-7.0, 7.0),
}


def sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


UNARY = {
    "neg": lambda x: -x,
    "abs": np.abs,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "square": lambda x: x * x,
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "relu": lambda x: np.maximum(x, np.zeros_like(x)),
    "sin": np.sin,
    "cos": np.cos,
    "floor": np.floor,
    "ceil": np.ceil,
    "sign": np.sign,
    "reciprocal": lambda x: 1.0 / x,
    "not": np.logical_not,
}
FLOAT_ONLY = {"exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "sin", "cos", "floor", "ceil", "reciprocal"}

# Special values each float unary op is checked on (none that overflow f32
# but not f64, where the two references would rightly differ).
SPECIALS = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e-3, -30.0, 30.0]
SPECIALS_SAFE_FOR = {"exp": [v for v in SPECIALS if abs(v) != 30.0] + [-100.0, 80.0]}


def unary_dtypes(op):
    if op == "not":
        return ["bool"]
    return FLOATS if op in FLOAT_ONLY else NUMERIC


def unary_input(op, dtype, shape):
    if dtype == "bool":
        return random("bool", shape)
    if dtype in INTS:
        return random(dtype, shape, -20, 20)
    if op == "reciprocal":
        x = random(dtype, shape, 0.2, 3.0)
        return x * np.where(rng.random(size=x.shape) < 0.5, -1.0, 1.0)
    lo, hi = UNARY_DOMAIN.get(op, (-5.0, 5.0))
    return random(dtype, shape, lo, hi)


def gen_unary():
    for op, f in UNARY.items():
        for dtype in unary_dtypes(op):
            for rank in (0, 1, 2, 3):
                c = case(f"{op}_{dtype}_rank{rank}")
                x = c.leaf(unary_input(op, dtype, random_shape(rank)), dtype)
                with np.errstate(all="ignore"):
                    c.output(c.node(op, [x], f(c[x]), dtype))
            if dtype in FLOATS:
                c = case(f"{op}_{dtype}_specials")
                x = c.leaf(np.array(SPECIALS_SAFE_FOR.get(op, SPECIALS)), dtype)
                with np.errstate(all="ignore"):
                    c.output(c.node(op, [x], f(c[x]), dtype))
    # Integer edge cases: wrapping negation and abs of the minimum, sign of 0.
    for dtype in INTS:
        lo = np.iinfo(NP[dtype]).min
        c = case(f"int_unary_edges_{dtype}")
        x = c.leaf(np.array([lo, lo + 1, -1, 0, 1, 46341]), dtype)
        with np.errstate(all="ignore"):
            for op in ("neg", "abs", "square", "relu", "sign"):
                c.output(c.node(op, [x], UNARY[op](c[x]), dtype))


def int_pow(a, b):
    """tfg's integer power: wrapping for b >= 0; for b < 0, 0 unless a is ±1."""
    with np.errstate(all="ignore"):
        pos = np.power(a, np.maximum(b, 0).astype(a.dtype))
    odd = (b % 2) != 0
    neg = np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0)).astype(a.dtype)
    return np.where(b < 0, neg, pos)


def int_div(a, b):
    with np.errstate(all="ignore"):
        return np.where(b == 0, 0, np.floor_divide(a, np.where(b == 0, 1, b))).astype(a.dtype)


ARITH = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: int_div(a, b) if a.dtype.kind == "i" else a / b,
    "pow": lambda a, b: int_pow(a, b) if a.dtype.kind == "i" else np.power(a, b),
    "maximum": np.maximum,
    "minimum": np.minimum,
}
COMPARE = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal,
}


def broadcast_shapes(n):
    """`n` shapes that broadcast together: suffixes of one random shape (so
    ranks differ) with some dims replaced by 1."""
    target = random_shape(int(rng.integers(0, 4)))

    def operand():
        s = target[int(rng.integers(0, len(target) + 1)):]
        return [1 if rng.random() < 0.3 else d for d in s]

    return [operand() for _ in range(n)]


def binary_inputs(op, dtype, sa, sb):
    if dtype == "bool":
        return random("bool", sa), random("bool", sb)
    if op == "pow" and dtype in FLOATS:
        return random(dtype, sa, 0.1, 3.0), random(dtype, sb, -3.0, 3.0)
    if op == "pow":
        return random(dtype, sa, -4, 4), random(dtype, sb, -3, 6)
    if op == "div" and dtype in FLOATS:
        b = random(dtype, sb, 0.25, 3.0) * np.where(rng.random(size=sb) < 0.5, -1.0, 1.0)
        return random(dtype, sa), b
    if dtype in INTS:
        return random(dtype, sa, -30, 30), random(dtype, sb, -7, 7)
    if op in COMPARE:
        # Few distinct values so that equality happens.
        return as_dtype(rng.integers(-2, 3, size=sa) * 0.5, dtype), as_dtype(rng.integers(-2, 3, size=sb) * 0.5, dtype)
    return random(dtype, sa), random(dtype, sb)


def gen_binary():
    fixed = [([], []), ([3], [3]), ([2, 3], [3]), ([2, 1], [1, 4]), ([], [2, 3]), ([4, 1, 3], [2, 1]), ([0, 3], [1])]
    for op in list(ARITH) + list(COMPARE):
        f = ARITH.get(op) or COMPARE[op]
        dtypes = ALL if op in ("eq", "ne") else NUMERIC
        for dtype in dtypes:
            shapes = fixed + [broadcast_shapes(2) for _ in range(3)]
            for i, (sa, sb) in enumerate(shapes):
                c = case(f"{op}_{dtype}_{i}")
                a_val, b_val = binary_inputs(op, dtype, sa, sb)
                a, b = c.leaf(a_val, dtype), c.leaf(b_val, dtype)
                out_dtype = "bool" if op in COMPARE else dtype
                with np.errstate(all="ignore"):
                    c.output(c.node(op, [a, b], f(c[a], c[b]), out_dtype))

    nan, inf = math.nan, math.inf
    for dtype in FLOATS:
        c = case(f"binary_specials_{dtype}")
        a = c.leaf(np.array([nan, 1.0, nan, inf, -inf, 0.0, -0.0, 1.0, -1.0, 0.0, 2.0, -8.0, inf, 0.0]), dtype)
        b = c.leaf(np.array([1.0, nan, nan, -inf, -inf, 0.0, 0.0, 0.0, 0.0, -1.0, 0.5, 1 / 3, 0.0, 0.0]), dtype)
        with np.errstate(all="ignore"):
            for op in list(ARITH) + list(COMPARE):
                f = ARITH.get(op) or COMPARE[op]
                out_dtype = "bool" if op in COMPARE else dtype
                c.output(c.node(op, [a, b], f(c[a], c[b]), out_dtype))
    for dtype in INTS:
        info = np.iinfo(NP[dtype])
        c = case(f"binary_int_edges_{dtype}")
        a = c.leaf(np.array([info.max, info.min, info.min, 7, -7, 7, -7, 5, 0, 1, -1, -1, 2, 3]), dtype)
        b = c.leaf(np.array([1, -1, 1, 2, 2, -2, -2, 0, 0, -3, -3, -4, 40, 50]), dtype)
        for op in ARITH:
            with np.errstate(all="ignore"):
                c.output(c.node(op, [a, b], ARITH[op](c[a], c[b]), dtype))


def gen_select():
    for dtype in ALL:
        for i in range(4):
            sc, sa, sb = broadcast_shapes(3) if i else ([], [2, 1], [3])
            c = case(f"select_{dtype}_{i}")
            cond = c.leaf(random("bool", sc), "bool")
            a, b = c.leaf(random(dtype, sa), dtype), c.leaf(random(dtype, sb), dtype)
            c.output(c.node("select", [cond, a, b], np.where(c[cond], c[a], c[b]), dtype))


# ---------------------------------------------------------------- reductions


def all_axis_sets(rank):
    return [[a for a in range(rank) if mask >> a & 1] for mask in range(1 << rank)]


def reduce_ref(op, x, axes, keepdims, dtype):
    axes = tuple(axes)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of an empty axis is NaN
        if op == "mean":
            return np.mean(x, axis=axes, keepdims=keepdims)
        fn = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}[op]
        kw = {} if op in ("max", "min") or dtype in FLOATS else {"dtype": NP[dtype]}
        return fn(x, axis=axes, keepdims=keepdims, **kw)


def reduce_scale(op, x, axes, keepdims):
    """The magnitude each reduced element is judged against."""
    if op in ("sum", "mean"):
        return reduce_ref(op, np.abs(x), axes, keepdims, "f64")
    return None


def gen_reduce():
    for op in ("sum", "mean", "max", "min", "prod"):
        dtypes = FLOATS if op == "mean" else NUMERIC
        for dtype in dtypes:
            for rank in (0, 1, 2, 3):
                shape = random_shape(rank, 1, 5)
                sets = all_axis_sets(rank)
                for j, axes in enumerate(sets if rank < 3 else [sets[k] for k in rng.choice(len(sets), 4, replace=False)]):
                    keepdims = bool(rng.random() < 0.5)
                    c = case(f"reduce_{op}_{dtype}_rank{rank}_{j}")
                    lo, hi = (0.5, 1.5) if op == "prod" and dtype in FLOATS else (-3, 3)
                    x = c.leaf(random(dtype, shape, lo, hi), dtype)
                    v = c.node(f"reduce_{op}", [x], reduce_ref(op, c[x], axes, keepdims, dtype), dtype,
                               axes=axes, keepdims=keepdims)
                    c.output(v, "reduction", reduce_scale(op, c[x], axes, keepdims))
        # Empty axes (sum is 0, prod 1, mean NaN) and special values.
        if op not in ("max", "min"):
            for dtype in dtypes:
                c = case(f"reduce_{op}_{dtype}_empty")
                x = c.leaf(np.zeros((0, 3)), dtype)
                v = c.node(f"reduce_{op}", [x], reduce_ref(op, c[x], [0], False, dtype), dtype, axes=[0], keepdims=False)
                c.output(v, "reduction")
        for dtype in FLOATS:
            c = case(f"reduce_{op}_{dtype}_specials")
            x = c.leaf(np.array([[1.0, math.nan, 2.0], [math.inf, 1.0, -2.0], [-math.inf, math.inf, 0.5]]), dtype)
            v = c.node(f"reduce_{op}", [x], reduce_ref(op, c[x], [1], True, dtype), dtype, axes=[1], keepdims=True)
            c.output(v, "reduction")
    # A long sum, where naive f32 accumulation would drift past the tolerance.
    c = case("reduce_sum_f32_long")
    x = c.leaf(random("f32", [2000], 0.0, 1.0), "f32", kind="input")
    c.output(c.node("reduce_sum", [x], np.sum(c[x]), "f32", axes=[0], keepdims=False), "reduction")


def gen_arg():
    for op, fn in (("argmax", np.argmax), ("argmin", np.argmin)):
        for dtype in NUMERIC:
            for rank in (1, 2, 3):
                shape = random_shape(rank, 1, 5)
                for axis in range(rank):
                    c = case(f"{op}_{dtype}_rank{rank}_axis{axis}")
                    # Few distinct values, so that ties happen.
                    x = c.leaf(rng.integers(-2, 3, size=shape), dtype)
                    c.output(c.node(op, [x], fn(c[x], axis=axis), "i32", axis=axis))
        for dtype in FLOATS:
            c = case(f"{op}_{dtype}_nan")
            x = c.leaf(np.array([[1.0, math.nan, 3.0, math.nan], [2.0, 2.0, -1.0, -1.0]]), dtype)
            c.output(c.node(op, [x], fn(c[x], axis=1), "i32", axis=1))


# ---------------------------------------------------------------- linear algebra


def gen_matmul():
    shape_pairs = [
        ([4], [4]), ([3], [3, 2]), ([2, 3], [3]), ([2, 3], [3, 4]), ([1, 5], [5, 1]),
        ([2, 2, 3], [2, 3, 4]), ([2, 1, 3, 4], [5, 4, 2]), ([3, 2, 4], [4]), ([4], [2, 4, 3]),
        ([2, 3, 4], [4, 5]), ([3, 4], [2, 4, 2]), ([2, 0], [0, 3]), ([3, 2], [2, 0]), ([1, 2, 3], [4, 3, 2]),
    ]
    for dtype in NUMERIC:
        for i, (sa, sb) in enumerate(shape_pairs):
            c = case(f"matmul_{dtype}_{i}")
            lo, hi = (-5, 5) if dtype in INTS else (-2.0, 2.0)
            a, b = c.leaf(random(dtype, sa, lo, hi), dtype), c.leaf(random(dtype, sb, lo, hi), dtype)
            v = c.node("matmul", [a, b], np.matmul(c[a], c[b]), dtype)
            scale = np.matmul(np.abs(c[a]), np.abs(c[b])) if dtype in FLOATS else None
            c.output(v, "reduction", scale)


# ---------------------------------------------------------------- layout


def gen_layout():
    for dtype in ALL:
        for rank in (0, 1, 2, 3, 4):
            shape = random_shape(rank)
            perm = [int(p) for p in rng.permutation(rank)]
            c = case(f"transpose_{dtype}_rank{rank}")
            x = c.leaf(random(dtype, shape), dtype)
            c.output(c.node("transpose", [x], np.transpose(c[x], perm), dtype, perm=perm))

        for i in range(3):
            shape = random_shape(int(rng.integers(0, 4)))
            n = int(np.prod(shape))
            factors = [d for d in range(1, n + 1) if n % d == 0]
            first = int(rng.choice(factors))
            new = [[n], [first, n // first], [1, first, 1, n // first]][i]
            c = case(f"reshape_{dtype}_{i}")
            x = c.leaf(random(dtype, shape), dtype)
            c.output(c.node("reshape", [x], c[x].reshape(new), dtype, shape=new))

        for i, (src, dst) in enumerate([([], [2, 3]), ([3], [2, 3]), ([2, 1], [2, 4]), ([1, 3, 1], [2, 2, 3, 2]), ([2, 3], [2, 3]), ([1], [0])]):
            c = case(f"broadcast_to_{dtype}_{i}")
            x = c.leaf(random(dtype, src), dtype)
            c.output(c.node("broadcast_to", [x], np.broadcast_to(c[x], dst), dtype, shape=dst))

        for i in range(5):
            rank = int(rng.integers(1, 4))
            base = random_shape(rank)
            axis = int(rng.integers(0, rank))
            count = int(rng.integers(1, 5))
            shapes = []
            for k in range(count):
                s = list(base)
                s[axis] = 0 if (i == 4 and k == 0) else int(rng.integers(1, 4))
                shapes.append(s)
            c = case(f"concat_{dtype}_{i}")
            parts = [c.leaf(random(dtype, s), dtype) for s in shapes]
            c.output(c.node("concat", parts, np.concatenate([c[p] for p in parts], axis=axis), dtype, axis=axis))


# ---------------------------------------------------------------- conversions


def gen_convert():
    for dtype in INTS:
        for i, (shape, depth) in enumerate([([], 4), ([5], 3), ([2, 3], 5), ([4], 1), ([3], 0)]):
            c = case(f"one_hot_{dtype}_{i}")
            x = c.leaf(rng.integers(-2, depth + 2, size=shape), dtype)
            ref = (c[x][..., None] == np.arange(depth)).astype(np.float64)
            c.output(c.node("one_hot", [x], ref, "f32", depth=depth))

    sources = {
        "f32": np.array([-2.7, -1.5, -0.5, -0.0, 0.0, 0.4, 1.0, 2.5, 3.9, 1e6 + 0.5, -123456.75, math.nan, math.inf]),
        "f64": np.array([-2.7, -1.5, -0.5, -0.0, 0.0, 0.4, 1.0, 2.5, 3.9, 1e9 + 0.5, -2e9 + 0.25, 0.1, math.nan]),
        "i32": np.array([-2147483648, -70000, -1, 0, 1, 2, 16777217, 2147483647]),
        "i64": np.array([-(2**40) - 3, -(2**31) - 1, -1, 0, 1, 2**31, 2**33 + 7, 2**53 + 1]),
        "bool": np.array([True, False, True]),
    }
    for src, values in sources.items():
        for dst in ALL:
            c = case(f"cast_{src}_to_{dst}")
            values_here = values
            if src in FLOATS and dst in INTS:
                # Out-of-range and NaN conversions are undefined in numpy.
                values_here = values[np.isfinite(values)]
            x = c.leaf(values_here, src)
            with np.errstate(all="ignore"):
                ref = c[x].astype(NP[src]).astype(NP[dst])
            c.output(c.node("cast", [x], ref, dst, to=dst))


# ---------------------------------------------------------------- compositions


def gen_compositions():
    for dtype in FLOATS:
        for axis_last in (True, False):
            shape = random_shape(2, 2, 5)
            axis = 1 if axis_last else 0
            c = case(f"softmax_{dtype}_axis{axis}")
            x = c.leaf(random(dtype, shape, -5.0, 5.0), dtype)
            m = c.node("reduce_max", [x], np.max(c[x], axis=axis, keepdims=True), dtype, axes=[axis], keepdims=True)
            d = c.node("sub", [x, m], c[x] - c[m], dtype)
            e = c.node("exp", [d], np.exp(c[d]), dtype)
            s = c.node("reduce_sum", [e], np.sum(c[e], axis=axis, keepdims=True), dtype, axes=[axis], keepdims=True)
            p = c.node("div", [e, s], c[e] / c[s], dtype)
            c.output(p, "reduction")
            ls = c.node("log", [s], np.log(c[s]), dtype)
            lp = c.node("sub", [d, ls], c[d] - c[ls], dtype)
            c.output(lp, "reduction", np.abs(c[d]) + np.abs(c[ls]))

        c = case(f"dense_relu_{dtype}")
        x = c.leaf(random(dtype, [4, 5]), dtype)
        w = c.leaf(random(dtype, [5, 3]), dtype, kind="param")
        b = c.leaf(random(dtype, [3]), dtype, kind="param")
        h = c.node("matmul", [x, w], c[x] @ c[w], dtype)
        z = c.node("add", [h, b], c[h] + c[b], dtype)
        r = c.node("relu", [z], np.maximum(c[z], 0.0), dtype)
        c.output(r, "reduction", np.abs(c[x]) @ np.abs(c[w]) + np.abs(c[b]))

        c = case(f"mse_{dtype}")
        p, y = c.leaf(random(dtype, [6, 2]), dtype), c.leaf(random(dtype, [6, 2]), dtype)
        d = c.node("sub", [p, y], c[p] - c[y], dtype)
        s = c.node("square", [d], c[d] ** 2, dtype)
        c.output(c.node("reduce_mean", [s], np.mean(c[s]), dtype, axes=[0, 1], keepdims=False), "reduction")

        c = case(f"sigmoid_cross_entropy_{dtype}")
        x = c.leaf(random(dtype, [8], -6.0, 6.0), dtype)
        z = c.leaf(random("bool", [8]).astype(np.float64), dtype)
        r = c.node("relu", [x], np.maximum(c[x], 0.0), dtype)
        xz = c.node("mul", [x, z], c[x] * c[z], dtype)
        a = c.node("abs", [x], np.abs(c[x]), dtype)
        na = c.node("neg", [a], -c[a], dtype)
        e = c.node("exp", [na], np.exp(c[na]), dtype)
        one = c.leaf(np.array(1.0), dtype, kind="const")
        e1 = c.node("add", [e, one], c[e] + 1.0, dtype)
        l1 = c.node("log", [e1], np.log(c[e1]), dtype)
        t = c.node("sub", [r, xz], c[r] - c[xz], dtype)
        per = c.node("add", [t, l1], c[t] + c[l1], dtype)
        c.output(per, "reduction", np.abs(c[r]) + np.abs(c[xz]) + c[l1])
        c.output(c.node("reduce_mean", [per], np.mean(c[per]), dtype, axes=[0], keepdims=False), "reduction",
                 np.mean(np.abs(c[r]) + np.abs(c[xz]) + c[l1]))

        c = case(f"leaky_relu_{dtype}")
        x = c.leaf(random(dtype, [3, 4]), dtype)
        zero = c.leaf(np.array(0.0), dtype, kind="const")
        slope = c.leaf(np.array(0.1), dtype, kind="const")
        pos = c.node("gt", [x, zero], c[x] > 0.0, "bool")
        sx = c.node("mul", [slope, x], c[slope] * c[x], dtype)
        c.output(c.node("select", [pos, x, sx], np.where(c[pos], c[x], c[sx]), dtype))

        c = case(f"layer_norm_{dtype}")
        x = c.leaf(random(dtype, [3, 6]), dtype)
        eps = c.leaf(np.array(1e-5), dtype, kind="const")
        m = c.node("reduce_mean", [x], np.mean(c[x], axis=1, keepdims=True), dtype, axes=[1], keepdims=True)
        d = c.node("sub", [x, m], c[x] - c[m], dtype)
        sq = c.node("square", [d], c[d] ** 2, dtype)
        var = c.node("reduce_mean", [sq], np.mean(c[sq], axis=1, keepdims=True), dtype, axes=[1], keepdims=True)
        ve = c.node("add", [var, eps], c[var] + c[eps], dtype)
        rs = c.node("rsqrt", [ve], 1.0 / np.sqrt(c[ve]), dtype)
        y = c.node("mul", [d, rs], c[d] * c[rs], dtype)
        c.output(y, "reduction", (np.abs(c[x]) + np.abs(c[m])) * c[rs])

        c = case(f"accuracy_{dtype}")
        logits = c.leaf(random(dtype, [6, 4]), dtype)
        labels = c.leaf(rng.integers(0, 4, size=[6]), "i32")
        pred = c.node("argmax", [logits], np.argmax(c[logits], axis=1), "i32", axis=1)
        hit = c.node("eq", [pred, labels], c[pred] == c[labels], "bool")
        hf = c.node("cast", [hit], c[hit].astype(np.float64), dtype, to=dtype)
        c.output(c.node("reduce_mean", [hf], np.mean(c[hf]), dtype, axes=[0], keepdims=False), "reduction")
        oh = c.node("one_hot", [labels], (c[labels][:, None] == np.arange(4)).astype(np.float64), "f32", depth=4)
        c.output(oh)


def main():
    gen_unary()
    gen_binary()
    gen_select()
    gen_reduce()
    gen_arg()
    gen_matmul()
    gen_layout()
    gen_convert()
    gen_compositions()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json")
    lines = [json.dumps(c.json(), separators=(",", ":"), allow_nan=False) for c in CASES]
    with open(path, "w") as f:
        f.write('{"cases": [\n' + ",\n".join(lines) + "\n]}\n")
    print(f"wrote {len(CASES)} cases to {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
