//! tfg's intermediate representations.
//!
//! The **Graph IR** ([`Graph`]) is an SSA data-flow graph over tensors: each
//! [`Node`] computes exactly one [`Value`](ValueId) from earlier values with one
//! [`Op`], and carries its result [`Type`] (a [`DType`] and a [`Shape`] whose
//! dims may be symbolic). It is where algebra, autodiff and fusion happen.
//!
//! This crate owns the data structures, the op registry (the type and shape rule
//! of every op, [`mod@infer`]), what each elementwise op computes on one element
//! ([`element`]), the verifier, and the text form (printer and parser, which
//! round-trip). It must not know about the surface language (`frontend`),
//! about any pass, or about how a graph is executed (`backends`).

#![warn(missing_docs)]

#[cfg(feature = "arbitrary")]
pub mod arbitrary;
pub mod element;
pub mod fused;
pub mod graph;
pub mod infer;
pub mod init;
pub mod kernel;
pub mod op;
pub mod specialize;
pub mod tensor;
pub mod text;
pub mod train;
pub mod types;
pub mod verify;

pub use graph::{Graph, Loc, Node, ValueId};
pub use infer::{broadcast_shapes, infer, TypeError};
pub use op::{BinaryOp, Init, InputDefault, Op, ReduceOp, UnaryOp};
pub use specialize::{bind_dims, specialize};
pub use tensor::{Data, Tensor};
pub use train::{Decay, Optimizer, TrainSpec};
pub use types::{DType, Dim, Shape, Type};
pub use verify::{verify, VerifyError};
