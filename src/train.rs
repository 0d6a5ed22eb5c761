//! `tfg train FILE`: train a graph as the file's `train` item says
//! (docs/training.md), printing progress on stderr and the results on stdout.
//!
//! The driver's [`Trainer`] runs the steps; after the last one, one more run
//! of the graph itself with the trained params gives the outputs, as
//! `sess.run(y)` after a TensorFlow training loop does.
//!
//! Under `mpirun` (docs/distributed.md) every rank runs this same code on
//! its share of each batch. Rank 0 alone prints and writes files. Errors
//! follow the run's phases: before training the ranks *settle* (every rank
//! learns who failed; each failing rank reports itself, an error every rank
//! hit is reported once, by rank 0), and then check that they start from
//! the same params; during training a failing rank reports
//! itself and aborts the group; after it, the ranks settle again on rank 0's
//! outcome, so every rank exits non-zero when one fails.

mod logdir;
mod progress;

use crate::cli::{how_to_feed, TrainArgs};
use crate::failure::Failure;
use crate::run;
use crate::stdout;
use crate::timing::{self, Timing};
use logdir::Logdir;
use progress::Progress;
use std::io::Write;
use std::time::{Duration, Instant};
use tfg_driver::collective::{self, Collective};
use tfg_driver::train::{train_loop, user_params, Feeding, Trainer};
use tfg_driver::{backend, checkpoint, feed, file_defaults, Session, Source};
use tfg_formats::whole_file::Staged;
use tfg_formats::{arrayprint, json};

pub fn train(args: &TrainArgs) -> Result<(), Failure> {
    let group = collective::join()?;
    let group = &*group;
    let mut settled = false;
    match train_in(args, group, &mut settled) {
        Err(e) if !settled => settle(group, Err(e)),
        done => done,
    }
}

/// Trains as `args` say, as one rank of `group`. Sets `settled` once every
/// rank has finished setting up, from when on the error paths are its own.
fn train_in(args: &TrainArgs, group: &dyn Collective, settled: &mut bool) -> Result<(), Failure> {
    let (rank, ranks) = (group.rank(), group.ranks());
    let lead = rank == 0;
    backend::check_available(args.backend)?;
    let src = Source::load(&args.file)?;
    // A checkpoint that cannot be written is found before training, not after.
    if let (Some(ckpt), true) = (&args.save, lead) {
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
    let dumps = args.dump.dumps();
    let mut trainer = if ranks > 1 {
        Trainer::data_parallel(graph, spec, args.backend, dumps, args.seed, &src, group)?
    } else {
        Trainer::new(graph, spec, args.backend, dumps, args.seed, &src)?
    };
    trainer.settle_tiers = args.bench.is_some();
    frontend += trainer_started.elapsed();
    let mut feeding = Feeding::new(&trainer, spec, &feeds, &bound.inputs, args.seed, &src)?;
    // `--bench N`: one warm-up step (which compiles), then N timed ones.
    let steps = match args.bench {
        Some(n) => n.saturating_add(1),
        None => args.steps.unwrap_or(spec.steps),
    };
    let mut timing = args.bench.map(|_| Timing::new(Duration::ZERO));
    let mut progress = match lead {
        true => Progress::new(args.json, steps),
        false => Progress::Silent,
    };
    if let (Some(n), false) = (spec.batch, feeding.is_batched()) {
        progress.warn(&format!(
            "`batch {n}` has no effect: no input the loss `{}` depends on is fed from a file",
            spec.minimize
        ));
    }
    if ranks > 1 && !feeding.is_batched() {
        progress.warn(&format!(
            "no input is cut into batches, so each of the {ranks} ranks computes the whole step"
        ));
    }
    let mut events = match (&args.logdir, lead) {
        (Some(dir), true) => {
            Some(Logdir::open(dir, trainer.graph(), &spec.minimize).map_err(Failure::new)?)
        }
        _ => None,
    };
    *settled = true;
    settle(group, Ok(()))?;
    settle(group, same_start(group, &session))?;

    let started = Instant::now();
    let final_loss = train_loop(
        &mut trainer,
        &mut session,
        &mut feeding,
        steps,
        &mut |report| {
            if let (Some(t), true) = (timing.as_mut(), report.step > 1) {
                t.record(report.took);
                if ranks > 1 {
                    t.record_all_reduce(report.all_reduce);
                }
            }
            progress.step(report);
            if let Some(Err(e)) = events.as_mut().map(|log| log.step(report)) {
                // Losing the log is no reason to lose the training.
                progress.warn(&format!("{e}; no more events are logged"));
                events = None;
            }
        },
    )
    .map_err(|e| abort_on_failure(group, e.into()))?;
    let reduced = trainer.last_all_reduce();
    progress.finish(steps, started.elapsed());
    if let Some(t) = timing.as_mut() {
        t.compile = frontend + trainer.compile_time;
        t.llvm = trainer.llvm;
    }
    if let Some(events) = &events {
        progress.note(&format!("TensorBoard events: {}", events.path().display()));
    }
    if ranks > 1 {
        let gpus = trainer.gpus();
        progress.note(&format!(
            "{ranks} ranks; each step all-reduced {} bytes a rank {} (the last took {:.3} ms)",
            reduced.bytes,
            match gpus {
                Some(Ok(())) => "on the GPUs (NCCL)",
                _ => "on the host (MPI)",
            },
            reduced.took.as_secs_f64() * 1e3
        ));
        if let Some(Err(why)) = gpus {
            progress.note(&format!("the gradients were averaged on the host: {why}"));
        }
    }

    let finished = agree_on_params(group, &session).and_then(|()| {
        if !lead {
            return Ok(());
        }
        let report = finish(
            args,
            &program,
            graph,
            &src,
            &bound,
            &session,
            &final_loss,
            steps,
        )?;
        // Under MPI the report says how many ranks trained (`-np 1` too).
        let mpi_ranks = collective::launcher().map(|_| ranks);
        stdout::write(&decorated(report, timing.as_ref(), args.json, mpi_ranks))
    });
    settle(group, finished)
}

/// After training: the outputs of one more run, the checkpoint, the export
/// and `--out`, all or nothing; returns what to print on stdout.
#[allow(clippy::too_many_arguments)]
fn finish(
    args: &TrainArgs,
    program: &tfg_frontend::Module,
    graph: &tfg_ir::Graph,
    src: &Source,
    bound: &feed::Bound,
    session: &Session,
    final_loss: &tfg_ir::Tensor,
    steps: u64,
) -> Result<String, Failure> {
    let (exe, result) = backend::run_once(bound, session, args.backend, None, &args.dump.dumps())?;
    let outputs = exe.named_outputs(&result.outputs);
    let params = user_params(&bound.graph, session)?;

    // The checkpoint and the outputs appear together or not at all.
    let mut staged = Staged::new();
    if let Some(ckpt) = &args.save {
        checkpoint::stage(&mut staged, ckpt, &params)?;
    }
    if let Some(dir) = &args.export {
        crate::export::write(dir, program, graph, &args.file, src, session)?;
    }
    run::commit_with_outputs(staged, args.out.as_deref(), &outputs)?;
    if args.json {
        return Ok(json::train_report(steps, final_loss, &outputs, &params));
    }
    Ok(arrayprint::named("final_loss", final_loss) + "\n" + &run::outputs_text(&outputs))
}

/// `report` with `--bench`'s timing, and in `--json` the number of MPI ranks.
fn decorated(
    report: String,
    timing: Option<&Timing>,
    json: bool,
    mpi_ranks: Option<usize>,
) -> String {
    let report = match (timing, json) {
        (Some(t), true) => timing::with_timing(&report, t),
        (Some(t), false) => report + &t.text("step"),
        (None, _) => report,
    };
    match (mpi_ranks, json) {
        (Some(n), true) => json::with_member(&report, "ranks", &n.to_string()),
        _ => report,
    }
}

/// Every rank learns which ranks got here with an error. A failing rank
/// reports its own error (said to be its own, unless every rank failed, when
/// rank 0 alone reports it); rank 0 names the failing ranks when it did not
/// fail itself; every rank then fails. The ranks print before they return,
/// and wait for each other after printing: the first rank to exit with an
/// error makes `mpirun` end the others, which would lose what they had
/// still to say.
fn settle(group: &dyn Collective, outcome: Result<(), Failure>) -> Result<(), Failure> {
    let (rank, ranks) = (group.rank(), group.ranks());
    if ranks == 1 {
        return outcome;
    }
    let oks = match group.all_gather(u64::from(outcome.is_ok())) {
        Ok(oks) => oks,
        Err(e) => return Err(Failure::from(e).on_rank(rank, ranks)),
    };
    let failed: Vec<String> = (0..ranks)
        .filter(|&r| oks.get(r) != Some(&1))
        .map(|r| r.to_string())
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let said = match outcome {
        Ok(()) if rank == 0 => Some(Failure::new(format!(
            "rank {} of {ranks} failed (see its message); every rank stops",
            failed.join(", ")
        ))),
        Ok(()) => None,
        Err(e) if failed.len() < ranks => Some(e.on_rank(rank, ranks)),
        Err(e) if rank == 0 => Some(e),
        Err(_) => None,
    };
    if let Some(failure) = said {
        let _ = std::io::stderr().write_all(failure.text().as_bytes());
    }
    let _ = group.barrier();
    Err(Failure::reported_elsewhere())
}

/// Checks that this rank starts from rank 0's params: rank 0's fingerprint
/// goes to every rank. Ranks that were given another `--seed`, file or
/// `--restore` would otherwise average gradients of different models.
fn same_start(group: &dyn Collective, session: &Session) -> Result<(), Failure> {
    let mine = session.fingerprint().to_le_bytes();
    let mut first = mine;
    group.broadcast(&mut first)?;
    if first == mine {
        return Ok(());
    }
    Err(Failure::new(
        "this rank's initial params differ from rank 0's: every rank must train the same file, \
         with the same --seed and --restore",
    ))
}

/// A failure in the middle of training, when the other ranks wait in the
/// next all-reduce: this rank reports it and ends the whole group.
fn abort_on_failure(group: &dyn Collective, failure: Failure) -> Failure {
    if group.ranks() == 1 {
        return failure;
    }
    let failure = failure.on_rank(group.rank(), group.ranks());
    eprint!("{}", failure.text());
    group.abort(1)
}

/// Checks that every rank ends training with the same params (they apply the
/// same averaged updates, so a difference means a broken engine or build).
fn agree_on_params(group: &dyn Collective, session: &Session) -> Result<(), Failure> {
    if group.ranks() == 1 {
        return Ok(());
    }
    let prints = group.all_gather(session.fingerprint())?;
    match prints.iter().position(|&p| p != prints[0]) {
        None => Ok(()),
        Some(_) if group.rank() != 0 => Err(Failure::reported_elsewhere()),
        Some(r) => Err(Failure::new(format!(
            "the params of rank {r} differ from rank 0's after training; nothing is saved"
        ))),
    }
}
