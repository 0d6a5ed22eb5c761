//! `tfg serve`: serves exported models over REST and gRPC (docs/serving.md).
//! The server is the `tfg_serve` library; this module parses its flags,
//! prints its `listening:` line and its lifecycle messages on stderr.

use crate::cli::ServeArgs;
use crate::failure::Failure;
use std::sync::Arc;
use std::time::Duration;
use tfg_driver::Source;
use tfg_serve::{Batching, Listening, Options};

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
