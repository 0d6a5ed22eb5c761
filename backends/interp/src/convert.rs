//! Dtype conversions: `cast` and `one_hot`.

use tfg_ir::element;
use tfg_ir::kernel::Scalar;
use tfg_ir::{DType, Data, Tensor};

/// numpy `astype`, element by element as [`element::cast`] says.
pub(crate) fn cast(x: &Data, to: DType) -> Result<Data, String> {
    element::collect(to, x.len(), |i| {
        Scalar::from_data(x, i).map(|s| element::cast(s, to))
    })
    .ok_or_else(|| "internal error: a cast produced the wrong dtype".into())
}

/// A row of `depth` f32s per index, 1 at the index; an index outside
/// `0..depth` gives a row of zeros (as TensorFlow's `one_hot` does).
pub(crate) fn one_hot(x: &Tensor, depth: u64) -> Result<Data, String> {
    let indices: Vec<i64> = match &x.data {
        Data::I32(v) => v.iter().map(|&i| i as i64).collect(),
        Data::I64(v) => v.clone(),
        other => {
            return Err(format!(
                "one_hot needs integer indices, got {}",
                other.dtype()
            ))
        }
    };
    let depth =
        usize::try_from(depth).map_err(|_| format!("one_hot depth {depth} is too large"))?;
    let mut out = vec![0.0f32; indices.len() * depth];
    for (row, &i) in out.chunks_exact_mut(depth.max(1)).zip(&indices) {
        if let Some(hot) = usize::try_from(i).ok().filter(|&i| i < depth) {
            row[hot] = 1.0;
        }
    }
    Ok(Data::F32(out))
}
