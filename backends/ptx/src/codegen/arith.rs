//! [`Arith`] on LLVM values: the shared math formulas emitted as IR.

use super::func::Fx;
use super::{Error, Target, R};
use inkwell::builder::BuilderError;
use inkwell::types::{FloatType, IntType};
use inkwell::values::{FloatValue, IntValue};
use inkwell::{FloatPredicate, IntPredicate};
use tfg_math::{Arith, Tables};

/// Emits into `fx` at one float width. Builder errors (which only an
/// unpositioned builder gives) are kept and reported by [`Self::finish`].
pub(crate) struct Llvm<'a, 'g, 'p, 'ctx> {
    fx: &'a Fx<'g, 'p, 'ctx>,
    wide: bool,
    error: Option<Error>,
}

impl<'a, 'g, 'p, 'ctx> Llvm<'a, 'g, 'p, 'ctx> {
    pub fn new(fx: &'a Fx<'g, 'p, 'ctx>, wide: bool) -> Self {
        Llvm {
            fx,
            wide,
            error: None,
        }
    }

    /// `value`, unless building it failed.
    pub fn finish<T>(self, value: T) -> R<T> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }

    fn ft(&self) -> FloatType<'ctx> {
        if self.wide {
            self.fx.g.cx.f64_type()
        } else {
            self.fx.g.cx.f32_type()
        }
    }

    fn it(&self) -> IntType<'ctx> {
        if self.wide {
            self.fx.g.cx.i64_type()
        } else {
            self.fx.g.cx.i32_type()
        }
    }

    fn float(&mut self, r: Result<FloatValue<'ctx>, BuilderError>) -> FloatValue<'ctx> {
        r.unwrap_or_else(|e| {
            self.error.get_or_insert(e.into());
            self.ft().get_undef()
        })
    }

    fn int(&mut self, r: Result<IntValue<'ctx>, BuilderError>) -> IntValue<'ctx> {
        r.unwrap_or_else(|e| {
            self.error.get_or_insert(e.into());
            self.it().get_undef()
        })
    }

    fn boolean(&mut self, r: Result<IntValue<'ctx>, BuilderError>) -> IntValue<'ctx> {
        r.unwrap_or_else(|e| {
            self.error.get_or_insert(e.into());
            self.fx.g.cx.bool_type().get_undef()
        })
    }

    /// `llvm.NAME.f32` / `.f64` applied to `args`.
    /// `llvm.NAME.f32` (or `.f64`) on `args`.
    fn intrinsic(&mut self, name: &str, args: &[FloatValue<'ctx>]) -> FloatValue<'ctx> {
        let suffix = if self.wide { "f64" } else { "f32" };
        self.call_named(&format!("llvm.{name}.{suffix}"), args)
    }

    /// The intrinsic `name` of floats of this width, on `args`.
    fn call_named(&mut self, name: &str, args: &[FloatValue<'ctx>]) -> FloatValue<'ctx> {
        let t = self.ft();
        let f = self
            .fx
            .g
            .intrinsic(name, Some(t.into()), &vec![t.into(); args.len()]);
        let args: Vec<_> = args.iter().map(|&a| a.into()).collect();
        match self.fx.call(f, &args) {
            Ok(v) => v.into_float_value(),
            Err(e) => {
                self.error.get_or_insert(e);
                t.get_undef()
            }
        }
    }

    fn fcmp(
        &mut self,
        p: FloatPredicate,
        a: FloatValue<'ctx>,
        b: FloatValue<'ctx>,
    ) -> IntValue<'ctx> {
        let r = self.fx.g.b.build_float_compare(p, a, b, "");
        self.boolean(r)
    }
}

impl<'ctx> Arith for Llvm<'_, '_, '_, 'ctx> {
    type F = FloatValue<'ctx>;
    type I = IntValue<'ctx>;
    type B = IntValue<'ctx>;

    fn wide(&self) -> bool {
        self.wide
    }
    fn f(&mut self, x: f64) -> Self::F {
        self.ft().const_float(x)
    }
    fn i(&mut self, x: i64) -> Self::I {
        self.it().const_int(x as u64, true)
    }
    fn add(&mut self, a: Self::F, b: Self::F) -> Self::F {
        let r = self.fx.g.b.build_float_add(a, b, "");
        self.float(r)
    }
    fn sub(&mut self, a: Self::F, b: Self::F) -> Self::F {
        let r = self.fx.g.b.build_float_sub(a, b, "");
        self.float(r)
    }
    fn mul(&mut self, a: Self::F, b: Self::F) -> Self::F {
        let r = self.fx.g.b.build_float_mul(a, b, "");
        self.float(r)
    }
    fn div(&mut self, a: Self::F, b: Self::F) -> Self::F {
        let r = self.fx.g.b.build_float_div(a, b, "");
        self.float(r)
    }
    fn div_bounded(&mut self, a: Self::F, b: Self::F) -> Self::F {
        if self.wide || self.fx.g.target != Target::Nvptx {
            return self.div(a, b);
        }
        // div.approx.f32: two instructions instead of div.rn's refinement
        // and slow path, within 2 ulp for the divisors this is given.
        self.call_named("llvm.nvvm.div.approx.f", &[a, b])
    }
    fn exp_reduced(&mut self, r: Self::F) -> Option<Self::F> {
        if self.wide || self.fx.g.target != Target::Nvptx {
            return None;
        }
        // ex2.approx.ftz.f32 of r·log2 e: one MUFU instruction instead of a
        // degree-5 polynomial. |r·log2 e| ≤ ½ keeps the result normal, so
        // flushing subnormals changes nothing.
        let log2e = self.f(std::f64::consts::LOG2_E);
        let t = self.mul(r, log2e);
        Some(self.call_named("llvm.nvvm.ex2.approx.ftz.f", &[t]))
    }
    fn fma(&mut self, a: Self::F, b: Self::F, c: Self::F) -> Self::F {
        self.intrinsic("fma", &[a, b, c])
    }
    fn neg(&mut self, a: Self::F) -> Self::F {
        let r = self.fx.g.b.build_float_neg(a, "");
        self.float(r)
    }
    fn abs(&mut self, a: Self::F) -> Self::F {
        self.intrinsic("fabs", &[a])
    }
    fn floor(&mut self, a: Self::F) -> Self::F {
        self.intrinsic("floor", &[a])
    }
    fn rint(&mut self, a: Self::F) -> Self::F {
        self.intrinsic("rint", &[a])
    }
    fn lt(&mut self, a: Self::F, b: Self::F) -> Self::B {
        self.fcmp(FloatPredicate::OLT, a, b)
    }
    fn gt(&mut self, a: Self::F, b: Self::F) -> Self::B {
        self.fcmp(FloatPredicate::OGT, a, b)
    }
    fn ge(&mut self, a: Self::F, b: Self::F) -> Self::B {
        self.fcmp(FloatPredicate::OGE, a, b)
    }
    fn eq(&mut self, a: Self::F, b: Self::F) -> Self::B {
        self.fcmp(FloatPredicate::OEQ, a, b)
    }
    fn unordered_or_lt(&mut self, a: Self::F, b: Self::F) -> Self::B {
        self.fcmp(FloatPredicate::ULT, a, b)
    }
    fn and(&mut self, a: Self::B, b: Self::B) -> Self::B {
        let r = self.fx.g.b.build_and(a, b, "");
        self.boolean(r)
    }
    fn or(&mut self, a: Self::B, b: Self::B) -> Self::B {
        let r = self.fx.g.b.build_or(a, b, "");
        self.boolean(r)
    }
    fn not(&mut self, a: Self::B) -> Self::B {
        let r = self.fx.g.b.build_not(a, "");
        self.boolean(r)
    }
    fn select(&mut self, c: Self::B, a: Self::F, b: Self::F) -> Self::F {
        let r = self
            .fx
            .g
            .b
            .build_select(c, a, b, "")
            .map(|v| v.into_float_value());
        self.float(r)
    }
    fn float_to_bits(&mut self, a: Self::F) -> Self::I {
        let t = self.it();
        let r = self
            .fx
            .g
            .b
            .build_bit_cast(a, t, "")
            .map(|v| v.into_int_value());
        self.int(r)
    }
    fn bits_to_float(&mut self, a: Self::I) -> Self::F {
        let t = self.ft();
        let r = self
            .fx
            .g
            .b
            .build_bit_cast(a, t, "")
            .map(|v| v.into_float_value());
        self.float(r)
    }
    fn iadd(&mut self, a: Self::I, b: Self::I) -> Self::I {
        let r = self.fx.g.b.build_int_add(a, b, "");
        self.int(r)
    }
    fn isub(&mut self, a: Self::I, b: Self::I) -> Self::I {
        let r = self.fx.g.b.build_int_sub(a, b, "");
        self.int(r)
    }
    fn iand(&mut self, a: Self::I, b: Self::I) -> Self::I {
        let r = self.fx.g.b.build_and(a, b, "");
        self.int(r)
    }
    fn ior(&mut self, a: Self::I, b: Self::I) -> Self::I {
        let r = self.fx.g.b.build_or(a, b, "");
        self.int(r)
    }
    fn shl(&mut self, a: Self::I, bits: u32) -> Self::I {
        let n = self.it().const_int(u64::from(bits), false);
        let r = self.fx.g.b.build_left_shift(a, n, "");
        self.int(r)
    }
    fn ashr(&mut self, a: Self::I, bits: u32) -> Self::I {
        let n = self.it().const_int(u64::from(bits), false);
        let r = self.fx.g.b.build_right_shift(a, n, true, "");
        self.int(r)
    }
    fn ilt(&mut self, a: Self::I, b: Self::I) -> Self::B {
        let r = self.fx.g.b.build_int_compare(IntPredicate::SLT, a, b, "");
        self.boolean(r)
    }
    fn iselect(&mut self, c: Self::B, a: Self::I, b: Self::I) -> Self::I {
        let r = self
            .fx
            .g
            .b
            .build_select(c, a, b, "")
            .map(|v| v.into_int_value());
        self.int(r)
    }
    fn to_int(&mut self, a: Self::F) -> Self::I {
        // Saturating, so that NaN and ±inf give a defined integer.
        let it = self.it();
        match self.fx.float_to_int_sat(a, it) {
            Ok(v) => v,
            Err(e) => {
                self.error.get_or_insert(e);
                it.get_undef()
            }
        }
    }
    fn to_float(&mut self, a: Self::I) -> Self::F {
        let t = self.ft();
        let r = self.fx.g.b.build_signed_int_to_float(a, t, "");
        self.float(r)
    }
}

impl<'ctx> Tables for Llvm<'_, '_, '_, 'ctx> {
    fn imul(&mut self, a: Self::I, c: i64) -> Self::I {
        let c = self.it().const_int(c as u64, true);
        let r = self.fx.g.b.build_int_mul(a, c, "");
        self.int(r)
    }
    fn idiv(&mut self, a: Self::I, d: i64) -> Self::I {
        let d = self.it().const_int(d as u64, true);
        let r = self.fx.g.b.build_int_unsigned_div(a, d, "");
        self.int(r)
    }
    fn table(&mut self, name: &'static str, values: &'static [f64], i: Self::I) -> Self::F {
        let base = self.fx.g.table(name, values);
        let f64t = self.fx.g.cx.f64_type();
        let b = &self.fx.g.b;
        let v = unsafe { b.build_in_bounds_gep(f64t, base, &[i], "") }
            .and_then(|p| b.build_load(f64t, p, ""))
            .map(|v| v.into_float_value());
        let v = self.float(v);
        if self.wide {
            return v;
        }
        let t = self.ft();
        let r = self.fx.g.b.build_float_trunc(v, t, "");
        self.float(r)
    }
}
