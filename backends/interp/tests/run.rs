//! `run`'s contract: feeds are checked, only what the outputs and updates need
//! is evaluated, updates come back without being applied, and bad graphs are
//! errors rather than panics.

use tfg_interp::{run, RunError};
use tfg_ir::{BinaryOp, DType, Data, Dim, Graph, Init, Node, Op, Shape, Tensor, Type, UnaryOp};

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::new(shape.to_vec(), Data::F32(v.to_vec())).unwrap()
}

fn f32_ty(dims: &[u64]) -> Type {
    Type::new(DType::F32, Shape::known(dims))
}

/// The hello graph: `y = w * x`, `loss = (y - 0) ** 2`, and one SGD step
/// `w' = w - lr * 2 * y * x` written out by hand as an update.
fn hello() -> Graph {
    let mut g = Graph::new("hello");
    let x = g.add_input("x", f32_ty(&[]), Some(Tensor::scalar_f32(1.0)));
    let w = g.add_param("w", f32_ty(&[]), Init::Literal(Tensor::scalar_f32(0.8)));
    let y = g.add(Op::Binary(BinaryOp::Mul), &[w, x]).unwrap();
    let zero = g.add(Op::Const(Tensor::scalar_f32(0.0)), &[]).unwrap();
    let two = g.add(Op::Const(Tensor::scalar_f32(2.0)), &[]).unwrap();
    let d = g.add(Op::Binary(BinaryOp::Sub), &[y, zero]).unwrap();
    let loss = g.add(Op::Binary(BinaryOp::Pow), &[d, two]).unwrap();
    let lr2 = g.add(Op::Const(Tensor::scalar_f32(0.05)), &[]).unwrap();
    let gy = g.add(Op::Binary(BinaryOp::Mul), &[lr2, y]).unwrap();
    let step = g.add(Op::Binary(BinaryOp::Mul), &[gy, x]).unwrap();
    let w_new = g.add(Op::Binary(BinaryOp::Sub), &[w, step]).unwrap();
    g.outputs = vec![("y".into(), y), ("loss".into(), loss)];
    g.updates = vec![(w, w_new)];
    g
}

#[test]
fn hello_computes_its_outputs_and_update() {
    let g = hello();
    let params = [Tensor::scalar_f32(0.8)];
    let out = run(&g, &[Tensor::scalar_f32(1.0)], &params).unwrap();
    assert_eq!(out.outputs[0], Tensor::scalar_f32(0.8));
    let loss = out.outputs[1].data.get_f64(0);
    assert!((loss - 0.64).abs() < 1e-6, "loss {loss}");
    // Each SGD step with lr 0.025 scales w by 1 - 2·0.025 = 0.95.
    assert_eq!(out.updates, [Tensor::scalar_f32(0.8 - 0.05 * 0.8)]);
    assert_eq!(
        params[0],
        Tensor::scalar_f32(0.8),
        "a run must not apply its updates"
    );
}

#[test]
fn feeds_are_checked_against_the_declared_types() {
    let g = hello();
    let w = [Tensor::scalar_f32(0.8)];
    let err = run(&g, &[], &w).unwrap_err();
    assert!(err.message.contains("expected 1 input (x), got 0"), "{err}");
    let err = run(&g, &[f32s(&[2], &[1.0, 2.0])], &w).unwrap_err();
    assert!(
        err.message
            .contains("input x expects f32 but was fed f32[2]"),
        "{err}"
    );
    let err = run(
        &g,
        &[Tensor::scalar_f32(1.0)],
        &[Tensor::full(DType::F64, vec![], 0.8)],
    )
    .unwrap_err();
    assert!(
        err.message.contains("param w expects f32 but was fed f64"),
        "{err}"
    );
    let malformed = Tensor {
        shape: vec![3],
        data: Data::F32(vec![1.0]),
    };
    assert!(run(&g, &[malformed], &w)
        .unwrap_err()
        .message
        .contains("malformed"));
}

#[test]
fn symbolic_shapes_must_be_specialised_first() {
    let mut g = Graph::new("g");
    let ty = Type::new(DType::F32, Shape(vec![Dim::Sym("B".into())]));
    let x = g.add_input("x", ty, None);
    let y = g.add(Op::Unary(UnaryOp::Exp), &[x]).unwrap();
    g.outputs = vec![("y".into(), y)];
    let err = run(&g, &[f32s(&[2], &[0.0, 1.0])], &[]).unwrap_err();
    assert!(err.message.contains("specialise"), "{err}");
}

#[test]
fn grad_is_an_error_only_when_it_is_needed() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", f32_ty(&[]), None);
    let y = g.add(Op::Unary(UnaryOp::Square), &[x]).unwrap();
    let dy = g.add(Op::Grad, &[y, x]).unwrap();
    g.outputs = vec![("y".into(), y)];
    let out = run(&g, &[Tensor::scalar_f32(3.0)], &[]).unwrap();
    assert_eq!(out.outputs, [Tensor::scalar_f32(9.0)]);
    g.outputs.push(("dy".into(), dy));
    let err = run(&g, &[Tensor::scalar_f32(3.0)], &[]).unwrap_err();
    assert!(
        err.message
            .contains("grad must be expanded by the autodiff pass"),
        "{err}"
    );
}

#[test]
fn one_value_can_be_output_twice_and_feed_several_ops() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", f32_ty(&[2]), None);
    let s = g.add(Op::Binary(BinaryOp::Add), &[x, x]).unwrap();
    let p = g.add(Op::Binary(BinaryOp::Mul), &[s, x]).unwrap();
    g.outputs = vec![("s".into(), s), ("p".into(), p), ("s2".into(), s)];
    let out = run(&g, &[f32s(&[2], &[1.0, -2.0])], &[]).unwrap();
    let (s, p) = (f32s(&[2], &[2.0, -4.0]), f32s(&[2], &[2.0, 8.0]));
    assert_eq!(out.outputs, [s.clone(), p, s]);
}

fn err_of(g: &Graph, inputs: &[Tensor]) -> RunError {
    run(g, inputs, &[]).unwrap_err()
}

#[test]
fn malformed_graphs_are_errors_not_panics() {
    let node = |op, args: Vec<u32>, ty| Node {
        op,
        args: args.into_iter().map(tfg_ir::ValueId).collect(),
        ty,
        name: None,
        loc: None,
    };
    let x = f32s(&[3], &[1.0, 2.0, 3.0]);

    // A node whose declared type is not what its op gives.
    let mut g = Graph::new("g");
    let a = g.add_input("a", f32_ty(&[3]), None);
    let bad = g.push(node(Op::Unary(UnaryOp::Neg), vec![a.0], f32_ty(&[4])));
    g.outputs = vec![("bad".into(), bad)];
    assert!(err_of(&g, std::slice::from_ref(&x))
        .message
        .contains("is declared f32[4]"));

    // An operand that is not an earlier value.
    let mut g = Graph::new("g");
    g.add_input("a", f32_ty(&[3]), None);
    let fwd = g.push(node(Op::Unary(UnaryOp::Neg), vec![2], f32_ty(&[3])));
    g.push(node(Op::Unary(UnaryOp::Neg), vec![0], f32_ty(&[3])));
    g.outputs = vec![("fwd".into(), fwd)];
    assert!(err_of(&g, std::slice::from_ref(&x))
        .message
        .contains("not an earlier value"));

    // An output that does not exist, and a wrong arity.
    let mut g = Graph::new("g");
    let a = g.add_input("a", f32_ty(&[3]), None);
    g.outputs = vec![("ghost".into(), tfg_ir::ValueId(9))];
    assert!(err_of(&g, std::slice::from_ref(&x))
        .message
        .contains("does not exist"));
    let two = g.push(node(Op::Binary(BinaryOp::Add), vec![a.0], f32_ty(&[3])));
    g.outputs = vec![("two".into(), two)];
    assert!(run(&g, &[x], &[]).is_err());

    // A constant whose data does not fill its shape.
    let mut g = Graph::new("g");
    let c = g.push(node(
        Op::Const(Tensor {
            shape: vec![2],
            data: Data::F32(vec![1.0]),
        }),
        vec![],
        f32_ty(&[2]),
    ));
    g.outputs = vec![("c".into(), c)];
    assert!(err_of(&g, &[]).message.contains("malformed constant"));
}

#[test]
fn errors_name_the_value_and_keep_its_location() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", f32_ty(&[]), None);
    let dy = g.add(Op::Grad, &[x, x]).unwrap();
    g.node_mut(dy).name = Some("dx".into());
    g.node_mut(dy).loc = Some(tfg_ir::Loc { line: 3, col: 7 });
    g.outputs = vec![("dx".into(), dy)];
    let err = err_of(&g, &[Tensor::scalar_f32(1.0)]);
    assert!(err.message.starts_with("%dx (grad): "), "{err}");
    assert_eq!(err.loc, Some(tfg_ir::Loc { line: 3, col: 7 }));
}
