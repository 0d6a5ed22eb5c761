//! `--bench N` on `tfg run` and `tfg train`: the `--json` object with a
//! `"timing"` member added, and two lines of timing in text mode. Only the
//! shape of the report is checked: timings depend on the machine.

mod common;

use common::{json, scratch, tfg, tfg_env, tfg_ok};
use serde_json::Value;
use tfg_ir::{Data, Tensor};

/// `timing` holds a non-negative `compile_ms` and `run_ms` with min ≤ median
/// ≤ max (and, after `tfg run` on the `cpu` backend, `cpu_code`).
fn check_timing(report: &Value) {
    let t = &report["timing"];
    let keys: Vec<&String> = t.as_object().expect("timing is an object").keys().collect();
    // serde_json sorts the keys.
    assert!(
        keys == ["compile_ms", "run_ms"] || keys == ["compile_ms", "cpu_code", "run_ms"],
        "{t}"
    );
    let ms = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!(ms(&t["compile_ms"]) > 0.0, "{t}");
    let run = &t["run_ms"];
    assert_eq!(run.as_object().map(|o| o.len()), Some(3), "{run}");
    let (min, median, max) = (ms(&run["min"]), ms(&run["median"]), ms(&run["max"]));
    assert!(0.0 <= min && min <= median && median <= max, "{run}");
}

/// The report's members are `spec` in order (as docs/cli.md gives them),
/// then `timing`.
fn last_member_is_timing(stdout: &str, spec: &[&str]) {
    let report = json(stdout);
    let object = report.as_object().expect("an object");
    assert_eq!(object.len(), spec.len() + 1, "{stdout}");
    let at = |key: &str| {
        assert!(object.contains_key(key), "no `{key}`: {stdout}");
        stdout
            .find(&format!("\"{key}\": "))
            .expect("the key is in the text")
    };
    let mut places: Vec<usize> = spec.iter().map(|k| at(k)).collect();
    places.push(stdout.rfind("\"timing\": ").expect("timing is in the text"));
    assert!(places.windows(2).all(|w| w[0] < w[1]), "{stdout}");
}

#[test]
fn run_bench_adds_timing_to_the_spec_object() {
    let stdout = tfg_ok(&["run", "examples/hello.tfg", "--bench", "5", "--json"]);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let report = json(&stdout);
    last_member_is_timing(&stdout, &["outputs"]);
    // The outputs are those of a plain run: w = 0.8, x = 1.0, y = w * x.
    assert!((report["outputs"]["y"]["data"][0].as_f64().expect("y") - 0.8).abs() < 1e-6);
    check_timing(&report);
}

#[test]
fn train_bench_runs_one_warm_up_step_and_n_timed_ones() {
    let stdout = tfg_ok(&["train", "examples/hello.tfg", "--bench", "4", "--json"]);
    let report = json(&stdout);
    last_member_is_timing(&stdout, &["steps", "final_loss", "outputs", "params"]);
    assert_eq!(report["steps"], 5);
    // Five sgd steps at lr 0.025 on loss = (w·1)²: w ← w·(1 - 2·0.025) each.
    let w = report["params"]["w"]["data"][0].as_f64().expect("w");
    assert!((w - 0.8 * 0.95f64.powi(5)).abs() < 1e-6, "{w}");
    check_timing(&report);
}

#[test]
fn bench_prints_timing_lines_in_text_mode() {
    for (cmd, per) in [("run", "run"), ("train", "step")] {
        let stdout = tfg_ok(&[cmd, "examples/hello.tfg", "--bench", "3"]);
        assert!(stdout.contains("compile: "), "{stdout}");
        assert!(
            stdout.contains(&format!("{per}: median "))
                && stdout.contains(&format!("over 3 {per}s")),
            "{stdout}"
        );
    }
}

#[test]
fn bench_needs_a_positive_count_and_excludes_steps() {
    assert_eq!(
        tfg(&["run", "examples/hello.tfg", "--bench", "0"]).status,
        2
    );
    let both = tfg(&[
        "train",
        "examples/hello.tfg",
        "--bench",
        "2",
        "--steps",
        "3",
    ]);
    assert_eq!(both.status, 2, "{}", both.stderr);
}

/// `TFG_CPU_TIER`: `auto` (the default) tiers a program up to LLVM's code
/// where a run is large (finished before `--bench`'s timed runs), not a
/// small one; `llvm` always, `cranelift` never; any other value is an error.
#[test]
fn cpu_code_tiers_up_to_llvm_where_a_run_is_large() {
    let dir = scratch("cpu_tier");
    let n = 1 << 18;
    let x = Tensor {
        shape: vec![n],
        data: Data::F32((0..n).map(|i| i as f32 / n as f32 - 0.5).collect()),
    };
    let file = dir.join("x.npy");
    std::fs::write(&file, tfg_formats::npy::encode(&x)).expect("writes x.npy");
    let feed = format!("x={}", file.display());
    let large = [
        "run",
        "bench/workloads/w1_elementwise.tfg",
        "--feed",
        &feed,
        "--bench",
        "2",
        "--json",
    ];
    let small = ["run", "examples/hello.tfg", "--bench", "2", "--json"];
    let code = |args: &[&str], tier: &str| {
        let run = tfg_env(args, &[("TFG_CPU_TIER", tier)]);
        assert_eq!(run.status, 0, "{tier}: {}", run.stderr);
        let report = json(&run.stdout);
        check_timing(&report);
        report["timing"]["cpu_code"].as_str().map(str::to_string)
    };
    let cases = [
        (&large[..], "auto", "llvm"),
        (&large[..], "", "llvm"),
        (&large[..], "cranelift", "cranelift"),
        (&small[..], "auto", "cranelift"),
        (&small[..], "llvm", "llvm"),
    ];
    for (args, tier, want) in cases {
        assert_eq!(code(args, tier).as_deref(), Some(want), "{tier}: {args:?}");
    }
    // LLVM says nothing on stderr: it remarks on loops it was asked to
    // vectorise and could not (this integer reduction), unless kept quiet.
    let sums = dir.join("sums.tfg");
    std::fs::write(
        &sums,
        "graph sums {\n    input m: i32[2, 2] = [[1, 2], [3, 4]]\n    s = sum(m, axis = 1)\n    output s\n}\n",
    )
    .expect("writes sums.tfg");
    let sums = sums.to_str().expect("UTF-8");
    let run = tfg_env(&["run", sums], &[("TFG_CPU_TIER", "llvm")]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    assert!(run.stdout.contains("[3 7]"), "{}", run.stdout);

    let run = tfg_env(&small, &[("TFG_CPU_TIER", "fast")]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("error: graph `hello`: TFG_CPU_TIER is `fast`; it must be `auto`, `llvm` or `cranelift`"),
        "{}",
        run.stderr
    );
}
