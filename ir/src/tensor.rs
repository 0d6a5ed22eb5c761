//! Concrete tensors: a shape and a flat row-major buffer of one dtype.
//!
//! Used for constants in the IR, feeds, outputs, param state and files.

use crate::types::{DType, Shape, Type};

/// Row-major element storage, one variant per [`DType`].
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Elements of an `f32` tensor.
    F32(Vec<f32>),
    /// Elements of an `f64` tensor.
    F64(Vec<f64>),
    /// Elements of an `i32` tensor.
    I32(Vec<i32>),
    /// Elements of an `i64` tensor.
    I64(Vec<i64>),
    /// Elements of a `bool` tensor.
    Bool(Vec<bool>),
}

impl Data {
    /// The dtype of the elements held.
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::I32(_) => DType::I32,
            Data::I64(_) => DType::I64,
            Data::Bool(_) => DType::Bool,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::Bool(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` widened to f64 (bool as 0/1).
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            Data::F32(v) => v[i] as f64,
            Data::F64(v) => v[i],
            Data::I32(v) => v[i] as f64,
            Data::I64(v) => v[i] as f64,
            Data::Bool(v) => v[i] as u8 as f64,
        }
    }

    /// A buffer of `dtype` with every element converted from f64, as numpy's
    /// `astype` does (floats truncate towards zero into integers; nonzero is true).
    pub fn from_f64(dtype: DType, values: impl IntoIterator<Item = f64>) -> Data {
        let it = values.into_iter();
        match dtype {
            DType::F32 => Data::F32(it.map(|x| x as f32).collect()),
            DType::F64 => Data::F64(it.collect()),
            DType::I32 => Data::I32(it.map(|x| x as i32).collect()),
            DType::I64 => Data::I64(it.map(|x| x as i64).collect()),
            DType::Bool => Data::Bool(it.map(|x| x != 0.0).collect()),
        }
    }
}

/// A concrete tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The dims, all known; empty for a scalar.
    pub shape: Vec<usize>,
    /// The elements in row-major order; as many as the dims' product.
    pub data: Data,
}

impl Tensor {
    /// Builds a tensor; `None` if the element count does not match the shape.
    pub fn new(shape: Vec<usize>, data: Data) -> Option<Tensor> {
        (shape.iter().product::<usize>() == data.len()).then_some(Tensor { shape, data })
    }

    /// The `f32` scalar `x`.
    pub fn scalar_f32(x: f32) -> Tensor {
        Tensor {
            shape: vec![],
            data: Data::F32(vec![x]),
        }
    }

    /// `shape` filled with `value` converted to `dtype`.
    pub fn full(dtype: DType, shape: Vec<usize>, value: f64) -> Tensor {
        let n = shape.iter().product();
        Tensor {
            data: Data::from_f64(dtype, std::iter::repeat_n(value, n)),
            shape,
        }
    }

    /// A one-element tensor's value in every place of `shape` (a scalar
    /// default or initial value filling its declared shape); `None` for a
    /// tensor of another size. The caller checks that `shape` fits in memory.
    pub fn splat(&self, shape: Vec<usize>) -> Option<Tensor> {
        let n = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
        let data = match &self.data {
            Data::F32(v) if v.len() == 1 => Data::F32(vec![v[0]; n]),
            Data::F64(v) if v.len() == 1 => Data::F64(vec![v[0]; n]),
            Data::I32(v) if v.len() == 1 => Data::I32(vec![v[0]; n]),
            Data::I64(v) if v.len() == 1 => Data::I64(vec![v[0]; n]),
            Data::Bool(v) if v.len() == 1 => Data::Bool(vec![v[0]; n]),
            _ => return None,
        };
        Some(Tensor { shape, data })
    }

    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The tensor's IR type: its dtype and its (known) shape.
    pub fn ty(&self) -> Type {
        Type::new(
            self.dtype(),
            Shape::known(&self.shape.iter().map(|&d| d as u64).collect::<Vec<_>>()),
        )
    }

    /// The same values converted to `dtype`.
    pub fn cast(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.clone();
        }
        let n = self.numel();
        Tensor {
            shape: self.shape.clone(),
            data: Data::from_f64(dtype, (0..n).map(|i| self.data.get_f64(i))),
        }
    }
}
