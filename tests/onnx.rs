//! ONNX import against ONNX Runtime: models of one or a few operators each
//! (`tests/python/onnx_cases.py` builds them with the `onnx` package and runs
//! them with `onnxruntime`), run by `tfg run MODEL.onnx` on the interpreter
//! and the CPU backend, and through `tfg import` + `--restore`. The Python
//! side needs `onnx` and `onnxruntime` (`scripts/test` installs them; with
//! `TFG_REQUIRE_ONNX` set their absence fails the tests).

mod common;

use common::{python, python_with, report, scratch, tfg, tfg_ok};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tfg_ir::Tensor;

/// The cases, written once per test binary into a scratch directory.
fn cases(test: &str) -> Option<(PathBuf, Vec<Value>)> {
    let py = python_with("numpy, onnx, onnxruntime", "TFG_REQUIRE_ONNX")?;
    let dir = scratch(test);
    python(&py, "onnx_cases.py", &[dir.to_str().expect("UTF-8 path")]);
    let list = std::fs::read_to_string(dir.join("cases.json")).expect("written by the script");
    let list: Vec<Value> = serde_json::from_str(&list).expect("JSON");
    Some((dir, list))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// `got` (a `--json` tensor) equals ONNX Runtime's `want` within 1e-4
/// relative (1e-5 absolute near zero); integers and booleans exactly.
fn assert_matches(what: &str, got: &Value, want: &Tensor) {
    let shape: Vec<usize> = got["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("a dim") as usize)
        .collect();
    assert_eq!(shape, want.shape, "{what}: shape");
    let data = got["data"].as_array().expect("data");
    for (i, g) in data.iter().enumerate() {
        let w = want.data.get_f64(i);
        // `--json` writes NaN and the infinities as strings.
        let g = g
            .as_f64()
            .or_else(|| g.as_bool().map(|b| b as u8 as f64))
            .or_else(|| g.as_str().and_then(|s| s.parse::<f64>().ok()))
            .unwrap_or(f64::NAN);
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= 1e-4 * w.abs() + 1e-5;
        assert!(ok, "{what}[{i}]: tfg {g}, ONNX Runtime {w}");
    }
}

fn feeds(dir: &Path, case: &Value) -> Vec<String> {
    let name = case["name"].as_str().expect("name");
    strings(&case["inputs"])
        .iter()
        .enumerate()
        .map(|(k, input)| format!("{input}={}/{name}.in.{k}.npy", dir.display()))
        .collect()
}

fn expected(dir: &Path, name: &str, k: usize) -> Tensor {
    tfg_formats::npy::read(&dir.join(format!("{name}.out.{k}.npy"))).expect("written by the script")
}

#[test]
fn every_operator_matches_onnx_runtime() {
    let Some((dir, list)) = cases("every_operator_matches_onnx_runtime") else {
        return;
    };
    assert!(list.len() >= 80, "the script wrote {} cases", list.len());
    for case in &list {
        let name = case["name"].as_str().expect("name");
        let model = dir.join(format!("{name}.onnx"));
        let feeds = feeds(&dir, case);
        for backend in ["interp", "cpu"] {
            let mut args = vec![
                "run",
                model.to_str().expect("UTF-8"),
                "--json",
                "--backend",
                backend,
            ];
            for f in &feeds {
                args.extend(["--feed", f]);
            }
            let out = report(&tfg_ok(&args));
            for (k, output) in strings(&case["outputs"]).iter().enumerate() {
                assert_matches(
                    &format!("{name}: {output} on {backend}"),
                    &out["outputs"][output],
                    &expected(&dir, name, k),
                );
            }
        }
    }
}

#[test]
fn an_imported_file_with_its_checkpoint_computes_the_model() {
    let Some((dir, list)) = cases("an_imported_file_with_its_checkpoint_computes_the_model") else {
        return;
    };
    for name in [
        "conv",
        "batchnorm",
        "gemm",
        "shape_subgraph",
        "dropout_constant",
    ] {
        let case = list
            .iter()
            .find(|c| c["name"] == name)
            .expect("the case exists");
        let out_tfg = dir.join(format!("{name}_imported.tfg"));
        tfg_ok(&[
            "import",
            dir.join(format!("{name}.onnx")).to_str().expect("UTF-8"),
            "-o",
            out_tfg.to_str().expect("UTF-8"),
        ]);
        let text = std::fs::read_to_string(&out_tfg).expect("the .tfg file is written");
        assert!(text.contains(&format!("graph {name} {{")), "{text}");
        let params = out_tfg.with_extension("safetensors");
        assert!(params.exists(), "the params are written beside it");
        // The .tfg file uses identifiers; the model's names are plain here.
        let feeds = feeds(&dir, case);
        let mut args = vec![
            "run",
            out_tfg.to_str().expect("UTF-8"),
            "--restore",
            params.to_str().expect("UTF-8"),
            "--json",
        ];
        for f in &feeds {
            args.extend(["--feed", f]);
        }
        let out = report(&tfg_ok(&args));
        for (k, output) in strings(&case["outputs"]).iter().enumerate() {
            assert_matches(
                &format!("{name}: {output}, imported"),
                &out["outputs"][output],
                &expected(&dir, name, k),
            );
        }
    }
}

/// The ImageNet topologies the `onnx` wheel ships (its "light" models),
/// with random weights: `tfg run MODEL.onnx` (the input fed by its ONNX
/// name, and once by its identifier) and `tfg import` + `--restore` against
/// ONNX Runtime, within 1e-4 of the largest output (the contract allows
/// 1e-3 for chains of more than 50 convolutions; measured: below 4e-7).
/// VGG-19, AlexNet and ZFNet-512 match too (docs/onnx.md) but carry 0.2 to
/// 0.6 GB of weights each, too much to write in every test run.
#[test]
fn real_imagenet_topologies_match_onnx_runtime() {
    let Some(py) = python_with("numpy, onnx, onnxruntime", "TFG_REQUIRE_ONNX") else {
        return;
    };
    let root = scratch("real_imagenet_topologies");
    for model in [
        "squeezenet",
        "resnet50",
        "shufflenet",
        "inception_v1",
        "inception_v2",
        "densenet121",
    ] {
        let dir = root.join(model);
        let printed = python(&py, "onnx_real.py", &[model, dir.to_str().expect("UTF-8")]);
        let names: Vec<&str> = printed.split_whitespace().collect();
        let [input, output] = names[..] else {
            panic!("onnx_real.py printed {printed:?}")
        };
        let want = tfg_formats::npy::read(&dir.join("expected.npy")).expect("written");
        let scale = (0..want.data.len()).fold(0.0f64, |m, i| m.max(want.data.get_f64(i).abs()));
        let x = dir.join("input.npy");
        let onnx = dir.join("model.onnx");
        let imported = dir.join("imported.tfg");
        tfg_ok(&[
            "import",
            onnx.to_str().expect("UTF-8"),
            "-o",
            imported.to_str().expect("UTF-8"),
        ]);
        let identifier: String = input
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let restore = imported.with_extension("safetensors");
        let runs: [(&str, Vec<String>); 3] = [
            (
                "onnx",
                vec![
                    onnx.display().to_string(),
                    format!("--feed={input}={}", x.display()),
                ],
            ),
            (
                "onnx, identifier",
                vec![
                    onnx.display().to_string(),
                    format!("--feed={identifier}={}", x.display()),
                ],
            ),
            (
                "imported",
                vec![
                    imported.display().to_string(),
                    format!("--feed={identifier}={}", x.display()),
                    format!("--restore={}", restore.display()),
                ],
            ),
        ];
        if model == "resnet50" {
            // NCHW between NHWC convolutions: the importer's layout
            // transposes cancel, but for the input's and the pooled
            // output's. (Filters and per-channel params are transposed
            // too, once, when params are loaded: they are not counted.)
            // Only where saturation finished within simplify's time
            // budget, which a debug build's egg overruns on this graph.
            let dumped = tfg_ok(&["dump", onnx.to_str().expect("UTF-8"), "--after", "simplify"]);
            let activations: Vec<&str> = dumped
                .lines()
                .filter(|l| l.contains(" = transpose %") && !l.contains("%gpu_0_"))
                .filter(|l| !l.contains(": f32[1, 1, 1, "))
                .collect();
            if dumped.contains("// simplify: saturated") {
                assert!(activations.len() <= 2, "{}", activations.join("\n"));
            } else {
                tfg_testkit::note(
                    "tests/onnx.rs: ResNet-50's layout transposes not checked: simplify stopped at its time limit (a debug build)",
                );
            }
        }
        for (how, args) in runs {
            let mut all = vec!["run", "--json"];
            all.extend(args.iter().map(String::as_str));
            let out = report(&tfg_ok(&all));
            let got = out["outputs"]
                .as_object()
                .and_then(|o| o.values().next())
                .expect("one output");
            let data = got["data"].as_array().expect("data");
            assert_eq!(data.len(), want.data.len(), "{model} ({how}): {output}");
            for (i, g) in data.iter().enumerate() {
                let (g, w) = (g.as_f64().unwrap_or(f64::NAN), want.data.get_f64(i));
                assert!(
                    (g - w).abs() <= 1e-4 * scale,
                    "{model} ({how}): {output}[{i}] is {g}, ONNX Runtime {w}"
                );
            }
        }
    }
}

/// The ONNX backend node tests, as the pinned `onnx` package writes them
/// (`tests/python/onnx_nodes.py`): each passes, is refused at import (an
/// operator or element type docs/onnx.md does not list), or is one of the
/// failures the script names with its reason.
#[test]
fn onnx_backend_node_tests_pass_or_are_refused() {
    let Some(py) = python_with("numpy, onnx", "TFG_REQUIRE_ONNX") else {
        return;
    };
    let dir = scratch("onnx_backend_node_tests_pass_or_are_refused");
    let table = python(
        &py,
        "onnx_nodes.py",
        &[
            env!("CARGO_BIN_EXE_tfg"),
            dir.to_str().expect("UTF-8"),
            "--check",
        ],
    );
    assert!(table.contains("all node tests"), "{table}");
}

#[test]
fn unsupported_operators_are_all_listed_at_once() {
    let Some((dir, _)) = cases("unsupported_operators_are_all_listed_at_once") else {
        return;
    };
    let model = dir.join("unsupported.onnx");
    let out = dir.join("out.tfg");
    for args in [
        vec![
            "import",
            model.to_str().expect("UTF-8"),
            "-o",
            out.to_str().expect("UTF-8"),
        ],
        vec!["run", model.to_str().expect("UTF-8")],
    ] {
        let run = tfg(&args);
        assert_eq!(run.status, 1, "{}", run.stderr);
        assert!(
            run.stderr
                .contains("2 operator types that tfg does not support (3 nodes)"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("NonZero (2 nodes, first: `nz1`)"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("Unique (1 node, first: `uniq`)"),
            "{}",
            run.stderr
        );
    }
    assert!(
        !out.exists(),
        "nothing is written for a model that cannot be imported"
    );
}

#[test]
fn a_file_that_is_not_onnx_is_refused() {
    let dir = scratch("a_file_that_is_not_onnx_is_refused");
    let model = dir.join("junk.onnx");
    std::fs::write(&model, b"\xff\xff\xff not a protobuf").expect("writable");
    let run = tfg(&["run", model.to_str().expect("UTF-8")]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.contains("not an ONNX model"), "{}", run.stderr);
}

/// A model that takes a shape, bounds and axes as graph inputs: `tfg run`
/// with them fed by ONNX name matches ONNX Runtime
/// (`every_operator_matches_onnx_runtime`, case `shapes_from_inputs`), and so
/// it does fed by identifier (`shape:0` as `shape_0`); without their feeds,
/// `run` and `import` say which inputs tfg needs to know, and write nothing.
#[test]
fn shape_inputs_without_feeds_are_named() {
    let Some((dir, list)) = cases("shape_inputs_without_feeds_are_named") else {
        return;
    };
    let case = list
        .iter()
        .find(|c| c["name"] == "shapes_from_inputs")
        .expect("the case exists");
    let model = dir.join("shapes_from_inputs.onnx");
    let model = model.to_str().expect("UTF-8");
    let out = dir.join("shapes.tfg");
    let x_only: Vec<String> = feeds(&dir, case).into_iter().take(1).collect();
    let mut run = vec!["run", model];
    for f in &x_only {
        run.extend(["--feed", f]);
    }
    for args in [
        vec!["import", model, "-o", out.to_str().expect("UTF-8")],
        run,
    ] {
        let r = tfg(&args);
        assert_eq!(r.status, 1, "{}", r.stderr);
        assert!(
            r.stderr
                .contains("(Reshape): input 1 must be known when importing")
                && r.stderr.contains("computed from the graph input `shape:0`")
                && r.stderr.contains("--feed NAME=VALUE"),
            "{}",
            r.stderr
        );
    }
    assert!(!out.exists(), "nothing is written");

    let by_identifier: Vec<String> = feeds(&dir, case)
        .iter()
        .map(|f| f.replacen("shape:0=", "shape_0=", 1))
        .collect();
    let mut args = vec!["run", model, "--json"];
    for f in &by_identifier {
        args.extend(["--feed", f]);
    }
    let got = report(&tfg_ok(&args));
    assert_matches(
        "shapes_from_inputs fed by identifier: y",
        &got["outputs"]["y"],
        &expected(&dir, "shapes_from_inputs", 0),
    );
}

/// A CNN exported by PyTorch with both of its exporters (the TorchScript one
/// and the torch.export one), a dynamic batch included, matches PyTorch's
/// own output (tests/fixtures/pytorch/make_fixture.py wrote the fixture),
/// on the interpreter and the CPU backend.
#[test]
fn pytorch_exports_match_pytorch() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch");
    let want = tfg_formats::npy::read(&dir.join("expected.npy")).expect("the fixture");
    let feed = format!("image={}", dir.join("input.npy").display());
    for model in ["cnn.onnx", "cnn_dynamo.onnx"] {
        let path = dir.join(model);
        for backend in ["interp", "cpu"] {
            let args = [
                "run",
                path.to_str().expect("UTF-8"),
                "--feed",
                &feed,
                "--json",
                "--backend",
                backend,
            ];
            let out = report(&tfg_ok(&args));
            assert_matches(
                &format!("{model} on {backend}: log_probs (PyTorch's output)"),
                &out["outputs"]["log_probs"],
                &want,
            );
        }
    }
}
