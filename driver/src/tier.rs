//! Which code the CPU backend runs: Cranelift's, compiled at once, and
//! where the build has LLVM, LLVM's for the same tasks, compiled on a
//! background thread and swapped in (`tfg_cpu::Compiled::set_tier`).
//!
//! `TFG_CPU_TIER` chooses: `auto` (the default) tiers up a program whose
//! run is at least `tfg_cpu::TIER_WORK` operations once it has run
//! [`AFTER_RUNS`] times; `llvm` compiles with LLVM before the first run
//! (for tests and benchmarks of that code); `cranelift` never tiers up.

use tfg_cpu::Compiled;

/// Runs of a program before `auto` tiers it up: a program run once or
/// twice (`tfg run`) finishes before LLVM would.
pub const AFTER_RUNS: u32 = 2;

/// The tiers `TFG_CPU_TIER` can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Llvm,
    Cranelift,
}

/// The tier `TFG_CPU_TIER` asks for.
pub fn choice() -> Result<Choice, String> {
    match std::env::var("TFG_CPU_TIER").as_deref() {
        Err(_) | Ok("" | "auto") => Ok(Choice::Auto),
        Ok("llvm") => Ok(Choice::Llvm),
        Ok("cranelift") => Ok(Choice::Cranelift),
        Ok(other) => Err(format!(
            "TFG_CPU_TIER is `{other}`; it must be `auto`, `llvm` or `cranelift`"
        )),
    }
}

/// Sets up `c`'s tier-up as `TFG_CPU_TIER` says.
#[cfg_attr(not(feature = "llvm"), allow(unused_variables))]
pub fn attach(c: &mut Compiled) -> Result<(), String> {
    match choice()? {
        Choice::Cranelift => Ok(()),
        #[cfg(not(feature = "llvm"))]
        Choice::Auto => Ok(()),
        #[cfg(not(feature = "llvm"))]
        Choice::Llvm => Err(format!(
            "TFG_CPU_TIER=llvm: {}",
            crate::backend::NO_LLVM_CPU
        )),
        #[cfg(feature = "llvm")]
        Choice::Auto => {
            c.set_tier(std::sync::Arc::new(tfg_ptx::cpu::Llvm), AFTER_RUNS);
            Ok(())
        }
        #[cfg(feature = "llvm")]
        Choice::Llvm => {
            c.set_tier(std::sync::Arc::new(tfg_ptx::cpu::Llvm), 0);
            c.wait_tier_up()
                .map(drop)
                .map_err(|e| format!("TFG_CPU_TIER=llvm: {e}"))
        }
    }
}
