//! The GPU backend from the command line: `tfg compile --target ptx`, the
//! module it writes, `--emit ptx|llvm`, `tfg dump --launch-plan`, and the
//! errors of `--backend cuda` and `tfg run MODULE` on a machine without a
//! GPU. (Running on a GPU: `tests/examples.rs`; a build without LLVM:
//! `tests/ptx_without_llvm.rs`.)
#![cfg(feature = "llvm")]

mod common;

use common::{entries, json, ptxas, scratch, tfg, tfg_ok};
use std::path::Path;
use std::process::Command;

/// Every example with the dims its symbolic shapes need.
const EXAMPLES: [(&str, &[&str]); 5] = [
    ("examples/hello.tfg", &[]),
    ("examples/elementwise.tfg", &["--dim", "N=1000"]),
    ("examples/linear_regression.tfg", &["--dim", "N=37"]),
    (
        "examples/mlp_digits.tfg",
        &["--dim", "N=64", "--dim", "T=30"],
    ),
    (
        "examples/cnn_digits.tfg",
        &["--dim", "N=64", "--dim", "T=30"],
    ),
];

fn assemble(ptxas: &Path, ptx: &Path, sm: &str) -> Result<(), String> {
    let out = Command::new(ptxas)
        .arg(format!("-arch={sm}"))
        .arg(ptx)
        .arg("-o")
        .arg(ptx.with_extension(format!("{sm}.cubin")))
        .output()
        .map_err(|e| e.to_string())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

#[test]
fn every_example_compiles_to_ptx_that_ptxas_accepts_for_sm_80_and_sm_90() {
    let Some(ptxas) = ptxas() else { return };
    let dir = scratch("ptx_examples");
    let mut failures = Vec::new();
    let mut assembled = 0;
    for (file, dims) in EXAMPLES {
        let has_train = std::fs::read_to_string(file)
            .expect("readable")
            .contains("\ntrain ");
        for sm in ["sm_80", "sm_90"] {
            for train in [false, true] {
                if train && !has_train {
                    continue;
                }
                let stem = Path::new(file)
                    .file_stem()
                    .expect("a name")
                    .to_string_lossy();
                let out = dir.join(format!("{stem}_{sm}_{train}"));
                let mut args = vec!["compile", file, "--target", "ptx", "--sm", sm];
                args.extend_from_slice(dims);
                if train {
                    args.push("--train");
                }
                args.extend(["-o", out.to_str().expect("UTF-8")]);
                tfg_ok(&args);
                assert_eq!(
                    entries(&out),
                    ["manifest.json", "params.safetensors", "program.ptx"],
                    "{args:?}"
                );
                match assemble(&ptxas, &out.join("program.ptx"), sm) {
                    Ok(()) => assembled += 1,
                    Err(e) => failures.push(format!("{args:?}: {e}")),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "ptxas rejected:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        assembled, 18,
        "5 forward and 4 training graphs, for 2 architectures"
    );
}

#[test]
fn a_module_holds_the_graphs_signature_and_its_initial_params() {
    let dir = scratch("ptx_module");
    let out = dir.join("mlp");
    let o = out.to_str().expect("UTF-8");
    let args = [
        "compile",
        "examples/mlp_digits.tfg",
        "--target",
        "ptx",
        "--dim",
        "N=64",
        "--dim",
        "T=30",
    ];
    tfg_ok(&[&args[..], &["--train", "--seed", "7", "-o", o]].concat());
    let manifest = json(&std::fs::read_to_string(out.join("manifest.json")).expect("manifest"));
    assert_eq!(manifest["sm"], "sm_80", "the default architecture");
    let names = |key: &str| -> Vec<String> {
        manifest[key]
            .as_array()
            .expect("a list")
            .iter()
            .map(|t| t["name"].as_str().expect("a name").to_string())
            .collect()
    };
    assert_eq!(names("inputs")[..2], ["x", "labels"]);
    assert_eq!(manifest["inputs"][0]["shape"], serde_json::json!([64, 64]));
    // The training step's params: the model's and the optimizer's slots.
    let params = names("params");
    assert!(
        params.starts_with(&["w1".into(), "b1".into(), "w2".into(), "b2".into()]),
        "{params:?}"
    );
    assert!(params.iter().any(|p| p == "w1/adam_m"), "{params:?}");
    assert!(!manifest["launches"]
        .as_array()
        .expect("launches")
        .is_empty());

    // The initial values are the initialisers' with that seed: the same as
    // `tfg train --save` would start from, so one step from the module's
    // params on the interpreter gives what `tfg train --steps 1` gives.
    let again = dir.join("again");
    tfg_ok(
        &[
            &args[..],
            &[
                "--train",
                "--seed",
                "7",
                "-o",
                again.to_str().expect("UTF-8"),
            ],
        ]
        .concat(),
    );
    let bytes = |d: &Path| std::fs::read(d.join("params.safetensors")).expect("params");
    assert_eq!(bytes(&out), bytes(&again), "deterministic");
    let other = dir.join("other");
    tfg_ok(
        &[
            &args[..],
            &[
                "--train",
                "--seed",
                "8",
                "-o",
                other.to_str().expect("UTF-8"),
            ],
        ]
        .concat(),
    );
    assert_ne!(bytes(&out), bytes(&other), "the seed matters");
    // The forward module's params restore into the forward graph.
    let fwd = dir.join("fwd");
    tfg_ok(
        &[
            &args[..],
            &["--seed", "7", "-o", fwd.to_str().expect("UTF-8")],
        ]
        .concat(),
    );
    let ckpt = fwd.join("params.safetensors");
    let from_module = json(&tfg_ok(&[
        "run",
        "examples/mlp_digits.tfg",
        "--backend",
        "interp",
        "--json",
        "--restore",
        ckpt.to_str().expect("UTF-8"),
    ]));
    let seeded = json(&tfg_ok(&[
        "run",
        "examples/mlp_digits.tfg",
        "--backend",
        "interp",
        "--json",
        "--seed",
        "7",
    ]));
    assert_eq!(from_module["outputs"], seeded["outputs"]);
}

#[test]
fn a_module_can_be_files_beside_a_ptx_path() {
    let dir = scratch("ptx_file");
    let out = dir.join("hello.ptx");
    tfg_ok(&[
        "compile",
        "examples/hello.tfg",
        "--target",
        "ptx",
        "-o",
        out.to_str().expect("UTF-8"),
    ]);
    assert_eq!(
        entries(&dir),
        [
            "hello.manifest.json",
            "hello.params.safetensors",
            "hello.ptx"
        ]
    );
    let ptx = std::fs::read_to_string(&out).expect("ptx");
    assert!(
        ptx.contains(".target sm_80") && ptx.contains(".visible .entry tfg_k0("),
        "{ptx}"
    );
}

#[test]
fn emit_shows_the_ptx_and_the_llvm_ir() {
    let ptx = tfg_ok(&[
        "compile",
        "examples/hello.tfg",
        "--target",
        "ptx",
        "--emit",
        "ptx",
        "--sm",
        "sm_90",
    ]);
    assert!(
        ptx.contains(".target sm_90") && ptx.contains(".visible .entry tfg_k0("),
        "{ptx}"
    );
    let llvm = tfg_ok(&[
        "compile",
        "examples/hello.tfg",
        "--target",
        "ptx",
        "--emit",
        "llvm",
    ]);
    assert!(llvm.contains("define ptx_kernel void @tfg_k0("), "{llvm}");
    assert!(
        llvm.contains("target triple = \"nvptx64-nvidia-cuda\""),
        "{llvm}"
    );
    let step = tfg_ok(&[
        "compile",
        "examples/hello.tfg",
        "--target",
        "ptx",
        "--emit",
        "ptx",
        "--train",
    ]);
    assert_ne!(step, ptx, "--train shows the training step");
}

#[test]
fn dump_shows_the_launch_plan() {
    let out = tfg_ok(&[
        "dump",
        "examples/elementwise.tfg",
        "--dim",
        "N=1024",
        "--after",
        "lower",
        "--launch-plan",
    ]);
    let plan = out
        .split("// ----- launch plan (graph elementwise) -----\n")
        .nth(1)
        .expect("a launch plan after the Kernel IR");
    insta::assert_snapshot!(plan);
    let run = tfg(&["dump", "examples/elementwise.tfg", "--launch-plan"]);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr.contains("--launch-plan needs concrete shapes"),
        "{}",
        run.stderr
    );
}

/// `tfg ARGS` must fail with status 1, an `error:` naming `expected`, and
/// leave nothing in `dir`.
fn refused(args: &[&str], expected: &str, dir: &Path) {
    let run = tfg(args);
    assert_eq!(run.status, 1, "{args:?}: {}", run.stderr);
    assert!(
        run.stderr.starts_with("error: "),
        "{args:?}: {}",
        run.stderr
    );
    assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    assert!(entries(dir).is_empty(), "{args:?} wrote {:?}", entries(dir));
}

#[test]
fn wrong_options_are_refused_before_anything_is_written() {
    let dir = scratch("ptx_refused");
    let out = dir.join("m");
    let o = out.to_str().expect("UTF-8");
    let hello = "examples/hello.tfg";
    refused(
        &["compile", hello, "--emit", "ptx", "-o", o],
        "--emit ptx needs --target ptx",
        &dir,
    );
    refused(
        &["compile", hello, "--sm", "sm_90", "-o", o],
        "--sm is for --target ptx",
        &dir,
    );
    refused(
        &[
            "compile", hello, "--target", "ptx", "--emit", "clif", "-o", o,
        ],
        "is for --target cpu",
        &dir,
    );
    refused(
        &[
            "compile", hello, "--target", "ptx", "--header", "m.h", "-o", o,
        ],
        "--header is for --target cpu",
        &dir,
    );
    refused(&["compile", hello, "--target", "ptx"], "-o DIR", &dir);
    refused(
        &[
            "compile", hello, "--target", "ptx", "--sm", "sm_52", "-o", o,
        ],
        "unknown GPU architecture `sm_52`",
        &dir,
    );
    refused(
        &[
            "compile",
            "examples/elementwise.tfg",
            "--target",
            "ptx",
            "-o",
            o,
        ],
        "dim `N` is symbolic",
        &dir,
    );
}

#[test]
fn running_a_module_checks_it_before_looking_for_a_gpu() {
    let dir = scratch("ptx_run");
    let module = dir.join("hello");
    let m = module.to_str().expect("UTF-8");
    tfg_ok(&["compile", "examples/hello.tfg", "--target", "ptx", "-o", m]);
    let fails = |args: &[&str], expected: &str| {
        let run = tfg(args);
        assert_eq!(run.status, 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    };
    fails(
        &["run", m],
        "is a compiled PTX module: run it with --backend cuda",
    );
    let missing = dir.join("missing.ptx");
    fails(
        &["run", missing.to_str().expect("UTF-8"), "--backend", "cuda"],
        "is not a PTX module: cannot read",
    );
    fails(&["run", m, "--backend", "cuda"], "input `x` has no feed");
    fails(&["run", m, "--backend", "cuda", "--feed", "y=1.0"], "y");
    fails(
        &["run", m, "--backend", "cuda", "--feed", "x=[1.0, 2.0]"],
        "x",
    );
    let corrupt = dir.join("corrupt");
    std::fs::create_dir_all(&corrupt).expect("dir");
    for f in ["program.ptx", "params.safetensors"] {
        std::fs::copy(module.join(f), corrupt.join(f)).expect("copy");
    }
    std::fs::write(corrupt.join("manifest.json"), "{\"version\": 1, \"sm\": ").expect("write");
    fails(
        &[
            "run",
            corrupt.to_str().expect("UTF-8"),
            "--backend",
            "cuda",
            "--feed",
            "x=1.0",
        ],
        "is not a valid manifest",
    );
    // A well-formed run reaches the GPU: here, the driver's absence.
    let run = tfg(&["run", m, "--backend", "cuda", "--feed", "x=1.0", "--json"]);
    if run.status == 0 {
        let out = json(&run.stdout);
        assert_eq!(
            out["outputs"]["y"]["data"][0].as_f64(),
            Some(0.800000011920929)
        );
    } else {
        assert_eq!(run.status, 1);
        let error = run.stderr.strip_prefix("error: ").unwrap_or(&run.stderr);
        assert!(common::is_no_gpu(error), "{}", run.stderr);
        assert!(run.stdout.is_empty());
        common::skip(
            "TFG_REQUIRE_GPU",
            "a GPU (a PTX module was checked but not run)",
        );
    }
}

#[test]
fn the_repl_shows_the_ptx_of_a_value() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tfg"))
        .args(["repl", "examples/hello.tfg"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tfg runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(b":ptx y\n")
        .expect("tfg reads the script");
    let out = child.wait_with_output().expect("tfg ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(".target sm_80") && stdout.contains(".visible .entry tfg_k0("),
        "{stdout}"
    );
}

#[test]
fn a_missing_module_is_reported_before_the_missing_gpu() {
    let dir = scratch("ptx_missing");
    let missing = dir.join("no_such_module");
    let run = tfg(&["run", missing.to_str().expect("UTF-8"), "--backend", "cuda"]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("error: cannot read") && run.stderr.contains("no_such_module"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_module_that_cannot_be_written_leaves_nothing() {
    let dir = scratch("ptx_unwritable");
    let out = dir.join("m");
    // A directory where the PTX must go: the last of the three files fails.
    std::fs::create_dir_all(out.join("program.ptx")).expect("dir");
    let run = tfg(&[
        "compile",
        "examples/hello.tfg",
        "--target",
        "ptx",
        "-o",
        out.to_str().expect("UTF-8"),
    ]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.contains("program.ptx"), "{}", run.stderr);
    assert_eq!(entries(&out), ["program.ptx"], "only what was there before");
}
