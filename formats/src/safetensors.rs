//! Checkpoints: named tensors in a safetensors file, one entry per param
//! keyed by its name, as `--save` writes and `--restore` reads.
//!
//! [`save`] writes whole or not at all ([`whole_file::write`]); [`read`]
//! checks the whole file (header, offsets, sizes) and decodes every entry
//! before any value is used, so a corrupt file is refused before anything
//! changes. [`Checkpoint::select`] is the one rule for what a checkpoint
//! must hold for a model's params; the driver and the C runtime both apply it.

use crate::{npy, whole_file};
use safetensors::tensor::{Dtype, SafeTensorError, View};
use safetensors::SafeTensors;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use tfg_ir::{DType, Tensor, Type};

/// Writes `params` (name and value) to `path`, whole or not at all.
pub fn save(path: &Path, params: &[(&str, &Tensor)]) -> Result<(), String> {
    whole_file::write(path, &encode(path, params)?)
}

/// The bytes of a checkpoint of `params` (name and value) to be written at `path`.
pub fn encode(path: &Path, params: &[(&str, &Tensor)]) -> Result<Vec<u8>, String> {
    let entries = params.iter().map(|(name, t)| (*name, Entry(t)));
    safetensors::serialize(entries, None)
        .map_err(|e| format!("cannot write checkpoint `{}`: {e}", path.display()))
}

/// A checkpoint as read: every entry by name.
#[derive(Debug)]
pub struct Checkpoint {
    entries: BTreeMap<String, Held>,
}

/// One entry of a checkpoint.
#[derive(Debug)]
pub enum Held {
    Tensor(Tensor),
    /// An entry of a dtype tfg does not read, with safetensors' name for it.
    Unsupported(String),
}

/// The dtypes a checkpoint may hold, as the messages name them.
pub const READ_DTYPES: &str = "F32, F64, I32, I64 and BOOL";

impl Checkpoint {
    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&Held> {
        self.entries.get(name)
    }

    /// Every entry's name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The value of each of `params` (name and declared type), in order, as
    /// this checkpoint gives them. The rule: every param is there with its
    /// declared dtype and shape, except an optimizer slot (a name with a
    /// `/`, such as `w/momentum`), which may be absent (`None`: it keeps the
    /// value it has, as training that resumes from a checkpoint starts its
    /// optimizer afresh); and the checkpoint holds nothing else. The first
    /// violation, in param order, then extra entries in name order.
    pub fn select<'c>(
        &'c self,
        params: &[(&str, Type)],
    ) -> Result<Vec<Option<&'c Tensor>>, Mismatch> {
        let mut values = Vec::with_capacity(params.len());
        for (name, declared) in params {
            let value = match self.get(name) {
                None if is_slot(name) => None,
                None => return Err(Mismatch::Missing(name.to_string())),
                Some(Held::Unsupported(dtype)) => {
                    return Err(Mismatch::Unsupported {
                        name: name.to_string(),
                        dtype: dtype.clone(),
                    })
                }
                Some(Held::Tensor(t)) if t.ty() != *declared => {
                    return Err(Mismatch::Type {
                        name: name.to_string(),
                        held: t.ty(),
                        declared: declared.clone(),
                    })
                }
                Some(Held::Tensor(t)) => Some(t),
            };
            values.push(value);
        }
        if let Some(extra) = self.names().find(|n| params.iter().all(|(p, _)| p != n)) {
            return Err(Mismatch::Extra(extra.to_string()));
        }
        Ok(values)
    }
}

/// Whether a param name is an optimizer slot's (`w/momentum`, `w/adam_m`,
/// `adam/t`), which a source identifier never is.
pub fn is_slot(name: &str) -> bool {
    name.contains('/')
}

/// How a checkpoint breaks [`Checkpoint::select`]'s rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Mismatch {
    /// A param (not a slot) has no entry.
    Missing(String),
    /// A param's entry has a dtype tfg does not read.
    Unsupported { name: String, dtype: String },
    /// A param's entry has another dtype or shape than the param.
    Type {
        name: String,
        held: Type,
        declared: Type,
    },
    /// An entry that is no param's.
    Extra(String),
}

/// Reads and decodes the checkpoint at `path`; errors name the file.
pub fn read(path: &Path) -> Result<Checkpoint, String> {
    let shown = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read checkpoint `{shown}`: {e}"))?;
    decode(&bytes).map_err(|why| format!("`{shown}` is not a valid safetensors checkpoint: {why}"))
}

/// The checkpoint in the bytes of a safetensors file; an error says what is
/// wrong with them, for [`read`] to put after the file's name.
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| corruption(&e, bytes.len()))?;
    let mut entries = BTreeMap::new();
    for (name, view) in file.tensors() {
        let held = match dtype_of(view.dtype()) {
            None => Held::Unsupported(format!("{:?}", view.dtype())),
            Some(dtype) => Held::Tensor(
                Tensor::new(view.shape().to_vec(), npy::decode_data(dtype, view.data()))
                    .ok_or_else(|| format!("the data of entry `{name}` does not fit its shape"))?,
            ),
        };
        entries.insert(name, held);
    }
    Ok(Checkpoint { entries })
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
