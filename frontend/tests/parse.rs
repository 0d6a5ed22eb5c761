//! Parser tests: every form of the language, every precedence level and
//! associativity, and recovery from errors. Expressions are compared as
//! S-expressions written by hand from the precedence table of
//! docs/language.md.

use tfg_frontend::ast::*;
use tfg_frontend::parse::{parse_expr, parse_file};

fn sexpr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Float(x) => format!("{x:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Name(n) => n.clone(),
        ExprKind::Array(items) => format!(
            "[{}]",
            items.iter().map(sexpr).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Call { func, args, kwargs } => {
            let mut parts = vec![func.name.clone()];
            parts.extend(args.iter().map(sexpr));
            parts.extend(
                kwargs
                    .iter()
                    .map(|(k, v)| format!("{}={}", k.name, sexpr(v))),
            );
            format!("(call {})", parts.join(" "))
        }
        ExprKind::Unary { op, operand } => {
            format!(
                "({} {})",
                if *op == UnOp::Neg { "neg" } else { "not" },
                sexpr(operand)
            )
        }
        ExprKind::Binary { op, lhs, rhs, .. } => {
            format!("({} {} {})", op.symbol(), sexpr(lhs), sexpr(rhs))
        }
        ExprKind::Index { base, items } => {
            let part = |e: &Option<Box<Expr>>| e.as_deref().map(sexpr).unwrap_or_default();
            let items: Vec<String> = items
                .iter()
                .map(|i| match i {
                    IndexItem::At(e) => sexpr(e),
                    IndexItem::Range {
                        start, stop, step, ..
                    } => format!("{}:{}:{}", part(start), part(stop), part(step)),
                    IndexItem::Ellipsis(_) => "...".into(),
                })
                .collect();
            format!("(index {} {})", sexpr(base), items.join(" "))
        }
    }
}

fn p(src: &str) -> String {
    match parse_expr(src) {
        Ok(e) => sexpr(&e),
        Err(d) => panic!("{src:?} did not parse: {}", d.message),
    }
}

fn err(src: &str) -> String {
    match parse_expr(src) {
        Ok(e) => panic!("{src:?} parsed as {}", sexpr(&e)),
        Err(d) => d.message,
    }
}

/// Parses a file that must have no syntax errors.
fn file(src: &str) -> File {
    let (f, diags) = parse_file(src);
    let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert!(diags.is_empty(), "{src:?}: {messages:?}");
    f
}

fn errors(src: &str) -> Vec<String> {
    parse_file(src).1.into_iter().map(|d| d.message).collect()
}

fn graph(f: &File) -> &GraphItem {
    match &f.items[0] {
        Item::Graph(g) => g,
        other => panic!("not a graph: {other:?}"),
    }
}

#[test]
fn primaries() {
    assert_eq!(p("x"), "x");
    assert_eq!(p("_a1"), "_a1");
    assert_eq!(p("true"), "true");
    assert_eq!(p("false"), "false");
    assert_eq!(p("(x)"), "x");
    assert_eq!(p("[[1, 2], [3, 4]]"), "[[1 2] [3 4]]");
    assert_eq!(p("[1, 2,]"), "[1 2]");
    assert_eq!(p("[]"), "[]");
    assert_eq!(p("[-1, 0.5]"), "[(neg 1) 0.5]");
    assert_eq!(p("f()"), "(call f)");
    assert_eq!(
        p("f(x, 1, axis = 2, keepdims = true)"),
        "(call f x 1 axis=2 keepdims=true)"
    );
    assert_eq!(p("f(g(x), [a, b])"), "(call f (call g x) [a b])");
}

#[test]
fn numbers_lex_as_the_spec_says() {
    assert_eq!(p("42"), "42");
    assert_eq!(p("1.0"), "1.0");
    assert_eq!(p("2.5e-3"), "0.0025");
    assert_eq!(p("1e4"), "10000.0");
    assert_eq!(p("1E-05"), "1e-5");
    assert_eq!(p("0"), "0");
    // A literal with `.` or an exponent is floating point, an integer otherwise.
    assert!(matches!(
        parse_expr("1e4").map(|e| e.kind),
        Ok(ExprKind::Float(_))
    ));
    assert!(matches!(
        parse_expr("3").map(|e| e.kind),
        Ok(ExprKind::Int(3))
    ));
    assert_eq!(err("1."), "invalid number `1.`");
    assert_eq!(err("1e"), "invalid number `1e`");
    assert_eq!(err("2x"), "invalid number `2x`");
    assert_eq!(err(".5"), "expected an expression, found `.`");
    assert_eq!(
        err("99999999999999999999"),
        "integer `99999999999999999999` is too large"
    );
    assert_eq!(err("1e999"), "number `1e999` is too large");
}

#[test]
fn strings_with_escapes() {
    assert_eq!(p(r#""data/x.npy""#), r#""data/x.npy""#);
    assert!(
        matches!(parse_expr(r#""a\"b\\c""#).map(|e| e.kind), Ok(ExprKind::Str(s)) if s == "a\"b\\c")
    );
    assert_eq!(err(r#""a\nb""#), "unknown escape `\\n` in a string");
    assert_eq!(err(r#""open"#), "unterminated string");
}

#[test]
fn precedence_levels_tightest_first() {
    // level 2 binds tighter than 3, 3 than 4, 4 than 5, 5 than 6, 6 than 7
    assert_eq!(p("-x ** 2"), "(neg (** x 2))");
    assert_eq!(p("-a @ b"), "(@ (neg a) b)");
    assert_eq!(p("a @ b * c"), "(* (@ a b) c)");
    assert_eq!(p("a * b @ c"), "(* a (@ b c))");
    assert_eq!(p("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(p("1 * 2 + 3"), "(+ (* 1 2) 3)");
    assert_eq!(p("a + b < c * d"), "(< (+ a b) (* c d))");
    assert_eq!(p("!a == b"), "(== (not a) b)");
    assert_eq!(p("a ** 2 * b"), "(* (** a 2) b)");
    assert_eq!(p("(1 + 2) * 3"), "(* (+ 1 2) 3)");
    assert_eq!(p("f(x) ** 2"), "(** (call f x) 2)");
}

#[test]
fn associativity() {
    assert_eq!(p("a ** b ** c"), "(** a (** b c))");
    assert_eq!(p("2 ** -1"), "(** 2 (neg 1))");
    assert_eq!(p("a - b - c"), "(- (- a b) c)");
    assert_eq!(p("a / b * c"), "(* (/ a b) c)");
    assert_eq!(p("a @ b @ c"), "(@ (@ a b) c)");
    assert_eq!(p("--a"), "(neg (neg a))");
    assert_eq!(p("!!a"), "(not (not a))");
}

#[test]
fn comparisons_are_not_associative() {
    for op in ["<", "<=", ">", ">=", "==", "!="] {
        assert_eq!(p(&format!("a {op} b")), format!("({op} a b)"));
    }
    assert_eq!(err("a < b < c"), "comparison operators cannot be chained");
    assert_eq!(err("a == b != c"), "comparison operators cannot be chained");
    assert_eq!(p("(a < b) == c"), "(== (< a b) c)");
}

#[test]
fn expression_errors_say_what_was_expected() {
    assert_eq!(err("1 +"), "expected an expression, found end of file");
    assert_eq!(err("(1 + 2"), "expected ')' to close '(' opened here");
    assert_eq!(err("(1 + 2 3)"), "expected ')', found `3`");
    assert_eq!(err("f(1 2)"), "expected ',' or ')', found `2`");
    assert_eq!(err("[1, 2"), "expected ']' to close '[' opened here");
    assert_eq!(
        err("f(a = 1, 2)"),
        "positional argument after keyword argument"
    );
    assert_eq!(
        err("steps"),
        "expected an expression, found keyword `steps`"
    );
    assert_eq!(err("1 2"), "expected the end of the literal, found `2`");
}

#[test]
fn keywords_and_calls() {
    // `log` is a keyword and a builtin: called, it is a call.
    assert_eq!(p("log(x)"), "(call log x)");
    assert_eq!(
        errors("graph g { log = 1 }"),
        ["`log` is a keyword and cannot name a value"]
    );
    assert_eq!(
        errors("graph g { input steps: f32 }"),
        ["expected the name of the input, found keyword `steps`; keywords cannot be used as names"]
    );
}

/// Nesting past the parser's limit is an error, not a stack overflow.
/// (`compile` and `parse_literal` run on a stack sized for the limit.)
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let n = 100_000;
    let deep = [
        format!("{}x{}", "(".repeat(n), ")".repeat(n)),
        format!("{}x{}", "exp(".repeat(n), ")".repeat(n)),
        format!("{}1{}", "[".repeat(n), "]".repeat(n)),
        vec!["x"; n].join(" + "),
        format!("{}x", "-".repeat(n)),
        vec!["x"; n].join(" ** "),
    ];
    for expr in deep {
        let src = format!("graph g {{\n  input x: f32\n  y = {expr}\n}}\n");
        let diags = tfg_frontend::compile(&src).expect_err("too deep");
        assert!(
            diags
                .iter()
                .any(|d| d.message.contains("nested too deeply")),
            "{:?}",
            diags[0].message
        );
        let lit = tfg_frontend::parse_literal(&expr).expect_err("too deep");
        assert!(
            lit.message.contains("nested too deeply")
                || lit.message.starts_with("expected a literal")
        );
    }
    // Just inside the limit, it compiles.
    let ok = format!("{}x{}", "exp(".repeat(200), ")".repeat(200));
    assert!(
        tfg_frontend::compile(&format!("graph g {{\n  input x: f32\n  y = {ok}\n}}\n")).is_ok()
    );
}

#[test]
fn statements_of_a_graph() {
    let f = file(
        "graph g {\n  input x: f32[B, 3] = 1.0\n  input n: i32\n  param w: f32[3, 2] = glorot\n  \
         h = x @ w\n  output h, n\n  output s = sum(h)\n}\n",
    );
    let g = graph(&f);
    assert_eq!(g.name.name, "g");
    let kinds: Vec<String> = g
        .body
        .iter()
        .map(|s| match &s.kind {
            StmtKind::Input { name, ty, default } => {
                let dims: Vec<String> = ty.dims.iter().map(|(d, _)| d.to_string()).collect();
                format!(
                    "input {} {} {:?} {}",
                    name.name,
                    ty.dtype,
                    dims,
                    default.as_ref().map_or("-".into(), sexpr)
                )
            }
            StmtKind::Param { name, init, .. } => format!("param {} {}", name.name, sexpr(init)),
            StmtKind::Let(b) => format!("let {} {}", b.name.name, sexpr(&b.value)),
            StmtKind::Output(ns) => format!(
                "output {:?}",
                ns.iter().map(|n| &n.name).collect::<Vec<_>>()
            ),
            StmtKind::OutputLet(b) => format!("output-let {} {}", b.name.name, sexpr(&b.value)),
            StmtKind::Error { .. } => "error".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            r#"input x f32 ["B", "3"] 1.0"#,
            "input n i32 [] -",
            "param w glorot",
            "let h (@ x w)",
            r#"output ["h", "n"]"#,
            "output-let s (call sum h)",
        ]
    );
}

#[test]
fn types() {
    let ty = |t: &str| match &graph(&file(&format!("graph g {{ input x: {t} }}"))).body[0].kind {
        StmtKind::Input { ty, .. } => (
            ty.dtype.to_string(),
            ty.dims.iter().map(|(d, _)| d.to_string()).collect(),
        ),
        _ => unreachable!(),
    };
    assert_eq!(ty("f32"), ("f32".to_string(), Vec::<String>::new()));
    assert_eq!(ty("f32[]"), ("f32".to_string(), vec![]));
    assert_eq!(ty("bool[2]"), ("bool".to_string(), vec!["2".to_string()]));
    assert_eq!(
        ty("i64[B, 3, C]"),
        ("i64".to_string(), vec!["B".into(), "3".into(), "C".into()])
    );
    assert_eq!(
        ty("f64[\n 2 ,\n 3 ]"),
        ("f64".to_string(), vec!["2".into(), "3".into()])
    );
    assert_eq!(errors("graph g { input x: f16 }"), ["unknown dtype `f16`"]);
    assert_eq!(errors("graph g { input x: f32[2.5] }"), [
        "expected a dimension (an integer or a name), found `2.5`; a dimension is a whole number"
    ]);
}

#[test]
fn statement_ends_at_newline_semicolon_or_brace() {
    let one_line = file("graph g { input x: f32; output y = x * 2 }");
    assert_eq!(graph(&one_line).body.len(), 2);
    let f = file("graph g {\n  a = 1; b = 2\n  c = 3 }");
    assert_eq!(graph(&f).body.len(), 3);
    // Inside ( ) and [ ] newlines are spaces.
    let f = file("graph g {\n  y = f(1,\n        2)\n  z = [1,\n   2]\n}");
    assert_eq!(graph(&f).body.len(), 2);
    // Outside them a newline ends the statement.
    assert_eq!(
        errors("graph g {\n  y = 1 +\n  2\n}"),
        [
            "expected an expression, found end of line",
            "expected a statement (`NAME = EXPR`, `input`, `param` or `output`), found `2`"
        ]
    );
}

#[test]
fn comments() {
    let f = file(
        "# leading\ngraph g { # after brace\n  x = 1 # trailing\n  # alone\n  y = 2\n}\n# end",
    );
    assert_eq!(graph(&f).body.len(), 2);
}

#[test]
fn functions_in_both_forms() {
    let f = file(
        "fn sq(a) = a * a\nfn mlp(x, w, b) {\n  h = x @ w + b\n  return relu(h)\n}\nfn none() = 1",
    );
    let fns: Vec<&FnItem> = f
        .items
        .iter()
        .filter_map(|i| if let Item::Fn(f) = i { Some(f) } else { None })
        .collect();
    assert_eq!(fns.len(), 3);
    assert_eq!(
        fns[0]
            .params
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(sexpr(&fns[0].result), "(* a a)");
    assert_eq!(fns[1].bindings.len(), 1);
    assert_eq!(sexpr(&fns[1].bindings[0].value), "(+ (@ x w) b)");
    assert_eq!(sexpr(&fns[1].result), "(call relu h)");
    assert!(fns[2].params.is_empty());
    assert_eq!(errors("fn f(a) {\n  b = a\n}"), ["fn `f` has no `return`"]);
    assert_eq!(
        errors("fn f(a) {\n  return a\n  b = a\n}"),
        ["`return` must be the last statement of a fn"]
    );
}

#[test]
fn train_items() {
    let f = file("train g {\n  minimize loss\n  optimizer adam(lr = 0.01)\n  steps 10\n  batch 4\n  log a, b\n}");
    let Item::Train(t) = &f.items[0] else {
        panic!("not a train item")
    };
    assert_eq!(t.graph.name, "g");
    let kinds: Vec<String> = t
        .body
        .iter()
        .map(|s| match &s.kind {
            TrainStmtKind::Minimize(n) => format!("minimize {}", n.name),
            TrainStmtKind::Optimizer(e) => format!("optimizer {}", sexpr(e)),
            TrainStmtKind::Steps(e) => format!("steps {}", sexpr(e)),
            TrainStmtKind::Batch(e) => format!("batch {}", sexpr(e)),
            TrainStmtKind::Log(ns) => format!(
                "log {}",
                ns.iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            TrainStmtKind::ClipNorm(e) => format!("clip_norm {}", sexpr(e)),
            TrainStmtKind::Error => "error".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "minimize loss",
            "optimizer (call adam lr=0.01)",
            "steps 10",
            "batch 4",
            "log a,b"
        ]
    );
    assert_eq!(
        errors("train g { epochs 3 }"),
        ["expected a train statement (`minimize`, `optimizer`, `steps`, `batch`, `log` or `clip_norm`), found `epochs`"]
    );
}

#[test]
fn spans_are_byte_ranges() {
    let src = "graph g {\n  y = a + bb\n}";
    let f = file(src);
    let StmtKind::Let(b) = &graph(&f).body[0].kind else {
        panic!()
    };
    assert_eq!(&src[b.name.span.start..b.name.span.end], "y");
    assert_eq!(&src[b.value.span.start..b.value.span.end], "a + bb");
    let ExprKind::Binary { op_span, rhs, .. } = &b.value.kind else {
        panic!()
    };
    assert_eq!(&src[op_span.start..op_span.end], "+");
    assert_eq!(&src[rhs.span.start..rhs.span.end], "bb");
    let e = parse_expr("  (x)").unwrap();
    assert_eq!((e.span.start, e.span.end), (2, 5));
}

#[test]
fn every_error_in_a_file_is_reported() {
    let src = "graph g {\n  a = 1 +\n  b = (2\n  c = 3\n  d = f(,)\n  e = 4\n}\nbogus\ngraph h {\n  x = *\n}\n";
    let (f, diags) = parse_file(src);
    let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "expected an expression, found end of line",
            "expected ')' to close '(' opened here",
            "expected an expression, found `,`",
            "expected an item (`graph`, `fn`, `train` or `serve`), found `bogus`",
            "expected an expression, found `*`",
        ]
    );
    // Both graphs survive, with the statements that parsed and markers for
    // the ones that did not.
    let graphs: Vec<(&str, usize)> = f
        .items
        .iter()
        .filter_map(|i| {
            if let Item::Graph(g) = i {
                Some((g.name.name.as_str(), g.body.len()))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(graphs, [("g", 4), ("h", 1)]);
    let StmtKind::Error { binds: Some(a) } = &graph(&f).body[0].kind else {
        panic!()
    };
    assert_eq!(a.name, "a");
}

#[test]
fn a_missing_brace_before_the_next_item_is_reported_there() {
    let src = "graph a {\n  x = 1\ngraph b {\n  y = 2\n}\n";
    let (f, diags) = parse_file(src);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].message, "expected '}' to close '{' opened here");
    assert_eq!(f.items.len(), 2);
}

#[test]
fn broken_item_headers_keep_their_names() {
    let (f, diags) = parse_file("fn f(a, {\n}\ngraph g {\n  y = 1\n}\n");
    assert_eq!(diags.len(), 1);
    assert!(
        matches!(&f.items[0], Item::Broken { kind: ItemKind::Fn, name: Some(n) } if n.name == "f")
    );
    assert!(matches!(&f.items[1], Item::Graph(_)));
}

#[test]
fn crlf_and_byte_order_mark() {
    let f = file("\u{feff}graph g {\r\n  x = 1\r\n  y = 2\r\n}\r\n");
    assert_eq!(graph(&f).body.len(), 2);
}
