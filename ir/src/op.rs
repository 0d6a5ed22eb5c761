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
    /// `-a`; integers wrap.
    Neg,
    /// `|a|`; integers wrap.
    Abs,
    /// `e^a`; floats only.
    Exp,
    /// Natural logarithm; floats only.
    Log,
    /// Square root; floats only, NaN below 0.
    Sqrt,
    /// `1 / sqrt(a)`; floats only.
    Rsqrt,
    /// `a * a`; integers wrap.
    Square,
    /// Hyperbolic tangent; floats only.
    Tanh,
    /// `1 / (1 + e^-a)`; floats only.
    Sigmoid,
    /// `maximum(a, 0)`; NaN stays NaN, gradient 0 at 0.
    Relu,
    /// Sine, in radians; floats only.
    Sin,
    /// Cosine, in radians; floats only.
    Cos,
    /// Round towards -inf; floats only.
    Floor,
    /// Round towards +inf; floats only.
    Ceil,
    /// -1, 0 or 1 in the operand's dtype; NaN stays NaN.
    Sign,
    /// `1 / a`; floats only.
    Reciprocal,
    /// Logical not, on `bool` only.
    Not,
}

impl UnaryOp {
    /// Every unary op, in the order of the variants.
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

    /// The op's name in the text form (`neg`, `rsqrt`, …).
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

    /// The op the text form calls `s`, if any.
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
    /// `a + b`; integers wrap.
    Add,
    /// `a - b`; integers wrap.
    Sub,
    /// `a * b`; integers wrap.
    Mul,
    /// True division for floats; floor division for integers, with
    /// `x / 0 == 0`.
    Div,
    /// `a ** b`; for integers a negative exponent gives 0 unless `a` is
    /// 1 or -1.
    Pow,
    /// numpy `maximum`: the larger operand, a NaN operand wins.
    Maximum,
    /// numpy `minimum`: the smaller operand, a NaN operand wins.
    Minimum,
    /// `a < b`, giving `bool`.
    Lt,
    /// `a <= b`, giving `bool`.
    Le,
    /// `a > b`, giving `bool`.
    Gt,
    /// `a >= b`, giving `bool`.
    Ge,
    /// `a == b`, giving `bool`.
    Eq,
    /// `a != b`, giving `bool`.
    Ne,
}

impl BinaryOp {
    /// Every binary op, in the order of the variants.
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

    /// The op's name in the text form (`add`, `maximum`, `lt`, …).
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

    /// The op the text form calls `s`, if any.
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
    /// The sum of the elements (0 for none).
    Sum,
    /// The sum divided by the number of elements reduced; floats only.
    Mean,
    /// The largest element; a NaN wins.
    Max,
    /// The smallest element; a NaN wins.
    Min,
    /// The product of the elements (1 for none); integers wrap.
    Prod,
}

impl ReduceOp {
    /// Every reduction, in the order of the variants.
    pub const ALL: [ReduceOp; 5] = [
        ReduceOp::Sum,
        ReduceOp::Mean,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::Prod,
    ];

    /// The reduction's name in the text form (`sum`, …); the op is `reduce_`
    /// and this.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::Prod => "prod",
        }
    }

    /// The reduction the text form calls `s` (without `reduce_`), if any.
    pub fn from_name(s: &str) -> Option<ReduceOp> {
        ReduceOp::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// How a param gets its first value: the INIT of its declaration.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// A literal; a scalar fills the shape.
    Literal(Tensor),
    /// Every element 0.
    Zeros,
    /// Every element 1.
    Ones,
    /// Every element this value, converted to the param's dtype.
    Full(f64),
    /// Independent draws from the uniform distribution between `lo` and `hi`.
    Uniform {
        /// Lower bound; finite and at most `hi`.
        lo: f64,
        /// Upper bound; finite.
        hi: f64,
    },
    /// Independent draws from a normal distribution.
    Normal {
        /// The distribution's mean; finite.
        mean: f64,
        /// The distribution's standard deviation (not variance); finite
        /// and `>= 0`.
        std: f64,
    },
    /// Glorot/Xavier uniform over the first two dims.
    Glorot,
}

/// What an input holds when a run does not feed it.
#[derive(Clone, Debug, PartialEq)]
pub enum InputDefault {
    /// A value of the input's type (a scalar fills its shape).
    Value(Tensor),
    /// The array in the `.npy` file at this path, read by whoever runs the
    /// graph (the IR touches no files). A relative path is relative to the
    /// directory of the file that names it.
    File(String),
}

impl InputDefault {
    /// The value, where the default is one.
    pub fn value(&self) -> Option<&Tensor> {
        match self {
            InputDefault::Value(t) => Some(t),
            InputDefault::File(_) => None,
        }
    }
}

/// One Graph IR operation. Operands are the node's `args`; attributes live here.
///
/// Axes are always normalised (non-negative, in range) by the time an op is
/// built; the frontend resolves negative axes and `-1` in reshapes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A placeholder fed at run time, with an optional default feed. No args.
    Input {
        /// The name feeds refer to it by; unique among inputs and params.
        name: String,
        /// What the input holds when it is not fed; `None` makes a feed
        /// required.
        default: Option<InputDefault>,
    },
    /// Trainable state that persists between runs. No args.
    Param {
        /// The name checkpoints refer to it by; unique among inputs and params.
        name: String,
        /// How its first value is made.
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
        /// The reduction applied.
        op: ReduceOp,
        /// The operand axes reduced over: sorted, unique, in range.
        axes: Vec<usize>,
        /// Whether reduced axes stay as size 1 rather than being removed.
        keepdims: bool,
    },
    /// Index of the max / min along `axis` (first on ties); gives `i32`.
    ArgMax {
        /// The axis searched; it is removed from the result.
        axis: usize,
    },
    /// Index of the min along `axis` (first on ties); gives `i32`.
    ArgMin {
        /// The axis searched; it is removed from the result.
        axis: usize,
    },
    /// numpy `matmul`: 1-D, 2-D and batched with broadcast leading dims.
    MatMul,
    /// Permute axes: result dim `i` is operand dim `perm[i]`.
    Transpose {
        /// A permutation of `0..rank`.
        perm: Vec<usize>,
    },
    /// Same elements, new shape (no `-1`; resolved by the builder).
    Reshape {
        /// The result shape: same element count as the operand.
        shape: Shape,
    },
    /// numpy `broadcast_to`.
    BroadcastTo {
        /// The result shape, which the operand's broadcasts to (numpy rules).
        shape: Shape,
    },
    /// numpy basic slicing with non-negative steps: result element `i` along
    /// axis `a` is operand element `start[a] + step[a] * i`; `shape` is the
    /// result's shape (a symbolic dim only where the whole axis is kept).
    Slice {
        /// Index of the first element taken, per operand axis.
        start: Vec<u64>,
        /// Distance between taken elements, per operand axis; at least 1.
        step: Vec<u64>,
        /// The result's shape: elements taken per axis; a symbolic dim only
        /// where the whole axis is kept (start 0, step 1).
        shape: Shape,
    },
    /// Join the operands along `axis`.
    Concat {
        /// The axis joined along; the operands agree on every other dim.
        axis: usize,
    },
    /// `one_hot(i, depth)`: f32 with a new last axis of size `depth`.
    OneHot {
        /// Size of the new axis; an index outside `0..depth` gives a row of
        /// zeros.
        depth: u64,
    },
    /// Convert elements to another dtype.
    Cast {
        /// The dtype converted to, with numpy `astype` semantics.
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

/// The perm that undoes `transpose` by `perm`: `inverse[perm[i]] == i`.
/// `None` if `perm` is not a permutation of `0..perm.len()`.
pub fn inverse_perm(perm: &[usize]) -> Option<Vec<usize>> {
    let mut inverse = vec![usize::MAX; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        let slot = inverse.get_mut(p)?;
        if *slot != usize::MAX {
            return None;
        }
        *slot = i;
    }
    Some(inverse)
}

#[cfg(test)]
mod tests {
    use super::inverse_perm;

    #[test]
    fn inverse_perm_undoes_a_perm_and_refuses_what_is_not_one() {
        assert_eq!(inverse_perm(&[0, 3, 1, 2]), Some(vec![0, 2, 3, 1]));
        assert_eq!(inverse_perm(&[]), Some(vec![]));
        assert_eq!(inverse_perm(&[0, 0]), None);
        assert_eq!(inverse_perm(&[2, 0]), None);
    }
}
