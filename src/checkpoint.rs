//! Checkpoints: every param of a graph in a safetensors file, one entry per
//! param keyed by its name (SPEC §4), as `--save` writes and `--restore` reads.
//!
//! Only the graph's own params are stored, not an optimizer's slots: a
//! checkpoint restores a model, and training that resumes from one starts its
//! optimizer afresh. A checkpoint is written whole or not at all
//! ([`whole_file::write`]); reading one checks it entirely against the graph
//! (every param present, with its declared dtype and shape, and nothing else)
//! before any value is used.

use crate::failure::Failure;
use crate::npy;
use crate::session::{param_name, Session};
use crate::source::Source;
use crate::whole_file;
use safetensors::tensor::{Dtype, SafeTensorError, View};
use safetensors::SafeTensors;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::Path;
use tfg_ir::{DType, Graph, Tensor, Type};

/// Writes `params` (name and value) to `path`, whole or not at all.
pub fn save(path: &Path, params: &[(&str, &Tensor)]) -> Result<(), Failure> {
    let entries = params.iter().map(|(name, t)| (*name, Entry(t)));
    let bytes = safetensors::serialize(entries, None)
        .map_err(|e| Failure::new(format!("cannot write checkpoint `{}`: {e}", path.display())))?;
    whole_file::write(path, &bytes).map_err(Failure::new)
}

/// Every param of `g` (specialised, so its types are concrete) from the
/// checkpoint at `path`, into `session`.
pub fn restore(path: &Path, g: &Graph, session: &mut Session, src: &Source) -> Result<(), Failure> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::new(format!("cannot read checkpoint `{shown}`: {e}")))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| {
        Failure::new(format!(
            "`{shown}` is not a valid safetensors checkpoint: {}",
            corruption(&e, bytes.len())
        ))
    })?;

    let mut values = Vec::new();
    for v in g.params() {
        let name = param_name(g, v);
        let node = g.node(v);
        let at_param = |message: String| src.error_at(node.loc, message, "declared here");
        let entry = file.tensor(name).map_err(|_| {
            at_param(format!(
                "checkpoint `{shown}` has no entry for param `{name}`"
            ))
        })?;
        let dtype = dtype_of(entry.dtype()).ok_or_else(|| {
            at_param(format!(
                "checkpoint `{shown}` holds param `{name}` as {:?}, which tfg does not read (it reads F32, F64, I32, I64 and BOOL)",
                entry.dtype()
            ))
        })?;
        let held = Type::new(
            dtype,
            tfg_ir::Shape::known(&entry.shape().iter().map(|&d| d as u64).collect::<Vec<_>>()),
        );
        if held != node.ty {
            return Err(at_param(format!(
                "checkpoint `{shown}` holds param `{name}` as {held}, but it is declared {}",
                node.ty
            )));
        }
        let value = Tensor::new(
            entry.shape().to_vec(),
            npy::decode_data(dtype, entry.data()),
        )
        .ok_or_else(|| {
            Failure::new(format!(
                "`{shown}` is not a valid safetensors checkpoint: the data of entry `{name}` does not fit its shape"
            ))
        })?;
        values.push((name, value));
    }

    let known: BTreeSet<&str> = values.iter().map(|(name, _)| *name).collect();
    let mut extra: Vec<&str> = file
        .names()
        .into_iter()
        .filter(|n| !known.contains(n))
        .collect();
    extra.sort_unstable();
    if let Some(first) = extra.first() {
        let params: Vec<String> = known.iter().map(|n| format!("`{n}`")).collect();
        return Err(Failure::new(format!(
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

/// What is wrong with a file the safetensors reader rejects, in words.
fn corruption(e: &SafeTensorError, len: usize) -> String {
    match e {
        SafeTensorError::HeaderTooSmall => {
            format!("it has {len} bytes, too few for the 8-byte length of its header")
        }
        SafeTensorError::HeaderTooLarge => {
            "its first 8 bytes do not give a plausible header length".into()
        }
        SafeTensorError::InvalidHeaderLength => {
            format!("it is truncated inside its header (the file has {len} bytes)")
        }
        SafeTensorError::InvalidHeader(_) => "its header is not UTF-8 text".into(),
        SafeTensorError::InvalidHeaderDeserialization(e) => {
            format!("its header is not a valid safetensors header ({e})")
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            "its data is not the size its header says (the file is truncated or has bytes to spare)"
                .into()
        }
        other => format!("its header is inconsistent ({other})"),
    }
}

fn dtype_of(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        Dtype::BOOL => DType::Bool,
        _ => return None,
    })
}

/// A tensor as the safetensors writer sees it.
struct Entry<'a>(&'a Tensor);

impl View for Entry<'_> {
    fn dtype(&self) -> Dtype {
        match self.0.dtype() {
            DType::F32 => Dtype::F32,
            DType::F64 => Dtype::F64,
            DType::I32 => Dtype::I32,
            DType::I64 => Dtype::I64,
            DType::Bool => Dtype::BOOL,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        let mut bytes = Vec::with_capacity(self.data_len());
        npy::write_data(&self.0.data, &mut bytes);
        Cow::Owned(bytes)
    }

    fn data_len(&self) -> usize {
        self.0.numel() * self.0.dtype().size()
    }
}
