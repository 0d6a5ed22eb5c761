//! Running one signature of one model version: a worker thread that owns the
//! compiled executables (one per input shape), takes requests from a queue,
//! and runs them together when the signature is batch-safe.
//!
//! Batching: the worker takes the first request waiting, then more, up to
//! `max_batch` rows in all, for at most `batch_timeout` after the first; it
//! stacks their rows along axis 0, pads the stack to the next power of two
//! or to `max_batch` (so that at most log2(max_batch) + 2 shapes are ever
//! compiled, all when the version loads; rows never
//! mix in a batch-safe graph, so padding rows change no other row), runs it
//! once and cuts each request's rows out of the outputs. A signature that is
//! not batch-safe runs each request alone.

use crate::metrics::Metrics;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tfg_driver::feed::{self, Feed, FeedValue};
use tfg_driver::{backend, Backend, Dumps, Error, Executable, Session, Source};
use tfg_frontend::serve::Signature;
use tfg_ir::{Data, Dim, Graph, Tensor, Type};

/// What a request gets back: the signature's outputs in order, or why not.
pub type Reply = Result<Vec<Tensor>, RunError>;

/// Why a request did not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// The request does not fit the signature (400).
    BadRequest(String),
    /// The queue is full (503).
    Overloaded(String),
    /// The model failed to run it (500).
    Internal(String),
}

impl RunError {
    pub fn message(&self) -> &str {
        match self {
            RunError::BadRequest(m) | RunError::Overloaded(m) | RunError::Internal(m) => m,
        }
    }
}

/// A request in the queue: the fed inputs (checked) and where the reply goes.
struct Job {
    inputs: BTreeMap<String, Tensor>,
    rows: usize,
    reply: tokio::sync::oneshot::Sender<Reply>,
}

/// How a server batches.
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    pub max_batch: usize,
    pub timeout: Duration,
    pub max_queue: usize,
}

/// How every signature of a server runs: where, how batched, counted where.
#[derive(Clone)]
pub struct Context {
    pub backend: Backend,
    pub batching: Batching,
    pub metrics: Arc<Metrics>,
}

/// One signature of a loaded version, ready to take requests.
pub struct SignatureRunner {
    pub signature: Signature,
    /// The signature's graph (symbolic dims, as exported).
    pub graph: Graph,
    /// The declared type of each fed input, in the signature's order.
    pub input_types: Vec<(String, Type)>,
    /// The type of each output, in order.
    pub output_types: Vec<(String, Type)>,
    /// Whether requests are run together (the batch-safety analysis said so).
    pub batched: bool,
    /// Why not, where not.
    pub not_batched_because: Option<String>,
    source: Source,
    queue: Sender<Job>,
    queued: Arc<AtomicUsize>,
    max_queue: usize,
}

impl SignatureRunner {
    /// Starts the worker for signature `signature` of graph `graph` with params `params`.
    pub fn start(
        model: &str,
        signature: &Signature,
        graph: Graph,
        params: &Session,
        source: &Source,
        context: &Context,
    ) -> Result<SignatureRunner, Error> {
        let (backend, batching) = (context.backend, context.batching);
        let metrics = context.metrics.clone();
        let fed = crate::model::Model::fed_inputs(&graph, signature);
        let outputs: Vec<_> = graph.outputs.iter().map(|&(_, v)| v).collect();
        let verdict = tfg_passes::batch_safety::row_independent(&graph, &fed, &outputs);
        let input_types = fed
            .iter()
            .map(|&v| {
                let name = graph.node(v).name.clone().unwrap_or_default();
                (name, graph.node(v).ty.clone())
            })
            .collect();
        let output_types = graph
            .outputs
            .iter()
            .map(|(n, v)| (n.clone(), graph.ty(*v).clone()))
            .collect();
        let batched = verdict.is_ok() && batching.max_batch > 1;
        let (queue, rx) = std::sync::mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            model: model.to_string(),
            graph: graph.clone(),
            params: params_for(&graph, params)?,
            source: Source::new(source.name.clone(), source.text.clone()),
            backend,
            batched,
            batching,
            queued: queued.clone(),
            compiled: HashMap::new(),
            metrics,
        };
        std::thread::Builder::new()
            .name(format!("tfg-serve {model}/{}", signature.name))
            .spawn(move || worker.run(rx))
            .map_err(|e| Error::new(format!("cannot start a worker thread: {e}")))?;
        Ok(SignatureRunner {
            signature: signature.clone(),
            graph,
            input_types,
            output_types,
            batched,
            not_batched_because: verdict.err().map(|e| e.to_string()),
            source: Source::new(source.name.clone(), source.text.clone()),
            queue,
            queued,
            max_queue: batching.max_queue,
        })
    }

    /// Checks `inputs` (every fed input, by name) against the signature: the
    /// names, dtypes and shapes. Gives the number of rows.
    pub fn check(&self, inputs: &BTreeMap<String, Tensor>) -> Result<usize, RunError> {
        for name in inputs.keys() {
            if !self.input_types.iter().any(|(n, _)| n == name) {
                return Err(RunError::BadRequest(format!(
                    "unknown input `{name}`; signature `{}` takes {}",
                    self.signature.name,
                    listed(self.input_types.iter().map(|(n, _)| n.as_str()))
                )));
            }
        }
        let mut rows: Option<(usize, &str)> = None;
        for (name, ty) in &self.input_types {
            let Some(t) = inputs.get(name) else {
                return Err(RunError::BadRequest(format!("missing input `{name}`")));
            };
            if t.dtype() != ty.dtype {
                return Err(RunError::BadRequest(format!(
                    "input `{name}` expects {} but is given {}",
                    ty.dtype,
                    t.dtype()
                )));
            }
            let fits = t.shape.len() == ty.shape.rank()
                && t.shape
                    .iter()
                    .zip(&ty.shape.0)
                    .all(|(&n, d)| d.known().is_none_or(|k| k == n as u64));
            if !fits {
                return Err(RunError::BadRequest(format!(
                    "input `{name}` expects shape {} but is given {}",
                    shape_text(ty),
                    shape_of(t)
                )));
            }
            if self.batched {
                let n = t.shape.first().copied().unwrap_or(0);
                if n == 0 {
                    return Err(RunError::BadRequest(format!("input `{name}` has no rows")));
                }
                match rows {
                    Some((m, other)) if m != n => {
                        return Err(RunError::BadRequest(format!(
                            "input `{name}` has {n} rows but input `{other}` has {m}"
                        )))
                    }
                    _ => rows = Some((n, name)),
                }
            }
        }
        // The rest of the binding (symbolic dims that must agree) as a run would do it.
        let feeds = to_feeds(inputs);
        feed::bind(&self.graph, &feeds, &self.source, &|n| {
            format!("add input `{n}` to the request")
        })
        .map_err(|e| RunError::BadRequest(plain(&e)))?;
        Ok(rows.map_or(1, |(n, _)| n))
    }

    /// Queues checked `inputs` with `rows` rows; the reply comes on the receiver.
    pub fn submit(
        &self,
        inputs: BTreeMap<String, Tensor>,
        rows: usize,
    ) -> Result<tokio::sync::oneshot::Receiver<Reply>, RunError> {
        self.enqueue(inputs, rows, true)
    }

    /// Queues `inputs`; refused when the queue is full, if `bounded`.
    fn enqueue(
        &self,
        inputs: BTreeMap<String, Tensor>,
        rows: usize,
        bounded: bool,
    ) -> Result<tokio::sync::oneshot::Receiver<Reply>, RunError> {
        let weight = rows.max(1);
        let before = self.queued.fetch_add(weight, Ordering::SeqCst);
        if bounded && before + weight > self.max_queue {
            self.queued.fetch_sub(weight, Ordering::SeqCst);
            return Err(RunError::Overloaded(format!(
                "the queue of signature `{}` is full ({} rows waiting; --max-queue {})",
                self.signature.name, before, self.max_queue
            )));
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            inputs,
            rows: weight,
            reply,
        };
        if self.queue.send(job).is_err() {
            self.queued.fetch_sub(weight, Ordering::SeqCst);
            return Err(RunError::Internal("the model is unloading".into()));
        }
        Ok(rx)
    }

    /// Checks, queues (whatever `--max-queue` says) and waits, on this
    /// thread: a new version's warm-up runs.
    pub fn run_blocking(&self, inputs: BTreeMap<String, Tensor>) -> Reply {
        let rows = self.check(&inputs)?;
        let rx = self.enqueue(inputs, rows, false)?;
        rx.blocking_recv()
            .unwrap_or_else(|_| Err(RunError::Internal("the worker stopped".into())))
    }

    /// A request of `rows` rows of zeros (every other symbolic dim 1): what
    /// a new version runs before it takes traffic.
    pub fn warm_up_inputs(&self, rows: usize) -> BTreeMap<String, Tensor> {
        self.input_types
            .iter()
            .map(|(name, ty)| {
                let shape = ty
                    .shape
                    .0
                    .iter()
                    .enumerate()
                    .map(|(i, d)| match (i, d.known()) {
                        (_, Some(n)) => n as usize,
                        (0, None) => rows,
                        (_, None) => 1,
                    })
                    .collect();
                (name.clone(), Tensor::full(ty.dtype, shape, 0.0))
            })
            .collect()
    }

    /// The row counts a batched run is compiled for: the powers of two
    /// below `max_batch`, and `max_batch` (one row only, unbatched).
    pub fn batch_sizes(&self, max_batch: usize) -> Vec<usize> {
        if !self.batched {
            return vec![1];
        }
        let mut sizes: Vec<usize> = std::iter::successors(Some(1usize), |n| n.checked_mul(2))
            .take_while(|&n| n < max_batch)
            .collect();
        sizes.push(max_batch.max(1));
        sizes
    }
}

/// `Error` as one line, without the place in the file.
pub fn plain(e: &Error) -> String {
    match e {
        Error::Message(m) => m.clone(),
        Error::Diagnostics { diags, .. } => diags
            .first()
            .map_or_else(|| e.to_string(), |d| d.message.clone()),
    }
}

fn listed<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    match v.len() {
        0 => "no inputs".into(),
        _ => v.join(", "),
    }
}

/// A declared shape as TF Serving shows one: batch and other symbolic dims as -1.
pub fn shape_text(ty: &Type) -> String {
    let dims: Vec<String> = ty
        .shape
        .0
        .iter()
        .map(|d| match d {
            Dim::Known(n) => n.to_string(),
            Dim::Sym(s) => s.clone(),
        })
        .collect();
    format!("[{}]", dims.join(", "))
}

fn shape_of(t: &Tensor) -> String {
    let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

fn to_feeds(inputs: &BTreeMap<String, Tensor>) -> Vec<Feed> {
    inputs
        .iter()
        .map(|(name, t)| Feed {
            name: name.clone(),
            value: FeedValue::NpyLoaded(t.clone()),
        })
        .collect()
}

/// Every param of `g`, by name, from `params`.
fn params_for(g: &Graph, params: &Session) -> Result<Session, Error> {
    let mut out = Session::default();
    for v in g.params() {
        let name = tfg_driver::session::param_name(g, v);
        let value = params
            .value(name)
            .ok_or_else(|| Error::new(format!("param `{name}` has no value")))?;
        out.set(name, value.clone());
    }
    Ok(out)
}

/// The worker thread's state.
struct Worker {
    model: String,
    graph: Graph,
    params: Session,
    source: Source,
    backend: Backend,
    batched: bool,
    batching: Batching,
    queued: Arc<AtomicUsize>,
    /// Executables by the shapes of every input, each with the params loaded.
    compiled: HashMap<Vec<Vec<usize>>, Executable>,
    metrics: Arc<Metrics>,
}

/// At most this many executables are kept per signature.
const MAX_COMPILED: usize = 32;

impl Worker {
    fn run(mut self, rx: Receiver<Job>) {
        let mut carried: Option<Job> = None;
        loop {
            let first = match carried.take() {
                Some(job) => job,
                None => match rx.recv() {
                    Ok(job) => job,
                    // Every sender is gone: the version is unloaded and its queue drained.
                    Err(_) => return,
                },
            };
            if !self.batched {
                self.queued.fetch_sub(first.rows, Ordering::SeqCst);
                let reply = self.run_one(&first.inputs);
                self.metrics.batch_size(&self.model, first.rows);
                let _ = first.reply.send(reply);
                continue;
            }
            let mut jobs = vec![first];
            let mut rows = jobs[0].rows;
            let deadline = Instant::now() + self.batching.timeout;
            while rows < self.batching.max_batch {
                let next = match self.batching.timeout.is_zero() {
                    true => rx.try_recv().ok(),
                    false => rx
                        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                        .ok(),
                };
                let Some(job) = next else { break };
                if rows + job.rows > self.batching.max_batch {
                    carried = Some(job);
                    break;
                }
                rows += job.rows;
                jobs.push(job);
            }
            let taken: usize = jobs.iter().map(|j| j.rows).sum();
            self.queued.fetch_sub(taken, Ordering::SeqCst);
            self.metrics.batch_size(&self.model, taken);
            self.run_batch(jobs);
        }
    }

    /// Runs `jobs` stacked; if that fails, each alone, so one request's
    /// failure reaches only that request.
    fn run_batch(&mut self, jobs: Vec<Job>) {
        if jobs.len() == 1 {
            let job = jobs.into_iter().next();
            if let Some(job) = job {
                let reply = self.run_padded(&job.inputs, job.rows);
                let _ = job.reply.send(reply);
            }
            return;
        }
        let Some(first) = jobs.first() else { return };
        let names: Vec<String> = first.inputs.keys().cloned().collect();
        let mut stacked = BTreeMap::new();
        for name in &names {
            let parts: Vec<&Tensor> = jobs.iter().filter_map(|j| j.inputs.get(name)).collect();
            match concat_rows(&parts) {
                Some(t) => {
                    stacked.insert(name.clone(), t);
                }
                None => return self.run_each(jobs),
            }
        }
        let total: usize = jobs.iter().map(|j| j.rows).sum();
        match self.run_padded(&stacked, total) {
            Ok(outputs) => {
                let mut at = 0;
                for job in jobs {
                    let mine: Option<Vec<Tensor>> = outputs
                        .iter()
                        .map(|t| slice_rows(t, at, job.rows))
                        .collect();
                    at += job.rows;
                    let reply = mine.ok_or_else(|| {
                        RunError::Internal("an output has fewer rows than the batch".into())
                    });
                    let _ = job.reply.send(reply);
                }
            }
            Err(_) => self.run_each(jobs),
        }
    }

    fn run_each(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            let reply = self.run_padded(&job.inputs, job.rows);
            let _ = job.reply.send(reply);
        }
    }

    /// Runs `rows` rows padded to the next power of two (at most
    /// `max_batch`), and gives back the first `rows` rows of each output.
    fn run_padded(&mut self, inputs: &BTreeMap<String, Tensor>, rows: usize) -> Reply {
        let bucket = rows
            .next_power_of_two()
            .min(self.batching.max_batch)
            .max(rows);
        if bucket == rows || rows == 0 {
            return self.run_one(inputs);
        }
        let padded: Option<BTreeMap<String, Tensor>> = inputs
            .iter()
            .map(|(n, t)| pad_rows(t, bucket).map(|p| (n.clone(), p)))
            .collect();
        let Some(padded) = padded else {
            return self.run_one(inputs);
        };
        let outputs = self.run_one(&padded)?;
        outputs
            .iter()
            .map(|t| slice_rows(t, 0, rows))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| RunError::Internal("an output has fewer rows than the batch".into()))
    }

    /// One run of the graph on `inputs`, compiling for their shapes once.
    fn run_one(&mut self, inputs: &BTreeMap<String, Tensor>) -> Reply {
        let feeds = to_feeds(inputs);
        let bound = feed::bind(&self.graph, &feeds, &self.source, &|n| {
            format!("add input `{n}` to the request")
        })
        .map_err(|e| RunError::BadRequest(plain(&e)))?;
        let key: Vec<Vec<usize>> = bound.inputs.values().map(|t| t.shape.clone()).collect();
        if !self.compiled.contains_key(&key) {
            if self.compiled.len() >= MAX_COMPILED {
                self.compiled.clear();
            }
            let dumps = Dumps::new(Vec::new(), tfg_driver::Sink::Stderr);
            let mut exe = backend::prepare(self.backend, bound.graph.clone(), &dumps)
                .map_err(|e| RunError::Internal(plain(&e)))?;
            let params = self
                .params
                .params_for(exe.graph())
                .map_err(|e| RunError::Internal(plain(&e)))?;
            // A version's params never change: what they alone determine
            // is computed here, once, not per request.
            exe.load_params(params)
                .map_err(|e| RunError::Internal(plain(&e)))?;
            self.compiled.insert(key.clone(), exe);
        }
        let Some(exe) = self.compiled.get_mut(&key) else {
            return Err(RunError::Internal("no executable".into()));
        };
        let ins = bound
            .inputs_for(exe.graph())
            .map_err(|e| RunError::Internal(plain(&e)))?;
        let out = exe
            .run_loaded(&ins)
            .map_err(|e| RunError::Internal(plain(&e)))?;
        Ok(out.outputs)
    }
}

/// Tensors of one dtype stacked along axis 0 (their other dims equal).
pub fn concat_rows(parts: &[&Tensor]) -> Option<Tensor> {
    let first = parts.first()?;
    let rest_shape = first.shape.get(1..)?;
    let mut rows = 0;
    for p in parts {
        if p.shape.get(1..)? != rest_shape || p.dtype() != first.dtype() {
            return None;
        }
        rows += p.shape.first()?;
    }
    macro_rules! cat {
        ($variant:ident) => {{
            let mut v = Vec::new();
            for p in parts {
                let Data::$variant(d) = &p.data else {
                    return None;
                };
                v.extend_from_slice(d);
            }
            Data::$variant(v)
        }};
    }
    let data = match &first.data {
        Data::F32(_) => cat!(F32),
        Data::F64(_) => cat!(F64),
        Data::I32(_) => cat!(I32),
        Data::I64(_) => cat!(I64),
        Data::Bool(_) => cat!(Bool),
    };
    let mut shape = vec![rows];
    shape.extend_from_slice(rest_shape);
    Tensor::new(shape, data)
}

/// Rows `start..start + n` of `t` along axis 0.
pub fn slice_rows(t: &Tensor, start: usize, n: usize) -> Option<Tensor> {
    let rows = *t.shape.first()?;
    if start + n > rows {
        return None;
    }
    let width: usize = t.shape[1..].iter().product();
    let (a, b) = (start * width, (start + n) * width);
    let data = match &t.data {
        Data::F32(v) => Data::F32(v.get(a..b)?.to_vec()),
        Data::F64(v) => Data::F64(v.get(a..b)?.to_vec()),
        Data::I32(v) => Data::I32(v.get(a..b)?.to_vec()),
        Data::I64(v) => Data::I64(v.get(a..b)?.to_vec()),
        Data::Bool(v) => Data::Bool(v.get(a..b)?.to_vec()),
    };
    let mut shape = t.shape.clone();
    shape[0] = n;
    Tensor::new(shape, data)
}

/// `t` with its last row repeated until it has `rows` rows.
fn pad_rows(t: &Tensor, rows: usize) -> Option<Tensor> {
    let have = *t.shape.first()?;
    if have == 0 || have > rows {
        return None;
    }
    let last = slice_rows(t, have - 1, 1)?;
    let mut parts = vec![t];
    for _ in have..rows {
        parts.push(&last);
    }
    concat_rows(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_stack_pad_and_slice_back() {
        let a = Tensor::new(vec![1, 2], Data::F32(vec![1.0, 2.0])).unwrap();
        let b = Tensor::new(vec![2, 2], Data::F32(vec![3.0, 4.0, 5.0, 6.0])).unwrap();
        let ab = concat_rows(&[&a, &b]).unwrap();
        assert_eq!(ab.shape, vec![3, 2]);
        let p = pad_rows(&ab, 4).unwrap();
        assert_eq!(
            p.data,
            Data::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 5.0, 6.0])
        );
        assert_eq!(slice_rows(&p, 1, 2).unwrap(), b);
        assert!(slice_rows(&p, 3, 2).is_none());
        let i = Tensor::new(vec![1], Data::I32(vec![1])).unwrap();
        assert!(concat_rows(&[&a, &i]).is_none());
    }
}
