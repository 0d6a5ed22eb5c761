//! Running a compiled program's tasks on rayon's pool: the one place that
//! decides how a task's loop is split across threads, for the JIT and for
//! the model driver of `tfg compile`'s objects alike.
//!
//! A whole program runs on one pool thread ([`run_program`]): a caller from
//! outside the pool hands the program over once, instead of handing over
//! and waiting for every split task, which in a training step of small
//! kernels cost more than the work it split.

use rayon::prelude::*;
use std::cell::Cell;

/// A task function: `f(buffers, lo, hi)` runs iterations `lo..hi` of the
/// task's top-level loop.
pub type TaskFn = unsafe extern "C" fn(*const usize, u64, u64);

/// The buffer table, shared read-only by the threads of one launch.
#[derive(Clone, Copy)]
pub struct Table(pub *const usize);

// SAFETY: kernels only read the table; the buffers it points to are written
// by disjoint iterations of a parallel loop.
unsafe impl Send for Table {}
unsafe impl Sync for Table {}

impl Table {
    fn get(self) -> *const usize {
        self.0
    }
}

thread_local! {
    /// Whether this thread is running a chunk of a split task, so that a
    /// GEMM called from it stays on this thread instead of nesting
    /// parallelism into a pool its siblings already fill.
    static IN_SPLIT_TASK: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread runs a chunk of a split task.
pub fn in_split_task() -> bool {
    IN_SPLIT_TASK.with(Cell::get)
}

/// Sizes the pool for a process that shares the machine's cores with
/// `ways - 1` others (data-parallel ranks on one machine): cores / `ways`
/// threads, at least one, so the processes do not fight over the cores.
/// Works only before the pool's first use and when `RAYON_NUM_THREADS` does
/// not say otherwise; returns whether it did.
pub fn share_cores(ways: usize) -> bool {
    if ways < 2 || std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return false;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    rayon::ThreadPoolBuilder::new()
        .num_threads((cores / ways).max(1))
        .build_global()
        .is_ok()
}

/// Runs `program` (a sequence of launches) on a thread of rayon's pool.
pub fn run_program<R: Send>(program: impl FnOnce() -> R + Send) -> R {
    if rayon::current_num_threads() < 2 || rayon::current_thread_index().is_some() {
        return program();
    }
    rayon::scope(|_| program())
}

/// Runs one task over `0..extent`, split into chunks across the pool when
/// `split` (the compiler found it large enough).
///
/// # Safety
/// `f` is a task compiled for `table`, whose every entry is the address of
/// its buffer; the iterations of a split task are independent.
pub unsafe fn launch(f: TaskFn, table: Table, extent: u64, split: bool) {
    let threads = rayon::current_num_threads() as u64;
    if !split || threads < 2 || extent < 2 {
        f(table.get(), 0, extent);
        return;
    }
    let chunks = (threads * 4).min(extent);
    // Chunks of whole vectors keep every chunk's vector loop aligned alike,
    // where there are enough iterations; a short loop (of tiles, of images)
    // is split evenly instead, or its iterations would all fall in one chunk.
    let step = extent.div_ceil(chunks);
    let step = if extent >= 16 * chunks {
        step.next_multiple_of(16)
    } else {
        step
    };
    (0..extent.div_ceil(step)).into_par_iter().for_each(|c| {
        let lo = c * step;
        let outer = IN_SPLIT_TASK.with(|s| s.replace(true));
        // SAFETY: the caller's contract.
        unsafe { f(table.get(), lo, (lo + step).min(extent)) };
        IN_SPLIT_TASK.with(|s| s.set(outer));
    });
}
