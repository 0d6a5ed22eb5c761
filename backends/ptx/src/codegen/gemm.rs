//! Matrix products: a tiled shared-memory GEMM launch, and a plain one for
//! a GEMM inside other code.
//!
//! The tiled kernel gives each block of 256 threads a 64 × 64 tile of `c`
//! and each thread a 4 × 4 piece of it: per step of 16 along `k`, the block
//! stages a 64 × 16 slice of `op(a)` and a 16 × 64 slice of `op(b)` in
//! shared memory (padded by one element a row against bank conflicts, and
//! read from global memory along whichever dimension is contiguous), then
//! every thread does 16 rank-1 updates of its piece from registers. Edges
//! load zeros and store nothing. Blocks cover the batch (grid z) with a
//! grid-stride loop.

use super::func::{Fx, Mode};
use super::{Error, R};
use crate::schedule::{BLOCK, DEPTH, TILE};
use inkwell::types::{BasicType, BasicTypeEnum};
use inkwell::values::{BasicValueEnum, IntValue, PointerValue};
use inkwell::IntPredicate;
use tfg_ir::kernel::{Gemm, MatRef, Var};
use tfg_ir::{BinaryOp, DType};

/// A thread's piece of the tile is `PIECE × PIECE`.
const PIECE: u64 = 4;

fn dtype(fx: &Fx, g: &Gemm) -> R<DType> {
    let d =
        fx.g.program
            .buffer(g.c.buf)
            .ok_or_else(|| Error(format!("{} does not exist", g.c.buf)))?
            .dtype;
    if d == DType::Bool {
        return Err(Error("a gemm on bool".into()));
    }
    Ok(d)
}

pub(super) fn tiled(fx: &mut Fx, loops: &[(Var, u64)], g: &Gemm) -> R<()> {
    let d = dtype(fx, g)?;
    let outer: u64 = loops.iter().map(|&(_, e)| e).product();
    let total = outer.saturating_mul(g.batch);
    if total == 0 || g.m == 0 || g.n == 0 {
        return Ok(());
    }
    let t = fx.g.reg_type(d);
    let row_t = t.array_type((TILE + 1) as u32);
    let tile_t: BasicTypeEnum = row_t.array_type(DEPTH as u32).into();
    let name = fx.f.get_name().to_string_lossy().into_owned();
    let (a_s, b_s) = (
        fx.g.shared(tile_t, &format!("{name}_a")),
        fx.g.shared(tile_t, &format!("{name}_b")),
    );
    let i32t = fx.g.cx.i32_type();
    let c32 = |x: u64| i32t.const_int(x, false);
    let b = &fx.g.b;
    let tx = b.build_int_unsigned_rem(fx.ids.tid, c32(16), "")?;
    let ty = b.build_int_unsigned_div(fx.ids.tid, c32(16), "")?;
    let bm = b.build_int_mul(fx.ids.ctaid[1], c32(TILE), "")?;
    let bn = b.build_int_mul(fx.ids.ctaid[0], c32(TILE), "")?;
    let (bm, bn) = (fx.widen(bm)?, fx.widen(bn)?);
    let (z0, zstep) = (fx.widen(fx.ids.ctaid[2])?, fx.widen(fx.ids.nctaid[2])?);
    let z = fx.alloca(fx.idx.into())?;
    let end = fx.idx.const_int(total, false);
    fx.for_range(z, z0, end, zstep, |fx| {
        let zv = fx.g.b.build_load(fx.idx, z, "")?.into_int_value();
        let offsets = batch_offsets(fx, loops, g, zv)?;
        let zero = zero(t);
        let accs: Vec<PointerValue> = (0..PIECE * PIECE).map(|_| fx.alloca(t)).collect::<R<_>>()?;
        for &acc in &accs {
            fx.g.b.build_store(acc, zero)?;
        }
        let k0 = fx.alloca(fx.idx.into())?;
        let (start, kend, step) = (
            fx.idx.const_zero(),
            fx.idx.const_int(g.k, false),
            fx.idx.const_int(DEPTH, false),
        );
        fx.for_range(k0, start, kend, step, |fx| {
            let k0v = fx.g.b.build_load(fx.idx, k0, "")?.into_int_value();
            stage(fx, g, d, k0v, bm, bn, &offsets, (a_s, b_s, tile_t))?;
            fx.block_sync()?;
            for kk in 0..DEPTH {
                let mut av = Vec::new();
                let mut bv = Vec::new();
                for r in 0..PIECE {
                    let b = &fx.g.b;
                    let i = b.build_int_add(b.build_int_mul(ty, c32(PIECE), "")?, c32(r), "")?;
                    let at =
                        unsafe { b.build_in_bounds_gep(tile_t, a_s, &[c32(0), c32(kk), i], "") }?;
                    av.push(b.build_load(t, at, "")?);
                    let j = b.build_int_add(tx, c32(16 * r), "")?;
                    let at =
                        unsafe { b.build_in_bounds_gep(tile_t, b_s, &[c32(0), c32(kk), j], "") }?;
                    bv.push(b.build_load(t, at, "")?);
                }
                for r in 0..PIECE as usize {
                    for c in 0..PIECE as usize {
                        let acc = accs[r * PIECE as usize + c];
                        let old = fx.g.b.build_load(t, acc, "")?;
                        let new = multiply_add(fx, d, av[r], bv[c], old)?;
                        fx.g.b.build_store(acc, new)?;
                    }
                }
            }
            fx.block_sync()
        })?;
        for r in 0..PIECE {
            for c in 0..PIECE {
                let b = &fx.g.b;
                let i = b.build_int_add(b.build_int_mul(ty, c32(PIECE), "")?, c32(r), "")?;
                let j = b.build_int_add(tx, c32(16 * c), "")?;
                let (i, j) = (fx.widen(i)?, fx.widen(j)?);
                let b = &fx.g.b;
                let (gi, gj) = (b.build_int_add(bm, i, "")?, b.build_int_add(bn, j, "")?);
                let inside = within(fx, &[(gi, g.m), (gj, g.n)])?;
                let acc = fx.g.b.build_load(t, accs[(r * PIECE + c) as usize], "")?;
                let oc = offsets[2];
                fx.if_then(inside, |fx| {
                    let b = &fx.g.b;
                    let row = b.build_int_mul(gi, fx.idx.const_int(g.c.ld, false), "")?;
                    let at = b.build_int_add(b.build_int_add(oc, row, "")?, gj, "")?;
                    finish(fx, g, d, acc, at)
                })?;
            }
        }
        Ok(())
    })
}

/// The offsets of `a`, `b` and `c` for flat batch `z` (the enclosing
/// loops' variables set from it).
fn batch_offsets<'ctx>(
    fx: &mut Fx<'_, '_, 'ctx>,
    loops: &[(Var, u64)],
    g: &Gemm,
    z: IntValue<'ctx>,
) -> R<[IntValue<'ctx>; 3]> {
    let batch = fx.idx.const_int(g.batch.max(1), false);
    let b = &fx.g.b;
    let p = b.build_int_unsigned_rem(z, batch, "")?;
    let outer = b.build_int_unsigned_div(z, batch, "")?;
    fx.set_nest(loops, outer)?;
    let offset = |fx: &Fx<'_, '_, 'ctx>, r: &MatRef| -> R<IntValue<'ctx>> {
        let o = fx.index(&r.offset)?;
        let s =
            fx.g.b
                .build_int_mul(p, fx.idx.const_int(r.stride, false), "")?;
        Ok(fx.g.b.build_int_add(o, s, "")?)
    };
    Ok([offset(fx, &g.a)?, offset(fx, &g.b)?, offset(fx, &g.c)?])
}

/// Loads this thread's share of the `op(a)` and `op(b)` slices at `k0`
/// into shared memory.
#[allow(clippy::too_many_arguments)]
fn stage<'ctx>(
    fx: &mut Fx<'_, '_, 'ctx>,
    g: &Gemm,
    d: DType,
    k0: IntValue<'ctx>,
    bm: IntValue<'ctx>,
    bn: IntValue<'ctx>,
    offsets: &[IntValue<'ctx>; 3],
    (a_s, b_s, tile_t): (PointerValue<'ctx>, PointerValue<'ctx>, BasicTypeEnum<'ctx>),
) -> R<()> {
    let i32t = fx.g.cx.i32_type();
    let c32 = |x: u64| i32t.const_int(x, false);
    let per = TILE * DEPTH / u64::from(BLOCK);
    for e in 0..per {
        let b = &fx.g.b;
        let flat = b.build_int_add(fx.ids.tid, c32(u64::from(BLOCK) * e), "")?;
        // Element (row, l) of the 64 × 16 slice of op(a); consecutive
        // threads walk the dimension that is contiguous in memory.
        let (row, l) = if g.trans_a {
            (
                b.build_int_unsigned_rem(flat, c32(TILE), "")?,
                b.build_int_unsigned_div(flat, c32(TILE), "")?,
            )
        } else {
            (
                b.build_int_unsigned_div(flat, c32(DEPTH), "")?,
                b.build_int_unsigned_rem(flat, c32(DEPTH), "")?,
            )
        };
        let v = operand(
            fx,
            d,
            &g.a,
            offsets[0],
            (bm, row, g.m),
            (k0, l, g.k),
            !g.trans_a,
        )?;
        let at = unsafe {
            fx.g.b
                .build_in_bounds_gep(tile_t, a_s, &[c32(0), l, row], "")
        }?;
        fx.g.b.build_store(at, v)?;
        let b = &fx.g.b;
        // Element (l, col) of the 16 × 64 slice of op(b).
        let (l, col) = if g.trans_b {
            (
                b.build_int_unsigned_rem(flat, c32(DEPTH), "")?,
                b.build_int_unsigned_div(flat, c32(DEPTH), "")?,
            )
        } else {
            (
                b.build_int_unsigned_div(flat, c32(TILE), "")?,
                b.build_int_unsigned_rem(flat, c32(TILE), "")?,
            )
        };
        let v = operand(
            fx,
            d,
            &g.b,
            offsets[1],
            (bn, col, g.n),
            (k0, l, g.k),
            g.trans_b,
        )?;
        let at = unsafe {
            fx.g.b
                .build_in_bounds_gep(tile_t, b_s, &[c32(0), l, col], "")
        }?;
        fx.g.b.build_store(at, v)?;
    }
    Ok(())
}

/// Element (outer, inner) of an operand matrix, 0 outside it, where
/// `outer` is the row of `op(a)` (or column of `op(b)`) and `inner` the
/// `k` index; `outer_major` says the outer index is the one multiplied by
/// `ld` in memory.
fn operand<'ctx>(
    fx: &mut Fx<'_, '_, 'ctx>,
    d: DType,
    r: &MatRef,
    offset: IntValue<'ctx>,
    (base, local, limit): (IntValue<'ctx>, IntValue<'ctx>, u64),
    (k0, l, k): (IntValue<'ctx>, IntValue<'ctx>, u64),
    outer_major: bool,
) -> R<BasicValueEnum<'ctx>> {
    let (local, l) = (fx.widen(local)?, fx.widen(l)?);
    let b = &fx.g.b;
    let o = b.build_int_add(base, local, "")?;
    let kk = b.build_int_add(k0, l, "")?;
    let inside = within(fx, &[(o, limit), (kk, k)])?;
    let b = &fx.g.b;
    let ld = fx.idx.const_int(r.ld, false);
    let (major, minor) = if outer_major { (o, kk) } else { (kk, o) };
    let at = b.build_int_add(
        b.build_int_add(offset, b.build_int_mul(major, ld, "")?, "")?,
        minor,
        "",
    )?;
    // Outside the matrix, read its first element instead (always there when
    // the product is not empty) and use zero.
    let at = b
        .build_select(inside, at, fx.idx.const_zero(), "")?
        .into_int_value();
    let (v, _) = fx.load(r.buf, at)?;
    let z = zero(fx.g.reg_type(d));
    Ok(fx.g.b.build_select(inside, v, z, "")?)
}

/// Whether every `value < limit`.
fn within<'ctx>(fx: &Fx<'_, '_, 'ctx>, checks: &[(IntValue<'ctx>, u64)]) -> R<IntValue<'ctx>> {
    let b = &fx.g.b;
    let mut all = fx.g.cx.bool_type().const_all_ones();
    for &(v, limit) in checks {
        let ok = b.build_int_compare(IntPredicate::ULT, v, fx.idx.const_int(limit, false), "")?;
        all = b.build_and(all, ok, "")?;
    }
    Ok(all)
}

fn zero(t: BasicTypeEnum) -> BasicValueEnum {
    match t {
        BasicTypeEnum::FloatType(f) => f.const_zero().into(),
        BasicTypeEnum::IntType(i) => i.const_zero().into(),
        other => other.const_zero(),
    }
}

/// `acc + a·b`, rounded twice as the interpreter's GEMM does (so that the
/// two agree exactly; a fused multiply-add would be faster on the GPU but
/// round differently), wrapping for integers.
fn multiply_add<'ctx>(
    fx: &mut Fx<'_, '_, 'ctx>,
    d: DType,
    a: BasicValueEnum<'ctx>,
    b: BasicValueEnum<'ctx>,
    acc: BasicValueEnum<'ctx>,
) -> R<BasicValueEnum<'ctx>> {
    let m = fx.binary(BinaryOp::Mul, d, a, b)?;
    fx.binary(BinaryOp::Add, d, acc, m)
}

/// Stores `alpha·acc + beta·c[at]` to `c[at]` (`c` read only when `beta ≠ 0`).
fn finish<'ctx>(
    fx: &mut Fx<'_, '_, 'ctx>,
    g: &Gemm,
    d: DType,
    acc: BasicValueEnum<'ctx>,
    at: IntValue<'ctx>,
) -> R<()> {
    let t = fx.g.reg_type(d);
    let constant = |x: f64| -> BasicValueEnum<'ctx> {
        match t {
            BasicTypeEnum::FloatType(f) => f.const_float(x).into(),
            BasicTypeEnum::IntType(i) => i.const_int(x as i64 as u64, true).into(),
            other => other.const_zero(),
        }
    };
    let mut v = acc;
    if g.alpha != 1.0 {
        v = fx.binary(BinaryOp::Mul, d, constant(g.alpha), v)?;
    }
    if g.beta != 0.0 {
        let (old, _) = fx.load(g.c.buf, at)?;
        let scaled = if g.beta == 1.0 {
            old
        } else {
            fx.binary(BinaryOp::Mul, d, constant(g.beta), old)?
        };
        v = fx.binary(BinaryOp::Add, d, v, scaled)?;
    }
    fx.store(g.c.buf, at, v)
}

/// A GEMM inside other code: each thread of the group computes whole
/// elements of `c` (a dot product each, in `k` order), then the group syncs.
pub(super) fn naive<'ctx>(fx: &mut Fx<'_, '_, 'ctx>, g: &Gemm, mode: Mode<'ctx>) -> R<()> {
    let d = dtype(fx, g)?;
    let (size, lane) = match mode {
        Mode::Group { size, lane } => (size, fx.widen(lane)?),
        Mode::Thread => (1, fx.idx.const_zero()),
    };
    let (m, n) = (g.m, g.n);
    let total = g.batch.saturating_mul(m).saturating_mul(n);
    if total > 0 {
        let t = fx.g.reg_type(d);
        let e = fx.alloca(fx.idx.into())?;
        let (end, step) = (
            fx.idx.const_int(total, false),
            fx.idx.const_int(u64::from(size), false),
        );
        fx.for_range(e, lane, end, step, |fx| {
            let c = |x: u64| fx.idx.const_int(x.max(1), false);
            let b = &fx.g.b;
            let ev = b.build_load(fx.idx, e, "")?.into_int_value();
            let p = b.build_int_unsigned_div(ev, c(m * n), "")?;
            let rem = b.build_int_unsigned_rem(ev, c(m * n), "")?;
            let i = b.build_int_unsigned_div(rem, c(n), "")?;
            let j = b.build_int_unsigned_rem(rem, c(n), "")?;
            let offset = |fx: &Fx<'_, '_, 'ctx>, r: &MatRef| -> R<IntValue<'ctx>> {
                let o = fx.index(&r.offset)?;
                let s =
                    fx.g.b
                        .build_int_mul(p, fx.idx.const_int(r.stride, false), "")?;
                Ok(fx.g.b.build_int_add(o, s, "")?)
            };
            let (oa, ob, oc) = (offset(fx, &g.a)?, offset(fx, &g.b)?, offset(fx, &g.c)?);
            let acc = fx.alloca(t)?;
            fx.g.b.build_store(acc, zero(t))?;
            let l = fx.alloca(fx.idx.into())?;
            let (start, kend, one) = (
                fx.idx.const_zero(),
                fx.idx.const_int(g.k, false),
                fx.idx.const_int(1, false),
            );
            fx.for_range(l, start, kend, one, |fx| {
                let b = &fx.g.b;
                let lv = b.build_load(fx.idx, l, "")?.into_int_value();
                let at = |fx: &Fx<'_, '_, 'ctx>,
                          base: IntValue<'ctx>,
                          major: IntValue<'ctx>,
                          minor: IntValue<'ctx>,
                          ld: u64|
                 -> R<IntValue<'ctx>> {
                    let b = &fx.g.b;
                    let row = b.build_int_mul(major, fx.idx.const_int(ld, false), "")?;
                    Ok(b.build_int_add(b.build_int_add(base, row, "")?, minor, "")?)
                };
                let ai = if g.trans_a {
                    at(fx, oa, lv, i, g.a.ld)?
                } else {
                    at(fx, oa, i, lv, g.a.ld)?
                };
                let bi = if g.trans_b {
                    at(fx, ob, j, lv, g.b.ld)?
                } else {
                    at(fx, ob, lv, j, g.b.ld)?
                };
                let (av, _) = fx.load(g.a.buf, ai)?;
                let (bv, _) = fx.load(g.b.buf, bi)?;
                let old = fx.g.b.build_load(t, acc, "")?;
                let new = multiply_add(fx, d, av, bv, old)?;
                fx.g.b.build_store(acc, new)?;
                Ok(())
            })?;
            let b = &fx.g.b;
            let row = b.build_int_mul(i, fx.idx.const_int(g.c.ld, false), "")?;
            let ci = b.build_int_add(b.build_int_add(oc, row, "")?, j, "")?;
            let v = fx.g.b.build_load(t, acc, "")?;
            finish(fx, g, d, v, ci)
        })?;
    }
    fx.sync(size)
}
