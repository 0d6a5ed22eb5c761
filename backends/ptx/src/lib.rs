//! tfg's GPU backend: Kernel IR programs compiled to PTX through LLVM's
//! NVPTX target, and a CUDA runtime that runs them.
//!
//! [`compile_ptx`] turns a [`Program`] into a [`PtxModule`]: PTX text (one
//! `.entry` per launch) and a [`Manifest`], the launch plan — grid and
//! block of each launch, the buffers it takes, the buffer plan, the graph's
//! inputs, params, outputs and updates. [`cuda`] loads such a module on a
//! GPU through the CUDA driver API (loaded at run time, so nothing here
//! needs CUDA to build) and runs it, keeping params and optimizer state on
//! the device between steps; [`nccl`] averages a run's outputs over the
//! GPUs of several processes (data-parallel training).
//!
//! Code generation needs LLVM and sits behind the `llvm` feature (on by
//! default); without it the crate still reads manifests and runs PTX, so a
//! build for a GPU machine carries no LLVM.
//!
//! It knows the Kernel IR (`tfg_ir::kernel`) and the shared math formulas
//! (`tfg_math`), and nothing else: not the surface language, not the passes
//! that produce Kernel IR, not the other backends.

#[cfg(feature = "llvm")]
mod codegen;
#[cfg(feature = "llvm")]
pub mod cpu;
pub mod cuda;
pub mod manifest;
pub mod nccl;
#[cfg_attr(not(feature = "llvm"), allow(dead_code))]
mod schedule;

pub use manifest::Manifest;
pub use tfg_ir::kernel::Program;

/// The GPU architecture PTX is generated for unless one is asked for.
pub const DEFAULT_SM: &str = "sm_80";

/// Every GPU architecture PTX can be generated for: the NVPTX processors of
/// the LLVM tfg links (19) with compute capability 7.0 or newer (the
/// warp-synchronous shuffles and barriers need it). Anything else is refused
/// before LLVM sees it, since LLVM's answer to an unknown one is a warning on
/// stderr or a fatal error.
pub const SUPPORTED_SMS: &[&str] = &[
    "sm_70", "sm_72", "sm_75", "sm_80", "sm_86", "sm_87", "sm_89", "sm_90", "sm_90a",
];

/// Refuses a GPU architecture PTX cannot be generated for, naming those it can.
pub fn check_sm(sm: &str) -> Result<(), String> {
    if SUPPORTED_SMS.contains(&sm) {
        return Ok(());
    }
    Err(format!(
        "unknown GPU architecture `{sm}`: PTX can be generated for {}",
        SUPPORTED_SMS.join(", ")
    ))
}
/// The names of a module's files in its directory.
pub const PTX_FILE: &str = "program.ptx";
pub const MANIFEST_FILE: &str = "manifest.json";

/// A compiled program: PTX text and its launch plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PtxModule {
    pub ptx: String,
    pub manifest: Manifest,
}

/// Compiles `p` to PTX for `sm` (`sm_80`, `sm_90`, …; `sm_70` or newer).
#[cfg(feature = "llvm")]
pub fn compile_ptx(p: &Program, sm: &str) -> Result<PtxModule, String> {
    tfg_ir::kernel::verify(p).map_err(|e| format!("invalid program: {e}"))?;
    let launches = schedule::schedule(p)?;
    let ptx = codegen::ptx(p, &launches, sm)?;
    Ok(PtxModule {
        ptx,
        manifest: Manifest::new(p, &launches, sm),
    })
}

/// The LLVM IR that [`compile_ptx`] turns into PTX (after optimisation),
/// for `--emit llvm`.
#[cfg(feature = "llvm")]
pub fn llvm_ir(p: &Program) -> Result<String, String> {
    tfg_ir::kernel::verify(p).map_err(|e| format!("invalid program: {e}"))?;
    let launches = schedule::schedule(p)?;
    codegen::llvm_ir(p, &launches, DEFAULT_SM)
}

/// Unoptimised LLVM IR of `p` for the host, with the launch plan: each entry
/// is called once per thread as `entry(ptr buffers, ptr ids)`, where `ids`
/// points at `[tid.x, ctaid.x, ctaid.y, ctaid.z, nctaid.x, nctaid.y,
/// nctaid.z]` (i32), and the caller provides `tfg_host_barrier()`,
/// `tfg_host_warp_sync()` and `tfg_host_shfl_bfly(i32, i32) -> i32`. The
/// tests run the generated code this way where there is no GPU.
#[cfg(feature = "llvm")]
#[doc(hidden)]
pub fn host_ir(p: &Program) -> Result<(String, Manifest), String> {
    tfg_ir::kernel::verify(p).map_err(|e| format!("invalid program: {e}"))?;
    let launches = schedule::schedule(p)?;
    Ok((
        codegen::host_ir(p, &launches)?,
        Manifest::new(p, &launches, "host"),
    ))
}

#[cfg(all(test, feature = "llvm"))]
mod tests {
    use super::*;

    fn program() -> Program {
        tfg_ir::kernel::parse(
            "program {
  buffer b0: f32[8] input 0 \"x\"
  buffer b1: f32[8] output 0 \"y\"
  arena 0
  kernel k0 reads b0 writes b1 {
    parallel for i0 in 0..8 {
      store b1[i0] = exp(b0[i0])
    }
  }
}",
        )
        .expect("parses")
    }

    #[test]
    fn unknown_architectures_are_errors() {
        for sm in ["sm_52", "compute_80", "sm_", "80"] {
            let e = compile_ptx(&program(), sm).expect_err(sm);
            assert!(e.contains("unknown GPU architecture"), "{sm}: {e}");
        }
        assert!(llvm_ir(&program())
            .expect("IR")
            .contains("ptx_kernel void @tfg_k0"));
    }
}
