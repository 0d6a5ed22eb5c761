//! Training: the step graph prepared per feed shape, the feeds of each
//! step, and the loop that runs the steps.
//!
//! The training-step graph (`tfg_passes::train_step`: forward pass, gradients
//! and optimizer update in one graph) is built once from the graph as
//! written, then specialised to the shapes it is fed, run through the pass
//! pipeline and prepared for the backend once per distinct shape (with a
//! fixed batch size, once in all). Each step runs it on params the
//! executable holds; [`Trainer::sync`] brings the session up to date.
//!
//! Data-parallel ([`Trainer::data_parallel`]), the step is cut at the
//! gradients (`tfg_passes::train_step::build_split_train_step`): each rank
//! runs the gradient half on its share of the batch, the group averages
//! the loss, the logged values and the gradients in one all-reduce, and
//! every rank runs the update half on the averages, so the ranks' params
//! stay equal without being sent. Params live in the session between steps.

use crate::backend::{self, Backend, Executable};
use crate::batch::Batches;
use crate::collective::Collective;
use crate::dumps::Dumps;
use crate::feed::{Feed, FeedValue};
use crate::session::{param_name, Session};
use crate::source::Source;
use crate::Error;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tfg_ir::specialize::{bind_dims, specialize};
use tfg_ir::{Dim, Graph, Op, Tensor, TrainSpec, ValueId};
use tfg_passes::train_step::{build_split_train_step, build_train_step, SplitStep, TrainStep};

/// What one training step reports.
pub struct StepReport<'a> {
    /// Counted from 1.
    pub step: u64,
    pub steps: u64,
    /// The loss computed in this step, before its update.
    pub loss: &'a Tensor,
    /// The `log` values of this step, in the train item's order (the loss too, if logged).
    pub logged: Vec<(&'a str, &'a Tensor)>,
    /// This is the first step whose loss is NaN or infinite (reported, not an error).
    pub first_non_finite: bool,
    /// How long the step ran, not counting compiling it.
    pub took: Duration,
    /// Data-parallel: this step's all-reduce (zero alone).
    pub all_reduce: Reduced,
}

/// One data-parallel step's exchange, as one rank saw it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reduced {
    /// The bytes this rank contributed to the all-reduce.
    pub bytes: usize,
    /// How long this rank waited for the slowest rank to finish its gradients.
    pub waited: Duration,
    /// How long the all-reduce itself took, once every rank had arrived
    /// (on GPUs, the waiting included: NCCL waits on the device).
    pub took: Duration,
}

/// Runs `steps` training steps, telling `observe` about each. NaN and
/// infinities propagate as IEEE says; training goes on. Returns the loss of
/// the last step.
pub fn train_loop(
    trainer: &mut Trainer,
    session: &mut Session,
    feeding: &mut Feeding,
    steps: u64,
    observe: &mut dyn FnMut(&StepReport),
) -> Result<Tensor, Error> {
    let mut last = None;
    let mut finite_so_far = true;
    for step in 1..=steps {
        let (names, inputs) = feeding.next_inputs();
        let outputs = trainer.step(session, names, inputs)?;
        let logged = trainer
            .log
            .iter()
            .map(|(name, i)| (name.as_str(), &outputs[*i]))
            .collect();
        let finite = outputs[0].data.get_f64(0).is_finite();
        observe(&StepReport {
            step,
            steps,
            loss: &outputs[0],
            logged,
            first_non_finite: finite_so_far && !finite,
            took: trainer.last_step,
            all_reduce: trainer.last_all_reduce(),
        });
        finite_so_far &= finite;
        last = outputs.into_iter().next();
    }
    trainer.sync(session)?;
    last.ok_or_else(|| Error::new("no training step ran"))
}

/// The training-step graph, prepared once per distinct shape of its feeds.
pub struct Trainer<'s> {
    step: TrainStep,
    /// Each logged name and its output index.
    log: Vec<(String, usize)>,
    backend: Backend,
    dumps: Dumps,
    seed: u64,
    src: &'s Source,
    prepared: HashMap<Vec<Vec<usize>>, Prepared>,
    /// The prepared step (by feed shapes) that holds the newest params,
    /// newer than the session's.
    resident: Option<Vec<Vec<usize>>>,
    /// Time spent specialising and compiling the step graph, over every shape.
    pub compile_time: Duration,
    /// How long the last step ran, not counting compiling it.
    pub last_step: Duration,
    /// Set when training data-parallel.
    replicas: Option<Replicas<'s>>,
    /// Finish the CPU code's tier-up before the first step of each compiled
    /// step graph (`--bench`: the warm-up step and every timed one run the
    /// same code).
    pub settle_tiers: bool,
    /// On the `cpu` backend, whether the last step graph settled so runs
    /// LLVM's code (see `settle_tiers`).
    pub llvm: Option<bool>,
}

/// The data-parallel half of a [`Trainer`]: the split step and the group.
struct Replicas<'s> {
    split: SplitStep,
    group: &'s dyn Collective,
    /// The update half, prepared at the first step.
    update: Option<Executable>,
    /// Decided at the first step: the GPUs' NCCL group that averages the
    /// gradients where they are, or why they are averaged on the host.
    gpus: Option<Result<tfg_ptx::nccl::Group, String>>,
    /// The last step's exchange.
    reduced: Reduced,
}

impl<'s> Trainer<'s> {
    /// The step graph for training `g` (as written, dims symbolic) as `spec` says.
    pub fn new(
        g: &Graph,
        spec: &TrainSpec,
        backend: Backend,
        dumps: Dumps,
        seed: u64,
        src: &'s Source,
    ) -> Result<Trainer<'s>, Error> {
        let mut step = build_train_step(g, spec)
            .map_err(|e| src.error_at(spec.loc, e, "in this train item"))?;
        // Its own name, so its dumps (`--dump-dir`) and errors are told apart from the graph's.
        step.graph.name = format!("{}_step", g.name);
        let log = step.log.clone();
        Ok(Trainer {
            step,
            log,
            backend,
            dumps,
            seed,
            src,
            prepared: HashMap::new(),
            resident: None,
            compile_time: Duration::ZERO,
            last_step: Duration::ZERO,
            replicas: None,
            settle_tiers: false,
            llvm: None,
        })
    }

    /// As [`Trainer::new`], for one rank of `group` training data-parallel.
    pub fn data_parallel(
        g: &Graph,
        spec: &TrainSpec,
        backend: Backend,
        dumps: Dumps,
        seed: u64,
        src: &'s Source,
        group: &'s dyn Collective,
    ) -> Result<Trainer<'s>, Error> {
        let mut trainer = Trainer::new(g, spec, backend, dumps, seed, src)?;
        let mut split = build_split_train_step(g, spec)
            .map_err(|e| src.error_at(spec.loc, e, "in this train item"))?;
        split.gradients.name = format!("{}_gradients", g.name);
        trainer.replicas = Some(Replicas {
            split,
            group,
            update: None,
            gpus: None,
            reduced: Reduced::default(),
        });
        Ok(trainer)
    }

    /// This rank and the number of ranks that train together (0 of 1 alone).
    pub fn rank(&self) -> (usize, usize) {
        match &self.replicas {
            Some(r) => (r.group.rank(), r.group.ranks()),
            None => (0, 1),
        }
    }

    /// The last step's exchange (all zero when training alone).
    pub fn last_all_reduce(&self) -> Reduced {
        self.replicas
            .as_ref()
            .map_or(Reduced::default(), |r| r.reduced)
    }

    /// Where the gradients are averaged when training data-parallel on
    /// GPUs (known after the first step): `Ok` on the GPUs through NCCL,
    /// `Err(why)` on the host through MPI. `None` off GPUs, where the host
    /// averages.
    pub fn gpus(&self) -> Option<Result<(), &str>> {
        let gpus = self.replicas.as_ref()?.gpus.as_ref()?;
        Some(gpus.as_ref().map(|_| ()).map_err(String::as_str))
    }

    /// The step graph as built, before specialisation: its inputs are what a step is fed.
    pub fn graph(&self) -> &Graph {
        &self.step.graph
    }

    /// One step: runs the step graph on `inputs` (named by `names`) and the
    /// session's params, stores the updated params and optimizer slots, and
    /// returns the outputs: the loss, then the logged values.
    pub fn step(
        &mut self,
        session: &mut Session,
        names: &[String],
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, Error> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape.clone()).collect();
        if !self.prepared.contains_key(&shapes) {
            let started = Instant::now();
            let g = match &self.replicas {
                Some(r) => &r.split.gradients,
                None => &self.step.graph,
            };
            let mut prepared = self.prepare(g, names, &shapes, session)?;
            self.compile_time += started.elapsed();
            if self.settle_tiers {
                self.llvm = prepared.exe.settle_tier()?;
            }
            self.prepared.insert(shapes.clone(), prepared);
        }
        if self.replicas.is_some() {
            return self.replicated_step(session, &shapes, inputs);
        }
        let started = Instant::now();
        if self.resident.as_ref().is_some_and(|r| *r != shapes) {
            self.sync(session)?;
        }
        let Some(Prepared { exe, order }) = self.prepared.get_mut(&shapes) else {
            return Err(Error::new("no compiled step for these shapes"));
        };
        let inputs = arrange(order, inputs);
        // The params go to the executable once and stay there (in a GPU's
        // memory on `cuda`); `sync` brings the session up to date.
        if self.resident.is_none() {
            exe.load_params(session.params_for(exe.graph())?)?;
            self.resident = Some(shapes);
        }
        let outputs = exe.step(&inputs)?;
        self.last_step = started.elapsed();
        Ok(outputs)
    }

    /// One data-parallel step: the gradient half on this rank's inputs, one
    /// all-reduce of its outputs, the update half on the averages.
    fn replicated_step(
        &mut self,
        session: &mut Session,
        shapes: &[Vec<usize>],
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, Error> {
        let Some(r) = self.replicas.as_mut() else {
            return Err(Error::new("not training data-parallel"));
        };
        if r.update.is_none() {
            let started = Instant::now();
            session.init_missing(&r.split.update, self.seed, self.src)?;
            r.update = Some(backend::prepare(
                self.backend,
                r.split.update.clone(),
                &self.dumps,
            )?);
            self.compile_time += started.elapsed();
        }
        let (Some(Prepared { exe, order }), Some(update)) =
            (self.prepared.get_mut(shapes), r.update.as_mut())
        else {
            return Err(Error::new("no compiled step for these shapes"));
        };
        let started = Instant::now();
        let params = session.params_for(exe.graph())?;
        if r.gpus.is_none() && self.backend == Backend::Cuda {
            r.gpus = Some(exe.join_gpus(r.group)?);
        }
        let mut outputs = if let Some(Ok(gpus)) = &r.gpus {
            let (outputs, ms) = exe.run_averaged(&arrange(order, inputs), &params, gpus)?;
            r.reduced = Reduced {
                bytes: float_bytes(&outputs),
                waited: Duration::ZERO,
                took: Duration::from_secs_f64(ms * 1e-3),
            };
            outputs
        } else {
            let mut outputs = exe.run(&arrange(order, inputs), &params)?.outputs;
            // The barrier tells waiting for the slowest rank from moving bytes.
            let arrived = Instant::now();
            r.group.barrier()?;
            let reducing = Instant::now();
            let bytes = r.group.all_reduce_mean(&mut outputs)?;
            r.reduced = Reduced {
                bytes,
                waited: reducing - arrived,
                took: reducing.elapsed(),
            };
            outputs
        };
        // The gradients move from the gradient half's outputs to the update
        // half's inputs, matched by name; the loss and logged values stay.
        let first = r.split.first_gradient;
        let mut computed: Vec<Option<Tensor>> =
            outputs.split_off(first).into_iter().map(Some).collect();
        let names = &exe.graph().outputs[first..];
        let grads = update
            .graph()
            .inputs()
            .map(|v| {
                let name = input_name(update.graph(), v);
                names
                    .iter()
                    .position(|(n, _)| n == name)
                    .and_then(|i| computed.get_mut(i)?.take())
                    .ok_or_else(|| Error::new(format!("the gradient step computes no `{name}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let params = session.params_for(update.graph())?;
        let updated = update.run(&grads, &params)?.updates;
        let g = update.graph();
        for (&(p, _), value) in g.updates.iter().zip(updated) {
            session.set(param_name(g, p), value);
        }
        self.last_step = started.elapsed();
        Ok(outputs)
    }

    /// Brings the session's params up to date with the executable that
    /// holds them, after the last step or before a step of another shape.
    pub fn sync(&mut self, session: &mut Session) -> Result<(), Error> {
        if let Some(p) = self.resident.take().and_then(|r| self.prepared.get(&r)) {
            session.store_params(p.exe.graph(), p.exe.params()?);
        }
        Ok(())
    }

    /// Specialises `g` (the step graph, or its gradient half) to the shapes of the inputs named `names`,
    /// initialises the optimizer slots the session does not hold yet, and
    /// prepares it for the backend (pass pipeline and code generation).
    fn prepare(
        &self,
        g: &Graph,
        names: &[String],
        shapes: &[Vec<usize>],
        session: &mut Session,
    ) -> Result<Prepared, Error> {
        let position = |g: &Graph, v: ValueId| {
            let name = input_name(g, v);
            names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| Error::new(format!("no value for input `{name}`")))
        };
        let fed = g
            .inputs()
            .map(|v| Ok((v, shapes[position(g, v)?].as_slice())))
            .collect::<Result<Vec<_>, Error>>()?;
        let failed = |e: tfg_ir::TypeError| Error::new(format!("graph `{}`: {e}", g.name));
        let dims = bind_dims(g, &fed).map_err(failed)?;
        let specialised = specialize(g, &dims).map_err(failed)?;
        session.init_missing(&specialised, self.seed, self.src)?;
        let exe = backend::prepare(self.backend, specialised, &self.dumps)?;
        let order = exe
            .graph()
            .inputs()
            .map(|v| position(exe.graph(), v))
            .collect::<Result<_, _>>()?;
        Ok(Prepared { exe, order })
    }
}

/// `inputs` (as a step is fed them) in the order of a prepared graph's
/// inputs (`order`, as [`Prepared::order`]), copied only when they differ.
fn arrange<'a>(order: &[usize], inputs: &'a [Tensor]) -> std::borrow::Cow<'a, [Tensor]> {
    if order.iter().enumerate().all(|(i, &j)| i == j) {
        std::borrow::Cow::Borrowed(inputs)
    } else {
        std::borrow::Cow::Owned(order.iter().map(|&j| inputs[j].clone()).collect())
    }
}

/// The step graph prepared for one shape of its feeds.
struct Prepared {
    exe: Executable,
    /// For each input of `exe`'s graph, the index of its tensor in what a step is fed.
    order: Vec<usize>,
}

/// What each step is fed: minibatches of the inputs the loss depends on that
/// come from files (when the train item says `batch N`), every other input whole.
pub struct Feeding {
    /// The graph's inputs, in its order; batched ones hold the last batch.
    names: Vec<String>,
    inputs: Vec<Tensor>,
    /// Where each batched input sits in `inputs`, in the order `batches` yields them.
    batched_at: Vec<usize>,
    batches: Option<Batches>,
}

impl Feeding {
    /// Feeds for `trainer`'s steps as `spec` says: `feeds` are the feeds
    /// bound to the graph (file defaults included), `values` the tensor of
    /// every input.
    pub fn new(
        trainer: &Trainer,
        spec: &TrainSpec,
        feeds: &[Feed],
        values: &BTreeMap<String, Tensor>,
        seed: u64,
        src: &Source,
    ) -> Result<Feeding, Error> {
        let g = trainer.graph();
        let names: Vec<String> = g.inputs().map(|v| input_name(g, v).to_string()).collect();
        let inputs = names
            .iter()
            .map(|name| {
                values
                    .get(name)
                    .cloned()
                    .ok_or_else(|| Error::new(format!("no value for input `{name}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let Some(size) = spec.batch else {
            return Ok(Feeding {
                names,
                inputs,
                batched_at: Vec::new(),
                batches: None,
            });
        };
        let from_files: BTreeSet<&str> = feeds
            .iter()
            .filter(|f| matches!(f.value, FeedValue::Npy(_) | FeedValue::NpyLoaded(_)))
            .map(|f| f.name.as_str())
            .collect();
        let mut batched = Vec::new();
        let mut batched_at = Vec::new();
        let needed = needed_by(g, trainer.step.loss);
        for (at, v) in g.inputs().enumerate() {
            let name = input_name(g, v);
            if !needed[v.index()] || !from_files.contains(name) {
                continue;
            }
            let node = g.node(v);
            if let Some(Dim::Known(n)) = node.ty.shape.0.first() {
                return Err(src.error_at(
                    node.loc,
                    format!(
                        "input `{name}` is cut into batches of {size} along axis 0, so its first dim must be symbolic (such as `N`), not {n}"
                    ),
                    "declared here",
                ));
            }
            batched.push((name.to_string(), inputs[at].clone()));
            batched_at.push(at);
        }
        if batched.is_empty() {
            return Ok(Feeding {
                names,
                inputs,
                batched_at,
                batches: None,
            });
        }
        let cannot = |e: String| {
            src.error_at(
                spec.loc,
                format!("cannot cut the inputs into batches: {e}"),
                "in this train item",
            )
        };
        let mut batches = Batches::new(batched, size as usize, seed).map_err(cannot)?;
        let (rank, ranks) = trainer.rank();
        if ranks > 1 {
            batches.share(rank, ranks).map_err(cannot)?;
        }
        Ok(Feeding {
            names,
            inputs,
            batched_at,
            batches: Some(batches),
        })
    }

    /// The inputs for the next step with their names, in the graph's `inputs()` order.
    pub fn next_inputs(&mut self) -> (&[String], &[Tensor]) {
        if let Some(batches) = &mut self.batches {
            for (at, batch) in self.batched_at.iter().zip(batches.next_batch()) {
                self.inputs[*at] = batch;
            }
        }
        (&self.names, &self.inputs)
    }

    /// Whether some inputs are cut into minibatches.
    pub fn is_batched(&self) -> bool {
        self.batches.is_some()
    }
}

fn input_name(g: &Graph, v: ValueId) -> &str {
    match &g.node(v).op {
        Op::Input { name, .. } => name,
        _ => "",
    }
}

/// Which nodes `v` is computed from (`v` included), by node index.
fn needed_by(g: &Graph, v: ValueId) -> Vec<bool> {
    let mut needed = vec![false; g.nodes.len()];
    needed[v.index()] = true;
    for i in (0..=v.index()).rev() {
        if needed[i] {
            for a in &g.nodes[i].args {
                needed[a.index()] = true;
            }
        }
    }
    needed
}

/// Every param of `g` with its value, in `g.params()` order.
pub fn user_params<'a>(
    g: &'a Graph,
    session: &'a Session,
) -> Result<Vec<(&'a str, &'a Tensor)>, Error> {
    g.params()
        .map(|v| {
            let name = param_name(g, v);
            session
                .value(name)
                .map(|t| (name, t))
                .ok_or_else(|| Error::new(format!("param `{name}` has no value in this session")))
        })
        .collect()
}

/// The bytes of `tensors`' float elements: what an all-reduce of them moves a rank.
fn float_bytes(tensors: &[Tensor]) -> usize {
    tensors
        .iter()
        .filter(|t| t.dtype().is_float())
        .map(|t| t.data.len() * t.dtype().size())
        .sum()
}
