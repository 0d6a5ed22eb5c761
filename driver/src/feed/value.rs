//! A feed's value: what `NAME=VALUE` holds (a literal, a `.npy` file) and
//! the tensor it gives for an input of a declared type. Binding feeds to a
//! graph is [`crate::feed`]'s; this module knows no graph and no source.

use crate::Error;
use std::path::PathBuf;
use tfg_formats::npy;
use tfg_ir::{Tensor, Type};

/// A value for one input.
#[derive(Clone, Debug)]
pub struct Feed {
    pub name: String,
    pub value: FeedValue,
}

#[derive(Clone, Debug)]
pub enum FeedValue {
    /// A literal in `.tfg` syntax; errors in it are shown as in a file
    /// called `shown_as` (the command line shows `--feed x`).
    Literal { text: String, shown_as: String },
    /// A `.npy` file.
    Npy(PathBuf),
    /// A `.npy` file read and checked already (an input's file default).
    NpyLoaded(Tensor),
}

/// Why a feed gives no tensor for its input.
#[derive(Debug)]
pub enum Refused {
    /// Its value does not fit the input's declaration: a message to show
    /// where the input is declared.
    Declared(String),
    /// It cannot be read or parsed.
    Other(Error),
}

/// The tensor `feed` gives for an input declared `declared`, checked
/// against its dtype (shapes are checked with the other feeds').
pub fn value(feed: &Feed, declared: &Type) -> Result<Tensor, Refused> {
    let name = &feed.name;
    match &feed.value {
        FeedValue::Npy(path) => {
            let t = npy::read(path).map_err(|e| {
                Refused::Other(Error::new(format!("cannot feed input `{name}`: {e}")))
            })?;
            if t.dtype() != declared.dtype {
                return Err(Refused::Declared(format!(
                    "input `{name}` expects {declared} but `{}` holds {}; convert it, e.g. with `a.astype(np.{})`",
                    path.display(),
                    t.ty(),
                    numpy_name(declared)
                )));
            }
            Ok(t)
        }
        FeedValue::NpyLoaded(t) => Ok(t.clone()),
        FeedValue::Literal { text, shown_as } => {
            let literal = tfg_frontend::parse_literal(text).map_err(|mut d| {
                d.message = format!(
                    "the feed for input `{name}` is not a literal: {}",
                    d.message
                );
                Refused::Other(Error::Diagnostics {
                    name: shown_as.clone(),
                    text: text.clone(),
                    diags: vec![d],
                })
            })?;
            literal.to_tensor(declared.dtype).map_err(|e| {
                Refused::Declared(format!(
                    "input `{name}` expects {declared} but is fed `{text}`: {e}"
                ))
            })
        }
    }
}

pub fn numpy_name(ty: &Type) -> &'static str {
    match ty.dtype {
        tfg_ir::DType::F32 => "float32",
        tfg_ir::DType::F64 => "float64",
        tfg_ir::DType::I32 => "int32",
        tfg_ir::DType::I64 => "int64",
        tfg_ir::DType::Bool => "bool_",
    }
}
