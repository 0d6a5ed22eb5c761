//! Checkpoints of a graph's params: `--save` writes every param of a graph
//! to a safetensors file keyed by its name; `--restore` reads one back.
//!
//! Only the graph's own params are stored, not an optimizer's slots: a
//! checkpoint restores a model, and training that resumes from one starts its
//! optimizer afresh. A checkpoint is written whole or not at all; reading one
//! checks it entirely against the graph (every param present, with its
//! declared dtype and shape, and nothing else) before any value is used.

use crate::session::{param_name, Session};
use crate::source::Source;
use crate::Error;
use std::path::Path;
use tfg_formats::safetensors::{self, Held, READ_DTYPES};
use tfg_ir::{Graph, Tensor};

/// Writes `params` (name and value) to `path`, whole or not at all.
pub fn save(path: &Path, params: &[(&str, &Tensor)]) -> Result<(), Error> {
    safetensors::save(path, params).map_err(Error::new)
}

/// Every param of `g` (specialised, so its types are concrete) from the
/// checkpoint at `path`, into `session`.
pub fn restore(path: &Path, g: &Graph, session: &mut Session, src: &Source) -> Result<(), Error> {
    let shown = path.display();
    let file = safetensors::read(path).map_err(Error::new)?;
    let mut values = Vec::new();
    for v in g.params() {
        let name = param_name(g, v);
        let node = g.node(v);
        let at_param = |message: String| src.error_at(node.loc, message, "declared here");
        let value = match file.get(name) {
            None => {
                return Err(at_param(format!(
                    "checkpoint `{shown}` has no entry for param `{name}`"
                )))
            }
            Some(Held::Unsupported(dtype)) => {
                return Err(at_param(format!(
                    "checkpoint `{shown}` holds param `{name}` as {dtype}, which tfg does not read (it reads {READ_DTYPES})"
                )))
            }
            Some(Held::Tensor(t)) => t,
        };
        let held = value.ty();
        if held != node.ty {
            return Err(at_param(format!(
                "checkpoint `{shown}` holds param `{name}` as {held}, but it is declared {}",
                node.ty
            )));
        }
        values.push((name, value.clone()));
    }

    let extra = file
        .names()
        .find(|n| !values.iter().any(|(name, _)| name == n));
    if let Some(first) = extra {
        let mut known: Vec<&str> = values.iter().map(|(name, _)| *name).collect();
        known.sort_unstable();
        let params: Vec<String> = known.iter().map(|n| format!("`{n}`")).collect();
        return Err(Error::new(format!(
            "checkpoint `{shown}` has an entry `{first}` that is not a param of graph `{}` (its params are {})",
            g.name,
            params.join(", ")
        )));
    }
    for (name, value) in values {
        session.set(name, value);
    }
    Ok(())
}
