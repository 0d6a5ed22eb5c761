//! Fuzzing with proptest (cargo-fuzz needs a nightly toolchain): whatever
//! the input — random bytes, soups of the language's tokens, or valid
//! programs with bytes deleted, inserted and swapped — `compile` and
//! `parse_literal` return, never panic, every diagnostic points inside the
//! source and renders, and every graph that compiles passes the IR verifier.
//!
//! The number of cases per property comes from `TFG_FUZZ_CASES` (default
//! 256), so CI can run it longer.

use proptest::prelude::*;
use proptest::sample::select;
use tfg_frontend::diag::render;
use tfg_frontend::{compile, parse_literal};

/// Valid programs, the seeds for mutation.
const PROGRAMS: [&str; 4] = [
    include_str!("programs/hello.tfg"),
    include_str!("programs/mlp.tfg"),
    include_str!("programs/shapes.tfg"),
    include_str!("programs/logic.tfg"),
];

const TOKENS: [&str; 78] = [
    "graph",
    "fn",
    "train",
    "input",
    "param",
    "output",
    "return",
    "minimize",
    "optimizer",
    "steps",
    "batch",
    "log",
    "true",
    "false",
    "x",
    "y",
    "w",
    "loss",
    "f",
    "g",
    "B",
    "_a",
    "0",
    "1",
    "-1",
    "2.5",
    "1e3",
    "1E-05",
    "99999999999999999999",
    "+",
    "-",
    "*",
    "/",
    "**",
    "@",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "!",
    "=",
    ",",
    ";",
    ":",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\n",
    "\t",
    "# note\n",
    "\"p.npy\"",
    "\"\\q",
    "f32",
    "i32",
    "bool",
    "f64[B, 3]",
    "sum",
    "softmax",
    "reshape",
    "concat",
    "grad",
    "cast",
    "where",
    "argmax",
    "zeros",
    "glorot",
    "normal",
    "sgd",
    "adam",
    "axis",
    "keepdims",
    "é",
    "\u{feff}",
];

fn cases() -> u32 {
    std::env::var("TFG_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// The properties every input must keep.
fn exercise(src: &str) {
    match compile(src) {
        Ok(program) => {
            for g in &program.graphs {
                if let Err(e) = tfg_ir::verify(g) {
                    panic!("{src:?} compiled to a graph that does not verify: {e:?}");
                }
            }
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "an error without a diagnostic");
            for d in &diags {
                if let Some(s) = d.span {
                    assert!(
                        s.start <= s.end && s.end <= src.len(),
                        "span {s:?} outside {} bytes",
                        src.len()
                    );
                }
            }
            let text = render(&diags, "fuzz.tfg", src, false);
            assert!(text.matches("error: ").count() >= diags.len());
        }
    }
    let _ = parse_literal(src);
}

/// One edit of a program's bytes.
#[derive(Clone, Debug)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: &'static str },
    Swap { a: usize, b: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..8usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), select(&TOKENS[..])).prop_map(|(at, token)| Edit::Insert { at, token }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap { a, b }),
    ]
}

fn apply(src: &str, edits: &[Edit]) -> String {
    let mut bytes = src.as_bytes().to_vec();
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            Edit::Insert { at, token } => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, token.bytes());
            }
            Edit::Swap { a, b } => {
                let len = bytes.len();
                if len > 0 {
                    bytes.swap(a % len, b % len);
                }
            }
        }
    }
    // Mutations may split a character; the compiler takes text.
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn the_seed_programs_compile() {
    for src in PROGRAMS {
        if let Err(d) = compile(src) {
            panic!("{}", render(&d, "seed.tfg", src, false));
        }
        exercise(src);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup(tokens in proptest::collection::vec(select(&TOKENS[..]), 0..120)) {
        exercise(&tokens.join(" "));
    }

    #[test]
    fn token_soup_without_spaces(tokens in proptest::collection::vec(select(&TOKENS[..]), 0..120)) {
        exercise(&tokens.concat());
    }

    #[test]
    fn mutated_programs(seed in 0..PROGRAMS.len(), edits in proptest::collection::vec(edit(), 1..6)) {
        exercise(&apply(PROGRAMS[seed], &edits));
    }

    #[test]
    fn programs_in_a_graph_body(tokens in proptest::collection::vec(select(&TOKENS[..]), 0..60)) {
        exercise(&format!("graph g {{\n  input x: f32[3]\n  {}\n}}\n", tokens.join(" ")));
    }
}
