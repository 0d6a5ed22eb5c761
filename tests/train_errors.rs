//! User errors of `tfg train` and of file defaults (docs/cli.md, "Exit
//! status"): the exact stderr, with the place in the file where there is one,
//! and exit status 1.

mod common;

use common::tfg;

/// Snapshots stderr of `tfg ARGS`, which must fail with status 1 and print nothing on stdout.
fn check(name: &str, args: &[&str]) {
    let run = tfg(args);
    assert_eq!(run.status, 1, "tfg {args:?}:\n{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    insta::assert_snapshot!(
        name,
        format!(
            "$ tfg {}\nexit status: {}\n{}",
            args.join(" "),
            run.status,
            run.stderr
        )
    );
}

#[test]
fn graph_without_a_train_item() {
    check(
        "graph_without_a_train_item",
        &["train", "tests/train/untrained.tfg"],
    );
}

#[test]
fn graph_without_params() {
    check(
        "graph_without_params",
        &["train", "tests/train/no_params.tfg"],
    );
}

#[test]
fn batched_input_with_a_fixed_first_dim() {
    check(
        "batched_input_with_a_fixed_first_dim",
        &["train", "tests/train/fixed_rows.tfg"],
    );
}

#[test]
fn batched_inputs_of_different_lengths() {
    check(
        "batched_inputs_of_different_lengths",
        &["train", "tests/train/uneven.tfg"],
    );
}

#[test]
fn batch_larger_than_the_data() {
    check(
        "batch_larger_than_the_data",
        &[
            "train",
            "tests/train/batching.tfg",
            "--feed",
            "x=tests/train/three.npy",
            "--feed",
            "z=[1]",
        ],
    );
}

#[test]
fn missing_file_default() {
    check(
        "missing_file_default",
        &["run", "tests/train/missing_default.tfg"],
    );
}

#[test]
fn mistyped_file_default() {
    check(
        "mistyped_file_default",
        &["run", "tests/train/mistyped_default.tfg"],
    );
}
