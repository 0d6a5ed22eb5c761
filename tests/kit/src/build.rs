//! Building Graph IR by hand in tests: each builder adds one node, its type
//! inferred by the op registry, and panics on an ill-typed graph (a bug in
//! the test, not in the code under test).

use tfg_ir::{BinaryOp, DType, Graph, Op, ReduceOp, Shape, Tensor, Type, UnaryOp, ValueId};

/// A type of known dims.
pub fn ty(dtype: DType, dims: &[u64]) -> Type {
    Type::new(dtype, Shape::known(dims))
}

/// A new input without a default.
pub fn input(g: &mut Graph, name: &str, dtype: DType, dims: &[u64]) -> ValueId {
    g.add_input(name, ty(dtype, dims), None)
}

/// A node of `op` over `args`.
pub fn add(g: &mut Graph, op: Op, args: &[ValueId]) -> ValueId {
    g.add(op, args)
        .unwrap_or_else(|e| panic!("test graph is ill-typed: {e}"))
}

/// A constant.
pub fn constant(g: &mut Graph, t: Tensor) -> ValueId {
    add(g, Op::Const(t), &[])
}

/// An f32 scalar constant.
pub fn scalar(g: &mut Graph, x: f32) -> ValueId {
    constant(g, Tensor::scalar_f32(x))
}

/// A binary op.
pub fn bin(g: &mut Graph, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
    add(g, Op::Binary(op), &[a, b])
}

/// A unary op.
pub fn un(g: &mut Graph, op: UnaryOp, a: ValueId) -> ValueId {
    add(g, Op::Unary(op), &[a])
}

/// A reduction of `x` over `axes`.
pub fn reduce(g: &mut Graph, op: ReduceOp, axes: &[usize], keepdims: bool, x: ValueId) -> ValueId {
    add(
        g,
        Op::Reduce {
            op,
            axes: axes.to_vec(),
            keepdims,
        },
        &[x],
    )
}

/// `softmax(x, axis)` as the frontend expands it ([`tfg_frontend::expand`]).
pub fn softmax(g: &mut Graph, x: ValueId, axis: usize) -> ValueId {
    tfg_frontend::expand::softmax(g, x, axis)
        .unwrap_or_else(|e| panic!("test graph is ill-typed: {e}"))
}

/// `log_softmax(x, axis)` as the frontend expands it.
pub fn log_softmax(g: &mut Graph, x: ValueId, axis: usize) -> ValueId {
    tfg_frontend::expand::log_softmax(g, x, axis)
        .unwrap_or_else(|e| panic!("test graph is ill-typed: {e}"))
}

/// The W1 workload, as `examples/elementwise.tfg` writes it:
/// `y = tanh(0.5·x + 0.1)·sigmoid(x) + x·x` over an f32 input of `dims`.
pub fn elementwise(dims: &[u64]) -> Graph {
    let mut g = Graph::new("elementwise");
    let x = input(&mut g, "x", DType::F32, dims);
    let half = scalar(&mut g, 0.5);
    let tenth = scalar(&mut g, 0.1);
    let hx = bin(&mut g, BinaryOp::Mul, half, x);
    let a = bin(&mut g, BinaryOp::Add, hx, tenth);
    let t = un(&mut g, UnaryOp::Tanh, a);
    let s = un(&mut g, UnaryOp::Sigmoid, x);
    let ts = bin(&mut g, BinaryOp::Mul, t, s);
    let xx = bin(&mut g, BinaryOp::Mul, x, x);
    let y = bin(&mut g, BinaryOp::Add, ts, xx);
    g.outputs.push(("y".into(), y));
    g
}

/// The one graph of `.tfg` source `src`, as the frontend lowers it: how a
/// test builds what the frontend expands (a convolution, a pooling).
pub fn parsed(src: &str) -> Graph {
    let module = tfg_frontend::compile(src)
        .unwrap_or_else(|d| panic!("test source does not compile: {d:?}\n{src}"));
    match <[Graph; 1]>::try_from(module.graphs) {
        Ok([g]) => g,
        Err(gs) => panic!("test source has {} graphs, not one", gs.len()),
    }
}
