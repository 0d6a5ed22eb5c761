//! Dtype conversions: `cast` and `one_hot`.

use tfg_ir::{DType, Data, Tensor};

/// numpy `astype`: floats truncate toward zero into integers (saturating, and
/// NaN gives 0, where numpy leaves such values undefined), integers wrap into
/// narrower ones, nonzero (and NaN) is true, and bool is 0 or 1.
pub(crate) fn cast(x: &Data, to: DType) -> Data {
    macro_rules! convert {
        ($v:expr) => {
            match to {
                DType::F32 => Data::F32($v.iter().map(|&a| a as f32).collect()),
                DType::F64 => Data::F64($v.iter().map(|&a| a as f64).collect()),
                DType::I32 => Data::I32($v.iter().map(|&a| a as i32).collect()),
                DType::I64 => Data::I64($v.iter().map(|&a| a as i64).collect()),
                DType::Bool => Data::Bool($v.iter().map(|&a| a != Default::default()).collect()),
            }
        };
    }
    match x {
        Data::F32(v) => convert!(v),
        Data::F64(v) => convert!(v),
        Data::I32(v) => convert!(v),
        Data::I64(v) => convert!(v),
        Data::Bool(v) => convert!(v.iter().map(|&b| b as u8).collect::<Vec<u8>>()),
    }
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
