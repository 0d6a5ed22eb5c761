//! The graph a command works on: `--graph NAME` picks it (every command);
//! for the compiling ones (`dump`, `graph`, `compile`), `--train` swaps in
//! its training step and `--dim NAME=N` binds symbolic dims.

use crate::failure::Failure;
use std::collections::BTreeMap;
use tfg_driver::source::Source;
use tfg_frontend::{GraphChoiceError, Module};
use tfg_ir::Graph;

/// The graph named `name` (or the file's only one), or with `train` the
/// training step of its train item, specialised to `dims`.
pub fn select(
    src: &Source,
    program: &Module,
    name: Option<&str>,
    train: bool,
    dims: &[(String, u64)],
) -> Result<Graph, Failure> {
    let forward = choose(program, name)?;
    let g = if train {
        let spec = program.train(&forward.name).ok_or_else(|| {
            Failure::new(format!(
                "--train: `{}` has no train item for graph `{}`",
                src.name, forward.name
            ))
        })?;
        tfg_passes::train_step::build_train_step(forward, spec)
            .map_err(|e| Failure::new(format!("graph `{}`: {e}", forward.name)))?
            .graph
    } else {
        forward.clone()
    };
    if dims.is_empty() {
        return Ok(g);
    }
    let dims: BTreeMap<String, u64> = dims.iter().cloned().collect();
    tfg_ir::specialize(&g, &dims).map_err(|e| Failure::new(format!("graph `{}`: {e}", g.name)))
}

/// The graph `--graph NAME` names, or the file's only one.
pub fn choose<'p>(program: &'p Module, name: Option<&str>) -> Result<&'p Graph, Failure> {
    program.graph(name).map_err(|e| match e {
        GraphChoiceError::Several { graphs } => Failure::new(format!(
            "the file has several graphs ({}); choose one with --graph NAME",
            GraphChoiceError::listed(&graphs)
        )),
        other => Failure::new(other),
    })
}

/// Parses `--dim NAME=N`.
pub fn dim_binding(text: &str) -> Result<(String, u64), String> {
    let (name, size) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=N, got `{text}`"))?;
    let size = size
        .trim()
        .parse()
        .map_err(|_| format!("`{size}` is not a size (a non-negative integer)"))?;
    Ok((name.trim().to_string(), size))
}
