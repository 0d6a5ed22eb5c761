//! The builtin functions' signatures: which names are builtins, what each
//! takes (values, static arguments, optional ones), and binding a call's
//! arguments to those parameters, with the errors a bad call gets. Lowering
//! a call is [`crate::builtin`]'s; this module knows nothing of it.

use crate::ast::{Expr, Ident, Span};
use crate::diag::Diagnostic;
use tfg_ir::{BinaryOp, ReduceOp, UnaryOp};

/// What an argument is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A tensor.
    Value,
    /// A list of tensors, written `[a, b, …]`.
    Values,
    /// Known when compiling: an axis, a shape, a flag, a dtype.
    Static,
}

/// One parameter of a function's signature.
#[derive(Clone, Copy, Debug)]
pub struct Param<'a> {
    pub name: &'a str,
    pub kind: ArgKind,
    pub required: bool,
}

impl<'a> Param<'a> {
    pub const fn value(name: &'a str) -> Param<'a> {
        Param {
            name,
            kind: ArgKind::Value,
            required: true,
        }
    }

    const fn fixed(name: &'a str) -> Param<'a> {
        Param {
            name,
            kind: ArgKind::Static,
            required: true,
        }
    }

    const fn optional(name: &'a str) -> Param<'a> {
        Param {
            name,
            kind: ArgKind::Static,
            required: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BuiltinKind {
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
    ExpandDims,
    Squeeze,
    Softmax,
    LogSoftmax,
    OneHot,
    Cast,
    Grad,
    /// Expanded into several IR ops where the call is lowered.
    Composite(Composite),
}

/// The builtins that are compositions of IR ops (the frontend's `composite`
/// and `window` modules expand them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Composite {
    Log1p,
    Expm1,
    Erf,
    Softplus,
    Silu,
    Elu,
    LeakyRelu,
    Gelu,
    Clip,
    LogicalAnd,
    LogicalOr,
    LogSumExp,
    Var,
    Std,
    Cumsum,
    Stack,
    Pad,
    Tile,
    Take,
    StopGradient,
    Conv2d,
    MaxPool,
    AvgPool,
}

/// A builtin: its name, signature and meaning.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub params: &'static [Param<'static>],
    pub kind: BuiltinKind,
}

/// Every builtin's name, in the order of docs/language.md's builtin table.
pub const NAMES: [&str; 62] = [
    "neg",
    "abs",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "square",
    "tanh",
    "sigmoid",
    "relu",
    "sin",
    "cos",
    "floor",
    "ceil",
    "sign",
    "reciprocal",
    "maximum",
    "minimum",
    "pow",
    "where",
    "sum",
    "mean",
    "max",
    "min",
    "prod",
    "argmax",
    "argmin",
    "matmul",
    "transpose",
    "reshape",
    "broadcast_to",
    "concat",
    "expand_dims",
    "squeeze",
    "softmax",
    "log_softmax",
    "one_hot",
    "cast",
    "grad",
    "stop_gradient",
    "log1p",
    "expm1",
    "erf",
    "softplus",
    "silu",
    "elu",
    "leaky_relu",
    "gelu",
    "clip",
    "logical_and",
    "logical_or",
    "logsumexp",
    "var",
    "std",
    "cumsum",
    "stack",
    "pad",
    "tile",
    "take",
    "conv2d",
    "max_pool",
    "avg_pool",
];

const UNARY: &[Param] = &[Param::value("x")];
const BINARY: &[Param] = &[Param::value("a"), Param::value("b")];
const WHERE: &[Param] = &[Param::value("cond"), Param::value("a"), Param::value("b")];
const REDUCE: &[Param] = &[
    Param::value("x"),
    Param::optional("axis"),
    Param::optional("keepdims"),
];
const ARG_REDUCE: &[Param] = &[Param::value("x"), Param::fixed("axis")];
const TRANSPOSE: &[Param] = &[Param::value("x"), Param::optional("perm")];
const SHAPED: &[Param] = &[Param::value("x"), Param::fixed("shape")];
const CONCAT: &[Param] = &[
    Param {
        name: "values",
        kind: ArgKind::Values,
        required: true,
    },
    Param::fixed("axis"),
];
const AXIS: &[Param] = &[Param::value("x"), Param::fixed("axis")];
const OPTIONAL_AXIS: &[Param] = &[Param::value("x"), Param::optional("axis")];
const ONE_HOT: &[Param] = &[Param::value("indices"), Param::fixed("depth")];
const CAST: &[Param] = &[Param::value("x"), Param::fixed("dtype")];
const GRAD: &[Param] = &[Param::value("y"), Param::value("x")];
const LEAKY_RELU: &[Param] = &[Param::value("x"), Param::optional("alpha")];
const GELU: &[Param] = &[Param::value("x"), Param::optional("approximate")];
const CLIP: &[Param] = &[Param::value("x"), Param::value("lo"), Param::value("hi")];
const STACK: &[Param] = &[
    Param {
        name: "values",
        kind: ArgKind::Values,
        required: true,
    },
    Param::optional("axis"),
];
const PAD: &[Param] = &[
    Param::value("x"),
    Param::fixed("pads"),
    Param {
        name: "value",
        kind: ArgKind::Value,
        required: false,
    },
];
const TILE: &[Param] = &[Param::value("x"), Param::fixed("reps")];
const TAKE: &[Param] = &[
    Param::value("x"),
    Param::value("indices"),
    Param::optional("axis"),
];
const CONV2D: &[Param] = &[
    Param::value("x"),
    Param::value("w"),
    Param::optional("stride"),
    Param::optional("padding"),
    Param::optional("dilation"),
    Param::optional("groups"),
];
const POOL: &[Param] = &[
    Param::value("x"),
    Param::fixed("size"),
    Param::optional("stride"),
    Param::optional("padding"),
];

/// The builtin called `name`.
pub fn find(name: &str) -> Option<Builtin> {
    let (params, kind) = match name {
        "where" => (WHERE, BuiltinKind::Select),
        "argmax" => (ARG_REDUCE, BuiltinKind::ArgMax),
        "argmin" => (ARG_REDUCE, BuiltinKind::ArgMin),
        "matmul" => (BINARY, BuiltinKind::MatMul),
        "transpose" => (TRANSPOSE, BuiltinKind::Transpose),
        "reshape" => (SHAPED, BuiltinKind::Reshape),
        "broadcast_to" => (SHAPED, BuiltinKind::BroadcastTo),
        "concat" => (CONCAT, BuiltinKind::Concat),
        "expand_dims" => (AXIS, BuiltinKind::ExpandDims),
        "squeeze" => (OPTIONAL_AXIS, BuiltinKind::Squeeze),
        "softmax" => (OPTIONAL_AXIS, BuiltinKind::Softmax),
        "log_softmax" => (OPTIONAL_AXIS, BuiltinKind::LogSoftmax),
        "one_hot" => (ONE_HOT, BuiltinKind::OneHot),
        "cast" => (CAST, BuiltinKind::Cast),
        "grad" => (GRAD, BuiltinKind::Grad),
        "stop_gradient" => (UNARY, BuiltinKind::Composite(Composite::StopGradient)),
        "log1p" => (UNARY, BuiltinKind::Composite(Composite::Log1p)),
        "expm1" => (UNARY, BuiltinKind::Composite(Composite::Expm1)),
        "erf" => (UNARY, BuiltinKind::Composite(Composite::Erf)),
        "softplus" => (UNARY, BuiltinKind::Composite(Composite::Softplus)),
        "silu" => (UNARY, BuiltinKind::Composite(Composite::Silu)),
        "elu" => (UNARY, BuiltinKind::Composite(Composite::Elu)),
        "leaky_relu" => (LEAKY_RELU, BuiltinKind::Composite(Composite::LeakyRelu)),
        "gelu" => (GELU, BuiltinKind::Composite(Composite::Gelu)),
        "clip" => (CLIP, BuiltinKind::Composite(Composite::Clip)),
        "logical_and" => (BINARY, BuiltinKind::Composite(Composite::LogicalAnd)),
        "logical_or" => (BINARY, BuiltinKind::Composite(Composite::LogicalOr)),
        "logsumexp" => (REDUCE, BuiltinKind::Composite(Composite::LogSumExp)),
        "var" => (REDUCE, BuiltinKind::Composite(Composite::Var)),
        "std" => (REDUCE, BuiltinKind::Composite(Composite::Std)),
        "cumsum" => (OPTIONAL_AXIS, BuiltinKind::Composite(Composite::Cumsum)),
        "stack" => (STACK, BuiltinKind::Composite(Composite::Stack)),
        "pad" => (PAD, BuiltinKind::Composite(Composite::Pad)),
        "tile" => (TILE, BuiltinKind::Composite(Composite::Tile)),
        "take" => (TAKE, BuiltinKind::Composite(Composite::Take)),
        "conv2d" => (CONV2D, BuiltinKind::Composite(Composite::Conv2d)),
        "max_pool" => (POOL, BuiltinKind::Composite(Composite::MaxPool)),
        "avg_pool" => (POOL, BuiltinKind::Composite(Composite::AvgPool)),
        "maximum" | "minimum" | "pow" => (BINARY, BuiltinKind::Binary(BinaryOp::from_name(name)?)),
        _ => match (UnaryOp::from_name(name), ReduceOp::from_name(name)) {
            (Some(UnaryOp::Not), _) => return None,
            (Some(u), _) => (UNARY, BuiltinKind::Unary(u)),
            (None, Some(r)) => (REDUCE, BuiltinKind::Reduce(r)),
            (None, None) => return None,
        },
    };
    let name = NAMES.into_iter().find(|n| *n == name)?;
    Some(Builtin { name, params, kind })
}

/// Signatures of the param initialisers that take arguments (`full`,
/// `uniform`, `normal`).
pub fn init_signature(name: &str) -> &'static [Param<'static>] {
    const FULL: &[Param] = &[Param::fixed("v")];
    const UNIFORM: &[Param] = &[Param::fixed("lo"), Param::fixed("hi")];
    const NORMAL: &[Param] = &[Param::optional("mean"), Param::optional("std")];
    match name {
        "full" => FULL,
        "uniform" => UNIFORM,
        _ => NORMAL,
    }
}

/// `callee(a, b = …)`, for notes.
fn signature(callee: &str, params: &[Param]) -> String {
    let list: Vec<String> = params
        .iter()
        .map(|p| {
            if p.required {
                p.name.to_string()
            } else {
                format!("{} = …", p.name)
            }
        })
        .collect();
    format!("the signature is `{callee}({})`", list.join(", "))
}

/// Matches a call's arguments to `params`: positional ones in order, then
/// keywords by name. Gives each parameter its argument, if any.
pub fn bind_args<'e>(
    callee: &str,
    params: &[Param],
    args: &'e [Expr],
    kwargs: &'e [(Ident, Expr)],
    call: Span,
) -> Result<Vec<Option<&'e Expr>>, Diagnostic> {
    if args.len() > params.len() {
        let all_required = params.iter().all(|p| p.required);
        let count = match params.len() {
            1 => "1 argument".to_string(),
            n => format!("{n} arguments"),
        };
        let bound = if all_required {
            count
        } else {
            format!("at most {count}")
        };
        return Err(Diagnostic::error(format!(
            "`{callee}` takes {bound} but {} were given",
            args.len()
        ))
        .at(args[params.len()].span)
        .label("unexpected argument")
        .note(signature(callee, params)));
    }
    let mut bound: Vec<Option<&Expr>> = vec![None; params.len()];
    for (slot, a) in bound.iter_mut().zip(args) {
        *slot = Some(a);
    }
    for (key, value) in kwargs {
        let Some(k) = params.iter().position(|p| p.name == key.name) else {
            return Err(Diagnostic::error(format!(
                "`{callee}` has no argument named `{}`",
                key.name
            ))
            .at(key.span)
            .note(signature(callee, params)));
        };
        if bound[k].is_some() {
            return Err(Diagnostic::error(format!(
                "argument `{}` of `{callee}` is given twice",
                key.name
            ))
            .at(key.span));
        }
        bound[k] = Some(value);
    }
    if let Some(p) = params
        .iter()
        .zip(&bound)
        .find(|(p, b)| p.required && b.is_none())
        .map(|(p, _)| p)
    {
        return Err(
            Diagnostic::error(format!("`{callee}` is missing its argument `{}`", p.name))
                .at(call)
                .note(signature(callee, params)),
        );
    }
    Ok(bound)
}
