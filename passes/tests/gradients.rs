//! Every gradient rule against central finite differences (float64), and the
//! conventions at non-smooth points against hand-derived values.

mod finite_diff;

use finite_diff::*;
use tfg_ir::{BinaryOp, DType, Data, Graph, Op, ReduceOp, Shape, Tensor, UnaryOp, ValueId};
use tfg_passes::autodiff::{differentiate, expand_grads, AutodiffError};
use tfg_testkit::build::{log_softmax, softmax};

/// dy/dx for each of `xs`, where `y = f(xs)` is already a scalar.
fn grads_of(xs: &[Tensor], f: impl FnOnce(&mut Graph, &[ValueId]) -> ValueId) -> Vec<Vec<f64>> {
    let (mut g, ids) = graph_with_inputs(xs);
    let y = f(&mut g, &ids);
    let grads = differentiate(&mut g, y, &ids).expect("autodiff succeeds");
    g.outputs = grads.iter().map(|&d| ("d".to_string(), d)).collect();
    run(&g, xs).iter().map(values).collect()
}

fn sum_all(g: &mut Graph, z: ValueId) -> ValueId {
    let rank = g.ty(z).shape.rank();
    reduce(g, ReduceOp::Sum, z, (0..rank).collect(), false).expect("valid axes")
}

#[test]
fn unary_ops_match_finite_differences() {
    let near_int = |v: f64| (v - v.round()).abs() < 0.05;
    let near_zero = |v: f64| v.abs() < 0.1;
    type Case<'a> = (UnaryOp, f64, f64, &'a dyn Fn(f64) -> bool);
    let cases: &[Case] = &[
        (UnaryOp::Neg, -2.0, 2.0, &|_| false),
        (UnaryOp::Abs, -2.0, 2.0, &near_zero),
        (UnaryOp::Exp, -2.0, 2.0, &|_| false),
        (UnaryOp::Log, 0.3, 3.0, &|_| false),
        (UnaryOp::Sqrt, 0.3, 3.0, &|_| false),
        (UnaryOp::Rsqrt, 0.3, 3.0, &|_| false),
        (UnaryOp::Square, -2.0, 2.0, &|_| false),
        (UnaryOp::Tanh, -2.0, 2.0, &|_| false),
        (UnaryOp::Sigmoid, -3.0, 3.0, &|_| false),
        (UnaryOp::Relu, -2.0, 2.0, &near_zero),
        (UnaryOp::Sin, -3.0, 3.0, &|_| false),
        (UnaryOp::Cos, -3.0, 3.0, &|_| false),
        (UnaryOp::Reciprocal, -2.0, 2.0, &near_zero),
        (UnaryOp::Floor, -2.0, 2.0, &near_int),
        (UnaryOp::Ceil, -2.0, 2.0, &near_int),
        (UnaryOp::Sign, -2.0, 2.0, &near_zero),
    ];
    let mut rng = Rng::new(1);
    for &(op, lo, hi, bad) in cases {
        let x = rng.tensor_avoiding(&[2, 3], lo, hi, bad);
        check_gradients(&[x], |g, x| un(g, op, x[0]));
    }
}

#[test]
fn relu_and_abs_have_zero_gradient_at_zero() {
    let x = f64s(&[3], vec![-1.5, 0.0, 2.0]);
    let relu = grads_of(std::slice::from_ref(&x), |g, x| {
        let r = un(g, UnaryOp::Relu, x[0]).unwrap();
        sum_all(g, r)
    });
    assert_eq!(relu, vec![vec![0.0, 0.0, 1.0]]);
    let abs = grads_of(&[x], |g, x| {
        let r = un(g, UnaryOp::Abs, x[0]).unwrap();
        sum_all(g, r)
    });
    assert_eq!(abs, vec![vec![-1.0, 0.0, 1.0]]);
}

const BROADCAST_PAIRS: &[(&[usize], &[usize])] = &[
    (&[2, 3], &[2, 3]),
    (&[2, 3], &[3]),
    (&[3], &[2, 3]),
    (&[2, 1], &[1, 3]),
    (&[], &[2, 3]),
    (&[2, 3], &[]),
    (&[4, 1, 3], &[2, 1]),
];

#[test]
fn binary_ops_match_finite_differences_with_broadcasting() {
    let mut rng = Rng::new(2);
    let ops: &[(BinaryOp, f64, f64)] = &[
        (BinaryOp::Add, -2.0, 2.0),
        (BinaryOp::Sub, -2.0, 2.0),
        (BinaryOp::Mul, -2.0, 2.0),
        (BinaryOp::Div, 0.5, 2.0),
        (BinaryOp::Pow, 0.5, 2.0),
        (BinaryOp::Maximum, -2.0, 2.0),
        (BinaryOp::Minimum, -2.0, 2.0),
    ];
    for &(op, lo, hi) in ops {
        for &(sa, sb) in BROADCAST_PAIRS {
            let a = rng.tensor(sa, lo, hi);
            let b = rng.tensor(sb, lo, hi);
            check_gradients(&[a, b], |g, x| bin(g, op, x[0], x[1]));
        }
    }
}

#[test]
fn a_value_used_twice_accumulates() {
    let mut rng = Rng::new(3);
    let x = rng.tensor(&[2, 3], -2.0, 2.0);
    check_gradients(&[x], |g, x| {
        let sq = bin(g, BinaryOp::Mul, x[0], x[0])?;
        let s = un(g, UnaryOp::Sin, x[0])?;
        bin(g, BinaryOp::Add, sq, s)
    });
}

#[test]
fn pow_with_constant_exponents() {
    let mut rng = Rng::new(4);
    for e in [2.0, 1.0, 0.5, -1.5, 3.0] {
        let x = rng.tensor(&[4], 0.5, 2.0);
        check_gradients(&[x], |g, x| {
            let c = scalar(g, DType::F64, e);
            bin(g, BinaryOp::Pow, x[0], c)
        });
    }
    let x = rng.tensor(&[2, 3], 0.5, 2.0);
    check_gradients(&[x], |g, x| {
        let c = constant(g, f64s(&[3], vec![2.0, -1.0, 0.25]));
        bin(g, BinaryOp::Pow, x[0], c)
    });
}

#[test]
fn pow_exponent_gradient_is_zero_where_base_is_not_positive() {
    // d(a**b)/da = b·a**(b-1); d(a**b)/db = a**b·ln(a) for a > 0, else 0 (TF).
    let a = f64s(&[3], vec![0.0, -2.0, 3.0]);
    let b = f64s(&[3], vec![2.0, 2.0, 2.0]);
    let grads = grads_of(&[a, b], |g, x| {
        let p = bin(g, BinaryOp::Pow, x[0], x[1]).unwrap();
        sum_all(g, p)
    });
    assert_eq!(grads[0], vec![0.0, -4.0, 6.0]);
    assert_eq!(grads[1][..2], [0.0, 0.0]);
    assert!((grads[1][2] - 9.0 * 3f64.ln()).abs() < 1e-12);
}

#[test]
fn maximum_and_minimum_send_ties_to_the_first_operand() {
    let a = f64s(&[3], vec![1.0, 2.0, 5.0]);
    let b = f64s(&[3], vec![1.0, 3.0, 4.0]);
    for (op, da, db) in [
        (BinaryOp::Maximum, [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
        (BinaryOp::Minimum, [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
    ] {
        let grads = grads_of(&[a.clone(), b.clone()], |g, x| {
            let m = bin(g, op, x[0], x[1]).unwrap();
            sum_all(g, m)
        });
        assert_eq!(grads, vec![da.to_vec(), db.to_vec()], "{op:?}");
    }
}

#[test]
fn select_routes_the_gradient_by_condition() {
    let mut rng = Rng::new(5);
    let a = rng.tensor(&[2, 3], -2.0, 2.0);
    let b = rng.tensor(&[3], -2.0, 2.0);
    check_gradients(&[a, b], |g, x| {
        let cond = Tensor::new(vec![2, 1], Data::Bool(vec![true, false])).unwrap();
        let c = constant(g, cond);
        g.add(Op::Select, &[c, x[0], x[1]])
    });
    // A condition computed from the operands gets no gradient.
    let a = rng.tensor(&[4], -2.0, 2.0);
    check_gradients(&[a], |g, x| {
        let zero = scalar(g, DType::F64, 0.0);
        let c = bin(g, BinaryOp::Gt, x[0], zero)?;
        let sq = un(g, UnaryOp::Square, x[0])?;
        g.add(Op::Select, &[c, sq, x[0]])
    });
}

#[test]
fn reductions_match_finite_differences() {
    let mut rng = Rng::new(6);
    let cases: &[(&[usize], &[usize], bool)] = &[
        (&[2, 3, 4], &[1], false),
        (&[2, 3, 4], &[0, 2], true),
        (&[2, 3, 4], &[0, 1, 2], false),
        (&[2, 3, 4], &[2], false),
        (&[5], &[0], true),
        (&[3, 4], &[], false),
    ];
    for op in ReduceOp::ALL {
        for &(shape, axes, keepdims) in cases {
            let x = rng.tensor(shape, 0.5, 1.5);
            check_gradients(&[x], |g, x| reduce(g, op, x[0], axes.to_vec(), keepdims));
        }
    }
}

#[test]
fn reduce_max_and_min_share_the_gradient_among_ties() {
    let x = f64s(&[2, 4], vec![1.0, 3.0, 3.0, 2.0, 0.0, 0.0, 0.0, 5.0]);
    let max = grads_of(std::slice::from_ref(&x), |g, x| {
        let m = reduce(g, ReduceOp::Max, x[0], vec![1], false).unwrap();
        let w = constant(g, f64s(&[2], vec![1.0, 2.0]));
        let m = bin(g, BinaryOp::Mul, m, w).unwrap();
        sum_all(g, m)
    });
    assert_eq!(max, vec![vec![0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 2.0]]);
    let min = grads_of(&[x], |g, x| {
        reduce(g, ReduceOp::Min, x[0], vec![0, 1], false).unwrap()
    });
    assert_eq!(
        min,
        vec![vec![
            0.0,
            0.0,
            0.0,
            0.0,
            1.0 / 3.0,
            1.0 / 3.0,
            1.0 / 3.0,
            0.0
        ]]
    );
}

#[test]
fn reduce_prod_is_exact_at_zeros() {
    // d prod / d x_i is the product of the other elements.
    let x = f64s(&[3, 3], vec![2.0, 0.0, 3.0, 1.0, 2.0, 3.0, 0.0, 4.0, 0.0]);
    let grads = grads_of(&[x], |g, x| {
        let p = reduce(g, ReduceOp::Prod, x[0], vec![1], false).unwrap();
        sum_all(g, p)
    });
    assert_eq!(
        grads,
        vec![vec![0.0, 6.0, 0.0, 6.0, 3.0, 2.0, 0.0, 0.0, 0.0]]
    );
}

#[test]
fn matmul_in_every_rank_case() {
    let mut rng = Rng::new(7);
    let cases: &[(&[usize], &[usize])] = &[
        (&[3], &[3]),
        (&[3], &[3, 4]),
        (&[2, 3], &[3]),
        (&[2, 3], &[3, 4]),
        (&[5, 2, 3], &[3, 4]),
        (&[2, 3], &[5, 3, 4]),
        (&[5, 2, 3], &[5, 3, 4]),
        (&[2, 1, 2, 3], &[3, 3, 4]),
        (&[3], &[2, 3, 4]),
        (&[2, 2, 3], &[3]),
        (&[1, 2, 3], &[4, 3, 2]),
    ];
    for &(sa, sb) in cases {
        let a = rng.tensor(sa, -1.0, 1.0);
        let b = rng.tensor(sb, -1.0, 1.0);
        check_gradients(&[a, b], |g, x| g.add(Op::MatMul, &[x[0], x[1]]));
    }
}

#[test]
fn shape_ops_match_finite_differences() {
    let mut rng = Rng::new(8);
    let x = rng.tensor(&[2, 3, 4], -1.0, 1.0);
    check_gradients(std::slice::from_ref(&x), |g, x| {
        g.add(
            Op::Transpose {
                perm: vec![2, 0, 1],
            },
            &[x[0]],
        )
    });
    check_gradients(&[x], |g, x| {
        g.add(
            Op::Reshape {
                shape: Shape::known(&[4, 6]),
            },
            &[x[0]],
        )
    });
    for (from, to) in [
        (&[3, 1][..], &[2, 3, 4][..]),
        (&[], &[2, 2]),
        (&[4], &[3, 4]),
    ] {
        let x = rng.tensor(from, -1.0, 1.0);
        check_gradients(&[x], |g, x| {
            g.add(
                Op::BroadcastTo {
                    shape: Shape::known(&to.iter().map(|&d| d as u64).collect::<Vec<_>>()),
                },
                &[x[0]],
            )
        });
    }
}

#[test]
fn concat_splits_the_gradient() {
    let mut rng = Rng::new(9);
    let (a, b) = (
        rng.tensor(&[1, 3], -1.0, 1.0),
        rng.tensor(&[2, 3], -1.0, 1.0),
    );
    check_gradients(&[a, b], |g, x| g.add(Op::Concat { axis: 0 }, &[x[0], x[1]]));
    let (a, b, c) = (
        rng.tensor(&[2, 1], -1.0, 1.0),
        rng.tensor(&[2, 3], -1.0, 1.0),
        rng.tensor(&[2, 2], -1.0, 1.0),
    );
    check_gradients(&[a, b, c], |g, x| {
        g.add(Op::Concat { axis: 1 }, &[x[0], x[1], x[2]])
    });
    let (a, b) = (
        rng.tensor(&[2, 2, 3], -1.0, 1.0),
        rng.tensor(&[2, 1, 3], -1.0, 1.0),
    );
    check_gradients(&[a, b], |g, x| {
        g.add(Op::Concat { axis: 1 }, &[x[0], x[1], x[0]])
    });
    let a = rng.tensor(&[3], -1.0, 1.0);
    check_gradients(&[a], |g, x| g.add(Op::Concat { axis: 0 }, &[x[0]]));
}

#[test]
fn casts_pass_float_gradients_and_block_integer_ones() {
    // y = sum(f32(x) · c): dy/dx = c, exactly representable.
    let x = f64s(&[3], vec![0.3, -1.2, 2.5]);
    let grads = grads_of(std::slice::from_ref(&x), |g, x| {
        let x32 = g.add(Op::Cast { to: DType::F32 }, &[x[0]]).unwrap();
        let c = constant(
            g,
            Tensor::new(vec![3], Data::F32(vec![1.5, -2.0, 0.25])).unwrap(),
        );
        let p = bin(g, BinaryOp::Mul, x32, c).unwrap();
        sum_all(g, p)
    });
    assert_eq!(grads, vec![vec![1.5, -2.0, 0.25]]);
    // y = sum(x · f64(i32(x))): the integer path carries nothing, so dy/dx = trunc(x).
    let x = f64s(&[3], vec![1.5, -2.5, 3.7]);
    let grads = grads_of(&[x], |g, x| {
        let i = g.add(Op::Cast { to: DType::I32 }, &[x[0]]).unwrap();
        let back = g.add(Op::Cast { to: DType::F64 }, &[i]).unwrap();
        let p = bin(g, BinaryOp::Mul, x[0], back).unwrap();
        sum_all(g, p)
    });
    assert_eq!(grads, vec![vec![1.0, -2.0, 3.0]]);
}

#[test]
fn softmax_log_softmax_and_cross_entropy() {
    let mut rng = Rng::new(10);
    let x = rng.tensor(&[3, 5], -2.0, 2.0);
    check_gradients(std::slice::from_ref(&x), |g, x| Ok(softmax(g, x[0], 1)));
    check_gradients(std::slice::from_ref(&x), |g, x| Ok(softmax(g, x[0], 0)));
    check_gradients(std::slice::from_ref(&x), |g, x| Ok(log_softmax(g, x[0], 1)));
    check_gradients(&[x], |g, x| Ok(log_softmax(g, x[0], 0)));

    // -mean(sum(one_hot(labels) · log_softmax(logits), axis 1))
    let logits = rng.tensor(&[4, 5], -2.0, 2.0);
    check_gradients(&[logits], |g, x| {
        let labels = constant(
            g,
            Tensor::new(vec![4], Data::I32(vec![0, 3, 4, 3])).unwrap(),
        );
        let hot = g.add(Op::OneHot { depth: 5 }, &[labels])?;
        let hot = g.add(Op::Cast { to: DType::F64 }, &[hot])?;
        let lp = log_softmax(g, x[0], 1);
        let picked = bin(g, BinaryOp::Mul, hot, lp)?;
        let per_row = reduce(g, ReduceOp::Sum, picked, vec![1], false)?;
        let mean = reduce(g, ReduceOp::Mean, per_row, vec![0], false)?;
        un(g, UnaryOp::Neg, mean)
    });
}

#[test]
fn a_small_mlp() {
    let mut rng = Rng::new(11);
    let x = rng.tensor(&[4, 3], -1.0, 1.0);
    let w1 = rng.tensor(&[3, 5], -1.0, 1.0);
    let b1 = rng.tensor_avoiding(&[5], -0.5, 0.5, |v| v.abs() < 0.05);
    let w2 = rng.tensor(&[5, 2], -1.0, 1.0);
    check_gradients(&[x, w1, b1, w2], |g, p| {
        let h = g.add(Op::MatMul, &[p[0], p[1]])?;
        let h = bin(g, BinaryOp::Add, h, p[2])?;
        let h = un(g, UnaryOp::Tanh, h)?;
        let h = un(g, UnaryOp::Relu, h)?;
        let o = g.add(Op::MatMul, &[h, p[3]])?;
        let sq = un(g, UnaryOp::Square, o)?;
        reduce(g, ReduceOp::Mean, sq, vec![0, 1], false)
    });
}

#[test]
fn an_unrelated_value_gets_a_zero_gradient() {
    let x = f64s(&[2], vec![1.5, 2.5]);
    let unused = f64s(&[2, 3], vec![1.0; 6]);
    let grads = grads_of(&[x, unused], |g, x| {
        let f = un(g, UnaryOp::Floor, x[0]).unwrap();
        sum_all(g, f)
    });
    assert_eq!(grads, vec![vec![0.0; 2], vec![0.0; 6]]);
}

#[test]
fn symbolic_dims_are_counted_and_unbroadcast_at_run_time() {
    // y = mean((x + b)²) with x: f64[B, 2], b: f64[2]. By hand, with
    // r = x + b: dy/dx = 2r / 2B and dy/db = Σ_rows 2r / 2B.
    let mut g = Graph::new("sym");
    let batch = Shape(vec![tfg_ir::Dim::Sym("B".into()), tfg_ir::Dim::Known(2)]);
    let x = g.add_input("x", tfg_ir::Type::new(DType::F64, batch), None);
    let b = g.add_input("b", f64_type(&[2]), None);
    let r = bin(&mut g, BinaryOp::Add, x, b).unwrap();
    let sq = un(&mut g, UnaryOp::Square, r).unwrap();
    let y = reduce(&mut g, ReduceOp::Mean, sq, vec![0, 1], false).unwrap();
    let grads = differentiate(&mut g, y, &[x, b]).unwrap();
    assert_eq!(g.ty(grads[0]), g.ty(x));
    tfg_ir::verify(&g).expect("the gradient graph verifies");
    g.outputs = vec![("dx".into(), grads[0]), ("db".into(), grads[1])];
    let dims = [("B".to_string(), 3)].into_iter().collect();
    let concrete = tfg_ir::specialize(&g, &dims).expect("B binds");

    let xs = vec![1.0, -2.0, 3.0, 0.5, 6.0, -1.5];
    let bs = vec![0.25, -0.75];
    let out = run(
        &concrete,
        &[f64s(&[3, 2], xs.clone()), f64s(&[2], bs.clone())],
    );
    let r: Vec<f64> = xs.iter().enumerate().map(|(i, v)| v + bs[i % 2]).collect();
    let dx: Vec<f64> = r.iter().map(|v| 2.0 * v / 6.0).collect();
    let db: Vec<f64> = (0..2).map(|j| dx[j] + dx[j + 2] + dx[j + 4]).collect();
    for (got, want) in [(values(&out[0]), dx), (values(&out[1]), db)] {
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-14, "{got:?} vs {want:?}");
        }
    }
}

#[test]
fn expand_grads_replaces_grad_nodes_even_nested() {
    // y = x³; g = grad(y, x) = 3x²; h = grad(g, x) = 6x.
    let mut g = Graph::new("nested");
    let x = g.add_input("x", f64_type(&[]), None);
    let x2 = bin(&mut g, BinaryOp::Mul, x, x).unwrap();
    let y = bin(&mut g, BinaryOp::Mul, x2, x).unwrap();
    let dy = g.add(Op::Grad, &[y, x]).unwrap();
    g.node_mut(dy).name = Some("dy".into());
    let d2y = g.add(Op::Grad, &[dy, x]).unwrap();
    g.outputs = vec![("dy".into(), dy), ("d2y".into(), d2y), ("y".into(), y)];
    expand_grads(&mut g).expect("expands");
    assert!(g.nodes.iter().all(|n| !matches!(n.op, Op::Grad)));
    tfg_ir::verify(&g).expect("the expanded graph verifies");
    let named = g.lookup("dy").expect("the gradient keeps its name");
    assert_eq!(g.output("dy"), Some(named));
    let out = run(&g, &[f64s(&[], vec![1.5])]);
    assert_eq!(values(&out[0]), vec![3.0 * 1.5 * 1.5]);
    assert_eq!(values(&out[1]), vec![6.0 * 1.5]);
    assert_eq!(values(&out[2]), vec![1.5 * 1.5 * 1.5]);
}

#[test]
fn errors_name_the_value() {
    let mut g = Graph::new("bad");
    let x = g.add_input("x", f64_type(&[3]), None);
    let n = g.add_input("n", tfg_ir::Type::scalar(DType::I32), None);
    let sq = un(&mut g, UnaryOp::Square, x).unwrap();
    g.node_mut(sq).name = Some("sq".into());
    let e = differentiate(&mut g, sq, &[x]).unwrap_err();
    assert!(matches!(e, AutodiffError::NotFloatScalar { .. }));
    assert_eq!(
        e.to_string(),
        "can only differentiate a float scalar, but `sq` is f64[3]"
    );
    let s = reduce(&mut g, ReduceOp::Sum, sq, vec![0], false).unwrap();
    let e = differentiate(&mut g, s, &[n]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot differentiate with respect to `n`: it is i32, not a float"
    );
    assert!(matches!(
        differentiate(&mut g, n, &[x]),
        Err(AutodiffError::NotFloatScalar { .. })
    ));
    assert!(matches!(
        differentiate(&mut g, ValueId(99), &[x]),
        Err(AutodiffError::NoSuchValue(_))
    ));
    let inner = g.add(Op::Grad, &[s, x]).unwrap();
    let outer = sum_all(&mut g, inner);
    assert!(matches!(
        differentiate(&mut g, outer, &[x]),
        Err(AutodiffError::UnexpandedGrad(_))
    ));
}

#[test]
fn gradients_stay_tidy() {
    // d/dw (w·x - 0)² = 2(w·x)·x: no multiplications by one, no pow, no
    // broadcasts, and only two new ops that the result needs.
    let mut g = Graph::new("hello");
    let x = g.add_input("x", tfg_ir::Type::scalar(DType::F32), None);
    let w = g.add_param(
        "w",
        tfg_ir::Type::scalar(DType::F32),
        tfg_ir::Init::Literal(Tensor::scalar_f32(0.8)),
    );
    let y = bin(&mut g, BinaryOp::Mul, w, x).unwrap();
    let zero = scalar(&mut g, DType::F32, 0.0);
    let d = bin(&mut g, BinaryOp::Sub, y, zero).unwrap();
    let two = scalar(&mut g, DType::F32, 2.0);
    let loss = bin(&mut g, BinaryOp::Pow, d, two).unwrap();
    let before = g.nodes.len();
    let dw = differentiate(&mut g, loss, &[w]).unwrap()[0];
    g.outputs = vec![("dw".into(), dw)];
    let live = g.live();
    let added: Vec<&tfg_ir::Node> = (before..g.nodes.len())
        .filter(|&i| live[i])
        .map(|i| &g.nodes[i])
        .collect();
    assert_eq!(added.len(), 2, "{added:#?}");
    assert!(added.iter().all(|n| n.op == Op::Binary(BinaryOp::Mul)));
    let out = tfg_interp::run(&g, &[Tensor::scalar_f32(1.0)], &[Tensor::scalar_f32(0.8)]).unwrap();
    assert_eq!(out.outputs[0], Tensor::scalar_f32(2.0 * 0.8));
}
