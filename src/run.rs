//! `tfg run FILE`: compile a graph, feed it, run it once, print its outputs.

use crate::backend::Executable;
use crate::cli::{Backend, RunArgs};
use crate::failure::Failure;
use crate::feed::Bound;
use crate::ir_dump::Dumps;
use crate::session::Session;
use crate::source::Source;
use crate::{arrayprint, backend, checkpoint, feed, file_defaults, json, npy, stdout};
use std::path::Path;
use tfg_interp::Outputs;
use tfg_ir::{Graph, Tensor};

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    backend::check_available(args.backend)?;
    let src = Source::load(&args.file)?;
    let program = src.compile()?;
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
    let (exe, result) = run_once(&bound, &session, args.backend, &dumps)?;
    let outputs = named_outputs(exe.graph(), &result.outputs);

    if let Some(dir) = &args.out {
        write_outputs(dir, &outputs)?;
    }
    if args.json {
        stdout::write(&json::run_report(&outputs))
    } else {
        stdout::write(&outputs_text(&outputs))
    }
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
