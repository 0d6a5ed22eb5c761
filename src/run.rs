//! `tfg run FILE`: compile a graph, feed it, run it once, print its outputs.

use crate::cli::{Backend, RunArgs};
use crate::failure::Failure;
use crate::ir_dump::Dumps;
use crate::session::Session;
use crate::source::Source;
use crate::{arrayprint, feed, json, npy, stdout};
use tfg_ir::Tensor;

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    if args.backend == Backend::Cuda {
        return Err(Failure::new(
            "the cuda backend is not built yet; use `--backend interp` (or `cpu`)",
        ));
    }
    let src = Source::load(&args.file)?;
    let program = src.compile()?;
    let graph = program
        .graph(args.graph.name.as_deref())
        .map_err(Failure::new)?;
    let mut bound = feed::bind(graph, &args.feeds, &src)?;
    let mut g = std::mem::take(&mut bound.graph);
    Dumps::from_options(&args.dump).run_pipeline(&mut g)?;

    let session = Session::new(&g, args.seed, &src)?;
    // `cpu` runs on the interpreter until the Cranelift backend exists.
    let result = tfg_interp::run(&g, &bound.inputs_for(&g)?, &session.params_for(&g)?)
        .map_err(|e| Failure::new(format!("graph `{}`: {e}", g.name)))?;
    let outputs: Vec<(&str, &Tensor)> = g
        .outputs
        .iter()
        .map(|(name, _)| name.as_str())
        .zip(&result.outputs)
        .collect();

    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(format!("cannot create directory `{}`: {e}", dir.display()))
        })?;
        for (name, t) in &outputs {
            npy::write(&dir.join(format!("{name}.npy")), t).map_err(Failure::new)?;
        }
    }
    if args.json {
        stdout::write(&json::run_report(&outputs))
    } else {
        let text: String = outputs
            .iter()
            .map(|(name, t)| arrayprint::named(name, t) + "\n")
            .collect();
        stdout::write(&text)
    }
}
