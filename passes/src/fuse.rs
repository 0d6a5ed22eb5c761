//! Fusion: which Graph IR ops run together, as one kernel.
//!
//! [`fuse`] partitions the live compute nodes of a graph into groups, each of
//! which [`crate::lower`] turns into one loop nest, so that a fused value
//! never goes through memory:
//!
//! - **elementwise** chains (unary, binary, select, cast, one_hot, and the
//!   index-only ops broadcast_to, transpose and reshape) become one loop over
//!   the result's elements;
//! - a **reduction** (reduce_*, argmax, argmin) takes in its elementwise
//!   producers (computed inside its accumulation loop) and its elementwise
//!   consumers (its epilogue); reductions over the same rows share a kernel,
//!   which is how softmax (max, then sum of exp, then divide) becomes one pass
//!   over each row with the row's statistics kept in registers;
//! - a **gemm** (matmul) is a library call whose elementwise consumers (bias,
//!   activation) run as an epilogue, and which reads an operand transposed in
//!   its last two dims through the call's transpose flag instead of copying it;
//! - a **concat** writes each operand's slice, computing elementwise producers
//!   on the way;
//! - a reshape of a value in memory is a **view**: it names the same buffer.
//!
//! The partition is greedy, from the outputs back (as XLA's instruction fusion
//! goes): a value joins the kernel of its consumers when that kernel can
//! compute it at the index each consumer needs. A value that leaves its kernel
//! (read by another kernel, an output, an update) is stored; one read by
//! several kernels is computed by one of them (multi-output fusion) unless
//! that would make two kernels wait on each other. Where a value could have
//! joined a consumer's kernel but did not, the group keeps a note saying why,
//! and the printed [`Fusion`] shows every decision.
//!
//! Fusion expects a valid graph with concrete shapes (a specialised graph);
//! with symbolic dims it leaves every op in a kernel of its own, and an
//! invalid graph gets no kernels at all (lowering then says what is wrong).

use crate::lower;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use tfg_ir::fused::{reduced_axes, swaps_last_two, Fusion, Group, GroupKind};
use tfg_ir::{Graph, Op, ValueId};

/// How an op fuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Leaf,
    Elementwise,
    Reduction,
    MatMul,
    Concat,
    Opaque,
}

fn class(op: &Op) -> Class {
    match op {
        Op::Input { .. } | Op::Param { .. } | Op::Const(_) => Class::Leaf,
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Select
        | Op::Cast { .. }
        | Op::BroadcastTo { .. }
        | Op::Transpose { .. }
        | Op::Reshape { .. }
        | Op::Slice { .. }
        | Op::OneHot { .. } => Class::Elementwise,
        Op::Reduce { .. } | Op::ArgMax { .. } | Op::ArgMin { .. } => Class::Reduction,
        Op::MatMul => Class::MatMul,
        Op::Concat { .. } => Class::Concat,
        Op::Grad | Op::StopGradient => Class::Opaque,
    }
}

/// Partitions `g`'s live compute nodes into kernels.
pub fn fuse(g: &Graph) -> Fusion {
    // An invalid graph gets no kernels; lowering reports what is wrong with it.
    if tfg_ir::verify(g).is_err() {
        return Fusion {
            groups: Vec::new(),
            group_of: vec![None; g.nodes.len()],
        };
    }
    let live = g.live();
    let concrete = g
        .ids()
        .all(|v| !live[v.index()] || g.ty(v).shape.concrete().is_some());
    let mut b = Builder::new(g, live);
    for v in g.ids().rev() {
        if b.live[v.index()] && class(&g.node(v).op) != Class::Leaf {
            b.place(v, concrete);
        }
    }
    if concrete {
        b.merge_groups();
    }
    b.finish()
}

/// A group while it is being built.
#[derive(Clone, Debug, Default)]
struct Draft {
    members: Vec<ValueId>,
    reductions: Vec<ValueId>,
    matmul: Option<ValueId>,
    concat: bool,
    opaque: bool,
    transposed: Vec<ValueId>,
    notes: Vec<Note>,
}

#[derive(Clone, Debug)]
enum Note {
    /// `value` could have joined draft `into` but did not, because `why`.
    NotFused {
        value: ValueId,
        into: usize,
        why: String,
    },
}

struct Builder<'g> {
    g: &'g Graph,
    live: Vec<bool>,
    /// Distinct live consumers of each node.
    consumers: Vec<Vec<ValueId>>,
    /// Outputs and update values: stored whatever else reads them.
    is_root: Vec<bool>,
    group_of: Vec<Option<usize>>,
    drafts: Vec<Draft>,
    /// The draft each draft was merged into, if it was.
    redirect: Vec<Option<usize>>,
}

impl<'g> Builder<'g> {
    fn new(g: &'g Graph, live: Vec<bool>) -> Builder<'g> {
        let n = g.nodes.len();
        let mut consumers: Vec<Vec<ValueId>> = vec![Vec::new(); n];
        for v in g.ids().filter(|v| live[v.index()]) {
            for a in &g.node(v).args {
                let c = &mut consumers[a.index()];
                if c.last() != Some(&v) {
                    c.push(v);
                }
            }
        }
        let mut is_root = vec![false; n];
        for v in g
            .outputs
            .iter()
            .map(|o| o.1)
            .chain(g.updates.iter().map(|u| u.1))
        {
            is_root[v.index()] = true;
        }
        Builder {
            g,
            live,
            consumers,
            is_root,
            group_of: vec![None; n],
            drafts: Vec::new(),
            redirect: Vec::new(),
        }
    }

    fn numel(&self, v: ValueId) -> Option<u64> {
        self.g.ty(v).shape.numel()
    }

    /// Puts `v` into the best consumer group that takes it, or a new one.
    fn place(&mut self, v: ValueId, concrete: bool) {
        let mut candidates: Vec<(usize, usize)> = Vec::new();
        for c in &self.consumers[v.index()] {
            if let Some(d) = self.group_of[c.index()] {
                match candidates.iter_mut().find(|(x, _)| *x == d) {
                    Some((_, n)) => *n += 1,
                    None => candidates.push((d, 1)),
                }
            }
        }
        // Most consumers first; then the earliest group.
        candidates.sort_by_key(|&(d, n)| (Reverse(n), d));
        let mut first_refusal = None;
        if concrete {
            for &(d, _) in &candidates {
                match self.try_join(v, d) {
                    Ok(()) => return,
                    Err(Some(why)) if first_refusal.is_none() => first_refusal = Some((d, why)),
                    Err(_) => {}
                }
            }
        }
        let op = &self.g.node(v).op;
        let mut draft = Draft {
            members: vec![v],
            concat: class(op) == Class::Concat,
            opaque: class(op) == Class::Opaque,
            ..Draft::default()
        };
        match class(op) {
            Class::Reduction => draft.reductions.push(v),
            Class::MatMul => draft.matmul = Some(v),
            _ => {}
        }
        if let Some((into, why)) = first_refusal {
            draft.notes.push(Note::NotFused {
                value: v,
                into,
                why,
            });
        }
        self.group_of[v.index()] = Some(self.drafts.len());
        self.drafts.push(draft);
        self.redirect.push(None);
    }

    /// Adds `v` to draft `d` if that is sound; otherwise why not (`None`
    /// where the answer is not a choice worth reporting).
    fn try_join(&mut self, v: ValueId, d: usize) -> Result<(), Option<String>> {
        let g = self.g;
        let cls = class(&g.node(v).op);
        let draft = &self.drafts[d];
        if draft.opaque || matches!(cls, Class::Concat | Class::Opaque) {
            return Err(None);
        }
        let (inside, outside): (Vec<ValueId>, Vec<ValueId>) = self.consumers[v.index()]
            .iter()
            .partition(|c| self.group_of[c.index()] == Some(d));
        let stored = self.is_root[v.index()] || !outside.is_empty();
        if cls == Class::Elementwise
            && !stored
            && swaps_last_two(&g.node(v).op)
            && draft.matmul.is_some()
            && inside.iter().all(|c| Some(*c) == draft.matmul)
        {
            self.commit(v, d);
            self.drafts[d].transposed.push(v);
            return Ok(());
        }
        for c in &inside {
            if Some(*c) == draft.matmul || draft.transposed.contains(c) {
                return Err(Some("a gemm reads its operands from memory".into()));
            }
        }
        match cls {
            Class::Reduction if draft.matmul.is_some() => {
                return Err(Some("a kernel with a gemm takes no reduction".into()))
            }
            Class::Reduction | Class::MatMul if draft.concat => return Err(None),
            Class::MatMul if draft.matmul.is_some() => {
                return Err(Some("the kernel has a gemm already".into()))
            }
            Class::MatMul if !draft.reductions.is_empty() => {
                return Err(Some("a reduction kernel takes no gemm".into()))
            }
            Class::Reduction => self.fits_rows(v, d)?,
            _ => {}
        }
        if stored {
            if draft.concat {
                return Err(Some("a concat kernel stores only its result".into()));
            }
            let spaces = self.spaces(
                d,
                if cls == Class::Reduction {
                    Some(v)
                } else {
                    None
                },
            );
            let n = self.numel(v);
            if !spaces.contains(&n) {
                return Err(Some(format!(
                    "it is stored, and its {} elements do not match the kernel's loop",
                    n.map_or("?".into(), |n| n.to_string())
                )));
            }
            for c in &outside {
                if let Some(h) = self.group_of[c.index()] {
                    if self.reaches(h, d) {
                        return Err(Some(format!(
                            "{c} is computed from this kernel's results and also reads {v}"
                        )));
                    }
                }
            }
        }
        if cls == Class::Reduction {
            let trial = self.trial_group(d, v);
            lower::check_group(g, &trial).map_err(|e| {
                Some(format!(
                    "its result is not read along the kernel's rows ({e})"
                ))
            })?;
        }
        self.commit(v, d);
        match cls {
            Class::Reduction => self.drafts[d].reductions.push(v),
            Class::MatMul => self.drafts[d].matmul = Some(v),
            _ => {}
        }
        Ok(())
    }

    /// A reduction `r` may join draft `d` if every reduction there reduces
    /// the same axes of the same shape, and every value `d` stores is a row
    /// result or a full row element.
    fn fits_rows(&self, r: ValueId, d: usize) -> Result<(), Option<String>> {
        let g = self.g;
        let arg = |x: ValueId| g.node(x).args[0];
        let draft = &self.drafts[d];
        if let Some(&first) = draft.reductions.first() {
            let (xa, xb) = (g.ty(arg(first)), g.ty(arg(r)));
            let (aa, ab) = (reduced_axes(&g.node(first).op), reduced_axes(&g.node(r).op));
            if xa.shape != xb.shape || aa != ab {
                return Err(Some(format!(
                    "it reduces axes {ab:?} of {}, the kernel reduces axes {aa:?} of {}",
                    tfg_ir::text::type_text(xb),
                    tfg_ir::text::type_text(xa)
                )));
            }
        }
        let spaces = self.spaces(d, Some(r));
        for s in self.stored_members(d) {
            if !spaces.contains(&self.numel(s)) {
                return Err(Some(format!(
                    "the kernel stores {s}, which is neither a row result nor a row element"
                )));
            }
        }
        Ok(())
    }

    /// Element counts a value stored by draft `d` may have: the loop's, or,
    /// with reductions (`extra` counts as one), a row result's or a row element's.
    fn spaces(&self, d: usize, extra: Option<ValueId>) -> Vec<Option<u64>> {
        let g = self.g;
        let draft = &self.drafts[d];
        match draft.reductions.first().copied().or(extra) {
            Some(r) => {
                let x = g.node(r).args[0];
                vec![self.numel(r), self.numel(x)]
            }
            None => draft
                .members
                .first()
                .map(|&root| vec![self.numel(root)])
                .unwrap_or_default(),
        }
    }

    fn stored_members(&self, d: usize) -> Vec<ValueId> {
        let mut s: Vec<ValueId> = self.drafts[d]
            .members
            .iter()
            .copied()
            .filter(|&m| {
                !self.drafts[d].transposed.contains(&m)
                    && (self.is_root[m.index()]
                        || self.consumers[m.index()]
                            .iter()
                            .any(|c| self.group_of[c.index()] != Some(d)))
            })
            .collect();
        s.sort();
        s
    }

    /// Whether some value of draft `from` is read, directly or through other
    /// kernels, by draft `to`.
    fn reaches(&self, from: usize, to: usize) -> bool {
        let mut seen = vec![false; self.drafts.len()];
        let mut stack = vec![from];
        while let Some(d) = stack.pop() {
            if d == to {
                return true;
            }
            if std::mem::replace(&mut seen[d], true) {
                continue;
            }
            for m in &self.drafts[d].members {
                for c in &self.consumers[m.index()] {
                    if let Some(h) = self.group_of[c.index()] {
                        if h != d && !seen[h] {
                            stack.push(h);
                        }
                    }
                }
            }
        }
        false
    }

    /// The second phase: a group whose consumer group could have taken it
    /// whole (the reduce-then-broadcast of softmax, where the broadcasting
    /// consumer was placed before the reduction it reads) merges with it.
    fn merge_groups(&mut self) {
        loop {
            let mut merged = false;
            for c in 0..self.drafts.len() {
                for p in self.producers(c) {
                    if self.try_merge(p, c) {
                        merged = true;
                        break;
                    }
                }
            }
            if !merged {
                return;
            }
        }
    }

    /// The drafts whose values draft `c` reads, ascending.
    fn producers(&self, c: usize) -> Vec<usize> {
        let set: BTreeSet<usize> = self.drafts[c]
            .members
            .iter()
            .flat_map(|m| self.g.node(*m).args.iter())
            .filter_map(|a| self.group_of[a.index()])
            .filter(|&p| p != c)
            .collect();
        set.into_iter().collect()
    }

    /// Moves draft `c` into draft `p` (which it reads from), if the result is
    /// one kernel that lowers and no third group runs between them.
    fn try_merge(&mut self, p: usize, c: usize) -> bool {
        let g = self.g;
        let (dp, dc) = (&self.drafts[p], &self.drafts[c]);
        if dp.opaque || dc.opaque || dp.concat || dc.concat {
            return false;
        }
        let matmuls = usize::from(dp.matmul.is_some()) + usize::from(dc.matmul.is_some());
        let reductions = !dp.reductions.is_empty() || !dc.reductions.is_empty();
        if matmuls > 1 || (matmuls == 1 && reductions) {
            return false;
        }
        if let (Some(&a), Some(&b)) = (dp.reductions.first(), dc.reductions.first()) {
            let (xa, xb) = (g.node(a).args[0], g.node(b).args[0]);
            if g.ty(xa).shape != g.ty(xb).shape
                || reduced_axes(&g.node(a).op) != reduced_axes(&g.node(b).op)
            {
                return false;
            }
        }
        // A group between them (read from p, read by c) must run in between.
        let successors: BTreeSet<usize> = dp
            .members
            .iter()
            .flat_map(|m| self.consumers[m.index()].iter())
            .filter_map(|x| self.group_of[x.index()])
            .filter(|&h| h != p && h != c)
            .collect();
        if successors.into_iter().any(|h| self.reaches(h, c)) {
            return false;
        }
        let moved = std::mem::take(&mut self.drafts[c]);
        for m in &moved.members {
            self.group_of[m.index()] = Some(p);
        }
        let before = self.drafts[p].clone();
        let d = &mut self.drafts[p];
        d.members.extend(moved.members.iter().copied());
        d.reductions.extend(moved.reductions.iter().copied());
        d.transposed.extend(moved.transposed.iter().copied());
        d.matmul = d.matmul.or(moved.matmul);
        d.notes.extend(moved.notes.iter().cloned());
        let spaces = self.spaces(p, None);
        let fits = self
            .stored_members(p)
            .iter()
            .all(|&s| spaces.contains(&self.numel(s)));
        if fits && lower::check_group(g, &self.group(p, String::new())).is_ok() {
            self.redirect[c] = Some(p);
            return true;
        }
        for m in &moved.members {
            self.group_of[m.index()] = Some(c);
        }
        self.drafts[p] = before;
        self.drafts[c] = moved;
        false
    }

    fn commit(&mut self, v: ValueId, d: usize) {
        self.group_of[v.index()] = Some(d);
        self.drafts[d].members.push(v);
    }

    /// Draft `d` with `v` added, as a group lowering can try.
    fn trial_group(&mut self, d: usize, v: ValueId) -> Group {
        self.group_of[v.index()] = Some(d);
        self.drafts[d].members.push(v);
        let grp = self.group(d, String::new());
        self.drafts[d].members.pop();
        self.group_of[v.index()] = None;
        grp
    }

    fn group(&self, d: usize, name: String) -> Group {
        let draft = &self.drafts[d];
        let mut members = draft.members.clone();
        members.sort();
        let mut transposed = draft.transposed.clone();
        transposed.sort();
        let kind = if draft.opaque {
            GroupKind::Opaque
        } else if draft.concat {
            GroupKind::Concat
        } else if draft.matmul.is_some() {
            GroupKind::Gemm
        } else if !draft.reductions.is_empty()
            || members
                .iter()
                .any(|&m| class(&self.g.node(m).op) == Class::Reduction)
        {
            GroupKind::Reduction
        } else if let [only] = members[..] {
            match self.g.node(only).op {
                Op::Reshape { .. } if !self.is_root[only.index()] => GroupKind::View,
                _ => GroupKind::Elementwise,
            }
        } else {
            GroupKind::Elementwise
        };
        let stored = if kind == GroupKind::View {
            Vec::new()
        } else {
            self.stored_members(d)
        };
        Group {
            name,
            kind,
            members,
            stored,
            transposed,
            notes: Vec::new(),
        }
    }

    /// Where draft `d` ended up after merges.
    fn resolve(&self, mut d: usize) -> usize {
        while let Some(next) = self.redirect[d] {
            d = next;
        }
        d
    }

    /// Orders the drafts so that each runs after the ones it reads from
    /// (earliest root first among those ready), names them, renders notes.
    fn finish(self) -> Fusion {
        let alive: Vec<usize> = (0..self.drafts.len())
            .filter(|&d| !self.drafts[d].members.is_empty())
            .collect();
        let mut preds: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); self.drafts.len()];
        for &d in &alive {
            for m in &self.drafts[d].members {
                for c in &self.consumers[m.index()] {
                    if let Some(h) = self.group_of[c.index()] {
                        if h != d {
                            preds[h].insert(d);
                        }
                    }
                }
            }
        }
        let key = |d: usize| self.drafts[d].members.iter().max().copied();
        let mut waiting: Vec<usize> = preds.iter().map(BTreeSet::len).collect();
        let mut ready: BinaryHeap<Reverse<(Option<ValueId>, usize)>> = alive
            .iter()
            .filter(|&&d| waiting[d] == 0)
            .map(|&d| Reverse((key(d), d)))
            .collect();
        let mut order = Vec::with_capacity(alive.len());
        while let Some(Reverse((_, d))) = ready.pop() {
            order.push(d);
            for &h in &alive {
                if preds[h].contains(&d) {
                    waiting[h] -= 1;
                    if waiting[h] == 0 {
                        ready.push(Reverse((key(h), h)));
                    }
                }
            }
        }
        // Fusion never makes a cycle; should one slip through, keep every
        // group rather than lose ops (the verifier of the lowered program
        // then reports the order).
        for &d in &alive {
            if !order.contains(&d) {
                order.push(d);
            }
        }
        let mut position = vec![usize::MAX; self.drafts.len()];
        for (i, &d) in order.iter().enumerate() {
            position[d] = i;
        }
        let mut groups: Vec<Group> = Vec::with_capacity(order.len());
        let (mut kernels, mut views) = (0, 0);
        for &d in &order {
            let mut grp = self.group(d, String::new());
            grp.name = if grp.kind == GroupKind::View {
                views += 1;
                format!("v{}", views - 1)
            } else {
                kernels += 1;
                format!("k{}", kernels - 1)
            };
            groups.push(grp);
        }
        let label = |v: ValueId| match &self.g.node(v).name {
            Some(name) => format!("%{name}"),
            None => format!("{v}"),
        };
        for &d in &order {
            let i = position[d];
            let mut notes = Vec::new();
            for note in &self.drafts[d].notes {
                let Note::NotFused { value, into, why } = note;
                let into = self.resolve(*into);
                if self.group_of[value.index()] != Some(into) {
                    notes.push(format!(
                        "{} not fused into {}: {why}",
                        label(*value),
                        groups[position[into]].name
                    ));
                }
            }
            for &s in &groups[i].stored {
                let readers: BTreeSet<usize> = self.consumers[s.index()]
                    .iter()
                    .filter_map(|c| self.group_of[c.index()])
                    .filter(|&h| h != d)
                    .map(|h| position[h])
                    .collect();
                // Worth a word where one kernel stores several values, or
                // several kernels read one.
                if !readers.is_empty() && (readers.len() > 1 || groups[i].stored.len() > 1) {
                    let names: Vec<&str> =
                        readers.iter().map(|&r| groups[r].name.as_str()).collect();
                    let out = if self.is_root[s.index()] {
                        "a result, and "
                    } else {
                        ""
                    };
                    notes.push(format!("{} is {out}read by {}", label(s), names.join(", ")));
                }
            }
            groups[i].notes = notes;
        }
        let group_of = self
            .group_of
            .iter()
            .map(|d| d.map(|d| position[d]))
            .collect();
        Fusion { groups, group_of }
    }
}
