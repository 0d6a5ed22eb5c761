//! Lowering: the syntax tree to one [`tfg_ir::Graph`] per `graph` item.
//!
//! Names resolve to values in the graph being built; a name is bound once.
//! `fn`s are checked once on their own (names, calls, recursion), then
//! inlined at every call, their parameters taking the types of the arguments.
//! Builtin calls become IR ops, composites expanded ([`crate::builtin`]).
//!
//! Literals are weakly typed, as in JAX: a literal, or an expression of
//! literals alone such as `2 * 3`, stays a `Weak` value with no dtype until
//! it meets a tensor (then it takes that tensor's dtype), initialises a
//! declaration (the declared dtype), or is bound to a graph name (then it is
//! `bool`, `f32` if any element is floating, else `i32`).
//!
//! Every error is reported and lowering goes on: an expression that fails
//! yields `Reported`, and the name a failed statement binds is poisoned, so
//! later uses of it stay quiet instead of cascading.

use crate::ast::*;
use crate::diag::{did_you_mean, place, Diagnostic, Lines};
use crate::literal::{Literal, Scalar};
use crate::signature::{self, bind_args, ArgKind, Param};
use crate::train::{self, GraphNames};
use crate::{InputPath, Module};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tfg_ir::{
    BinaryOp, DType, Dim, Graph, Init, InputDefault, Loc, Op, Shape, Tensor, Type, UnaryOp, ValueId,
};

/// Where the ops of one call go: its span and the name diagnostics show.
#[derive(Clone, Copy, Debug)]
pub(crate) struct At {
    pub span: Span,
    pub name: &'static str,
}

/// An error that has already been recorded as a diagnostic.
#[derive(Debug)]
pub(crate) struct Reported;

pub(crate) type Lowered<T> = Result<T, Reported>;

/// A value during lowering: a node of the graph, or a literal expression
/// still waiting for its dtype.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    Tensor(ValueId),
    Weak(Arc<Weak>),
}

/// An expression of literals alone, not yet given a dtype.
#[derive(Debug)]
pub(crate) enum Weak {
    Lit(Literal, Span),
    Unary(UnaryOp, Arc<Weak>, Span),
    Binary(BinOp, Arc<Weak>, Arc<Weak>, Span),
}

impl Weak {
    fn any(&self, f: &impl Fn(&Literal) -> bool) -> bool {
        match self {
            Weak::Lit(l, _) => f(l),
            Weak::Unary(_, a, _) => a.any(f),
            Weak::Binary(_, a, b, _) => a.any(f) || b.any(f),
        }
    }

    /// The dtype it takes alone.
    pub(crate) fn default_dtype(&self) -> DType {
        if self.any(&Literal::has_bool) {
            DType::Bool
        } else if self.any(&Literal::has_float) {
            DType::F32
        } else {
            DType::I32
        }
    }

    /// The literal, if this is a plain one.
    pub(crate) fn literal(&self) -> Option<&Literal> {
        match self {
            Weak::Lit(l, _) => Some(l),
            _ => None,
        }
    }
}

/// What a name in scope stands for; `val` is `None` when the statement that
/// bound it failed (the name is poisoned).
#[derive(Clone, Debug)]
pub(crate) struct Bound {
    pub(crate) val: Option<Val>,
    pub(crate) span: Span,
}

/// How deeply lowering may recurse through expressions and inlined fns
/// together; parsing bounds a single expression, this bounds their nesting
/// through calls.
const MAX_LOWERING_DEPTH: u32 = 512;

/// Lowers a parsed file: every graph, then every `train` item.
pub fn lower_file(file: &File, src: &str) -> (Module, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let module = FileScope::new(file, src, &mut diags);
    let mut graphs = Vec::new();
    let mut input_paths = Vec::new();
    let mut names: HashMap<&str, Option<GraphNames>> = HashMap::new();
    let mut first_span: HashMap<&str, Span> = HashMap::new();
    for item in &file.items {
        match item {
            Item::Graph(g) => {
                if let Some(first) = first_span.get(g.name.name.as_str()) {
                    diags.push(
                        Diagnostic::error(format!("graph `{}` is defined twice", g.name.name))
                            .at(g.name.span)
                            .label("second definition")
                            .note(format!("first defined at {}", place(src, first.start))),
                    );
                    continue;
                }
                first_span.insert(&g.name.name, g.name.span);
                let (graph, graph_names, paths, graph_diags) =
                    GraphLowerer::new(&module, &g.name.name).run(g);
                diags.extend(graph_diags);
                input_paths.extend(paths);
                names.insert(&g.name.name, Some(graph_names));
                graphs.push(graph);
            }
            Item::Broken {
                kind: ItemKind::Graph,
                name: Some(n),
            } => {
                names.entry(&n.name).or_insert(None);
            }
            _ => {}
        }
    }
    let mut trains = Vec::new();
    let mut trained: HashMap<&str, Span> = HashMap::new();
    for item in &file.items {
        if let Item::Train(t) = item {
            if let Some(first) = trained.get(t.graph.name.as_str()) {
                diags.push(
                    Diagnostic::error(format!("graph `{}` has two train items", t.graph.name))
                        .at(t.graph.span)
                        .label("second train item")
                        .note(format!("the first is at {}", place(src, first.start))),
                );
                continue;
            }
            trained.insert(&t.graph.name, t.graph.span);
            if let Some(spec) = train::lower_train(t, &names, src, &mut diags) {
                trains.push(spec);
            }
        }
    }
    (
        Module {
            graphs,
            trains,
            input_paths,
            serves: Vec::new(),
        },
        diags,
    )
}

/// The file-wide context of lowering: the source and the `fn`s.
pub(crate) struct FileScope<'f> {
    pub(crate) src: &'f str,
    /// Where each line of `src` starts, so that a node's place is found in
    /// logarithmic time (every node has one).
    lines: Lines,
    /// Every fn by name; `None` for one that is broken (its errors are
    /// already reported, so calls to it stay quiet).
    fns: HashMap<&'f str, Option<&'f FnItem>>,
}

impl<'f> FileScope<'f> {
    /// Collects the fns and checks each on its own: duplicate and builtin
    /// names, parameters, names and calls in its body, and recursion.
    pub(crate) fn new(file: &'f File, src: &'f str, diags: &mut Vec<Diagnostic>) -> FileScope<'f> {
        FileScope::with_lines(file, src, Lines::new(src), diags)
    }

    /// The lines of `src`, for the next text that extends it.
    pub(crate) fn into_lines(self) -> Lines {
        self.lines
    }

    /// [`new`](Self::new) with the `lines` of `src` already found.
    pub(crate) fn with_lines(
        file: &'f File,
        src: &'f str,
        lines: Lines,
        diags: &mut Vec<Diagnostic>,
    ) -> FileScope<'f> {
        let mut fns: HashMap<&'f str, Option<&'f FnItem>> = HashMap::new();
        let mut order: Vec<&'f FnItem> = Vec::new();
        for item in &file.items {
            match item {
                Item::Fn(f) => {
                    let name = f.name.name.as_str();
                    if signature::find(name).is_some() {
                        diags.push(
                            Diagnostic::error(format!(
                                "`{name}` is a builtin function; a fn cannot take its name"
                            ))
                            .at(f.name.span),
                        );
                    } else if let Some(first) = order.iter().find(|g| g.name.name == name) {
                        diags.push(
                            Diagnostic::error(format!("fn `{name}` is defined twice"))
                                .at(f.name.span)
                                .label("second definition")
                                .note(format!(
                                    "first defined at {}",
                                    place(src, first.name.span.start)
                                )),
                        );
                    } else {
                        fns.insert(name, Some(f));
                        order.push(f);
                    }
                }
                Item::Broken {
                    kind: ItemKind::Fn,
                    name: Some(n),
                } => {
                    fns.entry(n.name.as_str()).or_insert(None);
                }
                _ => {}
            }
        }
        let mut module = FileScope { src, fns, lines };
        let mut calls: HashMap<&'f str, Vec<(&'f str, Span)>> = HashMap::new();
        for f in &order {
            let mut checker = FnChecker {
                module: &module,
                f,
                names: HashSet::new(),
                calls: Vec::new(),
                diags,
            };
            let ok = checker.check();
            calls.insert(&f.name.name, checker.calls);
            if !ok {
                module.fns.insert(&f.name.name, None);
            }
        }
        for broken in find_recursion(&order, &calls, src, diags) {
            module.fns.insert(broken, None);
        }
        module
    }
}

/// Checks a fn body without types: every name is a parameter or an earlier
/// binding, every call names a function and fits its parameters.
struct FnChecker<'m, 'f, 'd> {
    module: &'m FileScope<'f>,
    f: &'f FnItem,
    names: HashSet<&'f str>,
    /// The fns it calls, for finding recursion.
    calls: Vec<(&'f str, Span)>,
    diags: &'d mut Vec<Diagnostic>,
}

impl<'f> FnChecker<'_, 'f, '_> {
    fn check(&mut self) -> bool {
        let before = self.diags.len();
        for p in &self.f.params {
            if !self.names.insert(&p.name) {
                self.diags.push(
                    Diagnostic::error(format!(
                        "parameter `{}` appears twice in fn `{}`",
                        p.name, self.f.name.name
                    ))
                    .at(p.span),
                );
            }
        }
        for b in &self.f.bindings {
            self.expr(&b.value);
            if !self.names.insert(&b.name.name) {
                self.diags.push(
                    Diagnostic::error(format!("`{}` is defined twice", b.name.name))
                        .at(b.name.span)
                        .label("second definition")
                        .note(format!("names in fn `{}` are bound once", self.f.name.name)),
                );
            }
        }
        self.expr(&self.f.result);
        self.diags.len() == before
    }

    fn expr(&mut self, e: &'f Expr) {
        match &e.kind {
            ExprKind::Name(n) if !self.names.contains(n.as_str()) => {
                let mut d = Diagnostic::error(format!("unknown name `{n}`"))
                    .at(e.span)
                    .label(format!("not defined in fn `{}`", self.f.name.name));
                if let Some(help) = did_you_mean(n, self.names.iter().copied()) {
                    d = d.note(help);
                }
                self.diags
                    .push(d.note("help: a fn sees only its parameters and its own bindings"));
            }
            ExprKind::Array(items) => items.iter().for_each(|x| self.expr(x)),
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Index { base, items } => {
                self.expr(base);
                for item in items {
                    match item {
                        IndexItem::At(e) => self.expr(e),
                        IndexItem::Range {
                            start, stop, step, ..
                        } => [start, stop, step]
                            .into_iter()
                            .flatten()
                            .for_each(|e| self.expr(e)),
                        IndexItem::Ellipsis(_) => {}
                    }
                }
            }
            ExprKind::Call { func, args, kwargs } => self.call(e, func, args, kwargs),
            _ => {}
        }
    }

    fn call(
        &mut self,
        e: &'f Expr,
        func: &'f Ident,
        args: &'f [Expr],
        kwargs: &'f [(Ident, Expr)],
    ) {
        let user_params;
        let params: &[Param] = match self.module.fns.get(func.name.as_str()) {
            Some(Some(callee)) => {
                self.calls.push((&func.name, e.span));
                user_params = fn_params(&callee.params);
                &user_params
            }
            // A broken fn: its own errors are reported; check the arguments.
            Some(None) => {
                args.iter()
                    .chain(kwargs.iter().map(|(_, a)| a))
                    .for_each(|a| self.expr(a));
                return;
            }
            None => match signature::find(&func.name) {
                Some(b) => b.params,
                None => {
                    self.diags.push(unknown_function(func, self.module));
                    return;
                }
            },
        };
        match bind_args(&func.name, params, args, kwargs, e.span) {
            Err(d) => self.diags.push(d),
            Ok(bound) => {
                for (p, arg) in params.iter().zip(bound) {
                    match (p.kind, arg) {
                        (ArgKind::Value, Some(a)) => self.expr(a),
                        (
                            ArgKind::Values,
                            Some(Expr {
                                kind: ExprKind::Array(items),
                                ..
                            }),
                        ) => items.iter().for_each(|x| self.expr(x)),
                        (ArgKind::Values, Some(a)) => self.expr(a),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// A user fn's parameters, as builtin signatures describe theirs.
fn fn_params(params: &[Ident]) -> Vec<Param<'_>> {
    params.iter().map(|p| Param::value(&p.name)).collect()
}

impl FileScope<'_> {
    /// Every function name a call may use, for suggestions.
    fn function_names(&self) -> impl Iterator<Item = &str> {
        self.fns
            .keys()
            .copied()
            .chain(signature::NAMES.iter().copied())
    }
}

fn unknown_function(func: &Ident, module: &FileScope) -> Diagnostic {
    let mut d = Diagnostic::error(format!("unknown function `{}`", func.name))
        .at(func.span)
        .label("not a builtin or a fn of this file");
    if let Some(help) = did_you_mean(&func.name, module.function_names()) {
        d = d.note(help);
    }
    d
}

/// Finds cycles in the fn call graph (fns are inlined, so none may recurse),
/// reports each at the call that closes it, and returns the fns on a cycle.
fn find_recursion<'f>(
    order: &[&'f FnItem],
    calls: &HashMap<&'f str, Vec<(&'f str, Span)>>,
    src: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<&'f str> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let mut state: HashMap<&str, State> = order
        .iter()
        .map(|f| (f.name.name.as_str(), State::New))
        .collect();
    let mut on_cycle = Vec::new();
    for root in order {
        let root = root.name.name.as_str();
        if state[root] != State::New {
            continue;
        }
        // An explicit stack of (fn, next call to follow), so that long call
        // chains cannot overflow the native stack.
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        state.insert(root, State::Open);
        while let Some(&mut (f, ref mut next)) = stack.last_mut() {
            let edges = calls.get(f).map_or(&[][..], |c| c.as_slice());
            let Some(&(callee, span)) = edges.get(*next) else {
                state.insert(f, State::Done);
                stack.pop();
                continue;
            };
            *next += 1;
            match state.get(callee).copied() {
                Some(State::New) => {
                    state.insert(callee, State::Open);
                    stack.push((callee, 0));
                }
                Some(State::Open) => {
                    let from = stack.iter().position(|(g, _)| *g == callee).unwrap_or(0);
                    let cycle: Vec<&str> = stack[from..].iter().map(|(g, _)| *g).collect();
                    let path = cycle
                        .iter()
                        .chain([&callee])
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" -> ");
                    diags.push(
                        Diagnostic::error(format!("fn `{callee}` is recursive: {path}"))
                            .at(span)
                            .label("recursive call")
                            .note(format!(
                                "fns are inlined at every call, so they cannot call themselves (`{callee}` is defined at {})",
                                order
                                    .iter()
                                    .find(|g| g.name.name == callee)
                                    .map_or_else(String::new, |g| place(src, g.name.span.start))
                            )),
                    );
                    on_cycle.extend(cycle);
                }
                _ => {}
            }
        }
    }
    on_cycle
}

/// A fn being inlined: its name and the call that inlines it.
struct Frame {
    name: String,
    call: Span,
}

/// Builds one graph from its statements.
pub(crate) struct GraphLowerer<'m, 'f> {
    pub(crate) m: &'m FileScope<'f>,
    pub(crate) graph: Graph,
    pub(crate) scope: HashMap<String, Bound>,
    /// Every name [`bind`](Self::bind) has bound, in order, with what it
    /// stood for before: what a line at the prompt changed in the scope, to
    /// keep or to undo (`Incremental`) without copying the scope a line.
    pub(crate) bound: Vec<(String, Option<Bound>)>,
    /// Where each graph-level name is bound, to say "defined later" when a
    /// name is used before its statement.
    later: HashMap<String, Span>,
    frames: Vec<Frame>,
    depth: u32,
    pub(crate) diags: Vec<Diagnostic>,
    /// Inputs whose default feed is a `.npy` file named by a string.
    pub(crate) input_paths: Vec<InputPath>,
    /// Whether the graph has passed [`MAX_VALUES`] (reported once).
    too_large: bool,
}

/// The most values one graph may have once its fns are inlined: a bound on
/// the work a small file can ask for (fns that call each other twice per
/// level double at every level).
pub(crate) const MAX_VALUES: usize = 1_000_000;

impl<'m, 'f> GraphLowerer<'m, 'f> {
    pub(crate) fn new(m: &'m FileScope<'f>, name: &str) -> GraphLowerer<'m, 'f> {
        GraphLowerer {
            m,
            graph: Graph::new(name),
            scope: HashMap::new(),
            bound: Vec::new(),
            later: HashMap::new(),
            frames: Vec::new(),
            depth: 0,
            diags: Vec::new(),
            input_paths: Vec::new(),
            too_large: false,
        }
    }

    fn run(mut self, g: &GraphItem) -> (Graph, GraphNames, Vec<InputPath>, Vec<Diagnostic>) {
        for s in &g.body {
            let bound = match &s.kind {
                StmtKind::Input { name, .. } | StmtKind::Param { name, .. } => Some(name),
                StmtKind::Let(b) | StmtKind::OutputLet(b) => Some(&b.name),
                _ => None,
            };
            if let Some(n) = bound {
                self.later.entry(n.name.clone()).or_insert(n.span);
            }
        }
        for s in &g.body {
            self.stmt(s);
        }
        let names = self
            .scope
            .iter()
            .map(|(n, b)| {
                let ty = match b.val {
                    Some(Val::Tensor(v)) => Some(self.graph.ty(v).clone()),
                    _ => None,
                };
                (n.clone(), ty)
            })
            .collect();
        (self.graph, names, self.input_paths, self.diags)
    }

    /// Records `d`, noting the fn calls it sits in, and says it is reported.
    pub(crate) fn error(&mut self, mut d: Diagnostic) -> Reported {
        for frame in self.frames.iter().rev() {
            d.notes.push(format!(
                "in fn `{}`, inlined at {}",
                frame.name,
                place(self.m.src, frame.call.start)
            ));
        }
        self.diags.push(d);
        Reported
    }

    /// The error for a graph past [`MAX_VALUES`], reported once, at the
    /// graph's statement that holds the place (the outermost fn call).
    fn too_large(&mut self, span: Span) -> Reported {
        if !self.too_large {
            self.too_large = true;
            let at = self.frames.first().map_or(span, |f| f.call);
            let mut d = Diagnostic::error(format!(
                "graph `{}` is too large: more than {MAX_VALUES} values once its fns are inlined",
                self.graph.name
            ))
            .at(at);
            if !self.frames.is_empty() {
                d = d.label("this call inlines too many values").note(
                    "help: each call of a fn inlines a copy of its body, so fns that call others several times grow exponentially",
                );
            }
            self.diags.push(d);
        }
        Reported
    }

    fn loc(&self, span: Span) -> Loc {
        let (line, col) = self.m.lines.line_col(self.m.src, span.start);
        Loc { line, col }
    }

    /// Appends `op(args)`, located at `span`; a type error becomes a
    /// diagnostic there, its label naming the surface form `what`.
    pub(crate) fn add(
        &mut self,
        op: Op,
        args: &[ValueId],
        span: Span,
        what: &str,
    ) -> Lowered<ValueId> {
        if self.graph.nodes.len() >= MAX_VALUES {
            return Err(self.too_large(span));
        }
        match self.graph.add(op, args) {
            Ok(v) => {
                self.graph.node_mut(v).loc = Some(self.loc(span));
                Ok(v)
            }
            Err(e) => Err(self.error(
                Diagnostic::error(e.message)
                    .at(span)
                    .label(format!("in `{what}`")),
            )),
        }
    }

    /// The nodes `build` adds to the graph (an [`crate::expand`]ed builtin),
    /// placed at `span` as [`GraphLowerer::add`] places one.
    pub(crate) fn expand(
        &mut self,
        span: Span,
        what: &str,
        build: impl FnOnce(&mut Graph) -> Result<ValueId, tfg_ir::TypeError>,
    ) -> Lowered<ValueId> {
        if self.graph.nodes.len() >= MAX_VALUES {
            return Err(self.too_large(span));
        }
        let first = self.graph.nodes.len();
        match build(&mut self.graph) {
            Ok(v) => {
                let loc = self.loc(span);
                for node in &mut self.graph.nodes[first..] {
                    node.loc = Some(loc);
                }
                Ok(v)
            }
            Err(e) => Err(self.error(
                Diagnostic::error(e.message)
                    .at(span)
                    .label(format!("in `{what}`")),
            )),
        }
    }

    pub(crate) fn ty(&self, v: ValueId) -> &Type {
        self.graph.ty(v)
    }

    // ---- statements ----

    pub(crate) fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Input { name, ty, default } => {
                let ty = type_of(ty);
                // A string default names a .npy file, which the driver loads.
                if let Some(Expr {
                    kind: ExprKind::Str(path),
                    span,
                    ..
                }) = default
                {
                    self.input_paths.push(InputPath {
                        graph: self.graph.name.clone(),
                        input: name.name.clone(),
                        path: path.clone(),
                        span: *span,
                    });
                }
                let file_default = default.as_ref();
                let default = default
                    .as_ref()
                    .filter(|e| !matches!(e.kind, ExprKind::Str(_)))
                    .map(|e| self.default_feed(e, &ty, &name.name))
                    .transpose();
                if self.check_unbound(&name.name, name.span) {
                    let val = default.ok().map(|d| {
                        let v = self.graph.add_input(&name.name, ty, d);
                        let loc = Some(self.loc(name.span));
                        let node = self.graph.node_mut(v);
                        node.loc = loc;
                        if let (
                            Op::Input { default, .. },
                            Some(Expr {
                                kind: ExprKind::Str(path),
                                ..
                            }),
                        ) = (&mut node.op, file_default)
                        {
                            *default = Some(InputDefault::File(path.clone()));
                        }
                        Val::Tensor(v)
                    });
                    self.bind(name, val);
                }
            }
            StmtKind::Param { name, ty, init } => {
                let ty = type_of(ty);
                let init = self.param_init(init, &ty, &name.name);
                if self.check_unbound(&name.name, name.span) {
                    let val = init.ok().map(|init| {
                        let v = self.graph.add_param(&name.name, ty, init);
                        self.graph.node_mut(v).loc = Some(self.loc(name.span));
                        Val::Tensor(v)
                    });
                    self.bind(name, val);
                }
            }
            StmtKind::Let(b) => {
                self.let_binding(b);
            }
            StmtKind::Output(names) => {
                for n in names {
                    if let Ok(Val::Tensor(v)) = self.lookup(&n.name, n.span) {
                        self.output(n, v);
                    }
                }
            }
            StmtKind::OutputLet(b) => {
                if let Some(v) = self.let_binding(b) {
                    self.output(&b.name, v);
                }
            }
            StmtKind::Error { binds: Some(name) } => {
                if !self.scope.contains_key(&name.name) {
                    self.bind(name, None);
                }
            }
            StmtKind::Error { binds: None } => {}
        }
    }

    pub(crate) fn bind(&mut self, name: &Ident, val: Option<Val>) {
        let before = self.scope.insert(
            name.name.clone(),
            Bound {
                val,
                span: name.span,
            },
        );
        self.bound.push((name.name.clone(), before));
    }

    /// Reports a second binding of `name`; true if it is free.
    fn check_unbound(&mut self, name: &str, span: Span) -> bool {
        let Some(first) = self.scope.get(name) else {
            return true;
        };
        let first = place(self.m.src, first.span.start);
        self.error(
            Diagnostic::error(format!("`{name}` is defined twice"))
                .at(span)
                .label("second definition")
                .note(format!("first defined at {first}; a name is bound once")),
        );
        false
    }

    /// `NAME = EXPR` at graph level: the value gets the name, literals their
    /// default dtype.
    fn let_binding(&mut self, b: &Binding) -> Option<ValueId> {
        let val = self.lower_expr(&b.value).and_then(|v| self.tensor(v));
        if !self.check_unbound(&b.name.name, b.name.span) {
            return None;
        }
        let v = val.ok();
        if let Some(v) = v {
            let node = self.graph.node_mut(v);
            if node.name.is_none() {
                node.name = Some(b.name.name.clone());
            }
        }
        self.bind(&b.name, v.map(Val::Tensor));
        v
    }

    fn output(&mut self, name: &Ident, v: ValueId) {
        if self.graph.outputs.iter().any(|(n, _)| *n == name.name) {
            self.error(
                Diagnostic::error(format!("`{}` is already an output", name.name)).at(name.span),
            );
            return;
        }
        self.graph.outputs.push((name.name.clone(), v));
    }

    /// An input's default feed: a literal of the declared dtype and shape, or
    /// a scalar that fills a known shape (kept a scalar: the driver fills it).
    fn default_feed(&mut self, e: &Expr, ty: &Type, name: &str) -> Lowered<Tensor> {
        let lit = Literal::from_expr(e).map_err(|d| self.error(d))?;
        let lit = self.fit_shape(lit, ty, name, e.span, true)?;
        lit.to_tensor(ty.dtype)
            .map_err(|m| self.error(Diagnostic::error(m).at(e.span)))
    }

    /// Checks a literal's shape against a declared type. A scalar stays a
    /// scalar; with `fill` (a default feed) the shape it fills must be known.
    fn fit_shape(
        &mut self,
        lit: Literal,
        ty: &Type,
        name: &str,
        span: Span,
        fill: bool,
    ) -> Lowered<Literal> {
        if lit.shape.is_empty() && ty.shape.rank() > 0 {
            if !fill {
                return Ok(lit);
            }
            if ty.shape.is_symbolic() {
                return Err(self.error(
                    Diagnostic::error(format!(
                        "a scalar default cannot fill {ty}: its shape has symbolic dims"
                    ))
                    .at(span)
                    .note(format!("help: give `{name}` an array default, or none")),
                ));
            }
            // The scalar stays one element: whoever feeds the default fills
            // the shape, after checking that it fits in memory.
            return Ok(lit);
        }
        let mut sizes: HashMap<&str, usize> = HashMap::new();
        let fits = lit.shape.len() == ty.shape.rank()
            && lit.shape.iter().zip(&ty.shape.0).all(|(&n, d)| match d {
                Dim::Known(k) => *k == n as u64,
                Dim::Sym(s) => *sizes.entry(s).or_insert(n) == n,
            });
        if !fits {
            return Err(self.error(
                Diagnostic::error(format!(
                    "this literal has shape {:?}, but `{name}` is declared {ty}",
                    lit.shape
                ))
                .at(span),
            ));
        }
        Ok(lit)
    }

    /// A param's INIT (a literal or an initialiser such as `glorot`),
    /// checked against its declared type.
    fn param_init(&mut self, e: &Expr, ty: &Type, name: &str) -> Lowered<Init> {
        let float_only = |this: &mut Self, what: &str| -> Lowered<()> {
            if ty.dtype.is_float() {
                return Ok(());
            }
            Err(this.error(
                Diagnostic::error(format!("`{what}` needs a float param, but `{name}` is {ty}"))
                    .at(e.span)
                    .note("help: random initialisers draw floats; use `zeros`, `ones`, `full(v)` or a literal"),
            ))
        };
        match &e.kind {
            ExprKind::Name(n) if n == "zeros" => Ok(Init::Zeros),
            ExprKind::Name(n) if n == "ones" => Ok(Init::Ones),
            ExprKind::Name(n) if n == "glorot" => float_only(self, "glorot").map(|_| Init::Glorot),
            ExprKind::Call { func, args, kwargs } if is_init(&func.name) => {
                let sig = signature::init_signature(&func.name);
                let bound =
                    bind_args(&func.name, sig, args, kwargs, e.span).map_err(|d| self.error(d))?;
                let of_dtype = func.name == "full";
                let num = |this: &mut Self, k: usize, default: f64| match bound[k] {
                    Some(a) => this.init_number(a, ty, of_dtype),
                    None => Ok(default),
                };
                match func.name.as_str() {
                    "full" => Ok(Init::Full(num(self, 0, 0.0)?)),
                    "uniform" => {
                        let (lo, hi) = (num(self, 0, 0.0)?, num(self, 1, 1.0)?);
                        float_only(self, "uniform")?;
                        if lo > hi {
                            return Err(self.error(
                                Diagnostic::error(format!("uniform({lo}, {hi}) needs lo <= hi"))
                                    .at(e.span),
                            ));
                        }
                        Ok(Init::Uniform { lo, hi })
                    }
                    _ => {
                        let (mean, std) = (num(self, 0, 0.0)?, num(self, 1, 1.0)?);
                        float_only(self, "normal")?;
                        if std < 0.0 {
                            return Err(self.error(
                                Diagnostic::error(format!("normal(…) needs std >= 0, got {std}"))
                                    .at(e.span),
                            ));
                        }
                        Ok(Init::Normal { mean, std })
                    }
                }
            }
            _ => match Literal::from_expr(e) {
                Ok(lit) => {
                    let lit = self.fit_shape(lit, ty, name, e.span, false)?;
                    let t = lit
                        .to_tensor(ty.dtype)
                        .map_err(|m| self.error(Diagnostic::error(m).at(e.span)))?;
                    Ok(Init::Literal(t))
                }
                Err(_) => {
                    let mut d = Diagnostic::error(format!("expected an initialiser for `{name}`"))
                        .at(e.span)
                        .label("not an initialiser")
                        .note("an initialiser is a literal, `zeros`, `ones`, `full(v)`, `uniform(lo, hi)`, `normal(mean = 0, std = 1)` or `glorot`");
                    let word = match &e.kind {
                        ExprKind::Name(n) => Some(n.as_str()),
                        ExprKind::Call { func, .. } => Some(func.name.as_str()),
                        _ => None,
                    };
                    if let Some(help) =
                        word.and_then(|w| did_you_mean(w, INITIALISERS.iter().copied()))
                    {
                        d = d.note(help);
                    }
                    Err(self.error(d))
                }
            },
        }
    }

    /// A scalar number argument of an initialiser; for `full` it must also
    /// fit the param's dtype.
    fn init_number(&mut self, e: &Expr, ty: &Type, of_dtype: bool) -> Lowered<f64> {
        let lit = match Literal::from_expr(e) {
            Ok(l) if l.shape.is_empty() => l,
            _ => return Err(self.error(Diagnostic::error("expected a number").at(e.span))),
        };
        let dtype = if of_dtype { ty.dtype } else { DType::F64 };
        let t = lit
            .to_tensor(dtype)
            .map_err(|m| self.error(Diagnostic::error(m).at(e.span)))?;
        Ok(t.data.get_f64(0))
    }

    // ---- expressions ----

    /// The value of `name` in scope; poisoned names fail quietly.
    pub(crate) fn lookup(&mut self, name: &str, span: Span) -> Lowered<Val> {
        if let Some(b) = self.scope.get(name) {
            return b.val.clone().ok_or(Reported);
        }
        let mut d = Diagnostic::error(format!("unknown name `{name}`")).at(span);
        match self.frames.last() {
            Some(f) => d = d.label(format!("not defined in fn `{}`", f.name)),
            None => {
                d = d.label(format!("not defined in graph `{}`", self.graph.name));
                if let Some(at) = self.later.get(name) {
                    d = d.note(format!(
                        "`{name}` is defined later, at {}; a value must be defined before it is used",
                        place(self.m.src, at.start)
                    ));
                }
            }
        }
        if !self.later.contains_key(name) {
            if let Some(help) = did_you_mean(name, self.scope.keys().map(String::as_str)) {
                d = d.note(help);
            }
        }
        if self.m.fns.contains_key(name) || signature::find(name).is_some() {
            d = d.note(format!(
                "help: `{name}` is a function; call it as `{name}(…)`"
            ));
        }
        Err(self.error(d))
    }

    pub(crate) fn lower_expr(&mut self, e: &Expr) -> Lowered<Val> {
        if self.depth >= MAX_LOWERING_DEPTH {
            return Err(self.error(
                Diagnostic::error("expressions and fn calls nest too deeply here")
                    .at(e.span)
                    .label("too deep"),
            ));
        }
        self.depth += 1;
        let v = self.expr_inner(e);
        self.depth -= 1;
        v
    }

    fn expr_inner(&mut self, e: &Expr) -> Lowered<Val> {
        let weak = |lit| Ok(Val::Weak(Arc::new(Weak::Lit(lit, e.span))));
        match &e.kind {
            ExprKind::Int(n) => weak(Literal::scalar(Scalar::Int(*n))),
            ExprKind::Float(x) => weak(Literal::scalar(Scalar::Float(*x))),
            ExprKind::Bool(b) => weak(Literal::scalar(Scalar::Bool(*b))),
            ExprKind::Str(_) => Err(self.error(
                Diagnostic::error("a string is not a value")
                    .at(e.span)
                    .label("strings appear only where a path is expected"),
            )),
            ExprKind::Name(n) => self.lookup(n, e.span),
            ExprKind::Array(items) => match Literal::from_expr(e) {
                Ok(lit) => weak(lit),
                Err(d) => {
                    let joins_values = items
                        .iter()
                        .any(|x| matches!(x.kind, ExprKind::Name(_) | ExprKind::Call { .. }));
                    let d = if joins_values {
                        d.note("help: to join tensors, use `concat([a, b], axis)`")
                    } else {
                        d
                    };
                    Err(self.error(d))
                }
            },
            ExprKind::Unary {
                op: UnOp::Neg,
                operand,
            } => match Literal::from_expr(e) {
                // A negated literal is a negative constant, not a `neg` op.
                Ok(lit) => weak(lit),
                _ => {
                    let v = self.lower_expr(operand)?;
                    self.unary(UnaryOp::Neg, v, e.span, "-")
                }
            },
            ExprKind::Unary {
                op: UnOp::Not,
                operand,
            } => {
                let v = self.lower_expr(operand)?;
                self.unary(UnaryOp::Not, v, e.span, "!")
            }
            ExprKind::Binary { op, lhs, rhs, .. } => {
                let l = self.lower_expr(lhs);
                let r = self.lower_expr(rhs);
                self.binary(*op, l?, r?, e.span)
            }
            ExprKind::Call { func, args, kwargs } => self.call(e, func, args, kwargs),
            ExprKind::Index { base, items } => self.index(base, items, e.span),
        }
    }

    fn unary(&mut self, op: UnaryOp, v: Val, span: Span, what: &str) -> Lowered<Val> {
        match v {
            Val::Weak(w) => Ok(Val::Weak(Arc::new(Weak::Unary(op, w, span)))),
            Val::Tensor(t) => Ok(Val::Tensor(self.add(Op::Unary(op), &[t], span, what)?)),
        }
    }

    /// `l op r`; two weak operands of an arithmetic operator stay weak.
    pub(crate) fn binary(&mut self, op: BinOp, l: Val, r: Val, span: Span) -> Lowered<Val> {
        if let (Val::Weak(a), Val::Weak(b)) = (&l, &r) {
            if !op.is_comparison() {
                return Ok(Val::Weak(Arc::new(Weak::Binary(
                    op,
                    a.clone(),
                    b.clone(),
                    span,
                ))));
            }
        }
        let args = self.unify(vec![l, r])?;
        Ok(Val::Tensor(self.apply(op, args[0], args[1], span)?))
    }

    /// `a op b` as IR ops: one op, or numpy's floor modulo for `%`.
    fn apply(&mut self, op: BinOp, a: ValueId, b: ValueId, span: Span) -> Lowered<ValueId> {
        let b_op = match op {
            BinOp::MatMul => return self.add(Op::MatMul, &[a, b], span, op.symbol()),
            BinOp::Mod => {
                let at = At { span, name: "%" };
                return self.floor_mod(at, a, b);
            }
            BinOp::Pow => BinaryOp::Pow,
            BinOp::Mul => BinaryOp::Mul,
            BinOp::Div => BinaryOp::Div,
            BinOp::Add => BinaryOp::Add,
            BinOp::Sub => BinaryOp::Sub,
            BinOp::Lt => BinaryOp::Lt,
            BinOp::Le => BinaryOp::Le,
            BinOp::Gt => BinaryOp::Gt,
            BinOp::Ge => BinaryOp::Ge,
            BinOp::Eq => BinaryOp::Eq,
            BinOp::Ne => BinaryOp::Ne,
        };
        self.add(Op::Binary(b_op), &[a, b], span, op.symbol())
    }

    /// Nodes for values that must share a dtype: weak ones take the dtype of
    /// the first tensor among them, or, all weak, their joint default.
    pub(crate) fn unify(&mut self, vals: Vec<Val>) -> Lowered<Vec<ValueId>> {
        let dtype = vals
            .iter()
            .find_map(|v| match v {
                Val::Tensor(t) => Some(self.ty(*t).dtype),
                Val::Weak(_) => None,
            })
            .unwrap_or_else(|| {
                let defaults: Vec<DType> = vals
                    .iter()
                    .filter_map(|v| match v {
                        Val::Weak(w) => Some(w.default_dtype()),
                        Val::Tensor(_) => None,
                    })
                    .collect();
                if defaults.contains(&DType::F32) {
                    DType::F32
                } else if defaults.contains(&DType::I32) {
                    DType::I32
                } else {
                    DType::Bool
                }
            });
        let mut out = Vec::new();
        let mut failed = false;
        for v in vals {
            match self.tensor_of(v, dtype) {
                Ok(t) => out.push(t),
                Err(_) => failed = true,
            }
        }
        if failed {
            return Err(Reported);
        }
        Ok(out)
    }

    /// The node of `v`; a weak value takes its default dtype.
    pub(crate) fn tensor(&mut self, v: Val) -> Lowered<ValueId> {
        match v {
            Val::Tensor(t) => Ok(t),
            Val::Weak(w) => self.materialize(&w, w.default_dtype()),
        }
    }

    /// The node of `v` for an op that needs floats: a weak number is `f32`.
    pub(crate) fn float_tensor(&mut self, v: Val) -> Lowered<ValueId> {
        match v {
            Val::Weak(w) if w.default_dtype() != DType::Bool => self.materialize(&w, DType::F32),
            v => self.tensor(v),
        }
    }

    /// The node of `v`, a weak value taking `dtype`.
    fn tensor_of(&mut self, v: Val, dtype: DType) -> Lowered<ValueId> {
        match v {
            Val::Tensor(t) => Ok(t),
            Val::Weak(w) => self.materialize(&w, dtype),
        }
    }

    fn materialize(&mut self, w: &Weak, dtype: DType) -> Lowered<ValueId> {
        match w {
            Weak::Lit(lit, span) => match lit.to_tensor(dtype) {
                Ok(t) => self.add(Op::Const(t), &[], *span, "literal"),
                Err(m) => Err(self.error(Diagnostic::error(m).at(*span))),
            },
            Weak::Unary(op, a, span) => {
                let a = self.materialize(
                    a,
                    if *op == UnaryOp::Not {
                        DType::Bool
                    } else {
                        dtype
                    },
                )?;
                self.add(
                    Op::Unary(*op),
                    &[a],
                    *span,
                    if *op == UnaryOp::Not { "!" } else { "-" },
                )
            }
            Weak::Binary(op, a, b, span) => {
                let a = self.materialize(a, dtype);
                let b = self.materialize(b, dtype);
                self.apply(*op, a?, b?, *span)
            }
        }
    }

    fn call(
        &mut self,
        e: &Expr,
        func: &Ident,
        args: &[Expr],
        kwargs: &[(Ident, Expr)],
    ) -> Lowered<Val> {
        if let Some(&f) = self.m.fns.get(func.name.as_str()) {
            return match f {
                Some(f) => self.inline(f, e, args, kwargs),
                None => Err(Reported),
            };
        }
        match signature::find(&func.name) {
            Some(b) => self.builtin(b, e, args, kwargs),
            None => Err(self.error(unknown_function(func, self.m))),
        }
    }

    /// Inlines fn `f` at call `e`: arguments are lowered in the caller's
    /// scope, then the body in a scope of its own.
    fn inline(
        &mut self,
        f: &FnItem,
        e: &Expr,
        args: &[Expr],
        kwargs: &[(Ident, Expr)],
    ) -> Lowered<Val> {
        // Past the bound, no call inlines anything (each would fail, and
        // there may be exponentially many of them).
        if self.too_large {
            return Err(Reported);
        }
        let params = fn_params(&f.params);
        let bound =
            bind_args(&f.name.name, &params, args, kwargs, e.span).map_err(|d| self.error(d))?;
        let mut scope = HashMap::new();
        let mut failed = false;
        for (p, arg) in f.params.iter().zip(bound) {
            let val = arg.ok_or(Reported).and_then(|a| self.lower_expr(a));
            failed |= val.is_err();
            scope.insert(
                p.name.clone(),
                Bound {
                    val: val.ok(),
                    span: p.span,
                },
            );
        }
        if failed {
            return Err(Reported);
        }
        let caller_scope = std::mem::replace(&mut self.scope, scope);
        self.frames.push(Frame {
            name: f.name.name.clone(),
            call: e.span,
        });
        for b in &f.bindings {
            let val = self.lower_expr(&b.value).ok();
            self.scope.insert(
                b.name.name.clone(),
                Bound {
                    val,
                    span: b.name.span,
                },
            );
        }
        let result = self.lower_expr(&f.result);
        self.frames.pop();
        self.scope = caller_scope;
        result
    }

    /// The weak literal a name stands for, if it stands for one (a fn
    /// parameter given a literal argument), for static arguments like `axis`.
    pub(crate) fn weak_literal(&self, e: &Expr) -> Option<Literal> {
        let ExprKind::Name(n) = &e.kind else {
            return None;
        };
        match self.scope.get(n)?.val.as_ref()? {
            Val::Weak(w) => w.literal().cloned(),
            Val::Tensor(_) => None,
        }
    }

    /// Whether `name` is bound to a tensor in scope.
    pub(crate) fn is_tensor_name(&self, name: &str) -> bool {
        matches!(
            self.scope.get(name).and_then(|b| b.val.as_ref()),
            Some(Val::Tensor(_))
        )
    }
}

/// Every initialiser's name, for suggestions.
const INITIALISERS: &[&str] = &["zeros", "ones", "full", "uniform", "normal", "glorot"];

fn is_init(name: &str) -> bool {
    matches!(name, "full" | "uniform" | "normal")
}

fn type_of(t: &TypeExpr) -> Type {
    Type::new(
        t.dtype,
        Shape(t.dims.iter().map(|(d, _)| d.clone()).collect()),
    )
}
