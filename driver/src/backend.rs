//! Where graphs run: the one place that turns `--backend` into something that
//! executes a graph, for every command that runs one.
//!
//! A graph is prepared once ([`prepare`]: the pass pipeline to the IR level
//! the backend takes, then code generation) and then run as often as needed,
//! so a compiling backend compiles a training step once per shape, not once
//! per step. `interp` runs the Graph IR on the reference interpreter; `cpu`
//! lowers to the Kernel IR and JIT-compiles it with Cranelift; `cuda` lowers
//! to the Kernel IR, generates PTX for the GPU at hand (LLVM's NVPTX target,
//! feature `llvm`) and runs it through the CUDA driver. Training steps run on
//! params loaded once ([`Executable::load_params`], [`Executable::step`]),
//! so a GPU keeps them in its memory and no backend copies them per step.

use crate::collective::{self, Collective};
use crate::dumps::Dumps;
use crate::feed::Bound;
use crate::memory::{check_memory, check_plan};
use crate::session::Session;
use crate::Error;
use tfg_interp::Outputs;
use tfg_ir::{Graph, Tensor, ValueId};
use tfg_passes::prologue::{self, ParamSource};
use tfg_passes::{Ir, Level};

/// Where a graph runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Cranelift JIT: lowers the graph to Kernel IR and compiles it to native code.
    Cpu,
    /// The reference interpreter.
    Interp,
    /// A CUDA GPU: PTX through LLVM's NVPTX target, run by the CUDA driver.
    Cuda,
}

impl Backend {
    /// Every backend, in the order help texts list them.
    pub const ALL: [Backend; 3] = [Backend::Cpu, Backend::Interp, Backend::Cuda];

    /// The backend's name, as `--backend` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Interp => "interp",
            Backend::Cuda => "cuda",
        }
    }

    /// What the backend is, in one line (for help texts).
    pub fn summary(self) -> &'static str {
        match self {
            Backend::Cpu => {
                "Cranelift JIT: lowers the graph to Kernel IR and compiles it to native code"
            }
            Backend::Interp => "The reference interpreter",
            Backend::Cuda => "A CUDA GPU: PTX through LLVM's NVPTX target, run by the CUDA driver",
        }
    }

    /// The backend called `name` (any case).
    pub fn named(name: &str) -> Option<Backend> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(name))
    }
}

/// A specialised graph, compiled for a backend, ready to run.
pub struct Executable {
    /// The graph after the Graph IR passes: its inputs and params, in order,
    /// are what [`Executable::run`] takes. (For a Kernel IR dump, a graph
    /// of those leaves alone.)
    graph: Graph,
    /// The names of the outputs, in the order a run gives them.
    outputs: Vec<String>,
    code: Code,
    /// The params between training steps, where they live on the host
    /// (`cpu`, `interp`): set by [`Executable::load_params`], replaced by
    /// their updates in [`Executable::step`].
    held: Vec<Tensor>,
    /// On `cpu`, for a graph that does not update its params: the part
    /// computed from params alone, compiled apart (`code` is then the rest).
    prologue: Option<Box<Prologue>>,
}

/// The params-only part of an inference graph ([`tfg_passes::prologue`]):
/// run on every [`Executable::run`], and once per [`Executable::load_params`]
/// for the runs on loaded params ([`Executable::run_loaded`]).
struct Prologue {
    exe: Executable,
    /// Where each param of the main code comes from.
    sources: Vec<ParamSource>,
    /// The main code's params, for the params last loaded.
    loaded: Vec<Tensor>,
}

impl Prologue {
    /// The main code's params, given the graph's: the prologue run on them.
    fn main_params(&mut self, params: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        let mut derived: Vec<Option<Tensor>> = self
            .exe
            .run(&[], params)?
            .outputs
            .into_iter()
            .map(Some)
            .collect();
        self.sources
            .iter()
            .map(|&source| {
                let value = match source {
                    ParamSource::Param(i) => params.get(i).cloned(),
                    ParamSource::Derived(j) => derived.get_mut(j).and_then(Option::take),
                };
                value.ok_or_else(|| Error::new("the prologue lost a param"))
            })
            .collect()
    }
}

enum Code {
    Interp,
    /// A Kernel IR program run by the interpreter (a dump of that level).
    InterpKernel(Box<tfg_ir::kernel::Program>),
    Cpu(Box<tfg_cpu::Compiled>),
    Cuda(Box<tfg_ptx::cuda::LoadedModule>),
}

/// Runs the pass pipeline over `g` (specialised) as far as `backend` needs,
/// dumping as `dumps` asks, and compiles the result.
pub fn prepare(backend: Backend, g: Graph, dumps: &Dumps) -> Result<Executable, Error> {
    check_available(backend)?;
    let name = g.name.clone();
    let failed = |e: String| Error::new(format!("graph `{name}`: {e}"));
    let options = dumps.options();
    let mut ir = Ir::Graph(g);
    dumps.run_to(&mut ir, Level::Graph, &options)?;
    let Ir::Graph(graph) = ir else {
        return Err(failed("the Graph IR passes left no graph".into()));
    };
    check_memory(&graph)?;
    let kernel_ir = |graph: &Graph, dumps: &Dumps| {
        let mut ir = Ir::Graph(graph.clone());
        let passes = tfg_passes::pipeline_between(Level::Graph, Level::Kernel, false);
        dumps.run_passes(&mut ir, &passes, &options)?;
        match ir {
            Ir::Kernel(program) => Ok(program),
            _ => Err(failed("lowering left no Kernel IR".into())),
        }
    };
    let mut prologue = None;
    let code = match backend {
        Backend::Interp => Code::Interp,
        Backend::Cpu => match prologue::split(&graph) {
            // The dumps show the whole program, lowered as one (so that a
            // dump runs on its own); the prologue and the rest, which run,
            // are compiled quietly.
            Some(split) => {
                if dumps.any() {
                    kernel_ir(&graph, dumps)?;
                }
                let quiet = Dumps::new(Vec::new(), crate::Sink::Stderr);
                prologue = Some(Box::new(Prologue {
                    exe: Executable {
                        code: generate(backend, &name, kernel_ir(&split.prologue, &quiet)?)?,
                        outputs: output_names(&split.prologue),
                        graph: split.prologue,
                        held: Vec::new(),
                        prologue: None,
                    },
                    sources: split.sources,
                    loaded: Vec::new(),
                }));
                generate(backend, &name, kernel_ir(&split.main, &quiet)?)?
            }
            None => generate(backend, &name, kernel_ir(&graph, dumps)?)?,
        },
        Backend::Cuda => generate(backend, &name, kernel_ir(&graph, dumps)?)?,
    };
    Ok(Executable {
        outputs: output_names(&graph),
        graph,
        code,
        held: Vec::new(),
        prologue,
    })
}

/// [`prepare`] for a source that may be a dump: `dumped` is the IR
/// [`Source::compile_with_ir`](crate::Source::compile_with_ir) gave. For a
/// dump of the fused or the Kernel IR level, the rest of the pass pipeline
/// runs from it (dumping as `dumps` asks), then code generation. `g` is the
/// source's graph, specialised: its inputs and params are what the
/// executable takes.
pub fn prepare_from(
    backend: Backend,
    g: Graph,
    dumped: Option<Ir>,
    dumps: &Dumps,
) -> Result<Executable, Error> {
    check_available(backend)?;
    let failed = |e: String| Error::new(format!("graph `{}`: {e}", g.name));
    let options = dumps.options();
    let (outputs, program) = match dumped {
        None | Some(Ir::Graph(_)) => return prepare(backend, g, dumps),
        Some(Ir::Fused(graph, _)) if backend == Backend::Interp => {
            return Ok(Executable {
                outputs: output_names(&graph),
                graph,
                code: Code::Interp,
                held: Vec::new(),
                prologue: None,
            })
        }
        Some(Ir::Fused(graph, fusion)) => {
            let mut ir = Ir::Fused(graph, fusion);
            dumps.run_passes(&mut ir, &tfg_passes::pipeline_from(Level::Fused), &options)?;
            (output_names(&g), ir)
        }
        Some(Ir::Kernel(program)) => {
            let mut ir = Ir::Kernel(program);
            dumps.run_passes(&mut ir, &tfg_passes::pipeline_from(Level::Kernel), &options)?;
            let Ir::Kernel(p) = &ir else {
                return Err(failed("the Kernel IR passes left no Kernel IR".into()));
            };
            let named = |b: tfg_ir::kernel::BufId| {
                let name = p.buffers[b.index()].name.clone();
                name.unwrap_or_else(|| b.to_string())
            };
            (p.outputs().into_iter().flatten().map(named).collect(), ir)
        }
    };
    let Ir::Kernel(program) = program else {
        return Err(failed("lowering left no Kernel IR".into()));
    };
    let code = generate(backend, &g.name, program)?;
    Ok(Executable {
        graph: g,
        outputs,
        code,
        held: Vec::new(),
        prologue: None,
    })
}

/// The names of `g`'s outputs, in order.
fn output_names(g: &Graph) -> Vec<String> {
    g.outputs.iter().map(|(name, _)| name.clone()).collect()
}

/// Code generation for a Kernel IR program of graph `name` on `backend`
/// (on `interp`, the Kernel IR interpreter runs it).
fn generate(backend: Backend, name: &str, program: tfg_ir::kernel::Program) -> Result<Code, Error> {
    check_plan(name, &program)?;
    let failed = |e: String| Error::new(format!("graph `{name}`: {e}"));
    Ok(match backend {
        Backend::Interp => Code::InterpKernel(Box::new(program)),
        Backend::Cpu => {
            let mut c = tfg_cpu::compile(&program).map_err(|e| failed(e.to_string()))?;
            crate::tier::attach(&mut c).map_err(failed)?;
            Code::Cpu(Box::new(c))
        }
        Backend::Cuda => {
            // Each process of a machine takes its own GPU (under MPI, by its local rank).
            let device = tfg_ptx::cuda::open_nth(collective::local_rank()).map_err(Error::new)?;
            let module = ptx_for(&device, &program).map_err(failed)?;
            Code::Cuda(Box::new(device.load(&module).map_err(failed)?))
        }
    })
}

/// PTX for the architecture of `device` (sm_80 where it cannot say).
fn ptx_for(
    device: &tfg_ptx::cuda::Device,
    program: &tfg_ptx::Program,
) -> Result<tfg_ptx::PtxModule, String> {
    let sm = match device.compute_capability() {
        Ok((major, minor)) => format!("sm_{major}{minor}"),
        Err(_) => tfg_ptx::DEFAULT_SM.to_string(),
    };
    generate_ptx(program, &sm)
}

/// The PTX module of `program` for `sm`, through LLVM's NVPTX target; in a
/// build without LLVM, an error that says where to compile instead.
#[cfg(feature = "llvm")]
pub fn generate_ptx(program: &tfg_ptx::Program, sm: &str) -> Result<tfg_ptx::PtxModule, String> {
    tfg_ptx::compile_ptx(program, sm)
}

#[cfg(not(feature = "llvm"))]
pub fn generate_ptx(_: &tfg_ptx::Program, _: &str) -> Result<tfg_ptx::PtxModule, String> {
    Err(NO_LLVM.into())
}

/// The optimised LLVM IR behind [`generate_ptx`] (`--emit llvm`).
#[cfg(feature = "llvm")]
pub fn llvm_ir(program: &tfg_ptx::Program) -> Result<String, String> {
    tfg_ptx::llvm_ir(program)
}

#[cfg(not(feature = "llvm"))]
pub fn llvm_ir(_: &tfg_ptx::Program) -> Result<String, String> {
    Err(NO_LLVM.into())
}

/// The optimised LLVM IR (or, with `asm`, the assembly) of the CPU
/// backend's LLVM tier for `program`: what `TFG_CPU_TIER` switches to.
#[cfg(feature = "llvm")]
pub fn cpu_tier_listing(program: &tfg_ptx::Program, asm: bool) -> Result<String, String> {
    let tasks = tfg_cpu::tier_tasks(program, &tfg_cpu::Options::default());
    tfg_ptx::cpu::listing(program, &tasks, asm)
}

#[cfg(not(feature = "llvm"))]
pub fn cpu_tier_listing(_: &tfg_ptx::Program, _: bool) -> Result<String, String> {
    Err(NO_LLVM_CPU.into())
}

/// Why a build without the `llvm` feature has no LLVM tier on the CPU.
pub const NO_LLVM_CPU: &str =
    "this tfg was built without LLVM (cargo feature `llvm`), so the CPU backend has Cranelift's code alone";

/// Why a build without the `llvm` feature cannot compile for the GPU. (A
/// caller says how its users compile elsewhere; the driver cannot know.)
pub const NO_LLVM: &str = "this tfg was built without LLVM (cargo feature `llvm`), so it cannot generate PTX; a PTX module compiled by a build with LLVM runs here";

/// An error for a backend this machine (or this build) cannot run a graph
/// on, before any work is done.
pub fn check_available(backend: Backend) -> Result<(), Error> {
    match backend {
        // Without LLVM no graph reaches the GPU, whatever the driver says.
        Backend::Cuda if cfg!(not(feature = "llvm")) => Err(Error::new(NO_LLVM)),
        Backend::Cuda => tfg_ptx::cuda::open().map(drop).map_err(Error::new),
        Backend::Cpu | Backend::Interp => Ok(()),
    }
}

impl Executable {
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// One run: `inputs` in `graph().inputs()` order, `params` in `graph().params()` order.
    pub fn run(&mut self, inputs: &[Tensor], params: &[Tensor]) -> Result<Outputs, Error> {
        match self.prologue.as_mut() {
            Some(p) => {
                let main = p.main_params(params)?;
                self.run_code(inputs, &main, false)
            }
            None => self.run_code(inputs, params, false),
        }
    }

    /// One run on the params [`Executable::load_params`] took, for runs that
    /// all see the same params (a benchmark, a model being served): what
    /// only the params determine was computed when they were loaded.
    pub fn run_loaded(&mut self, inputs: &[Tensor]) -> Result<Outputs, Error> {
        if let Code::Cuda(s) = &mut self.code {
            let out = s.run(inputs).map_err(Error::new)?;
            return Ok(Outputs {
                outputs: out.outputs,
                updates: out.updates,
            });
        }
        let params = match self.prologue.as_mut() {
            Some(p) => std::mem::take(&mut p.loaded),
            None => std::mem::take(&mut self.held),
        };
        // The loaded params stay where they are until the next load or
        // step, so the CPU code may keep its GEMMs' packed weights.
        let out = self.run_code(inputs, &params, true);
        match self.prologue.as_mut() {
            Some(p) => p.loaded = params,
            None => self.held = params,
        }
        out
    }

    /// Finishes the CPU code's tier-up now (`crate::tier`), where it would
    /// happen at some run, so that timed runs all run the same code.
    /// Gives whether LLVM's code runs, on the `cpu` backend.
    pub fn settle_tier(&mut self) -> Result<Option<bool>, Error> {
        match &mut self.code {
            Code::Cpu(c) => c
                .wait_tier_up()
                .map(Some)
                .map_err(|e| Error::new(format!("graph `{}`: LLVM tier: {e}", self.graph.name))),
            Code::Interp | Code::InterpKernel(_) | Code::Cuda(_) => Ok(None),
        }
    }

    /// One run of the compiled code on its own params (the main program's,
    /// where a prologue was split off); `loaded` where they are the loaded
    /// ones, which the CPU code may keep packed (`tfg_cpu::Compiled::run_packed`).
    fn run_code(
        &mut self,
        inputs: &[Tensor],
        params: &[Tensor],
        loaded: bool,
    ) -> Result<Outputs, Error> {
        let failed = |e: String| Error::new(format!("graph `{}`: {e}", self.graph.name));
        match &mut self.code {
            Code::Interp => {
                tfg_interp::run(&self.graph, inputs, params).map_err(|e| failed(e.to_string()))
            }
            Code::InterpKernel(p) => tfg_interp::kernel::run_program(p, inputs, params)
                .map_err(|e| failed(e.to_string())),
            Code::Cpu(c) => {
                let out = match loaded {
                    true => c.run_packed(inputs, params),
                    false => c.run(inputs, params),
                }
                .map_err(|e| failed(e.to_string()))?;
                Ok(Outputs {
                    outputs: out.outputs,
                    updates: out.updates,
                })
            }
            Code::Cuda(s) => {
                s.set_params(params).map_err(failed)?;
                let out = s.run(inputs).map_err(failed)?;
                Ok(Outputs {
                    outputs: out.outputs,
                    updates: out.updates,
                })
            }
        }
    }

    /// Takes the params (in `graph().params()` order) for the training steps
    /// or the [`Executable::run_loaded`] runs that follow: a GPU keeps them
    /// in its memory, the host backends here (with what a prologue derives
    /// from them, computed now).
    pub fn load_params(&mut self, params: Vec<Tensor>) -> Result<(), Error> {
        self.forget_packed();
        if let Some(p) = self.prologue.as_mut() {
            p.loaded = p.main_params(&params)?;
        }
        match &mut self.code {
            Code::Cuda(s) => s.set_params(&params).map_err(Error::new),
            Code::Interp | Code::InterpKernel(_) | Code::Cpu(_) => {
                self.held = params;
                Ok(())
            }
        }
    }

    /// Drops what the CPU code kept packed of the loaded params, whose
    /// values are about to change.
    fn forget_packed(&mut self) {
        if let Code::Cpu(c) = &mut self.code {
            c.forget_packed();
        }
    }

    /// One training step on the loaded params: each becomes its update
    /// (without leaving the GPU, on `cuda`). Gives the outputs.
    pub fn step(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        if let Code::Cuda(s) = &mut self.code {
            return s.step(inputs).map_err(Error::new);
        }
        let held = std::mem::take(&mut self.held);
        let out = self.run(inputs, &held)?;
        self.held = held;
        self.forget_packed();
        let params: Vec<ValueId> = self.graph.params().collect();
        for (&(param, _), value) in self.graph.updates.iter().zip(out.updates) {
            let slot = params.iter().position(|&p| p == param);
            if let Some(old) = slot.and_then(|i| self.held.get_mut(i)) {
                *old = value;
            }
        }
        Ok(out.outputs)
    }

    /// On `cuda`, this executable's GPU in a group with the other ranks'
    /// (NCCL), so that [`Executable::run_averaged`] averages outputs on the
    /// GPUs. Every rank must call it. `Ok(Err(why))` where some rank cannot
    /// take part (another backend, no NCCL, ranks that share a GPU): every
    /// rank then averages on the host.
    pub fn join_gpus(
        &self,
        ranks: &dyn Collective,
    ) -> Result<Result<tfg_ptx::nccl::Group, String>, Error> {
        let here = match &self.code {
            Code::Cuda(_) if !tfg_ptx::nccl::available() => Err(tfg_ptx::nccl::missing()),
            Code::Cuda(_) if collective::local_ranks() > tfg_ptx::cuda::device_count() => {
                Err("ranks share a GPU, which NCCL does not allow".to_string())
            }
            Code::Cuda(m) => Ok(m),
            _ => Err("the backend is not cuda".to_string()),
        };
        let able = ranks.all_gather(u64::from(here.is_ok()))?;
        let m = match (here, able.iter().position(|&a| a == 0)) {
            (Ok(m), None) => m,
            (Err(why), _) => return Ok(Err(why)),
            (Ok(_), Some(r)) => return Ok(Err(format!("rank {r} cannot use NCCL"))),
        };
        // Rank 0 makes the group's id; the first byte says whether it could.
        let mut id = [0u8; 129];
        let mut failed = None;
        if ranks.rank() == 0 {
            match tfg_ptx::nccl::unique_id() {
                Ok(made) => {
                    id[0] = 1;
                    id[1..].copy_from_slice(&made);
                }
                Err(e) => failed = Some(e),
            }
        }
        ranks.broadcast(&mut id)?;
        if id[0] == 0 {
            return Ok(Err(failed.unwrap_or_else(|| {
                "rank 0 could not start an NCCL group".to_string()
            })));
        }
        let mut made = [0u8; 128];
        made.copy_from_slice(&id[1..]);
        tfg_ptx::nccl::Group::join(&made, ranks.rank(), ranks.ranks(), m)
            .map(Ok)
            .map_err(Error::new)
    }

    /// One run whose float outputs are averaged over `gpus`' ranks on the
    /// GPUs (`cuda` only). Gives the outputs and the milliseconds the
    /// all-reduce took.
    pub fn run_averaged(
        &mut self,
        inputs: &[Tensor],
        params: &[Tensor],
        gpus: &tfg_ptx::nccl::Group,
    ) -> Result<(Vec<Tensor>, f64), Error> {
        let failed = |e: String| Error::new(format!("graph `{}`: {e}", self.graph.name));
        let Code::Cuda(m) = &mut self.code else {
            return Err(failed("averaging on GPUs needs the cuda backend".into()));
        };
        m.set_params(params).map_err(failed)?;
        m.run_averaged(inputs, gpus).map_err(failed)
    }

    /// The loaded params' current values, in `graph().params()` order.
    pub fn params(&self) -> Result<Vec<Tensor>, Error> {
        match &self.code {
            Code::Cuda(s) => s.params().map_err(Error::new),
            Code::Interp | Code::InterpKernel(_) | Code::Cpu(_) => Ok(self.held.clone()),
        }
    }
}

/// Runs the graph `bound` was specialised to once: the pass pipeline (with
/// `dumps`; from `dumped` for a dump, as [`prepare_from`]), then `backend`
/// on `bound`'s inputs and `session`'s params. Returns what ran (its graph
/// names the outputs) and what it computed.
pub fn run_once(
    bound: &Bound,
    session: &Session,
    backend: Backend,
    dumped: Option<Ir>,
    dumps: &Dumps,
) -> Result<(Executable, Outputs), Error> {
    let mut exe = prepare_from(backend, bound.graph.clone(), dumped, dumps)?;
    let result = exe.run(
        &bound.inputs_for(exe.graph())?,
        &session.params_for(exe.graph())?,
    )?;
    Ok((exe, result))
}

impl Executable {
    /// The outputs of a run with their names, in the order of the graph's
    /// `output` statements.
    pub fn named_outputs<'a>(&'a self, values: &'a [Tensor]) -> Vec<(&'a str, &'a Tensor)> {
        self.outputs
            .iter()
            .map(String::as_str)
            .zip(values)
            .collect()
    }
}
