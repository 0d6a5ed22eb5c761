//! `tfg run FILE`: compile a graph, feed it, run it once, print its outputs;
//! or run a compiled PTX module, or an exported model's `serving_default`
//! signature, the same way.

use crate::cli::{how_to_feed, RunArgs};
use crate::failure::Failure;
use crate::stdout;
use crate::timing::{self, Timing};
use std::path::Path;
use std::time::{Duration, Instant};
use tfg_driver::backend::{self, Executable};
use tfg_driver::feed::{self, Bound};
use tfg_driver::{checkpoint, file_defaults, ptx_module, Backend, Session, Source};
use tfg_formats::whole_file::{self, Staged};
use tfg_formats::{arrayprint, json, npy};
use tfg_frontend::serve::DEFAULT_SIGNATURE;
use tfg_interp::Outputs;
use tfg_ir::Tensor;
use tfg_serve::model::Model;

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    if tfg_serve::model::is_model(&args.file) {
        return run_model(args);
    }
    if ptx_module::is_module(&args.file) {
        return run_module(args);
    }
    // An ONNX model that computes shapes from an input is compiled for its feed.
    let src = Source::load_fed(&args.file, &args.feeds)?;
    // A missing file is reported first; a missing GPU before any work.
    backend::check_available(args.backend)?;
    let started = Instant::now();
    let (program, dumped) = src.compile_with_ir()?;
    let frontend = started.elapsed();
    let graph = crate::selection::choose(&program, args.graph.name.as_deref())?;
    let feeds = file_defaults::with_file_defaults(&program, graph, &args.feeds, &args.file, &src)?;
    let bound = feed::bind(graph, &feeds, &src, &how_to_feed)?;
    // Params are checked against the graph as declared: the passes may drop unused ones.
    let mut session = Session::default();
    if let Some(ckpt) = &args.restore {
        checkpoint::restore(ckpt, &bound.graph, &mut session, &src)?;
    }
    session.init_missing(&bound.graph, args.seed, &src)?;

    let dumps = args.dump.dumps();
    // A dump of the fused or the Kernel IR level resumes the pipeline there.
    let (exe, result, timing) = match args.bench {
        None => {
            let (exe, result) = backend::run_once(&bound, &session, args.backend, dumped, &dumps)?;
            (exe, result, None)
        }
        Some(runs) => {
            let started = Instant::now();
            let exe = backend::prepare_from(args.backend, bound.graph.clone(), dumped, &dumps)?;
            let (exe, result, timing) =
                bench(exe, &bound, &session, runs, frontend + started.elapsed())?;
            (exe, result, Some(timing))
        }
    };
    let outputs = exe.named_outputs(&result.outputs);
    if let Some(dir) = &args.out {
        // An imported model's outputs are files under their identifiers
        // (`gpu_0/softmax_1` would not be a file name).
        let files: Vec<_> = outputs
            .iter()
            .map(|&(n, t)| (src.identifier(n), t))
            .collect();
        write_outputs(dir, &files)?;
    }
    print(args, &outputs, timing.as_ref())
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
    print(args, outputs, timing)
}

/// Prints the outputs (and `--bench`'s timing) as `--json` or as text.
fn print(
    args: &RunArgs,
    outputs: &[(&str, &Tensor)],
    timing: Option<&Timing>,
) -> Result<(), Failure> {
    match (args.json, timing) {
        (true, None) => stdout::write(&json::run_report(outputs)),
        (true, Some(t)) => stdout::write(&timing::with_timing(&json::run_report(outputs), t)),
        (false, None) => stdout::write(&outputs_text(outputs)),
        (false, Some(t)) => stdout::write(&(outputs_text(outputs) + &t.text("run"))),
    }
}

/// `--bench`: runs the prepared `exe` once to warm up, then `runs` timed
/// times on the same inputs and the params loaded once (so what only the
/// params determine is computed before the timed runs, as a served model
/// computes it once). The CPU code's tier-up, where it would happen, is
/// finished before the warm-up run. `compile` is the time parsing,
/// checking, the pass pipeline and code generation took.
fn bench(
    mut exe: Executable,
    bound: &Bound,
    session: &Session,
    runs: u64,
    compile: Duration,
) -> Result<(Executable, Outputs, Timing), Failure> {
    let mut timing = Timing::new(compile);
    let inputs = bound.inputs_for(exe.graph())?;
    let params = session.params_for(exe.graph())?;
    exe.load_params(params)?;
    timing.llvm = exe.settle_tier()?;
    let mut result = exe.run_loaded(&inputs)?;
    for _ in 0..runs {
        result = timing.run(|| exe.run_loaded(&inputs))?;
    }
    Ok((exe, result, timing))
}

/// `--out DIR`: every output as `DIR/NAME.npy`, creating `DIR` if needed.
/// All the files appear or none does (and a directory this call created is
/// removed again); an output name that is not a plain file name is refused.
pub fn write_outputs(dir: &Path, outputs: &[(&str, &Tensor)]) -> Result<(), Failure> {
    commit_with_outputs(Staged::new(), Some(dir), outputs)
}

/// Commits `staged` (a command's other files) together with `--out DIR`'s
/// files, if `dir`: all appear or none does, as in [`write_outputs`].
pub fn commit_with_outputs(
    mut staged: Staged,
    dir: Option<&Path>,
    outputs: &[(&str, &Tensor)],
) -> Result<(), Failure> {
    let Some(dir) = dir else {
        return staged.commit().map_err(Failure::new);
    };
    let files = outputs
        .iter()
        .map(|(name, t)| Ok((whole_file::plain_name(name)?, *t)))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| Failure::new(format!("--out: {e}")))?;
    let created = !dir.exists();
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(format!("cannot create directory `{}`: {e}", dir.display())))?;
    let write_all = move || {
        for (name, t) in &files {
            staged.add(&dir.join(format!("{name}.npy")), &npy::encode(t))?;
        }
        staged.commit()
    };
    // The staged temporaries are gone once `write_all` returns.
    let written = write_all();
    if written.is_err() && created {
        // Best effort: the directory is empty, as nothing was renamed into it.
        let _ = std::fs::remove_dir(dir);
    }
    written.map_err(Failure::new)
}

/// Outputs as text, one `NAME = VALUE : TYPE` each, printed as numpy prints arrays.
pub fn outputs_text(outputs: &[(&str, &Tensor)]) -> String {
    outputs
        .iter()
        .map(|(name, t)| arrayprint::named(name, t) + "\n")
        .collect()
}

/// `tfg run MODULE --backend cuda`: feeds, runs and prints as `tfg run` does.
fn run_module(args: &RunArgs) -> Result<(), Failure> {
    if args.backend != Backend::Cuda {
        return Err(Failure::new(format!(
            "`{}` is a compiled PTX module: run it with --backend cuda",
            args.file.display()
        )));
    }
    let loaded = ptx_module::load(&args.file)?;
    let src = loaded.source();
    let g = &loaded.signature;
    let bound = feed::bind(g, &args.feeds, &src, &how_to_feed)?;
    let inputs = bound.inputs_for(g)?;
    let mut session = Session::default();
    let ckpt = args.restore.as_ref().unwrap_or(&loaded.paths.params);
    checkpoint::restore(ckpt, g, &mut session, &src)?;
    let params = session.params_for(g)?;

    let started = Instant::now();
    let device = tfg_ptx::cuda::open().map_err(Failure::new)?;
    let mut gpu = device.load(&loaded.module).map_err(Failure::new)?;
    gpu.set_params(&params).map_err(Failure::new)?;
    let mut timing = args.bench.map(|_| Timing::new(started.elapsed()));
    let mut result = gpu.run(&inputs).map_err(Failure::new)?;
    if let (Some(t), Some(runs)) = (&mut timing, args.bench) {
        for _ in 0..runs {
            result = t.run(|| gpu.run(&inputs)).map_err(Failure::new)?;
        }
    }
    let outputs: Vec<(&str, &Tensor)> = loaded.output_names().zip(&result.outputs).collect();
    report(args, &outputs, timing.as_ref())
}

/// `tfg run DIR`: runs the exported model's `serving_default` signature
/// (or its only one) on the feeds, and prints as `tfg run` does.
fn run_model(args: &RunArgs) -> Result<(), Failure> {
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
    let bound = feed::bind(&graph, &args.feeds, &m.source, &how_to_feed)?;
    let mut session = m.params;
    if let Some(ckpt) = &args.restore {
        checkpoint::restore(ckpt, &m.graph, &mut session, &m.source)?;
    }
    let (exe, result) =
        backend::run_once(&bound, &session, args.backend, None, &args.dump.dumps())?;
    report(args, &exe.named_outputs(&result.outputs), None)
}
