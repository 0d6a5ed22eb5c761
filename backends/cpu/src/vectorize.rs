//! Which innermost loops run as 128-bit SIMD, and how.
//!
//! A loop qualifies when its body is straight-line code (lets, stores,
//! accumulator updates), every value in it fits one lane count (4 for 32-bit
//! dtypes, 2 for 64-bit; bools are masks of either), it touches memory
//! contiguously in the loop variable (or not depending on it at all; bools
//! may be anywhere, one lane at a time), and no
//! iteration reads what another writes. The translator then runs
//! `lanes` iterations at a time and the remainder as a scalar tail.
//! Accumulators — a local of an enclosing block updated as
//! `t = op(t, e)` with an associative `op` — become vector accumulators,
//! combined into the local after the vector part. A store
//! `acc[i] = add(acc[i], cast<f64>(x))` of an f32 `x` into f64 memory (a
//! sum over leading axes) runs f32 lanes and updates two f64 halves.

use crate::typing::dtype_of;
use std::collections::{HashMap, HashSet};
use tfg_ir::kernel::{BufId, Expr, Index, Local, Program, Ranges, Stmt, Var};
use tfg_ir::{BinaryOp, DType};

/// How a vectorisable loop is emitted.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VectorLoop {
    /// Iterations per vector step.
    pub lanes: u8,
    pub accumulators: Vec<Accumulator>,
}

/// `local = op(local, e)` (or `op(e, local)`), once per iteration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Accumulator {
    pub local: Local,
    pub op: BinaryOp,
    pub dtype: DType,
    /// `e` is `cast<f64>(x)` of an f32 `x` (how sums of f32 accumulate):
    /// the loop runs f32 lanes, each vector widened into two f64 halves.
    pub widen: bool,
}

/// How an access moves with the loop variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Consecutive iterations touch consecutive elements.
    Contiguous,
    /// Every iteration touches the same element.
    Invariant,
    /// Anything else: one element a lane.
    Scattered,
}

/// How `index` (canonical, from [`Ranges::affine`]) moves with `v`.
pub(crate) fn access(index: &Index, v: Var) -> Access {
    match stride(index, v) {
        Some(0) => Access::Invariant,
        Some(1) => Access::Contiguous,
        _ => Access::Scattered,
    }
}

/// The coefficient of `v` in `index`, if `index` is linear in `v`.
fn stride(index: &Index, v: Var) -> Option<u64> {
    match index {
        Index::Const(_) => Some(0),
        Index::Var(w) => Some(u64::from(*w == v)),
        Index::Add(a, b) => stride(a, v)?.checked_add(stride(b, v)?),
        Index::Mul(a, c) => stride(a, v)?.checked_mul(*c),
        Index::Div(a, _) | Index::Rem(a, _) => {
            let mut uses = false;
            a.vars(&mut |w| uses |= w == v);
            (!uses).then_some(0)
        }
    }
}

/// Lanes of a 128-bit vector of `d`; `None` for bool, which fits any.
pub(crate) fn lanes_of(d: DType) -> Option<u8> {
    match d {
        DType::F32 | DType::I32 => Some(4),
        DType::F64 | DType::I64 => Some(2),
        DType::Bool => None,
    }
}

/// Whether `op` on `lanes`-wide vectors of `d` has a vector instruction
/// sequence (the rest run lane by lane).
pub(crate) fn native_binary(op: BinaryOp, d: DType, lanes: u8) -> bool {
    use BinaryOp::*;
    match (d, op) {
        (_, Pow) => false,
        (DType::F32 | DType::F64, _) => true,
        (DType::I32, Div) => false,
        (DType::I32, _) => true,
        (DType::I64, Add | Sub | Eq | Ne) => true,
        (DType::I64, _) => false,
        (DType::Bool, Eq | Ne) => lanes > 1,
        (DType::Bool, _) => false,
    }
}

/// Decides whether the loop `for v in … { body }` is vectorised.
/// `outer` gives the dtype of each local of the enclosing blocks;
/// `ranges` knows the extents of every loop variable in scope.
pub(crate) fn analyse(
    p: &Program,
    v: Var,
    reduce: &[(Local, BinaryOp)],
    body: &[Stmt],
    outer: &HashMap<Local, DType>,
    ranges: &Ranges,
) -> Option<VectorLoop> {
    let mut locals = outer.clone();
    let mut inner: HashSet<Local> = HashSet::new();
    let mut widths: HashSet<u8> = HashSet::new();
    let mut accumulators = Vec::new();
    let mut stored: HashMap<BufId, Vec<Index>> = HashMap::new();
    let mut loads: Vec<(BufId, Index)> = Vec::new();
    let mut dense = false;
    for s in body {
        let (value, target) = match s {
            Stmt::Let {
                local,
                dtype,
                value,
            } => (value, Some((*local, *dtype))),
            Stmt::Store { buf, index, value } => {
                let index = ranges.affine(index).to_index();
                let d = p.buffer(*buf)?.dtype;
                match access(&index, v) {
                    Access::Contiguous => dense = true,
                    Access::Scattered if d != DType::Bool => return None,
                    _ => {}
                }
                // A column sum's `acc[k] = acc[k] + cast<f64>(x)`: f32 lanes,
                // the update done in two f64 halves.
                if let Some((_, x)) =
                    widening_update(p, *buf, &index, value, ranges, &|l| locals.get(&l).copied())
                {
                    widths.insert(4);
                    loads.push((*buf, index.clone()));
                    stored.entry(*buf).or_default().push(index);
                    (x, None)
                } else {
                    stored.entry(*buf).or_default().push(index);
                    (value, None)
                }
            }
            Stmt::Assign { local, value } if inner.contains(local) => (value, None),
            Stmt::Assign { local, value } => {
                // Only a reduction loop's own accumulators (the verifier
                // has checked their form) run as vectors.
                let &(_, op) = reduce.iter().find(|(t, _)| t == local)?;
                let (acc, operand) = accumulator(p, *local, op, value, &locals)?;
                if accumulators.iter().any(|a: &Accumulator| a.local == *local) {
                    return None;
                }
                if acc.widen {
                    widths.insert(4);
                } else {
                    widths.extend(lanes_of(acc.dtype));
                }
                accumulators.push(acc);
                (operand, None)
            }
            Stmt::Loop { .. } | Stmt::Gemm(_) => return None,
        };
        let mut ok = true;
        value.walk(&mut |e| {
            match e {
                Expr::Load { buf, index } => loads.push((*buf, ranges.affine(index).to_index())),
                Expr::Index(_) => {
                    widths.insert(2);
                }
                _ => {}
            }
            match dtype_of(p, e, &|l| locals.get(&l).copied()) {
                Some(d) => widths.extend(lanes_of(d)),
                None => ok = false,
            }
        });
        if !ok {
            return None;
        }
        if let Some((l, d)) = target {
            widths.extend(lanes_of(d));
            locals.insert(l, d);
            inner.insert(l);
        }
    }
    for (buf, index) in &loads {
        let d = p.buffer(*buf)?.dtype;
        let kind = access(index, v);
        if kind == Access::Contiguous {
            dense = true;
        }
        if kind == Access::Scattered && d != DType::Bool {
            return None;
        }
        // A buffer written in the loop is read only where the same
        // iteration writes it.
        if let Some(writes) = stored.get(buf) {
            if kind != Access::Contiguous || writes.iter().any(|w| w != index) {
                return None;
            }
        }
    }
    for writes in stored.values() {
        if writes.iter().any(|w| access(w, v) != Access::Contiguous) && writes.len() > 1 {
            return None;
        }
    }
    let lanes = match widths.len() {
        // All bools: 4 lanes of 32-bit masks.
        0 => 4,
        1 => widths.into_iter().next()?,
        _ => return None,
    };
    if accumulators
        .iter()
        .any(|a| !a.widen && !native_binary(a.op, a.dtype, lanes))
    {
        return None;
    }
    (dense || !accumulators.is_empty()).then_some(VectorLoop {
        lanes,
        accumulators,
    })
}

/// `buf[index] = add(buf[index], cast<f64>(x))` (either operand order) with
/// an f32 `x` into an f64 buffer, `index` canonical: how a reduction over
/// leading axes accumulates f32 in memory. Gives the op and `x`.
pub(crate) fn widening_update<'e>(
    p: &Program,
    buf: BufId,
    index: &Index,
    value: &'e Expr,
    ranges: &Ranges,
    local: &impl Fn(Local) -> Option<DType>,
) -> Option<(BinaryOp, &'e Expr)> {
    if p.buffer(buf)?.dtype != DType::F64 {
        return None;
    }
    let Expr::Binary(op @ BinaryOp::Add, a, b) = value else {
        return None;
    };
    let is_acc = |e: &Expr| {
        matches!(e, Expr::Load { buf: lb, index: li }
            if *lb == buf && ranges.affine(li).to_index() == *index)
    };
    let operand = if is_acc(a) {
        b
    } else if is_acc(b) {
        a
    } else {
        return None;
    };
    let Expr::Cast(DType::F64, x) = &**operand else {
        return None;
    };
    (dtype_of(p, x, local)? == DType::F32).then_some((*op, &**x))
}

/// The accumulator `local` of a reduction loop, updated by `op` as `value`
/// (`op(local, e)` or `op(e, local)`); gives it and the `e` each iteration
/// computes. `None` for bool, which runs no vector accumulator.
fn accumulator<'e>(
    p: &Program,
    local: Local,
    op: BinaryOp,
    value: &'e Expr,
    locals: &HashMap<Local, DType>,
) -> Option<(Accumulator, &'e Expr)> {
    let Expr::Binary(_, a, b) = value else {
        return None;
    };
    let operand: &Expr = if **a == Expr::Local(local) { b } else { a };
    let dtype = *locals.get(&local)?;
    if dtype == DType::Bool {
        return None;
    }
    if let Expr::Cast(DType::F64, x) = operand {
        if op == BinaryOp::Add && dtype_of(p, x, &|l| locals.get(&l).copied()) == Some(DType::F32) {
            return Some((
                Accumulator {
                    local,
                    op,
                    dtype,
                    widen: true,
                },
                x,
            ));
        }
    }
    Some((
        Accumulator {
            local,
            op,
            dtype,
            widen: false,
        },
        operand,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfg_ir::kernel::parse;

    /// The analysis of the innermost loop of the program's only kernel.
    fn analyse_text(text: &str) -> Option<VectorLoop> {
        let p = parse(text).expect("test program parses");
        let mut ranges = Ranges::new();
        let mut outer = HashMap::new();
        let mut body = &p.kernels[0].body;
        let mut reduce = Vec::new();
        loop {
            let mut next = None;
            for s in body {
                match s {
                    Stmt::Loop {
                        var,
                        extent,
                        kind,
                        body: b,
                    } => {
                        ranges.set(*var, *extent);
                        next = Some((*var, b));
                        reduce = kind.accumulators().to_vec();
                    }
                    Stmt::Let { local, dtype, .. } => {
                        outer.insert(*local, *dtype);
                    }
                    _ => {}
                }
            }
            let (v, b) = next.expect("a loop");
            if !b.iter().any(|s| matches!(s, Stmt::Loop { .. })) {
                return analyse(&p, v, &reduce, b, &outer, &ranges);
            }
            body = b;
        }
    }

    #[test]
    fn contiguous_elementwise_loop_is_vectorised() {
        let v = analyse_text(
            "program { buffer b0: f32[7] input 0  buffer b1: f32[7] output 0  arena 0
               kernel k reads b0 writes b1 { parallel for i0 in 0..7 { store b1[i0] = mul(b0[i0], b0[0]) } } }",
        );
        assert_eq!(
            v,
            Some(VectorLoop {
                lanes: 4,
                accumulators: vec![]
            })
        );
    }

    #[test]
    fn row_sum_uses_a_vector_accumulator() {
        let v = analyse_text(
            "program { buffer b0: f64[3, 5] input 0  buffer b1: f64[3] output 0  arena 0
               kernel k reads b0 writes b1 { parallel for i0 in 0..3 {
                 let t0: f64 = 0.0f64
                 reduce(t0: add) for i1 in 0..5 { t0 = add(t0, b0[i0 * 5 + i1]) }
                 store b1[i0] = t0 } } }",
        );
        let acc = Accumulator {
            local: Local(0),
            op: BinaryOp::Add,
            dtype: DType::F64,
            widen: false,
        };
        assert_eq!(
            v,
            Some(VectorLoop {
                lanes: 2,
                accumulators: vec![acc]
            })
        );
    }

    #[test]
    fn an_update_the_loop_does_not_declare_stays_scalar() {
        // The same sum in a loop lowering did not mark as a reduction: the
        // backend does not guess.
        let v = analyse_text(
            "program { buffer b0: f64[3, 5] input 0  buffer b1: f64[3] output 0  arena 0
               kernel k reads b0 writes b1 { parallel for i0 in 0..3 {
                 let t0: f64 = 0.0f64
                 for i1 in 0..5 { t0 = add(t0, b0[i0 * 5 + i1]) }
                 store b1[i0] = t0 } } }",
        );
        assert_eq!(v, None);
    }

    #[test]
    fn f32_sum_in_f64_widens_f32_lanes() {
        let v = analyse_text(
            "program { buffer b0: f32[3, 9] input 0  buffer b1: f64[3] output 0  arena 0
               kernel k reads b0 writes b1 { parallel for i0 in 0..3 {
                 let t0: f64 = 0.0f64
                 reduce(t0: add) for i1 in 0..9 { t0 = add(t0, cast<f64>(exp(b0[i0 * 9 + i1]))) }
                 store b1[i0] = t0 } } }",
        );
        let acc = Accumulator {
            local: Local(0),
            op: BinaryOp::Add,
            dtype: DType::F64,
            widen: true,
        };
        assert_eq!(
            v,
            Some(VectorLoop {
                lanes: 4,
                accumulators: vec![acc]
            })
        );
    }

    #[test]
    fn transposed_and_mixed_width_loops_stay_scalar() {
        let transposed = analyse_text(
            "program { buffer b0: f32[4, 4] input 0  buffer b1: f32[4, 4] output 0  arena 0
               kernel k reads b0 writes b1 { parallel for i0 in 0..4 { for i1 in 0..4 {
                 store b1[i0 * 4 + i1] = b0[i1 * 4 + i0] } } } }",
        );
        assert_eq!(transposed, None);
        let mixed = analyse_text(
            "program { buffer b0: f32[4] input 0  buffer b1: f64[4] output 0  arena 0
               kernel k reads b0 writes b1 { parallel for i0 in 0..4 { store b1[i0] = cast<f64>(b0[i0]) } } }",
        );
        assert_eq!(mixed, None);
    }

    #[test]
    fn a_column_sum_into_f64_memory_widens_f32_lanes() {
        let v = analyse_text(
            "program { buffer b0: f32[3, 9] input 0  buffer b1: f64[9] output 0  arena 0
               kernel k reads b0, b1 writes b1 { for i0 in 0..3 { for i1 in 0..9 {
                 store b1[i1] = add(b1[i1], cast<f64>(exp(b0[i0 * 9 + i1]))) } } } }",
        );
        assert_eq!(
            v,
            Some(VectorLoop {
                lanes: 4,
                accumulators: vec![]
            })
        );
        // The same update at another element of the buffer is not one.
        let shifted = analyse_text(
            "program { buffer b0: f32[3, 9] input 0  buffer b1: f64[10] output 0  arena 0
               kernel k reads b0, b1 writes b1 { for i0 in 0..3 { for i1 in 0..9 {
                 store b1[i1] = add(b1[i1 + 1], cast<f64>(b0[i0 * 9 + i1])) } } } }",
        );
        assert_eq!(shifted, None);
    }

    #[test]
    fn a_reduction_into_memory_stays_scalar() {
        let v = analyse_text(
            "program { buffer b0: f32[8] input 0  buffer b1: f32[1] output 0  arena 0
               kernel k reads b0, b1 writes b1 { for i0 in 0..8 { store b1[0] = add(b1[0], b0[i0]) } } }",
        );
        assert_eq!(v, None);
    }
}
