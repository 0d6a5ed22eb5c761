//! Gradients against finite differences over random shapes: broadcasting
//! binary ops, reductions over random axis sets, and matmul with random
//! batch broadcasting and 1-D operands.

mod finite_diff;

use finite_diff::{bin, check_gradients, reduce, un, Rng};
use proptest::prelude::*;
use tfg_ir::{BinaryOp, Op, ReduceOp, UnaryOp};

/// A shape of rank 0–3 with dims 1–3.
fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=3, 0..=3)
}

/// A shape that broadcasts to `full`: some leading dims dropped, some set to 1.
fn broadcastable(full: Vec<usize>) -> impl Strategy<Value = Vec<usize>> {
    let rank = full.len();
    (0..=rank, prop::collection::vec(any::<bool>(), rank)).prop_map(move |(drop, ones)| {
        full.iter()
            .zip(&ones)
            .skip(drop)
            .map(|(&d, &one)| if one { 1 } else { d })
            .collect()
    })
}

const BINARY: [BinaryOp; 7] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Pow,
    BinaryOp::Maximum,
    BinaryOp::Minimum,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn broadcast_binary_ops(
        (a, b) in shape().prop_flat_map(|s| (broadcastable(s.clone()), broadcastable(s))),
        op in prop::sample::select(BINARY.to_vec()),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        // Positive operands keep div and pow smooth; max/min ties have
        // probability zero.
        let (x, y) = (rng.tensor(&a, 0.5, 2.0), rng.tensor(&b, 0.5, 2.0));
        check_gradients(&[x, y], |g, v| bin(g, op, v[0], v[1]));
    }

    #[test]
    fn reductions_over_random_axes(
        dims in prop::collection::vec(1usize..=3, 1..=3),
        mask in any::<u8>(),
        keepdims in any::<bool>(),
        op in prop::sample::select(ReduceOp::ALL.to_vec()),
        seed in any::<u64>(),
    ) {
        let axes: Vec<usize> = (0..dims.len()).filter(|i| mask & (1 << i) != 0).collect();
        let x = Rng::new(seed).tensor(&dims, 0.5, 1.5);
        check_gradients(&[x], |g, v| {
            // A smooth op before the reduction gives it a non-trivial adjoint.
            let s = un(g, UnaryOp::Sin, v[0])?;
            reduce(g, op, s, axes, keepdims)
        });
    }

    #[test]
    fn matmul_with_random_batches(
        batch in shape().prop_map(|s| s.into_iter().take(2).collect::<Vec<_>>())
            .prop_flat_map(|s| (broadcastable(s.clone()), broadcastable(s))),
        (m, k, n) in (1usize..=3, 1usize..=3, 1usize..=3),
        (vector_a, vector_b) in (any::<bool>(), any::<bool>()),
        seed in any::<u64>(),
    ) {
        let (ba, bb) = batch;
        // A 1-D operand has no batch dims.
        let sa = if vector_a { vec![k] } else { [ba, vec![m, k]].concat() };
        let sb = if vector_b { vec![k] } else { [bb, vec![k, n]].concat() };
        let mut rng = Rng::new(seed);
        let (a, b) = (rng.tensor(&sa, -1.0, 1.0), rng.tensor(&sb, -1.0, 1.0));
        check_gradients(&[a, b], |g, v| g.add(Op::MatMul, &[v[0], v[1]]));
    }
}
