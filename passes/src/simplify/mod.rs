//! Algebraic simplification by equality saturation, with [egg].
//!
//! The graph goes into an e-graph (`lang`), one e-node a value, so equal
//! subterms are shared (CSE for free). The analysis (`analysis`) types
//! every e-class with the op registry and folds small constants; the rules
//! (`rules`) add equal forms until nothing new appears or a limit is hit;
//! extraction (`cost`) picks the cheapest form of each root by bytes moved
//! and flops; and the result is rebuilt as a [`Graph`], every node re-checked
//! by [`Graph::add`]. Inputs, params (in their order), output names and
//! updates are kept; values nothing needs are gone.
//!
//! [egg]: https://egraphs-good.github.io/

mod analysis;
mod cost;
mod explain;
mod fold;
mod lang;
mod rules;

pub use explain::Step;

use analysis::{Facts, TensorAnalysis, TensorGraph};
use egg::{Id, Language, Runner, SimpleScheduler, StopReason};
use lang::{join, split, Constant, Leaf, TensorLang};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;
use tfg_ir::{Graph, Op, ValueId};

/// Bounds on saturation.
#[derive(Clone, Debug)]
pub struct Limits {
    /// E-nodes the e-graph may grow by, beyond the graph's own.
    pub nodes: usize,
    /// Saturation iterations (each applies every rule once) before giving up.
    pub iters: usize,
    /// Wall-clock budget for saturation, checked between iterations, so one
    /// iteration may overrun it.
    pub time: Duration,
    /// Record explanations (costs time and memory; for `--explain`).
    pub explain: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            nodes: 10_000,
            iters: 30,
            time: Duration::from_millis(200),
            explain: false,
        }
    }
}

/// Why saturation stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    /// No rule can add anything: the result is the best the rules allow.
    Saturated,
    /// The iteration limit ([`Limits::iters`]), given here, was reached.
    Iterations(usize),
    /// The e-graph grew past this many e-nodes.
    Nodes(usize),
    /// The time limit was reached; holds how long saturation had run.
    Time(Duration),
    /// egg stopped for another reason, given in its words.
    Other(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Saturated => f.write_str("saturated"),
            Stop::Iterations(n) => write!(f, "stopped early: iteration limit ({n}) reached"),
            Stop::Nodes(n) => write!(f, "stopped early: node limit reached ({n} e-nodes)"),
            Stop::Time(t) => write!(
                f,
                "stopped early: time limit reached ({} ms)",
                t.as_millis()
            ),
            Stop::Other(why) => write!(f, "stopped early: {why}"),
        }
    }
}

/// What a run of [`simplify`] did.
#[derive(Clone, Debug)]
pub struct Report {
    /// How often each rule added something, in order of first use;
    /// `constant-fold` counts folded e-classes.
    pub rules: Vec<(String, usize)>,
    /// Saturation iterations run.
    pub iterations: usize,
    /// Why saturation stopped; anything but [`Stop::Saturated`] means a
    /// limit cut it short and a cheaper form may have been missed.
    pub stop: Stop,
    /// Size of the e-graph when saturation stopped.
    pub egraph_nodes: usize,
    /// E-classes (sets of equal terms) in the e-graph when saturation stopped.
    pub egraph_classes: usize,
    /// Nodes of the graph before simplification.
    pub nodes_before: usize,
    /// Nodes of the graph after simplification.
    pub nodes_after: usize,
    /// Cost-model estimate of the graph's work (bytes moved and flops)
    /// before simplification.
    pub cost_before: f64,
    /// The same estimate after simplification.
    pub cost_after: f64,
    /// The rewrites that led to the result, if explanations were on.
    pub steps: Option<Vec<Step>>,
}

impl Report {
    /// Whether saturation ran to the end rather than stopping at a limit.
    pub fn saturated(&self) -> bool {
        self.stop == Stop::Saturated
    }

    /// For `tfg dump --explain`: each rewrite used, with the rewritten
    /// subterm before and after.
    pub fn explain(&self) -> String {
        let Some(steps) = &self.steps else {
            return "no explanations: they were not recorded (Limits { explain: true, .. })\n"
                .into();
        };
        let mut out = format!(
            "{} rewrite{} used ({}):\n",
            steps.len(),
            plural(steps.len()),
            self.stop
        );
        for step in steps {
            out.push_str(&format!("  {step}\n"));
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simplify: {} after {} iteration{} ({} e-nodes, {} e-classes)",
            self.stop,
            self.iterations,
            plural(self.iterations),
            self.egraph_nodes,
            self.egraph_classes
        )?;
        writeln!(
            f,
            "  nodes {} -> {}, estimated cost {:.0} -> {:.0}",
            self.nodes_before, self.nodes_after, self.cost_before, self.cost_after
        )?;
        for (rule, n) in &self.rules {
            writeln!(f, "  {rule}: {n}")?;
        }
        Ok(())
    }
}

/// Simplifies `g` in place. On error `g` is unchanged.
pub fn simplify(g: &mut Graph, limits: Limits) -> Result<Report, String> {
    // egg times its work with `quanta`, whose first clock reading in a
    // process calibrates the TSC against the OS clock in a busy loop of half
    // a millisecond or more: longer than simplifying a small graph, paid by
    // every `tfg` command. A mock clock skips it; the time limit is kept by a
    // hook that reads the real clock after each iteration.
    let (clock, _) = quanta::Clock::mock();
    quanta::with_clock(&clock, || saturate(g, limits))
}

const TIME_LIMIT: &str = "time limit";

fn saturate(g: &mut Graph, limits: Limits) -> Result<Report, String> {
    let roots: Vec<ValueId> = g
        .outputs
        .iter()
        .map(|&(_, v)| v)
        .chain(g.updates.iter().map(|&(_, v)| v))
        .collect();
    let used = roots.iter().chain(g.updates.iter().map(|(p, _)| p));
    if let Some(v) = used.into_iter().find(|v| v.index() >= g.nodes.len()) {
        return Err(format!(
            "simplify: the graph's outputs or updates refer to {v}, which does not exist"
        ));
    }
    let mut analysis = TensorAnalysis::default();
    for (i, node) in g.nodes.iter().enumerate() {
        if node.op.is_leaf_state() {
            analysis.leaf_types.insert(i as u32, node.ty.clone());
        }
    }
    let mut egraph = TensorGraph::new(analysis);
    if limits.explain {
        egraph = egraph.with_explanations_enabled();
    }
    let ids = encode(g, &mut egraph)?;
    egraph.rebuild();
    let present = egraph
        .classes()
        .flat_map(|c| &c.nodes)
        .map(|n| n.to_string())
        .collect();
    let rules = rules::rules_for(&present)?;
    if let Some((i, why)) = ids
        .iter()
        .enumerate()
        .find_map(|(i, &id)| invalid(&egraph[id].data).map(|w| (i, w)))
    {
        return Err(format!(
            "simplify: {} does not type-check: {why}",
            ValueId(i as u32)
        ));
    }
    egraph.analysis.roots = roots.iter().map(|v| ids[v.index()]).collect();
    let initial = egraph.total_size();
    let started = std::time::Instant::now();
    let runner = Runner::default()
        .with_egraph(egraph)
        .with_scheduler(SimpleScheduler)
        .with_node_limit(initial + limits.nodes)
        .with_iter_limit(limits.iters)
        .with_hook(move |_| match started.elapsed() > limits.time {
            true => Err(TIME_LIMIT.into()),
            false => Ok(()),
        })
        .run(&rules);
    let mut rules_used: Vec<(String, usize)> = Vec::new();
    for (rule, &n) in runner.iterations.iter().flat_map(|it| &it.applied) {
        match rules_used
            .iter_mut()
            .find(|(r, _)| r.as_str() == rule.as_str())
        {
            Some((_, count)) => *count += n,
            None => rules_used.push((rule.to_string(), n)),
        }
    }
    let stop = match runner.stop_reason.clone() {
        Some(StopReason::Saturated) => Stop::Saturated,
        Some(StopReason::IterationLimit(n)) => Stop::Iterations(n),
        Some(StopReason::NodeLimit(n)) => Stop::Nodes(n),
        Some(StopReason::TimeLimit(s)) => Stop::Time(Duration::from_secs_f64(s)),
        Some(StopReason::Other(why)) if why == TIME_LIMIT => Stop::Time(started.elapsed()),
        Some(StopReason::Other(why)) => Stop::Other(why),
        None => Stop::Other("the runner did not say why".into()),
    };
    let iterations = runner.iterations.len();
    let mut egraph = runner.egraph;
    if let Some(conflict) = &egraph.analysis.conflict {
        return Err(format!("simplify: a rewrite broke typing: {conflict}"));
    }
    if let Some(why) = egraph.classes().find_map(|c| invalid(&c.data)) {
        return Err(format!(
            "simplify: a rewrite made an ill-typed value: {why}"
        ));
    }
    if egraph.analysis.folds > 0 {
        rules_used.push(("constant-fold".into(), egraph.analysis.folds));
    }
    let (rebuilt, picked) = rebuild(g, &egraph, &ids, &roots)?;
    let steps = limits
        .explain
        .then(|| explain_roots(&mut egraph, &roots, &ids, &picked));
    let report = Report {
        rules: rules_used,
        iterations,
        stop,
        egraph_nodes: egraph.total_size(),
        egraph_classes: egraph.number_of_classes(),
        nodes_before: g.nodes.len(),
        nodes_after: rebuilt.nodes.len(),
        cost_before: cost::graph_cost(g),
        cost_after: cost::graph_cost(&rebuilt),
        steps,
    };
    *g = rebuilt;
    Ok(report)
}

fn invalid(facts: &Facts) -> Option<&String> {
    match facts {
        Facts::Invalid(why) => Some(why),
        _ => None,
    }
}

/// Adds every node of `g` to `egraph`; gives each node's e-node id
/// (uncanonical, so explanations can start from the original term).
fn encode(g: &Graph, egraph: &mut TensorGraph) -> Result<Vec<Id>, String> {
    let mut ids: Vec<Id> = Vec::with_capacity(g.nodes.len());
    for (i, node) in g.nodes.iter().enumerate() {
        let enode = match (&node.op, split(&node.op)) {
            (Op::Input { name, .. } | Op::Param { name, .. }, _) => TensorLang::Leaf(Leaf {
                node: i as u32,
                name: name.as_str().into(),
            }),
            (Op::Const(t), _) => TensorLang::Const(Constant::new(t.clone())),
            (_, Some((kind, attr))) => {
                let mut children = Vec::with_capacity(node.args.len() + 1);
                if let Some(attr) = attr {
                    children.push(egraph.add_uncanonical(TensorLang::Attr(attr)));
                }
                for a in &node.args {
                    let id = ids
                        .get(a.index())
                        .ok_or_else(|| format!("{} uses a later value {a}", ValueId(i as u32)))?;
                    children.push(*id);
                }
                TensorLang::Op(kind, children)
            }
            (op, None) => return Err(format!("simplify: cannot encode {}", op.name())),
        };
        ids.push(egraph.add_uncanonical(enode));
    }
    Ok(ids)
}

/// The graph of the cheapest form of `g`'s roots, and the e-nodes picked
/// for it (canonical class, node), operands first.
fn rebuild(
    g: &Graph,
    egraph: &TensorGraph,
    ids: &[Id],
    roots: &[ValueId],
) -> Result<(Graph, Vec<(Id, TensorLang)>), String> {
    let best = cost::extract(egraph);
    let mut out = Graph::new(g.name.clone());
    let mut value: HashMap<Id, ValueId> = HashMap::new();
    let mut picked: Vec<(Id, TensorLang)> = Vec::new();
    // Inputs and params first, all of them, in graph order: they are the
    // graph's interface even when nothing uses them.
    for (i, node) in g.nodes.iter().enumerate() {
        if node.op.is_leaf_state() {
            let class = egraph.find(ids[i]);
            let v = out.push(node.clone());
            value.entry(class).or_insert(v);
            picked.push((class, egraph.id_to_node(ids[i]).clone()));
        }
    }
    let chosen = |class: Id| {
        best.get(&egraph.find(class))
            .map(|choice| &choice.node)
            .ok_or_else(|| format!("simplify: e-class {class} has no term"))
    };
    let mut attrs: HashSet<Id> = HashSet::new();
    let mut expanded: HashSet<Id> = HashSet::new();
    for root in roots {
        let mut stack = vec![(egraph.find(ids[root.index()]), false)];
        while let Some((class, ready)) = stack.pop() {
            if value.contains_key(&class) || attrs.contains(&class) {
                continue;
            }
            let node = chosen(class)?;
            if let TensorLang::Attr(_) = node {
                attrs.insert(class);
                picked.push((class, node.clone()));
                continue;
            }
            if !ready {
                // Met again before it is built: it is its own operand.
                if !expanded.insert(class) {
                    return Err("simplify: the extracted term has a cycle".into());
                }
                stack.push((class, true));
                for &c in node.children() {
                    stack.push((egraph.find(c), false));
                }
                continue;
            }
            let v = match node {
                TensorLang::Const(c) => out.add(Op::Const((*c.0).clone()), &[]),
                TensorLang::Op(kind, children) => {
                    let (attr, operands) = kind.operands(children);
                    let attr = match attr.map(chosen).transpose()? {
                        Some(TensorLang::Attr(a)) => Some(a),
                        Some(_) => return Err("simplify: an op lost its attribute".into()),
                        None => None,
                    };
                    let op: Op =
                        join(*kind, attr).ok_or("simplify: an attribute does not fit its op")?;
                    let args = operands
                        .iter()
                        .map(|&c| value.get(&egraph.find(c)).copied())
                        .collect::<Option<Vec<_>>>()
                        .ok_or("simplify: the extracted term has a cycle")?;
                    out.add(op, &args)
                }
                TensorLang::Leaf(_) | TensorLang::Attr(_) => {
                    return Err("simplify: an input or param lost its node".into());
                }
            }
            .map_err(|e| format!("simplify: rebuilt {} does not type-check: {e}", node))?;
            value.insert(class, v);
            picked.push((class, node.clone()));
        }
    }
    let find = |v: ValueId| {
        value
            .get(&egraph.find(ids[v.index()]))
            .copied()
            .ok_or("simplify: a root was not rebuilt")
    };
    for (name, v) in &g.outputs {
        out.outputs.push((name.clone(), find(*v)?));
    }
    for (p, v) in &g.updates {
        out.updates.push((find(*p)?, find(*v)?));
    }
    // A value keeps the first user-given name and place among the values it
    // now stands for.
    for (i, node) in g.nodes.iter().enumerate() {
        if node.op.is_leaf_state() || (node.name.is_none() && node.loc.is_none()) {
            continue;
        }
        if let Some(&v) = value.get(&egraph.find(ids[i])) {
            let new = out.node_mut(v);
            if !new.op.is_leaf_state() && new.name.is_none() && new.loc.is_none() {
                new.name = node.name.clone();
                new.loc = node.loc;
            }
        }
    }
    Ok((out, picked))
}

/// Explains, for each output and update, how its original term became the
/// extracted one.
fn explain_roots(
    egraph: &mut TensorGraph,
    roots: &[ValueId],
    ids: &[Id],
    picked: &[(Id, TensorLang)],
) -> Vec<Step> {
    // The extracted terms, as e-nodes of their own (egg explains between e-nodes).
    let mut term: HashMap<Id, Id> = HashMap::new();
    for (class, node) in picked {
        let children: Option<Vec<Id>> = node
            .children()
            .iter()
            .map(|&c| term.get(&egraph.find(c)).copied())
            .collect();
        let Some(children) = children else { continue };
        let mut next = children.into_iter();
        let node = node.clone().map_children(|c| next.next().unwrap_or(c));
        let id = egraph.add_uncanonical(node);
        term.insert(*class, id);
    }
    egraph.rebuild();
    let pairs: Vec<(Id, Id)> = roots
        .iter()
        .filter_map(|v| {
            let original = ids[v.index()];
            Some((original, *term.get(&egraph.find(original))?))
        })
        .collect();
    explain::steps(egraph, &pairs)
}
