//! The rendered diagnostics: the exact rustc layout, and an insta snapshot
//! for every class of error, each with its `FILE:LINE:COL`.

use tfg_frontend::diag::{line_col, render};
use tfg_frontend::{compile, parse_literal};

/// Everything `tfg check FILE` would print for `src`.
fn check(src: &str) -> String {
    match compile(src) {
        Ok(_) => panic!("{src:?} compiled"),
        Err(diags) => render(&diags, "examples/bad.tfg", src, false),
    }
}

#[test]
fn layout_is_rustc_s() {
    let src = "graph hello {\n    input x: f32\n    param w: f32 = 0.5\n    # y uses an undefined z\n    y = w * z\n}\n";
    // Hand-written: the caret sits under the `z` of line 5, column 13.
    let expected = "\
error: unknown name `z`
 --> examples/bad.tfg:5:13
  |
5 |     y = w * z
  |             ^ not defined in graph `hello`
";
    assert_eq!(check(src), expected);
}

#[test]
fn wide_line_numbers_widen_the_gutter_and_notes_follow() {
    let lines: String = (0..98).map(|i| format!("    x{i} = 1\n")).collect();
    let src = format!("graph g {{\n{lines}    y = 1 * q\n}}\n");
    let expected = "\
error: unknown name `q`
   --> examples/bad.tfg:100:13
    |
100 |     y = 1 * q
    |             ^ not defined in graph `g`
";
    assert_eq!(check(&src), expected);
}

#[test]
fn color_wraps_the_same_text_in_ansi_codes() {
    let src = "graph g { y = q }";
    let diags = compile(src).expect_err("unknown name");
    let colored = render(&diags, "a.tfg", src, true);
    assert!(colored.contains("\x1b["));
    let stripped: String = {
        let mut out = String::new();
        let mut rest = colored.as_str();
        while let Some(at) = rest.find('\x1b') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            rest = &rest[rest.find('m').map_or(rest.len(), |m| m + 1)..];
        }
        out + rest
    };
    assert_eq!(stripped, render(&diags, "a.tfg", src, false));
}

#[test]
fn line_col_counts_characters_from_one() {
    let src = "ab\nçd\n";
    assert_eq!(line_col(src, 0), (1, 1));
    assert_eq!(line_col(src, 2), (1, 3));
    assert_eq!(line_col(src, 3), (2, 1));
    // `ç` is two bytes; `d` is the second character of line 2.
    assert_eq!(line_col(src, 5), (2, 2));
    // Inside a character or past the end, the place moves back onto one.
    assert_eq!(line_col(src, 4), (2, 1));
    assert_eq!(line_col(src, 99), (3, 1));
}

#[test]
fn tabs_keep_the_caret_aligned() {
    let src = "graph g {\n\ty = q\n}";
    let out = check(src);
    assert!(out.contains("2 |     y = q\n  |         ^"), "{out}");
    assert!(out.contains("examples/bad.tfg:2:6"), "{out}");
}

macro_rules! snapshot {
    ($name:ident, $src:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(check($src));
        }
    };
}

snapshot!(
    syntax_error,
    "graph g {\n    input x: f32\n    y = x * * 2\n}\n"
);
snapshot!(
    unclosed_bracket,
    "graph g {\n    input x: f32\n    y = sum(x * (x + 1)\n    output y\n}\n"
);
snapshot!(
    unclosed_brace,
    "graph g {\n    input x: f32\n    output x\n"
);
snapshot!(
    several_errors,
    "graph g {\n    input x: f32[3]\n    a = x +\n    b = x @@ x\n    c = x * q\n    d = exp(x, x)\n}\n\
     train g {\n    minimize d\n    steps 0\n}\n"
);
snapshot!(
    unknown_name,
    "graph g {\n    input x: f32\n    loss = x * 2\n    y = los + 1\n}\n"
);
snapshot!(
    unknown_function,
    "graph g {\n    input x: f32\n    y = sigmoud(x)\n}\n"
);
snapshot!(
    rebinding,
    "graph g {\n    input x: f32\n    y = x * 2\n    y = x * 3\n}\n"
);
snapshot!(
    wrong_arity,
    "graph g {\n    input x: f32\n    y = maximum(x)\n    z = exp(x, 2)\n}\n"
);
snapshot!(
    wrong_keyword,
    "graph g {\n    input x: f32[2, 3]\n    y = sum(x, axes = 0)\n}\n"
);
snapshot!(
    dtype_mismatch,
    "graph g {\n    input i: i32[3]\n    input x: f32[3]\n    y = i + x\n    z = i * 0.5\n}\n"
);
snapshot!(
    shape_mismatch,
    "graph g {\n    input a: f32[2, 3]\n    input b: f32[4]\n    y = a + b\n    z = a @ a\n}\n"
);
snapshot!(
    bad_reshape,
    "graph g {\n    input x: f32[2, 3]\n    y = reshape(x, [4, -1])\n    z = reshape(x, [5])\n}\n"
);
snapshot!(bad_axis, "graph g {\n    input x: f32[2, 3]\n    y = sum(x, axis = 2)\n    z = mean(x, axis = [0, -2])\n}\n");
snapshot!(
    recursive_fn,
    "fn f(a) = g(a) * 2\nfn g(b) {\n    c = f(b)\n    return c\n}\ngraph h {\n    input x: f32\n    y = f(x)\n}\n"
);
snapshot!(
    bad_train_item,
    "graph g {\n    input x: f32[3]\n    loss = x * 2\n}\ntrain g {\n    minimize loss\n    optimizer adamw(lr = 0.1)\n    steps -1\n}\n\
     train h {\n    minimize loss\n    optimizer sgd(lr = 0.1)\n    steps 1\n}\n"
);
snapshot!(
    bad_declarations,
    "graph g {\n    input x: f32[3] = [1, 2]\n    param w: i32 = glorot\n    param v: f16 = 0\n}\n"
);

#[test]
fn bad_literal() {
    let text = "[[1, 2], [3]]";
    let d = parse_literal(text).expect_err("ragged");
    insta::assert_snapshot!(render(&[d], "--feed x", text, false));
}
