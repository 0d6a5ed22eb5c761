//! gRPC: TensorFlow Serving's `PredictionService` (`Predict`,
//! `GetModelMetadata`) and `ModelService` (`GetModelStatus`), wire-compatible
//! with the official `tensorflow-serving-api` client.
//!
//! Errors are statuses: NOT_FOUND for an unknown model, version or
//! signature, INVALID_ARGUMENT for inputs that do not fit, RESOURCE_EXHAUSTED
//! when the queue is full, INTERNAL when a run fails.

pub mod proto;

/// The protobuf runtime the messages are for, so that clients decode with the same one.
pub use prost;

#[allow(clippy::all, missing_docs, unused_qualifications)]
mod generated {
    include!(concat!(
        env!("OUT_DIR"),
        "/tensorflow.serving.PredictionService.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/tensorflow.serving.ModelService.rs"
    ));
}

pub use generated::model_service_client::ModelServiceClient;
pub use generated::model_service_server::{ModelService, ModelServiceServer};
pub use generated::prediction_service_client::PredictionServiceClient;
pub use generated::prediction_service_server::{PredictionService, PredictionServiceServer};

use crate::registry::{NotFound, Registry, State};
use crate::rest::dims;
use crate::runner::RunError;
use proto::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;
use tfg_ir::{DType, Data, Tensor, Type};
use tonic::{Request, Response, Status};

/// Both services over one registry.
#[derive(Clone)]
pub struct Grpc {
    pub registry: Arc<Registry>,
}

fn not_found(e: NotFound) -> Status {
    Status::not_found(e.0)
}

fn run_error(e: RunError) -> Status {
    match e {
        RunError::BadRequest(m) => Status::invalid_argument(m),
        RunError::Overloaded(m) => Status::resource_exhausted(m),
        RunError::Internal(m) => Status::internal(m),
    }
}

/// The model, version and signature a spec names.
fn spec_of(spec: Option<&ModelSpec>) -> Result<(String, Option<u64>, String), Status> {
    let spec = spec.ok_or_else(|| Status::invalid_argument("the request has no model_spec"))?;
    let version = match &spec.version_choice {
        None => None,
        Some(model_spec::VersionChoice::Version(v)) => {
            Some(u64::try_from(*v).map_err(|_| Status::not_found(format!("no version {v}")))?)
        }
        Some(model_spec::VersionChoice::VersionLabel(l)) => {
            return Err(Status::not_found(format!(
                "version labels are not supported (label `{l}`); name a version number"
            )))
        }
    };
    Ok((spec.name.clone(), version, spec.signature_name.clone()))
}

/// TensorFlow's DataType number of a dtype.
pub fn tf_dtype(d: DType) -> i32 {
    match d {
        DType::F32 => data_type::DT_FLOAT,
        DType::F64 => data_type::DT_DOUBLE,
        DType::I32 => data_type::DT_INT32,
        DType::I64 => data_type::DT_INT64,
        DType::Bool => data_type::DT_BOOL,
    }
}

fn shape_proto(dims: &[i64]) -> TensorShapeProto {
    TensorShapeProto {
        dim: dims
            .iter()
            .map(|&size| tensor_shape_proto::Dim {
                size,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    }
}

/// A tensor as a TensorProto, values in the typed field of its dtype.
pub fn to_proto(t: &Tensor) -> TensorProto {
    let dims: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    let mut p = TensorProto {
        dtype: tf_dtype(t.dtype()),
        tensor_shape: Some(shape_proto(&dims)),
        ..Default::default()
    };
    match &t.data {
        Data::F32(v) => p.float_val = v.clone(),
        Data::F64(v) => p.double_val = v.clone(),
        Data::I32(v) => p.int_val = v.clone(),
        Data::I64(v) => p.int64_val = v.clone(),
        Data::Bool(v) => p.bool_val = v.clone(),
    }
    p
}

/// The most elements an input tensor may have.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The tensor a TensorProto holds, for input `name` declared `ty`: from
/// `tensor_content` (little-endian) or the typed field, where one value
/// fills the whole shape, as TensorFlow reads it.
pub fn from_proto(p: &TensorProto, ty: &Type, name: &str) -> Result<Tensor, String> {
    let declared = tf_dtype(ty.dtype);
    if p.dtype != declared {
        return Err(format!(
            "input `{name}` expects {} but is given DataType {}",
            crate::rest::tf_dtype(ty.dtype),
            p.dtype
        ));
    }
    let shape = p
        .tensor_shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| usize::try_from(d.size))
                .collect::<Result<Vec<usize>, _>>()
        })
        .transpose()
        .map_err(|_| format!("input `{name}` has a negative dimension"))?
        .unwrap_or_default();
    // A single value fills the shape, so a small message may ask for a
    // huge tensor: bounded, rather than an allocation that aborts.
    let n = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| {
            format!("input `{name}` has shape {shape:?}, more than {MAX_ELEMENTS} elements")
        })?;
    fn fill<T: Clone>(v: &[T], n: usize, name: &str) -> Result<Vec<T>, String> {
        match v.len() {
            k if k == n => Ok(v.to_vec()),
            1 => Ok(vec![v[0].clone(); n]),
            0 if n == 0 => Ok(Vec::new()),
            k => Err(format!(
                "input `{name}` has {k} values but its shape needs {n}"
            )),
        }
    }
    fn le<T, const W: usize>(
        bytes: &[u8],
        n: usize,
        name: &str,
        f: impl Fn([u8; W]) -> T,
    ) -> Result<Vec<T>, String> {
        if Some(bytes.len()) != n.checked_mul(W) {
            return Err(format!(
                "input `{name}` has {} bytes of tensor_content but its shape needs {}",
                bytes.len(),
                n.saturating_mul(W)
            ));
        }
        Ok(bytes
            .chunks_exact(W)
            .map(|c| {
                let mut a = [0u8; W];
                a.copy_from_slice(c);
                f(a)
            })
            .collect())
    }
    let raw = !p.tensor_content.is_empty();
    let c = &p.tensor_content;
    let data = match ty.dtype {
        DType::F32 if raw => Data::F32(le(c, n, name, f32::from_le_bytes)?),
        DType::F32 => Data::F32(fill(&p.float_val, n, name)?),
        DType::F64 if raw => Data::F64(le(c, n, name, f64::from_le_bytes)?),
        DType::F64 => Data::F64(fill(&p.double_val, n, name)?),
        DType::I32 if raw => Data::I32(le(c, n, name, i32::from_le_bytes)?),
        DType::I32 => Data::I32(fill(&p.int_val, n, name)?),
        DType::I64 if raw => Data::I64(le(c, n, name, i64::from_le_bytes)?),
        DType::I64 => Data::I64(fill(&p.int64_val, n, name)?),
        DType::Bool if raw => Data::Bool(le(c, n, name, |[b]: [u8; 1]| b != 0)?),
        DType::Bool => Data::Bool(fill(&p.bool_val, n, name)?),
    };
    Tensor::new(shape, data).ok_or_else(|| format!("input `{name}` does not fit its shape"))
}

impl Grpc {
    fn count(&self, model: &str, version: &str, code: tonic::Code, started: Instant) {
        self.registry.metrics().request(
            model,
            version,
            "grpc",
            &format!("{code:?}"),
            started.elapsed(),
        );
    }

    async fn predict_inner(
        &self,
        req: PredictRequest,
        version_label: &mut String,
    ) -> Result<PredictResponse, Status> {
        let (name, version, signature) = spec_of(req.model_spec.as_ref())?;
        let v = self.registry.version(&name, version).map_err(not_found)?;
        *version_label = v.number.to_string();
        let runner = v.runner(&signature).map_err(Status::not_found)?;
        let mut inputs = BTreeMap::new();
        for (input, p) in &req.inputs {
            let Some((_, ty)) = runner.input_types.iter().find(|(n, _)| n == input) else {
                return Err(run_error(RunError::BadRequest(format!(
                    "unknown input `{input}`"
                ))));
            };
            let t = from_proto(p, ty, input).map_err(Status::invalid_argument)?;
            inputs.insert(input.clone(), t);
        }
        for f in &req.output_filter {
            if !runner.output_types.iter().any(|(n, _)| n == f) {
                return Err(Status::invalid_argument(format!(
                    "unknown output `{f}` in output_filter"
                )));
            }
        }
        let rows = runner.check(&inputs).map_err(run_error)?;
        let rx = runner.submit(inputs, rows).map_err(run_error)?;
        let outputs = rx
            .await
            .map_err(|_| Status::internal("the model stopped"))?
            .map_err(run_error)?;
        let outputs: HashMap<String, TensorProto> = runner
            .output_types
            .iter()
            .zip(&outputs)
            .filter(|((n, _), _)| req.output_filter.is_empty() || req.output_filter.contains(n))
            .map(|((n, _), t)| (n.clone(), to_proto(t)))
            .collect();
        Ok(PredictResponse {
            model_spec: Some(ModelSpec {
                name,
                version_choice: Some(model_spec::VersionChoice::Version(v.number as i64)),
                signature_name: runner.signature.name.clone(),
            }),
            outputs,
        })
    }
}

fn tensor_info(name: &str, ty: &Type) -> TensorInfo {
    TensorInfo {
        name: name.to_string(),
        dtype: tf_dtype(ty.dtype),
        tensor_shape: Some(shape_proto(&dims(ty))),
    }
}

#[tonic::async_trait]
impl PredictionService for Grpc {
    async fn predict(
        &self,
        request: Request<PredictRequest>,
    ) -> Result<Response<PredictResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let model = req
            .model_spec
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let mut version = String::new();
        let result = self.predict_inner(req, &mut version).await;
        let code = result
            .as_ref()
            .map_or_else(|s| s.code(), |_| tonic::Code::Ok);
        self.count(&model, &version, code, started);
        result.map(Response::new)
    }

    async fn get_model_metadata(
        &self,
        request: Request<GetModelMetadataRequest>,
    ) -> Result<Response<GetModelMetadataResponse>, Status> {
        let req = request.into_inner();
        let (name, version, _) = spec_of(req.model_spec.as_ref())?;
        if req.metadata_field.iter().any(|f| f != "signature_def") {
            return Err(Status::invalid_argument(
                "metadata_field may only name \"signature_def\"",
            ));
        }
        let v = self.registry.version(&name, version).map_err(not_found)?;
        let signature_def = v
            .signature_names()
            .iter()
            .filter_map(|s| v.runners.get(*s))
            .map(|r| {
                let def = SignatureDef {
                    inputs: r
                        .input_types
                        .iter()
                        .map(|(n, t)| (n.clone(), tensor_info(n, t)))
                        .collect(),
                    outputs: r
                        .output_types
                        .iter()
                        .map(|(n, t)| (n.clone(), tensor_info(n, t)))
                        .collect(),
                    method_name: "tensorflow/serving/predict".into(),
                };
                (r.signature.name.clone(), def)
            })
            .collect();
        let any = prost_types::Any {
            type_url: "type.googleapis.com/tensorflow.serving.SignatureDefMap".into(),
            value: prost::Message::encode_to_vec(&SignatureDefMap { signature_def }),
        };
        Ok(Response::new(GetModelMetadataResponse {
            model_spec: Some(ModelSpec {
                name,
                version_choice: Some(model_spec::VersionChoice::Version(v.number as i64)),
                signature_name: String::new(),
            }),
            metadata: [("signature_def".to_string(), any)].into_iter().collect(),
        }))
    }
}

#[tonic::async_trait]
impl ModelService for Grpc {
    async fn get_model_status(
        &self,
        request: Request<GetModelStatusRequest>,
    ) -> Result<Response<GetModelStatusResponse>, Status> {
        let req = request.into_inner();
        let (name, version, _) = spec_of(req.model_spec.as_ref())?;
        let states = self.registry.states(&name, version).map_err(not_found)?;
        let model_version_status = states
            .into_iter()
            .map(|(v, s)| {
                let (state, code, message) = match s {
                    State::Loading => (state::LOADING, error_code::OK, String::new()),
                    State::Available => (state::AVAILABLE, error_code::OK, String::new()),
                    State::Failed(e) => (state::END, error_code::UNKNOWN, e),
                    State::Unloaded => (state::END, error_code::OK, String::new()),
                };
                ModelVersionStatus {
                    version: v as i64,
                    state,
                    status: Some(StatusProto {
                        error_code: code,
                        error_message: message,
                    }),
                }
            })
            .collect();
        Ok(Response::new(GetModelStatusResponse {
            model_version_status,
        }))
    }
}
