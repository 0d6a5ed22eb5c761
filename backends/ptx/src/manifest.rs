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
    /// How its threads share the work, for readers (`rows 300 × 100, a warp
    /// a row`).
    pub mapping: String,
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
                mapping: schedule::describe(&l.mapping),
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

/// The launch plan as `tfg dump` shows it: one line a launch.
impl std::fmt::Display for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "launch plan for {}: {} launches, arena {} bytes",
            self.sm,
            self.launches.len(),
            self.arena_bytes
        )?;
        for l in &self.launches {
            let args: Vec<String> = l.buffers.iter().map(|b| format!("b{b}")).collect();
            writeln!(
                f,
                "  {} ({}): grid {:?} block {} shared {} B, {}; args {}",
                l.entry,
                l.kernel,
                l.grid,
                l.block[0],
                l.shared_bytes,
                l.mapping,
                args.join(" ")
            )?;
        }
        Ok(())
    }
}

/// The dtype called `name`.
pub fn dtype(name: &str) -> Result<DType, String> {
    DType::from_name(name).ok_or_else(|| format!("manifest: unknown dtype `{name}`"))
}

#[cfg(all(test, feature = "llvm"))]
mod tests {
    use super::*;
    use tfg_ir::kernel::parse;

    fn manifest() -> Manifest {
        let p = parse(
            "program {
  buffer b0: f32[4, 4] input 0 \"a\"
  buffer b1: f32[4, 4] param 0 \"w\"
  buffer b2: f32[4, 4] output 0 \"c\"
  buffer b3: f32[4, 4] update 0 \"w\"
  buffer b4: f32[4, 4] temp @ 0
  arena 64
  kernel k0 reads b0, b1 writes b4 {
    gemm b4[0] ld 4 stride 16 = b0[0] ld 4 stride 0 @ b1[0] ld 4 stride 0 {m = 4, n = 4, k = 4, batch = 1, alpha = 1.0, beta = 0.0}
  }
  kernel k1 reads b1, b4 writes b2, b3 {
    parallel for i0 in 0..16 {
      store b2[i0] = b4[i0]
      store b3[i0] = sub(b1[i0], b4[i0])
    }
  }
}",
        )
        .expect("parses");
        let launches = schedule::schedule(&p).expect("schedules");
        Manifest::new(&p, &launches, "sm_80")
    }

    #[test]
    fn the_plan_names_roles_offsets_and_the_param_each_update_replaces() {
        let m = manifest();
        let roles: Vec<&str> = m.buffers.iter().map(|b| b.role.as_str()).collect();
        assert_eq!(roles, ["input", "param", "output", "update", "temp"]);
        assert_eq!(
            (m.buffers[4].offset, m.buffers[4].bytes, m.arena_bytes),
            (Some(0), 64, 64)
        );
        assert_eq!(m.updates[0].param, Some(0));
        assert_eq!(
            m.launches
                .iter()
                .map(|l| l.buffers.clone())
                .collect::<Vec<_>>(),
            [vec![0, 1, 4], vec![1, 2, 3, 4]]
        );
        assert_eq!(
            m.launches[0].mapping,
            "gemm 4 × 4 × 4, batch 1, 64 × 64 tiles"
        );
    }

    #[test]
    fn manifests_round_trip_through_json_and_bad_ones_are_rejected() {
        let m = manifest();
        assert_eq!(Manifest::from_json(&m.to_json()), Ok(m.clone()));
        let mut bad = m.clone();
        bad.launches[0].buffers.push(9);
        assert_eq!(
            Manifest::from_json(&bad.to_json()),
            Err("manifest: buffer 9 does not exist".into())
        );
        let mut bad = m;
        bad.buffers[4].offset = Some(32);
        assert_eq!(
            Manifest::from_json(&bad.to_json()),
            Err("manifest: temporary 4 is not inside the arena".into())
        );
        assert!(Manifest::from_json("{").is_err());
    }
}
