//! The fused level: a Graph IR graph partitioned into kernels, as the
//! `fuse` pass leaves it and `lower` takes it. Defined here, beside the
//! Graph IR and the Kernel IR, so that the passes that make and read it do
//! not depend on each other; its text form is the graph's with each
//! kernel's ops under a `kernel k3 (elementwise, 4 ops)` header. (The text
//! form is printed, not yet parsed back.)

use crate::graph::{Graph, ValueId};
use crate::op::Op;
use std::fmt::Write;

/// A partition of a graph's live compute nodes into kernels, in an order in
/// which they can run.
#[derive(Clone, Debug, PartialEq)]
pub struct Fusion {
    /// The kernels, in an order in which they can run (a group's operands come
    /// from earlier groups or leaves).
    pub groups: Vec<Group>,
    /// The group of each node (by index into `groups`); `None` for inputs,
    /// params, constants and dead nodes.
    pub group_of: Vec<Option<usize>>,
}

/// What kind of loop nest a group becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKind {
    /// A chain of elementwise and index-only ops: one loop over the result's
    /// elements.
    Elementwise,
    /// Reductions over the same rows, with their elementwise producers and
    /// consumers.
    Reduction,
    /// A matmul, done as a library call, with an elementwise epilogue.
    Gemm,
    /// A concat, writing each operand's slice.
    Concat,
    /// A reshape of a value in memory: no kernel, the same buffer.
    View,
    /// An op that cannot be lowered (`grad`): lowering reports it.
    Opaque,
}

impl GroupKind {
    /// The kind's name in the fused text form (`elementwise`, `gemm`, …).
    pub fn name(self) -> &'static str {
        match self {
            GroupKind::Elementwise => "elementwise",
            GroupKind::Reduction => "reduction",
            GroupKind::Gemm => "gemm",
            GroupKind::Concat => "concat",
            GroupKind::View => "view",
            GroupKind::Opaque => "opaque",
        }
    }
}

/// One group: the ops of one kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// `k3` for kernels (numbered in execution order), `v1` for views.
    pub name: String,
    /// What loop nest the group becomes.
    pub kind: GroupKind,
    /// In topological order.
    pub members: Vec<ValueId>,
    /// The members whose values the kernel writes to memory, ascending.
    pub stored: Vec<ValueId>,
    /// Transposes the GEMM reads through its transpose flag, ascending.
    pub transposed: Vec<ValueId>,
    /// Why the group ends where it does, where that was a choice.
    pub notes: Vec<String>,
}

/// Counts of a fusion, for dumps and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Live compute ops of the graph.
    pub ops: usize,
    /// Groups that become kernels (views do not).
    pub kernels: usize,
    /// Groups of each kind, kind order.
    pub by_kind: Vec<(GroupKind, usize)>,
}

impl Fusion {
    /// Counts the ops and groups of the partition.
    pub fn summary(&self) -> Summary {
        let mut by_kind: Vec<(GroupKind, usize)> = Vec::new();
        for grp in &self.groups {
            match by_kind.iter_mut().find(|(k, _)| *k == grp.kind) {
                Some((_, n)) => *n += 1,
                None => by_kind.push((grp.kind, 1)),
            }
        }
        by_kind.sort();
        Summary {
            ops: self.groups.iter().map(|grp| grp.members.len()).sum(),
            kernels: self
                .groups
                .iter()
                .filter(|grp| grp.kind != GroupKind::View)
                .count(),
            by_kind,
        }
    }

    /// The graph's text form with each kernel's ops under a
    /// `kernel k3 (elementwise, 4 ops)` header, stored values and transposed
    /// GEMM operands marked, the notes, and a count of kernels and ops.
    pub fn print(&self, g: &Graph) -> String {
        let text = crate::text::print(g);
        let lines: Vec<&str> = text.lines().collect();
        // The text form has a header line, then exactly one line per node.
        let node_line = |v: ValueId| -> String {
            lines
                .get(v.index() + 1)
                .filter(|_| lines.len() >= g.nodes.len() + 2)
                .map_or_else(
                    || format!("{v} = {}", g.node(v).op.name()),
                    |l| l.trim().to_string(),
                )
        };
        let mut out = String::new();
        let _ = writeln!(out, "{}", lines.first().copied().unwrap_or("graph {"));
        for v in g.ids() {
            if self.group_of.get(v.index()).copied().flatten().is_none() {
                let _ = writeln!(out, "  {}", node_line(v));
            }
        }
        for grp in &self.groups {
            let what = match grp.kind {
                GroupKind::View => "view".to_string(),
                k => format!(
                    "{}, {} op{}",
                    k.name(),
                    grp.members.len(),
                    if grp.members.len() == 1 { "" } else { "s" }
                ),
            };
            let _ = writeln!(out, "  kernel {} ({what})", grp.name);
            for &m in &grp.members {
                let mark = if grp.transposed.contains(&m) {
                    "  // read transposed by the gemm"
                } else if grp.stored.contains(&m) {
                    "  // stored"
                } else {
                    ""
                };
                let _ = writeln!(out, "    {}{mark}", node_line(m));
            }
            for n in &grp.notes {
                let _ = writeln!(out, "    // {n}");
            }
        }
        let tail = lines.iter().skip(g.nodes.len() + 1);
        for l in tail {
            let _ = writeln!(out, "{l}");
        }
        let s = self.summary();
        let kinds: Vec<String> = s
            .by_kind
            .iter()
            .map(|(k, n)| format!("{n} {}", k.name()))
            .collect();
        let _ = writeln!(
            out,
            "// {} kernels for {} ops: {}",
            s.kernels,
            s.ops,
            kinds.join(", ")
        );
        out
    }
}

/// The axes a reduction reduces.
pub fn reduced_axes(op: &Op) -> Vec<usize> {
    match op {
        Op::Reduce { axes, .. } => axes.clone(),
        Op::ArgMax { axis } | Op::ArgMin { axis } => vec![*axis],
        _ => Vec::new(),
    }
}

/// A transpose that swaps the last two dims and nothing else.
pub fn swaps_last_two(op: &Op) -> bool {
    let Op::Transpose { perm } = op else {
        return false;
    };
    let r = perm.len();
    r >= 2
        && perm[r - 1] == r - 2
        && perm[r - 2] == r - 1
        && perm[..r - 2].iter().enumerate().all(|(i, &p)| i == p)
}
