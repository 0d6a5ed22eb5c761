//! A session whose stdin is not a terminal: entries are read line by line
//! (a line with an open bracket takes the next ones with it), and only
//! results and errors are printed, so a session can be scripted.

use super::{Flow, Repl};
use std::io::BufRead;
use tfg_frontend::entry;

pub fn run(repl: &mut Repl) {
    let mut pending = String::new();
    let mut stdin = std::io::stdin().lock();
    let mut bytes = Vec::new();
    for number in 1.. {
        bytes.clear();
        match stdin.read_until(b'\n', &mut bytes) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let f = crate::failure::Failure::new(format!("cannot read stdin: {e}"));
                repl.out.failure(&f);
                return;
            }
        }
        let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        // A line that is not UTF-8 is an error for that line (and the entry
        // it was part of); the session goes on.
        let Ok(line) = std::str::from_utf8(text) else {
            let f = crate::failure::Failure::new(format!(
                "line {number} of stdin is not valid UTF-8; it is skipped"
            ));
            repl.out.failure(&f);
            pending.clear();
            continue;
        };
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(line);
        if entry::is_complete(&pending) {
            let text = std::mem::take(&mut pending);
            if repl.enter(&text) == Flow::Quit {
                return;
            }
        }
    }
    // Brackets left open at the end: the parser says where.
    if !pending.trim().is_empty() {
        repl.enter(&pending);
    }
}
