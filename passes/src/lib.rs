//! Transformations of the Graph IR, and the pipeline that runs them.
//!
//! Each pass is a named unit ([`Pass`]) that rewrites a graph in place; the
//! pipeline ([`pipeline`]) is a list of passes, so dumping the IR after a pass,
//! timing passes and verifying after each one happen in one place
//! ([`run_pipeline`]), as LLVM's `-print-after-all` does. This crate must not
//! know about the surface language or about how a graph is executed.

pub mod autodiff;
pub mod dce;
pub mod fuse;
pub mod lower;
pub mod simplify;
pub mod train_step;

use std::fmt;
use std::time::{Duration, Instant};
use tfg_ir::Graph;

/// A named graph-to-graph transformation.
pub struct Pass {
    /// The name users type after `--dump-after`.
    pub name: &'static str,
    /// One line for `--list-passes`.
    pub summary: &'static str,
    pub run: fn(&mut Graph) -> Result<(), String>,
}

/// The passes every graph goes through before it runs, in order.
pub fn pipeline() -> Vec<Pass> {
    vec![
        Pass {
            name: "autodiff",
            summary: "expand grad(y, x) into gradient ops",
            run: |g| autodiff::expand_grads(g).map_err(|e| e.to_string()),
        },
        Pass {
            name: "dce",
            summary: "remove values no output or update needs",
            run: |g| {
                dce::dce(g);
                Ok(())
            },
        },
    ]
}

/// The pass called `name`, if the pipeline has one.
pub fn find(name: &str) -> Option<Pass> {
    pipeline().into_iter().find(|p| p.name == name)
}

/// A pass failed, or left a graph the verifier rejects.
#[derive(Debug)]
pub struct PassError {
    pub pass: &'static str,
    pub message: String,
}

impl fmt::Display for PassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in pass `{}`: {}", self.pass, self.message)
    }
}

impl std::error::Error for PassError {}

/// Runs `passes` over `g` in order. After each pass, `after` sees the pass and
/// the graph (for dumps); in debug builds the verifier checks the graph too.
/// Returns how long each pass took.
pub fn run_pipeline(
    g: &mut Graph,
    passes: &[Pass],
    mut after: impl FnMut(&Pass, &Graph),
) -> Result<Vec<(&'static str, Duration)>, PassError> {
    let mut times = Vec::with_capacity(passes.len());
    for pass in passes {
        let start = Instant::now();
        (pass.run)(g).map_err(|message| PassError {
            pass: pass.name,
            message,
        })?;
        times.push((pass.name, start.elapsed()));
        if cfg!(debug_assertions) {
            tfg_ir::verify::verify(g).map_err(|e| PassError {
                pass: pass.name,
                message: format!("left an invalid graph: {e}"),
            })?;
        }
        after(pass, g);
    }
    Ok(times)
}
