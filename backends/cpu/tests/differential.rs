//! The JIT against the Kernel IR interpreter: every op in every dtype and
//! shape corner, compositions, GEMMs in every layout, and random graphs.
//! Graphs go through `fuse` + `lower`; both backends run the same program on
//! the same feeds, and must agree within the language's tolerances
//! (docs/language.md, "Semantics"; NaN matches NaN, integers and bools
//! exactly). Each program runs under several code generation options
//! (vectorised or not, inline or runtime math, threads or not), so every path
//! is checked, and once more tiered up to LLVM's code (`tfg_ptx::cpu`).

use proptest::prelude::*;
use tfg_cpu::Options;
use tfg_interp::kernel::run_program;
use tfg_ir::kernel::{self, Program};
use tfg_ir::{BinaryOp, DType, Graph, Op, ReduceOp, Shape, Tensor, UnaryOp};
use tfg_testkit::build::{add, elementwise, input, parsed, softmax, ty};
use tfg_testkit::feeds::feeds;
use tfg_testkit::{close_results, Tol};
use tfg_testkit::{kernel_ir, pipeline_ir};

/// The option sets every program is compiled with.
fn variants() -> [Options; 4] {
    let all = Options::default();
    [
        all.clone(),
        Options {
            vectorize: false,
            ..all.clone()
        },
        Options {
            inline_math: false,
            ..all.clone()
        },
        Options {
            threads: false,
            vectorize: false,
            inline_math: false,
            fma: false,
            tile: false,
            keep_packed: false,
        },
    ]
}

/// Runs `p` in the interpreter and under every option set; compares.
fn agree_program(
    p: &Program,
    inputs: &[Tensor],
    params: &[Tensor],
    tol: impl Into<Tol>,
) -> Result<(), String> {
    let tol = tol.into();
    let want = run_program(p, inputs, params)
        .map_err(|e| format!("kernel interpreter: {e}\n{}", kernel::print(p)))?;
    for opts in variants() {
        let mut c = tfg_cpu::compile_with(p, &opts)
            .map_err(|e| format!("{opts:?}: compile: {e}\n{}", kernel::print(p)))?;
        // Again: the arena is reused, and a run must not see the one before;
        // then twice keeping the params' GEMM operands packed (packed at
        // the first of those runs, reused at the second).
        for run in 0..4 {
            let got = match run {
                0 | 1 => c.run(inputs, params),
                _ => c.run_packed(inputs, params),
            }
            .map_err(|e| format!("{opts:?}: run: {e}"))?;
            let results = close_results(
                (&want.outputs, &want.updates),
                (&got.outputs, &got.updates),
                tol,
            );
            results.map_err(|e| format!("{opts:?}, run {run}, {e}\n{}", kernel::print(p)))?;
        }
    }
    let mut c = tfg_cpu::compile(p).map_err(|e| format!("compile: {e}"))?;
    c.set_tier(std::sync::Arc::new(tfg_ptx::cpu::Llvm), 0);
    match c.wait_tier_up() {
        Ok(true) => {}
        Ok(false) => return Err("LLVM tier: not tiered up".into()),
        Err(e) => return Err(format!("LLVM tier: {e}\n{}", kernel::print(p))),
    }
    let got = c
        .run(inputs, params)
        .map_err(|e| format!("LLVM tier: run: {e}"))?;
    close_results(
        (&want.outputs, &want.updates),
        (&got.outputs, &got.updates),
        tol,
    )
    .map_err(|e| format!("LLVM tier: {e}\n{}", kernel::print(p)))
}

fn agree(g: &Graph, seed: u64, special: bool, tol: impl Into<Tol>) -> Result<(), String> {
    tfg_ir::verify(g).map_err(|e| format!("test graph is invalid: {e}"))?;
    let p = kernel_ir(g)?;
    let (inputs, params) = feeds(g, seed, special);
    agree_program(&p, &inputs, &params, tol)
}

fn check(g: &Graph) {
    agree(g, 7, true, 1e-5).unwrap_or_else(|e| panic!("{}\n{e}", tfg_ir::text::print(g)));
}

fn check_reduction(g: &Graph) {
    agree(g, 7, false, 1e-4).unwrap_or_else(|e| panic!("{}\n{e}", tfg_ir::text::print(g)));
}

/// Sizes around the vector width and the thread split: a scalar, one
/// element, odd, a vector and a tail, and enough to split across threads.
const SHAPES: [&[u64]; 6] = [&[], &[1], &[7], &[4, 5], &[2, 33], &[300, 301]];

#[test]
fn every_unary_op_in_every_dtype_and_shape() {
    for op in UnaryOp::ALL {
        for dtype in DType::ALL {
            for shape in SHAPES {
                if tfg_ir::infer(&Op::Unary(op), &[&ty(dtype, shape)]).is_err() {
                    continue;
                }
                let mut g = Graph::new("unary");
                let x = input(&mut g, "x", dtype, shape);
                let y = add(&mut g, Op::Unary(op), &[x]);
                g.outputs.push(("y".into(), y));
                check(&g);
            }
        }
    }
}

const BROADCASTS: [(&[u64], &[u64]); 6] = [
    (&[2, 3], &[2, 3]),
    (&[2, 1], &[3]),
    (&[], &[9]),
    (&[3, 1, 2], &[1, 4, 1]),
    (&[11], &[]),
    (&[257, 129], &[257, 129]),
];

#[test]
fn every_binary_op_in_every_dtype_with_broadcasting() {
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
fn select_in_every_dtype() {
    for dtype in DType::ALL {
        for (c_shape, a_shape, b_shape) in [
            (&[2u64, 1, 1][..], &[3u64, 1][..], &[4u64][..]),
            (&[13], &[13], &[13]),
        ] {
            let mut g = Graph::new("select");
            let c = input(&mut g, "c", DType::Bool, c_shape);
            let a = input(&mut g, "a", dtype, a_shape);
            let b = input(&mut g, "b", dtype, b_shape);
            let z = add(&mut g, Op::Select, &[c, a, b]);
            g.outputs.push(("z".into(), z));
            check(&g);
        }
    }
}

#[test]
fn cast_between_every_dtype() {
    for from in DType::ALL {
        for to in DType::ALL {
            for shape in [&[9u64][..], &[2, 3]] {
                let mut g = Graph::new("cast");
                let x = input(&mut g, "x", from, shape);
                let y = add(&mut g, Op::Cast { to }, &[x]);
                g.outputs.push(("y".into(), y));
                check(&g);
            }
        }
    }
}

#[test]
fn reductions_over_every_axis_set() {
    let axis_sets: [&[usize]; 8] = [&[], &[0], &[1], &[2], &[0, 1], &[0, 2], &[1, 2], &[0, 1, 2]];
    for op in ReduceOp::ALL {
        for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
            for shape in [&[2u64, 3, 4][..], &[3, 5, 17]] {
                for axes in axis_sets {
                    let mut g = Graph::new("reduce");
                    let x = input(&mut g, "x", dtype, shape);
                    let Ok(y) = g.add(
                        Op::Reduce {
                            op,
                            axes: axes.to_vec(),
                            keepdims: false,
                        },
                        &[x],
                    ) else {
                        continue;
                    };
                    g.outputs.push(("y".into(), y));
                    check_reduction(&g);
                }
            }
        }
    }
}

#[test]
fn large_rows_reduce_with_vector_accumulators() {
    for op in ReduceOp::ALL {
        for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
            let mut g = Graph::new("rows");
            let x = input(&mut g, "x", dtype, &[37, 1029]);
            let Ok(y) = g.add(
                Op::Reduce {
                    op,
                    axes: vec![1],
                    keepdims: false,
                },
                &[x],
            ) else {
                continue;
            };
            let Ok(z) = g.add(
                Op::Reduce {
                    op,
                    axes: vec![0],
                    keepdims: true,
                },
                &[x],
            ) else {
                continue;
            };
            g.outputs.push(("y".into(), y));
            g.outputs.push(("z".into(), z));
            // Products of a thousand values overflow; compare the others.
            if op != ReduceOp::Prod {
                check_reduction(&g);
            }
        }
    }
}

/// Small reduction loops run four vector steps at a time, then single
/// vector steps, then scalars: row lengths on each side of those steps.
#[test]
fn row_lengths_around_the_unrolled_vector_step() {
    for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
        for dtype in [DType::F32, DType::F64, DType::I32] {
            for n in [3u64, 4, 7, 8, 15, 16, 17, 20, 31, 32, 33, 36, 63, 64, 65] {
                let mut g = Graph::new("rows");
                let x = input(&mut g, "x", dtype, &[3, n]);
                let op = Op::Reduce {
                    op,
                    axes: vec![1],
                    keepdims: false,
                };
                let y = add(&mut g, op, &[x]);
                g.outputs.push(("y".into(), y));
                // Special values too: NaN and ±inf in any copy's lanes.
                agree(&g, 7, true, 1e-4)
                    .unwrap_or_else(|e| panic!("{}\n{e}", tfg_ir::text::print(&g)));
            }
        }
    }
}

#[test]
fn argmax_and_argmin() {
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
        for axis in 0..2 {
            for op in [Op::ArgMax { axis }, Op::ArgMin { axis }] {
                let mut g = Graph::new("arg");
                let x = input(&mut g, "x", dtype, &[5, 9]);
                let y = add(&mut g, op, &[x]);
                g.outputs.push(("y".into(), y));
                check(&g);
            }
        }
    }
}

#[test]
fn matmul_in_every_rank_case_and_dtype() {
    let cases: [(&[u64], &[u64]); 8] = [
        (&[5], &[5]),
        (&[3], &[3, 4]),
        (&[4, 3], &[3]),
        (&[2, 3], &[3, 4]),
        (&[2, 2, 3], &[3, 4]),
        (&[3, 1, 2, 3], &[2, 3, 5]),
        (&[1, 4], &[4, 1]),
        (&[33, 65], &[65, 17]),
    ];
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
        for (a, b) in cases {
            let mut g = Graph::new("matmul");
            let x = input(&mut g, "a", dtype, a);
            let y = input(&mut g, "b", dtype, b);
            let z = add(&mut g, Op::MatMul, &[x, y]);
            g.outputs.push(("z".into(), z));
            check_reduction(&g);
        }
    }
}

/// Convolutions large enough that the im2col and its GEMM run tile by tile
/// (`Options::tile`): strides, dilation, groups, both paddings; every option
/// set, tiled and not, against the interpreter.
#[test]
fn convolutions_run_tile_by_tile() {
    let cases = [
        ("[4, 20, 24, 16]", "[3, 3, 16, 8]", "padding = \"same\""),
        (
            "[4, 65, 40, 8]",
            "[3, 2, 8, 12]",
            "stride = [2, 1], padding = \"valid\"",
        ),
        (
            "[3, 30, 30, 12]",
            "[3, 3, 4, 6]",
            "padding = \"same\", groups = 3, dilation = 2",
        ),
        (
            "[1, 56, 56, 8]",
            "[5, 5, 8, 4]",
            "stride = 2, padding = [[2, 1], [0, 3]]",
        ),
    ];
    for (x, w, kwargs) in cases {
        let g = parsed(&format!(
            "graph conv {{\n    input x: f32{x}\n    input w: f32{w}\n    output y = conv2d(x, w, {kwargs})\n}}\n"
        ));
        let p = pipeline_ir(&g).expect("compiles");
        let tasks = |tile| {
            let opts = Options {
                tile,
                ..Options::default()
            };
            let listing = tfg_cpu::clif_with(&p, &opts).expect("translates");
            listing.matches("; kernel ").count()
        };
        assert!(
            tasks(true) < tasks(false),
            "conv2d(x: {x}, w: {w}, {kwargs}): the GEMM still runs on its own\n{}",
            kernel::print(&p)
        );
        let (inputs, params) = feeds(&g, 3, false);
        // f32 dot products of up to 400 terms, summed in another order than
        // the interpreter's (and in f32, not f64): bounded by the terms'
        // size, so relative to the largest result.
        let tol = Tol {
            rel: 1e-4,
            of_largest: 1e-5,
            abs: 0.0,
        };
        agree_program(&p, &inputs, &params, tol)
            .unwrap_or_else(|e| panic!("conv2d(x: {x}, w: {w}, {kwargs}): {e}"));
    }
}

#[test]
fn matmul_of_transposed_operands() {
    for (ta, tb) in [(false, true), (true, false), (true, true)] {
        let mut g = Graph::new("mt");
        let (ad, bd): (&[u64], &[u64]) = (
            if ta { &[6, 5] } else { &[5, 6] },
            if tb { &[7, 6] } else { &[6, 7] },
        );
        let mut x = input(&mut g, "a", DType::F32, ad);
        let mut y = input(&mut g, "b", DType::F32, bd);
        if ta {
            x = add(&mut g, Op::Transpose { perm: vec![1, 0] }, &[x]);
        }
        if tb {
            y = add(&mut g, Op::Transpose { perm: vec![1, 0] }, &[y]);
        }
        let z = add(&mut g, Op::MatMul, &[x, y]);
        let one = add(&mut g, Op::Const(Tensor::scalar_f32(1.0)), &[]);
        let w = add(&mut g, Op::Binary(BinaryOp::Add), &[z, one]);
        g.outputs.push(("w".into(), w));
        check_reduction(&g);
    }
}

#[test]
fn layout_ops() {
    for dtype in DType::ALL {
        let mut g = Graph::new("layout");
        let x = input(&mut g, "x", dtype, &[2, 3, 5]);
        let t = add(
            &mut g,
            Op::Transpose {
                perm: vec![2, 0, 1],
            },
            &[x],
        );
        let r = add(
            &mut g,
            Op::Reshape {
                shape: Shape::known(&[6, 5]),
            },
            &[x],
        );
        let b = add(
            &mut g,
            Op::BroadcastTo {
                shape: Shape::known(&[4, 2, 3, 5]),
            },
            &[x],
        );
        let c = add(&mut g, Op::Concat { axis: 1 }, &[x, x]);
        for (n, v) in [("t", t), ("r", r), ("b", b), ("c", c)] {
            g.outputs.push((n.into(), v));
        }
        check(&g);
    }
}

#[test]
fn one_hot_of_both_integer_dtypes() {
    for dtype in [DType::I32, DType::I64] {
        let mut g = Graph::new("one_hot");
        let x = input(&mut g, "x", dtype, &[3, 7]);
        let y = add(&mut g, Op::OneHot { depth: 5 }, &[x]);
        g.outputs.push(("y".into(), y));
        check(&g);
    }
}

#[test]
fn softmax_rows() {
    // The last, a middle and the first axis; size 1, odd sizes, a vector
    // tail, and rows enough to split across threads.
    let cases: [(&[u64], usize); 6] = [
        (&[1, 1], 1),
        (&[3, 7], 1),
        (&[64, 1000], 1),
        (&[5, 33, 3], 1),
        (&[4, 1, 9], 1),
        (&[21, 5], 0),
    ];
    for (dims, axis) in cases {
        let mut g = Graph::new("softmax");
        let x = input(&mut g, "x", DType::F32, dims);
        let y = softmax(&mut g, x, axis);
        g.outputs.push(("y".into(), y));
        check_reduction(&g);
        // `exp(x) / sum(exp(x))`: the value kept in the sum's loop reads a
        // load directly.
        let mut g = Graph::new("exp_over_sum");
        let x = input(&mut g, "x", DType::F32, dims);
        let e = add(&mut g, Op::Unary(UnaryOp::Exp), &[x]);
        let s = add(
            &mut g,
            Op::Reduce {
                op: ReduceOp::Sum,
                axes: vec![axis],
                keepdims: true,
            },
            &[e],
        );
        let y = add(&mut g, Op::Binary(BinaryOp::Div), &[e, s]);
        g.outputs.push(("y".into(), y));
        check_reduction(&g);
    }
}

#[test]
fn w1_expression_at_every_size_class() {
    for n in [1, 3, 4, 5, 1000, 100_003] {
        check(&elementwise(&[n]));
    }
}

#[test]
fn feeds_are_checked() {
    let p = kernel_ir(&elementwise(&[4])).expect("lowers");
    let mut c = tfg_cpu::compile(&p).expect("compiles");
    let wrong_shape = Tensor::full(DType::F32, vec![5], 1.0);
    let e = c
        .run(&[wrong_shape], &[])
        .expect_err("a feed of the wrong shape");
    assert!(e.message.contains("expects f32[4]"), "{}", e.message);
    let wrong_dtype = Tensor::full(DType::F64, vec![4], 1.0);
    assert!(c.run(&[wrong_dtype], &[]).is_err());
    assert!(c
        .run(&[], &[])
        .expect_err("no feed")
        .message
        .contains("expected 1 input"));
}

/// Dims for random graphs whose tensors reach the paths small ones do not:
/// vector loops with a scalar remainder (7, 33, 67 lanes), and loops with
/// enough work to be split across threads (up to 67 × 67 × 67 elements).
const LARGER_DIMS: &[u64] = &[1, 7, 33, 67];

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    // A matmul whose f32 sum cancels to near zero keeps the rounding error
    // of its largest terms (an element of -6.9e-5 from terms near 1, off by
    // 2.6e-4 of itself), so the error may also be 1e-5 of the largest
    // element, as for larger tensors below.
    #[test]
    fn random_graphs_agree(g in tfg_ir::arbitrary::arb_graph(), seed in any::<u64>()) {
        agree(&g, seed, false, Tol { rel: 1e-4, of_largest: 1e-5, ..Tol::EXACT }).map_err(|e| TestCaseError::fail(format!("{}\n{e}", tfg_ir::text::print(&g))))?;
    }

    #[test]
    fn random_graphs_of_larger_tensors_agree(g in tfg_ir::arbitrary::arb_graph_with(tfg_ir::arbitrary::GraphConfig {
        steps: 1..=6,
        updates: true,
        dims: LARGER_DIMS,
        ..Default::default()
    }), seed in any::<u64>()) {
        agree(&g, seed, false, Tol { rel: 1e-4, of_largest: 1e-5, ..Tol::EXACT }).map_err(|e| TestCaseError::fail(format!("{}\n{e}", tfg_ir::text::print(&g))))?;
    }

    #[test]
    fn random_graphs_with_updates_agree(g in tfg_ir::arbitrary::arb_graph_with(tfg_ir::arbitrary::GraphConfig {
        updates: true, ..Default::default()
    }), seed in any::<u64>()) {
        agree(&g, seed, false, Tol { rel: 1e-4, of_largest: 1e-5, ..Tol::EXACT }).map_err(|e| TestCaseError::fail(format!("{}\n{e}", tfg_ir::text::print(&g))))?;
    }
}
