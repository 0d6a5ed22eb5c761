//! The pass pipeline, run with IR dumps after the stages the user asked for
//! (`--dump-after`, `--dump-dir`, `tfg dump`), as LLVM's `-print-after` does.
//!
//! The stages are `frontend` (the graph as the frontend built it) and then each
//! pass of `tfg_passes::pipeline()`. Dumps of the stages that ran are emitted
//! even when a later pass fails: they are what one needs to see why.

use crate::Error;
use std::io::Write;
use std::path::PathBuf;
use tfg_formats::whole_file;
use tfg_passes::{Ir, Level, Options, Pass, PassTime};

/// The stage before any pass.
pub const FRONTEND: &str = "frontend";

/// Where dumps go.
pub enum Sink {
    Stdout,
    Stderr,
    /// One file per stage: `DIR/GRAPH.NN-STAGE.EXT`, holding only the IR
    /// text, with the extension of its level (`tfir`, `tffused`, `tfkir`).
    Dir(PathBuf),
}

pub struct Dumps {
    /// Stage names, or `all`; empty: no dumps.
    after: Vec<String>,
    sink: Sink,
    /// Verify the IR after every pass (the default).
    verify: bool,
}

impl Dumps {
    pub fn new(after: Vec<String>, sink: Sink) -> Dumps {
        Dumps {
            after,
            sink,
            verify: true,
        }
    }

    /// The same dumps, with the IR verified after every pass or not.
    pub fn verify(self, verify: bool) -> Dumps {
        Dumps { verify, ..self }
    }

    /// The pass options these settings imply.
    pub fn options(&self) -> Options {
        Options {
            verify: self.verify,
            ..Options::default()
        }
    }

    /// Dumps after `after` (stage names; `all` for every stage) into
    /// `dir`, or to stderr; into a directory, every stage unless `after`
    /// names some.
    pub fn to(after: &[String], dir: Option<&std::path::Path>) -> Dumps {
        match dir {
            Some(dir) if after.is_empty() => {
                Dumps::new(vec!["all".into()], Sink::Dir(dir.to_path_buf()))
            }
            Some(dir) => Dumps::new(after.to_vec(), Sink::Dir(dir.to_path_buf())),
            None => Dumps::new(after.to_vec(), Sink::Stderr),
        }
    }

    /// Whether any stage is dumped.
    pub fn any(&self) -> bool {
        !self.after.is_empty()
    }

    fn wants(&self, stage: &str) -> bool {
        self.after.iter().any(|a| a == "all" || a == stage)
    }

    /// Runs the passes of the pipeline that lead to `level` over `ir`,
    /// dumping after the stages asked for. Returns the pass times.
    pub fn run_to(
        &self,
        ir: &mut Ir,
        level: Level,
        options: &Options,
    ) -> Result<Vec<PassTime>, Error> {
        self.run_passes(ir, &tfg_passes::pipeline_to(level), options)
    }

    /// Runs `passes` (a stretch of the pipeline) over `ir`, dumping after the
    /// stages asked for (a pass's report, such as simplify's explanations,
    /// follows its IR). Stages are numbered by their place in the pipeline.
    pub fn run_passes(
        &self,
        ir: &mut Ir,
        passes: &[Pass],
        options: &Options,
    ) -> Result<Vec<PassTime>, Error> {
        let name = match &*ir {
            Ir::Graph(g) | Ir::Fused(g, _) => g.name.clone(),
            Ir::Kernel(_) => "program".to_string(),
        };
        let order: Vec<&str> = tfg_passes::pipeline().iter().map(|p| p.name).collect();
        let stage_no = |pass: &str| order.iter().position(|p| *p == pass).map_or(0, |i| i + 1);
        let mut dumps: Vec<Dump> = Vec::new();
        let from_start = passes.first().is_some_and(|p| stage_no(p.name) == 1);
        if from_start && self.wants(FRONTEND) {
            dumps.push(Dump {
                stage_no: 0,
                stage: FRONTEND,
                level: ir.level(),
                text: ir.print(),
            });
        }
        let ran = tfg_passes::run_pipeline(ir, passes, options, |pass, ir, report| {
            if self.wants(pass.name) {
                let mut text = ir.print();
                if let Some(report) = report {
                    text.push_str("\n// ");
                    text.push_str(&report.trim_end().replace('\n', "\n// "));
                    text.push('\n');
                }
                dumps.push(Dump {
                    stage_no: stage_no(pass.name),
                    stage: pass.name,
                    level: ir.level(),
                    text,
                });
            }
        });
        self.emit(&name, &dumps)?;
        ran.map_err(|e| Error::new(format!("graph `{name}`: {e}")))
    }

    fn emit(&self, graph: &str, dumps: &[Dump]) -> Result<(), Error> {
        let stream = |out: &mut dyn Write| -> std::io::Result<()> {
            for Dump { stage, text, .. } in dumps {
                writeln!(out, "// ----- IR after {stage} (graph {graph}) -----")?;
                writeln!(out, "{}", text.trim_end())?;
            }
            out.flush()
        };
        match &self.sink {
            Sink::Stdout => crate::stdout::ignore_closed(stream(&mut std::io::stdout().lock())),
            Sink::Stderr => {
                // Nothing sensible is left to do if stderr is gone.
                let _ = stream(&mut std::io::stderr().lock());
                Ok(())
            }
            Sink::Dir(dir) => {
                if dumps.is_empty() {
                    return Ok(());
                }
                let graph = whole_file::plain_name(graph)
                    .map_err(|e| Error::new(format!("--dump-dir: graph name {e}")))?;
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::new(format!("cannot create directory `{}`: {e}", dir.display()))
                })?;
                // Every stage's file appears, or none does.
                let mut staged = whole_file::Staged::new();
                for d in dumps {
                    let (no, stage, ext) = (d.stage_no, d.stage, d.level.extension());
                    staged
                        .add(
                            &dir.join(format!("{graph}.{no:02}-{stage}.{ext}")),
                            d.text.as_bytes(),
                        )
                        .map_err(Error::new)?;
                }
                staged.commit().map_err(Error::new)
            }
        }
    }
}

/// The IR after one stage, as text.
struct Dump {
    /// The stage's place in the pipeline (0: before any pass).
    stage_no: usize,
    stage: &'static str,
    level: Level,
    text: String,
}

/// The stages in order with one line each, for `tfg dump --list-passes`.
pub fn stages() -> Vec<(&'static str, &'static str)> {
    std::iter::once((
        FRONTEND,
        "the graph as the frontend built it, before any pass",
    ))
    .chain(
        tfg_passes::pipeline()
            .into_iter()
            .map(|p| (p.name, p.summary)),
    )
    .collect()
}
