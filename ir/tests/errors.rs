//! Parser errors point at line:col; the verifier names the value and op.

use tfg_ir::text::parse;
use tfg_ir::*;

/// The error for `text` as `line:col: message`.
fn parse_error(text: &str) -> String {
    parse(text).expect_err("expected a parse error").to_string()
}

#[test]
fn parse_errors_have_places() {
    let cases = [
        ("graph g {\n  %x = input : f32\n  %y = add %x, %z : f32\n}", "3:16: %z is not defined"),
        ("graph g {\n  %x = input : f32\n  %x = neg %x : f32\n}", "3:3: %x is defined twice"),
        ("graph g {\n  %x = input : f32\n  %y = neg %x f32\n}", "3:15: expected `:`, found `f32`"),
        ("graph g {\n  %x = input : f32\n", "3:1: expected a value definition, `output`, `update` or `}`, found the end of the text"),
        ("graph g {\n  %x = input {default = [1, 2.5]} : i32[2]\n}", "2:29: expected an i32, found `2.5`"),
        ("graph g {\n  %x = input {default = [[1], [2, 3]]} : i32[2]\n}", "2:31: the rows of an array literal must all have the same shape"),
        ("graph g {\n  %y = frobnicate : f32\n}", "2:8: unknown op `frobnicate`"),
        ("graph g {\n  %y = input : f33\n}", "2:16: unknown dtype `f33`"),
        ("graph g {\n  %x = input : f32[2]\n  %y = transpose %x : f32[2]\n}", "3:8: transpose needs the attribute `perm`"),
        ("graph g {\n  %x = input : f32[2]\n  %y = neg %x {axis = 0} : f32[2]\n}", "3:16: neg has no attribute `axis`"),
        ("graph g {\n  %x = input {colour = 1} : f32\n}", "2:15: unknown attribute `colour`"),
        ("graph g {\n  %w = param : f32\n}", "2:8: param needs the attribute `init`"),
        ("graph g {\n  %w = param {init = gaussian} : f32\n}", "2:22: unknown initialiser `gaussian`; expected a literal, zeros, ones, full, uniform, normal or glorot"),
        ("graph g {\n  %x = input : f32 $\n}", "2:20: unexpected character '$'"),
        ("graph g {\n  %x = input {name = \"a\\q\"} : f32\n}", "2:24: unknown escape; use \\\" \\\\ \\n or \\t"),
        ("graph g {\n  %c = const [] as f32[2] : f32[2]\n}", "2:20: 0 elements do not fill f32[2]"),
        ("graph g {\n  output y = %nowhere\n}", "2:14: %nowhere is not defined"),
        ("", "expected one graph, found 0; use parse_module for several"),
        ("grph g {}", "1:1: expected `graph`, found `grph`"),
    ];
    for (text, expected) in cases {
        let got = parse_error(text);
        assert!(
            got.ends_with(expected),
            "for {text:?}\n got: {got}\nwant: {expected}"
        );
    }
}

#[test]
fn parsed_graphs_are_checked_by_the_verifier() {
    let text = "graph g {\n  %x = input : f32[3]\n  %y = input : f32[4]\n  %s = add %x, %y : f32[4]\n  output s = %s\n}";
    let g = parse(text).expect("well-formed text");
    let e = verify(&g).unwrap_err();
    assert_eq!(e.value, Some(ValueId(2)));
    assert_eq!(
        e.message,
        "%2 (s) = add: cannot broadcast f32[3] with f32[4]"
    );
}

#[test]
fn verifier_errors_name_value_and_op() {
    let cases = [
        (
            "graph g {\n  %x = input : i32\n  %y = exp %x : i32\n}",
            "%1 (y) = exp: needs a float operand (f32 or f64), got i32; use cast",
        ),
        ("graph g {\n  %x = input : f32\n  %1 = neg %x : f64\n}", "%1 = neg: has type f64, but its operands give f32"),
        ("graph g {\n  %x = input : f32\n  %x#1 = input : f32\n}", "%1 (x) = input: the name x is already used by another input or param"),
        ("graph g {\n  %x = input : f32\n  update %x = %x\n}", "%0 (x) = input: is the target of an update but is not a param"),
        ("graph g {\n  %x = input : f32\n  output y = %x, y = %x\n}", "output y is listed twice"),
        ("graph g {\n  %x = input {default = [1.0, 2.0]} : f32[3]\n}", "%0 (x) = input: default f32[2] does not fit the declared type f32[3]"),
        ("graph g {\n  %1 = neg %2 : f32\n  %2 = input {name = \"x\"} : f32\n}", "%0 = neg: operand %1 is not defined before it"),
        ("graph g {\n  %x = input : f32[2, 3]\n  %y = reduce_sum %x {axes = [1, 0]} : f32\n}", "%1 (y) = reduce_sum: axes [1, 0] must be sorted and unique"),
        (
            "graph g {\n  %w = param {init = zeros} : f32[2]\n  %v = reduce_sum %w {axes = [0]} : f32\n  update %w = %v\n}",
            "%0 (w) = param: is updated with %1 (v) = reduce_sum of type f32, not f32[2]",
        ),
    ];
    for (text, expected) in cases {
        let g = parse(text).unwrap_or_else(|e| panic!("{e} in {text}"));
        assert_eq!(
            verify(&g).map_err(|e| e.message),
            Err(expected.to_string()),
            "for {text}"
        );
    }
}
