//! Values the importer knows while importing: initializers, `Constant`
//! nodes and the shape computations on them, folded here rather than
//! emitted. An integer element may be a symbolic dim (`Shape` of an input
//! with a `dim_param`), so `Reshape(x, Concat(Shape(x)[0], -1))` still
//! folds to `reshape(x, [N, -1])`.

use crate::proto::TensorProto;
use crate::ExternalData;
use tfg_ir::{DType, Data, Tensor};

/// One element of a known value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Elem {
    F(f64),
    I(i64),
    B(bool),
    /// A symbolic dimension's size.
    Sym(String),
}

/// A value known at import time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Constant {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<Elem>,
}

/// ONNX `TensorProto.DataType` numbers tfg has a dtype for.
pub(crate) fn dtype_of(onnx: i32) -> Result<DType, String> {
    Ok(match onnx {
        1 => DType::F32,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        11 => DType::F64,
        other => {
            let name = match other {
                2 => "uint8",
                3 => "int8",
                4 => "uint16",
                5 => "int16",
                8 => "string",
                10 => "float16",
                12 => "uint32",
                13 => "uint64",
                16 => "bfloat16",
                _ => "this element type",
            };
            return Err(format!(
                "tfg has no dtype for ONNX's {name} (data type {other})"
            ));
        }
    })
}

impl Constant {
    pub(crate) fn scalar(dtype: DType, e: Elem) -> Constant {
        Constant {
            dtype,
            shape: vec![],
            data: vec![e],
        }
    }

    pub(crate) fn ints(values: &[i64]) -> Constant {
        Constant {
            dtype: DType::I64,
            shape: vec![values.len()],
            data: values.iter().map(|&v| Elem::I(v)).collect(),
        }
    }

    /// Decodes an initializer or a `Constant` node's tensor.
    pub(crate) fn from_proto(t: &TensorProto, external: ExternalData) -> Result<Constant, String> {
        let dtype = dtype_of(t.data_type.unwrap_or(0))?;
        let mut shape = Vec::new();
        for &d in &t.dims {
            shape.push(usize::try_from(d).map_err(|_| format!("negative dim {d} in a tensor"))?);
        }
        let count = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or("a tensor's element count overflows")?;
        let raw = if t.data_location == Some(1) {
            let get = |k: &str| {
                t.external_data
                    .iter()
                    .find(|e| e.key.as_deref() == Some(k))
                    .and_then(|e| e.value.clone())
            };
            let location = get("location").ok_or("external data without a location")?;
            let bytes = external(&location)?;
            let offset: usize = get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
            let width = match dtype {
                DType::F64 | DType::I64 => 8,
                DType::Bool => 1,
                _ => 4,
            };
            let length: usize = get("length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(count * width);
            let end = offset.checked_add(length).filter(|&e| e <= bytes.len());
            match end {
                Some(end) => Some(bytes[offset..end].to_vec()),
                None => {
                    return Err(format!(
                        "external data `{location}` is shorter than its tensor"
                    ))
                }
            }
        } else {
            t.raw_data.clone()
        };
        let data: Vec<Elem> = match (&raw, dtype) {
            (Some(b), DType::F32) => b
                .chunks_exact(4)
                .map(|c| Elem::F(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64))
                .collect(),
            (Some(b), DType::F64) => b
                .chunks_exact(8)
                .map(|c| {
                    Elem::F(f64::from_le_bytes([
                        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                    ]))
                })
                .collect(),
            (Some(b), DType::I32) => b
                .chunks_exact(4)
                .map(|c| Elem::I(i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64))
                .collect(),
            (Some(b), DType::I64) => b
                .chunks_exact(8)
                .map(|c| {
                    Elem::I(i64::from_le_bytes([
                        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                    ]))
                })
                .collect(),
            (Some(b), DType::Bool) => b.iter().map(|&x| Elem::B(x != 0)).collect(),
            (None, DType::F32) => t.float_data.iter().map(|&x| Elem::F(x as f64)).collect(),
            (None, DType::F64) => t.double_data.iter().map(|&x| Elem::F(x)).collect(),
            (None, DType::I64) => t.int64_data.iter().map(|&x| Elem::I(x)).collect(),
            (None, DType::I32) => t.int32_data.iter().map(|&x| Elem::I(x as i64)).collect(),
            (None, DType::Bool) => t.int32_data.iter().map(|&x| Elem::B(x != 0)).collect(),
        };
        if data.len() != count {
            return Err(format!(
                "tensor `{}` has {} elements for shape {shape:?}",
                t.name.as_deref().unwrap_or(""),
                data.len()
            ));
        }
        Ok(Constant { dtype, shape, data })
    }

    /// A tensor's value.
    pub(crate) fn from_tensor(t: &Tensor) -> Constant {
        let data = match &t.data {
            Data::F32(v) => v.iter().map(|&x| Elem::F(x as f64)).collect(),
            Data::F64(v) => v.iter().map(|&x| Elem::F(x)).collect(),
            Data::I32(v) => v.iter().map(|&x| Elem::I(x as i64)).collect(),
            Data::I64(v) => v.iter().map(|&x| Elem::I(x)).collect(),
            Data::Bool(v) => v.iter().map(|&x| Elem::B(x)).collect(),
        };
        Constant {
            dtype: t.dtype(),
            shape: t.shape.clone(),
            data,
        }
    }

    /// The integers of the value, if every element is a known integer.
    pub(crate) fn to_ints(&self) -> Option<Vec<i64>> {
        self.data
            .iter()
            .map(|e| match e {
                Elem::I(i) => Some(*i),
                Elem::F(f) if f.fract() == 0.0 => Some(*f as i64),
                Elem::B(b) => Some(*b as i64),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn has_sym(&self) -> bool {
        self.data.iter().any(|e| matches!(e, Elem::Sym(_)))
    }

    /// As a tensor (no symbolic elements).
    pub(crate) fn to_tensor(&self) -> Option<Tensor> {
        let f = |e: &Elem| match e {
            Elem::F(x) => Some(*x),
            Elem::I(i) => Some(*i as f64),
            Elem::B(b) => Some(*b as u8 as f64),
            Elem::Sym(_) => None,
        };
        let values: Option<Vec<f64>> = self.data.iter().map(f).collect();
        let values = values?;
        let data = match self.dtype {
            DType::Bool => Data::Bool(values.iter().map(|&x| x != 0.0).collect()),
            DType::I64 => Data::I64(
                self.data
                    .iter()
                    .map(|e| match e {
                        Elem::I(i) => *i,
                        other => f(other).unwrap_or(0.0) as i64,
                    })
                    .collect(),
            ),
            d => Data::from_f64(d, values),
        };
        Tensor::new(self.shape.clone(), data)
    }

    /// The value in `.tfg` syntax: a literal (cast when its dtype is not the
    /// one a literal takes alone), or `None` if an element is symbolic.
    pub(crate) fn literal(&self) -> Option<String> {
        if self.has_sym() {
            return None;
        }
        let elem = |e: &Elem| match e {
            Elem::F(x) if x.is_nan() => "(0.0 / 0.0)".to_string(),
            Elem::F(x) if x.is_infinite() => if *x > 0.0 {
                "(1.0 / 0.0)"
            } else {
                "(-1.0 / 0.0)"
            }
            .to_string(),
            Elem::F(x) => {
                let s = format!(
                    "{:?}",
                    if self.dtype == DType::F32 {
                        *x as f32 as f64
                    } else {
                        *x
                    }
                );
                s
            }
            Elem::I(i) => i.to_string(),
            Elem::B(b) => b.to_string(),
            Elem::Sym(s) => s.clone(),
        };
        fn nest(shape: &[usize], items: &[String]) -> String {
            match shape.split_first() {
                None => items.first().cloned().unwrap_or_default(),
                Some((&n, rest)) => {
                    let inner: usize = rest.iter().product();
                    let parts: Vec<String> = (0..n)
                        .map(|k| nest(rest, &items[k * inner..(k + 1) * inner]))
                        .collect();
                    format!("[{}]", parts.join(", "))
                }
            }
        }
        let items: Vec<String> = self.data.iter().map(elem).collect();
        let text = nest(&self.shape, &items);
        let special = self
            .data
            .iter()
            .any(|e| matches!(e, Elem::F(x) if !x.is_finite()));
        if special && !self.shape.is_empty() {
            return None;
        }
        Some(match self.dtype {
            DType::F32 | DType::Bool | DType::I32 => {
                if self.dtype == DType::F32 && !text.contains('.') && !text.contains('e') {
                    format!("cast({text}, f32)")
                } else {
                    text
                }
            }
            d => format!("cast({text}, {d})"),
        })
    }
}
