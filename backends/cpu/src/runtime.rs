//! The runtime: `extern "C"` functions that compiled kernels call for what
//! Cranelift has no instruction for (transcendental math, integer powers,
//! matrix products).
//!
//! Each function has one name, one signature and one address; the JIT binds
//! the names to the addresses, and an object file leaves them for the linked
//! runtime library (`tfg-rt`, `libtfg_rt.a`) to resolve. The functions
//! themselves live in `tfg-rt`, with exactly the scalar semantics of the
//! Kernel IR ops they implement.

use crate::gemm;
use cranelift_codegen::ir::types::{F32, F64, I32, I64};
use cranelift_codegen::ir::Type;

/// A function of the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RuntimeFn {
    ExpF32,
    ExpF64,
    LogF32,
    LogF64,
    TanhF32,
    TanhF64,
    SigmoidF32,
    SigmoidF64,
    SinF32,
    SinF64,
    CosF32,
    CosF64,
    PowF32,
    PowF64,
    PowI32,
    PowI64,
    Gemm,
}

impl RuntimeFn {
    pub(crate) const ALL: [RuntimeFn; 17] = [
        RuntimeFn::ExpF32,
        RuntimeFn::ExpF64,
        RuntimeFn::LogF32,
        RuntimeFn::LogF64,
        RuntimeFn::TanhF32,
        RuntimeFn::TanhF64,
        RuntimeFn::SigmoidF32,
        RuntimeFn::SigmoidF64,
        RuntimeFn::SinF32,
        RuntimeFn::SinF64,
        RuntimeFn::CosF32,
        RuntimeFn::CosF64,
        RuntimeFn::PowF32,
        RuntimeFn::PowF64,
        RuntimeFn::PowI32,
        RuntimeFn::PowI64,
        RuntimeFn::Gemm,
    ];

    /// The symbol kernels call it by.
    pub(crate) fn name(self) -> &'static str {
        match self {
            RuntimeFn::ExpF32 => "tfg_rt_exp_f32",
            RuntimeFn::ExpF64 => "tfg_rt_exp_f64",
            RuntimeFn::LogF32 => "tfg_rt_log_f32",
            RuntimeFn::LogF64 => "tfg_rt_log_f64",
            RuntimeFn::TanhF32 => "tfg_rt_tanh_f32",
            RuntimeFn::TanhF64 => "tfg_rt_tanh_f64",
            RuntimeFn::SigmoidF32 => "tfg_rt_sigmoid_f32",
            RuntimeFn::SigmoidF64 => "tfg_rt_sigmoid_f64",
            RuntimeFn::SinF32 => "tfg_rt_sin_f32",
            RuntimeFn::SinF64 => "tfg_rt_sin_f64",
            RuntimeFn::CosF32 => "tfg_rt_cos_f32",
            RuntimeFn::CosF64 => "tfg_rt_cos_f64",
            RuntimeFn::PowF32 => "tfg_rt_pow_f32",
            RuntimeFn::PowF64 => "tfg_rt_pow_f64",
            RuntimeFn::PowI32 => "tfg_rt_pow_i32",
            RuntimeFn::PowI64 => "tfg_rt_pow_i64",
            RuntimeFn::Gemm => "tfg_rt_gemm",
        }
    }

    /// Parameter and result types.
    pub(crate) fn signature(self) -> (Vec<Type>, Vec<Type>) {
        use RuntimeFn::*;
        match self {
            ExpF32 | LogF32 | TanhF32 | SigmoidF32 | SinF32 | CosF32 => (vec![F32], vec![F32]),
            ExpF64 | LogF64 | TanhF64 | SigmoidF64 | SinF64 | CosF64 => (vec![F64], vec![F64]),
            PowF32 => (vec![F32, F32], vec![F32]),
            PowF64 => (vec![F64, F64], vec![F64]),
            PowI32 => (vec![I32, I32], vec![I32]),
            PowI64 => (vec![I64, I64], vec![I64]),
            Gemm => (gemm::PARAMS.to_vec(), Vec::new()),
        }
    }

    /// Where the JIT finds it.
    pub(crate) fn address(self) -> *const u8 {
        use RuntimeFn::*;
        match self {
            ExpF32 => tfg_rt::math::tfg_rt_exp_f32 as *const u8,
            ExpF64 => tfg_rt::math::tfg_rt_exp_f64 as *const u8,
            LogF32 => tfg_rt::math::tfg_rt_log_f32 as *const u8,
            LogF64 => tfg_rt::math::tfg_rt_log_f64 as *const u8,
            TanhF32 => tfg_rt::math::tfg_rt_tanh_f32 as *const u8,
            TanhF64 => tfg_rt::math::tfg_rt_tanh_f64 as *const u8,
            SigmoidF32 => tfg_rt::math::tfg_rt_sigmoid_f32 as *const u8,
            SigmoidF64 => tfg_rt::math::tfg_rt_sigmoid_f64 as *const u8,
            SinF32 => tfg_rt::math::tfg_rt_sin_f32 as *const u8,
            SinF64 => tfg_rt::math::tfg_rt_sin_f64 as *const u8,
            CosF32 => tfg_rt::math::tfg_rt_cos_f32 as *const u8,
            CosF64 => tfg_rt::math::tfg_rt_cos_f64 as *const u8,
            PowF32 => tfg_rt::math::tfg_rt_pow_f32 as *const u8,
            PowF64 => tfg_rt::math::tfg_rt_pow_f64 as *const u8,
            PowI32 => tfg_rt::math::tfg_rt_pow_i32 as *const u8,
            PowI64 => tfg_rt::math::tfg_rt_pow_i64 as *const u8,
            Gemm => gemm::tfg_rt_gemm as *const u8,
        }
    }
}
