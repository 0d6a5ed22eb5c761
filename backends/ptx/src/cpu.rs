//! The CPU backend's second tier: its task functions compiled by LLVM for
//! this machine's CPU, from the same Kernel IR and with the same scalar
//! semantics as the PTX (the `codegen` module), and JIT-loaded in memory.
//!
//! Cranelift's code runs first, at once; this compilation takes longer
//! (LLVM's O3) and gives wider vectors, so the CPU backend runs it on a
//! background thread and swaps its functions in when they are ready.
//! Only x86-64 hosts have it. [`Llvm`] plugs it into the CPU backend
//! (`tfg_cpu::Tier`).

use inkwell::context::Context;
use inkwell::execution_engine::ExecutionEngine;
use std::collections::HashMap;
use std::mem::ManuallyDrop;
use tfg_cpu::{Tier, TierCode, TierTask};
use tfg_ir::kernel::Program;

/// Compiled tasks, loaded in this process: each task's entry address, and
/// the LLVM engine that holds the code.
pub struct CpuCode {
    // The engine before the context it lives in (see `Drop`).
    engine: ManuallyDrop<ExecutionEngine<'static>>,
    cx: *mut Context,
    addresses: HashMap<String, usize>,
}

// SAFETY: the context and engine are touched only to free them, and
// nothing else refers to them (LLVM contexts may move between threads when
// no two use them at once); the addresses are of immutable code.
unsafe impl Send for CpuCode {}

impl CpuCode {
    /// # Safety
    /// `cx` was leaked from a `Box`, and `engine` (with the addresses) is
    /// the only thing left that refers to it.
    pub(crate) unsafe fn new(
        cx: &'static Context,
        engine: ExecutionEngine<'static>,
        addresses: HashMap<String, usize>,
    ) -> CpuCode {
        CpuCode {
            engine: ManuallyDrop::new(engine),
            cx: cx as *const Context as *mut Context,
            addresses,
        }
    }

    /// The entry of the task named `symbol`.
    pub fn address(&self, symbol: &str) -> Option<usize> {
        self.addresses.get(symbol).copied()
    }
}

impl Drop for CpuCode {
    fn drop(&mut self) {
        // SAFETY: the engine goes first, then the context it was made in
        // (see `new`); nothing runs the code once its owner is dropped.
        unsafe {
            ManuallyDrop::drop(&mut self.engine);
            drop(Box::from_raw(self.cx));
        }
    }
}

/// Compiles `tasks` of `p` for this machine's CPU, each by the CPU
/// backend's task ABI (see [`TierTask`]).
#[cfg(target_arch = "x86_64")]
pub fn compile(p: &Program, tasks: &[TierTask]) -> Result<CpuCode, String> {
    tfg_ir::kernel::verify(p).map_err(|e| format!("invalid program: {e}"))?;
    crate::codegen::task::jit(p, tasks).map_err(|e| e.0)
}

/// The optimised LLVM IR [`compile`] generates for `tasks` of `p`, or (with
/// `asm`) its machine code as assembly.
#[cfg(target_arch = "x86_64")]
pub fn listing(p: &Program, tasks: &[TierTask], asm: bool) -> Result<String, String> {
    tfg_ir::kernel::verify(p).map_err(|e| format!("invalid program: {e}"))?;
    crate::codegen::task::listing(p, tasks, asm).map_err(|e| e.0)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn compile(_: &Program, _: &[TierTask]) -> Result<CpuCode, String> {
    Err(NOT_X86.into())
}

#[cfg(not(target_arch = "x86_64"))]
pub fn listing(_: &Program, _: &[TierTask], _: bool) -> Result<String, String> {
    Err(NOT_X86.into())
}

#[cfg(not(target_arch = "x86_64"))]
const NOT_X86: &str = "the LLVM tier of the CPU backend is built for x86-64 hosts only";

/// This tier, for `tfg_cpu::Compiled::set_tier`.
pub struct Llvm;

impl Tier for Llvm {
    fn compile(&self, p: &Program, tasks: &[TierTask]) -> Result<Box<dyn TierCode>, String> {
        Ok(Box::new(compile(p, tasks)?))
    }
}

impl TierCode for CpuCode {
    fn address(&self, symbol: &str) -> Option<usize> {
        CpuCode::address(self, symbol)
    }
}
