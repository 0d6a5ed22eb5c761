//! The protobuf messages of TensorFlow Serving's gRPC API that tfg speaks,
//! written by hand as prost structs: the same packages, message names, field
//! numbers and types as TensorFlow's and TensorFlow Serving's `.proto` files
//! (`tensorflow/core/framework/{tensor,tensor_shape,types}.proto`,
//! `tensorflow_serving/apis/{model,predict,get_model_metadata,get_model_status}.proto`,
//! `tensorflow/core/protobuf/meta_graph.proto` for `SignatureDef`), so they are
//! wire-compatible with the official clients. Fields tfg does not use are left
//! out; prost skips them when it decodes.

use std::collections::HashMap;

/// `tensorflow.DataType` values tfg reads and writes.
pub mod data_type {
    pub const DT_INVALID: i32 = 0;
    pub const DT_FLOAT: i32 = 1;
    pub const DT_DOUBLE: i32 = 2;
    pub const DT_INT32: i32 = 3;
    pub const DT_INT64: i32 = 9;
    pub const DT_BOOL: i32 = 10;
}

/// `tensorflow.error.Code` values tfg reports.
pub mod error_code {
    pub const OK: i32 = 0;
    pub const UNKNOWN: i32 = 2;
}

/// `tensorflow.serving.ModelVersionStatus.State`.
pub mod state {
    pub const LOADING: i32 = 20;
    pub const AVAILABLE: i32 = 30;
    pub const END: i32 = 50;
}

/// `tensorflow.TensorShapeProto`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<tensor_shape_proto::Dim>,
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

pub mod tensor_shape_proto {
    /// `tensorflow.TensorShapeProto.Dim`.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Dim {
        #[prost(int64, tag = "1")]
        pub size: i64,
        #[prost(string, tag = "2")]
        pub name: String,
    }
}

/// `tensorflow.TensorProto`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TensorProto {
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    #[prost(int32, tag = "3")]
    pub version_number: i32,
    #[prost(bytes = "vec", tag = "4")]
    pub tensor_content: Vec<u8>,
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    #[prost(double, repeated, tag = "6")]
    pub double_val: Vec<f64>,
    #[prost(int32, repeated, tag = "7")]
    pub int_val: Vec<i32>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
    #[prost(int64, repeated, tag = "10")]
    pub int64_val: Vec<i64>,
    #[prost(bool, repeated, tag = "11")]
    pub bool_val: Vec<bool>,
}

/// `tensorflow.serving.ModelSpec`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ModelSpec {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(oneof = "model_spec::VersionChoice", tags = "2, 4")]
    pub version_choice: Option<model_spec::VersionChoice>,
    #[prost(string, tag = "3")]
    pub signature_name: String,
}

pub mod model_spec {
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum VersionChoice {
        /// `google.protobuf.Int64Value version = 2`.
        #[prost(message, tag = "2")]
        Version(i64),
        #[prost(string, tag = "4")]
        VersionLabel(String),
    }
}

/// `tensorflow.serving.PredictRequest`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PredictRequest {
    #[prost(message, optional, tag = "1")]
    pub model_spec: Option<ModelSpec>,
    #[prost(map = "string, message", tag = "2")]
    pub inputs: HashMap<String, TensorProto>,
    #[prost(string, repeated, tag = "3")]
    pub output_filter: Vec<String>,
}

/// `tensorflow.serving.PredictResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PredictResponse {
    #[prost(message, optional, tag = "2")]
    pub model_spec: Option<ModelSpec>,
    #[prost(map = "string, message", tag = "1")]
    pub outputs: HashMap<String, TensorProto>,
}

/// `tensorflow.TensorInfo` (the `name` encoding only).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TensorInfo {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int32, tag = "2")]
    pub dtype: i32,
    #[prost(message, optional, tag = "3")]
    pub tensor_shape: Option<TensorShapeProto>,
}

/// `tensorflow.SignatureDef`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SignatureDef {
    #[prost(map = "string, message", tag = "1")]
    pub inputs: HashMap<String, TensorInfo>,
    #[prost(map = "string, message", tag = "2")]
    pub outputs: HashMap<String, TensorInfo>,
    #[prost(string, tag = "3")]
    pub method_name: String,
}

/// `tensorflow.serving.SignatureDefMap`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SignatureDefMap {
    #[prost(map = "string, message", tag = "1")]
    pub signature_def: HashMap<String, SignatureDef>,
}

/// `tensorflow.serving.GetModelMetadataRequest`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GetModelMetadataRequest {
    #[prost(message, optional, tag = "1")]
    pub model_spec: Option<ModelSpec>,
    #[prost(string, repeated, tag = "2")]
    pub metadata_field: Vec<String>,
}

/// `tensorflow.serving.GetModelMetadataResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GetModelMetadataResponse {
    #[prost(message, optional, tag = "1")]
    pub model_spec: Option<ModelSpec>,
    #[prost(map = "string, message", tag = "2")]
    pub metadata: HashMap<String, ::prost_types::Any>,
}

/// `tensorflow.serving.GetModelStatusRequest`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GetModelStatusRequest {
    #[prost(message, optional, tag = "1")]
    pub model_spec: Option<ModelSpec>,
}

/// `tensorflow.serving.StatusProto`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StatusProto {
    #[prost(int32, tag = "1")]
    pub error_code: i32,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `tensorflow.serving.ModelVersionStatus`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ModelVersionStatus {
    #[prost(int64, tag = "1")]
    pub version: i64,
    #[prost(int32, tag = "2")]
    pub state: i32,
    #[prost(message, optional, tag = "3")]
    pub status: Option<StatusProto>,
}

/// `tensorflow.serving.GetModelStatusResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GetModelStatusResponse {
    #[prost(message, repeated, tag = "1")]
    pub model_version_status: Vec<ModelVersionStatus>,
}
