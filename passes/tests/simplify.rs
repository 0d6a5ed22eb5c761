//! The egg simplifier: each rule fires where it should and not where it
//! must not, and every simplified graph computes what the original did, as
//! the interpreter (the oracle) says: bit for bit, but for the rules that
//! reorder arithmetic.

use proptest::prelude::*;
use tfg_ir::arbitrary::{arb_graph, arb_graph_with, GraphConfig};
use tfg_ir::{
    verify, BinaryOp, DType, Data, Dim, Graph, Init, Op, ReduceOp, Shape, Tensor, Type, UnaryOp,
    ValueId,
};
use tfg_passes::simplify::{simplify, Limits, Report, Stop};
use tfg_testkit::build::{add, bin, constant, input, scalar, ty, un};
use tfg_testkit::feeds::feeds;
use tfg_testkit::{close_results, Tol};

fn f32s(g: &mut Graph, shape: &[usize], values: &[f32]) -> ValueId {
    constant(
        g,
        Tensor::new(shape.to_vec(), Data::F32(values.to_vec())).expect("shape fits"),
    )
}

fn transpose(g: &mut Graph, perm: &[usize], x: ValueId) -> ValueId {
    add(
        g,
        Op::Transpose {
            perm: perm.to_vec(),
        },
        &[x],
    )
}

fn output(mut g: Graph, v: ValueId) -> Graph {
    g.outputs.push(("y".into(), v));
    g
}

/// The rules whose result may differ from the graph they rewrite in the
/// last bits: `exp(log x)` rounds twice, a sum of `n` copies is not `n·x`,
/// and factoring and stacking products add in another order. Every other
/// rule, constant folding and merging common subexpressions give the same
/// bits.
const REORDERING: [&str; 7] = [
    "exp-log",
    "sum-broadcast",
    "sum-batched-matmul",
    "factor-left",
    "factor-right",
    "factor-left-sub",
    "factor-right-sub",
];

/// Runs `before` and `after` on the same random feeds (special values
/// among them) and compares their results: bit for bit, unless a
/// [`REORDERING`] rule fired. Then within relative 1e-4 (the products and
/// sums the tests reorder have few, moderate terms), 1e-6 absolute where
/// a sum cancels.
fn assert_same_results(before: &Graph, after: &Graph, report: &Report) {
    let tol = if REORDERING.iter().any(|&r| fired(report, r) > 0) {
        Tol {
            rel: 1e-4,
            abs: 1e-6,
            ..Tol::EXACT
        }
    } else {
        Tol::EXACT
    };
    for seed in 0..3 {
        let (inputs, params) = feeds(before, seed, true);
        let run = |g: &Graph| {
            tfg_interp::run(g, &inputs, &params)
                .unwrap_or_else(|e| panic!("interpreter failed: {e}"))
        };
        let (want, got) = (run(before), run(after));
        let results = close_results(
            (&want.outputs, &want.updates),
            (&got.outputs, &got.updates),
            tol,
        );
        results.unwrap_or_else(|e| {
            panic!(
                "seed {seed}: {e}\n{}\nsimplified to\n{}",
                tfg_ir::text::print(before),
                tfg_ir::text::print(after)
            )
        });
    }
}

/// Simplifies a copy of `g`, checks it and compares its results with `g`'s.
fn simplified(g: &Graph) -> (Graph, Report) {
    let mut s = g.clone();
    let report =
        simplify(&mut s, Limits::default()).unwrap_or_else(|e| panic!("simplify failed: {e}"));
    verify(&s).unwrap_or_else(|e| {
        panic!(
            "simplified graph is invalid: {e}\n{}",
            tfg_ir::text::print(&s)
        )
    });
    assert_eq!(
        s.outputs.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        g.outputs.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    assert_same_results(g, &s, &report);
    (s, report)
}

fn fired(report: &Report, rule: &str) -> usize {
    report
        .rules
        .iter()
        .find(|(r, _)| r == rule)
        .map_or(0, |(_, n)| *n)
}

/// The ops (by name) of the nodes that are not inputs or params.
fn ops(g: &Graph) -> Vec<String> {
    g.nodes
        .iter()
        .filter(|n| !n.op.is_leaf_state())
        .map(|n| n.op.name())
        .collect()
}

/// The graph's first output is its input `x` itself.
fn returns_input(g: &Graph) -> bool {
    matches!(g.node(g.outputs[0].1).op, Op::Input { .. })
}

#[test]
fn mul_by_one_is_the_operand() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[2, 3]);
    let one = scalar(&mut g, 1.0);
    let a = bin(&mut g, BinaryOp::Mul, x, one);
    let y = bin(&mut g, BinaryOp::Mul, one, a);
    let (s, report) = simplified(&output(g, y));
    assert!(
        fired(&report, "mul-one") >= 1 && fired(&report, "one-mul") >= 1,
        "{report}"
    );
    assert!(returns_input(&s), "{}", tfg_ir::text::print(&s));
}

#[test]
fn mul_by_broadcast_ones_is_a_broadcast() {
    for ones_first in [false, true] {
        let mut g = Graph::new("g");
        let x = input(&mut g, "x", DType::F32, &[3]);
        let ones = f32s(&mut g, &[2, 3], &[1.0; 6]);
        let (a, b) = if ones_first { (ones, x) } else { (x, ones) };
        let y = bin(&mut g, BinaryOp::Mul, a, b);
        let (s, report) = simplified(&output(g, y));
        let (exact, broadcast) = if ones_first {
            ("one-mul", "one-mul-broadcast")
        } else {
            ("mul-one", "mul-one-broadcast")
        };
        assert_eq!(
            fired(&report, exact),
            0,
            "the ones make the result larger than x"
        );
        assert_eq!(fired(&report, broadcast), 1, "{report}");
        assert_eq!(ops(&s), ["broadcast_to"]);
    }
}

#[test]
fn adding_negative_zero_is_exact() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[4]);
    let z = scalar(&mut g, -0.0);
    let y = bin(&mut g, BinaryOp::Add, x, z);
    let (s, report) = simplified(&output(g, y));
    assert_eq!(fired(&report, "add-zero"), 1, "{report}");
    assert!(returns_input(&s));
}

#[test]
fn adding_positive_zero_keeps_the_add_where_x_may_be_negative_zero() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[]);
    let z = scalar(&mut g, 0.0);
    let y = bin(&mut g, BinaryOp::Add, x, z);
    let g = output(g, y);
    let (s, report) = simplified(&g);
    assert_eq!(fired(&report, "add-zero"), 0, "{report}");
    // IEEE: -0.0 + 0.0 is +0.0; without the add the output would be -0.0.
    let out = tfg_interp::run(&s, &[Tensor::scalar_f32(-0.0)], &[]).expect("runs");
    let Data::F32(v) = &out.outputs[0].data else {
        panic!("f32 output")
    };
    assert_eq!(v[0].to_bits(), 0.0f32.to_bits());
}

#[test]
fn adding_positive_zero_to_a_value_that_is_never_negative_zero() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[3]);
    let e = un(&mut g, UnaryOp::Exp, x);
    let z = f32s(&mut g, &[3], &[0.0; 3]);
    let y = bin(&mut g, BinaryOp::Add, z, e);
    let (s, report) = simplified(&output(g, y));
    assert_eq!(fired(&report, "zero-add"), 1, "{report}");
    assert_eq!(ops(&s), ["exp"]);
}

#[test]
fn integer_zero_add_and_sub_zero() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::I32, &[5]);
    let zero = constant(&mut g, Tensor::full(DType::I32, vec![], 0.0));
    let a = bin(&mut g, BinaryOp::Add, zero, x);
    let y = bin(&mut g, BinaryOp::Sub, a, zero);
    let (s, report) = simplified(&output(g, y));
    assert!(
        fired(&report, "zero-add") == 1 && fired(&report, "sub-zero") >= 1,
        "{report}"
    );
    assert!(returns_input(&s));
}

#[test]
fn sub_zero_keeps_negative_zero() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[]);
    let z = scalar(&mut g, 0.0);
    let y = bin(&mut g, BinaryOp::Sub, x, z);
    let (s, report) = simplified(&output(g, y));
    assert_eq!(fired(&report, "sub-zero"), 1, "{report}");
    // -0.0 - 0.0 is -0.0: dropping the sub keeps the sign.
    let out = tfg_interp::run(&s, &[Tensor::scalar_f32(-0.0)], &[]).expect("runs");
    let Data::F32(v) = &out.outputs[0].data else {
        panic!("f32 output")
    };
    assert_eq!(v[0].to_bits(), (-0.0f32).to_bits());
}

#[test]
fn div_by_one() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::I64, &[2, 2]);
    let one = constant(&mut g, Tensor::full(DType::I64, vec![1, 2], 1.0));
    let y = bin(&mut g, BinaryOp::Div, x, one);
    let (s, report) = simplified(&output(g, y));
    assert_eq!(fired(&report, "div-one"), 1, "{report}");
    assert!(returns_input(&s));
}

#[test]
fn double_negation_and_negated_operands() {
    let mut g = Graph::new("g");
    let a = input(&mut g, "a", DType::F32, &[3]);
    let b = input(&mut g, "b", DType::F32, &[3]);
    let nb = un(&mut g, UnaryOp::Neg, b);
    let nna = un(&mut g, UnaryOp::Neg, a);
    let nna = un(&mut g, UnaryOp::Neg, nna);
    let s1 = bin(&mut g, BinaryOp::Add, nna, nb);
    let y = bin(&mut g, BinaryOp::Sub, s1, nb);
    let (s, report) = simplified(&output(g, y));
    for rule in ["neg-neg", "add-neg", "sub-neg"] {
        assert!(fired(&report, rule) >= 1, "{rule}: {report}");
    }
    assert_eq!(ops(&s), ["sub", "add"]);
}

#[test]
fn negation_of_a_scaled_value_folds_into_the_scale() {
    for (rule, scale_first) in [("neg-mul", true), ("neg-mul-right", false)] {
        let mut g = Graph::new("g");
        let x = input(&mut g, "x", DType::F32, &[3]);
        let two = scalar(&mut g, 2.0);
        let (a, b) = if scale_first { (two, x) } else { (x, two) };
        let m = bin(&mut g, BinaryOp::Mul, a, b);
        let y = un(&mut g, UnaryOp::Neg, m);
        let (s, report) = simplified(&output(g, y));
        assert_eq!(fired(&report, rule), 1, "{report}");
        assert_eq!(ops(&s), ["const", "mul"]);
        assert_eq!(s.nodes[1].op, Op::Const(Tensor::scalar_f32(-2.0)));
    }
}

#[test]
fn no_negation_folding_where_the_product_is_used_elsewhere() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[3]);
    let two = scalar(&mut g, 2.0);
    let m = bin(&mut g, BinaryOp::Mul, two, x);
    let y = un(&mut g, UnaryOp::Neg, m);
    let mut g = output(g, y);
    g.outputs.push(("m".into(), m));
    let (s, report) = simplified(&g);
    assert_eq!(fired(&report, "neg-mul"), 0, "{report}");
    assert_eq!(ops(&s), ["const", "mul", "neg"]);
}

#[test]
fn transposes_compose() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[2, 3, 4]);
    let t = transpose(&mut g, &[1, 0, 2], x);
    let y = transpose(&mut g, &[0, 2, 1], t);
    let (s, report) = simplified(&output(g, y));
    assert_eq!(fired(&report, "transpose-transpose"), 1, "{report}");
    assert_eq!(ops(&s), ["transpose"]);
    // y[i, j, k] = t[i, k, j] = x[k, i, j]: one transpose with perm [1, 2, 0].
    assert_eq!(
        s.node(s.outputs[0].1).op,
        Op::Transpose {
            perm: vec![1, 2, 0]
        }
    );
}

#[test]
fn inverse_transposes_cancel() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[2, 3, 4]);
    let t = transpose(&mut g, &[1, 2, 0], x);
    let y = transpose(&mut g, &[2, 0, 1], t);
    let (s, report) = simplified(&output(g, y));
    assert!(
        fired(&report, "transpose-transpose") >= 1 && fired(&report, "transpose-identity") >= 1,
        "{report}"
    );
    assert!(returns_input(&s));
}

#[test]
fn transposes_move_past_elementwise_ops_and_cancel() {
    // An ONNX model's layers between NHWC convolutions: to NCHW, a
    // per-channel affine map with a param of shape [C, 1, 1], relu, a
    // residual add of two values in NCHW, back to NHWC.
    let mut g = Graph::new("g");
    let a = input(&mut g, "a", DType::F32, &[1, 4, 5, 3]);
    let b = input(&mut g, "b", DType::F32, &[1, 4, 5, 3]);
    let scale = g.add_param(
        "scale",
        ty(DType::F32, &[3, 1, 1]),
        Init::Uniform { lo: -1.0, hi: 1.0 },
    );
    let half = scalar(&mut g, 0.5);
    let (ta, tb) = (
        transpose(&mut g, &[0, 3, 1, 2], a),
        transpose(&mut g, &[0, 3, 1, 2], b),
    );
    let scaled = bin(&mut g, BinaryOp::Mul, ta, scale);
    let halved = bin(&mut g, BinaryOp::Mul, half, scaled);
    let r = un(&mut g, UnaryOp::Relu, halved);
    let sum = bin(&mut g, BinaryOp::Add, r, tb);
    let y = transpose(&mut g, &[0, 2, 3, 1], sum);
    let (s, report) = simplified(&output(g, y));
    for rule in [
        "mul-transpose-broadcast",
        "scalar-mul-transpose",
        "relu-transpose",
        "add-transposes",
    ] {
        assert!(fired(&report, rule) >= 1, "{rule}: {report}");
    }
    // What is left transposed is the param, [3, 1, 1] → [1, 1, 1, 3].
    let transposed: Vec<&Type> = s
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Transpose { .. }))
        .map(|n| &n.ty)
        .collect();
    assert_eq!(
        transposed,
        [&ty(DType::F32, &[1, 1, 1, 3])],
        "{}",
        tfg_ir::text::print(&s)
    );
}

#[test]
fn a_concatenation_of_transposes_is_a_transposed_concatenation() {
    // SqueezeNet's fire module as an ONNX model writes it: two NHWC
    // convolutions' results to NCHW, concatenated along the channels, back
    // to NHWC for the next convolution. Then Inception's: three branches.
    for widths in [&[3u64, 2][..], &[1, 4, 2]] {
        let mut g = Graph::new("g");
        let branches: Vec<ValueId> = widths
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let x = input(&mut g, &format!("x{i}"), DType::F32, &[2, 4, 5, c]);
                transpose(&mut g, &[0, 3, 1, 2], x)
            })
            .collect();
        let joined = add(&mut g, Op::Concat { axis: 1 }, &branches);
        let r = un(&mut g, UnaryOp::Relu, joined);
        let y = transpose(&mut g, &[0, 2, 3, 1], r);
        let (s, report) = simplified(&output(g, y));
        let rule = format!("concat{}-transposes", widths.len());
        assert_eq!(fired(&report, &rule), 1, "{report}");
        assert!(
            !s.nodes.iter().any(|n| matches!(n.op, Op::Transpose { .. })),
            "{}",
            tfg_ir::text::print(&s)
        );
        let concat = s.nodes.iter().find(|n| matches!(n.op, Op::Concat { .. }));
        assert_eq!(
            concat.map(|n| &n.op),
            Some(&Op::Concat { axis: 3 }),
            "the channels are the last axis in NHWC"
        );
    }
}

#[test]
fn reshape_chains_become_one_reshape() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[2, 3, 4]);
    let a = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[6, 4]),
        },
        &[x],
    );
    let b = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[24]),
        },
        &[a],
    );
    let y = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[4, 6]),
        },
        &[b],
    );
    let back = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[2, 3, 4]),
        },
        &[y],
    );
    let mut g = output(g, y);
    g.outputs.push(("back".into(), back));
    let (s, report) = simplified(&g);
    assert!(
        fired(&report, "reshape-reshape") >= 2 && fired(&report, "reshape-same") >= 1,
        "{report}"
    );
    assert_eq!(ops(&s), ["reshape"]);
    assert!(matches!(s.node(s.outputs[1].1).op, Op::Input { .. }));
}

#[test]
fn broadcasts_collapse() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::Bool, &[3, 1]);
    let a = add(
        &mut g,
        Op::BroadcastTo {
            shape: Shape::known(&[3, 1]),
        },
        &[x],
    );
    let b = add(
        &mut g,
        Op::BroadcastTo {
            shape: Shape::known(&[2, 3, 1]),
        },
        &[a],
    );
    let y = add(
        &mut g,
        Op::BroadcastTo {
            shape: Shape::known(&[4, 2, 3, 5]),
        },
        &[b],
    );
    let (s, report) = simplified(&output(g, y));
    assert!(
        fired(&report, "broadcast-same") >= 1 && fired(&report, "broadcast-broadcast") >= 1,
        "{report}"
    );
    assert_eq!(ops(&s), ["broadcast_to"]);
}

#[test]
fn exp_of_log_only_where_the_operand_is_never_negative() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[4]);
    let sq = un(&mut g, UnaryOp::Square, x);
    let l = un(&mut g, UnaryOp::Log, sq);
    let y = un(&mut g, UnaryOp::Exp, l);
    let l2 = un(&mut g, UnaryOp::Log, x);
    let z = un(&mut g, UnaryOp::Exp, l2);
    let mut g = output(g, y);
    g.outputs.push(("z".into(), z));
    let (s, report) = simplified(&g);
    assert_eq!(fired(&report, "exp-log"), 1, "{report}");
    // exp(log(x)) stays: a negative x gives NaN there.
    assert_eq!(ops(&s), ["square", "log", "exp"]);
}

#[test]
fn sum_of_a_broadcast_scalar_is_a_product() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[]);
    let b = add(
        &mut g,
        Op::BroadcastTo {
            shape: Shape::known(&[3, 4]),
        },
        &[x],
    );
    let y = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0, 1],
            keepdims: false,
        },
        &[b],
    );
    let g = output(g, y);
    let (s, report) = simplified(&g);
    assert!(fired(&report, "sum-broadcast") >= 1, "{report}");
    assert_eq!(ops(&s), ["const", "mul"]);
    // Hand-derived: twelve copies of 2.5.
    let out = tfg_interp::run(&s, &[Tensor::scalar_f32(2.5)], &[]).expect("runs");
    assert_eq!(out.outputs[0].data, Data::F32(vec![30.0]));
}

#[test]
fn reductions_of_broadcasts_over_the_broadcast_axes() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[3, 1]);
    let b = add(
        &mut g,
        Op::BroadcastTo {
            shape: Shape::known(&[2, 3, 4]),
        },
        &[x],
    );
    for (name, op, keepdims) in [
        ("sum", ReduceOp::Sum, false),
        ("mean", ReduceOp::Mean, true),
        ("max", ReduceOp::Max, false),
        ("min", ReduceOp::Min, true),
    ] {
        let r = add(
            &mut g,
            Op::Reduce {
                op,
                axes: vec![0, 2],
                keepdims,
            },
            &[b],
        );
        g.outputs.push((name.into(), r));
    }
    // Axis 1 is not a broadcast axis of x: this one must stay a reduction.
    let r = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![1],
            keepdims: false,
        },
        &[b],
    );
    g.outputs.push(("kept".into(), r));
    let (s, report) = simplified(&g);
    for rule in [
        "sum-broadcast",
        "mean-broadcast",
        "max-broadcast",
        "min-broadcast",
    ] {
        assert!(fired(&report, rule) >= 1, "{rule}: {report}");
    }
    assert_eq!(
        ops(&s).iter().filter(|o| o.starts_with("reduce")).count(),
        1
    );
}

#[test]
fn reductions_over_no_axes_are_the_identity() {
    for op in ReduceOp::ALL {
        let mut g = Graph::new("g");
        let x = input(&mut g, "x", DType::F64, &[2, 3]);
        let y = add(
            &mut g,
            Op::Reduce {
                op,
                axes: vec![],
                keepdims: true,
            },
            &[x],
        );
        let (s, report) = simplified(&output(g, y));
        // A sum or mean of `-0.0` is `0.0`: the input may be `-0.0`.
        let from_zero = matches!(op, ReduceOp::Sum | ReduceOp::Mean);
        let fires = usize::from(!from_zero);
        assert_eq!(
            fired(&report, &format!("{}-no-axes", op.name())),
            fires,
            "{report}"
        );
        assert_eq!(returns_input(&s), !from_zero);
    }
    // Where the input cannot be `-0.0`, a sum over no axes is the input.
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::I32, &[2, 3]);
    let y = tfg_testkit::build::reduce(&mut g, ReduceOp::Sum, &[], true, x);
    let (s, report) = simplified(&output(g, y));
    assert_eq!(fired(&report, "sum-no-axes"), 1, "{report}");
    assert!(returns_input(&s));
}

#[test]
fn matmul_of_transposes_is_a_transposed_matmul() {
    // The product is smaller than its operands: one transpose of it is
    // cheaper than two of them.
    let mut g = Graph::new("g");
    let a = input(&mut g, "a", DType::F32, &[2, 6, 2]);
    let b = input(&mut g, "b", DType::F32, &[3, 6]);
    let ta = transpose(&mut g, &[0, 2, 1], a);
    let tb = transpose(&mut g, &[1, 0], b);
    let y = add(&mut g, Op::MatMul, &[ta, tb]);
    let (s, report) = simplified(&output(g, y));
    assert_eq!(fired(&report, "matmul-transposes"), 1, "{report}");
    assert_eq!(ops(&s), ["matmul", "transpose"]);
}

#[test]
fn transposed_matmul_absorbs_a_transpose() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[4, 3]);
    let dy = input(&mut g, "dy", DType::F32, &[4, 2]);
    let xt = transpose(&mut g, &[1, 0], x);
    let m = add(&mut g, Op::MatMul, &[xt, dy]);
    let y = transpose(&mut g, &[1, 0], m);
    let (s, report) = simplified(&output(g, y));
    assert!(fired(&report, "transpose-matmul") >= 1, "{report}");
    assert_eq!(ops(&s), ["transpose", "matmul"]);
}

/// `reduce_sum(xᵀ @ y)` over the batch axes, as autodiff writes a shared
/// weight's gradient, for x of `x_dims` and y of `y_dims`.
fn summed_batched_product(
    x_dims: &[u64],
    y_dims: &[u64],
    axes: Vec<usize>,
    keepdims: bool,
) -> Graph {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, x_dims);
    let y = input(&mut g, "y", DType::F32, y_dims);
    let r = x_dims.len();
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 2, r - 1);
    let xt = transpose(&mut g, &perm, x);
    let m = add(&mut g, Op::MatMul, &[xt, y]);
    let op = Op::Reduce {
        op: ReduceOp::Sum,
        axes,
        keepdims,
    };
    let s = add(&mut g, op, &[m]);
    output(g, s)
}

#[test]
fn a_sum_of_batched_products_is_one_product_over_stacked_rows() {
    let g = summed_batched_product(&[2, 3, 5, 4], &[2, 3, 5, 6], vec![0, 1], false);
    let (s, report) = simplified(&g);
    assert_eq!(fired(&report, "sum-batched-matmul"), 1, "{report}");
    assert_eq!(ops(&s), ["reshape", "reshape", "transpose", "matmul"]);
    let mm = s.node(s.outputs[0].1);
    assert!(matches!(mm.op, Op::MatMul), "{}", tfg_ir::text::print(&s));
    assert_eq!(s.ty(mm.args[1]).shape, Shape::known(&[30, 6]));
}

#[test]
fn no_stacked_product_where_the_sum_keeps_axes_misses_the_batch_or_the_products_are_used() {
    let cases = [
        // The sum keeps its axes: the result has another shape.
        (vec![2, 5, 4], vec![2, 5, 6], vec![0], true),
        // Only part of the batch is summed.
        (vec![2, 3, 5, 4], vec![2, 3, 5, 6], vec![0], false),
        // y broadcasts over x's batch: its rows are not x's rows.
        (vec![2, 5, 4], vec![1, 5, 6], vec![0], false),
        // No batch at all.
        (vec![5, 4], vec![5, 6], vec![0], false),
    ];
    for (x, y, axes, keepdims) in cases {
        let g = summed_batched_product(&x, &y, axes, keepdims);
        let (_, report) = simplified(&g);
        assert_eq!(
            fired(&report, "sum-batched-matmul"),
            0,
            "{x:?} {y:?}: {report}"
        );
    }
    // The batch of products is an output too: the stacked product would be
    // work on top of it.
    let mut g = summed_batched_product(&[2, 5, 4], &[2, 5, 6], vec![0], false);
    let sum = g.outputs[0].1;
    let products = g.node(sum).args[0];
    g.outputs.push(("products".into(), products));
    let (_, report) = simplified(&g);
    assert_eq!(fired(&report, "sum-batched-matmul"), 0, "{report}");
}

#[test]
fn factoring_where_it_saves_work() {
    let cases = [
        ("factor-left", BinaryOp::Add, true),
        ("factor-right", BinaryOp::Add, false),
        ("factor-left-sub", BinaryOp::Sub, true),
        ("factor-right-sub", BinaryOp::Sub, false),
    ];
    for (rule, op, left) in cases {
        let mut g = Graph::new("g");
        let a = input(&mut g, "a", DType::F32, &[4, 5]);
        let b = input(&mut g, "b", DType::F32, &[4, 5]);
        let c = input(&mut g, "c", DType::F32, &[5]);
        let (ab, ac) = if left {
            ((a, b), (a, c))
        } else {
            ((b, a), (c, a))
        };
        let ab = bin(&mut g, BinaryOp::Mul, ab.0, ab.1);
        let ac = bin(&mut g, BinaryOp::Mul, ac.0, ac.1);
        let y = bin(&mut g, op, ab, ac);
        let (s, report) = simplified(&output(g, y));
        assert_eq!(fired(&report, rule), 1, "{rule}: {report}");
        assert_eq!(ops(&s), [op.name(), "mul"], "{rule}");
    }
}

#[test]
fn no_factoring_where_the_sum_is_larger_than_the_products() {
    let mut g = Graph::new("g");
    let a = input(&mut g, "a", DType::F32, &[]);
    let b = input(&mut g, "b", DType::F32, &[6, 1]);
    let c = input(&mut g, "c", DType::F32, &[1, 7]);
    let ba = bin(&mut g, BinaryOp::Mul, b, a);
    let ca = bin(&mut g, BinaryOp::Mul, c, a);
    let y = bin(&mut g, BinaryOp::Sub, ba, ca);
    let (s, report) = simplified(&output(g, y));
    assert_eq!(fired(&report, "factor-right-sub"), 0, "{report}");
    assert_eq!(ops(&s), ["mul", "mul", "sub"]);
}

#[test]
fn no_factoring_where_a_product_is_used_elsewhere() {
    let mut g = Graph::new("g");
    let a = input(&mut g, "a", DType::F32, &[4]);
    let b = input(&mut g, "b", DType::F32, &[4]);
    let c = input(&mut g, "c", DType::F32, &[4]);
    let ab = bin(&mut g, BinaryOp::Mul, a, b);
    let ac = bin(&mut g, BinaryOp::Mul, a, c);
    let y = bin(&mut g, BinaryOp::Add, ab, ac);
    let mut g = output(g, y);
    g.outputs.push(("ab".into(), ab));
    let (_, report) = simplified(&g);
    assert_eq!(fired(&report, "factor-left"), 0, "{report}");
}

/// A graph of constants only folds to one constant an output, equal bit for
/// bit to what the interpreter computes.
#[test]
fn constant_folding_matches_the_interpreter_exactly() {
    let mut g = Graph::new("g");
    let a = f32s(&mut g, &[2, 3], &[0.5, -1.5, 2.0, f32::NAN, -0.0, 3.25]);
    let b = f32s(&mut g, &[3], &[2.0, 0.0, -4.0]);
    let ints = constant(
        &mut g,
        Tensor::new(vec![4], Data::I32(vec![-7, 7, 5, i32::MIN])).expect("4 ints"),
    );
    let div = constant(
        &mut g,
        Tensor::new(vec![4], Data::I32(vec![2, -2, 0, -1])).expect("4 ints"),
    );
    let mut outs = vec![
        bin(&mut g, BinaryOp::Div, a, b),
        bin(&mut g, BinaryOp::Maximum, a, b),
        bin(&mut g, BinaryOp::Pow, b, a),
        bin(&mut g, BinaryOp::Div, ints, div),
        bin(&mut g, BinaryOp::Pow, div, ints),
        bin(&mut g, BinaryOp::Le, a, b),
    ];
    for u in [
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Relu,
        UnaryOp::Sign,
        UnaryOp::Rsqrt,
        UnaryOp::Floor,
    ] {
        outs.push(un(&mut g, u, a));
    }
    let t = transpose(&mut g, &[1, 0], a);
    outs.push(add(&mut g, Op::Cast { to: DType::I64 }, &[t]));
    let c = bin(&mut g, BinaryOp::Gt, a, b);
    outs.push(add(&mut g, Op::Select, &[c, a, b]));
    outs.push(add(
        &mut g,
        Op::BroadcastTo {
            shape: Shape::known(&[2, 2, 3]),
        },
        &[b],
    ));
    for (i, v) in outs.iter().enumerate() {
        g.outputs.push((format!("o{i}"), *v));
    }
    let (s, report) = simplified(&g);
    assert!(fired(&report, "constant-fold") >= outs.len(), "{report}");
    assert!(
        s.nodes
            .iter()
            .all(|n| matches!(n.op, Op::Const(_) | Op::BroadcastTo { .. })),
        "{}",
        tfg_ir::text::print(&s)
    );
    // `simplified` compared the results bit for bit: constant folding is exact.
    assert!(report
        .rules
        .iter()
        .all(|(r, _)| !REORDERING.contains(&r.as_str())));
}

#[test]
fn symbolic_shapes_simplify_too() {
    let b = || Dim::Sym("B".into());
    let mut g = Graph::new("g");
    let x = g.add_input(
        "x",
        Type::new(DType::F32, Shape(vec![b(), Dim::Known(3)])),
        None,
    );
    let one = scalar(&mut g, 1.0);
    let ones = add(
        &mut g,
        Op::BroadcastTo {
            shape: Shape(vec![b(), Dim::Known(3)]),
        },
        &[one],
    );
    let t = transpose(&mut g, &[1, 0], x);
    let t = transpose(&mut g, &[1, 0], t);
    let y = bin(&mut g, BinaryOp::Mul, ones, t);
    let g = output(g, y);
    let mut s = g.clone();
    let report = simplify(&mut s, Limits::default()).expect("simplifies");
    verify(&s).expect("valid");
    assert!(returns_input(&s), "{report}{}", tfg_ir::text::print(&s));
    let dims = [("B".to_string(), 4u64)].into_iter().collect();
    let concrete = |g: &Graph| tfg_ir::specialize(g, &dims).expect("B is bound");
    assert_same_results(&concrete(&g), &concrete(&s), &report);
}

#[test]
fn common_subexpressions_are_computed_once() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[3]);
    let w = input(&mut g, "w", DType::F32, &[3]);
    let a = bin(&mut g, BinaryOp::Mul, x, w);
    let b = bin(&mut g, BinaryOp::Mul, x, w);
    let y = bin(&mut g, BinaryOp::Add, a, b);
    let (s, _) = simplified(&output(g, y));
    assert_eq!(ops(&s), ["mul", "add"]);
}

#[test]
fn the_interface_is_kept() {
    let mut g = Graph::new("step");
    let x = input(&mut g, "x", DType::F32, &[2]);
    let unused = input(&mut g, "unused", DType::I32, &[]);
    let w = g.add_param("w", ty(DType::F32, &[2]), Init::Full(0.5));
    let one = scalar(&mut g, 1.0);
    let h = bin(&mut g, BinaryOp::Mul, x, w);
    let h = bin(&mut g, BinaryOp::Mul, h, one);
    g.node_mut(h).name = Some("h".into());
    let lr = scalar(&mut g, 0.1);
    let step = bin(&mut g, BinaryOp::Mul, h, lr);
    let nw = bin(&mut g, BinaryOp::Sub, w, step);
    g.outputs.push(("h".into(), h));
    g.outputs.push(("again".into(), h));
    g.updates.push((w, nw));
    let (s, _) = simplified(&g);
    let names = |g: &Graph, vs: Vec<ValueId>| -> Vec<String> {
        vs.into_iter()
            .map(|v| g.node(v).name.clone().unwrap_or_default())
            .collect()
    };
    assert_eq!(names(&s, s.inputs().collect()), ["x", "unused"]);
    assert_eq!(names(&s, s.params().collect()), ["w"]);
    assert_eq!(s.outputs[0].1, s.outputs[1].1);
    assert_eq!(s.node(s.outputs[0].1).name.as_deref(), Some("h"));
    assert_eq!(s.updates.len(), 1);
    assert!(matches!(&s.node(s.updates[0].0).op, Op::Param { name, .. } if name == "w"));
    let _ = unused;
}

#[test]
fn limits_stop_saturation_early_and_say_so() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[2, 3]);
    let mut v = x;
    for _ in 0..6 {
        v = transpose(&mut g, &[1, 0], v);
        v = transpose(&mut g, &[1, 0], v);
        v = un(&mut g, UnaryOp::Neg, v);
        v = un(&mut g, UnaryOp::Neg, v);
    }
    let g = output(g, v);
    let mut s = g.clone();
    let report = simplify(
        &mut s,
        Limits {
            iters: 1,
            ..Limits::default()
        },
    )
    .expect("simplifies");
    assert_eq!(report.stop, Stop::Iterations(1));
    assert!(!report.saturated());
    assert!(report.to_string().contains("stopped early"), "{report}");
    assert_same_results(&g, &s, &report);
    let mut s = g.clone();
    let report = simplify(
        &mut s,
        Limits {
            nodes: 0,
            ..Limits::default()
        },
    )
    .expect("simplifies");
    assert!(matches!(report.stop, Stop::Nodes(_)), "{report}");
    assert_same_results(&g, &s, &report);
    let mut s = g.clone();
    let report = simplify(
        &mut s,
        Limits {
            time: std::time::Duration::ZERO,
            ..Limits::default()
        },
    )
    .expect("simplifies");
    assert!(matches!(report.stop, Stop::Time(_)), "{report}");
    assert_same_results(&g, &s, &report);
    let (_, report) = simplified(&g);
    assert!(report.saturated(), "{report}");
}

#[test]
fn an_ill_typed_graph_is_an_error_and_left_alone() {
    let mut g = Graph::new("g");
    let x = input(&mut g, "x", DType::F32, &[2]);
    let y = input(&mut g, "y", DType::F32, &[3]);
    let bad = g.push(tfg_ir::Node {
        op: Op::Binary(BinaryOp::Add),
        args: vec![x, y],
        ty: ty(DType::F32, &[2]),
        name: None,
        loc: None,
    });
    let mut g = output(g, bad);
    let before = g.clone();
    let err = simplify(&mut g, Limits::default()).expect_err("ill-typed");
    assert!(err.contains("does not type-check"), "{err}");
    assert_eq!(g, before);
}

/// The backward pass of `loss = sum(x @ w)` as autodiff writes it, seeds of
/// ones and double transposes included.
fn gradient_like() -> Graph {
    let mut g = Graph::new("grad");
    let x = input(&mut g, "x", DType::F32, &[4, 3]);
    let w = g.add_param("w", ty(DType::F32, &[3, 2]), Init::Glorot);
    let y = add(&mut g, Op::MatMul, &[x, w]);
    let loss = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0, 1],
            keepdims: false,
        },
        &[y],
    );
    let seed = scalar(&mut g, 1.0);
    let one = scalar(&mut g, 1.0);
    let dloss = bin(&mut g, BinaryOp::Mul, seed, one);
    let dy = add(
        &mut g,
        Op::BroadcastTo {
            shape: Shape::known(&[4, 2]),
        },
        &[dloss],
    );
    let xt = transpose(&mut g, &[1, 0], x);
    let dw = add(&mut g, Op::MatMul, &[xt, dy]);
    let dwt = transpose(&mut g, &[1, 0], dw);
    let dw = transpose(&mut g, &[1, 0], dwt);
    let lr = scalar(&mut g, 0.5);
    let step = bin(&mut g, BinaryOp::Mul, lr, dw);
    let zero = scalar(&mut g, 0.0);
    let step = bin(&mut g, BinaryOp::Sub, step, zero);
    let nw = bin(&mut g, BinaryOp::Sub, w, step);
    g.outputs.push(("loss".into(), loss));
    g.updates.push((w, nw));
    g
}

#[test]
fn explain_lists_the_rewrites_used() {
    let g = gradient_like();
    let mut s = g.clone();
    let report = simplify(
        &mut s,
        Limits {
            explain: true,
            ..Limits::default()
        },
    )
    .expect("simplifies");
    assert_same_results(&g, &s, &report);
    let mut plain = g.clone();
    let without = simplify(&mut plain, Limits::default()).expect("simplifies");
    assert_eq!(
        tfg_ir::text::print(&plain),
        tfg_ir::text::print(&s),
        "explanations must not change the result"
    );
    assert!(without.explain().starts_with("no explanations"));
    insta::assert_snapshot!(report.explain());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// `simplified` checks the results against the interpreter's.
    #[test]
    fn simplify_keeps_results(g in arb_graph()) {
        simplified(&g);
    }

    #[test]
    fn explaining_changes_nothing(g in arb_graph_with(GraphConfig { updates: true, ..GraphConfig::default() })) {
        let (mut plain, mut explained) = (g.clone(), g.clone());
        simplify(&mut plain, Limits::default()).expect("simplifies");
        let report = simplify(&mut explained, Limits { explain: true, ..Limits::default() }).expect("simplifies");
        prop_assert_eq!(tfg_ir::text::print(&plain), tfg_ir::text::print(&explained));
        prop_assert!(report.explain().lines().count() > report.steps.as_ref().map_or(0, Vec::len));
    }

    /// Random graphs with identities wrapped around their outputs: the rules
    /// take them off again.
    #[test]
    fn simplify_removes_identities(g in arb_graph_with(GraphConfig { updates: true, ..GraphConfig::default() }), picks in proptest::collection::vec(0usize..8, 1..4)) {
        let mut decorated = g.clone();
        for i in 0..decorated.outputs.len() {
            let mut v = decorated.outputs[i].1;
            for &p in &picks {
                v = wrap_in_identity(&mut decorated, v, p);
            }
            decorated.outputs[i].1 = v;
        }
        let (plain, plain_report) = simplified(&g);
        let (s, report) = simplified(&decorated);
        // Both e-graphs hold the plain graph's terms, so the decorated one
        // computes no more ops or costs no more: extraction is greedy, and
        // may trade an op for a cheaper form (`transpose(w0 @ transpose(w1))`
        // for `w1 @ transpose(w0)`) or pick `x - -4` over `x + 4` when a 4
        // is shared. Ties in cost may pick another copy of a constant.
        let computed = |g: &Graph| ops(g).iter().filter(|o| *o != "const").count();
        if report.saturated() && plain_report.saturated() {
            prop_assert!(
                computed(&s) <= computed(&plain)
                    || report.cost_after <= plain_report.cost_after * (1.0 + 1e-12),
                "{} ({})\nvs\n{} ({})",
                tfg_ir::text::print(&s), report.cost_after,
                tfg_ir::text::print(&plain), plain_report.cost_after
            );
        }
    }
}

/// `v` under an identity the rules know (the `p`-th of them, where its type allows).
fn wrap_in_identity(g: &mut Graph, v: ValueId, p: usize) -> ValueId {
    let t = g.ty(v).clone();
    let numeric = t.dtype != DType::Bool;
    let dims: Vec<u64> = t.shape.0.iter().filter_map(|d| d.known()).collect();
    match p {
        0 if numeric => {
            let one = constant(g, Tensor::full(t.dtype, vec![], 1.0));
            bin(g, BinaryOp::Mul, v, one)
        }
        1 if numeric => {
            let n = un(g, UnaryOp::Neg, v);
            un(g, UnaryOp::Neg, n)
        }
        2 if dims.len() >= 2 => {
            let perm: Vec<usize> = (0..dims.len()).rev().collect();
            let a = transpose(g, &perm, v);
            transpose(g, &perm, a)
        }
        3 => {
            let flat = add(
                g,
                Op::Reshape {
                    shape: Shape::known(&[dims.iter().product()]),
                },
                &[v],
            );
            add(
                g,
                Op::Reshape {
                    shape: t.shape.clone(),
                },
                &[flat],
            )
        }
        4 if numeric => {
            let mut wide = vec![2];
            wide.extend(&dims);
            let b = add(
                g,
                Op::BroadcastTo {
                    shape: Shape::known(&wide),
                },
                &[v],
            );
            add(
                g,
                Op::Reduce {
                    op: ReduceOp::Max,
                    axes: vec![0],
                    keepdims: false,
                },
                &[b],
            )
        }
        5 if numeric => {
            let zero = constant(g, Tensor::full(t.dtype, vec![], 0.0));
            bin(g, BinaryOp::Sub, v, zero)
        }
        6 if t.dtype.is_float() => {
            let z = constant(g, Tensor::full(t.dtype, vec![], -0.0));
            bin(g, BinaryOp::Add, z, v)
        }
        7 => add(
            g,
            Op::BroadcastTo {
                shape: t.shape.clone(),
            },
            &[v],
        ),
        _ => v,
    }
}
