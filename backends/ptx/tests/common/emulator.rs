//! Runs the code the backend generates on the host, where there is no GPU:
//! `tfg_ptx::host_ir` gives the same translation with thread indices as
//! parameters, which this JIT-compiles (after LLVM's O2) and calls once per
//! thread, a block's threads as OS threads so that barriers, warp syncs and
//! shuffles behave as on a GPU. Blocks run one after another, so the shared
//! memory globals (one copy on the host) serve each block in turn.

use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{CodeModel, InitializationConfig, RelocMode, Target, TargetMachine};
use inkwell::OptimizationLevel;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use tfg_ir::kernel::Program;
use tfg_ir::{Data, Tensor};
use tfg_ptx::Manifest;

// MCJIT starts through the "native target" entry points, which tfg-ptx
// defines (for its CPU tier) since it builds llvm-sys without them.

/// What a block's threads share.
struct Block {
    barrier: Barrier,
    warps: Vec<Barrier>,
    slots: Vec<AtomicU32>,
}

thread_local! {
    static THREAD: RefCell<Option<(Arc<Block>, usize)>> = const { RefCell::new(None) };
}

fn with_thread<T>(f: impl FnOnce(&Block, usize) -> T) -> T {
    THREAD.with(|t| {
        let t = t.borrow();
        let (block, tid) = t
            .as_ref()
            .expect("a host callback outside an emulated thread");
        f(block, *tid)
    })
}

extern "C" fn tfg_host_barrier() {
    with_thread(|b, _| {
        b.barrier.wait();
    });
}

extern "C" fn tfg_host_warp_sync() {
    with_thread(|b, tid| {
        b.warps[tid / 32].wait();
    });
}

extern "C" fn tfg_host_shfl_bfly(x: i32, xor: i32) -> i32 {
    with_thread(|b, tid| {
        b.slots[tid].store(x as u32, Ordering::SeqCst);
        b.warps[tid / 32].wait();
        let other = b.slots[tid ^ xor as usize].load(Ordering::SeqCst) as i32;
        b.warps[tid / 32].wait();
        other
    })
}

type Entry = unsafe extern "C" fn(*const *mut u8, *const i32);

/// A buffer's memory: 16-byte aligned, filled with `0xff` bytes (NaN, -1,
/// true) until written, as the Kernel IR interpreter's arena is.
struct Memory(Vec<u128>);

impl Memory {
    fn new(bytes: u64) -> Memory {
        Memory(vec![u128::MAX; (bytes as usize).div_ceil(16).max(1)])
    }

    fn ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr().cast()
    }

    fn bytes(&self) -> &[u8] {
        // A u128 buffer viewed as its bytes.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast(), self.0.len() * 16) }
    }

    fn fill(&mut self, b: &[u8]) {
        let dst = unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.0.len() * 16) };
        dst[..b.len()].copy_from_slice(b);
    }
}

/// Runs `p` on the host as the GPU would; gives the outputs and updates.
pub fn run(
    p: &Program,
    inputs: &[Tensor],
    params: &[Tensor],
) -> Result<(Vec<Tensor>, Vec<Tensor>), String> {
    let (ir, manifest) = tfg_ptx::host_ir(p)?;
    Target::initialize_x86(&InitializationConfig::default());
    let cx = Context::create();
    let buf = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "tfg");
    let module = cx.create_module_from_ir(buf).map_err(|e| e.to_string())?;
    let triple = TargetMachine::get_default_triple();
    let target = Target::from_triple(&triple).map_err(|e| e.to_string())?;
    let tm = target
        .create_target_machine(
            &triple,
            "",
            "",
            OptimizationLevel::Default,
            RelocMode::Default,
            CodeModel::JITDefault,
        )
        .ok_or("no host target machine")?;
    module
        .run_passes("default<O2>", &tm, PassBuilderOptions::create())
        .map_err(|e| e.to_string())?;
    let ee = module
        .create_jit_execution_engine(OptimizationLevel::Default)
        .map_err(|e| e.to_string())?;
    for (name, addr) in [
        ("tfg_host_barrier", tfg_host_barrier as *const () as usize),
        (
            "tfg_host_warp_sync",
            tfg_host_warp_sync as *const () as usize,
        ),
        (
            "tfg_host_shfl_bfly",
            tfg_host_shfl_bfly as *const () as usize,
        ),
    ] {
        if let Some(f) = module.get_function(name) {
            ee.add_global_mapping(&f, addr);
        }
    }
    let mut memory = allocate(&manifest, inputs, params)?;
    for l in &manifest.launches {
        let addr = ee
            .get_function_address(&l.entry)
            .map_err(|e| format!("{}: {e}", l.entry))?;
        let entry: Entry = unsafe { std::mem::transmute::<usize, Entry>(addr) };
        let args: Vec<usize> = l
            .buffers
            .iter()
            .map(|&b| pointer(&manifest, &mut memory, b))
            .collect::<Result<_, _>>()?;
        launch(entry, &args, l.grid, l.block[0] as usize);
    }
    let results = |specs: Vec<(String, Vec<u64>, u32)>| -> Result<Vec<Tensor>, String> {
        specs
            .into_iter()
            .map(|(dtype, shape, b)| {
                let d = tfg_ptx::manifest::dtype(&dtype)?;
                let shape: Vec<usize> = shape.iter().map(|&x| x as usize).collect();
                let n: usize = shape.iter().product();
                let bytes = memory.own[b as usize]
                    .as_ref()
                    .ok_or("a result without memory")?
                    .bytes();
                Ok(Tensor {
                    data: decode(d, &bytes[..n * d.size()]),
                    shape,
                })
            })
            .collect()
    };
    let outputs = results(
        manifest
            .outputs
            .iter()
            .map(|t| (t.dtype.clone(), t.shape.clone(), t.buffer))
            .collect(),
    )?;
    let updates = results(
        manifest
            .updates
            .iter()
            .map(|t| (t.dtype.clone(), t.shape.clone(), t.buffer))
            .collect(),
    )?;
    Ok((outputs, updates))
}

struct Buffers {
    arena: Memory,
    own: Vec<Option<Memory>>,
}

fn allocate(m: &Manifest, inputs: &[Tensor], params: &[Tensor]) -> Result<Buffers, String> {
    let mut own: Vec<Option<Memory>> = m
        .buffers
        .iter()
        .map(|b| (b.role != "temp" && b.role != "const").then(|| Memory::new(b.bytes)))
        .collect();
    for (specs, values) in [(&m.inputs, inputs), (&m.params, params)] {
        if specs.len() != values.len() {
            return Err(format!(
                "{} values for {} buffers",
                values.len(),
                specs.len()
            ));
        }
        for (s, t) in specs.iter().zip(values) {
            let mem = own[s.buffer as usize]
                .as_mut()
                .ok_or("a feed without memory")?;
            mem.fill(&encode(&t.data));
        }
    }
    Ok(Buffers {
        arena: Memory::new(m.arena_bytes),
        own,
    })
}

fn pointer(m: &Manifest, mem: &mut Buffers, b: u32) -> Result<usize, String> {
    if let Some(own) = mem.own[b as usize].as_mut() {
        return Ok(own.ptr() as usize);
    }
    let off = m.buffers[b as usize]
        .offset
        .ok_or("a constant passed as an argument")?;
    Ok(mem.arena.ptr() as usize + off as usize)
}

/// Every block of `grid`, in order; each block's threads concurrently.
fn launch(entry: Entry, args: &[usize], grid: [u32; 3], threads: usize) {
    let block = Arc::new(Block {
        barrier: Barrier::new(threads),
        warps: (0..threads.div_ceil(32))
            .map(|w| Barrier::new((threads - 32 * w).min(32)))
            .collect(),
        slots: (0..threads).map(|_| AtomicU32::new(0)).collect(),
    });
    let args: Vec<*mut u8> = args.iter().map(|&a| a as *mut u8).collect();
    let args = SendPtrs(args);
    std::thread::scope(|s| {
        for tid in 0..threads {
            let (block, args) = (block.clone(), &args);
            s.spawn(move || {
                THREAD.with(|t| *t.borrow_mut() = Some((block.clone(), tid)));
                for z in 0..grid[2] {
                    for y in 0..grid[1] {
                        for x in 0..grid[0] {
                            let ids = [
                                tid as i32,
                                x as i32,
                                y as i32,
                                z as i32,
                                grid[0] as i32,
                                grid[1] as i32,
                                grid[2] as i32,
                            ];
                            // The entry was generated for exactly these buffers.
                            unsafe { entry(args.0.as_ptr(), ids.as_ptr()) };
                            block.barrier.wait();
                        }
                    }
                }
            });
        }
    });
}

/// Buffer pointers handed to every thread; threads write disjoint elements
/// or synchronise, as the generated code does on a GPU.
struct SendPtrs(Vec<*mut u8>);
unsafe impl Sync for SendPtrs {}

fn encode(d: &Data) -> Vec<u8> {
    match d {
        Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::Bool(v) => v.iter().map(|&x| u8::from(x)).collect(),
    }
}

fn decode(d: tfg_ir::DType, b: &[u8]) -> Data {
    use tfg_ir::DType;
    let words4 = || b.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
    let words8 = || {
        b.chunks_exact(8)
            .map(|c| [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
    };
    match d {
        DType::F32 => Data::F32(words4().map(f32::from_le_bytes).collect()),
        DType::F64 => Data::F64(words8().map(f64::from_le_bytes).collect()),
        DType::I32 => Data::I32(words4().map(i32::from_le_bytes).collect()),
        DType::I64 => Data::I64(words8().map(i64::from_le_bytes).collect()),
        DType::Bool => Data::Bool(b.iter().map(|&x| x != 0).collect()),
    }
}
