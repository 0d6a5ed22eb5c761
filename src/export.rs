//! `tfg export FILE -o DIR`: one model version for serving (docs/serving.md);
//! also `tfg train FILE --export DIR` after training.

use crate::cli::ExportArgs;
use crate::failure::Failure;
use std::path::Path;
use tfg_driver::{checkpoint, Session, Source};
use tfg_frontend::Module;
use tfg_ir::Graph;
use tfg_serve::model;

pub fn export(args: &ExportArgs) -> Result<(), Failure> {
    let src = Source::load(&args.file)?;
    let program = src.compile()?;
    let graph = crate::selection::choose(&program, args.graph.name.as_deref())?;
    let session = params(graph, args.restore.as_deref(), args.seed, &src)?;
    write(&args.out, &program, graph, &args.file, &src, &session)
}

/// The params of `g`: from `restore`, else from their initialisers.
pub fn params(
    g: &Graph,
    restore: Option<&Path>,
    seed: u64,
    src: &Source,
) -> Result<Session, Failure> {
    // Only the params: the rest of the graph may still have symbolic shapes.
    let mut only = Graph::new(g.name.clone());
    for v in g.params() {
        only.push(g.node(v).clone());
    }
    let mut session = Session::default();
    if let Some(ckpt) = restore {
        checkpoint::restore(ckpt, &only, &mut session, src)?;
    }
    session.init_missing(&only, seed, src)?;
    Ok(session)
}

/// Exports graph `g` of `program` with the params of `session` into `dir`.
pub fn write(
    dir: &Path,
    program: &Module,
    g: &Graph,
    file: &Path,
    src: &Source,
    session: &Session,
) -> Result<(), Failure> {
    model::export(dir, program, g, file, src, session)?;
    Ok(())
}
