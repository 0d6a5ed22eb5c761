//! The cost model, and extraction by it.
//!
//! A value costs the bytes its op reads and writes plus its arithmetic (one
//! unit a flop, transcendental functions more), not one unit a node: a
//! `broadcast_to` that materialises a large tensor is dear, a reshape (a
//! view) and a scalar constant nearly free, and a matmul costs its `2·m·n·k`.

use super::analysis::{Facts, TensorGraph};
use super::lang::{NodeKind, TensorLang};
use egg::{Id, Language};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use tfg_ir::{BinaryOp, Dim, Graph, Op, Shape, Type, UnaryOp};

/// The size assumed for a symbolic dim.
const SYMBOLIC_DIM: f64 = 32.0;

fn size(d: &Dim) -> f64 {
    d.known().map_or(SYMBOLIC_DIM, |n| n as f64)
}

pub fn numel(s: &Shape) -> f64 {
    s.0.iter().map(size).product()
}

pub fn bytes(t: &Type) -> f64 {
    numel(&t.shape) * t.dtype.size() as f64
}

fn unary_flops(u: UnaryOp) -> f64 {
    use UnaryOp::*;
    match u {
        Exp | Log | Sqrt | Rsqrt | Tanh | Sigmoid | Sin | Cos => 8.0,
        Neg | Abs | Square | Relu | Floor | Ceil | Sign | Reciprocal | Not => 1.0,
    }
}

/// The cost of computing a value of type `out` by `kind` from `args`.
pub fn op_cost(kind: NodeKind, out: &Type, args: &[&Type]) -> f64 {
    let moved = bytes(out) + args.iter().map(|a| bytes(a)).sum::<f64>();
    let n = numel(&out.shape);
    match kind {
        NodeKind::Reshape => 1.0,
        NodeKind::Unary(u) => moved + n * unary_flops(u),
        NodeKind::Binary(BinaryOp::Pow) => moved + 8.0 * n,
        NodeKind::Binary(_) | NodeKind::Select | NodeKind::Cast => moved + n,
        NodeKind::BroadcastTo
        | NodeKind::Transpose
        | NodeKind::Concat
        | NodeKind::Slice
        | NodeKind::OneHot => moved,
        NodeKind::Reduce(_) | NodeKind::ArgMax | NodeKind::ArgMin => {
            moved + args.first().map_or(0.0, |a| numel(&a.shape))
        }
        NodeKind::MatMul => {
            let k = args
                .first()
                .and_then(|a| a.shape.0.last())
                .map_or(1.0, size);
            moved + 2.0 * n * k
        }
        NodeKind::Grad | NodeKind::StopGradient => moved,
    }
}

/// A constant costs its storage, a scalar next to nothing.
fn constant_cost(t: &Type) -> f64 {
    if numel(&t.shape) <= 1.0 {
        1.0
    } else {
        bytes(t)
    }
}

/// The total cost of the values `g`'s outputs and updates need, each once.
pub fn graph_cost(g: &Graph) -> f64 {
    let live = g.live();
    g.nodes
        .iter()
        .zip(live)
        .filter(|(_, live)| *live)
        .map(|(node, _)| match &node.op {
            Op::Input { .. } | Op::Param { .. } => 0.0,
            Op::Const(_) => constant_cost(&node.ty),
            op => match super::lang::split(op) {
                Some((kind, _)) => {
                    let args: Vec<&Type> = node.args.iter().map(|&a| g.ty(a)).collect();
                    op_cost(kind, &node.ty, &args)
                }
                None => 0.0,
            },
        })
        .sum()
}

/// The cost of one e-node of class `out` alone, its operands aside.
fn node_cost(egraph: &TensorGraph, node: &TensorLang, out: &Facts) -> f64 {
    let Some(out) = out.tensor() else { return 0.0 };
    match node {
        TensorLang::Leaf(_) | TensorLang::Attr(_) => 0.0,
        TensorLang::Const(_) => constant_cost(&out.ty),
        TensorLang::Op(kind, children) => {
            let (_, operands) = kind.operands(children);
            let args: Option<Vec<&Type>> = operands
                .iter()
                .map(|&c| egraph[c].data.tensor().map(|t| &t.ty))
                .collect();
            args.map_or(f64::INFINITY, |args| op_cost(*kind, &out.ty, &args))
        }
    }
}

/// The cost of a term in extraction: whole units, summed exactly. A term's
/// cost counts a shared subterm once per use, so in a deep network with
/// shortcuts (each block's output read by the next block and its shortcut,
/// each 3×3 convolution's input by 9 taps, a Winograd convolution's by 16
/// and its products by 16 more) it grows tenfold to hundredfold a block:
/// past 1e20 in ResNet-50 with im2col convolutions, past 1e38 with
/// Winograd's. As an f64 sum that loses every difference smaller than a
/// transpose there, and two forms would tie. Two u128 halves hold those
/// sums exactly, up to 1.1e77, and saturate beyond.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cost {
    high: u128,
    low: u128,
}

impl Cost {
    const MAX: Cost = Cost {
        high: u128::MAX,
        low: u128::MAX,
    };

    fn saturating_add(self, other: Cost) -> Cost {
        let (low, carry) = self.low.overflowing_add(other.low);
        match self
            .high
            .checked_add(other.high)
            .and_then(|h| h.checked_add(u128::from(carry)))
        {
            Some(high) => Cost { high, low },
            None => Cost::MAX,
        }
    }
}

/// An operator's own cost, in whole units (an impossible one is the most).
fn units(c: f64) -> Cost {
    if c.is_finite() {
        Cost {
            high: 0,
            low: c.max(0.0).ceil() as u128,
        }
    } else {
        Cost::MAX
    }
}

/// The e-node extraction picked for an e-class.
pub struct Choice {
    /// The cost of the term it roots.
    pub cost: Cost,
    /// A hash of that term's structure, which decides between terms of
    /// equal cost, so the choice does not depend on how the e-graph
    /// numbered its classes (explanations change the numbering).
    print: u64,
    pub node: TensorLang,
}

fn fingerprint(node: &TensorLang, operands: &[u64]) -> u64 {
    let mut h = DefaultHasher::new();
    match node {
        TensorLang::Leaf(l) => (0u8, l.node, l.name.as_str()).hash(&mut h),
        TensorLang::Const(c) => (1u8, c).hash(&mut h),
        TensorLang::Attr(a) => (2u8, a).hash(&mut h),
        TensorLang::Op(kind, _) => (3u8, kind).hash(&mut h),
    }
    operands.hash(&mut h);
    h.finish()
}

/// The cost of the term `node` roots, given its operands' costs.
fn term_cost(egraph: &TensorGraph, node: &TensorLang, class: &Facts, operands: &[Cost]) -> Cost {
    operands
        .iter()
        .fold(units(node_cost(egraph, node, class)), |sum, &c| {
            sum.saturating_add(c)
        })
}

/// The cheapest e-node of every e-class, by the cost of the term it roots
/// (shared subterms counted once for each use, as usual for e-graphs).
pub fn extract(egraph: &TensorGraph) -> HashMap<Id, Choice> {
    // The least cost of each class: a fixpoint, as egg's extractor finds it.
    // Classes are visited in the order they were made, operands mostly
    // before their users, so a sweep settles a chain of any depth (in the
    // e-graph's own order, a chain of n ops took up to n sweeps).
    let mut order: Vec<_> = egraph.classes().collect();
    order.sort_unstable_by_key(|c| c.id);
    let mut least: HashMap<Id, (Cost, &TensorLang)> = HashMap::new();
    let mut changed = true;
    while changed {
        changed = false;
        for class in &order {
            for node in &class.nodes {
                let operands: Option<Vec<Cost>> = node
                    .children()
                    .iter()
                    .map(|&c| least.get(&egraph.find(c)).map(|l| l.0))
                    .collect();
                let Some(operands) = operands else { continue };
                let cost = term_cost(egraph, node, &class.data, &operands);
                if least.get(&class.id).is_none_or(|l| cost < l.0) {
                    least.insert(class.id, (cost, node));
                    changed = true;
                }
            }
        }
    }
    // Among the nodes that reach it, the one with the least fingerprint,
    // cheapest classes first so that operands are decided before users.
    let mut pending: Vec<(Cost, Id)> = least.iter().map(|(&id, &(c, _))| (c, id)).collect();
    pending.sort_unstable();
    let mut best: HashMap<Id, Choice> = HashMap::new();
    while !pending.is_empty() {
        let decided = best.len();
        let mut deferred = Vec::new();
        for (cost, id) in pending {
            let class = &egraph[id];
            let mut pick: Option<Choice> = None;
            for node in &class.nodes {
                let operands: Option<Vec<&Choice>> = node
                    .children()
                    .iter()
                    .map(|&c| best.get(&egraph.find(c)))
                    .collect();
                let Some(operands) = operands else { continue };
                let costs: Vec<Cost> = operands.iter().map(|o| o.cost).collect();
                if term_cost(egraph, node, &class.data, &costs) != cost {
                    continue;
                }
                let prints: Vec<u64> = operands.iter().map(|o| o.print).collect();
                let print = fingerprint(node, &prints);
                if pick.as_ref().is_none_or(|p| print < p.print) {
                    pick = Some(Choice {
                        cost,
                        print,
                        node: node.clone(),
                    });
                }
            }
            match pick {
                Some(choice) => {
                    best.insert(id, choice);
                }
                None => deferred.push((cost, id)),
            }
        }
        // Costs so large that they saturate can leave a class waiting on
        // itself: take its cheapest node.
        if best.len() == decided {
            for (cost, id) in deferred.drain(..) {
                let node = least[&id].1.clone();
                best.insert(
                    id,
                    Choice {
                        cost,
                        print: 0,
                        node,
                    },
                );
            }
        }
        pending = deferred;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::Cost;

    #[test]
    fn costs_carry_into_the_high_half_and_saturate_past_it() {
        let low = |n: u128| Cost { high: 0, low: n };
        let nearly = low(u128::MAX);
        let carried = nearly.saturating_add(low(2));
        assert_eq!(carried, Cost { high: 1, low: 1 });
        // Past u128, still ordered: one more unit is more.
        assert!(carried < carried.saturating_add(low(1)));
        assert!(nearly < carried);
        let top = Cost {
            high: u128::MAX,
            low: 5,
        };
        assert_eq!(top.saturating_add(Cost { high: 1, low: 0 }), Cost::MAX);
        assert_eq!(top.saturating_add(low(u128::MAX)), Cost::MAX);
    }
}
