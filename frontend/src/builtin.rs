//! How each call of a builtin function (docs/language.md, "Builtins";
//! their signatures are in [`crate::signature`]) becomes IR ops.
//!
//! Most map to one op. The composites are expanded here, so that passes and
//! backends see only the IR's small op set:
//!
//! | builtin | IR |
//! |---|---|
//! | `softmax(x, axis)` | `e = exp(x - reduce_max(x, axis, keepdims))`; `e / reduce_sum(e, axis, keepdims)` |
//! | `log_softmax(x, axis)` | `s = x - reduce_max(x, axis, keepdims)`; `s - log(reduce_sum(exp(s), axis, keepdims))` |
//! | `expand_dims(x, axis)` | `reshape` with a size-1 dim inserted at `axis` |
//! | `squeeze(x, axis)` | `reshape` without the size-1 dim(s) at `axis` (all size-1 dims if no axis) |
//! | `reshape(x, [.., -1, ..])` | `reshape` with the `-1` resolved from the element count |
//! | `matmul(a, b)` | `matmul`, as `a @ b` |
//! | `where(c, a, b)` | `select` |
//! | `pow(a, b)` | `pow`, as `a ** b` |
//!
//! Static arguments (axes, shapes, `keepdims`, `depth`, dtypes) must be
//! literals, or fn parameters given literals; negative axes are normalised.

use crate::ast::{Expr, ExprKind, Ident, Span, UnOp};
use crate::diag::Diagnostic;
use crate::literal::{Literal, Scalar};
use crate::lower::{At, GraphLowerer, Lowered, Reported, Val};
use crate::signature::{bind_args, Builtin, BuiltinKind};
use tfg_ir::{DType, Dim, Op, ReduceOp, Shape, Type, ValueId};

/// A dimension in a shape argument.
enum DimArg {
    Dim(Dim),
    /// `-1`: whatever makes the element counts agree.
    Infer,
}

impl GraphLowerer<'_, '_> {
    /// Lowers a call of builtin `b`.
    pub(crate) fn builtin(
        &mut self,
        b: Builtin,
        call: &Expr,
        args: &[Expr],
        kwargs: &[(Ident, Expr)],
    ) -> Lowered<Val> {
        let bound =
            bind_args(b.name, b.params, args, kwargs, call.span).map_err(|d| self.error(d))?;
        let span = call.span;
        let name = b.name;
        // `bind_args` fills every required parameter.
        let arg = |k: usize| bound[k].ok_or(Reported);
        let v = match b.kind {
            BuiltinKind::Composite(c) => {
                let at = At { span, name };
                return self.composite(c, at, &bound);
            }
            BuiltinKind::Unary(u) => {
                let x = self.lower_expr(arg(0)?)?;
                let x = if u.float_only() {
                    self.float_tensor(x)?
                } else {
                    self.tensor(x)?
                };
                self.add(Op::Unary(u), &[x], span, name)?
            }
            BuiltinKind::Binary(_) | BuiltinKind::MatMul | BuiltinKind::Select => {
                let vals: Vec<Lowered<Val>> =
                    bound.iter().flatten().map(|a| self.lower_expr(a)).collect();
                let mut vals = vals.into_iter().collect::<Lowered<Vec<Val>>>()?;
                let mut ids = Vec::new();
                if b.kind == BuiltinKind::Select {
                    let cond = vals.remove(0);
                    ids.push(self.tensor(cond)?);
                }
                ids.extend(self.unify(vals)?);
                let op = match b.kind {
                    BuiltinKind::Binary(op) => Op::Binary(op),
                    BuiltinKind::MatMul => Op::MatMul,
                    _ => Op::Select,
                };
                self.add(op, &ids, span, name)?
            }
            BuiltinKind::Reduce(r) => {
                let x = self.lower_expr(arg(0)?)?;
                let x = if r == ReduceOp::Mean {
                    self.float_tensor(x)?
                } else {
                    self.tensor(x)?
                };
                let ty = self.ty(x).clone();
                let axes = match bound[1] {
                    Some(a) => self.axes(a, &ty, 0)?,
                    None => (0..ty.shape.rank()).collect(),
                };
                let keepdims = match bound[2] {
                    Some(k) => self.static_bool(k)?,
                    None => false,
                };
                self.add(
                    Op::Reduce {
                        op: r,
                        axes,
                        keepdims,
                    },
                    &[x],
                    span,
                    name,
                )?
            }
            BuiltinKind::ArgMax | BuiltinKind::ArgMin => {
                let x = self.value(arg(0)?)?;
                let ty = self.ty(x).clone();
                let axis = self.axis(arg(1)?, &ty, 0)?;
                let op = if b.kind == BuiltinKind::ArgMax {
                    Op::ArgMax { axis }
                } else {
                    Op::ArgMin { axis }
                };
                self.add(op, &[x], span, name)?
            }
            BuiltinKind::Transpose => {
                let x = self.value(arg(0)?)?;
                let ty = self.ty(x).clone();
                let perm = match bound[1] {
                    Some(p) => self.perm(p, &ty)?,
                    None => (0..ty.shape.rank()).rev().collect(),
                };
                self.add(Op::Transpose { perm }, &[x], span, name)?
            }
            BuiltinKind::Reshape | BuiltinKind::BroadcastTo => {
                let x = self.value(arg(0)?)?;
                let ty = self.ty(x).clone();
                let reshape = b.kind == BuiltinKind::Reshape;
                let dims = self.dims(arg(1)?, reshape)?;
                let op = if reshape {
                    Op::Reshape {
                        shape: self.resolve_reshape(&ty, dims, arg(1)?.span)?,
                    }
                } else {
                    let shape = dims.into_iter().filter_map(|d| {
                        if let DimArg::Dim(d) = d {
                            Some(d)
                        } else {
                            None
                        }
                    });
                    Op::BroadcastTo {
                        shape: Shape(shape.collect()),
                    }
                };
                self.add(op, &[x], span, name)?
            }
            BuiltinKind::Concat => {
                let list = arg(0)?;
                let ExprKind::Array(items) = &list.kind else {
                    return Err(self.error(
                        Diagnostic::error(
                            "`concat` takes a list of tensors, such as `concat([a, b], 0)`",
                        )
                        .at(list.span)
                        .label("not a list"),
                    ));
                };
                if items.is_empty() {
                    return Err(self.error(
                        Diagnostic::error("`concat` needs at least one tensor").at(list.span),
                    ));
                }
                let vals: Vec<Lowered<Val>> = items.iter().map(|a| self.lower_expr(a)).collect();
                let ids = self.unify(vals.into_iter().collect::<Lowered<Vec<Val>>>()?)?;
                let ty = self.ty(ids[0]).clone();
                let axis = self.axis(arg(1)?, &ty, 0)?;
                self.add(Op::Concat { axis }, &ids, span, name)?
            }
            BuiltinKind::ExpandDims => {
                let x = self.value(arg(0)?)?;
                let ty = self.ty(x).clone();
                let axis = self.axis(arg(1)?, &ty, 1)?;
                let mut dims = ty.shape.0.clone();
                dims.insert(axis, Dim::Known(1));
                self.add(Op::Reshape { shape: Shape(dims) }, &[x], span, name)?
            }
            BuiltinKind::Squeeze => {
                let x = self.value(arg(0)?)?;
                let ty = self.ty(x).clone();
                let dims = &ty.shape.0;
                let axes = match bound[1] {
                    Some(a) => self.axes(a, &ty, 0)?,
                    None => (0..dims.len())
                        .filter(|&i| dims[i] == Dim::Known(1))
                        .collect(),
                };
                if let Some(&bad) = axes.iter().find(|&&i| dims[i] != Dim::Known(1)) {
                    let at = bound[1].map_or(span, |a| a.span);
                    return Err(self.error(
                        Diagnostic::error(format!(
                            "cannot squeeze axis {bad} of {ty}: its size is {}, not 1",
                            dims[bad]
                        ))
                        .at(at),
                    ));
                }
                let kept = (0..dims.len())
                    .filter(|i| !axes.contains(i))
                    .map(|i| dims[i].clone());
                self.add(
                    Op::Reshape {
                        shape: Shape(kept.collect()),
                    },
                    &[x],
                    span,
                    name,
                )?
            }
            BuiltinKind::Softmax | BuiltinKind::LogSoftmax => {
                let x = self.lower_expr(arg(0)?)?;
                let x = self.float_tensor(x)?;
                let ty = self.ty(x).clone();
                let axis = match bound[1] {
                    Some(a) => self.axis(a, &ty, 0)?,
                    None => self.normalise_axis(-1, &ty, 0, span)?,
                };
                let expand = if b.kind == BuiltinKind::Softmax {
                    crate::expand::softmax
                } else {
                    crate::expand::log_softmax
                };
                self.expand(span, name, |g| expand(g, x, axis))?
            }
            BuiltinKind::OneHot => {
                let i = self.value(arg(0)?)?;
                let depth_arg = arg(1)?;
                let depth = self.static_int(depth_arg)?;
                if depth < 1 {
                    return Err(self.error(
                        Diagnostic::error(format!(
                            "`one_hot` needs a depth of at least 1, got {depth}"
                        ))
                        .at(depth_arg.span),
                    ));
                }
                self.add(
                    Op::OneHot {
                        depth: depth as u64,
                    },
                    &[i],
                    span,
                    name,
                )?
            }
            BuiltinKind::Cast => {
                let x = self.value(arg(0)?)?;
                let to = self.static_dtype(arg(1)?)?;
                self.add(Op::Cast { to }, &[x], span, name)?
            }
            BuiltinKind::Grad => {
                let y = self.lower_expr(arg(0)?);
                let x = match self.lower_expr(arg(1)?)? {
                    Val::Tensor(x) => x,
                    Val::Weak(_) => {
                        return Err(self.error(
                            Diagnostic::error("`grad` differentiates with respect to a value of the graph, not a literal")
                                .at(arg(1)?.span)
                                .note("help: name an input or a param, as in `grad(loss, w)`"),
                        ))
                    }
                };
                let y = self.float_tensor(y?)?;
                self.add(Op::Grad, &[y, x], span, name)?
            }
        };
        Ok(Val::Tensor(v))
    }

    // ---- static arguments ----

    /// The literal an argument spells, or that a fn parameter it names holds.
    pub(crate) fn static_literal(&self, e: &Expr) -> Option<Literal> {
        Literal::from_expr(e).ok().or_else(|| self.weak_literal(e))
    }

    pub(crate) fn static_int(&mut self, e: &Expr) -> Lowered<i64> {
        if let Some(lit) = self.static_literal(e) {
            if let (true, Scalar::Int(n)) = (lit.shape.is_empty(), lit.elems[0]) {
                return Ok(n);
            }
        }
        Err(self.error(
            Diagnostic::error("expected an integer literal")
                .at(e.span)
                .label("not an integer literal"),
        ))
    }

    pub(crate) fn static_bool(&mut self, e: &Expr) -> Lowered<bool> {
        if let Some(lit) = self.static_literal(e) {
            if let (true, Scalar::Bool(b)) = (lit.shape.is_empty(), lit.elems[0]) {
                return Ok(b);
            }
        }
        Err(self.error(Diagnostic::error("expected `true` or `false`").at(e.span)))
    }

    pub(crate) fn static_dtype(&mut self, e: &Expr) -> Lowered<DType> {
        if let ExprKind::Name(n) = &e.kind {
            if let Some(d) = DType::from_name(n) {
                return Ok(d);
            }
        }
        Err(self.error(
            Diagnostic::error("expected a dtype")
                .at(e.span)
                .label("not a dtype")
                .note("the dtypes are f32, f64, i32, i64 and bool"),
        ))
    }

    /// `axis` in `-(rank + extra) .. rank + extra`, made non-negative; `extra`
    /// is 1 where the axis may also name the position after the last.
    pub(crate) fn normalise_axis(
        &mut self,
        axis: i64,
        ty: &Type,
        extra: usize,
        span: Span,
    ) -> Lowered<usize> {
        let n = (ty.shape.rank() + extra) as i64;
        if (-n..n).contains(&axis) {
            return Ok(if axis < 0 { axis + n } else { axis } as usize);
        }
        let valid = match n {
            0 => format!("{ty} has no axes"),
            _ => format!("valid axes are {} to {}", -n, n - 1),
        };
        Err(self.error(
            Diagnostic::error(format!("axis {axis} is out of range for {ty}"))
                .at(span)
                .label(valid),
        ))
    }

    pub(crate) fn axis(&mut self, e: &Expr, ty: &Type, extra: usize) -> Lowered<usize> {
        let a = self.static_int(e)?;
        self.normalise_axis(a, ty, extra, e.span)
    }

    /// One axis or a list of them, normalised, sorted, without repeats.
    pub(crate) fn axes(&mut self, e: &Expr, ty: &Type, extra: usize) -> Lowered<Vec<usize>> {
        let items = match &e.kind {
            ExprKind::Array(items) => items.iter().collect(),
            _ => vec![e],
        };
        let mut axes: Vec<usize> = Vec::new();
        for item in items {
            let a = self.axis(item, ty, extra)?;
            if axes.contains(&a) {
                return Err(self.error(
                    Diagnostic::error(format!("axis {a} is given twice"))
                        .at(item.span)
                        .label("repeated axis"),
                ));
            }
            axes.push(a);
        }
        axes.sort_unstable();
        Ok(axes)
    }

    /// `transpose`'s `perm`: a list of axes, negative ones normalised.
    fn perm(&mut self, e: &Expr, ty: &Type) -> Lowered<Vec<usize>> {
        let ExprKind::Array(items) = &e.kind else {
            return Err(self.error(
                Diagnostic::error("`perm` must be a list of axes, such as `[1, 0]`").at(e.span),
            ));
        };
        items.iter().map(|item| self.axis(item, ty, 0)).collect()
    }

    /// A shape argument `[d0, d1, …]`: integers, symbolic dim names, and (if
    /// `allow_infer`) one `-1`.
    fn dims(&mut self, e: &Expr, allow_infer: bool) -> Lowered<Vec<DimArg>> {
        let ExprKind::Array(items) = &e.kind else {
            return Err(self.error(
                Diagnostic::error("expected a shape, such as `[2, 3]` or `[B, -1]`").at(e.span),
            ));
        };
        let mut dims = Vec::new();
        for item in items {
            let dim = match &item.kind {
                ExprKind::Name(n) if self.weak_literal(item).is_none() => {
                    if self.is_tensor_name(n) {
                        return Err(self.error(
                            Diagnostic::error(format!("`{n}` is a tensor, not a dimension"))
                                .at(item.span)
                                .note("a dimension is an integer literal or the name of a symbolic dimension"),
                        ));
                    }
                    DimArg::Dim(Dim::Sym(n.clone()))
                }
                ExprKind::Unary { op: UnOp::Neg, .. }
                    if allow_infer && self.static_int(item)? == -1 =>
                {
                    if dims.iter().any(|d| matches!(d, DimArg::Infer)) {
                        return Err(self.error(
                            Diagnostic::error("only one dimension of a reshape can be -1")
                                .at(item.span),
                        ));
                    }
                    DimArg::Infer
                }
                _ => {
                    let n = self.static_int(item)?;
                    if n < 0 {
                        let what = if allow_infer {
                            "a size, or -1 for one inferred size"
                        } else {
                            "a size"
                        };
                        return Err(self.error(
                            Diagnostic::error(format!("expected {what}, got {n}")).at(item.span),
                        ));
                    }
                    DimArg::Dim(Dim::Known(n as u64))
                }
            };
            dims.push(dim);
        }
        Ok(dims)
    }

    /// The target shape of `reshape(x: ty, dims)`, its `-1` resolved: the known
    /// sizes must divide, and the symbolic dims must cancel (or leave exactly
    /// one symbol, which the `-1` becomes).
    fn resolve_reshape(&mut self, ty: &Type, dims: Vec<DimArg>, span: Span) -> Lowered<Shape> {
        if !dims.iter().any(|d| matches!(d, DimArg::Infer)) {
            return Ok(Shape(
                dims.into_iter()
                    .filter_map(|d| {
                        if let DimArg::Dim(d) = d {
                            Some(d)
                        } else {
                            None
                        }
                    })
                    .collect(),
            ));
        }
        let target: Vec<Option<Dim>> = dims
            .into_iter()
            .map(|d| {
                if let DimArg::Dim(d) = d {
                    Some(d)
                } else {
                    None
                }
            })
            .collect();
        let shown = Shape(
            target
                .iter()
                .map(|d| d.clone().unwrap_or(Dim::Sym("-1".into())))
                .collect(),
        );
        let fail = |this: &mut Self, why: String| {
            Err(this.error(
                Diagnostic::error(format!("cannot reshape {ty} to {shown}: {why}"))
                    .at(span)
                    .label("the -1 cannot be resolved"),
            ))
        };
        let (mut have, mut syms) = (1u64, Vec::new());
        for d in &ty.shape.0 {
            match d {
                Dim::Known(n) => have = have.saturating_mul(*n),
                Dim::Sym(s) => syms.push(s.clone()),
            }
        }
        let mut want = 1u64;
        for d in target.iter().flatten() {
            match d {
                Dim::Known(n) => want = want.saturating_mul(*n),
                Dim::Sym(s) => match syms.iter().position(|x| x == s) {
                    Some(i) => {
                        syms.remove(i);
                    }
                    None => return fail(self, format!("`{s}` is not a dimension of the operand")),
                },
            }
        }
        let inferred = match syms.as_slice() {
            [] if want == 0 => return fail(self, "the other sizes multiply to 0".into()),
            [] if have % want != 0 => {
                return fail(
                    self,
                    format!("{have} elements do not divide into parts of {want}"),
                );
            }
            [] => Dim::Known(have / want),
            [s] if have == want => Dim::Sym(s.clone()),
            _ => {
                return fail(
                    self,
                    "the inferred size would be a product of symbolic dims".into(),
                )
            }
        };
        Ok(Shape(
            target
                .into_iter()
                .map(|d| d.unwrap_or_else(|| inferred.clone()))
                .collect(),
        ))
    }

    /// Lowers a tensor argument to a node.
    pub(crate) fn value(&mut self, e: &Expr) -> Lowered<ValueId> {
        let v = self.lower_expr(e)?;
        self.tensor(v)
    }
}
