//! Training-step graphs, run step by step in the interpreter, against
//! hand-derived values and against trajectories from a numpy
//! re-implementation of TensorFlow's optimizers (`golden/optimizers.py`).

use serde_json::Value;
use std::collections::BTreeMap;
use tfg_ir::{
    BinaryOp, DType, Data, Graph, Init, Op, Optimizer, ReduceOp, Shape, Tensor, TrainSpec, Type,
    ValueId,
};
use tfg_passes::train_step::{build_split_train_step, build_train_step, TrainStep};

fn spec(graph: &str, minimize: &str, optimizer: Optimizer, log: &[&str]) -> TrainSpec {
    TrainSpec {
        graph: graph.into(),
        decay: None,
        clip_norm: None,
        minimize: minimize.into(),
        optimizer,
        steps: 1,
        batch: None,
        log: log.iter().map(|s| s.to_string()).collect(),
        loc: None,
    }
}

fn add(g: &mut Graph, op: Op, args: &[ValueId], name: &str) -> ValueId {
    let v = g.add(op, args).expect("the test graph type-checks");
    g.node_mut(v).name = Some(name.into());
    v
}

/// State between steps, as the driver keeps it: one tensor per param.
struct Session {
    params: Vec<Tensor>,
}

impl Session {
    fn new(g: &Graph) -> Session {
        let params = g
            .params()
            .map(|p| match &g.node(p).op {
                Op::Param { name, init } => {
                    tfg_ir::init::materialize(init, g.ty(p), 0, name).expect("init")
                }
                _ => unreachable!("params() gives params"),
            })
            .collect();
        Session { params }
    }

    /// Runs one step, applies its updates and returns its outputs.
    fn step(&mut self, g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
        let out = tfg_interp::run(g, inputs, &self.params).expect("the step runs");
        let order: Vec<ValueId> = g.params().collect();
        for (&(p, _), t) in g.updates.iter().zip(out.updates) {
            let i = order
                .iter()
                .position(|&q| q == p)
                .expect("updates target params");
            self.params[i] = t;
        }
        out.outputs
    }
}

/// The hello graph (`examples/hello.tfg`): `y = w·x; loss = (y - 0.0)**2`.
fn hello() -> Graph {
    let mut g = Graph::new("hello");
    let f32_ = Type::scalar(DType::F32);
    let x = g.add_input("x", f32_.clone(), Some(Tensor::scalar_f32(1.0)));
    let w = g.add_param("w", f32_, Init::Literal(Tensor::scalar_f32(0.8)));
    let y = add(&mut g, Op::Binary(BinaryOp::Mul), &[w, x], "y");
    let zero = g.add(Op::Const(Tensor::scalar_f32(0.0)), &[]).unwrap();
    let d = g.add(Op::Binary(BinaryOp::Sub), &[y, zero]).unwrap();
    let two = g.add(Op::Const(Tensor::scalar_f32(2.0)), &[]).unwrap();
    let loss = add(&mut g, Op::Binary(BinaryOp::Pow), &[d, two], "loss");
    g.outputs = vec![("y".into(), y), ("loss".into(), loss)];
    g
}

#[test]
fn hello_learns_as_spec_says() {
    let g = hello();
    let step = build_train_step(
        &g,
        &spec(
            "hello",
            "loss",
            Optimizer::Sgd { lr: 0.025 },
            &["y", "loss"],
        ),
    )
    .unwrap();
    tfg_ir::verify(&step.graph).expect("the step graph verifies");
    let names: Vec<&str> = step.graph.outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["loss", "y"]);
    assert_eq!(step.log, [("y".to_string(), 1), ("loss".to_string(), 0)]);
    let x = [Tensor::scalar_f32(1.0)];
    let mut session = Session::new(&step.graph);
    let first: Vec<f64> = session
        .step(&step.graph, &x)
        .iter()
        .map(|t| t.data.get_f64(0))
        .collect();
    for (got, want) in first.iter().zip([0.64, 0.8]) {
        assert!((got - want).abs() < 1e-6, "{first:?}");
    }
    for _ in 1..100 {
        session.step(&step.graph, &x);
    }
    // w ← w - 0.025·2w = 0.95·w each step.
    let y = tfg_interp::run(&g, &x, &session.params).unwrap().outputs[0]
        .data
        .get_f64(0);
    let want = 0.8 * 0.95f64.powi(100);
    assert!((y - want).abs() < 1e-6, "y = {y}, want {want}");
}

#[test]
fn a_grad_in_the_trained_graph_is_expanded() {
    let mut g = hello();
    let (loss, w) = (g.lookup("loss").unwrap(), g.lookup("w").unwrap());
    let dw = g.add(Op::Grad, &[loss, w]).unwrap();
    add(&mut g, Op::Binary(BinaryOp::Mul), &[dw, dw], "gn");
    let step = build_train_step(
        &g,
        &spec("hello", "loss", Optimizer::Sgd { lr: 0.025 }, &["gn"]),
    )
    .unwrap();
    assert!(step.graph.nodes.iter().all(|n| !matches!(n.op, Op::Grad)));
    let out = Session::new(&step.graph).step(&step.graph, &[Tensor::scalar_f32(1.0)]);
    // d(w·x)²/dw = 2w·x² = 1.6 at w = 0.8, x = 1.
    assert!((out[1].data.get_f64(0) - 1.6 * 1.6).abs() < 1e-6, "{out:?}");
}

/// `pred = x @ w + b; loss = mean((pred - y)²)`, as in golden/optimizers.py.
fn regression(dtype: DType, golden: &Value) -> (Graph, [Tensor; 2]) {
    let tensor = |key: &str| {
        let t = &golden[key];
        let shape: Vec<usize> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let data = t["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap());
        Tensor::new(shape, Data::F64(data.collect()))
            .unwrap()
            .cast(dtype)
    };
    let mut g = Graph::new("regression");
    let (xt, yt) = (tensor("x"), tensor("y"));
    let x = g.add_input("x", xt.ty(), None);
    let y = g.add_input("y", yt.ty(), None);
    let wt = tensor("w");
    let w = g.add_param("w", wt.ty(), Init::Literal(wt));
    let bt = tensor("b");
    let b = g.add_param("b", bt.ty(), Init::Literal(bt));
    let xw = g.add(Op::MatMul, &[x, w]).unwrap();
    let pred = g.add(Op::Binary(BinaryOp::Add), &[xw, b]).unwrap();
    let r = g.add(Op::Binary(BinaryOp::Sub), &[pred, y]).unwrap();
    let sq = g.add(Op::Unary(tfg_ir::UnaryOp::Square), &[r]).unwrap();
    let loss = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Mean,
            axes: vec![0, 1],
            keepdims: false,
        },
        &[sq],
        "loss",
    );
    g.outputs = vec![("loss".into(), loss)];
    (g, [xt, yt])
}

fn optimizer(o: &Value) -> Optimizer {
    let f = |k: &str| o[k].as_f64().unwrap();
    match o["kind"].as_str().unwrap() {
        "sgd" => Optimizer::Sgd { lr: f("lr") },
        "momentum" => Optimizer::Momentum {
            lr: f("lr"),
            beta: f("beta"),
        },
        "adam" => Optimizer::Adam {
            lr: f("lr"),
            beta1: f("beta1"),
            beta2: f("beta2"),
            eps: f("eps"),
        },
        k => panic!("unknown optimizer {k} in the golden file"),
    }
}

/// Within 1e-5 relative in f32 (with a 1e-7 floor for values crossing zero);
/// an f64 run must agree to rounding.
fn assert_close(got: &Tensor, want: &Value, what: &str) {
    let (rel, abs) = match got.dtype() {
        DType::F32 => (1e-5, 1e-7),
        _ => (1e-11, 1e-13),
    };
    let want: Vec<f64> = match want {
        Value::Array(a) => a.iter().map(|v| v.as_f64().unwrap()).collect(),
        v => vec![v.as_f64().unwrap()],
    };
    assert_eq!(got.numel(), want.len(), "{what}");
    for (i, &w) in want.iter().enumerate() {
        let g = got.data.get_f64(i);
        assert!(
            (g - w).abs() <= rel * w.abs() + abs,
            "{what}[{i}]: got {g}, numpy {w}"
        );
    }
}

#[test]
fn optimizers_follow_tensorflow_step_by_step() {
    let golden: Value =
        serde_json::from_str(include_str!("golden/optimizers.json")).expect("golden JSON");
    for dtype in [DType::F32, DType::F64] {
        let (g, inputs) = regression(dtype, &golden);
        for run in golden["runs"].as_array().unwrap() {
            let opt = optimizer(&run["optimizer"]);
            let step = build_train_step(&g, &spec("regression", "loss", opt.clone(), &[])).unwrap();
            tfg_ir::verify(&step.graph).expect("the step graph verifies");
            let mut session = Session::new(&step.graph);
            let steps = golden["steps"].as_u64().unwrap() as usize;
            for t in 0..steps {
                let what = |v: &str| format!("{dtype} {opt:?} step {}: {v}", t + 1);
                let out = session.step(&step.graph, &inputs);
                assert_close(&out[0], &run["loss"][t], &what("loss"));
                assert_close(&session.params[0], &run["w"][t], &what("w"));
                assert_close(&session.params[1], &run["b"][t], &what("b"));
            }
        }
    }
}

/// The step cut at the gradients (what each replica of data-parallel
/// training runs), its two halves run back to back on params kept by name,
/// follows the same trajectories as the whole step.
#[test]
fn the_split_step_follows_tensorflow_too() {
    let golden: Value =
        serde_json::from_str(include_str!("golden/optimizers.json")).expect("golden JSON");
    for dtype in [DType::F32, DType::F64] {
        let (g, inputs) = regression(dtype, &golden);
        for run in golden["runs"].as_array().unwrap() {
            let opt = optimizer(&run["optimizer"]);
            let split =
                build_split_train_step(&g, &spec("regression", "loss", opt.clone(), &[])).unwrap();
            tfg_ir::verify(&split.gradients).expect("the gradient graph verifies");
            tfg_ir::verify(&split.update).expect("the update graph verifies");
            assert!(split.gradients.updates.is_empty());
            let mut params: BTreeMap<String, Tensor> = BTreeMap::new();
            for (name, ty, init) in param_names(&split.update) {
                let value = tfg_ir::init::materialize(&init, &ty, 0, &name).expect("init");
                params.insert(name, value);
            }
            let values = |g: &Graph, params: &BTreeMap<String, Tensor>| -> Vec<Tensor> {
                param_names(g)
                    .iter()
                    .map(|(n, _, _)| params[n].clone())
                    .collect()
            };
            let steps = golden["steps"].as_u64().unwrap() as usize;
            for t in 0..steps {
                let what = |v: &str| format!("split {dtype} {opt:?} step {}: {v}", t + 1);
                let out = tfg_interp::run(
                    &split.gradients,
                    &inputs,
                    &values(&split.gradients, &params),
                )
                .expect("the gradients run");
                assert_close(&out.outputs[0], &run["loss"][t], &what("loss"));
                let grads = &out.outputs[split.first_gradient..];
                let names: Vec<&str> = split
                    .update
                    .inputs()
                    .map(|v| match &split.update.node(v).op {
                        Op::Input { name, .. } => name.as_str(),
                        _ => unreachable!("inputs() gives inputs"),
                    })
                    .collect();
                let fed: Vec<Tensor> = names
                    .iter()
                    .map(|n| {
                        let i = split
                            .gradients
                            .outputs
                            .iter()
                            .position(|(o, _)| o == n)
                            .expect("a gradient output");
                        out.outputs[i].clone()
                    })
                    .collect();
                assert_eq!(fed.len(), grads.len());
                let updated = tfg_interp::run(&split.update, &fed, &values(&split.update, &params))
                    .expect("the update runs");
                for (&(p, _), value) in split.update.updates.iter().zip(updated.updates) {
                    let Op::Param { name, .. } = &split.update.node(p).op else {
                        unreachable!("updates target params")
                    };
                    params.insert(name.clone(), value);
                }
                assert_close(&params["w"], &run["w"][t], &what("w"));
                assert_close(&params["b"], &run["b"][t], &what("b"));
            }
        }
    }
}

fn param_names(g: &Graph) -> Vec<(String, Type, Init)> {
    g.params()
        .map(|p| match &g.node(p).op {
            Op::Param { name, init } => (name.clone(), g.ty(p).clone(), init.clone()),
            _ => unreachable!("params() gives params"),
        })
        .collect()
}

#[test]
fn slots_are_zero_params_with_reserved_names() {
    let golden: Value =
        serde_json::from_str(include_str!("golden/optimizers.json")).expect("golden JSON");
    let (g, _) = regression(DType::F32, &golden);
    let (w, b) = (
        Type::new(DType::F32, Shape::known(&[3, 2])),
        Type::new(DType::F32, Shape::known(&[2])),
    );
    let slots = |opt| {
        let step: TrainStep = build_train_step(&g, &spec("regression", "loss", opt, &[])).unwrap();
        let params = param_names(&step.graph);
        // Every param and slot is updated exactly once.
        let mut targets: Vec<ValueId> = step.graph.updates.iter().map(|&(p, _)| p).collect();
        targets.sort();
        assert_eq!(targets, step.graph.params().collect::<Vec<_>>());
        assert_eq!(step.slots.len(), params.len() - 2);
        params[2..]
            .iter()
            .map(|(n, t, i)| (n.clone(), t.clone(), i.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(slots(Optimizer::Sgd { lr: 0.1 }), []);
    assert_eq!(
        slots(Optimizer::Momentum { lr: 0.1, beta: 0.9 }),
        [
            ("w/momentum".into(), w.clone(), Init::Zeros),
            ("b/momentum".into(), b.clone(), Init::Zeros)
        ]
    );
    assert_eq!(
        slots(Optimizer::Adam {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8
        }),
        [
            ("adam/step".into(), Type::scalar(DType::I64), Init::Zeros),
            ("w/adam_m".into(), w.clone(), Init::Zeros),
            ("w/adam_v".into(), w, Init::Zeros),
            ("b/adam_m".into(), b.clone(), Init::Zeros),
            ("b/adam_v".into(), b, Init::Zeros),
        ]
    );
}

#[test]
fn a_param_the_loss_ignores_is_left_alone() {
    let mut g = hello();
    let f32_ = Type::scalar(DType::F32);
    let idle = g.add_param("idle", f32_, Init::Literal(Tensor::scalar_f32(3.0)));
    let step = build_train_step(
        &g,
        &spec(
            "hello",
            "loss",
            Optimizer::Momentum { lr: 0.1, beta: 0.9 },
            &[],
        ),
    )
    .unwrap();
    assert!(step.graph.updates.iter().all(|&(p, _)| p != idle));
    assert_eq!(step.grads.len(), 1);
    assert!(param_names(&step.graph)
        .iter()
        .all(|(n, _, _)| !n.starts_with("idle/")));
}

#[test]
fn bad_train_items_are_reported() {
    let g = hello();
    let err = |s: TrainSpec, g: &Graph| build_train_step(g, &s).unwrap_err();
    let sgd = Optimizer::Sgd { lr: 0.1 };
    assert_eq!(
        err(spec("other", "loss", sgd.clone(), &[]), &g),
        "the train item is for graph `other`, not `hello`"
    );
    assert_eq!(
        err(spec("hello", "nope", sgd.clone(), &[]), &g),
        "graph `hello` has no value named `nope`"
    );
    assert_eq!(
        err(spec("hello", "loss", sgd.clone(), &["gone"]), &g),
        "graph `hello` has no value named `gone`"
    );

    let mut vector = hello();
    let x = vector.lookup("x").unwrap();
    let two = vector
        .add(Op::Const(Tensor::full(DType::F32, vec![2], 1.0)), &[])
        .unwrap();
    add(&mut vector, Op::Binary(BinaryOp::Mul), &[x, two], "v");
    assert_eq!(
        err(spec("hello", "v", sgd.clone(), &[]), &vector),
        "minimize `v`: the loss must be a float scalar, got f32[2]"
    );
    assert_eq!(
        err(spec("hello", "loss", sgd.clone(), &["v"]), &vector),
        "log `v`: only scalars can be logged, got f32[2]"
    );

    let mut int_param = hello();
    int_param.add_param("n", Type::scalar(DType::I32), Init::Zeros);
    assert_eq!(
        err(spec("hello", "loss", sgd.clone(), &[]), &int_param),
        "param `n` is i32; only float params can be trained"
    );

    let mut no_params = Graph::new("hello");
    let x = no_params.add_input("x", Type::scalar(DType::F32), None);
    let sq = add(
        &mut no_params,
        Op::Unary(tfg_ir::UnaryOp::Square),
        &[x],
        "loss",
    );
    no_params.outputs = vec![("loss".into(), sq)];
    assert_eq!(
        err(spec("hello", "loss", sgd.clone(), &[]), &no_params),
        "graph `hello` has no params to train"
    );
    no_params.add_param("w", Type::scalar(DType::F32), Init::Zeros);
    assert_eq!(
        err(spec("hello", "loss", sgd, &[]), &no_params),
        "the loss `loss` does not depend on any param"
    );
}
