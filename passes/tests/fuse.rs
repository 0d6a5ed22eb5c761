//! Fusion decisions: what joins what, what is stored, and that every
//! partition is a valid schedule.

use proptest::prelude::*;
use std::collections::HashSet;
use tfg_ir::fused::{Fusion, GroupKind};
use tfg_ir::{
    BinaryOp, DType, Dim, Graph, Init, Op, Optimizer, ReduceOp, Shape, TrainSpec, Type, UnaryOp,
    ValueId,
};
use tfg_passes::fuse::fuse;
use tfg_testkit::build::{add, bin, input, reduce, scalar, ty, un};

/// Each group's kind and op names, one line a group, and the counts.
fn outline(g: &Graph, f: &Fusion) -> String {
    let mut s = String::new();
    for grp in &f.groups {
        let ops: Vec<String> = grp.members.iter().map(|&m| g.node(m).op.name()).collect();
        s.push_str(&format!(
            "{} {}: {}\n",
            grp.name,
            grp.kind.name(),
            ops.join(" ")
        ));
    }
    let sum = f.summary();
    s.push_str(&format!("{} kernels for {} ops\n", sum.kernels, sum.ops));
    s
}

/// Every live compute node is in exactly one group; groups run after the
/// groups whose values they read; stored values are exactly those read
/// outside their group or returned.
fn assert_valid(g: &Graph, f: &Fusion) {
    let live = g.live();
    let leaf = |v: ValueId| {
        matches!(
            g.node(v).op,
            Op::Input { .. } | Op::Param { .. } | Op::Const(_)
        )
    };
    let mut seen = HashSet::new();
    for (i, grp) in f.groups.iter().enumerate() {
        for &m in &grp.members {
            assert!(seen.insert(m), "{m} is in two groups");
            assert_eq!(f.group_of[m.index()], Some(i));
            for a in &g.node(m).args {
                if let Some(h) = f.group_of[a.index()] {
                    assert!(
                        h <= i,
                        "{} reads {a} from {}, which runs later",
                        grp.name,
                        f.groups[h].name
                    );
                }
            }
        }
        for &m in &grp.members {
            let read_outside = g.ids().any(|c| {
                live[c.index()] && f.group_of[c.index()] != Some(i) && g.node(c).args.contains(&m)
            });
            let result = g.outputs.iter().any(|o| o.1 == m) || g.updates.iter().any(|u| u.1 == m);
            let must_store = (read_outside || result) && grp.kind != GroupKind::View;
            assert_eq!(grp.stored.contains(&m), must_store, "{m} in {}", grp.name);
        }
    }
    for v in g.ids() {
        let compute = live[v.index()] && !leaf(v);
        assert_eq!(seen.contains(&v), compute, "{v}");
    }
}

#[test]
fn an_elementwise_chain_is_one_kernel() {
    let mut g = Graph::new("chain");
    let x = input(&mut g, "x", DType::F32, &[4, 5]);
    let b = input(&mut g, "b", DType::F32, &[5]);
    let xb = bin(&mut g, BinaryOp::Add, x, b);
    let t = un(&mut g, UnaryOp::Tanh, xb);
    let tt = add(&mut g, Op::Transpose { perm: vec![1, 0] }, &[t]);
    let r = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[20]),
        },
        &[tt],
    );
    let c = add(&mut g, Op::Cast { to: DType::I32 }, &[r]);
    g.outputs.push(("c".into(), c));
    let f = fuse(&g);
    assert_valid(&g, &f);
    assert_eq!(
        outline(&g, &f),
        "k0 elementwise: add tanh transpose reshape cast\n1 kernels for 5 ops\n"
    );
}

#[test]
fn a_value_read_by_two_kernels_is_stored_by_one_of_them() {
    let mut g = Graph::new("shared");
    let x = input(&mut g, "x", DType::F32, &[4, 5]);
    let e = un(&mut g, UnaryOp::Exp, x);
    let rows = reduce(&mut g, ReduceOp::Sum, &[1], false, e);
    let cols = reduce(&mut g, ReduceOp::Sum, &[0], false, e);
    g.outputs = vec![("rows".into(), rows), ("cols".into(), cols)];
    let f = fuse(&g);
    assert_valid(&g, &f);
    assert_eq!(
        outline(&g, &f),
        "k0 reduction: exp reduce_sum\nk1 reduction: reduce_sum\n2 kernels for 3 ops\n"
    );
    assert!(f.groups[0].stored.contains(&e));
    let text = f.print(&g);
    assert!(text.contains("%1 is read by k1"), "{text}");
}

#[test]
fn reductions_over_other_axes_do_not_share_a_kernel() {
    let mut g = Graph::new("axes");
    let x = input(&mut g, "x", DType::F32, &[4, 5]);
    let r = reduce(&mut g, ReduceOp::Sum, &[1], true, x);
    let z = bin(&mut g, BinaryOp::Div, x, r);
    let cols = reduce(&mut g, ReduceOp::Sum, &[0], false, z);
    g.outputs = vec![("cols".into(), cols)];
    let f = fuse(&g);
    assert_valid(&g, &f);
    assert_eq!(
        outline(&g, &f),
        "k0 reduction: reduce_sum\nk1 reduction: div reduce_sum\n2 kernels for 3 ops\n"
    );
    let text = f.print(&g);
    assert!(
        text.contains("%1 not fused into k1: it reduces axes [1] of f32[4, 5], the kernel reduces axes [0] of f32[4, 5]"),
        "{text}"
    );
}

#[test]
fn softmax_and_its_loss_share_one_row_kernel() {
    let mut g = Graph::new("softmax");
    let x = input(&mut g, "x", DType::F32, &[8, 10]);
    let m = reduce(&mut g, ReduceOp::Max, &[1], true, x);
    let d = bin(&mut g, BinaryOp::Sub, x, m);
    let e = un(&mut g, UnaryOp::Exp, d);
    let s = reduce(&mut g, ReduceOp::Sum, &[1], true, e);
    let y = bin(&mut g, BinaryOp::Div, e, s);
    let ls = un(&mut g, UnaryOp::Log, s);
    let logp = bin(&mut g, BinaryOp::Sub, d, ls);
    let nll = reduce(&mut g, ReduceOp::Sum, &[1], false, logp);
    g.outputs = vec![("y".into(), y), ("nll".into(), nll)];
    let f = fuse(&g);
    assert_valid(&g, &f);
    assert_eq!(
        outline(&g, &f),
        "k0 reduction: reduce_max sub exp reduce_sum div log sub reduce_sum\n1 kernels for 8 ops\n"
    );
}

#[test]
fn a_gemm_takes_its_epilogue_and_transposed_operands() {
    let mut g = Graph::new("dense");
    let x = input(&mut g, "x", DType::F32, &[4, 3]);
    let w = input(&mut g, "w", DType::F32, &[5, 3]);
    let b = input(&mut g, "b", DType::F32, &[5]);
    let wt = add(&mut g, Op::Transpose { perm: vec![1, 0] }, &[w]);
    let xw = add(&mut g, Op::MatMul, &[x, wt]);
    let z = bin(&mut g, BinaryOp::Add, xw, b);
    let h = un(&mut g, UnaryOp::Relu, z);
    let h2 = add(&mut g, Op::MatMul, &[h, w]);
    g.outputs = vec![("y".into(), h2)];
    let f = fuse(&g);
    assert_valid(&g, &f);
    assert_eq!(
        outline(&g, &f),
        "k0 gemm: transpose matmul add relu\nk1 gemm: matmul\n2 kernels for 5 ops\n"
    );
    assert_eq!(f.groups[0].transposed, [wt]);
    assert!(f
        .print(&g)
        .contains("a gemm reads its operands from memory"));
}

#[test]
fn reshapes_of_values_in_memory_are_views() {
    let mut g = Graph::new("view");
    let x = input(&mut g, "x", DType::F32, &[2, 6]);
    let w = input(&mut g, "w", DType::F32, &[4, 3]);
    let r = add(
        &mut g,
        Op::Reshape {
            shape: Shape::known(&[4, 3]),
        },
        &[x],
    );
    let wt = add(&mut g, Op::Transpose { perm: vec![1, 0] }, &[w]);
    let y = add(&mut g, Op::MatMul, &[r, wt]);
    g.outputs = vec![("y".into(), y)];
    let f = fuse(&g);
    assert_valid(&g, &f);
    assert_eq!(
        outline(&g, &f),
        "v0 view: reshape\nk0 gemm: transpose matmul\n1 kernels for 3 ops\n"
    );
}

#[test]
fn symbolic_shapes_are_left_unfused() {
    let mut g = Graph::new("sym");
    let x = g.add_input(
        "x",
        Type::new(DType::F32, Shape(vec![Dim::Sym("B".into()), Dim::Known(3)])),
        None,
    );
    let e = un(&mut g, UnaryOp::Exp, x);
    let n = un(&mut g, UnaryOp::Neg, e);
    g.outputs.push(("n".into(), n));
    let f = fuse(&g);
    assert_valid(&g, &f);
    assert_eq!(f.summary().kernels, 2);
}

#[test]
fn dead_values_are_in_no_kernel() {
    let mut g = Graph::new("dead");
    let x = input(&mut g, "x", DType::F32, &[3]);
    let dead = un(&mut g, UnaryOp::Exp, x);
    let y = un(&mut g, UnaryOp::Neg, x);
    g.outputs.push(("y".into(), y));
    let f = fuse(&g);
    assert_valid(&g, &f);
    assert_eq!(f.group_of[dead.index()], None);
}

/// The two-layer classifier of `lower.rs`, with its training step.
fn mlp_training_step() -> Graph {
    let (batch, features, hidden, classes) = (32, 64, 32, 10);
    let mut g = Graph::new("mlp");
    let x = input(&mut g, "x", DType::F32, &[batch, features]);
    let labels = g.add_input("labels", ty(DType::I32, &[batch]), None);
    let w1 = g.add_param("w1", ty(DType::F32, &[features, hidden]), Init::Glorot);
    let b1 = g.add_param("b1", ty(DType::F32, &[hidden]), Init::Zeros);
    let w2 = g.add_param("w2", ty(DType::F32, &[hidden, classes]), Init::Glorot);
    let b2 = g.add_param("b2", ty(DType::F32, &[classes]), Init::Zeros);
    let xw = add(&mut g, Op::MatMul, &[x, w1]);
    let z = bin(&mut g, BinaryOp::Add, xw, b1);
    let h = un(&mut g, UnaryOp::Relu, z);
    let hw = add(&mut g, Op::MatMul, &[h, w2]);
    let logits = bin(&mut g, BinaryOp::Add, hw, b2);
    let m = reduce(&mut g, ReduceOp::Max, &[1], true, logits);
    let d = bin(&mut g, BinaryOp::Sub, logits, m);
    let e = un(&mut g, UnaryOp::Exp, d);
    let s = reduce(&mut g, ReduceOp::Sum, &[1], true, e);
    let ls = un(&mut g, UnaryOp::Log, s);
    let logp = bin(&mut g, BinaryOp::Sub, d, ls);
    let onehot = add(&mut g, Op::OneHot { depth: classes }, &[labels]);
    let picked = bin(&mut g, BinaryOp::Mul, onehot, logp);
    let per_row = reduce(&mut g, ReduceOp::Sum, &[1], false, picked);
    let mean = reduce(&mut g, ReduceOp::Mean, &[0], false, per_row);
    let loss = un(&mut g, UnaryOp::Neg, mean);
    g.node_mut(loss).name = Some("loss".into());
    g.outputs = vec![("loss".into(), loss)];
    let spec = TrainSpec {
        graph: "mlp".into(),
        decay: None,
        clip_norm: None,
        minimize: "loss".into(),
        optimizer: Optimizer::Sgd { lr: 0.1 },
        steps: 1,
        batch: None,
        log: Vec::new(),
        loc: None,
    };
    let mut step = tfg_passes::train_step::build_train_step(&g, &spec)
        .expect("train step")
        .graph;
    tfg_passes::dce::dce(&mut step);
    step
}

#[test]
fn the_mlp_training_step_has_far_fewer_kernels_than_ops() {
    let step = mlp_training_step();
    let f = fuse(&step);
    assert_valid(&step, &f);
    let s = f.summary();
    assert!(
        s.kernels * 4 <= s.ops,
        "{} kernels for {} ops",
        s.kernels,
        s.ops
    );
    let gemms = s
        .by_kind
        .iter()
        .find(|(k, _)| *k == GroupKind::Gemm)
        .map_or(0, |&(_, n)| n);
    assert_eq!(gemms, 5, "2 forward and 3 backward matrix products");
    insta::assert_snapshot!(outline(&step, &f));
}

#[test]
fn the_printed_fusion_marks_kernels_stored_values_and_notes() {
    let mut g = Graph::new("printed");
    let x = input(&mut g, "x", DType::F32, &[2, 3]);
    let two = scalar(&mut g, 2.0);
    let y = bin(&mut g, BinaryOp::Mul, x, two);
    let s = reduce(&mut g, ReduceOp::Sum, &[0], false, y);
    let t = reduce(&mut g, ReduceOp::Sum, &[1], false, y);
    g.outputs = vec![("s".into(), s), ("t".into(), t), ("y".into(), y)];
    insta::assert_snapshot!(fuse(&g).print(&g));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_fuse_into_valid_schedules(g in tfg_ir::arbitrary::arb_graph_with(tfg_ir::arbitrary::GraphConfig {
        steps: 1..=30,
        updates: true,
        ..Default::default()
    })) {
        let f = fuse(&g);
        assert_valid(&g, &f);
        prop_assert!(f.summary().kernels <= f.summary().ops);
        // The printed partition reads back as the same partition.
        let text = f.print(&g);
        let (g2, f2, _) = tfg_ir::fused::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        assert_valid(&g2, &f2);
        prop_assert_eq!(outline(&g2, &f2), outline(&g, &f));
        prop_assert_eq!(f2.print(&g2), tfg_ir::fused::parse(&f2.print(&g2)).map(|(g3, f3, _)| f3.print(&g3)).map_err(|e| TestCaseError::fail(e.to_string()))?);
    }
}
