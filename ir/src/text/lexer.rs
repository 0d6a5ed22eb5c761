//! Tokens of the Graph IR text form.
//!
//! The lexer only splits: numbers stay text until the parser knows the dtype
//! they belong to, so that `0.1` becomes the f32 or the f64 nearest to it
//! (parsing through the other type would round twice).

use super::ParseError;
use std::fmt;

/// A 1-based place in the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// The label of a value: `%y`, `%"a b"`, `%y#7` (a second node named `y`), or `%7` (unnamed).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    Named(String, Option<u64>),
    Index(u64),
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Named(n, None) => write!(f, "%{}", super::printer::name(n)),
            Label::Named(n, Some(i)) => write!(f, "%{}#{i}", super::printer::name(n)),
            Label::Index(i) => write!(f, "%{i}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    /// Digits, letters, `.`, and a sign right after an exponent: `-1.5e-3`, `0x7fc00001`.
    Num(String),
    Str(String),
    Value(Label),
    /// One of `{ } [ ] ( ) , = :`.
    Punct(char),
}

pub fn lex(text: &str) -> Result<Vec<(Tok, Pos)>, ParseError> {
    let mut lx = Lexer {
        chars: text.chars().collect(),
        i: 0,
        pos: Pos { line: 1, col: 1 },
    };
    let mut toks = Vec::new();
    while let Some(c) = lx.peek() {
        let start = lx.pos;
        match c {
            _ if c.is_whitespace() => {
                lx.bump();
            }
            '/' if lx.peek_at(1) == Some('/') => {
                while lx.peek().is_some_and(|c| c != '\n') {
                    lx.bump();
                }
            }
            '{' | '}' | '[' | ']' | '(' | ')' | ',' | '=' | ':' => {
                lx.bump();
                toks.push((Tok::Punct(c), start));
            }
            '"' => toks.push((Tok::Str(lx.string()?), start)),
            '%' => {
                lx.bump();
                toks.push((Tok::Value(lx.label(start)?), start));
            }
            '-' | '0'..='9' => toks.push((Tok::Num(lx.number()), start)),
            _ if c.is_ascii_alphabetic() || c == '_' => toks.push((Tok::Ident(lx.word()), start)),
            _ => return Err(ParseError::at(start, format!("unexpected character {c:?}"))),
        }
    }
    Ok(toks)
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    pos: Pos,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.pos = Pos {
                line: self.pos.line + 1,
                col: 1,
            };
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }

    fn word(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            s.push(c);
            self.bump();
        }
        s
    }

    fn number(&mut self) -> String {
        let mut s = String::new();
        if self.peek() == Some('-') {
            s.push('-');
            self.bump();
        }
        while let Some(c) = self.peek() {
            let exponent_sign = (c == '+' || c == '-')
                && s.ends_with(['e', 'E'])
                && s.trim_start_matches('-')
                    .starts_with(|d: char| d.is_ascii_digit())
                && !s.contains(['x', 'X']);
            if !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || exponent_sign) {
                break;
            }
            s.push(c);
            self.bump();
        }
        s
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.bump();
        let mut s = String::new();
        loop {
            let here = self.pos;
            match self.bump() {
                None => return Err(ParseError::at(start, "unterminated string")),
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    _ => {
                        return Err(ParseError::at(
                            here,
                            "unknown escape; use \\\" \\\\ \\n or \\t",
                        ))
                    }
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn label(&mut self, start: Pos) -> Result<Label, ParseError> {
        let name = if self.peek() == Some('"') {
            Some(self.string()?)
        } else {
            None
        };
        let name = match name {
            Some(n) => n,
            None => {
                let w = self.word();
                if w.is_empty() {
                    return Err(ParseError::at(
                        start,
                        "expected a value name or number after %",
                    ));
                }
                if w.starts_with(|c: char| c.is_ascii_digit()) {
                    let n = w
                        .parse()
                        .map_err(|_| ParseError::at(start, format!("bad value number %{w}")))?;
                    return Ok(Label::Index(n));
                }
                w
            }
        };
        if self.peek() != Some('#') {
            return Ok(Label::Named(name, None));
        }
        self.bump();
        let here = self.pos;
        let w = self.word();
        let n = w
            .parse()
            .map_err(|_| ParseError::at(here, "expected a number after #"))?;
        Ok(Label::Named(name, Some(n)))
    }
}
