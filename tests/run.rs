//! `tfg run` end to end: outputs, feeds from literals and `.npy` files, `--out`.

mod common;

use common::{entries, json, scratch, tfg, tfg_ok};
use serde_json::Value;

const FEEDS: &str = "tests/programs/feeds.tfg";
const FIXTURES: &str = "tests/fixtures";

fn scalar(report: &Value, name: &str) -> f64 {
    let out = &report["outputs"][name];
    assert_eq!(out["dtype"], "f32", "{name}");
    assert_eq!(out["shape"], serde_json::json!([]), "{name}");
    out["data"][0]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} has no data"))
}

#[test]
fn hello_gives_y_and_loss() {
    let stdout = tfg_ok(&["run", "examples/hello.tfg", "--json"]);
    let report = json(&stdout);
    // w = 0.8, x = 1.0: y = w * x and loss = y ** 2, rounded to f32.
    assert!((scalar(&report, "y") - 0.8).abs() < 1e-6);
    assert!((scalar(&report, "loss") - 0.64).abs() < 1e-6);
    assert_eq!(report["outputs"].as_object().expect("an object").len(), 2);
    assert!(
        stdout.find("\"y\"") < stdout.find("\"loss\""),
        "graph order: {stdout}"
    );
}

#[test]
fn json_is_the_only_thing_on_stdout() {
    let run = tfg(&["run", "examples/hello.tfg", "--json", "--dump-after", "dce"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1);
    json(&run.stdout);
    assert!(
        run.stderr.contains("IR after dce"),
        "dumps go to stderr:\n{}",
        run.stderr
    );
}

#[test]
fn text_output_names_each_value_with_its_type() {
    let out = tfg_ok(&["run", "examples/hello.tfg"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], "y = 0.8 : f32");
    assert!(
        lines[1].starts_with("loss = 0.64") && lines[1].ends_with(" : f32"),
        "{out}"
    );
}

#[test]
fn literal_feeds_replace_defaults() {
    let report = json(&tfg_ok(&[
        "run",
        "examples/hello.tfg",
        "--feed",
        "x=2",
        "--json",
    ]));
    assert!((scalar(&report, "y") - 1.6).abs() < 1e-6);
    assert!((scalar(&report, "loss") - 2.56).abs() < 1e-5);
    let report = json(&tfg_ok(&[
        "run",
        "examples/hello.tfg",
        "--feed",
        "x=-0.5",
        "--json",
    ]));
    assert!((scalar(&report, "y") + 0.4).abs() < 1e-6);
}

#[test]
fn array_literal_feeds_bind_symbolic_dims() {
    let args = [
        "run",
        FEEDS,
        "--json",
        "--feed",
        "a=[[1, 2, 3], [4, 5, 6], [-1, 0, 1]]",
        "--feed",
        "i=[1, 2, -3]",
        "--feed",
        "m=[true, false, true]",
        "--feed",
        "d=[[1.5, 0], [0, 2]]",
        "--feed",
        "n=[-1, 0, 7]",
    ];
    let report = json(&tfg_ok(&args));
    let out = &report["outputs"];
    // Worked by hand: row sums 6, 15, 0 times i; where(m, i, 0); diag(2.25, 4); n*n - 1; !m.
    assert_eq!(out["row_sums"]["shape"], serde_json::json!([3]));
    assert_eq!(
        out["row_sums"]["data"],
        serde_json::json!([6.0, 30.0, -0.0])
    );
    assert_eq!(out["picked"]["data"], serde_json::json!([1.0, 0.0, -3.0]));
    assert_eq!(out["dd"]["data"], serde_json::json!([2.25, 0.0, 0.0, 4.0]));
    assert_eq!(out["nn"]["data"], serde_json::json!([0, -1, 48]));
    assert_eq!(
        out["not_m"]["data"],
        serde_json::json!([false, true, false])
    );
}

fn fixture_feeds() -> Vec<String> {
    [
        ("a", "a_f32_v1"),
        ("i", "i_i64_v2"),
        ("m", "m_bool_v3"),
        ("d", "d_f64"),
        ("n", "n_i32"),
    ]
    .iter()
    .flat_map(|(input, file)| {
        [
            "--feed".to_string(),
            format!("{input}={FIXTURES}/{file}.npy"),
        ]
    })
    .collect()
}

/// Inputs from files numpy wrote (format versions 1.0, 2.0 and 3.0, all five
/// dtypes), against what numpy computed from them (`tests/fixtures/make_fixtures.py`).
#[test]
fn npy_feeds_match_numpy() {
    let feeds = fixture_feeds();
    let mut args = vec!["run", FEEDS, "--json"];
    args.extend(feeds.iter().map(String::as_str));
    let report = json(&tfg_ok(&args));
    let expected =
        json(&std::fs::read_to_string(format!("{FIXTURES}/feeds_expected.json")).expect("fixture"));
    for (name, want) in expected.as_object().expect("an object") {
        let got = &report["outputs"][name];
        assert_eq!(got["shape"], want["shape"], "{name}");
        let (got, want) = (
            got["data"].as_array().expect("data"),
            want["data"].as_array().expect("data"),
        );
        assert_eq!(got.len(), want.len(), "{name}");
        for (g, w) in got.iter().zip(want) {
            match (g.as_f64(), w.as_f64()) {
                (Some(g), Some(w)) => assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{name}: {g} vs {w}"
                ),
                _ => assert_eq!(g, w, "{name}"),
            }
        }
    }
}

/// `--out` writes one `.npy` per output that reads back (through tfg) to the same values.
#[test]
fn out_round_trips() {
    let dir = scratch("out_round_trips");
    let out = dir.join("outputs");
    let out_s = out.to_str().expect("UTF-8 path");
    let feeds = fixture_feeds();
    let mut args = vec!["run", FEEDS, "--json", "--out", out_s];
    args.extend(feeds.iter().map(String::as_str));
    let first = json(&tfg_ok(&args));
    let names = ["dd", "nn", "not_m", "picked", "row_sums"];
    assert_eq!(
        entries(&out),
        names.map(|n| format!("{n}.npy")),
        "one whole file per output, no leftovers"
    );

    let program = dir.join("identity.tfg");
    let decls: String = names
        .iter()
        .map(|n| {
            let o = &first["outputs"][n];
            let shape: Vec<String> = o["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.to_string())
                .collect();
            format!(
                "    input {n}: {}[{}]\n",
                o["dtype"].as_str().expect("dtype"),
                shape.join(", ")
            )
        })
        .collect();
    std::fs::write(
        &program,
        format!(
            "graph identity {{\n{decls}    output {}\n}}\n",
            names.join(", ")
        ),
    )
    .expect("writable");
    let feeds: Vec<String> = names
        .iter()
        .flat_map(|n| ["--feed".into(), format!("{n}={out_s}/{n}.npy")])
        .collect();
    let mut args = vec!["run", program.to_str().expect("UTF-8 path"), "--json"];
    args.extend(feeds.iter().map(String::as_str));
    let second = json(&tfg_ok(&args));
    for n in names {
        assert_eq!(second["outputs"][n], first["outputs"][n], "{n}");
    }
}

#[test]
fn a_failed_run_writes_no_output_files() {
    let dir = scratch("a_failed_run_writes_no_output_files");
    let out = dir.join("out");
    let run = tfg(&[
        "run",
        FEEDS,
        "--out",
        out.to_str().expect("UTF-8 path"),
        "--feed",
        "a=[[1, 2, 3]]",
    ]);
    assert_eq!(run.status, 1);
    assert!(entries(&out).is_empty(), "{:?}", entries(&out));
}

/// When one output cannot be written, none is: the outputs appear together or not at all.
#[test]
fn a_failed_write_leaves_no_partial_file() {
    let dir = scratch("a_failed_write_leaves_no_partial_file");
    std::fs::create_dir_all(dir.join("loss.npy")).expect("a directory where loss.npy would go");
    let run = tfg(&[
        "run",
        "examples/hello.tfg",
        "--out",
        dir.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr.starts_with("error: cannot write"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    assert_eq!(entries(&dir), ["loss.npy"]);
    assert!(dir.join("loss.npy").is_dir());
}

#[test]
fn cpu_is_the_jit_and_agrees_with_the_interpreter() {
    let interp = tfg_ok(&["run", "examples/hello.tfg", "--json", "--backend", "interp"]);
    let cpu = tfg_ok(&["run", "examples/hello.tfg", "--json", "--backend", "cpu"]);
    assert_eq!(interp, cpu);
    let help = tfg_ok(&["run", "--help"]);
    assert!(help.contains("`cpu` JIT-compiles with Cranelift"), "{help}");
}

/// Corrupted `.npy` files are errors, never crashes: every byte flipped in turn.
#[test]
fn mutated_npy_files_never_crash() {
    let dir = scratch("mutated_npy_files_never_crash");
    let good = std::fs::read(format!("{FIXTURES}/a_f32_v1.npy")).expect("fixture");
    let path = dir.join("x.npy");
    let feed = format!("x={}", path.display());
    for (i, flip) in (0..good.len())
        .step_by(3)
        .zip([0x01u8, 0x80, 0xff].into_iter().cycle())
    {
        let mut bytes = good.clone();
        bytes[i] ^= flip;
        std::fs::write(&path, &bytes).expect("writable");
        let run = tfg(&["run", "examples/hello.tfg", "--feed", &feed]);
        assert!(
            run.status == 1 || run.status == 0,
            "byte {i}: status {}\n{}",
            run.status,
            run.stderr
        );
        assert!(
            run.status == 0 || run.stderr.starts_with("error: "),
            "byte {i}: {}",
            run.stderr
        );
    }
}
