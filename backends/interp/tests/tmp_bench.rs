use tfg_ir::*;
#[test]
fn bench() {
    let mut g = Graph::new("mlp");
    let t = |d: &[u64]| Type::new(DType::F32, Shape::known(d));
    let x = g.add_input("x", t(&[32, 64]), None);
    let w1 = g.add_param("w1", t(&[64, 128]), Init::Glorot);
    let b1 = g.add_param("b1", t(&[128]), Init::Zeros);
    let w2 = g.add_param("w2", t(&[128, 10]), Init::Glorot);
    let h = g.add(Op::MatMul, &[x, w1]).unwrap();
    let h = g.add(Op::Binary(BinaryOp::Add), &[h, b1]).unwrap();
    let h = g.add(Op::Unary(UnaryOp::Relu), &[h]).unwrap();
    let o = g.add(Op::MatMul, &[h, w2]).unwrap();
    let m = g.add(Op::Reduce { op: ReduceOp::Max, axes: vec![1], keepdims: true }, &[o]).unwrap();
    let d = g.add(Op::Binary(BinaryOp::Sub), &[o, m]).unwrap();
    let e = g.add(Op::Unary(UnaryOp::Exp), &[d]).unwrap();
    let s = g.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keepdims: true }, &[e]).unwrap();
    let l = g.add(Op::Reduce { op: ReduceOp::Mean, axes: vec![0, 1], keepdims: false }, &[s]).unwrap();
    g.outputs = vec![("l".into(), l)];
    let params: Vec<Tensor> = g.params().map(|p| match &g.node(p).op { Op::Param { init, name } => init::materialize(init, g.ty(p), 0, name).unwrap(), _ => unreachable!() }).collect();
    let xs = Tensor::full(DType::F32, vec![32, 64], 0.5);
    let start = std::time::Instant::now();
    for _ in 0..100 { tfg_interp::run(&g, std::slice::from_ref(&xs), &params).unwrap(); }
    eprintln!("per run: {:?}", start.elapsed() / 100);
}
