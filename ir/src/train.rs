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
}

/// One `train GRAPH { … }` item.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// The graph it trains.
    pub graph: String,
    /// The scalar value to minimise.
    pub minimize: String,
    pub optimizer: Optimizer,
    pub steps: u64,
    /// Minibatch size for inputs fed from files.
    pub batch: Option<u64>,
    /// Scalars recorded at every step.
    pub log: Vec<String>,
    pub loc: Option<Loc>,
}
