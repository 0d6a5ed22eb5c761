//! Sliding-window builtins: `conv2d`, `max_pool` and `avg_pool` (NHWC), as
//! TensorFlow computes them.
//!
//! A window of `KH × KW` taps becomes `KH · KW` strided `slice`s of the padded
//! input ("taps"), each shaped like the output. A convolution joins its taps
//! along the channels (an explicit im2col) and multiplies by the filter
//! reshaped to `[KH·KW·C, K]`: one matmul, which the GEMM path runs (a
//! 3 × 3, stride-1 one large enough runs as Winograd's F(2×2, 3×3) instead,
//! in [`crate::winograd`]); a depthwise convolution multiplies each tap by
//! its filter row and adds; a pool takes the `maximum` or the sum of its
//! taps. Gradients come from those ops: the slices' gradients scatter back
//! into the padded input.

use crate::ast::{Expr, ExprKind};
use crate::diag::Diagnostic;
use crate::lower::At;
use crate::lower::{GraphLowerer, Lowered, Val};
use crate::signature::Composite;
use tfg_ir::{BinaryOp, DType, Data, Dim, Op, Shape, Tensor, ValueId};

/// How the input is padded before the windows slide.
enum Padding {
    Valid,
    /// TensorFlow's rule: the output has `ceil(H / stride)` rows; the extra
    /// padding row (if the total is odd) goes at the bottom.
    Same,
    /// `[[top, bottom], [left, right]]`.
    Explicit([(u64, u64); 2]),
}

/// One spatial axis of a window: taps, dilation, stride, padding.
#[derive(Clone, Copy)]
struct Axis {
    size: u64,
    taps: u64,
    dilation: u64,
    stride: u64,
    pad: (u64, u64),
    out: u64,
}

impl Axis {
    fn new(
        size: u64,
        taps: u64,
        dilation: u64,
        stride: u64,
        padding: &Padding,
        k: usize,
    ) -> Option<Axis> {
        let span = (taps - 1).checked_mul(dilation)?.checked_add(1)?;
        let pad = match padding {
            Padding::Valid => (0, 0),
            Padding::Same => {
                let out = size.div_ceil(stride);
                let total = ((out.max(1) - 1) * stride + span).saturating_sub(size);
                (total / 2, total - total / 2)
            }
            Padding::Explicit(p) => p[k],
        };
        let padded = size.checked_add(pad.0)?.checked_add(pad.1)?;
        let out = padded.checked_sub(span)? / stride + 1;
        Some(Axis {
            size,
            taps,
            dilation,
            stride,
            pad,
            out,
        })
    }
}

impl GraphLowerer<'_, '_> {
    /// Lowers `conv2d`, `max_pool` or `avg_pool`.
    pub(crate) fn window(&mut self, c: Composite, at: At, bound: &[Option<&Expr>]) -> Lowered<Val> {
        let arg = |k: usize| bound.get(k).copied().flatten();
        let x = arg(0).ok_or(crate::lower::Reported)?;
        let x = self.lower_expr(x)?;
        let (x, w) = if c == Composite::Conv2d {
            let w = self.lower_expr(arg(1).ok_or(crate::lower::Reported)?)?;
            let ids = self.unify(vec![x, w])?;
            (ids[0], Some(ids[1]))
        } else {
            (self.float_tensor(x)?, None)
        };
        let xt = self.ty(x).clone();
        if !xt.dtype.is_float() || xt.shape.rank() != 4 {
            return Err(self.error(
                Diagnostic::error(format!(
                    "`{}` needs a float input shaped [N, H, W, C], got {xt}",
                    at.name
                ))
                .at(at.span),
            ));
        }
        let (h, wd, ch) = (
            self.known_dim(at, x, 1)?,
            self.known_dim(at, x, 2)?,
            self.known_dim(at, x, 3)?,
        );
        let padding = self.padding(arg(3))?;
        let v = match w {
            Some(w) => {
                let wt = self.ty(w).clone();
                let dims: Option<Vec<u64>> = wt.shape.0.iter().map(Dim::known).collect();
                let Some(&[kh, kw, cg, k]) = dims.as_deref() else {
                    return Err(self.error(
                        Diagnostic::error(format!(
                            "`conv2d` needs a filter shaped [KH, KW, C / groups, K] with known sizes, got {wt}"
                        ))
                        .at(at.span),
                    ));
                };
                let stride = self.pair(arg(2), 1)?;
                let dilation = self.pair(arg(4), 1)?;
                let groups = match arg(5) {
                    Some(g) => self.static_int(g)?,
                    None => 1,
                };
                let ok = groups >= 1
                    && cg >= 1
                    && cg.checked_mul(groups as u64) == Some(ch)
                    && k % groups as u64 == 0;
                if !ok {
                    return Err(self.error(
                        Diagnostic::error(format!(
                            "`conv2d` with groups = {groups}: the input has {ch} channels and the filter {wt}; \
                             the filter's third dim must be C / groups and its last a multiple of groups"
                        ))
                        .at(at.span),
                    ));
                }
                let axes = self.axes_of(at, [h, wd], [kh, kw], dilation, stride, &padding)?;
                let out = [axes[0].out, axes[1].out];
                let batch_known = xt.shape.0[0].known().is_some();
                let zero = self.scalar(at, xt.dtype, 0.0)?;
                if groups == 1
                    && [kh, kw, stride[0], stride[1], dilation[0], dilation[1]]
                        == [3, 3, 1, 1, 1, 1]
                    && batch_known
                    && crate::winograd::pays(out[0], out[1], ch, k)
                {
                    // Winograd's input tiles: the taps of a 4 × 4 window,
                    // stride 2, over the input padded to whole tiles.
                    let pads = crate::winograd::padding([h, wd], out, [axes[0].pad, axes[1].pad]);
                    let tiles = self.axes_of(
                        at,
                        [h, wd],
                        [4, 4],
                        [1, 1],
                        [2, 2],
                        &Padding::Explicit(pads),
                    )?;
                    let taps = self.taps(at, x, &tiles, zero)?;
                    let v = self.winograd(at, &taps, w, out)?;
                    return Ok(Val::Tensor(v));
                }
                let taps = self.taps(at, x, &axes, zero)?;
                self.convolve(at, &taps, w, [kh, kw, cg, k], groups as u64)?
            }
            None => {
                let size = self.pair(arg(1), 1)?;
                let stride = match arg(2) {
                    Some(_) => self.pair(arg(2), 1)?,
                    None => size,
                };
                let axes = self.axes_of(at, [h, wd], size, [1, 1], stride, &padding)?;
                if c == Composite::MaxPool {
                    let low = self.scalar(at, xt.dtype, f64::NEG_INFINITY)?;
                    let taps = self.taps(at, x, &axes, low)?;
                    let mut m = taps[0];
                    for &t in &taps[1..] {
                        m = self.bin(at, BinaryOp::Maximum, m, t)?;
                    }
                    m
                } else {
                    let zero = self.scalar(at, xt.dtype, 0.0)?;
                    let taps = self.taps(at, x, &axes, zero)?;
                    let mut s = taps[0];
                    for &t in &taps[1..] {
                        s = self.bin(at, BinaryOp::Add, s, t)?;
                    }
                    let count = self.counts(at, xt.dtype, &axes)?;
                    self.bin(at, BinaryOp::Div, s, count)?
                }
            }
        };
        Ok(Val::Tensor(v))
    }

    /// An integer or `[h, w]`, each at least 1.
    fn pair(&mut self, e: Option<&Expr>, default: u64) -> Lowered<[u64; 2]> {
        let Some(e) = e else {
            return Ok([default; 2]);
        };
        match *self.static_ints(e)?.as_slice() {
            [n] if n >= 1 => Ok([n as u64; 2]),
            [a, b] if a >= 1 && b >= 1 => Ok([a as u64, b as u64]),
            _ => Err(self.error(
                Diagnostic::error("expected a positive integer or a pair `[h, w]` of them")
                    .at(e.span),
            )),
        }
    }

    fn padding(&mut self, e: Option<&Expr>) -> Lowered<Padding> {
        let Some(e) = e else {
            return Ok(Padding::Valid);
        };
        match &e.kind {
            ExprKind::Str(s) if s == "valid" => return Ok(Padding::Valid),
            ExprKind::Str(s) if s == "same" => return Ok(Padding::Same),
            ExprKind::Array(rows) if rows.len() == 2 => {
                let mut p = [(0, 0); 2];
                let mut ok = true;
                for (slot, row) in p.iter_mut().zip(rows) {
                    match self.static_ints(row)?.as_slice() {
                        &[a, b] if a >= 0 && b >= 0 && matches!(row.kind, ExprKind::Array(_)) => {
                            *slot = (a as u64, b as u64)
                        }
                        _ => ok = false,
                    }
                }
                if ok {
                    return Ok(Padding::Explicit(p));
                }
            }
            _ => {}
        }
        Err(self.error(
            Diagnostic::error(
                "`padding` must be \"valid\", \"same\" or `[[top, bottom], [left, right]]`",
            )
            .at(e.span),
        ))
    }

    fn axes_of(
        &mut self,
        at: At,
        size: [u64; 2],
        taps: [u64; 2],
        dilation: [u64; 2],
        stride: [u64; 2],
        padding: &Padding,
    ) -> Lowered<[Axis; 2]> {
        let mut out = Vec::new();
        for k in 0..2 {
            match Axis::new(size[k], taps[k], dilation[k], stride[k], padding, k) {
                Some(a) if taps[k] >= 1 => out.push(a),
                _ => {
                    return Err(self.error(
                        Diagnostic::error(format!(
                        "`{}`: a window of {} taps (dilation {}) does not fit in {} {} of input",
                        at.name,
                        taps[k],
                        dilation[k],
                        size[k],
                        if k == 0 { "rows" } else { "columns" }
                    ))
                        .at(at.span),
                    ))
                }
            }
        }
        Ok([out[0], out[1]])
    }

    /// The padded input's strided views, one a tap, in row-major tap order.
    fn taps(
        &mut self,
        at: At,
        x: ValueId,
        axes: &[Axis; 2],
        fill: ValueId,
    ) -> Lowered<Vec<ValueId>> {
        let pads = [(0, 0), axes[0].pad, axes[1].pad, (0, 0)];
        let xp = self.pad(at, x, &pads, fill)?;
        let mut shape = self.ty(xp).shape.clone();
        shape.0[1] = Dim::Known(axes[0].out);
        shape.0[2] = Dim::Known(axes[1].out);
        let mut taps = Vec::new();
        for i in 0..axes[0].taps {
            for j in 0..axes[1].taps {
                let start = vec![0, i * axes[0].dilation, j * axes[1].dilation, 0];
                let step = vec![1, axes[0].stride, axes[1].stride, 1];
                let same = self.ty(xp).shape == shape && start.iter().all(|&s| s == 0);
                taps.push(if same {
                    xp
                } else {
                    self.op(
                        at,
                        Op::Slice {
                            start,
                            step,
                            shape: shape.clone(),
                        },
                        &[xp],
                    )?
                });
            }
        }
        Ok(taps)
    }

    /// The convolution of the taps with filter `w` (`[KH, KW, C/G, K]`).
    fn convolve(
        &mut self,
        at: At,
        taps: &[ValueId],
        w: ValueId,
        [kh, kw, cg, k]: [u64; 4],
        groups: u64,
    ) -> Lowered<ValueId> {
        if cg == 1 && k == groups {
            // Depthwise: each channel against its own filter, no matmul.
            let mut sum = None;
            for (t, &tap) in taps.iter().enumerate() {
                let (i, j) = (t as u64 / kw, t as u64 % kw);
                let row = self.op(
                    at,
                    Op::Slice {
                        start: vec![i, j, 0, 0],
                        step: vec![1; 4],
                        shape: Shape(vec![
                            Dim::Known(1),
                            Dim::Known(1),
                            Dim::Known(1),
                            Dim::Known(k),
                        ]),
                    },
                    &[w],
                )?;
                let p = self.bin(at, BinaryOp::Mul, tap, row)?;
                sum = Some(match sum {
                    Some(s) => self.bin(at, BinaryOp::Add, s, p)?,
                    None => p,
                });
            }
            return sum.ok_or(crate::lower::Reported);
        }
        let kg = k / groups;
        let mut outs = Vec::new();
        for g in 0..groups {
            let mut cols = Vec::new();
            for &tap in taps {
                cols.push(self.slice_axis(at, tap, 3, g * cg, 1, cg)?);
            }
            let cols = if cols.len() == 1 {
                cols[0]
            } else {
                self.op(at, Op::Concat { axis: 3 }, &cols)?
            };
            let wg = self.slice_axis(at, w, 3, g * kg, 1, kg)?;
            let wg = self.reshape(at, wg, vec![Dim::Known(kh * kw * cg), Dim::Known(kg)])?;
            outs.push(self.op(at, Op::MatMul, &[cols, wg])?);
        }
        if outs.len() == 1 {
            return Ok(outs[0]);
        }
        self.op(at, Op::Concat { axis: 3 }, &outs)
    }

    /// How many real (not padding) elements each output's window covers: a
    /// scalar where that is the same everywhere, else `[OH, OW, 1]`.
    fn counts(&mut self, at: At, dtype: DType, axes: &[Axis; 2]) -> Lowered<ValueId> {
        let per_axis = |a: &Axis| -> Vec<u64> {
            (0..a.out)
                .map(|o| {
                    (0..a.taps)
                        .filter(|t| {
                            let p = o * a.stride + t * a.dilation;
                            p >= a.pad.0 && p - a.pad.0 < a.size
                        })
                        .count() as u64
                })
                .collect()
        };
        let (rows, cols) = (per_axis(&axes[0]), per_axis(&axes[1]));
        let all: Vec<f64> = rows
            .iter()
            .flat_map(|&r| cols.iter().map(move |&c| (r * c) as f64))
            .collect();
        if all.windows(2).all(|w| w[0] == w[1]) {
            return self.scalar(at, dtype, all.first().copied().unwrap_or(1.0));
        }
        self.constant(
            at,
            Tensor {
                shape: vec![rows.len(), cols.len(), 1],
                data: Data::from_f64(dtype, all),
            },
        )
    }
}
