//! Kernel IR to LLVM IR for `nvptx64-nvidia-cuda`, optimised with LLVM's O3
//! pipeline and printed as PTX.
//!
//! One `.entry` per launch of the [`schedule`](crate::schedule), taking one
//! global pointer (address space 1) per buffer it touches, every one
//! `noalias` (the buffer plan never lets two live buffers overlap) and
//! `readonly` where the launch does not write it, so loads may go through
//! the read-only cache. Constant buffers are module globals.
//!
//! The same translation can target the host instead ([`Target::Host`]): the
//! thread indices become parameters and barriers and shuffles calls to
//! functions the test harness provides, which is how the tests run the
//! generated code without a GPU. And it can compile the CPU backend's tasks
//! for this machine's CPU ([`Target::Cpu`], the [`cpu`](crate::cpu) tier).

mod arith;
mod func;
mod gemm;
mod group;
mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod task;

use crate::schedule::Launch;
use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::builder::{Builder, BuilderError};
use inkwell::context::Context;
use inkwell::module::{Linkage, Module};
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target as LlvmTarget, TargetMachine,
    TargetTriple,
};
use inkwell::types::{BasicMetadataTypeEnum, BasicType, BasicTypeEnum};
use inkwell::values::{BasicValueEnum, FunctionValue, PointerValue};
use inkwell::{AddressSpace, OptimizationLevel};
use std::collections::HashMap;
use std::fmt;
use tfg_ir::kernel::{BufId, Program, Role};
use tfg_ir::{DType, Data};

/// What the generated code runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Nvptx,
    /// The host, one call per thread: `entry(ptr bufs, ptr ids)`, with
    /// `bufs` the launch's buffer pointers, `ids` its thread indices, and
    /// `tfg_host_barrier`, `tfg_host_warp_sync` and `tfg_host_shfl_bfly`
    /// provided by the caller.
    Host,
    /// This machine's CPU, one function per task of the CPU backend's task
    /// ABI: `task(ptr table, i64 lo, i64 hi)`, `table[b]` the base of buffer
    /// `b`; a task that is a top-level loop runs its iterations `lo..hi`.
    Cpu,
}

/// A code generation failure: a program this backend cannot translate, or
/// an LLVM error.
#[derive(Debug)]
pub(crate) struct Error(pub String);

impl From<BuilderError> for Error {
    fn from(e: BuilderError) -> Error {
        Error(format!("LLVM builder: {e}"))
    }
}

impl From<String> for Error {
    fn from(e: String) -> Error {
        Error(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) type R<T> = Result<T, Error>;

const TRIPLE: &str = "nvptx64-nvidia-cuda";

/// PTX text of `launches` for `sm` (`sm_80`, `sm_90`, …).
pub(crate) fn ptx(p: &Program, launches: &[Launch], sm: &str) -> Result<String, String> {
    let cx = Context::create();
    let (module, tm) = optimised(&cx, p, launches, sm).map_err(|e| e.0)?;
    let buf = tm
        .write_to_memory_buffer(&module, FileType::Assembly)
        .map_err(|e| format!("PTX emission: {e}"))?;
    String::from_utf8(buf.as_slice().to_vec()).map_err(|e| format!("PTX emission: {e}"))
}

/// The optimised LLVM IR that [`ptx`] prints.
pub(crate) fn llvm_ir(p: &Program, launches: &[Launch], sm: &str) -> Result<String, String> {
    let cx = Context::create();
    let (module, _) = optimised(&cx, p, launches, sm).map_err(|e| e.0)?;
    Ok(module.print_to_string().to_string())
}

/// Unoptimised LLVM IR for [`Target::Host`], for the test harness.
pub(crate) fn host_ir(p: &Program, launches: &[Launch]) -> Result<String, String> {
    let cx = Context::create();
    let module = generate(&cx, p, launches, Target::Host).map_err(|e| e.0)?;
    Ok(module.print_to_string().to_string())
}

fn optimised<'ctx>(
    cx: &'ctx Context,
    p: &Program,
    launches: &[Launch],
    sm: &str,
) -> R<(Module<'ctx>, TargetMachine)> {
    let tm = machine(sm)?;
    let module = generate(cx, p, launches, Target::Nvptx)?;
    module.set_triple(&tm.get_triple());
    module.set_data_layout(&tm.get_target_data().get_data_layout());
    module
        .run_passes("default<O3>", &tm, PassBuilderOptions::create())
        .map_err(|e| Error(format!("LLVM O3: {e}")))?;
    Ok((module, tm))
}

/// A target machine for `sm`, one of [`crate::SUPPORTED_SMS`].
fn machine(sm: &str) -> R<TargetMachine> {
    crate::check_sm(sm).map_err(Error)?;
    LlvmTarget::initialize_nvptx(&InitializationConfig::default());
    let triple = TargetTriple::create(TRIPLE);
    let target = LlvmTarget::from_triple(&triple)
        .map_err(|e| Error(format!("LLVM has no NVPTX target: {e}")))?;
    target
        .create_target_machine(
            &triple,
            sm,
            "",
            OptimizationLevel::Aggressive,
            RelocMode::Default,
            CodeModel::Default,
        )
        .ok_or_else(|| Error(format!("LLVM does not know the GPU architecture `{sm}`")))
}

/// The module with one function per launch, verified.
fn generate<'ctx>(
    cx: &'ctx Context,
    p: &Program,
    launches: &[Launch],
    target: Target,
) -> R<Module<'ctx>> {
    let g = Gen::new(cx, p, target)?;
    for l in launches {
        func::emit(&g, l)?;
    }
    g.verified()
}

/// Module-wide state.
pub(crate) struct Gen<'p, 'ctx> {
    pub cx: &'ctx Context,
    pub module: Module<'ctx>,
    pub b: Builder<'ctx>,
    pub target: Target,
    pub program: &'p Program,
    /// The global holding each constant buffer.
    pub consts: HashMap<BufId, PointerValue<'ctx>>,
    /// On the CPU, the f32 lanes of its widest vectors (8 with AVX2).
    pub lanes: u32,
}

impl<'p, 'ctx> Gen<'p, 'ctx> {
    /// An empty module for `p` on `target`, with its constants.
    pub(crate) fn new(cx: &'ctx Context, p: &'p Program, target: Target) -> R<Self> {
        let mut g = Gen {
            cx,
            module: cx.create_module("tfg"),
            b: cx.create_builder(),
            target,
            program: p,
            consts: HashMap::new(),
            lanes: 4,
        };
        g.constants()?;
        Ok(g)
    }

    /// The module, once LLVM's verifier accepts it.
    pub(crate) fn verified(self) -> R<Module<'ctx>> {
        self.module
            .verify()
            .map_err(|e| Error(format!("generated LLVM IR is invalid: {e}")))?;
        Ok(self.module)
    }

    pub fn global_space(&self) -> AddressSpace {
        match self.target {
            Target::Nvptx => AddressSpace::from(1u16),
            Target::Host | Target::Cpu => AddressSpace::default(),
        }
    }

    pub fn shared_space(&self) -> AddressSpace {
        match self.target {
            Target::Nvptx => AddressSpace::from(3u16),
            Target::Host | Target::Cpu => AddressSpace::default(),
        }
    }

    /// The type of a `dtype` value in registers (`i1` for bool).
    pub fn reg_type(&self, d: DType) -> BasicTypeEnum<'ctx> {
        match d {
            DType::F32 => self.cx.f32_type().into(),
            DType::F64 => self.cx.f64_type().into(),
            DType::I32 => self.cx.i32_type().into(),
            DType::I64 => self.cx.i64_type().into(),
            DType::Bool => self.cx.bool_type().into(),
        }
    }

    /// The type of a `dtype` element in memory (`i8` for bool).
    pub fn mem_type(&self, d: DType) -> BasicTypeEnum<'ctx> {
        match d {
            DType::Bool => self.cx.i8_type().into(),
            _ => self.reg_type(d),
        }
    }

    /// An entry point taking `buffers` (one pointer each; see [`Target`]).
    pub fn entry(&self, name: &str, buffers: &[(BufId, bool)], block: u32) -> FunctionValue<'ctx> {
        let ptr = self.cx.ptr_type(self.global_space());
        let params: Vec<BasicMetadataTypeEnum> = match self.target {
            Target::Nvptx => buffers.iter().map(|_| ptr.into()).collect(),
            Target::Host => vec![ptr.into(), ptr.into()],
            Target::Cpu => {
                let i64t = self.cx.i64_type();
                vec![ptr.into(), i64t.into(), i64t.into()]
            }
        };
        let f = self
            .module
            .add_function(name, self.cx.void_type().fn_type(&params, false), None);
        if self.target == Target::Nvptx {
            // PTX_Kernel: printed as `.visible .entry`.
            f.set_call_conventions(71);
            let noalias = self.enum_attr("noalias");
            let readonly = self.enum_attr("readonly");
            for (i, &(_, written)) in buffers.iter().enumerate() {
                f.add_attribute(AttributeLoc::Param(i as u32), noalias);
                if !written {
                    f.add_attribute(AttributeLoc::Param(i as u32), readonly);
                }
            }
            self.annotate(f, "maxntidx", block);
        }
        f
    }

    pub(crate) fn enum_attr(&self, name: &str) -> Attribute {
        self.cx
            .create_enum_attribute(Attribute::get_named_enum_kind_id(name), 0)
    }

    /// `!nvvm.annotations = !{ptr @f, !"key", i32 value}`.
    fn annotate(&self, f: FunctionValue<'ctx>, key: &str, value: u32) {
        let node = self.cx.metadata_node(&[
            f.as_global_value().as_pointer_value().into(),
            self.cx.metadata_string(key).into(),
            self.cx.i32_type().const_int(u64::from(value), false).into(),
        ]);
        // Adding to a named metadata list only fails on a non-node value.
        let _ = self.module.add_global_metadata("nvvm.annotations", &node);
    }

    /// A global for every constant buffer, initialised with its elements.
    fn constants(&mut self) -> R<()> {
        for (i, buf) in self.program.buffers.iter().enumerate() {
            let Role::Const(data) = &buf.role else {
                continue;
            };
            let elem = self.mem_type(buf.dtype);
            let values: Vec<BasicValueEnum> = match data {
                Data::F32(v) => v
                    .iter()
                    .map(|&x| self.cx.f32_type().const_float(f64::from(x)).into())
                    .collect(),
                Data::F64(v) => v
                    .iter()
                    .map(|&x| self.cx.f64_type().const_float(x).into())
                    .collect(),
                Data::I32(v) => v
                    .iter()
                    .map(|&x| self.cx.i32_type().const_int(x as u64, true).into())
                    .collect(),
                Data::I64(v) => v
                    .iter()
                    .map(|&x| self.cx.i64_type().const_int(x as u64, true).into())
                    .collect(),
                Data::Bool(v) => v
                    .iter()
                    .map(|&x| self.cx.i8_type().const_int(u64::from(x), false).into())
                    .collect(),
            };
            let init = const_array(elem, &values);
            let global = self.module.add_global(
                init.get_type(),
                Some(self.global_space()),
                &format!("tfg_const_b{i}"),
            );
            global.set_initializer(&init);
            global.set_constant(true);
            global.set_linkage(Linkage::Internal);
            global.set_alignment(16);
            self.consts
                .insert(BufId(i as u32), global.as_pointer_value());
        }
        Ok(())
    }
}

/// A constant array of `values`, all of type `elem`; one zero element
/// stands in for an empty buffer.
fn const_array<'ctx>(
    elem: BasicTypeEnum<'ctx>,
    values: &[BasicValueEnum<'ctx>],
) -> inkwell::values::ArrayValue<'ctx> {
    macro_rules! array {
        ($t:expr, $conv:ident) => {{
            let vs: Vec<_> = values.iter().map(|v| v.$conv()).collect();
            if vs.is_empty() {
                $t.const_array(&[$t.const_zero()])
            } else {
                $t.const_array(&vs)
            }
        }};
    }
    match elem {
        BasicTypeEnum::FloatType(t) => array!(t, into_float_value),
        BasicTypeEnum::IntType(t) => array!(t, into_int_value),
        other => other.array_type(0).const_zero(),
    }
}

impl<'ctx> Gen<'_, 'ctx> {
    /// The declaration of intrinsic (or host-provided function) `name`.
    pub fn intrinsic(
        &self,
        name: &str,
        ret: Option<BasicTypeEnum<'ctx>>,
        args: &[BasicTypeEnum<'ctx>],
    ) -> FunctionValue<'ctx> {
        if let Some(f) = self.module.get_function(name) {
            return f;
        }
        let args: Vec<BasicMetadataTypeEnum> = args.iter().map(|&a| a.into()).collect();
        let t = match ret {
            Some(r) => r.fn_type(&args, false),
            None => self.cx.void_type().fn_type(&args, false),
        };
        let f = self.module.add_function(name, t, None);
        if !name.starts_with("llvm.") {
            // Barriers and shuffles must not be moved or duplicated.
            f.add_attribute(AttributeLoc::Function, self.enum_attr("convergent"));
        }
        f
    }

    /// The global constant array `name` holding `values` (made on first use).
    pub fn table(&self, name: &str, values: &[f64]) -> PointerValue<'ctx> {
        if let Some(g) = self.module.get_global(name) {
            return g.as_pointer_value();
        }
        let t = self.cx.f64_type();
        let elems: Vec<_> = values.iter().map(|&v| t.const_float(v)).collect();
        let init = t.const_array(&elems);
        let g = self
            .module
            .add_global(init.get_type(), Some(self.global_space()), name);
        g.set_initializer(&init);
        g.set_constant(true);
        g.set_linkage(Linkage::Internal);
        g.set_alignment(16);
        g.as_pointer_value()
    }

    /// A new shared-memory array of type `t`.
    pub fn shared(&self, t: BasicTypeEnum<'ctx>, name: &str) -> PointerValue<'ctx> {
        let g = self.module.add_global(t, Some(self.shared_space()), name);
        g.set_linkage(Linkage::Internal);
        // Shared memory cannot be initialised.
        g.set_initializer(&undef(t));
        g.set_alignment(16);
        g.as_pointer_value()
    }
}

fn undef(t: BasicTypeEnum) -> BasicValueEnum {
    match t {
        BasicTypeEnum::ArrayType(a) => a.get_undef().into(),
        BasicTypeEnum::FloatType(f) => f.get_undef().into(),
        BasicTypeEnum::IntType(i) => i.get_undef().into(),
        BasicTypeEnum::PointerType(p) => p.get_undef().into(),
        BasicTypeEnum::StructType(s) => s.get_undef().into(),
        BasicTypeEnum::VectorType(v) => v.get_undef().into(),
        BasicTypeEnum::ScalableVectorType(v) => v.get_undef().into(),
    }
}
