//! Data-parallel training under a real `mpirun` (docs/distributed.md):
//! N ranks with the same seed and batch end where one process ends, rank 0
//! alone reports, a batch the ranks cannot share is refused before
//! training, and a rank that dies takes the others down with a message
//! naming it.
//!
//! Open MPI's `mpirun` runs the built binary; as root it needs
//! `--allow-run-as-root`, and `--oversubscribe` lets 2 or 3 ranks share
//! fewer cores. Without `mpirun` the tests are skipped, unless
//! `TFG_REQUIRE_MPI` is set (as `scripts/test` sets it).

mod common;

use common::{json, scratch, skip};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `mpirun`, or `None` after saying the tests are skipped.
fn mpirun() -> Option<&'static str> {
    let found = Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(
            "TFG_REQUIRE_MPI",
            "mpirun (Open MPI; scripts/test installs it)",
        );
    }
    found.then_some("mpirun")
}

/// The `mpirun` command for `ranks` ranks of `tfg ARGS`, in `dir`.
fn launch(mpirun: &str, ranks: usize, mca: &[&str], dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(mpirun);
    cmd.args(["--allow-run-as-root", "--oversubscribe", "-np"])
        .arg(ranks.to_string())
        .args(mca)
        .arg(env!("CARGO_BIN_EXE_tfg"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("mpirun runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// One process, no MPI: the reference.
fn alone(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tfg"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("tfg runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tfg {args:?} failed:\n{stderr}");
    json(&String::from_utf8_lossy(&out.stdout))
}

/// A deterministic data set: 64 rows of x in [-1, 1)³ and a smooth y.
fn write_data(dir: &Path) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut x = Vec::new();
    for _ in 0..64 * 3 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x.push(((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0);
    }
    let y: Vec<f32> = x
        .chunks(3)
        .map(|r| (1.5 * r[0] - r[1]).sin() + 0.5 * r[2] * r[2])
        .collect();
    let tensor = |shape: Vec<usize>, v: Vec<f32>| {
        tfg_ir::Tensor::new(shape, tfg_ir::Data::F32(v)).expect("fits")
    };
    tfg_formats::npy::write(&dir.join("x.npy"), &tensor(vec![64, 3], x)).expect("writes x");
    tfg_formats::npy::write(&dir.join("y.npy"), &tensor(vec![64, 1], y)).expect("writes y");
}

/// A scratch directory with the regression graph, its data, and a train
/// item with `optimizer` and `batch`.
fn model(test: &str, optimizer: &str, batch: usize) -> PathBuf {
    let dir = scratch(test);
    write_data(&dir);
    let graph = include_str!("distributed/regression.tfg");
    let train = format!(
        "\ntrain regression {{\n    minimize loss\n    optimizer {optimizer}\n    steps 24\n    batch {batch}\n    log loss\n}}\n"
    );
    std::fs::write(dir.join("model.tfg"), graph.to_string() + &train).expect("writes model");
    dir
}

fn floats(t: &Value) -> Vec<f64> {
    t["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}

/// Every param of `got` within 1e-5 relative (to the param's largest
/// element) of `want`'s.
fn assert_same_params(got: &Value, want: &Value, what: &str) {
    let want = want["params"].as_object().expect("params");
    assert_eq!(got["params"].as_object().expect("params").len(), want.len());
    for (name, w) in want {
        let (g, w) = (floats(&got["params"][name]), floats(w));
        assert_eq!(g.len(), w.len(), "{what}: {name}");
        let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in g.iter().zip(&w).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * scale,
                "{what}: {name}[{i}] is {a} on 2 ranks, {b} in one process"
            );
        }
    }
}

#[test]
fn two_ranks_train_as_one_process_does() {
    let Some(mpirun) = mpirun() else { return };
    let optimizers = [
        ("sgd", "sgd(lr = 0.1)"),
        ("momentum", "momentum(lr = 0.05, beta = 0.9)"),
        ("adam", "adam(lr = 0.01)"),
        ("rmsprop", "rmsprop(lr = 0.01)"),
    ];
    for (name, optimizer) in optimizers {
        let dir = model(&format!("distributed-{name}"), optimizer, 16);
        let args = ["train", "model.tfg", "--json", "--seed", "3"];
        let want = alone(&dir, &args);
        let (status, stdout, stderr) = run(&mut launch(mpirun, 2, &[], &dir, &args));
        assert_eq!(status, 0, "{name} on 2 ranks failed:\n{stderr}");
        let got = json(&stdout);
        assert_eq!(
            got["ranks"], 2,
            "{name}: the report says how many ranks trained"
        );
        assert_eq!(got["steps"], 24);
        let (l, w) = (got["final_loss"].as_f64(), want["final_loss"].as_f64());
        let (l, w) = (l.expect("a loss"), w.expect("a loss"));
        assert!(
            (l - w).abs() <= 1e-5 * w.abs(),
            "{name}: final loss {l} vs {w}"
        );
        assert_same_params(&got, &want, name);
        // Training did something: the params moved from their initial values.
        let start = alone(
            &dir,
            &[
                "train",
                "model.tfg",
                "--json",
                "--seed",
                "3",
                "--steps",
                "1",
            ],
        );
        assert_ne!(
            got["params"]["w1"], start["params"]["w1"],
            "{name}: trained"
        );
    }
}

/// Where a GPU is, 2 ranks on `--backend cuda` (each on GPU local-rank mod
/// count; the gradients averaged on the host through MPI) equal one process
/// on the GPU. Without one, the test says it was skipped.
#[cfg(feature = "llvm")]
#[test]
fn two_ranks_on_gpus_train_as_one_process_does() {
    let Some(mpirun) = mpirun() else { return };
    if !common::gpu_at_hand("two_ranks_on_gpus_train_as_one_process_does") {
        return;
    }
    let dir = model("distributed-cuda", "adam(lr = 0.01)", 16);
    let args = ["train", "model.tfg", "--json", "--backend", "cuda"];
    let want = alone(&dir, &args);
    let (status, stdout, stderr) = run(&mut launch(mpirun, 2, &[], &dir, &args));
    assert_eq!(status, 0, "2 ranks on cuda failed:\n{stderr}");
    let got = json(&stdout);
    assert_eq!(got["ranks"], 2);
    assert_same_params(&got, &want, "cuda");
}

#[test]
fn ranks_reduce_over_tcp_too() {
    let Some(mpirun) = mpirun() else { return };
    let dir = model("distributed-tcp", "adam(lr = 0.01)", 32);
    let args = ["train", "model.tfg", "--json"];
    let want = alone(&dir, &args);
    let tcp = [
        "--mca",
        "btl",
        "tcp,self",
        "--mca",
        "btl_tcp_if_include",
        "lo",
    ];
    let (status, stdout, stderr) = run(&mut launch(mpirun, 2, &tcp, &dir, &args));
    assert_eq!(status, 0, "2 ranks over TCP failed:\n{stderr}");
    assert_same_params(&json(&stdout), &want, "tcp");
}

#[test]
fn rank_zero_alone_prints_and_writes() {
    let Some(mpirun) = mpirun() else { return };
    let dir = model("distributed-rank-zero", "sgd(lr = 0.1)", 16);
    let args = [
        "train",
        "model.tfg",
        "--save",
        "trained.safetensors",
        "--logdir",
        "logs",
        "--out",
        "out",
    ];
    let (status, stdout, stderr) = run(&mut launch(mpirun, 2, &[], &dir, &args));
    assert_eq!(status, 0, "failed:\n{stderr}");
    assert_eq!(
        stdout.matches("final_loss").count(),
        1,
        "one report:\n{stdout}"
    );
    assert_eq!(
        stderr.matches("step 24/24").count(),
        1,
        "one progress:\n{stderr}"
    );
    assert!(
        stderr.contains("2 ranks; each step all-reduced"),
        "{stderr}"
    );
    assert_eq!(
        common::entries(&dir.join("logs")).len(),
        1,
        "one event file"
    );
    assert_eq!(common::entries(&dir.join("out")), ["loss.npy"]);
    let saved = tfg_formats::safetensors::read(&dir.join("trained.safetensors"));
    assert!(
        saved.is_ok(),
        "the checkpoint reads back: {:?}",
        saved.err()
    );

    // One rank under mpirun trains alone, and says so.
    let (status, stdout, stderr) = run(&mut launch(
        mpirun,
        1,
        &[],
        &dir,
        &["train", "model.tfg", "--json"],
    ));
    assert_eq!(status, 0, "failed:\n{stderr}");
    assert_eq!(json(&stdout)["ranks"], 1);
}

#[test]
fn a_batch_the_ranks_cannot_share_is_refused_before_training() {
    let Some(mpirun) = mpirun() else { return };
    let dir = model("distributed-uneven", "sgd(lr = 0.1)", 16);
    let (status, stdout, stderr) = run(&mut launch(
        mpirun,
        3,
        &[],
        &dir,
        &["train", "model.tfg", "--save", "never.safetensors"],
    ));
    assert_ne!(status, 0);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("error: cannot cut the inputs into batches: batch 16 cannot be shared equally by 3 ranks"),
        "{stderr}"
    );
    assert!(
        stderr.contains("model.tfg:"),
        "the train item's place: {stderr}"
    );
    assert_eq!(
        stderr.matches("cannot be shared").count(),
        1,
        "said once:\n{stderr}"
    );
    assert!(!stderr.contains("step 1/"), "nothing trained:\n{stderr}");
    assert!(!dir.join("never.safetensors").exists());
}

#[test]
fn ranks_that_start_from_different_params_are_refused_before_training() {
    let Some(mpirun) = mpirun() else { return };
    let dir = model("distributed-seeds", "sgd(lr = 0.1)", 16);
    // One rank a seed (Open MPI's MPMD form: `-np 1 A : -np 1 B`).
    let tfg = env!("CARGO_BIN_EXE_tfg");
    let rank = |seed: &'static str| ["-np", "1", tfg, "train", "model.tfg", "--seed", seed];
    let mut cmd = Command::new(mpirun);
    cmd.args(["--allow-run-as-root", "--oversubscribe"])
        .args(rank("1"))
        .arg(":")
        .args(rank("2"))
        .current_dir(&dir);
    let (status, stdout, stderr) = run(&mut cmd);
    assert_ne!(status, 0);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("rank 1 of 2: this rank's initial params differ from rank 0's"),
        "{stderr}"
    );
    assert!(stderr.contains("rank 1 of 2 failed"), "{stderr}");
    assert!(!stderr.contains("step 1/"), "nothing trained:\n{stderr}");
}

#[test]
fn a_rank_that_fails_alone_before_training_says_so_and_every_rank_stops() {
    let Some(mpirun) = mpirun() else { return };
    let dir = model("distributed-one-rank-fails", "sgd(lr = 0.1)", 16);
    // MPMD: rank 0 is fed x.npy, rank 1 a file its machine lacks.
    let tfg = env!("CARGO_BIN_EXE_tfg");
    let rank = |x: &str| {
        vec![
            "-np".to_string(),
            "1".into(),
            tfg.into(),
            "train".into(),
            "model.tfg".into(),
            "--feed".into(),
            format!("x={x}"),
            "--save".into(),
            "never.safetensors".into(),
        ]
    };
    let mut args = vec!["--allow-run-as-root".to_string(), "--oversubscribe".into()];
    args.extend(rank("x.npy"));
    args.push(":".into());
    args.extend(rank("missing.npy"));
    let (status, stdout, stderr) = run(Command::new(mpirun).args(&args).current_dir(&dir));
    assert_ne!(status, 0, "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("error: rank 1 of 2: ") && stderr.contains("missing.npy"),
        "rank 1 names itself and its trouble:\n{stderr}"
    );
    assert!(
        stderr.contains("error: rank 1 of 2 failed (see its message); every rank stops"),
        "rank 0 names the failed rank:\n{stderr}"
    );
    assert!(!stderr.contains("step 1/"), "nothing trained:\n{stderr}");
    assert!(!dir.join("never.safetensors").exists());
}

#[test]
fn a_failure_on_rank_zero_after_training_fails_every_rank_and_saves_nothing() {
    let Some(mpirun) = mpirun() else { return };
    let dir = model("distributed-late-failure", "sgd(lr = 0.1)", 16);
    // `--out` names a regular file, so rank 0 cannot write its outputs there.
    std::fs::write(dir.join("taken"), "a file").expect("writes");
    let (status, _, stderr) = run(&mut launch(
        mpirun,
        2,
        &[],
        &dir,
        &[
            "train",
            "model.tfg",
            "--save",
            "trained.safetensors",
            "--out",
            "taken",
        ],
    ));
    assert_ne!(status, 0, "{stderr}");
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(!dir.join("trained.safetensors").exists(), "no checkpoint");
}

#[test]
fn a_killed_rank_stops_every_rank_with_a_message_naming_it() {
    let Some(mpirun) = mpirun() else { return };
    let dir = model("distributed-killed", "sgd(lr = 0.01)", 16);
    let mut child = launch(
        mpirun,
        2,
        &[],
        &dir,
        &[
            "train",
            "model.tfg",
            "--steps",
            "100000000",
            "--save",
            "never.safetensors",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("mpirun starts");
    // Training has started when rank 0 reports its first step.
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut text = String::new();
    let mut line = String::new();
    while !line.starts_with("step 1/") {
        line.clear();
        let read = stderr.read_line(&mut line).expect("reads stderr");
        assert!(read > 0, "mpirun ended before training:\n{text}");
        text += &line;
    }
    let rank1 = rank_pid(child.id(), 1).expect("rank 1 runs");
    Command::new("kill")
        .args(["-9", &rank1.to_string()])
        .status()
        .expect("kill runs");
    let killed = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        rest
    });
    // A bound for a hang, not a timing: mpirun reacts within a second.
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if killed.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the other rank still runs a minute after rank 1 was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    text += &reader.join().expect("reader");
    assert!(!status.success());
    assert!(text.contains("rank 1"), "the message names rank 1:\n{text}");
    assert!(rank_pid(child.id(), 0).is_none(), "rank 0 is gone too");
    assert!(!dir.join("never.safetensors").exists());
}

/// The process of rank `rank` among the descendants of `parent`, read
/// from the environment Open MPI gives each rank.
fn rank_pid(parent: u32, rank: usize) -> Option<u32> {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    let mut frontier = vec![parent];
    while let Some(p) = frontier.pop() {
        let children =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            let env = std::fs::read(format!("/proc/{child}/environ")).unwrap_or_default();
            if env.split(|&b| b == 0).any(|v| v == want.as_bytes()) {
                return Some(child);
            }
            frontier.push(child);
        }
    }
    None
}
