//! Running a [`PtxModule`] on a GPU through the CUDA driver API.
//!
//! `libcuda` is loaded when [`open`] is first called (cudarc's dynamic
//! loading), so this module builds and links everywhere and reports a clear
//! error where there is no driver or no GPU. A [`LoadedModule`] loads the PTX
//! once, allocates the whole buffer plan once (one allocation: the arena of
//! temporaries, then each input, param, output and update), and
//! then runs the launches in order on one stream as often as asked. Params
//! stay on the device: [`LoadedModule::step`] makes each update the param's new
//! value by swapping the two allocations, so a training loop copies only
//! its feeds in and its outputs out.

use crate::manifest::{self, Manifest, TensorSpec};
use crate::{nccl, PtxModule};
use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, LaunchConfig,
    PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use std::sync::Arc;
use tfg_ir::{DType, Data, Tensor};

/// A GPU, with the stream everything runs on.
pub struct Device {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    name: String,
}

/// The first GPU, or why there is none.
pub fn open() -> Result<Device, String> {
    open_nth(0)
}

/// How many GPUs the driver sees (0 where there is no driver).
pub fn device_count() -> usize {
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return 0;
    }
    CudaContext::device_count().map_or(0, |n| n.max(0) as usize)
}

/// GPU `n` modulo the number of GPUs (so that several processes of one
/// machine, numbered from 0, spread over its GPUs and share them when they
/// outnumber them), or why there is none.
pub fn open_nth(n: usize) -> Result<Device, String> {
    // Loading the library is the only step that would otherwise panic.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err("no CUDA driver found (libcuda.so.1): the cuda backend needs an NVIDIA GPU and its driver".into());
    }
    let count =
        CudaContext::device_count().map_err(|e| format!("the CUDA driver cannot start: {e}"))?;
    if count < 1 {
        return Err("no CUDA device found: the driver is installed, but it sees no GPU".into());
    }
    let ordinal = n % count as usize;
    let ctx =
        CudaContext::new(ordinal).map_err(|e| format!("cannot use CUDA device {ordinal}: {e}"))?;
    // Everything runs on one stream, in order: the per-allocation events
    // cudarc would record for cross-stream safety are pure overhead here.
    unsafe { ctx.disable_event_tracking() };
    let name = ctx
        .name()
        .unwrap_or_else(|_| format!("CUDA device {ordinal}"));
    let stream = ctx.default_stream();
    Ok(Device { ctx, stream, name })
}

/// Milliseconds `work` takes on `stream`, between two events that record
/// a time (cudarc's default events do not).
fn timed(
    stream: &Arc<CudaStream>,
    work: impl FnOnce() -> Result<(), String>,
) -> Result<f64, String> {
    let event = || {
        stream
            .context()
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(driver("creating an event"))
    };
    let (start, end) = (event()?, event()?);
    start.record(stream).map_err(driver("event"))?;
    work()?;
    end.record(stream).map_err(driver("event"))?;
    start
        .elapsed_ms(&end)
        .map(f64::from)
        .map_err(driver("timing"))
}

fn driver(what: &str) -> impl Fn(cudarc::driver::DriverError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Device {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `(major, minor)` compute capability.
    pub fn compute_capability(&self) -> Result<(i32, i32), String> {
        self.ctx
            .compute_capability()
            .map_err(driver("compute capability"))
    }

    /// Loads `m`'s PTX and allocates its buffer plan.
    pub fn load(&self, m: &PtxModule) -> Result<LoadedModule, String> {
        let module = self
            .ctx
            .load_module(Ptx::from_src(m.ptx.clone()))
            .map_err(driver("loading the PTX"))?;
        let functions = m
            .manifest
            .launches
            .iter()
            .map(|l| {
                module
                    .load_function(&l.entry)
                    .map_err(driver(&format!("entry {}", l.entry)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let places = layout(&m.manifest)?;
        let total = places
            .iter()
            .flatten()
            .map(|&(off, len)| off + len)
            .max()
            .unwrap_or(0)
            + ALIGN;
        let memory = self
            .stream
            .alloc_zeros::<u8>(total)
            .map_err(driver("allocating device memory"))?;
        let base = memory.device_ptr(&self.stream).0;
        // Start at an aligned address, whatever the allocator gave.
        let shift = (ALIGN - (base % ALIGN as u64) as usize) % ALIGN;
        let places = places
            .into_iter()
            .map(|p| p.map(|(off, len)| (off + shift, len)))
            .collect();
        Ok(LoadedModule {
            stream: self.stream.clone(),
            manifest: m.manifest.clone(),
            functions,
            _module: module,
            memory,
            base,
            places,
        })
    }

    /// Device-to-device copy bandwidth over `bytes`, in GB/s (read plus
    /// write bytes per second, as bandwidth tests count), best of `repeats`.
    pub fn copy_bandwidth(&self, bytes: usize, repeats: usize) -> Result<f64, String> {
        let src = self
            .stream
            .alloc_zeros::<u8>(bytes)
            .map_err(driver("allocating"))?;
        let mut dst = self
            .stream
            .alloc_zeros::<u8>(bytes)
            .map_err(driver("allocating"))?;
        let mut best = f64::INFINITY;
        for _ in 0..repeats.max(1) {
            let ms = timed(&self.stream, || {
                self.stream
                    .memcpy_dtod(&src, &mut dst)
                    .map_err(driver("copy"))
            })?;
            best = best.min(ms);
        }
        Ok(2.0 * bytes as f64 / (best * 1e-3) / 1e9)
    }
}

/// A loaded program with its memory.
pub struct LoadedModule {
    stream: Arc<CudaStream>,
    manifest: Manifest,
    functions: Vec<CudaFunction>,
    _module: Arc<CudaModule>,
    /// The whole buffer plan: the arena, then every input, param, output
    /// and update, each 256-byte aligned.
    memory: CudaSlice<u8>,
    /// The device address of `memory`.
    base: u64,
    /// Each buffer's bytes in `memory` (offset, length); none for constants.
    places: Vec<Option<(usize, usize)>>,
}

/// Alignment of every buffer: more than any vector access needs.
const ALIGN: usize = 256;

/// Where each buffer goes in the plan's memory: the temporaries at their
/// arena offsets from 0, then each buffer the caller sees.
fn layout(m: &Manifest) -> Result<Vec<Option<(usize, usize)>>, String> {
    let size = |x: u64| usize::try_from(x).map_err(|_| format!("{x} bytes do not fit in memory"));
    let up = |x: usize| x.div_ceil(ALIGN) * ALIGN;
    let mut next = up(size(m.arena_bytes)?);
    m.buffers
        .iter()
        .map(|b| {
            let len = size(b.bytes)?;
            Ok(match (b.role.as_str(), b.offset) {
                ("const", _) => None,
                ("temp", Some(off)) => Some((size(off)?, len)),
                ("temp", None) => return Err(format!("temporary {} has no arena offset", b.id)),
                _ => {
                    let at = next;
                    next = up(at + len.max(1));
                    Some((at, len))
                }
            })
        })
        .collect()
}

/// What one run computes.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    pub outputs: Vec<Tensor>,
    pub updates: Vec<Tensor>,
}

impl LoadedModule {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Copies every param's value to the device.
    pub fn set_params(&mut self, params: &[Tensor]) -> Result<(), String> {
        let specs = self.manifest.params.clone();
        self.upload("param", &specs, params)
    }

    /// The params' current values.
    pub fn params(&self) -> Result<Vec<Tensor>, String> {
        self.download(&self.manifest.params)
    }

    /// One run on `inputs`: the outputs and the updates (not applied).
    pub fn run(&mut self, inputs: &[Tensor]) -> Result<Outputs, String> {
        self.feed_and_launch(inputs)?;
        let updates: Vec<TensorSpec> = self
            .manifest
            .updates
            .iter()
            .map(|u| TensorSpec {
                name: u.name.clone(),
                dtype: u.dtype.clone(),
                shape: u.shape.clone(),
                buffer: u.buffer,
            })
            .collect();
        Ok(Outputs {
            outputs: self.download(&self.manifest.outputs)?,
            updates: self.download(&updates)?,
        })
    }

    /// One training step on `inputs`: runs, then makes every update its
    /// param's new value on the device. Gives the outputs.
    pub fn step(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
        self.feed_and_launch(inputs)?;
        self.apply_updates()?;
        self.download(&self.manifest.outputs)
    }

    /// One run whose float outputs are then averaged over `group`'s ranks
    /// on the GPUs, before they are copied back (data-parallel training:
    /// each rank computes gradients on its share of a batch). The updates
    /// are not applied. Gives the outputs and the milliseconds the
    /// all-reduce took on the device, waiting for the other ranks included.
    pub fn run_averaged(
        &mut self,
        inputs: &[Tensor],
        group: &nccl::Group,
    ) -> Result<(Vec<Tensor>, f64), String> {
        self.feed_and_launch(inputs)?;
        let mut buffers = Vec::new();
        for s in &self.manifest.outputs {
            let f64 = match manifest::dtype(&s.dtype)? {
                DType::F32 => false,
                DType::F64 => true,
                _ => continue,
            };
            let (_, len) = self.place(s.buffer)?;
            let buffer = (self.address(s.buffer)?, len / if f64 { 8 } else { 4 }, f64);
            // A buffer that two outputs share is averaged once.
            if len > 0 && !buffers.contains(&buffer) {
                buffers.push(buffer);
            }
        }
        let stream = self.stream.clone();
        let ms = timed(&stream, || group.average(&buffers, stream.cu_stream()))?;
        Ok((self.download(&self.manifest.outputs)?, ms))
    }

    /// Makes this module's GPU the current one of the calling thread.
    pub(crate) fn bind(&self) -> Result<(), String> {
        self.stream
            .context()
            .bind_to_thread()
            .map_err(driver("using the GPU"))
    }

    /// Mean milliseconds of each launch over `repeats` runs on `inputs`
    /// (updates are not applied, so every run sees the same params).
    pub fn time_launches(&mut self, inputs: &[Tensor], repeats: usize) -> Result<Vec<f64>, String> {
        let specs = self.manifest.inputs.clone();
        self.upload("input", &specs, inputs)?;
        self.launch_all()?;
        let stream = self.stream.clone();
        let mut total = vec![0.0; self.functions.len()];
        for _ in 0..repeats.max(1) {
            for (i, t) in total.iter_mut().enumerate() {
                *t += timed(&stream, || self.launch(i))?;
            }
        }
        Ok(total
            .into_iter()
            .map(|t| t / repeats.max(1) as f64)
            .collect())
    }

    fn feed_and_launch(&mut self, inputs: &[Tensor]) -> Result<(), String> {
        let specs = self.manifest.inputs.clone();
        self.upload("input", &specs, inputs)?;
        self.launch_all()
    }

    fn launch_all(&mut self) -> Result<(), String> {
        for i in 0..self.functions.len() {
            self.launch(i)?;
        }
        Ok(())
    }

    fn launch(&mut self, i: usize) -> Result<(), String> {
        let l = &self.manifest.launches[i];
        let args = l
            .buffers
            .iter()
            .map(|&b| self.address(b))
            .collect::<Result<Vec<u64>, String>>()?;
        let cfg = LaunchConfig {
            grid_dim: (l.grid[0], l.grid[1], l.grid[2]),
            block_dim: (l.block[0], l.block[1], l.block[2]),
            shared_mem_bytes: 0,
        };
        let mut b = self.stream.launch_builder(&self.functions[i]);
        for a in &args {
            b.arg(a);
        }
        // The arguments are the device pointers of the buffers the entry
        // was generated for, each as large as the plan says.
        unsafe { b.launch(cfg) }.map_err(driver(&format!("launching {}", l.entry)))?;
        Ok(())
    }

    /// The device address of buffer `b`.
    fn address(&self, b: u32) -> Result<u64, String> {
        let (off, _) = self.place(b)?;
        Ok(self.base + off as u64)
    }

    fn place(&self, b: u32) -> Result<(usize, usize), String> {
        self.places
            .get(b as usize)
            .copied()
            .flatten()
            .ok_or_else(|| format!("buffer {b} has no device memory"))
    }

    fn apply_updates(&mut self) -> Result<(), String> {
        for u in &self.manifest.updates {
            let p = u
                .param
                .ok_or_else(|| format!("update {} replaces no param", u.name))?;
            let param = self
                .manifest
                .params
                .get(p as usize)
                .ok_or_else(|| format!("param {p} does not exist"))?
                .buffer;
            // Both allocations have the same size: the update's becomes the param's.
            self.places.swap(param as usize, u.buffer as usize);
        }
        Ok(())
    }

    fn upload(
        &mut self,
        kind: &str,
        specs: &[TensorSpec],
        values: &[Tensor],
    ) -> Result<(), String> {
        if specs.len() != values.len() {
            return Err(format!(
                "the program takes {} {kind}s, but was given {}",
                specs.len(),
                values.len()
            ));
        }
        for (s, t) in specs.iter().zip(values) {
            let want = manifest::dtype(&s.dtype)?;
            let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
            if t.dtype() != want || shape != s.shape {
                return Err(format!(
                    "{kind} {} must be {} {:?}, but was given {} {:?}",
                    s.name,
                    s.dtype,
                    s.shape,
                    t.dtype(),
                    t.shape
                ));
            }
            let bytes = to_bytes(&t.data);
            if bytes.is_empty() {
                continue;
            }
            let (off, len) = self.place(s.buffer)?;
            if len != bytes.len() {
                return Err(format!(
                    "{kind} {} takes {len} bytes, not {}",
                    s.name,
                    bytes.len()
                ));
            }
            let mut slot = self.memory.slice_mut(off..off + len);
            self.stream
                .memcpy_htod(&bytes, &mut slot)
                .map_err(driver(&format!("copying {kind} {}", s.name)))?;
        }
        Ok(())
    }

    fn download(&self, specs: &[TensorSpec]) -> Result<Vec<Tensor>, String> {
        let mut out = Vec::with_capacity(specs.len());
        for s in specs {
            let d = manifest::dtype(&s.dtype)?;
            let shape: Vec<usize> = s.shape.iter().map(|&x| x as usize).collect();
            let (off, len) = self.place(s.buffer)?;
            let bytes = if len == 0 {
                Vec::new()
            } else {
                self.stream
                    .clone_dtoh(&self.memory.slice(off..off + len))
                    .map_err(driver(&format!("copying {} back", s.name)))?
            };
            out.push(Tensor {
                shape,
                data: from_bytes(d, &bytes),
            });
        }
        self.stream
            .synchronize()
            .map_err(driver("running the program"))?;
        Ok(out)
    }
}

/// Elements as little-endian bytes (bool as one byte, 0 or 1).
fn to_bytes(d: &Data) -> Vec<u8> {
    match d {
        Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::Bool(v) => v.iter().map(|&x| u8::from(x)).collect(),
    }
}

fn from_bytes(d: DType, b: &[u8]) -> Data {
    fn chunks<const N: usize>(b: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        b.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
    match d {
        DType::F32 => Data::F32(chunks::<4>(b).map(f32::from_le_bytes).collect()),
        DType::F64 => Data::F64(chunks::<8>(b).map(f64::from_le_bytes).collect()),
        DType::I32 => Data::I32(chunks::<4>(b).map(i32::from_le_bytes).collect()),
        DType::I64 => Data::I64(chunks::<8>(b).map(i64::from_le_bytes).collect()),
        DType::Bool => Data::Bool(b.iter().map(|&x| x != 0).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_laid_out_aligned_and_without_overlap() {
        let p = tfg_ir::kernel::parse(
            "program {
  buffer b0: f32[3] input 0 \"x\"
  buffer b1: f32[3] output 0 \"y\"
  buffer b2: f32[3] temp @ 0
  buffer b3: bool[5] const [true, false, true, true, false]
  buffer b4: f32[3] temp @ 64
  arena 76
  kernel k0 reads b0, b3 writes b2 {
    parallel for i0 in 0..3 {
      store b2[i0] = select(b3[i0], b0[i0], 0.0)
    }
  }
  kernel k1 reads b2 writes b4 {
    parallel for i0 in 0..3 {
      store b4[i0] = exp(b2[i0])
    }
  }
  kernel k2 reads b4 writes b1 {
    parallel for i0 in 0..3 {
      store b1[i0] = b4[i0]
    }
  }
}",
        )
        .expect("parses");
        let launches = crate::schedule::schedule(&p).expect("schedules");
        let places = layout(&Manifest::new(&p, &launches, "sm_80")).expect("lays out");
        assert_eq!(
            places,
            [
                Some((256, 12)),
                Some((512, 12)),
                Some((0, 12)),
                None,
                Some((64, 12))
            ]
        );
    }

    #[test]
    fn elements_round_trip_through_device_bytes() {
        for d in [
            Data::F32(vec![1.5, -0.0, f32::INFINITY]),
            Data::F64(vec![std::f64::consts::PI, -1e300]),
            Data::I32(vec![i32::MIN, 7]),
            Data::I64(vec![i64::MAX, -3]),
            Data::Bool(vec![true, false, true]),
        ] {
            assert_eq!(from_bytes(d.dtype(), &to_bytes(&d)), d);
        }
        assert_eq!(to_bytes(&Data::F32(vec![1.0])), [0, 0, 0x80, 0x3f]);
    }
}
