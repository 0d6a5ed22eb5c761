//! The programs every PTX test compiles, their feeds, and how results are
//! compared.
//!
//! Programs come from Graph IR graphs through the whole pass pipeline
//! (simplify, fusion, lowering), as `tfg` compiles them: one small graph per
//! op and dtype family, shapes that exercise each launch mapping (a warp or
//! a block per row, serial reductions, tiled GEMMs with ragged edges,
//! vectorised elementwise loops), and the examples' forward and
//! training-step graphs.

#![allow(dead_code)] // Each test binary uses a different part of this module.

pub mod emulator;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tfg_ir::kernel::Program;
use tfg_ir::{BinaryOp, DType, Graph, Init, Op, ReduceOp, Shape, Tensor, UnaryOp, ValueId};
pub use tfg_testkit::build::elementwise;
use tfg_testkit::build::{add, input, ty};
pub use tfg_testkit::Tol;

/// One test program, with its relative tolerance: 1e-5 elementwise, 1e-4
/// with reductions or matrix products (docs/language.md, "Semantics").
pub struct Case {
    pub name: String,
    pub graph: Graph,
    pub program: Program,
    pub tol: Tol,
    /// Whether the feeds include NaN, infinities and subnormals.
    pub special: bool,
}

/// `g` through the whole pass pipeline, to Kernel IR.
pub fn lower(g: &Graph) -> Program {
    let mut ir = tfg_passes::Ir::Graph(g.clone());
    tfg_passes::run_pipeline(
        &mut ir,
        &tfg_passes::pipeline(),
        &tfg_passes::Options::default(),
        |_, _, _| {},
    )
    .unwrap_or_else(|e| panic!("graph {}: {e}", g.name));
    ir.into_program().expect("the pipeline ends in Kernel IR")
}

fn case(name: impl Into<String>, g: Graph, tol: impl Into<Tol>, special: bool) -> Case {
    let program = lower(&g);
    Case {
        name: name.into(),
        graph: g,
        program,
        tol: tol.into(),
        special,
    }
}

/// A graph computing one op on fresh inputs of the given types.
fn single(name: &str, op: Op, args: &[(DType, &[u64])]) -> Graph {
    let mut g = Graph::new(name);
    let vs: Vec<ValueId> = args
        .iter()
        .enumerate()
        .map(|(i, (d, dims))| input(&mut g, &format!("x{i}"), *d, dims))
        .collect();
    let y = add(&mut g, op, &vs);
    g.outputs.push(("y".into(), y));
    g
}

const FLOATS: [DType; 2] = [DType::F32, DType::F64];
const INTS: [DType; 2] = [DType::I32, DType::I64];
const NUMERIC: [DType; 4] = [DType::F32, DType::F64, DType::I32, DType::I64];

/// One program per op and dtype family.
pub fn op_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for op in UnaryOp::ALL {
        let dtypes: &[DType] = if op == UnaryOp::Not {
            &[DType::Bool]
        } else if op.float_only() {
            &FLOATS
        } else {
            &NUMERIC
        };
        for &d in dtypes {
            let name = format!("{}_{d}", op.name());
            cases.push(case(
                &name,
                single(&name, Op::Unary(op), &[(d, &[3, 37])]),
                1e-5,
                true,
            ));
        }
    }
    for op in BinaryOp::ALL {
        let mut dtypes = NUMERIC.to_vec();
        if matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
            dtypes.push(DType::Bool);
        }
        for d in dtypes {
            let name = format!("{}_{d}", op.name());
            // Broadcast a row against a matrix.
            cases.push(case(
                &name,
                single(&name, Op::Binary(op), &[(d, &[5, 12]), (d, &[12])]),
                1e-5,
                true,
            ));
        }
    }
    let select = single(
        "select",
        Op::Select,
        &[
            (DType::Bool, &[4, 1]),
            (DType::F32, &[4, 6]),
            (DType::F32, &[6]),
        ],
    );
    cases.push(case("select", select, 1e-5, true));
    for from in DType::ALL {
        for to in DType::ALL {
            if from != to {
                let name = format!("cast_{from}_{to}");
                cases.push(case(
                    &name,
                    single(&name, Op::Cast { to }, &[(from, &[40])]),
                    1e-5,
                    true,
                ));
            }
        }
    }
    cases.push(case(
        "one_hot",
        single("one_hot", Op::OneHot { depth: 5 }, &[(DType::I32, &[7])]),
        1e-5,
        false,
    ));
    cases.push(case(
        "transpose",
        single(
            "transpose",
            Op::Transpose {
                perm: vec![2, 0, 1],
            },
            &[(DType::F32, &[2, 3, 4])],
        ),
        1e-5,
        false,
    ));
    cases.push(case(
        "reshape",
        single(
            "reshape",
            Op::Reshape {
                shape: Shape::known(&[6, 4]),
            },
            &[(DType::F32, &[2, 3, 4])],
        ),
        1e-5,
        false,
    ));
    cases.push(case(
        "broadcast_to",
        single(
            "broadcast_to",
            Op::BroadcastTo {
                shape: Shape::known(&[3, 4, 5]),
            },
            &[(DType::I64, &[4, 1])],
        ),
        1e-5,
        false,
    ));
    cases.push(case(
        "concat",
        single(
            "concat",
            Op::Concat { axis: 1 },
            &[(DType::F32, &[3, 2]), (DType::F32, &[3, 5])],
        ),
        1e-5,
        false,
    ));
    for op in ReduceOp::ALL {
        for &d in if op == ReduceOp::Mean {
            &FLOATS[..]
        } else {
            &NUMERIC[..]
        } {
            for (axes, keepdims) in [(vec![1], false), (vec![0], true), (vec![0, 1], false)] {
                let name = format!("reduce_{}_{d}_{axes:?}", op.name());
                let g = single(&name, Op::Reduce { op, axes, keepdims }, &[(d, &[6, 45])]);
                // Products of many values under- or overflow; keep them short.
                let g = if op == ReduceOp::Prod {
                    single(&name, g.node(g.outputs[0].1).op.clone(), &[(d, &[3, 4])])
                } else {
                    g
                };
                cases.push(case(&name, g, 1e-4, false));
            }
        }
    }
    for (op, name) in [
        (Op::ArgMax { axis: 1 }, "argmax"),
        (Op::ArgMin { axis: 0 }, "argmin"),
    ] {
        cases.push(case(
            name,
            single(name, op, &[(DType::F32, &[7, 40])]),
            1e-5,
            true,
        ));
    }
    cases
}

/// Programs whose shapes exercise each mapping and the GEMM kernel.
pub fn shape_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (m, k, n) in [(70, 33, 65), (5, 3, 1), (64, 64, 64)] {
        let name = format!("matmul_{m}x{k}x{n}");
        cases.push(case(
            &name,
            single(
                &name,
                Op::MatMul,
                &[(DType::F32, &[m, k]), (DType::F32, &[k, n])],
            ),
            1e-4,
            false,
        ));
    }
    cases.push(case(
        "matmul_f64",
        single(
            "matmul_f64",
            Op::MatMul,
            &[(DType::F64, &[9, 7]), (DType::F64, &[7, 3])],
        ),
        1e-4,
        false,
    ));
    cases.push(case(
        "matmul_i32",
        single(
            "matmul_i32",
            Op::MatMul,
            &[(DType::I32, &[4, 6]), (DType::I32, &[6, 5])],
        ),
        1e-4,
        false,
    ));
    cases.push(case(
        "matmul_batched",
        single(
            "matmul_batched",
            Op::MatMul,
            &[(DType::F32, &[2, 3, 4]), (DType::F32, &[4, 5])],
        ),
        1e-4,
        false,
    ));
    cases.push(case(
        "matmul_broadcast",
        single(
            "matmul_broadcast",
            Op::MatMul,
            &[(DType::F32, &[2, 1, 3, 4]), (DType::F32, &[3, 4, 2])],
        ),
        1e-4,
        false,
    ));
    cases.push(case(
        "matvec",
        single(
            "matvec",
            Op::MatMul,
            &[(DType::F32, &[6, 4]), (DType::F32, &[4])],
        ),
        1e-4,
        false,
    ));
    // x @ transpose(w): the GEMM reads w through its transpose flag.
    let mut g = Graph::new("matmul_transposed");
    let x = input(&mut g, "x", DType::F32, &[20, 9]);
    let w = input(&mut g, "w", DType::F32, &[11, 9]);
    let wt = add(&mut g, Op::Transpose { perm: vec![1, 0] }, &[w]);
    let y = add(&mut g, Op::MatMul, &[x, wt]);
    g.outputs.push(("y".into(), y));
    cases.push(case("matmul_transposed", g, 1e-4, false));
    cases.push(case("softmax_rows", softmax(&[300, 100], 1), 1e-4, false));
    cases.push(case(
        "softmax_long_rows",
        softmax(&[3, 5000], 1),
        1e-4,
        false,
    ));
    cases.push(case(
        "softmax_short_rows",
        softmax(&[50, 10], 1),
        1e-4,
        false,
    ));
    cases.push(case("softmax_one", softmax(&[1, 1], 1), 1e-4, false));
    cases.push(case(
        "softmax_middle_axis",
        softmax(&[6, 37, 5], 1),
        1e-4,
        false,
    ));
    cases.push(case("softmax_columns", softmax(&[33, 7], 0), 1e-4, false));
    let sum_all = single(
        "sum_all",
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0],
            keepdims: false,
        },
        &[(DType::F32, &[70_000])],
    );
    cases.push(case("sum_all", sum_all, 1e-4, false));
    let column_max = single(
        "column_max",
        Op::Reduce {
            op: ReduceOp::Max,
            axes: vec![0],
            keepdims: false,
        },
        &[(DType::F32, &[500, 7])],
    );
    cases.push(case("column_max", column_max, 1e-4, false));
    cases.push(case("elementwise", elementwise(&[8, 1000]), 1e-5, true));
    cases.push(case("elementwise_odd", elementwise(&[7, 3]), 1e-5, true));
    cases.push(case("mlp_forward", mlp(32, 12, 16, 5, false), 1e-4, false));
    for (name, opt) in [
        ("mlp_sgd", tfg_ir::Optimizer::Sgd { lr: 0.1 }),
        (
            "mlp_adam",
            tfg_ir::Optimizer::Adam {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
        ),
    ] {
        cases.push(case(
            name,
            train_step(&mlp(32, 12, 16, 5, true), opt),
            1e-4,
            false,
        ));
    }
    cases
}

/// `softmax(x, axis)`, as the frontend expands it.
fn softmax(dims: &[u64], axis: usize) -> Graph {
    let mut g = Graph::new("softmax");
    let x = input(&mut g, "x", DType::F32, dims);
    let y = tfg_testkit::build::softmax(&mut g, x, axis);
    g.outputs.push(("y".into(), y));
    g
}

/// A two-layer perceptron with a softmax cross-entropy loss.
pub fn mlp(batch: u64, features: u64, hidden: u64, classes: u64, loss_only: bool) -> Graph {
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
    let bin = |g: &mut Graph, op, a, b| add(g, Op::Binary(op), &[a, b]);
    let xw = add(&mut g, Op::MatMul, &[x, w1]);
    let z = bin(&mut g, BinaryOp::Add, xw, b1);
    let h = add(&mut g, Op::Unary(UnaryOp::Relu), &[z]);
    let hw = add(&mut g, Op::MatMul, &[h, w2]);
    let logits = bin(&mut g, BinaryOp::Add, hw, b2);
    let m = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Max,
            axes: vec![1],
            keepdims: true,
        },
        &[logits],
    );
    let d = bin(&mut g, BinaryOp::Sub, logits, m);
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
    let logp = bin(&mut g, BinaryOp::Sub, d, ls);
    let onehot = add(&mut g, Op::OneHot { depth: classes }, &[labels]);
    let picked = bin(&mut g, BinaryOp::Mul, onehot, logp);
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
    g.outputs.push(("loss".into(), loss));
    if !loss_only {
        let pred = add(&mut g, Op::ArgMax { axis: 1 }, &[logits]);
        g.outputs.push(("pred".into(), pred));
    }
    g
}

fn train_step(g: &Graph, optimizer: tfg_ir::Optimizer) -> Graph {
    let spec = tfg_ir::TrainSpec {
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
    tfg_passes::train_step::build_train_step(g, &spec)
        .expect("train step")
        .graph
}

/// The examples' forward and training-step graphs, with their symbolic
/// dims bound.
pub fn example_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut cases = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tfg"))
    {
        let src = std::fs::read_to_string(&path).expect("example source");
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("example")
            .to_string();
        cases.extend(source_cases(&stem, &src));
    }
    cases
}

/// The forward graph of every graph in the `.tfg` source `src`, and the
/// training step of each that has a `train` item, with symbolic dims bound
/// to 24.
fn source_cases(stem: &str, src: &str) -> Vec<Case> {
    let file =
        tfg_frontend::compile(src).unwrap_or_else(|e| panic!("{stem} does not compile: {e:?}"));
    let mut cases = Vec::new();
    for g in &file.graphs {
        let dims: BTreeMap<String, u64> = symbols(g).into_iter().map(|s| (s, 24)).collect();
        let forward = tfg_ir::specialize(g, &dims).expect("specialise");
        cases.push(case(format!("{stem}_{}", g.name), forward, 1e-4, false));
        if let Some(spec) = file.train(&g.name) {
            let step = tfg_passes::train_step::build_train_step(g, spec)
                .expect("train step")
                .graph;
            let step = tfg_ir::specialize(&step, &dims).expect("specialise");
            // A gradient sums over the batch: where the sum cancels, its
            // error is bounded by the terms' size, for which the tensor's
            // largest element stands in. Adam then squares the gradients
            // (its slot `v`), and a square doubles a relative error.
            let tol = Tol {
                rel: 2e-4,
                of_largest: 2e-4,
                abs: 0.0,
            };
            cases.push(case(format!("{stem}_{}_train", g.name), step, tol, false));
        }
    }
    cases
}

/// The builtins for real models (docs/language.md, "Builtins"), each in a
/// graph of its own: `(name, declarations, value)`. Where the value is a
/// float function of the param, a training step (sgd, or the optimizer the
/// name asks for) runs its gradient too.
const BREADTH: &[(&str, &str, &str)] = &[
    ("log1p", MATRIX, "log1p(abs(z))"),
    ("expm1", MATRIX, "expm1(z)"),
    ("erf", MATRIX, "erf(z)"),
    ("softplus", MATRIX, "softplus(z * 30.0)"),
    ("silu", MATRIX, "silu(z)"),
    ("elu", MATRIX, "elu(z)"),
    ("leaky_relu", MATRIX, "leaky_relu(z, alpha = 0.1)"),
    ("gelu", MATRIX, "gelu(z)"),
    ("gelu_tanh", MATRIX, "gelu(z, approximate = true)"),
    ("clip", MATRIX, "clip(z, -0.5, 0.7)"),
    ("mod", MATRIX, "z % -0.7"),
    ("mod_i32", MATRIX, "cast(cast(a * 9.0, i32) % 4, f32) * z"),
    (
        "logical",
        MATRIX,
        "where(logical_or(logical_and(z > 0.0, a < 1.0), a < -1.0), z, -z)",
    ),
    ("logsumexp", MATRIX, "logsumexp(z * 10.0, axis = 1)"),
    ("var", MATRIX, "var(z, 0)"),
    ("std", MATRIX, "std(z, axis = 1, keepdims = true)"),
    ("cumsum_rows", MATRIX, "cumsum(z, axis = 1)"),
    ("cumsum_flat", MATRIX, "cumsum(z)"),
    ("stack", MATRIX, "stack([z, a * a], axis = 1)"),
    ("pad", MATRIX, "pad(z, [[1, 2], [0, 1]], value = 0.5)"),
    ("tile", MATRIX, "tile(z, [2, 3])"),
    ("take", MATRIX, "take(z, i, axis = 1)"),
    ("slice", MATRIX, "z[1:3, ::-2]"),
    ("index", MATRIX, "z[..., 0:1] * z[2]"),
    ("stop_gradient", MATRIX, "stop_gradient(z) * z"),
    (
        "conv2d_same_stride",
        IMAGE,
        "conv2d(y, k, stride = 2, padding = \"same\")",
    ),
    (
        "conv2d_dilated",
        IMAGE,
        "conv2d(y, k, dilation = 2, padding = [[1, 0], [2, 1]])",
    ),
    ("conv2d_grouped", IMAGE, "conv2d(y, g, groups = 2)"),
    ("conv2d_depthwise", IMAGE, "conv2d(y, d, groups = 4)"),
    ("max_pool", IMAGE, "max_pool(y, 2)"),
    (
        "max_pool_same",
        IMAGE,
        "max_pool(y, 3, stride = 2, padding = \"same\")",
    ),
    (
        "avg_pool_same",
        IMAGE,
        "avg_pool(y, [3, 2], stride = [2, 1], padding = \"same\")",
    ),
    ("rmsprop", MATRIX, "z * a"),
    ("adagrad", MATRIX, "z * a"),
    ("decay_clip", MATRIX, "z * a"),
];

/// A matrix `z = a · w` (with `w` the param) and indices `i` into its rows.
const MATRIX: &str = "
    input a: f32[4, 6]
    input i: i32[3] = [5, 0, 2]
    param w: f32[4, 6] = normal(std = 1.0)
    z = a * w";

/// An NHWC image batch `y = x · v` (with `v` a param), and filters: `k`
/// dense, `g` for 2 groups, `d` depthwise.
const IMAGE: &str = "
    input x: f32[2, 7, 6, 4]
    param v: f32[2, 7, 6, 4] = normal(std = 1.0)
    param k: f32[3, 3, 4, 5] = normal(std = 0.5)
    param g: f32[3, 2, 2, 6] = normal(std = 0.5)
    param d: f32[2, 3, 1, 4] = normal(std = 0.5)
    y = x * v";

/// [`BREADTH`]'s graphs.
pub fn breadth_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for &(name, decls, value) in BREADTH {
        let optimizer = match name {
            "rmsprop" => "rmsprop(lr = 0.01, momentum = 0.5)",
            "adagrad" => "adagrad(lr = 0.1)",
            "decay_clip" => "sgd(lr = exponential_decay(0.1, 2, 0.5))\n    clip_norm 0.5",
            _ => "sgd(lr = 0.1)",
        };
        // Some builtins leave a param unused (the filters of other cases).
        let unused = if decls == IMAGE {
            ["k", "g", "d"]
                .iter()
                .filter(|f| !value.contains(&format!(", {f}")))
                .map(|f| format!(" + 0.0 * sum({f})"))
                .collect::<String>()
        } else {
            String::new()
        };
        let src = format!(
            "graph {name} {{{decls}\n    out = {value}\n    \
             loss = sum(out * out){unused}\n    output out, loss\n}}\n\
             train {name} {{\n    minimize loss\n    optimizer {optimizer}\n    steps 1\n}}\n"
        );
        cases.extend(source_cases(&format!("breadth_{name}"), &src));
    }
    cases
}

fn symbols(g: &Graph) -> Vec<String> {
    let mut s: Vec<String> = g
        .nodes
        .iter()
        .flat_map(|n| n.ty.shape.0.iter())
        .filter_map(|d| match d {
            tfg_ir::Dim::Sym(s) => Some(s.clone()),
            tfg_ir::Dim::Known(_) => None,
        })
        .collect();
    s.sort();
    s.dedup();
    s
}

pub fn all_cases() -> Vec<Case> {
    let mut v = op_cases();
    v.extend(shape_cases());
    v.extend(example_cases());
    v.extend(breadth_cases());
    v
}

/// Random inputs for the case's graph, with special values where the case
/// asks, and its params' initial values.
pub fn feeds(c: &Case, seed: u64) -> (Vec<Tensor>, Vec<Tensor>) {
    tfg_testkit::feeds::feeds(&c.graph, seed, c.special)
}

#[allow(unused_imports)] // Each test binary uses a different part, as above.
pub use tfg_testkit::{is_no_gpu, note, ptxas, skip};
