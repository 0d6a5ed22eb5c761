//! Pictures of the Graph IR: what `tfg graph` draws.
//!
//! A [`Picture`] is a graph as boxes and arrows: one box per node, one marker
//! per output and per param update, arrows labelled with the type of the value
//! they carry, and groups (the params; the kernels of a fusion) that the
//! writers draw as clusters. [`dot`] writes it as Graphviz text; [`svg`] draws
//! it in-process with the layered layout of [`layout`]. A large graph is made
//! legible by [`Picture::with_chains`] and [`Picture::collapsed`], which draw a
//! kernel or a chain of single-use ops as one box.
//!
//! This crate reads graphs and returns text; it touches no files and knows
//! nothing of the command line or of running a graph.

pub mod dot;
pub mod layout;
pub mod svg;

use std::collections::BTreeMap;
use tfg_ir::fused::Fusion;
use tfg_ir::{Data, Graph, Op, Tensor, ValueId};

/// What a box stands for; each role has its own shape and colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Input,
    Param,
    Const,
    Op,
    /// A value the graph returns (a marker, not a node of the graph).
    Output,
    /// A param's new value in a training step (a marker).
    Update,
    /// A fused kernel drawn as one box.
    Kernel,
    /// A chain of single-use ops drawn as one box.
    Chain,
}

impl Role {
    /// Fill colour, outline colour, and whether the outline is dashed: the
    /// same in every format.
    pub fn colors(self) -> (&'static str, &'static str, bool) {
        match self {
            Role::Input => ("#d5f0d5", "#3d8b3d", false),
            Role::Param => ("#ffe3bf", "#c77700", false),
            Role::Const => ("#f0f0f0", "#999999", false),
            Role::Op | Role::Chain => ("#dde9fb", "#4a6fa5", false),
            Role::Output => ("#fbd5d5", "#b23b3b", false),
            Role::Update => ("#eadcf7", "#7a4bab", true),
            Role::Kernel => ("#fff3c4", "#b8920f", false),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Input => "input",
            Role::Param => "param",
            Role::Const => "const",
            Role::Op => "op",
            Role::Output => "output",
            Role::Update => "update",
            Role::Kernel => "kernel",
            Role::Chain => "chain",
        }
    }
}

/// One box.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub role: Role,
    /// The first line: a name, an op, a literal.
    pub title: String,
    /// Further lines (what a collapsed box holds).
    pub detail: Vec<String>,
    /// The graph nodes the box draws; none for markers.
    pub values: Vec<ValueId>,
    /// Index into [`Picture::groups`].
    pub group: Option<usize>,
}

/// An arrow from the box computing a value to a box using it.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// The value's type, `f32[B, 64]`.
    pub label: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupRole {
    Params,
    Kernel,
    Chain,
}

/// Boxes that belong together.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// An identifier (`params`, `k3`, `c1`).
    pub id: String,
    pub label: String,
    pub role: GroupRole,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    pub title: String,
    pub items: Vec<Item>,
    pub edges: Vec<Edge>,
    pub groups: Vec<Group>,
}

/// Above this many boxes, single-use chains are drawn as one box.
pub const LARGE: usize = 60;

impl Picture {
    /// Item `i` draws node `i`; markers for outputs, then updates, follow.
    /// With a fusion, each kernel is a group.
    pub fn new(g: &Graph, fusion: Option<&Fusion>) -> Picture {
        let mut groups = Vec::new();
        let params = g.params().next().map(|_| {
            groups.push(Group {
                id: "params".into(),
                label: "params".into(),
                role: GroupRole::Params,
            });
            groups.len() - 1
        });
        let kernel_of: Vec<Option<usize>> = match fusion {
            Some(f) => {
                let first = groups.len();
                groups.extend(f.groups.iter().map(|k| Group {
                    id: k.name.clone(),
                    label: format!("{} {}", k.name, k.kind.name()),
                    role: GroupRole::Kernel,
                }));
                (0..g.nodes.len())
                    .map(|i| f.group_of.get(i).copied().flatten().map(|k| first + k))
                    .collect()
            }
            None => vec![None; g.nodes.len()],
        };
        let mut items: Vec<Item> = g
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (role, title) = match &n.op {
                    Op::Input { name, .. } => (Role::Input, name.clone()),
                    Op::Param { name, .. } => (Role::Param, name.clone()),
                    Op::Const(t) => (Role::Const, const_text(t)),
                    op => (
                        Role::Op,
                        match &n.name {
                            Some(name) => format!("{name} = {}", op_text(op)),
                            None => op_text(op),
                        },
                    ),
                };
                let group = if role == Role::Param {
                    params
                } else {
                    kernel_of[i]
                };
                Item {
                    role,
                    title,
                    detail: Vec::new(),
                    values: vec![ValueId(i as u32)],
                    group,
                }
            })
            .collect();
        let mut edges = Vec::new();
        for (i, n) in g.nodes.iter().enumerate() {
            for a in &n.args {
                edges.push(Edge {
                    from: a.index(),
                    to: i,
                    label: g.ty(*a).to_string(),
                });
            }
        }
        let markers = g
            .outputs
            .iter()
            .map(|(name, v)| (Role::Output, format!("output {name}"), *v))
            .chain(g.updates.iter().map(|&(p, v)| {
                let name = g.node(p).name.clone().unwrap_or_else(|| p.to_string());
                (Role::Update, format!("update {name}"), v)
            }));
        for (role, title, v) in markers {
            edges.push(Edge {
                from: v.index(),
                to: items.len(),
                label: g.ty(v).to_string(),
            });
            items.push(Item {
                role,
                title,
                detail: Vec::new(),
                values: Vec::new(),
                group: None,
            });
        }
        dedup(&mut edges);
        Picture {
            title: format!("graph {}", g.name),
            items,
            edges,
            groups,
        }
    }

    /// Groups each chain of ungrouped ops and constants whose value has one
    /// user (an ungrouped op) with that user. Each chain is a tree whose
    /// values leave it only through its root, so drawing it as one box adds
    /// no cycle and hides no arrow to the outside.
    pub fn with_chains(mut self) -> Picture {
        let n = self.items.len();
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
        for e in &self.edges {
            if !users[e.from].contains(&e.to) {
                users[e.from].push(e.to);
            }
        }
        let free = |i: usize, roles: &[Role]| {
            self.items[i].group.is_none() && roles.contains(&self.items[i].role)
        };
        // The user each chained item joins; items are in topological order,
        // so following it always leads to a later item.
        let joins: Vec<Option<usize>> = (0..n)
            .map(|i| match users[i].as_slice() {
                [u] if free(i, &[Role::Op, Role::Const]) && free(*u, &[Role::Op]) => Some(*u),
                _ => None,
            })
            .collect();
        let root = |mut i: usize| {
            while let Some(u) = joins[i] {
                i = u;
            }
            i
        };
        let mut joined = vec![false; n];
        for u in joins.iter().flatten() {
            joined[*u] = true;
        }
        let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..n {
            if joins[i].is_some() || joined[i] {
                members.entry(root(i)).or_default().push(i);
            }
        }
        for (r, chain) in members {
            self.groups.push(Group {
                id: format!("c{}", self.groups.len()),
                label: self.items[r].title.clone(),
                role: GroupRole::Chain,
            });
            for i in chain {
                self.items[i].group = Some(self.groups.len() - 1);
            }
        }
        self
    }

    /// The items of each group, by group index.
    pub fn members(&self) -> Vec<Vec<usize>> {
        let mut members = vec![Vec::new(); self.groups.len()];
        for (i, item) in self.items.iter().enumerate() {
            if let Some(k) = item.group {
                members[k].push(i);
            }
        }
        members
    }

    /// The picture with every kernel and chain group drawn as one box.
    pub fn collapsed(&self) -> Picture {
        let collapses = |i: usize| {
            self.items[i]
                .group
                .filter(|&k| self.groups[k].role != GroupRole::Params)
        };
        let mut items: Vec<Item> = Vec::new();
        let mut box_of = vec![0; self.items.len()];
        let mut box_of_group: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, item) in self.items.iter().enumerate() {
            match collapses(i) {
                Some(k) => {
                    let b = *box_of_group.entry(k).or_insert_with(|| {
                        let grp = &self.groups[k];
                        items.push(Item {
                            role: match grp.role {
                                GroupRole::Kernel => Role::Kernel,
                                _ => Role::Chain,
                            },
                            title: grp.label.clone(),
                            detail: Vec::new(),
                            values: Vec::new(),
                            group: None,
                        });
                        items.len() - 1
                    });
                    items[b].values.extend(&item.values);
                    box_of[i] = b;
                }
                None => {
                    box_of[i] = items.len();
                    items.push(item.clone());
                }
            }
        }
        let mut members: BTreeMap<usize, Vec<&Item>> = BTreeMap::new();
        for (i, item) in self.items.iter().enumerate() {
            if let Some(k) = collapses(i) {
                members.entry(k).or_default().push(item);
            }
        }
        for (k, members) in members {
            items[box_of_group[&k]].detail = summary(&members, self.groups[k].role);
        }
        let mut edges: Vec<Edge> = self
            .edges
            .iter()
            .filter(|e| box_of[e.from] != box_of[e.to])
            .map(|e| Edge {
                from: box_of[e.from],
                to: box_of[e.to],
                label: e.label.clone(),
            })
            .collect();
        dedup(&mut edges);
        Picture {
            title: self.title.clone(),
            items,
            edges,
            groups: self.groups.clone(),
        }
    }
}

/// Drops repeated edges (`x * x` uses `x` twice; a collapsed box may too).
fn dedup(edges: &mut Vec<Edge>) {
    let mut seen = std::collections::HashSet::new();
    edges.retain(|e| seen.insert((e.from, e.to, e.label.clone())));
}

/// What a collapsed box holds: its ops (`5 ops: mul, sub, pow`), its
/// constants, and for a kernel the names of the values in it.
fn summary(members: &[&Item], role: GroupRole) -> Vec<String> {
    let ops: Vec<&str> = members
        .iter()
        .filter(|m| m.role == Role::Op)
        .map(|m| m.title.rsplit(" = ").next().unwrap_or(&m.title))
        .map(|t| t.split(' ').next().unwrap_or(t))
        .collect();
    let mut distinct: Vec<&str> = Vec::new();
    for op in &ops {
        if !distinct.contains(op) {
            distinct.push(op);
        }
    }
    let mut lines = Vec::new();
    if ops.len() > 1 || role == GroupRole::Kernel {
        let s = if ops.len() == 1 { "" } else { "s" };
        lines.push(format!("{} op{s}: {}", ops.len(), shorten(&distinct, 4)));
    }
    let consts: Vec<&str> = members
        .iter()
        .filter(|m| m.role == Role::Const)
        .map(|m| m.title.as_str())
        .collect();
    if !consts.is_empty() {
        lines.push(format!("consts: {}", shorten(&consts, 3)));
    }
    if role == GroupRole::Kernel {
        let names: Vec<&str> = members
            .iter()
            .filter_map(|m| m.title.split_once(" = ").map(|(name, _)| name))
            .collect();
        if !names.is_empty() {
            lines.push(format!("values: {}", shorten(&names, 4)));
        }
    }
    lines
}

/// `a, b, c, …` with at most `n` entries.
fn shorten(xs: &[&str], n: usize) -> String {
    let mut s = xs.iter().take(n).copied().collect::<Vec<_>>().join(", ");
    if xs.len() > n {
        s.push_str(", …");
    }
    s
}

/// An op with its attributes, briefly: `reduce_sum [1]`, `transpose [1, 0]`.
fn op_text(op: &Op) -> String {
    let list = |xs: &[usize]| {
        let xs: Vec<String> = xs.iter().map(usize::to_string).collect();
        format!("[{}]", xs.join(", "))
    };
    let attr = match op {
        Op::Reduce { axes, keepdims, .. } => {
            format!("{}{}", list(axes), if *keepdims { " keepdims" } else { "" })
        }
        Op::ArgMax { axis } | Op::ArgMin { axis } | Op::Concat { axis } => format!("axis {axis}"),
        Op::Transpose { perm } => list(perm),
        Op::Reshape { shape } | Op::BroadcastTo { shape } => shape.to_string(),
        Op::OneHot { depth } => depth.to_string(),
        Op::Cast { to } => to.to_string(),
        Op::Slice { start, step, shape } => {
            let from: Vec<usize> = start.iter().map(|&x| x as usize).collect();
            let by: Vec<usize> = step.iter().map(|&x| x as usize).collect();
            format!("{} from {} by {}", shape, list(&from), list(&by))
        }
        _ => String::new(),
    };
    match attr.is_empty() {
        true => op.name(),
        false => format!("{} {attr}", op.name()),
    }
}

/// A scalar constant as its value; a larger one as its type.
fn const_text(t: &Tensor) -> String {
    if t.numel() != 1 {
        return format!("const {}", t.ty());
    }
    match &t.data {
        Data::F32(v) => format!("{:?}", v[0]),
        Data::F64(v) => format!("{:?}", v[0]),
        Data::I32(v) => v[0].to_string(),
        Data::I64(v) => v[0].to_string(),
        Data::Bool(v) => v[0].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Graph {
        let src = "graph hello { input x: f32 = 1.0; param w: f32 = 0.8; \
                   y = w * x; loss = (y - 0.0) ** 2; output y, loss }";
        tfg_frontend::compile(src).expect("compiles").graphs[0].clone()
    }

    #[test]
    fn one_item_per_node_then_one_marker_per_output() {
        let g = hello();
        let p = Picture::new(&g, None);
        assert_eq!(p.items.len(), g.nodes.len() + 2);
        let roles: Vec<Role> = p.items.iter().map(|i| i.role).collect();
        assert_eq!(roles[..2], [Role::Input, Role::Param]);
        assert_eq!(roles[g.nodes.len()..], [Role::Output, Role::Output]);
        assert_eq!(
            p.items[1].group.map(|k| p.groups[k].role),
            Some(GroupRole::Params)
        );
        // w and x into y, then y into sub, output y, ...: every arg once.
        let args: usize = g.nodes.iter().map(|n| n.args.len()).sum();
        assert_eq!(p.edges.len(), args + 2);
    }

    #[test]
    fn collapsing_a_chain_keeps_every_value_and_the_outside_arrows() {
        // x feeds a chain of three single-use ops whose root is the output.
        let src = "graph g { input x: f32[3]; y = exp(neg(abs(x))) * 2.0; output y }";
        let g = tfg_frontend::compile(src).expect("compiles").graphs[0].clone();
        let p = Picture::new(&g, None).with_chains();
        let chains = p
            .groups
            .iter()
            .filter(|k| k.role == GroupRole::Chain)
            .count();
        assert_eq!(chains, 1);
        let c = p.collapsed();
        // x, the chain, the output marker.
        assert_eq!(c.items.len(), 3, "{c:#?}");
        let mut values: Vec<ValueId> = c.items.iter().flat_map(|i| i.values.clone()).collect();
        values.sort();
        assert_eq!(values, g.ids().collect::<Vec<_>>());
        let pairs: Vec<(usize, usize)> = c.edges.iter().map(|e| (e.from, e.to)).collect();
        assert_eq!(pairs, [(0, 1), (1, 2)]);
        assert_eq!(c.items[1].title, "y = mul");
        assert_eq!(
            c.items[1].detail,
            ["4 ops: abs, neg, exp, mul", "consts: 2.0"]
        );
    }
}
