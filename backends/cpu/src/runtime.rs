//! The runtime: `extern "C"` functions that compiled kernels call for what
//! Cranelift has no instruction for (transcendental math, integer powers,
//! matrix products).
//!
//! Each function has one name, one signature and one address; the JIT binds
//! the names to the addresses, and an object file would leave them for a
//! linked runtime library to resolve. Every function here has exactly the
//! scalar semantics of the Kernel IR op it implements.

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
            ExpF32 => exp_f32 as *const u8,
            ExpF64 => exp_f64 as *const u8,
            LogF32 => log_f32 as *const u8,
            LogF64 => log_f64 as *const u8,
            TanhF32 => tanh_f32 as *const u8,
            TanhF64 => tanh_f64 as *const u8,
            SigmoidF32 => sigmoid_f32 as *const u8,
            SigmoidF64 => sigmoid_f64 as *const u8,
            SinF32 => sin_f32 as *const u8,
            SinF64 => sin_f64 as *const u8,
            CosF32 => cos_f32 as *const u8,
            CosF64 => cos_f64 as *const u8,
            PowF32 => pow_f32 as *const u8,
            PowF64 => pow_f64 as *const u8,
            PowI32 => pow_i32 as *const u8,
            PowI64 => pow_i64 as *const u8,
            Gemm => gemm::tfg_rt_gemm as *const u8,
        }
    }
}

extern "C" fn exp_f32(x: f32) -> f32 {
    x.exp()
}
extern "C" fn exp_f64(x: f64) -> f64 {
    x.exp()
}
extern "C" fn log_f32(x: f32) -> f32 {
    x.ln()
}
extern "C" fn log_f64(x: f64) -> f64 {
    x.ln()
}
extern "C" fn tanh_f32(x: f32) -> f32 {
    x.tanh()
}
extern "C" fn tanh_f64(x: f64) -> f64 {
    x.tanh()
}
extern "C" fn sin_f32(x: f32) -> f32 {
    x.sin()
}
extern "C" fn sin_f64(x: f64) -> f64 {
    x.sin()
}
extern "C" fn cos_f32(x: f32) -> f32 {
    x.cos()
}
extern "C" fn cos_f64(x: f64) -> f64 {
    x.cos()
}
extern "C" fn pow_f32(x: f32, y: f32) -> f32 {
    x.powf(y)
}
extern "C" fn pow_f64(x: f64, y: f64) -> f64 {
    x.powf(y)
}

/// `1 / (1 + e^-x)`, written as `e^x / (1 + e^x)` for negative `x` so that
/// the exponential never overflows.
macro_rules! sigmoid {
    ($name:ident, $t:ty) => {
        extern "C" fn $name(x: $t) -> $t {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                let e = x.exp();
                e / (1.0 + e)
            }
        }
    };
}
sigmoid!(sigmoid_f32, f32);
sigmoid!(sigmoid_f64, f64);

/// numpy's integer power: wrapping square-and-multiply; a negative exponent
/// gives 0 unless the base is 1 or -1.
macro_rules! int_pow {
    ($name:ident, $t:ty) => {
        extern "C" fn $name(base: $t, exp: $t) -> $t {
            if exp < 0 {
                return match base {
                    1 => 1,
                    -1 if exp % 2 == 0 => 1,
                    -1 => -1,
                    _ => 0,
                };
            }
            let (mut base, mut exp, mut acc): ($t, $t, $t) = (base, exp, 1);
            while exp > 0 {
                if exp & 1 == 1 {
                    acc = acc.wrapping_mul(base);
                }
                base = base.wrapping_mul(base);
                exp >>= 1;
            }
            acc
        }
    };
}
int_pow!(pow_i32, i32);
int_pow!(pow_i64, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_power_matches_python() {
        // Python: 3**4, (-2)**3, 0**0; numpy int32: 2**-1 -> 0, 1**-5, (-1)**-3.
        assert_eq!(pow_i32(3, 4), 81);
        assert_eq!(pow_i64(-2, 3), -8);
        assert_eq!(pow_i32(0, 0), 1);
        assert_eq!(pow_i32(2, -1), 0);
        assert_eq!(pow_i32(1, -5), 1);
        assert_eq!(pow_i32(-1, -3), -1);
        assert_eq!(pow_i64(-1, -4), 1);
        assert_eq!(pow_i32(3, 40), 3i128.pow(40) as u32 as i32);
    }

    #[test]
    fn sigmoid_saturates_without_overflow() {
        assert_eq!(sigmoid_f32(-1000.0), 0.0);
        assert_eq!(sigmoid_f32(1000.0), 1.0);
        assert!(sigmoid_f64(f64::NAN).is_nan());
        // 1 / (1 + e^2), by hand: e^2 = 7.389056..., so 0.1192029...
        assert!((sigmoid_f64(-2.0) - 0.11920292202211755).abs() < 1e-16);
    }
}
