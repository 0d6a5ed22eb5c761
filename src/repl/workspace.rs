//! What a REPL session holds, and what a statement does to it.
//!
//! A [`Workspace`] is the graph being built ([`Incremental`]), the param
//! values ([`Session`], kept across statements), the feeds of the inputs, the
//! backend and the seed, and the file it started from. A statement is lowered
//! into the graph; then the values it binds are compiled and run: the graph
//! is cut down to what they need, so an input that has no feed only stops
//! the values that read it, and goes through the same steps as `tfg run`:
//! bind the feeds, initialise missing params, then the pass pipeline and code
//! generation for the session's backend ([`backend::prepare`]).

use crate::failure::Failure;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tfg_driver::dumps::{Dumps, Sink};
use tfg_driver::feed::{self, Feed};
use tfg_driver::file_defaults::with_file_defaults;
use tfg_driver::session::Session;
use tfg_driver::source::Source;
use tfg_driver::{backend, Backend};
use tfg_frontend::{Incremental, Module};
use tfg_ir::{Graph, Op, Tensor, TrainSpec, ValueId};

/// The graph a REPL starts with when it is given no file.
const GRAPH_NAME: &str = "repl";

/// Where a session started: what `:reset` goes back to.
pub struct Origin {
    pub file: Option<PathBuf>,
    pub graph: Option<String>,
    /// The feeds of the command line.
    pub feeds: Vec<Feed>,
}

pub struct Workspace {
    pub origin: Origin,
    /// The file's name as errors show it, or `<repl>`.
    pub name: String,
    pub inc: Incremental,
    /// The file's train item for the graph, if it has one.
    pub train: Option<TrainSpec>,
    pub session: Session,
    /// Every feed: the command line's, `:feed`'s, and the inputs' file defaults.
    pub feeds: Vec<Feed>,
    /// How many of the graph's file defaults (`input x: … = "x.npy"`) are in `feeds`.
    paths_loaded: usize,
    pub backend: Backend,
    pub seed: u64,
}

/// The values of a statement, and how long it took to compile and to run them.
pub struct Evaluation {
    pub values: Vec<(String, Tensor)>,
    pub compile: Duration,
    pub run: Duration,
}

impl Workspace {
    /// A session on `origin`'s file (its graph, fns and train item), or on an
    /// empty graph. File defaults that cannot be read are returned as errors
    /// beside the workspace: the session goes on without those feeds.
    pub fn open(
        origin: Origin,
        backend: Backend,
        seed: u64,
    ) -> Result<(Workspace, Vec<Failure>), Failure> {
        backend::check_available(backend)?;
        let (name, inc, train) = match &origin.file {
            None => (
                "<repl>".to_string(),
                Incremental::new(origin.graph.as_deref().unwrap_or(GRAPH_NAME)),
                None,
            ),
            Some(path) => {
                let src = Source::load(path)?;
                let program = src.compile()?;
                let graph = crate::selection::choose(&program, origin.graph.as_deref())?;
                let inc = Incremental::from_file(&src.name, &src.text, &graph.name)
                    .map_err(|d| src.failure(d))?;
                let train = program.train(&graph.name).cloned();
                (src.name, inc, train)
            }
        };
        let mut ws = Workspace {
            feeds: origin.feeds.clone(),
            origin,
            name,
            inc,
            train,
            session: Session::default(),
            paths_loaded: 0,
            backend,
            seed,
        };
        let failures = ws.load_file_defaults();
        Ok((ws, failures))
    }

    /// The text the graph's places refer to, as a source for errors.
    pub fn source(&self) -> Source {
        Source::new(self.name.clone(), self.inc.text())
    }

    /// Reads the `.npy` file defaults of inputs that got none yet. A path is
    /// relative to the file that names it, or to the working directory for an
    /// input declared at the prompt. Those that cannot be read are returned:
    /// their inputs are left without a feed.
    pub fn load_file_defaults(&mut self) -> Vec<Failure> {
        let paths = self.inc.input_paths()[self.paths_loaded..].to_vec();
        self.paths_loaded += paths.len();
        let src = self.source();
        let mut failures = Vec::new();
        for path in paths {
            let relative_to = match (&self.origin.file, self.inc.in_file(path.span)) {
                (Some(file), true) => file.clone(),
                _ => PathBuf::from(&self.name),
            };
            let one = Module {
                graphs: Vec::new(),
                trains: Vec::new(),
                input_paths: vec![path],
                serves: Vec::new(),
            };
            match with_file_defaults(&one, self.inc.graph(), &self.feeds, &relative_to, &src) {
                Ok(feeds) => self.feeds = feeds,
                Err(f) => failures.push(f.into()),
            }
        }
        failures
    }

    /// The value bound to `name`, or an error that says it is unknown.
    pub fn value(&self, name: &str) -> Result<ValueId, Failure> {
        self.inc.lookup(name).ok_or_else(|| {
            Failure::new(format!(
                "unknown name `{name}`: it is not defined in graph `{}`",
                self.inc.graph().name
            ))
        })
    }

    /// `g` cut down to `targets`, with the feeds bound and the graph
    /// specialised to their shapes, and every param it reads initialised.
    pub fn bind(
        &mut self,
        g: &Graph,
        targets: &[(String, ValueId)],
    ) -> Result<feed::Bound, Failure> {
        let g = restricted(g, targets);
        let src = self.source();
        if let Some(v) = g.inputs().find(|&v| self.unfed(&g, v)) {
            let name = g.node(v).name.as_deref().unwrap_or("");
            return Err(src.error_at(
                g.node(v).loc,
                format!("input `{name}` has no feed and no default; set one with `:feed {name} = VALUE`"),
                "declared here",
            )
            .into());
        }
        let feeds: Vec<Feed> = self
            .feeds
            .iter()
            .filter(|f| {
                g.inputs()
                    .any(|v| g.node(v).name.as_deref() == Some(&f.name))
            })
            .cloned()
            .collect();
        let bound = feed::bind(&g, &feeds, &src, &|name| {
            format!("set one with `:feed {name} = VALUE`")
        })?;
        self.session.init_missing(&bound.graph, self.seed, &src)?;
        Ok(bound)
    }

    /// The inputs that `targets` read and that have no feed and no default.
    pub fn unfed_inputs(&self, targets: &[(String, ValueId)]) -> Vec<String> {
        let g = restricted(self.inc.graph(), targets);
        g.inputs()
            .filter(|&v| self.unfed(&g, v))
            .filter_map(|v| g.node(v).name.clone())
            .collect()
    }

    /// Whether `v` of `g` is an input with no feed and no default.
    fn unfed(&self, g: &Graph, v: ValueId) -> bool {
        match &g.node(v).op {
            Op::Input { name, default } => {
                default.is_none() && !self.feeds.iter().any(|f| f.name == *name)
            }
            _ => false,
        }
    }

    /// Compiles `targets` of `g` and runs them once, as `tfg run` does.
    pub fn evaluate(
        &mut self,
        g: &Graph,
        targets: &[(String, ValueId)],
    ) -> Result<Evaluation, Failure> {
        let started = Instant::now();
        let bound = self.bind(g, targets)?;
        let dumps = Dumps::new(Vec::new(), Sink::Stderr);
        let mut exe = backend::prepare(self.backend, bound.graph.clone(), &dumps)?;
        let inputs = bound.inputs_for(exe.graph())?;
        let params = self.session.params_for(exe.graph())?;
        let compile = started.elapsed();
        let started = Instant::now();
        let result = exe.run(&inputs, &params)?;
        let run = started.elapsed();
        let values = exe
            .graph()
            .outputs
            .iter()
            .map(|(name, _)| name.clone())
            .zip(result.outputs)
            .collect();
        Ok(Evaluation {
            values,
            compile,
            run,
        })
    }

    /// The values a whole-graph command works on: `name`'s, or the graph's outputs.
    pub fn targets(&self, name: Option<&str>) -> Result<Vec<(String, ValueId)>, Failure> {
        match name {
            Some(name) => Ok(vec![(name.to_string(), self.value(name)?)]),
            None if self.inc.graph().outputs.is_empty() => Err(Failure::new(format!(
                "graph `{}` has no outputs yet; name a value, or declare some with `output NAME, …`",
                self.inc.graph().name
            ))),
            None => Ok(self.inc.graph().outputs.clone()),
        }
    }
}

/// `g` cut down to what `targets` need, with them as its outputs (each name
/// once, the last binding winning): only the inputs and params they depend
/// on are left.
pub fn restricted(g: &Graph, targets: &[(String, ValueId)]) -> Graph {
    let mut sub = g.clone();
    sub.outputs.clear();
    for (name, v) in targets {
        sub.outputs.retain(|(n, _)| n != name);
        sub.outputs.push((name.clone(), *v));
    }
    sub.updates.clear();
    let mut keep = vec![false; sub.nodes.len()];
    for (_, v) in &sub.outputs {
        keep[v.index()] = true;
    }
    for i in (0..keep.len()).rev() {
        if keep[i] {
            for a in &sub.nodes[i].args {
                keep[a.index()] = true;
            }
        }
    }
    sub.retain(&keep);
    sub
}
