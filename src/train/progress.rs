//! How `tfg train` shows its progress on stderr: a live bar (step, loss,
//! steps/s) on a terminal, a plain line every tenth of the run otherwise, and
//! with `--json` nothing but warnings; on a rank other than 0 of a
//! data-parallel run, nothing at all.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};
use tfg_driver::train::StepReport;
use tfg_formats::arrayprint::scalar_str;

pub enum Progress {
    Bar {
        bar: ProgressBar,
        started: Instant,
        /// The last step's line, which stays when the bar goes.
        last: String,
    },
    Lines {
        every: u64,
    },
    Quiet,
    /// Not even warnings: another rank reports them.
    Silent,
}

impl Progress {
    pub fn new(json: bool, steps: u64) -> Progress {
        if json {
            return Progress::Quiet;
        }
        if !std::io::stderr().is_terminal() {
            return Progress::Lines {
                every: (steps / 10).max(1),
            };
        }
        let bar = ProgressBar::new(steps);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30.cyan/blue} step {pos}/{len}  {msg}  {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress::Bar {
            bar,
            started: Instant::now(),
            last: String::new(),
        }
    }

    pub fn step(&mut self, report: &StepReport) {
        if report.first_non_finite {
            self.warn(&format!(
                "loss is {} at step {}",
                scalar_str(&report.loss.data, 0),
                report.step
            ));
        }
        match self {
            Progress::Bar { bar, started, last } => {
                let rate = report.step as f64 / started.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!("{}  {rate:.0} steps/s", values(report)));
                bar.inc(1);
                *last = format!("step {}/{}  {}", report.step, report.steps, values(report));
            }
            Progress::Lines { every } => {
                let n = report.step;
                if n == 1 || n.is_multiple_of(*every) || n == report.steps {
                    stderr_line(&format!("step {n}/{}  {}", report.steps, values(report)));
                }
            }
            Progress::Quiet | Progress::Silent => {}
        }
    }

    /// `warning: TEXT` on stderr, above the bar if there is one.
    pub fn warn(&self, text: &str) {
        let line = format!("warning: {text}");
        match self {
            Progress::Silent => {}
            Progress::Bar { bar, .. } if !bar.is_finished() => bar.println(line),
            _ => stderr_line(&line),
        }
    }

    /// A line of information on stderr after training, unless the output is JSON.
    pub fn note(&self, text: &str) {
        if !matches!(self, Progress::Quiet | Progress::Silent) {
            stderr_line(text);
        }
    }

    /// Ends the bar and says how fast training went.
    pub fn finish(&self, steps: u64, took: Duration) {
        match self {
            Progress::Quiet | Progress::Silent => return,
            Progress::Bar { bar, last, .. } => {
                bar.finish_and_clear();
                stderr_line(last);
            }
            Progress::Lines { .. } => {}
        }
        let secs = took.as_secs_f64();
        stderr_line(&format!(
            "trained {steps} steps in {secs:.3} s ({:.1} steps/s)",
            steps as f64 / secs.max(1e-9)
        ));
    }
}

/// `loss L  NAME V …`: the loss, then each logged value that is not the loss.
fn values(report: &StepReport) -> String {
    let mut text = format!("loss {}", scalar_str(&report.loss.data, 0));
    for (name, t) in &report.logged {
        if !std::ptr::eq(*t, report.loss) {
            text += &format!("  {name} {}", scalar_str(&t.data, 0));
        }
    }
    text
}

/// A line on stderr; if stderr is gone there is nobody left to tell.
fn stderr_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
