//! Elementwise ops: unary functions, binary arithmetic and comparisons with
//! numpy broadcasting, and `select`.

use crate::index::{broadcast_strides, Offsets};
use crate::scalar::{typed, with_any, with_float, with_numeric, Elem, Float, Num};
use tfg_ir::{BinaryOp, DType, Data, Tensor, UnaryOp};

pub(crate) fn unary(op: UnaryOp, x: &Tensor) -> Result<Data, String> {
    let dtype = x.dtype();
    let unsupported = || format!("{} is not defined on {dtype}", op.name());
    if op == UnaryOp::Not {
        let v = typed::<bool>(&x.data, DType::Bool)?;
        return Ok(Data::Bool(v.iter().map(|b| !b).collect()));
    }
    with_float!(dtype, T => {
        let f = float_unary::<T>(op).ok_or_else(unsupported)?;
        Ok(T::wrap(typed::<T>(&x.data, dtype)?.iter().map(|&a| f(a)).collect()))
    }, other => with_numeric!(dtype, T => {
        let f = numeric_unary::<T>(op).ok_or_else(unsupported)?;
        Ok(T::wrap(typed::<T>(&x.data, dtype)?.iter().map(|&a| f(a)).collect()))
    }, bool => Err(unsupported())))
}

/// The unary ops every numeric dtype has.
fn numeric_unary<T: Num>(op: UnaryOp) -> Option<fn(T) -> T> {
    Some(match op {
        UnaryOp::Neg => T::neg,
        UnaryOp::Abs => T::abs,
        UnaryOp::Square => T::square,
        UnaryOp::Relu => T::relu,
        UnaryOp::Sign => T::sign,
        _ => return None,
    })
}

fn float_unary<T: Float>(op: UnaryOp) -> Option<fn(T) -> T> {
    Some(match op {
        UnaryOp::Exp => T::exp,
        UnaryOp::Log => T::ln,
        UnaryOp::Sqrt => T::sqrt,
        UnaryOp::Rsqrt => T::rsqrt,
        UnaryOp::Tanh => T::tanh,
        UnaryOp::Sigmoid => T::sigmoid,
        UnaryOp::Sin => T::sin,
        UnaryOp::Cos => T::cos,
        UnaryOp::Floor => T::floor,
        UnaryOp::Ceil => T::ceil,
        UnaryOp::Reciprocal => T::reciprocal,
        _ => return numeric_unary(op),
    })
}

pub(crate) fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, out: &[usize]) -> Result<Data, String> {
    let dtype = a.dtype();
    let unsupported = || format!("{} is not defined on {dtype}", op.name());
    if op.is_comparison() {
        return with_any!(dtype, T => {
            let f = comparison::<T>(op).ok_or_else(unsupported)?;
            let (x, y) = (typed::<T>(&a.data, dtype)?, typed::<T>(&b.data, dtype)?);
            Ok(Data::Bool(zip_broadcast(x, &a.shape, y, &b.shape, out, f)))
        });
    }
    with_numeric!(dtype, T => {
        let f = arithmetic::<T>(op).ok_or_else(unsupported)?;
        let (x, y) = (typed::<T>(&a.data, dtype)?, typed::<T>(&b.data, dtype)?);
        Ok(T::wrap(zip_broadcast(x, &a.shape, y, &b.shape, out, f)))
    }, bool => Err(unsupported()))
}

fn arithmetic<T: Num>(op: BinaryOp) -> Option<fn(T, T) -> T> {
    Some(match op {
        BinaryOp::Add => T::add,
        BinaryOp::Sub => T::sub,
        BinaryOp::Mul => T::mul,
        BinaryOp::Div => T::div,
        BinaryOp::Pow => T::pow,
        BinaryOp::Maximum => T::maximum,
        BinaryOp::Minimum => T::minimum,
        _ => return None,
    })
}

/// IEEE comparisons: anything against NaN is false, except `!=`.
fn comparison<T: PartialOrd>(op: BinaryOp) -> Option<fn(T, T) -> bool> {
    Some(match op {
        BinaryOp::Lt => |a, b| a < b,
        BinaryOp::Le => |a, b| a <= b,
        BinaryOp::Gt => |a, b| a > b,
        BinaryOp::Ge => |a, b| a >= b,
        BinaryOp::Eq => |a, b| a == b,
        BinaryOp::Ne => |a, b| a != b,
        _ => return None,
    })
}

/// `f` applied to `a` and `b` broadcast to the shape `out`.
pub(crate) fn zip_broadcast<A: Copy, B: Copy, R>(
    a: &[A],
    a_shape: &[usize],
    b: &[B],
    b_shape: &[usize],
    out: &[usize],
    f: impl Fn(A, B) -> R,
) -> Vec<R> {
    if a_shape == out && b_shape == out {
        return a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
    }
    let ia = Offsets::new(out, broadcast_strides(a_shape, out));
    let ib = Offsets::new(out, broadcast_strides(b_shape, out));
    ia.zip(ib).map(|(i, j)| f(a[i], b[j])).collect()
}

/// `where(cond, a, b)` with all three broadcast to `out`.
pub(crate) fn select(cond: &Tensor, a: &Tensor, b: &Tensor, out: &[usize]) -> Result<Data, String> {
    let c = typed::<bool>(&cond.data, DType::Bool)?;
    let dtype = a.dtype();
    with_any!(dtype, T => {
        let (x, y) = (typed::<T>(&a.data, dtype)?, typed::<T>(&b.data, dtype)?);
        let ic = Offsets::new(out, broadcast_strides(&cond.shape, out));
        let ia = Offsets::new(out, broadcast_strides(&a.shape, out));
        let ib = Offsets::new(out, broadcast_strides(&b.shape, out));
        let picked = ic.zip(ia).zip(ib).map(|((k, i), j)| if c[k] { x[i] } else { y[j] });
        Ok(T::wrap(picked.collect()))
    })
}
