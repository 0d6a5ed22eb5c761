//! Diagnostics: what went wrong and where, and their rustc-style rendering.
//!
//! ```text
//! error: unknown name `z`
//!  --> examples/bad.tfg:5:13
//!   |
//! 5 |     y = w * z
//!   |             ^ not defined in graph `hello`
//! ```
//!
//! The renderer is written out here rather than borrowed from
//! codespan-reporting because that crate indents the `-->` line one column
//! further than rustc does, and tfg's errors keep rustc's layout exactly
//! (docs/cli.md, "Exit status").

use crate::ast::Span;
use std::fmt::Write;

/// One error, with the place it refers to (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub span: Option<Span>,
    /// Text printed after the carets.
    pub label: Option<String>,
    /// Extra lines, printed as `= note: …` (or `= help: …` when the note
    /// starts with `help: `).
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span: None,
            label: None,
            notes: Vec::new(),
        }
    }

    pub fn at(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }
}

/// 1-based line and column (in characters) of byte offset `byte` of `src`.
/// Offsets past the end, or inside a character, are moved back onto one.
pub fn line_col(src: &str, byte: usize) -> (u32, u32) {
    let byte = floor_char_boundary(src, byte);
    let before = &src[..byte];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = src[line_start..byte].chars().count() + 1;
    (line as u32, col as u32)
}

/// The start of every line of a text, to find many places in it quickly:
/// [`Lines::line_col`] gives what [`line_col`] gives, in logarithmic time on
/// lines of ASCII text.
#[derive(Clone, Debug, Default)]
pub struct Lines {
    /// Byte offset of each line's start, and whether the line is ASCII.
    starts: Vec<(usize, bool)>,
}

impl Lines {
    pub fn new(src: &str) -> Lines {
        let mut lines = Lines::default();
        lines.extend(src);
        lines
    }

    /// Brings the lines up to date with `src`, the text they were made from
    /// with lines added or taken off its end (the REPL's and the ONNX
    /// importer's text, a line at a time): only the last line is read again.
    pub fn extend(&mut self, src: &str) {
        while self.starts.last().is_some_and(|&(at, _)| at >= src.len()) {
            self.starts.pop();
        }
        let mut at = self.starts.pop().map_or(0, |(at, _)| at);
        for line in src[at..].split_inclusive('\n') {
            self.starts.push((at, line.is_ascii()));
            at += line.len();
        }
        if self.starts.is_empty() || src.ends_with('\n') {
            self.starts.push((at, true));
        }
    }

    /// 1-based line and column (in characters) of byte `byte` of `src`, the
    /// text these lines were made from.
    pub fn line_col(&self, src: &str, byte: usize) -> (u32, u32) {
        let byte = floor_char_boundary(src, byte);
        let i = self
            .starts
            .partition_point(|&(start, _)| start <= byte)
            .saturating_sub(1);
        let Some(&(start, ascii)) = self.starts.get(i) else {
            return line_col(src, byte);
        };
        let col = match ascii {
            true => byte - start,
            false => src[start..byte].chars().count(),
        };
        ((i + 1) as u32, (col + 1) as u32)
    }
}

/// `line:col` of a byte offset, for notes that mention a second place.
pub(crate) fn place(src: &str, byte: usize) -> String {
    let (line, col) = line_col(src, byte);
    format!("{line}:{col}")
}

fn floor_char_boundary(src: &str, byte: usize) -> usize {
    let mut b = byte.min(src.len());
    while !src.is_char_boundary(b) {
        b -= 1;
    }
    b
}

/// Tabs are shown as this many spaces, as rustc does, so carets line up.
const TAB: &str = "    ";

struct Palette {
    error: &'static str,
    message: &'static str,
    gutter: &'static str,
    caret: &'static str,
    reset: &'static str,
}

const PLAIN: Palette = Palette {
    error: "",
    message: "",
    gutter: "",
    caret: "",
    reset: "",
};
const ANSI: Palette = Palette {
    error: "\x1b[1;31m",
    message: "\x1b[1m",
    gutter: "\x1b[1;34m",
    caret: "\x1b[1;31m",
    reset: "\x1b[0m",
};

/// Renders `diags` in rustc's layout, a blank line between two diagnostics;
/// `color` adds ANSI colours.
pub fn render(diags: &[Diagnostic], file_name: &str, src: &str, color: bool) -> String {
    let p = if color { &ANSI } else { &PLAIN };
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_one(&mut out, d, file_name, src, p);
    }
    out
}

fn render_one(out: &mut String, d: &Diagnostic, file_name: &str, src: &str, p: &Palette) {
    let (e, m, g, c, r) = (p.error, p.message, p.gutter, p.caret, p.reset);
    let _ = writeln!(out, "{e}error{r}{m}: {}{r}", d.message);
    let mut width = 1;
    if let Some(span) = d.span {
        let start = floor_char_boundary(src, span.start);
        let end = floor_char_boundary(src, span.end.max(span.start));
        let (line, col) = line_col(src, start);
        width = line.to_string().len();
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let text = src[line_start..line_end].trim_end_matches('\r');
        let shown = |s: &str| s.replace('\t', TAB);
        let pad = shown(&src[line_start..start]).chars().count();
        // A span running past its line is marked to the end of the line.
        let marked = shown(&src[start..end.min(line_end)]).chars().count().max(1);
        let _ = writeln!(out, "{:width$}{g}-->{r} {file_name}:{line}:{col}", "");
        let _ = writeln!(out, "{:width$} {g}|{r}", "");
        let _ = writeln!(out, "{g}{line:>width$} |{r} {}", shown(text));
        let label = d
            .label
            .as_deref()
            .map(|l| format!(" {l}"))
            .unwrap_or_default();
        // Padding by repetition: a format width over 65,535 would panic.
        let _ = writeln!(
            out,
            "{:width$} {g}|{r} {}{c}{}{label}{r}",
            "",
            " ".repeat(pad),
            "^".repeat(marked)
        );
        if !d.notes.is_empty() {
            let _ = writeln!(out, "{:width$} {g}|{r}", "");
        }
    }
    for note in &d.notes {
        let (kind, text) = match note.strip_prefix("help: ") {
            Some(help) => ("help", help),
            None => ("note", note.as_str()),
        };
        let _ = writeln!(out, "{:width$} {g}={r} {m}{kind}{r}: {text}", "");
    }
}

/// `help: did you mean `x`?` for the candidate closest to `name`: the one
/// rule for every suggestion. A candidate is close when its edit distance
/// (Damerau–Levenshtein: insertions, deletions, substitutions and swaps of
/// two neighbours, each one edit) is at most a third of the name's length,
/// or 1 (so `ww` suggests `w` and `zeroes` suggests `zeros`); the closest
/// wins, ties by name. A one-character name gets none: every other short
/// name is as close.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let length = name.chars().count();
    if length < 2 {
        return None;
    }
    let limit = (length / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, c)| format!("help: did you mean `{c}`?"))
}

/// Damerau–Levenshtein distance over characters (optimal string alignment:
/// a swap of two neighbouring characters is one edit).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Rows i-2, i-1 and i of the table, each of length |b| + 1.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            row[j] = d;
        }
        std::mem::swap(&mut before, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    last[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_find_what_line_col_finds() {
        for src in ["", "a", "a\n", "ab\ncd\n\nx", "é\nxé y\n", "\n\n"] {
            let lines = Lines::new(src);
            for byte in 0..=src.len() + 1 {
                assert_eq!(
                    lines.line_col(src, byte),
                    line_col(src, byte),
                    "{src:?} {byte}"
                );
            }
        }
    }

    #[test]
    fn edit_distance_counts_a_swap_as_one_edit() {
        assert_eq!(edit_distance("los", "loss"), 1);
        assert_eq!(edit_distance("ww", "w"), 1);
        assert_eq!(edit_distance("zeroes", "zeros"), 1);
        assert_eq!(edit_distance("lsos", "loss"), 1);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions_follow_one_rule() {
        let help = |name, c: &[&str]| did_you_mean(name, c.iter().copied());
        assert_eq!(
            help("ww", &["w", "x"]).as_deref(),
            Some("help: did you mean `w`?")
        );
        assert_eq!(
            help("los", &["loss"]).as_deref(),
            Some("help: did you mean `loss`?")
        );
        assert_eq!(
            help("zeroes", &["zeros", "ones"]).as_deref(),
            Some("help: did you mean `zeros`?")
        );
        assert_eq!(help("x", &["y"]), None);
        assert_eq!(help("abc", &["xyz"]), None);
        assert_eq!(help("w", &["w"]), None);
    }

    #[test]
    fn a_place_far_into_a_line_renders() {
        let src = format!("{}z", " ".repeat(70_000));
        let d = Diagnostic::error("unknown name `z`").at(Span {
            start: 70_000,
            end: 70_001,
        });
        let text = render(&[d], "long.tfg", &src, false);
        assert!(text.contains("long.tfg:1:70001"), "{}", &text[..200]);
        assert!(text.ends_with(&format!("{}^\n", " ".repeat(70_000))));
    }

    #[test]
    fn extended_lines_are_the_lines_of_the_whole_text() {
        // Lines added and taken off the end, as the REPL does with a line
        // that fails; a text without a last newline; non-ASCII lines.
        let mut src = String::from("graph g {\n  x = 1");
        let mut lines = Lines::new(&src);
        for (add, keep) in [
            ("\n", None),
            ("y = é\n", None),
            ("bad line\n", Some(0)),
            ("z = 2\nw = ü 3\n", None),
            ("", Some(3)),
            ("q\n", None),
        ] {
            src.push_str(add);
            lines.extend(&src);
            assert_eq!(lines.starts, Lines::new(&src).starts, "{src:?}");
            if let Some(back) = keep {
                let cut = src.len() - add.len() - back;
                src.truncate(cut);
                lines.extend(&src);
                assert_eq!(lines.starts, Lines::new(&src).starts, "{src:?}");
            }
        }
    }
}
