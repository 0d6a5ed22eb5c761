//! Exported models: one version of a model as a self-contained directory
//! (docs/serving.md, "Exported models").
//!
//! ```text
//! DIR/model.tfir          the graph, Graph IR text: only what the signatures need,
//!                         with the default feeds of unlisted inputs written in
//! DIR/params.safetensors  every param of that graph
//! DIR/signatures.json     {"format": "tfg-model", "format_version": 1, "graph": NAME,
//!                          "signatures": [{"name", "inputs": [...], "outputs": [...]}, ...]}
//! ```
//!
//! A directory is written beside its target under a temporary name and
//! renamed into place, so it appears whole or not at all.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tfg_driver::feed::{Feed, FeedValue};
use tfg_driver::session::param_name;
use tfg_driver::{checkpoint, file_defaults, Error, Session, Source};
use tfg_frontend::serve::{self as sig, Signature, DEFAULT_SIGNATURE};
use tfg_frontend::Module;
use tfg_ir::{Graph, Op, ValueId};

/// The manifest's file name; a directory holding it is an exported model.
pub const MANIFEST: &str = "signatures.json";
/// The graph's file name.
pub const GRAPH_FILE: &str = "model.tfir";
/// The params' file name.
pub const PARAMS_FILE: &str = "params.safetensors";
/// What the manifest's `format` says.
pub const FORMAT: &str = "tfg-model";
/// The version of the directory format this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// Whether `path` is an exported model directory.
pub fn is_model(path: &Path) -> bool {
    path.join(MANIFEST).is_file()
}

/// The signatures of graph `g` in `program`: its `serve` items, or without
/// any, `serving_default` over the inputs without a default feed (every input
/// where all have one) and the graph's outputs.
pub fn signatures_of(program: &Module, g: &Graph) -> Vec<Signature> {
    let given: Vec<Signature> = program.signatures(&g.name).cloned().collect();
    if !given.is_empty() {
        return given;
    }
    let names = |with_default: bool| -> Vec<String> {
        g.inputs()
            .filter_map(|v| match &g.node(v).op {
                Op::Input { name, default } => {
                    let has = default.is_some() || program.input_path(&g.name, name).is_some();
                    (with_default || !has).then(|| name.clone())
                }
                _ => None,
            })
            .collect()
    };
    let mut inputs = names(false);
    if inputs.is_empty() {
        inputs = names(true);
    }
    vec![Signature {
        graph: g.name.clone(),
        name: DEFAULT_SIGNATURE.to_string(),
        inputs,
        outputs: g.outputs.iter().map(|(n, _)| n.clone()).collect(),
        loc: None,
    }]
}

/// `g` cut down to what `outputs` (named values) need, plus the inputs in
/// `keep_inputs`: its outputs are those values, under those names.
pub fn cut(g: &Graph, keep_inputs: &[String], outputs: &[String]) -> Result<Graph, Error> {
    let mut out = g.clone();
    out.updates.clear();
    out.outputs = outputs
        .iter()
        .map(|n| {
            sig::value(g, n)
                .map(|v| (n.clone(), v))
                .ok_or_else(|| Error::new(format!("graph `{}` has no value named `{n}`", g.name)))
        })
        .collect::<Result<_, _>>()?;
    let mut live = vec![false; out.nodes.len()];
    for (_, v) in &out.outputs {
        live[v.index()] = true;
    }
    for name in keep_inputs {
        let v = sig::input(g, name)
            .ok_or_else(|| Error::new(format!("graph `{}` has no input named `{name}`", g.name)))?;
        live[v.index()] = true;
    }
    for i in (0..out.nodes.len()).rev() {
        if live[i] {
            for a in &out.nodes[i].args {
                live[a.index()] = true;
            }
        }
    }
    out.retain(&live);
    Ok(out)
}

/// Writes graph `g` of `program` (read from `file`, whose text is `src`) as
/// a model version into `dir`, with the param values of `session` (which
/// must hold every param). Replaces a directory that is there; refuses
/// anything else.
pub fn export(
    dir: &Path,
    program: &Module,
    g: &Graph,
    file: &Path,
    src: &Source,
    session: &Session,
) -> Result<(), Error> {
    let signatures = signatures_of(program, g);
    let mut outputs: Vec<String> = Vec::new();
    let mut inputs: Vec<String> = Vec::new();
    for s in &signatures {
        for o in &s.outputs {
            if !outputs.contains(o) {
                outputs.push(o.clone());
            }
        }
        for i in &s.inputs {
            if !inputs.contains(i) {
                inputs.push(i.clone());
            }
        }
    }
    let mut graph = cut(g, &inputs, &outputs)?;
    // File defaults of the inputs a request does not feed go into the graph;
    // without `serve` items, every input keeps its default, so that `tfg run
    // DIR` runs as `tfg run FILE` does.
    let implicit = program.signatures(&g.name).next().is_none();
    let listed: Vec<Feed> = inputs
        .iter()
        .filter(|_| !implicit)
        .map(|name| Feed {
            name: name.clone(),
            value: FeedValue::NpyLoaded(tfg_ir::Tensor::scalar_f32(0.0)),
        })
        .collect();
    let defaults = file_defaults::with_file_defaults(program, &graph, &listed, file, src)?;
    for feed in defaults.into_iter().skip(listed.len()) {
        let (Some(v), FeedValue::NpyLoaded(t)) = (sig::input(&graph, &feed.name), feed.value)
        else {
            continue;
        };
        if let Op::Input { default, .. } = &mut graph.node_mut(v).op {
            *default = Some(tfg_ir::InputDefault::Value(t));
        }
    }
    // The model stands alone: an input requests feed keeps no file default.
    for node in &mut graph.nodes {
        if let Op::Input { default, .. } = &mut node.op {
            if matches!(default, Some(tfg_ir::InputDefault::File(_))) {
                *default = None;
            }
        }
    }
    let params: Vec<(String, tfg_ir::Tensor)> = graph
        .params()
        .map(|v| {
            let name = param_name(&graph, v);
            session
                .value(name)
                .map(|t| (name.to_string(), t.clone()))
                .ok_or_else(|| Error::new(format!("param `{name}` has no value to export")))
        })
        .collect::<Result<_, _>>()?;
    let manifest = json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "graph": g.name,
        "signatures": signatures.iter().map(|s| json!({
            "name": s.name,
            "inputs": s.inputs,
            "outputs": s.outputs,
        })).collect::<Vec<_>>(),
    });
    let text = tfg_ir::text::print(&graph);
    write_dir(dir, |tmp| {
        std::fs::write(tmp.join(GRAPH_FILE), &text).map_err(|e| e.to_string())?;
        let named: Vec<(&str, &tfg_ir::Tensor)> =
            params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        checkpoint::save(&tmp.join(PARAMS_FILE), &named).map_err(|e| e.to_string())?;
        let manifest = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())? + "\n";
        std::fs::write(tmp.join(MANIFEST), manifest).map_err(|e| e.to_string())
    })
}

/// Writes a directory whole: `fill` writes into a temporary directory beside
/// `dir`, which then takes its place.
fn write_dir(dir: &Path, fill: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), Error> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(Error::new(format!(
            "cannot export to `{shown}`: it exists and is not a directory"
        )));
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::new(format!("cannot export to `{shown}`: it names no directory")))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| {
        Error::new(format!(
            "cannot create directory `{}`: {e}",
            parent.display()
        ))
    })?;
    let pid = std::process::id();
    let tmp = parent.join(format!(".{name}.tmp-{pid}"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp)
        .map_err(|e| Error::new(format!("cannot create directory `{}`: {e}", tmp.display())))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::new(format!("cannot export to `{shown}`: {e}")));
    }
    let old = parent.join(format!(".{name}.old-{pid}"));
    let replaced = dir.is_dir();
    if replaced {
        if let Err(e) = std::fs::rename(dir, &old) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::new(format!("cannot replace `{shown}`: {e}")));
        }
    }
    if let Err(e) = std::fs::rename(&tmp, dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        if replaced {
            let _ = std::fs::rename(&old, dir);
        }
        return Err(Error::new(format!("cannot export to `{shown}`: {e}")));
    }
    if replaced {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

/// A model version read back from its directory.
pub struct Model {
    pub dir: PathBuf,
    /// The graph as exported (what every signature needs).
    pub graph: Graph,
    pub signatures: Vec<Signature>,
    /// Every param's value.
    pub params: Session,
    /// The graph's text, for errors that point into it.
    pub source: Source,
}

impl Model {
    /// Reads and checks the model in `dir`.
    pub fn load(dir: &Path) -> Result<Model, Error> {
        let shown = dir.display();
        let manifest_path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
            Error::new(format!(
                "`{shown}` is not an exported model: cannot read `{}`: {e}",
                manifest_path.display()
            ))
        })?;
        let bad = |why: String| {
            Error::new(format!(
                "`{}` is not a valid manifest: {why}",
                manifest_path.display()
            ))
        };
        let manifest: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if manifest["format"] != FORMAT {
            return Err(bad(format!("its \"format\" is not \"{FORMAT}\"")));
        }
        match manifest["format_version"].as_u64() {
            Some(FORMAT_VERSION) => {}
            other => {
                return Err(bad(format!(
                    "its \"format_version\" is {other:?}; this tfg reads version {FORMAT_VERSION}"
                )))
            }
        }
        let source = Source::load(&dir.join(GRAPH_FILE))?;
        let program = source.compile()?;
        let graph = program
            .graphs
            .into_iter()
            .next()
            .ok_or_else(|| Error::new(format!("`{shown}` holds no graph")))?;
        let strings = |v: &Value, what: &str| -> Result<Vec<String>, Error> {
            v.as_array()
                .ok_or_else(|| bad(format!("\"{what}\" is not a list")))?
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("\"{what}\" holds a non-string")))
                })
                .collect()
        };
        let mut signatures = Vec::new();
        for s in manifest["signatures"]
            .as_array()
            .ok_or_else(|| bad("\"signatures\" is not a list".into()))?
        {
            let name = s["name"]
                .as_str()
                .ok_or_else(|| bad("a signature has no \"name\"".into()))?;
            let sig = Signature {
                graph: graph.name.clone(),
                name: name.to_string(),
                inputs: strings(&s["inputs"], "inputs")?,
                outputs: strings(&s["outputs"], "outputs")?,
                loc: None,
            };
            for i in &sig.inputs {
                if sig::input(&graph, i).is_none() {
                    return Err(bad(format!(
                        "signature `{name}` feeds `{i}`, which is not an input of the graph"
                    )));
                }
            }
            for o in &sig.outputs {
                if sig::value(&graph, o).is_none() {
                    return Err(bad(format!(
                        "signature `{name}` returns `{o}`, which is not a value of the graph"
                    )));
                }
            }
            signatures.push(sig);
        }
        let mut params = Session::default();
        checkpoint::restore(&dir.join(PARAMS_FILE), &graph, &mut params, &source)?;
        Ok(Model {
            dir: dir.to_path_buf(),
            graph,
            signatures,
            params,
            source,
        })
    }

    /// The signature called `name`.
    pub fn signature(&self, name: &str) -> Option<&Signature> {
        self.signatures.iter().find(|s| s.name == name)
    }

    /// The graph that computes signature `s`: its inputs, the inputs with
    /// defaults that its outputs need, and its outputs in order.
    pub fn signature_graph(&self, s: &Signature) -> Result<Graph, Error> {
        cut(&self.graph, &s.inputs, &s.outputs)
    }

    /// The nodes of `g` (a signature graph) that a request feeds.
    pub fn fed_inputs(g: &Graph, s: &Signature) -> Vec<ValueId> {
        s.inputs.iter().filter_map(|n| sig::input(g, n)).collect()
    }
}
