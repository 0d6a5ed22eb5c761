//! Lowering tests: the IR built for each form of the language (ops, types,
//! names, attributes), weak literal typing, fn inlining, initialisers, train
//! items, and the public API around them. Expected IR is written by hand
//! from the language guide (docs/language.md) and the IR type rules.

use tfg_frontend::{compile, parse_literal, GraphChoiceError, Module, Scalar};
use tfg_ir::{
    BinaryOp, DType, Data, Dim, Graph, Init, InputDefault, Op, Optimizer, ReduceOp, Shape, Tensor,
    UnaryOp, ValueId,
};

fn program(src: &str) -> Module {
    match compile(src) {
        Ok(p) => {
            for g in &p.graphs {
                if let Err(e) = tfg_ir::verify(g) {
                    panic!("graph {} does not verify: {e:?}", g.name);
                }
            }
            p
        }
        Err(diags) => panic!(
            "{}",
            tfg_frontend::diag::render(&diags, "test.tfg", src, false)
        ),
    }
}

/// The only graph of a program whose body is `body`.
fn graph(body: &str) -> Graph {
    let p = program(&format!("graph g {{\n{body}\n}}\n"));
    p.graphs.into_iter().next().expect("one graph")
}

/// Error messages of a graph whose body is `body`.
fn errors(body: &str) -> Vec<String> {
    let src = format!("graph g {{\n{body}\n}}\n");
    match compile(&src) {
        Ok(_) => panic!("{body:?} compiled"),
        Err(diags) => diags.into_iter().map(|d| d.message).collect(),
    }
}

/// `op : type` for every node, the way a person reads the graph.
fn ops(g: &Graph) -> Vec<String> {
    g.nodes
        .iter()
        .map(|n| format!("{} : {}", n.op.name(), n.ty))
        .collect()
}

/// The node bound to `name`.
fn named<'g>(g: &'g Graph, name: &str) -> &'g tfg_ir::Node {
    g.node(
        g.lookup(name)
            .unwrap_or_else(|| panic!("no value named {name}")),
    )
}

fn consts(g: &Graph) -> Vec<&Tensor> {
    g.nodes
        .iter()
        .filter_map(|n| {
            if let Op::Const(t) = &n.op {
                Some(t)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn hello_graph_and_train_item() {
    let src = include_str!("programs/hello.tfg");
    let p = program(src);
    let g = p.graph(None).expect("one graph");
    assert_eq!(
        ops(g),
        [
            "input : f32",
            "param : f32",
            "mul : f32",
            "const : f32",
            "sub : f32",
            "const : f32",
            "pow : f32"
        ]
    );
    assert_eq!(
        g.nodes[0].op,
        Op::Input {
            name: "x".into(),
            default: Some(InputDefault::Value(Tensor::scalar_f32(1.0)))
        }
    );
    assert_eq!(
        g.nodes[1].op,
        Op::Param {
            name: "w".into(),
            init: Init::Literal(Tensor::scalar_f32(0.8))
        }
    );
    assert_eq!(g.nodes[2].args, [ValueId(1), ValueId(0)]);
    let names: Vec<Option<&str>> = g.nodes.iter().map(|n| n.name.as_deref()).collect();
    assert_eq!(
        names,
        [
            Some("x"),
            Some("w"),
            Some("y"),
            None,
            None,
            None,
            Some("loss")
        ]
    );
    assert_eq!(
        g.outputs,
        [
            ("y".to_string(), ValueId(2)),
            ("loss".to_string(), ValueId(6))
        ]
    );
    // `y    = w * x` is line 5; the product starts at column 12.
    let loc = g.nodes[2].loc.expect("located");
    assert_eq!((loc.line, loc.col), (5, 12));
    let input_loc = g.nodes[0].loc.expect("inputs are located at their name");
    assert_eq!((input_loc.line, input_loc.col), (3, 11));

    let t = p.train("hello").expect("a train item");
    assert_eq!(t.minimize, "loss");
    assert_eq!(t.optimizer, Optimizer::Sgd { lr: 0.025 });
    assert_eq!(t.steps, 100);
    assert_eq!(t.batch, None);
    assert_eq!(t.log, ["y", "loss"]);
}

#[test]
fn choosing_a_graph() {
    let one = program("graph a { input x: f32; output x }");
    assert_eq!(one.graph(None).map(|g| g.name.as_str()), Ok("a"));
    assert_eq!(one.graph(Some("a")).map(|g| g.name.as_str()), Ok("a"));
    assert_eq!(
        one.graph(Some("b"))
            .map(|g| g.name.as_str())
            .map_err(|e| e.to_string()),
        Err("no graph named `b`; the file has `a`".into())
    );
    let two = program("graph a { input x: f32 }\ngraph b { input x: f32 }");
    assert_eq!(
        two.graph(None).map(|g| g.name.as_str()),
        Err(GraphChoiceError::Several {
            graphs: vec!["a".into(), "b".into()]
        })
    );
    assert_eq!(two.graph(Some("b")).map(|g| g.name.as_str()), Ok("b"));
    let none = program("fn f(a) = a");
    assert!(none.graph(None).is_err());
}

#[test]
fn operators_map_to_ops() {
    let g = graph(
        "input a: f32[2, 3]\ninput b: f32[3]\ninput m: f32[3, 4]\ninput c: bool[3]\n\
         add = a + b\nsub = a - b\nmul = a * b\ndiv = a / b\npow = a ** b\nmm = a @ m\nneg = -a\nnot = !c\n\
         lt = a < b\nle = a <= b\ngt = a > b\nge = a >= b\neq = a == b\nne = a != b",
    );
    let cases = [
        ("add", Op::Binary(BinaryOp::Add), "f32[2, 3]"),
        ("sub", Op::Binary(BinaryOp::Sub), "f32[2, 3]"),
        ("mul", Op::Binary(BinaryOp::Mul), "f32[2, 3]"),
        ("div", Op::Binary(BinaryOp::Div), "f32[2, 3]"),
        ("pow", Op::Binary(BinaryOp::Pow), "f32[2, 3]"),
        ("mm", Op::MatMul, "f32[2, 4]"),
        ("neg", Op::Unary(UnaryOp::Neg), "f32[2, 3]"),
        ("not", Op::Unary(UnaryOp::Not), "bool[3]"),
        ("lt", Op::Binary(BinaryOp::Lt), "bool[2, 3]"),
        ("le", Op::Binary(BinaryOp::Le), "bool[2, 3]"),
        ("gt", Op::Binary(BinaryOp::Gt), "bool[2, 3]"),
        ("ge", Op::Binary(BinaryOp::Ge), "bool[2, 3]"),
        ("eq", Op::Binary(BinaryOp::Eq), "bool[2, 3]"),
        ("ne", Op::Binary(BinaryOp::Ne), "bool[2, 3]"),
    ];
    for (name, op, ty) in cases {
        let n = named(&g, name);
        assert_eq!((&n.op, n.ty.to_string()), (&op, ty.to_string()), "{name}");
    }
    assert_eq!(
        named(&g, "add").args,
        [g.lookup("a").unwrap(), g.lookup("b").unwrap()]
    );
}

#[test]
fn precedence_shows_in_the_graph() {
    // -x ** 2 is -(x ** 2): pow first, then neg.
    let g = graph("input x: f32\ny = -x ** 2");
    assert_eq!(
        ops(&g),
        ["input : f32", "const : f32", "pow : f32", "neg : f32"]
    );
}

#[test]
fn literals_take_the_dtype_they_meet() {
    let g = graph("input x: f64[2]\ny = x * 2");
    assert_eq!(
        consts(&g),
        [&Tensor {
            shape: vec![],
            data: Data::F64(vec![2.0])
        }]
    );
    let g = graph("input i: i64\ny = i + 3");
    assert_eq!(
        consts(&g),
        [&Tensor {
            shape: vec![],
            data: Data::I64(vec![3])
        }]
    );
    let g = graph("input x: f32[2]\ny = [1, 2.5] + x");
    assert_eq!(
        consts(&g),
        [&Tensor {
            shape: vec![2],
            data: Data::F32(vec![1.0, 2.5])
        }]
    );
    // An expression of literals alone stays weak until it meets a tensor.
    let g = graph("input x: f64\ny = x * (2 * 3)");
    assert_eq!(
        ops(&g),
        [
            "input : f64",
            "const : f64",
            "const : f64",
            "mul : f64",
            "mul : f64"
        ]
    );
    // Alone: integers are i32, anything with a float is f32, booleans bool.
    assert_eq!(named(&graph("y = 1 + 2"), "y").ty.to_string(), "i32");
    assert_eq!(named(&graph("y = 1 + 2.0"), "y").ty.to_string(), "f32");
    assert_eq!(
        named(&graph("y = [[1, 2], [3, 4]]"), "y").ty.to_string(),
        "i32[2, 2]"
    );
    assert_eq!(
        named(&graph("y = [true, false]"), "y").ty.to_string(),
        "bool[2]"
    );
    // A negated literal is a negative constant, not a neg op.
    let g = graph("input x: f32\ny = x * -2");
    assert_eq!(ops(&g), ["input : f32", "const : f32", "mul : f32"]);
    assert_eq!(consts(&g), [&Tensor::scalar_f32(-2.0)]);
    // Float-only functions take a weak integer as f32.
    assert_eq!(named(&graph("y = exp(1)"), "y").ty.to_string(), "f32");
    assert_eq!(named(&graph("y = mean([1, 2])"), "y").ty.to_string(), "f32");
}

#[test]
fn a_float_literal_meeting_an_integer_tensor_is_an_error() {
    assert_eq!(
        errors("input i: i32\ny = i * 2.5"),
        ["the float literal `2.5` cannot be used as i32; write an integer or use cast"]
    );
    assert_eq!(
        errors("input b: bool\ny = b == 1"),
        ["the number `1` cannot be used as bool"]
    );
    assert_eq!(
        errors("input x: f32\ny = x * cast(x, i32)"),
        ["mul: operands have different dtypes f32 and i32; use cast"]
    );
}

#[test]
fn reductions() {
    let g = graph(
        "input x: f32[2, 3, 4]\na = sum(x)\nb = mean(x, axis = 1)\nc = max(x, axis = [0, -1], keepdims = true)\n\
         d = min(x, -1)\ne = prod(x, [2, 0], false)",
    );
    let reduce = |name| match &named(&g, name).op {
        Op::Reduce { op, axes, keepdims } => {
            (*op, axes.clone(), *keepdims, named(&g, name).ty.to_string())
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reduce("a"),
        (ReduceOp::Sum, vec![0, 1, 2], false, "f32".into())
    );
    assert_eq!(
        reduce("b"),
        (ReduceOp::Mean, vec![1], false, "f32[2, 4]".into())
    );
    assert_eq!(
        reduce("c"),
        (ReduceOp::Max, vec![0, 2], true, "f32[1, 3, 1]".into())
    );
    assert_eq!(
        reduce("d"),
        (ReduceOp::Min, vec![2], false, "f32[2, 3]".into())
    );
    assert_eq!(
        reduce("e"),
        (ReduceOp::Prod, vec![0, 2], false, "f32[3]".into())
    );
    assert_eq!(
        errors("input x: f32[2, 3]\ny = sum(x, axis = [1, -1])"),
        ["axis 1 is given twice"]
    );
    assert_eq!(
        errors("input x: f32[2, 3]\ny = sum(x, axis = 2)"),
        ["axis 2 is out of range for f32[2, 3]"]
    );
    assert_eq!(
        errors("input x: f32[2, 3]\ny = sum(x, axis = 1.5)"),
        ["expected an integer literal"]
    );
    assert_eq!(
        errors("input x: f32[2, 3]\ny = sum(x, keepdims = 1)"),
        ["expected `true` or `false`"]
    );
}

#[test]
fn argmax_and_argmin_give_i32() {
    let g = graph("input x: f32[2, 3]\na = argmax(x, 1)\nb = argmin(x, axis = -2)");
    assert_eq!(
        (&named(&g, "a").op, named(&g, "a").ty.to_string()),
        (&Op::ArgMax { axis: 1 }, "i32[2]".into())
    );
    assert_eq!(
        (&named(&g, "b").op, named(&g, "b").ty.to_string()),
        (&Op::ArgMin { axis: 0 }, "i32[3]".into())
    );
    assert_eq!(
        errors("input x: f32[2, 3]\na = argmax(x)"),
        ["`argmax` is missing its argument `axis`"]
    );
}

#[test]
fn linear_algebra() {
    let g = graph(
        "input a: f32[B, 2, 3]\ninput b: f32[3, 4]\nc = matmul(a, b)\nt = transpose(a)\n\
         u = transpose(a, perm = [0, 2, 1])\nv = transpose(a, [-1, 0, 1])",
    );
    assert_eq!(
        (&named(&g, "c").op, named(&g, "c").ty.to_string()),
        (&Op::MatMul, "f32[B, 2, 4]".into())
    );
    assert_eq!(
        named(&g, "t").op,
        Op::Transpose {
            perm: vec![2, 1, 0]
        }
    );
    assert_eq!(named(&g, "t").ty.to_string(), "f32[3, 2, B]");
    assert_eq!(
        named(&g, "u").op,
        Op::Transpose {
            perm: vec![0, 2, 1]
        }
    );
    assert_eq!(
        named(&g, "v").op,
        Op::Transpose {
            perm: vec![2, 0, 1]
        }
    );
    assert_eq!(
        errors("input a: f32[2, 3]\ninput b: f32[4, 5]\nc = a @ b"),
        ["matmul: inner dimensions differ (3 vs 4) in f32[2, 3] @ f32[4, 5]"]
    );
}

#[test]
fn reshape_resolves_minus_one() {
    let shape = |body: &str| {
        let g = graph(body);
        match &named(&g, "y").op {
            Op::Reshape { shape } => shape.to_string(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        shape("input x: f32[2, 3, 4]\ny = reshape(x, [4, -1])"),
        "[4, 6]"
    );
    assert_eq!(shape("input x: f32[2, 3, 4]\ny = reshape(x, [-1])"), "[24]");
    assert_eq!(
        shape("input x: f32[2, 3, 4]\ny = reshape(x, [2, 12])"),
        "[2, 12]"
    );
    // Symbolic dims cancel; a lone remaining symbol becomes the -1.
    assert_eq!(
        shape("input x: f32[B, 3, 4]\ny = reshape(x, [B, -1])"),
        "[B, 12]"
    );
    assert_eq!(shape("input x: f32[B, 1]\ny = reshape(x, [-1])"), "[B]");
    assert_eq!(
        shape("input x: f32[B, 6]\ny = reshape(x, [-1, B, 2])"),
        "[3, B, 2]"
    );
    assert_eq!(
        errors("input x: f32[2, 3]\ny = reshape(x, [4, -1])"),
        ["cannot reshape f32[2, 3] to [4, -1]: 6 elements do not divide into parts of 4"]
    );
    assert_eq!(
        errors("input x: f32[B, 3]\ny = reshape(x, [-1, 2])"),
        ["cannot reshape f32[B, 3] to [-1, 2]: the inferred size would be a product of symbolic dims"]
    );
    assert_eq!(
        errors("input x: f32[6]\ny = reshape(x, [-1, -1])"),
        ["only one dimension of a reshape can be -1"]
    );
    assert_eq!(
        errors("input x: f32[6]\ny = reshape(x, [4])"),
        ["reshape: cannot reshape f32[6] to [4]: the element counts differ"]
    );
}

#[test]
fn shape_functions() {
    let g = graph(
        "input x: f32[3]\ninput y: f32[2, 3]\nb = broadcast_to(x, [B, 2, 3])\nc = concat([y, [[1, 2, 3]]], 0)\n\
         e = expand_dims(x, 0)\nf = expand_dims(x, -1)\ns = squeeze(e, 0)\nt = squeeze(reshape(y, [1, 2, 1, 3]))",
    );
    assert_eq!(
        named(&g, "b").op,
        Op::BroadcastTo {
            shape: Shape(vec![Dim::Sym("B".into()), 2.into(), 3.into()])
        }
    );
    assert_eq!(
        (&named(&g, "c").op, named(&g, "c").ty.to_string()),
        (&Op::Concat { axis: 0 }, "f32[3, 3]".into())
    );
    assert_eq!(
        named(&g, "e").op,
        Op::Reshape {
            shape: Shape::known(&[1, 3])
        }
    );
    assert_eq!(
        named(&g, "f").op,
        Op::Reshape {
            shape: Shape::known(&[3, 1])
        }
    );
    assert_eq!(
        named(&g, "s").op,
        Op::Reshape {
            shape: Shape::known(&[3])
        }
    );
    assert_eq!(
        named(&g, "t").op,
        Op::Reshape {
            shape: Shape::known(&[2, 3])
        }
    );
    assert_eq!(
        errors("input y: f32[2, 3]\ns = squeeze(y, 1)"),
        ["cannot squeeze axis 1 of f32[2, 3]: its size is 3, not 1"]
    );
    assert_eq!(
        errors("input y: f32[2, 3]\ns = concat(y, 0)"),
        ["`concat` takes a list of tensors, such as `concat([a, b], 0)`"]
    );
}

#[test]
fn softmax_and_log_softmax_expand_into_ir_ops() {
    let g = graph("input x: f32[2, 5]\ny = softmax(x)");
    assert_eq!(
        ops(&g),
        [
            "input : f32[2, 5]",
            "reduce_max : f32[2, 1]",
            "sub : f32[2, 5]",
            "exp : f32[2, 5]",
            "reduce_sum : f32[2, 1]",
            "div : f32[2, 5]"
        ]
    );
    assert_eq!(
        g.nodes[1].op,
        Op::Reduce {
            op: ReduceOp::Max,
            axes: vec![1],
            keepdims: true
        }
    );
    // e / sum(e) with e = exp(x - max(x)).
    assert_eq!(g.nodes[5].args, [ValueId(3), ValueId(4)]);
    let g = graph("input x: f32[2, 5]\ny = log_softmax(x, axis = 0)");
    assert_eq!(
        ops(&g),
        [
            "input : f32[2, 5]",
            "reduce_max : f32[1, 5]",
            "sub : f32[2, 5]",
            "exp : f32[2, 5]",
            "reduce_sum : f32[1, 5]",
            "log : f32[1, 5]",
            "sub : f32[2, 5]"
        ]
    );
    // s - log(sum(exp(s))) with s = x - max(x).
    assert_eq!(g.nodes[6].args, [ValueId(2), ValueId(5)]);
    assert_eq!(g.nodes[6].name.as_deref(), Some("y"));
}

#[test]
fn elementwise_builtins() {
    for f in [
        "neg",
        "abs",
        "exp",
        "log",
        "sqrt",
        "rsqrt",
        "square",
        "tanh",
        "sigmoid",
        "relu",
        "sin",
        "cos",
        "floor",
        "ceil",
        "sign",
        "reciprocal",
    ] {
        let g = graph(&format!("input x: f32[2]\ny = {f}(x)"));
        assert_eq!(
            named(&g, "y").op,
            Op::Unary(UnaryOp::from_name(f).expect("a unary op")),
            "{f}"
        );
    }
    let g = graph("input a: f32[2]\ninput c: bool[2]\nm = maximum(a, 0)\nn = minimum(a, b = 1)\np = pow(a, 2)\nw = where(c, a, 0)");
    assert_eq!(named(&g, "m").op, Op::Binary(BinaryOp::Maximum));
    assert_eq!(named(&g, "n").op, Op::Binary(BinaryOp::Minimum));
    assert_eq!(named(&g, "p").op, Op::Binary(BinaryOp::Pow));
    assert_eq!(
        (&named(&g, "w").op, named(&g, "w").ty.to_string()),
        (&Op::Select, "f32[2]".into())
    );
    assert_eq!(
        errors("input i: i32\ny = exp(i)"),
        ["exp: needs a float operand (f32 or f64), got i32; use cast"]
    );
}

#[test]
fn neural_net_builtins_and_grad() {
    let g = graph(
        "input i: i32[4]\ninput x: f32[3]\nparam w: f32[3] = zeros\nh = one_hot(i, 10)\nc = cast(i, f64)\n\
         loss = sum(w * x)\ng = grad(loss, w)",
    );
    assert_eq!(
        (&named(&g, "h").op, named(&g, "h").ty.to_string()),
        (&Op::OneHot { depth: 10 }, "f32[4, 10]".into())
    );
    assert_eq!(
        (&named(&g, "c").op, named(&g, "c").ty.to_string()),
        (&Op::Cast { to: DType::F64 }, "f64[4]".into())
    );
    let grad = named(&g, "g");
    assert_eq!(
        (&grad.op, grad.ty.to_string()),
        (&Op::Grad, "f32[3]".into())
    );
    assert_eq!(
        grad.args,
        [g.lookup("loss").unwrap(), g.lookup("w").unwrap()]
    );
    assert_eq!(
        errors("input i: i32\nh = one_hot(i, 0)"),
        ["`one_hot` needs a depth of at least 1, got 0"]
    );
    assert_eq!(
        errors("input i: i32\nh = cast(i, f16)"),
        ["expected a dtype"]
    );
}

#[test]
fn fns_are_inlined_with_the_argument_types() {
    let src_fns = "fn sq(v) = v * v\nfn affine(x, w, b) {\n  s = x * w\n  return s + b\n}\n";
    let p = program(&format!("{src_fns}graph g {{\ninput x: f32[3]\ninput n: i32\na = sq(x)\nb = sq(n)\nc = affine(x, b = 1, w = 2)\n}}"));
    let g2 = p.graph(None).expect("one graph");
    assert_eq!(named(g2, "a").ty.to_string(), "f32[3]");
    assert_eq!(named(g2, "b").ty.to_string(), "i32");
    assert_eq!(
        ops(g2),
        [
            "input : f32[3]",
            "input : i32",
            "mul : f32[3]",
            "mul : i32",
            "const : f32",
            "mul : f32[3]",
            "const : f32",
            "add : f32[3]"
        ]
    );
    // Inlined nodes are located in the fn's body.
    let loc = named(g2, "a").loc.expect("located");
    assert_eq!((loc.line, loc.col), (1, 12));
}

#[test]
fn fn_parameters_can_carry_static_arguments() {
    let p = program(
        "fn total(x, a, keep) = sum(x, axis = a, keepdims = keep)\n\
         fn flat(x, t) = reshape(cast(x, f64), [B, -1]) * t\n\
         graph g {\n  input x: i32[B, 2, 3]\n  s = total(x, -1, true)\n  f = flat(x, 2)\n}",
    );
    let g = p.graph(None).expect("one graph");
    assert_eq!(
        named(g, "s").op,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![2],
            keepdims: true
        }
    );
    assert_eq!(named(g, "s").ty.to_string(), "i32[B, 2, 1]");
    assert_eq!(named(g, "f").ty.to_string(), "f64[B, 6]");
    let diags = compile(
        "fn total(x, a) = sum(x, axis = a)\ngraph g {\n  input x: f32[3]\n  s = total(x, x)\n}",
    )
    .expect_err("a tensor is not an axis");
    assert_eq!(diags[0].message, "expected an integer literal");
    assert_eq!(diags[0].notes, ["in fn `total`, inlined at 4:7"]);
}

#[test]
fn fn_errors() {
    let compile_errors = |src: &str| -> Vec<String> {
        compile(src)
            .expect_err("must fail")
            .into_iter()
            .map(|d| d.message)
            .collect()
    };
    assert_eq!(
        compile_errors("fn f(a) = g(a)\nfn g(b) = f(b) * 2\ngraph h { input x: f32; y = f(x) }"),
        ["fn `f` is recursive: f -> g -> f"]
    );
    assert_eq!(
        compile_errors("fn f(a) = f(a)"),
        ["fn `f` is recursive: f -> f"]
    );
    assert_eq!(
        compile_errors("fn f(a, b) = a + b\ngraph h { input x: f32; y = f(x) }"),
        ["`f` is missing its argument `b`"]
    );
    assert_eq!(
        compile_errors("fn f(a) = a\ngraph h { input x: f32; y = f(x, x) }"),
        ["`f` takes 1 argument but 2 were given"]
    );
    assert_eq!(
        compile_errors("fn f(a) = a\ngraph h { input x: f32; y = f(c = x) }"),
        ["`f` has no argument named `c`"]
    );
    assert_eq!(compile_errors("fn f(a) = a * q"), ["unknown name `q`"]);
    assert_eq!(
        compile_errors("fn f(a, a) = a"),
        ["parameter `a` appears twice in fn `f`"]
    );
    assert_eq!(
        compile_errors("fn relu(a) = a"),
        ["`relu` is a builtin function; a fn cannot take its name"]
    );
    assert_eq!(
        compile_errors("fn f(a) = a\nfn f(b) = b"),
        ["fn `f` is defined twice"]
    );
    // A type error inside a fn says where it was inlined.
    let diags =
        compile("fn f(a) = a * 2.5\ngraph h { input i: i32; y = f(i) }").expect_err("type error");
    assert_eq!(diags[0].notes, ["in fn `f`, inlined at 2:29"]);
}

#[test]
fn names_resolve_once() {
    assert_eq!(errors("input x: f32\nx = 1"), ["`x` is defined twice"]);
    assert_eq!(errors("y = z * 2"), ["unknown name `z`"]);
    assert_eq!(errors("y = foo(1)"), ["unknown function `foo`"]);
    assert_eq!(errors("y = z\nz = 1"), ["unknown name `z`"]);
    // After an error, the name is poisoned: its uses report nothing more.
    assert_eq!(
        errors("input x: f32\ny = x * q\nz = y + 1\noutput z"),
        ["unknown name `q`"]
    );
    assert_eq!(
        errors("input x: f32\ny = (x +\nz = y\n"),
        ["expected ')' to close '(' opened here"]
    );
    // Aliases keep the first name; the output takes the name it is given.
    let g = graph("input x: f32\ny = x\noutput y");
    assert_eq!(g.outputs, [("y".to_string(), ValueId(0))]);
    assert_eq!(
        errors("input x: f32\noutput x, x"),
        ["`x` is already an output"]
    );
}

#[test]
fn inputs_and_their_defaults() {
    let g = graph("input a: f32[2, 2] = [[1, 2], [3, 4]]\ninput b: i32[3] = 7\ninput c: bool = true\ninput d: f32[B]\ninput e: f64[B] = [1, 2]");
    let default = |n: &str| match &named(&g, n).op {
        Op::Input { default, .. } => default.as_ref().and_then(|d| d.value()).cloned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        default("a"),
        Tensor::new(vec![2, 2], Data::F32(vec![1.0, 2.0, 3.0, 4.0]))
    );
    // A scalar default stays one element (the driver fills the shape when it
    // feeds it), so a huge shape costs nothing until it is run.
    assert_eq!(
        default("b"),
        Some(Tensor {
            shape: vec![],
            data: Data::I32(vec![7])
        })
    );
    assert_eq!(
        default("c"),
        Some(Tensor {
            shape: vec![],
            data: Data::Bool(vec![true])
        })
    );
    assert_eq!(default("d"), None);
    assert_eq!(
        default("e"),
        Some(Tensor {
            shape: vec![2],
            data: Data::F64(vec![1.0, 2.0])
        })
    );
    assert_eq!(named(&g, "d").ty.to_string(), "f32[B]");
    assert_eq!(
        errors("input a: f32[3] = [1, 2]"),
        ["this literal has shape [2], but `a` is declared f32[3]"]
    );
    assert_eq!(
        errors("input a: i32 = 1.5"),
        ["the float literal `1.5` cannot be used as i32; write an integer or use cast"]
    );
    assert_eq!(
        errors("input a: f32[B] = 1"),
        ["a scalar default cannot fill f32[B]: its shape has symbolic dims"]
    );
    assert_eq!(
        errors("input a: f32 = x"),
        ["expected a literal (a number, `true`, `false`, or an array of them)"]
    );
}

#[test]
fn param_initialisers() {
    let g = graph(
        "param a: f32[2] = [1, -2]\nparam b: f32[2, 3] = 0.5\nparam c: f32[2] = zeros\nparam d: i32[2] = ones\n\
         param e: f32[2] = full(3)\nparam f: f32[2] = uniform(-1, 1)\nparam g: f32[2] = normal()\n\
         param h: f32[2] = normal(std = 0.1)\nparam i: f32[3, 4] = glorot\nparam j: f64 = normal(1, 2)",
    );
    let init = |n: &str| match &named(&g, n).op {
        Op::Param { init, .. } => init.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        init("a"),
        Init::Literal(Tensor {
            shape: vec![2],
            data: Data::F32(vec![1.0, -2.0])
        })
    );
    assert_eq!(init("b"), Init::Literal(Tensor::scalar_f32(0.5)));
    assert_eq!(init("c"), Init::Zeros);
    assert_eq!(init("d"), Init::Ones);
    assert_eq!(init("e"), Init::Full(3.0));
    assert_eq!(init("f"), Init::Uniform { lo: -1.0, hi: 1.0 });
    assert_eq!(
        init("g"),
        Init::Normal {
            mean: 0.0,
            std: 1.0
        }
    );
    assert_eq!(
        init("h"),
        Init::Normal {
            mean: 0.0,
            std: 0.1
        }
    );
    assert_eq!(init("i"), Init::Glorot);
    assert_eq!(
        init("j"),
        Init::Normal {
            mean: 1.0,
            std: 2.0
        }
    );
    assert_eq!(
        errors("param w: i32 = glorot"),
        ["`glorot` needs a float param, but `w` is i32"]
    );
    assert_eq!(
        errors("param w: i32 = full(0.5)"),
        ["the float literal `0.5` cannot be used as i32; write an integer or use cast"]
    );
    assert_eq!(
        errors("param w: f32 = uniform(1, 0)"),
        ["uniform(1, 0) needs lo <= hi"]
    );
    assert_eq!(
        errors("param w: f32 = xavier"),
        ["expected an initialiser for `w`"]
    );
    assert_eq!(
        errors("param w: f32[2] = [1, 2, 3]"),
        ["this literal has shape [3], but `w` is declared f32[2]"]
    );
}

#[test]
fn train_items() {
    let base = "graph g {\n  input x: f32[3]\n  param w: f32[3] = zeros\n  loss = sum(w * x)\n  acc = mean(x)\n  v = w * x\n}\n";
    let spec = |train: &str| {
        program(&format!("{base}train g {{\n{train}\n}}"))
            .trains
            .remove(0)
    };
    let t = spec("minimize loss\noptimizer adam()\nsteps 5\nbatch 2\nlog acc, loss");
    assert_eq!(
        t.optimizer,
        Optimizer::Adam {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8
        }
    );
    assert_eq!(
        (t.steps, t.batch, t.log.clone()),
        (5, Some(2), vec!["acc".to_string(), "loss".to_string()])
    );
    assert_eq!(
        spec("minimize loss\noptimizer momentum(0.1)\nsteps 1").optimizer,
        Optimizer::Momentum { lr: 0.1, beta: 0.9 }
    );
    assert_eq!(
        spec("minimize loss\noptimizer adam(lr = 0.1, beta2 = 0.99)\nsteps 1").optimizer,
        Optimizer::Adam {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8
        }
    );
    assert_eq!(
        spec("minimize loss\noptimizer adam\nsteps 1").optimizer,
        Optimizer::Adam {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8
        }
    );
    let errors = |train: &str| -> Vec<String> {
        compile(&format!("{base}train g {{\n{train}\n}}"))
            .expect_err("bad train item")
            .into_iter()
            .map(|d| d.message)
            .collect()
    };
    assert_eq!(
        errors("minimize loss\noptimizer sgd()\nsteps 1"),
        ["`sgd` is missing its argument `lr`"]
    );
    assert_eq!(
        errors("minimize v\noptimizer sgd(1)\nsteps 1"),
        ["the minimized value must be a float scalar, but `v` is f32[3]"]
    );
    assert_eq!(
        errors("minimize loss\noptimizer sgd(1)\nsteps 1\nlog v"),
        ["the logged value must be a scalar, but `v` is f32[3]"]
    );
    assert_eq!(
        errors("minimize nope\noptimizer sgd(1)\nsteps 1"),
        ["unknown name `nope`"]
    );
    assert_eq!(
        errors("minimize loss\noptimizer sgd(lr = -1)\nsteps 1"),
        ["`lr` must be positive, got -1"]
    );
    assert_eq!(
        errors("minimize loss\noptimizer momentum(1, beta = 1)\nsteps 1"),
        ["`beta` must be in [0, 1), got 1"]
    );
    assert_eq!(
        errors("minimize loss\noptimizer sgd(1)\nsteps 1.5"),
        ["`steps` must be a positive integer"]
    );
    assert_eq!(
        errors("minimize loss\noptimizer sgd(1)\nsteps 1\nbatch 0"),
        ["`batch` must be a positive integer"]
    );
    assert_eq!(
        errors("minimize loss\nsteps 1\nsteps 2\noptimizer sgd(1)"),
        ["`steps` is given twice in this train item"]
    );
    assert_eq!(
        errors("minimize loss"),
        [
            "the train item for `g` has no `optimizer` statement",
            "the train item for `g` has no `steps` statement"
        ]
    );
    assert_eq!(
        errors("minimize loss\noptimizer sgd(lr = 1, momentum = 2)\nsteps 1"),
        ["`sgd` has no argument named `momentum`"]
    );
}

#[test]
fn literals_for_feeds() {
    let lit = parse_literal("[1, 2, 3]").expect("a literal");
    assert_eq!(lit.shape, [3]);
    assert_eq!(
        lit.to_tensor(DType::F32),
        Ok(Tensor {
            shape: vec![3],
            data: Data::F32(vec![1.0, 2.0, 3.0])
        })
    );
    assert_eq!(
        lit.to_tensor(DType::I64),
        Ok(Tensor {
            shape: vec![3],
            data: Data::I64(vec![1, 2, 3])
        })
    );
    let lit = parse_literal(" [[-1.5, 2], [3, -4e1]] ").expect("a literal");
    assert_eq!(lit.shape, [2, 2]);
    assert_eq!(
        lit.elems,
        [
            Scalar::Float(-1.5),
            Scalar::Int(2),
            Scalar::Int(3),
            Scalar::Float(-40.0)
        ]
    );
    assert_eq!(
        lit.to_tensor(DType::F64),
        Ok(Tensor {
            shape: vec![2, 2],
            data: Data::F64(vec![-1.5, 2.0, 3.0, -40.0])
        })
    );
    assert_eq!(
        lit.to_tensor(DType::I32),
        Err("the float literal `-1.5` cannot be used as i32; write an integer or use cast".into())
    );
    let lit = parse_literal("[true, false]").expect("a literal");
    assert_eq!(
        lit.to_tensor(DType::Bool),
        Ok(Tensor {
            shape: vec![2],
            data: Data::Bool(vec![true, false])
        })
    );
    assert_eq!(
        lit.to_tensor(DType::F32),
        Err("the literal `true` cannot be used as f32".into())
    );
    assert_eq!(
        parse_literal("-7").map(|l| l.elems),
        Ok(vec![Scalar::Int(-7)])
    );
    assert_eq!(
        parse_literal("3000000000")
            .expect("i64")
            .to_tensor(DType::I32),
        Err("the integer `3000000000` does not fit in i32".into())
    );
    assert_eq!(
        parse_literal("1e300").expect("f64").to_tensor(DType::F32),
        Err("the literal `1e300` is out of range for f32".into())
    );
    for bad in [
        "",
        "[]",
        "[1, [2]]",
        "[[1], [2, 3]]",
        "[1, true]",
        "x",
        "1 +",
        "--1",
        "[1, 2",
    ] {
        assert!(parse_literal(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn every_lowering_error_in_a_graph_is_reported() {
    let errs = errors(
        "input x: f32[3]\na = x * q\nb = nope(x)\nc = x @ x @ x\nd = sum(x, axis = 5)\ne = reshape(x, [2, -1])\nx = 1",
    );
    assert_eq!(
        errs,
        [
            "unknown name `q`",
            "unknown function `nope`",
            "matmul: needs operands of rank 1 or more, got f32 and f32[3]",
            "axis 5 is out of range for f32[3]",
            "cannot reshape f32[3] to [2, -1]: 3 elements do not divide into parts of 2",
            "`x` is defined twice",
        ]
    );
}
