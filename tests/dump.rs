//! `tfg dump`, `--dump-after`, `--dump-dir` and `tfg check` end to end.

mod common;

use common::{entries, scratch, tfg, tfg_ok};
use tfg_ir::Graph;

const HELLO: &str = "examples/hello.tfg";

/// Every stage's name: the frontend's output, then each pass.
fn stages() -> Vec<&'static str> {
    std::iter::once("frontend")
        .chain(tfg_passes::pipeline().into_iter().map(|p| p.name))
        .collect()
}

/// The stages whose output is Graph IR: what `tfg run` goes through.
fn graph_stages() -> Vec<&'static str> {
    std::iter::once("frontend")
        .chain(
            tfg_passes::pipeline_to(tfg_passes::Level::Graph)
                .into_iter()
                .map(|p| p.name),
        )
        .collect()
}

/// A stage's dump, parsed by the parser of its IR level.
#[derive(Debug)]
enum Stage {
    Graph(Graph),
    /// The fused graph: Graph IR grouped under `kernel` headers.
    Fused(String),
    Kernel(tfg_ir::kernel::Program),
}

/// Splits a dump into (stage, IR) pairs; each text must parse at its level.
fn sections(dump: &str) -> Vec<(String, Stage)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in dump.lines() {
        if let Some(rest) = line.strip_prefix("// ----- IR after ") {
            out.extend(current.take());
            let stage = rest.split_whitespace().next().expect("a stage name");
            current = Some((stage.to_string(), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out.extend(current);
    out.into_iter()
        .map(|(stage, text)| {
            let parsed = match stage.as_str() {
                "fuse" => Stage::Fused(text),
                "lower" | "prune" | "inline" | "renumber" | "arena" => Stage::Kernel(
                    tfg_ir::kernel::parse(&text)
                        .unwrap_or_else(|e| panic!("stage {stage} does not parse: {e}\n{text}")),
                ),
                _ => Stage::Graph(
                    tfg_ir::text::parse(&text)
                        .unwrap_or_else(|e| panic!("stage {stage} does not parse: {e}\n{text}")),
                ),
            };
            (stage, parsed)
        })
        .collect()
}

fn hello_graph() -> Graph {
    let src = std::fs::read_to_string(HELLO).expect("example exists");
    let program = tfg_frontend::compile(&src).expect("hello compiles");
    program.graph(None).expect("one graph").clone()
}

#[test]
fn dump_prints_every_stage_as_ir_text() {
    let dump = sections(&tfg_ok(&["dump", HELLO]));
    let names: Vec<&str> = dump.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, stages());
    let Stage::Graph(frontend) = &dump[0].1 else {
        panic!("the frontend stage is Graph IR")
    };
    assert_eq!(
        *frontend,
        hello_graph(),
        "the frontend stage is the graph as compiled"
    );
    for (stage, ir) in &dump {
        match ir {
            Stage::Graph(g) => tfg_ir::verify(g).unwrap_or_else(|e| panic!("after {stage}: {e}")),
            Stage::Fused(text) => assert!(text.contains("  kernel k0 ("), "after {stage}: {text}"),
            Stage::Kernel(p) => {
                tfg_ir::kernel::verify(p).unwrap_or_else(|e| panic!("after {stage}: {e}"))
            }
        }
    }
}

#[test]
fn dump_after_names_stages() {
    let last = *stages().last().expect("a pass");
    let dump = sections(&tfg_ok(&["dump", HELLO, "--after", last]));
    assert_eq!(dump.len(), 1);
    assert_eq!(dump[0].0, last);
    let dump = sections(&tfg_ok(&[
        "dump",
        HELLO,
        "--after",
        &format!("frontend,{last}"),
    ]));
    assert_eq!(
        dump.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["frontend", last]
    );
}

#[test]
fn dump_dir_writes_one_parsable_file_per_stage() {
    let dir = scratch("dump_dir_writes_one_parsable_file_per_stage");
    let out = tfg_ok(&[
        "dump",
        HELLO,
        "--dump-dir",
        dir.to_str().expect("UTF-8 path"),
    ]);
    assert!(out.is_empty(), "{out}");
    let expected: Vec<String> = stages()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let extension = match *s {
                "fuse" => "tffused",
                "lower" | "prune" | "inline" | "renumber" | "arena" => "tfkir",
                _ => "tfir",
            };
            format!("hello.{i:02}-{s}.{extension}")
        })
        .collect();
    assert_eq!(entries(&dir), expected);
    for name in expected {
        let text = std::fs::read_to_string(dir.join(&name)).expect("readable");
        if name.ends_with(".tfkir") {
            tfg_ir::kernel::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name.ends_with(".tfir") {
            tfg_ir::text::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn run_dumps_to_stderr_or_a_directory() {
    let run = tfg(&["run", HELLO, "--dump-after", "all"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("y = "),
        "outputs still go to stdout: {}",
        run.stdout
    );
    // The cpu backend (the default) goes down to the Kernel IR; the interpreter
    // stops at the Graph IR.
    assert_eq!(sections(&run.stderr).len(), stages().len());
    let run = tfg(&["run", HELLO, "--backend", "interp", "--dump-after", "all"]);
    assert_eq!(sections(&run.stderr).len(), graph_stages().len());

    let dir = scratch("run_dumps_to_stderr_or_a_directory");
    let run = tfg(&[
        "run",
        HELLO,
        "--dump-dir",
        dir.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(entries(&dir).len(), stages().len());
}

#[test]
fn list_passes_shows_the_pipeline() {
    let out = tfg_ok(&["dump", "--list-passes"]);
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().expect("a name"))
        .collect();
    assert_eq!(names, stages());
}

#[test]
fn check_accepts_a_valid_file() {
    let out = tfg_ok(&["check", HELLO]);
    assert!(out.starts_with("examples/hello.tfg: ok"), "{out}");
    let run = tfg(&["check", HELLO, "--graph", "nope"]);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr.starts_with("error: no graph named `nope`"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_error_in_a_dump_points_at_the_dump_and_other_levels_are_refused_clearly() {
    let dir = scratch("an_error_in_a_dump_points_at_the_dump");
    let dir_arg = dir.to_str().expect("UTF-8 path");
    tfg_ok(&["dump", HELLO, "--dump-dir", dir_arg]);
    let dce = dir.join("hello.03-dce.tfir");
    let dce = dce.to_str().expect("UTF-8 path");
    // `%x` is defined on the dump's line 2 (its `loc(3:11)` is the .tfg's).
    let run = tfg(&["run", dce, "--feed", "x=[1, 2]"]);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr.contains(&format!("--> {dce}:2:4")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("2 |   %x = input {default = 1.0} : f32"),
        "{}",
        run.stderr
    );
    let kernel = dir.join("hello.05-lower.tfkir");
    let run = tfg(&["run", kernel.to_str().expect("UTF-8 path")]);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr
            .contains("is a dump of the kernel level; only Graph IR dumps"),
        "{}",
        run.stderr
    );
}
