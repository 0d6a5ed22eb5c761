//! Running the built `tfg` binary, and numpy where the machine has it.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of `tfg` did.
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tfg ARGS` in the repository root, so paths in messages are stable.
pub fn tfg(args: &[&str]) -> Run {
    tfg_env(args, &[])
}

/// [`tfg`] with these environment variables set.
pub fn tfg_env(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tfg"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .envs(vars.iter().copied())
        .output()
        .expect("the tfg binary runs");
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// `tfg ARGS` that must succeed; its stdout.
pub fn tfg_ok(args: &[&str]) -> String {
    let run = tfg(args);
    assert_eq!(run.status, 0, "tfg {args:?} failed:\n{}", run.stderr);
    run.stdout
}

/// `tfg ARGS` that must fail as a user error: exit status 1, and stderr
/// opening with `error: ` then `message`, and pointing at `place` (`FILE:L:C`).
/// Its stderr.
pub fn tfg_fails(args: &[&str], message: &str, place: &str) -> String {
    let run = tfg(args);
    assert_eq!(run.status, 1, "tfg {args:?}:\n{}", run.stderr);
    let opening = format!("error: {message}");
    assert!(run.stderr.starts_with(&opening), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("--> {place}\n")),
        "{}",
        run.stderr
    );
    run.stderr
}

/// A fresh, empty directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli-tests")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir is writable");
    dir
}

/// Names of the entries of `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The examples, `examples/*.tfg` (paths relative to the repository, where
/// the tests run), sorted.
pub fn examples() -> Vec<PathBuf> {
    let found: Vec<PathBuf> = entries(Path::new("examples"))
        .into_iter()
        .filter(|n| n.ends_with(".tfg"))
        .map(|n| Path::new("examples").join(n))
        .collect();
    assert!(found.len() >= 7, "examples went missing: {found:?}");
    found
}

/// A Python interpreter with numpy (`$TFG_PYTHON`, then `.venv`, then `python3`), or
/// `None` with a note on stderr. With `TFG_REQUIRE_NUMPY` set (as `scripts/test`
/// sets it) a missing numpy fails the test instead.
pub fn numpy() -> Option<PathBuf> {
    python_with("numpy", "TFG_REQUIRE_NUMPY")
}

/// A Python interpreter that can `import MODULES` (a comma-separated list),
/// looked for as [`numpy`] does, or `None` with a note; with the variable
/// `require` set, a missing one fails the test instead.
pub fn python_with(modules: &str, require: &str) -> Option<PathBuf> {
    let candidates = std::env::var_os("TFG_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
            PathBuf::from("python3"),
        ]);
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    assert!(
        std::env::var_os(require).is_none(),
        "python with {modules} is required ({require}) but not found"
    );
    eprintln!("skipped: no python3 with {modules} found (run scripts/test to install it)");
    None
}

/// Runs `tests/python/SCRIPT ARGS` with `python`; its stdout.
pub fn python(python: &Path, script: &str, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// A `--json` report of tfg's. It is JSON proper: NaN and the infinities
/// are the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
pub fn report(text: &str) -> serde_json::Value {
    json(text)
}

/// Parses JSON, failing the test with the text if it is not.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Whether `--backend cuda` can run here. Where it cannot, the error must
/// be the clear one for a missing driver or GPU, with exit status 1; the
/// GPU tests then say they were skipped. (A build without LLVM cannot run a
/// `.tfg` file on the GPU at all: `tests/ptx_without_llvm.rs`.)
#[cfg(feature = "llvm")]
pub fn gpu_at_hand(test: &str) -> bool {
    let run = tfg(&["run", "examples/hello.tfg", "--backend", "cuda"]);
    if run.status == 0 {
        return true;
    }
    assert_eq!(run.status, 1, "{}", run.stderr);
    let error = run.stderr.strip_prefix("error: ").unwrap_or(&run.stderr);
    assert!(
        is_no_gpu(error),
        "an unclear error without a GPU: {}",
        run.stderr
    );
    skip(
        "TFG_REQUIRE_GPU",
        &format!("a GPU ({test} runs only where `--backend cuda` can)"),
    );
    false
}

#[allow(unused_imports)] // Each test binary uses a different part, as above.
pub use tfg_testkit::{is_no_gpu, note, ptxas, skip};
