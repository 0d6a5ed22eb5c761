//! Where graphs run: the one place that turns `--backend` into something that
//! executes a graph, for every command that runs one.
//!
//! A graph is prepared once ([`prepare`]: the pass pipeline to the IR level
//! the backend takes, then code generation) and then run as often as needed,
//! so a compiling backend compiles a training step once per shape, not once
//! per step. `interp` runs the Graph IR on the reference interpreter; `cpu`
//! lowers to the Kernel IR and JIT-compiles it with Cranelift; `cuda` is not
//! built yet.

use crate::cli::Backend;
use crate::failure::Failure;
use crate::ir_dump::Dumps;
use tfg_interp::Outputs;
use tfg_ir::{Graph, Tensor};
use tfg_passes::{Ir, Level, Options};

/// A specialised graph, compiled for a backend, ready to run.
pub struct Executable {
    /// The graph after the Graph IR passes: its inputs and params, in order,
    /// are what [`Executable::run`] takes.
    graph: Graph,
    code: Code,
}

enum Code {
    Interp,
    Cpu(Box<tfg_cpu::Compiled>),
}

/// Runs the pass pipeline over `g` (specialised) as far as `backend` needs,
/// dumping as `dumps` asks, and compiles the result.
pub fn prepare(backend: Backend, g: Graph, dumps: &Dumps) -> Result<Executable, Failure> {
    check_available(backend)?;
    let name = g.name.clone();
    let failed = |e: String| Failure::new(format!("graph `{name}`: {e}"));
    let options = Options::default();
    let mut ir = Ir::Graph(g);
    dumps.run_to(&mut ir, Level::Graph, &options)?;
    let Ir::Graph(graph) = ir else {
        return Err(failed("the Graph IR passes left no graph".into()));
    };
    check_memory(&graph)?;
    let code = match backend {
        Backend::Interp => Code::Interp,
        Backend::Cpu => {
            let mut ir = Ir::Graph(graph.clone());
            let passes = tfg_passes::pipeline_between(Level::Graph, Level::Kernel, false);
            dumps.run_passes(&mut ir, &passes, &options)?;
            let Ir::Kernel(program) = ir else {
                return Err(failed("lowering left no Kernel IR".into()));
            };
            let compiled = tfg_cpu::compile(&program).map_err(|e| failed(e.to_string()))?;
            Code::Cpu(Box::new(compiled))
        }
        Backend::Cuda => return Err(cuda_missing()),
    };
    Ok(Executable { graph, code })
}

/// An error for a backend this build cannot run, before any work is done.
pub fn check_available(backend: Backend) -> Result<(), Failure> {
    match backend {
        Backend::Cuda => Err(cuda_missing()),
        Backend::Cpu | Backend::Interp => Ok(()),
    }
}

/// Refuses a graph with a value larger than this machine's memory, which
/// would otherwise abort the process when its buffer is allocated.
pub fn check_memory(g: &Graph) -> Result<(), Failure> {
    let limit = memory_bytes().unwrap_or(u64::MAX);
    for node in &g.nodes {
        let bytes = node
            .ty
            .shape
            .numel()
            .and_then(|n| n.checked_mul(node.ty.dtype.size() as u64));
        if bytes.is_none_or(|b| b > limit) {
            let what = node.name.as_deref().map_or_else(|| node.op.name(), |n| format!("`{n}`"));
            return Err(Failure::new(format!(
                "graph `{}`: {what} of type {} needs more memory than this machine has ({} bytes)",
                g.name, node.ty, limit
            )));
        }
    }
    Ok(())
}

/// Total physical memory, where the system says (Linux's /proc/meminfo).
fn memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn cuda_missing() -> Failure {
    Failure::new("the cuda backend is not built yet; use `--backend cpu` or `--backend interp`")
}

impl Executable {
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// One run: `inputs` in `graph().inputs()` order, `params` in `graph().params()` order.
    pub fn run(&mut self, inputs: &[Tensor], params: &[Tensor]) -> Result<Outputs, Failure> {
        let failed = |e: String| Failure::new(format!("graph `{}`: {e}", self.graph.name));
        match &mut self.code {
            Code::Interp => {
                tfg_interp::run(&self.graph, inputs, params).map_err(|e| failed(e.to_string()))
            }
            Code::Cpu(c) => {
                let out = c.run(inputs, params).map_err(|e| failed(e.to_string()))?;
                Ok(Outputs {
                    outputs: out.outputs,
                    updates: out.updates,
                })
            }
        }
    }
}
