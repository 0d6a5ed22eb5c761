//! Inline f32 `exp`, `log`, `tanh` and `sigmoid`: polynomial approximations
//! (Cephes' single-precision `exp` and `log`, a rational `tanh`) written with plain arithmetic and bit
//! manipulation, so the same code runs on a scalar or on every lane of an
//! `f32x4`. Every special case is a select, not a branch. The measured
//! accuracy is in `docs/backend-cpu.md`; the test `math_accuracy` sweeps it.

use crate::translate::Translator;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{F32, F32X4, I32, I32X4};
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Type, Value};
use cranelift_module::Module;
use tfg_ir::kernel::Scalar;
use tfg_ir::DType;

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two so that `x - n·ln2` stays exact for the `n` that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// Cephes `expf`: e^r ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2.
const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5e-1,
];
/// Cephes `logf`: ln(1 + f) ≈ f - f²/2 + f³·P(f) on √½ - 1 ≤ f ≤ √2 - 1.
const LOG_P: [f32; 9] = [
    7.037_683_6e-2,
    -1.151_461e-1,
    1.167_699_9e-1,
    -1.242_014_1e-1,
    1.424_932_3e-1,
    -1.666_805_8e-1,
    2.000_071_4e-1,
    -2.499_999_4e-1,
    3.333_333e-1,
];
/// tanh x ≈ x·P(x²) / Q(x²) on |x| ≤ [`TANH_CLAMP`] (a rational
/// approximation of degree 13/6, as Eigen's fast tanh), 1 in f32 beyond.
const TANH_P: [f32; 7] = [
    -2.760_768_5e-16,
    2.000_188e-13,
    -8.604_672e-11,
    5.122_297e-8,
    1.485_722_4e-5,
    6.372_619_3e-4,
    4.893_524_6e-3,
];
const TANH_Q: [f32; 4] = [1.198_258_4e-6, 1.185_347_1e-4, 2.268_434_7e-3, 4.893_525e-3];
const TANH_CLAMP: f32 = 7.905_311;
/// 1.5·2²³: adding it rounds an f32 of magnitude below 2²² to an integer,
/// which the low bits of the sum then hold.
const ROUNDING: f32 = 12_582_912.0;

impl<M: Module> Translator<'_, M> {
    fn types(lanes: u8) -> (Type, Type) {
        if lanes == 1 {
            (F32, I32)
        } else {
            (F32X4, I32X4)
        }
    }

    fn c(&mut self, lanes: u8, x: f32) -> Value {
        self.konst(Scalar::F32(x), lanes)
    }

    fn ci(&mut self, lanes: u8, x: i32) -> Value {
        self.konst(Scalar::I32(x), lanes)
    }

    fn bits_of(&mut self, lanes: u8, x: Value) -> Value {
        let flags = MemFlagsData::new().with_endianness(Endianness::Little);
        self.b.ins().bitcast(Self::types(lanes).1, flags, x)
    }

    fn float_of(&mut self, lanes: u8, x: Value) -> Value {
        let flags = MemFlagsData::new().with_endianness(Endianness::Little);
        self.b.ins().bitcast(Self::types(lanes).0, flags, x)
    }

    /// `a · b + c`, fused where the target can.
    fn mul_add(&mut self, a: Value, b: Value, c: Value) -> Value {
        if self.fma {
            self.b.ins().fma(a, b, c)
        } else {
            let m = self.b.ins().fmul(a, b);
            self.b.ins().fadd(m, c)
        }
    }

    /// `Σ coeffs[i] · x^(n-1-i)` by Horner's rule.
    fn horner(&mut self, lanes: u8, x: Value, coeffs: &[f32]) -> Value {
        let mut acc = self.c(lanes, coeffs[0]);
        for &k in &coeffs[1..] {
            let k = self.c(lanes, k);
            acc = self.mul_add(acc, x, k);
        }
        acc
    }

    /// 2^n for integer `n` in [-252, 254], as two normal powers multiplied
    /// into `y`, so that results in the subnormal range and overflow to
    /// infinity both come out right.
    fn scale_by_pow2(&mut self, lanes: u8, y: Value, n: Value) -> Value {
        let half = self.b.ins().sshr_imm_u(n, 1);
        let rest = self.b.ins().isub(n, half);
        let mut r = y;
        for e in [half, rest] {
            let bias = self.ci(lanes, 127);
            let biased = self.b.ins().iadd(e, bias);
            let bits = self.b.ins().ishl_imm_u(biased, 23);
            let p = self.float_of(lanes, bits);
            r = self.b.ins().fmul(r, p);
        }
        r
    }

    /// `x` limited to `[lo, hi]` by compares and selects: unlike `fmin` and
    /// `fmax` one instruction each, and NaN passes through.
    fn clamp(&mut self, lanes: u8, x: Value, lo: f32, hi: f32) -> Value {
        let lo = self.c(lanes, lo);
        let hi = self.c(lanes, hi);
        let below = self.b.ins().fcmp(FloatCC::LessThan, x, lo);
        let x = self.select(DType::F32, lanes, below, lo, x);
        let above = self.b.ins().fcmp(FloatCC::GreaterThan, x, hi);
        self.select(DType::F32, lanes, above, hi, x)
    }

    pub fn exp_f32(&mut self, lanes: u8, x: Value) -> Value {
        // Past these bounds e^x is 0 or infinite in f32 anyway; clamping keeps
        // n in the range `scale_by_pow2` handles.
        let x = self.clamp(lanes, x, -104.0, 89.0);
        // n = round(x / ln 2), as a float and as an integer, by the
        // rounding constant (NaN makes n garbage, but y stays NaN).
        let log2e = self.c(lanes, LOG2_E);
        let rounding = self.c(lanes, ROUNDING);
        let t = self.mul_add(x, log2e, rounding);
        let n = self.b.ins().fsub(t, rounding);
        let t_bits = self.bits_of(lanes, t);
        let rounding_bits = self.ci(lanes, ROUNDING.to_bits() as i32);
        let ni = self.b.ins().isub(t_bits, rounding_bits);
        let minus_ln2_hi = self.c(lanes, -LN2_HI);
        let minus_ln2_lo = self.c(lanes, -LN2_LO);
        let r = self.mul_add(n, minus_ln2_hi, x);
        let r = self.mul_add(n, minus_ln2_lo, r);
        let p = self.horner(lanes, r, &EXP_P);
        let r2 = self.b.ins().fmul(r, r);
        let y = self.mul_add(r2, p, r);
        let one = self.c(lanes, 1.0);
        let y = self.b.ins().fadd(y, one);
        self.scale_by_pow2(lanes, y, ni)
    }

    pub fn log_f32(&mut self, lanes: u8, x: Value) -> Value {
        // Subnormals are scaled into the normal range first.
        let min_normal = self.c(lanes, f32::MIN_POSITIVE);
        let tiny = self.b.ins().fcmp(FloatCC::LessThan, x, min_normal);
        let two23 = self.c(lanes, 8_388_608.0);
        let scaled = self.b.ins().fmul(x, two23);
        let xs = self.select(DType::F32, lanes, tiny, scaled, x);
        let e23 = self.ci(lanes, 23);
        let e0 = self.ci(lanes, 0);
        let e_adjust = self.select(DType::I32, lanes, tiny, e23, e0);
        let bits = self.bits_of(lanes, xs);
        let exp_bits = self.b.ins().ushr_imm_u(bits, 23);
        let mask = self.ci(lanes, 0xff);
        let exp_bits = self.b.ins().band(exp_bits, mask);
        let bias = self.ci(lanes, 127);
        let e = self.b.ins().isub(exp_bits, bias);
        let e = self.b.ins().isub(e, e_adjust);
        // The mantissa as m ∈ [1, 2), then moved to [√½, √2).
        let mant_mask = self.ci(lanes, 0x007f_ffff);
        let one_bits = self.ci(lanes, 0x3f80_0000);
        let m = self.b.ins().band(bits, mant_mask);
        let m = self.b.ins().bor(m, one_bits);
        let m = self.float_of(lanes, m);
        let sqrt2 = self.c(lanes, std::f32::consts::SQRT_2);
        let big = self.b.ins().fcmp(FloatCC::GreaterThan, m, sqrt2);
        let half = self.c(lanes, 0.5);
        let halved = self.b.ins().fmul(m, half);
        let m = self.select(DType::F32, lanes, big, halved, m);
        let e1 = self.ci(lanes, 1);
        let bump = self.select(DType::I32, lanes, big, e1, e0);
        let e = self.b.ins().iadd(e, bump);
        let one = self.c(lanes, 1.0);
        let f = self.b.ins().fsub(m, one);
        let z = self.b.ins().fmul(f, f);
        let p = self.horner(lanes, f, &LOG_P);
        let fz = self.b.ins().fmul(f, z);
        let y = self.b.ins().fmul(fz, p);
        let fe = self.b.ins().fcvt_from_sint(Self::types(lanes).0, e);
        let ln2_lo = self.c(lanes, LN2_LO);
        let t = self.b.ins().fmul(fe, ln2_lo);
        let y = self.b.ins().fadd(y, t);
        let t = self.b.ins().fmul(z, half);
        let y = self.b.ins().fsub(y, t);
        let y = self.b.ins().fadd(f, y);
        let ln2_hi = self.c(lanes, LN2_HI);
        let t = self.b.ins().fmul(fe, ln2_hi);
        let y = self.b.ins().fadd(y, t);
        // log 0 = -inf, log inf = inf, log of a negative or NaN is NaN.
        let zero = self.c(lanes, 0.0);
        let inf = self.c(lanes, f32::INFINITY);
        let nan = self.c(lanes, f32::NAN);
        let minus_inf = self.c(lanes, f32::NEG_INFINITY);
        let is_inf = self.b.ins().fcmp(FloatCC::Equal, x, inf);
        let y = self.select(DType::F32, lanes, is_inf, inf, y);
        let is_zero = self.b.ins().fcmp(FloatCC::Equal, x, zero);
        let y = self.select(DType::F32, lanes, is_zero, minus_inf, y);
        let invalid = self.b.ins().fcmp(FloatCC::UnorderedOrLessThan, x, zero);
        self.select(DType::F32, lanes, invalid, nan, y)
    }

    pub fn tanh_f32(&mut self, lanes: u8, x: Value) -> Value {
        let x = self.clamp(lanes, x, -TANH_CLAMP, TANH_CLAMP);
        let x2 = self.b.ins().fmul(x, x);
        let p = self.horner(lanes, x2, &TANH_P);
        let p = self.b.ins().fmul(x, p);
        let q = self.horner(lanes, x2, &TANH_Q);
        self.b.ins().fdiv(p, q)
    }

    pub fn sigmoid_f32(&mut self, lanes: u8, x: Value) -> Value {
        // With e = e^-|x| ≤ 1 nothing overflows: 1 / (1 + e) for x ≥ 0,
        // e / (1 + e) below.
        let a = self.b.ins().fabs(x);
        let minus_a = self.b.ins().fneg(a);
        let e = self.exp_f32(lanes, minus_a);
        let one = self.c(lanes, 1.0);
        let d = self.b.ins().fadd(one, e);
        let r = self.b.ins().fdiv(one, d);
        let er = self.b.ins().fmul(e, r);
        let zero = self.c(lanes, 0.0);
        let pos = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, zero);
        self.select(DType::F32, lanes, pos, r, er)
    }
}
