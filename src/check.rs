//! `tfg check FILE`: parse, resolve and check types and shapes, reporting every error.

use crate::cli::CheckArgs;
use crate::failure::Failure;
use crate::stdout;
use tfg_driver::source::Source;

pub fn check(args: &CheckArgs) -> Result<(), Failure> {
    let src = Source::load(&args.file)?;
    let program = src.compile()?;
    if let Some(name) = &args.graph {
        crate::selection::choose(&program, Some(name))?;
    }
    let graphs: Vec<&str> = program.graphs.iter().map(|g| g.name.as_str()).collect();
    let trains: Vec<&str> = program.trains.iter().map(|t| t.graph.as_str()).collect();
    let mut summary = format!(
        "{}: ok; graphs: {}",
        src.name,
        if graphs.is_empty() {
            "none".into()
        } else {
            graphs.join(", ")
        }
    );
    if !trains.is_empty() {
        summary += &format!("; train: {}", trains.join(", "));
    }
    stdout::write(&(summary + "\n"))
}
