//! The driver behind an ahead-of-time compiled model: `tfg compile` emits a
//! [`ModelDesc`] (params, programs, buffers, tasks) as data in the object
//! file, and its entry functions call these with it.
//!
//! A model owns its params (64-byte aligned, set from the initial values in
//! the descriptor or from a safetensors checkpoint), one arena per program,
//! and scratch for the values a program hands back that the caller does not
//! receive (updates, and a train step's outputs). A program's updates land in
//! scratch first and are copied into the params after the whole program ran,
//! since a later kernel may still read the old value.

use crate::pool::{self, Table};
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use tfg_ir::{DType, Shape, Type};

/// The memory layout `tfg-cpu`'s object writer emits; every field is 8 bytes.
#[repr(C)]
pub struct ModelDesc {
    pub n_params: u64,
    pub params: *const ParamDesc,
    pub n_programs: u64,
    pub programs: *const ProgramDesc,
}

#[repr(C)]
pub struct ParamDesc {
    /// NUL-terminated.
    pub name: *const c_char,
    /// One of the `DTYPE_*` codes.
    pub dtype: u64,
    pub rank: u64,
    pub shape: *const u64,
    pub bytes: u64,
    /// `bytes` bytes: the initial value.
    pub init: *const u8,
}

#[repr(C)]
pub struct ProgramDesc {
    pub n_buffers: u64,
    pub buffers: *const BufferDesc,
    pub arena_bytes: u64,
    pub n_tasks: u64,
    pub tasks: *const TaskDesc,
    pub n_inputs: u64,
    pub n_outputs: u64,
    /// The dtype code of output 0, which a train step returns as its loss.
    pub loss_dtype: u64,
}

#[repr(C)]
pub struct BufferDesc {
    /// One of the `BUF_*` codes.
    pub kind: u64,
    /// The input or output number, or the model's param index.
    pub index: u64,
    /// A constant's address, or a temporary's offset in the arena.
    pub addr: u64,
    pub bytes: u64,
}

pub use crate::pool::TaskFn;

#[repr(C)]
pub struct TaskDesc {
    pub func: TaskFn,
    /// Iterations of the task's top-level loop (0 for straight-line code).
    pub extent: u64,
    /// 1 if the loop is split across the thread pool.
    pub split: u64,
}

pub const DTYPE_F32: u64 = 0;
pub const DTYPE_F64: u64 = 1;
pub const DTYPE_I32: u64 = 2;
pub const DTYPE_I64: u64 = 3;
pub const DTYPE_BOOL: u64 = 4;

pub const BUF_INPUT: u64 = 0;
pub const BUF_PARAM: u64 = 1;
pub const BUF_CONST: u64 = 2;
pub const BUF_OUTPUT: u64 = 3;
pub const BUF_UPDATE: u64 = 4;
pub const BUF_TEMP: u64 = 5;

/// One cache line, so that allocations are 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

fn lines(bytes: u64) -> Vec<Line> {
    vec![Line([0; 64]); bytes.div_ceil(64) as usize]
}

/// What C sees: the param table first (`model->params->w`), the rest opaque.
#[repr(C)]
pub struct Model {
    params: *mut *mut u8,
    state: Box<State>,
}

struct State {
    desc: &'static ModelDesc,
    table: Vec<*mut u8>,
    /// The memory `table` points into.
    _param_memory: Vec<Vec<Line>>,
    programs: Vec<ProgramState>,
}

struct ProgramState {
    arena: Vec<Line>,
    /// Scratch per buffer that needs it (updates; outputs of a train step).
    scratch: Vec<Option<Vec<Line>>>,
    table: Vec<usize>,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn fail(message: String) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// The message of the last failed call on this thread (empty if none).
#[no_mangle]
pub extern "C" fn tfg_rt_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

fn slice<'a, T>(p: *const T, n: u64) -> &'a [T] {
    if n == 0 {
        &[]
    } else {
        // SAFETY: descriptors come from `tfg compile`, which emits `n` elements at `p`.
        unsafe { std::slice::from_raw_parts(p, n as usize) }
    }
}

impl ModelDesc {
    fn params(&self) -> &[ParamDesc] {
        slice(self.params, self.n_params)
    }
    fn programs(&self) -> &[ProgramDesc] {
        slice(self.programs, self.n_programs)
    }
}

impl ParamDesc {
    fn name(&self) -> String {
        // SAFETY: emitted NUL-terminated.
        unsafe { CStr::from_ptr(self.name) }
            .to_string_lossy()
            .into_owned()
    }
}

/// Creates a model: params from the checkpoint at `path` (safetensors), or
/// from their initial values when `path` is NULL. NULL on failure; see
/// [`tfg_rt_last_error`].
///
/// # Safety
/// `desc` is a descriptor emitted by `tfg compile`; `path` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn tfg_rt_model_new(
    desc: *const ModelDesc,
    path: *const c_char,
) -> *mut Model {
    let desc = &*desc;
    let path = (!path.is_null()).then(|| CStr::from_ptr(path).to_string_lossy().into_owned());
    match new_model(desc, path.as_deref()) {
        Ok(m) => Box::into_raw(Box::new(m)),
        Err(e) => {
            fail(e);
            std::ptr::null_mut()
        }
    }
}

fn new_model(desc: &'static ModelDesc, path: Option<&str>) -> Result<Model, String> {
    let mut param_memory: Vec<Vec<Line>> = desc
        .params()
        .iter()
        .map(|p| {
            let mut m = lines(p.bytes);
            copy_into(&mut m, slice(p.init, p.bytes));
            m
        })
        .collect();
    if let Some(path) = path {
        load_checkpoint(desc, path, &mut param_memory)?;
    }
    let table: Vec<*mut u8> = param_memory
        .iter_mut()
        .map(|m| m.as_mut_ptr().cast())
        .collect();
    let programs = desc
        .programs()
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            let buffers = slice(p.buffers, p.n_buffers);
            // A train step's outputs (all but the loss) go to scratch too.
            let scratch = buffers
                .iter()
                .map(|b| {
                    let own = b.kind == BUF_UPDATE || (b.kind == BUF_OUTPUT && pi > 0);
                    own.then(|| lines(b.bytes))
                })
                .collect();
            ProgramState {
                arena: lines(p.arena_bytes),
                scratch,
                table: vec![0; buffers.len()],
            }
        })
        .collect();
    let mut state = Box::new(State {
        desc,
        table,
        _param_memory: param_memory,
        programs,
    });
    Ok(Model {
        params: state.table.as_mut_ptr(),
        state,
    })
}

fn copy_into(m: &mut [Line], bytes: &[u8]) {
    for (line, chunk) in m.iter_mut().zip(bytes.chunks(64)) {
        line.0[..chunk.len()].copy_from_slice(chunk);
    }
}

/// Sets the params from the checkpoint at `path`, by the rule `tfg run
/// --restore` follows ([`Checkpoint::select`]): every param but an optimizer
/// slot is there with its dtype and shape, and nothing else is.
///
/// [`Checkpoint::select`]: tfg_formats::safetensors::Checkpoint::select
fn load_checkpoint(desc: &ModelDesc, path: &str, memory: &mut [Vec<Line>]) -> Result<(), String> {
    use tfg_formats::safetensors::{self, Mismatch};
    let file = safetensors::read(std::path::Path::new(path))?;
    let names: Vec<String> = desc.params().iter().map(ParamDesc::name).collect();
    let named = desc
        .params()
        .iter()
        .zip(&names)
        .map(|(p, name)| {
            let dtype = dtype_of(p.dtype)
                .ok_or_else(|| format!("param `{name}` has dtype code {}", p.dtype))?;
            let ty = Type::new(dtype, Shape::known(slice(p.shape, p.rank)));
            Ok((name.as_str(), ty))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let values = file.select(&named).map_err(|m| match m {
        Mismatch::Missing(name) => format!("{path} has no tensor `{name}`"),
        Mismatch::Unsupported { name, dtype } => {
            format!("{path}: `{name}` has unsupported dtype {dtype}")
        }
        Mismatch::Type {
            name,
            held,
            declared,
        } => format!("{path}: `{name}` is {held}, but the model's is {declared}"),
        Mismatch::Extra(name) => format!("{path}: `{name}` is not a param of the model"),
    })?;
    for (m, value) in memory.iter_mut().zip(values) {
        if let Some(t) = value {
            let mut bytes = Vec::with_capacity(t.numel() * t.dtype().size());
            tfg_formats::npy::write_data(&t.data, &mut bytes);
            copy_into(m, &bytes);
        }
    }
    Ok(())
}

/// The dtype of a `DTYPE_*` code.
fn dtype_of(code: u64) -> Option<DType> {
    Some(match code {
        DTYPE_F32 => DType::F32,
        DTYPE_F64 => DType::F64,
        DTYPE_I32 => DType::I32,
        DTYPE_I64 => DType::I64,
        DTYPE_BOOL => DType::Bool,
        _ => return None,
    })
}

/// Runs program `program` of `model` once. `inputs[i]` points at input
/// `i`'s elements; `outputs[i]` is where output `i` is written (ignored for
/// a train step, whose outputs stay inside). Returns 0, or -1 on failure.
///
/// # Safety
/// `model` comes from [`tfg_rt_model_new`]; the pointers hold the elements the
/// header documents.
#[no_mangle]
pub unsafe extern "C" fn tfg_rt_model_run(
    model: *mut Model,
    program: u64,
    inputs: *const *const u8,
    outputs: *const *mut u8,
) -> i32 {
    let Some(model) = model.as_mut() else {
        fail("model is NULL".into());
        return -1;
    };
    let s = &mut *model.state;
    let Some(p) = s.desc.programs().get(program as usize) else {
        fail(format!("the model has no program {program}"));
        return -1;
    };
    let ps = &mut s.programs[program as usize];
    let buffers = slice(p.buffers, p.n_buffers);
    let arena = ps.arena.as_mut_ptr() as usize;
    for (i, b) in buffers.iter().enumerate() {
        ps.table[i] = match (b.kind, ps.scratch[i].as_mut()) {
            (_, Some(scratch)) => scratch.as_mut_ptr() as usize,
            (BUF_INPUT, _) => *inputs.add(b.index as usize) as usize,
            (BUF_PARAM, _) => s.table[b.index as usize] as usize,
            (BUF_CONST, _) => b.addr as usize,
            (BUF_OUTPUT, _) => *outputs.add(b.index as usize) as usize,
            _ => arena + b.addr as usize,
        };
    }
    let table = Table(ps.table.as_ptr());
    let tasks = slice(p.tasks, p.n_tasks);
    pool::run_program(|| {
        for t in tasks {
            // SAFETY: the compiler made each task for this table.
            unsafe { pool::launch(t.func, table, t.extent, t.split != 0) };
        }
    });
    for (i, b) in buffers.iter().enumerate() {
        if b.kind == BUF_UPDATE {
            if let Some(scratch) = &ps.scratch[i] {
                let dst = s.table[b.index as usize];
                std::ptr::copy_nonoverlapping(scratch.as_ptr().cast::<u8>(), dst, b.bytes as usize);
            }
        }
    }
    0
}

/// Runs train-step program `program`: updates the params and optimizer
/// slots in place and returns the loss from before the update (NaN on
/// failure).
///
/// # Safety
/// As [`tfg_rt_model_run`].
#[no_mangle]
pub unsafe extern "C" fn tfg_rt_model_train(
    model: *mut Model,
    program: u64,
    inputs: *const *const u8,
) -> f64 {
    if tfg_rt_model_run(model, program, inputs, std::ptr::null()) != 0 {
        return f64::NAN;
    }
    let s = &(*model).state;
    let p = &s.desc.programs()[program as usize];
    let ps = &s.programs[program as usize];
    let loss = slice(p.buffers, p.n_buffers)
        .iter()
        .zip(&ps.scratch)
        .find(|(b, _)| b.kind == BUF_OUTPUT && b.index == 0)
        .and_then(|(_, m)| m.as_ref());
    match (loss, p.loss_dtype) {
        (Some(m), DTYPE_F32) => f64::from(*m.as_ptr().cast::<f32>()),
        (Some(m), DTYPE_F64) => *m.as_ptr().cast::<f64>(),
        _ => {
            fail("the train step has no float loss".into());
            f64::NAN
        }
    }
}

/// Frees a model and everything it allocated. NULL is ignored.
///
/// # Safety
/// `model` comes from [`tfg_rt_model_new`] and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tfg_rt_model_free(model: *mut Model) {
    if !model.is_null() {
        drop(Box::from_raw(model));
    }
}
