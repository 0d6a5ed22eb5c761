//! tfg's CPU runtime: the `extern "C"` functions that code compiled by
//! `tfg-cpu` calls by symbol name — scalar math, GEMM, the thread pool — and
//! the model driver behind the C API of `tfg compile`'s object files (params,
//! arena, buffer table, launches).
//!
//! The JIT links it as a Rust crate; C programs link it as the static
//! library `libtfg_rt.a` (`cargo build -p tfg-rt --release`). It knows the
//! descriptor layout `tfg-cpu`'s object writer emits and nothing else: not
//! Cranelift, not the Kernel IR, not the graph passes.

pub mod gemm;
pub mod math;
pub mod model;
pub mod packed;
pub mod pool;
