//! Builtins expanded into IR ops on a bare [`Graph`], for builders of the
//! IR outside the frontend (test graphs, tools) to build exactly what the
//! frontend builds for the same call. [`crate::builtin`] expands through
//! these and then places the new nodes at the call.

use tfg_ir::{BinaryOp, Graph, Op, ReduceOp, TypeError, UnaryOp, ValueId};

/// `softmax(x, axis)`: `e = exp(x - reduce_max(x, axis, keepdims))`, then
/// `e / reduce_sum(e, axis, keepdims)`. Shifting by the maximum keeps
/// `exp` from overflowing.
pub fn softmax(g: &mut Graph, x: ValueId, axis: usize) -> Result<ValueId, TypeError> {
    let (exp, _, total) = shifted_exp(g, x, axis)?;
    g.add(Op::Binary(BinaryOp::Div), &[exp, total])
}

/// `log_softmax(x, axis)`: `s = x - reduce_max(x, axis, keepdims)`, then
/// `s - log(reduce_sum(exp(s), axis, keepdims))`.
pub fn log_softmax(g: &mut Graph, x: ValueId, axis: usize) -> Result<ValueId, TypeError> {
    let (_, shifted, total) = shifted_exp(g, x, axis)?;
    let log_total = g.add(Op::Unary(UnaryOp::Log), &[total])?;
    g.add(Op::Binary(BinaryOp::Sub), &[shifted, log_total])
}

/// The common part of both: `exp(s)`, `s = x - max` and the sum of `exp(s)`
/// along `axis`.
fn shifted_exp(
    g: &mut Graph,
    x: ValueId,
    axis: usize,
) -> Result<(ValueId, ValueId, ValueId), TypeError> {
    let reduce = |op| Op::Reduce {
        op,
        axes: vec![axis],
        keepdims: true,
    };
    let max = g.add(reduce(ReduceOp::Max), &[x])?;
    let shifted = g.add(Op::Binary(BinaryOp::Sub), &[x, max])?;
    let exp = g.add(Op::Unary(UnaryOp::Exp), &[shifted])?;
    let total = g.add(reduce(ReduceOp::Sum), &[exp])?;
    Ok((exp, shifted, total))
}
