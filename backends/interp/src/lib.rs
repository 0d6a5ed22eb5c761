//! tfg's reference interpreter: runs a Graph IR graph op by op on flat
//! row-major buffers, with numpy's semantics for every op and dtype.
//!
//! It is the oracle every compiled backend is tested against, so it favours
//! being plainly right over being fast, and it trusts nothing it is given: the
//! feeds are checked against the declared types, and every node's type against
//! the type rule of its op, so a malformed graph is an error, never a panic.
//!
//! It knows the Graph IR (`tfg-ir`) and nothing else: not the surface language,
//! not the passes, not the other backends. It runs specialised graphs (every
//! shape concrete) whose `grad` nodes the autodiff pass has already expanded.

mod convert;
mod elementwise;
mod index;
pub mod kernel;
mod layout;
mod matmul;
mod reduce;

use std::borrow::Cow;
use std::fmt;
use tfg_ir::{infer, Graph, Loc, Op, Tensor, Type, ValueId};

/// What one run computes.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    /// The graph's outputs, in `g.outputs` order.
    pub outputs: Vec<Tensor>,
    /// The new value of each updated param, in `g.updates` order. The caller
    /// applies them: a run does not change its inputs.
    pub updates: Vec<Tensor>,
}

/// Why a graph could not be run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunError {
    pub message: String,
    /// Where the offending value was written in the source, if known.
    pub loc: Option<Loc>,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RunError {}

/// Runs `g` once. `inputs` are in `g.inputs()` order and `params` in
/// `g.params()` order; each must have exactly its declared type. Only the nodes
/// that the outputs and updates depend on are evaluated.
pub fn run(g: &Graph, inputs: &[Tensor], params: &[Tensor]) -> Result<Outputs, RunError> {
    let mut values: Vec<Option<Cow<Tensor>>> = g.nodes.iter().map(|_| None).collect();
    bind(g, "input", g.inputs().collect(), inputs, &mut values)?;
    bind(g, "param", g.params().collect(), params, &mut values)?;
    let roots: Vec<ValueId> = g
        .outputs
        .iter()
        .map(|&(_, v)| v)
        .chain(g.updates.iter().map(|&(_, v)| v))
        .collect();
    let last_use = last_uses(g, &roots)?;
    for (i, node) in g.nodes.iter().enumerate() {
        if last_use[i].is_none() || values[i].is_some() {
            continue;
        }
        let result = eval(g, i, &values).map_err(|m| error_at(g, i, m))?;
        values[i] = Some(Cow::Owned(result));
        for a in &node.args {
            if last_use[a.index()] == Some(i) {
                values[a.index()] = None;
            }
        }
    }
    let mut results = roots.iter().map(|v| {
        values[v.index()]
            .as_deref()
            .cloned()
            .ok_or_else(|| error_at(g, v.index(), "was not computed".into()))
    });
    let outputs = results
        .by_ref()
        .take(g.outputs.len())
        .collect::<Result<_, _>>()?;
    let updates = results.collect::<Result<_, _>>()?;
    Ok(Outputs { outputs, updates })
}

/// Checks the fed tensors against the declared leaves and binds them.
fn bind<'a>(
    g: &Graph,
    kind: &str,
    ids: Vec<ValueId>,
    fed: &'a [Tensor],
    values: &mut [Option<Cow<'a, Tensor>>],
) -> Result<(), RunError> {
    // Leaves always have names; users know them without the IR's `%`.
    let name = |v: ValueId| {
        g.node(v)
            .name
            .clone()
            .unwrap_or_else(|| describe(g, v.index()))
    };
    if ids.len() != fed.len() {
        let names: Vec<String> = ids.iter().map(|&v| name(v)).collect();
        let plural = if ids.len() == 1 { "" } else { "s" };
        let message = format!(
            "expected {} {kind}{plural} ({}), got {}",
            ids.len(),
            names.join(", "),
            fed.len()
        );
        return Err(RunError { message, loc: None });
    }
    for (&id, t) in ids.iter().zip(fed) {
        let node = g.node(id);
        let declared = concrete(&node.ty).map_err(|m| error_at(g, id.index(), m))?;
        if t.shape.iter().product::<usize>() != t.numel() {
            let m = format!(
                "{kind} {} was fed a malformed tensor ({} elements for shape {:?})",
                name(id),
                t.numel(),
                t.shape
            );
            return Err(RunError {
                message: m,
                loc: node.loc,
            });
        }
        if t.dtype() != node.ty.dtype || t.shape != declared {
            let m = format!(
                "{kind} {} expects {} but was fed {}",
                name(id),
                node.ty,
                t.ty()
            );
            return Err(RunError {
                message: m,
                loc: node.loc,
            });
        }
        values[id.index()] = Some(Cow::Borrowed(t));
    }
    Ok(())
}

/// For each node the roots need, the last node that reads it (`usize::MAX`
/// for the roots themselves, which are read at the end); `None` for the rest.
fn last_uses(g: &Graph, roots: &[ValueId]) -> Result<Vec<Option<usize>>, RunError> {
    let mut last = vec![None; g.nodes.len()];
    for r in roots {
        let slot = last.get_mut(r.index()).ok_or_else(|| RunError {
            message: format!("an output or update refers to {r}, which does not exist"),
            loc: None,
        })?;
        *slot = Some(usize::MAX);
    }
    for i in (0..g.nodes.len()).rev() {
        if last[i].is_none() {
            continue;
        }
        for a in &g.nodes[i].args {
            if a.index() >= i {
                return Err(error_at(
                    g,
                    i,
                    format!("refers to {a}, which is not an earlier value"),
                ));
            }
            last[a.index()].get_or_insert(i);
        }
    }
    Ok(last)
}

/// Computes node `i` from its operands' values.
fn eval(g: &Graph, i: usize, values: &[Option<Cow<Tensor>>]) -> Result<Tensor, String> {
    let node = &g.nodes[i];
    let shape = concrete(&node.ty)?;
    let fits_in_memory = shape
        .iter()
        .try_fold(node.ty.dtype.size(), |bytes, &d| bytes.checked_mul(d))
        .is_some_and(|bytes| bytes <= isize::MAX as usize);
    if !fits_in_memory {
        return Err(format!("{} is too large to hold in memory", node.ty));
    }
    match &node.op {
        Op::Grad => return Err("grad must be expanded by the autodiff pass before running".into()),
        Op::Input { .. } | Op::Param { .. } => return Err("was not fed".into()),
        Op::Const(t) if t.shape.iter().product::<usize>() != t.numel() => {
            return Err(format!(
                "malformed constant ({} elements for shape {:?})",
                t.numel(),
                t.shape
            ))
        }
        _ => {}
    }
    let arg_types: Vec<&Type> = node.args.iter().map(|a| &g.nodes[a.index()].ty).collect();
    let ty = infer(&node.op, &arg_types).map_err(|e| e.message)?;
    if ty != node.ty {
        return Err(format!(
            "is declared {} but its operands give {ty}",
            node.ty
        ));
    }
    let args = node
        .args
        .iter()
        .map(|a| {
            values[a.index()]
                .as_deref()
                .ok_or_else(|| format!("operand {a} was not computed"))
        })
        .collect::<Result<Vec<&Tensor>, String>>()?;
    let data = match &node.op {
        Op::Const(t) => t.data.clone(),
        Op::Unary(u) => elementwise::unary(*u, args[0])?,
        Op::Binary(b) => elementwise::binary(*b, args[0], args[1], &shape)?,
        Op::Select => elementwise::select(args[0], args[1], args[2], &shape)?,
        Op::Reduce { op, axes, .. } => reduce::reduce(*op, axes, args[0])?,
        Op::ArgMax { axis } => reduce::arg_extreme(true, *axis, args[0])?,
        Op::ArgMin { axis } => reduce::arg_extreme(false, *axis, args[0])?,
        Op::MatMul => matmul::matmul(args[0], args[1])?,
        Op::Transpose { perm } => layout::transpose(args[0], perm)?,
        Op::Reshape { .. } => args[0].data.clone(),
        Op::BroadcastTo { .. } => layout::broadcast_to(args[0], &shape)?,
        Op::Concat { axis } => layout::concat(&args, *axis, &shape)?,
        Op::Slice { start, step, .. } => layout::slice(args[0], start, step, &shape)?,
        Op::StopGradient => args[0].data.clone(),
        Op::OneHot { depth } => convert::one_hot(args[0], *depth)?,
        Op::Cast { to } => convert::cast(&args[0].data, *to)?,
        Op::Grad | Op::Input { .. } | Op::Param { .. } => {
            return Err("has no operands to compute it from".into())
        }
    };
    // A mismatch here is a bug in a kernel; report it rather than pass it on.
    Tensor::new(shape, data)
        .filter(|t| t.dtype() == node.ty.dtype)
        .ok_or_else(|| {
            format!(
                "internal error: the interpreter computed a value that is not a {}",
                node.ty
            )
        })
}

/// The sizes of a type that must have no symbolic dims.
fn concrete(ty: &Type) -> Result<Vec<usize>, String> {
    ty.shape.concrete().ok_or_else(|| {
        format!("has the symbolic type {ty}; specialise the graph before running it")
    })
}

/// `%name` or `%index`, as the IR's text form names values.
fn describe(g: &Graph, i: usize) -> String {
    match &g.nodes[i].name {
        Some(name) => format!("%{name}"),
        None => format!("%{i}"),
    }
}

fn error_at(g: &Graph, i: usize, message: String) -> RunError {
    let node = &g.nodes[i];
    RunError {
        message: format!("{} ({}): {message}", describe(g, i), node.op.name()),
        loc: node.loc,
    }
}
