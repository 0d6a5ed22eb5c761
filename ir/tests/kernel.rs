//! The Kernel IR's text form (round trip, errors with line:col), its
//! verifier (one case a rule), and the index simplifier (property test:
//! simplifying never changes an index's value).

use proptest::prelude::*;
use tfg_ir::kernel::{
    self, BufId, Buffer, Expr, Gemm, Index, Kernel, Local, LoopKind, MatRef, Plan, Program, Ranges,
    Role, Scalar, Stmt, Var,
};
use tfg_ir::{BinaryOp, DType, Data, UnaryOp};

/// Every statement, expression, literal and role the text form has.
const EVERYTHING: &str = r#"program {
  buffer b0: f32[2, 3] input 0 "x"
  buffer b1: i64[3] const [-1, 0, 9223372036854775807]
  buffer b2: f64[2] const [nan, -0.0]
  buffer b3: bool[2] const [true, false]
  buffer b4: i32[2] param 0 "odd \"name\"\\"
  buffer b5: f32[2, 2] temp @ 0
  buffer b6: f32[2] output 0 "y"
  buffer b7: i32[2] update 0
  buffer b8: f32 output 1
  arena 64
  kernel k0 reads b0 writes b5 {
    gemm b5[0] ld 2 stride 4 = b0[0] ld 3 stride 0 @ b0[0] ld 3 stride 0 trans {m = 2, n = 2, k = 3, batch = 1, alpha = 1.0, beta = 0.0}
  }
  kernel "k 1" reads b1, b2, b3, b4, b5 writes b6, b7, b8 {
    let t0: f64 = 0.0f64
    reduce(t0: add) for i0 in 0..2 {
      let t1: bool = select(b3[i0], lt(b2[(i0 + 1) % 2], 1e-300f64), not(b3[1]))
      let t2: f32 = cast<f32>(add(cast<i64>(b4[i0]), b1[i0 * 2 / 3]))
      store b6[i0] = select(t1, maximum(t2, -inf), neg(nan(0x7fc00001)))
      store b7[i0] = pow(b4[i0], -3i32)
      for i1 in 0..2 {
        t0 = add(t0, cast<f64>(b5[i0 * 2 + i1]))
      }
    }
    store b8[0] = add(cast<f32>(t0), cast<f32>(eq(index(0), 1i64)))
  }
}
"#;

#[test]
fn the_text_form_reads_back_to_itself() {
    let p = kernel::parse(EVERYTHING).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kernel::print(&p), EVERYTHING);
    kernel::verify(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.buffers[4].name.as_deref(), Some("odd \"name\"\\"));
    assert_eq!(p.plan.offsets[5], Some(0));
    let Role::Const(Data::F64(v)) = &p.buffers[2].role else {
        panic!("b2 is an f64 constant")
    };
    assert!(v[0].is_nan() && v[1] == 0.0 && v[1].is_sign_negative());
}

#[test]
fn floats_keep_their_bits() {
    let weird = [
        f32::from_bits(0x7fc0_0001),
        f32::from_bits(0xffc0_0000),
        -0.0,
        1e-45,
        f32::MAX,
        0.1,
    ];
    let body = weird
        .iter()
        .enumerate()
        .map(|(i, &x)| Stmt::Store {
            buf: BufId(0),
            index: Index::Const(i as u64),
            value: Expr::Const(Scalar::F32(x)),
        })
        .collect();
    let p = Program {
        buffers: vec![Buffer {
            dtype: DType::F32,
            shape: vec![6],
            role: Role::Output(0),
            name: None,
            initial: None,
        }],
        kernels: vec![Kernel {
            name: "k".into(),
            reads: vec![],
            writes: vec![BufId(0)],
            body,
        }],
        plan: Plan {
            arena_bytes: 0,
            offsets: vec![None],
        },
    };
    let back = kernel::parse(&kernel::print(&p)).unwrap_or_else(|e| panic!("{e}"));
    let bits = |p: &Program| -> Vec<u32> {
        let mut v = Vec::new();
        Stmt::walk(&p.kernels[0].body, &mut |s| {
            if let Stmt::Store {
                value: Expr::Const(Scalar::F32(x)),
                ..
            } = s
            {
                v.push(x.to_bits());
            }
        });
        v
    };
    assert_eq!(bits(&back), weird.map(f32::to_bits));
}

#[test]
fn index_arithmetic_prints_with_the_parentheses_it_needs() {
    let v = |i| Box::new(Index::Var(Var(i)));
    let sum = Index::Add(v(0), Box::new(Index::Add(v(1), Box::new(Index::Const(2)))));
    let scaled = Index::Rem(Box::new(Index::Mul(Box::new(Index::Add(v(0), v(1))), 3)), 4);
    let body = vec![Stmt::Loop {
        var: Var(0),
        extent: 2,
        kind: LoopKind::Serial,
        body: vec![Stmt::Loop {
            var: Var(1),
            extent: 2,
            kind: LoopKind::Serial,
            body: vec![
                Stmt::Let {
                    local: Local(0),
                    dtype: DType::I64,
                    value: Expr::Index(sum.clone()),
                },
                Stmt::Store {
                    buf: BufId(0),
                    index: scaled.clone(),
                    value: Expr::Local(Local(0)),
                },
            ],
        }],
    }];
    let p = Program {
        buffers: vec![Buffer {
            dtype: DType::I64,
            shape: vec![4],
            role: Role::Output(0),
            name: None,
            initial: None,
        }],
        kernels: vec![Kernel {
            name: "k".into(),
            reads: vec![],
            writes: vec![BufId(0)],
            body,
        }],
        plan: Plan {
            arena_bytes: 0,
            offsets: vec![None],
        },
    };
    let text = kernel::print(&p);
    assert!(text.contains("index(i0 + (i1 + 2))"), "{text}");
    assert!(text.contains("store b0[(i0 + i1) * 3 % 4]"), "{text}");
    assert_eq!(kernel::parse(&text), Ok(p));
}

fn error_at(text: &str) -> (u32, u32, String) {
    let e = kernel::parse(text).expect_err("expected a parse error");
    (e.line, e.col, e.message)
}

#[test]
fn parse_errors_say_where() {
    let text = "program {\n  buffer b0: f32[2] output 0\n  arena 0\n  kernel k writes b0 {\n    stor b0[0] = 1.0\n  }\n}\n";
    let (line, col, msg) = error_at(text);
    assert_eq!((line, col), (5, 5));
    assert!(msg.starts_with("expected a statement"), "{msg}");

    let (line, col, msg) = error_at("program {\n  buffer b0: f16[2] temp\n}");
    assert_eq!((line, col), (2, 14));
    assert!(msg.contains("expected a dtype, found `f16`"), "{msg}");

    let (line, col, msg) = error_at("program {\n  buffer b1: f32 temp\n  arena 0\n}");
    assert_eq!((line, col), (2, 10));
    assert!(msg.contains("expected buffer b0 next"), "{msg}");

    let (line, _, msg) =
        error_at("program {\n  arena 0\n  kernel k {\n    let t0: f32 = 1.5q\n  }\n}");
    assert_eq!(line, 4);
    assert!(msg.contains("unknown literal suffix `q`"), "{msg}");

    let (_, _, msg) = error_at("program { arena 0 } trailing");
    assert!(msg.contains("end of the text"), "{msg}");
}

/// A valid one-kernel program to break, one rule at a time.
fn base() -> Program {
    kernel::parse(
        "program {
  buffer b0: f32[4] input 0
  buffer b1: f32[4] temp @ 0
  buffer b2: f32[4] output 0
  arena 64
  kernel k0 reads b0 writes b1 {
    parallel for i0 in 0..4 {
      store b1[i0] = exp(b0[i0])
    }
  }
  kernel k1 reads b1 writes b2 {
    parallel for i0 in 0..4 {
      let t0: f32 = b1[i0]
      store b2[i0] = mul(t0, t0)
    }
  }
}",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn verify_error(edit: impl FnOnce(&mut Program)) -> String {
    let mut p = base();
    edit(&mut p);
    kernel::verify(&p)
        .expect_err("expected a verifier error")
        .to_string()
}

fn body(p: &mut Program, k: usize) -> &mut Vec<Stmt> {
    let Stmt::Loop { body, .. } = &mut p.kernels[k].body[0] else {
        panic!("a loop")
    };
    body
}

#[test]
fn the_verifier_accepts_the_base_program() {
    assert_eq!(kernel::verify(&base()), Ok(()));
}

#[test]
fn the_verifier_checks_roles_and_the_plan() {
    let e = verify_error(|p| p.buffers[0].role = Role::Input(1));
    assert!(e.contains("input 0 is missing"), "{e}");
    let e = verify_error(|p| p.plan.offsets[1] = None);
    assert!(
        e.contains("b1 is a temporary the plan does not place"),
        "{e}"
    );
    let e = verify_error(|p| p.plan.offsets[1] = Some(32));
    assert!(e.contains("not a multiple of 64"), "{e}");
    let e = verify_error(|p| p.plan.arena_bytes = 8);
    assert!(e.contains("ends past the arena"), "{e}");
    let e = verify_error(|p| {
        p.buffers[2].role = Role::Temp;
        p.buffers.push(Buffer {
            dtype: DType::F32,
            shape: vec![4],
            role: Role::Output(0),
            name: None,
            initial: None,
        });
        p.plan.offsets = vec![None, Some(0), Some(0), None];
        p.kernels.push(Kernel {
            name: "k2".into(),
            reads: vec![BufId(1), BufId(2)],
            writes: vec![BufId(3)],
            body: vec![Stmt::Store {
                buf: BufId(3),
                index: Index::Const(0),
                value: Expr::Binary(
                    BinaryOp::Add,
                    Box::new(Expr::Load {
                        buf: BufId(1),
                        index: Index::Const(0),
                    }),
                    Box::new(Expr::Load {
                        buf: BufId(2),
                        index: Index::Const(0),
                    }),
                ),
            }],
        });
    });
    assert!(
        e.contains("b1 and b2 share arena bytes while both are live"),
        "{e}"
    );
    let e = verify_error(|p| p.buffers[1].role = Role::Const(Data::F32(vec![1.0])));
    assert!(e.contains("constant holds 1 f32 elements"), "{e}");
}

#[test]
fn the_verifier_checks_reads_writes_and_order() {
    let e = verify_error(|p| p.kernels[0].reads.clear());
    assert!(
        e.contains("kernel k0: declares reads nothing but its body reads b0"),
        "{e}"
    );
    let e = verify_error(|p| p.kernels.swap(0, 1));
    assert!(
        e.contains("kernel k1: reads b1, which no kernel has written yet"),
        "{e}"
    );
    let e = verify_error(|p| {
        p.kernels[1].writes = vec![BufId(0)];
        if let Stmt::Store { buf, .. } = &mut body(p, 1)[1] {
            *buf = BufId(0);
        }
    });
    assert!(e.contains("writes b0, which is read-only"), "{e}");
    let e = verify_error(|p| p.kernels[1].name = "k0".into());
    assert!(e.contains("a kernel of this name comes earlier"), "{e}");
}

#[test]
fn the_verifier_checks_scopes_types_and_bounds() {
    let e = verify_error(|p| body(p, 1).swap(0, 1));
    assert!(
        e.contains("t0 is used outside the scope of its definition"),
        "{e}"
    );
    let e = verify_error(|p| {
        if let Stmt::Store { value, .. } = &mut body(p, 1)[1] {
            *value = Expr::Cast(DType::F64, Box::new(value.clone()));
        }
    });
    assert!(
        e.contains("stores a f64 value into b2, a f32 buffer"),
        "{e}"
    );
    let e = verify_error(|p| {
        if let Stmt::Store { value, .. } = &mut body(p, 0)[0] {
            *value = Expr::Unary(UnaryOp::Not, Box::new(value.clone()));
        }
    });
    assert!(e.contains("not: needs a bool operand"), "{e}");
    let e = verify_error(|p| {
        if let Stmt::Store { index, .. } = &mut body(p, 0)[0] {
            *index = Index::Add(Box::new(index.clone()), Box::new(Index::Const(1)));
        }
    });
    assert!(e.contains("accesses b1[4], past its 4 elements"), "{e}");
    let e = verify_error(|p| {
        let inner = body(p, 1).clone();
        body(p, 1).push(Stmt::Loop {
            var: Var(0),
            extent: 1,
            kind: LoopKind::Serial,
            body: inner,
        });
    });
    assert!(e.contains("loop variable i0 is defined twice"), "{e}");
    let e = verify_error(|p| {
        body(p, 1).push(Stmt::Assign {
            local: Local(0),
            value: Expr::Const(Scalar::I32(1)),
        });
    });
    assert!(e.contains("t0 is f32 but is assigned a i32 value"), "{e}");
}

/// `base` with a sum of `b1` into `b2[0]`, over a loop of kind `kind` whose
/// update is `update` (the accumulator is t1).
fn summed(kind: &str, update: &str) -> Result<Program, String> {
    let text = format!(
        "program {{
  buffer b0: f32[4] input 0
  buffer b1: f32[4] output 0
  arena 0
  kernel k0 reads b0 writes b1 {{
    let t1: f32 = 0.0
    {kind}for i0 in 0..4 {{
      {update}
    }}
    store b1[0] = t1
  }}
}}"
    );
    let p = kernel::parse(&text).map_err(|e| e.to_string())?;
    kernel::verify(&p).map_err(|e| e.to_string())?;
    Ok(p)
}

#[test]
fn the_verifier_checks_what_a_loop_kind_promises() {
    let p = summed("reduce(t1: add) ", "t1 = add(b0[i0], t1)").expect("a sum");
    assert!(kernel::print(&p).contains("reduce(t1: add) for i0 in 0..4 {"));
    let Stmt::Loop { kind, .. } = &p.kernels[0].body[1] else {
        panic!("a loop")
    };
    assert_eq!(kind.accumulators(), &[(Local(1), BinaryOp::Add)]);
    // A serial loop may update an enclosing local any way it likes.
    summed("", "t1 = sub(t1, b0[i0])").expect("serial");
    let cases = [
        (
            "parallel ",
            "t1 = add(t1, b0[i0])",
            "parallel loop i0 assigns t1",
        ),
        (
            "reduce(t1: mul) ",
            "t1 = add(t1, b0[i0])",
            "updates t1 other than as t1 = mul(t1, …)",
        ),
        (
            "reduce(t1: sub) ",
            "t1 = sub(t1, b0[i0])",
            "by sub, which does not accumulate",
        ),
        (
            "reduce(t1: add) ",
            "t1 = add(t1, t1)",
            "updates t1 other than as",
        ),
        (
            "reduce(t1: add) ",
            "t1 = add(t1, b0[i0])\n      store b1[i0] = t1",
            "reads t1 other than in its updates",
        ),
        (
            "reduce(t1: add) ",
            "store b1[i0] = b0[i0]",
            "never updates t1",
        ),
        (
            "reduce(t1: add, t1: add) ",
            "t1 = add(t1, b0[i0])",
            "lists t1 twice",
        ),
        (
            "reduce(t2: add) ",
            "t1 = add(t1, b0[i0])",
            "t2 is used outside the scope",
        ),
    ];
    for (kind, update, expected) in cases {
        let e = summed(kind, update).expect_err(expected);
        assert!(e.contains(expected), "{kind}/{update}: {e}");
    }
    let e = kernel::parse("program { arena 0 kernel k { reduce(t0: add) let t0: f32 = 1.0 } }")
        .expect_err("a kind without a loop");
    assert!(
        e.message.contains("expected `for` after the loop's kind"),
        "{e}"
    );
}

#[test]
fn the_verifier_checks_gemms() {
    let gemm = |alpha: f64| Gemm {
        m: 2,
        n: 2,
        k: 2,
        batch: 1,
        a: MatRef {
            buf: BufId(0),
            offset: Index::Const(0),
            ld: 2,
            stride: 0,
        },
        b: MatRef {
            buf: BufId(0),
            offset: Index::Const(0),
            ld: 2,
            stride: 0,
        },
        c: MatRef {
            buf: BufId(1),
            offset: Index::Const(0),
            ld: 2,
            stride: 4,
        },
        trans_a: false,
        trans_b: true,
        alpha,
        beta: 0.0,
    };
    let program = |dtype: DType, alpha: f64, b_len: u64| Program {
        buffers: vec![
            Buffer {
                dtype,
                shape: vec![4],
                role: Role::Input(0),
                name: None,
                initial: None,
            },
            Buffer {
                dtype,
                shape: vec![b_len],
                role: Role::Output(0),
                name: None,
                initial: None,
            },
        ],
        kernels: vec![Kernel {
            name: "k".into(),
            reads: vec![BufId(0)],
            writes: vec![BufId(1)],
            body: vec![Stmt::Gemm(gemm(alpha))],
        }],
        plan: Plan {
            arena_bytes: 0,
            offsets: vec![None, None],
        },
    };
    assert_eq!(kernel::verify(&program(DType::F32, 0.5, 4)), Ok(()));
    let e = kernel::verify(&program(DType::I32, 2.0, 4))
        .expect_err("integer alpha")
        .to_string();
    assert!(e.contains("an integer gemm takes alpha 1"), "{e}");
    let e = kernel::verify(&program(DType::F32, 1.0, 3))
        .expect_err("too small")
        .to_string();
    assert!(e.contains("accesses b1[3], past its 3 elements"), "{e}");
    let e = kernel::verify(&program(DType::Bool, 1.0, 4))
        .expect_err("bool")
        .to_string();
    assert!(e.contains("gemm on bool"), "{e}");
}

/// A random index expression over variables `i0..i2`.
fn arb_index() -> impl Strategy<Value = Index> {
    let leaf = prop_oneof![
        (0u64..20).prop_map(Index::Const),
        (0u32..3).prop_map(|v| Index::Var(Var(v)))
    ];
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Index::Add(Box::new(a), Box::new(b))),
            (inner.clone(), 0u64..7).prop_map(|(a, c)| Index::Mul(Box::new(a), c)),
            (inner.clone(), 1u64..9).prop_map(|(a, c)| Index::Div(Box::new(a), c)),
            (inner, 1u64..9).prop_map(|(a, c)| Index::Rem(Box::new(a), c)),
        ]
    })
}

proptest! {
    #[test]
    fn simplifying_an_index_keeps_its_value(
        e in arb_index(),
        extents in proptest::collection::vec(1u64..7, 3),
        seed in any::<u64>(),
    ) {
        let mut r = Ranges::new();
        for (i, &n) in extents.iter().enumerate() {
            r.set(Var(i as u32), n);
        }
        let a = r.affine(&e);
        let simple = a.to_index();
        // The canonical form is a fixed point.
        prop_assert_eq!(r.affine(&simple), a.clone());
        let values: Vec<u64> = extents.iter().enumerate().map(|(i, &n)| (seed >> (8 * i)) % n).collect();
        let val = |v: Var| values.get(v.0 as usize).copied();
        prop_assert_eq!(simple.eval(&val), e.eval(&val));
        prop_assert!(simple.eval(&val).unwrap_or(0) <= r.max(&a));
    }
}
