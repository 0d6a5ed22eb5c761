//! A REPL session, read as `tfg repl` reads a piped stdin: lines gather into
//! an entry until `entry::is_complete` says it ends; a line that is not
//! UTF-8 drops the entry it was part of. Each entry goes where the REPL
//! sends it: a `train …` item to `Incremental::train_item`, the literal of
//! `:feed NAME = VALUE` to `parse_literal`, anything else to
//! `Incremental::statement`; diagnostics are rendered against the entry, as
//! the REPL prints them. Whatever the input, every call returns, and the
//! session's graph stays one the verifier accepts (an entry with errors
//! changes nothing). The other `:` commands are the binary's argument
//! splitting over the same calls and are not reached here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfg_frontend::diag::{render, Diagnostic};
use tfg_frontend::{entry, Incremental};

fuzz_target!(|data: &[u8]| {
    let mut session = Incremental::new("repl");
    let mut pending = String::new();
    let mut lines = data.split(|&b| b == b'\n').peekable();
    while let Some(bytes) = lines.next() {
        let Ok(line) = std::str::from_utf8(bytes) else {
            pending.clear();
            continue;
        };
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(line);
        if entry::is_complete(&pending) || lines.peek().is_none() {
            enter(&mut session, &std::mem::take(&mut pending));
        }
    }
});

fn enter(session: &mut Incremental, text: &str) {
    let start = text.trim_start();
    let diags: Vec<Diagnostic> = if let Some(feed) = start.strip_prefix(":feed") {
        let value = feed.split_once('=').map_or("", |(_, v)| v.trim());
        tfg_frontend::parse_literal(value)
            .err()
            .into_iter()
            .collect()
    } else if start.starts_with(':') {
        return;
    } else if start
        .strip_prefix("train")
        .is_some_and(|rest| rest.starts_with(char::is_whitespace))
    {
        session.train_item(text).err().unwrap_or_default()
    } else {
        session.statement(text).err().unwrap_or_default()
    };
    let _ = render(&diags, "<repl>", text, false);
    if let Err(e) = tfg_ir::verify(session.graph()) {
        panic!("the session's graph no longer verifies after {text:?}: {e}");
    }
}
