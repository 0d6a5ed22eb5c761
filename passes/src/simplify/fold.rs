//! Constant folding: one op evaluated on known operands.
//!
//! Each element is computed by `tfg_ir::element`, the definition of the
//! interpreters' (numpy's) semantics, so a folded constant is exactly what
//! running the graph would give. Only ops whose result is a plain function
//! of each element (or a pure data movement) fold; reductions and matmul,
//! whose rounding depends on the summation order a backend picks, do not.

use tfg_ir::element;
use tfg_ir::kernel::Scalar;
use tfg_ir::{DType, Data, Op, Tensor};

/// `op` applied to `args`, giving a tensor of shape `out`; `None` where the
/// op does not fold.
pub fn eval(op: &Op, args: &[&Tensor], out: &[usize]) -> Option<Tensor> {
    let n: usize = out.iter().product();
    let at = |d: &Data, i: usize| Scalar::from_data(d, i);
    let data = match (op, args) {
        (Op::Unary(u), [x]) => {
            element::collect(x.dtype(), n, |i| element::unary(*u, at(&x.data, i)?).ok())?
        }
        (Op::Binary(b), [x, y]) => {
            let (x, y) = (spread(x, out)?, spread(y, out)?);
            let dtype = if b.is_comparison() {
                DType::Bool
            } else {
                x.dtype()
            };
            element::collect(dtype, n, |i| {
                element::binary(*b, at(&x, i)?, at(&y, i)?).ok()
            })?
        }
        (Op::Select, [c, a, b]) => {
            let (c, a, b) = (spread(c, out)?, spread(a, out)?, spread(b, out)?);
            element::collect(a.dtype(), n, |i| match at(&c, i)? {
                Scalar::Bool(true) => at(&a, i),
                Scalar::Bool(false) => at(&b, i),
                _ => None,
            })?
        }
        (Op::Cast { to }, [x]) => {
            element::collect(*to, n, |i| Some(element::cast(at(&x.data, i)?, *to)))?
        }
        (Op::Reshape { .. }, [x]) => x.data.clone(),
        (Op::BroadcastTo { .. }, [x]) => spread(x, out)?,
        (Op::Transpose { perm }, [x]) => {
            let strides = row_major_strides(&x.shape);
            let permuted: Vec<usize> = perm
                .iter()
                .map(|&p| strides.get(p).copied())
                .collect::<Option<_>>()?;
            gather(&x.data, &offsets(out, &permuted))
        }
        _ => return None,
    };
    Tensor::new(out.to_vec(), data)
}

fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// The flat source offset of every element of `out`, walking `out` in
/// row-major order with the given source strides.
fn offsets(out: &[usize], strides: &[usize]) -> Vec<usize> {
    let n: usize = out.iter().product();
    let mut index = vec![0usize; out.len()];
    let mut result = Vec::with_capacity(n);
    for _ in 0..n {
        result.push(index.iter().zip(strides).map(|(i, s)| i * s).sum());
        for d in (0..out.len()).rev() {
            index[d] += 1;
            if index[d] < out[d] {
                break;
            }
            index[d] = 0;
        }
    }
    result
}

/// `x` broadcast (numpy rules) to `out`.
fn spread(x: &Tensor, out: &[usize]) -> Option<Data> {
    if x.shape == out {
        return Some(x.data.clone());
    }
    let pad = out.len().checked_sub(x.shape.len())?;
    let strides = row_major_strides(&x.shape);
    let aligned: Vec<usize> = (0..out.len())
        .map(|i| {
            if i < pad || x.shape[i - pad] == 1 {
                0
            } else {
                strides[i - pad]
            }
        })
        .collect();
    Some(gather(&x.data, &offsets(out, &aligned)))
}

fn gather(d: &Data, idx: &[usize]) -> Data {
    match d {
        Data::F32(v) => Data::F32(idx.iter().map(|&i| v[i]).collect()),
        Data::F64(v) => Data::F64(idx.iter().map(|&i| v[i]).collect()),
        Data::I32(v) => Data::I32(idx.iter().map(|&i| v[i]).collect()),
        Data::I64(v) => Data::I64(idx.iter().map(|&i| v[i]).collect()),
        Data::Bool(v) => Data::Bool(idx.iter().map(|&i| v[i]).collect()),
    }
}
