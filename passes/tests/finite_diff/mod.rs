//! Gradient checking against central finite differences, in float64.
//!
//! A test builds `z = f(x₀, x₁, …)` from f64 inputs; the checker reduces it
//! to the scalar `y = sum(z · r)` with fixed random weights `r` (so every
//! element of `z` gets a different adjoint), asks autodiff for dy/dxᵢ, runs
//! the graph in the interpreter, and compares each element with
//! (y(x + h·e) − y(x − h·e)) / 2h.

#![allow(dead_code)]

use tfg_ir::{
    BinaryOp, DType, Data, Graph, Op, ReduceOp, Tensor, Type, TypeError, UnaryOp, ValueId,
};
use tfg_passes::autodiff::differentiate;

/// A small deterministic generator (splitmix64), so tests need no crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An f64 tensor uniform in [lo, hi).
    pub fn tensor(&mut self, shape: &[usize], lo: f64, hi: f64) -> Tensor {
        self.tensor_avoiding(shape, lo, hi, |_| false)
    }

    /// Like [`Rng::tensor`], redrawing values for which `bad` holds (points
    /// where the function is not smooth).
    pub fn tensor_avoiding(
        &mut self,
        shape: &[usize],
        lo: f64,
        hi: f64,
        bad: impl Fn(f64) -> bool,
    ) -> Tensor {
        let n = shape.iter().product();
        let data = (0..n)
            .map(|_| loop {
                let v = self.uniform(lo, hi);
                if !bad(v) {
                    break v;
                }
            })
            .collect();
        f64s(shape, data)
    }
}

pub fn f64s(shape: &[usize], data: Vec<f64>) -> Tensor {
    Tensor::new(shape.to_vec(), Data::F64(data)).expect("data fits the shape")
}

pub fn values(t: &Tensor) -> Vec<f64> {
    (0..t.numel()).map(|i| t.data.get_f64(i)).collect()
}

/// A graph with one f64 input `x{i}` per tensor.
pub fn graph_with_inputs(xs: &[Tensor]) -> (Graph, Vec<ValueId>) {
    let mut g = Graph::new("test");
    let ids = xs
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_input(&format!("x{i}"), t.ty(), None))
        .collect();
    (g, ids)
}

pub fn run(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    match tfg_interp::run(g, inputs, &[]) {
        Ok(out) => out.outputs,
        Err(e) => panic!("interpreter failed: {e:?}"),
    }
}

/// Checks dy/dx for every input against central differences, where
/// `y = sum(f(x) · r)`. Returns the analytic gradients.
pub fn check_gradients(
    xs: &[Tensor],
    f: impl FnOnce(&mut Graph, &[ValueId]) -> Result<ValueId, TypeError>,
) -> Vec<Tensor> {
    let (mut g, ids) = graph_with_inputs(xs);
    let z = f(&mut g, &ids).expect("the test graph type-checks");
    let y = weighted_sum(&mut g, z, 7);
    let grads = differentiate(&mut g, y, &ids).expect("autodiff succeeds");
    for (&x, &dx) in ids.iter().zip(&grads) {
        assert_eq!(g.ty(dx), g.ty(x), "the gradient has the type of its input");
    }
    tfg_ir::verify(&g).expect("the gradient graph verifies");

    let mut forward = g.clone();
    forward.outputs = vec![("y".into(), y)];
    g.outputs = grads
        .iter()
        .enumerate()
        .map(|(i, &d)| (format!("d{i}"), d))
        .collect();
    let analytic = run(&g, xs);

    let h = 1e-6;
    let eval = |inputs: &[Tensor]| run(&forward, inputs)[0].data.get_f64(0);
    for (i, x) in xs.iter().enumerate() {
        for j in 0..x.numel() {
            let nudged = |delta: f64| {
                let mut inputs = xs.to_vec();
                let mut v = values(x);
                v[j] += delta;
                inputs[i] = f64s(&x.shape, v);
                eval(&inputs)
            };
            let numeric = (nudged(h) - nudged(-h)) / (2.0 * h);
            let got = analytic[i].data.get_f64(j);
            assert!(
                (got - numeric).abs() <= 1e-6 * numeric.abs().max(1.0),
                "d y / d x{i}[{j}]: autodiff {got}, finite differences {numeric}"
            );
        }
    }
    analytic
}

/// `sum(z · r)` for fixed pseudo-random weights `r` in [0.5, 1.5).
pub fn weighted_sum(g: &mut Graph, z: ValueId, seed: u64) -> ValueId {
    let ty = g.ty(z).clone();
    let shape = ty
        .shape
        .concrete()
        .expect("test graphs have concrete shapes");
    let r = Rng::new(seed).tensor(&shape, 0.5, 1.5);
    let r = constant(g, r.cast(ty.dtype));
    let zr = bin(g, BinaryOp::Mul, z, r).expect("same shape");
    reduce(g, ReduceOp::Sum, zr, (0..shape.len()).collect(), false).expect("valid axes")
}

pub fn constant(g: &mut Graph, t: Tensor) -> ValueId {
    g.add(Op::Const(t), &[])
        .expect("a constant always type-checks")
}

pub fn scalar(g: &mut Graph, dtype: DType, v: f64) -> ValueId {
    constant(g, Tensor::full(dtype, vec![], v))
}

pub fn un(g: &mut Graph, op: UnaryOp, x: ValueId) -> Result<ValueId, TypeError> {
    g.add(Op::Unary(op), &[x])
}

pub fn bin(g: &mut Graph, op: BinaryOp, a: ValueId, b: ValueId) -> Result<ValueId, TypeError> {
    g.add(Op::Binary(op), &[a, b])
}

pub fn reduce(
    g: &mut Graph,
    op: ReduceOp,
    x: ValueId,
    axes: Vec<usize>,
    keepdims: bool,
) -> Result<ValueId, TypeError> {
    g.add(Op::Reduce { op, axes, keepdims }, &[x])
}

pub fn f64_type(shape: &[u64]) -> Type {
    Type::new(DType::F64, tfg_ir::Shape::known(shape))
}
