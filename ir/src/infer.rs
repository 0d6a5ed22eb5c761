//! The op registry: the type and shape rule of every [`Op`].
//!
//! `infer(op, operand types)` gives the result type or a [`TypeError`] that
//! says, in the user's terms, why the operands do not fit. Symbolic dims are
//! only ever matched by name: a rule that would need to know a symbol's size
//! (is `B` equal to 4?) rejects the graph rather than guess.

use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use crate::types::{DType, Dim, Shape, Type};
use std::fmt;

/// Operands that do not fit an op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError {
    /// Why the operands do not fit, in the user's terms.
    pub message: String,
}

impl TypeError {
    /// An error saying `message`.
    pub fn new(message: impl Into<String>) -> TypeError {
        TypeError {
            message: message.into(),
        }
    }
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TypeError {}

/// Why two dims do not broadcast.
enum Clash {
    /// Two different known sizes, neither 1.
    Sizes,
    /// A symbol against another symbol or a known size other than 1.
    Unprovable(Dim, Dim),
}

impl Clash {
    fn explain(&self) -> String {
        match self {
            Clash::Sizes => String::new(),
            Clash::Unprovable(a, b) => {
                format!(" (dimensions {a} and {b} are not known to be equal)")
            }
        }
    }
}

fn broadcast_dim(a: &Dim, b: &Dim) -> Result<Dim, Clash> {
    match (a, b) {
        (Dim::Known(1), d) | (d, Dim::Known(1)) => Ok(d.clone()),
        (Dim::Known(x), Dim::Known(y)) if x == y => Ok(a.clone()),
        (Dim::Known(_), Dim::Known(_)) => Err(Clash::Sizes),
        (Dim::Sym(x), Dim::Sym(y)) if x == y => Ok(a.clone()),
        _ => Err(Clash::Unprovable(a.clone(), b.clone())),
    }
}

fn broadcast(a: &Shape, b: &Shape) -> Result<Shape, Clash> {
    let rank = a.rank().max(b.rank());
    let dim = |s: &Shape, i: usize| {
        let pad = rank - s.rank();
        if i < pad {
            Dim::Known(1)
        } else {
            s.0[i - pad].clone()
        }
    };
    (0..rank)
        .map(|i| broadcast_dim(&dim(a, i), &dim(b, i)))
        .collect::<Result<_, _>>()
        .map(Shape)
}

/// The numpy broadcast of two shapes: aligned from the right, a dim of 1
/// stretches to the other. A symbol matches only itself and 1.
pub fn broadcast_shapes(a: &Shape, b: &Shape) -> Result<Shape, TypeError> {
    broadcast(a, b)
        .map_err(|c| TypeError::new(format!("cannot broadcast {a} with {b}{}", c.explain())))
}

/// Whether `from` broadcasts to exactly `to` (numpy `broadcast_to`).
fn broadcasts_to(from: &Shape, to: &Shape) -> bool {
    from.rank() <= to.rank()
        && from
            .0
            .iter()
            .rev()
            .zip(to.0.iter().rev())
            .all(|(f, t)| f == t || *f == Dim::Known(1))
}

fn err<T>(op: &Op, message: impl fmt::Display) -> Result<T, TypeError> {
    Err(TypeError::new(format!("{}: {message}", op.name())))
}

fn broadcast_types(op: &Op, a: &Type, b: &Type) -> Result<Shape, TypeError> {
    broadcast(&a.shape, &b.shape)
        .or_else(|c| err(op, format!("cannot broadcast {a} with {b}{}", c.explain())))
}

fn same_dtype(op: &Op, a: &Type, b: &Type) -> Result<DType, TypeError> {
    if a.dtype == b.dtype {
        Ok(a.dtype)
    } else {
        err(
            op,
            format!(
                "operands have different dtypes {} and {}; use cast",
                a.dtype, b.dtype
            ),
        )
    }
}

fn numeric(op: &Op, t: &Type) -> Result<(), TypeError> {
    if t.dtype == DType::Bool {
        return err(op, format!("needs a numeric operand, got {t}"));
    }
    Ok(())
}

fn float(op: &Op, t: &Type) -> Result<(), TypeError> {
    if !t.dtype.is_float() {
        return err(
            op,
            format!("needs a float operand (f32 or f64), got {t}; use cast"),
        );
    }
    Ok(())
}

fn axis_in_range(op: &Op, axis: usize, t: &Type) -> Result<(), TypeError> {
    if axis >= t.shape.rank() {
        return err(
            op,
            format!(
                "axis {axis} is out of range for {t} (rank {})",
                t.shape.rank()
            ),
        );
    }
    Ok(())
}

/// The result type of `op` applied to operands of types `args`.
pub fn infer(op: &Op, args: &[&Type]) -> Result<Type, TypeError> {
    let ty = infer_op(op, args)?;
    // No result may hold more elements than 64 bits count.
    ty.check_size()
        .map_err(|m| TypeError::new(format!("{}: {m}", op.name())))?;
    Ok(ty)
}

/// The result type of `op`, by its own rule.
fn infer_op(op: &Op, args: &[&Type]) -> Result<Type, TypeError> {
    match op.arity() {
        Some(n) if args.len() != n => {
            return err(
                op,
                format!(
                    "takes {n} operand{}, got {}",
                    if n == 1 { "" } else { "s" },
                    args.len()
                ),
            )
        }
        None if args.is_empty() => return err(op, "needs at least one operand"),
        _ => {}
    }
    match op {
        Op::Input { .. } | Op::Param { .. } => err(
            op,
            "has a declared type; build it with Graph::add_input or Graph::add_param",
        ),
        Op::Const(t) => Ok(t.ty()),
        Op::Unary(u) => unary(op, *u, args[0]),
        Op::Binary(b) => binary(op, *b, args[0], args[1]),
        Op::Select => {
            let (c, a, b) = (args[0], args[1], args[2]);
            if c.dtype != DType::Bool {
                return err(op, format!("the condition must be bool, got {c}"));
            }
            let dtype = same_dtype(op, a, b)?;
            let ab = broadcast_types(op, a, b)?;
            let shape = broadcast(&c.shape, &ab).or_else(|e| {
                err(
                    op,
                    format!(
                        "cannot broadcast condition {c} with {}{}",
                        Type::new(dtype, ab.clone()),
                        e.explain()
                    ),
                )
            })?;
            Ok(Type::new(dtype, shape))
        }
        Op::Reduce {
            op: r,
            axes,
            keepdims,
        } => reduce(op, *r, axes, *keepdims, args[0]),
        Op::ArgMax { axis } | Op::ArgMin { axis } => {
            let t = args[0];
            numeric(op, t)?;
            axis_in_range(op, *axis, t)?;
            if t.shape.0[*axis] == Dim::Known(0) {
                return err(op, format!("axis {axis} of {t} is empty"));
            }
            let mut dims = t.shape.0.clone();
            dims.remove(*axis);
            Ok(Type::new(DType::I32, Shape(dims)))
        }
        Op::MatMul => matmul(op, args[0], args[1]),
        Op::Transpose { perm } => {
            let t = args[0];
            let mut seen = vec![false; t.shape.rank()];
            let is_perm = perm.len() == seen.len()
                && perm
                    .iter()
                    .all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true));
            if !is_perm {
                return err(
                    op,
                    format!(
                        "perm {perm:?} is not a permutation of the {} axes of {t}",
                        t.shape.rank()
                    ),
                );
            }
            Ok(Type::new(
                t.dtype,
                Shape(perm.iter().map(|&p| t.shape.0[p].clone()).collect()),
            ))
        }
        Op::Reshape { shape } => {
            let t = args[0];
            if !same_size(&t.shape, shape) {
                return err(
                    op,
                    format!("cannot reshape {t} to {shape}: the element counts differ"),
                );
            }
            Ok(Type::new(t.dtype, shape.clone()))
        }
        Op::BroadcastTo { shape } => {
            let t = args[0];
            if !broadcasts_to(&t.shape, shape) {
                return err(op, format!("cannot broadcast {t} to {shape}"));
            }
            Ok(Type::new(t.dtype, shape.clone()))
        }
        Op::Slice { start, step, shape } => slice(op, start, step, shape, args[0]),
        Op::StopGradient => Ok(args[0].clone()),
        Op::Concat { axis } => concat(op, *axis, args),
        Op::OneHot { depth } => {
            let t = args[0];
            if !t.dtype.is_int() {
                return err(
                    op,
                    format!("needs an integer operand (i32 or i64), got {t}"),
                );
            }
            let mut dims = t.shape.0.clone();
            dims.push(Dim::Known(*depth));
            Ok(Type::new(DType::F32, Shape(dims)))
        }
        Op::Cast { to } => Ok(Type::new(*to, args[0].shape.clone())),
        Op::Grad => {
            let (y, x) = (args[0], args[1]);
            if !y.dtype.is_float() || y.shape.rank() != 0 {
                return err(op, format!("differentiates a float scalar, got {y}"));
            }
            if !x.dtype.is_float() {
                return err(
                    op,
                    format!("differentiates with respect to a float value, got {x}"),
                );
            }
            Ok(x.clone())
        }
    }
}

fn slice(op: &Op, start: &[u64], step: &[u64], shape: &Shape, t: &Type) -> Result<Type, TypeError> {
    let rank = t.shape.rank();
    if start.len() != rank || step.len() != rank || shape.rank() != rank {
        return err(
            op,
            format!("needs a start, a step and a size for each of the {rank} axes of {t}"),
        );
    }
    for (a, ((&from, &by), (have, want))) in start
        .iter()
        .zip(step)
        .zip(t.shape.0.iter().zip(&shape.0))
        .enumerate()
    {
        let fits = match (have, want) {
            (_, Dim::Known(0)) => by >= 1,
            (Dim::Known(n), Dim::Known(len)) => {
                by >= 1
                    && by
                        .checked_mul(len - 1)
                        .and_then(|d| d.checked_add(from))
                        .is_some_and(|last| last < *n)
            }
            (have, want) => have == want && from == 0 && by == 1,
        };
        if !fits {
            return err(
                op,
                format!("axis {a}: {want} elements from {from} by {by} do not fit in {t}"),
            );
        }
    }
    Ok(Type::new(t.dtype, shape.clone()))
}

fn unary(op: &Op, u: UnaryOp, t: &Type) -> Result<Type, TypeError> {
    if u == UnaryOp::Not {
        if t.dtype != DType::Bool {
            return err(op, format!("needs a bool operand, got {t}"));
        }
    } else if u.float_only() {
        float(op, t)?;
    } else {
        numeric(op, t)?;
    }
    Ok(t.clone())
}

fn binary(op: &Op, b: BinaryOp, x: &Type, y: &Type) -> Result<Type, TypeError> {
    let dtype = same_dtype(op, x, y)?;
    let bool_ok = matches!(b, BinaryOp::Eq | BinaryOp::Ne);
    if dtype == DType::Bool && !bool_ok {
        return err(op, format!("needs numeric operands, got {x} and {y}"));
    }
    let shape = broadcast_types(op, x, y)?;
    Ok(Type::new(
        if b.is_comparison() {
            DType::Bool
        } else {
            dtype
        },
        shape,
    ))
}

fn reduce(
    op: &Op,
    r: ReduceOp,
    axes: &[usize],
    keepdims: bool,
    t: &Type,
) -> Result<Type, TypeError> {
    if r == ReduceOp::Mean {
        float(op, t)?;
    } else {
        numeric(op, t)?;
    }
    if axes.windows(2).any(|w| w[0] >= w[1]) {
        return err(op, format!("axes {axes:?} must be sorted and unique"));
    }
    for &a in axes {
        axis_in_range(op, a, t)?;
        if matches!(r, ReduceOp::Max | ReduceOp::Min) && t.shape.0[a] == Dim::Known(0) {
            return err(
                op,
                format!("axis {a} of {t} is empty and has no {}", r.name()),
            );
        }
    }
    let dims =
        t.shape
            .0
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match (axes.contains(&i), keepdims) {
                (false, _) => Some(d.clone()),
                (true, true) => Some(Dim::Known(1)),
                (true, false) => None,
            });
    Ok(Type::new(t.dtype, Shape(dims.collect())))
}

fn matmul(op: &Op, a: &Type, b: &Type) -> Result<Type, TypeError> {
    let dtype = same_dtype(op, a, b)?;
    if dtype == DType::Bool {
        return err(op, format!("needs numeric operands, got {a} and {b}"));
    }
    if a.shape.rank() == 0 || b.shape.rank() == 0 {
        return err(
            op,
            format!("needs operands of rank 1 or more, got {a} and {b}"),
        );
    }
    // numpy promotes a 1-D operand to a matrix ([k] → [1, k] on the left,
    // [k, 1] on the right) and drops the added dim from the result.
    let (ra, rb) = (a.shape.rank(), b.shape.rank());
    let (k_a, k_b) = (
        &a.shape.0[ra - 1],
        &b.shape.0[if rb == 1 { 0 } else { rb - 2 }],
    );
    if k_a != k_b {
        return err(
            op,
            format!("inner dimensions differ ({k_a} vs {k_b}) in {a} @ {b}"),
        );
    }
    let batch = |s: &Shape| Shape(s.0[..s.rank().saturating_sub(2)].to_vec());
    let mut dims = broadcast(&batch(&a.shape), &batch(&b.shape))
        .or_else(|c| {
            err(
                op,
                format!(
                    "cannot broadcast the batch dims of {a} with {b}{}",
                    c.explain()
                ),
            )
        })?
        .0;
    if ra >= 2 {
        dims.push(a.shape.0[ra - 2].clone());
    }
    if rb >= 2 {
        dims.push(b.shape.0[rb - 1].clone());
    }
    Ok(Type::new(dtype, Shape(dims)))
}

/// Equal element counts: equal products of the known dims and equal
/// multisets of symbols.
fn same_size(a: &Shape, b: &Shape) -> bool {
    fn parts(s: &Shape) -> (Option<u64>, Vec<&str>) {
        // Checked: with symbols among them, the known dims of a shape from a
        // file may multiply past u64 (no size two shapes can share); a zero
        // dim makes the count 0 whatever the others are.
        let known = if s.0.contains(&Dim::Known(0)) {
            Some(0)
        } else {
            s.0.iter()
                .filter_map(Dim::known)
                .try_fold(1u64, |n, d| n.checked_mul(d))
        };
        let mut syms: Vec<&str> =
            s.0.iter()
                .filter_map(|d| match d {
                    Dim::Sym(n) => Some(n.as_str()),
                    Dim::Known(_) => None,
                })
                .collect();
        syms.sort_unstable();
        (known, syms)
    }
    let (ka, sa) = parts(a);
    let (kb, sb) = parts(b);
    // An empty tensor has no elements whatever its symbols are.
    (ka == Some(0) && kb == Some(0)) || (ka.is_some() && ka == kb && sa == sb)
}

fn concat(op: &Op, axis: usize, args: &[&Type]) -> Result<Type, TypeError> {
    let first = args[0];
    axis_in_range(op, axis, first)?;
    let mut total = 0u64;
    for t in args {
        if t.dtype != first.dtype {
            return err(
                op,
                format!(
                    "operands have different dtypes {} and {}; use cast",
                    first.dtype, t.dtype
                ),
            );
        }
        if t.shape.rank() != first.shape.rank() {
            return err(
                op,
                format!("operands have different ranks: {first} and {t}"),
            );
        }
        for (i, (d, f)) in t.shape.0.iter().zip(&first.shape.0).enumerate() {
            if i != axis && d != f {
                return err(op, format!("operands {first} and {t} differ in dimension {i}, not only along axis {axis}"));
            }
        }
        match t.shape.0[axis] {
            Dim::Known(n) => total += n,
            Dim::Sym(ref s) => {
                return err(
                    op,
                    format!("cannot concatenate {t} along axis {axis}: its size {s} is symbolic"),
                )
            }
        }
    }
    let mut dims = first.shape.0.clone();
    dims[axis] = Dim::Known(total);
    Ok(Type::new(first.dtype, Shape(dims)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Init;
    use crate::tensor::{Data, Tensor};

    fn sym(s: &str) -> Dim {
        Dim::Sym(s.into())
    }
    fn shape(dims: &[Dim]) -> Shape {
        Shape(dims.to_vec())
    }
    fn k(n: u64) -> Dim {
        Dim::Known(n)
    }
    fn f32s(dims: &[Dim]) -> Type {
        Type::new(DType::F32, shape(dims))
    }
    fn ty(dtype: DType, dims: &[u64]) -> Type {
        Type::new(dtype, Shape::known(dims))
    }
    fn message(r: Result<Type, TypeError>) -> String {
        r.expect_err("expected a type error").message
    }

    #[test]
    fn broadcast_follows_numpy() {
        let b = |x: &[u64], y: &[u64]| broadcast_shapes(&Shape::known(x), &Shape::known(y));
        assert_eq!(b(&[2, 1, 3], &[4, 1]), Ok(Shape::known(&[2, 4, 3])));
        assert_eq!(b(&[], &[5]), Ok(Shape::known(&[5])));
        assert_eq!(b(&[0], &[1]), Ok(Shape::known(&[0])));
        assert_eq!(b(&[3], &[3]), Ok(Shape::known(&[3])));
        assert_eq!(
            b(&[3], &[4]).unwrap_err().message,
            "cannot broadcast [3] with [4]"
        );
    }

    #[test]
    fn broadcast_symbolic() {
        let bs = |x: &[Dim], y: &[Dim]| broadcast_shapes(&shape(x), &shape(y));
        assert_eq!(
            bs(&[sym("B"), k(3)], &[sym("B"), k(1)]),
            Ok(shape(&[sym("B"), k(3)]))
        );
        assert_eq!(bs(&[sym("B"), k(3)], &[k(3)]), Ok(shape(&[sym("B"), k(3)])));
        assert_eq!(bs(&[k(1)], &[sym("N")]), Ok(shape(&[sym("N")])));
        assert!(bs(&[sym("B")], &[sym("C")])
            .unwrap_err()
            .message
            .contains("B and C are not known to be equal"));
        assert!(bs(&[sym("B")], &[k(4)]).is_err());
    }

    #[test]
    fn binary_arithmetic() {
        let add = Op::Binary(BinaryOp::Add);
        assert_eq!(
            infer(&add, &[&ty(DType::I64, &[2, 1]), &ty(DType::I64, &[3])]),
            Ok(ty(DType::I64, &[2, 3]))
        );
        assert_eq!(
            message(infer(&add, &[&ty(DType::F32, &[3]), &ty(DType::F32, &[4])])),
            "add: cannot broadcast f32[3] with f32[4]"
        );
        assert_eq!(
            message(infer(&add, &[&ty(DType::F32, &[]), &ty(DType::I32, &[])])),
            "add: operands have different dtypes f32 and i32; use cast"
        );
        assert!(infer(
            &Op::Binary(BinaryOp::Pow),
            &[&ty(DType::Bool, &[]), &ty(DType::Bool, &[])]
        )
        .is_err());
        let b = f32s(&[sym("B"), k(1)]);
        assert_eq!(
            infer(&Op::Binary(BinaryOp::Mul), &[&b, &f32s(&[k(5)])]),
            Ok(f32s(&[sym("B"), k(5)]))
        );
    }

    #[test]
    fn comparisons_give_bool() {
        let lt = Op::Binary(BinaryOp::Lt);
        assert_eq!(
            infer(&lt, &[&ty(DType::F64, &[2]), &ty(DType::F64, &[])]),
            Ok(ty(DType::Bool, &[2]))
        );
        assert_eq!(
            infer(
                &Op::Binary(BinaryOp::Eq),
                &[&ty(DType::Bool, &[]), &ty(DType::Bool, &[3])]
            ),
            Ok(ty(DType::Bool, &[3]))
        );
        assert!(infer(&lt, &[&ty(DType::Bool, &[]), &ty(DType::Bool, &[])]).is_err());
        assert!(infer(&lt, &[&ty(DType::I32, &[]), &ty(DType::F32, &[])]).is_err());
    }

    #[test]
    fn unary_dtypes() {
        let u = |o, t: &Type| infer(&Op::Unary(o), &[t]);
        assert_eq!(
            u(UnaryOp::Exp, &ty(DType::F64, &[2])),
            Ok(ty(DType::F64, &[2]))
        );
        assert!(message(u(UnaryOp::Exp, &ty(DType::I32, &[])))
            .starts_with("exp: needs a float operand"));
        assert_eq!(
            u(UnaryOp::Abs, &ty(DType::I32, &[])),
            Ok(ty(DType::I32, &[]))
        );
        assert!(u(UnaryOp::Neg, &ty(DType::Bool, &[])).is_err());
        assert_eq!(
            u(UnaryOp::Not, &ty(DType::Bool, &[1])),
            Ok(ty(DType::Bool, &[1]))
        );
        assert!(u(UnaryOp::Not, &ty(DType::F32, &[])).is_err());
        assert!(infer(&Op::Unary(UnaryOp::Neg), &[])
            .unwrap_err()
            .message
            .contains("takes 1 operand, got 0"));
    }

    #[test]
    fn select_broadcasts_three_ways() {
        let c = ty(DType::Bool, &[2, 1, 1]);
        let a = ty(DType::F32, &[3, 1]);
        let b = ty(DType::F32, &[4]);
        assert_eq!(
            infer(&Op::Select, &[&c, &a, &b]),
            Ok(ty(DType::F32, &[2, 3, 4]))
        );
        assert!(infer(&Op::Select, &[&a, &a, &b])
            .unwrap_err()
            .message
            .contains("condition must be bool"));
        assert!(infer(&Op::Select, &[&c, &a, &ty(DType::I32, &[4])]).is_err());
        assert!(infer(&Op::Select, &[&ty(DType::Bool, &[5]), &a, &b]).is_err());
    }

    #[test]
    fn reductions() {
        let r = |op, axes: Vec<usize>, keepdims, t: &Type| {
            infer(&Op::Reduce { op, axes, keepdims }, &[t])
        };
        let x = f32s(&[sym("B"), k(3), k(4)]);
        assert_eq!(
            r(ReduceOp::Sum, vec![1], false, &x),
            Ok(f32s(&[sym("B"), k(4)]))
        );
        assert_eq!(
            r(ReduceOp::Mean, vec![0, 2], true, &x),
            Ok(f32s(&[k(1), k(3), k(1)]))
        );
        assert_eq!(r(ReduceOp::Max, vec![], false, &x), Ok(x.clone()));
        assert!(r(ReduceOp::Sum, vec![1, 0], false, &x)
            .unwrap_err()
            .message
            .contains("sorted and unique"));
        assert!(r(ReduceOp::Sum, vec![1, 1], false, &x).is_err());
        assert!(r(ReduceOp::Sum, vec![3], false, &x)
            .unwrap_err()
            .message
            .contains("out of range"));
        assert!(r(ReduceOp::Mean, vec![0], false, &ty(DType::I32, &[2])).is_err());
        assert_eq!(
            r(ReduceOp::Prod, vec![0], false, &ty(DType::I32, &[2])),
            Ok(ty(DType::I32, &[]))
        );
        assert!(r(ReduceOp::Sum, vec![0], false, &ty(DType::Bool, &[2])).is_err());
        assert!(r(ReduceOp::Max, vec![0], false, &ty(DType::F32, &[0]))
            .unwrap_err()
            .message
            .contains("empty"));
        assert_eq!(
            r(ReduceOp::Sum, vec![0], false, &ty(DType::F32, &[0])),
            Ok(ty(DType::F32, &[]))
        );
    }

    #[test]
    fn argmax_removes_axis() {
        let x = ty(DType::F64, &[2, 5]);
        assert_eq!(
            infer(&Op::ArgMax { axis: 1 }, &[&x]),
            Ok(ty(DType::I32, &[2]))
        );
        assert_eq!(
            infer(&Op::ArgMin { axis: 0 }, &[&x]),
            Ok(ty(DType::I32, &[5]))
        );
        assert!(infer(&Op::ArgMax { axis: 2 }, &[&x]).is_err());
        assert!(infer(&Op::ArgMax { axis: 0 }, &[&ty(DType::Bool, &[2])]).is_err());
    }

    #[test]
    fn matmul_numpy_rules() {
        let mm = |a: &Type, b: &Type| infer(&Op::MatMul, &[a, b]);
        assert_eq!(
            mm(&ty(DType::F32, &[3]), &ty(DType::F32, &[3])),
            Ok(ty(DType::F32, &[]))
        );
        assert_eq!(
            mm(&ty(DType::F32, &[3]), &ty(DType::F32, &[3, 4])),
            Ok(ty(DType::F32, &[4]))
        );
        assert_eq!(
            mm(&ty(DType::F32, &[2, 3]), &ty(DType::F32, &[3])),
            Ok(ty(DType::F32, &[2]))
        );
        assert_eq!(
            mm(&ty(DType::F32, &[2, 3]), &ty(DType::F32, &[3, 4])),
            Ok(ty(DType::F32, &[2, 4]))
        );
        assert_eq!(
            mm(&ty(DType::I32, &[5, 1, 2, 3]), &ty(DType::I32, &[7, 3, 4])),
            Ok(ty(DType::I32, &[5, 7, 2, 4]))
        );
        assert_eq!(
            mm(&ty(DType::F32, &[3]), &ty(DType::F32, &[6, 3, 4])),
            Ok(ty(DType::F32, &[6, 4]))
        );
        assert_eq!(
            message(mm(&ty(DType::F32, &[2, 3]), &ty(DType::F32, &[4, 5]))),
            "matmul: inner dimensions differ (3 vs 4) in f32[2, 3] @ f32[4, 5]"
        );
        assert!(mm(&ty(DType::F32, &[]), &ty(DType::F32, &[3])).is_err());
        assert!(mm(&ty(DType::Bool, &[3]), &ty(DType::Bool, &[3])).is_err());
        assert!(mm(&ty(DType::F32, &[2, 2, 3]), &ty(DType::F32, &[3, 3, 4])).is_err());
        let x = f32s(&[sym("B"), k(3)]);
        let w = f32s(&[k(3), sym("H")]);
        assert_eq!(mm(&x, &w), Ok(f32s(&[sym("B"), sym("H")])));
        assert!(mm(&w, &x).is_err());
    }

    /// Found by the `onnx` fuzz target (tests/fuzz): the known dims of a
    /// reshape's target, beside a symbol, multiplied past u64 and panicked
    /// (wrapped, without overflow checks) while comparing element counts.
    #[test]
    fn reshape_to_a_count_past_u64_is_an_error() {
        let x = f32s(&[sym("B"), k(2), k(3)]);
        let big = shape(&[k(1 << 32), k(1 << 32), k(6), sym("B")]);
        assert!(infer(&Op::Reshape { shape: big.clone() }, &[&x]).is_err());
        // A product that wraps to 0 is no empty tensor.
        let empty = f32s(&[k(0), sym("B")]);
        assert!(infer(&Op::Reshape { shape: big }, &[&empty]).is_err());
    }

    #[test]
    fn transpose_reshape_broadcast_to() {
        let x = f32s(&[sym("B"), k(2), k(3)]);
        assert_eq!(
            infer(
                &Op::Transpose {
                    perm: vec![2, 0, 1]
                },
                &[&x]
            ),
            Ok(f32s(&[k(3), sym("B"), k(2)]))
        );
        assert!(infer(
            &Op::Transpose {
                perm: vec![0, 0, 1]
            },
            &[&x]
        )
        .is_err());
        assert!(infer(&Op::Transpose { perm: vec![0, 1] }, &[&x]).is_err());
        assert!(infer(
            &Op::Transpose {
                perm: vec![0, 1, 3]
            },
            &[&x]
        )
        .is_err());

        let to = shape(&[k(6), sym("B")]);
        assert_eq!(
            infer(&Op::Reshape { shape: to.clone() }, &[&x]),
            Ok(Type::new(DType::F32, to))
        );
        assert!(infer(
            &Op::Reshape {
                shape: Shape::known(&[6])
            },
            &[&x]
        )
        .is_err());
        assert!(infer(
            &Op::Reshape {
                shape: shape(&[k(6), sym("C")])
            },
            &[&x]
        )
        .is_err());
        assert!(message(infer(
            &Op::Reshape {
                shape: Shape::known(&[4])
            },
            &[&ty(DType::I32, &[2, 3])]
        ))
        .contains("cannot reshape"));

        let bt = |from: &Type, to: &[Dim]| infer(&Op::BroadcastTo { shape: shape(to) }, &[from]);
        assert_eq!(
            bt(&ty(DType::I32, &[3, 1]), &[k(2), k(3), k(4)]),
            Ok(ty(DType::I32, &[2, 3, 4]))
        );
        assert_eq!(bt(&f32s(&[k(1)]), &[sym("B")]), Ok(f32s(&[sym("B")])));
        assert!(bt(&ty(DType::I32, &[3]), &[k(4)]).is_err());
        assert!(bt(&ty(DType::I32, &[2, 3]), &[k(3)]).is_err());
        assert!(bt(&f32s(&[sym("B")]), &[k(4)]).is_err());
    }

    #[test]
    fn concat_sums_axis() {
        let c = |axis, ts: &[&Type]| infer(&Op::Concat { axis }, ts);
        let a = f32s(&[sym("B"), k(2)]);
        let b = f32s(&[sym("B"), k(5)]);
        assert_eq!(c(1, &[&a, &b, &a]), Ok(f32s(&[sym("B"), k(9)])));
        assert!(c(0, &[&a, &a]).unwrap_err().message.contains("symbolic"));
        assert!(c(0, &[&a, &b]).is_err());
        assert!(c(2, &[&a]).is_err());
        assert!(c(0, &[]).is_err());
        assert!(c(0, &[&ty(DType::F32, &[1]), &ty(DType::I32, &[1])]).is_err());
        assert!(c(0, &[&ty(DType::F32, &[1]), &ty(DType::F32, &[1, 1])]).is_err());
    }

    #[test]
    fn one_hot_cast_grad() {
        assert_eq!(
            infer(&Op::OneHot { depth: 4 }, &[&ty(DType::I64, &[3])]),
            Ok(ty(DType::F32, &[3, 4]))
        );
        assert!(infer(&Op::OneHot { depth: 4 }, &[&ty(DType::F32, &[3])]).is_err());
        assert_eq!(
            infer(&Op::Cast { to: DType::Bool }, &[&f32s(&[sym("N")])]),
            Ok(Type::new(DType::Bool, shape(&[sym("N")])))
        );
        let w = ty(DType::F64, &[2, 2]);
        assert_eq!(infer(&Op::Grad, &[&ty(DType::F64, &[]), &w]), Ok(w.clone()));
        assert!(infer(&Op::Grad, &[&ty(DType::F64, &[1]), &w]).is_err());
        assert!(infer(&Op::Grad, &[&ty(DType::F64, &[]), &ty(DType::I32, &[])]).is_err());
    }

    #[test]
    fn leaves() {
        let t = Tensor::new(vec![2], Data::I32(vec![1, 2])).expect("2 elements");
        assert_eq!(infer(&Op::Const(t), &[]), Ok(ty(DType::I32, &[2])));
        assert!(infer(
            &Op::Param {
                name: "w".into(),
                init: Init::Zeros
            },
            &[]
        )
        .is_err());
    }
}
