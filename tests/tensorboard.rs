//! TensorBoard event files: CRC-32C against published test vectors, and event
//! files read back by the Python `tensorboard` package itself, where it is
//! installed (`scripts/test` installs it; elsewhere the test says it skipped).

mod common;

use common::{json, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;
use tfg_formats::tensorboard::crc32c::crc32c;
use tfg_formats::tensorboard::EventWriter;
use tfg_ir::Graph;

#[test]
fn crc32c_matches_published_test_vectors() {
    // The CRC catalogue's check value, and RFC 3720 appendix B.4.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    let ascending: Vec<u8> = (0..32).collect();
    assert_eq!(crc32c(&ascending), 0x46DD_794E);
    let descending: Vec<u8> = (0..32).rev().collect();
    assert_eq!(crc32c(&descending), 0x113F_DB5C);
    assert_eq!(crc32c(b""), 0);
}

/// A Python with the `tensorboard` package (`$TFG_PYTHON`, then `.venv`, then
/// `python3`), or `None` with a note. With `TFG_REQUIRE_PYTHON_DEPS` or
/// `TFG_REQUIRE_NUMPY` set (as `scripts/test` sets it), missing is a failure.
fn python_with_tensorboard() -> Option<PathBuf> {
    let candidates = std::env::var_os("TFG_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
            PathBuf::from("python3"),
        ]);
    for python in candidates {
        let ok = Command::new(&python)
            .args([
                "-c",
                "import tensorboard.backend.event_processing.event_accumulator",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    common::skip(
        "TFG_REQUIRE_TENSORBOARD",
        "a python3 with the tensorboard package (scripts/test installs one)",
    );
    None
}

/// What TensorBoard's own loader finds in `dir`: every scalar series and the graph.
const READ_BACK: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
ea.Reload()
tags = ea.Tags()
graph = ea.Graph()
print(json.dumps({
    "scalars": {t: [[e.step, e.value] for e in ea.Scalars(t)] for t in tags["scalars"]},
    "nodes": [
        {"name": n.name, "op": n.op, "input": list(n.input),
         "shape": [[d.size for d in s.dim] for s in n.attr["_output_shapes"].list.shape]}
        for n in graph.node
    ],
}))
"#;

fn read_back(python: &Path, dir: &Path) -> serde_json::Value {
    let out = Command::new(python)
        .args(["-c", READ_BACK])
        .arg(dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "reading the event file failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&String::from_utf8(out.stdout).expect("UTF-8"))
}

fn compile(src: &str) -> Graph {
    tfg_frontend::compile(src).expect("compiles").graphs[0].clone()
}

/// A loss and an accuracy over 25 steps, with a loss of exactly 0 (which a
/// plain proto3 float field would not write) and negative values.
fn series(step: i64) -> [(&'static str, f32); 2] {
    let loss = if step == 7 {
        0.0
    } else {
        1.0 / (step as f32 + 1.0)
    };
    [("loss", loss), ("margin", step as f32 * -0.25 + 1.5)]
}

#[test]
fn tensorboard_reads_every_scalar_at_every_step_and_the_graph() {
    let Some(python) = python_with_tensorboard() else {
        return;
    };
    let dir = scratch("tensorboard_reads_every_scalar");
    let g = compile(
        "graph mlp { input x: f32[B, 4]; param w: f32[4, 3] = glorot; param b: f32[3] = zeros; \
         h = relu(x @ w + b); s = sum(h, axis = 1); output s }",
    );
    let steps = 25;
    {
        let mut w = EventWriter::create(&dir).expect("creates the event file");
        w.graph(&g).expect("writes");
        for step in 0..steps {
            for (tag, value) in series(step) {
                w.scalar(tag, step, value).expect("writes");
            }
            w.flush().expect("flushes");
        }
    }
    let back = read_back(&python, &dir);

    for tag in ["loss", "margin"] {
        let got = back["scalars"][tag].as_array().expect("the tag was read");
        let want: Vec<(i64, f32)> = (0..steps)
            .map(|s| (s, series(s).iter().find(|(t, _)| *t == tag).expect("tag").1))
            .collect();
        let got: Vec<(i64, f32)> = got
            .iter()
            .map(|e| {
                (
                    e[0].as_i64().expect("step"),
                    e[1].as_f64().expect("value") as f32,
                )
            })
            .collect();
        assert_eq!(got, want, "{tag}");
    }

    let nodes = back["nodes"].as_array().expect("a graph");
    assert_eq!(nodes.len(), g.nodes.len());
    let names: Vec<&str> = nodes
        .iter()
        .map(|n| n["name"].as_str().expect("name"))
        .collect();
    for (n, node) in nodes.iter().zip(&g.nodes) {
        assert_eq!(n["op"], node.op.name());
        let inputs: Vec<&str> = n["input"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|i| i.as_str().expect("input name"))
            .collect();
        let expected: Vec<&str> = node.args.iter().map(|a| names[a.index()]).collect();
        assert_eq!(inputs, expected);
        // Symbolic dims are unknown (-1) to TensorFlow.
        let dims: Vec<i64> = node
            .ty
            .shape
            .0
            .iter()
            .map(|d| d.known().map_or(-1, |n| n as i64))
            .collect();
        assert_eq!(n["shape"], serde_json::json!([dims]));
    }
    assert_eq!(&names[..3], ["x", "w", "b"]);
}

#[test]
fn a_training_step_graph_with_slot_names_reads_back_whole() {
    let Some(python) = python_with_tensorboard() else {
        return;
    };
    let dir = scratch("tensorboard_training_step_graph");
    let program = tfg_frontend::compile(
        "graph hello { input x: f32 = 1.0; param w: f32 = 0.8; y = w * x; \
         loss = (y - 0.0) ** 2; output y, loss } \
         train hello { minimize loss; optimizer adam(lr = 0.01); steps 5 }",
    )
    .expect("compiles");
    let (g, spec) = (&program.graphs[0], &program.trains[0]);
    let step = tfg_passes::train_step::build_train_step(g, spec).expect("builds");
    {
        let mut w = EventWriter::create(&dir).expect("creates");
        w.graph(&step.graph).expect("writes");
        w.flush().expect("flushes");
    }
    let back = read_back(&python, &dir);
    let nodes = back["nodes"].as_array().expect("a graph");
    assert_eq!(nodes.len(), step.graph.nodes.len());
    let mut names: Vec<&str> = nodes
        .iter()
        .map(|n| n["name"].as_str().expect("name"))
        .collect();
    assert!(names.contains(&"w/adam_m"), "{names:?}");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), nodes.len(), "node names are unique");
}

#[test]
fn each_writer_gets_its_own_file() {
    let dir = scratch("tensorboard_file_names");
    let a = EventWriter::create(&dir).expect("creates");
    let b = EventWriter::create(&dir).expect("creates");
    assert_ne!(a.path(), b.path());
    for w in [&a, &b] {
        let name = w
            .path()
            .file_name()
            .expect("a file")
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        let secs: u64 = name["events.out.tfevents.".len()..]
            .split('.')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("seconds since the epoch");
        assert!(secs > 1_600_000_000, "{name}");
    }
    // The first record alone: 8 + 4 bytes of header, the event, 4 bytes of CRC.
    let bytes = std::fs::read(a.path()).expect("readable");
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    assert_eq!(bytes.len(), 8 + 4 + len + 4);
    assert!(bytes[12..12 + len]
        .windows(13)
        .any(|w| w == b"brain.Event:2"));
}

/// `tfg train --logdir` end to end: hello's `y` and `loss` at every step,
/// against their closed form (SGD on (w·1)² with lr 0.025 scales w by 0.95 a
/// step, from 0.8; step k logs the values before its update), and the
/// training step graph.
#[test]
fn tfg_train_logdir_holds_every_step_for_tensorboard() {
    let Some(python) = python_with_tensorboard() else {
        return;
    };
    let dir = scratch("tensorboard_tfg_train");
    let logdir = dir.join("logs");
    let run = common::tfg(&[
        "train",
        "examples/hello.tfg",
        "--json",
        "--logdir",
        logdir.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let files = common::entries(&logdir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("events.out.tfevents."), "{files:?}");

    let back = read_back(&python, &logdir);
    for (tag, squared) in [("y", false), ("loss", true)] {
        let got = back["scalars"][tag].as_array().expect("the tag was read");
        assert_eq!(got.len(), 100, "{tag}: one value a step");
        for (k, e) in got.iter().enumerate() {
            assert_eq!(
                e[0].as_i64(),
                Some(k as i64 + 1),
                "{tag}: steps count from 1"
            );
            let y = 0.8 * 0.95f64.powi(k as i32);
            let want = if squared { y * y } else { y };
            let v = e[1].as_f64().expect("a value");
            assert!(
                (v - want).abs() < 1e-6,
                "{tag} at step {}: {v} vs {want}",
                k + 1
            );
        }
    }
    let src = std::fs::read_to_string("examples/hello.tfg").expect("readable");
    let program = tfg_frontend::compile(&src).expect("compiles");
    let step = tfg_passes::train_step::build_train_step(&program.graphs[0], &program.trains[0])
        .expect("builds");
    assert_eq!(
        back["nodes"].as_array().expect("a graph").len(),
        step.graph.nodes.len()
    );
}
