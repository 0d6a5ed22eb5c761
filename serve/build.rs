//! Generates the gRPC server and client glue of TensorFlow Serving's
//! `PredictionService` and `ModelService` with `tonic_build::manual`: the
//! services are described here in Rust, and the messages are hand-written
//! prost structs in `src/grpc/proto.rs`, so no `.proto` file and no `protoc`
//! are needed. The methods tfg serves are listed; the services' other methods
//! answer UNIMPLEMENTED, as tonic does for any unknown method.

use tonic_build::manual::{Builder, Method, Service};

fn method(name: &str, route: &str, input: &str, output: &str) -> Method {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::grpc::proto::{input}"))
        .output_type(format!("crate::grpc::proto::{output}"))
        .codec_path("tonic_prost::ProstCodec")
        .build()
}

fn main() {
    let prediction = Service::builder()
        .name("PredictionService")
        .package("tensorflow.serving")
        .method(method(
            "predict",
            "Predict",
            "PredictRequest",
            "PredictResponse",
        ))
        .method(method(
            "get_model_metadata",
            "GetModelMetadata",
            "GetModelMetadataRequest",
            "GetModelMetadataResponse",
        ))
        .build();
    let model = Service::builder()
        .name("ModelService")
        .package("tensorflow.serving")
        .method(method(
            "get_model_status",
            "GetModelStatus",
            "GetModelStatusRequest",
            "GetModelStatusResponse",
        ))
        .build();
    Builder::new().compile(&[prediction, model]);
}
