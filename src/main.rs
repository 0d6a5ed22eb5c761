//! `tfg`, the command line of the tfg graph compiler (SPEC §2).
//!
//! The binary is the driver: it reads files, asks the frontend for graphs, runs
//! the pass pipeline and a backend, keeps param state, and owns every file
//! format and every message the user sees. It is the only place that decides
//! how an error is printed; the library crates return errors as values. It
//! must not know how a graph is parsed, transformed or executed beyond the
//! crates' public functions.
//!
//! Exit status: 0 on success, 1 for a user error (`error: …` on stderr), 2 for
//! a usage error (clap's), 101 for a bug (a panic, reported by the hook below).

mod arrayprint;
mod backend;
mod batch;
mod buffer_cache;
mod check;
mod checkpoint;
mod cli;
mod compile;
mod dump;
mod failure;
mod feed;
mod file_defaults;
mod graph_cmd;
mod ir_dump;
mod json;
mod npy;
mod opt;
mod picture;
mod ptx_module;
mod repl;
mod run;
mod selection;
mod session;
mod source;
mod stdout;
mod tensorboard;
mod timing;
mod train;
mod whole_file;

use clap::Parser;
use cli::{Cli, Command};
use std::io::Write;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: buffer_cache::BufferCache = buffer_cache::BufferCache;

/// Deeply nested input (`((((…))))`) recurses deeply in the frontend; a large
/// stack turns what would be a stack overflow into plain work.
const STACK_SIZE: usize = 256 << 20;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error in tfg (this is a bug; please report it): {info}");
    }));
    let cli = Cli::parse();
    let worker = std::thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn(move || dispatch(&cli));
    match worker.map(|w| w.join()) {
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(failure))) => {
            let _ = std::io::stderr().write_all(failure.text().as_bytes());
            ExitCode::from(1)
        }
        Ok(Err(_panic)) => ExitCode::from(101),
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: &Cli) -> Result<(), failure::Failure> {
    match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Train(args) => train::train(args),
        Command::Check(args) => check::check(args),
        Command::Dump(args) => dump::dump(args),
        Command::Opt(args) => opt::opt(args),
        Command::Compile(args) => compile::compile(args),
        Command::Repl(args) => repl::repl(args),
        Command::Graph(args) => graph_cmd::graph(args),
    }
}
