//! The Graph IR as a TensorFlow `GraphDef`, for TensorBoard's Graphs tab.
//!
//! One `NodeDef` per IR node: the op is the IR op's name, inputs refer to
//! nodes by name, and attrs hold the result's dtype (`T`), its shape
//! (`_output_shapes`, which TensorBoard shows on edges) and the op's own
//! attributes. Names are the user's where they are unique; a `/` in a name
//! (optimizer slots such as `w/adam_m`) becomes a scope TensorBoard folds.

use super::proto::{Attr, AttrValue, GraphDef, ListValue, NodeDef, ShapeDim, TensorShapeProto};
use std::collections::{BTreeMap, HashSet};
use tfg_ir::{DType, Dim, Graph, Op, Shape};

pub fn graph_def(g: &Graph) -> GraphDef {
    let names = node_names(g);
    let node = g
        .nodes
        .iter()
        .zip(&names)
        .map(|(n, name)| NodeDef {
            name: name.clone(),
            op: n.op.name(),
            input: n.args.iter().map(|a| names[a.index()].clone()).collect(),
            device: String::new(),
            attr: attrs(&n.op, n.ty.dtype, &n.ty.shape),
        })
        .collect();
    GraphDef {
        node,
        versions: Some(super::proto::VersionDef {
            producer: 1,
            min_consumer: 0,
        }),
    }
}

/// A unique, TensorFlow-valid name per node: the user's name where it is
/// free, `OP_INDEX` otherwise.
fn node_names(g: &Graph) -> Vec<String> {
    let mut taken = HashSet::new();
    g.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let own = n.name.as_deref().map(tf_name).filter(|s| !s.is_empty());
            let name = match own {
                Some(s) if !taken.contains(&s) => s,
                Some(s) => format!("{s}_{i}"),
                None => format!("{}_{i}", n.op.name()),
            };
            taken.insert(name.clone());
            name
        })
        .collect()
}

/// TensorFlow node names are `[A-Za-z0-9.][A-Za-z0-9_./-]*`.
fn tf_name(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '_' | '.' | '/' | '-' => c,
            _ => '_',
        })
        .collect();
    if s.starts_with(['_', '/', '-']) {
        format!("n{s}")
    } else {
        s
    }
}

fn attrs(op: &Op, dtype: DType, shape: &Shape) -> BTreeMap<String, AttrValue> {
    let value = |a: Attr| AttrValue { value: Some(a) };
    let ints = |xs: &[usize]| {
        value(Attr::List(ListValue {
            i: xs.iter().map(|&x| x as i64).collect(),
            shape: Vec::new(),
        }))
    };
    let mut attr = BTreeMap::new();
    attr.insert("T".to_string(), value(Attr::Type(data_type(dtype))));
    attr.insert(
        "_output_shapes".to_string(),
        value(Attr::List(ListValue {
            i: Vec::new(),
            shape: vec![shape_proto(shape)],
        })),
    );
    let own = match op {
        Op::Reduce { axes, keepdims, .. } => vec![
            ("axes", ints(axes)),
            ("keepdims", value(Attr::B(*keepdims))),
        ],
        Op::ArgMax { axis } | Op::ArgMin { axis } | Op::Concat { axis } => {
            vec![("axis", value(Attr::I(*axis as i64)))]
        }
        Op::Transpose { perm } => vec![("perm", ints(perm))],
        Op::Reshape { shape } | Op::BroadcastTo { shape } => {
            vec![("shape", value(Attr::Shape(shape_proto(shape))))]
        }
        Op::OneHot { depth } => vec![("depth", value(Attr::I(*depth as i64)))],
        Op::Cast { to } => vec![("to", value(Attr::Type(data_type(*to))))],
        Op::Slice { start, step, .. } => {
            let wide = |xs: &[u64]| xs.iter().map(|&x| x as usize).collect::<Vec<_>>();
            vec![
                ("begin", ints(&wide(start))),
                ("strides", ints(&wide(step))),
            ]
        }
        _ => Vec::new(),
    };
    attr.extend(own.into_iter().map(|(k, v)| (k.to_string(), v)));
    attr
}

/// `tensorboard.DataType`'s number for a dtype.
fn data_type(d: DType) -> i32 {
    match d {
        DType::F32 => 1,
        DType::F64 => 2,
        DType::I32 => 3,
        DType::I64 => 9,
        DType::Bool => 10,
    }
}

fn shape_proto(s: &Shape) -> TensorShapeProto {
    let dim =
        s.0.iter()
            .map(|d| match d {
                Dim::Known(n) => ShapeDim {
                    size: *n as i64,
                    name: String::new(),
                },
                Dim::Sym(name) => ShapeDim {
                    size: -1,
                    name: name.clone(),
                },
            })
            .collect();
    TensorShapeProto { dim }
}
