//! Errors as values: a message, or diagnostics against a source text.
//!
//! The driver never prints an error; a caller renders it ([`Error::render`],
//! in colour on a terminal if it likes) or sends its text over the wire.

use std::fmt;
use tfg_frontend::diag::{render, Diagnostic};

/// What went wrong, with the place in a file where there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A message with no place in a file.
    Message(String),
    /// Diagnostics against `text`, shown as file `name`.
    Diagnostics {
        name: String,
        text: String,
        diags: Vec<Diagnostic>,
    },
}

impl Error {
    /// An error with no place in a file.
    pub fn new(message: impl fmt::Display) -> Error {
        Error::Message(message.to_string())
    }

    /// The error as the command line prints it: `error: …` lines, with the
    /// place in the file underlined (ANSI colours if `color`).
    pub fn render(&self, color: bool) -> String {
        match self {
            Error::Message(m) => format!("error: {m}\n"),
            Error::Diagnostics { name, text, diags } => render(diags, name, text, color),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render(false).trim_end())
    }
}

impl std::error::Error for Error {}

/// The driver's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
