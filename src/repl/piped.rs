//! A session whose stdin is not a terminal: entries are read line by line
//! (a line with an open bracket takes the next ones with it), and only
//! results and errors are printed, so a session can be scripted.

use super::{entry, Flow, Repl};
use std::io::BufRead;

pub fn run(repl: &mut Repl) {
    let mut pending = String::new();
    for line in std::io::stdin().lock().lines() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                let f = crate::failure::Failure::new(format!("cannot read stdin: {e}"));
                repl.out.failure(&f);
                return;
            }
        };
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
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
