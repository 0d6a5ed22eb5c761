//! Kernel IR → Kernel IR passes: what lowering leaves for later, each a
//! named pass of the pipeline, so that `--dump-after` shows the program
//! before and after it and `--time-passes` times it.
//!
//! Lowering binds every value a group computes to a local at the loop depth
//! where its index varies, and places every temporary in its own bytes.
//! Then, in pipeline order: [`prune`] removes the `let`s nothing reads,
//! [`inline`] folds each local used once into its use (a chain of ops reads
//! as one expression), [`renumber`] numbers the locals left `t0, t1, …`,
//! and [`arena`] packs the temporaries into one arena, reusing the bytes of
//! values no later kernel reads.

use std::collections::{BTreeSet, HashMap};
use tfg_ir::kernel::{
    BufId, Buffer, Expr, Kernel, Local, LoopKind, Plan, Program, Role, Stmt, ARENA_ALIGN,
};
use tfg_ir::DType;

/// Removes from every kernel the `let`s nothing reads; a kernel's reads
/// shrink with them.
pub fn prune(p: &mut Program) {
    for k in &mut p.kernels {
        drop_unused_lets(&mut k.body);
        (k.reads, k.writes) = Stmt::accesses(&k.body);
    }
}

/// Folds, in every kernel, each local used exactly once into its use.
pub fn inline(p: &mut Program) {
    for k in &mut p.kernels {
        inline_single_uses(&mut k.body);
    }
}

/// Numbers the locals of every kernel `t0, t1, …` in order of definition.
pub fn renumber(p: &mut Program) {
    for k in &mut p.kernels {
        renumber_locals(&mut k.body);
    }
}

/// Plans the arena anew from the kernels as they are now.
pub fn arena(p: &mut Program) {
    p.plan = plan(&p.buffers, &p.kernels);
}

/// Every temporary in bytes of its own, in buffer order: a valid plan that
/// shares nothing, which lowering starts from and [`arena`] replaces.
pub fn unshared(buffers: &[Buffer]) -> Plan {
    let align = |x: u64| x.div_ceil(ARENA_ALIGN) * ARENA_ALIGN;
    let mut arena_bytes = 0;
    let offsets = buffers
        .iter()
        .map(|b| {
            (b.role == Role::Temp).then(|| {
                let at = arena_bytes;
                arena_bytes = align(at + b.bytes());
                at
            })
        })
        .collect();
    Plan {
        arena_bytes,
        offsets,
    }
}

/// Removes the `let`s nothing reads (expressions have no effects), until
/// none is left: a pass that binds every reduction's result may not use all.
fn drop_unused_lets(body: &mut Vec<Stmt>) {
    loop {
        let mut used: BTreeSet<Local> = BTreeSet::new();
        Stmt::walk(body, &mut |s| {
            for e in s.exprs() {
                e.walk(&mut |x| {
                    if let Expr::Local(l) = x {
                        used.insert(*l);
                    }
                });
            }
            if let Stmt::Assign { local, .. } = s {
                used.insert(*local);
            }
        });
        fn drop(body: &mut Vec<Stmt>, used: &BTreeSet<Local>) -> bool {
            let before = body.len();
            body.retain(|s| !matches!(s, Stmt::Let { local, .. } if !used.contains(local)));
            let mut dropped = body.len() != before;
            for s in body.iter_mut() {
                if let Stmt::Loop { body: inner, .. } = s {
                    dropped |= drop(inner, used);
                }
            }
            dropped
        }
        if !drop(body, &used) {
            return;
        }
    }
}

/// Folds each local used exactly once into its use, when the use is in the
/// same block and only other definitions lie between (so nothing it reads can
/// change on the way). A local that is also assigned is left alone.
fn inline_single_uses(body: &mut Vec<Stmt>) {
    let mut uses: HashMap<Local, usize> = HashMap::new();
    let mut assigned: BTreeSet<Local> = BTreeSet::new();
    Stmt::walk(body, &mut |s| {
        if let Stmt::Assign { local, .. } = s {
            assigned.insert(*local);
        }
        for e in s.exprs() {
            e.walk(&mut |x| {
                if let Expr::Local(l) = x {
                    *uses.entry(*l).or_default() += 1;
                }
            });
        }
    });
    inline_block(body, &uses, &assigned);
}

fn inline_block(body: &mut Vec<Stmt>, uses: &HashMap<Local, usize>, assigned: &BTreeSet<Local>) {
    for s in body.iter_mut() {
        if let Stmt::Loop { body: inner, .. } = s {
            inline_block(inner, uses, assigned);
        }
    }
    // A `let` read once, by a later statement of this block with only `let`s
    // between, moves into that reader. Decided from the last statement back;
    // the moves are applied afterwards, in one walk of each statement that is
    // left, so the work is linear in the size of the block (substituting as
    // it went, each step walked the reader's growing expression).
    let n = body.len();
    // The statement whose expression reads each local now.
    let mut reader: HashMap<Local, usize> = HashMap::new();
    for (j, s) in body.iter().enumerate() {
        for e in s.exprs() {
            e.walk(&mut |x| {
                if let Expr::Local(l) = x {
                    reader.entry(*l).or_insert(j);
                }
            });
        }
    }
    // The first statement at or after each index that is not a `let`.
    let mut next_other = vec![n; n + 1];
    for j in (0..n).rev() {
        next_other[j] = match body[j] {
            Stmt::Let { .. } => next_other[j + 1],
            _ => j,
        };
    }
    let mut moved: HashMap<Local, (DType, Expr)> = HashMap::new();
    for i in (0..n).rev() {
        let Stmt::Let {
            local,
            dtype,
            value,
        } = &body[i]
        else {
            continue;
        };
        if uses.get(local) != Some(&1) || assigned.contains(local) {
            continue;
        }
        let Some(&j) = reader.get(local) else {
            continue;
        };
        if j <= i || j > next_other[i + 1] {
            continue;
        }
        // What `value` reads is read by `j` once it moves there.
        value.walk(&mut |x| {
            if let Expr::Local(l) = x {
                reader.insert(*l, j);
            }
        });
        moved.insert(*local, (*dtype, value.clone()));
    }
    if moved.is_empty() {
        return;
    }
    body.retain(|s| !matches!(s, Stmt::Let { local, .. } if moved.contains_key(local)));
    let mut out = Vec::with_capacity(body.len());
    for mut s in std::mem::take(body) {
        if let Stmt::Let { value, .. } | Stmt::Assign { value, .. } | Stmt::Store { value, .. } =
            &mut s
        {
            // The lets kept back because their reader is deep enough, in the
            // order they were met: each is read by one met before it (or by
            // `s`), so they are placed in reverse.
            let mut kept: Vec<Stmt> = Vec::new();
            place_moved(value, 0, &mut moved, &mut kept);
            let mut k = 0;
            while k < kept.len() {
                if let Stmt::Let { value, .. } = &mut kept[k] {
                    let mut more = Vec::new();
                    place_moved(value, 0, &mut moved, &mut more);
                    kept.extend(more);
                }
                k += 1;
            }
            out.extend(kept.into_iter().rev());
        }
        out.push(s);
    }
    *body = out;
}

/// How deep an expression may grow by inlining: deeper, a `let` is kept, so
/// that no walk over an expression (typing, code generation) recurses
/// without bound on a long chain of ops.
const MAX_INLINED_DEPTH: usize = 128;

/// Puts the moved lets that `e` (at `depth` in its statement) reads in
/// place, recursively; one that would sit deeper than [`MAX_INLINED_DEPTH`]
/// stays a `let` of its own, pushed to `kept` unexpanded.
fn place_moved(
    e: &mut Expr,
    depth: usize,
    moved: &mut HashMap<Local, (DType, Expr)>,
    kept: &mut Vec<Stmt>,
) {
    while let Expr::Local(l) = e {
        let local = *l;
        let Some((dtype, value)) = moved.remove(&local) else {
            break;
        };
        if depth >= MAX_INLINED_DEPTH {
            kept.push(Stmt::Let {
                local,
                dtype,
                value,
            });
            break;
        }
        *e = value;
    }
    match e {
        Expr::Const(_) | Expr::Local(_) | Expr::Index(_) | Expr::Load { .. } => {}
        Expr::Unary(_, a) | Expr::Cast(_, a) => place_moved(a, depth + 1, moved, kept),
        Expr::Binary(_, a, b) => {
            place_moved(a, depth + 1, moved, kept);
            place_moved(b, depth + 1, moved, kept);
        }
        Expr::Select(c, a, b) => {
            place_moved(c, depth + 1, moved, kept);
            place_moved(a, depth + 1, moved, kept);
            place_moved(b, depth + 1, moved, kept);
        }
    }
}

/// Numbers the locals that are left `t0, t1, …` in order of definition.
fn renumber_locals(body: &mut [Stmt]) {
    let mut order: HashMap<Local, Local> = HashMap::new();
    Stmt::walk(body, &mut |s| {
        if let Stmt::Let { local, .. } = s {
            let next = Local(order.len() as u32);
            order.entry(*local).or_insert(next);
        }
    });
    fn expr(e: &mut Expr, order: &HashMap<Local, Local>) {
        e.walk_mut(&mut |x| {
            if let Expr::Local(l) = x {
                *l = order.get(l).copied().unwrap_or(*l);
            }
        });
    }
    fn block(body: &mut [Stmt], order: &HashMap<Local, Local>) {
        for s in body {
            match s {
                Stmt::Loop { kind, body, .. } => {
                    if let LoopKind::Reduce(accs) = kind {
                        for (t, _) in accs {
                            *t = order.get(t).copied().unwrap_or(*t);
                        }
                    }
                    block(body, order)
                }
                Stmt::Let { local, value, .. } | Stmt::Assign { local, value } => {
                    *local = order.get(local).copied().unwrap_or(*local);
                    expr(value, order);
                }
                Stmt::Store { value, .. } => expr(value, order),
                Stmt::Gemm(_) => {}
            }
        }
    }
    block(body, &order);
}

/// Places the temporaries in one arena: largest first, each at the lowest
/// aligned offset clear of every temporary placed so far whose lifetime
/// (first kernel that touches it to the last) overlaps its own — the greedy
/// "by size" strategy of TensorFlow Lite's arena planner.
fn plan(buffers: &[Buffer], kernels: &[Kernel]) -> Plan {
    let mut life: HashMap<BufId, (usize, usize)> = HashMap::new();
    for (t, k) in kernels.iter().enumerate() {
        for &b in k.reads.iter().chain(&k.writes) {
            let span = life.entry(b).or_insert((t, t));
            span.1 = t;
        }
    }
    let mut temps: Vec<(BufId, u64)> = buffers
        .iter()
        .enumerate()
        .filter(|(_, b)| b.role == Role::Temp)
        .map(|(i, b)| (BufId(i as u32), b.bytes()))
        .collect();
    temps.sort_by_key(|&(b, bytes)| (std::cmp::Reverse(bytes), b));
    let align = |x: u64| x.div_ceil(ARENA_ALIGN) * ARENA_ALIGN;
    let mut offsets = vec![None; buffers.len()];
    let mut placed: Vec<(u64, u64, (usize, usize))> = Vec::new();
    let mut arena = 0;
    for (b, bytes) in temps {
        let span = life.get(&b).copied();
        let mut clash: Vec<(u64, u64)> = match span {
            Some((s, e)) => placed
                .iter()
                .filter(|(_, _, (s2, e2))| s <= *e2 && *s2 <= e)
                .map(|&(lo, hi, _)| (lo, hi))
                .collect(),
            None => Vec::new(),
        };
        clash.sort();
        let mut offset = 0;
        for (lo, hi) in clash {
            if offset + bytes <= lo {
                break;
            }
            offset = offset.max(align(hi));
        }
        offsets[b.index()] = Some(offset);
        if bytes > 0 {
            if let Some(span) = span {
                placed.push((offset, offset + bytes, span));
            }
            arena = arena.max(align(offset + bytes));
        }
    }
    Plan {
        arena_bytes: arena,
        offsets,
    }
}
