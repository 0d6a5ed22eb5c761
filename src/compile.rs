//! `tfg compile FILE --target cpu|ptx`: a graph compiled ahead of time.
//!
//! `cpu`: an object file and a C header (or the kernels' CLIF or assembly,
//! with `--emit`). The object holds the forward graph as `{graph}_run` and,
//! where the file has a `train` item, its training step as
//! `{graph}_train_step`; the initial param values are computed here (with
//! `--seed`) and embedded.
//!
//! `ptx`: a PTX module (`tfg_driver::ptx_module`) of the forward graph, or of the
//! training step with `--train`, for `--sm` (or its PTX or LLVM IR, with
//! `--emit`), with the initial param values beside it.

use crate::cli::{CompileArgs, Emit, Target};
use crate::failure::Failure;
use crate::stdout;
use std::collections::BTreeMap;
use tfg_cpu::{AotModel, AotParam, AotProgram, Slot};
use tfg_driver::source::Source;
use tfg_driver::{backend, tier};
use tfg_formats::whole_file;
use tfg_ir::{Dim, Graph, Op};
use tfg_passes::{Ir, Level, Options};

pub fn compile(args: &CompileArgs) -> Result<(), Failure> {
    let emit = check_options(args)?;
    if let Some(sm) = &args.sm {
        tfg_ptx::check_sm(sm).map_err(Failure::new)?;
    }
    let src = Source::load(&args.file)?;
    let program = src.compile()?;
    let forward = crate::selection::choose(&program, args.graph.name.as_deref())?;
    let failed = |e: String| Failure::new(format!("graph `{}`: {e}", forward.name));
    let spec = program.train(&forward.name);
    if args.train && spec.is_none() {
        return Err(failed("--train: the file has no train item for it".into()));
    }
    let step = spec
        .map(|s| tfg_passes::train_step::build_train_step(forward, s))
        .transpose()
        .map_err(failed)?;

    let dims: BTreeMap<String, u64> = args.dims.iter().cloned().collect();
    let specialise = |g: &Graph| -> Result<Graph, Failure> {
        if let Some(sym) = unbound(g, &dims) {
            return Err(failed(format!(
                "dim `{sym}` is symbolic; bind it with --dim {sym}=SIZE"
            )));
        }
        let g = tfg_ir::specialize(g, &dims).map_err(|e| failed(e.to_string()))?;
        tfg_driver::memory::check_memory(&g)?;
        Ok(g)
    };
    let forward = specialise(forward)?;
    let step = step.map(|s| specialise(&s.graph)).transpose()?;

    // The model's params: the step graph's (the forward ones and the
    // optimizer slots) when there is one.
    let params = param_values(step.as_ref().unwrap_or(&forward), args.seed).map_err(failed)?;
    let run = lower(&forward, &params).map_err(failed)?;
    let train = step
        .as_ref()
        .map(|s| lower(s, &params))
        .transpose()
        .map_err(failed)?;
    if args.target == Target::Ptx {
        let program = match (&train, args.train) {
            (Some(t), true) => t,
            _ => &run,
        };
        return compile_ptx(args, emit, program, &params, &failed);
    }
    let model = AotModel {
        name: c_name(&forward.name),
        params,
        run,
        train,
    };

    let opts = tfg_cpu::Options::default();
    // Under TFG_CPU_TIER=llvm the machine code shown is the LLVM tier's.
    let llvm_asm = tier::choice().map_err(Failure::new)? == tier::Choice::Llvm;
    let listing = |p: &AotProgram, emit: Emit| match emit {
        Emit::Asm if llvm_asm => backend::cpu_tier_listing(&p.program, true).map_err(failed),
        Emit::Asm => tfg_cpu::asm(&p.program).map_err(|e| failed(e.to_string())),
        Emit::Llvm => backend::cpu_tier_listing(&p.program, false).map_err(failed),
        _ => tfg_cpu::clif_with(&p.program, &opts).map_err(|e| failed(e.to_string())),
    };
    match emit {
        Emit::Clif | Emit::Asm | Emit::Llvm => {
            // With --train the step is shown; otherwise the forward graph.
            let p = match (&model.train, args.train) {
                (Some(t), true) => t,
                _ => &model.run,
            };
            let text = listing(p, emit)?;
            stdout::write_to(args.output.as_deref(), &text)
        }
        Emit::Ptx => Err(Failure::new("--emit ptx needs --target ptx")),
        Emit::Obj => {
            let Some(out) = &args.output else {
                return Err(Failure::new("-o FILE.o is needed to write an object file"));
            };
            let bytes = tfg_cpu::object(&model, &opts).map_err(|e| failed(e.to_string()))?;
            // The object and the header appear together or not at all.
            let mut staged = whole_file::Staged::new();
            staged.add(out, &bytes).map_err(Failure::new)?;
            if let Some(h) = &args.header {
                staged
                    .add(h, tfg_cpu::header(&model).as_bytes())
                    .map_err(Failure::new)?;
            }
            staged.commit().map_err(Failure::new)
        }
    }
}

/// What to write, from `--target` and `--emit`, refusing options that do
/// not belong to the target before any work is done. `None`: a PTX module.
fn check_options(args: &CompileArgs) -> Result<Emit, Failure> {
    match (args.target, args.emit) {
        (Target::Cpu, _) if args.sm.is_some() => {
            Err(Failure::new("--sm is for --target ptx"))
        }
        (Target::Cpu, Some(Emit::Ptx)) => Err(Failure::new("--emit ptx needs --target ptx")),
        (Target::Cpu, emit) => Ok(emit.unwrap_or(Emit::Obj)),
        (Target::Ptx, Some(Emit::Obj | Emit::Clif | Emit::Asm)) => Err(Failure::new(
            "--emit obj|clif|asm is for --target cpu; --target ptx writes a module, or --emit ptx|llvm",
        )),
        (Target::Ptx, _) if args.header.is_some() => {
            Err(Failure::new("--header is for --target cpu"))
        }
        (Target::Ptx, None) if args.output.is_none() => Err(Failure::new(
            "-o DIR (or -o FILE.ptx) is needed to write a PTX module",
        )),
        // `Obj` stands for the module: --target ptx never writes an object.
        (Target::Ptx, emit) => Ok(emit.unwrap_or(Emit::Obj)),
    }
}

/// The PTX module of `program` (or its PTX or LLVM IR), as `emit` says;
/// `failed` makes an error about the graph.
fn compile_ptx(
    args: &CompileArgs,
    emit: Emit,
    program: &AotProgram,
    params: &[AotParam],
    failed: &dyn Fn(String) -> Failure,
) -> Result<(), Failure> {
    let sm = args.sm.as_deref().unwrap_or(tfg_ptx::DEFAULT_SM);
    let module = backend::generate_ptx(&program.program, sm).map_err(failed)?;
    let listing = match emit {
        Emit::Ptx => Some(module.ptx.clone()),
        Emit::Llvm => Some(backend::llvm_ir(&program.program).map_err(failed)?),
        _ => None,
    };
    match (listing, &args.output) {
        (Some(text), output) => stdout::write_to(output.as_deref(), &text),
        (None, Some(path)) => {
            // The values of the params the module takes, by name.
            let values: Vec<(&str, &tfg_ir::Tensor)> = module
                .manifest
                .params
                .iter()
                .filter_map(|spec| params.iter().find(|p| p.name == spec.name))
                .map(|p| (p.name.as_str(), &p.value))
                .collect();
            Ok(tfg_driver::ptx_module::write(path, &module, &values)?)
        }
        (None, None) => Err(Failure::new("-o DIR is needed to write a PTX module")),
    }
}

/// A symbolic dim of `g` that `dims` leaves unbound.
fn unbound(g: &Graph, dims: &BTreeMap<String, u64>) -> Option<String> {
    g.nodes
        .iter()
        .flat_map(|n| &n.ty.shape.0)
        .find_map(|d| match d {
            Dim::Sym(s) if !dims.contains_key(s) => Some(s.clone()),
            _ => None,
        })
}

/// Every param of `g` at its initial value.
fn param_values(g: &Graph, seed: u64) -> Result<Vec<AotParam>, String> {
    g.params()
        .map(|p| match &g.node(p).op {
            Op::Param { name, init } => Ok(AotParam {
                name: name.clone(),
                value: tfg_ir::init::materialize(init, g.ty(p), seed, name)?,
            }),
            _ => Err("a param node is not a param".into()),
        })
        .collect()
}

/// `g` through the pass pipeline to Kernel IR, with its inputs, outputs,
/// params and updates named against the model's params.
fn lower(g: &Graph, params: &[AotParam]) -> Result<AotProgram, String> {
    let options = Options::default();
    let mut ir = Ir::Graph(g.clone());
    let quiet = |_: &_, _: &_, _: Option<&str>| {};
    tfg_passes::run_pipeline(
        &mut ir,
        &tfg_passes::pipeline_to(Level::Graph),
        &options,
        quiet,
    )
    .map_err(|e| e.to_string())?;
    let Ir::Graph(graph) = ir else {
        return Err("the Graph IR passes left no graph".into());
    };
    let mut ir = Ir::Graph(graph.clone());
    let passes = tfg_passes::pipeline_between(Level::Graph, Level::Kernel, false);
    tfg_passes::run_pipeline(&mut ir, &passes, &options, quiet).map_err(|e| e.to_string())?;
    let Ir::Kernel(program) = ir else {
        return Err("lowering left no Kernel IR".into());
    };
    let slot = |name: &str, v| {
        let ty = graph.ty(v);
        let shape = ty.shape.0.iter().map(|d| d.known().unwrap_or(0)).collect();
        Slot {
            name: name.to_string(),
            dtype: ty.dtype,
            shape,
        }
    };
    let name_of = |v| match &graph.node(v).op {
        Op::Input { name, .. } | Op::Param { name, .. } => Ok(name.clone()),
        _ => Err("an input or param node has no name".to_string()),
    };
    let model_param = |v| {
        let name = name_of(v)?;
        params
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| format!("param `{name}` is not among the model's"))
    };
    Ok(AotProgram {
        program,
        inputs: graph
            .inputs()
            .map(|v| Ok(slot(&name_of(v)?, v)))
            .collect::<Result<_, String>>()?,
        outputs: graph.outputs.iter().map(|(n, v)| slot(n, *v)).collect(),
        params: graph.params().map(model_param).collect::<Result<_, _>>()?,
        updates: graph
            .updates
            .iter()
            .map(|(p, _)| model_param(*p))
            .collect::<Result<_, _>>()?,
    })
}

/// The graph's name as a C identifier prefix.
fn c_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
