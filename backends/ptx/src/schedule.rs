//! Launch planning: how each Kernel IR kernel maps onto CUDA launches.
//!
//! A kernel's top-level statements are cut into units, each one launch:
//!
//! - a top-level `parallel` loop (with the perfectly nested independent
//!   loops inside it collapsed into one index space) becomes **rows**: a
//!   grid-stride loop over the rows, each row run by a *group* of 1, 32 (a
//!   warp) or 256 (a block) threads. Inside a row, the loops that can be
//!   split ([`split`]: reductions into accumulators, loops of independent
//!   stores) are spread over the group's threads, and reductions combined
//!   with warp shuffles and shared memory;
//! - a GEMM (or a nest of batch loops around one) becomes a tiled GEMM
//!   launch;
//! - everything else in a row (sequential code, full reductions) becomes a
//!   **serial** unit: one block whose threads share the splittable loops.
//!
//! Top-level `let`s that are never reassigned are copied into every unit
//! that uses them (they are pure). Where a unit would need a value another
//! unit computes, the whole kernel runs as one serial unit instead, which is
//! always correct.

use std::collections::{BTreeSet, HashMap, HashSet};
use tfg_ir::kernel::{
    Affine, BufId, Expr, Gemm, Index, Kernel, Local, LoopKind, Program, Ranges, Role, Stmt, Var,
};
use tfg_ir::{BinaryOp, DType};

/// Threads per block for rows and GEMM launches.
pub(crate) const BLOCK: u32 = 256;
/// Rows launches use at most this many blocks; the grid-stride loop covers
/// the rest.
pub(crate) const MAX_GRID: u64 = 1 << 16;
pub(crate) const WARP: u32 = 32;
/// Elements a thread of a vectorised rows launch handles per iteration: one
/// 16-byte access of f32 or i32.
pub(crate) const VECTOR: u32 = 4;
/// The tile edge of the GEMM kernel (a tile is `TILE × TILE` results).
pub(crate) const TILE: u64 = 64;
/// The GEMM kernel's step along `k`.
pub(crate) const DEPTH: u64 = 16;
/// Shared memory a block-wide reduction uses: one 8-byte slot a warp.
pub(crate) const SLOT_BYTES: u32 = 32 * 8;

/// One CUDA launch.
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    /// The `.entry` name.
    pub entry: String,
    /// The Kernel IR kernel it comes from.
    pub kernel: String,
    pub mapping: Mapping,
    pub grid: [u32; 3],
    pub block: u32,
    /// The buffers it takes, in parameter order: those its code touches,
    /// ascending, except constants (which live in the module).
    pub buffers: Vec<BufId>,
}

/// How a launch's threads share its work.
#[derive(Clone, Debug)]
pub(crate) enum Mapping {
    /// `prelude` once per thread, then each row of the collapsed loop `nest`
    /// (outermost first) runs `body` on one group of `group` threads;
    /// `vector > 1` runs `vector` consecutive rows per thread, with 16-byte
    /// loads and stores of the accesses at the row index.
    Rows {
        prelude: Vec<Stmt>,
        nest: Vec<(Var, u64)>,
        body: Vec<Stmt>,
        group: u32,
        vector: u32,
    },
    /// `body` once, by one block of `group` threads.
    Serial { body: Vec<Stmt>, group: u32 },
    /// A tiled GEMM, inside batch loops (outermost first).
    Gemm { loops: Vec<(Var, u64)>, gemm: Gemm },
}

/// How a loop's iterations may be spread over a group of threads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Split {
    /// It accumulates into these locals (defined outside it), each with
    /// `t = op(t, e)` for an associative, commutative `op`: each thread
    /// accumulates its share from the identity, then the shares combine.
    /// It may also store, each iteration to its own elements.
    Reduce(Vec<(Local, BinaryOp)>),
    /// Its iterations store to disjoint elements and read nothing another
    /// iteration writes.
    Stores,
}

/// The launches of every kernel of `p`, in order.
pub(crate) fn schedule(p: &Program) -> Result<Vec<Launch>, String> {
    let mut launches = Vec::new();
    let mut names = HashSet::new();
    for k in &p.kernels {
        let base = entry_name(&k.name);
        let mappings = mappings(k);
        let many = mappings.len() > 1;
        for (j, mapping) in mappings.into_iter().enumerate() {
            let mut entry = if many {
                format!("{base}_{j}")
            } else {
                base.clone()
            };
            while !names.insert(entry.clone()) {
                entry.push('_');
            }
            let (grid, block) = geometry(&mapping)?;
            let buffers = buffers(p, &mapping);
            launches.push(Launch {
                entry,
                kernel: k.name.clone(),
                mapping,
                grid,
                block,
                buffers,
            });
        }
    }
    Ok(launches)
}

/// A PTX identifier for a kernel name: `tfg_` and the name with anything but
/// letters, digits and `_` replaced.
fn entry_name(kernel: &str) -> String {
    let clean: String = kernel
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("tfg_{clean}")
}

/// A mapping in words, for the manifest.
pub(crate) fn describe(m: &Mapping) -> String {
    let who = |group: u32| match group {
        1 => "a thread".to_string(),
        WARP => "a warp".to_string(),
        n => format!("a block of {n}"),
    };
    match m {
        Mapping::Rows {
            nest,
            group,
            vector,
            ..
        } => {
            let dims: Vec<String> = nest.iter().map(|(_, e)| e.to_string()).collect();
            let per = if *vector > 1 {
                format!("{} for {vector} consecutive rows", who(*group))
            } else {
                format!("{} a row", who(*group))
            };
            format!("rows {}, {per}", dims.join(" × "))
        }
        Mapping::Serial { group, .. } => format!("serial, {}", who(*group)),
        Mapping::Gemm { loops, gemm } => {
            let batch = loops.iter().map(|&(_, e)| e).product::<u64>() * gemm.batch;
            format!(
                "gemm {} × {} × {}, batch {batch}, {TILE} × {TILE} tiles",
                gemm.m, gemm.k, gemm.n
            )
        }
    }
}

/// The static shared memory a launch uses, in bytes.
pub(crate) fn shared_bytes(p: &Program, l: &Launch) -> u32 {
    match &l.mapping {
        Mapping::Gemm { gemm, .. } => {
            let size = p.buffer(gemm.c.buf).map_or(8, |b| b.dtype.size() as u64);
            (2 * DEPTH * (TILE + 1) * size) as u32
        }
        Mapping::Rows { body, group, .. } | Mapping::Serial { body, group } => {
            let mut reduces = false;
            Stmt::walk(body, &mut |s| {
                reduces |= matches!(split(s), Some(Split::Reduce(_)))
            });
            if *group > WARP && reduces {
                SLOT_BYTES
            } else {
                0
            }
        }
    }
}

/// Grid and block size.
fn geometry(m: &Mapping) -> Result<([u32; 3], u32), String> {
    match m {
        Mapping::Rows {
            nest,
            group,
            vector,
            ..
        } => {
            let rows: u64 = nest.iter().map(|&(_, e)| e).product::<u64>() / u64::from(*vector);
            let threads = rows.saturating_mul(u64::from(*group));
            let blocks = threads.div_ceil(u64::from(BLOCK)).clamp(1, MAX_GRID);
            Ok(([blocks as u32, 1, 1], BLOCK))
        }
        Mapping::Serial { group, .. } => Ok(([1, 1, 1], *group)),
        Mapping::Gemm { gemm, .. } => {
            let (x, y) = (gemm.n.div_ceil(TILE).max(1), gemm.m.div_ceil(TILE).max(1));
            if x > i32::MAX as u64 || y > 65_535 {
                return Err(format!(
                    "a {} × {} matrix product is too large for one launch",
                    gemm.m, gemm.n
                ));
            }
            // Batches beyond the grid's z limit are covered by a loop.
            Ok(([x as u32, y as u32, 1], BLOCK))
        }
    }
}

/// Every non-constant buffer the launch touches, ascending.
fn buffers(p: &Program, m: &Mapping) -> Vec<BufId> {
    let mut set = BTreeSet::new();
    match m {
        Mapping::Rows { prelude, body, .. } => {
            set.extend(Stmt::buffers(prelude));
            set.extend(Stmt::buffers(body));
        }
        Mapping::Serial { body, .. } => set.extend(Stmt::buffers(body)),
        Mapping::Gemm { gemm, .. } => {
            set.extend([gemm.a.buf, gemm.b.buf, gemm.c.buf]);
        }
    }
    set.into_iter()
        .filter(|b| !matches!(p.buffer(*b).map(|x| &x.role), Some(Role::Const(_))))
        .collect()
}

/// The units of one kernel, as launches' mappings.
fn mappings(k: &Kernel) -> Vec<Mapping> {
    match units(k) {
        Some(ms) => ms,
        None => vec![serial(k.body.clone())],
    }
}

fn serial(body: Vec<Stmt>) -> Mapping {
    let group = match widest_split(&body) {
        0 => 1,
        w if w < 1024 => WARP,
        w if w < 65_536 => BLOCK,
        _ => 1024,
    };
    Mapping::Serial { body, group }
}

/// The kernel cut into units; `None` where a unit needs a value another unit
/// computes.
fn units(k: &Kernel) -> Option<Vec<Mapping>> {
    let body = &k.body;
    let assigned = assigned_locals(body);
    // Top-level lets that are pure definitions: copied where used.
    let mut floating: HashMap<Local, usize> = HashMap::new();
    for (i, s) in body.iter().enumerate() {
        if let Stmt::Let { local, value, .. } = s {
            if !assigned.contains(local)
                && expr_locals(value).iter().all(|l| floating.contains_key(l))
            {
                floating.insert(*local, i);
            }
        }
    }
    // Contiguous ranges of statements: (first, last, kind).
    #[derive(PartialEq)]
    enum RangeKind {
        Rows,
        Gemm,
        Serial,
    }
    let mut ranges: Vec<(usize, usize, RangeKind)> = Vec::new();
    for (i, s) in body.iter().enumerate() {
        let kind = match s {
            Stmt::Let { local, .. } if floating.contains_key(local) => continue,
            _ if gemm_nest(s).is_some() => RangeKind::Gemm,
            Stmt::Loop {
                kind: LoopKind::Parallel,
                ..
            } if !contains_gemm(std::slice::from_ref(s)) => RangeKind::Rows,
            _ => RangeKind::Serial,
        };
        match ranges.last_mut() {
            Some((_, last, RangeKind::Serial)) if kind == RangeKind::Serial => *last = i,
            _ => ranges.push((i, i, kind)),
        }
    }
    let mut out = Vec::new();
    for (first, last, kind) in ranges {
        // The statements of the range, floating lets inside it kept in place.
        let stmts: Vec<Stmt> = body[first..=last].to_vec();
        let mut defined = HashSet::new();
        let mut used = Vec::new();
        for s in &stmts {
            stmt_locals(s, &mut defined, &mut used);
        }
        // Floating lets from before the range that it uses, with what they use.
        let mut needed: BTreeSet<usize> = BTreeSet::new();
        let mut work: Vec<Local> = used.into_iter().filter(|l| !defined.contains(l)).collect();
        while let Some(l) = work.pop() {
            let &at = floating.get(&l)?;
            if at >= first || !needed.insert(at) {
                continue;
            }
            if let Stmt::Let { value, .. } = &body[at] {
                work.extend(expr_locals(value));
            }
        }
        // A copy runs later than the original: nothing in between may write
        // what it reads.
        for &at in &needed {
            let mut reads = BTreeSet::new();
            touched_loads(std::slice::from_ref(&body[at]), &mut reads);
            let mut written = BTreeSet::new();
            stored(&body[at + 1..first], &mut written);
            if !reads.is_disjoint(&written) {
                return None;
            }
        }
        let prelude: Vec<Stmt> = needed.iter().map(|&at| body[at].clone()).collect();
        out.push(match kind {
            RangeKind::Gemm => {
                let (loops, gemm) = gemm_nest(&stmts[0])?;
                Mapping::Gemm {
                    loops,
                    gemm: gemm.clone(),
                }
            }
            RangeKind::Rows => rows(prelude, &stmts[0]),
            RangeKind::Serial => serial(prelude.into_iter().chain(stmts).collect()),
        });
    }
    Some(out)
}

/// A rows mapping of the parallel loop `s`.
fn rows(prelude: Vec<Stmt>, s: &Stmt) -> Mapping {
    let Stmt::Loop {
        var, extent, body, ..
    } = s
    else {
        return serial(prelude.into_iter().chain([s.clone()]).collect());
    };
    let mut nest = vec![(*var, *extent)];
    let mut body = body.clone();
    // Collapse `[let…, L]` where L's iterations are independent stores and
    // the lets read nothing L writes: the lets then run once per element.
    while let Some((last, lets)) = body.split_last() {
        let Stmt::Loop {
            var,
            extent,
            body: inner,
            ..
        } = last
        else {
            break;
        };
        if !lets.iter().all(|s| matches!(s, Stmt::Let { .. })) || split(last) != Some(Split::Stores)
        {
            break;
        }
        let (mut reads, mut writes) = (BTreeSet::new(), BTreeSet::new());
        touched_loads(lets, &mut reads);
        stored(inner, &mut writes);
        if !reads.is_disjoint(&writes) {
            break;
        }
        nest.push((*var, *extent));
        body = lets.iter().cloned().chain(inner.iter().cloned()).collect();
    }
    let rows: u64 = nest.iter().map(|&(_, e)| e).product();
    let widest = widest_split(&body);
    let group = if widest < u64::from(WARP) {
        1
    } else if rows <= 128 && widest >= 4096 {
        BLOCK
    } else {
        WARP
    };
    let vector = if group == 1 && vectorizable(&nest, &body) {
        VECTOR
    } else {
        1
    };
    Mapping::Rows {
        prelude,
        nest,
        body,
        group,
        vector,
    }
}

/// Whether a rows body can run [`VECTOR`] rows per thread: straight-line
/// lets and stores, a row count that divides, some access at the row index,
/// and every buffer that is both read and written accessed only there.
fn vectorizable(nest: &[(Var, u64)], body: &[Stmt]) -> bool {
    let rows: u64 = nest.iter().map(|&(_, e)| e).product();
    if !rows.is_multiple_of(u64::from(VECTOR))
        || !body
            .iter()
            .all(|s| matches!(s, Stmt::Let { .. } | Stmt::Store { .. }))
    {
        return false;
    }
    let at_row = RowIndex::new(nest);
    // Stores at the row index are deferred to the end of the chunk and
    // loads there are done at its start, so a buffer written at the row
    // index must be written nowhere else, and a buffer both read and
    // written must be accessed only at the row index and read before it
    // is written.
    let mut any_row = false;
    let mut ok = true;
    let (mut loaded, mut stored_row, mut stored_other) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut loaded_other = BTreeSet::new();
    for s in body {
        for e in s.exprs() {
            e.walk(&mut |x| {
                if let Expr::Load { buf, index } = x {
                    let row = at_row.is_row(index);
                    any_row |= row;
                    ok &= !stored_row.contains(buf) && !stored_other.contains(buf);
                    loaded.insert(*buf);
                    if !row {
                        loaded_other.insert(*buf);
                    }
                }
            });
        }
        if let Stmt::Store { buf, index, .. } = s {
            let row = at_row.is_row(index);
            any_row |= row;
            if row {
                stored_row.insert(*buf);
            } else {
                stored_other.insert(*buf);
            }
        }
    }
    ok &= stored_row.is_disjoint(&stored_other);
    ok &= loaded_other.is_disjoint(&stored_row) && loaded.is_disjoint(&stored_other);
    any_row && ok
}

/// Decides whether an index is exactly the flat row index of a collapsed
/// nest (row `r` = the nest's variables in row-major order).
pub(crate) struct RowIndex {
    ranges: Ranges,
    row: Affine,
    vars: HashMap<Var, Affine>,
}

impl RowIndex {
    pub(crate) fn new(nest: &[(Var, u64)]) -> RowIndex {
        let mut ranges = Ranges::new();
        let r = Var(nest.iter().map(|(v, _)| v.0).max().unwrap_or(0) + 1);
        let rows: u64 = nest.iter().map(|&(_, e)| e).product();
        ranges.set(r, rows);
        let row = ranges.var(r);
        let mut vars = HashMap::new();
        let mut stride = rows;
        for &(v, e) in nest {
            stride /= e.max(1);
            let q = ranges.div(&row, stride.max(1));
            vars.insert(v, ranges.rem(&q, e.max(1)));
        }
        RowIndex { ranges, row, vars }
    }

    fn affine(&self, i: &Index) -> Option<Affine> {
        let r = &self.ranges;
        Some(match i {
            Index::Const(c) => Affine::constant(*c),
            Index::Var(v) => self.vars.get(v)?.clone(),
            Index::Add(a, b) => r.add(&self.affine(a)?, &self.affine(b)?),
            Index::Mul(a, c) => r.mul(&self.affine(a)?, *c),
            Index::Div(a, c) => r.div(&self.affine(a)?, *c),
            Index::Rem(a, c) => r.rem(&self.affine(a)?, *c),
        })
    }

    /// Whether `i` is the row index itself.
    pub(crate) fn is_row(&self, i: &Index) -> bool {
        self.affine(i).is_some_and(|a| a == self.row)
    }
}

/// The largest extent of a loop that a group would split, looking through
/// the loops it would not.
pub(crate) fn widest_split(body: &[Stmt]) -> u64 {
    body.iter()
        .map(|s| match s {
            Stmt::Loop { extent, body, .. } => {
                if split(s).is_some() {
                    *extent
                } else {
                    widest_split(body)
                }
            }
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// How the iterations of loop `s` may be spread over threads, if they may:
/// a reduction loop by its accumulators, as its kind declares them; any
/// other loop by its stores, when they are independent (a `parallel` loop's
/// are by definition).
pub(crate) fn split(s: &Stmt) -> Option<Split> {
    let Stmt::Loop {
        var, body, kind, ..
    } = s
    else {
        return None;
    };
    if contains_gemm(body) {
        return None;
    }
    let mut has_store = false;
    let mut assigns_outer = false;
    let mut defined = HashSet::new();
    Stmt::walk(body, &mut |s| match s {
        Stmt::Let { local, .. } => {
            defined.insert(*local);
        }
        Stmt::Store { .. } => has_store = true,
        _ => {}
    });
    Stmt::walk(body, &mut |s| {
        if let Stmt::Assign { local, .. } = s {
            assigns_outer |= !defined.contains(local);
        }
    });
    match kind {
        // A reduction loop may also store what it computes (lowering keeps
        // softmax's exponentials so), each iteration to its own element.
        LoopKind::Reduce(accs) => {
            (!has_store || independent_stores(*var, body)).then(|| Split::Reduce(accs.clone()))
        }
        // Updates of an enclosing local that are no declared reduction.
        _ if assigns_outer || !has_store => None,
        LoopKind::Parallel => Some(Split::Stores),
        LoopKind::Serial => independent_stores(*var, body).then_some(Split::Stores),
    }
}

/// Whether every store of `body` is at an element that depends on loop
/// variable `var`, and a buffer both read and written is accessed at one
/// index only: then the iterations touch disjoint elements.
fn independent_stores(var: Var, body: &[Stmt]) -> bool {
    let mut ok = true;
    let mut at: HashMap<BufId, Vec<Index>> = HashMap::new();
    let mut written = BTreeSet::new();
    Stmt::walk(body, &mut |s| {
        if let Stmt::Store { buf, index, .. } = s {
            let mut uses_var = false;
            index.vars(&mut |v| uses_var |= v == var);
            ok &= uses_var;
            written.insert(*buf);
            at.entry(*buf).or_default().push(index.clone());
        }
        for e in s.exprs() {
            e.walk(&mut |x| {
                if let Expr::Load { buf, index } = x {
                    at.entry(*buf).or_default().push(index.clone());
                }
            });
        }
    });
    let same_place = written
        .iter()
        .all(|b| at[b].windows(2).all(|w| w[0] == w[1]));
    ok && same_place
}

/// `(loops, gemm)` when `s` is a GEMM or a nest of loops, each holding only
/// the next, around one.
fn gemm_nest(s: &Stmt) -> Option<(Vec<(Var, u64)>, &Gemm)> {
    match s {
        Stmt::Gemm(g) => Some((Vec::new(), g)),
        Stmt::Loop {
            var, extent, body, ..
        } => match body.as_slice() {
            [inner] => {
                let (mut loops, g) = gemm_nest(inner)?;
                loops.insert(0, (*var, *extent));
                Some((loops, g))
            }
            _ => None,
        },
        _ => None,
    }
}

fn contains_gemm(body: &[Stmt]) -> bool {
    let mut found = false;
    Stmt::walk(body, &mut |s| found |= matches!(s, Stmt::Gemm(_)));
    found
}

fn assigned_locals(body: &[Stmt]) -> HashSet<Local> {
    let mut set = HashSet::new();
    Stmt::walk(body, &mut |s| {
        if let Stmt::Assign { local, .. } = s {
            set.insert(*local);
        }
    });
    set
}

fn expr_locals(e: &Expr) -> Vec<Local> {
    let mut v = Vec::new();
    e.walk(&mut |x| {
        if let Expr::Local(l) = x {
            v.push(*l);
        }
    });
    v
}

/// Records the locals `s` defines and those it reads or assigns.
fn stmt_locals(s: &Stmt, defined: &mut HashSet<Local>, used: &mut Vec<Local>) {
    Stmt::walk(std::slice::from_ref(s), &mut |x| {
        match x {
            Stmt::Let { local, .. } => {
                defined.insert(*local);
            }
            Stmt::Assign { local, .. } => used.push(*local),
            _ => {}
        }
        for e in x.exprs() {
            used.extend(expr_locals(e));
        }
    });
}

fn touched_loads(body: &[Stmt], set: &mut BTreeSet<BufId>) {
    Stmt::walk(body, &mut |s| {
        if let Stmt::Gemm(g) = s {
            set.extend([g.a.buf, g.b.buf]);
            if g.beta != 0.0 {
                set.insert(g.c.buf);
            }
        }
        for e in s.exprs() {
            e.walk(&mut |x| {
                if let Expr::Load { buf, .. } = x {
                    set.insert(*buf);
                }
            });
        }
    });
}

fn stored(body: &[Stmt], set: &mut BTreeSet<BufId>) {
    Stmt::walk(body, &mut |s| match s {
        Stmt::Store { buf, .. } => {
            set.insert(*buf);
        }
        Stmt::Gemm(g) => {
            set.insert(g.c.buf);
        }
        _ => {}
    });
}

/// The dtype of every local a body defines.
pub(crate) fn local_types(body: &[Stmt], into: &mut HashMap<Local, DType>) {
    Stmt::walk(body, &mut |s| {
        if let Stmt::Let { local, dtype, .. } = s {
            into.insert(*local, *dtype);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfg_ir::kernel::parse;

    fn launches(text: &str) -> Vec<Launch> {
        let p = parse(text).unwrap_or_else(|e| panic!("{e:?}"));
        schedule(&p).expect("schedule")
    }

    #[test]
    fn softmax_rows_use_a_warp_per_row_and_split_every_loop() {
        let ls = launches(
            "program {
  buffer b0: f32[4, 64] input 0 \"x\"
  buffer b1: f32[4, 64] output 0 \"y\"
  arena 0
  kernel k0 reads b0, b1 writes b1 {
    parallel for i0 in 0..4 {
      let t0: f32 = -inf
      reduce(t0: maximum) for i1 in 0..64 {
        t0 = maximum(t0, b0[i0 * 64 + i1])
      }
      let t1: f64 = 0.0f64
      reduce(t1: add) for i2 in 0..64 {
        let t3: f32 = exp(sub(b0[i0 * 64 + i2], t0))
        store b1[i0 * 64 + i2] = t3
        t1 = add(t1, cast<f64>(t3))
      }
      let t2: f32 = cast<f32>(t1)
      for i3 in 0..64 {
        store b1[i0 * 64 + i3] = div(b1[i0 * 64 + i3], t2)
      }
    }
  }
}",
        );
        let [l] = &ls[..] else {
            panic!("one launch expected")
        };
        let Mapping::Rows {
            nest, body, group, ..
        } = &l.mapping
        else {
            panic!("rows expected")
        };
        assert_eq!((nest.len(), *group), (1, WARP));
        let splits: Vec<Option<Split>> = body
            .iter()
            .filter(|s| matches!(s, Stmt::Loop { .. }))
            .map(split)
            .collect();
        assert_eq!(
            splits,
            [
                Some(Split::Reduce(vec![(Local(0), BinaryOp::Maximum)])),
                Some(Split::Reduce(vec![(Local(1), BinaryOp::Add)])),
                Some(Split::Stores)
            ]
        );
        assert_eq!(
            (l.entry.as_str(), l.buffers.clone(), l.block),
            ("tfg_k0", vec![BufId(0), BufId(1)], BLOCK)
        );
    }

    #[test]
    fn elementwise_nests_collapse_and_vectorise() {
        let ls = launches(
            "program {
  buffer b0: f32[8, 16] input 0 \"x\"
  buffer b1: f32[16] input 1 \"b\"
  buffer b2: f32[8, 16] output 0 \"y\"
  arena 0
  kernel k0 reads b0, b1 writes b2 {
    parallel for i0 in 0..8 {
      for i1 in 0..16 {
        store b2[i0 * 16 + i1] = add(b0[i0 * 16 + i1], b1[i1])
      }
    }
  }
}",
        );
        let Mapping::Rows {
            nest,
            group,
            vector,
            ..
        } = &ls[0].mapping
        else {
            panic!("rows expected")
        };
        assert_eq!((nest.len(), *group, *vector), (2, 1, VECTOR));
        // 128 elements, 4 a thread: one block of 256 threads is plenty.
        assert_eq!(ls[0].grid, [1, 1, 1]);
    }

    #[test]
    fn vectors_keep_in_place_updates_but_not_reads_after_writes() {
        let rows = |body: &str| {
            let text = format!(
                "program {{
  buffer b0: f32[16] input 0 \"x\"
  buffer b1: f32[16] output 0 \"y\"
  arena 0
  kernel k0 reads b0, b1 writes b1 {{
    parallel for i0 in 0..16 {{
      {body}
    }}
  }}
}}"
            );
            match &launches(&text)[0].mapping {
                Mapping::Rows { vector, .. } => *vector,
                other => panic!("rows expected, got {other:?}"),
            }
        };
        let in_place =
            "store b1[i0] = b0[i0]\n      let t0: f32 = b1[i0]\n      store b1[i0] = add(t0, 1.0)";
        assert_eq!(rows(in_place), 1, "a read after a write of the same buffer");
        assert_eq!(rows("store b1[i0] = exp(b0[i0])"), VECTOR);
    }

    #[test]
    fn a_gemm_and_its_epilogue_are_two_launches_sharing_a_hoisted_let() {
        let ls = launches(
            "program {
  buffer b0: f32[4, 4] input 0 \"a\"
  buffer b1: f32 input 1 \"s\"
  buffer b2: f32[4, 4] output 0 \"c\"
  arena 0
  kernel k0 reads b0, b1, b2 writes b2 {
    gemm b2[0] ld 4 stride 16 = b0[0] ld 4 stride 0 @ b0[0] ld 4 stride 0 {m = 4, n = 4, k = 4, batch = 1, alpha = 1.0, beta = 0.0}
    let t0: f32 = b1[0]
    parallel for i0 in 0..16 {
      store b2[i0] = mul(b2[i0], t0)
    }
  }
}",
        );
        assert_eq!(
            ls.iter().map(|l| l.entry.as_str()).collect::<Vec<_>>(),
            ["tfg_k0_0", "tfg_k0_1"]
        );
        assert!(matches!(ls[0].mapping, Mapping::Gemm { .. }));
        let Mapping::Rows { prelude, .. } = &ls[1].mapping else {
            panic!("rows expected")
        };
        assert_eq!(prelude.len(), 1);
        assert_eq!(ls[0].grid, [1, 1, 1]);
    }

    #[test]
    fn a_value_shared_across_units_makes_the_kernel_serial() {
        let ls = launches(
            "program {
  buffer b0: f32[1000] input 0 \"x\"
  buffer b1: f32[1000] output 0 \"y\"
  arena 0
  kernel k0 reads b0 writes b1 {
    let t0: f64 = 0.0f64
    reduce(t0: add) for i0 in 0..1000 {
      t0 = add(t0, cast<f64>(b0[i0]))
    }
    let t1: f32 = cast<f32>(t0)
    parallel for i1 in 0..1000 {
      store b1[i1] = div(b0[i1], t1)
    }
  }
}",
        );
        let [l] = &ls[..] else {
            panic!("one launch expected")
        };
        assert!(
            matches!(l.mapping, Mapping::Serial { group: WARP, .. }),
            "{:?}",
            l.mapping
        );
        assert_eq!((l.grid, l.block), ([1, 1, 1], WARP));
    }
}
