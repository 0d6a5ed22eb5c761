//! Where an entry typed at the REPL ends: at the end of a line, unless a bracket is still open.
//!
//! Inside `( )` and `[ ]` newlines are spaces (docs/language.md, "Lexical"), so an entry goes
//! on over the next lines until its brackets close, as Python's prompt does;
//! so does a `train GRAPH { … }` item until its `}`.
//! An empty line ends an entry whatever is open, so a stray bracket cannot
//! swallow the rest of a session: the parser then says what is missing.
//! Commands (`:…`) are always one line.

/// Whether `text` is a whole entry: no `(`, `[` or `{` left open outside
/// comments and strings, or an empty last line.
pub fn is_complete(text: &str) -> bool {
    let ends_blank = text
        .rsplit_once('\n')
        .is_some_and(|(_, last)| last.trim().is_empty());
    if ends_blank || text.trim_start().starts_with(':') {
        return true;
    }
    let mut depth = 0i64;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            '#' => {
                chars.by_ref().find(|&c| c == '\n');
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' | '\n' if !escaped => break,
                        _ => escaped = false,
                    }
                }
            }
            _ => {}
        }
    }
    depth <= 0
}

#[cfg(test)]
mod tests {
    use super::is_complete;

    #[test]
    fn an_entry_goes_on_while_a_bracket_is_open() {
        for whole in [
            "y = w * x",
            "y = f(a, [1, 2])",
            ":ir (",
            "z = 1 # (",
            "p = \"(\"",
            "y = )",
        ] {
            assert!(is_complete(whole), "{whole}");
        }
        for open in [
            "y = f(a,",
            "m = [[1, 2],\n [3",
            "y = (x # )",
            "s = (\"\\\")\"",
        ] {
            assert!(!is_complete(open), "{open}");
        }
        assert!(is_complete("m = [[1, 2],\n [3, 4]]"));
        assert!(!is_complete("train g {\n  steps 1"));
        assert!(is_complete("y = f(a,\n  "), "an empty line ends it");
    }
}
