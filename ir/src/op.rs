//! The operations of the Graph IR.
//!
//! The op set is deliberately small: surface builtins that are compositions of
//! others (`softmax`, `log_softmax`, `expand_dims`, `squeeze`, `relu`'s cousins
//! aside) are expanded by the frontend, so every pass and backend handles only
//! what is listed here. The type rule of each op lives in [`mod@crate::infer`].

use crate::tensor::Tensor;
use crate::types::{DType, Shape};

/// Elementwise functions of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Abs,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Square,
    Tanh,
    Sigmoid,
    Relu,
    Sin,
    Cos,
    Floor,
    Ceil,
    Sign,
    Reciprocal,
    /// Logical not, on `bool` only.
    Not,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 17] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Square,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Sign,
        UnaryOp::Reciprocal,
        UnaryOp::Not,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
            UnaryOp::Square => "square",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Relu => "relu",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Floor => "floor",
            UnaryOp::Ceil => "ceil",
            UnaryOp::Sign => "sign",
            UnaryOp::Reciprocal => "reciprocal",
            UnaryOp::Not => "not",
        }
    }

    pub fn from_name(s: &str) -> Option<UnaryOp> {
        UnaryOp::ALL.into_iter().find(|o| o.name() == s)
    }

    /// Ops defined only for floating-point operands.
    pub fn float_only(self) -> bool {
        !matches!(
            self,
            UnaryOp::Neg
                | UnaryOp::Abs
                | UnaryOp::Square
                | UnaryOp::Relu
                | UnaryOp::Sign
                | UnaryOp::Not
        )
    }
}

/// Elementwise functions of two operands, with numpy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 13] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Eq,
        BinaryOp::Ne,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
        }
    }

    pub fn from_name(s: &str) -> Option<BinaryOp> {
        BinaryOp::ALL.into_iter().find(|o| o.name() == s)
    }

    /// Comparisons give `bool`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne
        )
    }
}

/// Reductions over a set of axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
}

impl ReduceOp {
    pub const ALL: [ReduceOp; 5] = [
        ReduceOp::Sum,
        ReduceOp::Mean,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::Prod,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::Prod => "prod",
        }
    }

    pub fn from_name(s: &str) -> Option<ReduceOp> {
        ReduceOp::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// How a param gets its first value: the INIT of its declaration.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// A literal; a scalar fills the shape.
    Literal(Tensor),
    Zeros,
    Ones,
    Full(f64),
    Uniform {
        lo: f64,
        hi: f64,
    },
    Normal {
        mean: f64,
        std: f64,
    },
    /// Glorot/Xavier uniform over the first two dims.
    Glorot,
}

/// One Graph IR operation. Operands are the node's `args`; attributes live here.
///
/// Axes are always normalised (non-negative, in range) by the time an op is
/// built; the frontend resolves negative axes and `-1` in reshapes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A placeholder fed at run time, with an optional default feed. No args.
    Input {
        name: String,
        default: Option<Tensor>,
    },
    /// Trainable state that persists between runs. No args.
    Param {
        name: String,
        init: Init,
    },
    /// A constant tensor. No args.
    Const(Tensor),
    /// `f(a)`, elementwise.
    Unary(UnaryOp),
    /// `a op b`, elementwise with numpy broadcasting.
    Binary(BinaryOp),
    /// `where(cond, a, b)`, elementwise with broadcasting of all three.
    Select,
    /// Reduce `axes` (sorted, unique); keeps them as size 1 if `keepdims`.
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
        keepdims: bool,
    },
    /// Index of the max / min along `axis` (first on ties); gives `i32`.
    ArgMax {
        axis: usize,
    },
    ArgMin {
        axis: usize,
    },
    /// numpy `matmul`: 1-D, 2-D and batched with broadcast leading dims.
    MatMul,
    /// Permute axes: result dim `i` is operand dim `perm[i]`.
    Transpose {
        perm: Vec<usize>,
    },
    /// Same elements, new shape (no `-1`; resolved by the builder).
    Reshape {
        shape: Shape,
    },
    /// numpy `broadcast_to`.
    BroadcastTo {
        shape: Shape,
    },
    /// numpy basic slicing with non-negative steps: result element `i` along
    /// axis `a` is operand element `start[a] + step[a] * i`; `shape` is the
    /// result's shape (a symbolic dim only where the whole axis is kept).
    Slice {
        start: Vec<u64>,
        step: Vec<u64>,
        shape: Shape,
    },
    /// Join the operands along `axis`.
    Concat {
        axis: usize,
    },
    /// `one_hot(i, depth)`: f32 with a new last axis of size `depth`.
    OneHot {
        depth: u64,
    },
    /// Convert elements to another dtype.
    Cast {
        to: DType,
    },
    /// `grad(y, x)`: args `[y, x]`; replaced by the autodiff pass before execution.
    Grad,
    /// `stop_gradient(x)`: `x`, through which no gradient flows; the autodiff
    /// pass replaces it by its operand.
    StopGradient,
}

impl Op {
    /// The op's name in the text form (`add`, `reduce_sum`, `matmul`, …).
    pub fn name(&self) -> String {
        match self {
            Op::Input { .. } => "input".into(),
            Op::Param { .. } => "param".into(),
            Op::Const(_) => "const".into(),
            Op::Unary(u) => u.name().into(),
            Op::Binary(b) => b.name().into(),
            Op::Select => "select".into(),
            Op::Reduce { op, .. } => format!("reduce_{}", op.name()),
            Op::ArgMax { .. } => "argmax".into(),
            Op::ArgMin { .. } => "argmin".into(),
            Op::MatMul => "matmul".into(),
            Op::Transpose { .. } => "transpose".into(),
            Op::Reshape { .. } => "reshape".into(),
            Op::BroadcastTo { .. } => "broadcast_to".into(),
            Op::Slice { .. } => "slice".into(),
            Op::Concat { .. } => "concat".into(),
            Op::OneHot { .. } => "one_hot".into(),
            Op::Cast { .. } => "cast".into(),
            Op::Grad => "grad".into(),
            Op::StopGradient => "stop_gradient".into(),
        }
    }

    /// Number of operands the op takes; `None` for variadic (`concat`).
    pub fn arity(&self) -> Option<usize> {
        match self {
            Op::Input { .. } | Op::Param { .. } | Op::Const(_) => Some(0),
            Op::Unary(_)
            | Op::Reduce { .. }
            | Op::ArgMax { .. }
            | Op::ArgMin { .. }
            | Op::Transpose { .. }
            | Op::Reshape { .. }
            | Op::BroadcastTo { .. }
            | Op::Slice { .. }
            | Op::OneHot { .. }
            | Op::Cast { .. }
            | Op::StopGradient => Some(1),
            Op::Binary(_) | Op::MatMul | Op::Grad => Some(2),
            Op::Select => Some(3),
            Op::Concat { .. } => None,
        }
    }

    /// True for ops with no operands that are not constants: the graph's leaves.
    pub fn is_leaf_state(&self) -> bool {
        matches!(self, Op::Input { .. } | Op::Param { .. })
    }
}
