//! `serve` items (docs/language.md, "Serving"): the signatures a model
//! server offers for a graph, checked against the lowered graph.
//!
//! A signature names the inputs a request feeds and the values a response
//! returns. Each listed input must have a symbolic leading dimension (the
//! batch axis, the same one for every listed input); every input the outputs
//! need that is not listed must have a default feed whose type does not
//! depend on the batch axis; outputs are any named values of the graph.

use crate::ast::{File, Ident, Item, ServeItem, ServeStmtKind, Span};
use crate::diag::{did_you_mean, line_col, place, Diagnostic};
use crate::InputPath;
use std::collections::{HashMap, HashSet};
use tfg_ir::{Dim, Graph, Loc, Op, ValueId};

/// The signature a `serve` item without `as` defines.
pub const DEFAULT_SIGNATURE: &str = "serving_default";

/// One signature of a graph, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The graph it serves.
    pub graph: String,
    /// Its name: `serving_default`, or the name after `as`.
    pub name: String,
    /// The inputs a request feeds, in order.
    pub inputs: Vec<String>,
    /// The values a response returns, in order.
    pub outputs: Vec<String>,
    pub loc: Option<Loc>,
}

/// Checks every `serve` item of `file` against the lowered `graphs` and gives
/// their signatures. `failed` names the graphs whose lowering reported errors:
/// names in them are not checked, so a broken statement does not cause a
/// second, derived error here.
pub(crate) fn lower_serves(
    file: &File,
    graphs: &[Graph],
    input_paths: &[InputPath],
    failed: &HashSet<String>,
    src: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Signature> {
    let mut known: HashSet<&str> = graphs.iter().map(|g| g.name.as_str()).collect();
    for item in &file.items {
        if let Item::Broken {
            kind: crate::ast::ItemKind::Graph,
            name: Some(n),
        } = item
        {
            known.insert(&n.name);
        }
    }
    let mut seen: HashMap<(String, String), Span> = HashMap::new();
    let mut out = Vec::new();
    for item in &file.items {
        let Item::Serve(s) = item else { continue };
        let name = s
            .signature
            .as_ref()
            .map_or(DEFAULT_SIGNATURE, |n| n.name.as_str());
        let at = s.signature.as_ref().map_or(s.graph.span, |n| n.span);
        let key = (s.graph.name.clone(), name.to_string());
        if let Some(first) = seen.get(&key) {
            diags.push(
                Diagnostic::error(format!(
                    "graph `{}` has two signatures named `{name}`",
                    s.graph.name
                ))
                .at(at)
                .label("second signature")
                .note(format!("the first is at {}", place(src, first.start))),
            );
            continue;
        }
        seen.insert(key, at);
        let Some(g) = graphs.iter().find(|g| g.name == s.graph.name) else {
            if !known.contains(s.graph.name.as_str()) {
                let mut d = Diagnostic::error(format!("unknown graph `{}`", s.graph.name))
                    .at(s.graph.span)
                    .label("no graph of this name in the file");
                if let Some(help) = did_you_mean(&s.graph.name, known.iter().copied()) {
                    d = d.note(help);
                }
                diags.push(d);
            }
            continue;
        };
        if failed.contains(&g.name) {
            continue;
        }
        if let Some(sig) = check(s, name, g, input_paths, src, diags) {
            out.push(sig);
        }
    }
    out
}

/// The signature of `s` over `g`, or `None` after reporting why it has none.
fn check(
    s: &ServeItem,
    name: &str,
    g: &Graph,
    input_paths: &[InputPath],
    src: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Signature> {
    let errors_before = diags.len();
    let mut inputs: Option<&[Ident]> = None;
    let mut outputs: Option<&[Ident]> = None;
    for stmt in &s.body {
        let (slot, names, word) = match &stmt.kind {
            ServeStmtKind::Inputs(n) => (&mut inputs, n, "inputs"),
            ServeStmtKind::Outputs(n) => (&mut outputs, n, "outputs"),
            ServeStmtKind::Error => return None,
        };
        if slot.is_some() {
            diags.push(
                Diagnostic::error(format!("`{word}` is given twice in this serve item"))
                    .at(stmt.span),
            );
        }
        *slot = Some(names);
    }
    for (what, given) in [("inputs", inputs.is_some()), ("outputs", outputs.is_some())] {
        if !given {
            diags.push(
                Diagnostic::error(format!(
                    "the serve item for `{}` has no `{what}` statement",
                    g.name
                ))
                .at(s.graph.span)
                .note(format!("help: add `{what} NAME, …`")),
            );
        }
    }
    let (Some(inputs), Some(outputs)) = (inputs, outputs) else {
        return None;
    };

    // Inputs: each an input of the graph with a symbolic leading dim, all the same.
    let mut batch: Option<(&str, &Ident)> = None;
    let mut listed: HashSet<&str> = HashSet::new();
    for n in inputs {
        if !listed.insert(&n.name) {
            diags.push(Diagnostic::error(format!("input `{}` is listed twice", n.name)).at(n.span));
            continue;
        }
        let Some(v) = input(g, &n.name) else {
            let is_value = g.lookup(&n.name).is_some();
            let mut d = Diagnostic::error(match is_value {
                true => format!("`{}` is not an input of graph `{}`", n.name, g.name),
                false => format!("unknown input `{}`", n.name),
            })
            .at(n.span)
            .label(format!("graph `{}` has no input of this name", g.name));
            if let Some(help) = did_you_mean(&n.name, input_names(g)) {
                d = d.note(help);
            }
            diags.push(d);
            continue;
        };
        let ty = &g.node(v).ty;
        let Some(Dim::Sym(dim)) = ty.shape.0.first() else {
            diags.push(
                Diagnostic::error(format!(
                    "input `{}` has no batch axis: its type {ty} does not start with a symbolic dimension",
                    n.name
                ))
                .at(n.span)
                .note("help: declare it with a named leading dimension, such as `input x: f32[N, 4]`"),
            );
            continue;
        };
        match batch {
            None => batch = Some((dim, n)),
            Some((first, other)) if first != dim => diags.push(
                Diagnostic::error(format!(
                    "inputs `{}` and `{}` have different batch axes (`{first}` and `{dim}`)",
                    other.name, n.name
                ))
                .at(n.span)
                .note("every input of a signature is cut along the same batch axis"),
            ),
            Some(_) => {}
        }
    }

    // Outputs: named values of the graph; the inputs they need not listed must
    // have a default that does not depend on the batch axis.
    let mut returned: HashSet<&str> = HashSet::new();
    let mut reported: HashSet<ValueId> = HashSet::new();
    for n in outputs {
        if !returned.insert(&n.name) {
            diags
                .push(Diagnostic::error(format!("output `{}` is listed twice", n.name)).at(n.span));
            continue;
        }
        let Some(v) = value(g, &n.name) else {
            let mut d = Diagnostic::error(format!("unknown name `{}`", n.name))
                .at(n.span)
                .label(format!("not a value of graph `{}`", g.name));
            let names = g.nodes.iter().filter_map(|node| node.name.as_deref());
            if let Some(help) = did_you_mean(&n.name, names) {
                d = d.note(help);
            }
            diags.push(d);
            continue;
        };
        for needed in needed_inputs(g, v) {
            let Op::Input {
                name: input,
                default,
            } = &g.node(needed).op
            else {
                continue;
            };
            if listed.contains(input.as_str()) || reported.contains(&needed) {
                continue;
            }
            let has_file = input_paths
                .iter()
                .any(|p| p.graph == g.name && p.input == *input);
            let problem = if default.is_none() && !has_file {
                Some("has no default feed".to_string())
            } else {
                let ty = &g.node(needed).ty;
                let uses_batch = batch.is_some_and(|(dim, _)| {
                    ty.shape
                        .0
                        .iter()
                        .any(|d| matches!(d, Dim::Sym(s) if s == dim))
                });
                uses_batch
                    .then(|| format!("has a default of type {ty}, which depends on the batch axis"))
            };
            if let Some(problem) = problem {
                reported.insert(needed);
                diags.push(
                    Diagnostic::error(format!(
                        "output `{}` needs input `{input}`, which is not listed in `inputs` and {problem}",
                        n.name
                    ))
                    .at(n.span)
                    .note(format!("help: add `{input}` to `inputs`")),
                );
            }
        }
    }
    if diags.len() > errors_before {
        return None;
    }
    let (line, col) = line_col(src, s.span.start);
    Some(Signature {
        graph: g.name.clone(),
        name: name.to_string(),
        inputs: inputs.iter().map(|n| n.name.clone()).collect(),
        outputs: outputs.iter().map(|n| n.name.clone()).collect(),
        loc: Some(Loc { line, col }),
    })
}

/// The input of `g` called `name`.
pub fn input(g: &Graph, name: &str) -> Option<ValueId> {
    g.inputs()
        .find(|&v| matches!(&g.node(v).op, Op::Input { name: n, .. } if n == name))
}

fn input_names(g: &Graph) -> impl Iterator<Item = &str> {
    g.inputs().filter_map(|v| match &g.node(v).op {
        Op::Input { name, .. } => Some(name.as_str()),
        _ => None,
    })
}

/// The value of `g` a signature's output `name` returns: an output of that
/// name, or else the latest value bound to it.
pub fn value(g: &Graph, name: &str) -> Option<ValueId> {
    g.output(name).or_else(|| g.lookup(name))
}

/// The inputs that value `v` of `g` depends on, in graph order.
pub fn needed_inputs(g: &Graph, v: ValueId) -> Vec<ValueId> {
    let mut live = vec![false; g.nodes.len()];
    if let Some(slot) = live.get_mut(v.index()) {
        *slot = true;
    }
    for i in (0..g.nodes.len()).rev() {
        if live[i] {
            for a in &g.nodes[i].args {
                if let Some(slot) = live.get_mut(a.index()) {
                    *slot = true;
                }
            }
        }
    }
    g.inputs().filter(|v| live[v.index()]).collect()
}
