//! The Kernel IR verifier: what every backend may assume of a program.
//!
//! Checked: buffer roles (inputs, params, outputs and updates numbered
//! `0..n` once each; constants hold their elements); the plan (exactly the
//! temporaries placed, inside the arena, and two temporaries share bytes only
//! if their lifetimes are disjoint); each kernel's `reads`/`writes` lists
//! (exactly what its body touches; nothing read-only written; nothing read
//! before some kernel wrote it); scoping (loop variables and locals defined
//! once, used in scope); types (scalar ops follow the Graph IR's type rules);
//! and every access whose address is affine is in bounds.

use super::{
    BufId, Expr, Gemm, Index, Initial, Kernel, Local, LoopKind, MatRef, Program, Ranges, Role,
    Stmt, Var, ARENA_ALIGN,
};
use crate::infer::infer;
use crate::op::Op;
use crate::types::{DType, Type};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

/// A program that breaks a rule, with the kernel where it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The name of the kernel the rule is broken in; `None` for the program as
    /// a whole (buffers, plan).
    pub kernel: Option<String>,
    /// Which rule is broken, and how.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kernel {
            Some(k) => write!(f, "kernel {k}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for VerifyError {}

fn fail<T>(message: impl Into<String>) -> Result<T, VerifyError> {
    Err(VerifyError {
        kernel: None,
        message: message.into(),
    })
}

/// Checks `p` against the rules of the Kernel IR: scoping, types, buffer roles,
/// index bounds and the plan.
pub fn verify(p: &Program) -> Result<(), VerifyError> {
    roles(p)?;
    let mut names = HashSet::new();
    let mut written: HashSet<BufId> = HashSet::new();
    let mut life: HashMap<BufId, (usize, usize)> = HashMap::new();
    for (t, k) in p.kernels.iter().enumerate() {
        let in_kernel = |message: String| VerifyError {
            kernel: Some(k.name.clone()),
            message,
        };
        if !names.insert(k.name.as_str()) {
            return Err(in_kernel("a kernel of this name comes earlier".into()));
        }
        let (reads, writes) = check_kernel(p, k).map_err(in_kernel)?;
        for &b in &writes {
            written.insert(b);
        }
        for &b in reads.iter().chain(&writes) {
            let span = life.entry(b).or_insert((t, t));
            span.1 = t;
        }
        for &b in &reads {
            let produced = matches!(
                p.buffers[b.index()].role,
                Role::Input(_) | Role::Param(_) | Role::Const(_)
            );
            if !produced && !written.contains(&b) {
                return Err(in_kernel(format!(
                    "reads {b}, which no kernel has written yet"
                )));
            }
        }
    }
    for (i, buf) in p.buffers.iter().enumerate() {
        if matches!(buf.role, Role::Output(_) | Role::Update(_))
            && !written.contains(&BufId(i as u32))
        {
            return fail(format!("no kernel writes b{i}, a result"));
        }
    }
    plan(p, &life)
}

/// Every numbered role is numbered `0..n`, once each.
fn roles(p: &Program) -> Result<(), VerifyError> {
    let mut seen: HashMap<&str, BTreeSet<u32>> = HashMap::new();
    for (i, b) in p.buffers.iter().enumerate() {
        match (&b.initial, &b.role) {
            (None, _)
            | (Some(Initial::Default(_)), Role::Input(_))
            | (Some(Initial::Init(_)), Role::Param(_)) => {}
            (Some(Initial::Default(_)), _) => {
                return fail(format!("b{i}: only an input has a default"))
            }
            (Some(Initial::Init(_)), _) => return fail(format!("b{i}: only a param has an init")),
        }
        let (kind, n) = match &b.role {
            Role::Input(n) => ("input", *n),
            Role::Param(n) => ("param", *n),
            Role::Output(n) => ("output", *n),
            Role::Update(n) => ("update", *n),
            Role::Const(d) => {
                if d.dtype() != b.dtype || d.len() as u64 != b.len() {
                    return fail(format!(
                        "b{i}: constant holds {} {} elements, but the buffer is {} of {}",
                        d.len(),
                        d.dtype(),
                        b.dtype,
                        b.len()
                    ));
                }
                continue;
            }
            Role::Temp => continue,
        };
        if !seen.entry(kind).or_default().insert(n) {
            return fail(format!("b{i}: two buffers are {kind} {n}"));
        }
    }
    for (kind, ns) in seen {
        if let Some(missing) = (0..ns.len() as u32).find(|n| !ns.contains(n)) {
            return fail(format!(
                "{kind}s are not numbered 0..{}: {kind} {missing} is missing",
                ns.len()
            ));
        }
    }
    Ok(())
}

fn plan(p: &Program, life: &HashMap<BufId, (usize, usize)>) -> Result<(), VerifyError> {
    if p.plan.offsets.len() != p.buffers.len() {
        return fail(format!(
            "the plan places {} buffers, but there are {}",
            p.plan.offsets.len(),
            p.buffers.len()
        ));
    }
    let mut placed = Vec::new();
    for (i, (b, off)) in p.buffers.iter().zip(&p.plan.offsets).enumerate() {
        match (b.role == Role::Temp, off) {
            (true, None) => return fail(format!("b{i} is a temporary the plan does not place")),
            (false, Some(_)) => {
                return fail(format!("b{i} is not a temporary, but the plan places it"))
            }
            (true, Some(o)) => {
                if o % ARENA_ALIGN != 0 {
                    return fail(format!(
                        "b{i} is at offset {o}, not a multiple of {ARENA_ALIGN}"
                    ));
                }
                if o.saturating_add(b.bytes()) > p.plan.arena_bytes {
                    return fail(format!(
                        "b{i} ends past the arena's {} bytes",
                        p.plan.arena_bytes
                    ));
                }
                if b.bytes() > 0 {
                    if let Some(&span) = life.get(&BufId(i as u32)) {
                        placed.push((i, *o, o + b.bytes(), span));
                    }
                }
            }
            (false, None) => {}
        }
    }
    for (x, &(i, lo, hi, (s, e))) in placed.iter().enumerate() {
        for &(j, lo2, hi2, (s2, e2)) in &placed[x + 1..] {
            if lo < hi2 && lo2 < hi && s <= e2 && s2 <= e {
                return fail(format!(
                    "b{i} and b{j} share arena bytes while both are live"
                ));
            }
        }
    }
    Ok(())
}

/// Checks one kernel; gives the buffers its body reads and writes.
fn check_kernel(p: &Program, k: &Kernel) -> Result<(Vec<BufId>, Vec<BufId>), String> {
    let mut c = Checker {
        p,
        vars: HashSet::new(),
        locals: HashSet::new(),
        scope_vars: Vec::new(),
        scope_locals: Vec::new(),
        ranges: Ranges::new(),
        dead: 0,
        reads: BTreeSet::new(),
        writes: BTreeSet::new(),
    };
    c.block(&k.body)?;
    let reads: Vec<BufId> = c.reads.into_iter().collect();
    let writes: Vec<BufId> = c.writes.into_iter().collect();
    if reads != k.reads {
        return Err(format!(
            "declares reads {} but its body reads {}",
            list(&k.reads),
            list(&reads)
        ));
    }
    if writes != k.writes {
        return Err(format!(
            "declares writes {} but its body writes {}",
            list(&k.writes),
            list(&writes)
        ));
    }
    for b in &writes {
        if matches!(
            p.buffers[b.index()].role,
            Role::Input(_) | Role::Param(_) | Role::Const(_)
        ) {
            return Err(format!("writes {b}, which is read-only"));
        }
    }
    Ok((reads, writes))
}

fn list(bs: &[BufId]) -> String {
    if bs.is_empty() {
        return "nothing".into();
    }
    bs.iter()
        .map(BufId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

struct Checker<'a> {
    p: &'a Program,
    /// Every variable and local defined so far in the kernel.
    vars: HashSet<Var>,
    locals: HashSet<Local>,
    /// What is in scope now.
    scope_vars: Vec<Var>,
    scope_locals: Vec<(Local, DType)>,
    ranges: Ranges,
    /// How many enclosing loops run zero times: code there never executes.
    dead: usize,
    reads: BTreeSet<BufId>,
    writes: BTreeSet<BufId>,
}

impl Checker<'_> {
    fn block(&mut self, body: &[Stmt]) -> Result<(), String> {
        let locals_before = self.scope_locals.len();
        for s in body {
            self.stmt(s)?;
        }
        self.scope_locals.truncate(locals_before);
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), String> {
        match s {
            Stmt::Loop {
                var,
                extent,
                kind,
                body,
            } => {
                self.kind(*var, kind, body)?;
                if !self.vars.insert(*var) {
                    return Err(format!("loop variable {var} is defined twice"));
                }
                self.ranges.set(*var, *extent);
                self.scope_vars.push(*var);
                let dead = usize::from(*extent == 0);
                self.dead += dead;
                self.block(body)?;
                self.dead -= dead;
                self.scope_vars.pop();
            }
            Stmt::Let {
                local,
                dtype,
                value,
            } => {
                let t = self.expr(value)?;
                if t != *dtype {
                    return Err(format!("let {local}: {dtype} is given a {t} value"));
                }
                if !self.locals.insert(*local) {
                    return Err(format!("local {local} is defined twice"));
                }
                self.scope_locals.push((*local, *dtype));
            }
            Stmt::Assign { local, value } => {
                let want = self.local(*local)?;
                let t = self.expr(value)?;
                if t != want {
                    return Err(format!("{local} is {want} but is assigned a {t} value"));
                }
            }
            Stmt::Store { buf, index, value } => {
                let dtype = self.access(*buf, index, 1)?;
                self.writes.insert(*buf);
                let t = self.expr(value)?;
                if t != dtype {
                    return Err(format!("stores a {t} value into {buf}, a {dtype} buffer"));
                }
            }
            Stmt::Gemm(g) => self.gemm(g)?,
        }
        Ok(())
    }

    /// Checks what loop `var`'s kind promises of its `body` that the text
    /// shows: a reduction's accumulators are locals of an enclosing block,
    /// updated only as `t = op(t, e)` and read nowhere else; a parallel loop
    /// assigns no local of an enclosing block.
    fn kind(&self, var: Var, kind: &LoopKind, body: &[Stmt]) -> Result<(), String> {
        let mut outer_assigns = Vec::new();
        let mut inner = HashSet::new();
        Stmt::walk(body, &mut |s| match s {
            Stmt::Let { local, .. } => {
                inner.insert(*local);
            }
            Stmt::Assign { local, value } => outer_assigns.push((*local, value.clone())),
            _ => {}
        });
        outer_assigns.retain(|(l, _)| !inner.contains(l));
        match kind {
            LoopKind::Serial => Ok(()),
            LoopKind::Parallel => match outer_assigns.first() {
                Some((l, _)) => Err(format!(
                    "parallel loop {var} assigns {l}, a local of an enclosing block"
                )),
                None => Ok(()),
            },
            LoopKind::Reduce(accs) => {
                for (i, &(t, op)) in accs.iter().enumerate() {
                    let dtype = self.local(t)?;
                    if crate::element::identity(op, dtype).is_none() {
                        return Err(format!(
                            "reduction loop {var} accumulates {t}, a {dtype}, by {}, which does not accumulate",
                            op.name()
                        ));
                    }
                    if accs[..i].iter().any(|&(u, _)| u == t) {
                        return Err(format!("reduction loop {var} lists {t} twice"));
                    }
                    let own = |e: &Expr| *e == Expr::Local(t);
                    let mut updates = 0;
                    for (l, value) in outer_assigns.iter().filter(|(l, _)| *l == t) {
                        let ok = matches!(value, Expr::Binary(o, a, b)
                            if *o == op && (own(a) || own(b)) && !(own(a) && own(b)));
                        if !ok {
                            return Err(format!(
                                "reduction loop {var} updates {l} other than as {l} = {}({l}, …)",
                                op.name()
                            ));
                        }
                        updates += 1;
                    }
                    if updates == 0 {
                        return Err(format!("reduction loop {var} never updates {t}"));
                    }
                    let mut reads = 0;
                    Stmt::walk(body, &mut |s| {
                        for e in s.exprs() {
                            e.walk(&mut |x| reads += usize::from(own(x)));
                        }
                    });
                    if reads != updates {
                        return Err(format!(
                            "reduction loop {var} reads {t} other than in its updates"
                        ));
                    }
                }
                match outer_assigns
                    .iter()
                    .find(|(l, _)| accs.iter().all(|(t, _)| t != l))
                {
                    Some((l, _)) => Err(format!(
                        "reduction loop {var} assigns {l}, which is not one of its accumulators"
                    )),
                    None => Ok(()),
                }
            }
        }
    }

    fn local(&self, l: Local) -> Result<DType, String> {
        self.scope_locals
            .iter()
            .rev()
            .find(|(x, _)| *x == l)
            .map(|&(_, d)| d)
            .ok_or_else(|| format!("{l} is used outside the scope of its definition"))
    }

    /// Checks `buf[index .. index + span]`, gives the buffer's dtype.
    fn access(&mut self, buf: BufId, index: &Index, span: u64) -> Result<DType, String> {
        let b = self
            .p
            .buffer(buf)
            .ok_or_else(|| format!("{buf} does not exist"))?;
        let mut unbound = None;
        index.vars(&mut |v| {
            if !self.scope_vars.contains(&v) {
                unbound = Some(v);
            }
        });
        if let Some(v) = unbound {
            return Err(format!("index of {buf} uses {v} outside its loop"));
        }
        let a = self.ranges.affine(index);
        if self.dead == 0 && span > 0 && !a.has_div_rem() {
            let last = self.ranges.max(&a).saturating_add(span - 1);
            if last >= b.len() {
                return Err(format!(
                    "accesses {buf}[{last}], past its {} elements",
                    b.len()
                ));
            }
        }
        Ok(b.dtype)
    }

    fn expr(&mut self, e: &Expr) -> Result<DType, String> {
        let scalar = |d: DType| Type::scalar(d);
        let rule = |op: Op, args: &[DType]| -> Result<DType, String> {
            let tys: Vec<Type> = args.iter().map(|&d| scalar(d)).collect();
            let refs: Vec<&Type> = tys.iter().collect();
            infer(&op, &refs).map(|t| t.dtype).map_err(|e| e.message)
        };
        match e {
            Expr::Const(s) => Ok(s.dtype()),
            Expr::Local(l) => self.local(*l),
            Expr::Index(i) => {
                let mut unbound = None;
                i.vars(&mut |v| {
                    if !self.scope_vars.contains(&v) {
                        unbound = Some(v);
                    }
                });
                match unbound {
                    Some(v) => Err(format!("index uses {v} outside its loop")),
                    None => Ok(DType::I64),
                }
            }
            Expr::Load { buf, index } => {
                let d = self.access(*buf, index, 1)?;
                self.reads.insert(*buf);
                Ok(d)
            }
            Expr::Unary(op, a) => {
                let t = self.expr(a)?;
                rule(Op::Unary(*op), &[t])
            }
            Expr::Binary(op, a, b) => {
                let (x, y) = (self.expr(a)?, self.expr(b)?);
                rule(Op::Binary(*op), &[x, y])
            }
            Expr::Select(c, a, b) => {
                let (x, y, z) = (self.expr(c)?, self.expr(a)?, self.expr(b)?);
                rule(Op::Select, &[x, y, z])
            }
            Expr::Cast(to, a) => {
                self.expr(a)?;
                Ok(*to)
            }
        }
    }

    fn gemm(&mut self, g: &Gemm) -> Result<(), String> {
        let empty = g.m == 0 || g.n == 0 || g.batch == 0;
        let operand = |c: &mut Self, r: &MatRef, rows: u64, cols: u64, trans: bool| {
            // The last element touched, relative to the offset.
            let (rows, cols) = if trans { (cols, rows) } else { (rows, cols) };
            let span = if empty || rows == 0 || cols == 0 {
                0
            } else {
                (g.batch - 1)
                    .saturating_mul(r.stride)
                    .saturating_add((rows - 1).saturating_mul(r.ld))
                    .saturating_add(cols)
            };
            c.access(r.buf, &r.offset, span)
        };
        let da = operand(self, &g.a, g.m, g.k, g.trans_a)?;
        let db = operand(self, &g.b, g.k, g.n, g.trans_b)?;
        let dc = operand(self, &g.c, g.m, g.n, false)?;
        if da != db || db != dc {
            return Err(format!("gemm mixes dtypes {da}, {db} and {dc}"));
        }
        if dc == DType::Bool {
            return Err("gemm on bool".into());
        }
        if !dc.is_float() && (g.alpha != 1.0 || (g.beta != 0.0 && g.beta != 1.0)) {
            return Err(format!(
                "an integer gemm takes alpha 1 and beta 0 or 1, not {} and {}",
                g.alpha, g.beta
            ));
        }
        self.reads.insert(g.a.buf);
        self.reads.insert(g.b.buf);
        if g.beta != 0.0 {
            self.reads.insert(g.c.buf);
        }
        self.writes.insert(g.c.buf);
        Ok(())
    }
}
