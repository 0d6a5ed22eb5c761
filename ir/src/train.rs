//! A training set-up, as a `train` item states it (docs/language.md,
//! "Training").
//!
//! Plain data: the frontend fills it in, the training-step builder in
//! `passes` and the driver in the binary read it.

use crate::graph::Loc;

/// The update rule, with TensorFlow's `tf.compat.v1.train` defaults.
#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    Sgd {
        lr: f64,
    },
    Momentum {
        lr: f64,
        beta: f64,
    },
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
    /// `tf.compat.v1.train.RMSPropOptimizer` (not centered): its mean-square
    /// slot starts at ones.
    RmsProp {
        lr: f64,
        decay: f64,
        momentum: f64,
        eps: f64,
    },
    /// `tf.compat.v1.train.AdagradOptimizer`.
    Adagrad {
        lr: f64,
        initial_accumulator_value: f64,
    },
}

impl Optimizer {
    /// The (initial) learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            Optimizer::Sgd { lr }
            | Optimizer::Momentum { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::RmsProp { lr, .. }
            | Optimizer::Adagrad { lr, .. } => lr,
        }
    }
}

/// `tf.compat.v1.train.exponential_decay` of the learning rate: at step `t`
/// (from 0) the rate is `lr · decay_rate^(t / decay_steps)`, the exponent
/// floored if `staircase`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decay {
    pub decay_steps: f64,
    pub decay_rate: f64,
    pub staircase: bool,
}

/// One `train GRAPH { … }` item.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// The graph it trains.
    pub graph: String,
    /// The scalar value to minimise.
    pub minimize: String,
    pub optimizer: Optimizer,
    /// A schedule for the optimizer's learning rate, if not constant.
    pub decay: Option<Decay>,
    /// `clip_norm C`: gradients rescaled together as
    /// `tf.clip_by_global_norm` does before the update.
    pub clip_norm: Option<f64>,
    pub steps: u64,
    /// Minibatch size for inputs fed from files.
    pub batch: Option<u64>,
    /// Scalars recorded at every step.
    pub log: Vec<String>,
    pub loc: Option<Loc>,
}
