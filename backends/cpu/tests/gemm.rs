//! `Stmt::Gemm` in every layout the Kernel IR allows — transposes, padded
//! rows, batches with strides or broadcast (stride 0), offsets, alpha and
//! beta, empty dimensions, GEMMs inside loops — in every numeric dtype,
//! against the Kernel IR interpreter.

use proptest::prelude::*;
use tfg_interp::kernel::run_program;
use tfg_ir::kernel::{
    print, BufId, Buffer, Expr, Gemm, Index, Kernel, LoopKind, MatRef, Plan, Program, Role, Stmt,
    Var,
};
use tfg_ir::{DType, Data, Tensor};
use tfg_testkit::{close, Tol};

#[derive(Clone, Debug)]
struct Layout {
    dtype: DType,
    m: u64,
    n: u64,
    k: u64,
    batch: u64,
    trans_a: bool,
    trans_b: bool,
    /// Extra elements at the end of each row of a, b, c.
    pad: [u64; 3],
    /// Whether a and b are one matrix broadcast over the batch.
    broadcast: [bool; 2],
    offset: [u64; 3],
    alpha: f64,
    beta: f64,
    /// Run the GEMM one batch element at a time inside a loop.
    in_loop: bool,
}

/// (rows, cols) of an operand as stored.
fn stored(rows: u64, cols: u64, trans: bool) -> (u64, u64) {
    if trans {
        (cols, rows)
    } else {
        (rows, cols)
    }
}

fn values(dtype: DType, n: u64, seed: u64) -> Data {
    let f = |i: u64| ((i.wrapping_mul(2654435761).wrapping_add(seed) % 17) as f64 - 8.0) / 4.0;
    let n = n as usize;
    match dtype {
        DType::F32 => Data::F32((0..n as u64).map(|i| f(i) as f32).collect()),
        DType::F64 => Data::F64((0..n as u64).map(f).collect()),
        DType::I32 => Data::I32((0..n as u64).map(|i| (f(i) * 4.0) as i32).collect()),
        DType::I64 => Data::I64((0..n as u64).map(|i| (f(i) * 4.0) as i64).collect()),
        DType::Bool => Data::Bool(vec![false; n]),
    }
}

/// A program: `b3 = b2` (so a nonzero beta reads defined values), then the
/// GEMM `b3 = alpha · op(b0) @ op(b1) + beta · b3`.
fn program(l: &Layout) -> (Program, Vec<Tensor>) {
    let ((ra, ca), (rb, cb)) = (stored(l.m, l.k, l.trans_a), stored(l.k, l.n, l.trans_b));
    let lds = [ca + l.pad[0], cb + l.pad[1], l.n + l.pad[2]];
    let rows = [ra, rb, l.m];
    let strides: Vec<u64> = (0..3)
        .map(|i| {
            if i < 2 && l.broadcast[i] {
                0
            } else {
                rows[i] * lds[i] + 1
            }
        })
        .collect();
    let lens: Vec<u64> = (0..3)
        .map(|i| l.offset[i] + (l.batch - 1) * strides[i] + rows[i] * lds[i])
        .collect();
    let buffer = |i: usize, role: Role| Buffer {
        dtype: l.dtype,
        shape: vec![lens[i]],
        role,
        name: None,
        initial: None,
    };
    let buffers = vec![
        buffer(0, Role::Input(0)),
        buffer(1, Role::Input(1)),
        buffer(2, Role::Input(2)),
        buffer(2, Role::Output(0)),
    ];
    let copy = Kernel {
        name: "init".into(),
        reads: vec![BufId(2)],
        writes: vec![BufId(3)],
        body: vec![Stmt::Loop {
            var: Var(0),
            extent: lens[2],
            kind: LoopKind::Parallel,
            body: vec![Stmt::Store {
                buf: BufId(3),
                index: Index::Var(Var(0)),
                value: Expr::Load {
                    buf: BufId(2),
                    index: Index::Var(Var(0)),
                },
            }],
        }],
    };
    let mat = |i: usize, var: Option<Var>| {
        let offset = match var {
            Some(v) => Index::Add(
                Box::new(Index::Mul(Box::new(Index::Var(v)), strides[i])),
                Box::new(Index::Const(l.offset[i])),
            ),
            None => Index::Const(l.offset[i]),
        };
        MatRef {
            buf: BufId(i as u32),
            offset,
            ld: lds[i],
            stride: strides[i],
        }
    };
    let gemm = |var: Option<Var>, batch: u64| {
        Stmt::Gemm(Gemm {
            m: l.m,
            n: l.n,
            k: l.k,
            batch,
            a: mat(0, var),
            b: mat(1, var),
            c: MatRef {
                buf: BufId(3),
                ..mat(2, var)
            },
            trans_a: l.trans_a,
            trans_b: l.trans_b,
            alpha: l.alpha,
            beta: l.beta,
        })
    };
    let body = if l.in_loop {
        vec![Stmt::Loop {
            var: Var(1),
            extent: l.batch,
            kind: LoopKind::Parallel,
            body: vec![gemm(Some(Var(1)), 1)],
        }]
    } else {
        vec![gemm(None, l.batch)]
    };
    let mut reads = vec![BufId(0), BufId(1)];
    if l.beta != 0.0 {
        reads.push(BufId(3));
    }
    let product = Kernel {
        name: "gemm".into(),
        reads,
        writes: vec![BufId(3)],
        body,
    };
    let p = Program {
        buffers,
        kernels: vec![copy, product],
        plan: Plan {
            arena_bytes: 0,
            offsets: vec![None; 4],
        },
    };
    let inputs = (0..3)
        .map(|i| Tensor {
            shape: vec![lens[i] as usize],
            data: values(l.dtype, lens[i], i as u64 * 7 + 1),
        })
        .collect();
    (p, inputs)
}

fn agree(l: &Layout) -> Result<(), String> {
    let (p, inputs) = program(l);
    let want =
        run_program(&p, &inputs, &[]).map_err(|e| format!("interpreter: {e}\n{}", print(&p)))?;
    let mut c = tfg_cpu::compile(&p).map_err(|e| format!("compile: {e}\n{}", print(&p)))?;
    let got = c.run(&inputs, &[]).map_err(|e| format!("run: {e}"))?;
    // The GEMM adds its k products in another order than the interpreter.
    let tol = Tol {
        rel: 1e-4,
        of_largest: 1e-6,
        ..Tol::EXACT
    };
    close(&want.outputs[0], &got.outputs[0], tol).map_err(|e| format!("{l:?}: {e}\n{}", print(&p)))
}

fn arb_layout() -> impl Strategy<Value = Layout> {
    let dims = (0u64..6, 0u64..6, 0u64..6, 1u64..4);
    let flags = (
        any::<bool>(),
        any::<bool>(),
        any::<[bool; 2]>(),
        any::<bool>(),
    );
    let pads = (
        prop::array::uniform3(0u64..3),
        prop::array::uniform3(0u64..3),
    );
    let kinds = (
        prop::sample::select(vec![DType::F32, DType::F64, DType::I32, DType::I64]),
        0usize..3,
        0usize..3,
    );
    (dims, flags, pads, kinds).prop_map(
        |(
            (m, n, k, batch),
            (trans_a, trans_b, broadcast, in_loop),
            (pad, offset),
            (dtype, a, b),
        )| {
            let float = dtype.is_float();
            Layout {
                dtype,
                m,
                n,
                k,
                batch,
                trans_a,
                trans_b,
                pad,
                broadcast,
                offset,
                alpha: if float { [1.0, 0.5, -2.0][a] } else { 1.0 },
                beta: if float {
                    [0.0, 1.0, 0.25][b]
                } else {
                    [0.0, 1.0, 0.0][b]
                },
                in_loop,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_layout_agrees(l in arb_layout()) {
        agree(&l).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn large_products_run_multithreaded_and_agree() {
    for dtype in [DType::F32, DType::F64] {
        for (trans_a, trans_b) in [(false, false), (true, true)] {
            let l = Layout {
                dtype,
                m: 70,
                n: 81,
                k: 93,
                batch: 2,
                trans_a,
                trans_b,
                pad: [1, 0, 2],
                broadcast: [false, true],
                offset: [3, 0, 1],
                alpha: 0.5,
                beta: 0.25,
                in_loop: false,
            };
            agree(&l).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn a_gemm_that_writes_an_operand_is_rejected() {
    let l = Layout {
        dtype: DType::F32,
        m: 2,
        n: 2,
        k: 2,
        batch: 1,
        trans_a: false,
        trans_b: false,
        pad: [0; 3],
        broadcast: [false; 2],
        offset: [0; 3],
        alpha: 1.0,
        beta: 0.0,
        in_loop: false,
    };
    let (mut p, _) = program(&l);
    if let Stmt::Gemm(g) = &mut p.kernels[1].body[0] {
        g.a.buf = BufId(3);
    }
    p.kernels[1].reads = vec![BufId(1), BufId(3)];
    let e = tfg_cpu::compile(&p).err().expect("c aliases a");
    assert!(e.message.contains("also reads"), "{}", e.message);
}
