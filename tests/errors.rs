//! Every class of user error (docs/cli.md, "Exit status"): the exact stderr,
//! with `FILE:LINE:COL`, the source line and a caret where the error has a
//! place, and the exit status (1 for user errors, 2 for usage errors).
//! Nothing goes to stdout.

mod common;

use common::tfg;

/// Snapshots `status` and stderr of `tfg ARGS`, which must fail with `status`.
fn check(name: &str, status: i32, args: &[&str]) {
    let run = tfg(args);
    assert_eq!(run.status, status, "tfg {args:?}:\n{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "a failed command prints nothing on stdout:\n{}",
        run.stdout
    );
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

const HELLO: &str = "examples/hello.tfg";
const INPUTS: &str = "tests/errors/inputs.tfg";

#[test]
fn bad_syntax() {
    check("bad_syntax", 1, &["run", "tests/errors/syntax.tfg"]);
}

#[test]
fn unknown_name() {
    check("unknown_name", 1, &["run", "tests/errors/unknown_name.tfg"]);
}

#[test]
fn type_mismatch() {
    check(
        "type_mismatch",
        1,
        &["run", "tests/errors/type_mismatch.tfg"],
    );
}

#[test]
fn shape_mismatch() {
    check(
        "shape_mismatch",
        1,
        &["run", "tests/errors/shape_mismatch.tfg"],
    );
}

#[test]
fn check_reports_every_error() {
    check(
        "check_reports_every_error",
        1,
        &["check", "tests/errors/several.tfg"],
    );
}

#[test]
fn missing_feed() {
    check("missing_feed", 1, &["run", INPUTS, "--feed", "a=[1, 2]"]);
}

#[test]
fn extra_feed() {
    check("extra_feed", 1, &["run", HELLO, "--feed", "z=1"]);
}

#[test]
fn param_fed_as_input() {
    check("param_fed_as_input", 1, &["run", HELLO, "--feed", "w=1"]);
}

#[test]
fn input_fed_twice() {
    check(
        "input_fed_twice",
        1,
        &["run", HELLO, "--feed", "x=1", "--feed", "x=2"],
    );
}

#[test]
fn ill_shaped_feed() {
    check("ill_shaped_feed", 1, &["run", HELLO, "--feed", "x=[1, 2]"]);
}

#[test]
fn ill_shaped_npy_feed() {
    check(
        "ill_shaped_npy_feed",
        1,
        &[
            "run",
            INPUTS,
            "--feed",
            "a=tests/fixtures/a_f32_v1.npy",
            "--feed",
            "b=[1]",
        ],
    );
}

#[test]
fn feeds_disagree_on_a_dim() {
    check(
        "feeds_disagree_on_a_dim",
        1,
        &["run", INPUTS, "--feed", "a=[1, 2]", "--feed", "b=[1, 2, 3]"],
    );
}

#[test]
fn mistyped_feed() {
    check(
        "mistyped_feed",
        1,
        &[
            "run", INPUTS, "--feed", "a=[1]", "--feed", "b=[2]", "--feed", "n=1.5",
        ],
    );
}

#[test]
fn mistyped_npy_feed() {
    check(
        "mistyped_npy_feed",
        1,
        &[
            "run",
            INPUTS,
            "--feed",
            "a=tests/fixtures/n_i32.npy",
            "--feed",
            "b=[1, 2, 3]",
        ],
    );
}

#[test]
fn feed_is_not_a_literal() {
    check(
        "feed_is_not_a_literal",
        1,
        &["run", HELLO, "--feed", "x=[1,,2]"],
    );
}

#[test]
fn unreadable_npy() {
    check(
        "unreadable_npy",
        1,
        &["run", HELLO, "--feed", "x=tests/fixtures/no_such_file.npy"],
    );
}

#[test]
fn truncated_npy() {
    check(
        "truncated_npy",
        1,
        &["run", HELLO, "--feed", "x=tests/fixtures/truncated.npy"],
    );
}

#[test]
fn corrupt_npy() {
    check(
        "corrupt_npy",
        1,
        &["run", HELLO, "--feed", "x=tests/fixtures/corrupt.npy"],
    );
}

#[test]
fn not_an_npy_file() {
    check(
        "not_an_npy_file",
        1,
        &["run", HELLO, "--feed", "x=tests/fixtures/not_npy.npy"],
    );
}

#[test]
fn fortran_order_npy() {
    check(
        "fortran_order_npy",
        1,
        &["run", HELLO, "--feed", "x=tests/fixtures/fortran.npy"],
    );
}

#[test]
fn big_endian_npy() {
    check(
        "big_endian_npy",
        1,
        &["run", HELLO, "--feed", "x=tests/fixtures/big_endian.npy"],
    );
}

#[test]
fn unsupported_npy_dtype() {
    check(
        "unsupported_npy_dtype",
        1,
        &["run", HELLO, "--feed", "x=tests/fixtures/int16.npy"],
    );
}

#[test]
fn unknown_graph() {
    check(
        "unknown_graph",
        1,
        &["run", "tests/errors/two_graphs.tfg", "--graph", "third"],
    );
}

#[test]
fn several_graphs_without_graph() {
    check(
        "several_graphs_without_graph",
        1,
        &["run", "tests/errors/two_graphs.tfg"],
    );
}

#[test]
fn missing_file() {
    check("missing_file", 1, &["run", "tests/errors/no_such_file.tfg"]);
}

#[test]
fn file_is_not_utf8() {
    check("file_is_not_utf8", 1, &["check", "tests/errors/latin1.tfg"]);
}

#[test]
fn unknown_flag_is_a_usage_error() {
    check(
        "unknown_flag_is_a_usage_error",
        2,
        &["run", HELLO, "--bogus"],
    );
}

#[test]
fn malformed_feed_is_a_usage_error() {
    check(
        "malformed_feed_is_a_usage_error",
        2,
        &["run", HELLO, "--feed", "x"],
    );
}

/// Not a snapshot: clap lists the passes, and the pipeline grows.
#[test]
fn unknown_pass_is_a_usage_error() {
    let run = tfg(&["run", HELLO, "--dump-after", "no_such_pass"]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr
            .starts_with("error: invalid value 'no_such_pass' for '--dump-after"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("dce"),
        "lists the passes: {}",
        run.stderr
    );
}
