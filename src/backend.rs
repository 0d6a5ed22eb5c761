//! Where graphs run: the one place that turns `--backend` into something that
//! executes a graph, for every command that runs one.
//!
//! A graph is prepared once ([`prepare`]) and then run as often as needed, so
//! a compiling backend compiles a training step once per shape, not once per
//! step. Today every backend runs on the reference interpreter: `cpu` until
//! the Cranelift JIT is wired in here, `cuda` not at all.

use crate::cli::Backend;
use crate::failure::Failure;
use tfg_interp::Outputs;
use tfg_ir::{Graph, Tensor};

/// A specialised graph, after the pass pipeline, ready to run on a backend.
pub struct Executable {
    graph: Graph,
}

/// Prepares `g` (specialised, after the pipeline) to run on `backend`.
pub fn prepare(backend: Backend, g: Graph) -> Result<Executable, Failure> {
    check_available(backend)?;
    Ok(Executable { graph: g })
}

/// An error for a backend this build cannot run, before any work is done.
pub fn check_available(backend: Backend) -> Result<(), Failure> {
    match backend {
        Backend::Cuda => Err(Failure::new(
            "the cuda backend is not built yet; use `--backend interp` (or `cpu`)",
        )),
        Backend::Cpu | Backend::Interp => Ok(()),
    }
}

impl Executable {
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// One run: `inputs` in `graph().inputs()` order, `params` in `graph().params()` order.
    pub fn run(&self, inputs: &[Tensor], params: &[Tensor]) -> Result<Outputs, Failure> {
        tfg_interp::run(&self.graph, inputs, params)
            .map_err(|e| Failure::new(format!("graph `{}`: {e}", self.graph.name)))
    }
}
