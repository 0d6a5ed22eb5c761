//! The test kit: what more than one of tfg's test suites needs, written
//! once: visible skips, finding ptxas, graph builders ([`build`]), the
//! Kernel IR the backends' tests compile ([`kernel_ir`]), random feeds
//! ([`feeds`]), comparing results with their references ([`compare`]). A
//! dev-dependency only; no library or binary depends on it.
//!
//! A check that cannot run here is never passed silently: [`skip`] says so
//! on the terminal, and fails instead when `scripts/test` has promised the
//! missing thing (a `TFG_REQUIRE_*` variable).

pub mod build;
pub mod compare;
pub mod feeds;

pub use compare::{close, close_results, Tol};

use std::path::{Path, PathBuf};

/// `g` in Kernel IR as the pipeline makes it after the Graph IR passes:
/// fused by `fuse`, lowered, through the Kernel IR passes. What the CPU
/// and PTX backends' tests compile.
pub fn kernel_ir(g: &tfg_ir::Graph) -> Result<tfg_ir::kernel::Program, String> {
    tfg_passes::to_kernel_ir(g, &tfg_passes::fuse::fuse(g)).map_err(|e| format!("lowering: {e}"))
}

/// `g` through the whole pipeline, the Graph IR passes (simplify among
/// them) included: the Kernel IR `tfg run` compiles for a graph of known
/// dims.
pub fn pipeline_ir(g: &tfg_ir::Graph) -> Result<tfg_ir::kernel::Program, String> {
    let mut ir = tfg_passes::Ir::Graph(g.clone());
    let options = tfg_passes::Options::default();
    tfg_passes::run_pipeline(&mut ir, &tfg_passes::pipeline(), &options, |_, _, _| {})
        .map_err(|e| e.to_string())?;
    ir.into_program()
        .ok_or_else(|| "the pipeline did not end in Kernel IR".into())
}

/// A line on the terminal even while the test harness captures output.
pub fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Says that a check was skipped because `what` is missing, where a person
/// sees it; fails instead when the environment variable `require` is set
/// (`scripts/test` sets one for everything it installs).
pub fn skip(require: &str, what: &str) {
    assert!(
        std::env::var_os(require).is_none(),
        "{what} is required ({require} is set) but missing"
    );
    note(&format!("skipped: {what} is missing"));
}

/// Whether `error` is what opening CUDA says on a machine without a GPU
/// (no driver, or no device), as opposed to a broken driver or a bug.
pub fn is_no_gpu(error: &str) -> bool {
    error.starts_with("no CUDA driver found") || error.starts_with("no CUDA device found")
}

/// The repository's root.
pub fn root() -> &'static Path {
    // This crate is `tests/kit/` of the repository.
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// NVIDIA's `ptxas`: `$TFG_PTXAS`, or the one `scripts/test` installs into
/// `.venv`; `None`, after [`skip`] (so failing under `TFG_REQUIRE_PTXAS`),
/// where there is none.
pub fn ptxas() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TFG_PTXAS") {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(root().join(".venv/lib"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/nvidia/cuda_nvcc/bin/ptxas"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    let ptxas = found.pop();
    if ptxas.is_none() {
        skip(
            "TFG_REQUIRE_PTXAS",
            "ptxas (set TFG_PTXAS, or run scripts/test to install it)",
        );
    }
    ptxas
}
