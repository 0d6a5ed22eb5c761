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
