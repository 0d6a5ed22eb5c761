//! The transcendental functions tfg's code generators emit, written once
//! over an abstract arithmetic ([`Arith`]): the GPU backend implements it on
//! LLVM values, the CPU backend on Cranelift values (a scalar or every lane
//! of a vector), and the accuracy tests on host floats. Because both code
//! generators build the same operations in the same order, and each
//! operation is IEEE (fused multiply-adds included), an f32 `exp`, `log`,
//! `tanh` or `sigmoid` gives the same bits on the CPU as on the GPU, except
//! where a target takes one of the approximations the trait offers
//! ([`Arith::div_bounded`], [`Arith::exp_reduced`]): the GPU does, for the
//! f32 `exp`, `tanh` and `sigmoid`, which then differ by a few ulp.
//!
//! Every function is built from `+ - * /`, `fma`, `sqrt`, `floor`/`rint` and
//! bit manipulation, with each special case (NaN, ±inf, ±0, subnormals) a
//! select rather than a branch, so that it runs on every lane of a vector:
//! the GPU has no libm here (libdevice is not shipped with LLVM, and LLVM's
//! NVPTX target turns `llvm.exp2`/`llvm.log2`/`llvm.sin` into calls to
//! functions that do not exist), and a branch per lane would defeat SIMD.
//!
//! - f32 `exp`, `log`: Cephes' single-precision polynomials (on the GPU,
//!   `exp`'s polynomial is `ex2.approx`); `tanh`: a
//!   rational approximation (as Eigen's); `sigmoid` from `exp`.
//! - f64 `exp`, `log`, `tanh`, `sigmoid`: range reduction plus Taylor or
//!   `atanh` series long enough for full double precision.
//! - `sin`, `cos` (both widths, f32 through f64): reduction by π/2 —
//!   Cody–Waite in three parts below 10⁶, Payne–Hanek with exact products
//!   against a 1166-bit 2/π above — then fdlibm's kernel polynomials. These
//!   need [`Tables`] as well.
//! - `pow` (both widths, f32 through f64): `exp(y·log|x|)` with C99's special
//!   cases.
//!
//! The crate knows no code generator and no IR: only the formulas.

/// Scalar arithmetic on one float width (`F`), its same-width integers (`I`)
/// and booleans (`B`).
pub trait Arith {
    type F: Copy;
    type I: Copy;
    type B: Copy;

    /// Whether `F` is f64.
    fn wide(&self) -> bool;
    fn f(&mut self, x: f64) -> Self::F;
    fn i(&mut self, x: i64) -> Self::I;

    fn add(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn sub(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn mul(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn div(&mut self, a: Self::F, b: Self::F) -> Self::F;
    /// `a / b` where `b` is known to be a normal number of moderate size
    /// (between 2⁻¹⁰⁰ and 2¹⁰⁰): a target may divide approximately, within
    /// 2 ulp, where a correctly rounded division costs several instructions
    /// (a GPU's `div.approx.f32`).
    fn div_bounded(&mut self, a: Self::F, b: Self::F) -> Self::F {
        self.div(a, b)
    }
    /// e^`r` for |r| ≤ ln2/2 (`exp`'s reduced argument): a target with a
    /// fast base-2 exponential within 2 ulp (a GPU's `ex2.approx.f32`) gives
    /// it here, in place of the polynomial.
    fn exp_reduced(&mut self, _r: Self::F) -> Option<Self::F> {
        None
    }
    /// `a·b + c` rounded once.
    fn fma(&mut self, a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    fn neg(&mut self, a: Self::F) -> Self::F;
    fn abs(&mut self, a: Self::F) -> Self::F;
    fn floor(&mut self, a: Self::F) -> Self::F;
    /// Round to the nearest integer, ties to even.
    fn rint(&mut self, a: Self::F) -> Self::F;

    fn lt(&mut self, a: Self::F, b: Self::F) -> Self::B;
    fn gt(&mut self, a: Self::F, b: Self::F) -> Self::B;
    fn ge(&mut self, a: Self::F, b: Self::F) -> Self::B;
    fn eq(&mut self, a: Self::F, b: Self::F) -> Self::B;
    /// True when either operand is NaN or `a < b`.
    fn unordered_or_lt(&mut self, a: Self::F, b: Self::F) -> Self::B;
    fn and(&mut self, a: Self::B, b: Self::B) -> Self::B;
    fn or(&mut self, a: Self::B, b: Self::B) -> Self::B;
    fn not(&mut self, a: Self::B) -> Self::B;
    fn select(&mut self, c: Self::B, a: Self::F, b: Self::F) -> Self::F;

    fn float_to_bits(&mut self, a: Self::F) -> Self::I;
    fn bits_to_float(&mut self, a: Self::I) -> Self::F;
    fn iadd(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn isub(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn iand(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn ior(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn shl(&mut self, a: Self::I, bits: u32) -> Self::I;
    /// Arithmetic shift right.
    fn ashr(&mut self, a: Self::I, bits: u32) -> Self::I;
    fn ilt(&mut self, a: Self::I, b: Self::I) -> Self::B;
    fn iselect(&mut self, c: Self::B, a: Self::I, b: Self::I) -> Self::I;
    /// An integer-valued float (small enough to fit) as an integer.
    fn to_int(&mut self, a: Self::F) -> Self::I;
    fn to_float(&mut self, a: Self::I) -> Self::F;
}

/// What the reduction of a huge argument of `sin` and `cos` needs beyond
/// [`Arith`]: integer products and quotients by constants, and lookups in
/// a constant table.
pub trait Tables: Arith {
    /// `a · c`, wrapping.
    fn imul(&mut self, a: Self::I, c: i64) -> Self::I;
    /// `a / d` for `a ≥ 0` and a constant `d > 0`.
    fn idiv(&mut self, a: Self::I, d: i64) -> Self::I;
    /// `values[i]`, for `i` in range, from a constant table called `name`.
    fn table(&mut self, name: &'static str, values: &'static [f64], i: Self::I) -> Self::F;
}

/// ln 2 split in two, so that `x - n·ln2` stays exact for the `n` that occur
/// (f32: Cephes' split; f64: fdlibm's, 32 significant bits in the high part).
const LN2_HI_32: f64 = 0.693_359_375;
const LN2_LO_32: f64 = -2.121_944_4e-4;
const LN2_HI_64: f64 = 0.6931471803691238;
const LN2_LO_64: f64 = 1.9082149292705877e-10;

/// Cephes `expf`: e^r ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2.
const EXP_P_32: [f64; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5.000_000_1e-1,
];
/// Cephes `logf`: ln(1 + f) ≈ f - f²/2 + f³·P(f) on √½ - 1 ≤ f ≤ √2 - 1.
const LOG_P_32: [f64; 9] = [
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
/// tanh x ≈ x·P(x²) / Q(x²) on |x| ≤ [`TANH_CLAMP_32`]; ±1 in f32 beyond.
const TANH_P_32: [f64; 7] = [
    -2.760_768_5e-16,
    2.000_187_9e-13,
    -8.604_671_5e-11,
    5.122_297e-8,
    1.485_722_4e-5,
    6.372_619_3e-4,
    4.893_524_6e-3,
];
const TANH_Q_32: [f64; 4] = [1.198_258_4e-6, 1.185_347_1e-4, 2.268_434_7e-3, 4.893_525e-3];
const TANH_CLAMP_32: f64 = 7.905_311;

/// fdlibm's `__kernel_sin` and `__kernel_cos` coefficients, on |r| ≤ π/4.
const SIN_S: [f64; 6] = [
    1.58969099521155e-10,
    -2.5050760253406863e-08,
    2.7557313707070068e-06,
    -0.0001984126982985795,
    0.00833333333332249,
    -0.16666666666666632,
];
const COS_C: [f64; 6] = [
    -1.1359647557788195e-11,
    2.087572321298175e-09,
    -2.7557314351390663e-07,
    2.480158728947673e-05,
    -0.001388888888887411,
    0.0416666666666666,
];
/// π/2 in three 33-bit parts (fdlibm's `pio2_1`, `pio2_2`, `pio2_3`): `n`
/// times each of the first two is exact for `n < 2²⁰`.
const PIO2: [f64; 3] = [
    1.5707963267341256,
    6.077100506303966e-11,
    2.0222662487111665e-21,
];

/// 2/π in 53-bit pieces, 2/π = Σ TWO_OVER_PI[k] · 2^(-53(k+1)): enough
/// for the largest f64 exponent. Computed with Machin's formula in integer
/// arithmetic; the first 48 bits are fdlibm's `two_over_pi` (0xA2F983,
/// 0x6E4E44).
const TWO_OVER_PI: [f64; 22] = [
    5734161139222658.0,
    5814151408469972.0,
    7440259586542284.0,
    5563773718881558.0,
    2066796102992750.0,
    2563573915284664.0,
    55291115753100.0,
    5098427330010289.0,
    1465545334474430.0,
    5835026907506289.0,
    6776677510095004.0,
    7069188010357663.0,
    2595984518904818.0,
    2831001892290551.0,
    4552804911380620.0,
    3195225570766134.0,
    4461702110328553.0,
    8190251822055336.0,
    6397593724909042.0,
    8751785341853560.0,
    5811081437509311.0,
    3456741467624832.0,
];
/// Below this |x| the Cody–Waite reduction is exact enough (n < 2²⁰).
const CODY_WAITE_LIMIT: f64 = 1.0e6;

/// `Σ coeffs[i] · x^(n-1-i)` by Horner's rule with fused multiply-adds.
fn horner<A: Arith>(a: &mut A, x: A::F, coeffs: &[f64]) -> A::F {
    let mut acc = a.f(coeffs[0]);
    for &k in &coeffs[1..] {
        let k = a.f(k);
        acc = a.fma(acc, x, k);
    }
    acc
}

/// `x` limited to `[lo, hi]`; NaN passes through.
fn clamp<A: Arith>(a: &mut A, x: A::F, lo: f64, hi: f64) -> A::F {
    let (lo, hi) = (a.f(lo), a.f(hi));
    let below = a.lt(x, lo);
    let x = a.select(below, lo, x);
    let above = a.gt(x, hi);
    a.select(above, hi, x)
}

/// Mantissa bits of the width.
fn mantissa_bits<A: Arith>(a: &A) -> u32 {
    if a.wide() {
        52
    } else {
        23
    }
}

fn exponent_bias<A: Arith>(a: &A) -> i64 {
    if a.wide() {
        1023
    } else {
        127
    }
}

/// `y · 2^n` for integer `n` in the range `exp` produces, as two normal
/// powers of two, so that subnormal results and overflow to infinity both
/// come out right.
fn scale_by_pow2<A: Arith>(a: &mut A, y: A::F, n: A::I) -> A::F {
    let half = a.ashr(n, 1);
    let rest = a.isub(n, half);
    let mut r = y;
    for e in [half, rest] {
        let bias = a.i(exponent_bias(a));
        let biased = a.iadd(e, bias);
        let bits = a.shl(biased, mantissa_bits(a));
        let p = a.bits_to_float(bits);
        r = a.mul(r, p);
    }
    r
}

/// 1.5·2²³: adding it to an f32 of magnitude below 2²² rounds it to an
/// integer, which the low bits of the sum then hold.
const ROUNDING_32: f64 = 12_582_912.0;

/// `(n, r)` with `x = n·ln2 + r`, |r| ≤ ln2/2, `n` as an integer.
fn reduce_ln2<A: Arith>(a: &mut A, x: A::F) -> (A::I, A::F) {
    let (hi, lo) = if a.wide() {
        (LN2_HI_64, LN2_LO_64)
    } else {
        (LN2_HI_32, LN2_LO_32)
    };
    let log2e = a.f(std::f64::consts::LOG2_E);
    let (n, ni) = if a.wide() {
        let t = a.mul(x, log2e);
        let n = a.rint(t);
        (n, a.to_int(n))
    } else {
        // For f32, n = round(x·log2 e) by the rounding constant: one fused
        // multiply-add and a subtraction, and n as an integer from the bits
        // of the sum, where a rint and a conversion cost more on a CPU
        // without wide rounding instructions. |x·log2 e| < 2²² after `exp`'s
        // clamp; NaN makes n garbage, but r, and so the result, stay NaN.
        let rounding = a.f(ROUNDING_32);
        let t = a.fma(x, log2e, rounding);
        let n = a.sub(t, rounding);
        let t_bits = a.float_to_bits(t);
        let r_bits = a.i(i64::from((ROUNDING_32 as f32).to_bits()));
        (n, a.isub(t_bits, r_bits))
    };
    let hi = a.f(-hi);
    let r = a.fma(n, hi, x);
    let lo = a.f(-lo);
    let r = a.fma(n, lo, r);
    (ni, r)
}

/// e^x.
pub fn exp<A: Arith>(a: &mut A, x: A::F) -> A::F {
    // Past these bounds e^x is 0 or infinite anyway; clamping keeps n in
    // the range `scale_by_pow2` handles.
    let x = if a.wide() {
        clamp(a, x, -746.0, 710.0)
    } else {
        clamp(a, x, -104.0, 89.0)
    };
    let (n, r) = reduce_ln2(a, x);
    let one = a.f(1.0);
    let y = if a.wide() {
        // Taylor to r¹³: the first term left out is below 2⁻⁵⁵ on |r| ≤ ln2/2.
        let coeffs: Vec<f64> = (2..=13).rev().map(|k| 1.0 / factorial(k)).collect();
        let p = horner(a, r, &coeffs);
        let r2 = a.mul(r, r);
        let y = a.fma(r2, p, r);
        a.add(y, one)
    } else {
        match a.exp_reduced(r) {
            Some(y) => y,
            None => {
                let p = horner(a, r, &EXP_P_32);
                let r2 = a.mul(r, r);
                let y = a.fma(r2, p, r);
                a.add(y, one)
            }
        }
    };
    scale_by_pow2(a, y, n)
}

fn factorial(k: u32) -> f64 {
    (1..=k).map(f64::from).product()
}

/// ln x.
pub fn log<A: Arith>(a: &mut A, x: A::F) -> A::F {
    let wide = a.wide();
    let mbits = mantissa_bits(a);
    // Subnormals are scaled into the normal range first.
    let min_normal = a.f(if wide {
        f64::MIN_POSITIVE
    } else {
        f32::MIN_POSITIVE as f64
    });
    let tiny = a.lt(x, min_normal);
    let scale = a.f(2f64.powi(mbits as i32));
    let scaled = a.mul(x, scale);
    let xs = a.select(tiny, scaled, x);
    let (adj, zero_i) = (a.i(mbits as i64), a.i(0));
    let e_adjust = a.iselect(tiny, adj, zero_i);
    let bits = a.float_to_bits(xs);
    let exp_bits = a.ashr(bits, mbits);
    let mask = a.i(if wide { 0x7ff } else { 0xff });
    let exp_bits = a.iand(exp_bits, mask);
    let bias = a.i(exponent_bias(a));
    let e = a.isub(exp_bits, bias);
    let e = a.isub(e, e_adjust);
    // The mantissa as m ∈ [1, 2), then moved to [√½, √2).
    let mant_mask = a.i((1i64 << mbits) - 1);
    let one_bits = a.i(exponent_bias(a) << mbits);
    let m = a.iand(bits, mant_mask);
    let m = a.ior(m, one_bits);
    let m = a.bits_to_float(m);
    let sqrt2 = a.f(std::f64::consts::SQRT_2);
    let big = a.gt(m, sqrt2);
    let half = a.f(0.5);
    let halved = a.mul(m, half);
    let m = a.select(big, halved, m);
    let one_i = a.i(1);
    let bump = a.iselect(big, one_i, zero_i);
    let e = a.iadd(e, bump);
    let fe = a.to_float(e);
    let one = a.f(1.0);
    let f = a.sub(m, one);
    let y = if wide {
        // ln(1 + f) = 2·atanh(s), s = f / (2 + f), |s| ≤ 0.1716: the series
        // 2s·(1 + s²/3 + s⁴/5 + …) to s²² is below 2⁻⁵⁶.
        let two = a.f(2.0);
        let d = a.add(two, f);
        let s = a.div(f, d);
        let s2 = a.mul(s, s);
        let coeffs: Vec<f64> = (1..=11).rev().map(|k| 1.0 / (2 * k + 1) as f64).collect();
        let p = horner(a, s2, &coeffs);
        let s3 = a.mul(s, s2);
        let t = a.mul(s3, p);
        let t = a.add(s, t);
        let lm = a.add(t, t);
        let (hi, lo) = (a.f(LN2_HI_64), a.f(LN2_LO_64));
        let y = a.fma(fe, lo, lm);
        a.fma(fe, hi, y)
    } else {
        let z = a.mul(f, f);
        let p = horner(a, f, &LOG_P_32);
        let fz = a.mul(f, z);
        let y = a.mul(fz, p);
        let lo = a.f(LN2_LO_32);
        let y = a.fma(fe, lo, y);
        let half_z = a.mul(z, half);
        let y = a.sub(y, half_z);
        let y = a.add(f, y);
        let hi = a.f(LN2_HI_32);
        a.fma(fe, hi, y)
    };
    // log 0 = -inf, log inf = inf, log of a negative number or NaN is NaN.
    let (zero, inf) = (a.f(0.0), a.f(f64::INFINITY));
    let (nan, minus_inf) = (a.f(f64::NAN), a.f(f64::NEG_INFINITY));
    let is_inf = a.eq(x, inf);
    let y = a.select(is_inf, inf, y);
    let is_zero = a.eq(x, zero);
    let y = a.select(is_zero, minus_inf, y);
    let invalid = a.unordered_or_lt(x, zero);
    a.select(invalid, nan, y)
}

/// tanh x.
pub fn tanh<A: Arith>(a: &mut A, x: A::F) -> A::F {
    if !a.wide() {
        let x = clamp(a, x, -TANH_CLAMP_32, TANH_CLAMP_32);
        let x2 = a.mul(x, x);
        let p = horner(a, x2, &TANH_P_32);
        let p = a.mul(x, p);
        let q = horner(a, x2, &TANH_Q_32);
        // x² < 63 and the coefficients are positive: 4.9e-3 ≤ q < 1.3.
        return a.div_bounded(p, q);
    }
    // Small |x|: the Taylor series (ratio of terms ≤ (0.6/π)² at 0.3).
    // Elsewhere 1 - 2/(e^2|x| + 1), where the cancellation costs at most a
    // bit and a half.
    let ax = a.abs(x);
    let x2 = a.mul(x, x);
    let coeffs: Vec<f64> = tanh_series(13).into_iter().rev().collect();
    let p = horner(a, x2, &coeffs);
    let small = a.mul(x, p);
    let two = a.f(2.0);
    let t = a.mul(ax, two);
    let e = exp(a, t);
    let one = a.f(1.0);
    let d = a.add(e, one);
    let q = a.div(two, d);
    let big = a.sub(one, q);
    let neg_big = a.neg(big);
    let zero = a.f(0.0);
    let negative = a.lt(x, zero);
    let big = a.select(negative, neg_big, big);
    let limit = a.f(0.3);
    let is_small = a.lt(ax, limit);
    let r = a.select(is_small, small, big);
    // NaN fails both comparisons; it must stay NaN.
    let nan = a.unordered_or_lt(x, x);
    a.select(nan, x, r)
}

/// The first `n` Taylor coefficients of tanh in x², from tanh' = 1 - tanh²:
/// with tanh x = Σ c_k x^(2k+1), (2k+1)·c_k = -Σ_{i+j=k-1} c_i·c_j.
fn tanh_series(n: usize) -> Vec<f64> {
    let mut c = vec![1.0f64];
    for k in 1..n {
        let s: f64 = (0..k).map(|i| c[i] * c[k - 1 - i]).sum();
        c.push(-s / (2 * k + 1) as f64);
    }
    c
}

/// 1 / (1 + e^-x), arranged so that `exp` never overflows: with e = e^-|x|,
/// 1/(1 + e) for x ≥ 0 and e/(1 + e) below.
pub fn sigmoid<A: Arith>(a: &mut A, x: A::F) -> A::F {
    let ax = a.abs(x);
    let minus = a.neg(ax);
    let e = exp(a, minus);
    let one = a.f(1.0);
    let d = a.add(one, e);
    // 1 ≤ d ≤ 2.
    let r = a.div_bounded(one, d);
    let er = a.mul(e, r);
    let zero = a.f(0.0);
    let pos = a.ge(x, zero);
    a.select(pos, r, er)
}

/// `(q, r)`: `x = q·π/2 + r` with |r| ≲ π/4 and `q` the quadrant (mod 4).
fn reduce_pio2<A: Arith>(a: &mut A, x: A::F) -> (A::I, A::F) {
    let two_over_pi = a.f(std::f64::consts::FRAC_2_PI);
    let t = a.mul(x, two_over_pi);
    let n = a.rint(t);
    let mut r = x;
    for p in PIO2 {
        let p = a.f(-p);
        r = a.fma(n, p, r);
    }
    // n mod 4 from the float: n - 4·floor(n/4), exact for integer n.
    let quarter = a.f(0.25);
    let n4 = a.mul(n, quarter);
    let n4 = a.floor(n4);
    let four = a.f(-4.0);
    let q = a.fma(n4, four, n);
    (a.to_int(q), r)
}

/// `(s, e)` with `s + e = a + b` exactly (Knuth's TwoSum).
fn two_sum<A: Arith>(a: &mut A, x: A::F, y: A::F) -> (A::F, A::F) {
    let s = a.add(x, y);
    let yy = a.sub(s, x);
    let xx = a.sub(s, yy);
    let dx = a.sub(x, xx);
    let dy = a.sub(y, yy);
    let e = a.add(dx, dy);
    (s, e)
}

/// `v` less a multiple of 4 when |v| ≥ 4 (exactly), else `v`.
fn mod4<A: Arith>(a: &mut A, v: A::F) -> A::F {
    let quarter = a.f(0.25);
    let t = a.mul(v, quarter);
    let t = a.floor(t);
    let m4 = a.f(-4.0);
    let r = a.fma(t, m4, v);
    let av = a.abs(v);
    let four = a.f(4.0);
    let big = a.ge(av, four);
    a.select(big, r, v)
}

/// Payne–Hanek reduction of `ax ≥ 0` (f64): with `ax = M·2^E`, only the
/// pieces of 2/π whose products with `M` are not multiples of 4 matter;
/// each product is split exactly into two doubles (an FMA), reduced mod 4
/// and summed with TwoSum, so the fraction keeps ~100 bits.
fn reduce_pio2_large<A: Tables>(a: &mut A, ax: A::F) -> (A::I, A::F) {
    let bits = a.float_to_bits(ax);
    let e = a.ashr(bits, 52);
    let mask = a.i(0x7ff);
    let e = a.iand(e, mask);
    let bias = a.i(1075);
    let e = a.isub(e, bias);
    let (mant, implicit) = (a.i((1i64 << 52) - 1), a.i(1i64 << 52));
    let m = a.iand(bits, mant);
    let m = a.ior(m, implicit);
    let m = a.to_float(m);
    // The first piece whose products are not all multiples of 4.
    let two = a.i(2);
    let t = a.isub(e, two);
    let zero = a.i(0);
    let negative = a.ilt(t, zero);
    let t = a.iselect(negative, zero, t);
    let k0 = a.idiv(t, 53);
    let k53 = a.imul(k0, 53);
    let shift = a.isub(e, k53);
    let mut parts = Vec::with_capacity(8);
    for j in 0..4i64 {
        let jj = a.i(j);
        let k = a.iadd(k0, jj);
        let c = a.table("tfg_two_over_pi", &TWO_OVER_PI, k);
        let hi = a.mul(m, c);
        let nhi = a.neg(hi);
        let lo = a.fma(m, c, nhi);
        // 2^(E - 53(k0 + j + 1)): a normal power of two for every E here.
        let off = a.i(1023 - 53 * (j + 1));
        let ex = a.iadd(shift, off);
        let ex = a.shl(ex, 52);
        let scale = a.bits_to_float(ex);
        parts.push(a.mul(hi, scale));
        parts.push(a.mul(lo, scale));
    }
    let (mut sum, mut err) = (a.f(0.0), a.f(0.0));
    for i in [0, 2, 1, 4, 3, 6, 5, 7] {
        let p = mod4(a, parts[i]);
        let (s, e) = two_sum(a, sum, p);
        err = a.add(err, e);
        sum = mod4(a, s);
    }
    let n = a.rint(sum);
    let f = a.sub(sum, n);
    let f = a.add(f, err);
    let quarter = a.f(0.25);
    let n4 = a.mul(n, quarter);
    let n4 = a.floor(n4);
    let m4 = a.f(-4.0);
    let q = a.fma(n4, m4, n);
    let pio2 = a.f(std::f64::consts::FRAC_PI_2);
    (a.to_int(q), a.mul(f, pio2))
}

fn sin_kernel<A: Arith>(a: &mut A, r: A::F) -> A::F {
    let r2 = a.mul(r, r);
    let p = horner(a, r2, &SIN_S);
    let r3 = a.mul(r, r2);
    a.fma(r3, p, r)
}

fn cos_kernel<A: Arith>(a: &mut A, r: A::F) -> A::F {
    let r2 = a.mul(r, r);
    let p = horner(a, r2, &COS_C);
    let r4 = a.mul(r2, r2);
    let t = a.mul(r4, p);
    let half = a.f(-0.5);
    let t = a.fma(r2, half, t);
    let one = a.f(1.0);
    a.add(one, t)
}

/// sin x (`cosine == false`) or cos x, for f64 operands.
pub fn sin_cos<A: Tables>(a: &mut A, x: A::F, cosine: bool) -> A::F {
    let (qs, rs) = reduce_pio2(a, x);
    let ax = a.abs(x);
    let (ql, rl) = reduce_pio2_large(a, ax);
    // The large reduction is of |x|: x < 0 negates r and the quadrant.
    let zero = a.f(0.0);
    let negative = a.lt(x, zero);
    let nrl = a.neg(rl);
    let rl = a.select(negative, nrl, rl);
    let zero_i = a.i(0);
    let nql = a.isub(zero_i, ql);
    let ql = a.iselect(negative, nql, ql);
    let limit = a.f(CODY_WAITE_LIMIT);
    let small = a.lt(ax, limit);
    let q = a.iselect(small, qs, ql);
    let r = a.select(small, rs, rl);
    let s = sin_kernel(a, r);
    let c = cos_kernel(a, r);
    // cos x = sin(x + π/2): the quadrant moves on by one.
    let q = if cosine {
        let one = a.i(1);
        a.iadd(q, one)
    } else {
        q
    };
    let three = a.i(3);
    let q = a.iand(q, three);
    let one = a.i(1);
    let odd = a.iand(q, one);
    let two = a.i(2);
    let upper = a.iand(q, two);
    let zero = a.i(0);
    let use_cos = a.ilt(zero, odd);
    let v = a.select(use_cos, c, s);
    let nv = a.neg(v);
    let negate = a.ilt(zero, upper);
    let v = a.select(negate, nv, v);
    // sin and cos of ±inf and NaN are NaN.
    let inf = a.f(f64::INFINITY);
    let finite = a.lt(ax, inf);
    let nan = a.f(f64::NAN);
    a.select(finite, v, nan)
}

/// x^y with C99's special cases: `pow(x, ±0) = 1` and `pow(1, y) = 1` even
/// for NaN, `pow(-1, ±inf) = 1`, a negative finite base with a non-integer
/// exponent is NaN, and an odd integer exponent keeps the base's sign.
pub fn pow<A: Arith>(a: &mut A, x: A::F, y: A::F) -> A::F {
    let ax = a.abs(x);
    let l = log(a, ax);
    let yl = a.mul(y, l);
    let r = exp(a, yl);
    let fy = a.floor(y);
    let integral = a.eq(fy, y);
    let half = a.f(0.5);
    let hy = a.mul(y, half);
    let fh = a.floor(hy);
    let m2 = a.f(-2.0);
    let rem = a.fma(fh, m2, y);
    let one = a.f(1.0);
    let odd = a.eq(rem, one);
    let bits = a.float_to_bits(x);
    let zero_i = a.i(0);
    let sign = a.ilt(bits, zero_i);
    let flip = a.and(sign, odd);
    let nr = a.neg(r);
    let r = a.select(flip, nr, r);
    let zero = a.f(0.0);
    let negative = a.lt(x, zero);
    let inf = a.f(f64::INFINITY);
    let finite = a.lt(ax, inf);
    let not_integral = a.not(integral);
    let bad = a.and(negative, finite);
    let bad = a.and(bad, not_integral);
    let nan = a.f(f64::NAN);
    let r = a.select(bad, nan, r);
    let ay = a.abs(y);
    let y_inf = a.eq(ay, inf);
    let unit = a.eq(ax, one);
    let unit_inf = a.and(unit, y_inf);
    let x_one = a.eq(x, one);
    let y_zero = a.eq(y, zero);
    let is_one = a.or(unit_inf, x_one);
    let is_one = a.or(is_one, y_zero);
    a.select(is_one, one, r)
}

#[cfg(test)]
pub(crate) mod host {
    //! The formulas evaluated on the host, in the width they are emitted in.

    use super::{Arith, Tables};

    /// Host arithmetic in f32 (`Host::<f32>`) or f64.
    pub(crate) struct Host<T>(std::marker::PhantomData<T>);

    impl<T> Host<T> {
        pub(crate) fn new() -> Self {
            Host(std::marker::PhantomData)
        }
    }

    macro_rules! host_arith {
        ($f:ty, $i:ty, $wide:expr) => {
            impl Arith for Host<$f> {
                type F = $f;
                type I = $i;
                type B = bool;
                fn wide(&self) -> bool {
                    $wide
                }
                fn f(&mut self, x: f64) -> $f {
                    x as $f
                }
                fn i(&mut self, x: i64) -> $i {
                    x as $i
                }
                fn add(&mut self, a: $f, b: $f) -> $f {
                    a + b
                }
                fn sub(&mut self, a: $f, b: $f) -> $f {
                    a - b
                }
                fn mul(&mut self, a: $f, b: $f) -> $f {
                    a * b
                }
                fn div(&mut self, a: $f, b: $f) -> $f {
                    a / b
                }
                fn fma(&mut self, a: $f, b: $f, c: $f) -> $f {
                    a.mul_add(b, c)
                }
                fn neg(&mut self, a: $f) -> $f {
                    -a
                }
                fn abs(&mut self, a: $f) -> $f {
                    a.abs()
                }
                fn floor(&mut self, a: $f) -> $f {
                    a.floor()
                }
                fn rint(&mut self, a: $f) -> $f {
                    a.round_ties_even()
                }
                fn lt(&mut self, a: $f, b: $f) -> bool {
                    a < b
                }
                fn gt(&mut self, a: $f, b: $f) -> bool {
                    a > b
                }
                fn ge(&mut self, a: $f, b: $f) -> bool {
                    a >= b
                }
                fn eq(&mut self, a: $f, b: $f) -> bool {
                    a == b
                }
                fn unordered_or_lt(&mut self, a: $f, b: $f) -> bool {
                    a.is_nan() || b.is_nan() || a < b
                }
                fn and(&mut self, a: bool, b: bool) -> bool {
                    a && b
                }
                fn or(&mut self, a: bool, b: bool) -> bool {
                    a || b
                }
                fn not(&mut self, a: bool) -> bool {
                    !a
                }
                fn select(&mut self, c: bool, a: $f, b: $f) -> $f {
                    if c {
                        a
                    } else {
                        b
                    }
                }
                fn float_to_bits(&mut self, a: $f) -> $i {
                    a.to_bits() as $i
                }
                fn bits_to_float(&mut self, a: $i) -> $f {
                    <$f>::from_bits(a as _)
                }
                fn iadd(&mut self, a: $i, b: $i) -> $i {
                    a.wrapping_add(b)
                }
                fn isub(&mut self, a: $i, b: $i) -> $i {
                    a.wrapping_sub(b)
                }
                fn iand(&mut self, a: $i, b: $i) -> $i {
                    a & b
                }
                fn ior(&mut self, a: $i, b: $i) -> $i {
                    a | b
                }
                fn shl(&mut self, a: $i, bits: u32) -> $i {
                    a.wrapping_shl(bits)
                }
                fn ashr(&mut self, a: $i, bits: u32) -> $i {
                    a >> bits
                }
                fn ilt(&mut self, a: $i, b: $i) -> bool {
                    a < b
                }
                fn iselect(&mut self, c: bool, a: $i, b: $i) -> $i {
                    if c {
                        a
                    } else {
                        b
                    }
                }
                fn to_int(&mut self, a: $f) -> $i {
                    a as $i
                }
                fn to_float(&mut self, a: $i) -> $f {
                    a as $f
                }
            }

            impl Tables for Host<$f> {
                fn imul(&mut self, a: $i, c: i64) -> $i {
                    a.wrapping_mul(c as $i)
                }
                fn idiv(&mut self, a: $i, d: i64) -> $i {
                    a / d as $i
                }
                fn table(&mut self, _: &'static str, values: &'static [f64], i: $i) -> $f {
                    values[i as usize] as $f
                }
            }
        };
    }

    host_arith!(f32, i32, false);
    host_arith!(f64, i64, true);
}

#[cfg(test)]
mod tests {
    //! Accuracy of every formula against the host's libm (f64), over sweeps
    //! that cover each range reduction and special case. The language allows
    //! elementwise work a relative error of 1e-5; f32 results here are within a few ulp
    //! (≈ 1e-6), f64 results within ~1e-14.

    use super::host::Host;
    use super::*;

    /// Relative error of `got` against `want`, with an absolute floor for
    /// results near zero; NaN must match NaN and infinities exactly.
    fn error(want: f64, got: f64, floor: f64) -> f64 {
        if want.is_nan() || got.is_nan() {
            return if want.is_nan() && got.is_nan() {
                0.0
            } else {
                f64::INFINITY
            };
        }
        if want.is_infinite() || got.is_infinite() {
            return if want == got { 0.0 } else { f64::INFINITY };
        }
        (want - got).abs() / want.abs().max(floor)
    }

    /// Points from `lo` to `hi`: a uniform grid plus every special value.
    fn sweep(lo: f64, hi: f64, n: usize) -> Vec<f64> {
        let mut v: Vec<f64> = (0..=n)
            .map(|i| lo + (hi - lo) * i as f64 / n as f64)
            .collect();
        v.extend([
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e-3,
            -1e-3,
            1e-7,
            -1e-7,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ]);
        v
    }

    fn check32(
        name: &str,
        xs: &[f64],
        f: impl Fn(&mut Host<f32>, f32) -> f32,
        want: impl Fn(f64) -> f64,
        tol: f64,
        floor: f64,
    ) {
        let mut a = Host::<f32>::new();
        let mut worst = (0.0, 0.0);
        for &x in xs {
            let x32 = x as f32;
            // What an f32 library gives at best: the exact value rounded to f32.
            let e = error(want(x32 as f64) as f32 as f64, f(&mut a, x32) as f64, floor);
            if e > worst.0 {
                worst = (e, x32 as f64);
            }
        }
        assert!(
            worst.0 <= tol,
            "{name} f32: relative error {:e} at x = {:e}",
            worst.0,
            worst.1
        );
    }

    fn check64(
        name: &str,
        xs: &[f64],
        f: impl Fn(&mut Host<f64>, f64) -> f64,
        want: impl Fn(f64) -> f64,
        tol: f64,
        floor: f64,
    ) {
        let mut a = Host::<f64>::new();
        let mut worst = (0.0, 0.0);
        for &x in xs {
            let e = error(want(x), f(&mut a, x), floor);
            if e > worst.0 {
                worst = (e, x);
            }
        }
        assert!(
            worst.0 <= tol,
            "{name} f64: relative error {:e} at x = {:e}",
            worst.0,
            worst.1
        );
    }

    #[test]
    fn exp_is_accurate_over_its_range() {
        let xs = sweep(-110.0, 95.0, 200_000);
        check32("exp", &xs, exp, f64::exp, 1e-6, f32::MIN_POSITIVE as f64);
        let xs = sweep(-750.0, 712.0, 200_000);
        check64("exp", &xs, exp, f64::exp, 1e-14, f64::MIN_POSITIVE);
    }

    #[test]
    fn log_is_accurate_down_to_subnormals() {
        let mut xs: Vec<f64> = (-149..128)
            .flat_map(|e| [1.0, 1.3, 1.7, 1.999].map(|m| m * 2f64.powi(e)))
            .collect();
        xs.extend(sweep(-1.0, 10.0, 100_000));
        check32("log", &xs, log, f64::ln, 1e-6, 1e-30);
        let mut xs: Vec<f64> = (-1074..1024)
            .flat_map(|e| [1.0, 1.3, 1.7, 1.999].map(|m| m * 2f64.powi(e)))
            .collect();
        xs.extend(sweep(-1.0, 10.0, 100_000));
        check64("log", &xs, log, f64::ln, 1e-14, 1e-300);
    }

    #[test]
    fn tanh_and_sigmoid_are_accurate_including_tails() {
        let xs = sweep(-30.0, 30.0, 200_000);
        check32("tanh", &xs, tanh, f64::tanh, 2e-6, 1e-30);
        check64("tanh", &xs, tanh, f64::tanh, 1e-14, 1e-300);
        let sig = |x: f64| {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                x.exp() / (1.0 + x.exp())
            }
        };
        let xs = sweep(-120.0, 120.0, 200_000);
        check32("sigmoid", &xs, sigmoid, sig, 1e-6, f32::MIN_POSITIVE as f64);
        let xs = sweep(-750.0, 750.0, 200_000);
        check64("sigmoid", &xs, sigmoid, sig, 1e-14, f64::MIN_POSITIVE);
    }

    #[test]
    fn sin_and_cos_are_accurate_for_moderate_arguments() {
        let xs = sweep(-1e5, 1e5, 400_000);
        let floor = 1e-9;
        check64(
            "sin",
            &xs,
            |a, x| sin_cos(a, x, false),
            f64::sin,
            1e-12,
            floor,
        );
        check64(
            "cos",
            &xs,
            |a, x| sin_cos(a, x, true),
            f64::cos,
            1e-12,
            floor,
        );
        // The f32 functions go through f64, then round.
        let via = |cos: bool| {
            move |_: &mut Host<f32>, x: f32| sin_cos(&mut Host::<f64>::new(), x as f64, cos) as f32
        };
        check32("sin", &xs, via(false), f64::sin, 1e-6, 1e-7);
        check32("cos", &xs, via(true), f64::cos, 1e-6, 1e-7);
    }

    #[test]
    fn sin_and_cos_reduce_huge_arguments_exactly() {
        // Every binade up to the largest double, both signs, a few mantissas.
        let xs: Vec<f64> = (19..1024)
            .flat_map(|e| [1.0, 1.1234567, 1.5, 1.9999999].map(|m| m * 2f64.powi(e)))
            .flat_map(|x| [x, -x])
            .chain([f64::MAX, -f64::MAX, 1e22, 1e300])
            .collect();
        check64(
            "sin",
            &xs,
            |a, x| sin_cos(a, x, false),
            f64::sin,
            1e-13,
            1e-9,
        );
        check64(
            "cos",
            &xs,
            |a, x| sin_cos(a, x, true),
            f64::cos,
            1e-13,
            1e-9,
        );
        let xs: Vec<f64> = xs
            .into_iter()
            .filter(|x| x.abs() < f32::MAX as f64)
            .collect();
        let via = |cos: bool| {
            move |_: &mut Host<f32>, x: f32| sin_cos(&mut Host::<f64>::new(), x as f64, cos) as f32
        };
        check32("sin", &xs, via(false), f64::sin, 1e-6, 1e-7);
        check32("cos", &xs, via(true), f64::cos, 1e-6, 1e-7);
    }

    #[test]
    fn pow_follows_c99_special_cases() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.0,
            -2.0,
            0.5,
            -0.5,
            3.0,
            -3.0,
            2.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e-3,
            1e3,
        ];
        let mut a = Host::<f64>::new();
        for &x in &specials {
            for &y in &specials {
                let (want, got) = (x.powf(y), pow(&mut a, x, y));
                assert!(
                    error(want, got, 1e-300) < 1e-12,
                    "pow({x}, {y}): want {want}, got {got}"
                );
                if !want.is_nan() {
                    assert_eq!(
                        want.is_sign_negative(),
                        got.is_sign_negative(),
                        "sign of pow({x}, {y})"
                    );
                }
            }
        }
        let xs = sweep(0.01, 50.0, 2_000);
        for y in [-7.5, -2.0, -0.3, 0.7, 1.5, 3.0, 11.25] {
            check64(
                "pow",
                &xs,
                |a, x| pow(a, x, y),
                |x| x.powf(y),
                1e-12,
                1e-300,
            );
        }
    }
}
