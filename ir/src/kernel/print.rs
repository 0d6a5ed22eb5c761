//! Kernel IR → text, one statement a line.

use super::{
    Buffer, Expr, Gemm, Index, Initial, Kernel, LoopKind, MatRef, Program, Role, Scalar, Stmt,
};
use crate::tensor::Data;
use std::fmt::Write;

/// The text form of `p`; [`super::parse`] reads it back to an equal program.
pub fn print(p: &Program) -> String {
    let mut out = String::from("program {\n");
    for (i, b) in p.buffers.iter().enumerate() {
        let offset = p.plan.offsets.get(i).copied().flatten();
        let _ = writeln!(out, "  buffer b{i}: {}", buffer(b, offset));
    }
    let _ = writeln!(out, "  arena {}", p.plan.arena_bytes);
    for k in &p.kernels {
        kernel(&mut out, k);
    }
    out.push_str("}\n");
    out
}

fn buffer(b: &Buffer, offset: Option<u64>) -> String {
    let mut s = ty(b);
    match &b.role {
        Role::Input(i) => write!(s, " input {i}"),
        Role::Param(i) => write!(s, " param {i}"),
        Role::Output(i) => write!(s, " output {i}"),
        Role::Update(i) => write!(s, " update {i}"),
        Role::Temp => write!(s, " temp"),
        Role::Const(d) => write!(s, " const [{}]", data(d)),
    }
    .ok();
    if let Some(o) = offset {
        let _ = write!(s, " @ {o}");
    }
    if let Some(n) = &b.name {
        let _ = write!(s, " {}", quoted(n));
    }
    match &b.initial {
        Some(Initial::Default(d)) => {
            let _ = write!(s, " default = {}", crate::text::default_text(d, b.dtype));
        }
        Some(Initial::Init(i)) => {
            let _ = write!(s, " init = {}", crate::text::init_text(i, b.dtype));
        }
        None => {}
    }
    s
}

fn ty(b: &Buffer) -> String {
    if b.shape.is_empty() {
        return b.dtype.to_string();
    }
    let dims: Vec<String> = b.shape.iter().map(u64::to_string).collect();
    format!("{}[{}]", b.dtype, dims.join(", "))
}

fn data(d: &Data) -> String {
    let elems: Vec<String> = match d {
        Data::F32(v) => v.iter().map(|&x| f32_text(x)).collect(),
        Data::F64(v) => v.iter().map(|&x| f64_text(x)).collect(),
        Data::I32(v) => v.iter().map(i32::to_string).collect(),
        Data::I64(v) => v.iter().map(i64::to_string).collect(),
        Data::Bool(v) => v.iter().map(bool::to_string).collect(),
    };
    elems.join(", ")
}

pub(super) fn quoted(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn kernel(out: &mut String, k: &Kernel) {
    let mut head = format!("  kernel {}", quoted_if_needed(&k.name));
    for (word, bufs) in [("reads", &k.reads), ("writes", &k.writes)] {
        if !bufs.is_empty() {
            let names: Vec<String> = bufs.iter().map(|b| b.to_string()).collect();
            let _ = write!(head, " {word} {}", names.join(", "));
        }
    }
    let _ = writeln!(out, "{head} {{");
    block(out, &k.body, 2);
    out.push_str("  }\n");
}

fn quoted_if_needed(s: &str) -> String {
    let ident = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        s.to_string()
    } else {
        quoted(s)
    }
}

fn block(out: &mut String, body: &[Stmt], depth: usize) {
    let pad = "  ".repeat(depth);
    for s in body {
        match s {
            Stmt::Loop {
                var,
                extent,
                kind,
                body,
            } => {
                let kind = match kind {
                    LoopKind::Serial => String::new(),
                    LoopKind::Parallel => "parallel ".into(),
                    LoopKind::Reduce(accs) => {
                        let accs: Vec<String> = accs
                            .iter()
                            .map(|(t, op)| format!("{t}: {}", op.name()))
                            .collect();
                        format!("reduce({}) ", accs.join(", "))
                    }
                };
                let _ = writeln!(out, "{pad}{kind}for {var} in 0..{extent} {{");
                block(out, body, depth + 1);
                let _ = writeln!(out, "{pad}}}");
            }
            Stmt::Let {
                local,
                dtype,
                value,
            } => {
                let _ = writeln!(out, "{pad}let {local}: {dtype} = {}", expr(value));
            }
            Stmt::Assign { local, value } => {
                let _ = writeln!(out, "{pad}{local} = {}", expr(value));
            }
            Stmt::Store {
                buf,
                index: i,
                value,
            } => {
                let _ = writeln!(out, "{pad}store {buf}[{}] = {}", index(i), expr(value));
            }
            Stmt::Gemm(g) => {
                let _ = writeln!(out, "{pad}{}", gemm(g));
            }
        }
    }
}

fn gemm(g: &Gemm) -> String {
    let m = |r: &MatRef, trans: bool| {
        let t = if trans { " trans" } else { "" };
        format!(
            "{}[{}] ld {} stride {}{t}",
            r.buf,
            index(&r.offset),
            r.ld,
            r.stride
        )
    };
    format!(
        "gemm {} = {} @ {} {{m = {}, n = {}, k = {}, batch = {}, alpha = {}, beta = {}}}",
        m(&g.c, false),
        m(&g.a, g.trans_a),
        m(&g.b, g.trans_b),
        g.m,
        g.n,
        g.k,
        g.batch,
        f64_text(g.alpha),
        f64_text(g.beta)
    )
}

/// Index arithmetic with the usual precedence: `*`, `/`, `%` bind tighter
/// than `+`; all are left-associative.
pub(super) fn index(i: &Index) -> String {
    match i {
        Index::Const(c) => c.to_string(),
        Index::Var(v) => v.to_string(),
        Index::Add(a, b) => {
            let rhs = if matches!(**b, Index::Add(..)) {
                format!("({})", index(b))
            } else {
                index(b)
            };
            format!("{} + {rhs}", index(a))
        }
        Index::Mul(a, c) | Index::Div(a, c) | Index::Rem(a, c) => {
            let op = match i {
                Index::Mul(..) => "*",
                Index::Div(..) => "/",
                _ => "%",
            };
            let lhs = if matches!(**a, Index::Add(..)) {
                format!("({})", index(a))
            } else {
                index(a)
            };
            format!("{lhs} {op} {c}")
        }
    }
}

pub(super) fn expr(e: &Expr) -> String {
    match e {
        Expr::Const(s) => scalar(*s),
        Expr::Local(l) => l.to_string(),
        Expr::Index(i) => format!("index({})", index(i)),
        Expr::Load { buf, index: i } => format!("{buf}[{}]", index(i)),
        Expr::Unary(op, a) => format!("{}({})", op.name(), expr(a)),
        Expr::Binary(op, a, b) => format!("{}({}, {})", op.name(), expr(a), expr(b)),
        Expr::Select(c, a, b) => format!("select({}, {}, {})", expr(c), expr(a), expr(b)),
        Expr::Cast(to, a) => format!("cast<{to}>({})", expr(a)),
    }
}

/// f32 constants are written bare (`0.5`, always with a `.`, an exponent,
/// `inf` or `nan`); every other dtype carries a suffix (`0.5f64`, `3i32`).
fn scalar(s: Scalar) -> String {
    match s {
        Scalar::F32(x) => f32_text(x),
        Scalar::F64(x) => format!("{}f64", f64_text(x)),
        Scalar::I32(x) => format!("{x}i32"),
        Scalar::I64(x) => format!("{x}i64"),
        Scalar::Bool(b) => b.to_string(),
    }
}

/// Shortest text that reads back to the same bits: `{:?}`, `nan` for the
/// canonical NaN, `nan(0x…)` with the bits for any other.
pub(super) fn f32_text(x: f32) -> String {
    match x {
        _ if x.is_nan() && x.to_bits() == f32::NAN.to_bits() => "nan".into(),
        _ if x.is_nan() => format!("nan(0x{:08x})", x.to_bits()),
        _ => format!("{x:?}"),
    }
}

pub(super) fn f64_text(x: f64) -> String {
    match x {
        _ if x.is_nan() && x.to_bits() == f64::NAN.to_bits() => "nan".into(),
        _ if x.is_nan() => format!("nan(0x{:016x})", x.to_bits()),
        _ => format!("{x:?}"),
    }
}
