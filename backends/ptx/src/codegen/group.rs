//! Threads working together: barriers, warp shuffles, and combining the
//! partial results of a split reduction across a warp or a block.

use super::func::Fx;
use super::{Error, Target, R};
use inkwell::values::{BasicValueEnum, IntValue};
use inkwell::IntPredicate;
use tfg_ir::{BinaryOp, DType};

impl<'ctx> Fx<'_, '_, 'ctx> {
    /// Waits until every thread of a group of `size` has got here, with its
    /// memory writes visible to the others.
    pub fn sync(&mut self, size: u32) -> R<()> {
        match size {
            0 | 1 => Ok(()),
            32 => self.warp_sync(),
            _ => self.block_sync(),
        }
    }

    fn warp_sync(&mut self) -> R<()> {
        let i32t = self.g.cx.i32_type();
        match self.g.target {
            Target::Nvptx => {
                let f = self
                    .g
                    .intrinsic("llvm.nvvm.bar.warp.sync", None, &[i32t.into()]);
                self.g
                    .b
                    .build_call(f, &[i32t.const_all_ones().into()], "")?;
            }
            Target::Host => {
                let f = self.g.intrinsic("tfg_host_warp_sync", None, &[]);
                self.g.b.build_call(f, &[], "")?;
            }
            Target::Cpu => return Err(no_group()),
        }
        Ok(())
    }

    pub fn block_sync(&mut self) -> R<()> {
        let name = match self.g.target {
            Target::Nvptx => "llvm.nvvm.barrier0",
            Target::Host => "tfg_host_barrier",
            Target::Cpu => return Err(no_group()),
        };
        let f = self.g.intrinsic(name, None, &[]);
        self.g.b.build_call(f, &[], "")?;
        Ok(())
    }

    /// The value of `x` (i32) in the lane whose index differs from this
    /// one's by `xor` (all 32 lanes take part).
    fn shfl_i32(&self, x: IntValue<'ctx>, xor: u32) -> R<IntValue<'ctx>> {
        let i32t = self.g.cx.i32_type();
        let c = |v: u64| i32t.const_int(v, false);
        let v = match self.g.target {
            Target::Nvptx => {
                let f = self.g.intrinsic(
                    "llvm.nvvm.shfl.sync.bfly.i32",
                    Some(i32t.into()),
                    &[i32t.into(); 4],
                );
                self.call(
                    f,
                    &[
                        i32t.const_all_ones().into(),
                        x.into(),
                        c(u64::from(xor)).into(),
                        c(31).into(),
                    ],
                )?
            }
            Target::Host => {
                let f =
                    self.g
                        .intrinsic("tfg_host_shfl_bfly", Some(i32t.into()), &[i32t.into(); 2]);
                self.call(f, &[x.into(), c(u64::from(xor)).into()])?
            }
            Target::Cpu => return Err(no_group()),
        };
        Ok(v.into_int_value())
    }

    /// [`Self::shfl_i32`] for any numeric value: 64-bit ones in two halves.
    fn shfl(&self, v: BasicValueEnum<'ctx>, d: DType, xor: u32) -> R<BasicValueEnum<'ctx>> {
        let bits = self.value_to_bits64(v, d)?;
        let b = &self.g.b;
        let (i32t, i64t) = (self.g.cx.i32_type(), self.g.cx.i64_type());
        let lo = b.build_int_truncate(bits, i32t, "")?;
        let hi = b.build_right_shift(bits, i64t.const_int(32, false), false, "")?;
        let hi = b.build_int_truncate(hi, i32t, "")?;
        let lo = self.shfl_i32(lo, xor)?;
        let hi = if d.size() == 8 {
            self.shfl_i32(hi, xor)?
        } else {
            hi
        };
        let b = &self.g.b;
        let lo = b.build_int_z_extend(lo, i64t, "")?;
        let hi = b.build_int_z_extend(hi, i64t, "")?;
        let hi = b.build_left_shift(hi, i64t.const_int(32, false), "")?;
        let bits = b.build_or(hi, lo, "")?;
        self.bits64_to_value(bits, d)
    }

    /// The bits of a numeric value, in an i64.
    fn value_to_bits64(&self, v: BasicValueEnum<'ctx>, d: DType) -> R<IntValue<'ctx>> {
        let b = &self.g.b;
        let (i32t, i64t) = (self.g.cx.i32_type(), self.g.cx.i64_type());
        Ok(match d {
            DType::F32 => {
                let i = b.build_bit_cast(v, i32t, "")?.into_int_value();
                b.build_int_z_extend(i, i64t, "")?
            }
            DType::F64 => b.build_bit_cast(v, i64t, "")?.into_int_value(),
            DType::I32 => b.build_int_z_extend(v.into_int_value(), i64t, "")?,
            DType::I64 => v.into_int_value(),
            DType::Bool => return Err(Error("a bool does not reduce".into())),
        })
    }

    fn bits64_to_value(&self, bits: IntValue<'ctx>, d: DType) -> R<BasicValueEnum<'ctx>> {
        let b = &self.g.b;
        let i32t = self.g.cx.i32_type();
        Ok(match d {
            DType::F32 => {
                let i = b.build_int_truncate(bits, i32t, "")?;
                b.build_bit_cast(i, self.g.cx.f32_type(), "")?
            }
            DType::F64 => b.build_bit_cast(bits, self.g.cx.f64_type(), "")?,
            DType::I32 => b.build_int_truncate(bits, i32t, "")?.into(),
            DType::I64 => bits.into(),
            DType::Bool => return Err(Error("a bool does not reduce".into())),
        })
    }

    /// `op` over the `v` of every thread of a group of `size` (32 or a whole
    /// block): a butterfly of shuffles within each warp, then, for a block,
    /// each warp's result through shared memory. Every thread gets the same
    /// result, combined in the same order.
    pub fn combine(
        &mut self,
        op: BinaryOp,
        d: DType,
        v: BasicValueEnum<'ctx>,
        size: u32,
    ) -> R<BasicValueEnum<'ctx>> {
        if size <= 1 {
            return Ok(v);
        }
        let mut v = v;
        for xor in [16, 8, 4, 2, 1] {
            let other = self.shfl(v, d, xor)?;
            v = self.binary(op, d, v, other)?;
        }
        if size <= 32 {
            return Ok(v);
        }
        let slots = self.slots();
        let i64t = self.g.cx.i64_type();
        let i32t = self.g.cx.i32_type();
        let b = &self.g.b;
        let warp = b.build_int_unsigned_div(self.ids.tid, i32t.const_int(32, false), "")?;
        let in_warp = b.build_int_unsigned_rem(self.ids.tid, i32t.const_int(32, false), "")?;
        let bits = self.value_to_bits64(v, d)?;
        let slot_type = i64t.array_type(32);
        let first = self
            .g
            .b
            .build_int_compare(IntPredicate::EQ, in_warp, i32t.const_zero(), "")?;
        self.if_then(first, |fx| {
            let p = unsafe {
                fx.g.b
                    .build_in_bounds_gep(slot_type, slots, &[i32t.const_zero(), warp], "")
            }?;
            fx.g.b.build_store(p, bits)?;
            Ok(())
        })?;
        self.block_sync()?;
        let mut acc: Option<BasicValueEnum<'ctx>> = None;
        for w in 0..size / 32 {
            let p = unsafe {
                self.g.b.build_in_bounds_gep(
                    slot_type,
                    slots,
                    &[i32t.const_zero(), i32t.const_int(u64::from(w), false)],
                    "",
                )
            }?;
            let x = self.g.b.build_load(i64t, p, "")?.into_int_value();
            let x = self.bits64_to_value(x, d)?;
            acc = Some(match acc {
                None => x,
                Some(a) => self.binary(op, d, a, x)?,
            });
        }
        // No warp may overwrite a slot before every thread has read them all.
        self.block_sync()?;
        acc.ok_or_else(|| Error("an empty block".into()))
    }
}

/// A CPU task runs on one thread: nothing in it shares work with a group.
fn no_group() -> Error {
    Error("internal error: a CPU task has no thread group".into())
}
