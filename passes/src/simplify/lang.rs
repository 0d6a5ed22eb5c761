//! The e-graph language: Graph IR ops as egg e-nodes.
//!
//! An op's attributes (perm, shape, axes, …) sit in its first child slot as
//! leaf e-nodes ([`Attr`]), so a rule can match any attribute with a pattern
//! variable (`(transpose ?p (transpose ?q ?x))`) and compute new ones. Inputs
//! and params are leaves named by their node in the source graph, so two of
//! them are never merged; constants are leaves compared bit for bit.

use egg::{FromOp, FromOpError, Id, Language, Symbol};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tfg_ir::{BinaryOp, DType, Data, Dim, Op, ReduceOp, Shape, Tensor, UnaryOp};

/// What an e-node computes, attributes aside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    Unary(UnaryOp),
    Binary(BinaryOp),
    Select,
    Reduce(ReduceOp),
    ArgMax,
    ArgMin,
    MatMul,
    Transpose,
    Reshape,
    BroadcastTo,
    Concat,
    Slice,
    OneHot,
    Cast,
    Grad,
    StopGradient,
}

impl NodeKind {
    fn all() -> impl Iterator<Item = NodeKind> {
        let fixed = [
            NodeKind::Select,
            NodeKind::ArgMax,
            NodeKind::ArgMin,
            NodeKind::MatMul,
            NodeKind::Transpose,
            NodeKind::Reshape,
            NodeKind::BroadcastTo,
            NodeKind::Concat,
            NodeKind::Slice,
            NodeKind::OneHot,
            NodeKind::Cast,
            NodeKind::Grad,
            NodeKind::StopGradient,
        ];
        UnaryOp::ALL
            .into_iter()
            .map(NodeKind::Unary)
            .chain(BinaryOp::ALL.into_iter().map(NodeKind::Binary))
            .chain(ReduceOp::ALL.into_iter().map(NodeKind::Reduce))
            .chain(fixed)
    }

    /// The op's name in the IR text form.
    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Unary(u) => u.name(),
            NodeKind::Binary(b) => b.name(),
            NodeKind::Reduce(r) => match r {
                ReduceOp::Sum => "reduce_sum",
                ReduceOp::Mean => "reduce_mean",
                ReduceOp::Max => "reduce_max",
                ReduceOp::Min => "reduce_min",
                ReduceOp::Prod => "reduce_prod",
            },
            NodeKind::Select => "select",
            NodeKind::ArgMax => "argmax",
            NodeKind::ArgMin => "argmin",
            NodeKind::MatMul => "matmul",
            NodeKind::Transpose => "transpose",
            NodeKind::Reshape => "reshape",
            NodeKind::BroadcastTo => "broadcast_to",
            NodeKind::Concat => "concat",
            NodeKind::Slice => "slice",
            NodeKind::OneHot => "one_hot",
            NodeKind::Cast => "cast",
            NodeKind::Grad => "grad",
            NodeKind::StopGradient => "stop_gradient",
        }
    }

    pub fn from_name(name: &str) -> Option<NodeKind> {
        NodeKind::all().find(|k| k.name() == name)
    }

    /// Whether the e-node's first child is an [`Attr`].
    pub fn has_attr(self) -> bool {
        matches!(
            self,
            NodeKind::Reduce(_)
                | NodeKind::ArgMax
                | NodeKind::ArgMin
                | NodeKind::Transpose
                | NodeKind::Reshape
                | NodeKind::BroadcastTo
                | NodeKind::Concat
                | NodeKind::Slice
                | NodeKind::OneHot
                | NodeKind::Cast
        )
    }

    /// The attribute child (if the kind has one) and the operands, among an
    /// e-node's children.
    pub fn operands(self, children: &[Id]) -> (Option<Id>, &[Id]) {
        match children.split_first() {
            Some((&attr, rest)) if self.has_attr() => (Some(attr), rest),
            _ => (None, children),
        }
    }

    /// A total order for `Language`'s `Ord` (the IR's op enums have none).
    fn rank(self) -> (u8, u8) {
        match self {
            NodeKind::Unary(u) => (0, u as u8),
            NodeKind::Binary(b) => (1, b as u8),
            NodeKind::Reduce(r) => (2, r as u8),
            NodeKind::Select => (3, 0),
            NodeKind::ArgMax => (3, 1),
            NodeKind::ArgMin => (3, 2),
            NodeKind::MatMul => (3, 3),
            NodeKind::Transpose => (3, 4),
            NodeKind::Reshape => (3, 5),
            NodeKind::BroadcastTo => (3, 6),
            NodeKind::Concat => (3, 7),
            NodeKind::OneHot => (3, 8),
            NodeKind::Cast => (3, 9),
            NodeKind::Grad => (3, 10),
            NodeKind::Slice => (3, 11),
            NodeKind::StopGradient => (3, 12),
        }
    }
}

impl PartialOrd for NodeKind {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NodeKind {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

/// An op's attributes, as a leaf e-node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attr {
    Axes {
        axes: Vec<usize>,
        keepdims: bool,
    },
    Axis(usize),
    Perm(Vec<usize>),
    Shape(Vec<Dim>),
    Depth(u64),
    DType(DType),
    Slice {
        start: Vec<u64>,
        step: Vec<u64>,
        shape: Vec<Dim>,
    },
}

impl Attr {
    pub fn shape(dims: &Shape) -> Attr {
        Attr::Shape(dims.0.clone())
    }
}

fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    f.write_str("[")?;
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{x}")?;
    }
    f.write_str("]")
}

/// One token, so explanations stay s-expressions: `perm=[1,0]`, `axes=[0],keepdims`.
impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attr::Axes { axes, keepdims } => {
                f.write_str("axes=")?;
                list(f, axes)?;
                if *keepdims {
                    f.write_str(",keepdims")?;
                }
                Ok(())
            }
            Attr::Axis(a) => write!(f, "axis={a}"),
            Attr::Perm(p) => {
                f.write_str("perm=")?;
                list(f, p)
            }
            Attr::Shape(s) => {
                f.write_str("shape=")?;
                list(f, s)
            }
            Attr::Depth(d) => write!(f, "depth={d}"),
            Attr::DType(t) => write!(f, "to={t}"),
            Attr::Slice { start, step, shape } => {
                f.write_str("start=")?;
                list(f, start)?;
                f.write_str(",step=")?;
                list(f, step)?;
                f.write_str(",shape=")?;
                list(f, shape)
            }
        }
    }
}

/// A constant tensor, compared and hashed by its bits so that `-0.0` and
/// `0.0` stay apart and NaN equals itself.
#[derive(Clone, Debug)]
pub struct Constant(pub Arc<Tensor>);

impl Constant {
    pub fn new(t: Tensor) -> Constant {
        Constant(Arc::new(t))
    }

    fn bits(&self) -> impl Iterator<Item = u64> + '_ {
        let d = &self.0.data;
        (0..d.len()).map(move |i| match d {
            Data::F32(v) => v[i].to_bits() as u64,
            Data::F64(v) => v[i].to_bits(),
            Data::I32(v) => v[i] as u32 as u64,
            Data::I64(v) => v[i] as u64,
            Data::Bool(v) => v[i] as u64,
        })
    }
}

impl PartialEq for Constant {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Constant {}

impl PartialOrd for Constant {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Constant {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0.dtype(), &self.0.shape)
            .cmp(&(other.0.dtype(), &other.0.shape))
            .then_with(|| self.bits().cmp(other.bits()))
    }
}

impl Hash for Constant {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.dtype().hash(state);
        self.0.shape.hash(state);
        self.bits().for_each(|b| b.hash(state));
    }
}

fn element(d: &Data, i: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match d {
        Data::F32(v) => write!(f, "{:?}", v[i]),
        Data::F64(v) => write!(f, "{:?}", v[i]),
        Data::I32(v) => write!(f, "{}", v[i]),
        Data::I64(v) => write!(f, "{}", v[i]),
        Data::Bool(v) => write!(f, "{}", v[i]),
    }
}

/// Scalars print as their value (`1.0`, `2`, `true`; other dtypes than
/// f32, i32 and bool get a suffix: `1.0:f64`); small tensors as
/// `[1.0,2.0]:f32[2]`, larger ones by type only.
impl fmt::Display for Constant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &*self.0;
        let plain = matches!(t.dtype(), DType::F32 | DType::I32 | DType::Bool);
        if t.shape.is_empty() && t.numel() == 1 {
            element(&t.data, 0, f)?;
            return if plain {
                Ok(())
            } else {
                write!(f, ":{}", t.dtype())
            };
        }
        if t.numel() <= 8 {
            f.write_str("[")?;
            for i in 0..t.numel() {
                if i > 0 {
                    f.write_str(",")?;
                }
                element(&t.data, i, f)?;
            }
            f.write_str("]:")?;
        } else {
            f.write_str("const:")?;
        }
        write!(f, "{}", t.dtype())?;
        list(f, &t.shape)
    }
}

/// An input or param of the source graph, by node index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Leaf {
    pub node: u32,
    pub name: Symbol,
}

/// An e-node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TensorLang {
    Leaf(Leaf),
    Const(Constant),
    Attr(Attr),
    /// An op; its attribute (if [`NodeKind::has_attr`]) is the first child.
    Op(NodeKind, Vec<Id>),
}

/// Groups e-nodes for e-matching: ops by kind, leaves by what they are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Discriminant {
    Leaf,
    Const,
    Attr,
    Op(NodeKind),
}

impl Language for TensorLang {
    type Discriminant = Discriminant;

    fn discriminant(&self) -> Discriminant {
        match self {
            TensorLang::Leaf(_) => Discriminant::Leaf,
            TensorLang::Const(_) => Discriminant::Const,
            TensorLang::Attr(_) => Discriminant::Attr,
            TensorLang::Op(k, _) => Discriminant::Op(*k),
        }
    }

    fn matches(&self, other: &Self) -> bool {
        match (self, other) {
            (TensorLang::Op(k, a), TensorLang::Op(l, b)) => k == l && a.len() == b.len(),
            _ => self == other,
        }
    }

    fn children(&self) -> &[Id] {
        match self {
            TensorLang::Op(_, c) => c,
            _ => &[],
        }
    }

    fn children_mut(&mut self) -> &mut [Id] {
        match self {
            TensorLang::Op(_, c) => c,
            _ => &mut [],
        }
    }
}

impl fmt::Display for TensorLang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorLang::Leaf(l) => write!(f, "{}", l.name),
            TensorLang::Const(c) => write!(f, "{c}"),
            TensorLang::Attr(a) => write!(f, "{a}"),
            TensorLang::Op(k, _) => f.write_str(k.name()),
        }
    }
}

/// Parses op names, so rules can be written as patterns; leaves in rules
/// are always pattern variables.
impl FromOp for TensorLang {
    type Error = FromOpError;

    fn from_op(op: &str, children: Vec<Id>) -> Result<Self, Self::Error> {
        match NodeKind::from_name(op) {
            Some(k) if !children.is_empty() => Ok(TensorLang::Op(k, children)),
            _ => Err(FromOpError::new(op, children)),
        }
    }
}

/// Splits an op into its kind and attribute; `None` for the graph's leaves
/// (input, param, const).
pub fn split(op: &Op) -> Option<(NodeKind, Option<Attr>)> {
    Some(match op {
        Op::Input { .. } | Op::Param { .. } | Op::Const(_) => return None,
        Op::Unary(u) => (NodeKind::Unary(*u), None),
        Op::Binary(b) => (NodeKind::Binary(*b), None),
        Op::Select => (NodeKind::Select, None),
        Op::Reduce { op, axes, keepdims } => (
            NodeKind::Reduce(*op),
            Some(Attr::Axes {
                axes: axes.clone(),
                keepdims: *keepdims,
            }),
        ),
        Op::ArgMax { axis } => (NodeKind::ArgMax, Some(Attr::Axis(*axis))),
        Op::ArgMin { axis } => (NodeKind::ArgMin, Some(Attr::Axis(*axis))),
        Op::MatMul => (NodeKind::MatMul, None),
        Op::Transpose { perm } => (NodeKind::Transpose, Some(Attr::Perm(perm.clone()))),
        Op::Reshape { shape } => (NodeKind::Reshape, Some(Attr::shape(shape))),
        Op::BroadcastTo { shape } => (NodeKind::BroadcastTo, Some(Attr::shape(shape))),
        Op::Concat { axis } => (NodeKind::Concat, Some(Attr::Axis(*axis))),
        Op::OneHot { depth } => (NodeKind::OneHot, Some(Attr::Depth(*depth))),
        Op::Cast { to } => (NodeKind::Cast, Some(Attr::DType(*to))),
        Op::Slice { start, step, shape } => (
            NodeKind::Slice,
            Some(Attr::Slice {
                start: start.clone(),
                step: step.clone(),
                shape: shape.0.clone(),
            }),
        ),
        Op::Grad => (NodeKind::Grad, None),
        Op::StopGradient => (NodeKind::StopGradient, None),
    })
}

/// The op for `kind` with `attr`; `None` if the attribute does not fit.
pub fn join(kind: NodeKind, attr: Option<&Attr>) -> Option<Op> {
    Some(match (kind, attr) {
        (NodeKind::Unary(u), None) => Op::Unary(u),
        (NodeKind::Binary(b), None) => Op::Binary(b),
        (NodeKind::Select, None) => Op::Select,
        (NodeKind::Reduce(op), Some(Attr::Axes { axes, keepdims })) => Op::Reduce {
            op,
            axes: axes.clone(),
            keepdims: *keepdims,
        },
        (NodeKind::ArgMax, Some(Attr::Axis(axis))) => Op::ArgMax { axis: *axis },
        (NodeKind::ArgMin, Some(Attr::Axis(axis))) => Op::ArgMin { axis: *axis },
        (NodeKind::MatMul, None) => Op::MatMul,
        (NodeKind::Transpose, Some(Attr::Perm(perm))) => Op::Transpose { perm: perm.clone() },
        (NodeKind::Reshape, Some(Attr::Shape(s))) => Op::Reshape {
            shape: Shape(s.clone()),
        },
        (NodeKind::BroadcastTo, Some(Attr::Shape(s))) => Op::BroadcastTo {
            shape: Shape(s.clone()),
        },
        (NodeKind::Concat, Some(Attr::Axis(axis))) => Op::Concat { axis: *axis },
        (NodeKind::OneHot, Some(Attr::Depth(depth))) => Op::OneHot { depth: *depth },
        (NodeKind::Cast, Some(Attr::DType(to))) => Op::Cast { to: *to },
        (NodeKind::Grad, None) => Op::Grad,
        (NodeKind::StopGradient, None) => Op::StopGradient,
        (NodeKind::Slice, Some(Attr::Slice { start, step, shape })) => Op::Slice {
            start: start.clone(),
            step: step.clone(),
            shape: Shape(shape.clone()),
        },
        _ => return None,
    })
}
