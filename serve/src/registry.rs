//! The models a server holds: each model's base path, the versions found
//! there and their state, and the loaded versions that take requests.
//!
//! Lifecycle (TensorFlow Serving's "latest" policy): the highest version
//! that loads is served. Every poll re-reads each base path; a new highest
//! version is loaded, compiled and run once before it takes traffic, then
//! replaces the old one, which finishes its requests in flight (they hold it)
//! and is dropped. A version that fails to load is reported (once per
//! distinct error) and kept in the status with its error; the version before
//! it keeps serving.

use crate::metrics::Metrics;
use crate::model::Model;
use crate::runner::{plain, Batching, Context, SignatureRunner};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tfg_driver::{Backend, Error};

/// A loaded version: its model and a runner per signature.
pub struct Version {
    pub number: u64,
    pub model: Model,
    pub runners: HashMap<String, SignatureRunner>,
}

impl Version {
    /// The runner of signature `name` (`""` means `serving_default`).
    pub fn runner(&self, name: &str) -> Result<&SignatureRunner, String> {
        let name = match name {
            "" => tfg_frontend::serve::DEFAULT_SIGNATURE,
            n => n,
        };
        self.runners.get(name).ok_or_else(|| {
            let mut known: Vec<&str> = self.runners.keys().map(String::as_str).collect();
            known.sort_unstable();
            format!(
                "model version {} has no signature `{name}`; its signatures are {}",
                self.number,
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// Signature names in the order the model lists them.
    pub fn signature_names(&self) -> Vec<&str> {
        self.model
            .signatures
            .iter()
            .map(|s| s.name.as_str())
            .collect()
    }
}

/// What the status API says of a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Loading,
    Available,
    /// Failed to load: why.
    Failed(String),
    /// Replaced by a newer version.
    Unloaded,
}

struct Slot {
    base: PathBuf,
    states: BTreeMap<u64, State>,
    loaded: BTreeMap<u64, Arc<Version>>,
}

/// Every model of a server.
pub struct Registry {
    models: RwLock<BTreeMap<String, Slot>>,
    context: Context,
    log: Arc<dyn Fn(&str) + Send + Sync>,
}

/// Why a request found no version to run.
#[derive(Debug)]
pub struct NotFound(pub String);

impl Registry {
    pub fn new(
        backend: Backend,
        batching: Batching,
        metrics: Arc<Metrics>,
        log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Registry {
        Registry {
            models: RwLock::new(BTreeMap::new()),
            context: Context {
                backend,
                batching,
                metrics,
            },
            log,
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.context.metrics
    }

    /// Adds model `name` at `base` and loads its highest version that loads.
    pub fn add(&self, name: &str, base: &Path) -> Result<(), Error> {
        if self.read().contains_key(name) {
            return Err(Error::new(format!("model `{name}` is given twice")));
        }
        let on_disk = versions_on_disk(base).map_err(|e| {
            Error::new(format!(
                "model `{name}`: cannot read base path `{}`: {e}",
                base.display()
            ))
        })?;
        if on_disk.is_empty() {
            return Err(Error::new(format!(
                "model `{name}`: base path `{}` holds no version (numbered subdirectories such as `{}/1`)",
                base.display(),
                base.display()
            )));
        }
        let mut slot = Slot {
            base: base.to_path_buf(),
            states: BTreeMap::new(),
            loaded: BTreeMap::new(),
        };
        for &v in on_disk.iter().rev() {
            match self.load(name, base, v) {
                Ok(version) => {
                    slot.states.insert(v, State::Available);
                    slot.loaded.insert(v, Arc::new(version));
                    break;
                }
                Err(e) => {
                    (self.log)(&format!("model `{name}` version {v} failed to load: {e}"));
                    slot.states.insert(v, State::Failed(e));
                }
            }
        }
        if slot.loaded.is_empty() {
            return Err(Error::new(format!(
                "model `{name}`: no version under `{}` loads",
                base.display()
            )));
        }
        self.write().insert(name.to_string(), slot);
        Ok(())
    }

    /// Loads version `v` of model `name`: reads it, compiles every
    /// signature and runs each once.
    fn load(&self, name: &str, base: &Path, v: u64) -> Result<Version, String> {
        let model = Model::load(&base.join(v.to_string())).map_err(|e| plain(&e))?;
        let mut runners = HashMap::new();
        for sig in &model.signatures {
            let graph = model.signature_graph(sig).map_err(|e| plain(&e))?;
            let runner = SignatureRunner::start(
                name,
                sig,
                graph,
                &model.params,
                &model.source,
                &self.context,
            )
            .map_err(|e| plain(&e))?;
            // Every shape a batch can take is compiled before traffic comes.
            for rows in runner.batch_sizes(self.context.batching.max_batch) {
                runner
                    .run_blocking(runner.warm_up_inputs(rows))
                    .map_err(|e| {
                        format!(
                            "signature `{}` failed its first run ({rows} rows): {}",
                            sig.name,
                            e.message()
                        )
                    })?;
            }
            runners.insert(sig.name.clone(), runner);
        }
        Ok(Version {
            number: v,
            model,
            runners,
        })
    }

    /// Re-reads every base path and loads new highest versions.
    pub fn poll(&self) {
        let models: Vec<(String, PathBuf, Option<u64>)> = self
            .read()
            .iter()
            .map(|(n, s)| {
                (
                    n.clone(),
                    s.base.clone(),
                    s.loaded.keys().next_back().copied(),
                )
            })
            .collect();
        for (name, base, served) in models {
            let Ok(on_disk) = versions_on_disk(&base) else {
                continue;
            };
            let Some(&highest) = on_disk.last() else {
                continue;
            };
            if served.is_some_and(|s| s >= highest) {
                continue;
            }
            let before = self
                .read()
                .get(&name)
                .and_then(|s| s.states.get(&highest).cloned());
            // A version that failed before stays reported as failed while it is retried.
            if before.is_none() {
                if let Some(slot) = self.write().get_mut(&name) {
                    slot.states.insert(highest, State::Loading);
                }
            }
            let result = self.load(&name, &base, highest);
            let mut models = self.write();
            let Some(slot) = models.get_mut(&name) else {
                continue;
            };
            match result {
                Ok(version) => {
                    let old: Vec<u64> = slot.loaded.keys().copied().collect();
                    slot.loaded.insert(highest, Arc::new(version));
                    slot.states.insert(highest, State::Available);
                    for v in old {
                        slot.loaded.remove(&v);
                        slot.states.insert(v, State::Unloaded);
                    }
                    (self.log)(&format!("model `{name}` version {highest} is serving"));
                }
                Err(e) => {
                    if before != Some(State::Failed(e.clone())) {
                        (self.log)(&format!(
                            "model `{name}` version {highest} failed to load: {e}"
                        ));
                    }
                    slot.states.insert(highest, State::Failed(e));
                }
            }
        }
    }

    /// The loaded version `version` of `model`, or the served one.
    pub fn version(&self, model: &str, version: Option<u64>) -> Result<Arc<Version>, NotFound> {
        let models = self.read();
        let slot = models
            .get(model)
            .ok_or_else(|| NotFound(format!("no model named `{model}`")))?;
        match version {
            Some(v) => slot
                .loaded
                .get(&v)
                .cloned()
                .ok_or_else(|| NotFound(format!("model `{model}` has no version {v} loaded"))),
            None => slot
                .loaded
                .values()
                .next_back()
                .cloned()
                .ok_or_else(|| NotFound(format!("model `{model}` has no version loaded"))),
        }
    }

    /// The state of every version of `model` known (or only of `version`),
    /// highest first.
    pub fn states(&self, model: &str, version: Option<u64>) -> Result<Vec<(u64, State)>, NotFound> {
        let models = self.read();
        let slot = models
            .get(model)
            .ok_or_else(|| NotFound(format!("no model named `{model}`")))?;
        let all: Vec<(u64, State)> = slot
            .states
            .iter()
            .rev()
            .map(|(v, s)| (*v, s.clone()))
            .collect();
        match version {
            None => Ok(all),
            Some(v) => {
                let one: Vec<_> = all.into_iter().filter(|(n, _)| *n == v).collect();
                match one.is_empty() {
                    true => Err(NotFound(format!("model `{model}` has no version {v}"))),
                    false => Ok(one),
                }
            }
        }
    }

    /// Every model's name.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Slot>> {
        self.models.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Slot>> {
        self.models.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The version numbers under `base`: its subdirectories named by a number,
/// in increasing order. Anything else there is ignored.
pub fn versions_on_disk(base: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(base)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(v) = name.parse::<u64>() else { continue };
        if entry.path().is_dir() {
            out.push(v);
        }
    }
    out.sort_unstable();
    Ok(out)
}
