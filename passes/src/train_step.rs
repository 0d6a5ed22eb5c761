//! The training-step graph: forward pass, gradients and optimizer update in one graph.
//!
//! One run of the step graph computes the loss, the gradient of the loss for
//! every param, and each param's new value, which it returns as
//! [`Graph::updates`] entries, so the update is compiled code, not host code.
//! Optimizer state (momentum accumulators, Adam's moments and step count) is
//! kept in extra params whose names are not identifiers (`w/momentum`,
//! `w/adam_m`, `w/adam_v`, `adam/step`), so they never clash with user params;
//! they start at zero. The update formulas are those of TensorFlow's
//! `tf.compat.v1.train` optimizers, written as its kernels compute them.

use crate::autodiff::{expand_grads_mapped, gradients};
use tfg_ir::{
    BinaryOp, DType, Data, Decay, Graph, Init, Op, Optimizer, ReduceOp, Tensor, TrainSpec, Type,
    UnaryOp, ValueId,
};

/// A graph that runs one training step.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainStep {
    /// Outputs: the loss first, then each logged value in `spec.log` order,
    /// each name once (a logged loss is output 0). Updates: every trained
    /// param and every optimizer slot.
    pub graph: Graph,
    /// The loss, before this step's update.
    pub loss: ValueId,
    /// Each logged name, in `spec.log` order, with its index in the outputs.
    pub log: Vec<(String, usize)>,
    /// Each trained param with its gradient. A param the loss does not depend
    /// on is not updated (as TensorFlow skips variables with no gradient).
    pub grads: Vec<(ValueId, ValueId)>,
    /// The optimizer's state, as params initialised to zeros.
    pub slots: Vec<ValueId>,
}

/// The training step cut in two at the gradients, for data parallelism:
/// each replica runs [`SplitStep::gradients`] on its share of the batch,
/// the replicas average what it outputs, and each runs
/// [`SplitStep::update`] on the averages. Run back to back on one replica,
/// the two compute what the [`TrainStep`] graph computes.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitStep {
    /// Outputs: the loss, the logged values (as [`TrainStep::graph`]'s),
    /// then the gradient of every trained param, named `{param}/grad`. No updates.
    pub gradients: Graph,
    /// Each logged name with its index in `gradients`' outputs.
    pub log: Vec<(String, usize)>,
    /// The index of the first gradient in `gradients`' outputs.
    pub first_gradient: usize,
    /// Inputs: the gradients, named as `gradients` outputs them; its params
    /// are the trained params and the optimizer's slots, and its updates
    /// their new values (clipping, when the train item asks, is done here,
    /// on the averaged gradients).
    pub update: Graph,
}

/// Builds the step graph for training `g` as `spec` says.
pub fn build_train_step(g: &Graph, spec: &TrainSpec) -> Result<TrainStep, String> {
    let Differentiated {
        mut graph,
        loss,
        log,
        grads,
    } = differentiate(g, spec)?;
    let (slots, updates) = optimize(&mut graph, spec, &grads)?;
    graph.updates = updates;
    Ok(TrainStep {
        graph,
        loss,
        log,
        grads,
        slots,
    })
}

/// Builds the training step for `g` as `spec` says, cut at the gradients.
pub fn build_split_train_step(g: &Graph, spec: &TrainSpec) -> Result<SplitStep, String> {
    let Differentiated {
        mut graph,
        loss: _,
        log,
        grads,
    } = differentiate(g, spec)?;
    let first_gradient = graph.outputs.len();
    let mut update = Graph::new(format!("{}_update", g.name));
    let mut averaged = Vec::new();
    for &(w, dw) in &grads {
        let name = param_name(&graph, w);
        let grad = format!("{name}/grad");
        graph.outputs.push((grad.clone(), dw));
        let Op::Param { init, .. } = &graph.node(w).op else {
            return Err(format!("`{name}` is not a param"));
        };
        let ty = graph.ty(w).clone();
        let w = update.add_param(&name, ty.clone(), init.clone());
        averaged.push((w, update.add_input(&grad, ty, None)));
    }
    let (_, updates) = optimize(&mut update, spec, &averaged)?;
    update.updates = updates;
    Ok(SplitStep {
        gradients: graph,
        log,
        first_gradient,
        update,
    })
}

/// The graph with its gradients: what both forms of the step start from.
struct Differentiated {
    /// `g` with its gradient nodes expanded and the gradients of the loss
    /// appended; its outputs are the loss, then each logged value.
    graph: Graph,
    loss: ValueId,
    /// Each logged name with its index in the outputs.
    log: Vec<(String, usize)>,
    /// Each trained param with its gradient.
    grads: Vec<(ValueId, ValueId)>,
}

/// Checks `spec` against `g`, appends the gradient of the loss for every
/// param, and makes the loss and the logged values the outputs.
fn differentiate(g: &Graph, spec: &TrainSpec) -> Result<Differentiated, String> {
    if spec.graph != g.name {
        return Err(format!(
            "the train item is for graph `{}`, not `{}`",
            spec.graph, g.name
        ));
    }
    if !g.updates.is_empty() {
        return Err(format!("graph `{}` already updates its params", g.name));
    }
    let find = |name: &str| {
        g.output(name)
            .or_else(|| g.lookup(name))
            .ok_or_else(|| format!("graph `{}` has no value named `{name}`", g.name))
    };
    let loss = find(&spec.minimize)?;
    let log = spec
        .log
        .iter()
        .map(|n| Ok((n.clone(), find(n)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let lt = g.ty(loss);
    if !lt.dtype.is_float() || lt.shape.rank() != 0 {
        return Err(format!(
            "minimize `{}`: the loss must be a float scalar, got {lt}",
            spec.minimize
        ));
    }
    if let Some((name, v)) = log.iter().find(|(_, v)| g.ty(*v).shape.rank() != 0) {
        return Err(format!(
            "log `{name}`: only scalars can be logged, got {}",
            g.ty(*v)
        ));
    }

    let mut graph = g.clone();
    let map = expand_grads_mapped(&mut graph, false).map_err(|e| e.to_string())?;
    let loss = map[loss.index()];
    let log: Vec<(String, ValueId)> = log.into_iter().map(|(n, v)| (n, map[v.index()])).collect();

    let params: Vec<ValueId> = graph.params().collect();
    if params.is_empty() {
        return Err(format!("graph `{}` has no params to train", g.name));
    }
    if let Some(&p) = params.iter().find(|&&p| !graph.ty(p).dtype.is_float()) {
        return Err(format!(
            "param `{}` is {}; only float params can be trained",
            param_name(&graph, p),
            graph.ty(p)
        ));
    }
    let dparams = gradients(&mut graph, loss, &params).map_err(|e| e.to_string())?;
    let grads: Vec<(ValueId, ValueId)> = params
        .iter()
        .zip(dparams)
        .filter_map(|(&p, d)| d.map(|d| (p, d)))
        .collect();
    if grads.is_empty() {
        return Err(format!(
            "the loss `{}` does not depend on any param",
            spec.minimize
        ));
    }

    graph.outputs = vec![(spec.minimize.clone(), loss)];
    let log = output_logged(&mut graph, log);
    Ok(Differentiated {
        graph,
        loss,
        log,
        grads,
    })
}

/// Appends the optimizer's update of every param in `grads` (each with the
/// gradient to apply) to `graph`: returns the slots it created and the updates.
#[allow(clippy::type_complexity)]
fn optimize(
    graph: &mut Graph,
    spec: &TrainSpec,
    grads: &[(ValueId, ValueId)],
) -> Result<(Vec<ValueId>, Vec<(ValueId, ValueId)>), String> {
    let mut opt = Update {
        g: graph,
        slots: Vec::new(),
        updates: Vec::new(),
        step: None,
        alpha: Vec::new(),
        decay: spec.decay,
        global_step: None,
        lr: Vec::new(),
    };
    let clipped = match spec.clip_norm {
        Some(c) => opt
            .clip_by_global_norm(grads, c)
            .map_err(|e| format!("clip_norm: {e}"))?,
        None => grads.to_vec(),
    };
    for &(w, dw) in &clipped {
        opt.apply(&spec.optimizer, w, dw)
            .map_err(|e| format!("optimizer update: {e}"))?;
    }
    Ok((opt.slots, opt.updates))
}

/// Adds each logged value to `graph`'s outputs (once a name; a logged loss
/// is the loss output) and returns where each is.
fn output_logged(graph: &mut Graph, log: Vec<(String, ValueId)>) -> Vec<(String, usize)> {
    log.into_iter()
        .map(|(name, v)| {
            let i = match graph.outputs.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None => {
                    graph.outputs.push((name.clone(), v));
                    graph.outputs.len() - 1
                }
            };
            (name, i)
        })
        .collect()
}

fn param_name(g: &Graph, p: ValueId) -> String {
    match &g.node(p).op {
        Op::Param { name, .. } => name.clone(),
        _ => p.to_string(),
    }
}

/// Emits optimizer updates, creating slots as it goes.
struct Update<'g> {
    g: &'g mut Graph,
    slots: Vec<ValueId>,
    updates: Vec<(ValueId, ValueId)>,
    /// Adam's step count after this step's increment, once created.
    step: Option<ValueId>,
    /// Adam's bias-corrected learning rate, once per dtype.
    alpha: Vec<(DType, ValueId)>,
    /// The learning-rate schedule, if any.
    decay: Option<Decay>,
    /// The step count before this step (from 0), once created.
    global_step: Option<ValueId>,
    /// The decayed learning rate, once per dtype.
    lr: Vec<(DType, ValueId)>,
}

type Emitted = Result<ValueId, tfg_ir::TypeError>;

impl Update<'_> {
    fn apply(&mut self, opt: &Optimizer, w: ValueId, g: ValueId) -> Result<(), tfg_ir::TypeError> {
        let new_w = match *opt {
            // ApplyGradientDescent: var -= grad * lr
            Optimizer::Sgd { lr } => {
                let lr = self.rate(w, lr)?;
                let step = self.binary(BinaryOp::Mul, g, lr)?;
                self.binary(BinaryOp::Sub, w, step)?
            }
            // ApplyMomentum: accum = accum * momentum + grad; var -= accum * lr
            Optimizer::Momentum { lr, beta } => {
                let accum = self.slot(w, "momentum");
                let beta = self.constant(w, beta);
                let decayed = self.binary(BinaryOp::Mul, accum, beta)?;
                let accum_new = self.binary(BinaryOp::Add, decayed, g)?;
                self.updates.push((accum, accum_new));
                let lr = self.rate(w, lr)?;
                let step = self.binary(BinaryOp::Mul, accum_new, lr)?;
                self.binary(BinaryOp::Sub, w, step)?
            }
            // ApplyRMSProp: ms += (grad² - ms)·(1 - rho);
            // mom = mom·momentum + grad·lr / sqrt(ms + eps); var -= mom
            Optimizer::RmsProp {
                lr,
                decay,
                momentum,
                eps,
            } => {
                let ms = self.slot_init(w, "rms", Init::Ones);
                let mom = self.slot(w, "rms_momentum");
                let g2 = self.g.add(Op::Unary(UnaryOp::Square), &[g])?;
                let d = self.binary(BinaryOp::Sub, g2, ms)?;
                let one_minus_rho = self.constant(w, 1.0 - rounded(self.dtype(w), decay));
                let d = self.binary(BinaryOp::Mul, d, one_minus_rho)?;
                let ms_new = self.binary(BinaryOp::Add, ms, d)?;
                let momentum = self.constant(w, momentum);
                let kept = self.binary(BinaryOp::Mul, mom, momentum)?;
                let lr = self.rate(w, lr)?;
                let num = self.binary(BinaryOp::Mul, g, lr)?;
                let eps = self.constant(w, eps);
                let den = self.binary(BinaryOp::Add, ms_new, eps)?;
                let den = self.g.add(Op::Unary(UnaryOp::Sqrt), &[den])?;
                let push = self.binary(BinaryOp::Div, num, den)?;
                let mom_new = self.binary(BinaryOp::Add, kept, push)?;
                self.updates.push((ms, ms_new));
                self.updates.push((mom, mom_new));
                self.binary(BinaryOp::Sub, w, mom_new)?
            }
            // ApplyAdagrad: accum += grad²; var -= grad·lr·rsqrt(accum)
            Optimizer::Adagrad {
                lr,
                initial_accumulator_value,
            } => {
                let accum = self.slot_init(w, "adagrad", Init::Full(initial_accumulator_value));
                let g2 = self.g.add(Op::Unary(UnaryOp::Square), &[g])?;
                let accum_new = self.binary(BinaryOp::Add, accum, g2)?;
                self.updates.push((accum, accum_new));
                let lr = self.rate(w, lr)?;
                let step = self.binary(BinaryOp::Mul, g, lr)?;
                let r = self.g.add(Op::Unary(UnaryOp::Rsqrt), &[accum_new])?;
                let step = self.binary(BinaryOp::Mul, step, r)?;
                self.binary(BinaryOp::Sub, w, step)?
            }
            // ApplyAdam: alpha = lr·sqrt(1 - beta2^t)/(1 - beta1^t);
            // m += (grad - m)·(1 - beta1); v += (grad² - v)·(1 - beta2);
            // var -= m·alpha / (sqrt(v) + eps)
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let alpha = self.adam_alpha(w, lr, beta1, beta2)?;
                let m = self.slot(w, "adam_m");
                let v = self.slot(w, "adam_v");
                let one_minus_beta1 = self.constant(w, 1.0 - rounded(self.dtype(w), beta1));
                let one_minus_beta2 = self.constant(w, 1.0 - rounded(self.dtype(w), beta2));
                let dm = self.binary(BinaryOp::Sub, g, m)?;
                let dm = self.binary(BinaryOp::Mul, dm, one_minus_beta1)?;
                let m_new = self.binary(BinaryOp::Add, m, dm)?;
                let g2 = self.g.add(Op::Unary(UnaryOp::Square), &[g])?;
                let dv = self.binary(BinaryOp::Sub, g2, v)?;
                let dv = self.binary(BinaryOp::Mul, dv, one_minus_beta2)?;
                let v_new = self.binary(BinaryOp::Add, v, dv)?;
                self.updates.push((m, m_new));
                self.updates.push((v, v_new));
                let num = self.binary(BinaryOp::Mul, m_new, alpha)?;
                let root = self.g.add(Op::Unary(UnaryOp::Sqrt), &[v_new])?;
                let eps = self.constant(w, eps);
                let den = self.binary(BinaryOp::Add, root, eps)?;
                let step = self.binary(BinaryOp::Div, num, den)?;
                self.binary(BinaryOp::Sub, w, step)?
            }
        };
        self.updates.push((w, new_w));
        Ok(())
    }

    fn dtype(&self, v: ValueId) -> DType {
        self.g.ty(v).dtype
    }

    fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> Emitted {
        self.g.add(Op::Binary(op), &[a, b])
    }

    /// A scalar constant of `like`'s dtype.
    fn constant(&mut self, like: ValueId, value: f64) -> ValueId {
        let dtype = self.dtype(like);
        self.scalar(dtype, value)
    }

    fn scalar(&mut self, dtype: DType, value: f64) -> ValueId {
        let t = Tensor {
            shape: vec![],
            data: Data::from_f64(dtype, [value]),
        };
        let ty = t.ty();
        self.g.push(tfg_ir::Node {
            op: Op::Const(t),
            args: vec![],
            ty,
            name: None,
            loc: None,
        })
    }

    /// A zero-initialised state param named `{w}/{kind}`, shaped like `w`.
    fn slot(&mut self, w: ValueId, kind: &str) -> ValueId {
        self.slot_init(w, kind, Init::Zeros)
    }

    /// A state param named `{w}/{kind}`, shaped like `w`, starting at `init`.
    fn slot_init(&mut self, w: ValueId, kind: &str, init: Init) -> ValueId {
        let name = format!("{}/{kind}", param_name(self.g, w));
        let ty = self.g.ty(w).clone();
        let s = self.g.add_param(&name, ty, init);
        self.slots.push(s);
        s
    }

    fn new_slot(&mut self, name: &str, ty: Type) -> ValueId {
        let s = self.g.add_param(name, ty, Init::Zeros);
        self.slots.push(s);
        s
    }

    /// This step's learning rate in `w`'s dtype: `lr`, or `lr` decayed by
    /// the schedule (`tf.compat.v1.train.exponential_decay`) at the step
    /// count before this step.
    fn rate(&mut self, w: ValueId, lr: f64) -> Emitted {
        let dtype = self.dtype(w);
        let Some(decay) = self.decay else {
            return Ok(self.constant(w, lr));
        };
        if let Some(&(_, r)) = self.lr.iter().find(|(d, _)| *d == dtype) {
            return Ok(r);
        }
        let t = match self.global_step {
            Some(t) => t,
            None => {
                let step = self.new_slot("train/step", Type::scalar(DType::I64));
                let one = self.scalar(DType::I64, 1.0);
                let next = self.binary(BinaryOp::Add, step, one)?;
                self.updates.push((step, next));
                self.global_step = Some(step);
                step
            }
        };
        let t = self.g.add(Op::Cast { to: dtype }, &[t])?;
        let steps = self.scalar(dtype, decay.decay_steps);
        let mut p = self.binary(BinaryOp::Div, t, steps)?;
        if decay.staircase {
            p = self.g.add(Op::Unary(UnaryOp::Floor), &[p])?;
        }
        let base = self.scalar(dtype, decay.decay_rate);
        let factor = self.binary(BinaryOp::Pow, base, p)?;
        let lr = self.scalar(dtype, lr);
        let r = self.binary(BinaryOp::Mul, lr, factor)?;
        self.lr.push((dtype, r));
        Ok(r)
    }

    /// `tf.clip_by_global_norm(grads, c)`: every gradient times
    /// `c · min(1 / norm, 1 / c)`, `norm` over all of them together.
    fn clip_by_global_norm(
        &mut self,
        grads: &[(ValueId, ValueId)],
        c: f64,
    ) -> Result<Vec<(ValueId, ValueId)>, tfg_ir::TypeError> {
        let Some(&(_, first)) = grads.first() else {
            return Ok(Vec::new());
        };
        let dtype = self.dtype(first);
        let mut total = None;
        for &(_, g) in grads {
            let g2 = self.g.add(Op::Unary(UnaryOp::Square), &[g])?;
            let rank = self.g.ty(g).shape.rank();
            let s = self.g.add(
                Op::Reduce {
                    op: ReduceOp::Sum,
                    axes: (0..rank).collect(),
                    keepdims: false,
                },
                &[g2],
            )?;
            let s = if self.dtype(s) == dtype {
                s
            } else {
                self.g.add(Op::Cast { to: dtype }, &[s])?
            };
            total = Some(match total {
                Some(t) => self.binary(BinaryOp::Add, t, s)?,
                None => s,
            });
        }
        let Some(total) = total else {
            return Ok(Vec::new());
        };
        let norm = self.g.add(Op::Unary(UnaryOp::Sqrt), &[total])?;
        let inv = self.g.add(Op::Unary(UnaryOp::Reciprocal), &[norm])?;
        let inv_c = self.scalar(dtype, 1.0 / c);
        let m = self.binary(BinaryOp::Minimum, inv, inv_c)?;
        let c = self.scalar(dtype, c);
        let scale = self.binary(BinaryOp::Mul, c, m)?;
        let mut out = Vec::new();
        for &(w, g) in grads {
            let s = if self.dtype(g) == dtype {
                scale
            } else {
                self.g.add(Op::Cast { to: self.dtype(g) }, &[scale])?
            };
            out.push((w, self.binary(BinaryOp::Mul, g, s)?));
        }
        Ok(out)
    }

    /// Adam's bias-corrected learning rate for this step, in `w`'s dtype.
    /// The step count is one i64 slot shared by every param.
    fn adam_alpha(&mut self, w: ValueId, lr: f64, beta1: f64, beta2: f64) -> Emitted {
        let dtype = self.dtype(w);
        if let Some(&(_, alpha)) = self.alpha.iter().find(|(d, _)| *d == dtype) {
            return Ok(alpha);
        }
        let t = match self.step {
            Some(t) => t,
            None => {
                let step = self.new_slot("adam/step", Type::scalar(DType::I64));
                let one = self.scalar(DType::I64, 1.0);
                let t = self.binary(BinaryOp::Add, step, one)?;
                self.updates.push((step, t));
                self.step = Some(t);
                t
            }
        };
        let t = self.g.add(Op::Cast { to: dtype }, &[t])?;
        let one = self.scalar(dtype, 1.0);
        let beta1 = self.scalar(dtype, beta1);
        let beta2 = self.scalar(dtype, beta2);
        let beta1_power = self.binary(BinaryOp::Pow, beta1, t)?;
        let beta2_power = self.binary(BinaryOp::Pow, beta2, t)?;
        let c2 = self.binary(BinaryOp::Sub, one, beta2_power)?;
        let c2 = self.g.add(Op::Unary(UnaryOp::Sqrt), &[c2])?;
        let c1 = self.binary(BinaryOp::Sub, one, beta1_power)?;
        let lr = self.rate(w, lr)?;
        let alpha = self.binary(BinaryOp::Mul, lr, c2)?;
        let alpha = self.binary(BinaryOp::Div, alpha, c1)?;
        self.alpha.push((dtype, alpha));
        Ok(alpha)
    }
}

/// `x` rounded to `dtype`, so that `1 - beta` is computed from the same
/// rounded `beta` that TensorFlow's f32 kernels see.
fn rounded(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F32 => x as f32 as f64,
        _ => x,
    }
}
