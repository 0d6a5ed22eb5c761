//! numpy `matmul`: 1-D operands promoted to matrices, leading dims batched
//! with broadcasting.

use crate::index::{broadcast_strides, Offsets};
use tfg_ir::element::{typed, with_numeric, Elem, Num};
use tfg_ir::{Data, Tensor};

pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> Result<Data, String> {
    let dtype = a.dtype();
    // [k] is [1, k] on the left and [k, 1] on the right; the added dim is not
    // in the result, but dropping a size-1 dim does not move any element.
    let a_dims = match a.shape.as_slice() {
        [k] => vec![1, *k],
        dims => dims.to_vec(),
    };
    let b_dims = match b.shape.as_slice() {
        [k] => vec![*k, 1],
        dims => dims.to_vec(),
    };
    if a_dims.len() < 2 || b_dims.len() < 2 {
        return Err("matmul needs operands of rank 1 or more".into());
    }
    let (ra, rb) = (a_dims.len(), b_dims.len());
    let (a_batch, m, k) = (&a_dims[..ra - 2], a_dims[ra - 2], a_dims[ra - 1]);
    let (b_batch, k_b, n) = (&b_dims[..rb - 2], b_dims[rb - 2], b_dims[rb - 1]);
    if k != k_b {
        return Err(format!("matmul: inner dimensions differ ({k} vs {k_b})"));
    }
    let batch = broadcast_dims(a_batch, b_batch)?;
    let a_starts: Vec<usize> =
        Offsets::new(&batch, scaled(broadcast_strides(a_batch, &batch), m * k)).collect();
    let b_starts = Offsets::new(&batch, scaled(broadcast_strides(b_batch, &batch), k * n));
    with_numeric!(dtype, T => {
        let (x, y) = (typed::<T>(&a.data, dtype)?, typed::<T>(&b.data, dtype)?);
        let mut out = vec![T::ZERO; a_starts.len() * m * n];
        // An empty result (m or n is 0) has nothing to compute.
        if m * n > 0 {
            for ((&ao, bo), c) in a_starts.iter().zip(b_starts).zip(out.chunks_exact_mut(m * n)) {
                gemm(&x[ao..ao + m * k], &y[bo..bo + k * n], c, (k, n));
            }
        }
        Ok(T::wrap(out))
    }, bool => Err("matmul is not defined on bool".into()))
}

/// `c += a @ b` for row-major `a: [m, k]`, `b: [k, n]`, `c: [m, n]` with
/// `n > 0`. The i-p-j loop order reads `b` and writes `c` along rows.
fn gemm<T: Num>(a: &[T], b: &[T], c: &mut [T], (k, n): (usize, usize)) {
    for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
        for p in 0..k {
            let a_ip = a[i * k + p];
            for (c_ij, &b_pj) in c_row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *c_ij = c_ij.add(a_ip.mul(b_pj));
            }
        }
    }
}

fn scaled(strides: Vec<usize>, factor: usize) -> Vec<usize> {
    strides.into_iter().map(|s| s * factor).collect()
}

/// The numpy broadcast of two batch shapes.
fn broadcast_dims(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i < rank - s.len() {
            1
        } else {
            s[i - (rank - s.len())]
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            (x, y) => Err(format!(
                "matmul: batch dims {a:?} and {b:?} do not broadcast ({x} vs {y})"
            )),
        })
        .collect()
}
