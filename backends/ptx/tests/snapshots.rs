//! The PTX of a few small kernels, as snapshots: what the generated code
//! looks like, and a record of every change to it.

mod common;

fn ptx(g: &tfg_ir::Graph) -> String {
    tfg_ptx::compile_ptx(&common::lower(g), "sm_80")
        .expect("compiles")
        .ptx
}

#[test]
fn vectorised_elementwise_kernel() {
    insta::assert_snapshot!(ptx(&common::elementwise(&[1024])));
}

#[test]
fn relu_with_a_scalar_param() {
    use tfg_ir::{BinaryOp, DType, Graph, Init, Op, Shape, Type, UnaryOp};
    let mut g = Graph::new("scaled_relu");
    let x = g.add_input("x", Type::new(DType::F32, Shape::known(&[256])), None);
    let s = g.add_param("s", Type::scalar(DType::F32), Init::Ones);
    let y = g.add(Op::Binary(BinaryOp::Mul), &[x, s]).expect("mul");
    let y = g.add(Op::Unary(UnaryOp::Relu), &[y]).expect("relu");
    g.outputs.push(("y".into(), y));
    insta::assert_snapshot!(ptx(&g));
}

#[test]
fn row_sums_with_warp_shuffles() {
    use tfg_ir::{DType, Graph, Op, ReduceOp, Shape, Type};
    let mut g = Graph::new("row_sums");
    let x = g.add_input("x", Type::new(DType::F32, Shape::known(&[64, 256])), None);
    let y = g
        .add(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes: vec![1],
                keepdims: false,
            },
            &[x],
        )
        .expect("sum");
    g.outputs.push(("y".into(), y));
    insta::assert_snapshot!(ptx(&g));
}
