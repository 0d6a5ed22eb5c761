//! `GET /metrics`: Prometheus text format, through the `prometheus` crate.
//!
//! - `tfg_serve_requests_total{model, version, api, code}`: requests answered,
//!   by the model and version asked for, the API (`rest_v1`, `rest_v2`,
//!   `grpc`) and the status code sent (HTTP status, or the gRPC code's name).
//! - `tfg_serve_request_duration_seconds{model, api}`: latency histogram.
//! - `tfg_serve_batch_size{model}`: rows per run of a model, histogram.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::time::Duration;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    batch: HistogramVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics, String> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("tfg_serve_requests_total", "Requests answered"),
            &["model", "version", "api", "code"],
        )
        .map_err(|e| e.to_string())?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "tfg_serve_request_duration_seconds",
                "Time from a request's arrival to its response",
            )
            .buckets(prometheus::exponential_buckets(0.0001, 2.0, 18).map_err(|e| e.to_string())?),
            &["model", "api"],
        )
        .map_err(|e| e.to_string())?;
        let batch = HistogramVec::new(
            HistogramOpts::new("tfg_serve_batch_size", "Rows in one run of a model")
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 12).map_err(|e| e.to_string())?),
            &["model"],
        )
        .map_err(|e| e.to_string())?;
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(batch.clone()),
        ] {
            registry.register(c).map_err(|e| e.to_string())?;
        }
        Ok(Metrics {
            registry,
            requests,
            latency,
            batch,
        })
    }

    /// One answered request.
    pub fn request(&self, model: &str, version: &str, api: &str, code: &str, took: Duration) {
        self.requests
            .with_label_values(&[model, version, api, code])
            .inc();
        self.latency
            .with_label_values(&[model, api])
            .observe(took.as_secs_f64());
    }

    /// One run of `rows` rows.
    pub fn batch_size(&self, model: &str, rows: usize) {
        self.batch.with_label_values(&[model]).observe(rows as f64);
    }

    /// Everything, in Prometheus text format.
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}
