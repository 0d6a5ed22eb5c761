//! Tiling a GEMM's left operand into the cache.
//!
//! A convolution lowers to a kernel that fills a temporary (its im2col: the
//! input's taps side by side, one row per output pixel) and a GEMM in the
//! next kernel that reads it as its left operand. Run as they are, the
//! temporary goes out to memory whole and comes back (29 MB each way for
//! W7). Here the two run together, tile by tile: each tile of rows is filled
//! into a slot of the temporary and multiplied at once, while it is still in
//! the cache. Slots are reused: a thread fills one slot again and again, so
//! only the first [`SLOTS`] tiles' bytes of the temporary are ever touched.
//!
//! The rewrite applies where the producer's every statement is a loop nest
//! whose outer loops walk the operand's rows in order (each row's elements
//! written by the loops inside), and nothing but the GEMM reads the
//! temporary. It is the CPU's schedule: a GPU runs the two kernels as they
//! are. Each rewritten program is checked by the Kernel IR verifier (bounds,
//! scopes, the arena's lifetimes), and a rewrite it rejects is dropped, so a
//! mistake here costs speed, not results.

use tfg_ir::kernel::{
    verify, BufId, Expr, Gemm, Index, Kernel, LoopKind, MatRef, Program, Ranges, Role, Stmt, Var,
};

/// The bytes of the left operand one tile holds: with the GEMM's packed
/// copies and its result, well inside a 1 MiB L2 cache.
const TILE_BYTES: u64 = 256 << 10;
/// A tile of fewer rows makes a GEMM call too small to pay for itself.
const MIN_ROWS: u64 = 128;
/// The most tiles in flight at once (each in a slot of its own).
const SLOTS: u64 = 16;

/// `p` with every producer and GEMM that qualify run tile by tile, or `None`
/// when none does.
pub(crate) fn tile(p: &Program) -> Option<Program> {
    // Copied only once a pair qualifies: most programs have none, and a
    // program's constants may be large.
    let mut out: Option<Program> = None;
    let mut changed = false;
    for i in 0..p.kernels.len().saturating_sub(1) {
        let Some((producer, consumer)) = tiled(out.as_ref().unwrap_or(p), i) else {
            continue;
        };
        let out = out.get_or_insert_with(|| p.clone());
        let before = (
            std::mem::replace(&mut out.kernels[i], producer),
            std::mem::replace(&mut out.kernels[i + 1], consumer),
        );
        match verify(out) {
            Ok(()) => changed = true,
            Err(e) => {
                debug_assert!(false, "tiling {} broke the program: {e}", before.0.name);
                (out.kernels[i], out.kernels[i + 1]) = before;
            }
        }
    }
    out.filter(|_| changed)
}

/// A loop of a producer's row nest.
#[derive(Clone)]
struct RowLoop {
    var: Var,
    extent: u64,
    kind: LoopKind,
}

/// One top-level statement of a producer: `rows` perfectly nested loops
/// that walk the operand's rows in order, around `body`.
struct Nest {
    rows: Vec<RowLoop>,
    body: Vec<Stmt>,
}

/// How the rows are cut: dims `..split` one tile index each, dim `split` in
/// blocks of `block`, the dims after it whole.
struct Tiling {
    split: usize,
    block: u64,
    rows: u64,
    tiles: u64,
}

/// Kernels `i` and `i + 1` of `p` fused and tiled, if they qualify.
fn tiled(p: &Program, i: usize) -> Option<(Kernel, Kernel)> {
    let (producer, consumer) = (&p.kernels[i], &p.kernels[i + 1]);
    let Some(Stmt::Gemm(g)) = consumer.body.first() else {
        return None;
    };
    let t = g.a.buf;
    let constant = |r: &MatRef| r.offset.eval(&|_| None);
    let temp = p.buffer(t)?;
    let plain = g.batch == 1
        && !g.trans_a
        && g.beta == 0.0
        && g.m > 0
        && g.n > 0
        && g.k > 0
        && g.a.ld == g.k
        && constant(&g.a) == Some(0)
        && constant(&g.b).is_some()
        && temp.role == Role::Temp
        && temp.len() == g.m.checked_mul(g.k)?;
    // The producer fills the operand and nothing else; the GEMM's other
    // buffers are neither the operand nor read by the producer, which now
    // runs interleaved with the GEMM's writes.
    let alone = producer.writes == [t]
        && ![g.b.buf, g.c.buf].contains(&t)
        && !producer.reads.contains(&g.c.buf)
        && !producer.reads.contains(&t);
    let (rest_reads, _) = Stmt::accesses(&consumer.body[1..]);
    let read_once = !rest_reads.contains(&t)
        && p.kernels
            .iter()
            .enumerate()
            .all(|(j, k)| j == i + 1 || !k.reads.contains(&t));
    if !(plain && alone && read_once && copies(&producer.body))
        || shares_bytes(p, g.c.buf, &producer.reads)
    {
        return None;
    }
    let c_offset = constant(&g.c)?;

    let nests = producer
        .body
        .iter()
        .map(|s| nest(s, g.m, g.k, t))
        .collect::<Option<Vec<_>>>()?;
    let extents: Vec<u64> = nests.first()?.rows.iter().map(|r| r.extent).collect();
    if nests
        .iter()
        .any(|n| n.rows.iter().map(|r| r.extent).ne(extents.iter().copied()))
    {
        return None;
    }
    let tiling = choose(&extents, g.k * temp.dtype.size() as u64)?;

    // Slots: `c` names a thread's slot, `u` the tiles it runs in turn.
    let slots = slots(tiling.tiles);
    let turns = tiling.tiles / slots;
    let mut next = first_free_var(&producer.body);
    let mut fresh = || {
        next += 1;
        Var(next - 1)
    };
    let (c, u) = (fresh(), fresh());
    // Each nest's rows of the tile's block, in a loop of its own.
    let within: Vec<Var> = nests.iter().map(|_| fresh()).collect();
    let mut ranges = Ranges::new();
    ranges.set(c, slots);
    ranges.set(u, turns);
    for (n, &w) in nests.iter().zip(&within) {
        ranges.set(w, tiling.block);
        declare(&mut ranges, &n.body);
        for r in &n.rows[tiling.split + 1..] {
            ranges.set(r.var, r.extent);
        }
    }
    let var = |v: Var| Box::new(Index::Var(v));
    let tile = Index::Add(Box::new(Index::Mul(var(c), turns)), var(u));
    let slot_base = Index::Mul(var(c), tiling.rows * g.k);

    // Each row dim before the split is the tile index's mixed-radix digit.
    let mut digits = extents[..tiling.split].to_vec();
    digits.push(extents[tiling.split] / tiling.block);
    let mut radix = 1;
    let mut digit = vec![Index::Const(0); digits.len()];
    for (d, &extent) in digits.iter().enumerate().rev() {
        let place = Index::Div(Box::new(tile.clone()), radix);
        digit[d] = Index::Rem(Box::new(place), extent);
        radix *= extent;
    }
    let block_start = Index::Mul(Box::new(digit[tiling.split].clone()), tiling.block);

    let mut body = Vec::new();
    for (n, within) in nests.into_iter().zip(within) {
        let row_start = Index::Add(Box::new(block_start.clone()), var(within));
        let global = |v: Var| -> Option<Index> {
            let d = n.rows.iter().position(|r| r.var == v)?;
            match d.cmp(&tiling.split) {
                std::cmp::Ordering::Less => Some(digit[d].clone()),
                std::cmp::Ordering::Equal => Some(row_start.clone()),
                std::cmp::Ordering::Greater => None,
            }
        };
        let local = |v: Var| -> Option<Index> {
            let d = n.rows.iter().position(|r| r.var == v)?;
            match d.cmp(&tiling.split) {
                std::cmp::Ordering::Less => Some(Index::Const(0)),
                std::cmp::Ordering::Equal => Some(Index::Var(within)),
                std::cmp::Ordering::Greater => None,
            }
        };
        let mut inner = n.body;
        rewrite(&mut inner, &mut |i, store| {
            let map: &dyn Fn(Var) -> Option<Index> = if store { &local } else { &global };
            let moved = substitute(i, map);
            let moved = if store {
                Index::Add(Box::new(moved), Box::new(slot_base.clone()))
            } else {
                moved
            };
            ranges.affine(&moved).to_index()
        });
        for r in n.rows[tiling.split + 1..].iter().rev() {
            inner = vec![Stmt::Loop {
                var: r.var,
                extent: r.extent,
                kind: r.kind.clone(),
                body: inner,
            }];
        }
        body.push(Stmt::Loop {
            var: within,
            extent: tiling.block,
            kind: LoopKind::Serial,
            body: inner,
        });
    }
    let c_rows = Index::Mul(Box::new(tile), tiling.rows * g.c.ld);
    body.push(Stmt::Gemm(Gemm {
        m: tiling.rows,
        a: MatRef {
            offset: ranges.affine(&slot_base).to_index(),
            ..g.a.clone()
        },
        c: MatRef {
            offset: ranges
                .affine(&Index::Add(
                    Box::new(c_rows),
                    Box::new(Index::Const(c_offset)),
                ))
                .to_index(),
            ..g.c.clone()
        },
        ..g.clone()
    }));
    let body = vec![Stmt::Loop {
        var: c,
        extent: slots,
        kind: LoopKind::Parallel,
        body: vec![Stmt::Loop {
            var: u,
            extent: turns,
            kind: LoopKind::Serial,
            body,
        }],
    }];
    Some((
        kernel(&producer.name, body),
        kernel(&consumer.name, consumer.body[1..].to_vec()),
    ))
}

/// Whether `body` only moves values (an im2col, a padding): a producer that
/// computes (a pool, an activation) runs better as a kernel of its own,
/// which the LLVM tier vectorises, than inside a GEMM's task, which keeps
/// Cranelift's code.
fn copies(body: &[Stmt]) -> bool {
    let mut only_moves = true;
    Stmt::walk(body, &mut |s| {
        for e in s.exprs() {
            e.walk(&mut |e| {
                only_moves &= matches!(
                    e,
                    Expr::Const(_) | Expr::Local(_) | Expr::Index(_) | Expr::Load { .. }
                );
            });
        }
    });
    only_moves
}

fn kernel(name: &str, body: Vec<Stmt>) -> Kernel {
    let (reads, writes) = Stmt::accesses(&body);
    Kernel {
        name: name.to_string(),
        reads,
        writes,
        body,
    }
}

/// `s` as a row nest of the `m × k` operand `t`: the outer loops whose
/// extents multiply to `m`, perfectly nested, with every store in them
/// writing row `Σ` (their variables in row-major order) at a column the
/// inner loops keep below `k`.
fn nest(s: &Stmt, m: u64, k: u64, t: BufId) -> Option<Nest> {
    let mut rows = Vec::new();
    let mut covered = 1u64;
    let mut at = s;
    let body = loop {
        let Stmt::Loop {
            var,
            extent,
            kind,
            body,
        } = at
        else {
            return None;
        };
        if matches!(kind, LoopKind::Reduce(_)) {
            return None;
        }
        rows.push(RowLoop {
            var: *var,
            extent: *extent,
            kind: kind.clone(),
        });
        covered = covered.checked_mul(*extent)?;
        if covered == m {
            break body.clone();
        }
        match body.as_slice() {
            [inner] if covered < m => at = inner,
            _ => return None,
        }
    };
    let mut ranges = Ranges::new();
    for r in &rows {
        ranges.set(r.var, r.extent);
    }
    declare(&mut ranges, &body);
    let mut ok = true;
    Stmt::walk(&body, &mut |s| {
        if let Stmt::Store { buf, index, .. } = s {
            ok &= *buf == t && row_major(&ranges, index, &rows, k);
        }
    });
    ok.then_some(Nest { rows, body })
}

/// Whether `index` is `k · row + column`, `row` the row loops' variables in
/// row-major order and `column < k` whatever the inner loops do.
fn row_major(ranges: &Ranges, index: &Index, rows: &[RowLoop], k: u64) -> bool {
    let affine = ranges.affine(index);
    if affine.has_div_rem() {
        return false;
    }
    let canon = affine.to_index();
    let at = |one: Option<Var>| canon.eval(&|v| Some(u64::from(Some(v) == one)));
    let Some(base) = at(None) else { return false };
    let mut stride = k;
    let mut row_part = 0u64;
    for r in rows.iter().rev() {
        if r.extent > 1 {
            let Some(coefficient) = at(Some(r.var)).and_then(|x| x.checked_sub(base)) else {
                return false;
            };
            if coefficient != stride {
                return false;
            }
            row_part = row_part.saturating_add(stride.saturating_mul(r.extent - 1));
        }
        stride = stride.saturating_mul(r.extent);
    }
    ranges
        .max(&affine)
        .checked_sub(row_part)
        .is_some_and(|c| c < k)
}

/// The largest tile under [`TILE_BYTES`]: whole trailing dims, then a block
/// of the next dim that divides it. `None` when one tile would hold every
/// row, or too few.
fn choose(extents: &[u64], row_bytes: u64) -> Option<Tiling> {
    let mut inner = 1u64;
    for split in (0..extents.len()).rev() {
        let extent = extents[split];
        let fits = |b: u64| b * inner * row_bytes <= TILE_BYTES;
        let block = (1..=extent)
            .rev()
            .find(|&b| extent.is_multiple_of(b) && fits(b))?;
        if block < extent || split == 0 {
            let rows = block * inner;
            let tiles = extents.iter().product::<u64>() / rows;
            return (rows >= MIN_ROWS && tiles >= 2).then_some(Tiling {
                split,
                block,
                rows,
                tiles,
            });
        }
        inner *= extent;
    }
    None
}

/// How many slots `tiles` tiles run in: the most up to [`SLOTS`] that
/// divides them evenly, or one a tile when that would leave threads idle
/// (the tiles are then still multiplied while in the cache, only not
/// reused).
fn slots(tiles: u64) -> u64 {
    let even = (1..=SLOTS.min(tiles))
        .rev()
        .find(|&s| tiles.is_multiple_of(s))
        .unwrap_or(1);
    if even * 2 < SLOTS.min(tiles) {
        tiles
    } else {
        even
    }
}

/// One past the largest loop variable of `body`.
fn first_free_var(body: &[Stmt]) -> u32 {
    let mut next = 0;
    Stmt::walk(body, &mut |s| {
        if let Stmt::Loop { var, .. } = s {
            next = next.max(var.0 + 1);
        }
    });
    next
}

/// Declares every loop variable of `body` in `ranges`.
fn declare(ranges: &mut Ranges, body: &[Stmt]) {
    Stmt::walk(body, &mut |s| {
        if let Stmt::Loop { var, extent, .. } = s {
            ranges.set(*var, *extent);
        }
    });
}

/// `i` with each variable `v` that `f` maps replaced by `f(v)`.
fn substitute(i: &Index, f: &dyn Fn(Var) -> Option<Index>) -> Index {
    let sub = |x: &Index| Box::new(substitute(x, f));
    match i {
        Index::Const(_) => i.clone(),
        Index::Var(v) => f(*v).unwrap_or_else(|| i.clone()),
        Index::Add(a, b) => Index::Add(sub(a), sub(b)),
        Index::Mul(a, c) => Index::Mul(sub(a), *c),
        Index::Div(a, c) => Index::Div(sub(a), *c),
        Index::Rem(a, c) => Index::Rem(sub(a), *c),
    }
}

/// Replaces every index in `body` by `f(index, is_a_store_index)`.
fn rewrite(body: &mut [Stmt], f: &mut impl FnMut(&Index, bool) -> Index) {
    for s in body {
        match s {
            Stmt::Loop { body, .. } => rewrite(body, f),
            Stmt::Let { value, .. } | Stmt::Assign { value, .. } => rewrite_expr(value, f),
            Stmt::Store { index, value, .. } => {
                *index = f(index, true);
                rewrite_expr(value, f);
            }
            Stmt::Gemm(g) => {
                for r in [&mut g.a, &mut g.b, &mut g.c] {
                    r.offset = f(&r.offset, false);
                }
            }
        }
    }
}

fn rewrite_expr(e: &mut Expr, f: &mut impl FnMut(&Index, bool) -> Index) {
    e.walk_mut(&mut |x| match x {
        Expr::Load { index, .. } | Expr::Index(index) => *index = f(index, false),
        _ => {}
    });
}

/// Whether temporary `b` shares arena bytes with a temporary in `others`.
fn shares_bytes(p: &Program, b: BufId, others: &[BufId]) -> bool {
    let span = |x: BufId| -> Option<(u64, u64)> {
        let at = p.plan.offsets.get(x.index()).copied().flatten()?;
        Some((at, at + p.buffer(x)?.bytes()))
    };
    let Some((lo, hi)) = span(b) else {
        return false;
    };
    others
        .iter()
        .filter_map(|&o| span(o))
        .any(|(l, h)| l < hi && lo < h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w7_runs_in_tiles_of_seven_image_rows_in_sixteen_slots() {
        // x f32[32, 28, 28, 32] with a 3×3 filter: rows of 288 f32.
        let t = choose(&[32, 28, 28], 288 * 4).expect("tiles");
        assert_eq!((t.split, t.block, t.rows, t.tiles), (1, 7, 196, 128));
        assert_eq!(slots(t.tiles), 16);
    }

    #[test]
    fn too_few_rows_a_tile_or_one_tile_in_all_is_left_alone() {
        // ResNet-50's 28×28 stage: one image row is 129 KiB, two do not fit.
        assert!(choose(&[1, 28, 28], 1152 * 4).is_none());
        // Everything fits in one tile.
        assert!(choose(&[2, 8, 8], 27 * 4).is_none());
        // One row larger than a tile.
        assert!(choose(&[1000], 100_000 * 4).is_none());
    }

    #[test]
    fn slots_divide_the_tiles_or_take_one_each() {
        assert_eq!(slots(28), 14);
        assert_eq!(slots(3), 3);
        // 34 = 2 · 17: two slots would leave threads idle.
        assert_eq!(slots(34), 34);
    }
}
