//! The Kernel IR: loop nests over flat buffers, the level both code generators
//! translate.
//!
//! A [`Program`] is what one run of a (specialised) graph executes: a list of
//! [`Buffer`]s, a list of [`Kernel`]s run in order, and a [`Plan`] that places
//! every temporary buffer in one arena, so a run (a training step included)
//! allocates nothing. A kernel is one fused group of Graph IR ops: a body of
//! [`Stmt`]s — loops, scalar locals, stores and GEMM calls — over scalar
//! [`Expr`]essions. Multi-dimensional indexing is integer arithmetic on loop
//! variables ([`Index`]), so broadcasts, transposes and reshapes are address
//! computations, never copies.
//!
//! Scalar math is the Graph IR's own: [`Expr::Unary`] and [`Expr::Binary`]
//! apply a [`UnaryOp`] / [`BinaryOp`] with exactly the semantics those ops
//! have on one element (integer floor division, numpy's NaN rules, …), and
//! the type rule of [`mod@crate::infer`] applied to scalars.
//!
//! The text form ([`print()`], [`parse`]) writes one statement a line and
//! round-trips exactly; [`verify`] checks scoping, types, buffer roles and the
//! plan. `docs/kernel-ir.md` describes the whole language.

pub mod index;
mod parse;
mod print;
mod verify;

pub use crate::text::ParseError;
pub use index::{Affine, Ranges};
pub use parse::parse;
pub use print::print;
pub use verify::{verify, VerifyError};

use crate::op::{BinaryOp, Init, InputDefault, UnaryOp};
use crate::tensor::Data;
use crate::types::DType;
use std::collections::BTreeSet;
use std::fmt;

/// Byte alignment of every temporary in the arena: a cache line, and enough
/// for any vector width a backend picks.
pub const ARENA_ALIGN: u64 = 64;

/// Everything one run executes.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// Every buffer a kernel touches; [`BufId`] `i` is `buffers[i]`.
    pub buffers: Vec<Buffer>,
    /// Run in order; each kernel sees the writes of the ones before it.
    pub kernels: Vec<Kernel>,
    /// Where each temporary lives in the arena.
    pub plan: Plan,
}

/// Names `Program::buffers[self.0]`; prints as `b3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub u32);

impl BufId {
    /// The position of the buffer in [`Program::buffers`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A flat, row-major array of one dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// The element type; loads and stores move this dtype.
    pub dtype: DType,
    /// The shape of the tensor it holds. Kernels index the buffer flat; the
    /// shape says how results are handed back, and helps readers.
    pub shape: Vec<u64>,
    /// Where its memory comes from and who may write it.
    pub role: Role,
    /// The graph value it holds, for readers (`x`, `loss`); not semantic.
    pub name: Option<String>,
    /// What an input or param buffer holds when the caller gives no value:
    /// the input's default feed, the param's initialiser, as the graph
    /// declared them. The kernels never read it; a Kernel IR dump keeps
    /// it so that the dump runs on its own.
    pub initial: Option<Initial>,
}

/// The value an input or a param starts from, where the caller gives none.
#[derive(Clone, Debug, PartialEq)]
pub enum Initial {
    /// An input's default feed.
    Default(InputDefault),
    /// A param's initialiser.
    Init(Init),
}

impl Buffer {
    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Whether it holds no elements (some dim is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size in bytes.
    pub fn bytes(&self) -> u64 {
        self.len() * self.dtype.size() as u64
    }
}

/// Where a buffer's memory comes from and who sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// The graph's `i`th input (in `Graph::inputs` order); read-only.
    Input(u32),
    /// The graph's `i`th param (in `Graph::params` order); read-only.
    Param(u32),
    /// A constant, with its elements; read-only.
    Const(Data),
    /// The graph's `i`th output, handed back to the caller.
    Output(u32),
    /// The new value of the param of the graph's `i`th update, handed back.
    Update(u32),
    /// Scratch memory inside the arena, at the offset the plan gives it.
    Temp,
}

/// Memory for the temporaries: one arena of `arena_bytes`, each temporary at
/// a fixed byte offset. Temporaries whose lifetimes (the kernels from the
/// first that writes to the last that reads them) do not overlap may share
/// bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Size of the arena in bytes: enough for every temporary at its offset.
    pub arena_bytes: u64,
    /// Byte offset of each buffer, by [`BufId`]: `Some` exactly for temporaries.
    pub offsets: Vec<Option<u64>>,
}

/// One fused group: reads some buffers, writes others.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// The fused group it came from (`k3`), unique in the program; for readers
    /// and profiles.
    pub name: String,
    /// Every buffer the body loads from (or a GEMM reads), ascending.
    pub reads: Vec<BufId>,
    /// Every buffer the body stores to (or a GEMM writes), ascending.
    pub writes: Vec<BufId>,
    /// The statements, run in order.
    pub body: Vec<Stmt>,
}

/// A loop variable; prints as `i3`. Unique within a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Var(pub u32);

/// A scalar local variable; prints as `t3`. Defined by exactly one
/// [`Stmt::Let`] within a kernel, visible in the rest of that block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Local(pub u32);

/// How a loop's iterations depend on each other, as lowering knows it;
/// backends read it rather than rediscover it.
#[derive(Clone, Debug, PartialEq)]
pub enum LoopKind {
    /// In order: nothing is promised.
    Serial,
    /// Independent: iterations write disjoint elements and read nothing
    /// another iteration writes. A backend may split the loop across threads
    /// or map it to the GPU grid. Prints as `parallel for`.
    Parallel,
    /// Independent but for these accumulators: locals defined outside the
    /// loop that its body updates only as `t = op(t, e)` (or `op(e, t)`)
    /// with an associative, commutative `op` (add, mul, maximum, minimum)
    /// and reads nowhere else. A backend may split the loop and combine the
    /// partial results with `op`, starting each from
    /// [`crate::element::identity`]. Prints as `reduce(t0: add) for`.
    Reduce(Vec<(Local, BinaryOp)>),
}

impl LoopKind {
    /// The accumulators of a reduction loop; none for the others.
    pub fn accumulators(&self) -> &[(Local, BinaryOp)] {
        match self {
            LoopKind::Reduce(accs) => accs,
            LoopKind::Serial | LoopKind::Parallel => &[],
        }
    }
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `for var in 0..extent { body }`, its iterations related as `kind` says.
    Loop {
        /// The loop variable, bound in `body` only.
        var: Var,
        /// Number of iterations; the variable runs over `0..extent`.
        extent: u64,
        /// What the loop promises about its iterations.
        kind: LoopKind,
        /// Run once per iteration.
        body: Vec<Stmt>,
    },
    /// Defines `local`, of type `dtype`, as `value`.
    Let {
        /// The local defined; visible in the rest of the enclosing block.
        local: Local,
        /// Its type, which must be `value`'s.
        dtype: DType,
        /// The value it holds.
        value: Expr,
    },
    /// Overwrites a local defined in an enclosing block (reduction accumulators).
    Assign {
        /// The accumulator overwritten; its type does not change.
        local: Local,
        /// The new value, of the local's type.
        value: Expr,
    },
    /// `buf[index] = value`.
    Store {
        /// The buffer written; a kernel writes no input, param or constant.
        buf: BufId,
        /// The element written, flat (row-major), in range of `buf`.
        index: Index,
        /// The value written, of `buf`'s dtype.
        value: Expr,
    },
    /// A matrix product done by a library routine.
    Gemm(Gemm),
}

/// A scalar expression. Evaluation has no side effects.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A constant.
    Const(Scalar),
    /// The value of a local defined earlier.
    Local(Local),
    /// The value of an index expression, as `i64`.
    Index(Index),
    /// `buf[index]`.
    Load {
        /// The buffer read.
        buf: BufId,
        /// The element read, flat (row-major), in range of `buf`.
        index: Index,
    },
    /// A [`UnaryOp`] on one element, with its Graph IR semantics.
    Unary(UnaryOp, Box<Expr>),
    /// A [`BinaryOp`] on two elements of one dtype, with its Graph IR semantics
    /// (no broadcasting).
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `cond ? a : b`; both sides are evaluated (they have no effects).
    Select(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Conversion with the Graph IR's `cast` semantics.
    Cast(DType, Box<Expr>),
}

/// A typed constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    /// An `f32` constant.
    F32(f32),
    /// An `f64` constant.
    F64(f64),
    /// An `i32` constant.
    I32(i32),
    /// An `i64` constant.
    I64(i64),
    /// A `bool` constant.
    Bool(bool),
}

impl Scalar {
    /// The constant's element type.
    pub fn dtype(self) -> DType {
        match self {
            Scalar::F32(_) => DType::F32,
            Scalar::F64(_) => DType::F64,
            Scalar::I32(_) => DType::I32,
            Scalar::I64(_) => DType::I64,
            Scalar::Bool(_) => DType::Bool,
        }
    }

    /// `x` converted to `dtype` as numpy's `astype` does.
    pub fn from_f64(dtype: DType, x: f64) -> Scalar {
        match dtype {
            DType::F32 => Scalar::F32(x as f32),
            DType::F64 => Scalar::F64(x),
            DType::I32 => Scalar::I32(x as i32),
            DType::I64 => Scalar::I64(x as i64),
            DType::Bool => Scalar::Bool(x != 0.0),
        }
    }

    /// Element `i` of `data`, if it has one.
    pub fn from_data(data: &Data, i: usize) -> Option<Scalar> {
        Some(match data {
            Data::F32(v) => Scalar::F32(*v.get(i)?),
            Data::F64(v) => Scalar::F64(*v.get(i)?),
            Data::I32(v) => Scalar::I32(*v.get(i)?),
            Data::I64(v) => Scalar::I64(*v.get(i)?),
            Data::Bool(v) => Scalar::Bool(*v.get(i)?),
        })
    }
}

/// Integer index arithmetic over loop variables; all values are
/// non-negative, and division and remainder are by positive constants (so a
/// backend can strength-reduce them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Index {
    /// A constant.
    Const(u64),
    /// The current iteration of an enclosing loop.
    Var(Var),
    /// Sum.
    Add(Box<Index>, Box<Index>),
    /// Product with a constant.
    Mul(Box<Index>, u64),
    /// Floor division.
    Div(Box<Index>, u64),
    /// Remainder by a positive constant.
    Rem(Box<Index>, u64),
}

/// `c = alpha · op(a) @ op(b) + beta · c` for `batch` independent matrices,
/// where `op(x)` is `x` or its transpose. `a` is `m × k`, `b` is `k × n`, `c`
/// is `m × n` (after `op`). With `beta == 0`, `c` is not read (so whatever it
/// held, NaN included, does not matter).
///
/// Element `(i, l)` of `op(a)` in batch `p` is
/// `a.buf[a.offset + p·a.stride + i·a.ld + l]`, or
/// `a.buf[a.offset + p·a.stride + l·a.ld + i]` when `trans_a`; likewise for
/// `b`, and `c` is never transposed. Integer GEMMs wrap, as numpy's do, and
/// take `alpha == 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    /// Rows of `op(a)` and of `c`.
    pub m: u64,
    /// Columns of `op(b)` and of `c`.
    pub n: u64,
    /// The contracted dim: columns of `op(a)`, rows of `op(b)`.
    pub k: u64,
    /// Number of independent products; 1 for a plain matrix product.
    pub batch: u64,
    /// The left operand, read only.
    pub a: MatRef,
    /// The right operand, read only.
    pub b: MatRef,
    /// The result, written (and read when `beta != 0`).
    pub c: MatRef,
    /// Whether `op(a)` is `a` transposed, so `a` is stored `k × m`.
    pub trans_a: bool,
    /// Whether `op(b)` is `b` transposed, so `b` is stored `n × k`.
    pub trans_b: bool,
    /// Scale of the product, converted to the buffers' dtype.
    pub alpha: f64,
    /// Scale of `c`'s previous value; 0 overwrites `c` without reading it.
    pub beta: f64,
}

/// Where a GEMM operand's matrices are: the first at `offset`, each next one
/// `stride` elements on (0 broadcasts one matrix over the batch), rows `ld`
/// elements apart.
#[derive(Clone, Debug, PartialEq)]
pub struct MatRef {
    /// The buffer holding the matrices.
    pub buf: BufId,
    /// Element offset of the first matrix; may depend on enclosing loop
    /// variables.
    pub offset: Index,
    /// Leading dimension: elements between consecutive rows as stored.
    pub ld: u64,
    /// Elements between consecutive matrices of the batch; 0 repeats one
    /// matrix.
    pub stride: u64,
}

impl fmt::Display for BufId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}", self.0)
    }
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "i{}", self.0)
    }
}

impl fmt::Display for Local {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl Program {
    /// The buffer `b` names, if the program has it.
    pub fn buffer(&self, b: BufId) -> Option<&Buffer> {
        self.buffers.get(b.index())
    }

    /// The buffers with role `Input(i)`, in input order; `None` where an
    /// input has no buffer.
    pub fn inputs(&self) -> Vec<Option<BufId>> {
        self.by_role(|r| match r {
            Role::Input(i) => Some(*i),
            _ => None,
        })
    }

    /// The buffers with role `Param(i)`, in param order.
    pub fn params(&self) -> Vec<Option<BufId>> {
        self.by_role(|r| match r {
            Role::Param(i) => Some(*i),
            _ => None,
        })
    }

    /// The buffers with role `Output(i)`, in output order; `None` where an
    /// output has no buffer.
    pub fn outputs(&self) -> Vec<Option<BufId>> {
        self.by_role(|r| match r {
            Role::Output(i) => Some(*i),
            _ => None,
        })
    }

    /// The buffers with role `Update(i)`, in update order.
    pub fn updates(&self) -> Vec<Option<BufId>> {
        self.by_role(|r| match r {
            Role::Update(i) => Some(*i),
            _ => None,
        })
    }

    fn by_role(&self, pick: impl Fn(&Role) -> Option<u32>) -> Vec<Option<BufId>> {
        let mut found: Vec<Option<BufId>> = Vec::new();
        for (b, buf) in self.buffers.iter().enumerate() {
            if let Some(i) = pick(&buf.role) {
                let i = i as usize;
                if found.len() <= i {
                    found.resize(i + 1, None);
                }
                found[i] = Some(BufId(b as u32));
            }
        }
        found
    }
}

impl Stmt {
    /// Every buffer `body` loads from, stores to or multiplies, nested
    /// statements included.
    pub fn buffers(body: &[Stmt]) -> BTreeSet<BufId> {
        let mut set = BTreeSet::new();
        Stmt::walk(body, &mut |s| {
            match s {
                Stmt::Store { buf, .. } => {
                    set.insert(*buf);
                }
                Stmt::Gemm(g) => set.extend([g.a.buf, g.b.buf, g.c.buf]),
                _ => {}
            }
            for e in s.exprs() {
                e.walk(&mut |x| {
                    if let Expr::Load { buf, .. } = x {
                        set.insert(*buf);
                    }
                });
            }
        });
        set
    }

    /// Calls `f` on every statement of `body`, nested ones included, outer first.
    pub fn walk(body: &[Stmt], f: &mut impl FnMut(&Stmt)) {
        for s in body {
            f(s);
            if let Stmt::Loop { body, .. } = s {
                Stmt::walk(body, f);
            }
        }
    }

    /// The buffers `body` reads and writes, each list ascending: what a
    /// kernel declares as its `reads` and `writes`.
    pub fn accesses(body: &[Stmt]) -> (Vec<BufId>, Vec<BufId>) {
        let (mut reads, mut writes) = (BTreeSet::new(), BTreeSet::new());
        Stmt::walk(body, &mut |s| {
            for e in s.exprs() {
                e.walk(&mut |x| {
                    if let Expr::Load { buf, .. } = x {
                        reads.insert(*buf);
                    }
                });
            }
            match s {
                Stmt::Store { buf, .. } => {
                    writes.insert(*buf);
                }
                Stmt::Gemm(gm) => {
                    reads.insert(gm.a.buf);
                    reads.insert(gm.b.buf);
                    if gm.beta != 0.0 {
                        reads.insert(gm.c.buf);
                    }
                    writes.insert(gm.c.buf);
                }
                _ => {}
            }
        });
        (reads.into_iter().collect(), writes.into_iter().collect())
    }

    /// The expressions this statement evaluates itself (not those of a loop body).
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Stmt::Let { value, .. } | Stmt::Assign { value, .. } | Stmt::Store { value, .. } => {
                vec![value]
            }
            Stmt::Loop { .. } | Stmt::Gemm(_) => Vec::new(),
        }
    }
}

impl Expr {
    /// Calls `f` on this expression and every subexpression, outer first.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Const(_) | Expr::Local(_) | Expr::Index(_) | Expr::Load { .. } => {}
            Expr::Unary(_, a) | Expr::Cast(_, a) => a.walk(f),
            Expr::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Select(c, a, b) => {
                c.walk(f);
                a.walk(f);
                b.walk(f);
            }
        }
    }

    /// Calls `f` on this expression and then on every subexpression of what
    /// `f` left, outer first, left to right: one way to rewrite in place.
    pub fn walk_mut(&mut self, f: &mut impl FnMut(&mut Expr)) {
        f(self);
        match self {
            Expr::Const(_) | Expr::Local(_) | Expr::Index(_) | Expr::Load { .. } => {}
            Expr::Unary(_, a) | Expr::Cast(_, a) => a.walk_mut(f),
            Expr::Binary(_, a, b) => {
                a.walk_mut(f);
                b.walk_mut(f);
            }
            Expr::Select(c, a, b) => {
                c.walk_mut(f);
                a.walk_mut(f);
                b.walk_mut(f);
            }
        }
    }
}

impl Index {
    /// Calls `f` on every loop variable the index uses.
    pub fn vars(&self, f: &mut impl FnMut(Var)) {
        match self {
            Index::Const(_) => {}
            Index::Var(v) => f(*v),
            Index::Add(a, b) => {
                a.vars(f);
                b.vars(f);
            }
            Index::Mul(a, _) | Index::Div(a, _) | Index::Rem(a, _) => a.vars(f),
        }
    }

    /// The value of the index with loop variable `v` set to `value(v)`;
    /// `None` on overflow or division by zero.
    pub fn eval(&self, value: &impl Fn(Var) -> Option<u64>) -> Option<u64> {
        match self {
            Index::Const(c) => Some(*c),
            Index::Var(v) => value(*v),
            Index::Add(a, b) => a.eval(value)?.checked_add(b.eval(value)?),
            Index::Mul(a, c) => a.eval(value)?.checked_mul(*c),
            Index::Div(a, c) => a.eval(value)?.checked_div(*c),
            Index::Rem(a, c) => a.eval(value)?.checked_rem(*c),
        }
    }
}
