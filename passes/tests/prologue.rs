//! The params-only prologue: which values it takes, and that the prologue
//! and then the main graph compute what the graph computes.

use tfg_ir::init::materialize;
use tfg_ir::{verify::verify, BinaryOp, DType, Graph, Init, Op, Shape, Tensor, ValueId};
use tfg_passes::prologue::{split, ParamSource};
use tfg_testkit::build::{add, ty};

fn values(g: &Graph, seed: u64, leaves: impl Iterator<Item = ValueId>) -> Vec<Tensor> {
    leaves
        .map(|v| {
            let name = g.node(v).name.clone().unwrap_or_default();
            let init = Init::Uniform { lo: -2.0, hi: 2.0 };
            materialize(&init, g.ty(v), seed, &name).expect("a concrete shape")
        })
        .collect()
}

/// `y = x @ reshape(transpose(w)) * (s + 1) + reshape(b)`, and `w` itself
/// returned: a transposed weight, a scale computed from a param, a view of a
/// param, and a param the rest reads directly.
fn model() -> Graph {
    let mut g = Graph::new("m");
    let x = g.add_input("x", ty(DType::F32, &[2, 6]), None);
    let w = g.add_param("w", ty(DType::F32, &[3, 2, 3]), Init::Zeros);
    let s = g.add_param("s", ty(DType::F32, &[]), Init::Zeros);
    let b = g.add_param("b", ty(DType::F32, &[1, 3]), Init::Zeros);
    let wt = add(
        &mut g,
        Op::Transpose {
            perm: vec![1, 2, 0],
        },
        &[w],
    );
    let wm = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[6, 3]),
        },
        &[wt],
    );
    let xw = add(&mut g, Op::MatMul, &[x, wm]);
    let one = add(&mut g, Op::Const(Tensor::scalar_f32(1.0)), &[]);
    let scale = add(&mut g, Op::Binary(BinaryOp::Add), &[s, one]);
    let scaled = add(&mut g, Op::Binary(BinaryOp::Mul), &[xw, scale]);
    let bv = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[3]),
        },
        &[b],
    );
    let y = add(&mut g, Op::Binary(BinaryOp::Add), &[scaled, bv]);
    g.outputs.push(("y".into(), y));
    g.outputs.push(("w".into(), w));
    g
}

#[test]
fn the_prologue_takes_what_params_alone_determine_and_the_split_computes_the_same() {
    let g = model();
    let s = split(&g).expect("the model has params-only work");
    verify(&s.prologue).expect("the prologue verifies");
    verify(&s.main).expect("the main graph verifies");
    // The transposed weight and the scale are derived; `b`'s reshape is a
    // view, so the main graph reads `b` itself; `w`, returned, is read as is.
    assert_eq!(
        s.prologue.outputs.len(),
        2,
        "{}",
        tfg_ir::text::print(&s.prologue)
    );
    assert_eq!(
        s.sources,
        [
            ParamSource::Param(0),
            ParamSource::Param(1),
            ParamSource::Param(2),
            ParamSource::Derived(0),
            ParamSource::Derived(1),
        ],
        "{}",
        tfg_ir::text::print(&s.main)
    );
    assert!(
        !s.main
            .nodes
            .iter()
            .any(|n| matches!(n.op, Op::Transpose { .. })),
        "{}",
        tfg_ir::text::print(&s.main)
    );
    for seed in 0..3 {
        let inputs = values(&g, seed, g.inputs());
        let params = values(&g, seed + 100, g.params());
        let want = tfg_interp::run(&g, &inputs, &params).expect("the graph runs");
        let derived = tfg_interp::run(&s.prologue, &[], &params)
            .expect("the prologue runs")
            .outputs;
        let main_params: Vec<Tensor> = s
            .sources
            .iter()
            .map(|&source| match source {
                ParamSource::Param(i) => params[i].clone(),
                ParamSource::Derived(j) => derived[j].clone(),
            })
            .collect();
        let got = tfg_interp::run(&s.main, &inputs, &main_params).expect("the main graph runs");
        // The same ops on the same values: the same bits.
        assert_eq!(want.outputs, got.outputs, "seed {seed}");
    }
}

#[test]
fn no_prologue_for_a_training_step_or_where_params_are_only_viewed() {
    let mut g = model();
    let w = g.params().next().expect("a param");
    g.updates.push((w, w));
    assert!(split(&g).is_none(), "a graph that updates its params");

    let mut g = Graph::new("views");
    let x = g.add_input("x", ty(DType::F32, &[2, 3]), None);
    let b = g.add_param("b", ty(DType::F32, &[1, 3]), Init::Zeros);
    let bv = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[3]),
        },
        &[b],
    );
    let y = add(&mut g, Op::Binary(BinaryOp::Add), &[x, bv]);
    g.outputs.push(("y".into(), y));
    assert!(split(&g).is_none(), "only a view of a param");
}
