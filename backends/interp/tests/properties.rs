//! Property tests: identities that hold exactly whatever the data and shapes,
//! checked against index arithmetic done here by hand, and a sweep over
//! random graphs that must run without panicking and give the declared types.

use proptest::prelude::*;
use tfg_interp::run;
use tfg_ir::arbitrary::{arb_graph_with, GraphConfig};
use tfg_ir::{
    init::materialize, BinaryOp, DType, Data, Graph, Op, ReduceOp, Shape, Tensor, ValueId,
};

fn shape_of(dims: &[usize]) -> Shape {
    Shape::known(&dims.iter().map(|&d| d as u64).collect::<Vec<_>>())
}

/// Runs `build(g, x)` on a graph whose only input is `x`, returning its outputs.
fn eval(x: &Tensor, build: impl FnOnce(&mut Graph, ValueId) -> Vec<ValueId>) -> Vec<Tensor> {
    let mut g = Graph::new("prop");
    let input = g.add_input("x", x.ty(), None);
    let outs = build(&mut g, input);
    g.outputs = outs
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("o{i}"), v))
        .collect();
    run(&g, std::slice::from_ref(x), &[]).expect("run").outputs
}

/// A tensor of any dtype with `dims`, with values from `seed`.
fn tensor_with(dims: Vec<usize>, dtype: DType, seed: u64) -> Tensor {
    let n: usize = dims.iter().product();
    // A multiplicative hash gives varied, repeatable values without a PRNG.
    let raw: Vec<i64> = (0..n as u64)
        .map(|i| {
            ((i + 1)
                .wrapping_mul(seed | 1)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                >> 40) as i64
        })
        .collect();
    let data = match dtype {
        DType::F32 => Data::F32(
            raw.iter()
                .map(|&r| (r % 2001 - 1000) as f32 / 8.0)
                .collect(),
        ),
        DType::F64 => Data::F64(
            raw.iter()
                .map(|&r| (r % 2001 - 1000) as f64 / 3.0)
                .collect(),
        ),
        DType::I32 => Data::I32(raw.iter().map(|&r| (r % 19 - 9) as i32).collect()),
        DType::I64 => Data::I64(raw.iter().map(|&r| r - (1 << 23)).collect()),
        DType::Bool => Data::Bool(raw.iter().map(|&r| r % 2 == 0).collect()),
    };
    Tensor::new(dims, data).expect("sizes match")
}

fn arb_dims(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..4, 0..=max_rank)
}

fn arb_tensor(max_rank: usize) -> impl Strategy<Value = Tensor> {
    (
        arb_dims(max_rank),
        prop::sample::select(DType::ALL.to_vec()),
        any::<u64>(),
    )
        .prop_map(|(dims, dtype, seed)| tensor_with(dims, dtype, seed))
}

/// The row-major multi-index of flat position `i` in `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// Element `i` of `t` as a comparable value (f64 holds every test value exactly).
fn at(t: &Tensor, i: usize) -> f64 {
    t.data.get_f64(i)
}

proptest! {
    #[test]
    fn transpose_moves_each_element_and_its_inverse_undoes_it(
        (x, perm) in arb_tensor(4).prop_flat_map(|x| {
            let rank = x.shape.len();
            (Just(x), Just((0..rank).collect::<Vec<_>>()).prop_shuffle())
        })
    ) {
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        let out = eval(&x, |g, v| {
            let t = g.add(Op::Transpose { perm: perm.clone() }, &[v]).unwrap();
            let back = g.add(Op::Transpose { perm: inverse.clone() }, &[t]).unwrap();
            vec![t, back]
        });
        let t = &out[0];
        prop_assert_eq!(&out[1], &x);
        for i in 0..t.numel() {
            let idx = unravel(i, &t.shape);
            let mut src = vec![0; idx.len()];
            for (d, &p) in perm.iter().enumerate() {
                src[p] = idx[d];
            }
            prop_assert_eq!(at(t, i).to_bits(), at(&x, ravel(&src, &x.shape)).to_bits());
        }
    }

    #[test]
    fn reshape_keeps_row_major_order_and_round_trips(x in arb_tensor(4)) {
        let n = x.numel() as u64;
        let out = eval(&x, |g, v| {
            let flat = g.add(Op::Reshape { shape: Shape::known(&[n]) }, &[v]).unwrap();
            let back = g.add(Op::Reshape { shape: shape_of(&x.shape) }, &[flat]).unwrap();
            vec![flat, back]
        });
        prop_assert_eq!(&out[0].data, &x.data);
        prop_assert_eq!(&out[1], &x);
    }

    #[test]
    fn concat_places_each_part_at_its_offset(
        (base, axis, sizes, dtype, seed) in (prop::collection::vec(1usize..4, 1..=3), 1usize..4, any::<u64>())
            .prop_flat_map(|(base, parts, seed)| {
                let rank = base.len();
                (Just(base), 0..rank, prop::collection::vec(0usize..4, parts), prop::sample::select(DType::ALL.to_vec()), Just(seed))
            })
    ) {
        let parts: Vec<Tensor> = sizes.iter().enumerate().map(|(k, &s)| {
            let mut dims = base.clone();
            dims[axis] = s;
            tensor_with(dims, dtype, seed.wrapping_add(k as u64))
        }).collect();
        let mut g = Graph::new("concat");
        let ids: Vec<ValueId> = parts.iter().enumerate().map(|(k, p)| g.add_input(&format!("p{k}"), p.ty(), None)).collect();
        let c = g.add(Op::Concat { axis }, &ids).unwrap();
        g.outputs = vec![("c".into(), c)];
        let out = &run(&g, &parts, &[]).unwrap().outputs[0];
        let total: usize = sizes.iter().sum();
        prop_assert_eq!(out.shape[axis], total);
        let mut offset = 0;
        for p in &parts {
            for i in 0..p.numel() {
                let mut idx = unravel(i, &p.shape);
                idx[axis] += offset;
                prop_assert_eq!(at(out, ravel(&idx, &out.shape)).to_bits(), at(p, i).to_bits());
            }
            offset += p.shape[axis];
        }
    }

    #[test]
    fn broadcasting_a_size_one_dim_repeats_it(x in (1usize..4, 1usize..4, prop::sample::select(DType::ALL.to_vec()), any::<u64>())
        .prop_map(|(a, c, dtype, seed)| tensor_with(vec![a, 1, c], dtype, seed)), n in 0usize..5)
    {
        let (a, c) = (x.shape[0], x.shape[2]);
        let out = eval(&x, |g, v| {
            let b = g.add(Op::BroadcastTo { shape: shape_of(&[a, n, c]) }, &[v]).unwrap();
            let copies = vec![v; n.max(1)];
            let cat = g.add(Op::Concat { axis: 1 }, &copies).unwrap();
            vec![b, cat]
        });
        if n > 0 {
            prop_assert_eq!(&out[0], &out[1]);
        }
        for i in 0..out[0].numel() {
            let idx = unravel(i, &out[0].shape);
            prop_assert_eq!(at(&out[0], i).to_bits(), at(&x, idx[0] * c + idx[2]).to_bits());
        }
    }

    #[test]
    fn multiplying_by_the_identity_changes_nothing(
        x in (1usize..5, 0usize..5, prop::sample::select(vec![DType::F32, DType::F64, DType::I32, DType::I64]), any::<u64>())
            .prop_map(|(m, k, dtype, seed)| tensor_with(vec![m, k], dtype, seed))
    ) {
        let (m, k) = (x.shape[0], x.shape[1]);
        let eye = |n: usize| Tensor::new(vec![n, n], Data::F64((0..n * n).map(|i| (i % (n + 1) == 0) as u8 as f64).collect()))
            .unwrap()
            .cast(x.dtype());
        let out = eval(&x, |g, v| {
            let right = g.add(Op::Const(eye(k)), &[]).unwrap();
            let left = g.add(Op::Const(eye(m)), &[]).unwrap();
            vec![g.add(Op::MatMul, &[v, right]).unwrap(), g.add(Op::MatMul, &[left, v]).unwrap()]
        });
        prop_assert_eq!(&out[0], &x);
        prop_assert_eq!(&out[1], &x);
    }

    #[test]
    fn integer_sums_wrap_like_rust(x in (arb_dims(3), any::<u64>()).prop_map(|(d, s)| tensor_with(d, DType::I64, s))) {
        let Data::I64(v) = &x.data else { unreachable!() };
        let want = v.iter().fold(0i64, |a, &b| a.wrapping_add(b));
        let axes: Vec<usize> = (0..x.shape.len()).collect();
        let out = eval(&x, |g, v| vec![g.add(Op::Reduce { op: ReduceOp::Sum, axes, keepdims: false }, &[v]).unwrap()]);
        prop_assert_eq!(&out[0].data, &Data::I64(vec![want]));
    }

    #[test]
    fn argmax_points_at_the_first_largest_element(
        x in (1usize..4, 1usize..6, any::<u64>()).prop_map(|(r, c, s)| tensor_with(vec![r, c], DType::I32, s))
    ) {
        let out = eval(&x, |g, v| vec![g.add(Op::ArgMax { axis: 1 }, &[v]).unwrap()]);
        let (Data::I32(v), Data::I32(idx)) = (&x.data, &out[0].data) else { unreachable!() };
        let c = x.shape[1];
        for (row, &j) in idx.iter().enumerate() {
            let lane = &v[row * c..(row + 1) * c];
            let j = j as usize;
            prop_assert!(lane.iter().all(|&a| a <= lane[j]));
            prop_assert!(lane[..j].iter().all(|&a| a < lane[j]));
        }
    }

    #[test]
    fn adding_zero_and_multiplying_by_one_are_exact(
        x in (arb_dims(3), prop::sample::select(vec![DType::F32, DType::F64, DType::I32, DType::I64]), any::<u64>())
            .prop_map(|(d, dtype, s)| tensor_with(d, dtype, s))
    ) {
        let out = eval(&x, |g, v| {
            let zero = g.add(Op::Const(Tensor::full(x.dtype(), vec![], 0.0)), &[]).unwrap();
            let one = g.add(Op::Const(Tensor::full(x.dtype(), vec![1], 1.0)), &[]).unwrap();
            vec![
                g.add(Op::Binary(BinaryOp::Add), &[v, zero]).unwrap(),
                g.add(Op::Binary(BinaryOp::Mul), &[one, v]).unwrap(),
                g.add(Op::Binary(BinaryOp::Maximum), &[v, v]).unwrap(),
            ]
        });
        prop_assert_eq!(&out[0], &x);
        prop_assert_eq!(&out[2], &x);
        // A rank-0 operand broadcasts to [1]: the same elements, one more dim.
        prop_assert_eq!(&out[1].data, &x.data);
    }
}

/// A feed for each input: its default, or values of its type.
fn feeds(g: &Graph) -> (Vec<Tensor>, Vec<Tensor>) {
    let inputs = g
        .inputs()
        .map(|v| match &g.node(v).op {
            Op::Input {
                default: Some(tfg_ir::InputDefault::Value(t)),
                ..
            } if t.ty() == g.node(v).ty => t.clone(),
            _ => {
                let dims = g.ty(v).shape.concrete().expect("concrete");
                tensor_with(dims, g.ty(v).dtype, v.0 as u64)
            }
        })
        .collect();
    let params = g
        .params()
        .map(|v| match &g.node(v).op {
            Op::Param { init, name } => materialize(init, g.ty(v), 0, name).expect("initialisable"),
            _ => unreachable!(),
        })
        .collect();
    (inputs, params)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_graphs_run_and_give_their_declared_types(
        g in arb_graph_with(GraphConfig { updates: true, ..GraphConfig::default() })
    ) {
        let (inputs, params) = feeds(&g);
        let out = run(&g, &inputs, &params).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        for ((_, v), t) in g.outputs.iter().zip(&out.outputs) {
            prop_assert_eq!(&t.ty(), g.ty(*v));
        }
        for ((p, _), t) in g.updates.iter().zip(&out.updates) {
            prop_assert_eq!(&t.ty(), g.ty(*p));
        }
    }
}
