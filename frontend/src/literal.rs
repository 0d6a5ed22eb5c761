//! Literal tensors and the weak-typing rule, as in JAX.
//!
//! A literal has no dtype of its own: it takes the dtype of what it meets
//! (a tensor in an operator, a declaration it initialises, an input it is fed
//! to). Integers fit any numeric dtype, a floating element only a float dtype,
//! `true`/`false` only `bool`. Alone, a literal is `i32`, `f32` or `bool`.

use crate::ast::{Expr, ExprKind, UnOp};
use crate::diag::Diagnostic;
use tfg_ir::{DType, Data, Tensor};

/// One element as written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A literal tensor: a scalar or a nested array, in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    pub shape: Vec<usize>,
    pub elems: Vec<Scalar>,
}

impl Literal {
    pub fn scalar(x: Scalar) -> Literal {
        Literal {
            shape: Vec::new(),
            elems: vec![x],
        }
    }

    pub fn has_float(&self) -> bool {
        self.elems.iter().any(|e| matches!(e, Scalar::Float(_)))
    }

    pub fn has_bool(&self) -> bool {
        self.elems.iter().any(|e| matches!(e, Scalar::Bool(_)))
    }

    /// The dtype it takes alone: `bool`, else `f32` if an element is
    /// floating, else `i32`.
    pub fn default_dtype(&self) -> DType {
        if self.has_bool() {
            DType::Bool
        } else if self.has_float() {
            DType::F32
        } else {
            DType::I32
        }
    }

    /// The tensor of `dtype` this literal denotes, if it may take that dtype.
    pub fn to_tensor(&self, dtype: DType) -> Result<Tensor, String> {
        let data = match dtype {
            DType::Bool => Data::Bool(self.map(dtype, |e| match e {
                Scalar::Bool(b) => Some(b),
                _ => None,
            })?),
            DType::F32 => Data::F32(self.map(dtype, |e| match e {
                Scalar::Int(n) => Some(n as f32),
                Scalar::Float(x) if x.abs() <= f32::MAX as f64 || !x.is_finite() => Some(x as f32),
                _ => None,
            })?),
            DType::F64 => Data::F64(self.map(dtype, |e| match e {
                Scalar::Int(n) => Some(n as f64),
                Scalar::Float(x) => Some(x),
                Scalar::Bool(_) => None,
            })?),
            DType::I32 => Data::I32(self.map(dtype, |e| match e {
                Scalar::Int(n) => i32::try_from(n).ok(),
                _ => None,
            })?),
            DType::I64 => Data::I64(self.map(dtype, |e| match e {
                Scalar::Int(n) => Some(n),
                _ => None,
            })?),
        };
        Tensor::new(self.shape.clone(), data)
            .ok_or_else(|| "a literal's elements do not fill its shape".to_string())
    }

    fn map<T>(
        &self,
        dtype: DType,
        convert: impl Fn(Scalar) -> Option<T>,
    ) -> Result<Vec<T>, String> {
        self.elems
            .iter()
            .map(|&e| convert(e).ok_or_else(|| misfit(e, dtype)))
            .collect()
    }

    /// The literal an expression spells (a number, possibly negated,
    /// `true`/`false`, or a nested array of them), or why it is not one.
    pub fn from_expr(e: &Expr) -> Result<Literal, Diagnostic> {
        match &e.kind {
            ExprKind::Int(n) => Ok(Literal::scalar(Scalar::Int(*n))),
            ExprKind::Float(x) => Ok(Literal::scalar(Scalar::Float(*x))),
            ExprKind::Bool(b) => Ok(Literal::scalar(Scalar::Bool(*b))),
            ExprKind::Unary {
                op: UnOp::Neg,
                operand,
            } => match operand.kind {
                ExprKind::Int(n) => Ok(Literal::scalar(Scalar::Int(-n))),
                ExprKind::Float(x) => Ok(Literal::scalar(Scalar::Float(-x))),
                _ => Err(not_literal(e)),
            },
            ExprKind::Array(items) => {
                let Some(first) = items.first() else {
                    return Err(Diagnostic::error("`[]` is not a tensor")
                        .at(e.span)
                        .label("an array needs elements"));
                };
                let first = Literal::from_expr(first)?;
                let mut elems = first.elems;
                for item in &items[1..] {
                    let lit = Literal::from_expr(item)?;
                    if lit.shape != first.shape {
                        return Err(Diagnostic::error(
                            "array elements must all have the same shape",
                        )
                        .at(item.span)
                        .label(format!(
                            "this has shape {:?}, the first element {:?}",
                            lit.shape, first.shape
                        )));
                    }
                    elems.extend(lit.elems);
                }
                let mut shape = vec![items.len()];
                shape.extend(first.shape);
                let lit = Literal { shape, elems };
                if lit.has_bool() && lit.elems.iter().any(|x| !matches!(x, Scalar::Bool(_))) {
                    return Err(
                        Diagnostic::error("an array literal mixes booleans and numbers").at(e.span),
                    );
                }
                Ok(lit)
            }
            _ => Err(not_literal(e)),
        }
    }
}

fn not_literal(e: &Expr) -> Diagnostic {
    Diagnostic::error("expected a literal (a number, `true`, `false`, or an array of them)")
        .at(e.span)
        .label("not a literal")
}

/// Why element `e` cannot take `dtype`.
fn misfit(e: Scalar, dtype: DType) -> String {
    match e {
        Scalar::Bool(b) => format!("the literal `{b}` cannot be used as {dtype}"),
        Scalar::Float(x) if dtype.is_float() => {
            format!("the literal `{x:?}` is out of range for {dtype}")
        }
        Scalar::Float(x) => format!(
            "the float literal `{x:?}` cannot be used as {dtype}; write an integer or use cast"
        ),
        Scalar::Int(n) if dtype.is_int() => format!("the integer `{n}` does not fit in {dtype}"),
        Scalar::Int(n) => format!("the number `{n}` cannot be used as {dtype}"),
    }
}
