//! A picture as Graphviz DOT text: each group is a cluster (the params; each
//! fused kernel, whose ops stay visible inside it), boxes keep the shapes and
//! colours of the SVG, and every arrow is labelled with its value's type.

use super::{Picture, Role};
use std::fmt::Write;

pub fn render(p: &Picture) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph {} {{", quote(&p.title));
    let _ = writeln!(
        s,
        "  graph [label={}, labelloc=t, fontname=\"Helvetica\", rankdir=TB];",
        quote(&p.title)
    );
    s.push_str("  node [fontname=\"Helvetica\", fontsize=11];\n");
    s.push_str("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n");
    for (grp, members) in p.groups.iter().zip(p.members()) {
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(s, "  subgraph {} {{", quote(&format!("cluster_{}", grp.id)));
        let _ = writeln!(s, "    label={};", quote(&grp.label));
        let look = match grp.role {
            super::GroupRole::Params => "style=\"dashed,rounded\"; color=\"#c77700\";",
            super::GroupRole::Kernel => {
                "style=\"filled\"; fillcolor=\"#fff8dc\"; color=\"#b8920f\";"
            }
            super::GroupRole::Chain => "style=\"rounded\"; color=\"#4a6fa5\";",
        };
        let _ = writeln!(s, "    {look}");
        for i in members {
            node(&mut s, p, i, "    ");
        }
        s.push_str("  }\n");
    }
    for i in (0..p.items.len()).filter(|&i| p.items[i].group.is_none()) {
        node(&mut s, p, i, "  ");
    }
    for e in &p.edges {
        let _ = writeln!(s, "  n{} -> n{} [label={}];", e.from, e.to, quote(&e.label));
    }
    s.push_str("}\n");
    s
}

fn node(s: &mut String, p: &Picture, i: usize, indent: &str) {
    let item = &p.items[i];
    let shape = match item.role {
        Role::Input => "parallelogram",
        Role::Param => "cylinder",
        Role::Const => "ellipse",
        Role::Op | Role::Chain => "box",
        Role::Output | Role::Update => "hexagon",
        Role::Kernel => "box3d",
    };
    let (fill, stroke, dashed) = item.role.colors();
    let mut style = vec!["filled"];
    if matches!(item.role, Role::Op | Role::Chain) {
        style.push("rounded");
    }
    if dashed {
        style.push("dashed");
    }
    let label = std::iter::once(item.title.as_str())
        .chain(item.detail.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("\n");
    let _ = writeln!(
        s,
        "{indent}n{i} [label={}, shape={shape}, style={}, fillcolor=\"{fill}\", color=\"{stroke}\"];",
        quote(&label),
        quote(&style.join(","))
    );
}

/// A DOT double-quoted string; newlines become DOT's `\n` line breaks.
fn quote(text: &str) -> String {
    let mut q = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c if c < ' ' => q.push(' '),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}
