//! `tfg`, the command line of the tfg graph compiler (docs/cli.md).
//!
//! The binary is a thin caller of the driver library (`tfg_driver`): it parses
//! the command line, runs the REPL, prints results (`tfg_formats` formats
//! them) and decides how errors look and what the exit status is; the
//! library crates return errors as values. It also installs the global
//! allocator. It must not know how a graph is loaded, compiled or run beyond
//! the driver's and the compiler crates' public functions.
//!
//! Exit status: 0 on success, 1 for a user error (`error: …` on stderr), 2 for
//! a usage error (clap's), 101 for a bug (a panic, reported by the hook below).

mod buffer_cache;
mod check;
mod cli;
mod compile;
mod dump;
mod export;
mod failure;
mod graph_cmd;
mod import;
mod opt;
mod repl;
mod run;
mod selection;
mod serve;
mod stdout;
mod timing;
mod train;

use clap::Parser;
use cli::{Cli, Command};
use std::io::Write;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: buffer_cache::BufferCache = buffer_cache::BufferCache;

/// The frontend parses on a stack of its own, but a Graph IR dump with a
/// deeply nested literal (`[[[[…]]]]`) recurses in `tfg_ir::text`, which
/// sets no bound: a large stack turns what would be an overflow into work.
const STACK_SIZE: usize = 256 << 20;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error in tfg (this is a bug; please report it): {info}");
    }));
    let cli = Cli::parse();
    let worker = std::thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn(move || {
            tfg_frontend::started_with_stack(STACK_SIZE);
            dispatch(&cli)
        });
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
        Command::Import(args) => import::import(args),
        Command::Export(args) => export::export(args),
        Command::Serve(args) => serve::serve(args),
    }
}
