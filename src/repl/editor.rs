//! The prompt on a terminal: a line editor (rustyline) with history kept in
//! the user's data directory, an entry that goes on over several lines while
//! brackets are open, and tab completion of names in scope, builtins,
//! keywords, `:commands`, pass names and file names.

use super::command::COMMANDS;
use super::{Flow, Repl};
use crate::failure::Failure;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{CompletionType, Config, Context, Editor};
use std::path::PathBuf;
use tfg_frontend::entry;

const PROMPT: &str = ">>> ";
const STYLED_PROMPT: &str = "\x1b[1;32m>>>\x1b[0m ";

pub fn run(repl: &mut Repl) -> Result<(), Failure> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<Helper, DefaultHistory> = Editor::with_config(config)
        .map_err(|e| Failure::new(format!("cannot start the line editor: {e}")))?;
    editor.set_helper(Some(Helper::default()));
    let history = history_file();
    if let Some(path) = &history {
        // A first session has no history yet.
        let _ = editor.load_history(path);
    }
    let g = repl.ws.inc.graph();
    repl.out.print(&format!(
        "{}:help lists the commands; Ctrl-D leaves\n",
        super::command::summary(g)
    ));
    let prompt = match repl.out.color {
        true => (PROMPT, STYLED_PROMPT),
        false => (PROMPT, PROMPT),
    };
    loop {
        if let Some(helper) = editor.helper_mut() {
            helper.words = words(repl);
        }
        match editor.readline(&prompt) {
            Ok(text) => {
                if !text.trim().is_empty() {
                    let _ = editor.add_history_entry(text.as_str());
                }
                if repl.enter(&text) == Flow::Quit {
                    break;
                }
            }
            // Ctrl-C drops the entry being typed, as in Python.
            Err(ReadlineError::Interrupted) => {}
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Failure::new(format!("cannot read the terminal: {e}"))),
        }
    }
    if let Some(path) = &history {
        let saved = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(|e| e.to_string())
            .and_then(|()| editor.save_history(path).map_err(|e| e.to_string()));
        if let Err(e) = saved {
            let f = Failure::new(format!(
                "cannot save the history to `{}`: {e}",
                path.display()
            ));
            repl.out.failure(&f);
        }
    }
    Ok(())
}

/// `$XDG_DATA_HOME/tfg/history`, or `~/.local/share/tfg/history`.
fn history_file() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let data =
        absolute("XDG_DATA_HOME").or_else(|| absolute("HOME").map(|h| h.join(".local/share")))?;
    Some(data.join("tfg").join("history"))
}

/// What a name may complete to: names in scope, the file's fns, builtins and
/// the keywords that start an entry, sorted.
fn words(repl: &Repl) -> Vec<String> {
    let inc = &repl.ws.inc;
    let mut words: Vec<String> = inc
        .names()
        .chain(inc.fn_names())
        .chain(tfg_frontend::signature::NAMES)
        .chain(["input", "param", "output", "train"])
        .map(str::to_string)
        .collect();
    words.sort();
    words.dedup();
    words
}

#[derive(Default)]
struct Helper {
    words: Vec<String>,
    files: FilenameCompleter,
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        let trimmed = before.trim_start();
        let pairs = |candidates: &mut dyn Iterator<Item = &str>| {
            candidates
                .filter(|c| c.starts_with(word))
                .map(|c| Pair {
                    display: c.to_string(),
                    replacement: c.to_string(),
                })
                .collect()
        };
        if let Some(command) = trimmed.strip_prefix(':') {
            return Ok(match command.split_once(char::is_whitespace) {
                // The command's name.
                None => (start, pairs(&mut COMMANDS.iter().map(|c| c.name))),
                Some(("load" | "save" | "restore", _)) => self.files.complete(line, pos, ctx)?,
                Some(("dump", rest)) if !rest.trim_start().contains(char::is_whitespace) => {
                    let stages = tfg_driver::dumps::stages();
                    (start, pairs(&mut stages.iter().map(|(name, _)| *name)))
                }
                Some(_) => (start, pairs(&mut self.words.iter().map(String::as_str))),
            });
        }
        Ok((start, pairs(&mut self.words.iter().map(String::as_str))))
    }
}

impl Validator for Helper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(match entry::is_complete(ctx.input()) {
            true => ValidationResult::Valid(None),
            false => ValidationResult::Incomplete,
        })
    }
}

impl Hinter for Helper {
    type Hint = String;
}

impl Highlighter for Helper {}

impl rustyline::Helper for Helper {}
