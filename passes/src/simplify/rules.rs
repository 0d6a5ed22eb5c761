//! The rewrite rules.
//!
//! Each rule is a pattern, a right-hand side, and a check that may refuse
//! the match or supply the leaves the right-hand side needs (a composed perm,
//! a count). Every right-hand side is type-checked by the op registry before
//! it is added, and must have exactly the type of what it replaces, so
//! `x * 1 → x` never fires where the `1` broadcasts `x` to a larger shape.
//!
//! Every rule gives bit-identical results in IEEE arithmetic except these,
//! which move a result by a rounding or two, well within the accuracy the
//! language allows (docs/language.md, "Semantics"): `sum-broadcast` and `mean-broadcast` (one product, or the
//! element itself, for a sum of equal terms), the `factor-*` rules (one
//! rounding fewer), `exp-log` (`exp(log x)` rounds twice) and
//! `sum-batched-matmul` (the same sum in another order). Signed zeros:
//! `x + 0.0 → x` would turn `-0.0 + 0.0 = 0.0` into `-0.0`, which `1/x` tells
//! apart, so for floats it fires only where the zero is `-0.0` (`x + -0.0`
//! is `x` for every `x`) or where the analysis proves `x` is never `-0.0`;
//! `x - 0.0` is always `x`. Commutativity is left out on purpose (it
//! multiplies the e-graph): a rule that cares about operand order is written
//! out for each order it handles (`mul-one`, `one-mul`).

use super::analysis::{shape, tensor_type, Facts, TensorAnalysis, TensorFacts, TensorGraph};
use super::cost::numel;
use super::lang::{join, Attr, NodeKind, TensorLang};
use egg::{Applier, ENodeOrVar, Id, Pattern, PatternAst, Rewrite, Subst, Symbol, Var};
use std::collections::BTreeSet;
use tfg_ir::{infer, BinaryOp, Dim, ReduceOp, Shape, Tensor, Type, UnaryOp};

pub type Rule = Rewrite<TensorLang, TensorAnalysis>;

/// New leaves for the right-hand side's unbound variables, or `None`: do not fire.
type Leaves = Option<Vec<(&'static str, TensorLang)>>;

/// One match of a rule's pattern, as its check sees it.
pub struct Match<'a> {
    egraph: &'a TensorGraph,
    root: Id,
    subst: &'a Subst,
    vars: &'a [(String, Var)],
}

impl Match<'_> {
    fn class(&self, var: &str) -> Option<Id> {
        let (_, v) = self.vars.iter().find(|(name, _)| name == var)?;
        self.subst.get(*v).copied()
    }

    fn tensor(&self, var: &str) -> Option<&TensorFacts> {
        self.egraph[self.class(var)?].data.tensor()
    }

    fn attr(&self, var: &str) -> Option<&Attr> {
        self.egraph[self.class(var)?].data.attr()
    }

    fn perm(&self, var: &str) -> Option<&[usize]> {
        match self.attr(var)? {
            Attr::Perm(p) => Some(p),
            _ => None,
        }
    }

    /// The e-class of `a * b`, if there is one.
    fn product(&self, a: Id, b: Id) -> Option<Id> {
        self.egraph
            .lookup(TensorLang::Op(NodeKind::Binary(BinaryOp::Mul), vec![a, b]))
    }

    /// The e-class of the e-node `kind(children)` (an attribute first), if
    /// there is one.
    fn node(&self, kind: NodeKind, children: Vec<Id>) -> Option<Id> {
        self.egraph.lookup(TensorLang::Op(kind, children))
    }

    /// No other value uses `class`: one user at most, and it is not an
    /// output or update. Rewriting the only user of a value lets the value go;
    /// rewriting one of several keeps it and adds work.
    fn single_use(&self, class: Id) -> bool {
        let roots = &self.egraph.analysis.roots;
        self.egraph[class].parents().len() <= 1
            && !roots.iter().any(|&r| self.egraph.find(r) == class)
    }

    /// The matched e-class: what the right-hand side replaces.
    fn root(&self) -> Option<&TensorFacts> {
        self.egraph[self.root].data.tensor()
    }
}

/// Fire, adding nothing, when `cond` holds.
fn when(cond: bool) -> Leaves {
    cond.then(Vec::new)
}

/// The right-hand side of a rule: a pattern, completed and guarded by `check`.
struct Rhs {
    ast: PatternAst<TensorLang>,
    vars: Vec<(String, Var)>,
    check: Box<dyn Fn(&Match) -> Leaves + Send + Sync>,
}

/// What a right-hand side node is, for type-checking it.
enum Sort {
    Attr(Attr),
    Tensor(Type),
}

impl Rhs {
    fn var(&self, name: &str) -> Option<Var> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The type of the right-hand side under `subst` plus `leaves`, if every
    /// op in it accepts its operands.
    fn type_of(
        &self,
        egraph: &TensorGraph,
        subst: &Subst,
        leaves: &[(Var, TensorLang)],
    ) -> Option<Type> {
        let leaf_sort = |node: &TensorLang| match node {
            TensorLang::Const(c) => Some(Sort::Tensor(c.0.ty())),
            TensorLang::Attr(a) => Some(Sort::Attr(a.clone())),
            _ => None,
        };
        let mut sorts: Vec<Sort> = Vec::with_capacity(self.ast.len());
        for node in self.ast.iter() {
            let sort = match node {
                ENodeOrVar::Var(v) => match leaves.iter().find(|(w, _)| w == v) {
                    Some((_, leaf)) => leaf_sort(leaf)?,
                    None => match &egraph[*subst.get(*v)?].data {
                        Facts::Attr(a) => Sort::Attr(a.clone()),
                        Facts::Tensor(t) => Sort::Tensor(t.ty.clone()),
                        Facts::Invalid(_) => return None,
                    },
                },
                ENodeOrVar::ENode(TensorLang::Op(kind, children)) => {
                    let (attr, operands) = kind.operands(children);
                    let attr = match attr.map(|a| &sorts[usize::from(a)]) {
                        Some(Sort::Attr(a)) => Some(a),
                        Some(Sort::Tensor(_)) => return None,
                        None => None,
                    };
                    let op = join(*kind, attr)?;
                    let args: Vec<&Type> = operands
                        .iter()
                        .map(|&c| match &sorts[usize::from(c)] {
                            Sort::Tensor(t) => Some(t),
                            Sort::Attr(_) => None,
                        })
                        .collect::<Option<_>>()?;
                    Sort::Tensor(infer(&op, &args).ok()?)
                }
                ENodeOrVar::ENode(leaf) => leaf_sort(leaf)?,
            };
            sorts.push(sort);
        }
        match sorts.pop()? {
            Sort::Tensor(t) => Some(t),
            Sort::Attr(_) => None,
        }
    }
}

impl Applier<TensorLang, TensorAnalysis> for Rhs {
    fn apply_one(
        &self,
        egraph: &mut TensorGraph,
        eclass: Id,
        subst: &Subst,
        searcher_ast: Option<&PatternAst<TensorLang>>,
        rule_name: Symbol,
    ) -> Vec<Id> {
        let m = Match {
            egraph: &*egraph,
            root: eclass,
            subst,
            vars: &self.vars,
        };
        let Some(leaves) = (self.check)(&m) else {
            return vec![];
        };
        let Some(leaves) = leaves
            .into_iter()
            .map(|(n, leaf)| Some((self.var(n)?, leaf)))
            .collect::<Option<Vec<_>>>()
        else {
            return vec![];
        };
        let fits = self.type_of(egraph, subst, &leaves);
        if fits.is_none() || fits.as_ref() != tensor_type(egraph, eclass) {
            return vec![];
        }
        let mut subst = subst.clone();
        for (var, leaf) in leaves {
            let id = egraph.add(leaf);
            subst.insert(var, id);
        }
        match searcher_ast {
            Some(lhs) => {
                let (id, united) = egraph.union_instantiations(lhs, &self.ast, &subst, rule_name);
                if united {
                    vec![id]
                } else {
                    vec![]
                }
            }
            None => {
                let id = egraph.add_instantiation(&self.ast, &subst);
                if egraph.union(eclass, id) {
                    vec![eclass]
                } else {
                    vec![]
                }
            }
        }
    }
}

/// A rule before its patterns are parsed: parsing and compiling them is
/// most of what building the rule set costs, so only the rules that can
/// fire on a graph are built ([`rules_for`]).
pub struct Spec {
    name: String,
    lhs: String,
    rhs: String,
    check: Box<dyn Fn(&Match) -> Leaves + Send + Sync>,
}

fn rule(
    name: &str,
    lhs: &str,
    rhs: &str,
    check: impl Fn(&Match) -> Leaves + Send + Sync + 'static,
) -> Spec {
    Spec {
        name: name.to_string(),
        lhs: lhs.to_string(),
        rhs: rhs.to_string(),
        check: Box::new(check),
    }
}

/// The operators a pattern names (the word after each `(`).
fn operators(pattern: &str) -> impl Iterator<Item = &str> {
    pattern
        .split('(')
        .skip(1)
        .filter_map(|s| s.split_whitespace().next())
}

impl Spec {
    fn build(self) -> Result<Rule, String> {
        let name = &self.name;
        let parse = |s: &str| {
            s.parse::<Pattern<TensorLang>>()
                .map_err(|e| format!("rule {name}: {e}"))
        };
        let (lhs, rhs) = (parse(&self.lhs)?, parse(&self.rhs)?);
        let mut vars: Vec<(String, Var)> = Vec::new();
        for v in lhs.vars().into_iter().chain(rhs.vars()) {
            if !vars.iter().any(|(_, w)| *w == v) {
                vars.push((v.to_string(), v));
            }
        }
        Rewrite::new(
            self.name.as_str(),
            lhs,
            Rhs {
                ast: rhs.ast,
                vars,
                check: self.check,
            },
        )
    }
}

/// The rules that can fire on an e-graph whose e-nodes have the operators
/// `present`: those whose left-hand side names only operators present, or
/// introduced by the right-hand side of another such rule.
pub fn rules_for(present: &BTreeSet<String>) -> Result<Vec<Rule>, String> {
    let specs = catalog();
    let mut ops = present.clone();
    let mut chosen = vec![false; specs.len()];
    let mut grew = true;
    while grew {
        grew = false;
        for (spec, chosen) in specs.iter().zip(chosen.iter_mut()) {
            if !*chosen && operators(&spec.lhs).all(|o| ops.contains(o)) {
                *chosen = true;
                grew = true;
                ops.extend(operators(&spec.rhs).map(str::to_string));
            }
        }
    }
    specs
        .into_iter()
        .zip(chosen)
        .filter(|(_, chosen)| *chosen)
        .map(|(spec, _)| spec.build())
        .collect()
}

/// Known, so a `neg` of it folds away.
fn is_constant(f: &TensorFacts) -> bool {
    f.value.is_some() || f.splat.is_some()
}

fn is_one(f: &TensorFacts) -> bool {
    f.splat_f64() == Some(1.0)
}

/// `x + z == x` for every element: `z` is zero, and for floats either `-0.0`
/// or `x` is never `-0.0`.
fn adds_nothing(x: &TensorFacts, z: &TensorFacts) -> bool {
    z.splat_f64() == Some(0.0) && (!z.ty.dtype.is_float() || z.is_neg_zero() || x.no_neg_zero)
}

/// `x - z == x`: `x - 0.0` is `x + -0.0`, and `x - -0.0` is `x + 0.0`.
fn subtracts_nothing(x: &TensorFacts, z: &TensorFacts) -> bool {
    z.splat_f64() == Some(0.0) && (!z.ty.dtype.is_float() || !z.is_neg_zero() || x.no_neg_zero)
}

/// `[0, …, n-1, n-2]`: swaps the last two axes of a rank-`n` value.
fn swap_last(rank: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..rank).collect();
    p.swap(rank - 2, rank - 1);
    p
}

fn swaps_last(p: &[usize]) -> bool {
    p.len() >= 2 && p == swap_last(p.len())
}

fn perm_leaf(p: Vec<usize>) -> TensorLang {
    TensorLang::Attr(Attr::Perm(p))
}

fn shape_leaf(dims: Vec<Dim>) -> TensorLang {
    TensorLang::Attr(Attr::Shape(dims))
}

/// `op(transpose(a, p), c)` where `c` (not a scalar) is smaller than the
/// result and broadcasts to it: the leaves that move the transpose past the op, `c`
/// given the result's rank (`?s`) and put in `a`'s order (`?q`, the
/// inverse of `p`).
fn transpose_past_broadcast(m: &Match) -> Leaves {
    let (root, c) = (m.root()?, m.tensor("?c")?);
    let p = m.perm("?p")?;
    let rank = root.ty.shape.rank();
    let pad = rank.checked_sub(c.ty.shape.rank())?;
    let smaller = numel(&c.ty.shape) < numel(&root.ty.shape);
    when(p.len() == rank && c.ty.shape.rank() > 0 && smaller)?;
    let q = tfg_ir::op::inverse_perm(p)?;
    let dims = std::iter::repeat_n(Dim::Known(1), pad).chain(c.ty.shape.0.iter().cloned());
    Some(vec![
        ("?s", shape_leaf(dims.collect())),
        ("?q", perm_leaf(q)),
    ])
}

/// `reduce(broadcast_to(x, s))` over axes where `x` has size 1: every
/// reduced element is the same element of `x`. Gives the leaves for
/// `(broadcast_to ?r (reshape ?k x))`, and `?n`, the count of reduced
/// elements, when `count` is asked for.
fn reduce_of_broadcast(m: &Match, count: bool) -> Leaves {
    let Attr::Axes { axes, keepdims } = m.attr("?a")? else {
        return None;
    };
    let Attr::Shape(s) = m.attr("?s")? else {
        return None;
    };
    let x = m.tensor("?x")?;
    let pad = s.len().checked_sub(x.ty.shape.rank())?;
    let x_dim = |i: usize| {
        if i < pad {
            Dim::Known(1)
        } else {
            x.ty.shape.0[i - pad].clone()
        }
    };
    let mut n = 1u64;
    let mut kept = Vec::new();
    for (i, d) in s.iter().enumerate() {
        if axes.contains(&i) {
            if x_dim(i) != Dim::Known(1) {
                return None;
            }
            n = n.checked_mul(d.known()?)?;
            if *keepdims {
                kept.push(Dim::Known(1));
            }
        } else {
            kept.push(x_dim(i));
        }
    }
    // A reduction over nothing is not a copy of `x` (an empty sum is 0).
    if axes.is_empty() || n == 0 {
        return None;
    }
    let mut leaves = vec![
        ("?r", shape_leaf(m.root()?.ty.shape.0.clone())),
        ("?k", shape_leaf(kept)),
    ];
    if count {
        let n = Tensor::full(x.ty.dtype, vec![], n as f64);
        leaves.push(("?n", TensorLang::Const(super::lang::Constant::new(n))));
    }
    Some(leaves)
}

/// `a*b + a*c → a*(b+c)` saves work when `b+c` is smaller than `a*b` and
/// `a*c` together, and neither product is needed elsewhere.
fn factoring_saves(m: &Match, left: bool) -> Leaves {
    let (a, b, c) = (m.class("?a")?, m.class("?b")?, m.class("?c")?);
    let (ab, ac) = if left {
        (m.product(a, b)?, m.product(a, c)?)
    } else {
        (m.product(b, a)?, m.product(c, a)?)
    };
    let b_plus_c = tfg_ir::broadcast_shapes(shape(m.egraph, b)?, shape(m.egraph, c)?).ok()?;
    let products = numel(shape(m.egraph, ab)?) + numel(shape(m.egraph, ac)?);
    when(m.single_use(ab) && m.single_use(ac) && numel(&b_plus_c) < products)
}

/// `-(c * x) → (-c) * x` for a constant `c`, whose negation folds away,
/// where nothing else needs `c * x`.
fn negation_folds(m: &Match, constant_first: bool) -> Leaves {
    let (c, x) = (m.class("?c")?, m.class("?x")?);
    let product = if constant_first {
        m.product(c, x)?
    } else {
        m.product(x, c)?
    };
    when(is_constant(m.tensor("?c")?) && m.single_use(product))
}

/// `sum over the batch of xᵀ @ y`, for x [B…, m, k] and y [B…, m, n] of the
/// same known batch B…, is one product over the stacked rows: xᵀ [k, B…m]
/// @ y [B…m, n]. Autodiff writes the first form for the gradient of a
/// weight shared across a batch (a convolution's filter, a dense layer over
/// a sequence); the second is one GEMM where the first is one per batch
/// element and a reduction. Gives `?s`, `?t` (the stacked shapes) and `?q`.
fn stacked_product(m: &Match) -> Leaves {
    let Attr::Axes { axes, keepdims } = m.attr("?a")? else {
        return None;
    };
    let (x, y) = (&m.tensor("?x")?.ty.shape, &m.tensor("?y")?.ty.shape);
    let r = x.rank();
    let batch = r.checked_sub(2)?;
    let whole_batch = batch > 0 && !keepdims && axes.iter().copied().eq(0..batch);
    when(whole_batch && swaps_last(m.perm("?p")?) && y.rank() == r)?;
    when(x.0[..batch] == y.0[..batch])?;
    // Where the batch of products is needed elsewhere too, the stacked
    // product would be work on top of it.
    let xt = m.node(NodeKind::Transpose, vec![m.class("?p")?, m.class("?x")?])?;
    let products = m.node(NodeKind::MatMul, vec![xt, m.class("?y")?])?;
    when(m.single_use(products))?;
    let rows = Shape(x.0[..r - 1].to_vec()).numel()?;
    let (k, n) = (x.0[r - 1].known()?, y.0[r - 1].known()?);
    Some(vec![
        ("?s", shape_leaf(vec![Dim::Known(rows), Dim::Known(k)])),
        ("?t", shape_leaf(vec![Dim::Known(rows), Dim::Known(n)])),
        ("?q", perm_leaf(swap_last(2))),
    ])
}

/// The default rule set, unparsed.
fn catalog() -> Vec<Spec> {
    let always = |_: &Match| Some(vec![]);
    let mut rules = vec![
        rule("mul-one", "(mul ?x ?c)", "?x", |m| {
            when(is_one(m.tensor("?c")?))
        }),
        rule("one-mul", "(mul ?c ?x)", "?x", |m| {
            when(is_one(m.tensor("?c")?))
        }),
        rule(
            "mul-one-broadcast",
            "(mul ?x ?c)",
            "(broadcast_to ?s ?x)",
            |m| {
                let out = m.root()?;
                let grows = out.ty != m.tensor("?x")?.ty;
                when(grows && is_one(m.tensor("?c")?))?;
                Some(vec![("?s", shape_leaf(out.ty.shape.0.clone()))])
            },
        ),
        rule(
            "one-mul-broadcast",
            "(mul ?c ?x)",
            "(broadcast_to ?s ?x)",
            |m| {
                let out = m.root()?;
                let grows = out.ty != m.tensor("?x")?.ty;
                when(grows && is_one(m.tensor("?c")?))?;
                Some(vec![("?s", shape_leaf(out.ty.shape.0.clone()))])
            },
        ),
        rule("add-zero", "(add ?x ?z)", "?x", |m| {
            when(adds_nothing(m.tensor("?x")?, m.tensor("?z")?))
        }),
        rule("zero-add", "(add ?z ?x)", "?x", |m| {
            when(adds_nothing(m.tensor("?x")?, m.tensor("?z")?))
        }),
        rule("sub-zero", "(sub ?x ?z)", "?x", |m| {
            when(subtracts_nothing(m.tensor("?x")?, m.tensor("?z")?))
        }),
        rule("div-one", "(div ?x ?c)", "?x", |m| {
            when(is_one(m.tensor("?c")?))
        }),
        rule("neg-neg", "(neg (neg ?x))", "?x", always),
        rule("neg-mul", "(neg (mul ?c ?x))", "(mul (neg ?c) ?x)", |m| {
            negation_folds(m, true)
        }),
        rule(
            "neg-mul-right",
            "(neg (mul ?x ?c))",
            "(mul ?x (neg ?c))",
            |m| negation_folds(m, false),
        ),
        rule("add-neg", "(add ?a (neg ?b))", "(sub ?a ?b)", always),
        rule("sub-neg", "(sub ?a (neg ?b))", "(add ?a ?b)", always),
        rule(
            "transpose-transpose",
            "(transpose ?p (transpose ?q ?x))",
            "(transpose ?r ?x)",
            |m| {
                let (p, q) = (m.perm("?p")?, m.perm("?q")?);
                let r = p
                    .iter()
                    .map(|&i| q.get(i).copied())
                    .collect::<Option<Vec<_>>>()?;
                Some(vec![("?r", perm_leaf(r))])
            },
        ),
        rule("transpose-identity", "(transpose ?p ?x)", "?x", |m| {
            when(m.perm("?p")?.iter().enumerate().all(|(i, &p)| i == p))
        }),
        rule(
            "reshape-reshape",
            "(reshape ?s (reshape ?t ?x))",
            "(reshape ?s ?x)",
            always,
        ),
        rule("reshape-same", "(reshape ?s ?x)", "?x", always),
        rule(
            "broadcast-broadcast",
            "(broadcast_to ?s (broadcast_to ?t ?x))",
            "(broadcast_to ?s ?x)",
            always,
        ),
        rule("broadcast-same", "(broadcast_to ?s ?x)", "?x", always),
        rule("exp-log", "(exp (log ?x))", "?x", |m| {
            when(m.tensor("?x")?.non_negative)
        }),
        rule(
            "sum-broadcast",
            "(reduce_sum ?a (broadcast_to ?s ?x))",
            "(broadcast_to ?r (mul (reshape ?k ?x) ?n))",
            |m| reduce_of_broadcast(m, true),
        ),
        rule(
            "matmul-transposes",
            "(matmul (transpose ?p ?a) (transpose ?q ?b))",
            "(transpose ?r (matmul ?b ?a))",
            |m| {
                when(swaps_last(m.perm("?p")?) && swaps_last(m.perm("?q")?))?;
                Some(vec![(
                    "?r",
                    perm_leaf(swap_last(m.root()?.ty.shape.rank())),
                )])
            },
        ),
        rule(
            "transpose-matmul",
            "(transpose ?p (matmul ?a ?b))",
            "(matmul (transpose ?q ?b) (transpose ?r ?a))",
            |m| {
                let (a, b) = (
                    m.tensor("?a")?.ty.shape.rank(),
                    m.tensor("?b")?.ty.shape.rank(),
                );
                when(swaps_last(m.perm("?p")?) && a >= 2 && b >= 2)?;
                Some(vec![
                    ("?q", perm_leaf(swap_last(b))),
                    ("?r", perm_leaf(swap_last(a))),
                ])
            },
        ),
        rule(
            "sum-batched-matmul",
            "(reduce_sum ?a (matmul (transpose ?p ?x) ?y))",
            "(matmul (transpose ?q (reshape ?s ?x)) (reshape ?t ?y))",
            stacked_product,
        ),
        rule(
            "factor-left",
            "(add (mul ?a ?b) (mul ?a ?c))",
            "(mul ?a (add ?b ?c))",
            |m| factoring_saves(m, true),
        ),
        rule(
            "factor-right",
            "(add (mul ?b ?a) (mul ?c ?a))",
            "(mul (add ?b ?c) ?a)",
            |m| factoring_saves(m, false),
        ),
        rule(
            "factor-left-sub",
            "(sub (mul ?a ?b) (mul ?a ?c))",
            "(mul ?a (sub ?b ?c))",
            |m| factoring_saves(m, true),
        ),
        rule(
            "factor-right-sub",
            "(sub (mul ?b ?a) (mul ?c ?a))",
            "(mul (sub ?b ?c) ?a)",
            |m| factoring_saves(m, false),
        ),
    ];
    // Max, min and mean of equal elements are that element, exactly.
    for op in [ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min] {
        let lhs = format!("({} ?a (broadcast_to ?s ?x))", NodeKind::Reduce(op).name());
        rules.push(rule(
            &format!("{}-broadcast", op.name()),
            &lhs,
            "(broadcast_to ?r (reshape ?k ?x))",
            |m| reduce_of_broadcast(m, false),
        ));
    }
    // Elementwise ops commute with a transpose. Moving the transpose below
    // them lets it meet the next one, and a pair that composes to the
    // identity cancels: an ONNX model's NCHW ops between its NHWC
    // convolutions then run in NHWC, with no transposes between them.
    for u in UnaryOp::ALL {
        let name = NodeKind::Unary(u).name();
        rules.push(rule(
            &format!("{name}-transpose"),
            &format!("({name} (transpose ?p ?x))"),
            &format!("(transpose ?p ({name} ?x))"),
            always,
        ));
    }
    for b in BinaryOp::ALL {
        let name = NodeKind::Binary(b).name();
        rules.push(rule(
            &format!("{name}-transposes"),
            &format!("({name} (transpose ?p ?a) (transpose ?p ?b))"),
            &format!("(transpose ?p ({name} ?a ?b))"),
            always,
        ));
        // The other operand broadcasts: a scalar as it is, anything larger
        // transposed back (a per-channel constant or param, computed once).
        let scalar = |m: &Match| when(m.tensor("?c")?.ty.shape.rank() == 0);
        rules.push(rule(
            &format!("{name}-transpose-scalar"),
            &format!("({name} (transpose ?p ?a) ?c)"),
            &format!("(transpose ?p ({name} ?a ?c))"),
            scalar,
        ));
        rules.push(rule(
            &format!("scalar-{name}-transpose"),
            &format!("({name} ?c (transpose ?p ?a))"),
            &format!("(transpose ?p ({name} ?c ?a))"),
            scalar,
        ));
        rules.push(rule(
            &format!("{name}-transpose-broadcast"),
            &format!("({name} (transpose ?p ?a) ?c)"),
            &format!("(transpose ?p ({name} ?a (transpose ?q (reshape ?s ?c))))"),
            transpose_past_broadcast,
        ));
        rules.push(rule(
            &format!("broadcast-{name}-transpose"),
            &format!("({name} ?c (transpose ?p ?a))"),
            &format!("(transpose ?p ({name} (transpose ?q (reshape ?s ?c)) ?a))"),
            transpose_past_broadcast,
        ));
    }
    // So does a concatenation, of operands transposed alike, along the axis
    // the transpose takes the concatenated one from: an ONNX model's channel
    // `Concat` (SqueezeNet's fire modules, Inception's branches) then runs in
    // NHWC between NHWC convolutions. Up to four operands, as models have.
    for n in 2..=4 {
        let operands = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(" ");
        rules.push(rule(
            &format!("concat{n}-transposes"),
            &format!(
                "(concat ?k {})",
                operands(&|i| format!("(transpose ?p ?x{i})"))
            ),
            &format!(
                "(transpose ?p (concat ?j {}))",
                operands(&|i| format!("?x{i}"))
            ),
            |m| {
                let Attr::Axis(k) = m.attr("?k")? else {
                    return None;
                };
                let j = *m.perm("?p")?.get(*k)?;
                Some(vec![("?j", TensorLang::Attr(Attr::Axis(j)))])
            },
        ));
    }
    // A reduction over no axes is the identity, but that a sum (and a mean)
    // of one element starts from `0.0`, as numpy's does: `-0.0` sums to `0.0`.
    for op in ReduceOp::ALL {
        let lhs = format!("({} ?a ?x)", NodeKind::Reduce(op).name());
        let from_zero = matches!(op, ReduceOp::Sum | ReduceOp::Mean);
        rules.push(rule(
            &format!("{}-no-axes", op.name()),
            &lhs,
            "?x",
            move |m| {
                when(matches!(m.attr("?a")?, Attr::Axes { axes, .. } if axes.is_empty()))?;
                when(!from_zero || m.tensor("?x")?.no_neg_zero)
            },
        ));
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_parses_though_most_graphs_build_only_some() {
        let all: Vec<Rule> = catalog()
            .into_iter()
            .map(Spec::build)
            .collect::<Result<_, _>>()
            .expect("every rule parses");
        let everything: BTreeSet<String> = catalog()
            .iter()
            .flat_map(|s| operators(&s.lhs).chain(operators(&s.rhs)))
            .map(str::to_string)
            .collect();
        assert_eq!(rules_for(&everything).expect("builds").len(), all.len());
        // `x * 1` pulls in what its rewrites make: broadcast_to, and the
        // rules about broadcast_to; nothing about matmul or transpose.
        let mul: BTreeSet<String> = ["mul".to_string()].into();
        let names: Vec<String> = rules_for(&mul)
            .expect("builds")
            .iter()
            .map(|r| r.name.to_string())
            .collect();
        assert!(names.contains(&"mul-one".to_string()), "{names:?}");
        assert!(
            names.contains(&"broadcast-broadcast".to_string()),
            "{names:?}"
        );
        assert!(
            !names
                .iter()
                .any(|n| n.contains("matmul") || n.contains("transpose")),
            "{names:?}"
        );
        assert!(rules_for(&BTreeSet::new()).expect("builds").is_empty());
    }
}
