//! Reverse-mode automatic differentiation over the Graph IR.
//!
//! [`differentiate`] appends the gradient computation to the graph as ordinary
//! ops built with [`Graph::add`], so a gradient is itself graph code that every
//! later pass optimises like any other; [`expand_grads`] replaces each
//! `grad(y, x)` node by its expansion. Where a function is not smooth the
//! rules follow TensorFlow: `relu` and `abs` have gradient 0 at 0,
//! `maximum`/`minimum` send the gradient to the first operand on ties,
//! `reduce_max`/`reduce_min` share it equally among tied extrema, and
//! d(a**b)/db is 0 where a ≤ 0. Integer and bool values carry no gradient.

use std::fmt;
use tfg_ir::{
    infer, BinaryOp, DType, Data, Dim, Graph, Node, Op, ReduceOp, Shape, Tensor, Type, TypeError,
    UnaryOp, ValueId,
};

/// Why a gradient could not be built.
#[derive(Clone, Debug, PartialEq)]
pub enum AutodiffError {
    /// The differentiated value is not a float scalar.
    NotFloatScalar {
        /// The value's name, or its id where it has none.
        y: String,
        /// The type it has instead.
        ty: Type,
    },
    /// A value to differentiate with respect to is not a float.
    NotFloat {
        /// The value's name, or its id where it has none.
        x: String,
        /// The type it has instead.
        ty: Type,
    },
    /// A value id that is not in the graph.
    NoSuchValue(ValueId),
    /// The path from `x` to `y` runs through a `grad` that is not expanded yet.
    UnexpandedGrad(String),
    /// A gradient op failed its type rule: a bug in the rule for `op`.
    Rule {
        /// The name of the op whose gradient rule failed (`zeros` for the
        /// zero gradient of a value `y` does not depend on).
        op: String,
        /// What the type rule of the emitted op rejected.
        error: TypeError,
    },
}

impl fmt::Display for AutodiffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AutodiffError::NotFloatScalar { y, ty } => {
                write!(
                    f,
                    "can only differentiate a float scalar, but `{y}` is {ty}"
                )
            }
            AutodiffError::NotFloat { x, ty } => {
                write!(
                    f,
                    "cannot differentiate with respect to `{x}`: it is {ty}, not a float"
                )
            }
            AutodiffError::NoSuchValue(v) => write!(f, "value {v} is not in the graph"),
            AutodiffError::UnexpandedGrad(v) => {
                write!(
                    f,
                    "the gradient path runs through `{v}`, a grad that is not expanded yet"
                )
            }
            AutodiffError::Rule { op, error } => {
                write!(f, "internal error in the gradient of `{op}`: {error}")
            }
        }
    }
}

impl std::error::Error for AutodiffError {}

/// dy/dx for each `x` in `wrt`, appended to `g`: each has the type of its `x`,
/// and is a broadcast zero where `x` does not influence `y`.
pub fn differentiate(
    g: &mut Graph,
    y: ValueId,
    wrt: &[ValueId],
) -> Result<Vec<ValueId>, AutodiffError> {
    let grads = gradients(g, y, wrt)?;
    let mut e = Emitter { g };
    wrt.iter()
        .zip(grads)
        .map(|(&x, dx)| match dx {
            Some(dx) => Ok(dx),
            None => {
                let ty = e.g.ty(x).clone();
                e.zeros(&ty).map_err(|error| AutodiffError::Rule {
                    op: "zeros".into(),
                    error,
                })
            }
        })
        .collect()
}

/// Like [`differentiate`], but `None` for each `x` that `y` does not depend on
/// through differentiable ops (a gradient that is zero by structure). On
/// error the graph is left as it was.
pub fn gradients(
    g: &mut Graph,
    y: ValueId,
    wrt: &[ValueId],
) -> Result<Vec<Option<ValueId>>, AutodiffError> {
    let len = g.nodes.len();
    let result = backprop(g, y, wrt);
    if result.is_err() {
        g.nodes.truncate(len);
    }
    result
}

fn backprop(
    g: &mut Graph,
    y: ValueId,
    wrt: &[ValueId],
) -> Result<Vec<Option<ValueId>>, AutodiffError> {
    for &v in wrt.iter().chain([&y]) {
        if v.index() >= g.nodes.len() {
            return Err(AutodiffError::NoSuchValue(v));
        }
    }
    let yt = g.ty(y).clone();
    if !yt.dtype.is_float() || yt.shape.rank() != 0 {
        return Err(AutodiffError::NotFloatScalar {
            y: describe(g, y),
            ty: yt,
        });
    }
    if let Some(&x) = wrt.iter().find(|&&x| !g.ty(x).dtype.is_float()) {
        return Err(AutodiffError::NotFloat {
            x: describe(g, x),
            ty: g.ty(x).clone(),
        });
    }

    // A value carries a gradient to `wrt` only if it is a float computed from
    // one of them; everything else is skipped, so no dead gradient ops appear.
    let end = y.index() + 1;
    let mut active = vec![false; end];
    for x in wrt.iter().filter(|x| x.index() < end) {
        active[x.index()] = true;
    }
    for i in 0..end {
        let node = &g.nodes[i];
        active[i] =
            node.ty.dtype.is_float() && (active[i] || node.args.iter().any(|a| active[a.index()]));
    }

    let mut adjoint: Vec<Option<ValueId>> = vec![None; end];
    if active[y.index()] {
        let seed = Emitter { g: &mut *g }.scalar(yt.dtype, 1.0);
        adjoint[y.index()] = Some(seed);
    }
    for i in (0..end).rev() {
        let Some(dz) = adjoint[i] else { continue };
        if g.nodes[i].args.is_empty() {
            continue;
        }
        if matches!(g.nodes[i].op, Op::Grad) {
            return Err(AutodiffError::UnexpandedGrad(describe(
                g,
                ValueId(i as u32),
            )));
        }
        let node = g.nodes[i].clone();
        let wants: Vec<bool> = node.args.iter().map(|a| active[a.index()]).collect();
        let first_new = g.nodes.len();
        let mut e = Emitter { g: &mut *g };
        let parts = e
            .rule(&node, ValueId(i as u32), dz, &wants)
            .map_err(|error| AutodiffError::Rule {
                op: node.op.name(),
                error,
            })?;
        for (&arg, part) in node.args.iter().zip(parts) {
            let Some(part) = part.filter(|_| active[arg.index()]) else {
                continue;
            };
            let sum = match adjoint[arg.index()] {
                Some(prev) => e.binary(BinaryOp::Add, prev, part),
                None => Ok(part),
            };
            adjoint[arg.index()] = Some(sum.map_err(|error| AutodiffError::Rule {
                op: node.op.name(),
                error,
            })?);
        }
        // Gradient ops point back at the source of the op they differentiate.
        for n in &mut g.nodes[first_new..] {
            n.loc = n.loc.or(node.loc);
        }
    }

    wrt.iter()
        .map(|&x| {
            let dx = adjoint.get(x.index()).copied().flatten();
            match dx {
                Some(dx) if g.ty(dx) != g.ty(x) => Err(AutodiffError::Rule {
                    op: g.node(x).op.name(),
                    error: TypeError::new(format!(
                        "gradient has type {} but its value has type {}",
                        g.ty(dx),
                        g.ty(x)
                    )),
                }),
                _ => Ok(dx),
            }
        })
        .collect()
}

/// Replaces every `grad(y, x)` node by the ops that compute it, keeping the
/// node list in topological order; then, every gradient being known, each
/// `stop_gradient(x)` by `x`.
pub fn expand_grads(g: &mut Graph) -> Result<(), AutodiffError> {
    expand_grads_mapped(g, false)?;
    expand_grads_mapped(g, true).map(|_| ())
}

/// Expands `grad` nodes (or, if `strip`, removes `stop_gradient` nodes),
/// returning where each old value went.
pub(crate) fn expand_grads_mapped(
    g: &mut Graph,
    strip: bool,
) -> Result<Vec<ValueId>, AutodiffError> {
    let target = |op: &Op| match op {
        Op::Grad => !strip,
        Op::StopGradient => strip,
        _ => false,
    };
    if !g.nodes.iter().any(|n| target(&n.op)) {
        return Ok(g.ids().collect());
    }
    let mut out = Graph::new(g.name.clone());
    let mut map: Vec<ValueId> = Vec::with_capacity(g.nodes.len());
    for node in &g.nodes {
        let args: Vec<ValueId> = node.args.iter().map(|a| map[a.index()]).collect();
        if !strip && matches!(node.op, Op::Grad) {
            let first_new = out.nodes.len();
            let dx = differentiate(&mut out, args[0], &[args[1]])?[0];
            // Name the gradient after the grad it replaces, unless it is a
            // value that already existed (for example `x` in d(w·x)/dw).
            if dx.index() >= first_new && out.node(dx).name.is_none() {
                out.node_mut(dx).name.clone_from(&node.name);
                out.node_mut(dx).loc = node.loc;
            }
            map.push(dx);
        } else if strip && matches!(node.op, Op::StopGradient) {
            // Its only meaning was to gradients, which are all computed now.
            map.push(args[0]);
        } else {
            map.push(out.push(Node {
                args,
                ..node.clone()
            }));
        }
    }
    out.outputs = g
        .outputs
        .iter()
        .map(|(n, v)| (n.clone(), map[v.index()]))
        .collect();
    out.updates = g
        .updates
        .iter()
        .map(|&(p, v)| (map[p.index()], map[v.index()]))
        .collect();
    *g = out;
    Ok(map)
}

fn describe(g: &Graph, v: ValueId) -> String {
    g.node(v).name.clone().unwrap_or_else(|| v.to_string())
}

/// Appends gradient ops, folding the trivial cases (`x * 1`, reshapes to the
/// same shape, arithmetic on scalar constants) so gradients stay readable.
struct Emitter<'g> {
    g: &'g mut Graph,
}

type Emitted = Result<ValueId, TypeError>;

impl Emitter<'_> {
    fn ty(&self, v: ValueId) -> &Type {
        self.g.ty(v)
    }

    fn shape(&self, v: ValueId) -> Shape {
        self.g.ty(v).shape.clone()
    }

    fn scalar(&mut self, dtype: DType, value: f64) -> ValueId {
        self.constant(Tensor {
            shape: vec![],
            data: Data::from_f64(dtype, [value]),
        })
    }

    fn constant(&mut self, t: Tensor) -> ValueId {
        let ty = t.ty();
        self.g.push(Node {
            op: Op::Const(t),
            args: vec![],
            ty,
            name: None,
            loc: None,
        })
    }

    /// The value of `v` if it is a one-element float constant.
    fn scalar_value(&self, v: ValueId) -> Option<f64> {
        match &self.g.node(v).op {
            Op::Const(t) if t.numel() == 1 && t.dtype().is_float() => Some(t.data.get_f64(0)),
            _ => None,
        }
    }

    /// `f`'s value if `want`, so that unwanted gradients emit nothing.
    fn when(
        &mut self,
        want: bool,
        f: impl FnOnce(&mut Self) -> Emitted,
    ) -> Result<Option<ValueId>, TypeError> {
        if want {
            f(self).map(Some)
        } else {
            Ok(None)
        }
    }

    fn zeros(&mut self, ty: &Type) -> Emitted {
        let zero = self.scalar(ty.dtype, 0.0);
        self.broadcast_to(zero, &ty.shape)
    }

    fn unary(&mut self, u: UnaryOp, x: ValueId) -> Emitted {
        if let (UnaryOp::Neg, Some(c), true) =
            (u, self.scalar_value(x), self.ty(x).shape.rank() == 0)
        {
            return Ok(self.scalar(self.ty(x).dtype, -c));
        }
        self.g.add(Op::Unary(u), &[x])
    }

    fn neg(&mut self, x: ValueId) -> Emitted {
        self.unary(UnaryOp::Neg, x)
    }

    fn binary(&mut self, b: BinaryOp, x: ValueId, y: ValueId) -> Emitted {
        let ty = infer(&Op::Binary(b), &[self.ty(x), self.ty(y)])?;
        let (cx, cy) = (self.scalar_value(x), self.scalar_value(y));
        if let (Some(p), Some(q), 0) = (cx, cy, ty.shape.rank()) {
            let folded = match b {
                BinaryOp::Add => Some(p + q),
                BinaryOp::Sub => Some(p - q),
                BinaryOp::Mul => Some(p * q),
                BinaryOp::Div => Some(p / q),
                _ => None,
            };
            if let Some(v) = folded {
                return Ok(self.scalar(ty.dtype, v));
            }
        }
        let keeps = |v: ValueId, e: &Self| e.ty(v) == &ty;
        match b {
            BinaryOp::Mul if cy == Some(1.0) && keeps(x, self) => return Ok(x),
            BinaryOp::Mul if cx == Some(1.0) && keeps(y, self) => return Ok(y),
            BinaryOp::Div if cy == Some(1.0) && keeps(x, self) => return Ok(x),
            _ => {}
        }
        self.g.add(Op::Binary(b), &[x, y])
    }

    fn mul(&mut self, x: ValueId, y: ValueId) -> Emitted {
        self.binary(BinaryOp::Mul, x, y)
    }

    fn div(&mut self, x: ValueId, y: ValueId) -> Emitted {
        self.binary(BinaryOp::Div, x, y)
    }

    fn sub(&mut self, x: ValueId, y: ValueId) -> Emitted {
        self.binary(BinaryOp::Sub, x, y)
    }

    fn select(&mut self, c: ValueId, a: ValueId, b: ValueId) -> Emitted {
        self.g.add(Op::Select, &[c, a, b])
    }

    fn reduce(&mut self, op: ReduceOp, x: ValueId, axes: Vec<usize>, keepdims: bool) -> Emitted {
        if axes.is_empty() {
            return Ok(x);
        }
        self.g.add(Op::Reduce { op, axes, keepdims }, &[x])
    }

    fn reshape(&mut self, x: ValueId, shape: &Shape) -> Emitted {
        if &self.ty(x).shape == shape {
            return Ok(x);
        }
        if let (Op::Const(t), Some(dims)) = (&self.g.node(x).op, shape.concrete()) {
            if t.numel() == 1 {
                let t = Tensor {
                    shape: dims,
                    data: t.data.clone(),
                };
                return Ok(self.constant(t));
            }
        }
        self.g.add(
            Op::Reshape {
                shape: shape.clone(),
            },
            &[x],
        )
    }

    fn broadcast_to(&mut self, x: ValueId, shape: &Shape) -> Emitted {
        if &self.ty(x).shape == shape {
            return Ok(x);
        }
        self.g.add(
            Op::BroadcastTo {
                shape: shape.clone(),
            },
            &[x],
        )
    }

    fn transpose(&mut self, x: ValueId, perm: Vec<usize>) -> Emitted {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(x);
        }
        self.g.add(Op::Transpose { perm }, &[x])
    }

    /// Swaps the last two axes.
    fn transpose_matrix(&mut self, x: ValueId) -> Emitted {
        let r = self.ty(x).shape.rank();
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(r - 2, r - 1);
        self.transpose(x, perm)
    }

    fn cast(&mut self, x: ValueId, to: DType) -> Emitted {
        if self.ty(x).dtype == to {
            return Ok(x);
        }
        self.g.add(Op::Cast { to }, &[x])
    }

    /// Sums `v` down to `target`, undoing a numpy broadcast: the extra leading
    /// axes and the axes where `target` has size 1 are summed away.
    fn sum_to(&mut self, v: ValueId, target: &Shape) -> Emitted {
        let shape = self.shape(v);
        let lead = shape.rank().saturating_sub(target.rank());
        let axes: Vec<usize> = (0..shape.rank())
            .filter(|&i| {
                i < lead || (target.0[i - lead] == Dim::Known(1) && shape.0[i] != Dim::Known(1))
            })
            .collect();
        let summed = self.reduce(ReduceOp::Sum, v, axes, false)?;
        self.reshape(summed, target)
    }

    /// The number of elements along `axes` of `x`, as a scalar of `x`'s dtype.
    fn count(&mut self, x: ValueId, axes: &[usize]) -> Emitted {
        let t = self.ty(x).clone();
        let dims: Vec<Dim> = axes.iter().map(|&a| t.shape.0[a].clone()).collect();
        match dims.iter().map(Dim::known).collect::<Option<Vec<u64>>>() {
            Some(ns) => Ok(self.scalar(t.dtype, ns.iter().product::<u64>() as f64)),
            // A symbolic size is only known at run time: count by summing ones.
            None => {
                let one = self.scalar(t.dtype, 1.0);
                let ones = self.broadcast_to(one, &Shape(dims))?;
                self.reduce(ReduceOp::Sum, ones, (0..axes.len()).collect(), false)
            }
        }
    }

    /// The gradient contribution to each operand of `node` (value `z`, adjoint
    /// `dz`), for the operands `wants` marks; `None` where it is zero.
    fn rule(
        &mut self,
        node: &Node,
        z: ValueId,
        dz: ValueId,
        wants: &[bool],
    ) -> Result<Vec<Option<ValueId>>, TypeError> {
        let a = node.args[0];
        Ok(match &node.op {
            Op::Unary(u) => vec![self.unary_rule(*u, a, z, dz)?],
            Op::Binary(b) => {
                let (da, db) = self.binary_rule(*b, a, node.args[1], z, dz, wants)?;
                vec![
                    da.map(|d| self.sum_to(d, &self.shape(a))).transpose()?,
                    db.map(|d| self.sum_to(d, &self.shape(node.args[1])))
                        .transpose()?,
                ]
            }
            Op::Select => {
                let (c, x, y) = (a, node.args[1], node.args[2]);
                let zero = self.scalar(self.ty(dz).dtype, 0.0);
                let dx = self.when(wants[1], |e| e.select(c, dz, zero))?;
                let dy = self.when(wants[2], |e| e.select(c, zero, dz))?;
                vec![
                    None,
                    dx.map(|d| self.sum_to(d, &self.shape(x))).transpose()?,
                    dy.map(|d| self.sum_to(d, &self.shape(y))).transpose()?,
                ]
            }
            Op::Reduce { op, axes, .. } => vec![Some(self.reduce_rule(*op, a, axes, z, dz)?)],
            Op::MatMul => {
                let (da, db) = self.matmul_rule(a, node.args[1], dz, wants)?;
                vec![da, db]
            }
            Op::Transpose { perm } => {
                let inverse = tfg_ir::op::inverse_perm(perm)
                    .ok_or_else(|| TypeError::new(format!("{perm:?} is not a permutation")))?;
                vec![Some(self.transpose(dz, inverse)?)]
            }
            Op::Reshape { .. } => vec![Some(self.reshape(dz, &self.shape(a))?)],
            Op::BroadcastTo { .. } => vec![Some(self.sum_to(dz, &self.shape(a))?)],
            Op::Concat { axis } => self.concat_rule(&node.args, *axis, dz, wants)?,
            Op::Slice { start, step, .. } => {
                vec![Some(self.unslice(dz, &self.shape(a), start, step)?)]
            }
            Op::Cast { .. } if self.ty(a).dtype.is_float() => {
                vec![Some(self.cast(dz, self.ty(a).dtype)?)]
            }
            // No gradient: integer or bool results or operands; leaves and
            // grads never get here.
            Op::Cast { .. }
            | Op::ArgMax { .. }
            | Op::ArgMin { .. }
            | Op::OneHot { .. }
            | Op::Input { .. }
            | Op::Param { .. }
            | Op::Const(_)
            | Op::Grad
            | Op::StopGradient => vec![None; node.args.len()],
        })
    }

    fn unary_rule(
        &mut self,
        u: UnaryOp,
        x: ValueId,
        z: ValueId,
        dz: ValueId,
    ) -> Result<Option<ValueId>, TypeError> {
        let dtype = self.ty(x).dtype;
        let c = |e: &mut Self, v: f64| e.scalar(dtype, v);
        let dx = match u {
            UnaryOp::Neg => self.neg(dz)?,
            UnaryOp::Abs => {
                let s = self.unary(UnaryOp::Sign, x)?;
                self.mul(dz, s)?
            }
            UnaryOp::Exp => self.mul(dz, z)?,
            UnaryOp::Log => self.div(dz, x)?,
            UnaryOp::Sqrt => {
                let half = c(self, 0.5);
                let t = self.mul(dz, half)?;
                self.div(t, z)?
            }
            UnaryOp::Rsqrt => {
                // d(x^-1/2) = -1/2 · x^-3/2 = -1/2 · z³
                let z2 = self.unary(UnaryOp::Square, z)?;
                let z3 = self.mul(z2, z)?;
                let k = c(self, -0.5);
                let t = self.mul(z3, k)?;
                self.mul(dz, t)?
            }
            UnaryOp::Square => {
                let two = c(self, 2.0);
                let t = self.mul(two, x)?;
                self.mul(dz, t)?
            }
            UnaryOp::Tanh => {
                let one = c(self, 1.0);
                let z2 = self.unary(UnaryOp::Square, z)?;
                let t = self.sub(one, z2)?;
                self.mul(dz, t)?
            }
            UnaryOp::Sigmoid => {
                let one = c(self, 1.0);
                let t = self.sub(one, z)?;
                let t = self.mul(z, t)?;
                self.mul(dz, t)?
            }
            UnaryOp::Relu => {
                let zero = c(self, 0.0);
                let positive = self.binary(BinaryOp::Gt, x, zero)?;
                self.select(positive, dz, zero)?
            }
            UnaryOp::Sin => {
                let t = self.unary(UnaryOp::Cos, x)?;
                self.mul(dz, t)?
            }
            UnaryOp::Cos => {
                let t = self.unary(UnaryOp::Sin, x)?;
                let t = self.mul(dz, t)?;
                self.neg(t)?
            }
            UnaryOp::Reciprocal => {
                let z2 = self.unary(UnaryOp::Square, z)?;
                let t = self.mul(dz, z2)?;
                self.neg(t)?
            }
            UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Sign | UnaryOp::Not => return Ok(None),
        };
        Ok(Some(dx))
    }

    /// Contributions of an elementwise binary op, at the broadcast shape.
    fn binary_rule(
        &mut self,
        op: BinaryOp,
        a: ValueId,
        b: ValueId,
        z: ValueId,
        dz: ValueId,
        wants: &[bool],
    ) -> Result<(Option<ValueId>, Option<ValueId>), TypeError> {
        let dtype = self.ty(z).dtype;
        let (want_a, want_b) = (wants[0], wants[1]);
        let (da, db) = match op {
            BinaryOp::Add => (Some(dz), Some(dz)),
            BinaryOp::Sub => (Some(dz), self.when(want_b, |e| e.neg(dz))?),
            BinaryOp::Mul => (
                self.when(want_a, |e| e.mul(dz, b))?,
                self.when(want_b, |e| e.mul(dz, a))?,
            ),
            // d(a/b)/db = -a/b² = -z/b
            BinaryOp::Div => (
                self.when(want_a, |e| e.div(dz, b))?,
                self.when(want_b, |e| {
                    let t = e.mul(dz, z)?;
                    let t = e.div(t, b)?;
                    e.neg(t)
                })?,
            ),
            // TensorFlow: d(a**b)/db = z · log(a) where a > 0, else 0; the
            // inner select keeps log's own gradient finite there too.
            BinaryOp::Pow => (
                self.when(want_a, |e| e.pow_base_rule(a, b, dz))?,
                self.when(want_b, |e| {
                    let zero = e.scalar(dtype, 0.0);
                    let one = e.scalar(dtype, 1.0);
                    let positive = e.binary(BinaryOp::Gt, a, zero)?;
                    let safe = e.select(positive, a, one)?;
                    let log = e.unary(UnaryOp::Log, safe)?;
                    let log = e.select(positive, log, zero)?;
                    let t = e.mul(z, log)?;
                    e.mul(dz, t)
                })?,
            ),
            // Ties go to the first operand, as in TensorFlow.
            BinaryOp::Maximum | BinaryOp::Minimum => {
                let cmp = if op == BinaryOp::Maximum {
                    BinaryOp::Ge
                } else {
                    BinaryOp::Le
                };
                let first = self.binary(cmp, a, b)?;
                let zero = self.scalar(dtype, 0.0);
                (
                    self.when(want_a, |e| e.select(first, dz, zero))?,
                    self.when(want_b, |e| e.select(first, zero, dz))?,
                )
            }
            BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::Eq
            | BinaryOp::Ne => (None, None),
        };
        Ok((da, db))
    }

    /// d(a**b)/da = b · a**(b-1); with a constant exponent, b-1 is folded and
    /// the common squares and square roots need no `pow` of 1.
    fn pow_base_rule(&mut self, a: ValueId, b: ValueId, dz: ValueId) -> Emitted {
        let dtype = self.ty(a).dtype;
        let power = match &self.g.node(b).op {
            Op::Const(t) => {
                let n = t.numel();
                let minus_one: Vec<f64> = (0..n).map(|i| t.data.get_f64(i) - 1.0).collect();
                if minus_one.iter().all(|&p| p == 0.0) {
                    None
                } else if minus_one.iter().all(|&p| p == 1.0) {
                    Some(a)
                } else {
                    let c = Tensor {
                        shape: t.shape.clone(),
                        data: Data::from_f64(dtype, minus_one),
                    };
                    let c = self.constant(c);
                    Some(self.binary(BinaryOp::Pow, a, c)?)
                }
            }
            _ => {
                let one = self.scalar(dtype, 1.0);
                let p = self.sub(b, one)?;
                Some(self.binary(BinaryOp::Pow, a, p)?)
            }
        };
        let t = match power {
            Some(p) => self.mul(b, p)?,
            None => b,
        };
        self.mul(dz, t)
    }

    fn reduce_rule(
        &mut self,
        op: ReduceOp,
        x: ValueId,
        axes: &[usize],
        z: ValueId,
        dz: ValueId,
    ) -> Emitted {
        let xt = self.ty(x).clone();
        // The result shape with the reduced axes kept as size 1, so that it
        // broadcasts against `x`.
        let kept = Shape(
            xt.shape
                .0
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    if axes.contains(&i) {
                        Dim::Known(1)
                    } else {
                        d.clone()
                    }
                })
                .collect(),
        );
        // A mean divides before the reshape, where a constant count folds.
        let dz = match op {
            ReduceOp::Mean => {
                let n = self.count(x, axes)?;
                self.div(dz, n)?
            }
            _ => dz,
        };
        let dz = self.reshape(dz, &kept)?;
        let c = |e: &mut Self, v: f64| e.scalar(xt.dtype, v);
        match op {
            ReduceOp::Sum | ReduceOp::Mean => self.broadcast_to(dz, &xt.shape),
            ReduceOp::Max | ReduceOp::Min => {
                // Ties share the gradient equally, as tf.reduce_max's does.
                let z = self.reshape(z, &kept)?;
                let hit = self.binary(BinaryOp::Eq, x, z)?;
                let hit = self.cast(hit, xt.dtype)?;
                let hits = self.reduce(ReduceOp::Sum, hit, axes.to_vec(), true)?;
                let share = self.div(hit, hits)?;
                self.mul(share, dz)
            }
            ReduceOp::Prod => {
                // The product of the other elements, without dividing by zero:
                // with no zero it is prod/x; with one zero, only the zero
                // element gets the product of the rest; with more, all get 0.
                let (zero, one) = (c(self, 0.0), c(self, 1.0));
                let is_zero = self.binary(BinaryOp::Eq, x, zero)?;
                let zeros = self.cast(is_zero, xt.dtype)?;
                let zeros = self.reduce(ReduceOp::Sum, zeros, axes.to_vec(), true)?;
                let safe = self.select(is_zero, one, x)?;
                let rest = self.reduce(ReduceOp::Prod, safe, axes.to_vec(), true)?;
                let one_zero = self.binary(BinaryOp::Eq, zeros, one)?;
                let at_zero = self.select(one_zero, rest, zero)?;
                let no_zero = self.binary(BinaryOp::Eq, zeros, zero)?;
                let others = self.div(rest, safe)?;
                let elsewhere = self.select(no_zero, others, zero)?;
                let others = self.select(is_zero, at_zero, elsewhere)?;
                self.mul(others, dz)
            }
        }
    }

    /// numpy matmul: a 1-D operand is a row (left) or column (right) whose
    /// added axis is dropped from the result; batch axes broadcast.
    fn matmul_rule(
        &mut self,
        a: ValueId,
        b: ValueId,
        dz: ValueId,
        wants: &[bool],
    ) -> Result<(Option<ValueId>, Option<ValueId>), TypeError> {
        let (sa, sb) = (self.shape(a), self.shape(b));
        let (ra, rb) = (sa.rank(), sb.rank());
        if ra == 1 && rb == 1 {
            return Ok((
                self.when(wants[0], |e| e.mul(dz, b))?,
                self.when(wants[1], |e| e.mul(dz, a))?,
            ));
        }
        // Matrix times vector needs no promotion: da = b @ dz for [k]·[k, n],
        // db = aᵀ @ dz for [m, k]·[k].
        let (da_direct, db_direct) = (ra == 1 && rb == 2, ra == 2 && rb == 1);
        // Otherwise promote to matrices, a [k] → [1, k] and b [k] → [k, 1],
        // and give dz the matching unit axes back.
        let dz_m = if (wants[0] && !da_direct) || (wants[1] && !db_direct) {
            let mut dims = self.shape(dz).0;
            if ra == 1 {
                dims.insert(dims.len() - 1, Dim::Known(1));
            }
            if rb == 1 {
                dims.push(Dim::Known(1));
            }
            self.reshape(dz, &Shape(dims))?
        } else {
            dz
        };
        let da = self.when(wants[0], |e| {
            if da_direct {
                return e.g.add(Op::MatMul, &[b, dz]);
            }
            let b_m = if rb == 1 {
                e.reshape(b, &Shape([sb.0.clone(), vec![Dim::Known(1)]].concat()))?
            } else {
                b
            };
            let bt = e.transpose_matrix(b_m)?;
            let d = e.g.add(Op::MatMul, &[dz_m, bt])?;
            e.drop_unit_and_sum(d, ra == 1, 2, &sa)
        })?;
        let db = self.when(wants[1], |e| {
            if db_direct {
                let at = e.transpose_matrix(a)?;
                return e.g.add(Op::MatMul, &[at, dz]);
            }
            let a_m = if ra == 1 {
                e.reshape(a, &Shape([vec![Dim::Known(1)], sa.0.clone()].concat()))?
            } else {
                a
            };
            let at = e.transpose_matrix(a_m)?;
            let d = e.g.add(Op::MatMul, &[at, dz_m])?;
            e.drop_unit_and_sum(d, rb == 1, 1, &sb)
        })?;
        Ok((da, db))
    }

    /// Drops the unit axis (counted `from_end`) that a 1-D promotion added,
    /// then sums broadcast batch axes away.
    fn drop_unit_and_sum(
        &mut self,
        d: ValueId,
        promoted: bool,
        from_end: usize,
        target: &Shape,
    ) -> Emitted {
        let d = if promoted {
            let mut dims = self.shape(d).0;
            dims.remove(dims.len() - from_end);
            self.reshape(d, &Shape(dims))?
        } else {
            d
        };
        self.sum_to(d, target)
    }

    /// Each operand's slice of `dz`. The IR has no slice op, so the slice is a
    /// masked sum: `dz` gets a new axis before `axis`, a constant mask picks
    /// position `offset + j` of the concatenated axis for row `j`, and the
    /// concatenated axis is summed away. Selecting rather than multiplying
    /// keeps it exact even for non-finite values.
    /// The gradient of a slice: `dz` scattered into zeros shaped like the
    /// operand, one axis at a time (interleave zeros for a step, then pad).
    fn unslice(&mut self, dz: ValueId, to: &Shape, start: &[u64], step: &[u64]) -> Emitted {
        let mut d = dz;
        for (a, (&from, &by)) in start.iter().zip(step).enumerate() {
            let have = self.shape(d);
            let (len, full) = (have.0[a].clone(), to.0[a].clone());
            if len == full {
                continue;
            }
            let (Some(len), Some(n)) = (len.known(), full.known()) else {
                return Err(TypeError::new(
                    "slice: a sliced axis must have a known size",
                ));
            };
            let zero = self.scalar(self.ty(d).dtype, 0.0);
            let mut span = len;
            if by > 1 && len > 1 {
                let mut split = have.0.clone();
                split.insert(a + 1, Dim::Known(1));
                let column = self.reshape(d, &Shape(split.clone()))?;
                split[a + 1] = Dim::Known(by - 1);
                let gaps = self.broadcast_to(zero, &Shape(split))?;
                let woven = self.g.add(Op::Concat { axis: a + 1 }, &[column, gaps])?;
                let mut joined = have.0.clone();
                joined[a] = Dim::Known(len * by);
                d = self.reshape(woven, &Shape(joined))?;
                span = (len * by).min(n - from);
                if span < len * by {
                    let rank = have.rank();
                    let mut shape = self.shape(d);
                    shape.0[a] = Dim::Known(span);
                    d = self.g.add(
                        Op::Slice {
                            start: vec![0; rank],
                            step: vec![1; rank],
                            shape,
                        },
                        &[d],
                    )?;
                }
            }
            let mut parts = Vec::new();
            for count in [from, n - from - span] {
                if count > 0 {
                    let mut shape = self.shape(d);
                    shape.0[a] = Dim::Known(count);
                    parts.push(self.broadcast_to(zero, &shape)?);
                }
            }
            if !parts.is_empty() {
                let hi = if from + span < n { parts.pop() } else { None };
                let lo = parts.pop();
                let all: Vec<ValueId> = lo.into_iter().chain([d]).chain(hi).collect();
                d = self.g.add(Op::Concat { axis: a }, &all)?;
            }
        }
        Ok(d)
    }

    /// Each operand's gradient is its own range of `dz` along `axis`.
    fn concat_rule(
        &mut self,
        args: &[ValueId],
        axis: usize,
        dz: ValueId,
        wants: &[bool],
    ) -> Result<Vec<Option<ValueId>>, TypeError> {
        if args.len() == 1 {
            return Ok(vec![Some(dz)]);
        }
        let rank = self.shape(dz).rank();
        let mut offset = 0;
        let mut out = Vec::with_capacity(args.len());
        for (&x, &want) in args.iter().zip(wants) {
            let n = self.ty(x).shape.0[axis].known().ok_or_else(|| {
                TypeError::new("concat: an operand's concatenated dimension must be known")
            })?;
            if want {
                let mut start = vec![0; rank];
                start[axis] = offset;
                let part = self.g.add(
                    Op::Slice {
                        start,
                        step: vec![1; rank],
                        shape: self.shape(x),
                    },
                    &[dz],
                )?;
                out.push(Some(part));
            } else {
                out.push(None);
            }
            offset += n;
        }
        Ok(out)
    }
}
