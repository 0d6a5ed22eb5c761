//! Ahead-of-time compilation: a model (params with initial values, a run
//! program, optionally a train-step program) written as a relocatable
//! object file whose entry functions C programs call.
//!
//! The object holds every program's task functions, the descriptor the
//! runtime's model driver (`tfg_rt::model`) reads — params, buffers, tasks,
//! arenas — with the initial param values and constants as data, and four
//! entry functions, `{name}_init`, `{name}_run`, `{name}_train_step` (with a
//! train step) and `{name}_free`, each a call into the driver with the
//! descriptor. Kernels and entries resolve `tfg_rt_*` against the linked
//! `libtfg_rt.a`. [`mod@crate::header`] writes the matching C declarations.

use crate::jit::{data_bytes, PARALLEL_WORK};
use crate::translate::translate_prefixed;
use crate::{isa, CompileError, Options};
use cranelift_codegen::ir::{types, AbiParam, InstBuilder};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{default_libcall_names, DataDescription, DataId, FuncId, Linkage, Module};
use cranelift_object::{ObjectBuilder, ObjectModule};
use tfg_ir::kernel::{Program, Role};
use tfg_ir::{DType, Tensor};
use tfg_rt::model as rt;

/// A value a program takes or hands back: its name and concrete type.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
}

/// A param of the model, with the value `init` starts it at.
#[derive(Clone, Debug, PartialEq)]
pub struct AotParam {
    pub name: String,
    pub value: Tensor,
}

/// One program of a model and how its params map onto the model's.
#[derive(Clone, Debug)]
pub struct AotProgram {
    pub program: Program,
    /// The program's inputs and outputs, in its order.
    pub inputs: Vec<Slot>,
    pub outputs: Vec<Slot>,
    /// For the program's param `n`, the model param index.
    pub params: Vec<usize>,
    /// For the program's update `n`, the model param index it replaces.
    pub updates: Vec<usize>,
}

/// Everything an object file and its header describe.
#[derive(Clone, Debug)]
pub struct AotModel {
    /// The prefix of every C name (a C identifier).
    pub name: String,
    pub params: Vec<AotParam>,
    pub run: AotProgram,
    /// The train step: output 0 is the loss.
    pub train: Option<AotProgram>,
}

impl AotModel {
    fn programs(&self) -> impl Iterator<Item = &AotProgram> {
        std::iter::once(&self.run).chain(&self.train)
    }
}

/// The runtime's dtype code.
pub(crate) fn dtype_code(d: DType) -> u64 {
    match d {
        DType::F32 => rt::DTYPE_F32,
        DType::F64 => rt::DTYPE_F64,
        DType::I32 => rt::DTYPE_I32,
        DType::I64 => rt::DTYPE_I64,
        DType::Bool => rt::DTYPE_BOOL,
    }
}

/// Compiles `m` for the host CPU into an ELF/Mach-O/COFF object file.
pub fn object(m: &AotModel, opts: &Options) -> std::result::Result<Vec<u8>, CompileError> {
    let err = |message: String| CompileError { message };
    let isa = isa::host_pic().map_err(err)?;
    let builder = ObjectBuilder::new(isa, m.name.as_bytes().to_vec(), default_libcall_names())
        .map_err(|e| err(e.to_string()))?;
    let mut w = Writer {
        module: ObjectModule::new(builder),
        prefix: m.name.clone(),
        count: 0,
    };
    let desc = w.model(m, opts).map_err(err)?;
    w.entries(m, desc).map_err(err)?;
    w.module
        .finish()
        .emit()
        .map_err(|e| err(format!("writing the object: {e}")))
}

/// Where a pointer-sized field points.
enum Target {
    Data(DataId),
    Func(FuncId),
}

/// Bytes of a descriptor under construction, with its pointer fields.
#[derive(Default)]
struct Blob {
    bytes: Vec<u8>,
    relocs: Vec<(u32, Target)>,
}

impl Blob {
    fn u64(&mut self, v: u64) -> &mut Blob {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A pointer to `t`, or NULL.
    fn ptr(&mut self, t: Option<Target>) -> &mut Blob {
        if let Some(t) = t {
            self.relocs.push((self.bytes.len() as u32, t));
        }
        self.u64(0)
    }
}

struct Writer {
    module: ObjectModule,
    prefix: String,
    count: usize,
}

type Result<T> = std::result::Result<T, String>;

impl Writer {
    /// Defines read-only data holding `blob`, under a fresh local symbol.
    fn data(&mut self, what: &str, blob: Blob, align: u64) -> Result<DataId> {
        self.count += 1;
        let name = format!("{}_{what}{}", self.prefix, self.count);
        let id = self
            .module
            .declare_data(&name, Linkage::Local, false, false)
            .map_err(|e| e.to_string())?;
        let mut d = DataDescription::new();
        let mut bytes = blob.bytes;
        bytes.resize(bytes.len().max(8), 0);
        d.define(bytes.into_boxed_slice());
        d.set_align(align);
        for (offset, t) in blob.relocs {
            match t {
                Target::Data(target) => {
                    let gv = self.module.declare_data_in_data(target, &mut d);
                    d.write_data_addr(offset, gv, 0);
                }
                Target::Func(f) => {
                    let fr = self.module.declare_func_in_data(f, &mut d);
                    d.write_function_addr(offset, fr);
                }
            }
        }
        self.module.define_data(id, &d).map_err(|e| e.to_string())?;
        Ok(id)
    }

    fn bytes(&mut self, what: &str, bytes: Vec<u8>, align: u64) -> Result<DataId> {
        self.data(
            what,
            Blob {
                bytes,
                relocs: Vec::new(),
            },
            align,
        )
    }

    /// An array of descriptors, or `None` for an empty one (a NULL pointer).
    fn array(&mut self, what: &str, blob: Blob, n: usize) -> Result<Option<Target>> {
        Ok(if n == 0 {
            None
        } else {
            Some(Target::Data(self.data(what, blob, 8)?))
        })
    }

    /// The whole `ModelDesc`, exported as `{name}_desc`.
    fn model(&mut self, m: &AotModel, opts: &Options) -> Result<DataId> {
        let mut params = Blob::default();
        for p in &m.params {
            let mut name = p.name.clone().into_bytes();
            name.push(0);
            let name = self.bytes("name", name, 1)?;
            let shape: Vec<u8> = p
                .value
                .shape
                .iter()
                .flat_map(|&d| (d as u64).to_le_bytes())
                .collect();
            let shape = self.array(
                "shape",
                Blob {
                    bytes: shape,
                    relocs: Vec::new(),
                },
                p.value.shape.len(),
            )?;
            let init = data_bytes(&p.value.data);
            let len = init.len() as u64;
            let init = self.bytes("init", init, 64)?;
            params
                .ptr(Some(Target::Data(name)))
                .u64(dtype_code(p.value.dtype()))
                .u64(p.value.shape.len() as u64)
                .ptr(shape)
                .u64(len)
                .ptr(Some(Target::Data(init)));
        }
        let params = self.array("params", params, m.params.len())?;
        let mut programs = Blob::default();
        let mut n_programs = 0;
        for (i, p) in m.programs().enumerate() {
            self.program(&mut programs, p, i, opts)?;
            n_programs += 1;
        }
        let programs = self.array("programs", programs, n_programs)?;
        let mut desc = Blob::default();
        desc.u64(m.params.len() as u64)
            .ptr(params)
            .u64(n_programs as u64)
            .ptr(programs);
        self.data("desc", desc, 8)
    }

    /// Appends program `index`'s `ProgramDesc` to `out`.
    fn program(
        &mut self,
        out: &mut Blob,
        a: &AotProgram,
        index: usize,
        opts: &Options,
    ) -> Result<()> {
        let p = &a.program;
        tfg_ir::kernel::verify(p).map_err(|e| e.to_string())?;
        let prefix = format!("{}_p{index}", self.prefix);
        // The model driver's table holds the buffers alone.
        let opts = &Options {
            keep_packed: false,
            ..opts.clone()
        };
        let tasks = translate_prefixed(&mut self.module, p, opts, Linkage::Local, &prefix, None)?;
        let mut table = Blob::default();
        for t in &tasks {
            let extent = t.extent.unwrap_or(0);
            let split = opts.threads && t.parallel && extent > 1 && t.work >= PARALLEL_WORK;
            table
                .ptr(Some(Target::Func(t.func)))
                .u64(extent)
                .u64(u64::from(split));
        }
        let tasks_ptr = self.array("tasks", table, tasks.len())?;
        let mut buffers = Blob::default();
        for (i, b) in p.buffers.iter().enumerate() {
            let bytes = b.len() * b.dtype.size() as u64;
            let model_param = |n: u32, map: &[usize], what: &str| {
                map.get(n as usize)
                    .map(|&i| i as u64)
                    .ok_or_else(|| format!("{what} {n} of the program has no model param"))
            };
            let (kind, index, addr) = match &b.role {
                Role::Input(n) => (rt::BUF_INPUT, u64::from(*n), None),
                Role::Param(n) => (rt::BUF_PARAM, model_param(*n, &a.params, "param")?, None),
                Role::Const(d) => {
                    let c = self.bytes("const", data_bytes(d), 64)?;
                    (rt::BUF_CONST, 0, Some(Target::Data(c)))
                }
                Role::Output(n) => (rt::BUF_OUTPUT, u64::from(*n), None),
                Role::Update(n) => (rt::BUF_UPDATE, model_param(*n, &a.updates, "update")?, None),
                Role::Temp => {
                    let offset = p.plan.offsets.get(i).copied().flatten();
                    let offset = offset.ok_or_else(|| format!("b{i} has no place in the arena"))?;
                    buffers.u64(rt::BUF_TEMP).u64(0).u64(offset).u64(bytes);
                    continue;
                }
            };
            buffers.u64(kind).u64(index).ptr(addr).u64(bytes);
        }
        let buffers_ptr = self.array("buffers", buffers, p.buffers.len())?;
        let loss = a.outputs.first().map_or(u64::MAX, |s| dtype_code(s.dtype));
        out.u64(p.buffers.len() as u64)
            .ptr(buffers_ptr)
            .u64(p.plan.arena_bytes)
            .u64(tasks.len() as u64)
            .ptr(tasks_ptr)
            .u64(a.inputs.len() as u64)
            .u64(a.outputs.len() as u64)
            .u64(loss);
        Ok(())
    }

    /// The exported entry functions: each calls the driver with the descriptor.
    fn entries(&mut self, m: &AotModel, desc: DataId) -> Result<()> {
        let ptr = self.module.target_config().pointer_type();
        let (i32t, i64t, f64t) = (types::I32, types::I64, types::F64);
        // (entry, driver, entry params, program index to pass, result)
        let mut list = vec![
            ("init", "tfg_rt_model_new", vec![ptr], None, Some(ptr)),
            (
                "run",
                "tfg_rt_model_run",
                vec![ptr, ptr, ptr],
                Some(0),
                Some(i32t),
            ),
            ("free", "tfg_rt_model_free", vec![ptr], None, None),
        ];
        if m.train.is_some() {
            list.push((
                "train_step",
                "tfg_rt_model_train",
                vec![ptr, ptr],
                Some(1),
                Some(f64t),
            ));
        }
        let mut fctx = FunctionBuilderContext::new();
        let mut ctx = self.module.make_context();
        for (entry, driver, params, program, result) in list {
            let mut sig = self.module.make_signature();
            sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
            sig.returns.extend(result.map(AbiParam::new));
            let mut callee = sig.clone();
            if entry == "init" {
                callee.params.insert(0, AbiParam::new(ptr));
            }
            if program.is_some() {
                callee.params.insert(1, AbiParam::new(i64t));
            }
            let name = format!("{}_{entry}", m.name);
            let f = self
                .module
                .declare_function(&name, Linkage::Export, &sig)
                .map_err(|e| e.to_string())?;
            let d = self
                .module
                .declare_function(driver, Linkage::Import, &callee)
                .map_err(|e| e.to_string())?;
            ctx.func.signature = sig;
            {
                let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
                let block = b.create_block();
                b.append_block_params_for_function_params(block);
                b.switch_to_block(block);
                b.seal_block(block);
                let mut args = b.block_params(block).to_vec();
                if entry == "init" {
                    let gv = self.module.declare_data_in_func(desc, b.func);
                    args.insert(0, b.ins().symbol_value(ptr, gv));
                }
                if let Some(n) = program {
                    args.insert(1, b.ins().iconst(i64t, n));
                }
                let callee = self.module.declare_func_in_func(d, b.func);
                let call = b.ins().call(callee, &args);
                let results = b.inst_results(call).to_vec();
                b.ins().return_(&results);
                b.finalize(self.module.target_config());
            }
            self.module
                .define_function(f, &mut ctx)
                .map_err(|e| format!("entry {name}: {e}"))?;
            self.module.clear_context(&mut ctx);
        }
        Ok(())
    }
}
