//! `tfg serve`: serves exported models over REST and gRPC (docs/serving.md).
//! The server is the `tfg_serve` library; this module parses its flags,
//! prints its `listening:` line and its lifecycle messages on stderr.

use crate::cli::{backend, GraphArg};
use crate::failure::Failure;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tfg_driver::{Backend, Source};
use tfg_serve::{Batching, Listening, Options};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A .tfg file to serve as one model named after its graph (version 1), instead of --model.
    #[arg(required_unless_present = "models", conflicts_with = "models")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub graph: GraphArg,
    /// With FILE: take the params from this safetensors checkpoint.
    #[arg(long, value_name = "CKPT", requires = "file")]
    pub restore: Option<PathBuf>,
    /// With FILE: seed for random param initialisers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A model to serve: its name and base path, which holds versions as BASE/1, BASE/2, …
    /// (the highest is served). Repeatable.
    #[arg(long = "model", value_name = "NAME=BASE", value_parser = model_arg)]
    pub models: Vec<(String, PathBuf)>,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The REST port (0: the system picks one).
    #[arg(long, default_value_t = 8501)]
    pub rest_port: u16,
    /// The gRPC port (0: the system picks one).
    #[arg(long, default_value_t = 8500)]
    pub grpc_port: u16,
    /// Where models run.
    #[arg(long, value_parser = backend(), default_value = "cpu")]
    pub backend: Backend,
    /// The most rows run together in one batch.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_batch: u64,
    /// How long a batch waits for more requests after its first, in microseconds.
    #[arg(long, default_value_t = 0)]
    pub batch_timeout_us: u64,
    /// The most rows waiting per signature; more are refused with 503.
    #[arg(long, default_value_t = 1024)]
    pub max_queue: u64,
    /// The largest request body, in MiB; larger ones are refused with 413.
    #[arg(long, default_value_t = 64.0)]
    pub max_body_mb: f64,
    /// How often each base path is re-read for new versions, in seconds (0: never).
    #[arg(long, default_value_t = 2.0)]
    pub poll_s: f64,
}

fn model_arg(s: &str) -> Result<(String, PathBuf), String> {
    let (name, base) = s.split_once('=').ok_or("expected NAME=BASE")?;
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(format!(
            "`{name}` is not a model name (letters, digits, `_`, `-`, `.`)"
        ));
    }
    if base.is_empty() {
        return Err("the base path is empty".into());
    }
    Ok((name.to_string(), PathBuf::from(base)))
}

pub fn serve(args: &ServeArgs) -> Result<(), Failure> {
    tfg_driver::backend::check_available(args.backend)?;
    let seconds = |x: f64, what: &str| {
        Duration::try_from_secs_f64(x)
            .map_err(|_| Failure::new(format!("{what} must be a number of seconds, not {x}")))
    };
    let poll = seconds(args.poll_s, "--poll-s")?;
    if !(args.max_body_mb.is_finite() && args.max_body_mb > 0.0) {
        return Err(Failure::new("--max-body-mb must be positive"));
    }
    let mut models = args.models.clone();
    // `tfg serve FILE.tfg`: the graph exported as version 1 of a model in a temporary base path.
    let temporary = match &args.file {
        Some(file) => {
            let src = Source::load(file)?;
            let program = src.compile()?;
            let graph = crate::selection::choose(&program, args.graph.name.as_deref())?;
            let session = crate::export::params(graph, args.restore.as_deref(), args.seed, &src)?;
            let base = std::env::temp_dir().join(format!("tfg-serve-{}", std::process::id()));
            let version = base.join(&graph.name).join("1");
            crate::export::write(&version, &program, graph, file, &src, &session)?;
            models.push((graph.name.clone(), base.join(&graph.name)));
            Some(base)
        }
        None => None,
    };
    let options = Options {
        models,
        host: args.host.clone(),
        rest_port: args.rest_port,
        grpc_port: args.grpc_port,
        backend: args.backend,
        batching: Batching {
            max_batch: args.max_batch as usize,
            timeout: Duration::from_micros(args.batch_timeout_us),
            max_queue: args.max_queue as usize,
        },
        max_body: (args.max_body_mb * 1024.0 * 1024.0) as usize,
        poll,
    };
    let log = Arc::new(|line: &str| eprintln!("{line}"));
    let result = tfg_serve::serve(options, log, |at: Listening| {
        eprintln!("listening: rest={} grpc={}", at.rest, at.grpc);
    });
    if let Some(base) = temporary {
        let _ = std::fs::remove_dir_all(base);
    }
    result.map_err(Failure::from)
}
