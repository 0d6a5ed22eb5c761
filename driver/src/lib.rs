//! tfg as a library: everything between a file and its results that the
//! command line, a model server or a distributed trainer shares.
//!
//! A caller loads a [`Source`] (a `.tfg` file or a Graph IR dump) and
//! compiles it to graphs; binds [`feed`]s to a graph's inputs, which
//! specialises its symbolic dims; keeps param values in a [`Session`]
//! (initialisers, [`checkpoint`]s); [`prepare`]s an [`Executable`] for a
//! [`Backend`] (the pass pipeline with optional [`Dumps`], then code
//! generation) and runs it; or trains with a [`train::Trainer`]. A compiled
//! PTX module on disk ([`ptx_module`]) runs without LLVM.
//!
//! The driver reads and writes files, but it prints nothing but the IR dumps a
//! caller asks for, and it never decides how an error looks or how the
//! process exits: it returns values and [`Error`]s ([`stdout`] is there for
//! callers that print results). It must not know about the command line (flags, exit
//! codes, terminals) — the binary owns those — and it knows the IR only
//! through the public functions of the compiler crates.

pub mod backend;
pub mod batch;
pub mod checkpoint;
pub mod collective;
pub mod dumps;
mod error;
pub mod feed;
pub mod file_defaults;
pub mod memory;
pub mod ptx_module;
pub mod session;
pub mod source;
pub mod stdout;
pub mod tier;
pub mod train;

pub use backend::{prepare, Backend, Executable};
pub use dumps::{Dumps, Sink};
pub use error::{Error, Result};
pub use session::Session;
pub use source::Source;
