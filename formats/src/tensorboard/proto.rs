//! The few TensorFlow protobuf messages an event file holds, written by hand
//! for `prost` (no protoc). Field numbers are those of TensorBoard's copies of
//! the protos in `tensorboard/compat/proto/`: `event.proto`, `summary.proto`,
//! `graph.proto`, `node_def.proto`, `attr_value.proto`, `tensor_shape.proto`,
//! `versions.proto` and `types.proto`. Only the fields tfg writes are declared.
//!
//! Members of a proto `oneof` are declared `optional` here: the wire format is
//! the same, and unlike a plain proto3 field a zero (a loss of exactly 0.0) is
//! still written, so the reader sees which member is set.

use std::collections::BTreeMap;

/// `tensorboard.Event`: one record of an event file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(string, optional, tag = "3")]
    pub file_version: Option<String>,
    /// A serialized [`GraphDef`].
    #[prost(bytes = "vec", optional, tag = "4")]
    pub graph_def: Option<Vec<u8>>,
    #[prost(message, optional, tag = "5")]
    pub summary: Option<Summary>,
}

/// `tensorboard.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorboard.Summary.Value`, as a scalar.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
}

/// `tensorboard.GraphDef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphDef {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeDef>,
    #[prost(message, optional, tag = "4")]
    pub versions: Option<VersionDef>,
}

/// `tensorboard.NodeDef`. A map keeps attrs in a fixed order, so the bytes
/// written for a graph are the same on every run.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeDef {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub op: String,
    #[prost(string, repeated, tag = "3")]
    pub input: Vec<String>,
    #[prost(string, tag = "4")]
    pub device: String,
    #[prost(btree_map = "string, message", tag = "5")]
    pub attr: BTreeMap<String, AttrValue>,
}

/// `tensorboard.VersionDef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionDef {
    #[prost(int32, tag = "1")]
    pub producer: i32,
    #[prost(int32, tag = "2")]
    pub min_consumer: i32,
}

/// `tensorboard.AttrValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttrValue {
    #[prost(oneof = "Attr", tags = "1, 3, 5, 6, 7")]
    pub value: Option<Attr>,
}

/// The members of `AttrValue.value` that tfg uses.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Attr {
    #[prost(message, tag = "1")]
    List(ListValue),
    #[prost(int64, tag = "3")]
    I(i64),
    #[prost(bool, tag = "5")]
    B(bool),
    /// A `tensorboard.DataType` value.
    #[prost(int32, tag = "6")]
    Type(i32),
    #[prost(message, tag = "7")]
    Shape(TensorShapeProto),
}

/// `tensorboard.AttrValue.ListValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListValue {
    #[prost(int64, repeated, tag = "3")]
    pub i: Vec<i64>,
    #[prost(message, repeated, tag = "7")]
    pub shape: Vec<TensorShapeProto>,
}

/// `tensorboard.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<ShapeDim>,
}

/// `tensorboard.TensorShapeProto.Dim`: `size` -1 is unknown; `name` holds a
/// symbolic dim's name.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ShapeDim {
    #[prost(int64, tag = "1")]
    pub size: i64,
    #[prost(string, tag = "2")]
    pub name: String,
}
