//! `train` items (docs/language.md, "Training") to [`TrainSpec`]s, checked
//! against the graph they train: the loss and logged names must be scalar
//! values of it, the optimizer and its arguments known, with TensorFlow's
//! defaults filled in.

use crate::ast::{Expr, ExprKind, Ident, TrainItem, TrainStmtKind};
use crate::builtin::{bind_args, Param};
use crate::diag::{did_you_mean, line_col, Diagnostic};
use crate::literal::{Literal, Scalar};
use crate::lower::GraphNames;
use std::collections::HashMap;
use tfg_ir::{Loc, Optimizer, TrainSpec};

/// An optimizer's parameters with TensorFlow's defaults (`None`: required).
type Hyperparameters = &'static [(&'static str, Option<f64>)];

const OPTIMIZERS: [(&str, Hyperparameters); 3] = [
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
];

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
    Some(TrainSpec {
        graph: t.graph.name.clone(),
        minimize,
        optimizer,
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

/// `optimizer NAME(args)` with its defaults, or `None` after reporting.
fn optimizer_of(e: &Expr, diags: &mut Vec<Diagnostic>) -> Option<Optimizer> {
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
                    .note("the optimizers are sgd(lr), momentum(lr, beta = 0.9) and adam(lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8)"),
            );
            return None;
        }
    };
    let Some((_, spec)) = OPTIMIZERS.iter().find(|(n, _)| *n == name.name) else {
        let mut d = Diagnostic::error(format!("unknown optimizer `{}`", name.name))
            .at(name.span)
            .note("the optimizers are sgd, momentum and adam");
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
    for (&(p, default), arg) in spec.iter().zip(bound) {
        let value = match arg {
            Some(a) => hyperparameter(a, p, diags)?,
            None => default?,
        };
        values.push(value);
    }
    Some(match (name.name.as_str(), values.as_slice()) {
        ("sgd", &[lr]) => Optimizer::Sgd { lr },
        ("momentum", &[lr, beta]) => Optimizer::Momentum { lr, beta },
        (_, &[lr, beta1, beta2, eps]) => Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        },
        _ => return None,
    })
}

/// A numeric literal in the range its parameter allows: `lr` and `eps`
/// positive, the betas in `[0, 1)`.
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
    let (ok, range) = if name.starts_with("beta") {
        ((0.0..1.0).contains(&x), "in [0, 1)")
    } else {
        (x > 0.0, "positive")
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
