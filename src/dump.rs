//! `tfg dump FILE`: the IR after each stage of the pipeline, or after those named by `--after`.

use crate::cli::DumpArgs;
use crate::failure::Failure;
use crate::selection;
use crate::stdout;
use tfg_driver::dumps::{stages, Dumps, Sink};
use tfg_driver::source::Source;
use tfg_formats::whole_file;
use tfg_passes::{Ir, Level, Options, PassTime};

pub fn dump(args: &DumpArgs) -> Result<(), Failure> {
    if args.list_passes {
        let width = stages()
            .iter()
            .map(|(name, _)| name.len())
            .max()
            .unwrap_or(0);
        let text: String = stages()
            .iter()
            .map(|(name, summary)| format!("{name:width$}  {summary}\n"))
            .collect();
        return stdout::write(&text);
    }
    if let Some(sm) = &args.sm {
        tfg_ptx::check_sm(sm).map_err(Failure::new)?;
    }
    let Some(file) = &args.file else {
        return Err(Failure::new("no file given"));
    };
    let src = Source::load(file)?;
    let (program, dumped) = src.compile_with_ir()?;
    let g = selection::select(
        &src,
        &program,
        args.graph.name.as_deref(),
        args.train,
        &args.dims,
    )?;
    let after = if args.after.is_empty() {
        vec!["all".to_string()]
    } else {
        args.after.clone()
    };
    // Fusion and lowering work on concrete shapes only.
    let level = if g.nodes.iter().any(|n| n.ty.shape.is_symbolic()) {
        eprintln!(
            "note: graph `{}` has symbolic dims; stopping before fusion (bind them with --dim NAME=N)",
            g.name
        );
        Level::Graph
    } else {
        Level::Kernel
    };
    let sink = args.dump_dir.clone().map_or(Sink::Stdout, Sink::Dir);
    let options = Options {
        explain: args.explain,
        verify: !args.no_verify,
    };
    if args.launch_plan && level != Level::Kernel {
        return Err(Failure::new(
            "--launch-plan needs concrete shapes: bind every symbolic dim with --dim NAME=N",
        ));
    }
    let name = g.name.clone();
    let dumps = Dumps::new(after, sink);
    // A dump of the fused or the Kernel IR level resumes the pipeline there.
    let (ir, times) = match dumped {
        Some(mut ir) if ir.level() > Level::Graph => {
            let passes = tfg_passes::pipeline_from(ir.level());
            let times = dumps.run_passes(&mut ir, &passes, &options)?;
            (ir, times)
        }
        _ => {
            let mut ir = Ir::Graph(g);
            let times = dumps.run_to(&mut ir, level, &options)?;
            (ir, times)
        }
    };
    if args.time_passes {
        eprint!("{}", time_table(&times));
    }
    match (&ir, args.launch_plan) {
        (Ir::Kernel(program), true) => {
            let sm = args.sm.as_deref().unwrap_or(tfg_ptx::DEFAULT_SM);
            let plan = tfg_driver::backend::generate_ptx(program, sm)
                .map_err(|e| Failure::new(format!("graph `{name}`: {e}")))?
                .manifest
                .to_string();
            match &args.dump_dir {
                Some(dir) => {
                    let name = whole_file::plain_name(&name)
                        .map_err(|e| Failure::new(format!("--dump-dir: graph name {e}")))?;
                    whole_file::write(
                        &dir.join(format!("{name}.launch-plan.txt")),
                        plan.as_bytes(),
                    )
                    .map_err(Failure::new)
                }
                None => stdout::write(&format!(
                    "// ----- launch plan (graph {name}) -----\n{plan}"
                )),
            }
        }
        _ => Ok(()),
    }
}

/// `--time-passes`: one row a pass and the total, as LLVM's `-time-passes` prints.
fn time_table(times: &[PassTime]) -> String {
    let total: f64 = times.iter().map(|t| t.time.as_secs_f64()).sum();
    let mut out = format!("{:>10}  {:>6}  pass\n", "time (ms)", "%");
    for t in times {
        let s = t.time.as_secs_f64();
        let share = if total > 0.0 { 100.0 * s / total } else { 0.0 };
        out += &format!("{:>10.3}  {:>5.1}%  {}\n", s * 1e3, share, t.pass);
    }
    out += &format!("{:>10.3}  {:>5.1}%  total\n", total * 1e3, 100.0);
    out
}
