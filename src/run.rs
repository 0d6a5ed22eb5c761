//! `tfg run FILE`: compile a graph, feed it, run it once, print its outputs.

use crate::backend::Executable;
use crate::cli::{Backend, RunArgs};
use crate::failure::Failure;
use crate::feed::Bound;
use crate::ir_dump::Dumps;
use crate::session::Session;
use crate::source::Source;
use crate::timing::{self, Timing};
use crate::{arrayprint, backend, checkpoint, feed, file_defaults, json, npy, stdout};
use std::path::Path;
use std::time::{Duration, Instant};
use tfg_interp::Outputs;
use tfg_ir::{Graph, Tensor};

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    if crate::ptx_module::is_module(&args.file) {
        return crate::ptx_module::run(args);
    }
    let src = Source::load(&args.file)?;
    // A missing file is reported first; a missing GPU before any work.
    backend::check_available(args.backend)?;
    let started = Instant::now();
    let program = src.compile()?;
    let frontend = started.elapsed();
    let graph = program
        .graph(args.graph.name.as_deref())
        .map_err(Failure::new)?;
    let feeds = file_defaults::with_file_defaults(&program, graph, &args.feeds, &args.file, &src)?;
    let bound = feed::bind(graph, &feeds, &src)?;
    // Params are checked against the graph as declared: the passes may drop unused ones.
    let mut session = Session::default();
    if let Some(ckpt) = &args.restore {
        checkpoint::restore(ckpt, &bound.graph, &mut session, &src)?;
    }
    session.init_missing(&bound.graph, args.seed, &src)?;

    let dumps = Dumps::from_options(&args.dump);
    let (exe, result, timing) = match args.bench {
        None => {
            let (exe, result) = run_once(&bound, &session, args.backend, &dumps)?;
            (exe, result, None)
        }
        Some(runs) => {
            let (exe, result, timing) =
                bench(&bound, &session, args.backend, &dumps, runs, frontend)?;
            (exe, result, Some(timing))
        }
    };
    report(
        args,
        &named_outputs(exe.graph(), &result.outputs),
        timing.as_ref(),
    )
}

/// Writes `--out`, then prints the outputs (and `--bench`'s timing) as
/// `--json` or as text.
pub fn report(
    args: &RunArgs,
    outputs: &[(&str, &Tensor)],
    timing: Option<&Timing>,
) -> Result<(), Failure> {
    if let Some(dir) = &args.out {
        write_outputs(dir, outputs)?;
    }
    match (args.json, timing) {
        (true, None) => stdout::write(&json::run_report(outputs)),
        (true, Some(t)) => stdout::write(&timing::with_timing(&json::run_report(outputs), t)),
        (false, None) => stdout::write(&outputs_text(outputs)),
        (false, Some(t)) => stdout::write(&(outputs_text(outputs) + &t.text("run"))),
    }
}

/// `--bench`: prepares the graph once, runs it once to warm up, then `runs`
/// timed times on the same inputs. Compile time is `frontend` (parsing and
/// checking) plus the pass pipeline and code generation.
fn bench(
    bound: &Bound,
    session: &Session,
    backend: Backend,
    dumps: &Dumps,
    runs: u64,
    frontend: Duration,
) -> Result<(Executable, Outputs, Timing), Failure> {
    let started = Instant::now();
    let mut exe = backend::prepare(backend, bound.graph.clone(), dumps)?;
    let mut timing = Timing::new(frontend + started.elapsed());
    let inputs = bound.inputs_for(exe.graph())?;
    let params = session.params_for(exe.graph())?;
    let mut result = exe.run(&inputs, &params)?;
    for _ in 0..runs {
        result = timing.run(|| exe.run(&inputs, &params))?;
    }
    Ok((exe, result, timing))
}

/// Runs the graph `bound` was specialised to once: the pass pipeline (with
/// `dumps`), then `backend` on `bound`'s inputs and `session`'s params.
/// Returns what ran (its graph names the outputs) and what it computed.
pub fn run_once(
    bound: &Bound,
    session: &Session,
    backend: Backend,
    dumps: &Dumps,
) -> Result<(Executable, Outputs), Failure> {
    let mut exe = backend::prepare(backend, bound.graph.clone(), dumps)?;
    let result = exe.run(
        &bound.inputs_for(exe.graph())?,
        &session.params_for(exe.graph())?,
    )?;
    Ok((exe, result))
}

/// `g`'s outputs with their names, in the order of its `output` statements.
pub fn named_outputs<'a>(g: &'a Graph, values: &'a [Tensor]) -> Vec<(&'a str, &'a Tensor)> {
    g.outputs
        .iter()
        .map(|(name, _)| name.as_str())
        .zip(values)
        .collect()
}

/// `--out DIR`: every output as `DIR/NAME.npy`, creating `DIR` if needed.
pub fn write_outputs(dir: &Path, outputs: &[(&str, &Tensor)]) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(format!("cannot create directory `{}`: {e}", dir.display())))?;
    for (name, t) in outputs {
        npy::write(&dir.join(format!("{name}.npy")), t).map_err(Failure::new)?;
    }
    Ok(())
}

/// Outputs as text, one `NAME = VALUE : TYPE` each, printed as numpy prints arrays.
pub fn outputs_text(outputs: &[(&str, &Tensor)]) -> String {
    outputs
        .iter()
        .map(|(name, t)| arrayprint::named(name, t) + "\n")
        .collect()
}
