//! `tfg dump FILE`: the IR after each stage of the pipeline, or after those named by `--after`.

use crate::cli::DumpArgs;
use crate::failure::Failure;
use crate::ir_dump::{stages, Dumps, Sink};
use crate::source::Source;
use crate::stdout;

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
    let Some(file) = &args.file else {
        return Err(Failure::new("no file given"));
    };
    let src = Source::load(file)?;
    let program = src.compile()?;
    let mut g = program
        .graph(args.graph.name.as_deref())
        .map_err(Failure::new)?
        .clone();
    let after = if args.after.is_empty() {
        vec!["all".to_string()]
    } else {
        args.after.clone()
    };
    let sink = args.dump_dir.clone().map_or(Sink::Stdout, Sink::Dir);
    Dumps::new(after, sink).run_pipeline(&mut g)
}
