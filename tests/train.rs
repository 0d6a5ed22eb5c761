//! `tfg train` end to end: the `--json` object of docs/cli.md, progress and
//! the final loss on stderr/stdout, `--steps`, minibatches, non-finite
//! losses, file defaults, `--out`, and the examples that train. Expected values are
//! derived by hand (the hello neuron, minibatch means) or come from the data's
//! generator (`examples/data/linear_truth.json`).

mod common;

use common::{entries, json, scratch, tfg, tfg_ok};
use serde_json::Value;

const HELLO: &str = "examples/hello.tfg";

/// The only element of a tensor in `--json` form, as f64 (NaN for `"NaN"`).
fn scalar(t: &Value) -> f64 {
    let x = &t["data"][0];
    x.as_f64()
        .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {t}"))
}

fn close(actual: f64, expected: f64, rel: f64) -> bool {
    (actual - expected).abs() <= rel * expected.abs()
}

#[test]
fn hello_json_is_the_spec_object_and_ends_at_the_spec_value() {
    let run = tfg(&["train", HELLO, "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "", "--json prints no progress");
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let report = json(&run.stdout);
    let keys: Vec<&str> = report
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["final_loss", "outputs", "params", "steps"]);
    assert!(
        run.stdout.starts_with("{\"steps\": 100, \"final_loss\": ")
            && run.stdout.contains(", \"outputs\": {\"y\": ")
            && run.stdout.contains("}, \"params\": {\"w\": "),
        "keys in the documented order (docs/training.md): {}",
        run.stdout
    );

    // sgd on (w·1)² multiplies w by 1 - 2·0.025 = 0.95 each step.
    let y = scalar(&report["outputs"]["y"]);
    assert!((y - 0.8 * 0.95f64.powi(100)).abs() < 1e-6, "y = {y}");
    assert_eq!(scalar(&report["params"]["w"]), y, "y = w·1");
    assert_eq!(report["params"]["w"]["dtype"], "f32");
    // The last step's loss is computed before its update, from w after 99 steps.
    let final_loss = report["final_loss"].as_f64().expect("a number");
    assert!(close(final_loss, (0.8 * 0.95f64.powi(99)).powi(2), 1e-5));
    assert!(close(scalar(&report["outputs"]["loss"]), y * y, 1e-5));
}

#[test]
fn every_backend_trains_hello_and_minibatches_alike() {
    for backend in ["cpu", "interp"] {
        let report = json(&tfg_ok(&["train", HELLO, "--backend", backend, "--json"]));
        let y = scalar(&report["outputs"]["y"]);
        assert!(
            (y - 0.8 * 0.95f64.powi(100)).abs() < 1e-6,
            "{backend}: y = {y}"
        );
        let report = json(&tfg_ok(&[
            "train",
            "tests/train/batching.tfg",
            "--backend",
            backend,
            "--json",
        ]));
        assert_eq!(scalar(&report["outputs"]["w"]), -7.0, "{backend}");
    }
}

#[test]
fn steps_overrides_the_train_item() {
    let report = json(&tfg_ok(&["train", HELLO, "--steps", "10", "--json"]));
    assert_eq!(report["steps"], 10);
    let y = scalar(&report["outputs"]["y"]);
    assert!(close(y, 0.8 * 0.95f64.powi(10), 1e-6), "y = {y}");

    let run = tfg(&["train", HELLO, "--steps", "0"]);
    assert_eq!(run.status, 2, "--steps 0 is a usage error:\n{}", run.stderr);
}

#[test]
fn text_mode_prints_progress_lines_then_the_final_loss_and_outputs() {
    let run = tfg(&["train", HELLO]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    // Step 1, every tenth of the run, then the rate.
    assert_eq!(lines.len(), 12, "{}", run.stderr);
    assert_eq!(lines[0], "step 1/100  loss 0.64000005  y 0.8");
    assert!(lines[1].starts_with("step 10/100  loss "), "{}", lines[1]);
    assert!(
        lines[10].starts_with("step 100/100  loss "),
        "{}",
        lines[10]
    );
    assert!(
        lines[11].starts_with("trained 100 steps in ") && lines[11].ends_with(" steps/s)"),
        "{}",
        lines[11]
    );

    let out: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(out.len(), 3, "{}", run.stdout);
    assert!(out[0].starts_with("final_loss = ") && out[0].ends_with(" : f32"));
    assert!(out[1].starts_with("y = 0.00473642") && out[1].ends_with(" : f32"));
    assert!(out[2].starts_with("loss = "));
}

#[test]
fn minibatches_cut_only_the_file_fed_inputs_the_loss_depends_on() {
    let file = "tests/train/batching.tfg";
    let report = json(&tfg_ok(&["train", file, "--json"]));
    // One epoch of two batches of 4: w = 0 - (sum 0..7)/4, in any order.
    assert_eq!(scalar(&report["outputs"]["w"]), -7.0);
    // The run after training feeds x whole, and z (never batched) whole.
    assert_eq!(scalar(&report["outputs"]["batch_mean"]), 3.5);
    assert_eq!(scalar(&report["outputs"]["total"]), 15.0);

    // The logged batch means are of 4 distinct rows each, together all 8.
    let run = tfg(&["train", file, "--seed", "5"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let means: Vec<f64> = run
        .stderr
        .lines()
        .filter_map(|l| l.split("batch_mean ").nth(1))
        .map(|m| m.parse().expect("a number"))
        .collect();
    assert_eq!(means.len(), 2, "{}", run.stderr);
    assert_eq!(means[0] + means[1], 7.0, "{}", run.stderr);
}

#[test]
fn shuffling_follows_the_seed() {
    let w = |seed: &str| {
        let report = json(&tfg_ok(&[
            "train",
            "examples/linear_regression.tfg",
            "--steps",
            "5",
            "--seed",
            seed,
            "--json",
        ]));
        report["params"]["w"]["data"].clone()
    };
    assert_eq!(w("1"), w("1"));
    assert_ne!(w("1"), w("2"));
}

#[test]
fn the_step_graph_is_specialised_once_not_once_per_step() {
    let run = tfg(&[
        "train",
        "examples/linear_regression.tfg",
        "--steps",
        "20",
        "--json",
        "--dump-after",
        "dce",
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let dumps: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("// ----- IR after dce"))
        .collect();
    // Twenty steps of batches of 32: the step graph once, then the graph itself.
    assert_eq!(dumps.len(), 2, "{}", run.stderr);
    let step_graph = run
        .stderr
        .split("// ----- IR after dce")
        .nth(1)
        .expect("a dump");
    assert!(step_graph.contains("f32[32, 3]"), "{step_graph}");
}

#[test]
fn a_non_finite_loss_is_reported_once_and_training_goes_on() {
    let run = tfg(&["train", "tests/train/diverges.tfg", "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    // Step 2's loss is (0.8 - 1e20·1.6)², past f32's range.
    assert_eq!(run.stderr, "warning: loss is inf at step 2\n");
    let report = json(&run.stdout);
    assert_eq!(report["steps"], 5);
    // Step 3 computes w = inf - 1e20·2·inf = NaN; NaN propagates.
    assert_eq!(report["final_loss"], "NaN");
    assert_eq!(report["params"]["w"]["data"][0], "NaN");
}

#[test]
fn file_defaults_feed_run_and_train_relative_to_the_tfg_file() {
    let file = "examples/linear_regression.tfg";
    let by_default = tfg_ok(&["run", file, "--json"]);
    let by_feed = tfg_ok(&[
        "run",
        file,
        "--json",
        "--feed",
        "x=examples/data/linear_x.npy",
        "--feed",
        "y=examples/data/linear_y.npy",
    ]);
    assert_eq!(by_default, by_feed);
    // A feed replaces a file default without reading the file.
    let report = json(&tfg_ok(&[
        "run",
        "tests/train/missing_default.tfg",
        "--feed",
        "x=[1, 2, 4]",
        "--json",
    ]));
    assert_eq!(scalar(&report["outputs"]["total"]), 7.0);
}

#[test]
fn out_writes_the_outputs_of_the_run_after_training() {
    let dir = scratch("train-out");
    let out = dir.join("out");
    let out_arg = out.to_str().expect("UTF-8 path");
    let report = json(&tfg_ok(&["train", HELLO, "--json", "--out", out_arg]));
    assert_eq!(entries(&out), ["loss.npy", "y.npy"]);
    // A scalar f32 .npy ends with the value's 4 little-endian bytes.
    let bytes = std::fs::read(out.join("y.npy")).expect("written");
    let stored = f32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
    assert_eq!(stored, scalar(&report["outputs"]["y"]) as f32);
}

#[test]
fn linear_regression_recovers_the_generating_weights() {
    let truth: Value = json(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/data/linear_truth.json"),
        )
        .expect("committed with the data"),
    );
    let report = json(&tfg_ok(&[
        "train",
        "examples/linear_regression.tfg",
        "--json",
    ]));
    let learned = report["params"]["w"]["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_f64().expect("a number"));
    let true_w = truth["w"].as_array().expect("a list").iter();
    for (got, want) in learned.zip(true_w) {
        let want = want.as_f64().expect("a number");
        assert!((got - want).abs() < 0.05, "w: {got} vs {want}");
    }
    let b = scalar(&report["params"]["b"]);
    let true_b = truth["b"].as_f64().expect("a number");
    assert!((b - true_b).abs() < 0.05, "b: {b} vs {true_b}");
    // What is left is the noise: its variance, 0.05² = 0.0025.
    let loss = scalar(&report["outputs"]["loss"]);
    assert!(loss < 0.005, "loss {loss}");
}

#[test]
fn mlp_digits_reaches_95_percent_test_accuracy_and_reports_it() {
    let run = tfg(&["train", "examples/mlp_digits.tfg"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("accuracy = "))
        .unwrap_or_else(|| panic!("no accuracy in:\n{}", run.stdout));
    let accuracy: f64 = line
        .trim_start_matches("accuracy = ")
        .trim_end_matches(" : f32")
        .parse()
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    assert!(accuracy >= 0.95, "{line}");
}

/// What TensorBoard's own loader reads from an event directory: each scalar
/// series as `[step, value]` pairs, and the graph's node count.
const READ_EVENTS: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
ea.Reload()
print(json.dumps({
    "scalars": {t: [[e.step, e.value] for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]},
    "nodes": len(ea.Graph().node),
}))
"#;

#[test]
fn logdir_holds_the_loss_and_logged_values_at_every_step() {
    let Some(python) = common::numpy() else {
        return;
    };
    let has_tensorboard = std::process::Command::new(&python)
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_tensorboard {
        common::skip(
            "TFG_REQUIRE_TENSORBOARD",
            &format!("the tensorboard package for {}", python.display()),
        );
        return;
    }
    let dir = scratch("train-logdir");
    let dir_arg = dir.to_str().expect("UTF-8 path");
    tfg_ok(&["train", HELLO, "--json", "--logdir", dir_arg]);
    let out = std::process::Command::new(&python)
        .args(["-c", READ_EVENTS, dir_arg])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json(&String::from_utf8(out.stdout).expect("UTF-8"));
    // Step k runs with w = 0.8·0.95^(k-1): y = w, loss = w².
    for (tag, power) in [("y", 1), ("loss", 2)] {
        let series = events["scalars"][tag].as_array().expect("logged");
        assert_eq!(series.len(), 100, "{tag}");
        for (k, point) in (1..).zip(series) {
            assert_eq!(point[0], k);
            let want = (0.8 * 0.95f64.powi(k - 1)).powi(power);
            let got = point[1].as_f64().expect("a value");
            assert!(close(got, want, 1e-5), "{tag} at step {k}: {got} vs {want}");
        }
    }
    assert!(events["nodes"].as_u64().expect("a graph") > 5, "{events}");
}
