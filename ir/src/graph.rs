//! The Graph IR container.
//!
//! A [`Graph`] is a list of [`Node`]s in topological order: a node's operands
//! are always earlier nodes, so a forward walk over `nodes` is a valid
//! evaluation order, and `ValueId(i)` names the value that node `i` computes.
//! Inputs and params are nodes too (ops with no operands); their order in the
//! node list is their order in the graph.

use crate::infer::{infer, TypeError};
use crate::op::{Init, Op};
use crate::tensor::Tensor;
use crate::types::Type;
use std::fmt;

/// The value computed by node `self.0` of its graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    /// The index of the node computing this value in [`Graph::nodes`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// A place in a source file, 1-based, kept so that errors found late (for
/// example a feed that does not fit) can still point at the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Loc {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

/// One SSA value: the op that computes it, its operands and its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The operation; its attributes live in the op.
    pub op: Op,
    /// The operands, in the op's order; every one an earlier node.
    pub args: Vec<ValueId>,
    /// The result type, which [`infer`] gives for the op and the operand types
    /// (for leaves, the declared type).
    pub ty: Type,
    /// The name the user bound this value to, if any (`y = …`, inputs, params).
    pub name: Option<String>,
    /// Where in the source the value was defined; `None` for values passes
    /// made.
    pub loc: Option<Loc>,
}

/// A data-flow graph: nodes in topological order and the named outputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// The graph's name in the program (`graph NAME { … }`).
    pub name: String,
    /// The nodes in topological order; node `i` computes `ValueId(i)`.
    pub nodes: Vec<Node>,
    /// What a run returns, in order: (output name, value).
    pub outputs: Vec<(String, ValueId)>,
    /// State updates a run applies after computing its outputs: (param node,
    /// its new value). Empty for forward graphs; a training step graph has one
    /// per param and per optimizer slot.
    pub updates: Vec<(ValueId, ValueId)>,
}

impl Graph {
    /// An empty graph called `name`.
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            nodes: Vec::new(),
            outputs: Vec::new(),
            updates: Vec::new(),
        }
    }

    /// Appends a node computing `op(args)`, with its type from the op registry.
    /// Fails, leaving the graph unchanged, if the operands do not fit the op.
    pub fn add(&mut self, op: Op, args: &[ValueId]) -> Result<ValueId, TypeError> {
        let arg_types: Vec<&Type> = args
            .iter()
            .map(|a| self.nodes.get(a.index()).map(|n| &n.ty))
            .collect::<Option<_>>()
            .ok_or_else(|| TypeError::new("operand refers to a value that does not exist yet"))?;
        let ty = infer(&op, &arg_types)?;
        Ok(self.push(Node {
            op,
            args: args.to_vec(),
            ty,
            name: None,
            loc: None,
        }))
    }

    /// Appends an input of declared type `ty`; `default` is its default feed.
    pub fn add_input(&mut self, name: &str, ty: Type, default: Option<Tensor>) -> ValueId {
        let op = Op::Input {
            name: name.to_string(),
            default: default.map(crate::op::InputDefault::Value),
        };
        self.push(Node {
            op,
            args: Vec::new(),
            ty,
            name: Some(name.to_string()),
            loc: None,
        })
    }

    /// Appends a param of declared type `ty`.
    pub fn add_param(&mut self, name: &str, ty: Type, init: Init) -> ValueId {
        let op = Op::Param {
            name: name.to_string(),
            init,
        };
        self.push(Node {
            op,
            args: Vec::new(),
            ty,
            name: Some(name.to_string()),
            loc: None,
        })
    }

    /// Appends a node as given, without checking it (the verifier does).
    pub fn push(&mut self, node: Node) -> ValueId {
        self.nodes.push(node);
        ValueId((self.nodes.len() - 1) as u32)
    }

    /// The node computing `v`; panics if `v` is not in the graph.
    pub fn node(&self, v: ValueId) -> &Node {
        &self.nodes[v.index()]
    }

    /// The node computing `v`, to change in place; the caller keeps it valid.
    pub fn node_mut(&mut self, v: ValueId) -> &mut Node {
        &mut self.nodes[v.index()]
    }

    /// The type of `v`; panics if `v` is not in the graph.
    pub fn ty(&self, v: ValueId) -> &Type {
        &self.nodes[v.index()].ty
    }

    /// Every value of the graph, in node (topological) order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = ValueId> {
        (0..self.nodes.len() as u32).map(ValueId)
    }

    /// Input nodes, in graph order.
    pub fn inputs(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.ids()
            .filter(|&v| matches!(self.node(v).op, Op::Input { .. }))
    }

    /// Param nodes, in graph order.
    pub fn params(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.ids()
            .filter(|&v| matches!(self.node(v).op, Op::Param { .. }))
    }

    /// The value bound to `name` (input, param or named value), latest first.
    pub fn lookup(&self, name: &str) -> Option<ValueId> {
        self.ids()
            .rev()
            .find(|&v| self.node(v).name.as_deref() == Some(name))
    }

    /// The output named `name`.
    pub fn output(&self, name: &str) -> Option<ValueId> {
        self.outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }

    /// Which nodes the outputs and updates depend on (inputs and params always
    /// count: they are the graph's interface).
    pub fn live(&self) -> Vec<bool> {
        let mut live = vec![false; self.nodes.len()];
        let roots = self
            .outputs
            .iter()
            .map(|&(_, v)| v)
            .chain(self.updates.iter().flat_map(|&(p, v)| [p, v]));
        for v in roots {
            live[v.index()] = true;
        }
        for i in (0..self.nodes.len()).rev() {
            if self.nodes[i].op.is_leaf_state() {
                live[i] = true;
            }
            if live[i] {
                for a in &self.nodes[i].args {
                    live[a.index()] = true;
                }
            }
        }
        live
    }

    /// Drops the nodes whose `keep` entry is false and renumbers the rest.
    /// Every kept node, output and update must refer only to kept nodes.
    pub fn retain(&mut self, keep: &[bool]) {
        let mut new_id = vec![None; self.nodes.len()];
        let mut next = 0u32;
        for (i, k) in keep.iter().enumerate() {
            if *k {
                new_id[i] = Some(ValueId(next));
                next += 1;
            }
        }
        let map = |v: &mut ValueId| {
            // Invariant: the caller keeps every node a kept one refers to (documented above).
            *v = new_id[v.index()].expect("retain: a kept value refers to a dropped one")
        };
        let nodes = std::mem::take(&mut self.nodes);
        self.nodes = nodes
            .into_iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(n, _)| n)
            .collect();
        for n in &mut self.nodes {
            n.args.iter_mut().for_each(map);
        }
        for (_, v) in &mut self.outputs {
            map(v);
        }
        for (p, v) in &mut self.updates {
            map(p);
            map(v);
        }
    }
}
