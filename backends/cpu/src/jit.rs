//! Running translated programs in-process: the JIT module, the arena and
//! buffer table of a compiled program, and the thread pool launches.

use crate::runtime::RuntimeFn;
use crate::tier::{self, Tier, Upgrade};
use crate::translate::{translate, Listing, Task};
use crate::{isa, CompileError, Options, RunError};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage};
use std::sync::Arc;
use tfg_ir::kernel::{Program, Role, ARENA_ALIGN};
use tfg_ir::{DType, Data, Tensor};
use tfg_rt::packed::Site;
use tfg_rt::pool::{self, Table, TaskFn};

/// What one run computes (the interpreters' shape).
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    /// The program's outputs, in output order.
    pub outputs: Vec<Tensor>,
    /// The new value of each updated param, in update order.
    pub updates: Vec<Tensor>,
}

/// Loops with less estimated work than this run on the calling thread:
/// waking the pool costs a few microseconds.
pub(crate) const PARALLEL_WORK: u64 = 1 << 16;

struct Launch {
    symbol: String,
    f: TaskFn,
    /// Iterations of the task's top-level loop (0 for straight-line code).
    extent: u64,
    split: bool,
}

/// A buffer the caller feeds or receives.
struct Binding {
    buf: usize,
    dtype: DType,
    shape: Vec<usize>,
    name: String,
}

/// One cache line of the arena, so the arena is 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; ARENA_ALIGN as usize]);

/// A program compiled to native code, with its memory.
pub struct Compiled {
    module: Option<JITModule>,
    launches: Vec<Launch>,
    /// The base address of every buffer, by id, as the kernels read it;
    /// then, for each buffer, the address of its [`Site`] in a run that
    /// keeps packings ([`Compiled::run_packed`]), else 0.
    table: Vec<usize>,
    /// Each buffer's kept packing, for the GEMMs that read it as their
    /// right operand; boxed, as the table holds their addresses.
    sites: Box<[Site]>,
    /// Temporaries, placed by the program's plan; allocated once.
    arena: Vec<Line>,
    /// Constants' elements, kept alive for the kernels.
    consts: Vec<Vec<Line>>,
    inputs: Vec<Binding>,
    params: Vec<Binding>,
    outputs: Vec<Binding>,
    updates: Vec<Binding>,
    /// The program and options, kept for a tier-up until it starts or
    /// cannot come.
    source: Option<(Program, Options)>,
    /// The second tier, and after how many runs it starts.
    tier: Option<(Arc<dyn Tier>, u32)>,
    upgrade: Upgrade,
    runs: u32,
    /// Estimated scalar operations of one run in the tasks a tier compiles
    /// (all but the GEMMs).
    tier_work: u64,
}

/// Programs whose tasks other than GEMMs do less estimated work a run than
/// this are not worth a tier-up unless asked for: LLVM's compilation costs
/// tens to hundreds of milliseconds and megabytes of memory, and the GEMMs
/// keep their code.
pub const TIER_WORK: u64 = 1 << 20;

/// Compiles `p` with the default [`Options`].
pub fn compile(p: &Program) -> Result<Compiled, CompileError> {
    compile_with(p, &Options::default())
}

pub fn compile_with(p: &Program, opts: &Options) -> Result<Compiled, CompileError> {
    let err = |message: String| CompileError { message };
    tfg_ir::kernel::verify(p).map_err(|e| err(e.to_string()))?;
    let bindings =
        |pick: &dyn Fn(&Role) -> Option<u32>, kind: &str| -> Result<Vec<Binding>, CompileError> {
            let mut found: Vec<Option<Binding>> = Vec::new();
            for (i, b) in p.buffers.iter().enumerate() {
                if let Some(n) = pick(&b.role) {
                    let n = n as usize;
                    if found.len() <= n {
                        found.resize_with(n + 1, || None);
                    }
                    let shape = b
                        .shape
                        .iter()
                        .map(|&d| usize::try_from(d))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| err(format!("b{i} is too large")))?;
                    let name = b.name.clone().unwrap_or_else(|| format!("{kind} {n}"));
                    found[n] = Some(Binding {
                        buf: i,
                        dtype: b.dtype,
                        shape,
                        name,
                    });
                }
            }
            found
                .into_iter()
                .enumerate()
                .map(|(n, b)| b.ok_or_else(|| err(format!("{kind} {n} has no buffer"))))
                .collect()
        };
    let inputs = bindings(
        &|r| {
            if let Role::Input(n) = r {
                Some(*n)
            } else {
                None
            }
        },
        "input",
    )?;
    let params = bindings(
        &|r| {
            if let Role::Param(n) = r {
                Some(*n)
            } else {
                None
            }
        },
        "param",
    )?;
    let outputs = bindings(
        &|r| {
            if let Role::Output(n) = r {
                Some(*n)
            } else {
                None
            }
        },
        "output",
    )?;
    let updates = bindings(
        &|r| {
            if let Role::Update(n) = r {
                Some(*n)
            } else {
                None
            }
        },
        "update",
    )?;
    let too_large = |what: &str| err(format!("{what} does not fit in this machine's memory"));
    for b in &p.buffers {
        b.len()
            .checked_mul(b.dtype.size() as u64)
            .filter(|&n| n <= isize::MAX as u64)
            .ok_or_else(|| too_large("a buffer"))?;
    }

    let mut module = jit_module().map_err(err)?;
    let tasks = translate(&mut module, p, opts, Linkage::Local, None).map_err(err)?;
    module
        .finalize_definitions()
        .map_err(|e| err(format!("linking failed: {e}")))?;
    let threads = opts.threads && rayon::current_num_threads() > 1;
    let launches = tasks
        .iter()
        .map(|t: &Task| {
            let code = module.get_finalized_function(t.func);
            // SAFETY: `translate` defined `t.func` with the task signature.
            let f = unsafe { std::mem::transmute::<*const u8, TaskFn>(code) };
            let extent = t.extent.unwrap_or(0);
            Launch {
                symbol: t.symbol.clone(),
                f,
                extent,
                split: threads && t.parallel && extent > 1 && t.work >= PARALLEL_WORK,
            }
        })
        .collect();

    let lines = |bytes: u64| {
        usize::try_from(bytes.div_ceil(ARENA_ALIGN)).map_err(|_| too_large("the arena"))
    };
    let mut arena = vec![Line([0; ARENA_ALIGN as usize]); lines(p.plan.arena_bytes)?];
    let arena_base = arena.as_mut_ptr() as usize;
    let mut table = vec![0usize; 2 * p.buffers.len()];
    let mut consts = Vec::new();
    for (i, b) in p.buffers.iter().enumerate() {
        match (&b.role, p.plan.offsets.get(i).copied().flatten()) {
            (Role::Temp, Some(offset)) => table[i] = arena_base + offset as usize,
            (Role::Const(data), _) => {
                let bytes = data_bytes(data);
                let mut c = vec![Line([0; ARENA_ALIGN as usize]); lines(bytes.len() as u64)?];
                for (line, chunk) in c.iter_mut().zip(bytes.chunks(ARENA_ALIGN as usize)) {
                    line.0[..chunk.len()].copy_from_slice(chunk);
                }
                table[i] = c.as_mut_ptr() as usize;
                consts.push(c);
            }
            _ => {}
        }
    }
    Ok(Compiled {
        module: Some(module),
        launches,
        table,
        sites: (0..p.buffers.len()).map(|_| Site::default()).collect(),
        arena,
        consts,
        inputs,
        params,
        outputs,
        updates,
        source: Some((p.clone(), opts.clone())),
        tier: None,
        upgrade: Upgrade::None,
        runs: 0,
        tier_work: tasks
            .iter()
            .filter(|t| !t.gemm)
            .fold(0u64, |w, t| w.saturating_add(t.work)),
    })
}

/// A JIT module for the host that resolves the runtime's symbols.
fn jit_module() -> Result<JITModule, String> {
    let mut builder = JITBuilder::with_isa(isa::host()?, default_libcall_names());
    for f in RuntimeFn::ALL {
        builder.symbol(f.name(), f.address());
    }
    Ok(JITModule::new(builder))
}

/// The CLIF of every task function of `p`, as generated (before
/// Cranelift's optimisations), each after a comment naming its kernel.
pub fn clif(p: &Program) -> Result<String, CompileError> {
    clif_with(p, &Options::default())
}

pub fn clif_with(p: &Program, opts: &Options) -> Result<String, CompileError> {
    listing(p, opts, Listing::Clif)
}

/// The machine code of every task function of `p`, disassembled.
pub fn asm(p: &Program) -> Result<String, CompileError> {
    listing(p, &Options::default(), Listing::Asm)
}

fn listing(p: &Program, opts: &Options, what: Listing) -> Result<String, CompileError> {
    let err = |message: String| CompileError { message };
    tfg_ir::kernel::verify(p).map_err(|e| err(e.to_string()))?;
    let mut module = jit_module().map_err(err)?;
    let mut text = String::new();
    let mut show = |t: &Task, f: &str| {
        let name = p.kernels.get(t.kernel).map_or("?", |k| k.name.as_str());
        let what = match (t.extent, t.parallel) {
            (Some(n), true) => format!("parallel loop over 0..{n}"),
            (Some(n), false) => format!("loop over 0..{n}"),
            (None, _) => "straight-line code".to_string(),
        };
        text.push_str(&format!("; kernel {name}: {} ({what})\n{f}\n", t.symbol));
    };
    let translated = translate(
        &mut module,
        p,
        opts,
        Linkage::Local,
        Some((what, &mut show)),
    );
    // SAFETY: nothing was finalised, so no pointer into the module escapes.
    unsafe { module.free_memory() };
    translated.map_err(err)?;
    Ok(text)
}

/// The elements of `d` as bytes, in memory order (bools as 0 or 1).
pub(crate) fn data_bytes(d: &Data) -> Vec<u8> {
    match d {
        Data::F32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        Data::F64(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        Data::I32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        Data::I64(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        Data::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
    }
}

fn data_ptr(d: &Data) -> usize {
    match d {
        Data::F32(v) => v.as_ptr() as usize,
        Data::F64(v) => v.as_ptr() as usize,
        Data::I32(v) => v.as_ptr() as usize,
        Data::I64(v) => v.as_ptr() as usize,
        Data::Bool(v) => v.as_ptr() as usize,
    }
}

/// Room for `n` elements of a result, none written yet. Zeroing would be
/// wasted: a program stores every element of its outputs and updates (the
/// Kernel IR's rule, which the Kernel IR interpreter checks by poisoning
/// them), and for large buffers the zeroing costs as much as a kernel pass.
fn unwritten(d: DType, n: usize) -> Data {
    match d {
        DType::F32 => Data::F32(Vec::with_capacity(n)),
        DType::F64 => Data::F64(Vec::with_capacity(n)),
        DType::I32 => Data::I32(Vec::with_capacity(n)),
        DType::I64 => Data::I64(Vec::with_capacity(n)),
        DType::Bool => Data::Bool(Vec::with_capacity(n)),
    }
}

/// Makes the `n` elements the kernels stored into an [`unwritten`] buffer
/// part of it.
///
/// # Safety
/// Every one of the `n` elements has been written (bools as 0 or 1).
unsafe fn written(d: &mut Data, n: usize) {
    match d {
        Data::F32(v) => v.set_len(n),
        Data::F64(v) => v.set_len(n),
        Data::I32(v) => v.set_len(n),
        Data::I64(v) => v.set_len(n),
        Data::Bool(v) => v.set_len(n),
    }
}

impl Compiled {
    /// Compiles the program's tasks again with `tier`, on a background
    /// thread, once it has run `after` times (at once for 0), if the tasks it
    /// would compile do at least [`TIER_WORK`] a run (whatever they do, for
    /// 0). A run after the code is ready uses it.
    pub fn set_tier(&mut self, tier: Arc<dyn Tier>, after: u32) {
        self.tier = Some((tier, after));
        if after == 0 {
            self.start_tier_up();
        }
    }

    fn start_tier_up(&mut self) {
        if let (Some((tier, _)), Some((p, opts))) = (&self.tier, self.source.take()) {
            self.upgrade = tier::start(tier.clone(), p, opts);
        }
    }

    fn worth_tiering(&self) -> bool {
        matches!(self.tier, Some((_, after)) if after == 0 || self.tier_work >= TIER_WORK)
    }

    /// Starts the tier-up now if [`Self::set_tier`] would start it at some
    /// run, waits for it, and switches to its code. Gives whether the code
    /// runs now, or why it cannot (Cranelift's code then stays).
    pub fn wait_tier_up(&mut self) -> Result<bool, String> {
        if self.worth_tiering() {
            self.start_tier_up();
        }
        self.switch(true);
        match &self.upgrade {
            Upgrade::Done(_) => Ok(true),
            Upgrade::Failed(e) => Err(e.clone()),
            Upgrade::None | Upgrade::Pending(_) => Ok(false),
        }
    }

    /// Switches the launches the tier-up compiled to its code, once it is
    /// ready.
    fn switch(&mut self, wait: bool) {
        let Some(code) = self.upgrade.poll(wait) else {
            return;
        };
        for l in &mut self.launches {
            if let Some(a) = code.address(&l.symbol) {
                // SAFETY: the tier compiled this task with the task ABI,
                // and `code`, kept below, holds it.
                l.f = unsafe { std::mem::transmute::<usize, TaskFn>(a) };
            }
        }
        self.upgrade = Upgrade::Done(code);
    }

    /// Runs the program once. `inputs` and `params` are in the program's
    /// input and param order, each of exactly its buffer's dtype and shape.
    /// Nothing but the returned tensors is allocated, and they are not
    /// zeroed first.
    pub fn run(&mut self, inputs: &[Tensor], params: &[Tensor]) -> Result<Outputs, RunError> {
        self.run_sites(inputs, params, false)
    }

    /// Runs the program once, as [`Compiled::run`], with each GEMM whose
    /// right operand is a param or a constant keeping that operand packed
    /// for the next such run (a served model's weights, packed once, not on
    /// every run). The caller promises that a param fed at the same address
    /// as in an earlier `run_packed` holds the same values, unless
    /// [`Compiled::forget_packed`] was called since.
    pub fn run_packed(
        &mut self,
        inputs: &[Tensor],
        params: &[Tensor],
    ) -> Result<Outputs, RunError> {
        self.run_sites(inputs, params, true)
    }

    /// Drops the kept packings: the params' values may change.
    pub fn forget_packed(&mut self) {
        self.sites.iter_mut().for_each(Site::forget);
    }

    fn run_sites(
        &mut self,
        inputs: &[Tensor],
        params: &[Tensor],
        keep: bool,
    ) -> Result<Outputs, RunError> {
        let n = self.sites.len();
        for (entry, site) in self.table[n..].iter_mut().zip(self.sites.iter()) {
            *entry = if keep {
                site as *const Site as usize
            } else {
                0
            };
        }
        self.runs = self.runs.saturating_add(1);
        match self.tier {
            Some((_, after)) if after == self.runs && self.worth_tiering() => self.start_tier_up(),
            // No tier-up will come: the program's copy can go.
            Some((_, after)) if after <= self.runs && !self.worth_tiering() => self.source = None,
            None => self.source = None,
            Some(_) => {}
        }
        self.switch(false);
        bind(&mut self.table, &self.inputs, inputs, "input")?;
        bind(&mut self.table, &self.params, params, "param")?;
        let fresh = |bs: &[Binding], table: &mut [usize]| -> Vec<Data> {
            bs.iter()
                .map(|b| {
                    let d = unwritten(b.dtype, b.shape.iter().product());
                    table[b.buf] = data_ptr(&d);
                    d
                })
                .collect()
        };
        let outputs = fresh(&self.outputs, &mut self.table);
        let updates = fresh(&self.updates, &mut self.table);
        let table = Table(self.table.as_ptr());
        let launches = &self.launches;
        pool::run_program(|| {
            for l in launches {
                // SAFETY: `compile` made each task for this table, which
                // now holds an address for every buffer.
                unsafe { pool::launch(l.f, table, l.extent, l.split) };
            }
        });
        let tensors = |bs: &[Binding], data: Vec<Data>| {
            bs.iter()
                .zip(data)
                .map(|(b, mut data)| {
                    // SAFETY: the program has stored every element of its
                    // outputs and updates (see `unwritten`).
                    unsafe { written(&mut data, b.shape.iter().product()) };
                    Tensor {
                        shape: b.shape.clone(),
                        data,
                    }
                })
                .collect()
        };
        Ok(Outputs {
            outputs: tensors(&self.outputs, outputs),
            updates: tensors(&self.updates, updates),
        })
    }

    /// Bytes of the arena holding the temporaries.
    pub fn arena_bytes(&self) -> usize {
        self.arena.len() * ARENA_ALIGN as usize
    }
}

impl Drop for Compiled {
    fn drop(&mut self) {
        self.consts.clear();
        if let Some(m) = self.module.take() {
            // SAFETY: the only pointers into the module's code are in
            // `launches`, which dies with `self`.
            unsafe { m.free_memory() };
        }
    }
}

/// Checks the fed tensors against the program's buffers and points the
/// table at their elements.
fn bind(table: &mut [usize], bs: &[Binding], fed: &[Tensor], kind: &str) -> Result<(), RunError> {
    if bs.len() != fed.len() {
        let names: Vec<&str> = bs.iter().map(|b| b.name.as_str()).collect();
        let plural = if bs.len() == 1 { "" } else { "s" };
        return Err(RunError {
            message: format!(
                "expected {} {kind}{plural} ({}), got {}",
                bs.len(),
                names.join(", "),
                fed.len()
            ),
        });
    }
    for (b, t) in bs.iter().zip(fed) {
        if t.dtype() != b.dtype
            || t.shape != b.shape
            || t.numel() != b.shape.iter().product::<usize>()
        {
            let want = Tensor::full(b.dtype, b.shape.clone(), 0.0).ty();
            return Err(RunError {
                message: format!(
                    "{kind} {} expects {want} but was fed {} ({} elements)",
                    b.name,
                    t.ty(),
                    t.numel()
                ),
            });
        }
        table[b.buf] = data_ptr(&t.data);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_programs_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<Compiled>();
    }
}
