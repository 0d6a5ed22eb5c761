//! The CPU backend's tasks ([`Target::Cpu`]) as one LLVM module, optimised
//! by O3 for this machine's CPU (its vector width: AVX2's 256 bits, or
//! AVX-512's 512, where Cranelift's code stays at 128) and loaded in memory
//! by MCJIT.

use super::{func, Error, Gen, Target, R};
use crate::cpu::CpuCode;
use inkwell::context::Context;
use inkwell::execution_engine::ExecutionEngine;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, RelocMode, Target as LlvmTarget, TargetMachine, TargetTriple,
};
use inkwell::OptimizationLevel;
use llvm_sys::core::{LLVMContextSetDiagnosticHandler, LLVMGetDiagInfoSeverity};
use llvm_sys::prelude::LLVMDiagnosticInfoRef;
use llvm_sys::LLVMDiagnosticSeverity;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use tfg_cpu::TierTask;
use tfg_ir::kernel::Program;

// llvm-sys is built with `disable-alltargets-init` (so that the `tfg`
// binary links only the targets it uses), and then the program supplies the
// "native target" entry points that MCJIT calls when it starts. They call
// LLVM directly: inkwell's `Target::initialize_x86` would wait on the lock
// that the engine's creation holds.
macro_rules! native_x86 {
    ($($name:ident => [$($init:ident),*]),*) => {$(
        #[no_mangle]
        extern "C" fn $name() -> std::ffi::c_int {
            // SAFETY: LLVM's target registration functions take no
            // arguments and may be called more than once.
            unsafe { $(llvm_sys::target::$init();)* }
            0
        }
    )*};
}
native_x86!(
    LLVM_InitializeNativeTarget => [LLVMInitializeX86TargetInfo, LLVMInitializeX86Target, LLVMInitializeX86TargetMC],
    LLVM_InitializeNativeAsmPrinter => [LLVMInitializeX86AsmPrinter]
);

// The JIT needs neither an assembly parser nor a disassembler: these report
// success without registering one, so that their libraries are not linked
// (3.4 MB less binary).
#[no_mangle]
extern "C" fn LLVM_InitializeNativeAsmParser() -> std::ffi::c_int {
    0
}

#[no_mangle]
extern "C" fn LLVM_InitializeNativeDisassembler() -> std::ffi::c_int {
    0
}

/// A target machine for this CPU, and its name and features.
fn host() -> R<(TargetMachine, String, String)> {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        LLVM_InitializeNativeTarget();
        LLVM_InitializeNativeAsmPrinter();
    });
    let triple: TargetTriple = TargetMachine::get_default_triple();
    let target = LlvmTarget::from_triple(&triple)
        .map_err(|e| Error(format!("LLVM has no target for this machine: {e}")))?;
    let cpu = TargetMachine::get_host_cpu_name().to_string();
    let features = TargetMachine::get_host_cpu_features().to_string();
    let tm = target
        .create_target_machine(
            &triple,
            &cpu,
            &features,
            OptimizationLevel::Aggressive,
            RelocMode::Default,
            CodeModel::JITDefault,
        )
        .ok_or_else(|| Error(format!("LLVM cannot generate code for this CPU ({cpu})")))?;
    Ok((tm, cpu, features))
}

/// Runs `f`, which compiles in `cx`, with LLVM's diagnostics kept off
/// stderr: the loop vectoriser remarks on every loop it was asked to
/// vectorise and could not (a hint that does not fit is no one's error),
/// which in a tier-up would print in the middle of a program's output. An
/// error diagnostic fails the compilation instead (Cranelift's code stays).
fn quietly<T>(cx: &Context, f: impl FnOnce() -> R<T>) -> R<T> {
    extern "C" fn note(info: LLVMDiagnosticInfoRef, failed: *mut c_void) {
        // SAFETY: `failed` is the AtomicBool below, alive while `f` runs,
        // and LLVM calls this only while it compiles in `cx`, inside `f`.
        unsafe {
            if LLVMGetDiagInfoSeverity(info) == LLVMDiagnosticSeverity::LLVMDSError {
                (*(failed as *const AtomicBool)).store(true, Ordering::Relaxed);
            }
        }
    }
    let failed = AtomicBool::new(false);
    let at = &failed as *const AtomicBool as *mut c_void;
    // SAFETY: the handler is removed again before `failed` goes.
    unsafe { LLVMContextSetDiagnosticHandler(cx.raw(), Some(note), at) };
    let out = f();
    unsafe { LLVMContextSetDiagnosticHandler(cx.raw(), None, std::ptr::null_mut()) };
    if failed.load(Ordering::Relaxed) {
        return Err(Error("LLVM reported an error while compiling".into()));
    }
    out
}

/// The module of `tasks` of `p`, optimised for this CPU, and its target
/// machine.
fn optimised<'ctx>(
    cx: &'ctx Context,
    p: &Program,
    tasks: &[TierTask],
) -> R<(Module<'ctx>, TargetMachine)> {
    let (tm, cpu, features) = host()?;
    let mut g = Gen::new(cx, p, Target::Cpu)?;
    g.lanes = if features.contains("+avx512f") {
        16
    } else if features.contains("+avx") {
        8
    } else {
        4
    };
    let on_cpu = [
        cx.create_string_attribute("target-cpu", &cpu),
        cx.create_string_attribute("target-features", &features),
        g.enum_attr("nounwind"),
    ];
    for t in tasks {
        let f = g.entry(&t.symbol, &[], 1);
        func::emit_task(&g, f, &t.body, t.as_loop, &on_cpu)
            .map_err(|e| Error(format!("{}: {e}", t.symbol)))?;
    }
    let module = g.verified()?;
    let passes = PassBuilderOptions::create();
    passes.set_loop_unrolling(false);
    module.set_triple(&tm.get_triple());
    module.set_data_layout(&tm.get_target_data().get_data_layout());
    module
        .run_passes("default<O3>", &tm, passes)
        .map_err(|e| Error(format!("LLVM O3: {e}")))?;
    Ok((module, tm))
}

/// The optimised LLVM IR of `tasks` of `p`, or its assembly where `asm`.
pub(crate) fn listing(p: &Program, tasks: &[TierTask], asm: bool) -> R<String> {
    let cx = Context::create();
    quietly(&cx, || {
        let (module, tm) = optimised(&cx, p, tasks)?;
        if !asm {
            return Ok(module.print_to_string().to_string());
        }
        let buf = tm
            .write_to_memory_buffer(&module, FileType::Assembly)
            .map_err(|e| Error(format!("assembly: {e}")))?;
        String::from_utf8(buf.as_slice().to_vec()).map_err(|e| Error(format!("assembly: {e}")))
    })
}

/// Compiles `tasks` of `p` and loads them.
pub(crate) fn jit(p: &Program, tasks: &[TierTask]) -> R<CpuCode> {
    // The engine's code lives as long as its context: both are owned by
    // the returned `CpuCode`, which frees them together.
    let cx: &'static Context = Box::leak(Box::new(Context::create()));
    let built = quietly(
        cx,
        || -> R<(ExecutionEngine<'static>, HashMap<String, usize>)> {
            let (module, _) = optimised(cx, p, tasks)?;
            let engine = module
                .create_jit_execution_engine(OptimizationLevel::Aggressive)
                .map_err(|e| Error(format!("LLVM's JIT: {e}")))?;
            let mut addresses = HashMap::new();
            for t in tasks {
                let a = engine
                    .get_function_address(&t.symbol)
                    .map_err(|e| Error(format!("{}: {e}", t.symbol)))?;
                addresses.insert(t.symbol.clone(), a);
            }
            Ok((engine, addresses))
        },
    );
    match built {
        // SAFETY: `cx` was leaked above and nothing else refers to it.
        Ok((engine, addresses)) => Ok(unsafe { CpuCode::new(cx, engine, addresses) }),
        Err(e) => {
            // SAFETY: everything made in `cx` has been dropped.
            drop(unsafe { Box::from_raw(cx as *const Context as *mut Context) });
            Err(e)
        }
    }
}
