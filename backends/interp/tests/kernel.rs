//! The Kernel IR interpreter on hand-written programs, against hand-derived
//! results: GEMM in its transposed, batched and broadcast forms, scalar
//! semantics, the arena, and malformed programs and feeds.

use tfg_interp::kernel::run_program;
use tfg_ir::kernel::{self, Program};
use tfg_ir::{Data, Tensor};

fn program(text: &str) -> Program {
    kernel::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::new(shape.to_vec(), Data::F32(v.to_vec())).expect("matching shape")
}

fn run(p: &Program, inputs: &[Tensor]) -> Vec<Tensor> {
    run_program(p, inputs, &[])
        .unwrap_or_else(|e| panic!("{e}"))
        .outputs
}

#[test]
fn gemm_reads_transposed_and_broadcast_operands() {
    // a = [[1, 2, 3], [4, 5, 6]] stored transposed (3 × 2); b = [[1, 0], [0, 1], [1, 1]].
    // a @ b = [[4, 5], [10, 11]]; two batches share b (stride 0), the second
    // a is a scaled by 10 (so its product is 10 times the first).
    let p = program(
        "program {
  buffer b0: f32[2, 3, 2] input 0
  buffer b1: f32[3, 2] input 1
  buffer b2: f32[2, 2, 2] output 0
  arena 0
  kernel k reads b0, b1 writes b2 {
    gemm b2[0] ld 2 stride 4 = b0[0] ld 2 stride 6 trans @ b1[0] ld 2 stride 0 {m = 2, n = 2, k = 3, batch = 2, alpha = 1.0, beta = 0.0}
  }
}",
    );
    let a = f32s(
        &[2, 3, 2],
        &[1., 4., 2., 5., 3., 6., 10., 40., 20., 50., 30., 60.],
    );
    let b = f32s(&[3, 2], &[1., 0., 0., 1., 1., 1.]);
    assert_eq!(
        run(&p, &[a, b])[0].data,
        Data::F32(vec![4., 5., 10., 11., 40., 50., 100., 110.])
    );
}

#[test]
fn gemm_scales_and_accumulates() {
    // c = 2 · ([1, 2] @ [[3], [4]]) + 1 · c, where c starts as 11 · 0.5 written by the first statement.
    let p = program(
        "program {
  buffer b0: i64[2] input 0
  buffer b1: f64[1] output 0
  buffer b2: f64[2] input 1
  arena 0
  kernel k reads b1, b2 writes b1 {
    store b1[0] = mul(11.0f64, 0.5f64)
    gemm b1[0] ld 1 stride 1 = b2[0] ld 2 stride 2 @ b2[0] ld 1 stride 2 {m = 1, n = 1, k = 2, batch = 1, alpha = 2.0, beta = 1.0}
  }
}",
    );
    let i = Tensor::new(vec![2], Data::I64(vec![0, 0])).expect("2");
    let x = Tensor::new(vec![2], Data::F64(vec![3.0, 4.0])).expect("2");
    // [3, 4] · [3, 4] = 25; 2 · 25 + 5.5 = 55.5.
    assert_eq!(run(&p, &[i, x])[0].data, Data::F64(vec![55.5]));
}

#[test]
fn scalar_ops_follow_the_graph_semantics() {
    let p = program(
        "program {
  buffer b0: i32[4] output 0
  buffer b1: bool[3] output 1
  buffer b2: f32[3] output 2
  arena 0
  kernel k writes b0, b1, b2 {
    store b0[0] = div(-7i32, 2i32)
    store b0[1] = div(5i32, 0i32)
    store b0[2] = add(2147483647i32, 1i32)
    store b0[3] = cast<i32>(-2.9)
    store b1[0] = cast<bool>(nan)
    store b1[1] = lt(nan, 1.0)
    store b1[2] = ne(nan, nan)
    store b2[0] = maximum(1.0, nan)
    store b2[1] = sigmoid(-1000.0)
    store b2[2] = sign(-0.0)
  }
}",
    );
    let out = run(&p, &[]);
    // Python: -7 // 2 == -4; x // 0 is 0 by the type rule; i32 wraps; casts truncate.
    assert_eq!(out[0].data, Data::I32(vec![-4, 0, i32::MIN, -2]));
    assert_eq!(out[1].data, Data::Bool(vec![true, false, true]));
    let Data::F32(f) = &out[2].data else {
        panic!("f32 output")
    };
    assert!(f[0].is_nan());
    assert_eq!(&f[1..], &[0.0, 0.0]);
}

/// Two temporaries in the same bytes, one after the other: `t = x + 1`,
/// `u = t · 2`, `v = u − 1` with `t` and `v` sharing memory.
const SHARED: &str = "program {
  buffer b0: f32[3] input 0
  buffer b1: f32[3] temp @ 0
  buffer b2: f32[3] temp @ 64
  buffer b3: f32[3] temp @ 0
  buffer b4: f32[3] output 0
  arena 128
  kernel k0 reads b0 writes b1 {
    for i0 in 0..3 {
      store b1[i0] = add(b0[i0], 1.0)
    }
  }
  kernel k1 reads b1 writes b2 {
    for i0 in 0..3 {
      store b2[i0] = mul(b1[i0], 2.0)
    }
  }
  kernel k2 reads b2 writes b3 {
    for i0 in 0..3 {
      store b3[i0] = sub(b2[i0], 1.0)
    }
  }
  kernel k3 reads b3 writes b4 {
    for i0 in 0..3 {
      store b4[i0] = b3[i0]
    }
  }
}";

#[test]
fn temporaries_live_where_the_plan_puts_them() {
    let out = run(&program(SHARED), &[f32s(&[3], &[0.0, 1.0, 2.5])]);
    assert_eq!(out[0].data, Data::F32(vec![1.0, 3.0, 6.0]));
    // Put b3 over b2, which k2 reads while writing b3: the verifier refuses.
    let bad = program(&SHARED.replace("buffer b3: f32[3] temp @ 0", "buffer b3: f32[3] temp @ 64"));
    let e =
        run_program(&bad, &[f32s(&[3], &[0.0; 3])], &[]).expect_err("overlapping live temporaries");
    assert!(
        e.message
            .contains("b2 and b3 share arena bytes while both are live"),
        "{}",
        e.message
    );
}

#[test]
fn memory_nobody_wrote_reads_as_nan() {
    let p = program(
        "program {
  buffer b0: f32[2] temp @ 0
  buffer b1: f32 output 0
  arena 64
  kernel k reads b0 writes b0, b1 {
    store b0[0] = 1.0
    store b1[0] = add(b0[0], b0[1])
  }
}",
    );
    let out = run(&p, &[]);
    let Data::F32(v) = &out[0].data else {
        panic!("f32")
    };
    assert!(v[0].is_nan());
}

#[test]
fn bad_feeds_and_accesses_are_errors() {
    let p = program(SHARED);
    let e = run_program(&p, &[], &[]).expect_err("missing input");
    assert!(
        e.message
            .contains("takes 1 inputs and 0 params, but was given 0 and 0"),
        "{}",
        e.message
    );
    let e = run_program(&p, &[f32s(&[4], &[0.0; 4])], &[]).expect_err("wrong shape");
    assert!(
        e.message.contains("must be f32 [3], but was given f32 [4]"),
        "{}",
        e.message
    );
    // `i0 * 3 % 5` reaches 4 (at i0 = 3): the verifier cannot bound it, the run can.
    let p = program(
        "program {
  buffer b0: f32[4] input 0
  buffer b1: f32[5] output 0
  arena 0
  kernel k reads b0 writes b1 {
    for i0 in 0..5 {
      store b1[i0] = b0[i0 * 3 % 5]
    }
  }
}",
    );
    let e = run_program(&p, &[f32s(&[4], &[0.0; 4])], &[]).expect_err("out of bounds");
    assert_eq!(e.message, "kernel k: b0[4] is past its 4 elements");
}
