//! The Graph IR verifier: the invariants every pass may assume and must keep.
//!
//! A graph is valid when its nodes are in topological order, every op has its
//! arity, every node's type is what [`infer`] gives for its operands (leaves:
//! the declared type, with defaults and literal inits that fit it), inputs and
//! params have unique names, and outputs and updates refer to existing values,
//! each update writing a param a value of the param's type.

use crate::graph::{Graph, ValueId};
use crate::infer::infer;
use crate::op::{Init, Op};
use crate::tensor::Tensor;
use crate::types::{Dim, Type};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// A broken invariant, naming the value it was found at (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The value where the broken invariant was found; `None` for the graph as
    /// a whole (an output or update, say).
    pub value: Option<ValueId>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Checks every invariant of `g`; the first broken one is the error.
pub fn verify(g: &Graph) -> Result<(), VerifyError> {
    let mut leaf_names = HashSet::new();
    for v in g.ids() {
        verify_node(g, v)?;
        if let Op::Input { name, .. } | Op::Param { name, .. } = &g.node(v).op {
            if !leaf_names.insert(name.as_str()) {
                return Err(at(
                    g,
                    v,
                    format!("the name {name} is already used by another input or param"),
                ));
            }
        }
    }
    let exists = |v: ValueId| v.index() < g.nodes.len();
    let mut output_names = HashSet::new();
    for (name, v) in &g.outputs {
        if !exists(*v) {
            return Err(global(format!(
                "output {name} refers to {v}, which does not exist"
            )));
        }
        if !output_names.insert(name.as_str()) {
            return Err(global(format!("output {name} is listed twice")));
        }
    }
    let mut targets = HashSet::new();
    for &(p, v) in &g.updates {
        for x in [p, v] {
            if !exists(x) {
                return Err(global(format!(
                    "update {p} = {v} refers to {x}, which does not exist"
                )));
            }
        }
        if !matches!(g.node(p).op, Op::Param { .. }) {
            return Err(at(
                g,
                p,
                "is the target of an update but is not a param".into(),
            ));
        }
        if g.ty(p) != g.ty(v) {
            return Err(at(
                g,
                p,
                format!(
                    "is updated with {} of type {}, not {}",
                    describe(g, v),
                    g.ty(v),
                    g.ty(p)
                ),
            ));
        }
        if !targets.insert(p) {
            return Err(at(g, p, "is updated twice".into()));
        }
    }
    Ok(())
}

fn verify_node(g: &Graph, v: ValueId) -> Result<(), VerifyError> {
    let node = g.node(v);
    if let Some(&a) = node.args.iter().find(|a| a.index() >= v.index()) {
        return Err(at(g, v, format!("operand {a} is not defined before it")));
    }
    match node.op.arity() {
        Some(n) if node.args.len() != n => {
            let (got, s) = (node.args.len(), if node.args.len() == 1 { "" } else { "s" });
            return Err(at(
                g,
                v,
                format!("has {got} operand{s}, but {} takes {n}", node.op.name()),
            ));
        }
        None if node.args.is_empty() => {
            return Err(at(
                g,
                v,
                format!("{} needs at least one operand", node.op.name()),
            ))
        }
        _ => {}
    }
    if node.op.is_leaf_state() {
        node.ty.check_size().map_err(|m| at(g, v, m))?;
    }
    match &node.op {
        Op::Input { name, default } => {
            leaf_name(g, v, name)?;
            if let Some(t) = default.as_ref().and_then(|d| d.value()) {
                literal_fits(t, &node.ty).map_err(|m| at(g, v, format!("default {m}")))?;
            }
        }
        Op::Param { name, init } => {
            leaf_name(g, v, name)?;
            init_fits(init, &node.ty).map_err(|m| at(g, v, m))?;
        }
        op => {
            let args: Vec<&Type> = node.args.iter().map(|&a| g.ty(a)).collect();
            // The message names the op already; `at` names it too.
            let ty = infer(op, &args).map_err(|e| {
                let problem = e
                    .message
                    .strip_prefix(&format!("{}: ", op.name()))
                    .unwrap_or(&e.message);
                at(g, v, problem.to_string())
            })?;
            if ty != node.ty {
                return Err(at(
                    g,
                    v,
                    format!("has type {}, but its operands give {ty}", node.ty),
                ));
            }
        }
    }
    Ok(())
}

/// An input's or param's name is also its node's name.
fn leaf_name(g: &Graph, v: ValueId, name: &str) -> Result<(), VerifyError> {
    if g.node(v).name.as_deref() != Some(name) {
        return Err(at(
            g,
            v,
            format!("is named {name} by its op but not by its node"),
        ));
    }
    Ok(())
}

fn init_fits(init: &Init, ty: &Type) -> Result<(), String> {
    let random = matches!(
        init,
        Init::Uniform { .. } | Init::Normal { .. } | Init::Glorot
    );
    match *init {
        Init::Literal(ref t) => {
            return literal_fits(t, ty).map_err(|m| format!("initial value {m}"))
        }
        _ if random && !ty.dtype.is_float() => {
            return Err(format!(
                "a random initialiser needs a float dtype, not {}",
                ty.dtype
            ))
        }
        Init::Uniform { lo, hi } if lo.is_nan() || hi.is_nan() || lo > hi => {
            return Err(format!("uniform({lo:?}, {hi:?}) needs lo <= hi"))
        }
        Init::Normal { std, .. } if std.is_nan() || std < 0.0 => {
            return Err(format!("normal(std = {std:?}) needs std >= 0"))
        }
        _ => {}
    }
    Ok(())
}

/// A literal fits a declared type if it has its dtype and either is a scalar
/// (which fills the shape) or has its shape, a symbol standing for one size.
fn literal_fits(t: &Tensor, ty: &Type) -> Result<(), String> {
    let mismatch = || format!("{} does not fit the declared type {ty}", t.ty());
    if t.dtype() != ty.dtype {
        return Err(mismatch());
    }
    if t.shape.is_empty() {
        return Ok(());
    }
    if t.shape.len() != ty.shape.rank() {
        return Err(mismatch());
    }
    let mut syms = BTreeMap::new();
    for (&n, d) in t.shape.iter().zip(&ty.shape.0) {
        let fits = match d {
            Dim::Known(k) => *k == n as u64,
            Dim::Sym(s) => *syms.entry(s.as_str()).or_insert(n) == n,
        };
        if !fits {
            return Err(mismatch());
        }
    }
    Ok(())
}

/// `%12 (y) = add`: the value, its name and its op, as the text form shows them.
fn describe(g: &Graph, v: ValueId) -> String {
    let node = g.node(v);
    match &node.name {
        Some(n) => format!("{v} ({n}) = {}", node.op.name()),
        None => format!("{v} = {}", node.op.name()),
    }
}

fn at(g: &Graph, v: ValueId, problem: String) -> VerifyError {
    VerifyError {
        value: Some(v),
        message: format!("{}: {problem}", describe(g, v)),
    }
}

fn global(message: String) -> VerifyError {
    VerifyError {
        value: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Node;
    use crate::op::BinaryOp;
    use crate::tensor::Data;
    use crate::types::{DType, Shape};

    fn f32s(dims: &[u64]) -> Type {
        Type::new(DType::F32, Shape::known(dims))
    }

    fn small() -> (Graph, ValueId, ValueId, ValueId) {
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32s(&[3]), None);
        let w = g.add_param("w", f32s(&[3]), Init::Zeros);
        let y = g
            .add(Op::Binary(BinaryOp::Mul), &[w, x])
            .expect("same types");
        g.outputs.push(("y".into(), y));
        (g, x, w, y)
    }

    #[test]
    fn accepts_a_valid_graph() {
        let (mut g, _, w, y) = small();
        g.updates.push((w, y));
        assert_eq!(verify(&g), Ok(()));
    }

    #[test]
    fn wrong_type() {
        let (mut g, _, _, y) = small();
        g.node_mut(y).ty = f32s(&[4]);
        let e = verify(&g).unwrap_err();
        assert_eq!(e.value, Some(y));
        assert_eq!(
            e.message,
            "%2 = mul: has type f32[4], but its operands give f32[3]"
        );
    }

    #[test]
    fn forward_reference() {
        let (mut g, x, _, y) = small();
        g.node_mut(y).args = vec![x, ValueId(5)];
        assert!(verify(&g)
            .unwrap_err()
            .message
            .contains("operand %5 is not defined before it"));
    }

    #[test]
    fn literal_defaults_and_inits() {
        let (mut g, x, w, _) = small();
        let scalar = Tensor::scalar_f32(1.0);
        g.node_mut(x).op = Op::Input {
            name: "x".into(),
            default: Some(crate::InputDefault::Value(scalar.clone())),
        };
        g.node_mut(w).op = Op::Param {
            name: "w".into(),
            init: Init::Literal(scalar),
        };
        assert_eq!(verify(&g), Ok(()));
        let two = Tensor::new(vec![2], Data::F32(vec![1.0, 2.0])).expect("2 elements");
        g.node_mut(w).op = Op::Param {
            name: "w".into(),
            init: Init::Literal(two),
        };
        assert_eq!(
            verify(&g).unwrap_err().message,
            "%1 (w) = param: initial value f32[2] does not fit the declared type f32[3]"
        );
    }

    #[test]
    fn initialisers() {
        let (mut g, _, w, _) = small();
        g.node_mut(w).op = Op::Param {
            name: "w".into(),
            init: Init::Uniform { lo: 1.0, hi: -1.0 },
        };
        assert_eq!(
            verify(&g).unwrap_err().message,
            "%1 (w) = param: uniform(1.0, -1.0) needs lo <= hi"
        );
        g.node_mut(w).op = Op::Param {
            name: "w".into(),
            init: Init::Normal {
                mean: 0.0,
                std: f64::NAN,
            },
        };
        assert!(verify(&g).unwrap_err().message.contains("needs std >= 0"));
        g.node_mut(w).op = Op::Param {
            name: "w".into(),
            init: Init::Glorot,
        };
        g.node_mut(w).ty = Type::new(DType::I32, Shape::known(&[3]));
        assert!(verify(&g)
            .unwrap_err()
            .message
            .contains("random initialiser needs a float dtype, not i32"));
    }

    #[test]
    fn symbolic_default_binds_consistently() {
        let ty = Type::new(
            DType::I32,
            Shape(vec![Dim::Sym("N".into()), Dim::Sym("N".into())]),
        );
        let square = Tensor::new(vec![2, 2], Data::I32(vec![1, 2, 3, 4])).expect("4 elements");
        let oblong = Tensor::new(vec![1, 2], Data::I32(vec![1, 2])).expect("2 elements");
        assert!(literal_fits(&square, &ty).is_ok());
        assert!(literal_fits(&oblong, &ty).is_err());
    }

    #[test]
    fn names_outputs_updates() {
        let (mut g, x, w, y) = small();
        g.add_input("x", f32s(&[]), None);
        assert!(verify(&g)
            .unwrap_err()
            .message
            .contains("the name x is already used"));

        let (mut g, ..) = small();
        g.outputs.push(("z".into(), ValueId(9)));
        assert_eq!(
            verify(&g).unwrap_err().message,
            "output z refers to %9, which does not exist"
        );

        let (mut g, ..) = small();
        g.updates.push((x, y));
        assert!(verify(&g).unwrap_err().message.contains("not a param"));

        let (mut g, ..) = small();
        let s = g
            .add(
                Op::Reduce {
                    op: crate::op::ReduceOp::Sum,
                    axes: vec![0],
                    keepdims: false,
                },
                &[y],
            )
            .expect("ok");
        g.updates.push((w, s));
        assert_eq!(
            verify(&g).unwrap_err().message,
            "%1 (w) = param: is updated with %3 = reduce_sum of type f32, not f32[3]"
        );
    }

    #[test]
    fn arity_and_leaf_names() {
        let (mut g, x, ..) = small();
        g.push(Node {
            op: Op::Binary(BinaryOp::Add),
            args: vec![x],
            ty: f32s(&[3]),
            name: Some("z".into()),
            loc: None,
        });
        assert_eq!(
            verify(&g).unwrap_err().message,
            "%3 (z) = add: has 1 operand, but add takes 2"
        );

        let (mut g, x, ..) = small();
        g.node_mut(x).name = None;
        assert!(verify(&g)
            .unwrap_err()
            .message
            .contains("named x by its op but not by its node"));
    }
}
