//! `tfg repl [FILE]`: an interactive prompt that compiles and runs each
//! statement as it is entered (docs/repl.md).
//!
//! Statements are those of a graph body, or bare expressions; each is
//! lowered into the session's graph ([`workspace`]), and the values it binds
//! are compiled, run and printed as `tfg run` prints outputs. Entries that
//! start with `:` are commands ([`command`]), and a `train GRAPH { … }` item
//! sets what `:train` runs. On a terminal the prompt is a
//! line editor with history and completion ([`editor`]); otherwise entries
//! are read from stdin and only results are printed ([`piped`]), so a session
//! can be scripted. An error is printed and the session goes on; a piped
//! session then exits with status 1.

mod command;
mod editor;
mod piped;
mod workspace;

use crate::cli::ReplArgs;
use crate::failure::{self, Failure};
use crate::stdout;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};
use tfg_formats::arrayprint;
use tfg_frontend::diag::{render, Diagnostic};
use tfg_ir::{Tensor, ValueId};
use workspace::{Origin, Workspace};

/// The name errors in typed entries are reported against.
const REPL_NAME: &str = "<repl>";

pub fn repl(args: &ReplArgs) -> Result<(), Failure> {
    let origin = Origin {
        file: args.file.clone(),
        graph: args.graph.name.clone(),
        feeds: args.feeds.clone(),
    };
    let (ws, failures) = Workspace::open(origin, args.backend, args.seed)?;
    let interactive = std::io::stdin().is_terminal();
    let mut repl = Repl {
        ws,
        out: Output {
            color: interactive && failure::color(),
            failed: false,
        },
    };
    failures.iter().for_each(|f| repl.out.failure(f));
    if interactive {
        editor::run(&mut repl)
    } else {
        piped::run(&mut repl);
        match repl.out.failed {
            // Every error has been printed already.
            true => Err(Failure::rendered(String::new())),
            false => Ok(()),
        }
    }
}

/// A session: its state and where its results go.
pub struct Repl {
    ws: Workspace,
    out: Output,
}

/// Whether the session goes on after an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Go,
    Quit,
}

impl Repl {
    /// Does what one entry says, printing its results and errors.
    pub fn enter(&mut self, text: &str) -> Flow {
        let start = text.trim_start();
        if let Some(command) = start.strip_prefix(':') {
            return command::run(self, command);
        }
        let is_train_item = start
            .strip_prefix("train")
            .is_some_and(|rest| rest.starts_with(char::is_whitespace));
        match is_train_item {
            true => self.train_item(text),
            false => self.statement(text, false),
        }
        Flow::Go
    }

    /// A `train` item typed at the prompt: what `:train` runs from now on.
    fn train_item(&mut self, text: &str) {
        match self.ws.inc.train_item(text) {
            Ok(spec) => {
                self.out.print(&format!(
                    "train item set: minimize `{}` for {} steps; `:train` runs it\n",
                    spec.minimize, spec.steps
                ));
                self.ws.train = Some(spec);
            }
            Err(diags) => self.out.diagnostics(&diags, text),
        }
    }

    /// Lowers `text`, then compiles, runs and prints the values it binds;
    /// `timed` adds how long compiling and running took.
    fn statement(&mut self, text: &str, timed: bool) {
        let started = Instant::now();
        let defined = match self.ws.inc.statement(text) {
            Ok(defined) => defined,
            Err(diags) => return self.out.diagnostics(&diags, text),
        };
        for f in self.ws.load_file_defaults() {
            self.out.failure(&f);
        }
        let lowered = started.elapsed();
        let mut targets = Vec::new();
        for (name, v) in defined {
            let waiting = self.ws.unfed_inputs(&[(name.clone(), v)]);
            if waiting.is_empty() {
                targets.push((name, v));
                continue;
            }
            let ty = self.ws.inc.graph().ty(v);
            let feeds: Vec<String> = waiting
                .iter()
                .map(|i| format!("`:feed {i} = VALUE`"))
                .collect();
            self.out
                .print(&format!("{name} : {ty} (waits for {})\n", feeds.join(", ")));
        }
        if targets.is_empty() {
            if timed {
                self.out.print(&times(lowered, Duration::ZERO));
            }
            return;
        }
        match self.evaluate(&targets) {
            Ok((compile, run)) if timed => self.out.print(&times(lowered + compile, run)),
            Ok(_) => {}
            Err(f) => self.out.failure(&f),
        }
    }

    /// Compiles and runs `targets` of the graph and prints them; how long
    /// compiling and running took.
    fn evaluate(&mut self, targets: &[(String, ValueId)]) -> Result<(Duration, Duration), Failure> {
        let g = self.ws.inc.graph().clone();
        let e = self.ws.evaluate(&g, targets)?;
        self.out.print(&shown(&e.values));
        Ok((e.compile, e.run))
    }
}

/// Values as `tfg run` prints outputs: `NAME = ARRAY : TYPE`, one a line.
fn shown(values: &[(String, Tensor)]) -> String {
    values
        .iter()
        .map(|(name, t)| arrayprint::named(name, t) + "\n")
        .collect()
}

/// `:time`'s line.
fn times(compile: Duration, run: Duration) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!("compile {:.3} ms, run {:.3} ms\n", ms(compile), ms(run))
}

/// Where results and errors go: stdout and stderr.
pub struct Output {
    /// ANSI colours in diagnostics (on a terminal only).
    color: bool,
    /// Whether any entry has failed.
    failed: bool,
}

impl Output {
    fn print(&self, text: &str) {
        // A reader that has gone away ends nothing here: the session goes on.
        let _ = stdout::write(text);
    }

    fn failure(&mut self, f: &Failure) {
        self.failed = true;
        let _ = std::io::stderr().write_all(f.text().as_bytes());
    }

    /// Diagnostics about the typed entry `text`.
    fn diagnostics(&mut self, diags: &[Diagnostic], text: &str) {
        let rendered = render(diags, REPL_NAME, text, self.color);
        self.failure(&Failure::rendered(rendered));
    }
}
