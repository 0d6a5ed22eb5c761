//! A picture as SVG, laid out in-process (no Graphviz).
//!
//! Each box is a `<g class="node ROLE">` whose `data-values` lists the graph
//! nodes it draws, with a `<title>` for hover text; each arrow is a
//! `<g class="edge">`, drawn from where it leaves its source's trunk (the
//! line its source's long arrows share, a `<path class="trunk">`). Text is
//! monospace, so box sizes follow from character counts. Each type leaving a
//! box is written once, just below the box, and the layout keeps room beside
//! the box for it.

use super::layout::{layout, Layout, Node};
use super::{GroupRole, Item, Picture, Role};
use std::fmt::Write;

const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const FONT_SIZE: f64 = 12.0;
/// Width of one character at [`FONT_SIZE`] in a monospace font (0.6 em).
const CHAR_W: f64 = 7.3;
const LINE_H: f64 = 15.0;
const LABEL_SIZE: f64 = 10.0;
const LABEL_CHAR_W: f64 = 6.1;
/// Space between an arrow and its type label.
const LABEL_GAP: f64 = 4.0;
const PAD_X: f64 = 10.0;
const PAD_Y: f64 = 6.0;
const MARGIN: f64 = 20.0;
/// Room above the layout for the title and a group frame's label.
const HEADER: f64 = 52.0;
const LEGEND: f64 = 34.0;
/// How far beyond its boxes a group frame reaches.
const FRAME_PAD: f64 = 8.0;

struct Style {
    fill: &'static str,
    stroke: &'static str,
    dashed: bool,
    stroke_width: f64,
}

fn style(role: Role) -> Style {
    let (fill, stroke, dashed) = role.colors();
    let stroke_width = match role {
        Role::Kernel => 2.2,
        Role::Const => 1.0,
        _ => 1.2,
    };
    Style {
        fill,
        stroke,
        dashed,
        stroke_width,
    }
}

/// Extra width a shape needs beside its text (slanted or pointed sides).
fn shape_slack(role: Role) -> f64 {
    match role {
        Role::Input | Role::Output | Role::Update => 16.0,
        Role::Const => 12.0,
        _ => 0.0,
    }
}

fn lines(item: &Item) -> Vec<&str> {
    std::iter::once(item.title.as_str())
        .chain(item.detail.iter().map(String::as_str))
        .collect()
}

fn size(item: &Item) -> (f64, f64) {
    let chars = lines(item)
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    let w = chars as f64 * CHAR_W + 2.0 * PAD_X + shape_slack(item.role);
    let cylinder = if item.role == Role::Param { 8.0 } else { 0.0 };
    let h = lines(item).len() as f64 * LINE_H + 2.0 * PAD_Y + cylinder;
    (w.max(44.0), h)
}

pub fn render(p: &Picture) -> String {
    let sizes: Vec<(f64, f64)> = p.items.iter().map(size).collect();
    let nodes: Vec<Node> = p
        .items
        .iter()
        .zip(&sizes)
        .enumerate()
        .map(|(i, (item, &(width, height)))| Node {
            width,
            height,
            room: 2.0 * (LABEL_GAP + out_label_width(p, i)),
            top: matches!(item.role, Role::Input | Role::Param),
            band: u8::from(item.role == Role::Param),
        })
        .collect();
    let edges: Vec<(usize, usize)> = p.edges.iter().map(|e| (e.from, e.to)).collect();
    let Layout {
        centers,
        routes,
        trunks,
        width,
        height,
    } = layout(&nodes, &edges);
    let (dx, dy) = (MARGIN, MARGIN + HEADER);
    let at = |(x, y): (f64, f64)| (x + dx, y + dy);
    let title_w = p.title.chars().count() as f64 * CHAR_W * 14.0 / FONT_SIZE;
    let total_w = (width + 2.0 * MARGIN)
        .max(title_w + 2.0 * MARGIN)
        .max(legend_width(p) + 2.0 * MARGIN);
    let total_h = height + 2.0 * MARGIN + HEADER + LEGEND;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="{FONT}" font-size="{FONT_SIZE}">"#,
        w = total_w,
        h = total_h
    );
    let _ = writeln!(s, "<title>{}</title>", esc(&p.title));
    s.push_str(concat!(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" ",
        "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">",
        "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555555\"/></marker></defs>\n"
    ));
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="{:.1}" font-size="14" font-weight="bold">{}</text>"#,
        MARGIN + 14.0,
        esc(&p.title)
    );

    // Group frames still drawn around their boxes (the params).
    for (grp, members) in p.groups.iter().zip(p.members()) {
        if members.is_empty() || grp.role != GroupRole::Params {
            continue;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &i in &members {
            let (x, y) = at(centers[i]);
            let (w, h) = sizes[i];
            x0 = x0.min(x - w / 2.0);
            y0 = y0.min(y - h / 2.0);
            x1 = x1.max(x + w / 2.0);
            y1 = y1.max(y + h / 2.0);
        }
        let _ = writeln!(
            s,
            r##"<g class="group params" id="{id}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="8" fill="none" stroke="#c77700" stroke-dasharray="5 3"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#c77700">{}</text></g>"##,
            x0 - FRAME_PAD,
            y0 - FRAME_PAD,
            x1 - x0 + 2.0 * FRAME_PAD,
            y1 - y0 + 2.0 * FRAME_PAD,
            x0 - FRAME_PAD + 4.0,
            y0 - FRAME_PAD - 4.0,
            esc(&grp.label),
            id = esc(&grp.id),
        );
    }

    for (i, trunk) in trunks.iter().enumerate().filter(|(_, t)| !t.is_empty()) {
        let _ = writeln!(
            s,
            r##"<path class="trunk" data-from="n{i}" d="{}" fill="none" stroke="#555555" stroke-width="1.1"/>"##,
            curve(&trunk.iter().map(|&pt| at(pt)).collect::<Vec<_>>())
        );
    }
    for (e, route) in p.edges.iter().zip(&routes) {
        if route.len() < 2 {
            continue;
        }
        let _ = writeln!(
            s,
            r##"<g class="edge" data-from="n{}" data-to="n{}"><title>{} → {}: {}</title><path d="{}" fill="none" stroke="#555555" stroke-width="1.1" marker-end="url(#arrow)"/></g>"##,
            e.from,
            e.to,
            esc(&p.items[e.from].title),
            esc(&p.items[e.to].title),
            esc(&e.label),
            curve(&route.iter().map(|&pt| at(pt)).collect::<Vec<_>>())
        );
    }

    for (i, item) in p.items.iter().enumerate() {
        node(&mut s, i, item, at(centers[i]), sizes[i]);
    }

    // Each distinct type leaving a box, once, beside where its arrows start.
    let mut written: Vec<(usize, &str)> = Vec::new();
    for (e, route) in p.edges.iter().zip(&routes) {
        if route.is_empty() || written.contains(&(e.from, e.label.as_str())) {
            continue;
        }
        let below = written.iter().filter(|(f, _)| *f == e.from).count() as f64;
        written.push((e.from, e.label.as_str()));
        let (cx, cy) = at(centers[e.from]);
        let (x, y) = (
            cx + LABEL_GAP,
            cy + sizes[e.from].1 / 2.0 + 12.0 + below * LABEL_SIZE * 1.1,
        );
        // A white box behind the label keeps it legible over the edges; a
        // rectangle renders the same in every SVG renderer (a halo drawn
        // with `paint-order` does not: renderers that ignore it paint the
        // white stroke over the text).
        let _ = writeln!(
            s,
            r##"<rect class="type-bg" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#ffffff" fill-opacity="0.85"/>"##,
            x - 1.5,
            y - LABEL_SIZE * 0.85,
            e.label.chars().count() as f64 * LABEL_CHAR_W + 3.0,
            LABEL_SIZE * 1.15
        );
        let _ = writeln!(
            s,
            r##"<text class="type" x="{x:.1}" y="{y:.1}" font-size="{LABEL_SIZE}" fill="#333333">{}</text>"##,
            esc(&e.label)
        );
    }

    legend(&mut s, p, dy + height + MARGIN);
    s.push_str("</svg>\n");
    s
}

/// Width of the widest type label under box `i`.
fn out_label_width(p: &Picture, i: usize) -> f64 {
    p.edges
        .iter()
        .filter(|e| e.from == i)
        .map(|e| e.label.chars().count())
        .max()
        .map_or(0.0, |n| n as f64 * LABEL_CHAR_W)
}

/// A route as an SVG path: each step down is an S-curve that leaves and
/// arrives vertically, so the pieces join smoothly at the dummies; a step
/// that does not go down (an edge turned round to break a cycle) is straight.
fn curve(points: &[(f64, f64)]) -> String {
    let mut d = String::new();
    if let Some((x, y)) = points.first() {
        let _ = write!(d, "M{x:.1},{y:.1}");
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if y1 - y0 > 1.0 && (x1 - x0).abs() > 0.5 {
            let ym = (y0 + y1) / 2.0;
            let _ = write!(d, " C{x0:.1},{ym:.1} {x1:.1},{ym:.1} {x1:.1},{y1:.1}");
        } else {
            let _ = write!(d, " L{x1:.1},{y1:.1}");
        }
    }
    d
}

fn node(s: &mut String, i: usize, item: &Item, (cx, cy): (f64, f64), (w, h): (f64, f64)) {
    let st = style(item.role);
    let values: Vec<String> = item.values.iter().map(|v| v.0.to_string()).collect();
    let tooltip = lines(item).join("\n");
    let _ = write!(
        s,
        r#"<g class="node {}" id="n{i}" data-values="{}" data-box="{:.1} {:.1} {:.1} {:.1}"><title>{}</title>"#,
        item.role.name(),
        values.join(" "),
        cx - w / 2.0,
        cy - h / 2.0,
        w,
        h,
        esc(&tooltip)
    );
    shape(s, item.role, &st, (cx, cy), (w, h));
    let text = lines(item);
    let first = cy - (text.len() as f64 - 1.0) * LINE_H / 2.0
        + FONT_SIZE * 0.35
        + if item.role == Role::Param { 3.0 } else { 0.0 };
    for (k, line) in text.iter().enumerate() {
        let weight = if k == 0 && text.len() > 1 {
            r#" font-weight="bold""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle"{weight}>{}</text>"#,
            first + k as f64 * LINE_H,
            esc(line)
        );
    }
    s.push_str("</g>\n");
}

/// The outline of a box of `role`: each role has its own shape.
fn shape(s: &mut String, role: Role, st: &Style, (cx, cy): (f64, f64), (w, h): (f64, f64)) {
    let (x0, y0, x1, y1) = (cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0);
    let paint = format!(
        r#"fill="{}" stroke="{}" stroke-width="{}"{}"#,
        st.fill,
        st.stroke,
        st.stroke_width,
        if st.dashed {
            r#" stroke-dasharray="4 2""#
        } else {
            ""
        }
    );
    let polygon = |pts: &[(f64, f64)]| {
        let pts: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        format!(r#"<polygon points="{}" {paint}/>"#, pts.join(" "))
    };
    let out = match role {
        Role::Input => polygon(&[(x0 + 8.0, y0), (x1, y0), (x1 - 8.0, y1), (x0, y1)]),
        Role::Output | Role::Update => polygon(&[
            (x0 + 8.0, y0),
            (x1 - 8.0, y0),
            (x1, cy),
            (x1 - 8.0, y1),
            (x0 + 8.0, y1),
            (x0, cy),
        ]),
        Role::Param => {
            let (rx, ry) = (w / 2.0, 4.0);
            format!(
                r#"<path d="M{x0:.1},{:.1} A{rx:.1},{ry} 0 0 1 {x1:.1},{:.1} V{:.1} A{rx:.1},{ry} 0 0 1 {x0:.1},{:.1} Z" {paint}/><path d="M{x0:.1},{:.1} A{rx:.1},{ry} 0 0 0 {x1:.1},{:.1}" fill="none" stroke="{}" stroke-width="{}"/>"#,
                y0 + ry,
                y0 + ry,
                y1 - ry,
                y1 - ry,
                y0 + ry,
                y0 + ry,
                st.stroke,
                st.stroke_width
            )
        }
        Role::Const => format!(
            r#"<ellipse cx="{cx:.1}" cy="{cy:.1}" rx="{:.1}" ry="{:.1}" {paint}/>"#,
            w / 2.0,
            h / 2.0
        ),
        Role::Op => format!(
            r#"<rect x="{x0:.1}" y="{y0:.1}" width="{w:.1}" height="{h:.1}" rx="6" {paint}/>"#
        ),
        Role::Kernel => format!(
            r#"<rect x="{x0:.1}" y="{y0:.1}" width="{w:.1}" height="{h:.1}" rx="2" {paint}/>"#
        ),
        // A stack of boxes: several ops in one.
        Role::Chain => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" rx="6" {paint}/><rect x="{x0:.1}" y="{y0:.1}" width="{w:.1}" height="{h:.1}" rx="6" {paint}/>"#,
            x0 + 3.0,
            y0 + 3.0
        ),
    };
    s.push_str(&out);
}

const LEGEND_ROLES: [Role; 8] = [
    Role::Input,
    Role::Param,
    Role::Const,
    Role::Op,
    Role::Chain,
    Role::Kernel,
    Role::Output,
    Role::Update,
];

fn legend_entry(role: Role) -> &'static str {
    match role {
        Role::Chain => "ops in a chain",
        Role::Kernel => "fused kernel",
        r => r.name(),
    }
}

fn present(p: &Picture) -> Vec<Role> {
    LEGEND_ROLES
        .into_iter()
        .filter(|r| p.items.iter().any(|i| i.role == *r))
        .collect()
}

const SWATCH: f64 = 26.0;

fn legend_width(p: &Picture) -> f64 {
    present(p)
        .iter()
        .map(|r| SWATCH + 6.0 + legend_entry(*r).len() as f64 * CHAR_W * 0.85 + 18.0)
        .sum()
}

/// One swatch per role the picture uses, in a row along the bottom.
fn legend(s: &mut String, p: &Picture, y: f64) {
    let mut x = MARGIN;
    s.push_str(r#"<g class="legend" font-size="10">"#);
    for role in present(p) {
        let st = style(role);
        shape(s, role, &st, (x + SWATCH / 2.0, y + 8.0), (SWATCH, 14.0));
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x + SWATCH + 6.0,
            y + 11.5,
            legend_entry(role)
        );
        x += SWATCH + 6.0 + legend_entry(role).len() as f64 * CHAR_W * 0.85 + 18.0;
    }
    s.push_str("</g>\n");
}

/// Text for XML character data and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            // Not allowed in XML 1.0 at all, even escaped.
            c if c < ' ' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
