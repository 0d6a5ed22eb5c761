//! Adversarial inputs and file system states (issue 13): whatever a hostile
//! user feeds it, `tfg` exits 0, 1 or 2, never panics, aborts or hangs, never
//! writes outside its targets, and a command's outputs appear whole and
//! together or not at all (docs/reliability.md). One test per defect class.

mod common;

use common::{entries, scratch, tfg};
use std::path::Path;

const HELLO: &str = "examples/hello.tfg";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Exit 1 with `error: …` that contains `what`.
fn refused(run: &common::Run, what: &str) {
    assert_eq!(run.status, 1, "stderr:\n{}", run.stderr);
    assert!(run.stderr.contains("error: "), "{}", run.stderr);
    assert!(
        run.stderr.contains(what),
        "wanted {what:?} in:\n{}",
        run.stderr
    );
}

/// Class 1: a symlink is written through (it stays a link and its target is
/// replaced); a target that is not a regular file is refused.
#[cfg(unix)]
#[test]
fn writers_write_through_symlinks_and_refuse_what_is_not_a_regular_file() {
    use std::os::unix::fs::symlink;
    let dir = scratch("writers_write_through_symlinks");
    std::fs::create_dir(dir.join("real")).expect("mkdir");
    let link_to = |name: &str| {
        let link = dir.join(format!("link-{name}"));
        std::fs::write(dir.join("real").join(name), "old").expect("write");
        symlink(Path::new("real").join(name), &link).expect("symlink");
        link
    };
    let is_link = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    let (ckpt, object, picture, ir) = (
        link_to("c.safetensors"),
        link_to("m.o"),
        link_to("g.dot"),
        link_to("g.tfir"),
    );
    let runs = [
        tfg(&["train", HELLO, "--steps", "2", "--save", s(&ckpt)]),
        tfg(&["compile", HELLO, "--target", "cpu", "-o", s(&object)]),
        tfg(&["graph", HELLO, "-o", s(&picture)]),
        tfg(&["opt", HELLO, "--passes", "dce", "-o", s(&ir)]),
    ];
    for (run, link) in runs.iter().zip([&ckpt, &object, &picture, &ir]) {
        assert_eq!(run.status, 0, "{}: {}", link.display(), run.stderr);
        assert!(is_link(link), "{} is still a link", link.display());
        let name = link.file_name().and_then(|n| n.to_str()).expect("name");
        let target = dir.join("real").join(&name["link-".len()..]);
        assert_ne!(std::fs::read(&target).expect("target"), b"old");
    }
    assert_eq!(
        entries(&dir.join("real")),
        ["c.safetensors", "g.dot", "g.tfir", "m.o"]
    );

    // A directory, a FIFO and a device, directly or through a link: refused.
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs")
        .success());
    symlink("/dev/null", dir.join("null.link")).expect("symlink");
    for target in [dir.join("real"), fifo, dir.join("null.link")] {
        let run = tfg(&["train", HELLO, "--steps", "2", "--save", s(&target)]);
        refused(&run, "is not a regular file");
        let run = tfg(&["compile", HELLO, "--target", "cpu", "-o", s(&target)]);
        refused(&run, "is not a regular file");
    }
    assert!(is_link(&dir.join("null.link")));
}

/// Class 2: a name from a Graph IR file becomes a file name only if it is a
/// plain file name.
#[test]
fn names_from_an_ir_file_never_become_paths_outside_the_directory() {
    let dir = scratch("names_from_an_ir_file");
    let ir = dir.join("bad.tfir");
    std::fs::write(
        &ir,
        "graph \"../escaped\" {\n  %x = input {default = 1.0} : f32\n  %y = mul %x, %x : f32\n  output \"../x\" = %y, \"/tmp/abs\" = %x\n}\n",
    )
    .expect("write");
    let out = dir.join("out");
    refused(
        &tfg(&["run", s(&ir), "--out", s(&out)]),
        "`../x` cannot be used as a file name",
    );
    let dumps = dir.join("dumps");
    refused(
        &tfg(&["dump", s(&ir), "--dump-dir", s(&dumps)]),
        "`../escaped` cannot be used as a file name",
    );
    assert_eq!(entries(&dir), ["bad.tfir"], "nothing written anywhere");
}

/// Class 8: `compile`'s object and header appear together or not at all,
/// and two outputs naming one file are refused.
#[test]
fn compile_outputs_appear_together_or_not_at_all() {
    let dir = scratch("compile_outputs_appear_together");
    let object = dir.join("m.o");
    let run = tfg(&[
        "compile",
        HELLO,
        "--target",
        "cpu",
        "-o",
        s(&object),
        "--header",
        s(&dir.join("missing/m.h")),
    ]);
    refused(&run, "missing/m.h");
    assert_eq!(
        entries(&dir),
        Vec::<String>::new(),
        "no object without its header"
    );

    let run = tfg(&[
        "compile",
        HELLO,
        "--target",
        "cpu",
        "-o",
        s(&object),
        "--header",
        s(&dir.join(".").join("m.o")),
    ]);
    refused(&run, "another output of the same command");
    assert_eq!(entries(&dir), Vec::<String>::new());
}

/// Class 8: a PTX module's three files are replaced together or not at all.
#[cfg(feature = "llvm")]
#[test]
fn a_ptx_module_is_replaced_whole_or_not_at_all() {
    let dir = scratch("a_ptx_module_is_replaced_whole");
    let module = dir.join("module");
    let compile = || tfg(&["compile", HELLO, "--target", "ptx", "-o", s(&module)]);
    assert_eq!(compile().status, 0);
    let before: Vec<_> = ["manifest.json", "params.safetensors"]
        .map(|f| std::fs::read(module.join(f)).expect("written"))
        .into();
    // The PTX cannot be written: nothing of the module changes.
    std::fs::remove_file(module.join("program.ptx")).expect("rm");
    std::fs::create_dir(module.join("program.ptx")).expect("mkdir");
    refused(&compile(), "program.ptx");
    let after: Vec<_> = ["manifest.json", "params.safetensors"]
        .map(|f| std::fs::read(module.join(f)).expect("kept"))
        .into();
    assert_eq!(before, after);
    assert_eq!(
        entries(&module),
        ["manifest.json", "params.safetensors", "program.ptx"]
    );
}

/// Class 9: `run --out DIR` writes every output or none.
#[test]
fn run_out_writes_every_output_or_none() {
    let dir = scratch("run_out_writes_every_output_or_none");
    let out = dir.join("out");
    // `loss.npy` cannot be written; `y.npy`, first, must not appear either.
    std::fs::create_dir_all(out.join("loss.npy")).expect("mkdir");
    refused(
        &tfg(&["run", HELLO, "--out", s(&out)]),
        "is not a regular file",
    );
    assert_eq!(entries(&out), ["loss.npy"]);
    // A directory the run would have created is not left behind.
    let fresh = dir.join("fresh");
    let ir = dir.join("g.tfir");
    std::fs::write(
        &ir,
        "graph g {\n  %x = input {default = 1.0} : f32\n  output a = %x, \"b/c\" = %x\n}\n",
    )
    .expect("write");
    refused(&tfg(&["run", s(&ir), "--out", s(&fresh)]), "`b/c`");
    assert!(!fresh.exists());
}

/// Class 10: `--save` is checked before training, not after.
#[test]
fn train_checks_its_save_target_before_training() {
    let dir = scratch("train_checks_its_save_target");
    let run = tfg(&[
        "train",
        HELLO,
        "--steps",
        "1000000000",
        "--save",
        s(&dir.join("missing/ckpt.safetensors")),
    ]);
    refused(&run, "missing/ckpt.safetensors");
    assert!(!run.stderr.contains("step "), "no training: {}", run.stderr);
}

/// Class 11: the temporary a killed writer left is swept by the next write
/// to the same target, and only that target's.
#[test]
fn the_next_save_sweeps_what_a_killed_save_left() {
    let dir = scratch("the_next_save_sweeps");
    let ckpt = dir.join("ckpt.safetensors");
    // What `train --save` killed between writing and renaming leaves behind.
    std::fs::write(dir.join(".ckpt.safetensors.tfg-4194305-0.tmp"), "half").expect("write");
    std::fs::write(dir.join(".other.tfg-4194305-0.tmp"), "half").expect("write");
    let run = tfg(&["train", HELLO, "--steps", "2", "--save", s(&ckpt)]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        entries(&dir),
        [".other.tfg-4194305-0.tmp", "ckpt.safetensors"]
    );
}

/// Runs `tfg ARGS` with `stdin` fed to it and its address space capped at
/// 8 GB, so that a regression shows as a failed allocation, not a machine
/// out of memory.
fn tfg_capped(args: &[&str], stdin: &[u8]) -> common::Run {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 8000000; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_tfg"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    let mut input = child.stdin.take().expect("piped");
    let bytes = stdin.to_vec();
    let feeder = std::thread::spawn(move || input.write_all(&bytes));
    let out = child.wait_with_output().expect("tfg runs");
    let _ = feeder.join();
    common::Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Class 3: a scalar default filling a huge shape costs nothing until the
/// input is fed, and then it is refused for memory, not an abort.
#[test]
fn a_huge_scalar_default_is_checked_not_materialised() {
    let dir = scratch("a_huge_scalar_default");
    let file = dir.join("huge.tfg");
    std::fs::write(
        &file,
        "graph g {\n    input x: f32[1000000000000] = 0\n    output y = sum(x)\n}\n",
    )
    .expect("write");
    let run = tfg_capped(&["check", s(&file)], b"");
    assert_eq!(run.status, 0, "{}", run.stderr);
    for backend in ["cpu", "interp"] {
        let run = tfg_capped(&["run", s(&file), "--backend", backend], b"");
        refused(&run, "needs more memory than this machine has");
    }
    let object = dir.join("m.o");
    let run = tfg_capped(
        &["compile", s(&file), "--target", "cpu", "-o", s(&object)],
        b"",
    );
    refused(&run, "needs more memory than this machine has");
    let run = tfg_capped(&["repl", s(&file)], b"y\n");
    refused(&run, "needs more memory than this machine has");
    // A small fill still works, as before.
    let small = dir.join("small.tfg");
    std::fs::write(&small, "graph g { input x: i32[3] = 7; output y = x * 2 }").expect("write");
    let run = tfg(&["run", s(&small)]);
    assert_eq!(run.stdout, "y = [14 14 14] : i32[3]\n", "{}", run.stderr);
}

/// Class 4: element counts that overflow 64 bits are errors at the type
/// that overflows, for declared types and for the results of ops.
#[test]
fn element_counts_that_overflow_are_errors() {
    let dir = scratch("element_counts_that_overflow");
    for (name, src, col) in [
        (
            "wrap.tfg",
            "graph g {\n    input x: f32[4294967296, 4294967296] = 1.0\n    output y = sum(x)\n}\n",
            "2:14",
        ),
        (
            "max.tfg",
            "graph g {\n    input x: f32[18446744073709551615]\n    output y = sum(x)\n}\n",
            "2:14",
        ),
        (
            "op.tfg",
            "graph g {\n    input x: f32 = 1.0\n    output y = sum(broadcast_to(x, [4294967296, 4294967296]))\n}\n",
            "3:",
        ),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, src).expect("write");
        for command in ["check", "run"] {
            let run = tfg_capped(&[command, s(&file)], b"");
            refused(&run, "is too large");
            assert!(run.stderr.contains(&format!("{name}:{col}")), "{}", run.stderr);
        }
    }
}

/// Class 5: values that each fit in memory but are alive together do not
/// are refused before anything is allocated.
#[test]
fn values_alive_together_are_checked_against_memory() {
    let Some(total) = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_string();
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    }) else {
        eprintln!("skipped: no /proc/meminfo");
        return;
    };
    // Each value 60% of memory; three of them alive at the end.
    let n = total * 1024 / 10 * 6 / 4;
    let dir = scratch("values_alive_together");
    let file = dir.join("peak.tfg");
    std::fs::write(
        &file,
        format!("graph g {{\n    param a: f32[{n}] = zeros\n    b = a + 1.0\n    c = a * 2.0\n    output b, c\n}}\n"),
    )
    .expect("write");
    for backend in ["cpu", "interp"] {
        let run = tfg_capped(&["run", s(&file), "--backend", backend], b"");
        refused(&run, "alive at the same time");
    }
}

/// Class 6: a diagnostic far into a long line renders.
#[test]
fn a_diagnostic_far_into_a_line_renders() {
    let dir = scratch("a_diagnostic_far_into_a_line");
    let file = dir.join("wide.tfg");
    let pad = " ".repeat(70_000);
    std::fs::write(
        &file,
        format!("graph g {{ input x: f32{pad}; output y = x * zz }}\n"),
    )
    .expect("write");
    let run = tfg(&["check", s(&file)]);
    refused(&run, "unknown name `zz`");
    assert!(
        run.stderr.contains("wide.tfg:1:70040"),
        "{}",
        &run.stderr[..300]
    );
}

/// Class 12: a line of stdin that is not UTF-8 is an error for that line;
/// the session goes on. And `:save` saves the params of a graph with
/// symbolic dims.
#[test]
fn the_repl_survives_a_bad_line_and_saves_graphs_with_symbolic_dims() {
    let run = tfg_capped(&["repl"], b"x = 1.0\n\xff\xfe\ny = x * 2\ny\n");
    assert_eq!(run.status, 1, "one line failed");
    assert!(
        run.stderr.contains("line 2 of stdin is not valid UTF-8"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("y = 2.0 : f32"), "{}", run.stdout);

    let dir = scratch("the_repl_saves_graphs_with_symbolic_dims");
    let ckpt = dir.join("lr.safetensors");
    let script = format!(":load examples/linear_regression.tfg\n:save {}\n", s(&ckpt));
    let run = tfg_capped(&["repl"], script.as_bytes());
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.contains("saved 2 params"), "{}", run.stdout);
    assert!(ckpt.is_file());
}

/// "did you mean" follows one rule everywhere: names in scope, functions
/// and initialisers.
#[test]
fn suggestions_follow_one_rule() {
    let dir = scratch("suggestions_follow_one_rule");
    for (src, wanted) in [
        (
            "graph g { param w: f32 = 1.0; output y = ww * 2.0 }",
            "did you mean `w`?",
        ),
        (
            "graph g { param w: f32[2] = zeroes; output y = w }",
            "did you mean `zeros`?",
        ),
        (
            "graph g { input x: f32; loss = x * x; output y = los }",
            "did you mean `loss`?",
        ),
        (
            "graph g { input x: f32; output y = sqtr(x) }",
            "did you mean `sqrt`?",
        ),
    ] {
        let file = dir.join("s.tfg");
        std::fs::write(&file, src).expect("write");
        refused(&tfg(&["check", s(&file)]), wanted);
    }
}

/// An architecture LLVM does not know is refused before LLVM sees it,
/// naming those it does.
#[test]
fn unsupported_gpu_architectures_are_refused_before_llvm() {
    let dir = scratch("unsupported_gpu_architectures");
    for sm in ["sm_100", "sm_120", "sm_52", "sm_"] {
        let run = tfg(&[
            "compile",
            HELLO,
            "--target",
            "ptx",
            "--sm",
            sm,
            "-o",
            s(&dir.join("m")),
        ]);
        refused(&run, &format!("unknown GPU architecture `{sm}`"));
        assert!(run.stderr.contains("sm_80, sm_86"), "{}", run.stderr);
        assert!(
            !run.stderr.contains("not a recognized processor"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(entries(&dir), Vec::<String>::new());
}

/// Class 7: fns that call each other twice per level would inline 2^40
/// copies; the inlined size is bounded, with an error at the call.
#[test]
fn exponential_inlining_is_bounded() {
    let dir = scratch("exponential_inlining_is_bounded");
    let file = dir.join("bomb.tfg");
    let mut src = String::from("fn f0(x) = x * 1.5\n");
    for i in 1..=40 {
        src += &format!("fn f{i}(x) = f{}(x) + f{}(x)\n", i - 1, i - 1);
    }
    src += "graph g {\n    input x: f32 = 1.0\n    output y = f40(x)\n}\n";
    std::fs::write(&file, src).expect("write");
    let started = std::time::Instant::now();
    let run = tfg(&["check", s(&file)]);
    refused(&run, "graph `g` is too large");
    assert!(run.stderr.contains("bomb.tfg:44:16"), "{}", run.stderr);
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
}

/// Class 7: checking is linear in the number of statements.
#[test]
fn checking_twenty_thousand_statements_is_quick() {
    let dir = scratch("checking_twenty_thousand_statements");
    let file = dir.join("chain.tfg");
    let mut src = String::from("graph g {\n    input x: f32 = 1.0\n    v0 = x + 1.0\n");
    for i in 1..20_000 {
        src += &format!("    v{i} = v{} * 1.0001\n", i - 1);
    }
    src += "    output y = v19999\n}\n";
    std::fs::write(&file, src).expect("write");
    let started = std::time::Instant::now();
    let run = tfg(&["check", s(&file)]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    // Quadratic, it took 38 s in a debug build; linear, well under 1 s.
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

/// Class 7: compiling and running a 20,000-op chain is linear work (it took
/// over a minute: extraction in simplify and the Kernel IR inline pass were
/// quadratic, and typing a 20,000-deep expression in the code generator).
#[test]
fn running_a_twenty_thousand_op_chain_is_quick() {
    let dir = scratch("running_a_twenty_thousand_op_chain");
    let file = dir.join("chain.tfg");
    let mut src = String::from("graph g {\n    input x: f32 = 1.0\n    v0 = x + 1.0\n");
    for i in 1..20_000 {
        src += &format!("    v{i} = v{} * 1.0001\n", i - 1);
    }
    src += "    output y = v19999\n}\n";
    std::fs::write(&file, src).expect("write");
    let started = std::time::Instant::now();
    let cpu = tfg(&["run", s(&file), "--json"]);
    assert_eq!(cpu.status, 0, "{}", cpu.stderr);
    assert!(started.elapsed().as_secs() < 120, "{:?}", started.elapsed());
    let interp = tfg(&["run", s(&file), "--json", "--backend", "interp"]);
    let value = |r: &common::Run| common::json(&r.stdout)["outputs"]["y"]["data"][0].as_f64();
    let (a, b) = (value(&cpu).expect("cpu"), value(&interp).expect("interp"));
    assert!((a - b).abs() <= 1e-4 * b.abs(), "{a} vs {b}");
}

/// `-o -` is stdout for the text outputs (`compile --emit`, `opt`), as
/// compilers take it, not a file named `-`.
#[test]
fn dash_is_stdout_for_text_outputs() {
    let dir = scratch("dash_is_stdout");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_tfg"))
        .args(["compile", "--emit", "clif", "-o", "-"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(HELLO))
        .current_dir(&dir)
        .output()
        .expect("tfg runs");
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stdout).contains("function"));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_tfg"))
        .args(["opt", "--passes", "dce", "-o", "-"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(HELLO))
        .current_dir(&dir)
        .output()
        .expect("tfg runs");
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("graph hello"));
    assert_eq!(entries(&dir), Vec::<String>::new(), "no file named `-`");
}

/// Class 8: `train --save` and `--out` appear together or not at all.
#[test]
fn train_save_and_out_appear_together() {
    let dir = scratch("train_save_and_out_appear_together");
    let ckpt = dir.join("ckpt.safetensors");
    let out = dir.join("out");
    std::fs::create_dir_all(out.join("loss.npy")).expect("mkdir");
    let run = tfg(&[
        "train",
        HELLO,
        "--steps",
        "2",
        "--save",
        s(&ckpt),
        "--out",
        s(&out),
    ]);
    refused(&run, "is not a regular file");
    assert!(!ckpt.exists(), "no checkpoint without the outputs");
    assert_eq!(entries(&out), ["loss.npy"]);
    std::fs::remove_dir(out.join("loss.npy")).expect("rmdir");
    let run = tfg(&[
        "train",
        HELLO,
        "--steps",
        "2",
        "--save",
        s(&ckpt),
        "--out",
        s(&out),
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(ckpt.is_file());
    assert_eq!(entries(&out), ["loss.npy", "y.npy"]);
}
