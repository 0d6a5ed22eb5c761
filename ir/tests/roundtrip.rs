//! The text form round-trips exactly, and generated graphs are valid.

use proptest::prelude::*;
use tfg_ir::arbitrary::{arb_graph, arb_graph_with, GraphConfig};
use tfg_ir::text::{parse, parse_module, print, print_module};
use tfg_ir::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_graphs_verify_and_round_trip(g in arb_graph()) {
        prop_assert_eq!(verify(&g), Ok(()));
        let text = print(&g);
        prop_assert_eq!(parse(&text), Ok(g), "text:\n{}", text);
    }

    #[test]
    fn graphs_with_updates_round_trip(g in arb_graph_with(GraphConfig { updates: true, ..GraphConfig::default() })) {
        prop_assert_eq!(verify(&g), Ok(()));
        prop_assert_eq!(parse(&print(&g)), Ok(g));
    }
}

fn f32s(dims: &[u64]) -> Type {
    Type::new(DType::F32, Shape::known(dims))
}

fn round_trip(g: &Graph) -> Graph {
    let text = print(g);
    parse(&text).unwrap_or_else(|e| panic!("{e} in\n{text}"))
}

/// Bit patterns, because NaN != NaN under `PartialEq`.
fn f32_bits(g: &Graph, v: ValueId) -> Vec<u32> {
    match &g.node(v).op {
        Op::Const(Tensor {
            data: Data::F32(xs),
            ..
        }) => xs.iter().map(|x| x.to_bits()).collect(),
        op => panic!("expected an f32 constant, found {op:?}"),
    }
}

#[test]
fn floats_keep_their_bits() {
    let specials = vec![
        0.1,
        -0.0,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7fc0_0001),
        16_777_217.0,
        1e-8,
    ];
    let mut g = Graph::new("floats");
    let n = specials.len() as u64;
    let c = g
        .add(
            Op::Const(Tensor::new(vec![specials.len()], Data::F32(specials)).expect("1-D")),
            &[],
        )
        .expect("const");
    let wide = [
        0.1f64,
        1.0 / 3.0,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::MAX,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
    ];
    let d = g
        .add(
            Op::Const(Tensor::new(vec![wide.len()], Data::F64(wide.to_vec())).expect("1-D")),
            &[],
        )
        .expect("const");
    g.outputs = vec![("c".into(), c), ("d".into(), d)];
    let back = round_trip(&g);
    assert_eq!(f32_bits(&back, c), f32_bits(&g, c));
    assert_eq!(back.ty(c), &f32s(&[n]));
    let bits64 = |g: &Graph| match &g.node(d).op {
        Op::Const(Tensor {
            data: Data::F64(xs),
            ..
        }) => xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        op => panic!("expected an f64 constant, found {op:?}"),
    };
    assert_eq!(bits64(&back), bits64(&g));
    let text = print(&g);
    assert!(
        text.contains("inf, -inf, nan, nan(0xffc00000), nan(0x7fc00001)"),
        "{text}"
    );
}

#[test]
fn names_needing_quotes_or_disambiguation() {
    let mut g = Graph::new("a graph");
    let x = g.add_input(
        "x",
        Type::new(
            DType::I64,
            Shape(vec![Dim::Sym("B".into()), Dim::Sym("n m".into())]),
        ),
        None,
    );
    let a = g.add(Op::Unary(UnaryOp::Neg), &[x]).expect("neg");
    let b = g.add(Op::Unary(UnaryOp::Abs), &[a]).expect("abs");
    let c = g.add(Op::Unary(UnaryOp::Sign), &[b]).expect("sign");
    g.node_mut(a).name = Some("t".into());
    g.node_mut(b).name = Some("t".into());
    g.node_mut(c).name = Some("7".into());
    let w = g.add_param(
        "w \"q\"\n",
        f32s(&[]),
        Init::Normal {
            mean: 0.0,
            std: 1.0,
        },
    );
    let v = g.add_param("v", f32s(&[]), Init::Zeros);
    // A node whose name differs from its input's name still round-trips.
    g.node_mut(v).name = None;
    g.outputs = vec![("out put".into(), c), ("t".into(), a)];
    g.updates = vec![(w, w)];
    let text = print(&g);
    assert!(text.contains("%t#1 = neg %x"), "{text}");
    assert!(text.contains("%\"7\" = sign %t#2"), "{text}");
    assert!(text.contains("graph \"a graph\" {"), "{text}");
    assert_eq!(round_trip(&g), g);
}

#[test]
fn literals_initialisers_and_attributes() {
    let mut g = Graph::new("lits");
    let empty = Tensor::new(vec![0, 3], Data::F32(vec![])).expect("empty");
    let x = g.add_input("x", f32s(&[0, 3]), Some(empty));
    let y = g.add_input(
        "y",
        Type::new(DType::Bool, Shape::known(&[2])),
        Some(Tensor::new(vec![], Data::Bool(vec![true])).expect("scalar")),
    );
    let inits = [
        Init::Literal(Tensor::new(vec![2, 1], Data::F32(vec![1.5, -2.0])).expect("2x1")),
        Init::Zeros,
        Init::Ones,
        Init::Glorot,
        Init::Full(-0.1),
        Init::Uniform {
            lo: -1e-300,
            hi: 2.5,
        },
        Init::Normal {
            mean: f64::INFINITY,
            std: 1.0 / 3.0,
        },
    ];
    for (i, init) in inits.into_iter().enumerate() {
        g.add_param(&format!("w{i}"), f32s(&[2, 1]), init);
    }
    let r = g
        .add(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0],
                keepdims: true,
            },
            &[x],
        )
        .expect("reduce");
    let t = g
        .add(Op::Transpose { perm: vec![1, 0] }, &[r])
        .expect("transpose");
    g.add(
        Op::Reshape {
            shape: Shape::known(&[3]),
        },
        &[t],
    )
    .expect("reshape");
    let bt = g
        .add(
            Op::BroadcastTo {
                shape: Shape::known(&[4, 2]),
            },
            &[y],
        )
        .expect("broadcast_to");
    let i = g.add(Op::Cast { to: DType::I32 }, &[bt]).expect("cast");
    let oh = g.add(Op::OneHot { depth: 3 }, &[i]).expect("one_hot");
    let am = g.add(Op::ArgMin { axis: 2 }, &[oh]).expect("argmin");
    let cc = g
        .add(Op::Concat { axis: 0 }, &[am, am, am])
        .expect("concat");
    g.node_mut(cc).loc = Some(Loc { line: 40, col: 2 });
    g.outputs = vec![("cc".into(), cc)];
    assert_eq!(verify(&g), Ok(()));
    assert_eq!(round_trip(&g), g);
}

#[test]
fn literal_of_another_dtype_says_so() {
    let mut g = Graph::new("as");
    let wide = Tensor::new(vec![2], Data::I64(vec![-3, 9_000_000_000])).expect("2 elements");
    g.add_input("z", f32s(&[2]), Some(wide));
    let text = print(&g);
    assert!(
        text.contains("{default = [-3, 9000000000] as i64[2]}"),
        "{text}"
    );
    assert_eq!(round_trip(&g), g);
}

#[test]
fn a_file_default_is_a_quoted_path() {
    let mut g = Graph::new("files");
    let x = g.add_input("x", f32s(&[2]), None);
    let path = "/data/a \"b\"\\c.npy";
    g.node_mut(x).op = Op::Input {
        name: "x".into(),
        default: Some(InputDefault::File(path.into())),
    };
    g.outputs.push(("y".into(), x));
    let text = print(&g);
    assert!(
        text.contains(r#"{default = "/data/a \"b\"\\c.npy"}"#),
        "{text}"
    );
    assert_eq!(verify(&g), Ok(()));
    assert_eq!(round_trip(&g), g);
}

#[test]
fn modules_hold_several_graphs() {
    let mut a = Graph::new("a");
    let x = a.add_input("x", f32s(&[3]), None);
    a.outputs.push(("x".into(), x));
    let b = Graph::new("b");
    let text = print_module(&[a.clone(), b.clone()]);
    assert_eq!(parse_module(&text), Ok(vec![a, b]));
    assert!(parse(&text)
        .unwrap_err()
        .message
        .contains("expected one graph, found 2"));
}
