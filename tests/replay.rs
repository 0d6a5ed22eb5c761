//! Replay snapshots of generated code: for every example and benchmark
//! workload, forward graph and training step, the Kernel IR with its GPU
//! launch plan, the CLIF of the CPU kernels and the PTX module. A refactor
//! shows a zero diff here; a change of generated code shows its diff in
//! review (`cargo insta review`), where it is read like any other change.
#![cfg(feature = "llvm")]

mod common;

use common::tfg_ok;

/// Each program with the dims its symbolic dims are bound to: the shapes
/// of its data, or the benchmark's.
const CASES: &[(&str, &str, &[&str])] = &[
    ("hello", "examples/hello.tfg", &[]),
    ("elementwise", "examples/elementwise.tfg", &["N=8"]),
    (
        "linear_regression",
        "examples/linear_regression.tfg",
        &["N=256"],
    ),
    (
        "mlp_digits",
        "examples/mlp_digits.tfg",
        &["N=1437", "T=360"],
    ),
    (
        "cnn_digits",
        "examples/cnn_digits.tfg",
        &["N=1437", "T=360"],
    ),
    ("digits_serving", "examples/digits_serving.tfg", &["N=1437"]),
    ("embedding", "examples/embedding.tfg", &[]),
    ("w1", "bench/workloads/w1_elementwise.tfg", &["N=16777216"]),
    ("w2", "bench/workloads/w2_matmul.tfg", &["N=1024"]),
    ("w3", "bench/workloads/w3_mlp_step.tfg", &["B=128"]),
    (
        "w4",
        "bench/workloads/w4_softmax.tfg",
        &["R=4096", "C=1024"],
    ),
    ("w7", "bench/workloads/w7_conv2d.tfg", &["N=32"]),
];

/// `ARGS FILE --dim …` (and `--train` for the step), as one argument list.
fn args<'a>(command: &[&'a str], file: &'a str, dims: &[&'a str], train: bool) -> Vec<&'a str> {
    let mut all = command.to_vec();
    all.push(file);
    for d in dims {
        all.extend(["--dim", d]);
    }
    if train {
        all.push("--train");
    }
    all
}

/// Whether `file` has a train item, so that its step can be replayed too.
fn trains(file: &str) -> bool {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(path).expect("the example is readable");
    text.lines().any(|l| l.starts_with("train "))
}

/// Runs `check` on every case, forward and training step; `what` names the
/// snapshot (`{case}.{what}`, `{case}_step.{what}`).
fn replay(what: &str, command: &[&str]) {
    let mut steps = 0;
    for (case, file, dims) in CASES {
        for train in [false, true] {
            if train && !trains(file) {
                continue;
            }
            steps += usize::from(train);
            // File defaults are absolute paths: into this checkout.
            let text = tfg_ok(&args(command, file, dims, train))
                .replace(concat!(env!("CARGO_MANIFEST_DIR"), "/"), "[repo]/");
            let name = if train {
                format!("{case}_step.{what}")
            } else {
                format!("{case}.{what}")
            };
            insta::assert_snapshot!(name, text);
        }
    }
    // hello, linear_regression, mlp_digits, cnn_digits, digits_serving,
    // embedding and w3 train (W7's CNN step is cnn_digits's).
    assert_eq!(steps, 7, "a train item was not found");
}

#[test]
fn kernel_ir_and_launch_plans() {
    replay("kernel", &["dump", "--after", "arena", "--launch-plan"]);
}

#[test]
fn clif() {
    replay("clif", &["compile", "--target", "cpu", "--emit", "clif"]);
}

#[test]
fn ptx() {
    replay(
        "ptx",
        &[
            "compile", "--target", "ptx", "--emit", "ptx", "--sm", "sm_90",
        ],
    );
}
