//! The params-only part of an inference graph, split off so that it runs
//! once while the params stay the same instead of on every run: an imported
//! convolution's filter transposed to the layout its GEMM reads, a weight
//! scaled by a folded batch norm. (ONNX Runtime prepacks weights when it
//! creates a session for the same reason.)
//!
//! [`split`] gives two graphs: the prologue, from the params to the values
//! computed from params and constants alone that the rest of the graph reads
//! (the *derived* values), and the main graph, which reads each derived value
//! as a param of its own. Running the prologue and then the main graph on its
//! outputs computes what the graph computes, op for op.

use tfg_ir::{Graph, Init, Node, Op, ValueId};

/// Where each param of [`Split::main`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamSource {
    /// The original graph's param with this index (in `params()` order).
    Param(usize),
    /// The prologue's output with this index.
    Derived(usize),
}

/// A graph split into its params-only prologue and the rest.
#[derive(Clone, Debug)]
pub struct Split {
    /// Every param of the graph (in its order) → the derived values, as
    /// outputs `derived0`, `derived1`, ….
    pub prologue: Graph,
    /// The graph, reading each derived value as a param.
    pub main: Graph,
    /// For each param of `main`, in `params()` order, where its value comes from.
    pub sources: Vec<ParamSource>,
}

/// Splits `g` (specialised, after the Graph IR passes) when it has derived
/// values worth computing once: `None` for a graph that updates its params
/// (a training step, whose params change every run) or where the rest of the
/// graph reads only params, constants and their reshapes (views, which cost
/// nothing).
pub fn split(g: &Graph) -> Option<Split> {
    if !g.updates.is_empty() {
        return None;
    }
    let n = g.nodes.len();
    // Values computed from params and constants alone.
    let mut fixed = vec![false; n];
    for (i, node) in g.nodes.iter().enumerate() {
        fixed[i] = match node.op {
            Op::Param { .. } | Op::Const(_) => true,
            Op::Input { .. } | Op::Grad => false,
            _ => node.args.iter().all(|a| fixed[a.index()]),
        };
    }
    // Whether a fixed value does work: it or something it is computed from
    // is more than a view of a param or a constant.
    let mut works = vec![false; n];
    for (i, node) in g.nodes.iter().enumerate() {
        works[i] = match node.op {
            Op::Param { .. } | Op::Const(_) => false,
            Op::Reshape { .. } => node.args.iter().any(|a| works[a.index()]),
            _ => true,
        };
    }
    // The derived values: fixed values that do work, read by the rest of
    // the graph or returned.
    let mut derived = vec![false; n];
    for (i, node) in g.nodes.iter().enumerate() {
        if !fixed[i] {
            for a in &node.args {
                derived[a.index()] |= fixed[a.index()] && works[a.index()];
            }
        }
    }
    for (_, v) in &g.outputs {
        derived[v.index()] |= fixed[v.index()] && works[v.index()];
    }
    if !derived.iter().any(|&d| d) {
        return None;
    }

    // The prologue: every param (so that it takes the graph's params as
    // they are), then the fixed values, in order.
    let mut prologue = Graph::new(format!("{}.prologue", g.name));
    let mut in_prologue: Vec<Option<ValueId>> = vec![None; n];
    for (i, node) in g.nodes.iter().enumerate() {
        if fixed[i] {
            let args: Option<Vec<ValueId>> =
                node.args.iter().map(|a| in_prologue[a.index()]).collect();
            in_prologue[i] = Some(prologue.push(Node {
                args: args?,
                ..node.clone()
            }));
        }
    }
    // The main graph: the rest, with a param for each derived value.
    let mut main = Graph::new(g.name.clone());
    let mut in_main: Vec<Option<ValueId>> = vec![None; n];
    let mut sources = Vec::new();
    let mut params = 0;
    for (i, node) in g.nodes.iter().enumerate() {
        let copy = if derived[i] {
            let d = prologue.outputs.len();
            prologue
                .outputs
                .push((format!("derived{d}"), in_prologue[i]?));
            sources.push(ParamSource::Derived(d));
            // A name no source can give a param (it has a dot).
            let name = format!("{}.derived{d}", g.name);
            Node {
                op: Op::Param {
                    name: name.clone(),
                    init: Init::Zeros,
                },
                args: Vec::new(),
                name: Some(name),
                ..node.clone()
            }
        } else if fixed[i] && works[i] {
            // Computed in the prologue, and read only there (what the rest
            // reads of it is derived).
            continue;
        } else {
            if matches!(node.op, Op::Param { .. }) {
                sources.push(ParamSource::Param(params));
                params += 1;
            }
            let args: Option<Vec<ValueId>> = node.args.iter().map(|a| in_main[a.index()]).collect();
            Node {
                args: args?,
                ..node.clone()
            }
        };
        in_main[i] = Some(main.push(copy));
    }
    main.outputs = g
        .outputs
        .iter()
        .map(|(name, v)| Some((name.clone(), in_main[v.index()]?)))
        .collect::<Option<_>>()?;
    Some(Split {
        prologue,
        main,
        sources,
    })
}
