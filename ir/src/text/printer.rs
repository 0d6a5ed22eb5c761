//! Graph IR → text.

use crate::graph::{Graph, Loc};
use crate::op::{Init, InputDefault, Op};
use crate::tensor::{Data, Tensor};
use crate::types::{DType, Dim, Shape, Type};
use std::collections::HashMap;
use std::fmt::Write;

/// Column at which `loc(…)` starts when the statement is shorter.
const LOC_COLUMN: usize = 56;

pub fn print_graph(out: &mut String, g: &Graph) {
    let labels = labels(g);
    let _ = writeln!(out, "graph {} {{", name(&g.name));
    for (node, label) in g.nodes.iter().zip(&labels) {
        let mut line = format!("  {label} = {}", node.op.name());
        if let Op::Const(t) = &node.op {
            let _ = write!(line, " {}", tensor(t, node.ty.dtype));
        }
        let args: Vec<&str> = node
            .args
            .iter()
            .map(|a| labels.get(a.index()).map_or("%?", String::as_str))
            .collect();
        if !args.is_empty() {
            let _ = write!(line, " {}", args.join(", "));
        }
        let attrs = attrs(&node.op, node.name.as_deref(), node.ty.dtype);
        if !attrs.is_empty() {
            let _ = write!(line, " {{{}}}", attrs.join(", "));
        }
        let _ = write!(line, " : {}", ty(&node.ty));
        if let Some(Loc { line: l, col }) = node.loc {
            let pad = LOC_COLUMN.saturating_sub(line.chars().count()).max(1);
            let _ = write!(line, "{:pad$}loc({l}:{col})", "");
        }
        let _ = writeln!(out, "{line}");
    }
    let label = |v: crate::ValueId| labels.get(v.index()).map_or("%?", String::as_str);
    if !g.outputs.is_empty() {
        let outs: Vec<String> = g
            .outputs
            .iter()
            .map(|(n, v)| format!("{} = {}", name(n), label(*v)))
            .collect();
        let _ = writeln!(out, "  output {}", outs.join(", "));
    }
    for &(p, v) in &g.updates {
        let _ = writeln!(out, "  update {} = {}", label(p), label(v));
    }
    out.push_str("}\n");
}

/// `%name` for a name only one node has, `%name#index` for a shared one,
/// `%index` for an unnamed node.
fn labels(g: &Graph) -> Vec<String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for n in g.nodes.iter().filter_map(|n| n.name.as_deref()) {
        *count.entry(n).or_default() += 1;
    }
    g.nodes
        .iter()
        .enumerate()
        .map(|(i, node)| match node.name.as_deref() {
            Some(n) if count[n] == 1 => format!("%{}", name(n)),
            Some(n) => format!("%{}#{i}", name(n)),
            None => format!("%{i}"),
        })
        .collect()
}

fn is_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An identifier as is; anything else quoted.
pub fn name(s: &str) -> String {
    if is_ident(s) {
        return s.to_string();
    }
    quoted(s)
}

/// `s` in double quotes, with `"`, `\\`, newlines and tabs escaped.
fn quoted(s: &str) -> String {
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

fn dims(s: &Shape) -> String {
    let ds: Vec<String> =
        s.0.iter()
            .map(|d| match d {
                Dim::Known(n) => n.to_string(),
                Dim::Sym(s) => name(s),
            })
            .collect();
    format!("[{}]", ds.join(", "))
}

/// `f32` for a scalar, `f32[B, 3]` otherwise.
pub fn ty(t: &Type) -> String {
    if t.shape.rank() == 0 {
        t.dtype.to_string()
    } else {
        format!("{}{}", t.dtype, dims(&t.shape))
    }
}

fn list<T: ToString>(xs: &[T]) -> String {
    let xs: Vec<String> = xs.iter().map(T::to_string).collect();
    format!("[{}]", xs.join(", "))
}

fn attrs(op: &Op, node_name: Option<&str>, dtype: DType) -> Vec<String> {
    let mut a = Vec::new();
    match op {
        Op::Input { name: n, default } => {
            if node_name != Some(n) {
                a.push(format!("name = {}", name(n)));
            }
            if let Some(d) = default {
                a.push(format!("default = {}", default_text(d, dtype)));
            }
        }
        Op::Param { name: n, init: i } => {
            if node_name != Some(n) {
                a.push(format!("name = {}", name(n)));
            }
            a.push(format!("init = {}", init(i, dtype)));
        }
        Op::Reduce { axes, keepdims, .. } => {
            a.push(format!("axes = {}", list(axes)));
            a.push(format!("keepdims = {keepdims}"));
        }
        Op::ArgMax { axis } | Op::ArgMin { axis } | Op::Concat { axis } => {
            a.push(format!("axis = {axis}"))
        }
        Op::Transpose { perm } => a.push(format!("perm = {}", list(perm))),
        Op::Reshape { shape } | Op::BroadcastTo { shape } => {
            a.push(format!("shape = {}", dims(shape)))
        }
        Op::Slice { start, step, shape } => {
            a.push(format!("start = {}", list(start)));
            a.push(format!("step = {}", list(step)));
            a.push(format!("shape = {}", dims(shape)));
        }
        Op::OneHot { depth } => a.push(format!("depth = {depth}")),
        Op::Cast { to } => a.push(format!("to = {to}")),
        Op::Const(_)
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Select
        | Op::MatMul
        | Op::Grad
        | Op::StopGradient => {}
    }
    a
}

/// An input's `default` attribute value, as the text form writes it.
pub fn default_text(d: &InputDefault, dtype: DType) -> String {
    match d {
        InputDefault::Value(t) => tensor(t, dtype),
        InputDefault::File(path) => quoted(path),
    }
}

/// A param's `init` attribute value, as the text form writes it.
pub fn init(i: &Init, dtype: DType) -> String {
    match i {
        Init::Literal(t) => tensor(t, dtype),
        Init::Zeros => "zeros".into(),
        Init::Ones => "ones".into(),
        Init::Glorot => "glorot".into(),
        Init::Full(v) => format!("full({})", f64_text(*v)),
        Init::Uniform { lo, hi } => {
            format!("uniform(lo = {}, hi = {})", f64_text(*lo), f64_text(*hi))
        }
        Init::Normal { mean, std } => format!(
            "normal(mean = {}, std = {})",
            f64_text(*mean),
            f64_text(*std)
        ),
    }
}

/// Shortest text that parses back to the same bits: Rust's `{:?}` for
/// numbers, `nan` for the canonical NaN and `nan(0x…)` with the bits for others.
pub fn f32_text(x: f32) -> String {
    match x {
        _ if x.is_nan() && x.to_bits() == f32::NAN.to_bits() => "nan".into(),
        _ if x.is_nan() => format!("nan(0x{:08x})", x.to_bits()),
        _ => format!("{x:?}"),
    }
}

pub fn f64_text(x: f64) -> String {
    match x {
        _ if x.is_nan() && x.to_bits() == f64::NAN.to_bits() => "nan".into(),
        _ if x.is_nan() => format!("nan(0x{:016x})", x.to_bits()),
        _ => format!("{x:?}"),
    }
}

/// A nested literal whose elements have dtype `context`; followed by
/// `as TYPE` where the literal alone would not say the tensor's type (another
/// dtype, or an empty dim that nesting cannot show).
fn tensor(t: &Tensor, context: DType) -> String {
    let elems: Vec<String> = match &t.data {
        Data::F32(v) => v.iter().map(|&x| f32_text(x)).collect(),
        Data::F64(v) => v.iter().map(|&x| f64_text(x)).collect(),
        Data::I32(v) => v.iter().map(i32::to_string).collect(),
        Data::I64(v) => v.iter().map(i64::to_string).collect(),
        Data::Bool(v) => v.iter().map(bool::to_string).collect(),
    };
    let mut s = String::new();
    nest(&mut s, &t.shape, &elems);
    if t.dtype() != context || t.shape.contains(&0) {
        let _ = write!(s, " as {}", ty(&t.ty()));
    }
    s
}

fn nest(out: &mut String, shape: &[usize], elems: &[String]) {
    let Some((&n, rest)) = shape.split_first() else {
        out.push_str(elems.first().map_or("?", String::as_str));
        return;
    };
    let stride: usize = rest.iter().product();
    out.push('[');
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        let lo = (i * stride).min(elems.len());
        nest(out, rest, &elems[lo..(lo + stride).min(elems.len())]);
    }
    out.push(']');
}
