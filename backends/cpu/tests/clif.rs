//! The CLIF the JIT generates for W1's elementwise kernel,
//! `y = tanh(0.5*x + 0.1) * sigmoid(x) + x*x` over f32[1000]: one loop of
//! f32x4 vectors (the math inline) and its scalar tail.

use tfg_ir::{BinaryOp, DType, Graph, Op, Shape, Tensor, Type, UnaryOp, ValueId};

fn add(g: &mut Graph, op: Op, args: &[ValueId]) -> ValueId {
    g.add(op, args)
        .unwrap_or_else(|e| panic!("test graph: {e}"))
}

fn w1(n: u64) -> Graph {
    let mut g = Graph::new("w1");
    let x = g.add_input("x", Type::new(DType::F32, Shape::known(&[n])), None);
    let half = add(&mut g, Op::Const(Tensor::scalar_f32(0.5)), &[]);
    let tenth = add(&mut g, Op::Const(Tensor::scalar_f32(0.1)), &[]);
    let a = add(&mut g, Op::Binary(BinaryOp::Mul), &[half, x]);
    let a = add(&mut g, Op::Binary(BinaryOp::Add), &[a, tenth]);
    let t = add(&mut g, Op::Unary(UnaryOp::Tanh), &[a]);
    let s = add(&mut g, Op::Unary(UnaryOp::Sigmoid), &[x]);
    let ts = add(&mut g, Op::Binary(BinaryOp::Mul), &[t, s]);
    let xx = add(&mut g, Op::Binary(BinaryOp::Mul), &[x, x]);
    let y = add(&mut g, Op::Binary(BinaryOp::Add), &[ts, xx]);
    g.outputs.push(("y".into(), y));
    g
}

#[test]
fn w1_is_one_vectorised_loop_and_a_scalar_tail() {
    let g = w1(1000);
    let p = tfg_passes::lower::lower(&g, &tfg_passes::fuse::fuse(&g)).expect("lowers");
    // Without FMA the text is the same on every x86-64 host.
    let opts = tfg_cpu::Options {
        fma: false,
        ..Default::default()
    };
    let text = tfg_cpu::clif_with(&p, &opts).expect("translates");
    // x is read once a vector step and once a tail step; y written likewise.
    assert_eq!(text.matches("load.f32x4").count(), 1, "{text}");
    assert_eq!(text.matches("load.f32 ").count(), 1, "{text}");
    assert_eq!(
        text.matches("store notrap v").count() + text.matches("store notrap aligned").count(),
        2,
        "{text}"
    );
    // No runtime calls: tanh and sigmoid are inline.
    assert!(!text.contains("call "), "{text}");
    insta::assert_snapshot!(text);
}
