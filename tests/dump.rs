//! `tfg dump`, `--dump-after`, `--dump-dir` and `tfg check` end to end.

mod common;

use common::{entries, examples, scratch, tfg, tfg_fails, tfg_ok};
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
    Fused(Graph, tfg_ir::fused::Fusion),
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
                "fuse" => {
                    let (g, fusion, _) = tfg_ir::fused::parse(&text)
                        .unwrap_or_else(|e| panic!("stage {stage} does not parse: {e}\n{text}"));
                    // Read back, it prints as it was written, bar the
                    // numbers of unnamed values (`%3`), which follow the
                    // order of the text rather than the pass's.
                    let printed = fusion.print(&g);
                    let unnumbered = |t: &str| {
                        t.split_whitespace()
                            .map(|w| match w.strip_prefix('%') {
                                Some(n) if n.chars().all(|c| c.is_ascii_digit() || c == ',') => {
                                    "%N"
                                }
                                _ => w,
                            })
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    assert_eq!(unnumbered(&printed), unnumbered(&text));
                    let (g2, again, _) = tfg_ir::fused::parse(&printed).expect("parses again");
                    assert_eq!(again.print(&g2), printed, "a second round trip is exact");
                    Stage::Fused(g, fusion)
                }
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
            Stage::Fused(g, fusion) => {
                assert_eq!(fusion.groups.len(), 1, "after {stage}: hello is one kernel");
                fusion
                    .verify(g)
                    .unwrap_or_else(|e| panic!("after {stage}: {e}"))
            }
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
        } else if name.ends_with(".tffused") {
            tfg_ir::fused::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
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
fn an_error_in_a_dump_points_at_the_dump() {
    let dir = scratch("an_error_in_a_dump_points_at_the_dump");
    let dir_arg = dir.to_str().expect("UTF-8 path");
    tfg_ok(&["dump", HELLO, "--dump-dir", dir_arg]);
    let dce = dir.join("hello.03-dce.tfir");
    let dce = dce.to_str().expect("UTF-8 path");
    // `%x` is defined on the dump's line 2 (its `loc(3:11)` is the .tfg's).
    let wrong_shape = "input `x` expects f32 but is fed f32[2]";
    let stderr = tfg_fails(
        &["run", dce, "--feed", "x=[1, 2]"],
        wrong_shape,
        &format!("{dce}:2:4"),
    );
    assert!(
        stderr.contains("2 |   %x = input {default = 1.0} : f32"),
        "{stderr}"
    );

    // The same in a fused dump, whose node lines sit under kernel headers.
    let fused = dir.join("hello.04-fuse.tffused");
    let fused = fused.to_str().expect("UTF-8 path");
    tfg_fails(
        &["run", fused, "--feed", "x=[1, 2]"],
        wrong_shape,
        &format!("{fused}:2:4"),
    );
    // A partition broken by hand: `%y` is an output, so it must be stored.
    let text = std::fs::read_to_string(fused).expect("readable");
    let line = text
        .lines()
        .position(|l| l.trim_start().starts_with("%y = mul"))
        .expect("the product's line")
        + 1;
    let broken = dir.join("broken.tffused");
    std::fs::write(
        &broken,
        text.replacen("loc(5:12)  // stored", "loc(5:12)", 1),
    )
    .expect("writable");
    let broken = broken.to_str().expect("UTF-8 path");
    tfg_fails(
        &["run", broken],
        "`%y` is read outside kernel k0 but not stored",
        &format!("{broken}:{line}:5"),
    );

    // In a Kernel IR dump, an input is its buffer's line.
    let kernel = dir.join("hello.09-arena.tfkir");
    let text = std::fs::read_to_string(&kernel).expect("readable");
    let no_default = dir.join("no_default.tfkir");
    std::fs::write(&no_default, text.replacen(" default = 1.0", "", 1)).expect("writable");
    let no_default = no_default.to_str().expect("UTF-8 path");
    tfg_fails(
        &["run", no_default],
        "input `x` has no feed and no default; pass `--feed x=VALUE`",
        &format!("{no_default}:2:10"),
    );
    // Fed, it runs.
    let out = tfg_ok(&["run", no_default, "--feed", "x=2"]);
    assert_eq!(out, "y = 1.6 : f32\nloss = 2.5600002 : f32\n");
}

/// Every example, run with `--dump-dir`, and then every dump it wrote,
/// run as a program of its own: each prints what the example printed. The
/// fused and Kernel IR dumps resume the pipeline where they were written.
#[test]
fn every_dump_of_every_example_runs_and_prints_what_the_source_prints() {
    for example in examples() {
        let stem = example
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a name");
        let example = example.to_str().expect("UTF-8 path");
        for backend in ["cpu", "interp"] {
            let dir = scratch(&format!("every_dump_{stem}_{backend}"));
            let dir_arg = dir.to_str().expect("UTF-8 path");
            let want = tfg_ok(&["run", example, "--backend", backend, "--dump-dir", dir_arg]);
            let dumps = entries(&dir);
            let levels = if backend == "cpu" { 3 } else { 1 };
            for extension in ["tfir", "tffused", "tfkir"].iter().take(levels) {
                assert!(
                    dumps.iter().any(|d| d.ends_with(extension)),
                    "{example} on {backend}: no .{extension} dump in {dumps:?}"
                );
            }
            for dump in dumps {
                let path = dir.join(&dump);
                let got = tfg_ok(&[
                    "run",
                    path.to_str().expect("UTF-8 path"),
                    "--backend",
                    backend,
                ]);
                assert_eq!(got, want, "{dump} of {example} on {backend}");
            }
        }
    }
}

/// `tfg dump` of a fused or Kernel IR dump resumes the pipeline there, and
/// ends where the dumps of the source end.
#[test]
fn dump_resumes_from_a_dump_of_a_later_level() {
    let dir = scratch("dump_resumes_from_a_dump_of_a_later_level");
    let dir_arg = dir.to_str().expect("UTF-8 path");
    tfg_ok(&["dump", HELLO, "--dump-dir", dir_arg]);
    let last = std::fs::read_to_string(dir.join("hello.09-arena.tfkir")).expect("readable");
    for from in ["hello.04-fuse.tffused", "hello.05-lower.tfkir"] {
        let path = dir.join(from);
        let out = tfg_ok(&[
            "dump",
            path.to_str().expect("UTF-8 path"),
            "--after",
            "arena",
        ]);
        let (header, program) = out.split_once('\n').expect("a header line");
        // A Kernel IR program has no graph name of its own.
        let graph = if from.ends_with(".tfkir") {
            "program"
        } else {
            "hello"
        };
        assert_eq!(
            header,
            format!("// ----- IR after arena (graph {graph}) -----"),
            "from {from}"
        );
        assert_eq!(program, last, "from {from}");
    }
}
