//! Every example, through every path: its IR text round-trips (forward and
//! training-step graphs), and the Cranelift backend — and the CUDA backend,
//! where a GPU is at hand — agrees with the reference interpreter on `run`
//! and on `train`.

mod common;

use common::{examples, tfg_ok};
use serde_json::Value;

#[test]
fn ir_text_round_trips_for_every_example_and_its_training_step() {
    for path in examples() {
        let src = std::fs::read_to_string(&path).expect("readable");
        let program = tfg_frontend::compile(&src).expect("examples compile");
        for g in &program.graphs {
            let mut graphs = vec![g.clone()];
            if let Some(spec) = program.train(&g.name) {
                graphs.push(
                    tfg_passes::train_step::build_train_step(g, spec)
                        .expect("step")
                        .graph,
                );
            }
            for g in graphs {
                let text = tfg_ir::text::print(&g);
                let back = tfg_ir::text::parse(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()));
                assert_eq!(back, g, "{}", path.display());
            }
        }
    }
}

/// Every float of every output (and param) of a `--json` report.
fn numbers(report: &Value, key: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (name, t) in report[key].as_object().expect("an object") {
        for (i, x) in t["data"].as_array().expect("data").iter().enumerate() {
            let x = x
                .as_f64()
                .or_else(|| x.as_bool().map(|b| b as u8 as f64))
                .expect("a number");
            out.push((format!("{name}[{i}]"), x));
        }
    }
    out
}

fn assert_close(what: &str, got: &[(String, f64)], interp: &[(String, f64)], rtol: f64) {
    assert_eq!(got.len(), interp.len(), "{what}");
    for ((name, a), (_, b)) in got.iter().zip(interp) {
        let tol = rtol * a.abs().max(b.abs()).max(1e-3);
        assert!((a - b).abs() <= tol, "{what} {name}: {a} vs interp {b}");
    }
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&tfg_ok(args)).expect("one JSON object")
}

/// `tfg run --backend BACKEND` agrees with the interpreter on every example.
fn runs_every_example_as_the_interpreter_does(backend: &str) {
    for path in examples() {
        let file = path.to_str().expect("UTF-8");
        let got = json(&["run", file, "--json", "--backend", backend]);
        let interp = json(&["run", file, "--json", "--backend", "interp"]);
        let what = format!("{file} on {backend}");
        assert_close(
            &what,
            &numbers(&got, "outputs"),
            &numbers(&interp, "outputs"),
            1e-4,
        );
    }
}

/// Twenty steps of `tfg train --backend BACKEND` end where the
/// interpreter's do, for every example with a train item.
fn trains_every_example_as_the_interpreter_does(backend: &str) {
    for path in examples() {
        let file = path.to_str().expect("UTF-8");
        let src = std::fs::read_to_string(&path).expect("readable");
        if !src.contains("\ntrain ") {
            continue;
        }
        let train = |backend: &str| {
            json(&[
                "train",
                file,
                "--json",
                "--steps",
                "20",
                "--backend",
                backend,
            ])
        };
        let (got, interp) = (train(backend), train("interp"));
        let what = format!("{file} on {backend}");
        // Twenty optimizer steps may amplify rounding differences a little.
        assert_close(
            &what,
            &numbers(&got, "params"),
            &numbers(&interp, "params"),
            1e-3,
        );
        assert_close(
            &what,
            &numbers(&got, "outputs"),
            &numbers(&interp, "outputs"),
            1e-3,
        );
    }
}

#[test]
fn cpu_backend_agrees_with_the_interpreter_on_every_example() {
    runs_every_example_as_the_interpreter_does("cpu");
}

#[test]
fn cpu_backend_trains_every_example_as_the_interpreter_does() {
    trains_every_example_as_the_interpreter_does("cpu");
}

#[cfg(feature = "llvm")]
#[test]
fn cuda_backend_agrees_with_the_interpreter_on_every_example() {
    if common::gpu_at_hand("cuda_backend_agrees_with_the_interpreter_on_every_example") {
        runs_every_example_as_the_interpreter_does("cuda");
    }
}

#[cfg(feature = "llvm")]
#[test]
fn cuda_backend_trains_every_example_as_the_interpreter_does() {
    if !common::gpu_at_hand("cuda_backend_trains_every_example_as_the_interpreter_does") {
        return;
    }
    trains_every_example_as_the_interpreter_does("cuda");
    // Hello ends with y = 0.8 · 0.95^100 on every backend (docs/language.md,
    // "Training").
    let hello = json(&["train", "examples/hello.tfg", "--json", "--backend", "cuda"]);
    let y = hello["outputs"]["y"]["data"][0].as_f64().expect("y");
    assert!((y - 0.8 * 0.95f64.powi(100)).abs() < 1e-6, "y = {y}");
}
