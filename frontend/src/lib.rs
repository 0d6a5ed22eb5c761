//! The `.tfg` frontend: source text in, Graph IR out.
//!
//! [`compile`] parses a file ([`parse`] → [`ast`]), then lowers every graph to
//! a [`tfg_ir::Graph`] and every `train` item to a [`tfg_ir::TrainSpec`]
//! ([`lower`]), resolving names, inlining `fn`s, applying the weak-typing rule
//! for literals ([`literal`]) and expanding composite builtins into IR ops
//! ([`builtin`], `composite`, `window` for convolution and pooling, `index`
//! for `x[…]`). Every error in the file is reported as a [`Diagnostic`]
//! with the place it refers to; [`diag::render`] prints them as rustc does.
//!
//! Lowering keeps everything it knows about one graph (the graph so far and
//! the names in scope) in one `GraphLowerer` that takes statements one at a
//! time, so a REPL can lower each statement it reads into a graph that is
//! already built ([`incremental`]); [`entry`] says where an entry typed at
//! the prompt ends.
//!
//! This crate knows the surface language and the IR's builder API. It must
//! not know about passes, backends, files on disk or the command line.

pub mod ast;
pub mod builtin;
mod composite;
pub mod diag;
pub mod entry;
pub mod expand;
pub mod incremental;
mod index;
pub mod literal;
pub mod lower;
pub mod parse;
pub mod serve;
pub mod signature;
pub mod train;
mod window;
mod winograd;

pub use diag::Diagnostic;
pub use incremental::Incremental;
pub use literal::{Literal, Scalar};
use tfg_ir::{Graph, TrainSpec};

/// A compiled file: its graphs and its training set-ups, in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub graphs: Vec<Graph>,
    pub trains: Vec<TrainSpec>,
    /// Inputs whose default feed is a file: `input x: f32[N, 4] = "x.npy"`.
    pub input_paths: Vec<InputPath>,
    /// The signatures of `serve` items, in source order.
    pub serves: Vec<serve::Signature>,
}

/// An input whose default feed is the `.npy` file at `path`, relative to the
/// directory of the `.tfg` file that names it.
#[derive(Clone, Debug, PartialEq)]
pub struct InputPath {
    pub graph: String,
    pub input: String,
    pub path: String,
    /// The string literal, for errors about the file.
    pub span: ast::Span,
}

/// Why [`Module::graph`] found no graph to work on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphChoiceError {
    /// A name was given and no graph has it; `graphs` are those there are.
    NoSuchGraph { name: String, graphs: Vec<String> },
    /// No name was given and the file has no graph.
    NoGraph,
    /// No name was given and the file has several graphs.
    Several { graphs: Vec<String> },
}

impl GraphChoiceError {
    /// The graphs there are, as a message lists them: `` `a`, `b` ``.
    pub fn listed(graphs: &[String]) -> String {
        graphs
            .iter()
            .map(|g| format!("`{g}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for GraphChoiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GraphChoiceError::NoSuchGraph { name, graphs } if graphs.is_empty() => {
                write!(f, "no graph named `{name}`: the file has no graph")
            }
            GraphChoiceError::NoSuchGraph { name, graphs } => {
                let listed = GraphChoiceError::listed(graphs);
                write!(f, "no graph named `{name}`; the file has {listed}")
            }
            GraphChoiceError::NoGraph => f.write_str("the file has no graph"),
            GraphChoiceError::Several { graphs } => {
                let listed = GraphChoiceError::listed(graphs);
                write!(
                    f,
                    "the file has several graphs ({listed}); name the one to use"
                )
            }
        }
    }
}

impl Module {
    /// The graph a command works on: the one named, or the only one when no
    /// name is given.
    pub fn graph(&self, name: Option<&str>) -> Result<&Graph, GraphChoiceError> {
        let graphs = || self.graphs.iter().map(|g| g.name.clone()).collect();
        match name {
            Some(name) => self.graphs.iter().find(|g| g.name == name).ok_or_else(|| {
                GraphChoiceError::NoSuchGraph {
                    name: name.to_string(),
                    graphs: graphs(),
                }
            }),
            None => match self.graphs.as_slice() {
                [g] => Ok(g),
                [] => Err(GraphChoiceError::NoGraph),
                _ => Err(GraphChoiceError::Several { graphs: graphs() }),
            },
        }
    }

    /// The file that gives input `input` of graph `graph` its default feed.
    pub fn input_path(&self, graph: &str, input: &str) -> Option<&InputPath> {
        self.input_paths
            .iter()
            .find(|p| p.graph == graph && p.input == input)
    }

    /// The signatures of graph `name`, in source order.
    pub fn signatures<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a serve::Signature> {
        self.serves.iter().filter(move |s| s.graph == name)
    }

    /// The `train` item for graph `name`, if the file has one.
    pub fn train(&self, name: &str) -> Option<&TrainSpec> {
        self.trains.iter().find(|t| t.graph == name)
    }
}

/// Parses and lowers a whole file, reporting every error found (sorted by
/// position) rather than only the first.
pub fn compile(src: &str) -> Result<Module, Vec<Diagnostic>> {
    on_big_stack(|| compile_here(src)).unwrap_or_else(|d| Err(vec![d]))
}

fn compile_here(src: &str) -> Result<Module, Vec<Diagnostic>> {
    let (file, mut diags) = parse::parse_file(src);
    let (mut program, lower_diags) = lower::lower_file(&file, src);
    // Graphs with errors of their own: their names are not checked again.
    let failed = file
        .items
        .iter()
        .filter_map(|item| match item {
            ast::Item::Graph(g) => Some(g),
            _ => None,
        })
        .filter(|g| {
            lower_diags.iter().any(|d| {
                d.span
                    .is_some_and(|s| s.start >= g.span.start && s.end <= g.span.end)
            })
        })
        .map(|g| g.name.name.clone())
        .collect();
    program.serves = serve::lower_serves(
        &file,
        &program.graphs,
        &program.input_paths,
        &failed,
        src,
        &mut diags,
    );
    diags.extend(lower_diags);
    if diags.is_empty() {
        return Ok(program);
    }
    diags.sort_by_key(|d| d.span.map_or(usize::MAX, |s| s.start));
    diags.dedup();
    Err(diags)
}

/// Parses a literal in `.tfg` syntax, as `--feed x=[1, 2, 3]` gives it:
/// numbers (optionally negative), `true`/`false`, nested arrays of them.
/// Spans in the error refer to `text`.
pub fn parse_literal(text: &str) -> Result<Literal, Diagnostic> {
    on_big_stack(|| Literal::from_expr(&parse::parse_expr(text)?))?
}

/// Stack for parsing and lowering. Both recurse over the nesting of the
/// source, which they bound ([`parse::MAX_NESTING`] and the lowering depth),
/// and this holds the deepest nesting they accept even in a debug build,
/// whose frames are large.
const STACK_BYTES: usize = 64 << 20;

thread_local! {
    /// Whether this thread is one [`on_big_stack`] started.
    static BIG_STACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Tells the frontend that the calling thread was started with `bytes` of
/// stack: with at least what [`on_big_stack`] gives its threads, it then
/// compiles on this thread instead of starting one a call (the `tfg`
/// binary's commands, and a REPL line after line, run on such a thread).
pub fn started_with_stack(bytes: usize) {
    if bytes >= STACK_BYTES {
        BIG_STACK.set(true);
    }
}

/// Runs `f` on a thread of its own with 64 MiB of stack (`STACK_BYTES`), as rustc
/// does, so that no input can overflow the caller's stack; on such a thread
/// already, runs it there. A caller that compiles many pieces in turn (the
/// ONNX importer, a statement a node) runs them all inside one call, rather
/// than starting a thread a piece.
pub fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, Diagnostic> {
    if BIG_STACK.get() {
        return Ok(f());
    }
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("tfg-frontend".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(s, || {
                BIG_STACK.set(true);
                f()
            })
            .map_err(|e| Diagnostic::error(format!("cannot start the compiler's thread: {e}")))?;
        match worker.join() {
            Ok(out) => Ok(out),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
