//! tfg's model server: exported model versions served over TensorFlow
//! Serving's REST and gRPC APIs and the Open Inference Protocol v2, with
//! dynamic batching and a Prometheus `/metrics` endpoint (docs/serving.md).
//!
//! [`model`] is the exported-model directory format (`tfg export` writes it,
//! the server and `tfg run DIR` read it). [`registry`] holds the models and
//! their versions and follows each base path (load, compile, warm up, swap);
//! [`runner`] runs one signature of one version on a worker thread that
//! batches requests when the batch-safety analysis
//! (`tfg_passes::batch_safety`) says rows never mix; [`rest`] and [`grpc`]
//! turn requests into tensors and back; [`metrics`] counts. [`serve`] starts
//! it all and returns after SIGTERM or SIGINT, once the requests in flight
//! are answered.
//!
//! The server compiles and runs models only through the driver
//! (`tfg_driver`), like any other caller. It must not know how the command
//! line is parsed or how the binary prints: it reports through the callbacks
//! it is given, and returns errors as values.

pub mod grpc;
pub mod json;
pub mod metrics;
pub mod model;
pub mod registry;
pub mod rest;
pub mod runner;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tfg_driver::{Backend, Error};

pub use runner::Batching;

/// How a server runs (`tfg serve`'s flags).
#[derive(Clone, Debug)]
pub struct Options {
    /// Each model's name and base path.
    pub models: Vec<(String, PathBuf)>,
    pub host: String,
    pub rest_port: u16,
    pub grpc_port: u16,
    pub backend: Backend,
    pub batching: Batching,
    /// The largest request body, in bytes.
    pub max_body: usize,
    /// How often base paths are re-read.
    pub poll: Duration,
}

/// Where a started server listens.
#[derive(Clone, Copy, Debug)]
pub struct Listening {
    pub rest: SocketAddr,
    pub grpc: SocketAddr,
}

/// Loads every model, listens, calls `on_listening`, and serves until
/// SIGTERM or SIGINT; then stops accepting, answers the requests in flight
/// and returns. `log` takes the lines a person should see (versions loaded
/// or failed).
pub fn serve(
    options: Options,
    log: Arc<dyn Fn(&str) + Send + Sync>,
    on_listening: impl FnOnce(Listening),
) -> Result<(), Error> {
    let metrics = Arc::new(metrics::Metrics::new().map_err(Error::new)?);
    let registry = Arc::new(registry::Registry::new(
        options.backend,
        options.batching,
        metrics,
        log.clone(),
    ));
    for (name, base) in &options.models {
        registry.add(name, base)?;
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| Error::new(format!("cannot start the server's runtime: {e}")))?;
    runtime.block_on(run(options, registry, log, on_listening))
}

async fn run(
    options: Options,
    registry: Arc<registry::Registry>,
    log: Arc<dyn Fn(&str) + Send + Sync>,
    on_listening: impl FnOnce(Listening),
) -> Result<(), Error> {
    let bind = |port: u16, what: &'static str| {
        let host = options.host.clone();
        async move {
            tokio::net::TcpListener::bind((host.as_str(), port))
                .await
                .map_err(|e| Error::new(format!("cannot listen for {what} on {host}:{port}: {e}")))
        }
    };
    let rest_listener = bind(options.rest_port, "REST").await?;
    let grpc_listener = bind(options.grpc_port, "gRPC").await?;
    let local = |l: &tokio::net::TcpListener| {
        l.local_addr()
            .map_err(|e| Error::new(format!("cannot tell where the server listens: {e}")))
    };
    let listening = Listening {
        rest: local(&rest_listener)?,
        grpc: local(&grpc_listener)?,
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let app = Arc::new(rest::App {
        registry: registry.clone(),
        max_body: options.max_body,
    });
    let router = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let app = app.clone();
        async move { rest::handle(app, req).await }
    });
    let rest_server = axum::serve(rest_listener, router)
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future();

    let service = grpc::Grpc {
        registry: registry.clone(),
    };
    let limit = options.max_body;
    let grpc_server = tonic::transport::Server::builder()
        .add_service(
            grpc::PredictionServiceServer::new(service.clone())
                .max_decoding_message_size(limit)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(grpc::ModelServiceServer::new(service).max_decoding_message_size(limit))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(grpc_listener),
            stopped(stop_rx.clone()),
        );

    // Base paths are re-read every `poll`, off the async threads (loading compiles).
    let poll = options.poll;
    let poller_registry = registry.clone();
    let mut poll_stop = stop_rx.clone();
    let poller = tokio::spawn(async move {
        if poll.is_zero() {
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = poll_stop.wait_for(|s| *s) => return,
            }
            let r = poller_registry.clone();
            let _ = tokio::task::spawn_blocking(move || r.poll()).await;
        }
    });

    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    });

    on_listening(listening);
    let (rest_result, grpc_result) = tokio::join!(rest_server, grpc_server);
    signals.abort();
    let _ = poller.await;
    rest_result.map_err(|e| Error::new(format!("the REST server failed: {e}")))?;
    grpc_result.map_err(|e| Error::new(format!("the gRPC server failed: {e}")))?;
    log("stopped: every request in flight was answered");
    Ok(())
}

/// SIGTERM or SIGINT.
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
