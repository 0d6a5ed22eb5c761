//! User errors as the binary reports them: text for stderr, exit status 1.
//!
//! Library crates return their own error values; this is the one place that
//! turns them into what the user reads (`error: …`, with the place in the file
//! where there is one, rendered by the frontend's diagnostic renderer).

use std::fmt::Display;
use std::io::IsTerminal;

/// A user error, ready to print.
#[derive(Debug)]
pub struct Failure {
    text: String,
}

impl Failure {
    /// `error: MESSAGE`, for errors that have no place in a file.
    pub fn new(message: impl Display) -> Failure {
        Failure {
            text: with_hint(format!("error: {message}\n")),
        }
    }

    /// Diagnostics already rendered by `tfg_frontend::diag::render`.
    pub fn rendered(text: String) -> Failure {
        Failure { text }
    }

    /// An error another process reports: exit status 1, nothing printed.
    pub fn reported_elsewhere() -> Failure {
        Failure {
            text: String::new(),
        }
    }

    /// The same error, said to come from rank `rank` of `ranks` (data-parallel training).
    pub fn on_rank(self, rank: usize, ranks: usize) -> Failure {
        let text = match self.text.strip_prefix("error: ") {
            Some(rest) => format!("error: rank {rank} of {ranks}: {rest}"),
            None => format!("error: rank {rank} of {ranks} failed:\n{}", self.text),
        };
        Failure { text }
    }

    /// What to print on stderr.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// `text` with what to do instead, where the command line knows it.
fn with_hint(mut text: String) -> String {
    if text.contains(tfg_driver::backend::NO_LLVM) {
        text += "hint: compile with `tfg compile FILE --target ptx -o DIR` where LLVM is, then run `tfg run DIR --backend cuda` here\n";
    }
    text
}

/// Whether diagnostics on stderr get ANSI colours: only on a terminal, and not
/// when `NO_COLOR` is set (https://no-color.org).
pub fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

impl From<tfg_driver::Error> for Failure {
    /// Renders the driver's error, in colour on a terminal, with what to
    /// do instead where the command line knows it.
    fn from(e: tfg_driver::Error) -> Failure {
        Failure::rendered(with_hint(e.render(color())))
    }
}
