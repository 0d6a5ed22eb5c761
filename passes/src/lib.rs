//! Transformations of the tfg IRs, and the pipeline that runs them.
//!
//! Each pass is a named unit ([`Pass`]) with a declared input and output IR
//! level ([`Level`]): Graph IR → Graph IR rewrites (autodiff, simplify, dce),
//! then `fuse` (Graph IR → Graph IR partitioned into kernels) and `lower`
//! (→ Kernel IR). The pipeline ([`pipeline`]) is a list of passes, so dumping
//! the IR after a pass, timing passes and verifying after each one happen in
//! one place ([`run_pipeline`]), as LLVM's `-print-after-all` does. This crate
//! must not know about the surface language or about how a program is executed.

#![warn(missing_docs)]

pub mod autodiff;
pub mod batch_safety;
pub mod dce;
pub mod fuse;
pub mod kernel;
pub mod lower;
pub mod prologue;
pub mod simplify;
pub mod train_step;

use std::fmt;
use std::time::{Duration, Instant};
use tfg_ir::fused::Fusion;
use tfg_ir::kernel::Program;
use tfg_ir::Graph;

/// The IR levels a program passes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The Graph IR.
    Graph,
    /// The Graph IR partitioned into kernels.
    Fused,
    /// The Kernel IR: loop nests over buffers.
    Kernel,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Graph => "graph",
            Level::Fused => "fused",
            Level::Kernel => "kernel",
        })
    }
}

impl Level {
    /// The file extension of a dump at this level, without the dot: one
    /// per level, so that a file says what it holds.
    pub fn extension(self) -> &'static str {
        match self {
            Level::Graph => "tfir",
            Level::Fused => "tffused",
            Level::Kernel => "tfkir",
        }
    }

    /// The level whose dumps have `extension` (without the dot).
    pub fn of_extension(extension: &str) -> Option<Level> {
        [Level::Graph, Level::Fused, Level::Kernel]
            .into_iter()
            .find(|l| l.extension() == extension)
    }
}

/// A program at one of the [`Level`]s.
#[derive(Clone, Debug)]
pub enum Ir {
    /// Graph IR: the output of the frontend and of the Graph IR rewrites.
    Graph(Graph),
    /// Graph IR with the partition into kernels that `fuse` chose; the
    /// graph itself is unchanged by fusion.
    Fused(Graph, Fusion),
    /// Kernel IR: the output of `lower` and of the Kernel IR passes.
    Kernel(Program),
}

impl Ir {
    /// The level this IR is at.
    pub fn level(&self) -> Level {
        match self {
            Ir::Graph(_) => Level::Graph,
            Ir::Fused(..) => Level::Fused,
            Ir::Kernel(_) => Level::Kernel,
        }
    }

    /// The text form of the IR at its level: what dumps show.
    pub fn print(&self) -> String {
        match self {
            Ir::Graph(g) => tfg_ir::text::print(g),
            Ir::Fused(g, f) => f.print(g),
            Ir::Kernel(p) => tfg_ir::kernel::print(p),
        }
    }

    /// Checks the IR's invariants with the verifier of its level.
    pub fn verify(&self) -> Result<(), String> {
        match self {
            Ir::Graph(g) => tfg_ir::verify::verify(g).map_err(|e| e.to_string()),
            Ir::Fused(g, f) => {
                tfg_ir::verify::verify(g).map_err(|e| e.to_string())?;
                f.verify(g).map_err(|e| e.to_string())
            }
            Ir::Kernel(p) => tfg_ir::kernel::verify(p).map_err(|e| e.to_string()),
        }
    }

    /// The graph, at the Graph IR level.
    pub fn into_graph(self) -> Option<Graph> {
        match self {
            Ir::Graph(g) => Some(g),
            _ => None,
        }
    }

    /// The program, at the Kernel IR level.
    pub fn into_program(self) -> Option<Program> {
        match self {
            Ir::Kernel(p) => Some(p),
            _ => None,
        }
    }
}

/// What a pass does, which fixes its input and output levels.
#[derive(Clone, Copy)]
pub enum Transform {
    /// Graph IR → Graph IR, in place; may return a report for `--explain`.
    Graph(fn(&mut Graph, &Options) -> Result<Option<String>, String>),
    /// Graph IR → fused Graph IR.
    Fuse,
    /// Fused Graph IR → Kernel IR.
    Lower,
    /// Kernel IR → Kernel IR, in place.
    Kernel(fn(&mut Program)),
}

/// Settings every pass sees.
#[derive(Clone, Debug)]
pub struct Options {
    /// Passes that can say why they changed the IR (simplify's egg
    /// explanations) record it, at some cost in time.
    pub explain: bool,
    /// The verifier of each level checks the IR after every pass (linear in
    /// its size); on by default, off only to time the passes alone.
    pub verify: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            explain: false,
            verify: true,
        }
    }
}

/// A named transformation between IR levels.
pub struct Pass {
    /// The name users type after `--dump-after`.
    pub name: &'static str,
    /// One line for `--list-passes`.
    pub summary: &'static str,
    /// What the pass does; fixes its [`input`](Pass::input) and
    /// [`output`](Pass::output) levels.
    pub transform: Transform,
}

impl Pass {
    /// The level the pass expects: [`run`](Pass::run) refuses IR at any other.
    pub fn input(&self) -> Level {
        match self.transform {
            Transform::Graph(_) | Transform::Fuse => Level::Graph,
            Transform::Lower => Level::Fused,
            Transform::Kernel(_) => Level::Kernel,
        }
    }

    /// The level of the IR the pass returns.
    pub fn output(&self) -> Level {
        match self.transform {
            Transform::Graph(_) => Level::Graph,
            Transform::Fuse => Level::Fused,
            Transform::Lower | Transform::Kernel(_) => Level::Kernel,
        }
    }

    /// Runs the pass; `Err` if the IR is not at the pass's input level.
    pub fn run(&self, ir: Ir, options: &Options) -> Result<(Ir, Option<String>), String> {
        match (self.transform, ir) {
            (Transform::Graph(f), Ir::Graph(mut g)) => {
                let report = f(&mut g, options)?;
                Ok((Ir::Graph(g), report))
            }
            (Transform::Fuse, Ir::Graph(g)) => {
                let fusion = fuse::fuse(&g);
                Ok((Ir::Fused(g, fusion), None))
            }
            (Transform::Lower, Ir::Fused(g, f)) => Ok((Ir::Kernel(lower::lower(&g, &f)?), None)),
            (Transform::Kernel(f), Ir::Kernel(mut p)) => {
                f(&mut p);
                Ok((Ir::Kernel(p), None))
            }
            (_, ir) => Err(format!(
                "expects {} IR but was given {} IR",
                self.input(),
                ir.level()
            )),
        }
    }
}

/// Every pass, in the order a program goes through them.
pub fn pipeline() -> Vec<Pass> {
    vec![
        Pass {
            name: "autodiff",
            summary: "expand grad(y, x) into gradient ops",
            transform: Transform::Graph(|g, _| {
                autodiff::expand_grads(g).map_err(|e| e.to_string())?;
                Ok(None)
            }),
        },
        Pass {
            name: "simplify",
            summary: "algebraic rewrites by equality saturation (egg), CSE, constant folding",
            transform: Transform::Graph(|g, options| {
                let limits = simplify::Limits {
                    explain: options.explain,
                    ..Default::default()
                };
                let report = simplify::simplify(g, limits)?;
                let mut text = report.to_string();
                if options.explain {
                    text.push('\n');
                    text.push_str(&report.explain());
                }
                Ok(Some(text))
            }),
        },
        Pass {
            name: "dce",
            summary: "remove values no output or update needs",
            transform: Transform::Graph(|g, _| {
                dce::dce(g);
                Ok(None)
            }),
        },
        Pass {
            name: "fuse",
            summary: "partition the graph into kernels",
            transform: Transform::Fuse,
        },
        Pass {
            name: "lower",
            summary: "turn each kernel into loop nests over buffers (Kernel IR)",
            transform: Transform::Lower,
        },
        Pass {
            name: "prune",
            summary: "remove the lets nothing reads",
            transform: Transform::Kernel(kernel::prune),
        },
        Pass {
            name: "inline",
            summary: "fold each local used once into its use",
            transform: Transform::Kernel(kernel::inline),
        },
        Pass {
            name: "renumber",
            summary: "number the locals t0, t1, … in order of definition",
            transform: Transform::Kernel(kernel::renumber),
        },
        Pass {
            name: "arena",
            summary: "pack the temporaries into one arena, reusing the bytes of dead values",
            transform: Transform::Kernel(kernel::arena),
        },
    ]
}

/// `g` in Kernel IR as `f` partitions it: `lower` and the Kernel IR passes
/// after it, as the pipeline runs them.
pub fn to_kernel_ir(g: &Graph, f: &Fusion) -> Result<Program, PassError> {
    let mut ir = Ir::Fused(g.clone(), f.clone());
    run_pipeline(
        &mut ir,
        &pipeline_from(Level::Fused),
        &Options::default(),
        |_, _, _| {},
    )?;
    match ir {
        Ir::Kernel(p) => Ok(p),
        _ => Err(PassError {
            pass: "lower",
            message: "the pipeline did not end in Kernel IR".into(),
        }),
    }
}

/// The passes of the pipeline whose output is at most `level`: all a
/// program needs to reach it.
pub fn pipeline_to(level: Level) -> Vec<Pass> {
    pipeline_between(Level::Graph, level, true)
}

/// The passes that take a program from the end of `from` to `to`: those
/// whose output level is above `from` (or equal, with `from_start`: the
/// passes within `from` too) and at most `to`.
pub fn pipeline_between(from: Level, to: Level, from_start: bool) -> Vec<Pass> {
    pipeline()
        .into_iter()
        .filter(|p| (p.output() > from || (from_start && p.output() == from)) && p.output() <= to)
        .collect()
}

/// The passes that take IR at `level` to the end of the pipeline: those
/// whose input is at `level` or after it (from a dump of that level).
pub fn pipeline_from(level: Level) -> Vec<Pass> {
    pipeline()
        .into_iter()
        .filter(|p| p.input() >= level)
        .collect()
}

/// The pass called `name`, if the pipeline has one.
pub fn find(name: &str) -> Option<Pass> {
    pipeline().into_iter().find(|p| p.name == name)
}

/// A pass failed, or left IR its verifier rejects.
#[derive(Debug)]
pub struct PassError {
    /// The [`Pass::name`] of the pass that failed.
    pub pass: &'static str,
    /// What went wrong, from the pass or the verifier.
    pub message: String,
}

impl fmt::Display for PassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in pass `{}`: {}", self.pass, self.message)
    }
}

impl std::error::Error for PassError {}

/// How long one pass took.
#[derive(Clone, Debug)]
pub struct PassTime {
    /// The [`Pass::name`] of the pass.
    pub pass: &'static str,
    /// Wall-clock time of the pass alone, without the verifier or dumps.
    pub time: Duration,
}

/// Runs `passes` over `ir` in order. After each pass, `after` sees the pass,
/// the IR and the pass's report, if any (for dumps); unless
/// [`Options::verify`] is off, the verifier of the new level checks the IR
/// first. Returns how long each pass
/// took. On error the IR in `ir` is gone; the error says why.
pub fn run_pipeline(
    ir: &mut Ir,
    passes: &[Pass],
    options: &Options,
    mut after: impl FnMut(&Pass, &Ir, Option<&str>),
) -> Result<Vec<PassTime>, PassError> {
    let mut times = Vec::with_capacity(passes.len());
    for pass in passes {
        let fail = |message| PassError {
            pass: pass.name,
            message,
        };
        let start = Instant::now();
        let input = std::mem::replace(ir, Ir::Graph(Graph::default()));
        let (out, report) = pass.run(input, options).map_err(fail)?;
        *ir = out;
        times.push(PassTime {
            pass: pass.name,
            time: start.elapsed(),
        });
        if options.verify {
            ir.verify()
                .map_err(|e| fail(format!("left invalid IR: {e}")))?;
        }
        after(pass, ir, report.as_deref());
    }
    Ok(times)
}
