//! Inline f32 `exp`, `log`, `tanh` and `sigmoid`: the formulas of
//! `tfg_math`, which the GPU backend emits too, as Cranelift instructions on
//! a scalar or on every lane of an `f32x4`. Each of their operations is one
//! IEEE operation here as there, so the two backends give the same bits (on a
//! CPU with fused multiply-add; without it, `fma` is a multiply and an add).
//! The measured accuracy is in `docs/backend-cpu.md`; the test
//! `math_accuracy` sweeps it.

use crate::translate::Translator;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F32X4, I32, I32X4};
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Type, Value};
use cranelift_module::Module;
use tfg_ir::kernel::Scalar;
use tfg_ir::DType;
use tfg_math::Arith;

/// [`Arith`] in f32 on `lanes` lanes (1: a scalar): booleans are what
/// `fcmp` gives, a 0/1 byte for a scalar and a lane mask for a vector.
struct Lanes<'t, 'a, M: Module> {
    t: &'t mut Translator<'a, M>,
    lanes: u8,
}

impl<M: Module> Lanes<'_, '_, M> {
    fn types(&self) -> (Type, Type) {
        if self.lanes == 1 {
            (F32, I32)
        } else {
            (F32X4, I32X4)
        }
    }

    fn bitcast(&mut self, to: Type, x: Value) -> Value {
        let flags = MemFlagsData::new().with_endianness(Endianness::Little);
        self.t.b.ins().bitcast(to, flags, x)
    }

    fn fcmp(&mut self, cc: FloatCC, a: Value, b: Value) -> Value {
        self.t.b.ins().fcmp(cc, a, b)
    }
}

impl<M: Module> Arith for Lanes<'_, '_, M> {
    type F = Value;
    type I = Value;
    type B = Value;

    fn wide(&self) -> bool {
        false
    }
    fn f(&mut self, x: f64) -> Value {
        self.t.konst(Scalar::F32(x as f32), self.lanes)
    }
    fn i(&mut self, x: i64) -> Value {
        self.t.konst(Scalar::I32(x as i32), self.lanes)
    }
    fn add(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fadd(a, b)
    }
    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fsub(a, b)
    }
    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fmul(a, b)
    }
    fn div(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fdiv(a, b)
    }
    fn fma(&mut self, a: Value, b: Value, c: Value) -> Value {
        if self.t.fma {
            self.t.b.ins().fma(a, b, c)
        } else {
            let m = self.t.b.ins().fmul(a, b);
            self.t.b.ins().fadd(m, c)
        }
    }
    fn neg(&mut self, a: Value) -> Value {
        self.t.b.ins().fneg(a)
    }
    fn abs(&mut self, a: Value) -> Value {
        self.t.b.ins().fabs(a)
    }
    fn floor(&mut self, a: Value) -> Value {
        self.t.b.ins().floor(a)
    }
    fn rint(&mut self, a: Value) -> Value {
        self.t.b.ins().nearest(a)
    }
    fn lt(&mut self, a: Value, b: Value) -> Value {
        self.fcmp(FloatCC::LessThan, a, b)
    }
    fn gt(&mut self, a: Value, b: Value) -> Value {
        self.fcmp(FloatCC::GreaterThan, a, b)
    }
    fn ge(&mut self, a: Value, b: Value) -> Value {
        self.fcmp(FloatCC::GreaterThanOrEqual, a, b)
    }
    fn eq(&mut self, a: Value, b: Value) -> Value {
        self.fcmp(FloatCC::Equal, a, b)
    }
    fn unordered_or_lt(&mut self, a: Value, b: Value) -> Value {
        self.fcmp(FloatCC::UnorderedOrLessThan, a, b)
    }
    fn and(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().band(a, b)
    }
    fn or(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().bor(a, b)
    }
    fn not(&mut self, a: Value) -> Value {
        if self.lanes == 1 {
            self.t.b.ins().bxor_imm_u(a, 1)
        } else {
            self.t.b.ins().bnot(a)
        }
    }
    fn select(&mut self, c: Value, a: Value, b: Value) -> Value {
        self.t.select(DType::F32, self.lanes, c, a, b)
    }
    fn float_to_bits(&mut self, a: Value) -> Value {
        let i = self.types().1;
        self.bitcast(i, a)
    }
    fn bits_to_float(&mut self, a: Value) -> Value {
        let f = self.types().0;
        self.bitcast(f, a)
    }
    fn iadd(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().iadd(a, b)
    }
    fn isub(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().isub(a, b)
    }
    fn iand(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().band(a, b)
    }
    fn ior(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().bor(a, b)
    }
    fn shl(&mut self, a: Value, bits: u32) -> Value {
        self.t.b.ins().ishl_imm_u(a, i64::from(bits))
    }
    fn ashr(&mut self, a: Value, bits: u32) -> Value {
        self.t.b.ins().sshr_imm_u(a, i64::from(bits))
    }
    fn ilt(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().icmp(IntCC::SignedLessThan, a, b)
    }
    fn iselect(&mut self, c: Value, a: Value, b: Value) -> Value {
        self.t.select(DType::I32, self.lanes, c, a, b)
    }
    fn to_int(&mut self, a: Value) -> Value {
        let i = self.types().1;
        self.t.b.ins().fcvt_to_sint_sat(i, a)
    }
    fn to_float(&mut self, a: Value) -> Value {
        let f = self.types().0;
        self.t.b.ins().fcvt_from_sint(f, a)
    }
}

impl<M: Module> Translator<'_, M> {
    pub fn exp_f32(&mut self, lanes: u8, x: Value) -> Value {
        tfg_math::exp(&mut Lanes { t: self, lanes }, x)
    }

    pub fn log_f32(&mut self, lanes: u8, x: Value) -> Value {
        tfg_math::log(&mut Lanes { t: self, lanes }, x)
    }

    pub fn tanh_f32(&mut self, lanes: u8, x: Value) -> Value {
        tfg_math::tanh(&mut Lanes { t: self, lanes }, x)
    }

    pub fn sigmoid_f32(&mut self, lanes: u8, x: Value) -> Value {
        tfg_math::sigmoid(&mut Lanes { t: self, lanes }, x)
    }
}
