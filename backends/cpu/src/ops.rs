//! The Kernel IR's scalar operations in CLIF, on scalars or vectors.
//!
//! Every operation has exactly the semantics of the Graph IR op on one
//! element (`tfg_ir::element`, which both interpreters use): integers wrap,
//! integer division floors and gives 0 for a zero divisor,
//! `maximum`/`minimum` let a NaN from either side win, float→int casts
//! saturate. An operation with no vector instruction sequence runs lane by
//! lane.

use crate::runtime::RuntimeFn;
use crate::translate::{clif_type, lanes_flags, Result, Translator};
use crate::vectorize::native_binary;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{self, I32, I64, I8};
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_module::Module;
use tfg_ir::kernel::Scalar;
use tfg_ir::{BinaryOp, DType, UnaryOp};

impl<M: Module> Translator<'_, M> {
    pub fn konst(&mut self, s: Scalar, lanes: u8) -> Value {
        let x = match s {
            Scalar::F32(x) => self.b.ins().f32const(x),
            Scalar::F64(x) => self.b.ins().f64const(x),
            Scalar::I32(x) => self.b.ins().iconst(I32, i64::from(x)),
            Scalar::I64(x) => self.b.ins().iconst(I64, x),
            Scalar::Bool(x) => self.b.ins().iconst(I8, i64::from(x)),
        };
        self.splat(s.dtype(), lanes, x)
    }

    /// A scalar in every lane; a bool becomes a lane mask.
    pub fn splat(&mut self, d: DType, lanes: u8, x: Value) -> Value {
        if lanes == 1 {
            return x;
        }
        let ty = clif_type(d, lanes);
        let x = if d == DType::Bool {
            self.b.ins().bmask(ty.lane_type(), x)
        } else {
            x
        };
        self.b.ins().splat(ty, x)
    }

    /// Lane `i` of `x` as a scalar; a mask lane becomes a 0/1 bool.
    pub fn lane(&mut self, d: DType, x: Value, i: u8) -> Value {
        let e = self.b.ins().extractlane(x, i);
        if d == DType::Bool {
            self.b.ins().icmp_imm_s(IntCC::NotEqual, e, 0)
        } else {
            e
        }
    }

    /// A vector of the scalars `xs`, one a lane.
    pub fn gather(&mut self, d: DType, lanes: u8, xs: &[Value]) -> Value {
        let ty = clif_type(d, lanes);
        let mut xs = xs
            .iter()
            .map(|&x| {
                if d == DType::Bool {
                    self.b.ins().bmask(ty.lane_type(), x)
                } else {
                    x
                }
            })
            .collect::<Vec<_>>()
            .into_iter();
        let Some(first) = xs.next() else {
            return self.b.ins().iconst(ty, 0);
        };
        let mut v = self.b.ins().splat(ty, first);
        for (i, x) in xs.enumerate() {
            v = self.b.ins().insertlane(v, x, (i + 1) as u8);
        }
        v
    }

    /// Applies a scalar operation to each lane of vector operands.
    fn per_lane(
        &mut self,
        out: DType,
        lanes: u8,
        args: &[(DType, Value)],
        f: impl Fn(&mut Self, &[Value]) -> Result<Value>,
    ) -> Result<Value> {
        let mut xs = Vec::with_capacity(lanes.into());
        for l in 0..lanes {
            let scalars: Vec<Value> = args.iter().map(|&(d, v)| self.lane(d, v, l)).collect();
            xs.push(f(self, &scalars)?);
        }
        Ok(self.gather(out, lanes, &xs))
    }

    pub fn unary(&mut self, op: UnaryOp, d: DType, lanes: u8, x: Value) -> Result<Value> {
        use UnaryOp::*;
        let float = d.is_float();
        let inline_f32 = d == DType::F32 && self.opts.inline_math;
        // Calls and integer `abs` on i64 lanes have no vector form.
        let lane_wise = lanes > 1
            && match op {
                Exp | Log | Tanh | Sigmoid => !inline_f32,
                Sin | Cos => true,
                Abs | Sign | Relu | Square | Neg => d == DType::I64,
                _ => false,
            };
        if lane_wise {
            return self.per_lane(d, lanes, &[(d, x)], |t, a| t.unary(op, d, 1, a[0]));
        }
        let zero = |t: &mut Self| t.konst(Scalar::from_f64(d, 0.0), lanes);
        Ok(match op {
            Neg if float => self.b.ins().fneg(x),
            Neg => self.b.ins().ineg(x),
            Abs if float => self.b.ins().fabs(x),
            Abs => self.b.ins().iabs(x),
            Square => self.binary(BinaryOp::Mul, d, lanes, x, x)?,
            Relu => {
                let z = zero(self);
                self.binary(BinaryOp::Maximum, d, lanes, x, z)?
            }
            Sign if float => {
                // 1, -1, +0 for ±0, and NaN for NaN.
                let z = zero(self);
                let one = self.konst(Scalar::from_f64(d, 1.0), lanes);
                let minus = self.konst(Scalar::from_f64(d, -1.0), lanes);
                let pos = self.b.ins().fcmp(FloatCC::GreaterThan, x, z);
                let neg = self.b.ins().fcmp(FloatCC::LessThan, x, z);
                let nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                let rest = self.select(d, lanes, nan, x, z);
                let rest = self.select(d, lanes, neg, minus, rest);
                self.select(d, lanes, pos, one, rest)
            }
            Sign => {
                let one = self.konst(Scalar::from_f64(d, 1.0), lanes);
                let minus = self.konst(Scalar::from_f64(d, -1.0), lanes);
                let hi = self.b.ins().smax(x, minus);
                self.b.ins().smin(hi, one)
            }
            Not if lanes == 1 => self.b.ins().bxor_imm_u(x, 1),
            Not => self.b.ins().bnot(x),
            Sqrt => self.b.ins().sqrt(x),
            Rsqrt => {
                let s = self.b.ins().sqrt(x);
                let one = self.konst(Scalar::from_f64(d, 1.0), lanes);
                self.b.ins().fdiv(one, s)
            }
            Reciprocal => {
                let one = self.konst(Scalar::from_f64(d, 1.0), lanes);
                self.b.ins().fdiv(one, x)
            }
            Floor => self.b.ins().floor(x),
            Ceil => self.b.ins().ceil(x),
            Exp if inline_f32 => self.exp_f32(lanes, x),
            Log if inline_f32 => self.log_f32(lanes, x),
            Tanh if inline_f32 => self.tanh_f32(lanes, x),
            Sigmoid if inline_f32 => self.sigmoid_f32(lanes, x),
            Exp | Log | Tanh | Sigmoid | Sin | Cos => {
                let f =
                    math_fn(op, d).ok_or_else(|| format!("{} does not apply to {d}", op.name()))?;
                self.call(f, &[x])?
            }
        })
    }

    /// `op(x, y)` for operands of dtype `d`.
    pub fn binary(
        &mut self,
        op: BinaryOp,
        d: DType,
        lanes: u8,
        x: Value,
        y: Value,
    ) -> Result<Value> {
        use BinaryOp::*;
        if lanes > 1 && !native_binary(op, d, lanes) {
            let out = if op.is_comparison() { DType::Bool } else { d };
            return self.per_lane(out, lanes, &[(d, x), (d, y)], |t, a| {
                t.binary(op, d, 1, a[0], a[1])
            });
        }
        let float = d.is_float();
        Ok(match op {
            Add if float => self.b.ins().fadd(x, y),
            Add => self.b.ins().iadd(x, y),
            Sub if float => self.b.ins().fsub(x, y),
            Sub => self.b.ins().isub(x, y),
            Mul if float => self.b.ins().fmul(x, y),
            Mul => self.b.ins().imul(x, y),
            Div if float => self.b.ins().fdiv(x, y),
            Div => self.floor_div(d, x, y),
            Pow => {
                let f = match d {
                    DType::F32 => RuntimeFn::PowF32,
                    DType::F64 => RuntimeFn::PowF64,
                    DType::I32 => RuntimeFn::PowI32,
                    DType::I64 => RuntimeFn::PowI64,
                    DType::Bool => return Err("pow on bool".into()),
                };
                self.call(f, &[x, y])?
            }
            Maximum | Minimum if float => {
                // numpy: `x` if it is NaN or wins the comparison, else `y`.
                let cc = if op == Maximum {
                    FloatCC::GreaterThanOrEqual
                } else {
                    FloatCC::LessThanOrEqual
                };
                let wins = self.b.ins().fcmp(cc, x, y);
                let nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                let keep = self.b.ins().bor(wins, nan);
                self.select(d, lanes, keep, x, y)
            }
            Maximum => self.b.ins().smax(x, y),
            Minimum => self.b.ins().smin(x, y),
            Lt | Le | Gt | Ge | Eq | Ne if float => {
                let cc = match op {
                    Lt => FloatCC::LessThan,
                    Le => FloatCC::LessThanOrEqual,
                    Gt => FloatCC::GreaterThan,
                    Ge => FloatCC::GreaterThanOrEqual,
                    Eq => FloatCC::Equal,
                    // True when either side is NaN, as `!=` is.
                    _ => FloatCC::NotEqual,
                };
                self.b.ins().fcmp(cc, x, y)
            }
            Lt | Le | Gt | Ge | Eq | Ne => {
                let cc = match op {
                    Lt => IntCC::SignedLessThan,
                    Le => IntCC::SignedLessThanOrEqual,
                    Gt => IntCC::SignedGreaterThan,
                    Ge => IntCC::SignedGreaterThanOrEqual,
                    Eq => IntCC::Equal,
                    _ => IntCC::NotEqual,
                };
                self.b.ins().icmp(cc, x, y)
            }
        })
    }

    /// Python's `//` on scalars, wrapping, with `x // 0 == 0`. Cranelift's
    /// `sdiv` traps on a zero divisor and on `MIN / -1`, so neither reaches it.
    fn floor_div(&mut self, d: DType, x: Value, y: Value) -> Value {
        let ty = clif_type(d, 1);
        let ins = |t: &mut Self, v: i64| t.b.ins().iconst(ty, v);
        let one = ins(self, 1);
        let zero = ins(self, 0);
        let is_zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
        let is_minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
        let unsafe_divisor = self.b.ins().bor(is_zero, is_minus_one);
        let divisor = self.b.ins().select(unsafe_divisor, one, y);
        let q = self.b.ins().sdiv(x, divisor);
        let qd = self.b.ins().imul(q, divisor);
        let r = self.b.ins().isub(x, qd);
        // Truncation rounded toward zero; floor is one lower when the
        // remainder is nonzero and its sign differs from the divisor's.
        let inexact = self.b.ins().icmp_imm_s(IntCC::NotEqual, r, 0);
        let signs = self.b.ins().bxor(r, divisor);
        let differ = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, signs, 0);
        let adjust = self.b.ins().band(inexact, differ);
        let adjust = self.b.ins().uextend(ty, adjust);
        let q = self.b.ins().isub(q, adjust);
        let negated = self.b.ins().ineg(x);
        let q = self.b.ins().select(is_minus_one, negated, q);
        self.b.ins().select(is_zero, zero, q)
    }

    /// `c ? x : y` for values of dtype `d`.
    pub fn select(&mut self, d: DType, lanes: u8, c: Value, x: Value, y: Value) -> Value {
        if lanes == 1 {
            return self.b.ins().select(c, x, y);
        }
        let ty = clif_type(d, lanes);
        let c = if ty == clif_type(DType::Bool, lanes) {
            c
        } else {
            self.b.ins().bitcast(ty, lanes_flags(), c)
        };
        self.b.ins().bitselect(c, x, y)
    }

    /// The Graph IR's `cast`: floats truncate toward zero and saturate into
    /// integers (NaN gives 0), integers wrap, nonzero (NaN included) is true.
    pub fn cast(&mut self, from: DType, to: DType, lanes: u8, x: Value) -> Result<Value> {
        use DType::*;
        if from == to {
            return Ok(x);
        }
        if lanes > 1 {
            let native = matches!(
                (from, to),
                (F32, I32) | (I32, F32) | (_, Bool) | (Bool, F32 | I32 | I64 | F64)
            );
            if !native {
                return self.per_lane(to, lanes, &[(from, x)], |t, a| t.cast(from, to, 1, a[0]));
            }
            return Ok(match (from, to) {
                (_, Bool) => {
                    let z = self.konst(Scalar::from_f64(from, 0.0), lanes);
                    if from.is_float() {
                        self.b.ins().fcmp(FloatCC::NotEqual, x, z)
                    } else {
                        self.b.ins().icmp(IntCC::NotEqual, x, z)
                    }
                }
                (Bool, F32 | F64) => {
                    // A mask anded with the bits of 1.0 is 1.0 or 0.0.
                    let one = if to == F32 {
                        Scalar::I32(1.0f32.to_bits() as i32)
                    } else {
                        Scalar::I64(1.0f64.to_bits() as i64)
                    };
                    let bits = self.konst(one, lanes);
                    let masked = self.b.ins().band(x, bits);
                    self.b
                        .ins()
                        .bitcast(clif_type(to, lanes), lanes_flags(), masked)
                }
                (Bool, _) => {
                    let one = self.konst(Scalar::from_f64(to, 1.0), lanes);
                    self.b.ins().band(x, one)
                }
                (F32, I32) => self.b.ins().fcvt_to_sint_sat(clif_type(I32, lanes), x),
                _ => self.b.ins().fcvt_from_sint(clif_type(to, lanes), x),
            });
        }
        let ty = clif_type(to, 1);
        Ok(match (from, to) {
            (F32, F64) => self.b.ins().fpromote(types::F64, x),
            (F64, F32) => self.b.ins().fdemote(types::F32, x),
            (F32 | F64, I32 | I64) => self.b.ins().fcvt_to_sint_sat(ty, x),
            (F32 | F64, Bool) => {
                let z = self.konst(Scalar::from_f64(from, 0.0), 1);
                self.b.ins().fcmp(FloatCC::NotEqual, x, z)
            }
            (I32 | I64, Bool) => self.b.ins().icmp_imm_s(IntCC::NotEqual, x, 0),
            (I32, I64) => self.b.ins().sextend(types::I64, x),
            (I64, I32) => self.b.ins().ireduce(types::I32, x),
            (I32 | I64, F32 | F64) => self.b.ins().fcvt_from_sint(ty, x),
            (Bool, I32 | I64) => self.b.ins().uextend(ty, x),
            (Bool, F32 | F64) => {
                let wide = self.b.ins().uextend(types::I32, x);
                self.b.ins().fcvt_from_sint(ty, wide)
            }
            _ => return Err(format!("cast from {from} to {to}")),
        })
    }
}

/// The runtime function computing `op` on `d`.
fn math_fn(op: UnaryOp, d: DType) -> Option<RuntimeFn> {
    use RuntimeFn::*;
    let f32 = d == DType::F32;
    Some(match op {
        UnaryOp::Exp => {
            if f32 {
                ExpF32
            } else {
                ExpF64
            }
        }
        UnaryOp::Log => {
            if f32 {
                LogF32
            } else {
                LogF64
            }
        }
        UnaryOp::Tanh => {
            if f32 {
                TanhF32
            } else {
                TanhF64
            }
        }
        UnaryOp::Sigmoid => {
            if f32 {
                SigmoidF32
            } else {
                SigmoidF64
            }
        }
        UnaryOp::Sin => {
            if f32 {
                SinF32
            } else {
                SinF64
            }
        }
        UnaryOp::Cos => {
            if f32 {
                CosF32
            } else {
                CosF64
            }
        }
        _ => return None,
    })
}
