//! Request bodies of `tfg serve`, as its handlers receive them: the first
//! byte picks the API, the rest is the body, given to the same handlers the
//! server routes to (`rest::handle`, `Grpc::predict`) for a small model
//! exported once, compiled for the CPU, with two signatures and an `i32`
//! index input (`take`). Whatever the body, the answer is one the APIs
//! document: a REST status of 200, 400, 404 or 413 with a JSON body (NaN
//! and infinities as TensorFlow Serving's bare words), a gRPC
//! status other than INTERNAL or UNKNOWN. A 500 or an INTERNAL would mean
//! that a request the server accepted made the model fail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tfg_driver::{Backend, Session, Source};
use tfg_ir::Graph;
use tfg_serve::grpc::prost::Message;
use tfg_serve::grpc::proto::PredictRequest;
use tfg_serve::grpc::{Grpc, PredictionService};
use tfg_serve::registry::Registry;
use tfg_serve::rest::{self, App};
use tfg_serve::Batching;

const MODEL: &str = "\
graph m {
    input x: f32[N, 3]
    input tokens: i32[N, 2]
    param w: f32[3, 2] = glorot
    param table: f32[5, 2] = normal(std = 0.5)
    z = x @ w
    y = relu(z) + mean(take(table, tokens), axis = 1)
    class = argmax(y, 1)
    output y
}

serve m {
    inputs x, tokens
    outputs y, class
}

serve m as linear {
    inputs x
    outputs z
}
";

/// The REST paths the first byte picks from; past them, gRPC `Predict`.
const PATHS: [&str; 5] = [
    "/v1/models/m:predict",
    "/v1/models/m/versions/1:predict",
    "/v1/models/m:classify",
    "/v2/models/m/infer",
    "/v2/models/m/versions/1/infer",
];

struct Server {
    runtime: tokio::runtime::Runtime,
    app: Arc<App>,
    grpc: Grpc,
    _dir: Scratch,
}

/// A directory removed when the fuzzer exits normally.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir =
            Scratch(std::env::temp_dir().join(format!("tfg-fuzz-serve-{}", std::process::id())));
        let file = dir.0.join("m.tfg");
        std::fs::create_dir_all(&dir.0).expect("a scratch directory");
        std::fs::write(&file, MODEL).expect("the model source");
        let src = Source::load(&file).expect("the model loads");
        let program = src.compile().expect("the model compiles");
        let g = program.graph(None).expect("one graph");
        let mut params = Graph::new(g.name.clone());
        for v in g.params() {
            params.push(g.node(v).clone());
        }
        let mut session = Session::default();
        session.init_missing(&params, 0, &src).expect("params");
        let base = dir.0.join("m");
        tfg_serve::model::export(&base.join("1"), &program, g, &file, &src, &session)
            .expect("the model exports");
        let metrics = Arc::new(tfg_serve::metrics::Metrics::new().expect("metrics"));
        let batching = Batching {
            max_batch: 8,
            timeout: Duration::ZERO,
            max_queue: 64,
        };
        let registry = Arc::new(Registry::new(
            Backend::Cpu,
            batching,
            metrics,
            Arc::new(|_: &str| {}),
        ));
        registry
            .add("m", &base)
            .expect("the model loads in the server");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        Server {
            runtime,
            app: Arc::new(App {
                registry: registry.clone(),
                max_body: 1 << 20,
            }),
            grpc: Grpc { registry },
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let s = server();
    match PATHS.get(usize::from(pick) % (PATHS.len() + 1)) {
        Some(path) => {
            let req = axum::http::Request::post(*path)
                .body(axum::body::Body::from(body.to_vec()))
                .expect("a request");
            let (status, text) = s.runtime.block_on(async {
                let res = rest::handle(s.app.clone(), req).await;
                let status = res.status().as_u16();
                let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await;
                (status, bytes.expect("the answer's body"))
            });
            assert!(
                matches!(status, 200 | 400 | 404 | 413),
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&text)
            );
            // NaN and infinities are TensorFlow Serving's bare words, not JSON.
            let json = String::from_utf8_lossy(&text)
                .replace("-Infinity", "null")
                .replace("Infinity", "null")
                .replace("NaN", "null");
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&json) {
                panic!("{path} answered {status} with a body that is not JSON ({e}): {text:?}");
            }
        }
        None => {
            let Ok(req) = PredictRequest::decode(body) else {
                return;
            };
            let answer = s.runtime.block_on(s.grpc.predict(tonic::Request::new(req)));
            if let Err(status) = answer {
                assert!(
                    !matches!(status.code(), tonic::Code::Internal | tonic::Code::Unknown),
                    "Predict answered {status:?}"
                );
            }
        }
    }
});
