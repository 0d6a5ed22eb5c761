//! Ops that move elements without computing on them: transpose,
//! broadcast_to, slice and concat. (Reshape moves nothing: row-major order is kept.)

use crate::index::{broadcast_strides, gather, strides};
use tfg_ir::element::{typed, with_any, Elem};
use tfg_ir::{Data, Tensor};

/// Result dim `i` is operand dim `perm[i]`.
pub(crate) fn transpose(x: &Tensor, perm: &[usize]) -> Result<Data, String> {
    let own = strides(&x.shape);
    let (shape, steps): (Vec<usize>, Vec<usize>) =
        perm.iter().map(|&p| (x.shape[p], own[p])).unzip();
    let dtype = x.dtype();
    with_any!(dtype, T => Ok(T::wrap(gather(typed::<T>(&x.data, dtype)?, &shape, steps))))
}

pub(crate) fn broadcast_to(x: &Tensor, out: &[usize]) -> Result<Data, String> {
    let dtype = x.dtype();
    let steps = broadcast_strides(&x.shape, out);
    with_any!(dtype, T => Ok(T::wrap(gather(typed::<T>(&x.data, dtype)?, out, steps))))
}

/// Elements `start + step * i` along each axis: a strided view, walked.
pub(crate) fn slice(
    x: &Tensor,
    start: &[u64],
    step: &[u64],
    out: &[usize],
) -> Result<Data, String> {
    let own = strides(&x.shape);
    let base: usize = start.iter().zip(&own).map(|(&s, &o)| s as usize * o).sum();
    let steps = step
        .iter()
        .zip(&own)
        .map(|(&s, &o)| s as usize * o)
        .collect();
    let dtype = x.dtype();
    if out.contains(&0) {
        return Ok(with_any!(dtype, T => T::wrap(Vec::new())));
    }
    with_any!(dtype, T => Ok(T::wrap(gather(&typed::<T>(&x.data, dtype)?[base..], out, steps))))
}

/// Joins `parts` along `axis`: for each position before the axis, each part
/// contributes one contiguous run.
pub(crate) fn concat(parts: &[&Tensor], axis: usize, out: &[usize]) -> Result<Data, String> {
    let Some(first) = parts.first() else {
        return Err("concat needs at least one operand".into());
    };
    let dtype = first.dtype();
    let outer: usize = out[..axis].iter().product();
    let inner: usize = out[axis + 1..].iter().product();
    with_any!(dtype, T => {
        let runs = parts
            .iter()
            .map(|p| Ok((typed::<T>(&p.data, dtype)?, p.shape[axis] * inner)))
            .collect::<Result<Vec<_>, String>>()?;
        let mut v = Vec::with_capacity(out.iter().product());
        for o in 0..outer {
            for &(data, run) in &runs {
                v.extend_from_slice(&data[o * run..(o + 1) * run]);
            }
        }
        Ok(T::wrap(v))
    })
}
