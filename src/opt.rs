//! `tfg opt FILE.tfir --passes a,b`: single passes over a dumped IR file (of
//! any level: `.tfir`, `.tffused`, `.tfkir`), as XLA's `hlo-opt --passes`
//! does, so a bug report can be one text file.

use crate::cli::OptArgs;
use crate::failure::Failure;
use crate::stdout;
use tfg_driver::source::Source;
use tfg_passes::{Ir, Options};

pub fn opt(args: &OptArgs) -> Result<(), Failure> {
    let src = Source::load(&args.file)?;
    let (program, dumped) = src.compile_with_ir()?;
    let mut ir = match dumped {
        Some(ir) => ir,
        None => Ir::Graph(crate::selection::choose(&program, None)?.clone()),
    };
    let passes: Vec<_> = args
        .passes
        .iter()
        .filter_map(|name| tfg_passes::find(name))
        .collect();
    let mut reports = String::new();
    let options = Options {
        explain: args.explain,
        ..Options::default()
    };
    tfg_passes::run_pipeline(&mut ir, &passes, &options, |_, _, report| {
        if let Some(report) = report {
            // Reports name their pass.
            reports.push_str("// ");
            reports.push_str(&report.trim_end().replace('\n', "\n// "));
            reports.push('\n');
        }
    })
    .map_err(|e| Failure::new(format!("{}: {e}", src.name)))?;
    let mut text = ir.print();
    if args.explain {
        text.push_str(&reports);
    }
    stdout::write_to(args.output.as_deref(), &text)
}
