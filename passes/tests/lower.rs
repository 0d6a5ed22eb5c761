//! Lowering is tested against the Graph IR interpreter: for every op (in
//! every dtype and shape corner its type rule allows), for compositions, for
//! a training step and for random graphs, fuse + lower + the Kernel IR
//! interpreter must give what the Graph IR interpreter gives, within the
//! language's tolerances (docs/language.md, "Semantics"). The printed programs must parse back to themselves.

use proptest::prelude::*;
use tfg_interp::kernel::run_program;
use tfg_ir::kernel::{self, Expr, Program, Role, Stmt};
use tfg_ir::{
    BinaryOp, DType, Data, Graph, Init, Op, Optimizer, ReduceOp, Shape, Tensor, TrainSpec, Type,
    UnaryOp, ValueId,
};
use tfg_passes::fuse::fuse;
use tfg_passes::lower::lower;
use tfg_testkit::build::{add, input, scalar, softmax, ty};
use tfg_testkit::feeds::feeds;
use tfg_testkit::{close_results, Tol};

/// Fuses and lowers `g`, runs it both ways on random feeds (special values
/// among them), compares.
fn agree(g: &Graph, seed: u64) -> Result<Program, String> {
    tfg_ir::verify(g).map_err(|e| format!("test graph is invalid: {e}"))?;
    let f = fuse(g);
    let p = tfg_passes::to_kernel_ir(g, &f)
        .map_err(|e| format!("lowering failed: {e}\n{}", f.print(g)))?;
    // The text form keeps everything, the leaves' defaults and inits
    // included (compared as text: NaN constants are unequal to themselves).
    let text = kernel::print(&p);
    if kernel::parse(&text).map(|q| kernel::print(&q)).as_ref() != Ok(&text) {
        return Err(format!("the program does not read back as itself:\n{text}"));
    }
    let (inputs, params) = feeds(g, seed, true);
    let want =
        tfg_interp::run(g, &inputs, &params).map_err(|e| format!("graph interpreter: {e}"))?;
    let got = run_program(&p, &inputs, &params)
        .map_err(|e| format!("kernel interpreter: {e}\n{}", kernel::print(&p)))?;
    // Lowering keeps each element's arithmetic, so results are the same
    // bits; but the Kernel IR sums f32 in f64 (and a GEMM adds its products
    // in its own order) where the graph interpreter sums pairwise in f32
    // (numpy's way): then within 1e-4, and, where a sum cancels, 1e-5
    // absolute (the feeds are within [-3, 3]).
    let tol = if g
        .nodes
        .iter()
        .any(|n| reorders(&n.op) && n.ty.dtype.is_float())
    {
        Tol {
            rel: 1e-4,
            abs: 1e-5,
            ..Tol::EXACT
        }
    } else {
        Tol::EXACT
    };
    let results = close_results(
        (&want.outputs, &want.updates),
        (&got.outputs, &got.updates),
        tol,
    );
    results.map_err(|e| format!("{e}\n{}\n{}", tfg_ir::text::print(g), kernel::print(&p)))?;
    Ok(p)
}

/// Whether `op` adds (or multiplies) many terms, in an order the Kernel IR
/// need not share with the graph interpreter.
fn reorders(op: &Op) -> bool {
    matches!(
        op,
        Op::MatMul
            | Op::Reduce {
                op: ReduceOp::Sum | ReduceOp::Mean | ReduceOp::Prod,
                ..
            }
    )
}

fn check(g: &Graph) -> Program {
    agree(g, 7).unwrap_or_else(|e| panic!("{e}"))
}

fn unary_graph(op: UnaryOp, dtype: DType) -> Graph {
    let mut g = Graph::new("unary");
    let x = input(&mut g, "x", dtype, &[2, 3]);
    let y = add(&mut g, Op::Unary(op), &[x]);
    g.outputs.push(("y".into(), y));
    g
}

#[test]
fn every_unary_op_in_every_dtype() {
    for op in UnaryOp::ALL {
        for dtype in DType::ALL {
            if tfg_ir::infer(&Op::Unary(op), &[&ty(dtype, &[2, 3])]).is_ok() {
                check(&unary_graph(op, dtype));
            }
        }
    }
}

const BROADCASTS: [(&[u64], &[u64]); 5] = [
    (&[2, 3], &[2, 3]),
    (&[2, 1], &[3]),
    (&[], &[4]),
    (&[3, 1, 2], &[1, 4, 1]),
    (&[5], &[]),
];

#[test]
fn every_binary_op_with_broadcasting() {
    for op in BinaryOp::ALL {
        for dtype in DType::ALL {
            for (a, b) in BROADCASTS {
                let mut g = Graph::new("binary");
                let x = input(&mut g, "x", dtype, a);
                let y = input(&mut g, "y", dtype, b);
                let Ok(z) = g.add(Op::Binary(op), &[x, y]) else {
                    continue;
                };
                g.outputs.push(("z".into(), z));
                check(&g);
            }
        }
    }
}

#[test]
fn select_broadcasts_three_ways() {
    for dtype in DType::ALL {
        let mut g = Graph::new("select");
        let c = input(&mut g, "c", DType::Bool, &[2, 1, 1]);
        let a = input(&mut g, "a", dtype, &[3, 1]);
        let b = input(&mut g, "b", dtype, &[4]);
        let z = add(&mut g, Op::Select, &[c, a, b]);
        g.outputs.push(("z".into(), z));
        check(&g);
    }
}

#[test]
fn reductions_over_every_axis_set() {
    let axis_sets: [&[usize]; 8] = [&[], &[0], &[1], &[2], &[0, 1], &[0, 2], &[1, 2], &[0, 1, 2]];
    for op in ReduceOp::ALL {
        for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
            for axes in axis_sets {
                for keepdims in [false, true] {
                    let mut g = Graph::new("reduce");
                    let x = input(&mut g, "x", dtype, &[2, 3, 4]);
                    let Ok(y) = g.add(
                        Op::Reduce {
                            op,
                            axes: axes.to_vec(),
                            keepdims,
                        },
                        &[x],
                    ) else {
                        continue;
                    };
                    g.outputs.push(("y".into(), y));
                    check(&g);
                }
            }
        }
    }
}

#[test]
fn reductions_of_empty_axes() {
    for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Prod] {
        let mut g = Graph::new("empty");
        let x = input(&mut g, "x", DType::F32, &[3, 0]);
        let y = add(
            &mut g,
            Op::Reduce {
                op,
                axes: vec![1],
                keepdims: false,
            },
            &[x],
        );
        g.outputs.push(("y".into(), y));
        check(&g);
    }
}

#[test]
fn argmax_and_argmin_take_the_first_extreme_and_nan() {
    let data = [
        2.0,
        5.0,
        5.0,
        f32::NAN,
        1.0,
        f32::NAN,
        -1.0,
        -1.0,
        0.0,
        7.0,
        7.0,
        -3.0,
    ];
    for axis in 0..2 {
        for max in [true, false] {
            let mut g = Graph::new("arg");
            let x = add(
                &mut g,
                Op::Const(Tensor::new(vec![3, 4], Data::F32(data.to_vec())).expect("12")),
                &[],
            );
            let op = if max {
                Op::ArgMax { axis }
            } else {
                Op::ArgMin { axis }
            };
            let y = add(&mut g, op, &[x]);
            g.outputs.push(("y".into(), y));
            check(&g);
        }
    }
    for dtype in DType::ALL {
        for axis in 0..3 {
            let mut g = Graph::new("arg");
            let x = input(&mut g, "x", dtype, &[2, 3, 4]);
            let Ok(y) = g.add(Op::ArgMin { axis }, &[x]) else {
                continue;
            };
            g.outputs.push(("y".into(), y));
            check(&g);
        }
    }
}

#[test]
fn matmul_in_every_rank_case() {
    let cases: [(&[u64], &[u64]); 10] = [
        (&[3], &[3]),
        (&[3], &[3, 4]),
        (&[2, 3], &[3]),
        (&[2, 3], &[3, 4]),
        (&[5, 2, 3], &[3, 4]),
        (&[2, 3], &[5, 3, 4]),
        (&[5, 1, 2, 3], &[7, 3, 4]),
        (&[3], &[6, 3, 4]),
        (&[6, 2, 3], &[3]),
        (&[2, 0], &[0, 3]),
    ];
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
        for (a, b) in cases {
            let mut g = Graph::new("matmul");
            let x = input(&mut g, "x", dtype, a);
            let w = input(&mut g, "w", dtype, b);
            let y = add(&mut g, Op::MatMul, &[x, w]);
            g.outputs.push(("y".into(), y));
            check(&g);
        }
    }
}

#[test]
fn matmul_reads_transposed_operands_through_the_flags() {
    let mut g = Graph::new("gemm_t");
    let x = input(&mut g, "x", DType::F32, &[4, 3, 2]);
    let w = input(&mut g, "w", DType::F32, &[5, 3]);
    let xt = add(
        &mut g,
        Op::Transpose {
            perm: vec![0, 2, 1],
        },
        &[x],
    );
    let wt = add(&mut g, Op::Transpose { perm: vec![1, 0] }, &[w]);
    let y = add(&mut g, Op::MatMul, &[xt, wt]);
    let b = input(&mut g, "b", DType::F32, &[5]);
    let z = add(&mut g, Op::Binary(BinaryOp::Add), &[y, b]);
    let r = add(&mut g, Op::Unary(UnaryOp::Relu), &[z]);
    g.outputs.push(("r".into(), r));
    let p = check(&g);
    assert_eq!(p.kernels.len(), 1, "{}", kernel::print(&p));
    let gemms = gemms(&p);
    assert_eq!(gemms.len(), 1);
    assert!(gemms[0].trans_a && gemms[0].trans_b);
    // The epilogue runs in place over the GEMM's result: no scratch memory.
    assert_eq!(p.plan.arena_bytes, 0);
}

/// The GEMM statements of `p`'s kernels, in order.
fn gemms(p: &Program) -> Vec<kernel::Gemm> {
    let mut gemms = Vec::new();
    for k in &p.kernels {
        Stmt::walk(&k.body, &mut |s| {
            if let Stmt::Gemm(gm) = s {
                gemms.push(gm.clone());
            }
        });
    }
    gemms
}

#[test]
fn a_batch_against_one_matrix_is_one_tall_gemm() {
    // [5, 2, 3] @ [3, 4]: the five 2×3 matrices lie end to end, so one GEMM
    // of 10 rows; transposed, they do not, and it stays a batch of five.
    for (transposed, m, batch) in [(false, 10, 1), (true, 2, 5)] {
        let mut g = Graph::new("tall");
        let a = if transposed {
            let x = input(&mut g, "x", DType::F32, &[5, 3, 2]);
            add(
                &mut g,
                Op::Transpose {
                    perm: vec![0, 2, 1],
                },
                &[x],
            )
        } else {
            input(&mut g, "x", DType::F32, &[5, 2, 3])
        };
        let w = input(&mut g, "w", DType::F32, &[3, 4]);
        let y = add(&mut g, Op::MatMul, &[a, w]);
        g.outputs.push(("y".into(), y));
        let p = check(&g);
        let gemms = gemms(&p);
        assert_eq!(gemms.len(), 1, "{}", kernel::print(&p));
        assert_eq!(
            (gemms[0].m, gemms[0].batch),
            (m, batch),
            "{}",
            kernel::print(&p)
        );
    }
}

#[test]
fn index_only_ops() {
    let x_dims = [2u64, 3, 4];
    let mut ops: Vec<Op> = [[0, 1, 2], [2, 0, 1], [1, 0, 2], [2, 1, 0]]
        .iter()
        .map(|p| Op::Transpose { perm: p.to_vec() })
        .collect();
    for s in [&[6u64, 4][..], &[24], &[4, 3, 2], &[2, 12], &[1, 24, 1]] {
        ops.push(Op::Reshape {
            shape: Shape::known(s),
        });
    }
    ops.push(Op::BroadcastTo {
        shape: Shape::known(&[5, 2, 3, 4]),
    });
    for op in ops {
        for dtype in [DType::F32, DType::Bool] {
            let mut g = Graph::new("index");
            let x = input(&mut g, "x", dtype, &x_dims);
            let y = add(&mut g, op.clone(), &[x]);
            g.outputs.push(("y".into(), y));
            check(&g);
        }
    }
    let mut g = Graph::new("broadcast");
    let x = input(&mut g, "x", DType::I32, &[3, 1]);
    let y = add(
        &mut g,
        Op::BroadcastTo {
            shape: Shape::known(&[2, 3, 4]),
        },
        &[x],
    );
    g.outputs.push(("y".into(), y));
    check(&g);
}

#[test]
fn concat_along_each_axis() {
    for axis in 0..2 {
        let mut g = Graph::new("concat");
        let dims = |n: u64| if axis == 0 { vec![n, 3] } else { vec![3, n] };
        let a = input(&mut g, "a", DType::F32, &dims(1));
        let b = input(&mut g, "b", DType::F32, &dims(2));
        let c = input(&mut g, "c", DType::F32, &dims(4));
        let ea = add(&mut g, Op::Unary(UnaryOp::Exp), &[a]);
        let y = add(&mut g, Op::Concat { axis }, &[ea, b, c, b]);
        g.outputs.push(("y".into(), y));
        check(&g);
    }
}

#[test]
fn one_hot_gives_zero_rows_out_of_range() {
    for dtype in [DType::I32, DType::I64] {
        let mut g = Graph::new("one_hot");
        let i = input(&mut g, "i", dtype, &[2, 5]);
        let y = add(&mut g, Op::OneHot { depth: 3 }, &[i]);
        g.outputs.push(("y".into(), y));
        check(&g);
    }
}

#[test]
fn cast_between_every_dtype() {
    for from in DType::ALL {
        for to in DType::ALL {
            let mut g = Graph::new("cast");
            let x = input(&mut g, "x", from, &[7]);
            let y = add(&mut g, Op::Cast { to }, &[x]);
            g.outputs.push(("y".into(), y));
            check(&g);
        }
    }
}

#[test]
fn outputs_that_are_leaves_views_or_repeated_are_copied() {
    let mut g = Graph::new("copies");
    let x = input(&mut g, "x", DType::F32, &[2, 3]);
    let w = g.add_param(
        "w",
        ty(DType::F32, &[3]),
        Init::Uniform { lo: -1.0, hi: 1.0 },
    );
    let c = add(
        &mut g,
        Op::Const(Tensor::new(vec![2], Data::I64(vec![3, -1])).expect("2")),
        &[],
    );
    let r = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[6]),
        },
        &[x],
    );
    let e = add(&mut g, Op::Unary(UnaryOp::Exp), &[r]);
    g.outputs = vec![
        ("x".into(), x),
        ("c".into(), c),
        ("r".into(), r),
        ("e".into(), e),
        ("e2".into(), e),
    ];
    let two = scalar(&mut g, 2.0);
    let w2 = add(&mut g, Op::Binary(BinaryOp::Mul), &[w, two]);
    g.updates = vec![(w, w2)];
    check(&g);
    g.updates = vec![(w, w)];
    check(&g);
}

#[test]
fn softmax_is_one_kernel_over_rows() {
    for axis in 0..2 {
        let mut g = Graph::new("softmax");
        let x = input(&mut g, "x", DType::F32, &[4, 6]);
        let y = softmax(&mut g, x, axis);
        g.outputs.push(("y".into(), y));
        let p = check(&g);
        assert_eq!(p.kernels.len(), 1, "{}", kernel::print(&p));
    }
}

#[test]
fn layer_norm_and_a_reduction_epilogue() {
    let mut g = Graph::new("norm");
    let x = input(&mut g, "x", DType::F32, &[3, 5]);
    let mean = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Mean,
            axes: vec![1],
            keepdims: false,
        },
        &[x],
    );
    let m2 = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[3, 1]),
        },
        &[mean],
    );
    let d = add(&mut g, Op::Binary(BinaryOp::Sub), &[x, m2]);
    let sq = add(&mut g, Op::Unary(UnaryOp::Square), &[d]);
    let var = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Mean,
            axes: vec![1],
            keepdims: true,
        },
        &[sq],
    );
    let eps = scalar(&mut g, 1e-5);
    let ve = add(&mut g, Op::Binary(BinaryOp::Add), &[var, eps]);
    let r = add(&mut g, Op::Unary(UnaryOp::Rsqrt), &[ve]);
    let y = add(&mut g, Op::Binary(BinaryOp::Mul), &[d, r]);
    let total = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0, 1],
            keepdims: false,
        },
        &[y],
    );
    g.outputs = vec![
        ("y".into(), y),
        ("mean".into(), mean),
        ("total".into(), total),
    ];
    check(&g);
}

/// A two-layer classifier: `relu(x @ w1 + b1) @ w2 + b2`, softmax cross-entropy.
pub fn mlp(batch: u64, features: u64, hidden: u64, classes: u64) -> Graph {
    let mut g = Graph::new("mlp");
    let x = input(&mut g, "x", DType::F32, &[batch, features]);
    let labels = input(&mut g, "labels", DType::I32, &[batch]);
    let w1 = g.add_param("w1", ty(DType::F32, &[features, hidden]), Init::Glorot);
    let b1 = g.add_param(
        "b1",
        ty(DType::F32, &[hidden]),
        Init::Uniform { lo: -0.1, hi: 0.1 },
    );
    let w2 = g.add_param("w2", ty(DType::F32, &[hidden, classes]), Init::Glorot);
    let b2 = g.add_param("b2", ty(DType::F32, &[classes]), Init::Zeros);
    let xw = add(&mut g, Op::MatMul, &[x, w1]);
    let z = add(&mut g, Op::Binary(BinaryOp::Add), &[xw, b1]);
    let h = add(&mut g, Op::Unary(UnaryOp::Relu), &[z]);
    let hw = add(&mut g, Op::MatMul, &[h, w2]);
    let logits = add(&mut g, Op::Binary(BinaryOp::Add), &[hw, b2]);
    let m = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Max,
            axes: vec![1],
            keepdims: true,
        },
        &[logits],
    );
    let d = add(&mut g, Op::Binary(BinaryOp::Sub), &[logits, m]);
    let e = add(&mut g, Op::Unary(UnaryOp::Exp), &[d]);
    let s = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![1],
            keepdims: true,
        },
        &[e],
    );
    let ls = add(&mut g, Op::Unary(UnaryOp::Log), &[s]);
    let logp = add(&mut g, Op::Binary(BinaryOp::Sub), &[d, ls]);
    let onehot = add(&mut g, Op::OneHot { depth: classes }, &[labels]);
    let picked = add(&mut g, Op::Binary(BinaryOp::Mul), &[onehot, logp]);
    let per_row = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![1],
            keepdims: false,
        },
        &[picked],
    );
    let mean = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Mean,
            axes: vec![0],
            keepdims: false,
        },
        &[per_row],
    );
    let loss = add(&mut g, Op::Unary(UnaryOp::Neg), &[mean]);
    g.node_mut(loss).name = Some("loss".into());
    let pred = add(&mut g, Op::ArgMax { axis: 1 }, &[logits]);
    g.outputs = vec![("loss".into(), loss), ("pred".into(), pred)];
    g
}

fn train_step(g: &Graph, optimizer: Optimizer) -> Graph {
    let spec = TrainSpec {
        graph: g.name.clone(),
        decay: None,
        clip_norm: None,
        minimize: "loss".into(),
        optimizer,
        steps: 1,
        batch: None,
        log: Vec::new(),
        loc: None,
    };
    let mut step = tfg_passes::train_step::build_train_step(g, &spec)
        .expect("train step")
        .graph;
    tfg_passes::dce::dce(&mut step);
    step
}

#[test]
fn mlp_forward_and_training_steps() {
    let g = mlp(8, 5, 6, 3);
    check(&g);
    for opt in [
        Optimizer::Sgd { lr: 0.1 },
        Optimizer::Momentum { lr: 0.1, beta: 0.9 },
        Optimizer::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
    ] {
        let step = train_step(&g, opt);
        assert!(!step.updates.is_empty());
        check(&step);
    }
}

#[test]
fn elementwise_example_is_one_kernel_reading_x_once() {
    // y = tanh(0.5*x + 0.1) * sigmoid(x) + x*x, as examples/elementwise.tfg.
    let mut g = Graph::new("elementwise");
    let x = input(&mut g, "x", DType::F32, &[1000]);
    let half = scalar(&mut g, 0.5);
    let tenth = scalar(&mut g, 0.1);
    let hx = add(&mut g, Op::Binary(BinaryOp::Mul), &[half, x]);
    let a = add(&mut g, Op::Binary(BinaryOp::Add), &[hx, tenth]);
    let t = add(&mut g, Op::Unary(UnaryOp::Tanh), &[a]);
    let s = add(&mut g, Op::Unary(UnaryOp::Sigmoid), &[x]);
    let ts = add(&mut g, Op::Binary(BinaryOp::Mul), &[t, s]);
    let xx = add(&mut g, Op::Binary(BinaryOp::Mul), &[x, x]);
    let y = add(&mut g, Op::Binary(BinaryOp::Add), &[ts, xx]);
    g.outputs.push(("y".into(), y));
    let p = check(&g);
    let [k] = &p.kernels[..] else {
        panic!("expected one kernel:\n{}", kernel::print(&p))
    };
    let role = |b: &kernel::BufId| p.buffers[b.index()].role.clone();
    assert_eq!(
        k.reads.iter().map(role).collect::<Vec<_>>(),
        [Role::Input(0)]
    );
    assert_eq!(
        k.writes.iter().map(role).collect::<Vec<_>>(),
        [Role::Output(0)]
    );
    let (mut loads, mut stores, mut loops) = (0, 0, 0);
    Stmt::walk(&k.body, &mut |s| {
        match s {
            Stmt::Store { .. } => stores += 1,
            Stmt::Loop { .. } => loops += 1,
            _ => {}
        }
        for e in s.exprs() {
            e.walk(&mut |x| loads += usize::from(matches!(x, Expr::Load { .. })));
        }
    });
    assert_eq!((loops, loads, stores), (1, 1, 1), "{}", kernel::print(&p));
    assert_eq!(p.plan.arena_bytes, 0);
    insta::assert_snapshot!(kernel::print(&p));
}

#[test]
fn softmax_kernel_text() {
    let mut g = Graph::new("softmax");
    let x = input(&mut g, "x", DType::F32, &[4, 6]);
    let y = softmax(&mut g, x, 1);
    g.outputs.push(("y".into(), y));
    insta::assert_snapshot!(kernel::print(&check(&g)));
}

fn sum_keepdims(g: &mut Graph, x: ValueId, axis: usize) -> ValueId {
    add(
        g,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![axis],
            keepdims: true,
        },
        &[x],
    )
}

/// How many times the program computes `exp`.
fn exps(p: &Program) -> usize {
    kernel::print(p).matches("exp(").count()
}

#[test]
fn a_reduced_value_a_store_reads_is_computed_once() {
    // Softmax over the last or a middle axis, odd sizes and size 1.
    for (dims, axis) in [
        (&[5, 7][..], 1),
        (&[1, 1], 1),
        (&[3, 1], 1),
        (&[3, 5, 2], 1),
        (&[2, 3, 9], 2),
    ] {
        let mut g = Graph::new("softmax");
        let x = input(&mut g, "x", DType::F32, dims);
        let y = softmax(&mut g, x, axis);
        g.outputs.push(("y".into(), y));
        let p = check(&g);
        assert_eq!(exps(&p), 1, "{dims:?} {axis}\n{}", kernel::print(&p));
    }
    // `exp(x) / sum(exp(x))`: the kept value is computed from a load.
    for (dims, axis) in [(&[4, 3][..], 1), (&[7, 3], 0), (&[2, 5, 3], 1)] {
        let mut g = Graph::new("exp_over_sum");
        let x = input(&mut g, "x", DType::F32, dims);
        let e = add(&mut g, Op::Unary(UnaryOp::Exp), &[x]);
        let s = sum_keepdims(&mut g, e, axis);
        let y = add(&mut g, Op::Binary(BinaryOp::Div), &[e, s]);
        g.outputs.push(("y".into(), y));
        check(&g);
    }
}

#[test]
fn a_reduced_value_is_not_kept_where_a_store_cannot_hold_it() {
    let dims = [3, 5];
    let graph = |name: &str| {
        let mut g = Graph::new(name);
        let x = input(&mut g, "x", DType::F32, &dims);
        let e = add(&mut g, Op::Unary(UnaryOp::Exp), &[x]);
        let s = sum_keepdims(&mut g, e, 1);
        (g, x, e, s)
    };
    // Two row stores read `exp(x)`: one of them keeps it, both agree.
    let (mut g, _, e, s) = graph("two_readers");
    let y = add(&mut g, Op::Binary(BinaryOp::Div), &[e, s]);
    let z = add(&mut g, Op::Binary(BinaryOp::Mul), &[e, s]);
    g.outputs = vec![("y".into(), y), ("z".into(), z)];
    assert_eq!(exps(&check(&g)), 1);
    // A store of another dtype (f64) cannot hold the f32 value.
    let (mut g, _, e, s) = graph("widened");
    let y = add(&mut g, Op::Binary(BinaryOp::Div), &[e, s]);
    let y = add(&mut g, Op::Cast { to: DType::F64 }, &[y]);
    g.outputs.push(("y".into(), y));
    assert_eq!(exps(&check(&g)), 2);
    // A bool store cannot either.
    let (mut g, _, e, s) = graph("compared");
    let y = add(&mut g, Op::Binary(BinaryOp::Lt), &[e, s]);
    g.outputs.push(("y".into(), y));
    assert_eq!(exps(&check(&g)), 2);
    // log_softmax stores `x - max - log(sum)`, which does not read `exp`.
    let (mut g, x, _, s) = graph("log_softmax");
    let l = add(&mut g, Op::Unary(UnaryOp::Log), &[s]);
    let y = add(&mut g, Op::Binary(BinaryOp::Sub), &[x, l]);
    g.outputs.push(("y".into(), y));
    let p = check(&g);
    let text = kernel::print(&p);
    assert_eq!(text.matches("store").count(), 1, "{text}");
}

#[test]
fn temporaries_share_the_arena_when_their_lifetimes_do_not_overlap() {
    // A chain of matmuls: each product is a temporary read only by the next.
    let mut g = Graph::new("chain");
    let mut v = input(&mut g, "x", DType::F32, &[16, 16]);
    let w = input(&mut g, "w", DType::F32, &[16, 16]);
    for _ in 0..6 {
        v = add(&mut g, Op::MatMul, &[v, w]);
    }
    g.outputs.push(("y".into(), v));
    let p = check(&g);
    let temps = p.buffers.iter().filter(|b| b.role == Role::Temp).count();
    assert_eq!(temps, 5);
    // Two 1 KiB matrices live at a time, not five.
    assert_eq!(p.plan.arena_bytes, 2 * 16 * 16 * 4);
}

fn lowered_round_trips(p: &Program) -> Result<(), TestCaseError> {
    let text = kernel::print(p);
    let back = kernel::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    prop_assert_eq!(kernel::print(&back), text.clone());
    prop_assert!(
        back == *p,
        "parsed program differs from the printed one:\n{}",
        text
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_agree_and_round_trip(g in tfg_ir::arbitrary::arb_graph()) {
        let p = agree(&g, 11).map_err(TestCaseError::fail)?;
        lowered_round_trips(&p)?;
    }

    #[test]
    fn random_graphs_with_updates_agree(g in tfg_ir::arbitrary::arb_graph_with(tfg_ir::arbitrary::GraphConfig {
        steps: 4..=20,
        dtypes: vec![DType::F32],
        updates: true,
        ..Default::default()
    })) {
        let p = agree(&g, 5).map_err(TestCaseError::fail)?;
        lowered_round_trips(&p)?;
    }
}

#[test]
fn graphs_that_cannot_run_are_errors() {
    let mut g = Graph::new("grad");
    let x = input(&mut g, "x", DType::F32, &[]);
    let y = add(&mut g, Op::Unary(UnaryOp::Exp), &[x]);
    let dy = add(&mut g, Op::Grad, &[y, x]);
    g.outputs.push(("dy".into(), dy));
    let e = lower(&g, &fuse(&g)).expect_err("grad");
    assert!(
        e.contains("is a grad: expand it with the autodiff pass before lowering"),
        "{e}"
    );

    let mut g = Graph::new("sym");
    let x = g.add_input(
        "x",
        Type::new(DType::F32, Shape(vec![tfg_ir::Dim::Sym("B".into())])),
        None,
    );
    let y = add(&mut g, Op::Unary(UnaryOp::Exp), &[x]);
    g.outputs.push(("y".into(), y));
    let e = lower(&g, &fuse(&g)).expect_err("symbolic");
    assert_eq!(
        e,
        "%x has type f32[B]: bind its symbolic dims before lowering"
    );

    let other = fuse(&mlp(2, 2, 2, 2));
    let e = lower(&g, &other).expect_err("another graph's fusion");
    assert!(e.contains("the fusion covers"), "{e}");
}

/// A bias gradient: `sum(relu'(h) · g, axis = 0)` with the masked gradient
/// also stored, as the MLP's backward pass has it.
#[test]
fn a_column_sum_walks_memory_in_order() {
    let mut g = Graph::new("bias_grad");
    let h = input(&mut g, "h", DType::F32, &[5, 8]);
    let dy = input(&mut g, "dy", DType::F32, &[5, 8]);
    let b = input(&mut g, "b", DType::F32, &[8]);
    let zero = add(&mut g, Op::Const(Tensor::scalar_f32(0.0)), &[]);
    let on = add(&mut g, Op::Binary(BinaryOp::Gt), &[h, zero]);
    let masked = add(&mut g, Op::Select, &[on, dy, zero]);
    let db = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0],
            keepdims: false,
        },
        &[masked],
    );
    let lr = add(&mut g, Op::Const(Tensor::scalar_f32(0.1)), &[]);
    let step = add(&mut g, Op::Binary(BinaryOp::Mul), &[db, lr]);
    let b2 = add(&mut g, Op::Binary(BinaryOp::Sub), &[b, step]);
    g.outputs.push(("masked".into(), masked));
    g.outputs.push(("b2".into(), b2));
    insta::assert_snapshot!(kernel::print(&check(&g)));
}

#[test]
fn reductions_over_leading_axes_agree_with_the_interpreter() {
    let ops = [
        ReduceOp::Sum,
        ReduceOp::Mean,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::Prod,
    ];
    let shapes: [(&[u64], &[usize]); 5] = [
        (&[7, 3], &[0]),
        (&[1, 5], &[0]),
        (&[4, 3, 5], &[0, 1]),
        (&[2, 3, 1], &[0]),
        (&[129, 17], &[0]),
    ];
    for op in ops {
        for dtype in [DType::F32, DType::F64, DType::I32] {
            if op == ReduceOp::Mean && dtype == DType::I32 {
                continue; // a type error: mean needs floats
            }
            for (dims, axes) in shapes {
                let mut g = Graph::new("columns");
                let x = input(&mut g, "x", dtype, dims);
                let r = add(
                    &mut g,
                    Op::Reduce {
                        op,
                        axes: axes.to_vec(),
                        keepdims: true,
                    },
                    &[x],
                );
                // A consumer per element too, so the row pass runs.
                let y = add(&mut g, Op::Binary(BinaryOp::Sub), &[x, r]);
                g.outputs.push(("r".into(), r));
                g.outputs.push(("y".into(), y));
                agree(&g, 11).unwrap_or_else(|e| panic!("{op:?} {dtype} {dims:?} {axes:?}: {e}"));
            }
        }
        // Softmax along the first axis: a reduction that reads another.
        let mut g = Graph::new("softmax0");
        let x = input(&mut g, "x", DType::F32, &[9, 4]);
        let y = softmax(&mut g, x, 0);
        g.outputs.push(("y".into(), y));
        check(&g);
    }
}
