//! tfg's CPU backend: Kernel IR programs translated to native code with
//! Cranelift and run in-process.
//!
//! [`compile`] turns a [`Program`] into a [`Compiled`]: one native function
//! per kernel task, vectorised with 128-bit SIMD where loops allow, plus the
//! program's arena, allocated once. [`Compiled::run`] binds the feeds and
//! runs the kernels, splitting large parallel loops across a thread pool
//! created once per process. [`clif`] shows the Cranelift IR it generates.
//!
//! It knows the Kernel IR (`tfg_ir::kernel`) and the shared math formulas
//! (`tfg_math`), and nothing else: not the surface language, not the Graph
//! IR passes that produce Kernel IR, not the other backends. Translation to
//! CLIF (`translate`) is separate from running it (`jit`), so the
//! object-file writer (`object`, with its C `header`) reuses the
//! translation.

mod cost;
mod gemm;
pub mod header;
mod isa;
mod jit;
mod math;
pub mod object;
mod ops;
mod runtime;
mod tier;
mod tile;
mod translate;
mod typing;
mod vectorize;

pub use header::header;
pub use jit::{asm, clif, clif_with, compile, compile_with, Compiled, Outputs, TIER_WORK};
pub use object::{object, AotModel, AotParam, AotProgram, Slot};
use std::fmt;
pub use tfg_ir::kernel::Program;
pub use tfg_rt::pool::share_cores;
pub use tier::{tier_tasks, Tier, TierCode, TierTask};

/// Code generation choices; the defaults are what `tfg` runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Run innermost loops as 128-bit SIMD where they qualify.
    pub vectorize: bool,
    /// Inline polynomial f32 `exp`/`log`/`tanh`/`sigmoid` instead of calls to
    /// the runtime's (libm-accurate) ones.
    pub inline_math: bool,
    /// Split large parallel loops across the thread pool.
    pub threads: bool,
    /// Use fused multiply-adds in inline math where the host has them (they
    /// are faster, and round once instead of twice).
    pub fma: bool,
    /// Fill a GEMM's left operand tile by tile, each multiplied while in
    /// the cache, where the program allows (a convolution's im2col).
    pub tile: bool,
    /// Let a GEMM whose right operand is a param or a constant keep it
    /// packed between runs ([`Compiled::run_packed`]). Objects written
    /// ahead of time never do: their buffer table has no room for it.
    pub keep_packed: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            vectorize: true,
            inline_math: true,
            threads: true,
            fma: true,
            tile: true,
            keep_packed: true,
        }
    }
}

/// Why a program could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CompileError {}

/// Why a compiled program could not run: feeds that do not match it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunError {
    pub message: String,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RunError {}
