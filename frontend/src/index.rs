//! numpy basic indexing with constant indices: `x[1:3, :, 0]`, `x[..., ::-1]`.
//!
//! Every entry becomes a range over its axis, with numpy's clamping: an
//! integer `i` is the range `i:i+1` whose axis is then dropped (by a
//! `reshape`), `...` stands for the axes no entry names, and missing entries
//! at the end are `:`. Positive steps are one `slice` op over all axes; an
//! axis with a negative step is sliced forwards, then reversed by a constant
//! mask (see [`crate::composite`]). An index out of range is an error here,
//! at compile time.

use crate::ast::{Expr, IndexItem, Span};
use crate::diag::Diagnostic;
use crate::lower::At;
use crate::lower::{GraphLowerer, Lowered, Val};
use tfg_ir::{Dim, Op, Shape};

/// One axis of the result of an index: where it reads, and whether the
/// axis survives.
struct Pick {
    start: u64,
    step: u64,
    len: Dim,
    reverse: bool,
    keep: bool,
}

impl GraphLowerer<'_, '_> {
    /// Lowers `base[items]`.
    pub(crate) fn index(&mut self, base: &Expr, items: &[IndexItem], span: Span) -> Lowered<Val> {
        let at = At {
            span,
            name: "indexing",
        };
        let x = self.lower_expr(base)?;
        let x = self.tensor(x)?;
        let ty = self.ty(x).clone();
        let rank = ty.shape.rank();
        let ellipses = items
            .iter()
            .filter(|i| matches!(i, IndexItem::Ellipsis(_)))
            .count();
        let named = items.len() - ellipses;
        if ellipses > 1 || named > rank {
            let why = if ellipses > 1 {
                "an index can have only one `...`".to_string()
            } else {
                format!("{named} indices for {ty}, which has {rank} axes")
            };
            return Err(self.error(Diagnostic::error(why).at(span)));
        }
        let mut picks = Vec::with_capacity(rank);
        let mut axis = 0;
        for item in items {
            if let IndexItem::Ellipsis(_) = item {
                for _ in 0..rank - named {
                    picks.push(Pick::whole(ty.shape.0[axis].clone()));
                    axis += 1;
                }
                continue;
            }
            let dim = ty.shape.0[axis].clone();
            picks.push(self.pick(item, &dim, axis, &ty.to_string())?);
            axis += 1;
        }
        while axis < rank {
            picks.push(Pick::whole(ty.shape.0[axis].clone()));
            axis += 1;
        }

        let whole = picks
            .iter()
            .zip(&ty.shape.0)
            .all(|(p, d)| p.start == 0 && p.step == 1 && p.len == *d);
        let mut v = x;
        if !whole {
            v = self.op(
                at,
                Op::Slice {
                    start: picks.iter().map(|p| p.start).collect(),
                    step: picks.iter().map(|p| p.step).collect(),
                    shape: Shape(picks.iter().map(|p| p.len.clone()).collect()),
                },
                &[v],
            )?;
        }
        for (a, p) in picks.iter().enumerate() {
            if p.reverse {
                v = self.mask_sum(at, v, a, |i, j, n| i + j + 1 == n)?;
            }
        }
        let kept: Vec<Dim> = picks
            .iter()
            .filter(|p| p.keep)
            .map(|p| p.len.clone())
            .collect();
        Ok(Val::Tensor(self.reshape(at, v, kept)?))
    }

    fn pick(&mut self, item: &IndexItem, dim: &Dim, axis: usize, ty: &str) -> Lowered<Pick> {
        let (start, stop, step, span) = match item {
            IndexItem::At(e) => {
                let i = self.static_int(e)?;
                let n = self.index_dim(dim, axis, ty, e.span)?;
                let k = if i < 0 { i + n as i64 } else { i };
                if k < 0 || k >= n as i64 {
                    return Err(self.error(
                        Diagnostic::error(format!(
                            "index {i} is out of range for axis {axis} of {ty}, of size {n}"
                        ))
                        .at(e.span),
                    ));
                }
                return Ok(Pick {
                    start: k as u64,
                    step: 1,
                    len: Dim::Known(1),
                    reverse: false,
                    keep: false,
                });
            }
            IndexItem::Range {
                start,
                stop,
                step,
                span,
            } => (start, stop, step, *span),
            IndexItem::Ellipsis(_) => return Ok(Pick::whole(dim.clone())),
        };
        let step = match step {
            Some(e) => {
                let s = self.static_int(e)?;
                if s == 0 {
                    return Err(
                        self.error(Diagnostic::error("a slice step cannot be 0").at(e.span))
                    );
                }
                s
            }
            None => 1,
        };
        if start.is_none() && stop.is_none() && step == 1 {
            return Ok(Pick::whole(dim.clone()));
        }
        let n = self.index_dim(dim, axis, ty, span)? as i64;
        let bound =
            |this: &mut Self, e: &Option<Box<Expr>>, lo: i64, hi: i64| -> Lowered<Option<i64>> {
                match e {
                    Some(e) => {
                        let i = this.static_int(e)?;
                        let i = if i < 0 { i + n } else { i };
                        Ok(Some(i.clamp(lo, hi)))
                    }
                    None => Ok(None),
                }
            };
        // numpy's slice.indices: clamped into [0, n] going forwards and
        // [-1, n - 1] going backwards.
        let (first, len) = if step > 0 {
            let b = bound(self, start, 0, n)?.unwrap_or(0);
            let e = bound(self, stop, 0, n)?.unwrap_or(n);
            let len = if e > b { (e - b + step - 1) / step } else { 0 };
            (b, len)
        } else {
            let b = bound(self, start, -1, n - 1)?.unwrap_or(n - 1);
            let e = bound(self, stop, -1, n - 1)?.unwrap_or(-1);
            let len = if b > e { (b - e - step - 1) / -step } else { 0 };
            // Forwards from the last element reached, then reversed.
            (b + step * (len - 1).max(0), len)
        };
        Ok(Pick {
            start: if len == 0 { 0 } else { first as u64 },
            step: step.unsigned_abs(),
            len: Dim::Known(len as u64),
            reverse: step < 0 && len > 1,
            keep: true,
        })
    }

    /// The size of an axis that an index narrows: it must be known.
    fn index_dim(&mut self, dim: &Dim, axis: usize, ty: &str, span: Span) -> Lowered<u64> {
        match dim {
            Dim::Known(n) => Ok(*n),
            Dim::Sym(s) => Err(self.error(
                Diagnostic::error(format!(
                    "axis {axis} of {ty} has the symbolic size `{s}`; only `:` can index it"
                ))
                .at(span),
            )),
        }
    }
}

impl Pick {
    fn whole(len: Dim) -> Pick {
        Pick {
            start: 0,
            step: 1,
            len,
            reverse: false,
            keep: true,
        }
    }
}
