//! Writing to stdout, where the reader may have gone away.
//!
//! `print!` panics when stdout is a closed pipe (`tfg run f.tfg | head -1`);
//! tfg instead stops writing quietly, as Unix tools do.

use crate::Error;
use std::io::{ErrorKind, Write};

/// Writes `text` to stdout.
pub fn write(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    ignore_closed(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// A write error, unless it only says that the reader has gone.
pub fn ignore_closed(result: std::io::Result<()>) -> Result<(), Error> {
    match result {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            Err(Error::new(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
