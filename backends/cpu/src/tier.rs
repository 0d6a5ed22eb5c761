//! Tiering: a second code generator for a compiled program's tasks, run on
//! a background thread after Cranelift's code is ready, its functions
//! swapped in between runs (as JVMs and JavaScript engines tier up).
//!
//! This crate does not know the second generator (the driver plugs in
//! LLVM's); it only cuts the program into the same tasks and calls the
//! [`Tier`]'s code where it has some. Tasks with a GEMM keep Cranelift's
//! code, which calls the runtime's packed GEMM.

use crate::translate::{has_gemm, task_symbol, tasks_of};
use crate::Options;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use tfg_ir::kernel::{Program, Stmt};

/// One task function to generate, by the task ABI
/// (`extern "C" fn(table: *const usize, lo: u64, hi: u64)`, `table[b]` the
/// address of buffer `b`; a task that is a top-level loop, `as_loop`, runs
/// its iterations `lo..hi`, other code ignores them).
#[derive(Clone, Debug)]
pub struct TierTask {
    pub symbol: String,
    pub body: Vec<Stmt>,
    pub as_loop: bool,
}

/// A code generator for the tasks of a program.
pub trait Tier: Send + Sync {
    /// Machine code for `tasks` of `p`, loaded in this process.
    fn compile(&self, p: &Program, tasks: &[TierTask]) -> Result<Box<dyn TierCode>, String>;
}

/// Code a [`Tier`] compiled: owns it, and gives each task's entry.
pub trait TierCode: Send {
    /// The entry address of the task named `symbol`, if compiled.
    fn address(&self, symbol: &str) -> Option<usize>;
}

/// Where a program's tier-up stands.
pub(crate) enum Upgrade {
    None,
    Pending(Receiver<Result<Box<dyn TierCode>, String>>),
    /// The launches run this code, which it keeps alive.
    Done(#[expect(dead_code, reason = "owns the code the launches run")] Box<dyn TierCode>),
    Failed(String),
}

/// Starts compiling `p`'s tasks with `tier` on a new thread.
pub(crate) fn start(tier: Arc<dyn Tier>, p: Program, opts: Options) -> Upgrade {
    let (send, receive) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("tfg-tier-up".into())
        .spawn(move || {
            let tasks = tier_tasks(&p, &opts);
            // The receiver is gone when the program was dropped first.
            let _ = send.send(tier.compile(&p, &tasks));
        });
    match spawned {
        Ok(_) => Upgrade::Pending(receive),
        Err(e) => Upgrade::Failed(format!("no thread to compile on: {e}")),
    }
}

impl Upgrade {
    /// Takes the result if it has come (waiting for it where `wait`).
    pub(crate) fn poll(&mut self, wait: bool) -> Option<Box<dyn TierCode>> {
        let Upgrade::Pending(r) = self else {
            return None;
        };
        let got = if wait {
            r.recv().map_err(|_| TryRecvError::Disconnected)
        } else {
            r.try_recv()
        };
        match got {
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                *self = Upgrade::Failed("the tier-up thread stopped".into());
                None
            }
            Ok(Err(e)) => {
                *self = Upgrade::Failed(e);
                None
            }
            Ok(Ok(code)) => Some(code),
        }
    }
}

/// The tasks of `p` a tier compiles: those `translate` makes (with
/// `opts`), by the same names, except the ones with a GEMM.
pub fn tier_tasks(p: &Program, opts: &Options) -> Vec<TierTask> {
    let tiled = opts.tile.then(|| crate::tile::tile(p)).flatten();
    let p = tiled.as_ref().unwrap_or(p);
    let mut tasks = Vec::new();
    for (ki, k) in p.kernels.iter().enumerate() {
        for (ti, part) in tasks_of(&k.body).into_iter().enumerate() {
            if !has_gemm(part) {
                tasks.push(TierTask {
                    symbol: task_symbol("tfg", ki, ti),
                    body: part.to_vec(),
                    as_loop: matches!(part, [Stmt::Loop { .. }]),
                });
            }
        }
    }
    tasks
}
