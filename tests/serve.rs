//! Serving end to end (docs/serving.md): `serve` items under `tfg check`,
//! `tfg export` and `tfg run DIR`, and the real `tfg serve` binary on port 0
//! driven by a real HTTP client (ureq) and the gRPC client of tfg-serve:
//! every endpoint, every error status, batched answers equal to unbatched
//! ones, many concurrent clients, a new version swapped in under traffic,
//! and a clean exit on SIGTERM. The official Python clients are tried where
//! they are installed (`ensure_serve_clients` in scripts/install.sh).

mod common;

use common::{scratch, tfg, tfg_ok};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tfg_serve::grpc::proto;

/// A small model: `y = (x @ w + b) * scale`, `s` its row sums, and
/// `centered`, which mixes rows (not batch-safe).
const AFFINE: &str = r#"
graph affine {
    input x: f32[N, 3]
    input scale: f32 = 2.0
    param w: f32[3, 2] = [[1, 2], [3, 4], [5, 6]]
    param b: f32[2] = [0.5, -0.5]
    y = (x @ w + b) * scale
    s = sum(y, axis = 1)
    centered = x - mean(x, axis = 0)
    output y
}

serve affine {
    inputs x
    outputs y, s
}

serve affine as y_only {
    inputs x
    outputs y
}

serve affine as centered {
    inputs x
    outputs centered
}
"#;

/// What the affine model computes for one row, with `w` scaled by `k`.
fn affine_row(x: [f32; 3], k: f32) -> ([f32; 2], f32) {
    let w = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
    let b = [0.5, -0.5];
    let mut y = [0.0f32; 2];
    for (j, yj) in y.iter_mut().enumerate() {
        let dot: f32 = (0..3).map(|i| x[i] * w[i][j] * k).sum();
        *yj = (dot + b[j]) * 2.0;
    }
    (y, y[0] + y[1])
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0)
}

fn assert_rows(predictions: &Value, rows: &[[f32; 3]], k: f32) {
    let list = predictions.as_array().expect("a list of predictions");
    assert_eq!(list.len(), rows.len(), "{predictions}");
    for (p, x) in list.iter().zip(rows) {
        let (y, s) = affine_row(*x, k);
        let got_y: Vec<f64> = p["y"]
            .as_array()
            .expect("y")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            close(got_y[0], y[0] as f64) && close(got_y[1], y[1] as f64),
            "{p} vs {y:?}"
        );
        assert!(close(p["s"].as_f64().expect("s"), s as f64), "{p} vs {s}");
    }
}

/// Writes `text` as FILE.tfg in `dir`.
fn write_tfg(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.tfg"));
    std::fs::write(&path, text).expect("writable");
    path
}

/// Exports the affine model (params scaled by `k` through a checkpoint
/// written by another export) as `base/version`.
fn export_affine(dir: &Path, base: &Path, version: u32, k: f32) {
    let text = AFFINE.replace(
        "[[1, 2], [3, 4], [5, 6]]",
        &format!(
            "[[{}, {}], [{}, {}], [{}, {}]]",
            k,
            2.0 * k,
            3.0 * k,
            4.0 * k,
            5.0 * k,
            6.0 * k
        ),
    );
    let file = write_tfg(dir, &format!("affine_{version}"), &text);
    let out = base.join(version.to_string());
    tfg_ok(&[
        "export",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
}

/// A running `tfg serve`, killed when dropped.
struct Server {
    child: Child,
    rest: String,
    grpc: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tfg"))
            .arg("serve")
            .args(["--rest-port", "0", "--grpc-port", "0"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tfg serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("listening: ") {
                    let _ = tx.send(rest.to_string());
                }
                seen.lock().unwrap().push(line);
            }
        });
        let listening = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "no `listening:` line; stderr:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
        };
        let mut rest = String::new();
        let mut grpc = String::new();
        for part in listening.split_whitespace() {
            if let Some(a) = part.strip_prefix("rest=") {
                rest = a.to_string();
            } else if let Some(a) = part.strip_prefix("grpc=") {
                grpc = a.to_string();
            }
        }
        assert!(!rest.is_empty() && !grpc.is_empty(), "{listening}");
        Server {
            child,
            rest,
            grpc,
            stderr: lines,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.rest)
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(mut self) -> i32 {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "tfg serve did not exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// GET: status and body as JSON (or `Null` when not JSON).
fn get(url: &str) -> (u16, Value) {
    let mut r = agent().get(url).call().expect("the server answers");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// POST `body` (any text) with `content_type`: status and body text.
fn post_text(url: &str, body: &str, content_type: &str) -> (u16, String) {
    let mut r = agent()
        .post(url)
        .content_type(content_type)
        .send(body)
        .expect("the server answers");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().expect("a body");
    (status, text)
}

fn post(url: &str, body: &Value) -> (u16, Value) {
    let (status, text) = post_text(url, &body.to_string(), "application/json");
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, v)
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {v}"))
}

/// One model `affine` with version 1 at a fresh base path.
fn affine_base(test: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(test);
    let base = dir.join("models/affine");
    export_affine(&dir, &base, 1, 1.0);
    (dir, base)
}

fn model_arg(base: &Path) -> String {
    format!("affine={}", base.display())
}

#[test]
fn check_reports_broken_serve_items_with_their_place() {
    let dir = scratch("serve_check");
    let file = write_tfg(
        &dir,
        "broken",
        r#"graph g {
    input x: f32[N, 3]
    input fixed: f32[3]
    h = x * 2
    output h
}
serve nope { inputs x; outputs h }
serve g as a { inputs fixed; outputs h }
serve g as b { inputs x; outputs h, missing }
serve g as c { inputs x, y; outputs h }
serve g as d { inputs x; outputs u }
graph g2 {
    input x: f32[N, 3]
    input other: f32[3]
    u = x + other
    output u
}
serve g2 { inputs x; outputs u }
"#,
    );
    let run = tfg(&["check", file.to_str().unwrap()]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    let e = &run.stderr;
    for (message, line) in [
        ("unknown graph `nope`", 7),
        ("input `fixed` has no batch axis", 8),
        ("unknown name `missing`", 9),
        ("unknown input `y`", 10),
        ("unknown name `u`", 11),
        ("output `u` needs input `other`, which is not listed in `inputs` and has no default feed", 18),
    ] {
        assert!(e.contains(&format!("error: {message}")), "no `{message}` in:\n{e}");
        assert!(e.contains(&format!("broken.tfg:{line}:")), "no place on line {line} in:\n{e}");
    }
    assert!(e.contains('^'), "{e}");
    // `inputs`, `outputs` and `as` are names outside serve items.
    let ok = write_tfg(
        &dir,
        "names",
        "graph g {\n    input inputs: f32[B, 2]\n    outputs = inputs * 2\n    as = outputs + 1\n    output as\n}\nserve g { inputs inputs\n outputs as, outputs }\n",
    );
    let run = tfg(&["check", ok.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
}

#[test]
fn export_writes_a_self_contained_version_that_run_reads() {
    let (dir, base) = affine_base("serve_export");
    let v1 = base.join("1");
    assert_eq!(
        common::entries(&v1),
        ["model.tfir", "params.safetensors", "signatures.json"]
    );
    let out = tfg_ok(&[
        "run",
        v1.to_str().unwrap(),
        "--feed",
        "x=[[1, 2, 3], [0, 0, 0]]",
        "--json",
    ]);
    let report = common::json(&out);
    let (y, s) = affine_row([1.0, 2.0, 3.0], 1.0);
    let data = report["outputs"]["y"]["data"].as_array().unwrap();
    assert!(close(data[0].as_f64().unwrap(), y[0] as f64), "{report}");
    assert_eq!(report["outputs"]["y"]["shape"], json!([2, 2]));
    assert!(
        close(
            report["outputs"]["s"]["data"][0].as_f64().unwrap(),
            s as f64
        ),
        "{report}"
    );
    // The text form prints as `tfg run` does.
    let text = tfg_ok(&["run", v1.to_str().unwrap(), "--feed", "x=[[1, 2, 3]]"]);
    assert!(text.starts_with("y = "), "{text}");

    // A file where the directory should be is refused, and left alone.
    let blocker = dir.join("file");
    std::fs::write(&blocker, "x").unwrap();
    let file = dir.join("affine_1.tfg");
    let run = tfg(&[
        "export",
        file.to_str().unwrap(),
        "-o",
        blocker.to_str().unwrap(),
    ]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "x");
    // Nothing half-written is left beside it.
    assert_eq!(common::entries(&dir), ["affine_1.tfg", "file", "models"]);
}

#[test]
fn a_graph_without_serve_items_exports_a_default_signature_that_runs_as_the_file_does() {
    let dir = scratch("serve_export_default");
    let out = dir.join("1");
    tfg_ok(&[
        "export",
        "examples/mlp_digits.tfg",
        "-o",
        out.to_str().unwrap(),
    ]);
    let from_dir = tfg_ok(&["run", out.to_str().unwrap(), "--json"]);
    let from_file = tfg_ok(&["run", "examples/mlp_digits.tfg", "--json"]);
    assert_eq!(from_dir, from_file);
}

#[test]
fn train_exports_the_trained_model() {
    let dir = scratch("serve_train_export");
    let out = dir.join("digits/1");
    let run = tfg(&[
        "train",
        "examples/digits_serving.tfg",
        "--steps",
        "5",
        "--export",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let report = common::json(&tfg_ok(&[
        "run",
        out.to_str().unwrap(),
        "--feed",
        "x=examples/data/digits_test_x.npy",
        "--json",
    ]));
    let probs = report["outputs"]["probs"]["data"].as_array().unwrap();
    let class = report["outputs"]["class"]["data"].as_array().unwrap();
    assert_eq!(probs.len(), class.len() * 10);
    let row: f64 = probs[..10].iter().map(|p| p.as_f64().unwrap()).sum();
    assert!(close(row, 1.0), "{row}");
    // The export does not refer back to the example's data files.
    let graph = std::fs::read_to_string(out.join("model.tfir")).unwrap();
    assert!(!graph.contains(".npy"), "{graph}");
}

#[test]
fn rest_v1_status_metadata_and_predict() {
    let (_dir, base) = affine_base("serve_rest_v1");
    let server = Server::start(&["--model", &model_arg(&base)]);

    let (status, v) = get(&server.url("/v1/models/affine"));
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    );
    assert_eq!(get(&server.url("/v1/models/affine/versions/1")).0, 200);

    let (status, meta) = get(&server.url("/v1/models/affine/metadata"));
    assert_eq!(status, 200, "{meta}");
    let defs = &meta["metadata"]["signature_def"]["signature_def"];
    let x = &defs["serving_default"]["inputs"]["x"];
    assert_eq!(x["dtype"], "DT_FLOAT");
    assert_eq!(x["tensor_shape"]["dim"][0]["size"], "-1");
    assert_eq!(x["tensor_shape"]["dim"][1]["size"], "3");
    assert_eq!(defs["serving_default"]["outputs"]["s"]["dtype"], "DT_FLOAT");
    assert!(
        defs["y_only"].is_object() && defs["centered"].is_object(),
        "{meta}"
    );

    let rows = [[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]];
    let predict = server.url("/v1/models/affine:predict");
    // Row format, several outputs: one object per row.
    let (status, v) = post(&predict, &json!({"instances": rows}));
    assert_eq!(status, 200, "{v}");
    assert_rows(&v["predictions"], &rows, 1.0);
    // An instance may name its input.
    let (status, v) = post(
        &predict,
        &json!({"instances": [{"x": rows[0]}, {"x": rows[1]}]}),
    );
    assert_eq!(status, 200, "{v}");
    assert_rows(&v["predictions"], &rows, 1.0);
    // Columnar format, several outputs: by name.
    let (status, v) = post(&predict, &json!({"inputs": {"x": rows}}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outputs"]["y"].as_array().unwrap().len(), 2, "{v}");
    assert!(v["outputs"]["s"].is_array(), "{v}");
    // One output: predictions are the bare rows, outputs the bare value.
    let (status, v) = post(
        &server.url("/v1/models/affine/versions/1:predict"),
        &json!({"signature_name": "y_only", "instances": rows}),
    );
    assert_eq!(status, 200, "{v}");
    let (y, _) = affine_row(rows[1], 1.0);
    assert!(
        close(v["predictions"][1][1].as_f64().unwrap(), y[1] as f64),
        "{v}"
    );
    let (status, v) = post(
        &predict,
        &json!({"signature_name": "y_only", "inputs": rows}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outputs"].as_array().unwrap().len(), 2, "{v}");
    // Any content type.
    let (status, _) = post_text(
        &predict,
        &json!({"instances": rows}).to_string(),
        "text/plain",
    );
    assert_eq!(status, 200);
    // The signature that mixes rows runs unbatched, and right.
    let (status, v) = post(
        &predict,
        &json!({"signature_name": "centered", "instances": [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["predictions"],
        json!([[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]])
    );
    // NaN and infinities in, and out as TF Serving writes them: bare words.
    let (status, text) = post_text(
        &predict,
        r#"{"signature_name": "y_only", "instances": [[NaN, 0, 0], [Infinity, 0, 0]]}"#,
        "application/json",
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        text,
        r#"{"predictions": [[NaN, NaN], [Infinity, Infinity]]}"#
    );
}

#[test]
fn rest_v2_open_inference_protocol() {
    let (_dir, base) = affine_base("serve_rest_v2");
    let server = Server::start(&["--model", &model_arg(&base)]);
    let (status, v) = get(&server.url("/v2"));
    assert_eq!(status, 200);
    assert_eq!(v["name"], "tfg");
    assert_eq!(get(&server.url("/v2/health/live")).0, 200);
    assert_eq!(get(&server.url("/v2/health/ready")).0, 200);
    let (status, v) = get(&server.url("/v2/models/affine"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["versions"], json!(["1"]));
    assert_eq!(
        v["inputs"],
        json!([{"name": "x", "datatype": "FP32", "shape": [-1, 3]}])
    );
    assert_eq!(get(&server.url("/v2/models/affine/versions/1")).0, 200);
    assert_eq!(get(&server.url("/v2/models/affine/ready")).0, 200);
    assert_eq!(
        get(&server.url("/v2/models/affine/versions/1/ready")).0,
        200
    );

    let infer = server.url("/v2/models/affine/infer");
    let body = json!({"id": "42", "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, -1, 0.5, 2]}]});
    let (status, v) = post(&infer, &body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model_name"], "affine");
    assert_eq!(v["model_version"], "1");
    assert_eq!(v["id"], "42");
    let outs = v["outputs"].as_array().unwrap();
    assert_eq!(outs[0]["name"], "y");
    assert_eq!(outs[0]["shape"], json!([2, 2]));
    assert_eq!(outs[0]["datatype"], "FP32");
    let (y, s) = affine_row([-1.0, 0.5, 2.0], 1.0);
    assert!(
        close(outs[0]["data"][3].as_f64().unwrap(), y[1] as f64),
        "{v}"
    );
    assert!(close(outs[1]["data"][1].as_f64().unwrap(), s as f64), "{v}");
    // Only the outputs asked for.
    let mut only_s = body.clone();
    only_s["outputs"] = json!([{"name": "s"}]);
    let (status, v) = post(&server.url("/v2/models/affine/versions/1/infer"), &only_s);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(v["outputs"][0]["name"], "s");
}

#[test]
fn every_error_status_with_a_json_message() {
    let (_dir, base) = affine_base("serve_errors");
    let server = Server::start(&["--model", &model_arg(&base), "--max-body-mb", "0.01"]);
    let predict = server.url("/v1/models/affine:predict");

    // 400: malformed JSON, unknown input, missing input, wrong dtype, wrong shape.
    let (status, text) = post_text(&predict, "{\"instances\": [1, 2", "application/json");
    assert_eq!(status, 400, "{text}");
    assert!(
        common::json(&text)["error"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{text}"
    );
    let (status, v) = post(&predict, &json!({"inputs": {"z": [[1, 2, 3]]}}));
    assert_eq!(status, 400);
    assert!(error_of(&v).contains("`z`"), "{v}");
    let (status, v) = post(&predict, &json!({"inputs": {}}));
    assert_eq!(status, 400);
    assert!(error_of(&v).contains("missing input `x`"), "{v}");
    let (status, v) = post(&predict, &json!({"instances": [[true, false, true]]}));
    assert_eq!(status, 400);
    assert!(error_of(&v).contains("`x`"), "{v}");
    let (status, v) = post(&predict, &json!({"instances": [[1, 2]]}));
    assert_eq!(status, 400);
    assert!(error_of(&v).contains("`x`"), "{v}");
    let (status, v) = post(&predict, &json!({"nothing": 1}));
    assert_eq!(status, 400, "{v}");
    let infer = server.url("/v2/models/affine/infer");
    let (status, v) = post(
        &infer,
        &json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "INT32", "data": [1, 2, 3]}]}),
    );
    assert_eq!(status, 400);
    assert!(error_of(&v).contains("`x`"), "{v}");
    let (status, v) = post(
        &infer,
        &json!({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3]}]}),
    );
    assert_eq!(status, 400);
    assert!(error_of(&v).contains("`x`"), "{v}");

    // 404: unknown model, version, signature, path.
    for url in [
        "/v1/models/nope",
        "/v1/models/affine/versions/7",
        "/v1/models/nope/metadata",
        "/v2/models/nope",
        "/v2/models/affine/versions/9/ready",
        "/elsewhere",
    ] {
        let (status, v) = get(&server.url(url));
        assert_eq!(status, 404, "{url}: {v}");
        error_of(&v);
    }
    let (status, v) = post(
        &server.url("/v1/models/nope:predict"),
        &json!({"instances": [[1, 2, 3]]}),
    );
    assert_eq!(status, 404, "{v}");
    let (status, v) = post(
        &server.url("/v1/models/affine/versions/3:predict"),
        &json!({"instances": [[1, 2, 3]]}),
    );
    assert_eq!(status, 404, "{v}");
    let (status, v) = post(
        &predict,
        &json!({"signature_name": "nope", "instances": [[1, 2, 3]]}),
    );
    assert_eq!(status, 404, "{v}");
    assert!(error_of(&v).contains("nope"), "{v}");

    // 413: a body over --max-body-mb.
    let big = json!({"instances": vec![[1.0, 2.0, 3.0]; 2000]}).to_string();
    let (status, text) = post_text(&predict, &big, "application/json");
    assert_eq!(status, 413, "{text}");
    common::json(&text);

    // The server is unharmed.
    let (status, v) = post(&predict, &json!({"instances": [[1, 2, 3]]}));
    assert_eq!(status, 200, "{v}");

    // /metrics counts them.
    let mut r = agent().get(&server.url("/metrics")).call().unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    assert!(text.contains("tfg_serve_requests_total{"), "{text}");
    assert!(text.contains("code=\"400\""), "{text}");
    assert!(text.contains("code=\"404\""), "{text}");
    assert!(
        text.contains("tfg_serve_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("tfg_serve_batch_size_bucket"), "{text}");
}

#[test]
fn a_full_queue_answers_503_and_the_rest_are_served() {
    let (_dir, base) = affine_base("serve_queue");
    let server = Server::start(&[
        "--model",
        &model_arg(&base),
        "--max-queue",
        "2",
        "--batch-timeout-us",
        "3000000",
    ]);
    let url = server.url("/v1/models/affine:predict");
    let threads: Vec<_> = (0..5)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50 * i));
                post(&url, &json!({"instances": [[1, 2, 3]]}))
            })
        })
        .collect();
    let results: Vec<(u16, Value)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let full: Vec<_> = results.iter().filter(|(s, _)| *s == 503).collect();
    assert_eq!(ok, 2, "{results:?}");
    assert_eq!(full.len(), 3, "{results:?}");
    assert!(error_of(&full[0].1).contains("queue"), "{results:?}");
}

#[test]
fn batched_answers_equal_unbatched_ones_under_concurrency() {
    let (_dir, base) = affine_base("serve_batching");
    let unbatched = Server::start(&["--model", &model_arg(&base), "--max-batch", "1"]);
    let batched = Server::start(&[
        "--model",
        &model_arg(&base),
        "--max-batch",
        "16",
        "--batch-timeout-us",
        "20000",
    ]);
    let request = |i: usize| {
        let rows: Vec<[f32; 3]> = (0..(1 + i % 3))
            .map(|r| [i as f32 * 0.25, r as f32 - 1.5, (i * 7 % 5) as f32])
            .collect();
        (rows.clone(), json!({"instances": rows}))
    };
    let threads: Vec<_> = (0..24)
        .map(|t| {
            let (u, b) = (
                unbatched.url("/v1/models/affine:predict"),
                batched.url("/v1/models/affine:predict"),
            );
            std::thread::spawn(move || {
                for k in 0..5 {
                    let (rows, body) = request(t * 5 + k);
                    let (s1, a) = post(&b, &body);
                    let (s2, c) = post(&u, &body);
                    assert_eq!((s1, s2), (200, 200), "{a} {c}");
                    // Batched equals unbatched, bit for bit, and both are right.
                    assert_eq!(a, c);
                    assert_rows(&a["predictions"], &rows, 1.0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("every response checks");
    }
    // Some runs had more than one request in them.
    let mut r = agent().get(&batched.url("/metrics")).call().unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    let count = |le: &str| -> f64 {
        text.lines()
            .find(|l| {
                l.starts_with("tfg_serve_batch_size_bucket") && l.contains(&format!("le=\"{le}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        count("+Inf") > count("2"),
        "no batch of more than 2 rows:\n{text}"
    );
}

#[test]
fn a_new_version_is_swapped_in_while_requests_flow() {
    let (dir, base) = affine_base("serve_hot_swap");
    let server = Server::start(&["--model", &model_arg(&base), "--poll-s", "0.2"]);
    let url = server.url("/v1/models/affine:predict");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen_k2 = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop, seen_k2) = (url.clone(), stop.clone(), seen_k2.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let (status, v) = post(&url, &json!({"instances": [[1, 1, 1]]}));
                    assert_eq!(status, 200, "request {n} failed during the swap: {v}");
                    let s = v["predictions"][0]["s"].as_f64().unwrap();
                    let (_, s1) = affine_row([1.0, 1.0, 1.0], 1.0);
                    let (_, s2) = affine_row([1.0, 1.0, 1.0], 2.0);
                    assert!(close(s, s1 as f64) || close(s, s2 as f64), "{v}");
                    if close(s, s2 as f64) {
                        seen_k2.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Written elsewhere and renamed in, as a deploy would.
    let staging = dir.join("staging");
    export_affine(&dir, &staging, 2, 2.0);
    std::fs::rename(staging.join("2"), base.join("2")).unwrap();
    let started = Instant::now();
    while !seen_k2.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "version 2 never served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in threads {
        assert!(t.join().expect("no request failed") > 0);
    }
    let (_, v) = get(&server.url("/v1/models/affine"));
    assert_eq!(v["model_version_status"][0]["version"], "2", "{v}");
    assert_eq!(v["model_version_status"][0]["state"], "AVAILABLE", "{v}");

    // A broken version 3 is reported, and 2 keeps serving.
    std::fs::create_dir_all(base.join("3")).unwrap();
    std::fs::write(base.join("3/signatures.json"), "{ not json").unwrap();
    let started = Instant::now();
    loop {
        let (_, v) = get(&server.url("/v1/models/affine/versions/3"));
        if v["model_version_status"][0]["status"]["error_code"] == "UNKNOWN" {
            assert!(!v["model_version_status"][0]["status"]["error_message"]
                .as_str()
                .unwrap()
                .is_empty());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "version 3's failure never reported: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, v) = post(&url, &json!({"instances": [[1, 1, 1]]}));
    assert_eq!(status, 200, "{v}");
    let lines = server.stderr.lock().unwrap().join("\n");
    assert!(lines.contains("version 3 failed to load"), "{lines}");
}

#[test]
fn sigterm_finishes_requests_in_flight_and_exits_0() {
    let (_dir, base) = affine_base("serve_sigterm");
    let server = Server::start(&[
        "--model",
        &model_arg(&base),
        "--batch-timeout-us",
        "2000000",
    ]);
    let url = server.url("/v1/models/affine:predict");
    let in_flight = std::thread::spawn(move || post(&url, &json!({"instances": [[1, 2, 3]]})));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.terminate(), 0);
    let (status, v) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{v}");
}

#[test]
fn serve_a_tfg_file_directly() {
    let dir = scratch("serve_file");
    let file = write_tfg(&dir, "affine", AFFINE);
    let server = Server::start(&[file.to_str().unwrap()]);
    let (status, v) = post(
        &server.url("/v1/models/affine:predict"),
        &json!({"instances": [[1, 2, 3]]}),
    );
    assert_eq!(status, 200, "{v}");
    assert_rows(&v["predictions"], &[[1.0, 2.0, 3.0]], 1.0);
}

#[test]
fn grpc_predict_metadata_and_status() {
    let (_dir, base) = affine_base("serve_grpc");
    let server = Server::start(&["--model", &model_arg(&base)]);
    let endpoint = format!("http://{}", server.grpc);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = tfg_serve::grpc::PredictionServiceClient::connect(endpoint.clone())
            .await
            .unwrap();
        let spec = |signature: &str, version: Option<i64>| proto::ModelSpec {
            name: "affine".into(),
            version_choice: version.map(proto::model_spec::VersionChoice::Version),
            signature_name: signature.into(),
        };
        let x = |data: Vec<f32>, rows: i64| proto::TensorProto {
            dtype: proto::data_type::DT_FLOAT,
            tensor_shape: Some(proto::TensorShapeProto {
                dim: [rows, 3]
                    .iter()
                    .map(|&size| proto::tensor_shape_proto::Dim {
                        size,
                        name: String::new(),
                    })
                    .collect(),
                unknown_rank: false,
            }),
            float_val: data,
            ..Default::default()
        };
        let request = |spec: proto::ModelSpec, t: proto::TensorProto| proto::PredictRequest {
            model_spec: Some(spec),
            inputs: [("x".to_string(), t)].into_iter().collect(),
            output_filter: Vec::new(),
        };
        let answer = client
            .predict(request(
                spec("", None),
                x(vec![1.0, 2.0, 3.0, -1.0, 0.5, 2.0], 2),
            ))
            .await
            .unwrap()
            .into_inner();
        let s = &answer.outputs["s"];
        assert_eq!(s.dtype, proto::data_type::DT_FLOAT);
        let (_, s1) = affine_row([-1.0, 0.5, 2.0], 1.0);
        assert!(close(s.float_val[1] as f64, s1 as f64), "{s:?}");
        assert_eq!(
            answer.outputs["y"].tensor_shape.as_ref().unwrap().dim.len(),
            2
        );
        // tensor_content, little-endian, as numpy arrays are sent.
        let mut raw = x(Vec::new(), 1);
        raw.tensor_content = [1.0f32, 2.0, 3.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let answer = client
            .predict(request(spec("y_only", Some(1)), raw))
            .await
            .unwrap()
            .into_inner();
        let (y, _) = affine_row([1.0, 2.0, 3.0], 1.0);
        assert!(close(answer.outputs["y"].float_val[0] as f64, y[0] as f64));
        assert!(!answer.outputs.contains_key("s"));
        // Errors are statuses.
        let e = client
            .predict(request(spec("nope", None), x(vec![1.0, 2.0, 3.0], 1)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
        let e = client
            .predict(request(spec("", Some(5)), x(vec![1.0, 2.0, 3.0], 1)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
        let e = client
            .predict(request(spec("", None), x(vec![1.0, 2.0], 1)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("`x`"), "{e:?}");
        // One value may fill a shape, but not an absurd one.
        let e = client
            .predict(request(spec("", None), x(vec![1.0], 1 << 40)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");

        let meta = client
            .get_model_metadata(proto::GetModelMetadataRequest {
                model_spec: Some(spec("", None)),
                metadata_field: vec!["signature_def".into()],
            })
            .await
            .unwrap()
            .into_inner();
        let any = &meta.metadata["signature_def"];
        assert!(any.type_url.ends_with("tensorflow.serving.SignatureDefMap"));
        let defs: proto::SignatureDefMap =
            tfg_serve::grpc::prost::Message::decode(any.value.as_slice()).unwrap();
        let x_info = &defs.signature_def["serving_default"].inputs["x"];
        assert_eq!(x_info.dtype, proto::data_type::DT_FLOAT);
        assert_eq!(x_info.tensor_shape.as_ref().unwrap().dim[0].size, -1);

        let mut models = tfg_serve::grpc::ModelServiceClient::connect(endpoint)
            .await
            .unwrap();
        let status = models
            .get_model_status(proto::GetModelStatusRequest {
                model_spec: Some(spec("", None)),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status.model_version_status.len(), 1);
        assert_eq!(status.model_version_status[0].version, 1);
        assert_eq!(
            status.model_version_status[0].state,
            proto::state::AVAILABLE
        );
    });
}

/// The official Python clients, where they are installed: `requests`,
/// `tritonclient[http]` and `tensorflow-serving-api`. Each missing one is a
/// visible skip, or a failure under `TFG_REQUIRE_SERVE_CLIENTS`.
#[test]
fn official_python_clients() {
    let Some(python) = common::numpy() else {
        return;
    };
    let has = |module: &str| {
        Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for (module, client, package) in [
        ("requests", "requests", "requests"),
        ("tritonclient.http", "tritonclient", "tritonclient[http]"),
        (
            "tensorflow_serving.apis.prediction_service_pb2_grpc",
            "tensorflow-serving-api",
            "tensorflow-serving-api",
        ),
    ] {
        match has(module) {
            true => present.push(client),
            false => missing.push(package),
        }
    }
    if !missing.is_empty() {
        common::skip(
            "TFG_REQUIRE_SERVE_CLIENTS",
            &format!(
                "the Python serving clients {} (scripts/install.sh: ensure_serve_clients)",
                missing.join(", ")
            ),
        );
    }
    if present.is_empty() {
        return;
    }
    let (_dir, base) = affine_base("serve_python");
    let server = Server::start(&["--model", &model_arg(&base)]);
    let mut args = vec![server.rest.as_str(), server.grpc.as_str()];
    args.extend(&present);
    let out = common::python(&python, "serve_clients.py", &args);
    for client in present {
        assert!(out.contains(&format!("ok {client}")), "{out}");
    }
}
