//! The syntax tree of a `.tfg` file, as the parser builds it.
//!
//! Every node carries a [`Span`] (a byte range into the source) so that
//! lowering can point its diagnostics at the text the user wrote.

use tfg_ir::{DType, Dim};

/// A byte range `start..end` into the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A name as written, with its place.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole file: its items in source order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Graph(GraphItem),
    Fn(FnItem),
    Train(TrainItem),
    Serve(ServeItem),
    /// An item whose header did not parse. Its name, when the parser got that
    /// far, lets lowering stay quiet about later uses of it.
    Broken {
        kind: ItemKind,
        name: Option<Ident>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    Graph,
    Fn,
    Train,
    Serve,
}

/// `graph NAME { STATEMENT* }`
#[derive(Clone, Debug, PartialEq)]
pub struct GraphItem {
    pub name: Ident,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `fn NAME(a, b) = EXPR` (no bindings) or `fn NAME(a, b) { x = …  return EXPR }`.
#[derive(Clone, Debug, PartialEq)]
pub struct FnItem {
    pub name: Ident,
    pub params: Vec<Ident>,
    pub bindings: Vec<Binding>,
    pub result: Expr,
    pub span: Span,
}

/// `train GRAPH { TRAIN-STATEMENT* }`
#[derive(Clone, Debug, PartialEq)]
pub struct TrainItem {
    pub graph: Ident,
    pub body: Vec<TrainStmt>,
    pub span: Span,
}

/// `serve GRAPH [as SIGNATURE] { SERVE-STATEMENT* }`: a signature for serving.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeItem {
    pub graph: Ident,
    /// The name after `as`; without it the signature is `serving_default`.
    pub signature: Option<Ident>,
    pub body: Vec<ServeStmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServeStmt {
    pub kind: ServeStmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ServeStmtKind {
    /// `inputs NAME, …`: the inputs a request feeds.
    Inputs(Vec<Ident>),
    /// `outputs NAME, …`: the values a response returns, in this order.
    Outputs(Vec<Ident>),
    Error,
}

/// `NAME = EXPR`
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `input NAME: TYPE` with an optional `= LITERAL` default feed.
    Input {
        name: Ident,
        ty: TypeExpr,
        default: Option<Expr>,
    },
    /// `param NAME: TYPE = INIT`
    Param {
        name: Ident,
        ty: TypeExpr,
        init: Expr,
    },
    /// `NAME = EXPR`
    Let(Binding),
    /// `output NAME, …`
    Output(Vec<Ident>),
    /// `output NAME = EXPR`
    OutputLet(Binding),
    /// A statement that did not parse; `binds` is the name it would have bound,
    /// so that later uses of it do not report a second, derived error.
    Error { binds: Option<Ident> },
}

/// `DTYPE` or `DTYPE[D0, D1, …]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub dtype: DType,
    pub dims: Vec<(Dim, Span)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainStmt {
    pub kind: TrainStmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TrainStmtKind {
    Minimize(Ident),
    /// `optimizer NAME(args)`, kept as a call.
    Optimizer(Expr),
    Steps(Expr),
    Batch(Expr),
    Log(Vec<Ident>),
    /// `clip_norm C`
    ClipNorm(Expr),
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-a`
    Neg,
    /// `!a`
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Pow,
    MatMul,
    Mul,
    Div,
    /// `%`, numpy's floor modulo.
    Mod,
    Add,
    Sub,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Pow => "**",
            BinOp::MatMul => "@",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// Nesting height of the tree below (a leaf is 1). The parser bounds it so
    /// that the recursive walks over expressions cannot overflow the stack.
    pub height: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer literal (no `.` and no exponent).
    Int(i64),
    /// A literal with `.` or an exponent.
    Float(f64),
    Bool(bool),
    /// A string, escapes resolved; only valid where a path is expected.
    Str(String),
    Name(String),
    /// `[e0, e1, …]`: a literal tensor, a list of dims, or a list of values,
    /// depending on where it appears.
    Array(Vec<Expr>),
    /// `f(positional…, key = value…)`
    Call {
        func: Ident,
        args: Vec<Expr>,
        kwargs: Vec<(Ident, Expr)>,
    },
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `base[item, …]`: numpy basic indexing with constant indices.
    Index {
        base: Box<Expr>,
        items: Vec<IndexItem>,
    },
}

/// One entry of `x[…]`.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexItem {
    /// `i`: picks one element and removes the axis.
    At(Expr),
    /// `start:stop:step`, each part optional.
    Range {
        start: Option<Box<Expr>>,
        stop: Option<Box<Expr>>,
        step: Option<Box<Expr>>,
        span: Span,
    },
    /// `...`: the axes not named.
    Ellipsis(Span),
}

impl Expr {
    /// A node whose height is one more than its tallest child's.
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        let below = match &kind {
            ExprKind::Array(items) => items.iter().map(|e| e.height).max().unwrap_or(0),
            ExprKind::Call { args, kwargs, .. } => args
                .iter()
                .chain(kwargs.iter().map(|(_, e)| e))
                .map(|e| e.height)
                .max()
                .unwrap_or(0),
            ExprKind::Unary { operand, .. } => operand.height,
            ExprKind::Binary { lhs, rhs, .. } => lhs.height.max(rhs.height),
            ExprKind::Index { base, items } => items
                .iter()
                .flat_map(|item| match item {
                    IndexItem::At(e) => vec![e],
                    IndexItem::Range {
                        start, stop, step, ..
                    } => [start, stop, step]
                        .into_iter()
                        .flatten()
                        .map(|e| &**e)
                        .collect(),
                    IndexItem::Ellipsis(_) => vec![],
                })
                .map(|e| e.height)
                .chain([base.height])
                .max()
                .unwrap_or(0),
            _ => 0,
        };
        Expr {
            kind,
            span,
            height: below + 1,
        }
    }

    pub fn leaf(kind: ExprKind, span: Span) -> Expr {
        Expr {
            kind,
            span,
            height: 1,
        }
    }
}
