//! `tfg repl` with stdin not a terminal: entries are read line by line and
//! only results and errors are printed, so a session is a script. Snapshots
//! hold whole sessions; the values that matter are also checked against
//! hand-derived ones.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// What a scripted session did.
struct Session {
    status: i32,
    /// Stdout and stderr together, in the order they were written.
    output: String,
}

/// Runs `tfg repl ARGS` in the repository root with `script` on stdin.
fn repl(args: &[&str], script: &str) -> Session {
    let (mut reader, writer) = std::io::pipe().expect("a pipe");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tfg"));
    command
        .arg("repl")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(writer.try_clone().expect("a second end"))
        .stderr(writer);
    let mut child = command.spawn().expect("tfg runs");
    // The command holds the pipe's write ends until it is dropped.
    drop(command);
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let script = script.to_string();
    let feeder = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let mut output = String::new();
    reader
        .read_to_string(&mut output)
        .expect("the output is UTF-8");
    feeder
        .join()
        .expect("the feeder thread ends")
        .expect("tfg reads the whole script");
    let status = child.wait().expect("tfg ends").code().unwrap_or(-1);
    Session { status, output }
}

/// `script`, and what the session printed, with the durations masked.
fn transcript(args: &[&str], script: &str) -> String {
    let s = repl(args, script);
    let output: Vec<String> = s.output.lines().map(mask_times).collect();
    format!(
        "$ tfg {} <<EOF\n{script}EOF\nexit status: {}\n{}\n",
        ["repl"]
            .iter()
            .chain(args)
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        s.status,
        output.join("\n")
    )
}

/// `compile 1.234 ms, run 0.056 ms` → `compile [t] ms, run [t] ms`, and so
/// for `trained N steps in 0.012 s`.
fn mask_times(line: &str) -> String {
    let timed = line.starts_with("compile ") || line.starts_with("trained ");
    if !timed {
        return line.to_string();
    }
    line.split(' ')
        .map(|word| {
            let number = word.trim_end_matches(',');
            match number.contains('.') && number.parse::<f64>().is_ok() {
                true => word.replace(number, "[t]"),
                false => word.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The value printed last for `name` (`NAME = VALUE : TYPE`), as a number.
fn last_scalar(output: &str, name: &str) -> f64 {
    let prefix = format!("{name} = ");
    let line = output
        .lines()
        .rev()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no value of `{name}` in:\n{output}"));
    let value = line[prefix.len()..].split(" : ").next().unwrap_or_default();
    value
        .parse()
        .unwrap_or_else(|_| panic!("`{value}` is not a number"))
}

const HELLO_LINES: &str = "\
input x: f32 = 1.0
param w: f32 = 0.8
y = w * x
loss = (y - 0.0) ** 2
output y, loss
";

const HELLO_TRAIN: &str = "\
train hello {
    minimize loss
    optimizer sgd(lr = 0.025)
    steps 100
    log y, loss
}
";

#[test]
fn hello_line_by_line() {
    let script = format!(
        "{HELLO_LINES}y\n:ir\n:grad loss w\nz = y +\nz = w @ [1, 2]\n:time y * 2\n{HELLO_TRAIN}:train\ny\n"
    );
    insta::assert_snapshot!(transcript(&["--graph", "hello"], &script));
}

#[test]
fn training_at_the_prompt_ends_where_the_spec_says() {
    let script = format!("{HELLO_LINES}{HELLO_TRAIN}:train\ny\n");
    let s = repl(&["--graph", "hello"], &script);
    assert_eq!(s.status, 0, "{}", s.output);
    let expected = 0.8 * 0.95f64.powi(100);
    let y = last_scalar(&s.output, "y");
    assert!((y - expected).abs() < 1e-6, "y = {y}, expected {expected}");
}

#[test]
fn grad_is_the_derivative_by_hand() {
    // loss = (w x)², so dloss/dw = 2 w x² = 2 · 0.8 · 9.
    let script = "input x: f32 = 3.0\nparam w: f32 = 0.8\nloss = (w * x) ** 2\n:grad loss w\n";
    let s = repl(&[], script);
    assert_eq!(s.status, 0, "{}", s.output);
    let d = last_scalar(&s.output, "dloss/dw");
    assert!((d - 14.4).abs() < 1e-5, "dloss/dw = {d}");
}

#[test]
fn values_print_as_numpy_prints_them() {
    // [[1, 2], [3, 4]] @ itself, and its column sums, by hand.
    let script = "\
input a: f32[2, 2] = [[1, 2], [3, 4]]
a @ a
sum(_, axis = 0)
argmax(a, 1) == [1, 1]
";
    insta::assert_snapshot!(transcript(&[], script));
}

#[test]
fn inputs_without_a_default_wait_for_a_feed() {
    let script = "\
input q: f32[2]
q2 = q * 2
:feed q = [1, 2, 3]
:feed q = [1.5, -2]
q2
:feed nothing = 1
";
    insta::assert_snapshot!(transcript(&[], script));
}

#[test]
fn a_file_session_keeps_its_params_and_checkpoints_them() {
    let dir = common::scratch("repl_checkpoint");
    let ckpt = dir.join("w.safetensors");
    let ckpt = ckpt.to_str().expect("a UTF-8 path");
    let script = format!(":train\ny\n:save {ckpt}\n:reset\ny\n:restore {ckpt}\ny\n:train 1\n");
    let s = repl(&["examples/hello.tfg"], &script);
    assert_eq!(s.status, 0, "{}", s.output);
    let ys: Vec<f64> = s
        .output
        .lines()
        .filter_map(|l| l.strip_prefix("y = "))
        .map(|v| {
            v.split(" : ")
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a number")
        })
        .collect();
    let trained = 0.8 * 0.95f64.powi(100);
    assert_eq!(ys.len(), 3, "{}", s.output);
    assert!((ys[0] - trained).abs() < 1e-6, "{ys:?}");
    assert!(
        (ys[1] - 0.8).abs() < 1e-7,
        ":reset starts from the initialiser: {ys:?}"
    );
    assert_eq!(ys[2], ys[0], ":restore brings the trained param back");
    // One more step from the restored param: loss = y², before the update.
    let loss = last_scalar(&s.output, "final_loss");
    assert!((loss - trained * trained).abs() < 1e-9, "{loss}");
}

#[test]
fn file_session_errors() {
    let script = "\
y = 2 * x
t = w @ x
:grad y x2
:restore tests/fixtures/corrupt.npy
:train 0
:frobnicate
";
    insta::assert_snapshot!(transcript(&["examples/hello.tfg"], script));
}

#[test]
fn an_unknown_pass_lists_the_stages() {
    let s = repl(&["examples/hello.tfg"], ":dump nopass\n:dump dce y\n");
    assert_eq!(s.status, 1);
    let first = s.output.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: no pass named `nopass`; the stages are "),
        "{first}"
    );
    for stage in ["frontend", "autodiff", "dce", "fuse", "lower"] {
        assert!(first.contains(stage), "{first}");
    }
    assert!(
        s.output.contains("\n  %y = mul %w, %x : f32"),
        "{}",
        s.output
    );
}

#[test]
fn an_entry_goes_on_while_brackets_are_open() {
    let script = "\
m = [[1, 2],
     [3, 4]]
s = sum(m,
        axis = 1)
t = (m +

u = 1
";
    insta::assert_snapshot!(transcript(&[], script));
}

#[test]
fn a_session_without_errors_exits_with_0_and_one_with_an_error_with_1() {
    assert_eq!(
        repl(&[], "a = 1\n:quit\nb = (\n").status,
        0,
        ":quit ends the script"
    );
    assert_eq!(repl(&[], "a = 1\nb = a +\nc = 2\n").status, 1);
}

#[test]
fn the_graph_ir_and_kernels_of_the_mlp() {
    let script = "\
h = relu(x_test @ w1 + b1)
:ir h
:dump dce accuracy
:kernels accuracy
";
    let s = repl(&["examples/mlp_digits.tfg"], script);
    assert_eq!(s.status, 0, "{}", s.output);
    assert!(s.output.starts_with("h = [["), "{}", s.output);
    assert!(s.output.contains(" : f32[360, 64]\n"), "{}", s.output);
    assert!(s.output.contains("  output h = %h\n"), "{}", s.output);
    assert!(
        s.output.contains("  output accuracy = %accuracy\n"),
        "{}",
        s.output
    );
    assert!(s.output.contains("\nprogram {\n"), "{}", s.output);
    assert!(s.output.contains(" gemm "), "{}", s.output);
}

#[test]
fn the_code_the_cpu_backend_generates() {
    let s = repl(&["examples/hello.tfg"], ":clif y\n:asm y\n");
    assert_eq!(s.status, 0, "{}", s.output);
    assert!(s.output.contains("; kernel k0"), "{}", s.output);
    assert!(
        s.output.contains(" = fmul "),
        "the Cranelift IR multiplies w by x:\n{}",
        s.output
    );
    assert!(s.output.contains("ret"), "{}", s.output);
}
