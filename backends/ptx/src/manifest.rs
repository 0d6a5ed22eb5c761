//! The launch plan that travels with the PTX (`manifest.json`): everything
//! a runtime without LLVM needs to run the module — the buffer plan, the
//! graph's inputs, params, outputs and updates, and each launch's entry
//! point, geometry and arguments.

use crate::schedule::{self, Launch};
use serde::{Deserialize, Serialize};
use tfg_ir::kernel::{Program, Role};
use tfg_ir::DType;

/// This file format's version; [`Manifest::from_json`] rejects others.
pub const VERSION: u32 = 1;

/// The launch plan of one compiled program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// The GPU architecture the PTX was generated for (`sm_80`).
    pub sm: String,
    /// Bytes of the one allocation every temporary lives in.
    pub arena_bytes: u64,
    /// Every buffer of the program, by id.
    pub buffers: Vec<BufferSpec>,
    /// The graph's inputs, in order: what a run is fed.
    pub inputs: Vec<TensorSpec>,
    /// The graph's params, in order: state kept on the device across runs.
    pub params: Vec<TensorSpec>,
    /// The graph's outputs, in order.
    pub outputs: Vec<TensorSpec>,
    /// New values of params, in update order.
    pub updates: Vec<UpdateSpec>,
    /// The kernels, run in this order on one stream.
    pub launches: Vec<LaunchSpec>,
}

/// One buffer of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BufferSpec {
    pub id: u32,
    pub name: Option<String>,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub bytes: u64,
    /// `input`, `param`, `const`, `output`, `update` or `temp`.
    pub role: String,
    /// The input, param, output or update number.
    pub index: Option<u32>,
    /// A temporary's byte offset in the arena.
    pub offset: Option<u64>,
    /// The module global holding a constant's elements.
    pub global: Option<String>,
}

/// A tensor the caller feeds or gets back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    /// The buffer that holds it.
    pub buffer: u32,
}

/// A param's new value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateSpec {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub buffer: u32,
    /// The param it replaces (the one of the same name), if there is one.
    pub param: Option<u32>,
}

/// One kernel launch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// The `.entry` in the PTX.
    pub entry: String,
    /// The Kernel IR kernel it runs (or part of).
    pub kernel: String,
    pub grid: [u32; 3],
    pub block: [u32; 3],
    /// Static shared memory the entry declares (no dynamic shared memory
    /// is needed at launch).
    pub shared_bytes: u32,
    /// The buffer ids whose device pointers are its arguments, in order.
    pub buffers: Vec<u32>,
}

impl Manifest {
    #[cfg_attr(not(feature = "llvm"), allow(dead_code))]
    pub(crate) fn new(p: &Program, launches: &[Launch], sm: &str) -> Manifest {
        let mut buffers = Vec::with_capacity(p.buffers.len());
        let (mut inputs, mut params, mut outputs, mut updates) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, b) in p.buffers.iter().enumerate() {
            let id = i as u32;
            let name = b.name.clone().unwrap_or_else(|| format!("b{i}"));
            let spec = TensorSpec {
                name: name.clone(),
                dtype: b.dtype.name().into(),
                shape: b.shape.clone(),
                buffer: id,
            };
            let (role, index) = match &b.role {
                Role::Input(n) => {
                    inputs.push((*n, spec));
                    ("input", Some(*n))
                }
                Role::Param(n) => {
                    params.push((*n, spec));
                    ("param", Some(*n))
                }
                Role::Output(n) => {
                    outputs.push((*n, spec));
                    ("output", Some(*n))
                }
                Role::Update(n) => {
                    updates.push((*n, spec));
                    ("update", Some(*n))
                }
                Role::Const(_) => ("const", None),
                Role::Temp => ("temp", None),
            };
            buffers.push(BufferSpec {
                id,
                name: b.name.clone(),
                dtype: b.dtype.name().into(),
                shape: b.shape.clone(),
                bytes: b.bytes(),
                role: role.into(),
                index,
                offset: p.plan.offsets.get(i).copied().flatten(),
                global: matches!(b.role, Role::Const(_)).then(|| format!("tfg_const_b{i}")),
            });
        }
        let ordered = |mut v: Vec<(u32, TensorSpec)>| -> Vec<TensorSpec> {
            v.sort_by_key(|(n, _)| *n);
            v.into_iter().map(|(_, s)| s).collect()
        };
        let (inputs, params, outputs) = (ordered(inputs), ordered(params), ordered(outputs));
        let updates = ordered(updates)
            .into_iter()
            .map(|s| UpdateSpec {
                param: params
                    .iter()
                    .position(|p| p.name == s.name && p.dtype == s.dtype && p.shape == s.shape)
                    .map(|i| i as u32),
                name: s.name,
                dtype: s.dtype,
                shape: s.shape,
                buffer: s.buffer,
            })
            .collect();
        let launches = launches
            .iter()
            .map(|l| LaunchSpec {
                entry: l.entry.clone(),
                kernel: l.kernel.clone(),
                grid: l.grid,
                block: [l.block, 1, 1],
                shared_bytes: schedule::shared_bytes(p, l),
                buffers: l.buffers.iter().map(|b| b.0).collect(),
            })
            .collect();
        Manifest {
            version: VERSION,
            sm: sm.into(),
            arena_bytes: p.plan.arena_bytes,
            buffers,
            inputs,
            params,
            outputs,
            updates,
            launches,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads and checks a manifest: every buffer id in range, every dtype
    /// known, the arena large enough for every temporary.
    pub fn from_json(text: &str) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_str(text).map_err(|e| format!("manifest: {e}"))?;
        if m.version != VERSION {
            return Err(format!(
                "manifest: version {} is not the supported {VERSION}",
                m.version
            ));
        }
        let n = m.buffers.len() as u32;
        for (i, b) in m.buffers.iter().enumerate() {
            if b.id != i as u32 {
                return Err(format!("manifest: buffer {i} has id {}", b.id));
            }
            let d = dtype(&b.dtype)?;
            let elems = b.shape.iter().try_fold(1u64, |a, &x| a.checked_mul(x));
            if elems.and_then(|e| e.checked_mul(d.size() as u64)) != Some(b.bytes) {
                return Err(format!(
                    "manifest: buffer {i} is {} bytes, not {} {:?}",
                    b.bytes, b.dtype, b.shape
                ));
            }
            if b.role == "temp" {
                let end = b.offset.and_then(|o| o.checked_add(b.bytes));
                if end.is_none_or(|e| e > m.arena_bytes) {
                    return Err(format!("manifest: temporary {i} is not inside the arena"));
                }
            }
        }
        let tensors = m
            .inputs
            .iter()
            .chain(&m.params)
            .chain(&m.outputs)
            .map(|t| t.buffer);
        for b in tensors
            .chain(m.updates.iter().map(|u| u.buffer))
            .chain(m.launches.iter().flat_map(|l| l.buffers.iter().copied()))
        {
            if b >= n {
                return Err(format!("manifest: buffer {b} does not exist"));
            }
        }
        Ok(m)
    }
}

/// The dtype called `name`.
pub fn dtype(name: &str) -> Result<DType, String> {
    DType::from_name(name).ok_or_else(|| format!("manifest: unknown dtype `{name}`"))
}
