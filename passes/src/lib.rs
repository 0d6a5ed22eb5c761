//! Transformations of the Graph IR, and the pipeline that runs them.
//!
//! Each pass is a named unit ([`Pass`]) that takes a graph and gives a graph;
//! the pipeline ([`pipeline`]) is a list of passes, so dumping the IR after a
//! pass, timing passes and verifying after each one happen in one place
//! ([`run_pipeline`]). This crate must not know about the surface language or
//! about how a graph is executed.

pub mod autodiff;
pub mod train_step;
