//! Elementwise ops: unary functions, binary arithmetic and comparisons with
//! numpy broadcasting, and `select`.

use crate::index::{broadcast_strides, Offsets};
use tfg_ir::element::{
    arithmetic, comparison, float_unary, numeric_unary, typed, with_any, with_float, with_numeric,
    Elem,
};
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
