//! Builtins that are compositions of IR ops (docs/language.md, "Builtins").
//!
//! Each is expanded here, where the call is lowered, so that passes and
//! backends see only the IR's small op set and every composite gets its
//! gradient from the ops it is made of. Where a branch of a `where` could
//! overflow on the inputs it does not select, its input is clamped first, so
//! that no NaN leaks into the gradient through the unselected side.
//!
//! | builtin | expansion |
//! |---|---|
//! | `log1p(x)` | `u = 1 + x`; `where(u - 1 == 0, x, log(u) · x / (u - 1))` (exact for small `x`) |
//! | `expm1(x)` | `u = exp(x)`; `where(u == 1, x, (u - 1) · x / log(u))`, `-1` and `inf` at the ends |
//! | `erf(x)` | Taylor series below 0.5, else `1 - erfc(|x|)` by a Chebyshev fit (relative error < 1.2e-7) |
//! | `gelu(x)` | `x/2 · erfc(-x/√2)`; `approximate = true`: `x/2 · (1 + tanh(u))`, `u = √(2/π)(x + 0.044715x³)`, computed as `x · sigmoid(2u)` |
//! | `softplus(x)` | `relu(x) + log1p(exp(-|x|))` |
//! | `silu(x)`, `elu(x)`, `leaky_relu(x, alpha)` | `x · sigmoid(x)`; `where(x > 0, x, expm1(x))`; `where(x > 0, x, alpha · x)` |
//! | `clip(x, lo, hi)` | `minimum(maximum(x, lo), hi)` |
//! | `logical_and(a, b)`, `logical_or(a, b)` | `where(a, b, false)`, `where(a, true, b)` |
//! | `logsumexp(x)` | `m + log(sum(exp(x - m)))`, `m = stop_gradient(max(x))` |
//! | `var(x)`, `std(x)` | `mean(square(x - mean(x)))`, its `sqrt` |
//! | `cumsum(x, axis)`, `take(x, i, axis)`, reversal | a mask `[n, n]` selecting, then `reduce_sum` (O(n²) per row) |
//! | `stack`, `pad`, `tile` | `reshape`, `concat` of `broadcast_to` fills, `broadcast_to` + `reshape` |
//!
//! Convolution and pooling (in [`crate::window`]) and indexing (in
//! [`crate::index`]) are built from the same pieces and `slice`.

use crate::ast::{Expr, ExprKind, Span};
use crate::diag::Diagnostic;
use crate::literal::Scalar;
use crate::lower::{At, GraphLowerer, Lowered, Val};
use crate::signature::Composite;
use tfg_ir::{BinaryOp, DType, Data, Dim, Op, ReduceOp, Shape, Tensor, UnaryOp, ValueId};

impl GraphLowerer<'_, '_> {
    /// Lowers a call of composite builtin `c`, its arguments bound in
    /// signature order.
    pub(crate) fn composite(
        &mut self,
        c: Composite,
        at: At,
        bound: &[Option<&Expr>],
    ) -> Lowered<Val> {
        let arg = |k: usize| {
            bound
                .get(k)
                .copied()
                .flatten()
                .ok_or(crate::lower::Reported)
        };
        let v = match c {
            Composite::StopGradient => {
                let x = self.lower_expr(arg(0)?)?;
                let x = self.tensor(x)?;
                self.op(at, Op::StopGradient, &[x])?
            }
            Composite::Log1p
            | Composite::Expm1
            | Composite::Erf
            | Composite::Softplus
            | Composite::Silu
            | Composite::Elu
            | Composite::Gelu
            | Composite::LeakyRelu => {
                let x = self.lower_expr(arg(0)?)?;
                let x = self.float_tensor(x)?;
                self.require_float(at, x)?;
                match c {
                    Composite::Log1p => self.log1p(at, x)?,
                    Composite::Expm1 => self.expm1(at, x)?,
                    Composite::Erf => self.erf_parts(at, x)?.0,
                    Composite::Softplus => {
                        let r = self.un(at, UnaryOp::Relu, x)?;
                        let a = self.un(at, UnaryOp::Abs, x)?;
                        let na = self.un(at, UnaryOp::Neg, a)?;
                        let e = self.un(at, UnaryOp::Exp, na)?;
                        let l = self.log1p(at, e)?;
                        self.bin(at, BinaryOp::Add, r, l)?
                    }
                    Composite::Silu => {
                        let s = self.un(at, UnaryOp::Sigmoid, x)?;
                        self.bin(at, BinaryOp::Mul, x, s)?
                    }
                    Composite::Elu => {
                        let zero = self.scalar(at, self.ty(x).dtype, 0.0)?;
                        let pos = self.bin(at, BinaryOp::Gt, x, zero)?;
                        let neg = self.bin(at, BinaryOp::Minimum, x, zero)?;
                        let e = self.expm1(at, neg)?;
                        self.op(at, Op::Select, &[pos, x, e])?
                    }
                    Composite::LeakyRelu => {
                        let alpha = match bound.get(1).copied().flatten() {
                            Some(a) => self.static_number(a)?,
                            None => 0.2,
                        };
                        let dtype = self.ty(x).dtype;
                        let zero = self.scalar(at, dtype, 0.0)?;
                        let alpha = self.scalar(at, dtype, alpha)?;
                        let pos = self.bin(at, BinaryOp::Gt, x, zero)?;
                        let scaled = self.bin(at, BinaryOp::Mul, alpha, x)?;
                        self.op(at, Op::Select, &[pos, x, scaled])?
                    }
                    _ => {
                        let approximate = match bound.get(1).copied().flatten() {
                            Some(a) => self.static_bool(a)?,
                            None => false,
                        };
                        self.gelu(at, x, approximate)?
                    }
                }
            }
            Composite::Clip => {
                let vals = (0..3)
                    .map(|k| self.lower_expr(arg(k)?))
                    .collect::<Lowered<Vec<Val>>>()?;
                let ids = self.unify(vals)?;
                let low = self.bin(at, BinaryOp::Maximum, ids[0], ids[1])?;
                self.bin(at, BinaryOp::Minimum, low, ids[2])?
            }
            Composite::LogicalAnd | Composite::LogicalOr => {
                let a = self.lower_expr(arg(0)?)?;
                let b = self.lower_expr(arg(1)?)?;
                let a = self.tensor(a)?;
                let b = self.tensor(b)?;
                for v in [a, b] {
                    if self.ty(v).dtype != DType::Bool {
                        let ty = self.ty(v).clone();
                        return Err(self.error(
                            Diagnostic::error(format!(
                                "`{}` needs bool operands, got {ty}",
                                at.name
                            ))
                            .at(at.span),
                        ));
                    }
                }
                let and = c == Composite::LogicalAnd;
                let fixed = self.constant(
                    at,
                    Tensor {
                        shape: vec![],
                        data: Data::Bool(vec![!and]),
                    },
                )?;
                let (yes, no) = if and { (b, fixed) } else { (fixed, b) };
                self.op(at, Op::Select, &[a, yes, no])?
            }
            Composite::LogSumExp | Composite::Var | Composite::Std => {
                let x = self.lower_expr(arg(0)?)?;
                let x = self.float_tensor(x)?;
                self.require_float(at, x)?;
                let ty = self.ty(x).clone();
                let axes = match bound.get(1).copied().flatten() {
                    Some(a) => self.axes(a, &ty, 0)?,
                    None => (0..ty.shape.rank()).collect(),
                };
                let keepdims = match bound.get(2).copied().flatten() {
                    Some(k) => self.static_bool(k)?,
                    None => false,
                };
                let kept = match c {
                    Composite::LogSumExp => self.logsumexp(at, x, &axes)?,
                    _ => {
                        let m = self.reduce(at, ReduceOp::Mean, x, &axes, true)?;
                        let d = self.bin(at, BinaryOp::Sub, x, m)?;
                        let d2 = self.un(at, UnaryOp::Square, d)?;
                        let v = self.reduce(at, ReduceOp::Mean, d2, &axes, true)?;
                        if c == Composite::Std {
                            self.un(at, UnaryOp::Sqrt, v)?
                        } else {
                            v
                        }
                    }
                };
                if keepdims {
                    kept
                } else {
                    let dims: Vec<Dim> = (0..ty.shape.rank())
                        .filter(|a| !axes.contains(a))
                        .map(|a| ty.shape.0[a].clone())
                        .collect();
                    self.reshape(at, kept, dims)?
                }
            }
            Composite::Cumsum => {
                let x = self.lower_expr(arg(0)?)?;
                let mut x = self.tensor(x)?;
                self.require_numeric(at, x)?;
                let axis = match bound.get(1).copied().flatten() {
                    Some(a) => {
                        let ty = self.ty(x).clone();
                        self.axis(a, &ty, 0)?
                    }
                    None => {
                        // numpy: without an axis, over the flattened array.
                        let n = self.known_numel(at, x)?;
                        x = self.reshape(at, x, vec![Dim::Known(n)])?;
                        0
                    }
                };
                self.mask_sum(at, x, axis, |i, j, _| j <= i)?
            }
            Composite::Stack => {
                let items = self.value_list(at, arg(0)?)?;
                let ty = self.ty(items[0]).clone();
                let axis = match bound.get(1).copied().flatten() {
                    Some(a) => self.axis(a, &ty, 1)?,
                    None => 0,
                };
                let mut parts = Vec::new();
                for v in items {
                    let mut dims = self.ty(v).shape.0.clone();
                    dims.insert(axis.min(dims.len()), Dim::Known(1));
                    parts.push(self.reshape(at, v, dims)?);
                }
                self.op(at, Op::Concat { axis }, &parts)?
            }
            Composite::Pad => {
                let x = self.lower_expr(arg(0)?)?;
                let fill = match bound.get(2).copied().flatten() {
                    Some(v) => Some(self.lower_expr(v)?),
                    None => None,
                };
                let x = self.tensor(x)?;
                let rank = self.ty(x).shape.rank();
                let pads = self.pads(arg(1)?, rank)?;
                let fill = match fill {
                    Some(f) => {
                        let f = self.unify(vec![Val::Tensor(x), f])?[1];
                        if self.ty(f).shape.rank() != 0 {
                            let ty = self.ty(f).clone();
                            return Err(self.error(
                                Diagnostic::error(format!(
                                    "`pad` needs a scalar `value`, got {ty}"
                                ))
                                .at(at.span),
                            ));
                        }
                        f
                    }
                    None => self.scalar(at, self.ty(x).dtype, 0.0)?,
                };
                self.pad(at, x, &pads, fill)?
            }
            Composite::Tile => {
                let x = self.lower_expr(arg(0)?)?;
                let x = self.tensor(x)?;
                let reps = self.static_ints(arg(1)?)?;
                self.tile(at, x, &reps, arg(1)?.span)?
            }
            Composite::Take => {
                let x = self.lower_expr(arg(0)?)?;
                let x = self.tensor(x)?;
                let i = self.lower_expr(arg(1)?)?;
                let i = self.tensor(i)?;
                let ty = self.ty(x).clone();
                let axis = match bound.get(2).copied().flatten() {
                    Some(a) => self.axis(a, &ty, 0)?,
                    None => 0,
                };
                self.take(at, x, i, axis)?
            }
            Composite::Conv2d | Composite::MaxPool | Composite::AvgPool => {
                return self.window(c, at, bound);
            }
        };
        Ok(Val::Tensor(v))
    }

    // ---- emitting ops ----

    pub(crate) fn op(&mut self, at: At, op: Op, args: &[ValueId]) -> Lowered<ValueId> {
        self.add(op, args, at.span, at.name)
    }

    pub(crate) fn un(&mut self, at: At, u: UnaryOp, x: ValueId) -> Lowered<ValueId> {
        self.op(at, Op::Unary(u), &[x])
    }

    pub(crate) fn bin(&mut self, at: At, b: BinaryOp, x: ValueId, y: ValueId) -> Lowered<ValueId> {
        self.op(at, Op::Binary(b), &[x, y])
    }

    pub(crate) fn constant(&mut self, at: At, t: Tensor) -> Lowered<ValueId> {
        self.op(at, Op::Const(t), &[])
    }

    /// A scalar constant of `dtype`.
    pub(crate) fn scalar(&mut self, at: At, dtype: DType, v: f64) -> Lowered<ValueId> {
        self.constant(
            at,
            Tensor {
                shape: vec![],
                data: Data::from_f64(dtype, [v]),
            },
        )
    }

    pub(crate) fn reduce(
        &mut self,
        at: At,
        op: ReduceOp,
        x: ValueId,
        axes: &[usize],
        keepdims: bool,
    ) -> Lowered<ValueId> {
        let axes = axes.to_vec();
        self.op(at, Op::Reduce { op, axes, keepdims }, &[x])
    }

    pub(crate) fn reshape(&mut self, at: At, x: ValueId, dims: Vec<Dim>) -> Lowered<ValueId> {
        if self.ty(x).shape.0 == dims {
            return Ok(x);
        }
        self.op(at, Op::Reshape { shape: Shape(dims) }, &[x])
    }

    pub(crate) fn broadcast(&mut self, at: At, x: ValueId, dims: Vec<Dim>) -> Lowered<ValueId> {
        self.op(at, Op::BroadcastTo { shape: Shape(dims) }, &[x])
    }

    /// Elements `start, start + step, …` (`len` of them) along `axis`; the
    /// other axes whole.
    pub(crate) fn slice_axis(
        &mut self,
        at: At,
        x: ValueId,
        axis: usize,
        start: u64,
        step: u64,
        len: u64,
    ) -> Lowered<ValueId> {
        let mut shape = self.ty(x).shape.clone();
        let rank = shape.rank();
        if shape.0[axis] == Dim::Known(len) && start == 0 && step == 1 {
            return Ok(x);
        }
        shape.0[axis] = Dim::Known(len);
        let mut starts = vec![0; rank];
        let mut steps = vec![1; rank];
        starts[axis] = start;
        steps[axis] = step;
        self.op(
            at,
            Op::Slice {
                start: starts,
                step: steps,
                shape,
            },
            &[x],
        )
    }

    // ---- checks ----

    fn require_float(&mut self, at: At, x: ValueId) -> Lowered<()> {
        if self.ty(x).dtype.is_float() {
            return Ok(());
        }
        let ty = self.ty(x).clone();
        Err(self.error(
            Diagnostic::error(format!("`{}` needs a float operand, got {ty}", at.name)).at(at.span),
        ))
    }

    pub(crate) fn require_numeric(&mut self, at: At, x: ValueId) -> Lowered<()> {
        if self.ty(x).dtype != DType::Bool {
            return Ok(());
        }
        let ty = self.ty(x).clone();
        Err(self.error(
            Diagnostic::error(format!("`{}` needs a numeric operand, got {ty}", at.name))
                .at(at.span),
        ))
    }

    /// The size of `axis` of `x`, which must be known.
    pub(crate) fn known_dim(&mut self, at: At, x: ValueId, axis: usize) -> Lowered<u64> {
        let ty = self.ty(x).clone();
        match ty.shape.0.get(axis).and_then(Dim::known) {
            Some(n) => Ok(n),
            None => Err(self.error(
                Diagnostic::error(format!(
                    "`{}` needs a known size along axis {axis} of {ty}",
                    at.name
                ))
                .at(at.span)
                .note("a symbolic dimension's size is known only when the graph is fed"),
            )),
        }
    }

    fn known_numel(&mut self, at: At, x: ValueId) -> Lowered<u64> {
        let rank = self.ty(x).shape.rank();
        let mut n = 1u64;
        for a in 0..rank {
            n = n.saturating_mul(self.known_dim(at, x, a)?);
        }
        Ok(n)
    }

    // ---- static arguments ----

    /// A number literal (integer or float), or a fn parameter given one.
    pub(crate) fn static_number(&mut self, e: &Expr) -> Lowered<f64> {
        if let Some(lit) = self.static_literal(e) {
            if lit.shape.is_empty() {
                match lit.elems[0] {
                    Scalar::Int(n) => return Ok(n as f64),
                    Scalar::Float(x) => return Ok(x),
                    Scalar::Bool(_) => {}
                }
            }
        }
        Err(self.error(
            Diagnostic::error("expected a number literal")
                .at(e.span)
                .label("not a number literal"),
        ))
    }

    /// An integer, or a list of integers.
    pub(crate) fn static_ints(&mut self, e: &Expr) -> Lowered<Vec<i64>> {
        match &e.kind {
            ExprKind::Array(items) => items.iter().map(|x| self.static_int(x)).collect(),
            _ => Ok(vec![self.static_int(e)?]),
        }
    }

    /// `[a, b, …]`: the tensors of a list argument, of one dtype.
    pub(crate) fn value_list(&mut self, at: At, e: &Expr) -> Lowered<Vec<ValueId>> {
        let ExprKind::Array(items) = &e.kind else {
            return Err(self.error(
                Diagnostic::error(format!(
                    "`{}` takes a list of tensors, such as `{}([a, b])`",
                    at.name, at.name
                ))
                .at(e.span)
                .label("not a list"),
            ));
        };
        if items.is_empty() {
            return Err(self.error(
                Diagnostic::error(format!("`{}` needs at least one tensor", at.name)).at(e.span),
            ));
        }
        let vals = items
            .iter()
            .map(|a| self.lower_expr(a))
            .collect::<Lowered<Vec<Val>>>()?;
        self.unify(vals)
    }

    /// `pad`'s widths: one `[lo, hi]` pair an axis, or one pair for all.
    fn pads(&mut self, e: &Expr, rank: usize) -> Lowered<Vec<(u64, u64)>> {
        let bad = |this: &mut Self| {
            Err(this.error(
                Diagnostic::error(format!(
                    "`pad` needs widths `[[lo, hi], …]`, one non-negative pair for each of the {rank} axes"
                ))
                .at(e.span),
            ))
        };
        let ExprKind::Array(items) = &e.kind else {
            return bad(self);
        };
        let pair = |this: &mut Self, p: &Expr| -> Lowered<Option<(u64, u64)>> {
            match this.static_ints(p)?.as_slice() {
                &[lo, hi] if lo >= 0 && hi >= 0 => Ok(Some((lo as u64, hi as u64))),
                _ => Ok(None),
            }
        };
        let all_pairs = items.iter().all(|i| matches!(&i.kind, ExprKind::Array(_)));
        let pads = if all_pairs && items.len() == rank {
            let mut pads = Vec::new();
            for p in items {
                match pair(self, p)? {
                    Some(p) => pads.push(p),
                    None => return bad(self),
                }
            }
            pads
        } else if !all_pairs && items.len() == 2 {
            match pair(self, e)? {
                Some(p) => vec![p; rank],
                None => return bad(self),
            }
        } else {
            return bad(self);
        };
        Ok(pads)
    }

    // ---- the composites ----

    /// `log1p`: `log(u) · x / (u - 1)` with `u = 1 + x` corrects the rounding
    /// of `1 + x` (Goldberg's trick); `x` itself where `u` rounds to 1.
    fn log1p(&mut self, at: At, x: ValueId) -> Lowered<ValueId> {
        let dtype = self.ty(x).dtype;
        let one = self.scalar(at, dtype, 1.0)?;
        let zero = self.scalar(at, dtype, 0.0)?;
        let inf = self.scalar(at, dtype, f64::INFINITY)?;
        let u = self.bin(at, BinaryOp::Add, one, x)?;
        let d = self.bin(at, BinaryOp::Sub, u, one)?;
        let tiny = self.bin(at, BinaryOp::Eq, d, zero)?;
        let huge = self.bin(at, BinaryOp::Eq, u, inf)?;
        let odd = self.any(at, tiny, huge)?;
        // The odd cases divide by a harmless 1 instead: the unchosen branch's
        // gradient is computed too, and must not be NaN.
        let two = self.scalar(at, dtype, 2.0)?;
        let safe_u = self.op(at, Op::Select, &[odd, two, u])?;
        let safe_d = self.bin(at, BinaryOp::Sub, safe_u, one)?;
        let l = self.un(at, UnaryOp::Log, safe_u)?;
        let t = self.bin(at, BinaryOp::Mul, l, x)?;
        let general = self.bin(at, BinaryOp::Div, t, safe_d)?;
        let ends = self.op(at, Op::Select, &[huge, u, x])?;
        self.op(at, Op::Select, &[odd, ends, general])
    }

    /// `expm1`: `(u - 1) · x / log(u)` with `u = exp(x)` (Kahan's trick);
    /// `x` where `u` rounds to 1, `-1` and `inf` at the ends.
    fn expm1(&mut self, at: At, x: ValueId) -> Lowered<ValueId> {
        let dtype = self.ty(x).dtype;
        let one = self.scalar(at, dtype, 1.0)?;
        let minus_one = self.scalar(at, dtype, -1.0)?;
        let inf = self.scalar(at, dtype, f64::INFINITY)?;
        let u = self.un(at, UnaryOp::Exp, x)?;
        let d = self.bin(at, BinaryOp::Sub, u, one)?;
        let unit = self.bin(at, BinaryOp::Eq, u, one)?;
        let floor = self.bin(at, BinaryOp::Eq, d, minus_one)?;
        let huge = self.bin(at, BinaryOp::Eq, u, inf)?;
        let odd = self.any(at, unit, floor)?;
        let odd = self.any(at, odd, huge)?;
        let two = self.scalar(at, dtype, 2.0)?;
        let safe_u = self.op(at, Op::Select, &[odd, two, u])?;
        let safe_d = self.bin(at, BinaryOp::Sub, safe_u, one)?;
        let l = self.un(at, UnaryOp::Log, safe_u)?;
        let t = self.bin(at, BinaryOp::Mul, safe_d, x)?;
        let general = self.bin(at, BinaryOp::Div, t, l)?;
        let ends = self.op(at, Op::Select, &[floor, minus_one, u])?;
        let ends = self.op(at, Op::Select, &[unit, x, ends])?;
        self.op(at, Op::Select, &[odd, ends, general])
    }

    /// `a || b` for bool tensors.
    fn any(&mut self, at: At, a: ValueId, b: ValueId) -> Lowered<ValueId> {
        self.op(at, Op::Select, &[a, a, b])
    }

    /// `(erf(x), erfc(x))`, from one Taylor series and one erfc fit.
    fn erf_parts(&mut self, at: At, x: ValueId) -> Lowered<(ValueId, ValueId)> {
        let dtype = self.ty(x).dtype;
        let c = |this: &mut Self, v: f64| this.scalar(at, dtype, v);
        let half = c(self, 0.5)?;
        let one = c(self, 1.0)?;
        let zero = c(self, 0.0)?;
        let a = self.un(at, UnaryOp::Abs, x)?;
        let small = self.bin(at, BinaryOp::Lt, a, half)?;
        // erf near 0: 2/√π · Σ (-1)ⁿ x²ⁿ⁺¹ / (n! (2n + 1)), to n = 6.
        let xs = self.op(at, Op::Select, &[small, x, zero])?;
        let x2 = self.un(at, UnaryOp::Square, xs)?;
        const SERIES: [f64; 7] = [
            1.0,
            -1.0 / 3.0,
            1.0 / 10.0,
            -1.0 / 42.0,
            1.0 / 216.0,
            -1.0 / 1320.0,
            1.0 / 9360.0,
        ];
        let taylor = self.horner(at, x2, &SERIES)?;
        let k = c(self, std::f64::consts::FRAC_2_SQRT_PI)?;
        let taylor = self.bin(at, BinaryOp::Mul, taylor, xs)?;
        let taylor = self.bin(at, BinaryOp::Mul, taylor, k)?;
        // erfc(z), z ≥ 0: Numerical Recipes' erfcc, fractional error < 1.2e-7.
        let z = self.op(at, Op::Select, &[small, one, a])?;
        let t = self.bin(at, BinaryOp::Mul, z, half)?;
        let t = self.bin(at, BinaryOp::Add, one, t)?;
        let t = self.un(at, UnaryOp::Reciprocal, t)?;
        const FIT: [f64; 10] = [
            -1.26551223,
            1.00002368,
            0.37409196,
            0.09678418,
            -0.18628806,
            0.27886807,
            -1.13520398,
            1.48851587,
            -0.82215223,
            0.17087277,
        ];
        let poly = self.horner(at, t, &FIT)?;
        let z2 = self.un(at, UnaryOp::Square, z)?;
        let e = self.bin(at, BinaryOp::Sub, poly, z2)?;
        let e = self.un(at, UnaryOp::Exp, e)?;
        let tail = self.bin(at, BinaryOp::Mul, t, e)?;
        let s = self.un(at, UnaryOp::Sign, x)?;
        let body = self.bin(at, BinaryOp::Sub, one, tail)?;
        let body = self.bin(at, BinaryOp::Mul, s, body)?;
        let erf = self.op(at, Op::Select, &[small, taylor, body])?;
        // erfc = 1 - erf near 0, the fit above 0, 2 - fit below.
        let near = self.bin(at, BinaryOp::Sub, one, taylor)?;
        let two = c(self, 2.0)?;
        let below = self.bin(at, BinaryOp::Sub, two, tail)?;
        let positive = self.bin(at, BinaryOp::Gt, x, zero)?;
        let far = self.op(at, Op::Select, &[positive, tail, below])?;
        let erfc = self.op(at, Op::Select, &[small, near, far])?;
        Ok((erf, erfc))
    }

    /// `c[0] + x · (c[1] + x · (…))`.
    fn horner(&mut self, at: At, x: ValueId, c: &[f64]) -> Lowered<ValueId> {
        let dtype = self.ty(x).dtype;
        let Some((&last, rest)) = c.split_last() else {
            return self.scalar(at, dtype, 0.0);
        };
        let mut acc = self.scalar(at, dtype, last)?;
        for &k in rest.iter().rev() {
            let k = self.scalar(at, dtype, k)?;
            let m = self.bin(at, BinaryOp::Mul, acc, x)?;
            acc = self.bin(at, BinaryOp::Add, m, k)?;
        }
        Ok(acc)
    }

    fn gelu(&mut self, at: At, x: ValueId, approximate: bool) -> Lowered<ValueId> {
        let dtype = self.ty(x).dtype;
        if approximate {
            // 1 + tanh(u) = 2·sigmoid(2u), without cancellation for u < 0,
            // where tanh is within an ulp of -1.
            let k = self.scalar(at, dtype, 2.0 * (2.0 / std::f64::consts::PI).sqrt())?;
            let c = self.scalar(at, dtype, 0.044715)?;
            let x2 = self.un(at, UnaryOp::Square, x)?;
            let x3 = self.bin(at, BinaryOp::Mul, x2, x)?;
            let cx3 = self.bin(at, BinaryOp::Mul, c, x3)?;
            let inner = self.bin(at, BinaryOp::Add, x, cx3)?;
            let inner = self.bin(at, BinaryOp::Mul, k, inner)?;
            let s = self.un(at, UnaryOp::Sigmoid, inner)?;
            return self.bin(at, BinaryOp::Mul, x, s);
        }
        let half = self.scalar(at, dtype, 0.5)?;
        let hx = self.bin(at, BinaryOp::Mul, half, x)?;
        // 1 + erf(x/√2) = erfc(-x/√2), without cancellation for x < 0.
        let k = self.scalar(at, dtype, -std::f64::consts::FRAC_1_SQRT_2)?;
        let z = self.bin(at, BinaryOp::Mul, x, k)?;
        let factor = self.erf_parts(at, z)?.1;
        self.bin(at, BinaryOp::Mul, hx, factor)
    }

    /// `logsumexp` over `axes`, the axes kept.
    fn logsumexp(&mut self, at: At, x: ValueId, axes: &[usize]) -> Lowered<ValueId> {
        let dtype = self.ty(x).dtype;
        let m = self.reduce(at, ReduceOp::Max, x, axes, true)?;
        // An infinite max would make `x - m` NaN; shift by 0 instead.
        let a = self.un(at, UnaryOp::Abs, m)?;
        let inf = self.scalar(at, dtype, f64::INFINITY)?;
        let zero = self.scalar(at, dtype, 0.0)?;
        let infinite = self.bin(at, BinaryOp::Eq, a, inf)?;
        let m = self.op(at, Op::Select, &[infinite, zero, m])?;
        let m = self.op(at, Op::StopGradient, &[m])?;
        let d = self.bin(at, BinaryOp::Sub, x, m)?;
        let e = self.un(at, UnaryOp::Exp, d)?;
        let s = self.reduce(at, ReduceOp::Sum, e, axes, true)?;
        let l = self.un(at, UnaryOp::Log, s)?;
        self.bin(at, BinaryOp::Add, m, l)
    }

    /// `out[…, i, …] = Σ_j mask(i, j, n) · x[…, j, …]` along `axis` (of
    /// known size `n`): cumulative sums, reversals and gathers by a constant
    /// `[n, n]` mask. Exact: each output adds one or more elements to zeros.
    pub(crate) fn mask_sum(
        &mut self,
        at: At,
        x: ValueId,
        axis: usize,
        mask: impl Fn(u64, u64, u64) -> bool,
    ) -> Lowered<ValueId> {
        let n = self.known_dim(at, x, axis)?;
        let ty = self.ty(x).clone();
        let rank = ty.shape.rank();
        let bool_in = ty.dtype == DType::Bool;
        let x = if bool_in {
            self.op(at, Op::Cast { to: DType::I32 }, &[x])?
        } else {
            x
        };
        let dtype = self.ty(x).dtype;
        let mut spread = ty.shape.0.clone();
        spread.insert(axis, Dim::Known(1));
        let xe = self.reshape(at, x, spread)?;
        let cells = (n as usize).saturating_mul(n as usize);
        let bits: Vec<bool> = (0..cells as u64).map(|k| mask(k / n, k % n, n)).collect();
        let mut shape = vec![n as usize, n as usize];
        shape.extend(std::iter::repeat_n(1, rank - axis - 1));
        let m = self.constant(
            at,
            Tensor {
                shape,
                data: Data::Bool(bits),
            },
        )?;
        let zero = self.scalar(at, dtype, 0.0)?;
        let picked = self.op(at, Op::Select, &[m, xe, zero])?;
        let out = self.reduce(at, ReduceOp::Sum, picked, &[axis + 1], false)?;
        if bool_in {
            let zero = self.scalar(at, DType::I32, 0.0)?;
            self.bin(at, BinaryOp::Ne, out, zero)
        } else {
            Ok(out)
        }
    }

    /// `x` with `pads[a] = (lo, hi)` elements of `fill` added along each axis.
    pub(crate) fn pad(
        &mut self,
        at: At,
        x: ValueId,
        pads: &[(u64, u64)],
        fill: ValueId,
    ) -> Lowered<ValueId> {
        let mut x = x;
        for (axis, &(lo, hi)) in pads.iter().enumerate() {
            if lo == 0 && hi == 0 {
                continue;
            }
            self.known_dim(at, x, axis)?;
            let mut parts = Vec::new();
            for (count, before) in [(lo, true), (hi, false)] {
                if count == 0 {
                    continue;
                }
                let mut dims = self.ty(x).shape.0.clone();
                dims[axis] = Dim::Known(count);
                let block = self.broadcast(at, fill, dims)?;
                parts.push((block, before));
            }
            let mut all: Vec<ValueId> = parts.iter().filter(|p| p.1).map(|p| p.0).collect();
            all.push(x);
            all.extend(parts.iter().filter(|p| !p.1).map(|p| p.0));
            x = self.op(at, Op::Concat { axis }, &all)?;
        }
        Ok(x)
    }

    /// numpy `tile`: `reps` shorter than the rank repeats the last axes;
    /// longer, `x` gets leading axes of size 1.
    fn tile(&mut self, at: At, x: ValueId, reps: &[i64], span: Span) -> Lowered<ValueId> {
        if let Some(r) = reps.iter().find(|&&r| r < 0) {
            return Err(self.error(
                Diagnostic::error(format!("`tile` needs non-negative repetitions, got {r}"))
                    .at(span),
            ));
        }
        let mut dims = self.ty(x).shape.0.clone();
        let rank = dims.len().max(reps.len());
        while dims.len() < rank {
            dims.insert(0, Dim::Known(1));
        }
        let mut reps: Vec<u64> = reps.iter().map(|&r| r as u64).collect();
        while reps.len() < rank {
            reps.insert(0, 1);
        }
        let x = self.reshape(at, x, dims.clone())?;
        let mut spread = Vec::new();
        let mut wide = Vec::new();
        let mut out = Vec::new();
        for (d, &r) in dims.iter().zip(&reps) {
            spread.extend([Dim::Known(1), d.clone()]);
            wide.extend([Dim::Known(r), d.clone()]);
            out.push(match (d, r) {
                (_, 1) => d.clone(),
                (Dim::Known(n), r) => Dim::Known(n.saturating_mul(r)),
                (Dim::Sym(s), _) => {
                    return Err(self.error(
                        Diagnostic::error(format!(
                            "`tile` cannot repeat the symbolic dimension `{s}`"
                        ))
                        .at(span),
                    ))
                }
            });
        }
        if reps.iter().all(|&r| r == 1) {
            return Ok(x);
        }
        let xs = self.reshape(at, x, spread)?;
        let xw = self.broadcast(at, xs, wide)?;
        self.reshape(at, xw, out)
    }

    /// numpy `take` / `tf.gather` with XLA's clamping of out-of-range indices.
    fn take(&mut self, at: At, x: ValueId, i: ValueId, axis: usize) -> Lowered<ValueId> {
        let it = self.ty(i).clone();
        if !it.dtype.is_int() {
            return Err(self.error(
                Diagnostic::error(format!("`take` needs i32 or i64 indices, got {it}")).at(at.span),
            ));
        }
        let n = self.known_dim(at, x, axis)?;
        if n == 0 {
            return Err(self.error(Diagnostic::error("`take` from an empty axis").at(at.span)));
        }
        let bool_in = self.ty(x).dtype == DType::Bool;
        let x = if bool_in {
            self.op(at, Op::Cast { to: DType::I32 }, &[x])?
        } else {
            x
        };
        let xt = self.ty(x).clone();
        let q = it.shape.rank();
        let post = xt.shape.rank() - axis - 1;
        let zero = self.scalar(at, it.dtype, 0.0)?;
        let last = self.scalar(at, it.dtype, (n - 1) as f64)?;
        let i = self.bin(at, BinaryOp::Maximum, i, zero)?;
        let i = self.bin(at, BinaryOp::Minimum, i, last)?;
        let ones = |k: usize| std::iter::repeat_n(Dim::Known(1), k);
        let idims: Vec<Dim> = ones(axis)
            .chain(it.shape.0.iter().cloned())
            .chain(ones(post + 1))
            .collect();
        let ie = self.reshape(at, i, idims)?;
        let range = Tensor {
            shape: std::iter::repeat_n(1, axis + q)
                .chain([n as usize])
                .chain(std::iter::repeat_n(1, post))
                .collect(),
            data: Data::from_f64(it.dtype, (0..n).map(|k| k as f64)),
        };
        let range = self.constant(at, range)?;
        let hit = self.bin(at, BinaryOp::Eq, ie, range)?;
        let xdims: Vec<Dim> = xt.shape.0[..axis]
            .iter()
            .cloned()
            .chain(ones(q))
            .chain(xt.shape.0[axis..].iter().cloned())
            .collect();
        let xe = self.reshape(at, x, xdims)?;
        let zero = self.scalar(at, xt.dtype, 0.0)?;
        let picked = self.op(at, Op::Select, &[hit, xe, zero])?;
        let out = self.reduce(at, ReduceOp::Sum, picked, &[axis + q], false)?;
        if bool_in {
            let zero = self.scalar(at, DType::I32, 0.0)?;
            self.bin(at, BinaryOp::Ne, out, zero)
        } else {
            Ok(out)
        }
    }

    /// numpy's `a % b`: the remainder with the divisor's sign.
    pub(crate) fn floor_mod(&mut self, at: At, a: ValueId, b: ValueId) -> Lowered<ValueId> {
        let dtype = self.ty(a).dtype;
        if dtype == DType::Bool {
            let ty = self.ty(a).clone();
            return Err(self.error(
                Diagnostic::error(format!("`%` needs numeric operands, got {ty}")).at(at.span),
            ));
        }
        let q = self.bin(at, BinaryOp::Div, a, b)?;
        let q = if dtype.is_float() {
            self.un(at, UnaryOp::Floor, q)?
        } else {
            q
        };
        let p = self.bin(at, BinaryOp::Mul, q, b)?;
        let r = self.bin(at, BinaryOp::Sub, a, p)?;
        if dtype.is_float() {
            return self.floor_mod_specials(at, a, b, r);
        }
        // numpy: an integer remainder by 0 is 0.
        let zero = self.scalar(at, dtype, 0.0)?;
        let by_zero = self.bin(at, BinaryOp::Eq, b, zero)?;
        self.op(at, Op::Select, &[by_zero, zero, r])
    }

    /// numpy's float `%` where `a - floor(a / b) * b` (`r`) differs from it:
    /// a remainder of the wrong sign (where `a / b` rounded or underflowed
    /// across an integer: `-1e-30 % 1e30` is `1e30`) gets one `b` added; a
    /// finite `a` by an infinite `b` is `a` when their signs agree (or `a`
    /// is 0) and `b` otherwise, where `r` is NaN; and a zero remainder takes
    /// the sign of `b` (`0 % -2` is `-0.0`).
    fn floor_mod_specials(
        &mut self,
        at: At,
        a: ValueId,
        b: ValueId,
        r: ValueId,
    ) -> Lowered<ValueId> {
        let dtype = self.ty(a).dtype;
        let zero = self.scalar(at, dtype, 0.0)?;
        let sign_r = self.un(at, UnaryOp::Sign, r)?;
        let sign_b = self.un(at, UnaryOp::Sign, b)?;
        let signs = self.bin(at, BinaryOp::Mul, sign_r, sign_b)?;
        let wrong_sign = self.bin(at, BinaryOp::Lt, signs, zero)?;
        let r_plus_b = self.bin(at, BinaryOp::Add, r, b)?;
        let r = self.op(at, Op::Select, &[wrong_sign, r_plus_b, r])?;
        let inf = self.scalar(at, dtype, f64::INFINITY)?;
        let abs_a = self.un(at, UnaryOp::Abs, a)?;
        let abs_b = self.un(at, UnaryOp::Abs, b)?;
        let a_finite = self.bin(at, BinaryOp::Lt, abs_a, inf)?;
        let b_infinite = self.bin(at, BinaryOp::Eq, abs_b, inf)?;
        let ab = self.bin(at, BinaryOp::Mul, a, b)?;
        let same_sign = self.bin(at, BinaryOp::Gt, ab, zero)?;
        let a_or_b = self.op(at, Op::Select, &[same_sign, a, b])?;
        let a_zero = self.bin(at, BinaryOp::Eq, a, zero)?;
        let by_infinity = self.op(at, Op::Select, &[a_zero, zero, a_or_b])?;
        let by_infinity = self.op(at, Op::Select, &[a_finite, by_infinity, r])?;
        let r = self.op(at, Op::Select, &[b_infinite, by_infinity, r])?;
        let neg_zero = self.scalar(at, dtype, -0.0)?;
        let b_negative = self.bin(at, BinaryOp::Lt, b, zero)?;
        let signed_zero = self.op(at, Op::Select, &[b_negative, neg_zero, zero])?;
        let r_zero = self.bin(at, BinaryOp::Eq, r, zero)?;
        self.op(at, Op::Select, &[r_zero, signed_zero, r])
    }
}
