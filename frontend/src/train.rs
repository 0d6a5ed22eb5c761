//! `train` items (docs/language.md, "Training") to [`TrainSpec`]s, checked
//! against the graph they train: the loss and logged names must be scalar
//! values of it, the optimizer and its arguments known, with TensorFlow's
//! defaults filled in.

use crate::ast::{Expr, ExprKind, Ident, TrainItem, TrainStmtKind};
use crate::diag::{did_you_mean, line_col, Diagnostic};
use crate::literal::{Literal, Scalar};
use crate::signature::{bind_args, Param};
use std::collections::HashMap;
use tfg_ir::{Decay, Loc, Optimizer, TrainSpec, Type};

/// An optimizer's parameters with TensorFlow's defaults (`None`: required).
/// The names a lowered graph binds and their types (`None`: poisoned), for
/// checking the `train` items that refer to it.
pub(crate) type GraphNames = HashMap<String, Option<Type>>;

type Hyperparameters = &'static [(&'static str, Option<f64>)];

const OPTIMIZERS: [(&str, Hyperparameters); 5] = [
    ("sgd", &[("lr", None)]),
    ("momentum", &[("lr", None), ("beta", Some(0.9))]),
    (
        "adam",
        &[
            ("lr", Some(0.001)),
            ("beta1", Some(0.9)),
            ("beta2", Some(0.999)),
            ("eps", Some(1e-8)),
        ],
    ),
    (
        "rmsprop",
        &[
            ("lr", None),
            ("decay", Some(0.9)),
            ("momentum", Some(0.0)),
            ("eps", Some(1e-10)),
        ],
    ),
    (
        "adagrad",
        &[("lr", None), ("initial_accumulator_value", Some(0.1))],
    ),
];

/// The optimizers' signatures, for notes.
const OPTIMIZER_LIST: &str = "sgd(lr), momentum(lr, beta = 0.9), adam(lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8), rmsprop(lr, decay = 0.9, momentum = 0.0, eps = 1e-10) and adagrad(lr, initial_accumulator_value = 0.1)";

/// The spec of train item `t`, or `None` after reporting why it has none.
/// `graphs` maps each graph to its names (`None` for a graph whose header did
/// not parse: names in it are not checked).
pub(crate) fn lower_train(
    t: &TrainItem,
    graphs: &HashMap<&str, Option<GraphNames>>,
    src: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<TrainSpec> {
    let errors_before = diags.len();
    let names = match graphs.get(t.graph.name.as_str()) {
        Some(names) => names.as_ref(),
        None => {
            let mut d = Diagnostic::error(format!("unknown graph `{}`", t.graph.name))
                .at(t.graph.span)
                .label("no graph of this name in the file");
            if let Some(help) = did_you_mean(&t.graph.name, graphs.keys().copied()) {
                d = d.note(help);
            }
            diags.push(d);
            None
        }
    };
    let check = Checker {
        graph: &t.graph.name,
        names,
    };
    let mut minimize = None;
    let mut optimizer = None;
    let mut steps = None;
    let mut batch = None;
    let mut log = None;
    let mut clip_norm = None;
    let mut failed = false;
    for s in &t.body {
        let (slot_name, fresh) = match &s.kind {
            TrainStmtKind::Minimize(n) => {
                let name = check
                    .value(n, "minimized", true, diags)
                    .then(|| n.name.clone());
                ("minimize", set(&mut minimize, name))
            }
            TrainStmtKind::Optimizer(e) => {
                ("optimizer", set(&mut optimizer, optimizer_of(e, diags)))
            }
            TrainStmtKind::ClipNorm(e) => (
                "clip_norm",
                set(&mut clip_norm, hyperparameter(e, "clip_norm", diags)),
            ),
            TrainStmtKind::Steps(e) => ("steps", set(&mut steps, positive(e, "steps", diags))),
            TrainStmtKind::Batch(e) => ("batch", set(&mut batch, positive(e, "batch", diags))),
            TrainStmtKind::Log(ns) => {
                // Check every name, not only up to the first bad one.
                let bad = ns
                    .iter()
                    .filter(|n| !check.value(n, "logged", false, diags))
                    .count();
                let ok = bad == 0;
                (
                    "log",
                    set(
                        &mut log,
                        ok.then(|| ns.iter().map(|n| n.name.clone()).collect()),
                    ),
                )
            }
            TrainStmtKind::Error => {
                failed = true;
                continue;
            }
        };
        if !fresh {
            diags.push(
                Diagnostic::error(format!("`{slot_name}` is given twice in this train item"))
                    .at(s.span),
            );
        }
    }
    let required = [
        (
            "minimize",
            "minimize loss",
            absent(t, |k| matches!(k, TrainStmtKind::Minimize(_))),
        ),
        (
            "optimizer",
            "optimizer sgd(lr = 0.01)",
            absent(t, |k| matches!(k, TrainStmtKind::Optimizer(_))),
        ),
        (
            "steps",
            "steps 100",
            absent(t, |k| matches!(k, TrainStmtKind::Steps(_))),
        ),
    ];
    for (what, example, _) in required.iter().filter(|r| r.2) {
        diags.push(
            Diagnostic::error(format!(
                "the train item for `{}` has no `{what}` statement",
                t.graph.name
            ))
            .at(t.graph.span)
            .note(format!("help: add `{example}`")),
        );
    }
    if failed || diags.len() > errors_before {
        return None;
    }
    let (Some(Some(minimize)), Some(Some(optimizer)), Some(Some(steps))) =
        (minimize, optimizer, steps)
    else {
        return None;
    };
    let (line, col) = line_col(src, t.span.start);
    let (optimizer, decay) = optimizer;
    Some(TrainSpec {
        graph: t.graph.name.clone(),
        minimize,
        optimizer,
        decay,
        clip_norm: clip_norm.flatten(),
        steps,
        batch: batch.flatten(),
        log: log.flatten().unwrap_or_default(),
        loc: Some(Loc { line, col }),
    })
}

fn absent(t: &TrainItem, is: impl Fn(&TrainStmtKind) -> bool) -> bool {
    !t.body.iter().any(|s| is(&s.kind))
}

/// Fills a statement's slot; false if it was already filled.
fn set<T>(slot: &mut Option<Option<T>>, value: Option<T>) -> bool {
    let fresh = slot.is_none();
    if fresh {
        *slot = Some(value);
    }
    fresh
}

/// Checks names against the trained graph.
struct Checker<'a> {
    graph: &'a str,
    names: Option<&'a GraphNames>,
}

impl Checker<'_> {
    /// Whether `n` is a scalar value of the graph (a float one if `float`).
    fn value(&self, n: &Ident, role: &str, float: bool, diags: &mut Vec<Diagnostic>) -> bool {
        let Some(names) = self.names else {
            return true;
        };
        let ty = match names.get(&n.name) {
            Some(Some(ty)) => ty,
            Some(None) => return false,
            None => {
                let mut d = Diagnostic::error(format!("unknown name `{}`", n.name))
                    .at(n.span)
                    .label(format!("not defined in graph `{}`", self.graph));
                if let Some(help) = did_you_mean(&n.name, names.keys().map(String::as_str)) {
                    d = d.note(help);
                }
                diags.push(d);
                return false;
            }
        };
        let kind = if float { "a float scalar" } else { "a scalar" };
        if ty.shape.rank() > 0 || (float && !ty.dtype.is_float()) {
            diags.push(
                Diagnostic::error(format!(
                    "the {role} value must be {kind}, but `{}` is {ty}",
                    n.name
                ))
                .at(n.span)
                .note("help: reduce it first, for example with `sum` or `mean`"),
            );
            return false;
        }
        true
    }
}

/// `optimizer NAME(args)` with its defaults and its learning-rate schedule,
/// or `None` after reporting.
fn optimizer_of(e: &Expr, diags: &mut Vec<Diagnostic>) -> Option<(Optimizer, Option<Decay>)> {
    let (name, args, kwargs): (&Ident, &[Expr], &[(Ident, Expr)]) = match &e.kind {
        ExprKind::Call { func, args, kwargs } => (func, args, kwargs),
        ExprKind::Name(n) => (
            &Ident {
                name: n.clone(),
                span: e.span,
            },
            &[],
            &[],
        ),
        _ => {
            diags.push(
                Diagnostic::error("expected an optimizer, such as `sgd(lr = 0.01)`")
                    .at(e.span)
                    .note(format!("the optimizers are {OPTIMIZER_LIST}")),
            );
            return None;
        }
    };
    let Some((_, spec)) = OPTIMIZERS.iter().find(|(n, _)| *n == name.name) else {
        let mut d = Diagnostic::error(format!("unknown optimizer `{}`", name.name))
            .at(name.span)
            .note("the optimizers are sgd, momentum, adam, rmsprop and adagrad");
        if let Some(help) = did_you_mean(&name.name, OPTIMIZERS.iter().map(|(n, _)| *n)) {
            d = d.note(help);
        }
        diags.push(d);
        return None;
    };
    let params: Vec<Param> = spec
        .iter()
        .map(|&(p, default)| Param {
            required: default.is_none(),
            ..Param::value(p)
        })
        .collect();
    let bound = bind_args(&name.name, &params, args, kwargs, e.span)
        .map_err(|d| diags.push(d))
        .ok()?;
    let mut values = Vec::new();
    let mut decay = None;
    for (&(p, default), arg) in spec.iter().zip(bound) {
        let value = match arg {
            Some(a) if p == "lr" && is_call(a, "exponential_decay") => {
                let (lr, d) = exponential_decay(a, diags)?;
                decay = Some(d);
                lr
            }
            Some(a) => hyperparameter(a, p, diags)?,
            None => default?,
        };
        values.push(value);
    }
    let optimizer = match (name.name.as_str(), values.as_slice()) {
        ("sgd", &[lr]) => Optimizer::Sgd { lr },
        ("momentum", &[lr, beta]) => Optimizer::Momentum { lr, beta },
        ("adam", &[lr, beta1, beta2, eps]) => Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        },
        ("rmsprop", &[lr, decay, momentum, eps]) => Optimizer::RmsProp {
            lr,
            decay,
            momentum,
            eps,
        },
        ("adagrad", &[lr, initial_accumulator_value]) => Optimizer::Adagrad {
            lr,
            initial_accumulator_value,
        },
        _ => return None,
    };
    Some((optimizer, decay))
}

fn is_call(e: &Expr, callee: &str) -> bool {
    matches!(&e.kind, ExprKind::Call { func, .. } if func.name == callee)
}

/// `exponential_decay(lr0, decay_steps, decay_rate, staircase = false)`:
/// the initial rate and the schedule.
fn exponential_decay(e: &Expr, diags: &mut Vec<Diagnostic>) -> Option<(f64, Decay)> {
    let ExprKind::Call { func, args, kwargs } = &e.kind else {
        return None;
    };
    let params = [
        Param::value("lr0"),
        Param::value("decay_steps"),
        Param::value("decay_rate"),
        Param {
            required: false,
            ..Param::value("staircase")
        },
    ];
    let bound = bind_args(&func.name, &params, args, kwargs, e.span)
        .map_err(|d| diags.push(d))
        .ok()?;
    let [Some(lr0), Some(steps), Some(rate), staircase] = bound[..] else {
        return None;
    };
    let lr = hyperparameter(lr0, "lr0", diags);
    let steps = hyperparameter(steps, "decay_steps", diags);
    let rate = hyperparameter(rate, "decay_rate", diags);
    let staircase = match staircase {
        Some(s) => match Literal::from_expr(s) {
            Ok(Literal { shape, elems }) if shape.is_empty() => match elems[0] {
                Scalar::Bool(b) => Some(b),
                _ => None,
            },
            _ => None,
        }
        .or_else(|| {
            diags.push(Diagnostic::error("`staircase` must be `true` or `false`").at(s.span));
            None
        }),
        None => Some(false),
    };
    Some((
        lr?,
        Decay {
            decay_steps: steps?,
            decay_rate: rate?,
            staircase: staircase?,
        },
    ))
}

/// A numeric literal in the range its parameter allows: the betas in
/// `[0, 1)`, rmsprop's `decay` in `[0, 1]`, its `momentum` at least 0, the
/// rest positive.
fn hyperparameter(e: &Expr, name: &str, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    let x = match Literal::from_expr(e) {
        Ok(Literal { shape, elems }) if shape.is_empty() => match elems[0] {
            Scalar::Int(n) => n as f64,
            Scalar::Float(x) => x,
            Scalar::Bool(_) => f64::NAN,
        },
        _ => f64::NAN,
    };
    if x.is_nan() {
        diags.push(Diagnostic::error(format!("`{name}` must be a number")).at(e.span));
        return None;
    }
    let (ok, range) = match name {
        _ if name.starts_with("beta") => ((0.0..1.0).contains(&x), "in [0, 1)"),
        "decay" => ((0.0..=1.0).contains(&x), "in [0, 1]"),
        "momentum" => (x >= 0.0, "at least 0"),
        _ => (x > 0.0, "positive"),
    };
    if !ok {
        diags.push(Diagnostic::error(format!("`{name}` must be {range}, got {x}")).at(e.span));
        return None;
    }
    Some(x)
}

/// `steps N` / `batch N`: an integer literal of at least 1.
fn positive(e: &Expr, what: &str, diags: &mut Vec<Diagnostic>) -> Option<u64> {
    let label = match Literal::from_expr(e) {
        Ok(Literal { shape, elems }) if shape.is_empty() => match elems[0] {
            Scalar::Int(n) if n >= 1 => return Some(n as u64),
            Scalar::Int(_) => "at least 1",
            _ => "not an integer",
        },
        _ => "not an integer literal",
    };
    diags.push(
        Diagnostic::error(format!("`{what}` must be a positive integer"))
            .at(e.span)
            .label(label),
    );
    None
}
