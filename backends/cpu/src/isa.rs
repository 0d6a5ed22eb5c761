//! The host's instruction set, as Cranelift targets it: every extension the
//! CPU has (from `cranelift_native`), code optimised for speed.

use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use std::sync::OnceLock;

/// The host ISA, detected once per process.
pub(crate) fn host() -> Result<OwnedTargetIsa, String> {
    static ISA: OnceLock<Result<OwnedTargetIsa, String>> = OnceLock::new();
    ISA.get_or_init(|| detect(false)).clone()
}

/// The host ISA generating position-independent code, for object files
/// linked into (PIE) executables.
pub(crate) fn host_pic() -> Result<OwnedTargetIsa, String> {
    detect(true)
}

fn detect(pic: bool) -> Result<OwnedTargetIsa, String> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v)
            .map_err(|e| format!("cranelift setting {k}: {e}"))
    };
    set(&mut flags, "opt_level", "speed")?;
    // JIT code and the runtime it calls may be far apart in memory.
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", if pic { "true" } else { "false" })?;
    // Cranelift's IR verifier costs compile time; keep it for debug builds.
    set(
        &mut flags,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    let builder =
        cranelift_native::builder().map_err(|e| format!("this CPU is not supported: {e}"))?;
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| format!("cannot target this CPU: {e}"))
}
