//! The printer's output for a small hand-built graph, as a reviewed snapshot.

use tfg_ir::text::{parse, print};
use tfg_ir::*;

/// The hello graph (`examples/hello.tfg`), with a batched branch over a
/// symbolic dim.
fn hello() -> Graph {
    let mut g = Graph::new("hello");
    let x = g.add_input("x", Type::scalar(DType::F32), Some(Tensor::scalar_f32(1.0)));
    let w = g.add_param(
        "w",
        Type::scalar(DType::F32),
        Init::Literal(Tensor::scalar_f32(0.8)),
    );
    let y = g.add(Op::Binary(BinaryOp::Mul), &[w, x]).expect("scalars");
    let zero = g
        .add(Op::Const(Tensor::scalar_f32(0.0)), &[])
        .expect("const");
    let d = g
        .add(Op::Binary(BinaryOp::Sub), &[y, zero])
        .expect("scalars");
    let two = g
        .add(Op::Const(Tensor::scalar_f32(2.0)), &[])
        .expect("const");
    let loss = g
        .add(Op::Binary(BinaryOp::Pow), &[d, two])
        .expect("scalars");
    for (v, name, line, col) in [
        (x, None, 3, 5),
        (w, None, 4, 5),
        (y, Some("y"), 5, 10),
        (loss, Some("loss"), 6, 10),
    ] {
        g.node_mut(v).loc = Some(Loc { line, col });
        if let Some(n) = name {
            g.node_mut(v).name = Some(n.into());
        }
    }
    let batch = Type::new(DType::F32, Shape(vec![Dim::Sym("B".into()), Dim::Known(3)]));
    let xs = g.add_input("xs", batch, None);
    let t = g
        .add(Op::Transpose { perm: vec![1, 0] }, &[xs])
        .expect("rank 2");
    let m = g
        .add(
            Op::Reduce {
                op: ReduceOp::Mean,
                axes: vec![1],
                keepdims: false,
            },
            &[t],
        )
        .expect("float");
    let u = g.add_param(
        "u",
        Type::new(DType::F32, Shape::known(&[3])),
        Init::Uniform { lo: -0.5, hi: 0.5 },
    );
    let s = g
        .add(Op::Binary(BinaryOp::Add), &[m, u])
        .expect("same shape");
    g.outputs = vec![("y".into(), y), ("loss".into(), loss), ("s".into(), s)];
    g.updates = vec![(u, s)];
    g
}

#[test]
fn hello_graph() {
    let g = hello();
    assert_eq!(verify(&g), Ok(()));
    let text = print(&g);
    insta::assert_snapshot!(text);
    assert_eq!(parse(&text), Ok(g));
}
