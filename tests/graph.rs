//! `tfg graph`: pictures of every example as SVG (read back by an XML parser)
//! and as DOT (read back by a DOT parser), checked against the graphs the
//! frontend and the passes build.

mod common;

use common::{entries, examples, scratch, tfg, tfg_ok};
use graphviz_rust::dot_structures::{self as dot, EdgeTy, Id, Stmt, Vertex};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tfg_ir::Graph;

const HELLO: &str = "examples/hello.tfg";

/// A small MLP classifier with a training item: its step graph has well
/// over a hundred nodes.
const MLP: &str = "
graph mlp {
    input x: f32[B, 64]
    input labels: i32[B]
    param w1: f32[64, 64] = glorot
    param b1: f32[64] = zeros
    param w2: f32[64, 10] = glorot
    param b2: f32[10] = zeros
    h = relu(x @ w1 + b1)
    logits = h @ w2 + b2
    loss = -mean(sum(one_hot(labels, 10) * log_softmax(logits), axis = 1))
    output logits, loss
}
train mlp {
    minimize loss
    optimizer adam(lr = 0.01)
    steps 10
    log loss
}
";

fn program(path: &Path) -> tfg_frontend::Module {
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .expect("readable");
    tfg_frontend::compile(&src).unwrap_or_else(|_| panic!("{} compiles", path.display()))
}

fn after_every_pass(g: Graph) -> Graph {
    let mut ir = tfg_passes::Ir::Graph(g);
    let passes = tfg_passes::pipeline_to(tfg_passes::Level::Graph);
    tfg_passes::run_pipeline(&mut ir, &passes, &Default::default(), |_, _, _| {})
        .expect("passes run");
    ir.into_graph().expect("graph passes give a graph")
}

fn step_graph(p: &tfg_frontend::Module, g: &Graph) -> Option<Graph> {
    let spec = p.train(&g.name)?;
    Some(
        tfg_passes::train_step::build_train_step(g, spec)
            .expect("step builds")
            .graph,
    )
}

/// Runs `tfg graph ARGS -o DIR/NAME` and returns the file it wrote.
fn picture(dir: &Path, name: &str, args: &[&str]) -> String {
    let out = dir.join(name);
    let mut all: Vec<&str> = vec!["graph"];
    all.extend(args);
    all.extend(["-o", out.to_str().expect("UTF-8 path")]);
    let stdout = tfg_ok(&all);
    assert_eq!(stdout, "", "tfg graph prints nothing");
    std::fs::read_to_string(&out).expect("the picture was written")
}

/// The boxes of an SVG picture: class, the graph nodes each draws, its
/// bounding box.
struct SvgBox {
    class: String,
    values: Vec<usize>,
    rect: [f64; 4],
}

/// Parses `text` as XML and checks that it is an SVG picture of `g`: every
/// node of `g` drawn exactly once, one marker per output and update, no two
/// boxes overlapping, every arrow between two boxes.
fn check_svg(text: &str, g: &Graph) -> Vec<SvgBox> {
    let doc = roxmltree::Document::parse(text).expect("the SVG is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let boxes: Vec<SvgBox> = root
        .descendants()
        .filter(|n| {
            n.has_tag_name("g") && n.attribute("class").is_some_and(|c| c.starts_with("node "))
        })
        .map(|n| {
            let num = |s: &str| s.parse::<f64>().expect("a number");
            let rect: Vec<f64> = n
                .attribute("data-box")
                .expect("data-box")
                .split(' ')
                .map(num)
                .collect();
            SvgBox {
                class: n.attribute("class").expect("class")["node ".len()..].to_string(),
                values: n
                    .attribute("data-values")
                    .expect("data-values")
                    .split_whitespace()
                    .map(|v| v.parse().expect("a node index"))
                    .collect(),
                rect: rect.try_into().expect("x y w h"),
            }
        })
        .collect();
    let mut drawn: Vec<usize> = boxes.iter().flat_map(|b| b.values.clone()).collect();
    drawn.sort();
    assert_eq!(
        drawn,
        (0..g.nodes.len()).collect::<Vec<_>>(),
        "each node drawn once"
    );
    let count = |class: &str| boxes.iter().filter(|b| b.class == class).count();
    assert_eq!(count("output"), g.outputs.len());
    assert_eq!(count("update"), g.updates.len());
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let [ax, ay, aw, ah] = a.rect;
            let [bx, by, bw, bh] = b.rect;
            let apart = ax + aw <= bx || bx + bw <= ax || ay + ah <= by || by + bh <= ay;
            assert!(apart, "boxes overlap: {:?} and {:?}", a.values, b.values);
        }
    }
    let ids: BTreeSet<&str> = root
        .descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter_map(|n| n.attribute("id"))
        .collect();
    for edge in root
        .descendants()
        .filter(|n| n.attribute("class") == Some("edge"))
    {
        for end in ["data-from", "data-to"] {
            assert!(ids.contains(edge.attribute(end).expect("an end")));
        }
        let line = edge
            .children()
            .find(|c| c.has_tag_name("path"))
            .expect("a line");
        let d = line.attribute("d").expect("a path");
        assert!(d.starts_with('M') && d.len() > 4, "{d}");
    }
    boxes
}

/// What a parsed DOT graph holds.
#[derive(Default)]
struct DotGraph {
    /// Node id → the cluster it is declared in, if any.
    nodes: BTreeMap<String, Option<String>>,
    edges: Vec<(String, String)>,
}

fn id_text(id: &Id) -> String {
    match id {
        Id::Escaped(s) => s.trim_matches('"').to_string(),
        Id::Html(s) | Id::Plain(s) | Id::Anonymous(s) => s.clone(),
    }
}

fn collect(stmts: &[Stmt], cluster: Option<&str>, out: &mut DotGraph) {
    for s in stmts {
        match s {
            Stmt::Node(n) => {
                out.nodes
                    .insert(id_text(&n.id.0), cluster.map(str::to_string));
            }
            Stmt::Edge(dot::Edge {
                ty: EdgeTy::Pair(Vertex::N(a), Vertex::N(b)),
                ..
            }) => {
                out.edges.push((id_text(&a.0), id_text(&b.0)));
            }
            Stmt::Edge(e) => panic!("unexpected edge form {e:?}"),
            Stmt::Subgraph(sub) => collect(&sub.stmts, Some(&id_text(&sub.id)), out),
            Stmt::Attribute(_) | Stmt::GAttribute(_) => {}
        }
    }
}

/// Parses `text` as DOT and checks that it is `g`: a node per graph node
/// (`n0`…) and per output and update after them, the params in one cluster,
/// an edge per distinct operand use and per output and update.
fn check_dot(text: &str, g: &Graph) -> DotGraph {
    let parsed = graphviz_rust::parse(text).unwrap_or_else(|e| panic!("not DOT: {e}\n{text}"));
    let dot::Graph::DiGraph { stmts, .. } = parsed else {
        panic!("not a digraph")
    };
    let mut d = DotGraph::default();
    collect(&stmts, None, &mut d);
    let markers = g.outputs.len() + g.updates.len();
    let want: BTreeSet<String> = (0..g.nodes.len() + markers)
        .map(|i| format!("n{i}"))
        .collect();
    assert_eq!(d.nodes.keys().cloned().collect::<BTreeSet<_>>(), want);
    for v in g.ids() {
        let in_params = d.nodes[&format!("n{}", v.0)].as_deref() == Some("cluster_params");
        let is_param = matches!(g.node(v).op, tfg_ir::Op::Param { .. });
        assert_eq!(in_params, is_param, "node {v}");
    }
    let uses: BTreeSet<(usize, usize)> = g
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.args.iter().map(move |a| (a.index(), i)))
        .collect();
    assert_eq!(d.edges.len(), uses.len() + markers);
    d
}

#[test]
fn every_example_draws_as_svg_and_dot() {
    let dir = scratch("graph_every_example");
    for path in examples() {
        let p = program(&path);
        let file = path.to_str().expect("UTF-8 path");
        for g in &p.graphs {
            let stem = format!(
                "{}-{}",
                path.file_stem().expect("a name").to_string_lossy(),
                g.name
            );
            let args = ["--graph", g.name.as_str(), file];
            check_svg(&picture(&dir, &format!("{stem}.svg"), &args), g);
            check_dot(&picture(&dir, &format!("{stem}.dot"), &args), g);

            let after = after_every_pass(g.clone());
            let args = ["--graph", g.name.as_str(), "--after", "all", file];
            check_svg(&picture(&dir, &format!("{stem}-all.svg"), &args), &after);
            check_dot(&picture(&dir, &format!("{stem}-all.dot"), &args), &after);

            if let Some(step) = step_graph(&p, g) {
                let args = ["--graph", g.name.as_str(), "--train", file];
                check_svg(&picture(&dir, &format!("{stem}-train.svg"), &args), &step);
                check_dot(&picture(&dir, &format!("{stem}-train.dot"), &args), &step);
            }
        }
    }
}

#[test]
fn hello_dot() {
    let dir = scratch("graph_hello_dot");
    insta::assert_snapshot!(picture(&dir, "hello.dot", &[HELLO]));
}

#[test]
fn hello_svg_shows_each_role_distinctly() {
    let dir = scratch("graph_hello_svg");
    let g = program(Path::new(HELLO)).graphs[0].clone();
    let boxes = check_svg(&picture(&dir, "hello.svg", &[HELLO]), &g);
    let class_of = |v: usize| {
        boxes
            .iter()
            .find(|b| b.values == [v])
            .map(|b| b.class.as_str())
            .expect("drawn alone")
    };
    for v in g.ids() {
        let want = match g.node(v).op {
            tfg_ir::Op::Input { .. } => "input",
            tfg_ir::Op::Param { .. } => "param",
            tfg_ir::Op::Const(_) => "const",
            _ => "op",
        };
        assert_eq!(class_of(v.index()), want);
    }
    // Inputs and params are the graph's interface: the top row.
    let middle = |v: usize| {
        let b = boxes.iter().find(|b| b.values == [v]).expect("drawn");
        b.rect[1] + b.rect[3] / 2.0
    };
    let x = g.lookup("x").expect("x").index();
    let w = g.lookup("w").expect("w").index();
    assert_eq!(middle(x), middle(w));
    assert!(g.ids().all(|v| middle(v.index()) >= middle(x)));
}

#[test]
fn fused_kernels_are_clusters_in_dot_and_boxes_in_svg() {
    let dir = scratch("graph_kernels");
    let src = dir.join("mlp.tfg");
    std::fs::write(&src, MLP).expect("writable");
    let file = src.to_str().expect("UTF-8 path");
    let p = tfg_frontend::compile(MLP).expect("compiles");
    let g = tfg_ir::specialize(&p.graphs[0], &[("B".to_string(), 8)].into()).expect("specialises");
    let g = after_every_pass(g);
    let fusion = tfg_passes::fuse::fuse(&g);
    assert!(
        fusion.groups.iter().any(|k| k.members.len() > 1),
        "something fuses"
    );

    let args = ["--dim", "B=8", "--after", "all", "--kernels", file];
    let d = check_dot(&picture(&dir, "mlp.dot", &args), &g);
    for k in &fusion.groups {
        let cluster = format!("cluster_{}", k.name);
        let mut inside: Vec<String> = d
            .nodes
            .iter()
            .filter(|(_, c)| c.as_deref() == Some(cluster.as_str()))
            .map(|(n, _)| n.clone())
            .collect();
        inside.sort();
        let mut members: Vec<String> = k.members.iter().map(|v| format!("n{}", v.0)).collect();
        members.sort();
        assert_eq!(inside, members, "kernel {}", k.name);
    }

    // After the fuse pass, the kernels are drawn without being asked for.
    let fused = ["--dim", "B=8", "--after", "fuse", file];
    let clusters: BTreeSet<String> = check_dot(&picture(&dir, "fused.dot", &fused), &g)
        .nodes
        .into_values()
        .flatten()
        .filter(|c| c != "cluster_params")
        .collect();
    assert_eq!(clusters.len(), fusion.groups.len());

    let boxes = check_svg(&picture(&dir, "mlp.svg", &args), &g);
    let kernels: Vec<&SvgBox> = boxes.iter().filter(|b| b.class == "kernel").collect();
    assert_eq!(kernels.len(), fusion.groups.len());
    for k in &fusion.groups {
        let mut members: Vec<usize> = k.members.iter().map(|v| v.index()).collect();
        members.sort();
        assert!(
            kernels.iter().any(|b| b.values == members),
            "kernel {} is one box",
            k.name
        );
    }
}

#[test]
fn a_training_step_of_over_a_hundred_nodes_stays_legible() {
    let dir = scratch("graph_large");
    let src = dir.join("mlp.tfg");
    std::fs::write(&src, MLP).expect("writable");
    let p = tfg_frontend::compile(MLP).expect("compiles");
    let step = step_graph(&p, &p.graphs[0]).expect("a train item");
    assert!(step.nodes.len() > 100, "{} nodes", step.nodes.len());

    let text = picture(
        &dir,
        "step.svg",
        &["--train", src.to_str().expect("UTF-8 path")],
    );
    let boxes = check_svg(&text, &step);
    // Chains of single-use ops become one box each: far fewer boxes than nodes.
    assert!(
        boxes.len() * 3 < step.nodes.len() * 2,
        "{} boxes for {} nodes",
        boxes.len(),
        step.nodes.len()
    );
    // The layout does not explode: the picture is not much larger than its
    // boxes laid out edge to edge with room to breathe.
    let doc = roxmltree::Document::parse(&text).expect("XML");
    let size = |a: &str| {
        doc.root_element()
            .attribute(a)
            .expect("size")
            .parse::<f64>()
            .expect("a number")
    };
    let area: f64 = boxes.iter().map(|b| b.rect[2] * b.rect[3]).sum();
    assert!(
        size("width") * size("height") < 20.0 * area,
        "{} x {}",
        size("width"),
        size("height")
    );
}

/// Type labels render the same in every SVG renderer: each sits on a white
/// rectangle drawn before it, with no `paint-order` halo (which renderers
/// such as cairosvg ignore, painting the halo over the text).
#[test]
fn type_labels_sit_on_rectangles() {
    let dir = scratch("graph_labels");
    let text = picture(&dir, "hello.svg", &["examples/hello.tfg"]);
    assert!(!text.contains("paint-order"), "{text}");
    let doc = roxmltree::Document::parse(&text).expect("XML");
    let elements: Vec<_> = doc.descendants().filter(|n| n.is_element()).collect();
    let mut labels = 0;
    for (i, n) in elements.iter().enumerate() {
        if n.attribute("class") != Some("type") {
            continue;
        }
        labels += 1;
        let bg = elements[i - 1];
        assert_eq!(bg.attribute("class"), Some("type-bg"), "{text}");
        let num = |n: &roxmltree::Node, a: &str| {
            n.attribute(a)
                .expect("attribute")
                .parse::<f64>()
                .expect("a number")
        };
        // The rectangle covers the label's baseline and starts before it.
        assert!(num(&bg, "x") < num(n, "x"));
        assert!(num(&bg, "y") < num(n, "y") && num(n, "y") < num(&bg, "y") + num(&bg, "height"));
    }
    assert!(labels > 0, "{text}");
}

#[test]
fn the_extension_picks_the_format() {
    let dir = scratch("graph_extension");
    let out = dir.join("hello.png");
    let run = tfg(&["graph", HELLO, "-o", out.to_str().expect("UTF-8 path")]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("must end in .svg or .dot"),
        "{}",
        run.stderr
    );
    assert!(entries(&dir).is_empty(), "nothing written");

    let run = tfg(&["graph", HELLO]);
    assert_eq!(run.status, 2, "-o is required: a usage error");
}

#[test]
fn errors_leave_no_file() {
    let dir = scratch("graph_errors");
    let out = dir.join("missing").join("hello.svg");
    let run = tfg(&["graph", HELLO, "-o", out.to_str().expect("UTF-8 path")]);
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("cannot write"), "{}", run.stderr);

    let nothing_to_train = dir.join("forward.tfg");
    std::fs::write(
        &nothing_to_train,
        "graph g { input x: f32; output y = x * 2 }",
    )
    .expect("writable");
    let out = dir.join("g.svg");
    let run = tfg(&[
        "graph",
        "--train",
        nothing_to_train.to_str().expect("UTF-8 path"),
        "-o",
        out.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("no train item"), "{}", run.stderr);
    assert_eq!(entries(&dir), ["forward.tfg"]);
}
