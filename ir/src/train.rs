//! A training set-up, as a `train` item states it (docs/language.md,
//! "Training").
//!
//! Plain data: the frontend fills it in, the training-step builder in
//! `passes` and the driver in the binary read it.

use crate::graph::Loc;

/// The update rule, with TensorFlow's `tf.compat.v1.train` defaults.
#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    /// Plain gradient descent: `w -= lr · g`.
    Sgd {
        /// The learning rate; positive.
        lr: f64,
    },
    /// Momentum without Nesterov: `a = beta · a + g; w -= lr · a`.
    Momentum {
        /// The learning rate; positive.
        lr: f64,
        /// How much of the accumulator is kept each step, in `[0, 1)`; default
        /// 0.9.
        beta: f64,
    },
    /// Adam, bias-corrected as TensorFlow does it: the correction goes into the
    /// learning rate, so `eps` is added to the uncorrected `sqrt(v)`.
    Adam {
        /// The learning rate; positive, default 0.001.
        lr: f64,
        /// Decay of the first-moment estimate, in `[0, 1)`; default 0.9.
        beta1: f64,
        /// Decay of the second-moment estimate, in `[0, 1)`; default 0.999.
        beta2: f64,
        /// Added to the denominator for stability; positive, default 1e-8.
        eps: f64,
    },
    /// `tf.compat.v1.train.RMSPropOptimizer` (not centered): its mean-square
    /// slot starts at ones.
    RmsProp {
        /// The learning rate; positive.
        lr: f64,
        /// Decay of the mean square of the gradients (`rho`), in `[0, 1]`;
        /// default 0.9.
        decay: f64,
        /// Momentum of the update, at least 0; default 0.
        momentum: f64,
        /// Added to the mean square under the square root; positive, default
        /// 1e-10.
        eps: f64,
    },
    /// `tf.compat.v1.train.AdagradOptimizer`.
    Adagrad {
        /// The learning rate; positive.
        lr: f64,
        /// The value every accumulator of squared gradients starts at; default
        /// 0.1.
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
    /// Steps per factor of `decay_rate` in the rate.
    pub decay_steps: f64,
    /// The factor the rate is multiplied by every `decay_steps` steps.
    pub decay_rate: f64,
    /// Whether the rate drops in steps (the exponent floored) rather than
    /// smoothly.
    pub staircase: bool,
}

/// One `train GRAPH { … }` item.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// The graph it trains.
    pub graph: String,
    /// The scalar value to minimise.
    pub minimize: String,
    /// The update rule and its hyperparameters.
    pub optimizer: Optimizer,
    /// A schedule for the optimizer's learning rate, if not constant.
    pub decay: Option<Decay>,
    /// `clip_norm C`: gradients rescaled together as
    /// `tf.clip_by_global_norm` does before the update.
    pub clip_norm: Option<f64>,
    /// How many training steps to run; at least 1.
    pub steps: u64,
    /// Minibatch size for inputs fed from files.
    pub batch: Option<u64>,
    /// Scalars recorded at every step.
    pub log: Vec<String>,
    /// Where the `train` item is in the source, for errors found later.
    pub loc: Option<Loc>,
}
