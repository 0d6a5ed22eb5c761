//! Lowering one line at a time into a graph that is already built: what a
//! REPL compiles each entry with.
//!
//! An [`Incremental`] holds one graph, the names in its scope and the fns of
//! the file it came from. Each line it is given (graph statements, or a bare
//! expression, which gets a name of its own) is lowered into that graph by
//! the same `GraphLowerer` that lowers whole files, so a statement means at
//! the prompt what it means in a file. A line is all or nothing: one with an
//! error leaves the graph and the scope as they were.
//!
//! Lowering records where each node comes from as a line and column, so every
//! accepted line is appended to a text that starts with the file's
//! ([`Incremental::text`]): places in the graph are places in that text.
//! Diagnostics about a line have spans into the line.

use crate::ast::{ExprKind, File, Ident, Item, Span, Stmt, StmtKind};
use crate::diag::{line_col, Diagnostic, Lines};
use crate::lower::{Bound, FileScope, GraphLowerer, Val};
use crate::parse::{self, Entry};
use crate::train::lower_train;
use crate::train::GraphNames;
use crate::InputPath;
use std::collections::HashMap;
use tfg_ir::{Graph, TrainSpec, ValueId};

/// The name of the latest bare expression's value, as in Python's REPL.
pub const LAST: &str = "_";

/// A graph being built one line at a time.
pub struct Incremental {
    /// The file's text, then every accepted line, each ending in a newline.
    text: String,
    /// The file's name, for places in it.
    file_name: String,
    /// Where the file's text ends in `text`.
    file_len: usize,
    /// Where each accepted line is in `text`.
    lines: Vec<Span>,
    /// The file's syntax tree, for its fns.
    file: File,
    state: State,
    /// How many bare expressions have been named (`_1`, `_2`, …).
    results: u32,
}

/// What lowering a line changes.
struct State {
    graph: Graph,
    /// Every name in scope, each bound to a tensor, with the name's span
    /// in `text`: kept in the lowerer's own form, so that a line moves it
    /// in and out rather than copying it.
    scope: HashMap<String, Bound>,
    input_paths: Vec<InputPath>,
    /// Where each line of the text starts, brought up to date as lines are
    /// added rather than found again a line.
    line_starts: Lines,
}

impl Incremental {
    /// An empty graph called `name`, with no fns.
    pub fn new(name: &str) -> Incremental {
        Incremental {
            text: String::new(),
            file_name: String::new(),
            file_len: 0,
            lines: Vec::new(),
            file: File::default(),
            state: State {
                graph: Graph::new(name),
                scope: HashMap::new(),
                input_paths: Vec::new(),
                line_starts: Lines::default(),
            },
            results: 0,
        }
    }

    /// Graph `graph` of the file `src` (called `file_name`), with the file's
    /// fns, ready for more lines. The file should have compiled
    /// ([`crate::compile`] reports all its errors); if it does not, this
    /// returns the errors it meets.
    pub fn from_file(
        file_name: &str,
        src: &str,
        graph: &str,
    ) -> Result<Incremental, Vec<Diagnostic>> {
        let (file, diags) = parse::parse_file(src);
        if !diags.is_empty() {
            return Err(diags);
        }
        let Some(at) = file
            .items
            .iter()
            .position(|i| matches!(i, Item::Graph(g) if g.name.name == graph))
        else {
            return Err(vec![Diagnostic::error(format!(
                "`{file_name}` has no graph named `{graph}`"
            ))]);
        };
        let mut inc = Incremental::new(graph);
        inc.text = src.to_string();
        // Typed lines start on a line of their own.
        if !src.is_empty() && !src.ends_with('\n') {
            inc.text.push('\n');
        }
        inc.file_name = file_name.to_string();
        inc.file_len = src.len();
        inc.file = file;
        let Incremental {
            file, text, state, ..
        } = &mut inc;
        let body = match &file.items[at] {
            Item::Graph(g) => g.body.as_slice(),
            _ => &[],
        };
        let ((), diags) = crate::on_big_stack(|| {
            lower(file, text, state, |l| body.iter().for_each(|s| l.stmt(s)))
        })
        .unwrap_or_else(|d| ((), vec![d]));
        match diags.is_empty() {
            true => Ok(inc),
            false => Err(diags),
        }
    }

    /// Lowers `line` into the graph: statements of a graph body (`input`,
    /// `param`, `NAME = EXPR`, `output`) or bare expressions, separated by
    /// newlines or `;`. A bare expression is bound to `_1`, `_2`, … (a bare
    /// name keeps its own), and [`LAST`] to the latest. Returns every name
    /// the line binds, with its value, in order; on error, the diagnostics,
    /// with spans into `line`, and nothing changed.
    pub fn statement(&mut self, line: &str) -> Result<Vec<(String, ValueId)>, Vec<Diagnostic>> {
        let start = self.text.len();
        self.text.push_str(line);
        self.text.push('\n');
        let lowered =
            crate::on_big_stack(|| self.lower_line(start)).unwrap_or_else(|d| Err(vec![d]));
        match lowered {
            Ok(defined) => {
                self.lines.push(Span::new(start, self.text.len()));
                Ok(defined)
            }
            Err(mut diags) => {
                self.text.truncate(start);
                diags.sort_by_key(|d| d.span.map_or(usize::MAX, |s| s.start));
                diags.dedup();
                Err(diags
                    .into_iter()
                    .map(|d| self.within(d, start, line.len()))
                    .collect())
            }
        }
    }

    fn lower_line(&mut self, start: usize) -> Result<Vec<(String, ValueId)>, Vec<Diagnostic>> {
        let entries = parse::parse_entries(&self.text, start).map_err(|d| vec![d])?;
        // A name bound before this line is reported here, where the message
        // can say which line bound it.
        let mut rebound: HashMap<&str, Diagnostic> = HashMap::new();
        for name in entries.iter().filter_map(binds) {
            if let Some(first) = self.state.scope.get(&name.name).map(|b| b.span) {
                let d = Diagnostic::error(format!("`{}` is already defined", name.name))
                    .at(name.span)
                    .label("defined again here")
                    .note(format!(
                        "`{}` was defined {}; a name is bound once",
                        name.name,
                        self.origin(first)
                    ));
                rebound.insert(&name.name, d);
            }
        }
        let mut results = self.results;
        let Incremental {
            file, text, state, ..
        } = self;
        let (defined, diags) = lower(file, text, state, |l| {
            let mut defined = Vec::new();
            for entry in &entries {
                match entry {
                    Entry::Stmt(s) => {
                        if let Some(d) = binds(entry).and_then(|n| rebound.remove(n.name.as_str()))
                        {
                            l.error(d);
                            continue;
                        }
                        l.stmt(s);
                        defined.extend(new_names(s).filter_map(
                            |n| match l.scope.get(&n.name)?.val {
                                Some(Val::Tensor(v)) => Some((n.name.clone(), v)),
                                _ => None,
                            },
                        ));
                    }
                    Entry::Expr(e) => {
                        let Ok(v) = l.lower_expr(e).and_then(|v| l.tensor(v)) else {
                            continue;
                        };
                        let name = match &e.kind {
                            ExprKind::Name(n) => n.clone(),
                            _ => loop {
                                results += 1;
                                let name = format!("_{results}");
                                if !l.scope.contains_key(&name) {
                                    break name;
                                }
                            },
                        };
                        let node = l.graph.node_mut(v);
                        if node.name.is_none() {
                            node.name = Some(name.clone());
                        }
                        for bound in [name.as_str(), LAST] {
                            let ident = Ident {
                                name: bound.to_string(),
                                span: e.span,
                            };
                            l.bind(&ident, Some(Val::Tensor(v)));
                        }
                        defined.push((name, v));
                    }
                }
            }
            defined
        });
        if !diags.is_empty() {
            return Err(diags);
        }
        self.results = results;
        Ok(defined)
    }

    /// Lowers a `train` item typed at the prompt, `train GRAPH { … }` for
    /// this graph, checking the names it uses against those in scope.
    /// Diagnostics have spans into `text`.
    pub fn train_item(&mut self, text: &str) -> Result<TrainSpec, Vec<Diagnostic>> {
        let lowered = crate::on_big_stack(|| {
            let (file, mut diags) = parse::parse_file(text);
            let t = match file.items.as_slice() {
                _ if !diags.is_empty() => return Err(diags),
                [Item::Train(t)] => t,
                _ => {
                    let d = Diagnostic::error("expected one train item: `train GRAPH { … }`");
                    return Err(vec![d.at(Span::new(0, text.len()))]);
                }
            };
            let g = &self.state.graph;
            let names: GraphNames = self
                .state
                .scope
                .iter()
                .filter_map(|(name, b)| Some((name.clone(), Some(g.ty(tensor(b)?).clone()))))
                .collect();
            let graphs = HashMap::from([(g.name.as_str(), Some(names))]);
            match lower_train(t, &graphs, text, &mut diags) {
                Some(spec) if diags.is_empty() => Ok(spec),
                _ => Err(diags),
            }
        });
        let mut spec = lowered.unwrap_or_else(|d| Err(vec![d]))?;
        // Its place, like those of statements, is in the text.
        let lines_before = self.text.matches('\n').count() as u32;
        if let Some(loc) = &mut spec.loc {
            loc.line += lines_before;
        }
        let start = self.text.len();
        self.text.push_str(text);
        self.text.push('\n');
        self.lines.push(Span::new(start, self.text.len()));
        Ok(spec)
    }

    /// `d` with its span moved into the line that starts at `start` in the
    /// text and is `len` bytes long; a span outside it becomes a note.
    fn within(&self, mut d: Diagnostic, start: usize, len: usize) -> Diagnostic {
        match d.span {
            Some(s) if s.start >= start => {
                let at = |o: usize| (o - start).min(len);
                d.span = Some(Span::new(at(s.start), at(s.end.max(s.start))));
            }
            Some(s) => {
                d.span = None;
                d.notes
                    .insert(0, format!("the error is {}", self.origin(s)));
            }
            None => {}
        }
        d
    }

    /// Where a span of the text is, in words: a place in the file, or the
    /// line typed earlier that holds it.
    fn origin(&self, span: Span) -> String {
        if span.start < self.file_len {
            let (line, col) = line_col(&self.text, span.start);
            return format!("at {}:{line}:{col}", self.file_name);
        }
        let at = self.lines.partition_point(|l| l.start <= span.start);
        match at.checked_sub(1).map(|i| self.lines[i]) {
            Some(line) => format!("by `{}`", self.text[line.start..line.end].trim()),
            None => "earlier".to_string(),
        }
    }

    /// The graph built so far.
    pub fn graph(&self) -> &Graph {
        &self.state.graph
    }

    /// The file's text followed by every accepted line: the text that the
    /// graph's places ([`tfg_ir::Loc`]) refer to.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `span` of [`Incremental::text`] lies in the file rather than
    /// in a line typed later.
    pub fn in_file(&self, span: Span) -> bool {
        span.start < self.file_len
    }

    /// The value bound to `name`.
    pub fn lookup(&self, name: &str) -> Option<ValueId> {
        self.state.scope.get(name).and_then(tensor)
    }

    /// Every name in scope, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.state.scope.keys().map(String::as_str)
    }

    /// The names of the file's fns.
    pub fn fn_names(&self) -> impl Iterator<Item = &str> {
        self.file.items.iter().filter_map(|i| match i {
            Item::Fn(f) => Some(f.name.name.as_str()),
            _ => None,
        })
    }

    /// Inputs whose default feed is a `.npy` file, in the order declared.
    pub fn input_paths(&self) -> &[InputPath] {
        &self.state.input_paths
    }
}

/// Runs `body` with a lowerer that holds `state`'s graph and scope, then
/// keeps what it built, or, if it reported an error, restores the graph (it
/// only ever appends nodes and outputs) and the scope. Returns what `body`
/// returned and every diagnostic.
fn lower<T>(
    file: &File,
    text: &str,
    state: &mut State,
    body: impl FnOnce(&mut GraphLowerer) -> T,
) -> (T, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    state.line_starts.extend(text);
    let lines = std::mem::take(&mut state.line_starts);
    let module = FileScope::with_lines(file, text, lines, &mut diags);
    let mut l = GraphLowerer::new(&module, &state.graph.name);
    let (nodes, outputs) = (state.graph.nodes.len(), state.graph.outputs.len());
    l.graph = std::mem::take(&mut state.graph);
    l.scope = std::mem::take(&mut state.scope);
    let out = body(&mut l);
    diags.append(&mut l.diags);
    state.graph = std::mem::take(&mut l.graph);
    state.scope = std::mem::take(&mut l.scope);
    if diags.is_empty() {
        // Only tensors stay in scope.
        for (name, _) in &l.bound {
            if state.scope.get(name).and_then(tensor).is_none() {
                state.scope.remove(name);
            }
        }
        state.input_paths.append(&mut l.input_paths);
    } else {
        // Undone in reverse, so a name bound twice gets its first value.
        for (name, before) in l.bound.drain(..).rev() {
            match before {
                Some(b) => state.scope.insert(name, b),
                None => state.scope.remove(&name),
            };
        }
        state.graph.nodes.truncate(nodes);
        state.graph.outputs.truncate(outputs);
    }
    drop(l);
    state.line_starts = module.into_lines();
    (out, diags)
}

/// The tensor a name in scope stands for.
fn tensor(b: &Bound) -> Option<ValueId> {
    match b.val {
        Some(Val::Tensor(v)) => Some(v),
        _ => None,
    }
}

/// The name an entry declares or binds, if any.
fn binds(entry: &Entry) -> Option<&Ident> {
    match entry {
        Entry::Stmt(s) => new_names(s).next(),
        Entry::Expr(_) => None,
    }
}

/// The names a statement binds (not those `output a, b` only marks).
fn new_names(s: &Stmt) -> impl Iterator<Item = &Ident> {
    match &s.kind {
        StmtKind::Input { name, .. } | StmtKind::Param { name, .. } => Some(name),
        StmtKind::Let(b) | StmtKind::OutputLet(b) => Some(&b.name),
        StmtKind::Output(_) | StmtKind::Error { .. } => None,
    }
    .into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::render;

    const HELLO: [&str; 5] = [
        "input x: f32 = 1.0",
        "param w: f32 = 0.8",
        "y = w * x",
        "loss = (y - 0.0) ** 2",
        "output y, loss",
    ];

    /// `g` without source places, which differ between a file and lines.
    fn placeless(g: &Graph) -> Graph {
        let mut g = g.clone();
        g.nodes.iter_mut().for_each(|n| n.loc = None);
        g
    }

    fn typed(lines: &[&str]) -> Incremental {
        let mut inc = Incremental::new("hello");
        for line in lines {
            if let Err(d) = inc.statement(line) {
                panic!("`{line}` failed: {d:?}");
            }
        }
        inc
    }

    fn error(inc: &mut Incremental, line: &str) -> String {
        let diags = inc.statement(line).expect_err("the line has an error");
        render(&diags, "<repl>", line, false)
    }

    #[test]
    fn lines_build_the_graph_the_file_builds() {
        let file = format!("graph hello {{\n{}\n}}\n", HELLO.join("\n"));
        let program = crate::compile(&file).expect("hello compiles");
        assert_eq!(
            placeless(typed(&HELLO).graph()),
            placeless(&program.graphs[0])
        );
    }

    #[test]
    fn a_file_graph_takes_more_lines_and_its_fns() {
        let src = "fn double(a) = a * 2\ngraph g {\n    input x: f32[2] = [1, 2]\n}\n";
        let mut inc = Incremental::from_file("f.tfg", src, "g").expect("the file compiles");
        let defined = inc.statement("y = double(x)").expect("y lowers");
        assert_eq!(defined.len(), 1);
        assert_eq!(defined[0].0, "y");
        assert_eq!(inc.lookup("y"), Some(defined[0].1));
        assert_eq!(inc.fn_names().collect::<Vec<_>>(), ["double"]);
        // Places are in the file's text followed by the typed lines.
        let z = inc.statement("z = y * 3").expect("z lowers")[0].1;
        let loc = inc.graph().node(z).loc.expect("z has a place");
        assert_eq!((loc.line, loc.col), (6, 5));
    }

    #[test]
    fn bare_expressions_are_named_in_turn() {
        let mut inc = typed(&HELLO[..3]);
        let first = inc.statement("y * 2").expect("lowers");
        let second = inc.statement("_ + 1; w").expect("lowers");
        assert_eq!(first[0].0, "_1");
        assert_eq!(
            second.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["_2", "w"]
        );
        assert_eq!(inc.lookup(LAST), inc.lookup("w"));
        let sum = inc.graph().node(second[0].1);
        assert_eq!(sum.args[0], first[0].1, "`_` was the value of `y * 2`");
    }

    #[test]
    fn a_failed_line_changes_nothing() {
        let mut inc = typed(&HELLO[..3]);
        let (graph, names) = (inc.graph().clone(), inc.names().count());
        // The first statement would lower; the second fails, so neither counts.
        error(&mut inc, "a = y + 1; b = y @ [1, 2, 3]");
        error(&mut inc, "c = (y +");
        assert_eq!(inc.graph(), &graph);
        assert_eq!(inc.names().count(), names);
        assert_eq!(inc.lookup("a"), None);
        inc.statement("a = y + 1").expect("`a` is still free");
    }

    #[test]
    fn errors_point_into_the_typed_line() {
        let mut inc = typed(&HELLO[..3]);
        let text = error(&mut inc, "z = y + [1, 2] @ w");
        assert!(text.contains(" --> <repl>:1:9\n"), "{text}");
        assert!(text.contains("1 | z = y + [1, 2] @ w\n"), "{text}");
        let text = error(&mut inc, "z = y +");
        assert!(text.starts_with("error: expected "), "{text}");
        assert!(text.contains(" --> <repl>:1:8\n"), "{text}");
    }

    #[test]
    fn a_train_item_is_checked_against_the_names_in_scope() {
        let mut inc = typed(&HELLO);
        let spec = inc
            .train_item("train hello {\n  minimize loss\n  optimizer sgd(lr = 0.5)\n  steps 3\n}")
            .expect("the item lowers");
        assert_eq!((spec.minimize.as_str(), spec.steps), ("loss", 3));
        assert_eq!(
            spec.loc.map(|l| l.line),
            Some(6),
            "after the five typed lines"
        );
        let diags = inc
            .train_item("train hello { minimize los; optimizer sgd(lr = 1); steps 1 }")
            .expect_err("`los` is not defined");
        assert!(diags[0].message.contains("los"), "{diags:?}");
    }

    #[test]
    fn a_second_binding_names_the_line_that_made_the_first() {
        let mut inc = typed(&HELLO[..3]);
        let text = error(&mut inc, "y = 2 * x");
        assert!(text.starts_with("error: `y` is already defined"), "{text}");
        assert!(text.contains("`y` was defined by `y = w * x`"), "{text}");
        let src = "graph g {\n    input x: f32\n}\n";
        let mut inc = Incremental::from_file("g.tfg", src, "g").expect("compiles");
        let text = error(&mut inc, "param x: f32 = 1");
        assert!(text.contains("`x` was defined at g.tfg:2:11"), "{text}");
    }
}
