//! tfg against numpy itself, where python3 with numpy is installed (`scripts/test`
//! installs it; elsewhere these tests say they were skipped): `.npy` files each
//! side writes are read by the other, and `tfg run` prints arrays as numpy does.

mod common;

use common::{json, numpy, python, scratch, tfg};
use serde_json::Value;
use std::path::Path;

/// `--feed vK=DIR/vK.npy` for every case file numpy wrote.
fn case_feeds(dir: &Path, count: usize) -> Vec<String> {
    (0..count)
        .flat_map(|k| {
            [
                "--feed".to_string(),
                format!("v{k}={}/v{k}.npy", dir.display()),
            ]
        })
        .collect()
}

fn run_cases(dir: &Path, count: usize, extra: &[&str]) -> String {
    let program = dir.join("cases.tfg");
    let feeds = case_feeds(dir, count);
    let mut args = vec!["run", program.to_str().expect("UTF-8 path")];
    args.extend(feeds.iter().map(String::as_str));
    args.extend(extra);
    let run = tfg(&args);
    assert_eq!(run.status, 0, "{}", run.stderr);
    run.stdout
}

/// Random arrays of every dtype and rank up to 3, with NaN, infinities, signed
/// zeros, tiny and huge magnitudes, and some past the summarising threshold.
#[test]
fn text_output_matches_numpy_printing() {
    let Some(py) = numpy() else { return };
    let dir = scratch("text_output_matches_numpy_printing");
    let count = 150;
    python(
        &py,
        "print_cases.py",
        &[dir.to_str().expect("UTF-8 path"), "7", &count.to_string()],
    );
    let expected =
        std::fs::read_to_string(dir.join("expected.txt")).expect("written by print_cases.py");
    let got = run_cases(&dir, count, &[]);
    // Compare output by output, so a failure shows the one that differs.
    let split = |s: &str| -> Vec<String> {
        let mut outputs: Vec<String> = Vec::new();
        for line in s.lines() {
            match outputs.last_mut() {
                Some(last) if line.starts_with(' ') || line.is_empty() => {
                    *last += &format!("\n{line}")
                }
                _ => outputs.push(line.to_string()),
            }
        }
        outputs
    };
    let (got, expected) = (split(&got), split(&expected));
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e, "tfg (left) and numpy (right) print differently");
    }
}

/// `a` and `b` hold the same value of `dtype` (floats compared in that dtype, bit for bit).
fn same(dtype: &str, a: &Value, b: &Value) -> bool {
    match (dtype, a.as_f64(), b.as_f64()) {
        ("f32", Some(x), Some(y)) => (x as f32).to_bits() == (y as f32).to_bits(),
        ("f64", Some(x), Some(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn assert_same_tensors(tfg: &Value, numpy: &Value, names: impl Iterator<Item = String>) {
    for name in names {
        let (t, n) = (&tfg[&name], &numpy[&name]);
        assert_eq!(t["dtype"], n["dtype"], "{name}");
        assert_eq!(t["shape"], n["shape"], "{name}");
        let dtype = t["dtype"].as_str().expect("dtype");
        let (td, nd) = (
            t["data"].as_array().expect("data"),
            n["data"].as_array().expect("data"),
        );
        assert_eq!(td.len(), nd.len(), "{name}");
        for (i, (a, b)) in td.iter().zip(nd).enumerate() {
            assert!(same(dtype, a, b), "{name}[{i}]: tfg {a} vs numpy {b}");
        }
    }
}

/// `--json` gives back exactly the values numpy stored, NaN and infinities included.
#[test]
fn json_output_reads_back_to_numpys_values() {
    let Some(py) = numpy() else { return };
    let dir = scratch("json_output_reads_back_to_numpys_values");
    let count = 60;
    python(
        &py,
        "print_cases.py",
        &[dir.to_str().expect("UTF-8 path"), "11", &count.to_string()],
    );
    let report = json(&run_cases(&dir, count, &["--json"]));
    let stored = json(&python(
        &py,
        "load_npy.py",
        &[dir.to_str().expect("UTF-8 path")],
    ));
    assert_same_tensors(
        &report["outputs"],
        &stored,
        (0..count).map(|k| format!("v{k}")),
    );
}

/// Files `--out` writes are what numpy reads: C order, the right dtype and shape, the same values.
#[test]
fn out_files_load_in_numpy() {
    let Some(py) = numpy() else { return };
    let dir = scratch("out_files_load_in_numpy");
    let count = 60;
    python(
        &py,
        "print_cases.py",
        &[dir.to_str().expect("UTF-8 path"), "13", &count.to_string()],
    );
    let out = dir.join("out");
    let report = json(&run_cases(
        &dir,
        count,
        &["--json", "--out", out.to_str().expect("UTF-8 path")],
    ));
    let loaded = json(&python(
        &py,
        "load_npy.py",
        &[out.to_str().expect("UTF-8 path")],
    ));
    assert_eq!(loaded.as_object().expect("an object").len(), count);
    for (name, t) in loaded.as_object().expect("an object") {
        assert_eq!(t["fortran_order"], false, "{name}");
    }
    assert_same_tensors(
        &report["outputs"],
        &loaded,
        (0..count).map(|k| format!("v{k}")),
    );
}
