//! The parser: `.tfg` text to an [`ast::File`](crate::ast::File), with every
//! syntax error of the file reported, not only the first.
//!
//! Tokens are recognised with nom; the grammar above them is recursive
//! descent, one method per precedence level (docs/language.md,
//! "Expressions"). Newlines end a statement except inside `( )` and `[ ]`:
//! each expression method takes `nl`, true where newlines are spaces. After
//! an error the parser skips to the end of the statement (the next newline,
//! `;` or `}` at bracket depth 0) or, at the top level, to the next line that
//! starts an item, and goes on.

use crate::ast::*;
use crate::diag::{place, Diagnostic};
use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::{char, digit1, one_of};
use nom::combinator::{opt, recognize};
use nom::{IResult, Parser as _};
use tfg_ir::{DType, Dim};

/// Words that cannot name a value. `true`/`false` are literals, and a keyword
/// directly followed by `(` is still a call (`log(x)` is a builtin).
pub const KEYWORDS: [&str; 15] = [
    "graph",
    "input",
    "param",
    "output",
    "train",
    "fn",
    "return",
    "minimize",
    "optimizer",
    "steps",
    "batch",
    "log",
    "true",
    "false",
    "serve",
];

/// How deeply expressions may nest. Bounds the recursion of the parser and of
/// every later walk over an expression.
pub const MAX_NESTING: u32 = 256;

pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// Parses a whole file. The tree holds everything that parsed; statements and
/// items that did not are kept as `Error`/`Broken` markers.
pub fn parse_file(src: &str) -> (File, Vec<Diagnostic>) {
    let mut p = Parser::new(src);
    let file = p.file();
    (file, p.errors)
}

/// Parses `text` as one expression and nothing else (a `--feed` value).
pub fn parse_expr(text: &str) -> Result<Expr, Diagnostic> {
    let mut p = Parser::new(text);
    let i = blank(text, true);
    if i.is_empty() {
        return Err(Diagnostic::error("expected a literal, found nothing").at(Span::new(0, 0)));
    }
    let (rest, e) = p.expr(i, true).map_err(|f| f.diag)?;
    let rest = blank(rest, true);
    if !rest.is_empty() {
        return Err(p.unexpected(rest, "the end of the literal").diag);
    }
    match p.errors.into_iter().next() {
        Some(d) => Err(d),
        None => Ok(e),
    }
}

/// One thing typed at a REPL: a graph statement, or an expression to show.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    Stmt(Stmt),
    Expr(Expr),
}

/// Parses `src[start..]` as a REPL reads it: graph statements and bare
/// expressions, separated by newlines or `;`. Spans are offsets into `src`.
/// The first syntax error ends parsing.
pub fn parse_entries(src: &str, start: usize) -> Result<Vec<Entry>, Diagnostic> {
    let mut p = Parser::new(src);
    let mut i = separators(&src[start..]);
    let mut entries = Vec::new();
    while !i.is_empty() {
        p.nesting = 0;
        let parsed = if starts_statement(i) {
            p.graph_stmt(i).map(|(r, s)| (r, Entry::Stmt(s)))
        } else {
            p.expr(i, false).map(|(r, e)| (r, Entry::Expr(e)))
        };
        let (rest, entry) = parsed
            .and_then(|(r, e)| Ok((p.end_of_statement(r)?, e)))
            .map_err(|f| f.diag)?;
        if let Some(d) = p.errors.drain(..).next() {
            return Err(d);
        }
        entries.push(entry);
        i = separators(rest);
    }
    Ok(entries)
}

/// Whether REPL text at `i` is a statement rather than an expression: it
/// starts with `input`, `param` or `output`, or binds a name (`NAME =`).
fn starts_statement(i: &str) -> bool {
    match ident_text(i) {
        Ok((_, "input" | "param" | "output")) => true,
        Ok((rest, _)) => assign(blank(rest, false)).is_some(),
        Err(_) => false,
    }
}

/// A syntax error and where parsing can go on from.
struct Failure<'a> {
    resume: &'a str,
    diag: Diagnostic,
}

type Parsed<'a, T> = Result<(&'a str, T), Box<Failure<'a>>>;

// ---- tokens (nom) ----

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn ident_text(i: &str) -> IResult<&str, &str> {
    recognize((
        take_while1(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(is_ident_char),
    ))
    .parse(i)
}

/// `42`, `1.0`, `2.5e-3`, `1e4`, `1E-05`.
fn number_text(i: &str) -> IResult<&str, &str> {
    recognize((
        digit1,
        opt((char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(i)
}

/// Skips spaces, tabs, carriage returns and comments, and newlines if `nl`.
fn blank(mut i: &str, nl: bool) -> &str {
    loop {
        let trimmed =
            i.trim_start_matches(|c| c == ' ' || c == '\t' || c == '\r' || (nl && c == '\n'));
        match trimmed.strip_prefix('#') {
            Some(comment) => i = &comment[comment.find('\n').unwrap_or(comment.len())..],
            None => return trimmed,
        }
    }
}

/// Newlines and `;`s between statements.
fn separators(mut i: &str) -> &str {
    loop {
        i = blank(i, true);
        match i.strip_prefix(';') {
            Some(rest) => i = rest,
            None => return i,
        }
    }
}

/// The two-character operators, longest match first.
const OPERATORS: [&str; 5] = ["**", "<=", ">=", "==", "!="];

/// The text of the token at the start of `i`, for messages and caret widths.
fn token(i: &str) -> &str {
    if let Ok((_, t)) = ident_text(i).or_else(|_| number_text(i)) {
        return t;
    }
    if let Some(op) = OPERATORS.iter().find(|op| i.starts_with(**op)) {
        return &i[..op.len()];
    }
    i.chars().next().map_or("", |c| &i[..c.len_utf8()])
}

/// What the user wrote at `i`, as a message names it.
fn describe(i: &str) -> String {
    match i.chars().next() {
        None => "end of file".into(),
        Some('\n') => "end of line".into(),
        Some(_) => {
            let t = token(i);
            if is_keyword(t) && !matches!(t, "true" | "false") {
                format!("keyword `{t}`")
            } else {
                format!("`{t}`")
            }
        }
    }
}

fn binary_op(i: &str, ops: &[(&str, BinOp)]) -> Option<(BinOp, usize)> {
    ops.iter()
        .find(|(s, _)| i.starts_with(s))
        .map(|&(s, op)| (op, s.len()))
}

fn additive_op(i: &str) -> Option<(BinOp, usize)> {
    binary_op(i, &[("+", BinOp::Add), ("-", BinOp::Sub)])
}

fn multiplicative_op(i: &str) -> Option<(BinOp, usize)> {
    if i.starts_with("**") {
        return None;
    }
    binary_op(
        i,
        &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Mod)],
    )
}

fn matmul_op(i: &str) -> Option<(BinOp, usize)> {
    binary_op(i, &[("@", BinOp::MatMul)])
}

fn comparison_op(i: &str) -> Option<(BinOp, usize)> {
    binary_op(
        i,
        &[
            ("<=", BinOp::Le),
            (">=", BinOp::Ge),
            ("==", BinOp::Eq),
            ("!=", BinOp::Ne),
            ("<", BinOp::Lt),
            (">", BinOp::Gt),
        ],
    )
}

/// `=` but not `==`.
fn assign(i: &str) -> Option<&str> {
    i.strip_prefix('=').filter(|r| !r.starts_with('='))
}

/// Skips the rest of a broken statement: up to and including the next newline
/// or `;` at bracket depth 0, or up to (not including) a `}` that closes the
/// enclosing block.
fn recover_statement(i: &str) -> &str {
    // Scans bytes: the delimiters are ASCII, which never occurs inside a
    // multi-byte character, so every index stopped at is a char boundary.
    let bytes = i.as_bytes();
    let mut depth = 0usize;
    let mut k = 0;
    while k < bytes.len() {
        match bytes[k] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1),
            b'}' if depth == 0 => return &i[k..],
            b'}' => depth -= 1,
            b'\n' | b';' if depth == 0 => return &i[k + 1..],
            b'#' => {
                k = i[k..].find('\n').map_or(i.len(), |n| k + n);
                continue;
            }
            b'"' => {
                k = i[k + 1..].find(['"', '\n']).map_or(i.len(), |n| k + 1 + n);
                if bytes.get(k) == Some(&b'"') {
                    k += 1;
                }
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    &i[i.len()..]
}

/// Whether `i` starts an item header (`graph NAME`, `fn NAME`, `train NAME`,
/// `serve NAME`).
fn starts_item(i: &str) -> bool {
    match ident_text(i) {
        Ok((rest, "graph" | "fn" | "train" | "serve")) => ident_text(blank(rest, false)).is_ok(),
        _ => false,
    }
}

/// Skips a broken item: at least one character, then up to the next line at
/// brace depth 0 that starts an item.
fn recover_item(i: &str) -> &str {
    let mut depth = 0usize;
    let mut line_start = false;
    for (at, c) in i.char_indices() {
        if at > 0 && line_start && depth == 0 && starts_item(&i[at..]) {
            return &i[at..];
        }
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '\n' => {
                line_start = true;
                continue;
            }
            ' ' | '\t' | '\r' => continue,
            _ => {}
        }
        line_start = false;
    }
    &i[i.len()..]
}

/// The statements of a `fn { … }` body, before they are checked for one
/// final `return`.
enum FnStmt {
    Bind(Binding),
    Return(Expr, Span),
    Error,
}

struct Parser<'a> {
    src: &'a str,
    errors: Vec<Diagnostic>,
    nesting: u32,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser {
            src,
            errors: Vec::new(),
            nesting: 0,
        }
    }

    fn off(&self, i: &str) -> usize {
        self.src.len() - i.len()
    }

    fn span(&self, from: &str, to: &str) -> Span {
        Span::new(self.off(from), self.off(to))
    }

    /// The span of the token at `i` (at least one byte, unless at the end).
    fn token_span(&self, i: &str) -> Span {
        let start = self.off(i);
        Span::new(start, start + token(i).len())
    }

    fn fail_at(&self, i: &'a str, message: impl Into<String>) -> Box<Failure<'a>> {
        Box::new(Failure {
            resume: i,
            diag: Diagnostic::error(message).at(self.token_span(i)),
        })
    }

    /// "expected WHAT, found …" at `i`.
    fn unexpected(&self, i: &'a str, what: &str) -> Box<Failure<'a>> {
        self.fail_at(i, format!("expected {what}, found {}", describe(i)))
    }

    /// The error for a bracket opened at `open` that is not closed where the
    /// next token after `after` is. A bracket that looks left open (at the end
    /// of the file, before another closer or item, or on an earlier line than
    /// the unexpected token) is reported where it opened; anything else where
    /// the token is.
    fn unclosed(
        &self,
        open: &'a str,
        close: char,
        after: &'a str,
        in_list: bool,
    ) -> Box<Failure<'a>> {
        let opener = open.chars().next().unwrap_or('(');
        let found = blank(after, true);
        let other_line = self.src[self.off(open)..self.off(found)].contains('\n');
        let truly_unclosed = found.is_empty()
            || found.starts_with(['}', ')', ']'])
            || starts_item(found)
            || other_line;
        let diag = if truly_unclosed {
            Diagnostic::error(format!(
                "expected '{close}' to close '{opener}' opened here"
            ))
            .at(Span::new(self.off(open), self.off(open) + 1))
            .label(format!("unclosed '{opener}'"))
            .note(format!(
                "found {} at {}",
                describe(found),
                place(self.src, self.off(found))
            ))
        } else {
            let expected = if in_list {
                format!("',' or '{close}'")
            } else {
                format!("'{close}'")
            };
            Diagnostic::error(format!("expected {expected}, found {}", describe(found)))
                .at(self.token_span(found))
                .note(format!(
                    "to close the '{opener}' opened at {}",
                    place(self.src, self.off(open))
                ))
        };
        Box::new(Failure {
            resume: found,
            diag,
        })
    }

    /// Runs `f` one nesting level deeper, refusing to go past [`MAX_NESTING`].
    fn nested<T>(
        &mut self,
        at: &'a str,
        f: impl FnOnce(&mut Self) -> Parsed<'a, T>,
    ) -> Parsed<'a, T> {
        if self.nesting >= MAX_NESTING {
            return Err(self.fail_at(
                at,
                format!("expression is nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        self.nesting += 1;
        let r = f(self);
        self.nesting -= 1;
        r
    }

    /// An expression node, refused if it would nest too deeply.
    fn node(&self, kind: ExprKind, span: Span, at: &'a str) -> Result<Expr, Box<Failure<'a>>> {
        let e = Expr::new(kind, span);
        if e.height > MAX_NESTING {
            return Err(self.fail_at(
                at,
                format!("expression is nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        Ok(e)
    }

    fn expect(&self, i: &'a str, c: char, what: &str) -> Result<&'a str, Box<Failure<'a>>> {
        i.strip_prefix(c).ok_or_else(|| self.unexpected(i, what))
    }

    /// A name that is not a keyword; `what` says what kind of name is wanted.
    fn ident(&self, i: &'a str, what: &str) -> Parsed<'a, Ident> {
        let i = blank(i, false);
        match ident_text(i) {
            Ok((_, word)) if is_keyword(word) => Err(self.fail_at(
                i,
                format!(
                    "expected {what}, found keyword `{word}`; keywords cannot be used as names"
                ),
            )),
            Ok((rest, word)) => Ok((
                rest,
                Ident {
                    name: word.to_string(),
                    span: self.span(i, rest),
                },
            )),
            Err(_) => Err(self.unexpected(i, what)),
        }
    }

    // ---- items ----

    fn file(&mut self) -> File {
        let mut i = self.src.strip_prefix('\u{feff}').unwrap_or(self.src);
        let mut items = Vec::new();
        loop {
            i = separators(i);
            if i.is_empty() {
                return File { items };
            }
            match self.item(i) {
                Ok((rest, item)) => {
                    items.push(item);
                    i = rest;
                }
                Err(f) => {
                    self.errors.push(f.diag);
                    if let Some(broken) = self.broken_item(i) {
                        items.push(broken);
                    }
                    i = recover_item(f.resume);
                }
            }
        }
    }

    /// What can still be said of an item whose header did not parse.
    fn broken_item(&self, i: &'a str) -> Option<Item> {
        let (rest, word) = ident_text(i).ok()?;
        let kind = match word {
            "graph" => ItemKind::Graph,
            "fn" => ItemKind::Fn,
            "train" => ItemKind::Train,
            "serve" => ItemKind::Serve,
            _ => return None,
        };
        let name = self.ident(blank(rest, true), "").ok().map(|(_, n)| n);
        Some(Item::Broken { kind, name })
    }

    fn item(&mut self, i: &'a str) -> Parsed<'a, Item> {
        let what = "an item (`graph`, `fn`, `train` or `serve`)";
        let Ok((rest, word)) = ident_text(i) else {
            return Err(self.unexpected(i, what));
        };
        match word {
            "graph" => self.graph(i, rest),
            "fn" => self.function(i, rest),
            "train" => self.train(i, rest),
            "serve" => self.serve(i, rest),
            _ => {
                let mut f = self.unexpected(i, what);
                f.diag
                    .notes
                    .push("help: statements belong inside `graph NAME { … }`".into());
                Err(f)
            }
        }
    }

    fn graph(&mut self, start: &'a str, i: &'a str) -> Parsed<'a, Item> {
        let (i, name) = self.ident(blank(i, true), "a graph name")?;
        let open = blank(i, true);
        self.expect(open, '{', &format!("'{{' after `graph {}`", name.name))?;
        let (rest, body) = self.block(open, Self::graph_stmt, |p, i| Stmt {
            kind: StmtKind::Error {
                binds: p.binds_of(i),
            },
            span: p.span(i, i),
        });
        Ok((
            rest,
            Item::Graph(GraphItem {
                name,
                body,
                span: self.span(start, rest),
            }),
        ))
    }

    fn function(&mut self, start: &'a str, i: &'a str) -> Parsed<'a, Item> {
        let (i, name) = self.ident(blank(i, true), "a function name")?;
        let open = blank(i, true);
        self.expect(
            open,
            '(',
            &format!("'(' and the parameters of `{}`", name.name),
        )?;
        let (i, params) = self.list(open, ')', |p, i| p.ident(i, "a parameter name"))?;
        let i = blank(i, true);
        if let Some(body) = assign(i) {
            self.nesting = 0;
            let (rest, result) = self.expr(body, false)?;
            let rest = self.end_of_statement(rest)?;
            let span = self.span(start, rest);
            return Ok((
                rest,
                Item::Fn(FnItem {
                    name,
                    params,
                    bindings: Vec::new(),
                    result,
                    span,
                }),
            ));
        }
        if !i.starts_with('{') {
            return Err(self.unexpected(
                i,
                &format!("'=' or '{{' after the parameters of `{}`", name.name),
            ));
        }
        let errors_before = self.errors.len();
        let (rest, body) = self.block(i, Self::fn_stmt, |_, _| FnStmt::Error);
        let span = self.span(start, rest);
        let mut bindings = Vec::new();
        let mut result: Option<(Expr, Span)> = None;
        let mut misplaced_return = false;
        for stmt in body {
            if let Some((_, at)) = &result {
                if !misplaced_return {
                    self.errors.push(
                        Diagnostic::error("`return` must be the last statement of a fn")
                            .at(*at)
                            .label("statements follow it"),
                    );
                    misplaced_return = true;
                }
                continue;
            }
            match stmt {
                FnStmt::Bind(b) => bindings.push(b),
                FnStmt::Return(e, s) => result = Some((e, s)),
                FnStmt::Error => {}
            }
        }
        if self.errors.len() > errors_before {
            return Ok((
                rest,
                Item::Broken {
                    kind: ItemKind::Fn,
                    name: Some(name),
                },
            ));
        }
        match result {
            Some((result, _)) => Ok((
                rest,
                Item::Fn(FnItem {
                    name,
                    params,
                    bindings,
                    result,
                    span,
                }),
            )),
            None => {
                self.errors.push(
                    Diagnostic::error(format!("fn `{}` has no `return`", name.name))
                        .at(name.span)
                        .label("its body must end with `return EXPR`"),
                );
                Ok((
                    rest,
                    Item::Broken {
                        kind: ItemKind::Fn,
                        name: Some(name),
                    },
                ))
            }
        }
    }

    fn train(&mut self, start: &'a str, i: &'a str) -> Parsed<'a, Item> {
        let (i, graph) = self.ident(blank(i, true), "the name of the graph to train")?;
        let open = blank(i, true);
        self.expect(open, '{', &format!("'{{' after `train {}`", graph.name))?;
        let (rest, body) = self.block(open, Self::train_stmt, |p, i| TrainStmt {
            kind: TrainStmtKind::Error,
            span: p.span(i, i),
        });
        Ok((
            rest,
            Item::Train(TrainItem {
                graph,
                body,
                span: self.span(start, rest),
            }),
        ))
    }

    /// `serve GRAPH [as SIGNATURE] { inputs …  outputs … }`.
    fn serve(&mut self, start: &'a str, i: &'a str) -> Parsed<'a, Item> {
        let (i, graph) = self.ident(blank(i, true), "the name of the graph to serve")?;
        let mut open = blank(i, true);
        let mut signature = None;
        if let Ok((rest, "as")) = ident_text(open) {
            let (rest, name) = self.ident(rest, "the name of the signature after `as`")?;
            signature = Some(name);
            open = blank(rest, true);
        }
        self.expect(open, '{', &format!("'{{' after `serve {}`", graph.name))?;
        let (rest, body) = self.block(open, Self::serve_stmt, |p, i| ServeStmt {
            kind: ServeStmtKind::Error,
            span: p.span(i, i),
        });
        Ok((
            rest,
            Item::Serve(ServeItem {
                graph,
                signature,
                body,
                span: self.span(start, rest),
            }),
        ))
    }

    /// `inputs NAME, …` or `outputs NAME, …`.
    fn serve_stmt(&mut self, i: &'a str) -> Parsed<'a, ServeStmt> {
        let what = "a serve statement (`inputs NAME, …` or `outputs NAME, …`)";
        let (rest, word) = match ident_text(i) {
            Ok((rest, word @ ("inputs" | "outputs"))) => (rest, word),
            _ => return Err(self.unexpected(i, what)),
        };
        let role = match word {
            "inputs" => "the name of an input",
            _ => "the name of a value",
        };
        let (mut r, first) = self.ident(rest, role)?;
        let mut names = vec![first];
        while let Some(next) = blank(r, false).strip_prefix(',') {
            let (after, name) = self.ident(next, role)?;
            names.push(name);
            r = after;
        }
        let kind = match word {
            "inputs" => ServeStmtKind::Inputs(names),
            _ => ServeStmtKind::Outputs(names),
        };
        Ok((
            r,
            ServeStmt {
                kind,
                span: self.span(i, r),
            },
        ))
    }

    /// The statements of a `{ … }` block opened at `open`, each parsed by
    /// `stmt`; a statement that fails is reported, replaced by `on_error`, and
    /// skipped.
    fn block<T>(
        &mut self,
        open: &'a str,
        stmt: impl Fn(&mut Self, &'a str) -> Parsed<'a, T>,
        on_error: impl Fn(&Self, &'a str) -> T,
    ) -> (&'a str, Vec<T>) {
        let mut i = &open[1..];
        let mut out = Vec::new();
        loop {
            i = separators(i);
            if let Some(rest) = i.strip_prefix('}') {
                return (rest, out);
            }
            if i.is_empty() || starts_item(i) {
                self.errors.push(self.unclosed(open, '}', i, false).diag);
                return (i, out);
            }
            self.nesting = 0;
            match stmt(self, i).and_then(|(rest, s)| Ok((self.end_of_statement(rest)?, s))) {
                Ok((rest, s)) => {
                    out.push(s);
                    i = rest;
                }
                Err(f) => {
                    self.errors.push(f.diag);
                    out.push(on_error(self, i));
                    i = recover_statement(f.resume);
                }
            }
        }
    }

    /// A statement ends at a newline, at `;`, or before `}`.
    fn end_of_statement(&self, i: &'a str) -> Result<&'a str, Box<Failure<'a>>> {
        let i = blank(i, false);
        if let Some(rest) = i.strip_prefix(['\n', ';']) {
            return Ok(rest);
        }
        if i.is_empty() || i.starts_with('}') {
            return Ok(i);
        }
        Err(self.unexpected(i, "the end of the statement (a newline or ';')"))
    }

    /// The name a broken statement starting at `i` meant to bind, if any.
    fn binds_of(&self, i: &'a str) -> Option<Ident> {
        let (rest, word) = ident_text(i).ok()?;
        match word {
            "input" | "param" | "output" => {
                let (rest, name) = self.ident(rest, "").ok()?;
                let declares = word != "output" || assign(blank(rest, false)).is_some();
                declares.then_some(name)
            }
            _ if is_keyword(word) => None,
            _ => assign(blank(rest, false)).map(|_| Ident {
                name: word.to_string(),
                span: self.span(i, rest),
            }),
        }
    }

    fn graph_stmt(&mut self, i: &'a str) -> Parsed<'a, Stmt> {
        let what = "a statement (`NAME = EXPR`, `input`, `param` or `output`)";
        let Ok((rest, word)) = ident_text(i) else {
            return Err(self.unexpected(i, what));
        };
        let (rest, kind) = match word {
            "input" | "param" => {
                let (r, name) = self.ident(rest, &format!("the name of the {word}"))?;
                let r = blank(r, false);
                let r = self.expect(r, ':', &format!("':' and the type of `{}`", name.name))?;
                let (r, ty) = self.ty(r)?;
                let after = blank(r, false);
                match (word, assign(after)) {
                    ("input", None) => (
                        r,
                        StmtKind::Input {
                            name,
                            ty,
                            default: None,
                        },
                    ),
                    ("input", Some(v)) => {
                        let (r, default) = self.expr(v, false)?;
                        (
                            r,
                            StmtKind::Input {
                                name,
                                ty,
                                default: Some(default),
                            },
                        )
                    }
                    (_, Some(v)) => {
                        let (r, init) = self.expr(v, false)?;
                        (r, StmtKind::Param { name, ty, init })
                    }
                    (_, None) => {
                        let mut f = self.unexpected(
                            after,
                            &format!("'=' and the initialiser of `{}`", name.name),
                        );
                        f.diag.notes.push(
                            "help: a param needs an initialiser, such as `= 0.5`, `zeros` or `normal(std = 0.1)`".into(),
                        );
                        return Err(f);
                    }
                }
            }
            "output" => {
                let (r, first) = self.ident(rest, "the name of an output")?;
                if let Some(v) = assign(blank(r, false)) {
                    let (r, value) = self.expr(v, false)?;
                    (r, StmtKind::OutputLet(Binding { name: first, value }))
                } else {
                    let mut names = vec![first];
                    let mut r = r;
                    while let Some(next) = blank(r, false).strip_prefix(',') {
                        let (after, name) = self.ident(next, "the name of an output")?;
                        names.push(name);
                        r = after;
                    }
                    (r, StmtKind::Output(names))
                }
            }
            _ if is_keyword(word) && assign(blank(rest, false)).is_some() => {
                return Err(
                    self.fail_at(i, format!("`{word}` is a keyword and cannot name a value"))
                );
            }
            _ if is_keyword(word) => {
                let mut f = self.unexpected(i, what);
                if matches!(word, "graph" | "fn" | "train" | "serve") {
                    f.diag
                        .notes
                        .push("help: is a '}' missing before this item?".into());
                }
                return Err(f);
            }
            _ => {
                let name = Ident {
                    name: word.to_string(),
                    span: self.span(i, rest),
                };
                let after = blank(rest, false);
                let Some(v) = assign(after) else {
                    return Err(self.unexpected(after, &format!("'=' after `{word}`")));
                };
                let (r, value) = self.expr(v, false)?;
                (r, StmtKind::Let(Binding { name, value }))
            }
        };
        Ok((
            rest,
            Stmt {
                kind,
                span: self.span(i, rest),
            },
        ))
    }

    fn fn_stmt(&mut self, i: &'a str) -> Parsed<'a, FnStmt> {
        match ident_text(i) {
            Ok((rest, "return")) => {
                let (r, e) = self.expr(rest, false)?;
                Ok((r, FnStmt::Return(e, self.span(i, r))))
            }
            Ok((rest, word)) if !is_keyword(word) => {
                let name = Ident {
                    name: word.to_string(),
                    span: self.span(i, rest),
                };
                let after = blank(rest, false);
                let Some(v) = assign(after) else {
                    return Err(self.unexpected(after, &format!("'=' after `{word}`")));
                };
                let (r, value) = self.expr(v, false)?;
                Ok((r, FnStmt::Bind(Binding { name, value })))
            }
            _ => Err(self.unexpected(i, "`NAME = EXPR` or `return EXPR`")),
        }
    }

    fn train_stmt(&mut self, i: &'a str) -> Parsed<'a, TrainStmt> {
        let what =
            "a train statement (`minimize`, `optimizer`, `steps`, `batch`, `log` or `clip_norm`)";
        let Ok((rest, word)) = ident_text(i) else {
            return Err(self.unexpected(i, what));
        };
        let (rest, kind) = match word {
            "minimize" => {
                let (r, name) = self.ident(rest, "the name of the value to minimize")?;
                (r, TrainStmtKind::Minimize(name))
            }
            "optimizer" => {
                let (r, e) = self.expr(rest, false)?;
                (r, TrainStmtKind::Optimizer(e))
            }
            "steps" | "batch" => {
                let (r, e) = self.expr(rest, false)?;
                (
                    r,
                    if word == "steps" {
                        TrainStmtKind::Steps(e)
                    } else {
                        TrainStmtKind::Batch(e)
                    },
                )
            }
            "clip_norm" => {
                let (r, e) = self.expr(rest, false)?;
                (r, TrainStmtKind::ClipNorm(e))
            }
            "log" => {
                let (mut r, first) = self.ident(rest, "the name of a value to log")?;
                let mut names = vec![first];
                while let Some(next) = blank(r, false).strip_prefix(',') {
                    let (after, name) = self.ident(next, "the name of a value to log")?;
                    names.push(name);
                    r = after;
                }
                (r, TrainStmtKind::Log(names))
            }
            _ => return Err(self.unexpected(i, what)),
        };
        Ok((
            rest,
            TrainStmt {
                kind,
                span: self.span(i, rest),
            },
        ))
    }

    /// `DTYPE` or `DTYPE[D0, …]`.
    fn ty(&mut self, i: &'a str) -> Parsed<'a, TypeExpr> {
        let i = blank(i, false);
        let Ok((rest, word)) = ident_text(i) else {
            return Err(self.unexpected(i, "a type such as `f32` or `f32[B, 3]`"));
        };
        let Some(dtype) = DType::from_name(word) else {
            let mut f = self.fail_at(i, format!("unknown dtype `{word}`"));
            f.diag
                .notes
                .push("the dtypes are f32, f64, i32, i64 and bool".into());
            return Err(f);
        };
        let open = blank(rest, false);
        if !open.starts_with('[') {
            return Ok((
                rest,
                TypeExpr {
                    dtype,
                    dims: Vec::new(),
                    span: self.span(i, rest),
                },
            ));
        }
        let (rest, dims) = self.list(open, ']', |p, d| p.dim(d))?;
        let shape = tfg_ir::Shape(dims.iter().map(|(d, _)| d.clone()).collect());
        if let Err(m) = tfg_ir::Type::new(dtype, shape).check_size() {
            return Err(Box::new(Failure {
                resume: i,
                diag: Diagnostic::error(m).at(self.span(i, rest)),
            }));
        }
        Ok((
            rest,
            TypeExpr {
                dtype,
                dims,
                span: self.span(i, rest),
            },
        ))
    }

    fn dim(&mut self, i: &'a str) -> Parsed<'a, (Dim, Span)> {
        let what = "a dimension (an integer or a name)";
        if let Ok((rest, digits)) = number_text(i) {
            let size = digits.parse::<u64>().map_err(|_| {
                self.fail_at(
                    i,
                    format!("expected {what}, found `{digits}`; a dimension is a whole number"),
                )
            })?;
            return Ok((rest, (Dim::Known(size), self.span(i, rest))));
        }
        let (rest, name) = self.ident(i, what)?;
        Ok((rest, (Dim::Sym(name.name), name.span)))
    }

    /// Comma-separated items up to `close`, for a bracket opened at `open`;
    /// newlines are spaces and a trailing comma is allowed.
    fn list<T>(
        &mut self,
        open: &'a str,
        close: char,
        mut item: impl FnMut(&mut Self, &'a str) -> Parsed<'a, T>,
    ) -> Parsed<'a, Vec<T>> {
        let mut i = &open[1..];
        let mut out = Vec::new();
        loop {
            i = blank(i, true);
            if let Some(rest) = i.strip_prefix(close) {
                return Ok((rest, out));
            }
            if i.is_empty() || i.starts_with(['}', ')', ']']) {
                return Err(self.unclosed(open, close, i, true));
            }
            let (rest, x) = item(self, i)?;
            out.push(x);
            let after = blank(rest, true);
            if let Some(rest) = after.strip_prefix(',') {
                i = rest;
            } else if let Some(rest) = after.strip_prefix(close) {
                return Ok((rest, out));
            } else {
                return Err(self.unclosed(open, close, rest, true));
            }
        }
    }

    // ---- expressions, loosest first ----

    fn expr(&mut self, i: &'a str, nl: bool) -> Parsed<'a, Expr> {
        self.comparison(i, nl)
    }

    /// Level 7, not associative: `a < b < c` is an error.
    fn comparison(&mut self, i: &'a str, nl: bool) -> Parsed<'a, Expr> {
        let (rest, lhs) = self.additive(i, nl)?;
        let at = blank(rest, nl);
        let Some((op, len)) = comparison_op(at) else {
            return Ok((rest, lhs));
        };
        let (rest, rhs) = self.additive(&at[len..], nl)?;
        let op_span = Span::new(self.off(at), self.off(at) + len);
        let span = lhs.span.to(rhs.span);
        let e = self.node(
            ExprKind::Binary {
                op,
                op_span,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            span,
            at,
        )?;
        let next = blank(rest, nl);
        if comparison_op(next).is_some() {
            let mut f = self.fail_at(next, "comparison operators cannot be chained");
            f.diag.label = Some("second comparison".into());
            f.diag
                .notes
                .push("help: use parentheses, such as `(a < b) == c`".into());
            return Err(f);
        }
        Ok((rest, e))
    }

    fn additive(&mut self, i: &'a str, nl: bool) -> Parsed<'a, Expr> {
        self.left_assoc(i, nl, Self::multiplicative, additive_op)
    }

    fn multiplicative(&mut self, i: &'a str, nl: bool) -> Parsed<'a, Expr> {
        self.left_assoc(i, nl, Self::matmul, multiplicative_op)
    }

    fn matmul(&mut self, i: &'a str, nl: bool) -> Parsed<'a, Expr> {
        self.left_assoc(i, nl, Self::unary, matmul_op)
    }

    fn left_assoc(
        &mut self,
        i: &'a str,
        nl: bool,
        operand: fn(&mut Self, &'a str, bool) -> Parsed<'a, Expr>,
        op_at: fn(&str) -> Option<(BinOp, usize)>,
    ) -> Parsed<'a, Expr> {
        let (mut rest, mut lhs) = operand(self, i, nl)?;
        loop {
            let at = blank(rest, nl);
            let Some((op, len)) = op_at(at) else {
                return Ok((rest, lhs));
            };
            let (r, rhs) = operand(self, &at[len..], nl)?;
            let op_span = Span::new(self.off(at), self.off(at) + len);
            let span = lhs.span.to(rhs.span);
            lhs = self.node(
                ExprKind::Binary {
                    op,
                    op_span,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
                at,
            )?;
            rest = r;
        }
    }

    /// Level 3: `-a`, `!a`.
    fn unary(&mut self, i: &'a str, nl: bool) -> Parsed<'a, Expr> {
        let i = blank(i, nl);
        let op = match i.chars().next() {
            Some('-') => UnOp::Neg,
            Some('!') => UnOp::Not,
            _ => return self.power(i, nl),
        };
        let (rest, operand) = self.nested(i, |p| p.unary(&i[1..], nl))?;
        let span = Span::new(self.off(i), operand.span.end);
        let e = self.node(
            ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
            span,
            i,
        )?;
        Ok((rest, e))
    }

    /// Level 2: `a ** b`, right-associative; its right side may be negated
    /// (`2 ** -1`), and it binds tighter than a unary minus on its left.
    fn power(&mut self, i: &'a str, nl: bool) -> Parsed<'a, Expr> {
        let (rest, base) = self.primary(i, nl)?;
        let at = blank(rest, nl);
        let Some(exp) = at.strip_prefix("**") else {
            return Ok((rest, base));
        };
        let (rest, exponent) = self.nested(at, |p| p.unary(exp, nl))?;
        let op_span = Span::new(self.off(at), self.off(at) + 2);
        let span = base.span.to(exponent.span);
        let kind = ExprKind::Binary {
            op: BinOp::Pow,
            op_span,
            lhs: Box::new(base),
            rhs: Box::new(exponent),
        };
        Ok((rest, self.node(kind, span, at)?))
    }

    /// Level 1, with any number of index suffixes `x[…]` (written right
    /// after the operand: `x [0]` is not an index).
    fn primary(&mut self, i: &'a str, nl: bool) -> Parsed<'a, Expr> {
        let i = blank(i, nl);
        let (mut rest, mut e) = self.atom(i, nl)?;
        while rest.starts_with('[') {
            let open = rest;
            let (r, items) = self.nested(open, |p| p.list(open, ']', Self::index_item))?;
            e = self.node(
                ExprKind::Index {
                    base: Box::new(e),
                    items,
                },
                self.span(i, r),
                open,
            )?;
            rest = r;
        }
        Ok((rest, e))
    }

    /// One entry of an index: `...`, `i`, or `start:stop:step` with each
    /// part optional.
    fn index_item(&mut self, i: &'a str) -> Parsed<'a, IndexItem> {
        let i = blank(i, true);
        if let Some(rest) = i.strip_prefix("...") {
            return Ok((rest, IndexItem::Ellipsis(self.span(i, rest))));
        }
        let bound = |p: &mut Self, at: &'a str| -> Parsed<'a, Option<Box<Expr>>> {
            let at = blank(at, true);
            if at.starts_with([':', ',', ']']) {
                return Ok((at, None));
            }
            let (r, e) = p.expr(at, true)?;
            Ok((r, Some(Box::new(e))))
        };
        let (rest, start) = bound(self, i)?;
        let Some(after) = blank(rest, true).strip_prefix(':') else {
            return match start {
                Some(e) => Ok((rest, IndexItem::At(*e))),
                None => Err(self.unexpected(i, "an index, a slice `a:b` or `...`")),
            };
        };
        let (rest, stop) = bound(self, after)?;
        let (rest, step) = match blank(rest, true).strip_prefix(':') {
            Some(after) => bound(self, after)?,
            None => (rest, None),
        };
        let span = self.span(i, rest);
        Ok((
            rest,
            IndexItem::Range {
                start,
                stop,
                step,
                span,
            },
        ))
    }

    /// Literals, names, calls, `( EXPR )`, `[ … ]`.
    fn atom(&mut self, i: &'a str, nl: bool) -> Parsed<'a, Expr> {
        match i.chars().next() {
            Some(c) if c.is_ascii_digit() => self.number(i),
            Some('"') => self.string(i),
            Some('(') => self.nested(i, |p| {
                let (rest, mut e) = p.expr(&i[1..], true)?;
                let Some(rest) = blank(rest, true).strip_prefix(')') else {
                    return Err(p.unclosed(i, ')', rest, false));
                };
                e.span = p.span(i, rest);
                Ok((rest, e))
            }),
            Some('[') => self.nested(i, |p| {
                let (rest, items) = p.list(i, ']', |p, x| p.expr(x, true))?;
                let e = p.node(ExprKind::Array(items), p.span(i, rest), i)?;
                Ok((rest, e))
            }),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.name_or_call(i, nl),
            _ => Err(self.unexpected(i, "an expression")),
        }
    }

    fn name_or_call(&mut self, i: &'a str, nl: bool) -> Parsed<'a, Expr> {
        let Ok((rest, word)) = ident_text(i) else {
            return Err(self.unexpected(i, "an expression"));
        };
        let span = self.span(i, rest);
        match word {
            "true" => return Ok((rest, Expr::leaf(ExprKind::Bool(true), span))),
            "false" => return Ok((rest, Expr::leaf(ExprKind::Bool(false), span))),
            _ => {}
        }
        let open = blank(rest, nl);
        if open.starts_with('(') {
            let func = Ident {
                name: word.to_string(),
                span,
            };
            return self.nested(open, |p| p.call(i, func, open));
        }
        if is_keyword(word) {
            return Err(self.fail_at(i, format!("expected an expression, found keyword `{word}`")));
        }
        Ok((rest, Expr::leaf(ExprKind::Name(word.to_string()), span)))
    }

    fn call(&mut self, start: &'a str, func: Ident, open: &'a str) -> Parsed<'a, Expr> {
        enum Arg {
            Positional(Expr),
            Keyword(Ident, Expr),
        }
        let (rest, list) = self.list(open, ')', |p, i| {
            if let Ok((after, word)) = ident_text(i) {
                if let Some(value) = assign(blank(after, true)) {
                    let key = Ident {
                        name: word.to_string(),
                        span: p.span(i, after),
                    };
                    let (r, e) = p.expr(value, true)?;
                    return Ok((r, Arg::Keyword(key, e)));
                }
            }
            let (r, e) = p.expr(i, true)?;
            Ok((r, Arg::Positional(e)))
        })?;
        let mut args = Vec::new();
        let mut kwargs: Vec<(Ident, Expr)> = Vec::new();
        for arg in list {
            match arg {
                Arg::Positional(e) if !kwargs.is_empty() => self.errors.push(
                    Diagnostic::error("positional argument after keyword argument")
                        .at(e.span)
                        .label("move it before the keyword arguments"),
                ),
                Arg::Positional(e) => args.push(e),
                Arg::Keyword(k, e) => kwargs.push((k, e)),
            }
        }
        let e = self.node(
            ExprKind::Call { func, args, kwargs },
            self.span(start, rest),
            open,
        )?;
        Ok((rest, e))
    }

    fn number(&self, i: &'a str) -> Parsed<'a, Expr> {
        let Ok((rest, text)) = number_text(i) else {
            return Err(self.unexpected(i, "a number"));
        };
        if rest.starts_with(|c: char| is_ident_char(c) || c == '.') {
            let tail = rest
                .find(|c: char| !(is_ident_char(c) || c == '.'))
                .unwrap_or(rest.len());
            let bad = &i[..text.len() + tail];
            let mut f = self.fail_at(i, format!("invalid number `{bad}`"));
            f.diag.span = Some(Span::new(self.off(i), self.off(i) + bad.len()));
            return Err(f);
        }
        let span = self.span(i, rest);
        let kind = if text.contains(['.', 'e', 'E']) {
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() => ExprKind::Float(x),
                _ => return Err(self.fail_at(i, format!("number `{text}` is too large"))),
            }
        } else {
            match text.parse::<i64>() {
                Ok(n) => ExprKind::Int(n),
                Err(_) => return Err(self.fail_at(i, format!("integer `{text}` is too large"))),
            }
        };
        Ok((rest, Expr::leaf(kind, span)))
    }

    /// `"…"` with `\"` and `\\` escapes, on one line.
    fn string(&self, i: &'a str) -> Parsed<'a, Expr> {
        let mut value = String::new();
        let mut chars = i.char_indices().skip(1);
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => {
                    let rest = &i[at + 1..];
                    return Ok((rest, Expr::leaf(ExprKind::Str(value), self.span(i, rest))));
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => value.push(e),
                    other => {
                        let end = other.map_or(at + 1, |(k, c)| k + c.len_utf8());
                        let mut f = self.fail_at(
                            &i[at..],
                            format!("unknown escape `{}` in a string", &i[at..end]),
                        );
                        f.diag.span = Some(Span::new(self.off(&i[at..]), self.off(&i[end..])));
                        f.diag
                            .notes
                            .push("a string allows only the escapes `\\\"` and `\\\\`".into());
                        return Err(f);
                    }
                },
                '\n' => break,
                c => value.push(c),
            }
        }
        let mut f = self.fail_at(i, "unterminated string");
        f.diag.label =
            Some("the string starts here; it needs a closing '\"' on the same line".into());
        Err(f)
    }
}
