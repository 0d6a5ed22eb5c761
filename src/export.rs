//! `tfg export FILE -o DIR`: one model version for serving (docs/serving.md);
//! `tfg train FILE --export DIR` after training; and `tfg run DIR`, which runs
//! an exported model's `serving_default` signature.

use crate::cli::{how_to_feed, GraphArg, RunArgs};
use crate::failure::Failure;
use clap::Args;
use std::path::{Path, PathBuf};
use tfg_driver::{backend, checkpoint, Session, Source};
use tfg_frontend::serve::DEFAULT_SIGNATURE;
use tfg_frontend::Module;
use tfg_ir::Graph;
use tfg_serve::model::{self, Model};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The .tfg file.
    pub file: PathBuf,
    #[command(flatten)]
    pub graph: GraphArg,
    /// The directory to write: one model version (such as BASE/1). Replaced if it exists.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Take the params from this safetensors checkpoint instead of their initialisers.
    #[arg(long, value_name = "CKPT")]
    pub restore: Option<PathBuf>,
    /// Seed for random param initialisers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

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

/// `tfg run DIR`: runs the exported model's `serving_default` signature
/// (or its only one) on the feeds, and prints as `tfg run` does.
pub fn run_model(args: &RunArgs) -> Result<(), Failure> {
    backend::check_available(args.backend)?;
    let m = Model::load(&args.file)?;
    let sig = match (m.signature(DEFAULT_SIGNATURE), m.signatures.as_slice()) {
        (Some(s), _) => s,
        (None, [only]) => only,
        (None, _) => {
            return Err(Failure::new(format!(
                "`{}` has no `{DEFAULT_SIGNATURE}` signature",
                args.file.display()
            )))
        }
    };
    let graph = m.signature_graph(sig)?;
    let bound = tfg_driver::feed::bind(&graph, &args.feeds, &m.source, &how_to_feed)?;
    let mut session = m.params;
    if let Some(ckpt) = &args.restore {
        checkpoint::restore(ckpt, &m.graph, &mut session, &m.source)?;
    }
    let (exe, result) =
        backend::run_once(&bound, &session, args.backend, None, &args.dump.dumps())?;
    crate::run::report(args, &exe.named_outputs(&result.outputs), None)
}
