//! The fused level: a Graph IR graph partitioned into kernels, as the
//! `fuse` pass leaves it and `lower` takes it. Defined here, beside the
//! Graph IR and the Kernel IR, so that the passes that make and read it do
//! not depend on each other; its text form is the graph's with each
//! kernel's ops under a `kernel k3 (elementwise, 4 ops)` header, which
//! [`parse`] reads back, so that a dump of this level is a program too.

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
        // Leaves first and dead values last, so that every value is
        // defined above its uses and the text parses back.
        let unplaced = |v: &ValueId| self.group_of.get(v.index()).copied().flatten().is_none();
        let is_leaf = |v: &ValueId| {
            let op = &g.node(*v).op;
            op.is_leaf_state() || matches!(op, Op::Const(_))
        };
        for v in g.ids().filter(unplaced).filter(is_leaf) {
            let _ = writeln!(out, "  {}", node_line(v));
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
                    TRANSPOSED
                } else if grp.stored.contains(&m) {
                    STORED
                } else {
                    ""
                };
                let gap = if mark.is_empty() { "" } else { "  " };
                let _ = writeln!(out, "    {}{gap}{mark}", node_line(m));
            }
            for n in &grp.notes {
                let _ = writeln!(out, "    // {n}");
            }
        }
        for v in g.ids().filter(unplaced).filter(|v| !is_leaf(v)) {
            let _ = writeln!(out, "  {}", node_line(v));
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

impl Fusion {
    /// Checks that the partition is one `lower` can take: every live
    /// compute node of `g` in exactly one group, after the groups its
    /// operands come from; leaves in none; members in topological order;
    /// every member read outside its group (or an output or update) stored;
    /// stored and transposed values members.
    pub fn verify(&self, g: &Graph) -> Result<(), FusionError> {
        if self.group_of.len() != g.nodes.len() {
            return Err(FusionError::new(
                None,
                format!(
                    "the partition covers {} nodes but the graph has {}",
                    self.group_of.len(),
                    g.nodes.len()
                ),
            ));
        }
        let label = |v: ValueId| match &g.node(v).name {
            Some(n) => format!("`%{n}`"),
            None => format!("`{v}`"),
        };
        // Where each node is defined: its group and its place in it.
        let mut place: Vec<Option<(usize, usize)>> = vec![None; g.nodes.len()];
        for (k, grp) in self.groups.iter().enumerate() {
            for (i, &m) in grp.members.iter().enumerate() {
                let Some(slot) = place.get_mut(m.index()) else {
                    return Err(FusionError::new(
                        None,
                        format!("kernel {} holds a value the graph lacks", grp.name),
                    ));
                };
                if slot.is_some() {
                    return Err(FusionError::new(
                        m,
                        format!("{} is in two kernels", label(m)),
                    ));
                }
                if g.node(m).op.is_leaf_state() || matches!(g.node(m).op, Op::Const(_)) {
                    return Err(FusionError::new(
                        m,
                        format!(
                            "{} is an input, param or constant and belongs to no kernel",
                            label(m)
                        ),
                    ));
                }
                *slot = Some((k, i));
            }
            // What the kind promises lowering about the ops.
            let count =
                |f: &dyn Fn(&Op) -> bool| grp.members.iter().filter(|&&m| f(&g.node(m).op)).count();
            let matmuls = count(&|op| matches!(op, Op::MatMul));
            let concats = count(&|op| matches!(op, Op::Concat { .. }));
            let reductions = count(&|op| {
                matches!(
                    op,
                    Op::Reduce { .. } | Op::ArgMax { .. } | Op::ArgMin { .. }
                )
            });
            let wrong = match grp.kind {
                GroupKind::View => match grp.members[..] {
                    [m] if matches!(g.node(m).op, Op::Reshape { .. }) => None,
                    _ => Some("a view holds exactly one reshape"),
                },
                GroupKind::Gemm if matmuls != 1 => Some("a gemm kernel holds exactly one matmul"),
                GroupKind::Concat if concats != 1 => {
                    Some("a concat kernel holds exactly one concat")
                }
                GroupKind::Reduction if reductions == 0 => {
                    Some("a reduction kernel holds a reduction")
                }
                GroupKind::Elementwise if matmuls + concats + reductions > 0 => {
                    Some("an elementwise kernel holds no matmul, concat or reduction")
                }
                _ if grp.kind != GroupKind::Gemm && !grp.transposed.is_empty() => {
                    Some("only a gemm kernel reads values transposed")
                }
                _ if grp.kind != GroupKind::Gemm && matmuls > 0 => {
                    Some("only a gemm kernel holds a matmul")
                }
                _ => None,
            };
            if let Some(rule) = wrong {
                return Err(FusionError::new(
                    grp.members.first().copied(),
                    format!("kernel {} is {}, but {rule}", grp.name, grp.kind.name()),
                ));
            }
            for v in grp.stored.iter().chain(&grp.transposed) {
                if !grp.members.contains(v) {
                    return Err(FusionError::new(
                        *v,
                        format!(
                            "kernel {} marks {} but does not hold it",
                            grp.name,
                            label(*v)
                        ),
                    ));
                }
            }
        }
        for (v, slot) in g.ids().zip(&place) {
            if self.group_of[v.index()] != slot.map(|(k, _)| k) {
                return Err(FusionError::new(
                    v,
                    format!("{} is not where its kernel says", label(v)),
                ));
            }
        }
        let mut stored_for: Vec<bool> = vec![false; g.nodes.len()];
        let results = g.outputs.iter().map(|(_, v)| v);
        for v in results.chain(g.updates.iter().map(|(_, v)| v)) {
            if let Some(s) = stored_for.get_mut(v.index()) {
                *s = true;
            }
        }
        for v in g.ids() {
            let Some((k, i)) = place[v.index()] else {
                continue;
            };
            for &a in &g.node(v).args {
                match place.get(a.index()).copied().flatten() {
                    Some((ka, ia)) if ka > k || (ka == k && ia >= i) => {
                        return Err(FusionError::new(
                            v,
                            format!(
                                "{} reads {}, which is computed after it",
                                label(v),
                                label(a)
                            ),
                        ))
                    }
                    Some((ka, _)) if ka == k => {}
                    // Read from another kernel, or computed by none (an error below).
                    _ => stored_for[a.index()] = true,
                }
            }
        }
        for v in g.ids() {
            if let Some((k, _)) = place[v.index()] {
                let grp = &self.groups[k];
                if stored_for[v.index()] && !grp.stored.contains(&v) && grp.kind != GroupKind::View
                {
                    return Err(FusionError::new(
                        v,
                        format!(
                            "{} is read outside kernel {} but not stored",
                            label(v),
                            grp.name
                        ),
                    ));
                }
            } else if stored_for[v.index()]
                && !g.node(v).op.is_leaf_state()
                && !matches!(g.node(v).op, Op::Const(_))
            {
                return Err(FusionError::new(
                    v,
                    format!("{} is computed by no kernel", label(v)),
                ));
            }
        }
        Ok(())
    }
}

/// A partition [`Fusion::verify`] rejects, and the value it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct FusionError {
    /// The value that breaks a rule, where one does.
    pub at: Option<ValueId>,
    /// What is wrong.
    pub message: String,
}

impl FusionError {
    fn new(at: impl Into<Option<ValueId>>, message: String) -> FusionError {
        FusionError {
            at: at.into(),
            message,
        }
    }
}

impl std::fmt::Display for FusionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The marks [`Fusion::print`] puts after a member's line.
const STORED: &str = "// stored";
const TRANSPOSED: &str = "// read transposed by the gemm";

/// Reads the text form [`Fusion::print`] writes: the graph, its partition,
/// and where each node is defined in the text (as
/// [`text::parse_with_positions`](crate::text::parse_with_positions) gives
/// them). The partition is checked with [`Fusion::verify`].
pub fn parse(text: &str) -> Result<(Graph, Fusion, Vec<crate::Loc>), crate::text::ParseError> {
    // The graph is the text with each kernel header made a comment; the
    // headers and marks then say which node lines belong to which group.
    struct Header {
        line: u32,
        name: String,
        kind: GroupKind,
        ops: Option<usize>,
    }
    let error =
        |line: u32, col: u32, message: String| crate::text::ParseError { line, col, message };
    let mut headers: Vec<Header> = Vec::new();
    let mut graph_text = String::with_capacity(text.len() + 64);
    for (i, l) in text.lines().enumerate() {
        let line = i as u32 + 1;
        let body = l.trim_start();
        let Some(rest) = body.strip_prefix("kernel ") else {
            graph_text.push_str(l);
            graph_text.push('\n');
            continue;
        };
        let col = (l.len() - body.len()) as u32 + 1;
        let bad = || {
            error(
                line,
                col,
                "expected a kernel header: `kernel k0 (elementwise, 2 ops)` or `kernel v0 (view)`"
                    .to_string(),
            )
        };
        let (name, what) = rest.split_once(" (").ok_or_else(bad)?;
        let what = what.trim_end().strip_suffix(')').ok_or_else(bad)?;
        let (kind, ops) = match what.split_once(", ") {
            Some((kind, count)) => {
                let n = count
                    .strip_suffix(" ops")
                    .or_else(|| count.strip_suffix(" op"))
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(bad)?;
                (kind, Some(n))
            }
            None => (what, None),
        };
        let kind = KINDS
            .into_iter()
            .find(|k| k.name() == kind)
            .ok_or_else(|| {
                let known: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
                error(
                    line,
                    col,
                    format!(
                        "unknown kernel kind `{kind}`; the kinds are {}",
                        known.join(", ")
                    ),
                )
            })?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(bad());
        }
        headers.push(Header {
            line,
            name: name.to_string(),
            kind,
            ops,
        });
        graph_text.push_str("//");
        graph_text.push_str(l);
        graph_text.push('\n');
    }
    let (g, positions) = crate::text::parse_with_positions(&graph_text)?;
    let lines: Vec<&str> = text.lines().collect();
    // A group's lines run from its header to the next header or to the
    // first line at the graph's own indentation (`output`, `}`).
    let mut groups: Vec<Group> = Vec::new();
    let mut ends: Vec<u32> = Vec::new();
    for (k, h) in headers.iter().enumerate() {
        let next = headers
            .get(k + 1)
            .map_or(lines.len() as u32 + 1, |n| n.line);
        let mut end = h.line + 1;
        while end < next {
            let l = lines[end as usize - 1];
            let indent = l.len() - l.trim_start().len();
            if !l.trim().is_empty() && indent < 4 {
                break;
            }
            end += 1;
        }
        let notes = (h.line + 1..end)
            .map(|n| lines[n as usize - 1].trim())
            .filter_map(|l| l.strip_prefix("// "))
            .map(str::to_string)
            .collect();
        groups.push(Group {
            name: h.name.clone(),
            kind: h.kind,
            members: Vec::new(),
            stored: Vec::new(),
            transposed: Vec::new(),
            notes,
        });
        ends.push(end);
    }
    let mut group_of = vec![None; g.nodes.len()];
    for (v, at) in g.ids().zip(&positions) {
        let Some(k) = headers
            .iter()
            .zip(&ends)
            .position(|(h, &end)| h.line < at.line && at.line < end)
        else {
            continue;
        };
        let l = lines[at.line as usize - 1].trim_end();
        let grp = &mut groups[k];
        grp.members.push(v);
        if l.ends_with(STORED) {
            grp.stored.push(v);
        } else if l.ends_with(TRANSPOSED) {
            grp.transposed.push(v);
        }
        group_of[v.index()] = Some(k);
    }
    for (h, grp) in headers.iter().zip(&groups) {
        if let Some(n) = h.ops.filter(|&n| n != grp.members.len()) {
            return Err(error(
                h.line,
                1,
                format!(
                    "kernel {} says it holds {n} ops but holds {}",
                    h.name,
                    grp.members.len()
                ),
            ));
        }
    }
    let fusion = Fusion { groups, group_of };
    fusion.verify(&g).map_err(|e| {
        // At the value's line where the error is about one, else the first header.
        let at = e.at.and_then(|v| positions.get(v.index()).copied());
        match at {
            Some(at) => error(at.line, at.col, e.message),
            None => error(headers.first().map_or(1, |h| h.line), 1, e.message),
        }
    })?;
    Ok((g, fusion, positions))
}

/// Every kind, in the order errors list them.
const KINDS: [GroupKind; 6] = [
    GroupKind::Elementwise,
    GroupKind::Reduction,
    GroupKind::Gemm,
    GroupKind::Concat,
    GroupKind::View,
    GroupKind::Opaque,
];
