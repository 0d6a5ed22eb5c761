//! `tfg compile`: object files and headers that C programs link and run
//! (checked against the interpreter and hand-derived values), the header's
//! text, `--emit clif`, and its errors.

mod common;

use common::{json, scratch, tfg, tfg_env, tfg_ok};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `cc`, or `None` with a visible note when the machine has none.
fn cc() -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    match Command::new(&cc).arg("--version").output() {
        Ok(o) if o.status.success() => Some(cc),
        _ => {
            common::skip(
                "TFG_REQUIRE_CC",
                &format!("a C compiler (`{cc}`; the C examples were not built)"),
            );
            None
        }
    }
}

/// Builds `libtfg_rt.a` for the profile the tests run under; its folder.
fn runtime() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_tfg"))
        .parent()
        .expect("the binary is in a folder")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "tfg-rt"]).current_dir(root());
    if dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "cargo build -p tfg-rt failed");
    dir
}

/// Compiles `file` (with `extra` arguments) as `name.o` and `header`, links
/// `examples/c/{name}.c` against it and the runtime, runs it; its stdout.
fn build_and_run(
    cc: &str,
    dir: &Path,
    file: &str,
    name: &str,
    header: &str,
    extra: &[&str],
) -> String {
    let exe = build(cc, dir, file, name, header, extra);
    let run = Command::new(&exe).output().expect("the C program runs");
    assert!(
        run.status.success(),
        "{name} failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout).expect("UTF-8 output")
}

/// Compiles `file` (with `extra` arguments) as `name.o` and `header` and
/// links `examples/c/{name}.c` against it and the runtime; the program.
fn build(cc: &str, dir: &Path, file: &str, name: &str, header: &str, extra: &[&str]) -> PathBuf {
    let obj = dir.join(format!("{name}.o"));
    let h = dir.join(header);
    let mut args = vec![
        "compile",
        file,
        "-o",
        obj.to_str().expect("UTF-8 path"),
        "--header",
        h.to_str().expect("UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    tfg_ok(&args);
    let exe = dir.join(name);
    let lib = runtime();
    let out = Command::new(cc)
        .arg("-I")
        .arg(dir)
        .arg(root().join(format!("examples/c/{name}.c")))
        .arg(&obj)
        .arg("-L")
        .arg(&lib)
        .args(["-ltfg_rt", "-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .expect("cc runs");
    assert!(
        out.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// The values printed as `NAME = VALUE`, in order.
fn printed(out: &str, name: &str) -> Vec<f64> {
    out.lines()
        .filter_map(|l| l.strip_prefix(&format!("{name} = ")))
        .map(|v| v.parse().expect("a number"))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * b.abs().max(1e-3)
}

/// Output `name` of `tfg run --backend interp --json ARGS`.
fn interp(args: &[&str], name: &str) -> f64 {
    let mut all = vec!["run", "--backend", "interp", "--json"];
    all.extend_from_slice(args);
    json(&tfg_ok(&all))["outputs"][name]["data"][0]
        .as_f64()
        .expect("a number")
}

#[test]
fn hello_runs_and_trains_from_c() {
    let Some(cc) = cc() else { return };
    let dir = scratch("compile_hello");
    let out = build_and_run(&cc, &dir, "examples/hello.tfg", "hello", "hello.h", &[]);
    let y = printed(&out, "y");
    assert_eq!(y.len(), 2, "{out}");
    assert!(close(y[0], interp(&["examples/hello.tfg"], "y")), "{out}");
    // Each sgd step on (w·1)² multiplies w by 1 - 2·0.025 = 0.95.
    assert!(close(y[1], 0.8 * 0.95f64.powi(100)), "{out}");
}

#[test]
fn a_c_program_restores_a_checkpoint_by_the_rules_of_restore() {
    let Some(cc) = cc() else { return };
    let dir = scratch("compile_hello_checkpoint");
    let exe = build(&cc, &dir, "examples/hello.tfg", "hello", "hello.h", &[]);
    let ckpt = dir.join("hello.safetensors");
    let ckpt_arg = ckpt.to_str().expect("UTF-8 path");
    tfg_ok(&[
        "train",
        "examples/hello.tfg",
        "--steps",
        "7",
        "--save",
        ckpt_arg,
    ]);
    let run = Command::new(&exe).arg(&ckpt).output().expect("runs");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let restored = interp(&["examples/hello.tfg", "--restore", ckpt_arg], "y");
    assert!(close(printed(&out, "y")[0], restored), "{out}");
    assert!(close(restored, 0.8 * 0.95f64.powi(7)), "{restored}");

    // An entry that is no param's is refused, as `tfg run --restore` refuses it.
    let w = [0.5f32];
    let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = || {
        safetensors::tensor::TensorView::new(safetensors::tensor::Dtype::F32, vec![], &bytes)
            .expect("a valid view")
    };
    let extra = dir.join("extra.safetensors");
    let entries = vec![("w", view()), ("bias", view())];
    std::fs::write(
        &extra,
        safetensors::serialize(entries, None).expect("serialises"),
    )
    .expect("writable");
    let run = Command::new(&exe).arg(&extra).output().expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("`bias` is not a param of the model"),
        "{stderr}"
    );
    let cli = tfg(&[
        "run",
        "examples/hello.tfg",
        "--restore",
        extra.to_str().expect("UTF-8"),
    ]);
    assert_eq!(cli.status, 1);
    assert!(
        cli.stderr
            .contains("has an entry `bias` that is not a param"),
        "{}",
        cli.stderr
    );
}

#[test]
fn mlp_runs_and_trains_from_c() {
    let Some(cc) = cc() else { return };
    let dir = scratch("compile_mlp");
    let dims = ["--dim", "N=4", "--dim", "T=4"];
    let out = build_and_run(
        &cc,
        &dir,
        "examples/mlp_digits.tfg",
        "mlp",
        "mlp_digits.h",
        &dims,
    );
    // The pixels and labels examples/c/mlp.c makes.
    let x: Vec<String> = (0..4)
        .map(|r| {
            let row: Vec<String> = (0..64)
                .map(|c| (((r * 64 + c) * 37 % 101) as f32 / 100.0).to_string())
                .collect();
            format!("[{}]", row.join(","))
        })
        .collect();
    let x = format!("[{}]", x.join(","));
    let labels = format!(
        "[{}]",
        (0..4)
            .map(|i| (i * 3 % 10).to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let feeds = [
        format!("x={x}"),
        format!("labels={labels}"),
        format!("x_test={x}"),
        format!("labels_test={labels}"),
    ];
    let mut args = vec!["examples/mlp_digits.tfg"];
    for f in &feeds {
        args.extend(["--feed", f.as_str()]);
    }
    let loss = printed(&out, "loss");
    let accuracy = printed(&out, "accuracy");
    assert!(close(loss[0], interp(&args, "loss")), "{out}");
    assert!(close(accuracy[0], interp(&args, "accuracy")), "{out}");
    let steps: Vec<f64> = (0..3)
        .flat_map(|i| printed(&out, &format!("step {i} loss")))
        .collect();
    assert_eq!(steps.len(), 3, "{out}");
    // A step returns the loss before its update: the forward loss first.
    assert!(close(steps[0], loss[0]), "{out}");
    assert!(
        steps[2] < steps[0],
        "adam lowers the loss on a fixed batch: {out}"
    );
}

#[test]
fn hello_header() {
    let dir = scratch("compile_header");
    let (obj, h) = (dir.join("hello.o"), dir.join("hello.h"));
    let (obj, h) = (obj.to_str().expect("UTF-8"), h.to_str().expect("UTF-8"));
    tfg_ok(&["compile", "examples/hello.tfg", "-o", obj, "--header", h]);
    insta::assert_snapshot!(std::fs::read_to_string(h).expect("the header was written"));
}

/// The header compiles as strict ISO C11, shape macros of scalars included.
#[test]
fn the_header_is_pedantic_c11() {
    let Some(cc) = cc() else { return };
    let dir = scratch("the_header_is_pedantic_c11");
    let (obj, h) = (dir.join("hello.o"), dir.join("hello.h"));
    let (obj, h) = (obj.to_str().expect("UTF-8"), h.to_str().expect("UTF-8"));
    tfg_ok(&["compile", "examples/hello.tfg", "-o", obj, "--header", h]);
    let c = dir.join("use.c");
    std::fs::write(
        &c,
        "#include \"hello.h\"\n\
         static const int64_t x_shape[] = HELLO_INPUT_X_SHAPE;\n\
         static const int64_t w_shape[] = HELLO_PARAM_W_SHAPE;\n\
         int main(void) {\n\
             return (int)(sizeof x_shape + sizeof w_shape) * HELLO_INPUT_X_RANK + HELLO_INPUT_X_SIZE - 1;\n\
         }\n",
    )
    .expect("write");
    let out = Command::new(&cc)
        .args(["-std=c11", "-pedantic", "-Werror", "-Wall", "-c", "-o"])
        .arg(dir.join("use.o"))
        .arg(&c)
        .output()
        .expect("cc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--emit llvm` lists the LLVM tier's optimised IR: one task function whose
/// loop LLVM vectorised; `TFG_CPU_TIER=llvm` makes `--emit asm` its machine
/// code, and without it `--emit asm` stays Cranelift's.
#[test]
fn the_llvm_tier_is_listed_as_ir_and_assembly() {
    let args = [
        "compile",
        "examples/elementwise.tfg",
        "--dim",
        "N=1024",
        "--emit",
    ];
    let ir = tfg_ok(&[&args[..], &["llvm"]].concat());
    assert!(ir.contains("define void @tfg_kernel0_0(ptr"), "{ir}");
    assert!(ir.contains("x float>"), "a vector loop: {ir}");
    assert!(
        ir.lines()
            .filter(|l| l.starts_with("declare"))
            .all(|l| l.contains("@llvm.")),
        "math is inline, no function but LLVM's intrinsics is called: {ir}"
    );
    let run = tfg_env(&[&args[..], &["asm"]].concat(), &[("TFG_CPU_TIER", "llvm")]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.contains("tfg_kernel0_0:"), "{}", run.stdout);
    let cranelift = tfg_env(
        &[&args[..], &["asm"]].concat(),
        &[("TFG_CPU_TIER", "cranelift")],
    );
    assert_eq!(cranelift.status, 0, "{}", cranelift.stderr);
    assert_ne!(run.stdout, cranelift.stdout);
}

#[test]
fn elementwise_clif_is_one_vector_loop() {
    let clif = tfg_ok(&[
        "compile",
        "examples/elementwise.tfg",
        "--dim",
        "N=1024",
        "--emit",
        "clif",
    ]);
    assert_eq!(clif.matches("; kernel ").count(), 1, "one kernel");
    assert_eq!(
        clif.matches("load.f32x4").count(),
        1,
        "one vector load of x"
    );
    assert_eq!(
        clif.matches("store ").count(),
        2,
        "a vector store and the tail's scalar one"
    );
    assert!(!clif.contains("call"), "math is inline");
    insta::assert_snapshot!(clif);
}

#[test]
fn unbound_dims_are_named() {
    let dir = scratch("compile_unbound");
    let obj = dir.join("m.o");
    let run = tfg(&[
        "compile",
        "examples/mlp_digits.tfg",
        "--dim",
        "N=4",
        "-o",
        obj.to_str().expect("UTF-8"),
    ]);
    assert_ne!(run.status, 0);
    assert!(
        run.stderr
            .contains("dim `T` is symbolic; bind it with --dim T=SIZE"),
        "{}",
        run.stderr
    );
    assert!(!obj.exists(), "no partial object");
}
