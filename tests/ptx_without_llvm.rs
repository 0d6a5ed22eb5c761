//! A `tfg` built without LLVM (`--no-default-features`): everything that
//! generates PTX is refused with an error that says where to compile, and
//! nothing is written; the CPU target and running a compiled module still
//! work. `tests/fixtures/hello_module` is what
//! `tfg compile examples/hello.tfg --target ptx -o tests/fixtures/hello_module`
//! wrote (with LLVM); regenerate it so if the manifest format changes.
#![cfg(not(feature = "llvm"))]

mod common;

use common::{entries, scratch, tfg, tfg_ok};

#[test]
fn ptx_generation_says_this_build_has_no_llvm() {
    let dir = scratch("no_llvm");
    let out = dir.join("m");
    let o = out.to_str().expect("UTF-8");
    let hello = "examples/hello.tfg";
    let refusals: [&[&str]; 4] = [
        &["compile", hello, "--target", "ptx", "-o", o],
        &["compile", hello, "--target", "ptx", "--emit", "ptx"],
        &[
            "compile", hello, "--target", "ptx", "--emit", "llvm", "-o", o,
        ],
        &["dump", hello, "--launch-plan"],
    ];
    for args in refusals {
        let run = tfg(args);
        assert_eq!(run.status, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("error: ") && run.stderr.contains("built without LLVM"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("tfg run DIR --backend cuda"),
            "the error says what to do instead: {}",
            run.stderr
        );
        assert!(
            entries(&dir).is_empty(),
            "{args:?} wrote {:?}",
            entries(&dir)
        );
    }
    // Running a .tfg file on the GPU needs PTX too: refused before the
    // driver is looked for, so the same on every machine.
    for command in ["run", "train"] {
        let run = tfg(&[command, hello, "--backend", "cuda"]);
        assert_eq!(run.status, 1, "{command}: {}", run.stderr);
        assert!(
            run.stderr.contains("built without LLVM"),
            "{command}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{command}: {}", run.stdout);
    }
}

#[test]
fn a_compiled_module_runs_without_llvm() {
    let module = "tests/fixtures/hello_module";
    let run = tfg(&[
        "run",
        module,
        "--backend",
        "cuda",
        "--feed",
        "x=1.0",
        "--json",
    ]);
    if run.status == 0 {
        let out = common::json(&run.stdout);
        assert_eq!(
            out["outputs"]["y"]["data"][0].as_f64(),
            Some(0.800000011920929),
            "{}",
            run.stdout
        );
        return;
    }
    // Without a GPU the module is read and its feeds checked; only the
    // driver is missing.
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no CUDA driver found") || run.stderr.contains("no CUDA device found"),
        "{}",
        run.stderr
    );
    let unfed = tfg(&["run", module, "--backend", "cuda"]);
    assert_eq!(unfed.status, 1, "{}", unfed.stderr);
    assert!(
        unfed.stderr.contains("input `x` has no feed"),
        "{}",
        unfed.stderr
    );
    common::skip(
        "TFG_REQUIRE_GPU",
        "a GPU (the module was read and checked, not run)",
    );
}

#[test]
fn the_cpu_target_needs_no_llvm() {
    let clif = tfg_ok(&["compile", "examples/hello.tfg", "--emit", "clif"]);
    assert!(clif.contains("; kernel k0"), "{clif}");
}
