//! The e-class analysis: what is known about the value of each e-class.
//!
//! Every tensor e-class carries its type, computed by the op registry
//! (`tfg_ir::infer`) from its children's types, so rules can ask whether a
//! rewrite keeps the type. Small constant values are carried too and folded
//! ([`fold`](super::fold)), as are splats (every element equal, any size) and
//! two sign facts the rules need to stay exact in IEEE arithmetic.

use super::fold;
use super::lang::{join, Attr, Constant, NodeKind, TensorLang};
use egg::{Analysis, DidMerge, EGraph, Id, Language, Pattern, RecExpr, Subst};
use std::collections::HashMap;
use std::sync::Arc;
use tfg_ir::{infer, BinaryOp, DType, Data, Op, ReduceOp, Shape, Tensor, Type, UnaryOp};

/// Values with more elements than this are not carried (nor folded).
pub const VALUE_LIMIT: u64 = 64;

pub type TensorGraph = EGraph<TensorLang, TensorAnalysis>;

/// What is known about one e-class.
#[derive(Clone, Debug)]
pub enum Facts {
    Attr(Attr),
    Tensor(TensorFacts),
    /// Operands that do not fit their op; only a broken rule makes one.
    Invalid(String),
}

impl Facts {
    pub fn tensor(&self) -> Option<&TensorFacts> {
        match self {
            Facts::Tensor(t) => Some(t),
            _ => None,
        }
    }

    pub fn attr(&self) -> Option<&Attr> {
        match self {
            Facts::Attr(a) => Some(a),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TensorFacts {
    pub ty: Type,
    /// The value, when known and at most [`VALUE_LIMIT`] elements.
    pub value: Option<Arc<Tensor>>,
    /// The value of every element (a rank-0 tensor), when all are known equal.
    pub splat: Option<Arc<Tensor>>,
    /// No element is negative or `-0.0` (NaN may be).
    pub non_negative: bool,
    /// No element is `-0.0`.
    pub no_neg_zero: bool,
}

impl TensorFacts {
    fn opaque(ty: Type) -> TensorFacts {
        let no_neg_zero = !ty.dtype.is_float();
        TensorFacts {
            ty,
            value: None,
            splat: None,
            non_negative: false,
            no_neg_zero,
        }
    }

    fn known(t: Tensor) -> TensorFacts {
        let mut facts = TensorFacts::opaque(t.ty());
        let n = t.numel();
        let negative = |i: usize| t.data.get_f64(i) < 0.0;
        let neg_zero = |i: usize| match &t.data {
            Data::F32(v) => v[i].to_bits() == (-0.0f32).to_bits(),
            Data::F64(v) => v[i].to_bits() == (-0.0f64).to_bits(),
            _ => false,
        };
        facts.no_neg_zero = !(0..n).any(neg_zero);
        facts.non_negative = facts.no_neg_zero && !(0..n).any(negative);
        if n > 0 && (1..n).all(|i| element_eq(&t.data, 0, i)) {
            let first = Tensor {
                shape: vec![],
                data: first_element(&t.data),
            };
            facts.splat = Some(Arc::new(first));
        }
        if n as u64 <= VALUE_LIMIT {
            facts.value = Some(Arc::new(t));
        }
        facts
    }

    /// The splat value as f64, for comparisons with 0 and 1.
    pub fn splat_f64(&self) -> Option<f64> {
        self.splat.as_ref().map(|s| s.data.get_f64(0))
    }

    /// Whether the splat is `-0.0` (floats only).
    pub fn is_neg_zero(&self) -> bool {
        self.splat.as_ref().is_some_and(|s| match &s.data {
            Data::F32(v) => v[0].to_bits() == (-0.0f32).to_bits(),
            Data::F64(v) => v[0].to_bits() == (-0.0f64).to_bits(),
            _ => false,
        })
    }
}

fn first_element(d: &Data) -> Data {
    match d {
        Data::F32(v) => Data::F32(v[..1].to_vec()),
        Data::F64(v) => Data::F64(v[..1].to_vec()),
        Data::I32(v) => Data::I32(v[..1].to_vec()),
        Data::I64(v) => Data::I64(v[..1].to_vec()),
        Data::Bool(v) => Data::Bool(v[..1].to_vec()),
    }
}

/// Bitwise equality, so `-0.0` differs from `0.0` and NaN equals itself.
fn element_eq(d: &Data, i: usize, j: usize) -> bool {
    match d {
        Data::F32(v) => v[i].to_bits() == v[j].to_bits(),
        Data::F64(v) => v[i].to_bits() == v[j].to_bits(),
        Data::I32(v) => v[i] == v[j],
        Data::I64(v) => v[i] == v[j],
        Data::Bool(v) => v[i] == v[j],
    }
}

/// Facts about the graph's leaves, and problems found while saturating.
#[derive(Default)]
pub struct TensorAnalysis {
    /// Declared types of inputs and params, by node index.
    pub leaf_types: HashMap<u32, Type>,
    /// The first merge of e-classes with different types: a broken rule.
    pub conflict: Option<String>,
    /// E-classes given a constant by folding.
    pub folds: usize,
    /// E-nodes of the graph's outputs and updates: values used outside it.
    pub roots: Vec<Id>,
}

impl Analysis<TensorLang> for TensorAnalysis {
    type Data = Facts;

    fn make(egraph: &mut TensorGraph, enode: &TensorLang, _id: Id) -> Facts {
        match enode {
            TensorLang::Leaf(l) => match egraph.analysis.leaf_types.get(&l.node) {
                Some(ty) => Facts::Tensor(TensorFacts::opaque(ty.clone())),
                None => Facts::Invalid(format!("no type for input or param {}", l.name)),
            },
            TensorLang::Const(c) => Facts::Tensor(TensorFacts::known((*c.0).clone())),
            TensorLang::Attr(a) => Facts::Attr(a.clone()),
            TensorLang::Op(kind, children) => {
                op_facts(egraph, *kind, children).map_or_else(Facts::Invalid, Facts::Tensor)
            }
        }
    }

    fn merge(&mut self, a: &mut Facts, b: Facts) -> DidMerge {
        match (a, b) {
            (Facts::Tensor(x), Facts::Tensor(y)) if x.ty == y.ty => {
                let mut merged = DidMerge(false, false);
                for (mine, theirs) in [(&mut x.value, y.value), (&mut x.splat, y.splat)] {
                    match (mine.is_some(), theirs.is_some()) {
                        (false, true) => {
                            *mine = theirs;
                            merged.0 = true;
                        }
                        (true, false) => merged.1 = true,
                        _ => {}
                    }
                }
                // Both describe the same value, so whatever either proves holds.
                for (mine, theirs) in [
                    (&mut x.non_negative, y.non_negative),
                    (&mut x.no_neg_zero, y.no_neg_zero),
                ] {
                    merged.0 |= theirs && !*mine;
                    merged.1 |= *mine && !theirs;
                    *mine |= theirs;
                }
                merged
            }
            (Facts::Attr(x), Facts::Attr(y)) if *x == y => DidMerge(false, false),
            (a, b) => {
                self.conflict.get_or_insert_with(|| {
                    format!("merged values that cannot be equal: {a:?} and {b:?}")
                });
                DidMerge(false, true)
            }
        }
    }

    /// Constant folding: a class whose value is known gets the constant
    /// (a splat as `broadcast_to(scalar)`, which stays small at any size).
    fn modify(egraph: &mut TensorGraph, id: Id) {
        let Some(target) = egraph[id].data.tensor().and_then(constant_form) else {
            return;
        };
        if egraph.lookup_expr(&target) == Some(egraph.find(id)) {
            return;
        }
        let from = match egraph.are_explanations_enabled() {
            true => folded_term(egraph, id),
            false => None,
        };
        let mut united = false;
        if let Some(from) = from {
            let (from, to) = (Pattern::from(from).ast, Pattern::from(target.clone()).ast);
            united = egraph
                .union_instantiations(&from, &to, &Subst::default(), "constant-fold")
                .1;
        }
        let folded = egraph.add_expr(&target);
        if egraph.find(folded) != egraph.find(id) {
            united = egraph.union_trusted(id, folded, "constant-fold");
        }
        egraph.analysis.folds += united as usize;
    }
}

/// The constant that `facts` says its class equals: `c`, or
/// `(broadcast_to shape=[…] c)` for a splat of more than one element.
fn constant_form(facts: &TensorFacts) -> Option<RecExpr<TensorLang>> {
    let mut expr = RecExpr::default();
    match (&facts.value, &facts.splat) {
        (Some(v), s) if v.numel() <= 1 || s.is_none() => {
            expr.add(TensorLang::Const(Constant(v.clone())));
        }
        (_, Some(s)) => {
            let c = expr.add(TensorLang::Const(Constant(s.clone())));
            if facts.ty.shape.rank() > 0 {
                let a = expr.add(TensorLang::Attr(Attr::shape(&facts.ty.shape)));
                expr.add(TensorLang::Op(NodeKind::BroadcastTo, vec![a, c]));
            }
        }
        _ => return None,
    }
    Some(expr)
}

/// Appends `piece` to `expr`, returning the id of its root.
fn append(expr: &mut RecExpr<TensorLang>, piece: &[TensorLang]) -> Id {
    let base = expr.len();
    let mut root = Id::from(base);
    for node in piece {
        root = expr.add(
            node.clone()
                .map_children(|c| Id::from(usize::from(c) + base)),
        );
    }
    root
}

/// A node of class `id` with each operand replaced by the constant already
/// in that operand's class, so an explanation shows what was folded:
/// `(mul 2.0 3.0)`.
fn folded_term(egraph: &TensorGraph, id: Id) -> Option<RecExpr<TensorLang>> {
    egraph[id].nodes.iter().find_map(|node| {
        let mut expr = RecExpr::default();
        let mut children = Vec::with_capacity(node.len());
        for &c in node.children() {
            let piece = match &egraph[c].data {
                Facts::Attr(a) => vec![TensorLang::Attr(a.clone())].into(),
                Facts::Tensor(t) => constant_form(t)?,
                Facts::Invalid(_) => return None,
            };
            if egraph.find(c) == egraph.find(id)
                || egraph.lookup_expr(&piece) != Some(egraph.find(c))
            {
                return None;
            }
            children.push(append(&mut expr, &piece));
        }
        let mut next = children.into_iter();
        expr.add(
            node.clone()
                .map_children(|_| next.next().unwrap_or(Id::from(0))),
        );
        Some(expr)
    })
}

/// The facts of `kind(children)`, or why its operands do not fit.
fn op_facts(egraph: &TensorGraph, kind: NodeKind, children: &[Id]) -> Result<TensorFacts, String> {
    let (attr, operands) = kind.operands(children);
    let attr = attr.and_then(|a| egraph[a].data.attr());
    let op = join(kind, attr).ok_or_else(|| format!("{} has no fitting attribute", kind.name()))?;
    let args: Vec<&TensorFacts> = operands
        .iter()
        .map(|&c| egraph[c].data.tensor())
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{} has an operand that is not a tensor", kind.name()))?;
    let types: Vec<&Type> = args.iter().map(|a| &a.ty).collect();
    let ty = infer(&op, &types).map_err(|e| e.to_string())?;
    Ok(derive(&op, &args, ty))
}

/// What `op` keeps of its operands' facts.
fn derive(op: &Op, args: &[&TensorFacts], ty: Type) -> TensorFacts {
    let value = ty
        .shape
        .concrete()
        .filter(|dims| dims.iter().product::<usize>() as u64 <= VALUE_LIMIT)
        .and_then(|dims| {
            let values: Vec<&Tensor> = args
                .iter()
                .map(|a| a.value.as_deref())
                .collect::<Option<_>>()?;
            fold::eval(op, &values, &dims)
        });
    let mut facts = match value {
        Some(v) => TensorFacts::known(v),
        None => TensorFacts::opaque(ty.clone()),
    };
    facts.ty = ty;
    if facts.splat.is_none() {
        facts.splat = splat(op, args);
    }
    let float = facts.ty.dtype.is_float();
    let nonneg = |i: usize| args[i].non_negative;
    let all_nonneg = || args.iter().all(|a| a.non_negative);
    let non_negative = float
        && match op {
            Op::Unary(UnaryOp::Exp | UnaryOp::Sigmoid | UnaryOp::Abs | UnaryOp::Square) => true,
            Op::Unary(
                UnaryOp::Sqrt
                | UnaryOp::Rsqrt
                | UnaryOp::Reciprocal
                | UnaryOp::Floor
                | UnaryOp::Ceil,
            ) => nonneg(0),
            Op::Binary(
                BinaryOp::Add
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::Maximum
                | BinaryOp::Minimum,
            ) => all_nonneg(),
            Op::Binary(BinaryOp::Pow) => nonneg(0),
            Op::Select => nonneg(1) && nonneg(2),
            Op::Reduce {
                op: ReduceOp::Sum | ReduceOp::Mean | ReduceOp::Max | ReduceOp::Min | ReduceOp::Prod,
                ..
            } => nonneg(0),
            Op::MatMul | Op::Concat { .. } => all_nonneg(),
            Op::Transpose { .. } | Op::Reshape { .. } | Op::BroadcastTo { .. } => nonneg(0),
            Op::OneHot { .. } => true,
            Op::Cast { .. } => args[0].ty.dtype == DType::Bool || nonneg(0),
            _ => false,
        };
    let nnz = |i: usize| args[i].no_neg_zero;
    // In round-to-nearest, a sum is -0 only if both terms are, and a
    // difference only if its left side is.
    let no_neg_zero = !float
        || non_negative
        || match op {
            Op::Binary(BinaryOp::Add) => nnz(0) || nnz(1),
            Op::Binary(BinaryOp::Sub) => nnz(0),
            Op::Select => nnz(1) && nnz(2),
            Op::Concat { .. } => args.iter().all(|a| a.no_neg_zero),
            Op::Transpose { .. } | Op::Reshape { .. } | Op::BroadcastTo { .. } => nnz(0),
            Op::Cast { .. } => !args[0].ty.dtype.is_float(),
            _ => false,
        };
    facts.non_negative |= non_negative;
    facts.no_neg_zero |= no_neg_zero;
    facts
}

/// The splat of an elementwise op or data movement on splats.
fn splat(op: &Op, args: &[&TensorFacts]) -> Option<Arc<Tensor>> {
    let splats: Vec<&Tensor> = args
        .iter()
        .map(|a| a.splat.as_deref())
        .collect::<Option<_>>()?;
    match op {
        Op::Transpose { .. } | Op::Reshape { .. } | Op::BroadcastTo { .. } => {
            Some(Arc::new(splats[0].clone()))
        }
        Op::Unary(_) | Op::Binary(_) | Op::Select | Op::Cast { .. } => {
            fold::eval(op, &splats, &[]).map(Arc::new)
        }
        _ => None,
    }
}

/// The type of a tensor e-class, if it is one.
pub fn tensor_type(egraph: &TensorGraph, id: Id) -> Option<&Type> {
    egraph[id].data.tensor().map(|t| &t.ty)
}

/// The shape of a tensor e-class, if it is one.
pub fn shape(egraph: &TensorGraph, id: Id) -> Option<&Shape> {
    tensor_type(egraph, id).map(|t| &t.shape)
}
