//! The `.tfg` file a command works on, and errors that point into it.

use crate::feed::value::{self, Feed, Refused};
use crate::Error;
use std::path::Path;
use tfg_frontend::diag::Diagnostic;
use tfg_frontend::Module;
use tfg_ir::kernel::{Initial, Program};
use tfg_ir::{Graph, InputDefault, Loc, Op, Shape, Tensor, Type};
use tfg_passes::{Ir, Level};

/// A source file: the name errors show and its text.
pub struct Source {
    pub name: String,
    pub text: String,
    /// Values for params that the text declares without them: an imported
    /// ONNX model's initializers.
    pub params: Vec<(String, Tensor)>,
    /// An imported model's inputs and outputs: the identifier the text gives
    /// each, and the model's own name, which the compiled graph takes back
    /// (so `--feed` and the printed outputs use the model's names).
    pub renames: Vec<(String, String)>,
    /// The feeds (by the name they were given) whose values
    /// [`Source::load_fed`] made constants of an imported model.
    pub fixed: Vec<String>,
}

impl Source {
    /// A source of `.tfg` text (or a Graph IR dump) called `name`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
            params: Vec::new(),
            renames: Vec::new(),
            fixed: Vec::new(),
        }
    }

    /// Reads `path`; the name is the path as the user wrote it. An `.onnx`
    /// model is imported: the text is the `.tfg` graph `tfg import` writes,
    /// the params its initializers.
    pub fn load(path: &Path) -> Result<Source, Error> {
        Source::load_fed(path, &[])
    }

    /// [`Source::load`] with the feeds of the run to come. An ONNX model that
    /// computes a shape, axes or bounds from a graph input (which tfg must
    /// know ahead of time) is imported with that input's fed value as a
    /// constant, and so compiled for it; [`Source::fixed`] lists such inputs,
    /// whose feeds [`crate::feed::bind`] then passes over.
    pub fn load_fed(path: &Path, feeds: &[Feed]) -> Result<Source, Error> {
        let name = path.display().to_string();
        let bytes =
            std::fs::read(path).map_err(|e| Error::new(format!("cannot read `{name}`: {e}")))?;
        if is_onnx(path) {
            // A needed input is fed by its ONNX name or by its identifier.
            let feed_of = |n: &tfg_onnx::Needed| {
                feeds
                    .iter()
                    .find(|f| f.name == n.name || f.name == n.identifier)
            };
            let mut known = tfg_onnx::Known::new();
            let mut fixed = Vec::new();
            let imported = loop {
                let inputs = match import(path, &bytes, &known) {
                    Ok(imported) => break imported,
                    Err(tfg_onnx::ImportError::NeedsValues { inputs, .. })
                        if inputs.iter().all(|n| feed_of(n).is_some()) =>
                    {
                        inputs
                    }
                    Err(e) => return Err(Error::new(format!("{name}: {e}"))),
                };
                // Each round fixes new inputs (a fixed one is a constant and
                // never needed again), so the loop ends.
                for input in inputs {
                    let Some(f) = feed_of(&input) else {
                        continue;
                    };
                    let value = value::value(f, &input.ty).map_err(|e| match e {
                        Refused::Declared(m) => Error::new(format!("{name}: {m}")),
                        Refused::Other(e) => e,
                    })?;
                    known.insert(input.name, value);
                    fixed.push(f.name.clone());
                }
            };
            let renames = imported
                .inputs
                .into_iter()
                .chain(imported.outputs)
                .filter(|(onnx, ident)| onnx != ident)
                .map(|(onnx, ident)| (ident, onnx))
                .collect();
            return Ok(Source {
                name,
                text: imported.source,
                params: imported.params,
                renames,
                fixed,
            });
        }
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Source::new(name, text)),
            Err(e) => {
                // Point at the first bad byte, in a copy of the text where it is replaced.
                let at = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let source = Source::new(name, text);
                let d = Diagnostic::error(format!("`{}` is not UTF-8 text", source.name))
                    .at(tfg_frontend::ast::Span::new(at, at + 1))
                    .label("this byte is not UTF-8");
                Err(source.failure(vec![d]))
            }
        }
    }

    /// Parses, resolves and type-checks the whole file; every error it finds.
    /// A dump of any level (as `tfg dump` writes them: `.tfir`, `.tffused`,
    /// `.tfkir`) gives a program of its one graph, so a dump is a working
    /// input: a Kernel IR dump's graph holds only its inputs and params (the
    /// program's signature).
    pub fn compile(&self) -> Result<Module, Error> {
        Ok(self.compile_with_ir()?.0)
    }

    /// [`Source::compile`], and for a dump, the IR it holds at its level,
    /// verified: the pass pipeline resumes from it (a Graph IR dump is
    /// compiled as a `.tfg` file's graph is, a fused one is lowered, a
    /// Kernel IR one goes through the Kernel IR passes again, which change
    /// nothing a second time). `None` for a `.tfg` file or a model.
    pub fn compile_with_ir(&self) -> Result<(Module, Option<Ir>), Error> {
        let module = |g| Module {
            graphs: vec![g],
            trains: Vec::new(),
            input_paths: Vec::new(),
            serves: Vec::new(),
        };
        if let Some(dumped) = self.dumped()? {
            let g = match &dumped {
                Ir::Graph(g) | Ir::Fused(g, _) => g.clone(),
                Ir::Kernel(p) => self.signature(p)?,
            };
            return Ok((module(g), Some(dumped)));
        }
        let mut module = tfg_frontend::compile(&self.text).map_err(|diags| self.failure(diags))?;
        for g in &mut module.graphs {
            rename(g, &self.renames);
            self.anchor_files(g);
        }
        Ok((module, None))
    }

    /// Makes the `.npy` paths of `g`'s file defaults absolute (they are
    /// relative to this file's directory), so that they still name the same
    /// files in a dump of `g` written anywhere.
    fn anchor_files(&self, g: &mut Graph) {
        for node in &mut g.nodes {
            if let Op::Input {
                default: Some(InputDefault::File(path)),
                ..
            } = &mut node.op
            {
                *path = self.anchored(path);
            }
        }
    }

    /// `path`, relative to this file's directory, as an absolute path.
    fn anchored(&self, path: &str) -> String {
        let dir = Path::new(&self.name).parent().unwrap_or(Path::new(""));
        std::path::absolute(dir.join(path))
            .map_or_else(|_| path.to_string(), |p| p.display().to_string())
    }

    /// The input a feed named `name` is for: in an imported model, an
    /// input's identifier (as `tfg import` writes it, `gpu_0_data_0`) stands
    /// for its ONNX name (`gpu_0/data_0`); any other name stands for itself.
    pub fn input_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames
            .iter()
            .find(|(identifier, _)| identifier == name)
            .map_or(name, |(_, original)| original.as_str())
    }

    /// The identifier `tfg import` gives a model's input or output `name`
    /// (`gpu_0/softmax_1` → `gpu_0_softmax_1`): what names a file written
    /// for it. Any other name stands for itself.
    pub fn identifier<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames
            .iter()
            .find(|(_, original)| original == name)
            .map_or(name, |(identifier, _)| identifier.as_str())
    }

    /// The IR level of a dump, by the file's extension.
    fn dump_level(&self) -> Option<Level> {
        let (_, extension) = self.name.rsplit_once('.')?;
        Level::of_extension(extension)
    }

    /// The IR a dump holds, at its level, verified; `None` for a `.tfg`
    /// file or a model.
    fn dumped(&self) -> Result<Option<Ir>, Error> {
        let Some(level) = self.dump_level() else {
            return Ok(None);
        };
        // A parse error's place is in this text already.
        let at = |e: tfg_ir::text::ParseError| {
            let loc = Loc {
                line: e.line,
                col: e.col,
            };
            self.error_in_text(Some(loc), e.message.clone(), e.message)
        };
        let mut ir = match level {
            Level::Graph => Ir::Graph(tfg_ir::text::parse(&self.text).map_err(at)?),
            Level::Fused => {
                let (g, fusion, _) = tfg_ir::fused::parse(&self.text).map_err(at)?;
                Ir::Fused(g, fusion)
            }
            Level::Kernel => Ir::Kernel(tfg_ir::kernel::parse(&self.text).map_err(at)?),
        };
        match &mut ir {
            Ir::Graph(g) | Ir::Fused(g, _) => self.anchor_files(g),
            Ir::Kernel(p) => self.anchor_buffer_files(p),
        }
        ir.verify()
            .map_err(|e| Error::new(format!("{}: invalid IR: {e}", self.name)))?;
        Ok(Some(ir))
    }

    /// The inputs and params of a Kernel IR program as a graph of leaves
    /// (named after the program's buffers, each placed at its buffer's
    /// line), so that feeds, defaults and initialisers are checked and
    /// bound as for any graph.
    fn signature(&self, p: &Program) -> Result<Graph, Error> {
        let mut g = Graph::new("program");
        let inputs = p.inputs().into_iter().map(|b| (true, b));
        let params = p.params().into_iter().map(|b| (false, b));
        for (is_input, id) in inputs.chain(params) {
            let Some(id) = id else { continue };
            let (i, b) = (id.index(), &p.buffers[id.index()]);
            let Some(name) = &b.name else {
                return Err(self.error_in_text(
                    self.buffer_line(i),
                    "an input or a param buffer needs a name, such as \"x\"",
                    "declared here",
                ));
            };
            let ty = Type::new(b.dtype, Shape::known(&b.shape));
            let v = match (is_input, &b.initial) {
                (true, initial) => {
                    let v = g.add_input(name, ty, None);
                    if let (Op::Input { default, .. }, Some(Initial::Default(d))) =
                        (&mut g.node_mut(v).op, initial)
                    {
                        *default = Some(d.clone());
                    }
                    v
                }
                (false, Some(Initial::Init(init))) => g.add_param(name, ty, init.clone()),
                (false, _) => {
                    return Err(self.error_in_text(
                        self.buffer_line(i),
                        format!("param `{name}` has no init; give it one, such as `init = zeros`"),
                        "declared here",
                    ))
                }
            };
            g.node_mut(v).loc = self.buffer_line(i);
        }
        Ok(g)
    }

    /// Where buffer `b{i}` is declared in this Kernel IR text: its `b`.
    fn buffer_line(&self, i: usize) -> Option<Loc> {
        let label = format!("buffer b{i}:");
        self.text.lines().enumerate().find_map(|(n, l)| {
            let col = l.find(&label)?;
            Some(Loc {
                line: n as u32 + 1,
                col: (col + "buffer ".len()) as u32 + 1,
            })
        })
    }

    /// [`Source::anchor_files`] for the input buffers of a Kernel IR program.
    fn anchor_buffer_files(&self, p: &mut Program) {
        for b in &mut p.buffers {
            if let Some(Initial::Default(InputDefault::File(path))) = &mut b.initial {
                *path = self.anchored(path);
            }
        }
    }

    /// Renders `diags` against this file.
    pub fn failure(&self, diags: Vec<Diagnostic>) -> Error {
        Error::Diagnostics {
            name: self.name.clone(),
            text: self.text.clone(),
            diags,
        }
    }

    /// An error at `loc` (a node's place, such as an input's declaration),
    /// marking the word that starts there; without a place, a plain error.
    /// In a Graph IR or fused dump, `loc` (the place in the `.tfg` file the
    /// node came from) is found among the dump's nodes, and the error points
    /// at that node's line in the dump; in a Kernel IR dump, `loc` is a
    /// buffer's line there already.
    pub fn error_at(
        &self,
        loc: Option<Loc>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Error {
        let loc = match self.dump_level() {
            Some(Level::Graph | Level::Fused) => loc.and_then(|loc| self.in_dump(loc)),
            Some(Level::Kernel) | None => loc,
        };
        self.error_in_text(loc, message, label)
    }

    /// An error at `loc`, a line and column of this file's text, marking
    /// the word that starts there; without a place, a plain error.
    fn error_in_text(
        &self,
        loc: Option<Loc>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Error {
        let mut d = Diagnostic::error(message);
        if let Some(start) = loc.and_then(|loc| self.offset(loc)) {
            let word = self.text[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(0);
            d = d
                .at(tfg_frontend::ast::Span::new(start, start + word.max(1)))
                .label(label);
        }
        self.failure(vec![d])
    }

    /// Where in this dump the first node that came from `loc` is defined:
    /// the name after its `%`.
    fn in_dump(&self, loc: Loc) -> Option<Loc> {
        let (g, positions) = match self.dump_level()? {
            Level::Fused => tfg_ir::fused::parse(&self.text)
                .ok()
                .map(|(g, _, at)| (g, at))?,
            _ => tfg_ir::text::parse_with_positions(&self.text).ok()?,
        };
        let at = g.nodes.iter().position(|n| n.loc == Some(loc))?;
        positions.get(at).map(|p| Loc {
            line: p.line,
            col: p.col + 1,
        })
    }

    /// The byte offset of a 1-based line and (character) column.
    fn offset(&self, loc: Loc) -> Option<usize> {
        let line_start = if loc.line <= 1 {
            0
        } else {
            self.text.match_indices('\n').nth(loc.line as usize - 2)?.0 + 1
        };
        let rest = &self.text[line_start..];
        let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
        let col = line
            .char_indices()
            .nth(loc.col.saturating_sub(1) as usize)
            .map_or(line.len(), |(i, _)| i);
        Some(line_start + col)
    }
}

/// Gives inputs and outputs of `g` their names from `renames` (identifier,
/// name).
fn rename(g: &mut Graph, renames: &[(String, String)]) {
    if renames.is_empty() {
        return;
    }
    let to = |n: &str| renames.iter().find(|(i, _)| i == n).map(|(_, o)| o.clone());
    for node in &mut g.nodes {
        if let Op::Input { name, .. } = &mut node.op {
            if let Some(o) = to(name) {
                *name = o.clone();
                node.name = Some(o);
            }
        }
    }
    for (name, _) in &mut g.outputs {
        if let Some(o) = to(name) {
            *name = o;
        }
    }
}

/// Whether `path` names an ONNX model (by its extension).
pub fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// Imports the ONNX model at `path` (its `bytes` read already); external
/// tensor data is read relative to the model's directory. The graph is
/// named after the file.
pub fn import_onnx(path: &Path, bytes: &[u8]) -> Result<tfg_onnx::Imported, Error> {
    import(path, bytes, &tfg_onnx::Known::new())
        .map_err(|e| Error::new(format!("{}: {e}", path.display())))
}

/// [`import_onnx`] with values for some graph inputs, and the importer's own error.
fn import(
    path: &Path,
    bytes: &[u8],
    known: &tfg_onnx::Known,
) -> Result<tfg_onnx::Imported, tfg_onnx::ImportError> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let graph = tfg_onnx::graph_name(&stem);
    let external = move |location: &str| -> Result<Vec<u8>, String> {
        let file = Path::new(location);
        let plain = file
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain {
            return Err(format!(
                "external data `{location}` must be a path inside the model's directory"
            ));
        }
        std::fs::read(dir.join(file))
            .map_err(|e| format!("cannot read external data `{location}`: {e}"))
    };
    tfg_onnx::import_with(bytes, &graph, &external, known)
}
