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
use tfg_formats::safetensors::{self, Mismatch, READ_DTYPES};
use tfg_formats::whole_file::Staged;
use tfg_ir::{Graph, Tensor, Type};

/// Writes `params` (name and value) to `path`, whole or not at all.
pub fn save(path: &Path, params: &[(&str, &Tensor)]) -> Result<(), Error> {
    let mut staged = Staged::new();
    stage(&mut staged, path, params)?;
    staged.commit().map_err(Error::new)
}

/// Adds the checkpoint of `params` at `path` to `staged`, to appear together
/// with a command's other outputs.
pub fn stage(staged: &mut Staged, path: &Path, params: &[(&str, &Tensor)]) -> Result<(), Error> {
    let bytes = safetensors::encode(path, params).map_err(Error::new)?;
    staged.add(path, &bytes).map_err(Error::new)
}

/// Checks, before any work, that [`save`] could write `path` (its directory
/// exists and takes a new file; the target is absent or a regular file), so
/// that a long training run is not lost to a bad `--save`.
pub fn check_save(path: &Path) -> Result<(), Error> {
    tfg_formats::whole_file::check_writable(path).map_err(Error::new)
}

/// Every param of `g` (specialised, so its types are concrete) from the
/// checkpoint at `path`, into `session`.
pub fn restore(path: &Path, g: &Graph, session: &mut Session, src: &Source) -> Result<(), Error> {
    let shown = path.display();
    let file = safetensors::read(path).map_err(Error::new)?;
    let params: Vec<(&str, Type)> = g
        .params()
        .map(|v| (param_name(g, v), g.node(v).ty.clone()))
        .collect();
    let at_param = |name: &str, message: String| {
        let loc = g
            .params()
            .find(|&v| param_name(g, v) == name)
            .and_then(|v| g.node(v).loc);
        src.error_at(loc, message, "declared here")
    };
    let selected = file.select(&params).map_err(|m| match m {
        Mismatch::Missing(name) => at_param(
            &name,
            format!("checkpoint `{shown}` has no entry for param `{name}`"),
        ),
        Mismatch::Unsupported { name, dtype } => at_param(
            &name,
            format!(
                "checkpoint `{shown}` holds param `{name}` as {dtype}, which tfg does not read (it reads {READ_DTYPES})"
            ),
        ),
        Mismatch::Type {
            name,
            held,
            declared,
        } => at_param(
            &name,
            format!(
                "checkpoint `{shown}` holds param `{name}` as {held}, but it is declared {declared}"
            ),
        ),
        Mismatch::Extra(first) => {
            let mut known: Vec<&str> = params.iter().map(|(name, _)| *name).collect();
            known.sort_unstable();
            let listed: Vec<String> = known.iter().map(|n| format!("`{n}`")).collect();
            Error::new(format!(
                "checkpoint `{shown}` has an entry `{first}` that is not a param of graph `{}` (its params are {})",
                g.name,
                listed.join(", ")
            ))
        }
    })?;
    let values = params
        .iter()
        .zip(selected)
        .filter_map(|((name, _), t)| Some((*name, t?.clone())));
    for (name, value) in values {
        session.set(name, value);
    }
    Ok(())
}
