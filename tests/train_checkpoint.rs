//! Checkpoints (`--save` / `--restore`, safetensors): what `--save` writes,
//! read back by hand from the file format; save → restore → run reproducing
//! the trained outputs exactly; and every class of bad checkpoint, with its
//! exact message (exit status 1, nothing on stdout). Bad checkpoints are
//! written with the `safetensors` crate or byte by byte, not by tfg.

mod common;

use common::{json, scratch, tfg, tfg_ok};
use safetensors::tensor::{Dtype, TensorView};
use serde_json::Value;
use std::path::{Path, PathBuf};

const HELLO: &str = "examples/hello.tfg";

fn arg(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The header of a safetensors file: an 8-byte little-endian length, then JSON.
fn header(bytes: &[u8]) -> Value {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    json(std::str::from_utf8(&bytes[8..8 + n]).expect("UTF-8 header"))
}

#[test]
fn save_writes_every_param_and_nothing_else() {
    let dir = scratch("ckpt-save");
    let ckpt = dir.join("linear.safetensors");
    let report = json(&tfg_ok(&[
        "train",
        "examples/linear_regression.tfg",
        "--steps",
        "20",
        "--save",
        arg(&ckpt),
        "--json",
    ]));
    let bytes = std::fs::read(&ckpt).expect("written");
    let head = header(&bytes);
    let mut names: Vec<&String> = head.as_object().expect("an object").keys().collect();
    names.sort();
    assert_eq!(names, ["b", "w"], "no optimizer state, no metadata: {head}");
    assert_eq!(head["w"]["dtype"], "F32");
    assert_eq!(head["w"]["shape"], serde_json::json!([3]));
    assert_eq!(head["b"]["shape"], serde_json::json!([]));

    // The stored bytes are the trained values.
    let data_start = 8 + u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let (from, to) = (
        head["w"]["data_offsets"][0].as_u64().expect("offset") as usize,
        head["w"]["data_offsets"][1].as_u64().expect("offset") as usize,
    );
    let stored: Vec<f32> = bytes[data_start + from..data_start + to]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    // JSON holds the shortest digits that read back to the same f32.
    let trained: Vec<f32> = report["params"]["w"]["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect();
    assert_eq!(stored, trained);
    assert_eq!(
        common::entries(&dir),
        ["linear.safetensors"],
        "no temporary left"
    );
}

#[test]
fn save_restore_run_reproduces_the_trained_outputs_exactly() {
    let dir = scratch("ckpt-roundtrip");
    let ckpt = dir.join("mlp.safetensors");
    let file = "examples/mlp_digits.tfg";
    let trained = json(&tfg_ok(&[
        "train",
        file,
        "--steps",
        "5",
        "--save",
        arg(&ckpt),
        "--json",
    ]));
    let restored = json(&tfg_ok(&["run", file, "--restore", arg(&ckpt), "--json"]));
    assert_eq!(restored["outputs"], trained["outputs"]);
    // The initialisers of another seed are not used.
    let reseeded = json(&tfg_ok(&[
        "run",
        file,
        "--restore",
        arg(&ckpt),
        "--seed",
        "9",
        "--json",
    ]));
    assert_eq!(reseeded["outputs"], trained["outputs"]);
}

#[test]
fn training_resumes_from_a_checkpoint() {
    let dir = scratch("ckpt-resume");
    let ckpt = dir.join("hello.safetensors");
    tfg_ok(&[
        "train",
        HELLO,
        "--steps",
        "10",
        "--save",
        arg(&ckpt),
        "--json",
    ]);
    let report = json(&tfg_ok(&[
        "train",
        HELLO,
        "--steps",
        "10",
        "--restore",
        arg(&ckpt),
        "--json",
    ]));
    // sgd has no state besides w: ten steps and ten more are twenty.
    let y = report["outputs"]["y"]["data"][0]
        .as_f64()
        .expect("a number");
    assert!((y - 0.8 * 0.95f64.powi(20)).abs() < 1e-6, "y = {y}");
}

/// A safetensors file holding `entries` (name, dtype, shape, bytes).
fn checkpoint(path: &Path, entries: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(&str, TensorView)> = entries
        .iter()
        .map(|(name, dtype, shape, data)| {
            let view = TensorView::new(*dtype, shape.clone(), data).expect("consistent entry");
            (*name, view)
        })
        .collect();
    let bytes = safetensors::serialize(views, None).expect("serialisable");
    std::fs::write(path, bytes).expect("scratch is writable");
}

fn f32_entry(
    name: &'static str,
    values: &[f32],
    shape: Vec<usize>,
) -> (&'static str, Dtype, Vec<usize>, Vec<u8>) {
    let bytes = values.iter().flat_map(|x| x.to_le_bytes()).collect();
    (name, Dtype::F32, shape, bytes)
}

/// Snapshots the failure of `tfg run examples/hello.tfg --restore CKPT`, with
/// the scratch directory written as `[scratch]` so the snapshot is portable.
fn restore_fails(name: &str, ckpt: &Path) {
    let run = tfg(&["run", HELLO, "--restore", arg(ckpt)]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    let scratch = ckpt
        .parent()
        .filter(|_| ckpt.is_absolute())
        .map(|d| d.display().to_string());
    let shown = |s: &str| match &scratch {
        Some(dir) => s.replace(dir.as_str(), "[scratch]"),
        None => s.to_string(),
    };
    insta::assert_snapshot!(
        name,
        format!(
            "$ tfg run {HELLO} --restore {}\nexit status: {}\n{}",
            shown(arg(ckpt)),
            run.status,
            shown(&run.stderr)
        )
    );
}

fn scratch_file(test: &str, name: &str) -> PathBuf {
    scratch(test).join(name)
}

#[test]
fn missing_checkpoint() {
    restore_fails(
        "missing_checkpoint",
        &scratch_file("ckpt-missing", "none.safetensors"),
    );
}

#[test]
fn not_a_checkpoint() {
    restore_fails("not_a_checkpoint", Path::new(HELLO));
}

#[test]
fn truncated_checkpoint() {
    let path = scratch_file("ckpt-truncated", "cut.safetensors");
    checkpoint(&path, &[f32_entry("w", &[0.5], vec![])]);
    let bytes = std::fs::read(&path).expect("written");
    std::fs::write(&path, &bytes[..bytes.len() - 2]).expect("writable");
    restore_fails("truncated_checkpoint", &path);
    std::fs::write(&path, &bytes[..20]).expect("writable");
    restore_fails("checkpoint_truncated_in_its_header", &path);
}

#[test]
fn corrupt_checkpoint_header() {
    let path = scratch_file("ckpt-corrupt", "corrupt.safetensors");
    let text = b"{w: 1}  ";
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(text);
    std::fs::write(&path, bytes).expect("writable");
    restore_fails("corrupt_checkpoint_header", &path);
}

#[test]
fn checkpoint_missing_an_entry() {
    let path = scratch_file("ckpt-missing-entry", "empty.safetensors");
    checkpoint(&path, &[]);
    restore_fails("checkpoint_missing_an_entry", &path);
}

#[test]
fn checkpoint_with_an_extra_entry() {
    let path = scratch_file("ckpt-extra-entry", "extra.safetensors");
    checkpoint(
        &path,
        &[
            f32_entry("w", &[0.5], vec![]),
            f32_entry("bias", &[1.0], vec![]),
        ],
    );
    restore_fails("checkpoint_with_an_extra_entry", &path);
}

#[test]
fn checkpoint_with_a_wrong_dtype() {
    let path = scratch_file("ckpt-dtype", "f64.safetensors");
    checkpoint(
        &path,
        &[("w", Dtype::F64, vec![], 0.5f64.to_le_bytes().to_vec())],
    );
    restore_fails("checkpoint_with_a_wrong_dtype", &path);
    checkpoint(&path, &[("w", Dtype::F16, vec![], vec![0, 0x38])]);
    restore_fails("checkpoint_with_an_unsupported_dtype", &path);
}

#[test]
fn checkpoint_with_a_wrong_shape() {
    let path = scratch_file("ckpt-shape", "shape.safetensors");
    checkpoint(&path, &[f32_entry("w", &[0.5, 0.25], vec![2])]);
    restore_fails("checkpoint_with_a_wrong_shape", &path);
}

#[test]
fn a_restored_checkpoint_gives_the_params_their_values() {
    let path = scratch_file("ckpt-ok", "w.safetensors");
    checkpoint(&path, &[f32_entry("w", &[0.25], vec![])]);
    let report = json(&tfg_ok(&["run", HELLO, "--restore", arg(&path), "--json"]));
    assert_eq!(report["outputs"]["y"]["data"][0], 0.25);
}
