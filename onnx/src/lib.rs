//! ONNX models as `.tfg` source: tfg's second frontend.
//!
//! [`import`] decodes an ONNX `ModelProto` ([`proto`], prost) and writes one
//! `graph` in the `.tfg` language: one statement per ONNX node, with the
//! node's name in a comment, built from the frontend's builtins, so that what
//! it produces is what a user could have written and every later stage sees
//! an ordinary graph. Each statement is checked as it is written (through
//! [`tfg_frontend::Incremental`]), which also gives the importer the type of
//! every value it has made. Initializers become `param`s, returned with their
//! values for a checkpoint; those that only feed shapes (a `Reshape` target,
//! `Slice` bounds) are folded into the statements instead, as are the shape
//! computations PyTorch exports (`Shape → Gather → Concat → Reshape`),
//! symbolic dims (`dim_param`) included. NCHW operators (`Conv`, the pools)
//! transpose to and from the NHWC layout of tfg's `conv2d`.
//!
//! Names: graph inputs and outputs keep their ONNX names made into
//! identifiers (every character outside `[A-Za-z0-9_]` becomes `_`, a leading
//! digit gets a `_` before it, and a name that then clashes with an earlier
//! one or a keyword gets `_2`, `_3`, … in the order of the model's inputs,
//! then outputs).
//!
//! This crate knows the ONNX format and the `.tfg` language's builtins. It
//! reads no files (external tensor data comes through a callback) and knows
//! nothing of passes, backends or the command line.

mod constant;
mod convert;
mod names;
pub mod proto;

use prost::Message;
use std::collections::BTreeMap;
use tfg_ir::Tensor;

/// A model as `.tfg` source and the params' values.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The `.tfg` file: one graph.
    pub source: String,
    /// The graph's name.
    pub graph: String,
    /// Every param of the graph with its value, in declaration order.
    pub params: Vec<(String, Tensor)>,
    /// Each graph input: its ONNX name and its name in the `.tfg` file.
    pub inputs: Vec<(String, String)>,
    /// Each graph output: its ONNX name and its name in the `.tfg` file.
    pub outputs: Vec<(String, String)>,
    /// The ONNX names of the graph inputs that were given values
    /// ([`import_with`]): constants in the source, not inputs.
    pub fixed: Vec<String>,
}

/// Values for graph inputs, by ONNX name, that the importer takes as
/// constants (see [`import_with`]).
pub type Known = BTreeMap<String, Tensor>;

/// Why a model could not be imported.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportError {
    /// Not an ONNX model, or one that breaks the format's rules.
    Invalid(String),
    /// Operators the importer does not support, each with its count and the
    /// name of its first node.
    Unsupported(Vec<Unsupported>),
    /// An operand that must be known ahead of time (a shape, axes, bounds)
    /// is computed from graph inputs: with values for `inputs` (each with
    /// its declared type) given to [`import_with`], the model imports.
    NeedsValues {
        message: String,
        inputs: Vec<Needed>,
    },
}

/// A graph input whose value the importer needs (see
/// [`ImportError::NeedsValues`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Needed {
    /// Its ONNX name.
    pub name: String,
    /// The identifier the naming rule gives it.
    pub identifier: String,
    /// Its declared type.
    pub ty: tfg_ir::Type,
}

/// One operator type the importer does not support.
#[derive(Clone, Debug, PartialEq)]
pub struct Unsupported {
    pub op_type: String,
    pub count: usize,
    pub first_node: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Invalid(m) => f.write_str(m),
            ImportError::NeedsValues { message, inputs } => {
                let names: Vec<String> = inputs.iter().map(|n| format!("`{}`", n.name)).collect();
                write!(
                    f,
                    "{message}; it is computed from the graph input{} {}, whose value \
                     the model is compiled for when `tfg run` is given it (`--feed NAME=VALUE`)",
                    if names.len() == 1 { "" } else { "s" },
                    names.join(", ")
                )
            }
            ImportError::Unsupported(ops) => {
                let total: usize = ops.iter().map(|o| o.count).sum();
                write!(
                    f,
                    "the model uses {} operator type{} that tfg does not support ({total} node{}):",
                    ops.len(),
                    if ops.len() == 1 { "" } else { "s" },
                    if total == 1 { "" } else { "s" }
                )?;
                for o in ops {
                    write!(
                        f,
                        "\n  {} ({} node{}, first: `{}`)",
                        o.op_type,
                        o.count,
                        if o.count == 1 { "" } else { "s" },
                        o.first_node
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// The graph name for a model file called `stem`: an identifier by the
/// naming rule, `model` if nothing of it is left.
pub fn graph_name(stem: &str) -> String {
    let name = names::identifier(stem);
    if tfg_frontend::parse::is_keyword(&name) || name == "_" {
        format!("{name}_model")
    } else {
        name
    }
}

/// Reads the bytes of an external-data file named in the model (a path
/// relative to the model's directory).
pub type ExternalData<'a> = &'a (dyn Fn(&str) -> Result<Vec<u8>, String> + Sync);

/// Imports the ONNX model in `bytes`, its graph named `graph_name`.
pub fn import(
    bytes: &[u8],
    graph_name: &str,
    external: ExternalData,
) -> Result<Imported, ImportError> {
    import_with(bytes, graph_name, external, &Known::new())
}

/// [`import`], with values for some graph inputs, which become constants
/// (folded into shapes where the model computes shapes from them) instead
/// of inputs: how a model that takes a shape, axes or bounds as an input
/// (which tfg must know ahead of time) is compiled for given values.
pub fn import_with(
    bytes: &[u8],
    graph_name: &str,
    external: ExternalData,
    known: &Known,
) -> Result<Imported, ImportError> {
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| ImportError::Invalid(format!("not an ONNX model: {e}")))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ImportError::Invalid("the ONNX model has no graph".into()))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| {
            o.domain.as_deref().unwrap_or("").is_empty() || o.domain.as_deref() == Some("ai.onnx")
        })
        .and_then(|o| o.version)
        .unwrap_or(1);
    let unsupported = unsupported(graph);
    if !unsupported.is_empty() {
        return Err(ImportError::Unsupported(unsupported));
    }
    // One thread for every statement the importer checks.
    tfg_frontend::on_big_stack(|| {
        convert::Importer::new(graph_name, opset, external, known).run(graph)
    })
    .unwrap_or_else(|d| Err(ImportError::Invalid(d.message)))
}

/// Every operator type of `graph` that [`convert`] has no rule for.
fn unsupported(graph: &proto::GraphProto) -> Vec<Unsupported> {
    let mut seen: BTreeMap<String, (usize, usize, String)> = BTreeMap::new();
    for (k, n) in graph.node.iter().enumerate() {
        let op = n.op_type.clone().unwrap_or_default();
        let domain = n.domain.as_deref().unwrap_or("");
        let known =
            (domain.is_empty() || domain == "ai.onnx") && convert::SUPPORTED.contains(&op.as_str());
        if !known {
            let shown = if domain.is_empty() {
                op
            } else {
                format!("{domain}.{op}")
            };
            let e = seen.entry(shown).or_insert((
                k,
                0,
                n.name.clone().unwrap_or_else(|| format!("#{k}")),
            ));
            e.1 += 1;
        }
    }
    let mut out: Vec<(usize, Unsupported)> = seen
        .into_iter()
        .map(|(op_type, (first, count, first_node))| {
            (
                first,
                Unsupported {
                    op_type,
                    count,
                    first_node,
                },
            )
        })
        .collect();
    out.sort_by_key(|(first, _)| *first);
    out.into_iter().map(|(_, u)| u).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import_bytes(bytes: &[u8]) -> Result<Imported, ImportError> {
        import(bytes, "model", &|name| {
            Err(format!("no external data `{name}`"))
        })
    }

    /// The import fails with an error that says `why`.
    fn refused(bytes: &[u8], why: &str) {
        match import_bytes(bytes) {
            Err(e) => assert!(e.to_string().contains(why), "{e}"),
            Ok(m) => panic!("imported:\n{}", m.source),
        }
    }

    fn info(name: &str, elem: i32, dims: &[i64]) -> proto::ValueInfoProto {
        use proto::*;
        ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type: Some(elem),
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                dim_value: Some(d),
                                dim_param: None,
                            })
                            .collect(),
                    }),
                }),
            }),
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> proto::NodeProto {
        proto::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            name: Some(format!("{op}_{output}")),
            op_type: Some(op.into()),
            ..Default::default()
        }
    }

    fn ints(name: &str, values: &[i64]) -> proto::TensorProto {
        proto::TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(7),
            int64_data: values.to_vec(),
            name: Some(name.into()),
            ..Default::default()
        }
    }

    /// A model of one graph with f32 input `x` of `dims` at `opset`.
    fn model(
        opset: i64,
        dims: &[i64],
        nodes: Vec<proto::NodeProto>,
        initializer: Vec<proto::TensorProto>,
        outputs: &[&str],
    ) -> Vec<u8> {
        use proto::*;
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: None,
                version: Some(opset),
            }],
            producer_name: None,
            graph: Some(GraphProto {
                node: nodes,
                name: Some("g".into()),
                initializer,
                input: vec![info("x", 1, dims)],
                output: outputs.iter().map(|o| info(o, 1, &[])).collect(),
            }),
        }
        .encode_to_vec()
    }

    /// `y = Reshape(x, Add(shape, 0))` (opset 14), with `shape` a graph input.
    fn reshape_by_an_input() -> Vec<u8> {
        use proto::*;
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: None,
                version: Some(14),
            }],
            producer_name: None,
            graph: Some(GraphProto {
                node: vec![
                    node("Add", &["shape", "zero"], "target"),
                    node("Reshape", &["x", "target"], "y"),
                ],
                name: Some("g".into()),
                initializer: vec![ints("zero", &[0])],
                input: vec![info("x", 1, &[2, 3]), info("shape", 7, &[2])],
                output: vec![info("y", 1, &[3, 2])],
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn a_shape_computed_from_an_input_names_the_input_and_imports_with_its_value() {
        let bytes = reshape_by_an_input();
        match import_bytes(&bytes) {
            Err(ImportError::NeedsValues { inputs, .. }) => {
                let names: Vec<&str> = inputs.iter().map(|n| n.name.as_str()).collect();
                assert_eq!(names, ["shape"]);
                assert_eq!(inputs[0].identifier, "shape");
                assert_eq!(inputs[0].ty.to_string(), "i64[2]");
            }
            other => panic!("expected NeedsValues, got {other:?}"),
        }
        let known = Known::from([(
            "shape".to_string(),
            Tensor::new(vec![2], tfg_ir::Data::I64(vec![3, 2])).expect("a tensor"),
        )]);
        let m = import_with(&bytes, "model", &|_| Err(String::new()), &known).expect("imports");
        assert_eq!(m.fixed, ["shape"]);
        assert_eq!(m.inputs, [("x".to_string(), "x".to_string())]);
        assert!(m.source.contains("reshape(x, [3, 2])"), "{}", m.source);
        let wrong = Known::from([(
            "shape".to_string(),
            Tensor::new(vec![3], tfg_ir::Data::I64(vec![3, 2, 1])).expect("a tensor"),
        )]);
        let e = import_with(&bytes, "model", &|_| Err(String::new()), &wrong)
            .expect_err("a value of the wrong shape");
        assert!(e.to_string().contains("does not fit"), "{e}");
    }

    // Found by the `onnx` fuzz target (tests/fuzz): an axis outside the
    // input's rank was used to slice its shape, and the importer panicked.

    /// Softmax at opset 1 on a rank-1 input with the default axis 1.
    #[test]
    fn softmax_axis_out_of_range_is_an_error() {
        refused(
            b"\x08\x0a\x3a\x3b\x0a\x0f\x0a\x01\x78\x12\x01\x79\x22\x07\x53\x6f\x66\x74\x6d\x61\
              \x78\x12\x0a\x53\x6f\x66\x74\x6d\x61\x78\x5f\x31\x31\x5a\x17\x0a\x01\x78\x12\x12\
              \x0a\x10\x08\x01\x52\x0c\x0a\x02\x45\x00\x00\x00\x08\x03\x0a\x02\x08\x04\x62\x03\
              \x0a\x01\x0b",
            "out of range",
        );
    }

    /// Flatten of an `f32[2, 3]` at axis 5.
    #[test]
    fn flatten_axis_out_of_range_is_an_error() {
        refused(
            b"\x08\x08\x12\x00\x3a\x3b\x0a\x1c\x0a\x01\x78\x12\x01\x79\x22\x07\x46\x6c\x61\x74\
              \x74\x65\x6e\x2a\x0b\x0a\x04\x61\x78\x69\x73\x18\x05\xa0\x01\x02\x12\x01\x67\x5a\
              \x13\x0a\x01\x78\x12\x0e\x0a\x0c\x08\x01\x12\x08\x0a\x02\x08\x02\x0a\x02\x08\x03\
              \x62\x03\x0a\x01\x79\x42\x04\x0a\x00\x10\x11",
            "out of range",
        );
    }

    /// Pad of an `f32[2, 3]` on axis 7.
    #[test]
    fn pad_axis_out_of_range_is_an_error() {
        refused(
            b"\x08\x08\x12\x00\x3a\x60\x0a\x13\x0a\x01\x78\x0a\x01\x70\x0a\x00\x0a\x01\x61\x12\
              \x01\x79\x22\x03\x50\x61\x64\x12\x01\x67\x2a\x19\x08\x02\x10\x07\x42\x01\x70\x4a\
              \x10\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x2a\x11\x08\
              \x01\x10\x07\x42\x01\x61\x4a\x08\x07\x00\x00\x00\x00\x00\x00\x00\x5a\x13\x0a\x01\
              \x78\x12\x0e\x0a\x0c\x08\x01\x12\x08\x0a\x02\x08\x02\x0a\x02\x08\x03\x62\x03\x0a\
              \x01\x79\x42\x04\x0a\x00\x10\x11",
            "out of range",
        );
    }

    /// Found by the `onnx` fuzz target: Slice of an `f32[2, 3]` with two
    /// axes but one start and one end indexed past them.
    #[test]
    fn slice_with_fewer_starts_than_axes_is_an_error() {
        refused(
            b"\x08\x08\x12\x00\x3a\x76\x0a\x16\x0a\x01\x78\x0a\x01\x73\x0a\x01\x65\x0a\x01\x61\
              \x12\x01\x79\x22\x05\x53\x6c\x69\x63\x65\x12\x01\x67\x2a\x11\x08\x01\x10\x07\x42\
              \x01\x73\x4a\x08\x00\x00\x00\x00\x00\x00\x00\x00\x2a\x11\x08\x01\x10\x07\x42\x01\
              \x65\x4a\x08\x01\x00\x00\x00\x00\x00\x00\x00\x2a\x19\x08\x02\x10\x07\x42\x01\x61\
              \x4a\x10\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x5a\x13\
              \x0a\x01\x78\x12\x0e\x0a\x0c\x08\x01\x12\x08\x0a\x02\x08\x02\x0a\x02\x08\x03\x62\
              \x03\x0a\x01\x79\x42\x04\x0a\x00\x10\x11",
            "1 starts and 1 ends for 2 axes",
        );
    }

    /// Found by the `onnx` fuzz target: the constant folder took the first
    /// of empty `starts` and `ends` (Slice of a constant) and of an empty
    /// `start` (Range). Now those are not folded; the import returns.
    #[test]
    fn folding_empty_slice_and_range_bounds_returns() {
        let slice =
            b"\x08\x08\x12\x00\x3a\x67\x0a\x13\x0a\x01\x63\x0a\x01\x73\x0a\x01\x65\x12\x01\x79\
              \x22\x05\x53\x6c\x69\x63\x65\x12\x01\x67\x2a\x21\x08\x03\x10\x07\x42\x01\x63\x4a\
              \x18\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\
              \x00\x00\x00\x00\x00\x2a\x09\x08\x00\x10\x07\x42\x01\x73\x4a\x00\x2a\x09\x08\x00\
              \x10\x07\x42\x01\x65\x4a\x00\x5a\x0f\x0a\x01\x78\x12\x0a\x0a\x08\x08\x01\x12\x04\
              \x0a\x02\x08\x02\x62\x03\x0a\x01\x79\x42\x04\x0a\x00\x10\x11";
        let range =
            b"\x08\x08\x12\x00\x3a\x57\x0a\x13\x0a\x01\x73\x0a\x01\x6c\x0a\x01\x64\x12\x01\x79\
              \x22\x05\x52\x61\x6e\x67\x65\x12\x01\x67\x2a\x09\x08\x00\x10\x07\x42\x01\x73\x4a\
              \x00\x2a\x09\x08\x00\x10\x07\x42\x01\x6c\x4a\x00\x2a\x11\x08\x01\x10\x07\x42\x01\
              \x64\x4a\x08\x01\x00\x00\x00\x00\x00\x00\x00\x5a\x0f\x0a\x01\x78\x12\x0a\x0a\x08\
              \x08\x01\x12\x04\x0a\x02\x08\x02\x62\x03\x0a\x01\x79\x42\x04\x0a\x00\x10\x11";
        for bytes in [&slice[..], &range[..]] {
            // Ok or Err: the rest of the importer judges the node.
            let _ = import_bytes(bytes);
        }
    }

    /// Found by the `onnx` fuzz target: Split of an `f32[4]` into parts of
    /// 2^62 each overflowed adding up where each part starts.
    #[test]
    fn split_sizes_past_the_axis_are_an_error() {
        refused(
            b"\x08\x08\x12\x00\x3a\x49\x0a\x13\x0a\x01\x78\x0a\x01\x73\x12\x01\x79\x12\x01\x7a\
              \x22\x05\x53\x70\x6c\x69\x74\x12\x01\x67\x2a\x19\x08\x02\x10\x07\x42\x01\x73\x4a\
              \x10\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x40\x5a\x0f\x0a\
              \x01\x78\x12\x0a\x0a\x08\x08\x01\x12\x04\x0a\x02\x08\x04\x62\x03\x0a\x01\x79\x42\
              \x04\x0a\x00\x10\x11",
            "split sizes outside the axis's size",
        );
    }

    /// `Resize(x, sizes)` in `mode`, with `sizes` an initializer.
    fn resize(mode: &str) -> proto::NodeProto {
        let mut n = node("Resize", &["x", "", "", "sizes"], "y");
        n.attribute.push(proto::AttributeProto {
            name: Some("mode".into()),
            s: Some(mode.as_bytes().to_vec()),
            r#type: Some(3),
            ..Default::default()
        });
        n
    }

    /// Found by the `onnx` fuzz target (a timeout): a linear Resize took
    /// the axes resized before it twice, so the text doubled with each
    /// axis. Each axis is now a statement of its own.
    #[test]
    fn a_linear_resize_writes_each_axis_once() {
        let sizes = [1, 3, 5, 7];
        let bytes = model(
            13,
            &[1, 1, 2, 2],
            vec![resize("linear")],
            vec![ints("sizes", &sizes)],
            &["y"],
        );
        let m = import_bytes(&bytes).expect("imports");
        for line in m.source.lines() {
            assert!(line.matches("take(").count() <= 2, "{line}");
        }
        assert_eq!(m.source.matches("take(").count(), 6, "{}", m.source);
    }

    /// Found by the `onnx` fuzz target: many nodes that each write a long
    /// index list stay within one budget for the whole model.
    #[test]
    fn index_lists_are_bounded_over_the_whole_model() {
        let sizes = [1, 1, 2, 30_000];
        let nodes = (0..3)
            .map(|k| {
                let mut n = resize("nearest");
                n.output = vec![format!("y{k}")];
                n
            })
            .collect();
        let bytes = model(
            13,
            &[1, 1, 2, 2],
            nodes,
            vec![ints("sizes", &sizes)],
            &["y0", "y1", "y2"],
        );
        refused(&bytes, "at most 65536 in all");
    }

    /// A Range folded to more elements than the model's budget is refused;
    /// it was cut to its first 2^20 elements before.
    #[test]
    fn a_range_too_long_to_fold_is_an_error() {
        let range = node("Range", &["s", "l", "d"], "r");
        let bytes = model(
            13,
            &[1],
            vec![range, node("Cast", &["r"], "y")],
            vec![ints("s", &[0]), ints("l", &[1 << 17]), ints("d", &[1])],
            &["y"],
        );
        refused(&bytes, "a Range too large to write out");
    }
}
