//! Param state: the values of a graph's params, kept between runs.
//!
//! A session starts from the params' initialisers with a seed,
//! or from a checkpoint, and hands the current values to each run; training
//! takes them into the executable and stores them back after its steps.
//! Params are keyed by name, so a graph rewritten by the passes (or a
//! training-step graph built from it, with its optimizer slots) finds its
//! state again.

use crate::source::Source;
use crate::Error;
use std::collections::BTreeMap;
use tfg_ir::{Graph, Op, Tensor, ValueId};

#[derive(Default)]
pub struct Session {
    params: BTreeMap<String, Tensor>,
}

impl Session {
    /// Initialises the params of `g` that have no value yet (their shapes
    /// must be concrete; other values of `g` may have symbolic dims).
    /// The source's own param values (an imported model's) come first.
    pub fn init_missing(&mut self, g: &Graph, seed: u64, src: &Source) -> Result<(), Error> {
        crate::memory::check_memory(g)?;
        for (name, value) in &src.params {
            if !self.params.contains_key(name) {
                self.params.insert(name.clone(), value.clone());
            }
        }
        for v in g.params() {
            let node = g.node(v);
            let Op::Param { name, init } = &node.op else {
                continue;
            };
            if self.params.contains_key(name) {
                continue;
            }
            let value = tfg_ir::init::materialize(init, &node.ty, seed, name).map_err(|e| {
                src.error_at(
                    node.loc,
                    format!("cannot initialise param `{name}`: {e}"),
                    "declared here",
                )
            })?;
            self.params.insert(name.clone(), value);
        }
        Ok(())
    }

    /// The current values of `g`'s params, in `g.params()` order.
    pub fn params_for(&self, g: &Graph) -> Result<Vec<Tensor>, Error> {
        g.params()
            .map(|v| self.get(param_name(g, v)).cloned())
            .collect()
    }

    /// Stores `values` as `g`'s params, in `g.params()` order (read back
    /// from a backend that keeps them between steps).
    pub fn store_params(&mut self, g: &Graph, values: Vec<Tensor>) {
        for (v, value) in g.params().zip(values) {
            self.params.insert(param_name(g, v).to_string(), value);
        }
    }

    /// The value of param `name`, if it has one.
    pub fn value(&self, name: &str) -> Option<&Tensor> {
        self.params.get(name)
    }

    /// Sets param `name` (from a checkpoint).
    pub fn set(&mut self, name: &str, value: Tensor) {
        self.params.insert(name.to_string(), value);
    }

    /// A hash of every value the session holds (names, shapes and bits):
    /// processes running the same build hold equal params exactly when
    /// their fingerprints are equal, bar a collision.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (name, t) in &self.params {
            name.hash(&mut h);
            t.shape.hash(&mut h);
            for i in 0..t.data.len() {
                t.data.get_f64(i).to_bits().hash(&mut h);
            }
        }
        h.finish()
    }

    fn get(&self, name: &str) -> Result<&Tensor, Error> {
        self.params
            .get(name)
            .ok_or_else(|| Error::new(format!("param `{name}` has no value in this session")))
    }
}

/// The name a param is known by in a session and a checkpoint.
pub fn param_name(g: &Graph, v: ValueId) -> &str {
    match &g.node(v).op {
        Op::Param { name, .. } => name,
        _ => g.node(v).name.as_deref().unwrap_or(""),
    }
}
