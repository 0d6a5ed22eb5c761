//! The op registry: the type and shape rule of every [`Op`].
//!
//! `infer(op, operand types)` gives the result type or a [`TypeError`] that
//! says, in the user's terms, why the operands do not fit.

use crate::op::Op;
use crate::types::Type;
use std::fmt;

/// Operands that do not fit an op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError {
    pub message: String,
}

impl TypeError {
    pub fn new(message: impl Into<String>) -> TypeError {
        TypeError { message: message.into() }
    }
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TypeError {}

/// The result type of `op` applied to operands of types `args`.
pub fn infer(op: &Op, args: &[&Type]) -> Result<Type, TypeError> {
    let _ = (op, args);
    Err(TypeError::new("not yet implemented"))
}
