//! Batch safety: whether a graph's outputs are computed row by row along the
//! batch axis, so that a model server may stack the rows of several requests
//! into one run and cut the result apart again.
//!
//! The analysis walks the graph once, forward, and gives each value one of
//! three facts: it does not depend on the batched inputs at all (`Free`: a
//! param, a constant, an input with a default that is not fed per request),
//! it has a batch axis along which each slice depends only on the same row of
//! the batched inputs (`Rows(axis)`), or its rows are mixed (`Mixed`). An
//! elementwise op keeps rows apart; a reduction over the batch axis, a matrix
//! product that contracts it, a reshape or concatenation that moves data
//! across it mixes them. Ops it does not know are taken as mixing, so the
//! answer errs on the side of running requests one at a time.
//!
//! A graph whose outputs are all `Rows(0)` is row-independent: run on the
//! rows of several requests stacked along axis 0, it gives each request the
//! rows it would have got alone.

use tfg_ir::{Dim, Graph, Op, Shape, ValueId};

/// What the analysis knows of one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fact {
    /// Independent of the batched inputs.
    Free,
    /// Axis `.0` is the batch axis, and slices along it depend only on the
    /// same row of the batched inputs.
    Rows(usize),
    /// Rows are mixed.
    Mixed,
}

/// Why a graph is not row-independent: the first value (in graph order)
/// that mixes rows or an output without a batch axis, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotRowIndependent {
    /// The value's name, or its op where it has none.
    pub value: String,
    /// Why it breaks row independence, as a clause about the value
    /// ("it mixes rows of the batch").
    pub reason: String,
}

impl std::fmt::Display for NotRowIndependent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.value, self.reason)
    }
}

/// Whether every value in `outputs` of `g` depends, row by row along axis 0,
/// only on the same rows of `batched` (inputs whose leading dimension is the
/// batch axis, all the same symbolic dimension). `g` is the graph before
/// specialisation, so the batch dimension is still a name.
pub fn row_independent(
    g: &Graph,
    batched: &[ValueId],
    outputs: &[ValueId],
) -> Result<(), NotRowIndependent> {
    let describe = |v: ValueId| {
        let node = g.node(v);
        node.name.clone().map_or_else(
            || format!("a `{}` op", node.op.name()),
            |n| format!("`{n}`"),
        )
    };
    let Some(batch) = batched
        .first()
        .and_then(|&v| match g.node(v).ty.shape.0.first() {
            Some(Dim::Sym(s)) => Some(s.clone()),
            _ => None,
        })
    else {
        return Err(NotRowIndependent {
            value: "the signature".into(),
            reason: "it has no input with a symbolic leading dimension".into(),
        });
    };
    let mut facts: Vec<Fact> = Vec::with_capacity(g.nodes.len());
    let mut first_mixed: Option<(ValueId, String)> = None;
    for v in g.ids() {
        let (fact, why) = if batched.contains(&v) {
            (Fact::Rows(0), String::new())
        } else {
            transfer(g, v, &facts, &batch)
        };
        if fact == Fact::Mixed && first_mixed.is_none() && !why.is_empty() {
            first_mixed = Some((v, why));
        }
        facts.push(fact);
    }
    for &out in outputs {
        match facts.get(out.index()) {
            Some(Fact::Rows(0)) => {}
            Some(Fact::Rows(axis)) => {
                return Err(NotRowIndependent {
                    value: describe(out),
                    reason: format!("its batch axis is axis {axis}, not axis 0"),
                })
            }
            Some(Fact::Free) => {
                return Err(NotRowIndependent {
                    value: describe(out),
                    reason: "it does not depend on the batched inputs, so it has no rows".into(),
                })
            }
            Some(Fact::Mixed) | None => {
                let (v, reason) = first_mixed
                    .clone()
                    .unwrap_or((out, "it mixes rows of the batch".into()));
                return Err(NotRowIndependent {
                    value: describe(v),
                    reason,
                });
            }
        }
    }
    Ok(())
}

fn is_batch(d: Option<&Dim>, batch: &str) -> bool {
    matches!(d, Some(Dim::Sym(s)) if s == batch)
}

fn mentions(shape: &Shape, batch: &str) -> usize {
    shape
        .0
        .iter()
        .filter(|d| matches!(d, Dim::Sym(s) if s == batch))
        .count()
}

/// The fact of node `v`, from the facts of the nodes before it, and why it
/// mixes rows where it does (empty where a mixed operand is the reason).
fn transfer(g: &Graph, v: ValueId, facts: &[Fact], batch: &str) -> (Fact, String) {
    let node = g.node(v);
    let arg = |i: usize| {
        node.args
            .get(i)
            .and_then(|a| facts.get(a.index()).copied())
            .unwrap_or(Fact::Mixed)
    };
    let arg_rank = |i: usize| node.args.get(i).map_or(0, |&a| g.ty(a).shape.rank());
    let args: Vec<Fact> = (0..node.args.len()).map(arg).collect();
    if args.contains(&Fact::Mixed) {
        return (Fact::Mixed, String::new());
    }
    if args.iter().all(|f| *f == Fact::Free) {
        return match node.op {
            // A gradient is not served; anything else over free values is free.
            Op::Grad => (Fact::Mixed, "a gradient is not computed row by row".into()),
            _ => (Fact::Free, String::new()),
        };
    }
    let rank = node.ty.shape.rank();
    let mixed = |why: &str| (Fact::Mixed, why.to_string());
    match &node.op {
        Op::Unary(_) | Op::Cast { .. } | Op::OneHot { .. } => (arg(0), String::new()),
        Op::Binary(_) | Op::Select => {
            // numpy broadcasting aligns trailing axes.
            let mut at: Option<usize> = None;
            for (i, f) in args.iter().enumerate() {
                if let Fact::Rows(a) = f {
                    let mapped = a + rank - arg_rank(i);
                    if at.is_some_and(|b| b != mapped) {
                        return mixed("it combines values whose batch axes differ");
                    }
                    at = Some(mapped);
                }
            }
            match at {
                Some(a) if is_batch(node.ty.shape.0.get(a), batch) => {
                    (Fact::Rows(a), String::new())
                }
                _ => mixed("it broadcasts along the batch axis"),
            }
        }
        Op::Reduce { axes, keepdims, .. } => {
            let Fact::Rows(a) = arg(0) else {
                return (Fact::Free, String::new());
            };
            if axes.contains(&a) {
                return mixed("it reduces over the batch axis");
            }
            match keepdims {
                true => (Fact::Rows(a), String::new()),
                false => (
                    Fact::Rows(a - axes.iter().filter(|&&x| x < a).count()),
                    String::new(),
                ),
            }
        }
        Op::ArgMax { axis } | Op::ArgMin { axis } => match arg(0) {
            Fact::Rows(a) if a == *axis => mixed("it reduces over the batch axis"),
            Fact::Rows(a) if a > *axis => (Fact::Rows(a - 1), String::new()),
            other => (other, String::new()),
        },
        Op::MatMul => {
            let (rl, rr) = (arg_rank(0), arg_rank(1));
            let r = rank;
            let lhs = match arg(0) {
                Fact::Free => None,
                Fact::Rows(a) if rl == 1 || a == rl - 1 => {
                    return mixed("its matrix product contracts the batch axis")
                }
                Fact::Rows(a) if rr == 1 => Some(a),
                Fact::Rows(a) if a == rl - 2 => Some(r - 2),
                Fact::Rows(a) => Some(a + r - rl),
                Fact::Mixed => return mixed(""),
            };
            let rhs = match arg(1) {
                Fact::Free => None,
                Fact::Rows(b) if rr == 1 || b == rr - 2 => {
                    return mixed("its matrix product contracts the batch axis")
                }
                Fact::Rows(b) if b == rr - 1 => Some(r - 1),
                Fact::Rows(b) if rl == 1 => Some(b),
                Fact::Rows(b) => Some(b + r - rr),
                Fact::Mixed => return mixed(""),
            };
            match (lhs, rhs) {
                (Some(a), None) | (None, Some(a)) => (Fact::Rows(a), String::new()),
                // Both batched: only a shared (broadcast) batch axis keeps rows apart.
                (Some(a), Some(b)) if a == b && a + 2 <= r => (Fact::Rows(a), String::new()),
                _ => mixed("its matrix product pairs rows of the batch with each other"),
            }
        }
        Op::Transpose { perm } => match arg(0) {
            Fact::Rows(a) => match perm.iter().position(|&p| p == a) {
                Some(j) => (Fact::Rows(j), String::new()),
                None => mixed("its permutation is not one"),
            },
            other => (other, String::new()),
        },
        Op::Reshape { shape } => {
            let Fact::Rows(a) = arg(0) else {
                return (Fact::Free, String::new());
            };
            let from = node.args.first().map(|&x| &g.ty(x).shape);
            // Rows stay apart when the axes up to the batch axis are kept
            // and the batch dimension appears nowhere else.
            let kept = from.is_some_and(|from| {
                from.0.get(..=a) == shape.0.get(..=a)
                    && mentions(from, batch) == 1
                    && mentions(shape, batch) == 1
            });
            match kept {
                true => (Fact::Rows(a), String::new()),
                false => mixed("it reshapes across the batch axis"),
            }
        }
        Op::BroadcastTo { shape } => match arg(0) {
            Fact::Rows(a) => {
                let b = a + shape.rank() - arg_rank(0);
                match is_batch(shape.0.get(b), batch) {
                    true => (Fact::Rows(b), String::new()),
                    false => mixed("it broadcasts along the batch axis"),
                }
            }
            other => (other, String::new()),
        },
        Op::Concat { axis } => {
            let mut at: Option<usize> = None;
            for f in &args {
                if let Fact::Rows(a) = f {
                    if at.is_some_and(|b| b != *a) {
                        return mixed("it concatenates values whose batch axes differ");
                    }
                    at = Some(*a);
                }
            }
            match at {
                Some(a) if a == *axis => mixed("it concatenates along the batch axis"),
                Some(a) => (Fact::Rows(a), String::new()),
                None => (Fact::Free, String::new()),
            }
        }
        Op::Input { .. } | Op::Param { .. } | Op::Const(_) => (Fact::Free, String::new()),
        #[allow(unreachable_patterns)]
        _ => mixed("the analysis does not know whether this op keeps rows apart"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfg_ir::{BinaryOp, DType, Init, ReduceOp, Type, UnaryOp};

    fn ty(dims: &[Dim]) -> Type {
        Type::new(DType::F32, Shape(dims.to_vec()))
    }
    fn n() -> Dim {
        Dim::Sym("N".into())
    }
    fn k(x: u64) -> Dim {
        Dim::Known(x)
    }

    fn unchecked(g: &mut Graph, op: Op, args: &[ValueId], ty: Type) -> ValueId {
        g.push(tfg_ir::Node {
            op,
            args: args.to_vec(),
            ty,
            name: None,
            loc: None,
        })
    }

    /// `x: f32[N, 4]`, `w: f32[4, 3]`, `b: f32[3]`.
    fn mlp_start() -> (Graph, ValueId, ValueId, ValueId) {
        let mut g = Graph::new("g");
        let x = g.add_input("x", ty(&[n(), k(4)]), None);
        let w = g.add_param("w", ty(&[k(4), k(3)]), Init::Zeros);
        let b = g.add_param("b", ty(&[k(3)]), Init::Zeros);
        (g, x, w, b)
    }

    #[test]
    fn an_mlp_with_softmax_over_features_is_safe() {
        let (mut g, x, w, b) = mlp_start();
        let h = g.add(Op::MatMul, &[x, w]).unwrap();
        let h = g.add(Op::Binary(BinaryOp::Add), &[h, b]).unwrap();
        let h = g.add(Op::Unary(UnaryOp::Relu), &[h]).unwrap();
        let m = g
            .add(
                Op::Reduce {
                    op: ReduceOp::Max,
                    axes: vec![1],
                    keepdims: true,
                },
                &[h],
            )
            .unwrap();
        let e = g.add(Op::Binary(BinaryOp::Sub), &[h, m]).unwrap();
        let c = g.add(Op::ArgMax { axis: 1 }, &[e]).unwrap();
        assert_eq!(row_independent(&g, &[x], &[e, c]), Ok(()));
    }

    #[test]
    fn a_reduction_over_the_batch_is_unsafe() {
        let (mut g, x, _, _) = mlp_start();
        let m = g
            .add(
                Op::Reduce {
                    op: ReduceOp::Mean,
                    axes: vec![0],
                    keepdims: true,
                },
                &[x],
            )
            .unwrap();
        let y = g.add(Op::Binary(BinaryOp::Sub), &[x, m]).unwrap();
        let err = row_independent(&g, &[x], &[y]).unwrap_err();
        assert!(err.reason.contains("reduces over the batch axis"), "{err}");
        // A full reduction too.
        let s = g
            .add(
                Op::Reduce {
                    op: ReduceOp::Sum,
                    axes: vec![0, 1],
                    keepdims: false,
                },
                &[x],
            )
            .unwrap();
        assert!(row_independent(&g, &[x], &[s]).is_err());
    }

    #[test]
    fn a_matmul_that_contracts_the_batch_is_unsafe() {
        let (mut g, x, _, _) = mlp_start();
        let xt = g.add(Op::Transpose { perm: vec![1, 0] }, &[x]).unwrap();
        let gram = g.add(Op::MatMul, &[xt, x]).unwrap();
        assert!(row_independent(&g, &[x], &[gram]).is_err());
        // x @ x.T pairs rows with each other.
        let outer = g.add(Op::MatMul, &[x, xt]).unwrap();
        assert!(row_independent(&g, &[x], &[outer]).is_err());
    }

    #[test]
    fn a_transpose_there_and_back_is_safe() {
        let (mut g, x, w, _) = mlp_start();
        let xt = g.add(Op::Transpose { perm: vec![1, 0] }, &[x]).unwrap();
        let wt = g.add(Op::Transpose { perm: vec![1, 0] }, &[w]).unwrap();
        // (w.T @ x.T).T == x @ w
        let y = g.add(Op::MatMul, &[wt, xt]).unwrap();
        let y = g.add(Op::Transpose { perm: vec![1, 0] }, &[y]).unwrap();
        assert_eq!(row_independent(&g, &[x], &[y]), Ok(()));
        // Without the last transpose the batch is axis 1.
        let z = g.add(Op::MatMul, &[wt, xt]).unwrap();
        assert!(row_independent(&g, &[x], &[z]).is_err());
    }

    #[test]
    fn reshapes_that_keep_the_batch_axis_are_safe_and_others_not() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", ty(&[n(), k(2), k(3)]), None);
        let flat = g
            .add(
                Op::Reshape {
                    shape: Shape(vec![n(), k(6)]),
                },
                &[x],
            )
            .unwrap();
        assert_eq!(row_independent(&g, &[x], &[flat]), Ok(()));
        // Types as a graph with symbolic sizes cannot state them: pushed unchecked.
        let merged = unchecked(
            &mut g,
            Op::Reshape {
                shape: Shape(vec![Dim::Sym("M".into())]),
            },
            &[x],
            ty(&[Dim::Sym("M".into())]),
        );
        assert!(row_independent(&g, &[x], &[merged]).is_err());
    }

    #[test]
    fn concatenation_along_features_is_safe_and_along_the_batch_not() {
        let (mut g, x, _, _) = mlp_start();
        let c = g.add(Op::Concat { axis: 1 }, &[x, x]).unwrap();
        assert_eq!(row_independent(&g, &[x], &[c]), Ok(()));
        let d = unchecked(
            &mut g,
            Op::Concat { axis: 0 },
            &[x, x],
            ty(&[Dim::Sym("M".into()), k(4)]),
        );
        let err = row_independent(&g, &[x], &[d]).unwrap_err();
        assert!(err.reason.contains("concatenates along the batch"), "{err}");
    }

    #[test]
    fn an_output_without_rows_is_not_batchable() {
        let (mut g, x, w, _) = mlp_start();
        let w2 = g.add(Op::Unary(UnaryOp::Neg), &[w]).unwrap();
        let err = row_independent(&g, &[x], &[w2]).unwrap_err();
        assert!(err.reason.contains("no rows"), "{err}");
    }

    #[test]
    fn an_input_without_a_batch_axis_is_refused() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", ty(&[k(3)]), None);
        assert!(row_independent(&g, &[x], &[x]).is_err());
    }
}
