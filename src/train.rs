//! `tfg train FILE`: train a graph as the file's `train` item says
//! (docs/training.md), printing progress on stderr and the results on stdout.
//!
//! The driver's [`Trainer`] runs the steps; after the last one, one more run
//! of the graph itself with the trained params gives the outputs, as
//! `sess.run(y)` after a TensorFlow training loop does.

mod logdir;
mod progress;

use crate::cli::{how_to_feed, TrainArgs};
use crate::failure::Failure;
use crate::run;
use crate::stdout;
use crate::timing::{self, Timing};
use logdir::Logdir;
use progress::Progress;
use std::time::{Duration, Instant};
use tfg_driver::train::{train_loop, user_params, Feeding, Trainer};
use tfg_driver::{backend, checkpoint, feed, file_defaults, Session, Source};
use tfg_formats::whole_file::Staged;
use tfg_formats::{arrayprint, json};

pub fn train(args: &TrainArgs) -> Result<(), Failure> {
    backend::check_available(args.backend)?;
    let src = Source::load(&args.file)?;
    // A checkpoint that cannot be written is found before training, not after.
    if let Some(ckpt) = &args.save {
        checkpoint::check_save(ckpt)?;
    }
    let compile_started = Instant::now();
    let program = src.compile()?;
    let mut frontend = compile_started.elapsed();
    let graph = crate::selection::choose(&program, args.graph.name.as_deref())?;
    let spec = program.train(&graph.name).ok_or_else(|| {
        Failure::new(format!(
            "graph `{}` has no train item; add `train {} {{ minimize …; optimizer …; steps … }}`",
            graph.name, graph.name
        ))
    })?;
    let feeds = file_defaults::with_file_defaults(&program, graph, &args.feeds, &args.file, &src)?;
    // Checks every feed against the graph as the user wrote it, before any work.
    let bound = feed::bind(graph, &feeds, &src, &how_to_feed)?;
    let mut session = Session::default();
    if let Some(ckpt) = &args.restore {
        checkpoint::restore(ckpt, &bound.graph, &mut session, &src)?;
    }
    session.init_missing(&bound.graph, args.seed, &src)?;

    let trainer_started = Instant::now();
    let mut trainer = Trainer::new(
        graph,
        spec,
        args.backend,
        args.dump.dumps(),
        args.seed,
        &src,
    )?;
    frontend += trainer_started.elapsed();
    let mut feeding = Feeding::new(&trainer, spec, &feeds, &bound.inputs, args.seed, &src)?;
    // `--bench N`: one warm-up step (which compiles), then N timed ones.
    let steps = match args.bench {
        Some(n) => n.saturating_add(1),
        None => args.steps.unwrap_or(spec.steps),
    };
    let mut timing = args.bench.map(|_| Timing::new(Duration::ZERO));
    let mut progress = Progress::new(args.json, steps);
    if let (Some(n), false) = (spec.batch, feeding.is_batched()) {
        progress.warn(&format!(
            "`batch {n}` has no effect: no input the loss `{}` depends on is fed from a file",
            spec.minimize
        ));
    }
    let mut events = match &args.logdir {
        Some(dir) => {
            Some(Logdir::open(dir, trainer.graph(), &spec.minimize).map_err(Failure::new)?)
        }
        None => None,
    };
    let started = Instant::now();
    let final_loss = train_loop(
        &mut trainer,
        &mut session,
        &mut feeding,
        steps,
        &mut |report| {
            if let (Some(t), true) = (timing.as_mut(), report.step > 1) {
                t.record(report.took);
            }
            progress.step(report);
            if let Some(Err(e)) = events.as_mut().map(|log| log.step(report)) {
                // Losing the log is no reason to lose the training.
                progress.warn(&format!("{e}; no more events are logged"));
                events = None;
            }
        },
    )?;
    progress.finish(steps, started.elapsed());
    if let Some(t) = timing.as_mut() {
        t.compile = frontend + trainer.compile_time;
    }
    if let Some(events) = &events {
        progress.note(&format!("TensorBoard events: {}", events.path().display()));
    }

    let (exe, result) = backend::run_once(&bound, &session, args.backend, &args.dump.dumps())?;
    let outputs = backend::named_outputs(exe.graph(), &result.outputs);
    let params = user_params(&bound.graph, &session)?;

    // The checkpoint and the outputs appear together or not at all.
    let mut staged = Staged::new();
    if let Some(ckpt) = &args.save {
        checkpoint::stage(&mut staged, ckpt, &params)?;
    }
    if let Some(dir) = &args.export {
        crate::export::write(dir, &program, graph, &args.file, &src, &session)?;
    }
    run::commit_with_outputs(staged, args.out.as_deref(), &outputs)?;
    if args.json {
        let report = json::train_report(steps, &final_loss, &outputs, &params);
        match &timing {
            Some(t) => stdout::write(&timing::with_timing(&report, t)),
            None => stdout::write(&report),
        }
    } else {
        let text =
            arrayprint::named("final_loss", &final_loss) + "\n" + &run::outputs_text(&outputs);
        let bench = timing.as_ref().map(|t| t.text("step")).unwrap_or_default();
        stdout::write(&(text + &bench))
    }
}
