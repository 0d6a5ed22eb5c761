//! Shape specialisation: binding symbolic dims and substituting them.
//!
//! A graph over `f32[B, 3]` is compiled once per size of `B` (as `jax.jit`
//! caches by shape): [`bind_dims`] reads the sizes off the feeds, and
//! [`specialize`] gives the graph with every symbol replaced by its size.

use crate::graph::{Graph, ValueId};
use crate::infer::{infer, TypeError};
use crate::op::Op;
use crate::text::type_text;
use crate::types::{Dim, Shape, Type};
use std::collections::BTreeMap;

/// The size of every symbol that the inputs fed with these concrete shapes
/// use. `feeds` lists every input that will be fed (defaults included);
/// each must be an input of `g` whose declared shape fits.
pub fn bind_dims(
    g: &Graph,
    feeds: &[(ValueId, &[usize])],
) -> Result<BTreeMap<String, u64>, TypeError> {
    let mut dims = BTreeMap::new();
    // Which input bound each symbol, for the error message.
    let mut source: BTreeMap<String, &str> = BTreeMap::new();
    for &(v, shape) in feeds {
        let input = match g.nodes.get(v.index()).map(|n| &n.op) {
            Some(Op::Input { name, .. }) => name.as_str(),
            _ => return Err(TypeError::new(format!("{v} is fed but is not an input"))),
        };
        let ty = g.ty(v);
        let fed = format!("{shape:?}");
        if ty.shape.rank() != shape.len() {
            return Err(TypeError::new(format!(
                "input {input} expects {} but was fed {fed}",
                type_text(ty)
            )));
        }
        for (d, &n) in ty.shape.0.iter().zip(shape) {
            let n = n as u64;
            match d {
                Dim::Known(k) if *k != n => {
                    return Err(TypeError::new(format!(
                        "input {input} expects {} but was fed {fed}",
                        type_text(ty)
                    )));
                }
                Dim::Known(_) => {}
                Dim::Sym(s) => match dims.get(s) {
                    Some(&bound) if bound != n => {
                        return Err(TypeError::new(format!(
                            "dimension {s} is {bound} from input {} but {n} from input {input}",
                            source[s]
                        )));
                    }
                    Some(_) => {}
                    None => {
                        dims.insert(s.clone(), n);
                        source.insert(s.clone(), input);
                    }
                },
            }
        }
    }
    Ok(dims)
}

/// `g` with every symbolic dim replaced by its size in `dims`, in types and in
/// attributes, and every type inferred again. Fails if a symbol is unbound.
pub fn specialize(g: &Graph, dims: &BTreeMap<String, u64>) -> Result<Graph, TypeError> {
    let mut out = g.clone();
    for i in 0..out.nodes.len() {
        let node = &mut out.nodes[i];
        match &mut node.op {
            Op::Reshape { shape } | Op::BroadcastTo { shape } | Op::Slice { shape, .. } => {
                *shape = substitute(shape, dims)?
            }
            _ => {}
        }
        let declared = Type::new(node.ty.dtype, substitute(&node.ty.shape, dims)?);
        let node = &out.nodes[i];
        let ty = if matches!(node.op, Op::Input { .. } | Op::Param { .. }) {
            declared
        } else {
            let args: Vec<&Type> = node.args.iter().map(|a| out.ty(*a)).collect();
            let ty = infer(&node.op, &args).map_err(|e| at(&out, i, e.message))?;
            if ty != declared {
                let message = format!(
                    "has type {} but {} once specialised",
                    type_text(&declared),
                    type_text(&ty)
                );
                return Err(at(&out, i, message));
            }
            ty
        };
        // A default feed that no longer fits (its size bound a symbol that
        // `dims` now binds otherwise) cannot be fed to this specialisation.
        if let Op::Input { default, .. } = &mut out.nodes[i].op {
            // A scalar default fills whatever shape the input takes.
            let fits = |t: &crate::Tensor| {
                t.shape.is_empty() || Some(t.shape.clone()) == ty.shape.concrete()
            };
            if default
                .as_ref()
                .and_then(|d| d.value())
                .is_some_and(|t| !fits(t))
            {
                *default = None;
            }
        }
        out.nodes[i].ty = ty;
    }
    Ok(out)
}

fn at(g: &Graph, i: usize, problem: String) -> TypeError {
    let node = &g.nodes[i];
    let name = node
        .name
        .as_ref()
        .map_or(String::new(), |n| format!(" ({n})"));
    TypeError::new(format!("%{i}{name} = {}: {problem}", node.op.name()))
}

fn substitute(shape: &Shape, dims: &BTreeMap<String, u64>) -> Result<Shape, TypeError> {
    let bind = |d: &Dim| match d {
        Dim::Known(_) => Ok(d.clone()),
        Dim::Sym(s) => dims.get(s).map(|&n| Dim::Known(n)).ok_or_else(|| {
            TypeError::new(format!(
                "dimension {s} is not bound: feed an input that uses it, or give --dim {s}=N"
            ))
        }),
    };
    shape
        .0
        .iter()
        .map(bind)
        .collect::<Result<_, _>>()
        .map(Shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{BinaryOp, Init};
    use crate::types::DType;

    fn sym(s: &str) -> Dim {
        Dim::Sym(s.into())
    }

    /// `y = reshape(x, [B * 3]) ... ` over inputs x: f32[B, 3], z: f32[B, 1].
    fn batched() -> (Graph, ValueId, ValueId) {
        let mut g = Graph::new("g");
        let x = g.add_input(
            "x",
            Type::new(DType::F32, Shape(vec![sym("B"), Dim::Known(3)])),
            None,
        );
        let z = g.add_input(
            "z",
            Type::new(DType::F32, Shape(vec![sym("B"), Dim::Known(1)])),
            None,
        );
        let w = g.add_param("w", Type::new(DType::F32, Shape::known(&[3])), Init::Zeros);
        let s = g
            .add(Op::Binary(BinaryOp::Add), &[x, z])
            .expect("broadcasts");
        let t = g
            .add(Op::Binary(BinaryOp::Mul), &[s, w])
            .expect("broadcasts");
        let r = g
            .add(
                Op::Reshape {
                    shape: Shape(vec![Dim::Known(3), sym("B")]),
                },
                &[t],
            )
            .expect("same size");
        g.outputs.push(("r".into(), r));
        (g, x, z)
    }

    #[test]
    fn binds_and_substitutes() {
        let (g, x, z) = batched();
        let dims = bind_dims(&g, &[(x, &[4, 3]), (z, &[4, 1])]).expect("consistent feeds");
        assert_eq!(dims, BTreeMap::from([("B".to_string(), 4)]));
        let s = specialize(&g, &dims).expect("all bound");
        assert_eq!(s.ty(x), &Type::new(DType::F32, Shape::known(&[4, 3])));
        assert_eq!(
            s.ty(ValueId(5)),
            &Type::new(DType::F32, Shape::known(&[3, 4]))
        );
        assert_eq!(
            s.node(ValueId(5)).op,
            Op::Reshape {
                shape: Shape::known(&[3, 4])
            }
        );
        assert_eq!(crate::verify::verify(&s), Ok(()));
    }

    #[test]
    fn feed_errors() {
        let (g, x, z) = batched();
        assert_eq!(
            bind_dims(&g, &[(x, &[32, 3]), (z, &[16, 1])])
                .unwrap_err()
                .message,
            "dimension B is 32 from input x but 16 from input z"
        );
        assert_eq!(
            bind_dims(&g, &[(x, &[4, 4])]).unwrap_err().message,
            "input x expects f32[B, 3] but was fed [4, 4]"
        );
        assert_eq!(
            bind_dims(&g, &[(z, &[4])]).unwrap_err().message,
            "input z expects f32[B, 1] but was fed [4]"
        );
        assert!(bind_dims(&g, &[(ValueId(3), &[4, 3])])
            .unwrap_err()
            .message
            .contains("not an input"));
    }

    #[test]
    fn unbound_symbol() {
        let (g, ..) = batched();
        let e = specialize(&g, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            e.message,
            "dimension B is not bound: feed an input that uses it, or give --dim B=N"
        );
    }
}
