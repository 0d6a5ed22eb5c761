//! Feeds: the values `--feed NAME=VALUE` gives a graph's inputs.
//!
//! Each feed is checked against its input's declaration (name, dtype, shape);
//! inputs without a feed take their default. The fed shapes bind the graph's
//! symbolic dims, and the graph is specialised to them, as `jax.jit` traces a
//! function for the shapes it is called with. Feeds are never converted: a
//! feed of the wrong dtype is an error, as a wrong shape is.

pub mod value;

pub use value::{numpy_name, value, Feed, FeedValue, Refused};

use crate::source::Source;
use crate::Error;
use std::collections::BTreeMap;
use tfg_ir::specialize::{bind_dims, specialize};
use tfg_ir::{Graph, InputDefault, Op, Tensor, Type, ValueId};

/// A graph specialised to the shapes of its feeds, and the tensor for each input.
pub struct Bound {
    pub graph: Graph,
    pub inputs: BTreeMap<String, Tensor>,
}

impl Bound {
    /// The tensors for `g`'s inputs, in `g.inputs()` order.
    pub fn inputs_for(&self, g: &Graph) -> Result<Vec<Tensor>, Error> {
        g.inputs()
            .map(|v| {
                let name = input_name(g, v);
                self.inputs
                    .get(name)
                    .cloned()
                    .ok_or_else(|| Error::new(format!("no value for input `{name}`")))
            })
            .collect()
    }
}

/// Input `v`'s default feed `t`: as it is, or a scalar spread over the
/// input's declared shape once that is known to fit in memory.
fn default_value(t: &Tensor, g: &Graph, v: ValueId, src: &Source) -> Result<Tensor, Error> {
    let node = g.node(v);
    if !t.shape.is_empty() || node.ty.shape.rank() == 0 {
        return Ok(t.clone());
    }
    let name = input_name(g, v);
    let Some(shape) = node.ty.shape.concrete() else {
        return Err(src.error_at(
            node.loc,
            format!(
                "a scalar default cannot fill {}: its shape has symbolic dims",
                node.ty
            ),
            "declared here",
        ));
    };
    // The values of the graph, this one filled, must fit together.
    crate::memory::check_memory(g)?;
    t.splat(shape).ok_or_else(|| {
        src.error_at(
            node.loc,
            format!("the default of input `{name}` is not one value"),
            "declared here",
        )
    })
}

fn input_name(g: &Graph, v: ValueId) -> &str {
    match &g.node(v).op {
        Op::Input { name, .. } => name,
        _ => g.node(v).name.as_deref().unwrap_or(""),
    }
}

/// Checks `feeds` against `g`'s inputs, binds the symbolic dims and
/// specialises `g`. An input with neither a feed nor a default is an error
/// that ends with `how_to_feed(NAME)`, the caller's way to give one.
pub fn bind(
    g: &Graph,
    feeds: &[Feed],
    src: &Source,
    how_to_feed: &dyn Fn(&str) -> String,
) -> Result<Bound, Error> {
    let inputs: Vec<ValueId> = g.inputs().collect();
    let mut fed: BTreeMap<&str, &Feed> = BTreeMap::new();
    for feed in feeds {
        if src.fixed.contains(&feed.name) {
            continue;
        }
        let name = src.input_name(&feed.name);
        if !inputs.iter().any(|&v| input_name(g, v) == name) {
            return Err(no_such_input(g, &feed.name));
        }
        if fed.insert(name, feed).is_some() {
            let loc = g.lookup(name).and_then(|v| g.node(v).loc);
            return Err(src.error_at(
                loc,
                format!("input `{name}` is fed more than once"),
                "declared here",
            ));
        }
    }

    let mut values = Vec::with_capacity(inputs.len());
    for &v in &inputs {
        let node = g.node(v);
        let name = input_name(g, v);
        let declared = &node.ty;
        let value = match (fed.get(name), &node.op) {
            (Some(feed), _) => load(feed, declared, src, g, v)?,
            // The frontend has checked the default against the declaration;
            // a scalar default fills its shape here.
            (
                None,
                Op::Input {
                    default: Some(InputDefault::Value(t)),
                    ..
                },
            ) => default_value(t, g, v, src)?,
            (None, _) => {
                return Err(src.error_at(
                    node.loc,
                    format!(
                        "input `{name}` has no feed and no default; {}",
                        how_to_feed(name)
                    ),
                    "declared here",
                ))
            }
        };
        values.push(value);
    }

    // Shapes one input at a time, so a conflict is reported at the input that causes it.
    let mut shapes: Vec<(ValueId, &[usize])> = Vec::new();
    for (&v, t) in inputs.iter().zip(&values) {
        let node = g.node(v);
        let name = input_name(g, v);
        if !node.ty.shape.admits(&t.shape) {
            return Err(src.error_at(
                node.loc,
                format!("input `{name}` expects {} but is fed {}", node.ty, t.ty()),
                "declared here",
            ));
        }
        shapes.push((v, &t.shape));
        bind_dims(g, &shapes)
            .map_err(|e| src.error_at(node.loc, e.to_string(), "declared here"))?;
    }
    let dims = bind_dims(g, &shapes).map_err(|e| Error::new(e.to_string()))?;

    let bound = inputs
        .iter()
        .map(|&v| input_name(g, v).to_string())
        .zip(values)
        .collect();
    let graph = specialize(g, &dims).map_err(|e| Error::new(format!("graph `{}`: {e}", g.name)))?;
    Ok(Bound {
        graph,
        inputs: bound,
    })
}

/// The tensor a feed gives, checked against the input's dtype (shapes come later).
fn load(
    feed: &Feed,
    declared: &Type,
    src: &Source,
    g: &Graph,
    v: ValueId,
) -> Result<Tensor, Error> {
    value(feed, declared).map_err(|e| match e {
        Refused::Declared(m) => src.error_at(g.node(v).loc, m, "declared here"),
        Refused::Other(e) => e,
    })
}

fn no_such_input(g: &Graph, name: &str) -> Error {
    let inputs: Vec<String> = g
        .inputs()
        .map(|v| format!("`{}`", input_name(g, v)))
        .collect();
    let is_param = g.params().any(|v| g.node(v).name.as_deref() == Some(name));
    let what = match is_param {
        true => format!("`{name}` is a param of graph `{}`, not an input", g.name),
        false => format!("graph `{}` has no input named `{name}`", g.name),
    };
    let has = match inputs.len() {
        0 => "it has no inputs".to_string(),
        _ => format!("its inputs are {}", inputs.join(", ")),
    };
    Error::new(format!("cannot feed `{name}`: {what}; {has}"))
}
