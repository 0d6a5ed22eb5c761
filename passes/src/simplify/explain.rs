//! Explanations: which rewrites turned each root into its extracted form.
//!
//! egg proves the original and the extracted term equal; the proof is a tree
//! of terms in which a term carrying a rule name was reached from the term
//! before it by that rule. Every such step is listed once, as the rewritten
//! subterm before and after (printed a few levels deep), in proof order.

use super::analysis::TensorGraph;
use super::lang::TensorLang;
use egg::{Id, TreeExplanation, TreeTerm};
use std::collections::HashSet;
use std::fmt::{self, Write};
use std::rc::Rc;

/// How deep terms are printed; deeper subterms show as `…`.
const DEPTH: usize = 4;

/// One rewrite used on the way to the extracted graph.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// The name of the rewrite rule (or `constant-fold`) that was applied.
    pub rule: String,
    /// The rule was used right to left.
    pub reversed: bool,
    /// The rewritten subterm before the step, printed to a few levels
    /// deep (deeper subterms as `…`).
    pub before: String,
    /// The subterm after the step, printed the same way.
    pub after: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reversed = if self.reversed { " (reversed)" } else { "" };
        write!(
            f,
            "{}{reversed}: {} => {}",
            self.rule, self.before, self.after
        )
    }
}

/// The steps proving each `(original, extracted)` pair of e-node ids equal.
pub fn steps(egraph: &mut TensorGraph, pairs: &[(Id, Id)]) -> Vec<Step> {
    let mut walk = Walk {
        seen: HashSet::new(),
        listed: HashSet::new(),
        steps: Vec::new(),
    };
    for &(original, extracted) in pairs {
        if egraph.find(original) != egraph.find(extracted) {
            continue;
        }
        let proof = egraph.explain_id_equivalence(original, extracted);
        walk.proof(&proof.explanation_trees);
    }
    walk.steps
}

struct Walk {
    /// Proof terms already visited (proofs share subproofs).
    seen: HashSet<*const TreeTerm<TensorLang>>,
    listed: HashSet<Step>,
    steps: Vec<Step>,
}

impl Walk {
    fn proof(&mut self, proof: &TreeExplanation<TensorLang>) {
        for (i, term) in proof.iter().enumerate() {
            if i > 0 {
                let rule = term
                    .forward_rule
                    .map(|r| (r, false))
                    .or(term.backward_rule.map(|r| (r, true)));
                if let Some((rule, reversed)) = rule {
                    let step = Step {
                        rule: rule.to_string(),
                        reversed,
                        before: render(&proof[i - 1], true),
                        after: render(term, false),
                    };
                    if self.listed.insert(step.clone()) {
                        self.steps.push(step);
                    }
                }
            }
            if self.seen.insert(Rc::as_ptr(term)) {
                for child in &term.child_proofs {
                    self.proof(child);
                }
            }
        }
    }
}

/// The term's final (`last`) or initial form.
fn render(term: &TreeTerm<TensorLang>, last: bool) -> String {
    fn go(term: &TreeTerm<TensorLang>, last: bool, depth: usize, out: &mut String) {
        if term.child_proofs.is_empty() {
            let _ = write!(out, "{}", term.node);
            return;
        }
        if depth == 0 {
            out.push('…');
            return;
        }
        let _ = write!(out, "({}", term.node);
        for proof in &term.child_proofs {
            let child = if last { proof.last() } else { proof.first() };
            if let Some(child) = child {
                out.push(' ');
                go(child, last, depth - 1, out);
            }
        }
        out.push(')');
    }
    let mut out = String::new();
    go(term, last, DEPTH, &mut out);
    out
}
