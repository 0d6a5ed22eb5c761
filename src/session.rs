//! Param state: the values of a graph's params, kept between runs.
//!
//! A session starts from the params' initialisers with a seed (SPEC §1.4),
//! and hands the current values to each run. Params are keyed by name, so a
//! graph rewritten by the passes finds its state again.

use crate::failure::Failure;
use crate::source::Source;
use std::collections::BTreeMap;
use tfg_ir::{Graph, Op, Tensor};

pub struct Session {
    params: BTreeMap<String, Tensor>,
}

impl Session {
    /// Initialises every param of `g` (whose shapes are concrete) from its initialiser.
    pub fn new(g: &Graph, seed: u64, src: &Source) -> Result<Session, Failure> {
        let mut params = BTreeMap::new();
        for v in g.params() {
            let node = g.node(v);
            let Op::Param { name, init } = &node.op else {
                continue;
            };
            let value = tfg_ir::init::materialize(init, &node.ty, seed, name).map_err(|e| {
                src.error_at(
                    node.loc,
                    format!("cannot initialise param `{name}`: {e}"),
                    "declared here",
                )
            })?;
            params.insert(name.clone(), value);
        }
        Ok(Session { params })
    }

    /// The current values of `g`'s params, in `g.params()` order.
    pub fn params_for(&self, g: &Graph) -> Result<Vec<Tensor>, Failure> {
        g.params()
            .map(|v| self.get(param_name(g, v)).cloned())
            .collect()
    }

    fn get(&self, name: &str) -> Result<&Tensor, Failure> {
        self.params
            .get(name)
            .ok_or_else(|| Failure::new(format!("param `{name}` has no value in this session")))
    }
}

fn param_name(g: &Graph, v: tfg_ir::ValueId) -> &str {
    match &g.node(v).op {
        Op::Param { name, .. } => name,
        _ => g.node(v).name.as_deref().unwrap_or(""),
    }
}
