//! Scalar operations with the Graph IR's semantics (those of the reference
//! interpreter): numpy's NaN rules for `maximum`, `minimum`, `relu` and
//! `sign`, Python's floor division for integers (with `x // 0 == 0`),
//! wrapping integer arithmetic, and `astype`'s conversions (saturating
//! float→int, NaN → 0, nonzero → true).

use super::arith::Llvm;
use super::func::Fx;
use super::{Error, R};
use inkwell::types::IntType;
use inkwell::values::{BasicValueEnum, FloatValue, IntValue};
use inkwell::{FloatPredicate, IntPredicate};
use tfg_ir::{BinaryOp, DType, UnaryOp};
use tfg_math as math;

impl<'g, 'p, 'ctx> Fx<'g, 'p, 'ctx> {
    pub fn unary(
        &mut self,
        op: UnaryOp,
        d: DType,
        v: BasicValueEnum<'ctx>,
    ) -> R<BasicValueEnum<'ctx>> {
        if d == DType::Bool {
            return match op {
                UnaryOp::Not => Ok(self.g.b.build_not(v.into_int_value(), "")?.into()),
                _ => Err(Error(format!("{} is not defined on bool", op.name()))),
            };
        }
        if d.is_float() {
            return Ok(self.float_unary(op, d, v.into_float_value())?.into());
        }
        let x = v.into_int_value();
        let b = &self.g.b;
        let t = x.get_type();
        let zero = t.const_zero();
        Ok(match op {
            UnaryOp::Neg => b.build_int_sub(zero, x, "")?.into(),
            UnaryOp::Abs => {
                let neg = b.build_int_sub(zero, x, "")?;
                let below = b.build_int_compare(IntPredicate::SLT, x, zero, "")?;
                b.build_select(below, neg, x, "")?
            }
            UnaryOp::Square => b.build_int_mul(x, x, "")?.into(),
            UnaryOp::Relu => self.binary(BinaryOp::Maximum, d, v, zero.into())?,
            UnaryOp::Sign => {
                let pos = b.build_int_compare(IntPredicate::SGT, x, zero, "")?;
                let neg = b.build_int_compare(IntPredicate::SLT, x, zero, "")?;
                let pos = b.build_int_z_extend(pos, t, "")?;
                let neg = b.build_int_z_extend(neg, t, "")?;
                b.build_int_sub(pos, neg, "")?.into()
            }
            _ => return Err(Error(format!("{} is not defined on {d}", op.name()))),
        })
    }

    fn float_unary(&mut self, op: UnaryOp, d: DType, x: FloatValue<'ctx>) -> R<FloatValue<'ctx>> {
        let wide = d == DType::F64;
        let t = x.get_type();
        let one = t.const_float(1.0);
        let zero = t.const_float(0.0);
        let b = &self.g.b;
        Ok(match op {
            UnaryOp::Neg => b.build_float_neg(x, "")?,
            UnaryOp::Abs => self.float_intrinsic("fabs", wide, &[x])?,
            UnaryOp::Sqrt => self.float_intrinsic("sqrt", wide, &[x])?,
            UnaryOp::Rsqrt => {
                let s = self.float_intrinsic("sqrt", wide, &[x])?;
                self.g.b.build_float_div(one, s, "")?
            }
            UnaryOp::Reciprocal => b.build_float_div(one, x, "")?,
            UnaryOp::Square => b.build_float_mul(x, x, "")?,
            UnaryOp::Floor => self.float_intrinsic("floor", wide, &[x])?,
            UnaryOp::Ceil => self.float_intrinsic("ceil", wide, &[x])?,
            UnaryOp::Relu => self
                .binary(BinaryOp::Maximum, d, x.into(), zero.into())?
                .into_float_value(),
            UnaryOp::Sign => {
                // 1, -1, or x itself for ±0 (as +0) and NaN.
                let pos = b.build_float_compare(FloatPredicate::OGT, x, zero, "")?;
                let neg = b.build_float_compare(FloatPredicate::OLT, x, zero, "")?;
                let is_zero = b.build_float_compare(FloatPredicate::OEQ, x, zero, "")?;
                let v = b.build_select(is_zero, zero, x, "")?.into_float_value();
                let v = b
                    .build_select(neg, t.const_float(-1.0), v, "")?
                    .into_float_value();
                b.build_select(pos, one, v, "")?.into_float_value()
            }
            UnaryOp::Exp => self.formula(wide, x, |a, x| math::exp(a, x))?,
            UnaryOp::Log => self.formula(wide, x, |a, x| math::log(a, x))?,
            UnaryOp::Tanh => self.formula(wide, x, |a, x| math::tanh(a, x))?,
            UnaryOp::Sigmoid => self.formula(wide, x, |a, x| math::sigmoid(a, x))?,
            UnaryOp::Sin => self.in_f64(x, |a, x| math::sin_cos(a, x, false))?,
            UnaryOp::Cos => self.in_f64(x, |a, x| math::sin_cos(a, x, true))?,
            UnaryOp::Not => return Err(Error(format!("not is not defined on {d}"))),
        })
    }

    pub(super) fn float_intrinsic(
        &self,
        name: &str,
        wide: bool,
        args: &[FloatValue<'ctx>],
    ) -> R<FloatValue<'ctx>> {
        let t = args[0].get_type();
        let f = self.g.intrinsic(
            &format!("llvm.{name}.{}", if wide { "f64" } else { "f32" }),
            Some(t.into()),
            &vec![t.into(); args.len()],
        );
        let args: Vec<_> = args.iter().map(|&a| a.into()).collect();
        Ok(self.call(f, &args)?.into_float_value())
    }

    /// One of [`math`]'s formulas at the operand's width.
    fn formula(
        &self,
        wide: bool,
        x: FloatValue<'ctx>,
        f: impl FnOnce(&mut Llvm<'_, 'g, 'p, 'ctx>, FloatValue<'ctx>) -> FloatValue<'ctx>,
    ) -> R<FloatValue<'ctx>> {
        let mut a = Llvm::new(self, wide);
        let y = f(&mut a, x);
        a.finish(y)
    }

    /// A formula evaluated in f64 (f32 operands are widened, the result rounded).
    fn in_f64(
        &self,
        x: FloatValue<'ctx>,
        f: impl FnOnce(&mut Llvm<'_, 'g, 'p, 'ctx>, FloatValue<'ctx>) -> FloatValue<'ctx>,
    ) -> R<FloatValue<'ctx>> {
        let f64t = self.g.cx.f64_type();
        let narrow = x.get_type() != f64t;
        let xw = if narrow {
            self.g.b.build_float_ext(x, f64t, "")?
        } else {
            x
        };
        let mut a = Llvm::new(self, true);
        let y = f(&mut a, xw);
        let y = a.finish(y)?;
        Ok(if narrow {
            self.g.b.build_float_trunc(y, x.get_type(), "")?
        } else {
            y
        })
    }

    /// `a op b` for operands of dtype `d`.
    pub fn binary(
        &mut self,
        op: BinaryOp,
        d: DType,
        a: BasicValueEnum<'ctx>,
        b: BasicValueEnum<'ctx>,
    ) -> R<BasicValueEnum<'ctx>> {
        if d.is_float() {
            return self.float_binary(op, a.into_float_value(), b.into_float_value());
        }
        let (x, y) = (a.into_int_value(), b.into_int_value());
        let bd = &self.g.b;
        if op.is_comparison() {
            let p = match op {
                BinaryOp::Lt => IntPredicate::SLT,
                BinaryOp::Le => IntPredicate::SLE,
                BinaryOp::Gt => IntPredicate::SGT,
                BinaryOp::Ge => IntPredicate::SGE,
                BinaryOp::Eq => IntPredicate::EQ,
                _ => IntPredicate::NE,
            };
            return Ok(bd.build_int_compare(p, x, y, "")?.into());
        }
        if d == DType::Bool {
            return Err(Error(format!("{} is not defined on bool", op.name())));
        }
        Ok(match op {
            BinaryOp::Add => bd.build_int_add(x, y, "")?.into(),
            BinaryOp::Sub => bd.build_int_sub(x, y, "")?.into(),
            BinaryOp::Mul => bd.build_int_mul(x, y, "")?.into(),
            BinaryOp::Div => self.floor_div(x, y)?.into(),
            BinaryOp::Pow => self.int_pow(x, y)?.into(),
            BinaryOp::Maximum | BinaryOp::Minimum => {
                let p = if op == BinaryOp::Maximum {
                    IntPredicate::SGE
                } else {
                    IntPredicate::SLE
                };
                let keep = bd.build_int_compare(p, x, y, "")?;
                bd.build_select(keep, x, y, "")?
            }
            _ => return Err(Error(format!("{} is not an arithmetic op", op.name()))),
        })
    }

    fn float_binary(
        &mut self,
        op: BinaryOp,
        x: FloatValue<'ctx>,
        y: FloatValue<'ctx>,
    ) -> R<BasicValueEnum<'ctx>> {
        let b = &self.g.b;
        let cmp = |p| b.build_float_compare(p, x, y, "");
        Ok(match op {
            BinaryOp::Add => b.build_float_add(x, y, "")?.into(),
            BinaryOp::Sub => b.build_float_sub(x, y, "")?.into(),
            BinaryOp::Mul => b.build_float_mul(x, y, "")?.into(),
            BinaryOp::Div => b.build_float_div(x, y, "")?.into(),
            BinaryOp::Pow => {
                let f64t = self.g.cx.f64_type();
                let narrow = x.get_type() != f64t;
                let (xw, yw) = if narrow {
                    (
                        b.build_float_ext(x, f64t, "")?,
                        b.build_float_ext(y, f64t, "")?,
                    )
                } else {
                    (x, y)
                };
                let mut a = Llvm::new(self, true);
                let r = math::pow(&mut a, xw, yw);
                let r = a.finish(r)?;
                if narrow {
                    self.g.b.build_float_trunc(r, x.get_type(), "")?.into()
                } else {
                    r.into()
                }
            }
            BinaryOp::Maximum | BinaryOp::Minimum => {
                // numpy: x if x is NaN or x wins the comparison, else y.
                let p = if op == BinaryOp::Maximum {
                    FloatPredicate::OGE
                } else {
                    FloatPredicate::OLE
                };
                let wins = cmp(p)?;
                let nan = b.build_float_compare(FloatPredicate::UNO, x, x, "")?;
                let keep = b.build_or(wins, nan, "")?;
                b.build_select(keep, x, y, "")?
            }
            BinaryOp::Lt => cmp(FloatPredicate::OLT)?.into(),
            BinaryOp::Le => cmp(FloatPredicate::OLE)?.into(),
            BinaryOp::Gt => cmp(FloatPredicate::OGT)?.into(),
            BinaryOp::Ge => cmp(FloatPredicate::OGE)?.into(),
            BinaryOp::Eq => cmp(FloatPredicate::OEQ)?.into(),
            BinaryOp::Ne => cmp(FloatPredicate::UNE)?.into(),
        })
    }

    /// Python's `x // y`, with `x // 0 == 0` and `MIN // -1` wrapping.
    fn floor_div(&self, x: IntValue<'ctx>, y: IntValue<'ctx>) -> R<IntValue<'ctx>> {
        let b = &self.g.b;
        let t = x.get_type();
        let (zero, one, minus_one) = (t.const_zero(), t.const_int(1, false), t.const_all_ones());
        let by_zero = b.build_int_compare(IntPredicate::EQ, y, zero, "")?;
        let by_minus_one = b.build_int_compare(IntPredicate::EQ, y, minus_one, "")?;
        // Division by 0 and -1 is undefined or may trap; those get a safe divisor.
        let unsafe_divisor = b.build_or(by_zero, by_minus_one, "")?;
        let d = b.build_select(unsafe_divisor, one, y, "")?.into_int_value();
        let q = b.build_int_signed_div(x, d, "")?;
        let r = b.build_int_signed_rem(x, d, "")?;
        let inexact = b.build_int_compare(IntPredicate::NE, r, zero, "")?;
        let signs = b.build_xor(r, d, "")?;
        let differ = b.build_int_compare(IntPredicate::SLT, signs, zero, "")?;
        let adjust = b.build_and(inexact, differ, "")?;
        let adjust = b.build_int_z_extend(adjust, t, "")?;
        let q = b.build_int_sub(q, adjust, "")?;
        let neg = b.build_int_sub(zero, x, "")?;
        let q = b.build_select(by_minus_one, neg, q, "")?.into_int_value();
        Ok(b.build_select(by_zero, zero, q, "")?.into_int_value())
    }

    /// `x ** y`, wrapping; a negative exponent gives 0 unless `x` is ±1.
    fn int_pow(&mut self, x: IntValue<'ctx>, y: IntValue<'ctx>) -> R<IntValue<'ctx>> {
        let t = x.get_type();
        let (zero, one) = (t.const_zero(), t.const_int(1, false));
        let (acc, base, exp) = (
            self.alloca(t.into())?,
            self.alloca(t.into())?,
            self.alloca(t.into())?,
        );
        let b = &self.g.b;
        let negative = b.build_int_compare(IntPredicate::SLT, y, zero, "")?;
        let e = b.build_select(negative, zero, y, "")?;
        b.build_store(acc, one)?;
        b.build_store(base, x)?;
        b.build_store(exp, e)?;
        // Square and multiply, one bit of the exponent an iteration.
        let cx = self.g.cx;
        let head = cx.append_basic_block(self.f, "pow");
        let body = cx.append_basic_block(self.f, "pow_bit");
        let done = cx.append_basic_block(self.f, "pow_done");
        b.build_unconditional_branch(head)?;
        b.position_at_end(head);
        let ev = b.build_load(t, exp, "")?.into_int_value();
        let more = b.build_int_compare(IntPredicate::SGT, ev, zero, "")?;
        b.build_conditional_branch(more, body, done)?;
        b.position_at_end(body);
        let a = b.build_load(t, acc, "")?.into_int_value();
        let bv = b.build_load(t, base, "")?.into_int_value();
        let bit = b.build_and(ev, one, "")?;
        let odd = b.build_int_compare(IntPredicate::NE, bit, zero, "")?;
        let times = b.build_int_mul(a, bv, "")?;
        let a = b.build_select(odd, times, a, "")?;
        b.build_store(acc, a)?;
        let sq = b.build_int_mul(bv, bv, "")?;
        b.build_store(base, sq)?;
        let shifted = b.build_right_shift(ev, one, true, "")?;
        b.build_store(exp, shifted)?;
        b.build_unconditional_branch(head)?;
        b.position_at_end(done);
        let positive = b.build_load(t, acc, "")?.into_int_value();
        // x ** -n: 1 for x == 1, ±1 for x == -1 (by the parity of n), else 0.
        let is_one = b.build_int_compare(IntPredicate::EQ, x, one, "")?;
        let is_minus_one = b.build_int_compare(IntPredicate::EQ, x, t.const_all_ones(), "")?;
        let y_odd = b.build_and(y, one, "")?;
        let y_odd = b.build_int_compare(IntPredicate::NE, y_odd, zero, "")?;
        let m = b
            .build_select(y_odd, t.const_all_ones(), one, "")?
            .into_int_value();
        let r = b.build_select(is_minus_one, m, zero, "")?.into_int_value();
        let r = b.build_select(is_one, one, r, "")?.into_int_value();
        Ok(b.build_select(negative, r, positive, "")?.into_int_value())
    }

    /// numpy's `astype` from `from` to `to`.
    pub fn cast(&self, from: DType, to: DType, v: BasicValueEnum<'ctx>) -> R<BasicValueEnum<'ctx>> {
        if from == to {
            return Ok(v);
        }
        let b = &self.g.b;
        let target = self.g.reg_type(to);
        Ok(match (from, to) {
            (_, DType::Bool) if from.is_float() => {
                let x = v.into_float_value();
                // Unordered-or-not-equal: NaN is true.
                b.build_float_compare(FloatPredicate::UNE, x, x.get_type().const_zero(), "")?
                    .into()
            }
            (_, DType::Bool) => {
                let x = v.into_int_value();
                b.build_int_compare(IntPredicate::NE, x, x.get_type().const_zero(), "")?
                    .into()
            }
            (DType::Bool, _) if to.is_float() => b
                .build_unsigned_int_to_float(v.into_int_value(), target.into_float_type(), "")?
                .into(),
            (DType::Bool, _) => b
                .build_int_z_extend(v.into_int_value(), target.into_int_type(), "")?
                .into(),
            _ if from.is_float() && to.is_float() => {
                let x = v.into_float_value();
                if to.size() > from.size() {
                    b.build_float_ext(x, target.into_float_type(), "")?.into()
                } else {
                    b.build_float_trunc(x, target.into_float_type(), "")?.into()
                }
            }
            _ if from.is_float() => self
                .float_to_int_sat(v.into_float_value(), target.into_int_type())?
                .into(),
            _ if to.is_float() => b
                .build_signed_int_to_float(v.into_int_value(), target.into_float_type(), "")?
                .into(),
            _ => {
                let x = v.into_int_value();
                let t = target.into_int_type();
                if to.size() > from.size() {
                    b.build_int_s_extend(x, t, "")?.into()
                } else {
                    b.build_int_truncate(x, t, "")?.into()
                }
            }
        })
    }

    /// Truncation toward zero, saturating at the integer's range, NaN → 0
    /// (Rust's `as`, and what the interpreter does).
    pub fn float_to_int_sat(&self, x: FloatValue<'ctx>, t: IntType<'ctx>) -> R<IntValue<'ctx>> {
        let ft = x.get_type();
        let suffix = format!(
            "i{}.f{}",
            t.get_bit_width(),
            if ft == self.g.cx.f64_type() { 64 } else { 32 }
        );
        let f = self.g.intrinsic(
            &format!("llvm.fptosi.sat.{suffix}"),
            Some(t.into()),
            &[ft.into()],
        );
        Ok(self.call(f, &[x.into()])?.into_int_value())
    }
}
