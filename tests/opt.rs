//! A dump is a working input: `tfg opt FILE.tfir --passes …` runs single
//! passes over it and `tfg run FILE.tfir` runs it. Also the pipeline's dumps
//! of the examples, as snapshots.

mod common;

use common::{scratch, tfg, tfg_ok};

const HELLO: &str = "examples/hello.tfg";

/// The IR of `stage` that `tfg dump --dump-dir` wrote for hello.
fn dumped(test: &str, stage: &str) -> std::path::PathBuf {
    let dir = scratch(test);
    tfg_ok(&[
        "dump",
        HELLO,
        "--dump-dir",
        dir.to_str().expect("UTF-8 path"),
    ]);
    let name = std::fs::read_dir(&dir)
        .expect("dump dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .find(|n| n.contains(&format!("-{stage}.")))
        .expect("a dump of the stage");
    let path = dir.join(format!("{stage}.tfir"));
    std::fs::rename(dir.join(name), &path).expect("rename");
    path
}

#[test]
fn a_dumped_graph_runs_as_the_source_does() {
    let ir = dumped("a_dumped_graph_runs_as_the_source_does", "frontend");
    let from_ir = tfg_ok(&[
        "run",
        ir.to_str().expect("UTF-8"),
        "--json",
        "--feed",
        "x=2.5",
    ]);
    let from_src = tfg_ok(&["run", HELLO, "--json", "--feed", "x=2.5"]);
    assert_eq!(from_ir, from_src);
}

#[test]
fn opt_runs_the_named_passes_and_the_result_runs() {
    let test = "opt_runs_the_named_passes_and_the_result_runs";
    let ir = dumped(test, "autodiff");
    let out = ir.with_file_name("simplified.tfir");
    tfg_ok(&[
        "opt",
        ir.to_str().expect("UTF-8"),
        "--passes",
        "simplify,dce",
        "-o",
        out.to_str().expect("UTF-8"),
    ]);
    let text = std::fs::read_to_string(&out).expect("opt wrote its output");
    let g = tfg_ir::text::parse(&text).expect("opt's output is Graph IR");
    // `(y - 0.0) ** 2` loses its `- 0.0`.
    assert!(g.nodes.iter().all(|n| n.op.name() != "sub"), "{text}");
    let before = tfg_ok(&["run", ir.to_str().expect("UTF-8"), "--json"]);
    let after = tfg_ok(&["run", out.to_str().expect("UTF-8"), "--json"]);
    assert_eq!(before, after);
}

#[test]
fn opt_reports_bad_ir_with_its_place() {
    let dir = scratch("opt_reports_bad_ir_with_its_place");
    let bad = dir.join("bad.tfir");
    std::fs::write(
        &bad,
        "graph g {\n  %x = input : f32\n  %y = frobnicate %x : f32\n  output y = %y\n}\n",
    )
    .expect("write");
    let run = tfg(&["opt", bad.to_str().expect("UTF-8"), "--passes", "dce"]);
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("bad.tfir:3:"), "{}", run.stderr);
    let run = tfg(&["opt", bad.to_str().expect("UTF-8"), "--passes", "nonsense"]);
    assert_eq!(run.status, 2, "an unknown pass is a usage error");
}

#[test]
fn dump_of_every_stage_of_hello() {
    insta::assert_snapshot!(tfg_ok(&["dump", HELLO]));
}

#[test]
fn dump_explains_simplify() {
    insta::assert_snapshot!(tfg_ok(&["dump", HELLO, "--after", "simplify", "--explain"]));
}

#[test]
fn elementwise_fuses_into_one_kernel() {
    let out = tfg_ok(&[
        "dump",
        "examples/elementwise.tfg",
        "--dim",
        "N=4096",
        "--after",
        "fuse,arena",
    ]);
    assert!(
        out.contains("// 1 kernels for 7 ops: 1 elementwise"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn mlp_training_step_has_far_fewer_kernels_than_ops() {
    let out = tfg_ok(&[
        "dump",
        "examples/mlp_digits.tfg",
        "--train",
        "--dim",
        "N=64",
        "--dim",
        "T=360",
        "--after",
        "fuse",
    ]);
    let summary = out.lines().last().expect("a summary line").to_string();
    let numbers: Vec<usize> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let (kernels, ops) = (numbers[0], numbers[1]);
    assert!(kernels * 3 <= ops, "{summary}");
    insta::assert_snapshot!(summary);
}
