//! The Kernel IR interpreter: runs a lowered [`Program`] statement by
//! statement, so that lowering is tested without any code generator.
//!
//! It executes exactly what the program says, with the scalar semantics of
//! `tfg_ir::element`, as the Graph IR interpreter does (f32 math in f32,
//! numpy's NaN and integer rules). Temporaries live where the buffer
//! plan puts them, in one byte arena that starts filled with NaN bit patterns,
//! so a plan that lets two live values share bytes, or a kernel that reads
//! memory nobody wrote, shows up as wrong results rather than going unseen.
//! Every access is bounds-checked: a malformed program is an error, never a
//! panic.

use crate::{Outputs, RunError};
use tfg_ir::element::{self, with_numeric, Num};
use tfg_ir::kernel::{self, BufId, Expr, Gemm, Local, Program, Role, Scalar, Stmt, Var};
use tfg_ir::{DType, Data, Tensor};

/// Runs `p` once. `inputs` and `params` are in the order of the graph the
/// program was lowered from, each of its buffer's dtype and shape. Gives the
/// outputs and updates in their buffers' order.
pub fn run_program(p: &Program, inputs: &[Tensor], params: &[Tensor]) -> Result<Outputs, RunError> {
    kernel::verify(p).map_err(|e| error(format!("invalid program: {e}")))?;
    let mut m = Memory::new(p, inputs, params)?;
    for k in &p.kernels {
        let mut env = Env::for_body(&k.body);
        m.block(&k.body, &mut env)
            .map_err(|e| error(format!("kernel {}: {e}", k.name)))?;
    }
    let outputs = m.results(&p.outputs(), "output")?;
    let updates = m.results(&p.updates(), "update")?;
    Ok(Outputs { outputs, updates })
}

fn error(message: String) -> RunError {
    RunError { message, loc: None }
}

/// Where a buffer's elements are.
enum Storage<'a> {
    /// Fed by the caller, or a constant: read-only.
    Borrowed(&'a Data),
    /// A result, handed back at the end.
    Owned(Data),
    /// A temporary, at this byte offset in the arena.
    Arena(usize),
}

struct Memory<'a> {
    p: &'a Program,
    storage: Vec<Storage<'a>>,
    arena: Vec<u8>,
}

/// The values of loop variables and locals, by id.
struct Env {
    vars: Vec<u64>,
    locals: Vec<Option<Scalar>>,
}

impl Env {
    fn for_body(body: &[Stmt]) -> Env {
        let (mut vars, mut locals) = (0, 0);
        Stmt::walk(body, &mut |s| match s {
            Stmt::Loop { var, .. } => vars = vars.max(var.0 as usize + 1),
            Stmt::Let { local, .. } => locals = locals.max(local.0 as usize + 1),
            _ => {}
        });
        Env {
            vars: vec![0; vars],
            locals: vec![None; locals],
        }
    }

    fn var(&self, v: Var) -> Option<u64> {
        self.vars.get(v.0 as usize).copied()
    }

    fn local(&self, l: Local) -> Result<Scalar, String> {
        self.locals
            .get(l.0 as usize)
            .copied()
            .flatten()
            .ok_or_else(|| format!("{l} is read before it is set"))
    }

    fn set(&mut self, l: Local, x: Scalar) -> Result<(), String> {
        let slot = self
            .locals
            .get_mut(l.0 as usize)
            .ok_or_else(|| format!("{l} is not defined"))?;
        *slot = Some(x);
        Ok(())
    }

    fn index(&self, i: &kernel::Index) -> Result<usize, String> {
        i.eval(&|v| self.var(v))
            .and_then(|x| usize::try_from(x).ok())
            .ok_or_else(|| "an index overflows".to_string())
    }
}

/// Bytes of NaN (or -1, or true) that temporaries start as.
const POISON: u8 = 0xff;

impl<'a> Memory<'a> {
    fn new(
        p: &'a Program,
        inputs: &'a [Tensor],
        params: &'a [Tensor],
    ) -> Result<Memory<'a>, RunError> {
        let count = |f: fn(&Role) -> bool| p.buffers.iter().filter(|b| f(&b.role)).count();
        let (n_in, n_par) = (
            count(|r| matches!(r, Role::Input(_))),
            count(|r| matches!(r, Role::Param(_))),
        );
        if inputs.len() != n_in || params.len() != n_par {
            return Err(error(format!(
                "the program takes {n_in} inputs and {n_par} params, but was given {} and {}",
                inputs.len(),
                params.len()
            )));
        }
        let arena_len = usize::try_from(p.plan.arena_bytes)
            .map_err(|_| error("the arena is too large".into()))?;
        let mut storage = Vec::with_capacity(p.buffers.len());
        for (i, b) in p.buffers.iter().enumerate() {
            let fed = |kind: &str, t: &'a Tensor| {
                let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
                if t.dtype() != b.dtype || shape != b.shape {
                    return Err(error(format!(
                        "{kind} {} must be {} {:?}, but was given {} {:?}",
                        b.name.as_deref().unwrap_or("?"),
                        b.dtype,
                        b.shape,
                        t.dtype(),
                        t.shape
                    )));
                }
                Ok(Storage::Borrowed(&t.data))
            };
            storage.push(match &b.role {
                Role::Input(n) => fed("input", &inputs[*n as usize])?,
                Role::Param(n) => fed("param", &params[*n as usize])?,
                Role::Const(d) => Storage::Borrowed(d),
                Role::Output(_) | Role::Update(_) => {
                    let n = usize::try_from(b.len())
                        .map_err(|_| error(format!("b{i} is too large")))?;
                    Storage::Owned(poison(b.dtype, n))
                }
                Role::Temp => {
                    let off = p.plan.offsets.get(i).copied().flatten().unwrap_or(0);
                    Storage::Arena(
                        usize::try_from(off).map_err(|_| error(format!("b{i} is too far out")))?,
                    )
                }
            });
        }
        Ok(Memory {
            p,
            storage,
            arena: vec![POISON; arena_len],
        })
    }

    fn results(&mut self, bufs: &[Option<BufId>], kind: &str) -> Result<Vec<Tensor>, RunError> {
        bufs.iter()
            .enumerate()
            .map(|(i, b)| {
                let b = b.ok_or_else(|| error(format!("no buffer holds {kind} {i}")))?;
                let shape = self.p.buffers[b.index()]
                    .shape
                    .iter()
                    .map(|&d| d as usize)
                    .collect();
                match std::mem::replace(&mut self.storage[b.index()], Storage::Arena(0)) {
                    Storage::Owned(data) => Ok(Tensor { shape, data }),
                    _ => Err(error(format!("{kind} {i} is not in a result buffer"))),
                }
            })
            .collect()
    }

    fn bounds(&self, b: BufId, i: usize) -> Result<DType, String> {
        let buf = self
            .p
            .buffer(b)
            .ok_or_else(|| format!("{b} does not exist"))?;
        if i as u64 >= buf.len() {
            return Err(format!("{b}[{i}] is past its {} elements", buf.len()));
        }
        Ok(buf.dtype)
    }

    fn read(&self, b: BufId, i: usize) -> Result<Scalar, String> {
        let dtype = self.bounds(b, i)?;
        match &self.storage[b.index()] {
            Storage::Borrowed(d) => Scalar::from_data(d, i),
            Storage::Owned(d) => Scalar::from_data(d, i),
            Storage::Arena(off) => self
                .arena
                .get(arena_range(*off, i, dtype))
                .map(|bytes| decode(dtype, bytes)),
        }
        .ok_or_else(|| format!("{b}[{i}] is outside its memory"))
    }

    fn write(&mut self, b: BufId, i: usize, x: Scalar) -> Result<(), String> {
        let dtype = self.bounds(b, i)?;
        if x.dtype() != dtype {
            return Err(format!("stores a {} into {b}, a {dtype} buffer", x.dtype()));
        }
        let ok = match &mut self.storage[b.index()] {
            Storage::Borrowed(_) => return Err(format!("{b} is read-only")),
            Storage::Owned(d) => set(d, i, x),
            Storage::Arena(off) => match self.arena.get_mut(arena_range(*off, i, dtype)) {
                Some(bytes) => {
                    encode(x, bytes);
                    true
                }
                None => false,
            },
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{b}[{i}] is outside its memory"))
        }
    }

    fn block(&mut self, body: &[Stmt], env: &mut Env) -> Result<(), String> {
        for s in body {
            match s {
                Stmt::Loop {
                    var, extent, body, ..
                } => {
                    for x in 0..*extent {
                        let slot = env
                            .vars
                            .get_mut(var.0 as usize)
                            .ok_or_else(|| format!("{var} is not defined"))?;
                        *slot = x;
                        self.block(body, env)?;
                    }
                }
                Stmt::Let { local, value, .. } | Stmt::Assign { local, value } => {
                    let x = self.eval(value, env)?;
                    env.set(*local, x)?;
                }
                Stmt::Store { buf, index, value } => {
                    let i = env.index(index)?;
                    let x = self.eval(value, env)?;
                    self.write(*buf, i, x)?;
                }
                Stmt::Gemm(g) => self.gemm(g, env)?,
            }
        }
        Ok(())
    }

    fn eval(&self, e: &Expr, env: &Env) -> Result<Scalar, String> {
        match e {
            Expr::Const(s) => Ok(*s),
            Expr::Local(l) => env.local(*l),
            Expr::Index(i) => Ok(Scalar::I64(env.index(i)? as i64)),
            Expr::Load { buf, index } => self.read(*buf, env.index(index)?),
            Expr::Unary(op, a) => element::unary(*op, self.eval(a, env)?),
            Expr::Binary(op, a, b) => element::binary(*op, self.eval(a, env)?, self.eval(b, env)?),
            Expr::Select(c, a, b) => {
                let (c, a, b) = (self.eval(c, env)?, self.eval(a, env)?, self.eval(b, env)?);
                match c {
                    Scalar::Bool(c) => Ok(if c { a } else { b }),
                    other => Err(format!("select on a {} condition", other.dtype())),
                }
            }
            Expr::Cast(to, a) => Ok(element::cast(self.eval(a, env)?, *to)),
        }
    }

    fn gemm(&mut self, g: &Gemm, env: &Env) -> Result<(), String> {
        let dtype = self
            .p
            .buffer(g.c.buf)
            .ok_or_else(|| format!("{} does not exist", g.c.buf))?
            .dtype;
        with_numeric!(dtype, T => self.gemm_typed::<T>(g, env), bool => Err("gemm on bool".into()))
    }

    /// The reference GEMM: each dot product summed in `k` order from zero, as
    /// the Graph IR interpreter's matmul does.
    fn gemm_typed<T: Elem>(&mut self, g: &Gemm, env: &Env) -> Result<(), String> {
        let (oa, ob, oc) = (
            env.index(&g.a.offset)?,
            env.index(&g.b.offset)?,
            env.index(&g.c.offset)?,
        );
        let big = |x: u64| usize::try_from(x).map_err(|_| "a gemm dimension overflows".to_string());
        let [m, n, k, batch] = [big(g.m)?, big(g.n)?, big(g.k)?, big(g.batch)?];
        let [lda, ldb, ldc] = [big(g.a.ld)?, big(g.b.ld)?, big(g.c.ld)?];
        let [sa, sb, sc] = [big(g.a.stride)?, big(g.b.stride)?, big(g.c.stride)?];
        let get = |m: &Self, b: BufId, i: usize| -> Result<T, String> {
            T::from_scalar(m.read(b, i)?)
                .ok_or_else(|| format!("{b} does not hold the gemm's dtype"))
        };
        let (alpha, beta) = (T::from_f64(g.alpha), T::from_f64(g.beta));
        // Wrapping arithmetic: an address that overflows is out of bounds,
        // which the reads and writes report.
        let at = |off: usize, p: usize, stride: usize, row: usize, ld: usize, col: usize| {
            off.wrapping_add(p.wrapping_mul(stride))
                .wrapping_add(row.wrapping_mul(ld))
                .wrapping_add(col)
        };
        for p in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    let mut acc = T::ZERO;
                    for l in 0..k {
                        let (ar, ac) = if g.trans_a { (l, i) } else { (i, l) };
                        let (br, bc) = if g.trans_b { (j, l) } else { (l, j) };
                        let x = get(self, g.a.buf, at(oa, p, sa, ar, lda, ac))?;
                        let y = get(self, g.b.buf, at(ob, p, sb, br, ldb, bc))?;
                        acc = acc.add(x.mul(y));
                    }
                    let ci = at(oc, p, sc, i, ldc, j);
                    if g.alpha != 1.0 {
                        acc = alpha.mul(acc);
                    }
                    if g.beta != 0.0 {
                        acc = acc.add(beta.mul(get(self, g.c.buf, ci)?));
                    }
                    self.write(g.c.buf, ci, acc.to_scalar())?;
                }
            }
        }
        Ok(())
    }
}

/// A numeric element type as a kernel scalar.
trait Elem: Num {
    fn from_scalar(s: Scalar) -> Option<Self>;
    fn to_scalar(self) -> Scalar;
    fn from_f64(x: f64) -> Self;
}

macro_rules! impl_elem {
    ($t:ty, $v:ident) => {
        impl Elem for $t {
            fn from_scalar(s: Scalar) -> Option<$t> {
                match s {
                    Scalar::$v(x) => Some(x),
                    _ => None,
                }
            }
            fn to_scalar(self) -> Scalar {
                Scalar::$v(self)
            }
            fn from_f64(x: f64) -> $t {
                x as $t
            }
        }
    };
}

impl_elem!(f32, F32);
impl_elem!(f64, F64);
impl_elem!(i32, I32);
impl_elem!(i64, I64);

/// The bytes of element `i` of a temporary at byte `off`; empty on overflow
/// (which then reads as out of bounds).
fn arena_range(off: usize, i: usize, dtype: DType) -> std::ops::Range<usize> {
    let size = dtype.size();
    match i.checked_mul(size).and_then(|b| off.checked_add(b)) {
        Some(at) if at.checked_add(size).is_some() => at..at + size,
        _ => usize::MAX..usize::MAX,
    }
}

fn poison(dtype: DType, n: usize) -> Data {
    match dtype {
        DType::F32 => Data::F32(vec![f32::NAN; n]),
        DType::F64 => Data::F64(vec![f64::NAN; n]),
        DType::I32 => Data::I32(vec![-1; n]),
        DType::I64 => Data::I64(vec![-1; n]),
        DType::Bool => Data::Bool(vec![true; n]),
    }
}

fn set(d: &mut Data, i: usize, x: Scalar) -> bool {
    let slot = match (d, x) {
        (Data::F32(v), Scalar::F32(x)) => v.get_mut(i).map(|s| *s = x),
        (Data::F64(v), Scalar::F64(x)) => v.get_mut(i).map(|s| *s = x),
        (Data::I32(v), Scalar::I32(x)) => v.get_mut(i).map(|s| *s = x),
        (Data::I64(v), Scalar::I64(x)) => v.get_mut(i).map(|s| *s = x),
        (Data::Bool(v), Scalar::Bool(x)) => v.get_mut(i).map(|s| *s = x),
        _ => None,
    };
    slot.is_some()
}

fn decode(dtype: DType, b: &[u8]) -> Scalar {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    let four = [w[0], w[1], w[2], w[3]];
    match dtype {
        DType::F32 => Scalar::F32(f32::from_le_bytes(four)),
        DType::F64 => Scalar::F64(f64::from_le_bytes(w)),
        DType::I32 => Scalar::I32(i32::from_le_bytes(four)),
        DType::I64 => Scalar::I64(i64::from_le_bytes(w)),
        DType::Bool => Scalar::Bool(w[0] != 0),
    }
}

fn encode(x: Scalar, out: &mut [u8]) {
    match x {
        Scalar::F32(v) => out.copy_from_slice(&v.to_le_bytes()),
        Scalar::F64(v) => out.copy_from_slice(&v.to_le_bytes()),
        Scalar::I32(v) => out.copy_from_slice(&v.to_le_bytes()),
        Scalar::I64(v) => out.copy_from_slice(&v.to_le_bytes()),
        Scalar::Bool(v) => out[0] = u8::from(v),
    }
}
