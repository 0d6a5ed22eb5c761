//! ONNX nodes to `.tfg` statements, one rule an operator type.

use crate::constant::{dtype_of, Constant, Elem};
use crate::names::Names;
use crate::proto::{AttributeProto, GraphProto, NodeProto};
use crate::{ExternalData, ImportError, Imported, Known, Needed};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap, HashSet};
use tfg_frontend::Incremental;
use tfg_ir::{DType, Dim, Type};

mod grid_sample;
mod recurrent;
mod resize;

/// The operator types with a rule below.
pub(crate) const SUPPORTED: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "Add",
    "AffineGrid",
    "And",
    "ArgMax",
    "ArgMin",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "Attention",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "CastLike",
    "Ceil",
    "Celu",
    "CenterCropPad",
    "Clip",
    "Compress",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Cos",
    "Cosh",
    "CumProd",
    "CumSum",
    "DepthToSpace",
    "Div",
    "Dropout",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "EyeLike",
    "Flatten",
    "Floor",
    "Gather",
    "GatherElements",
    "GatherND",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "GridSample",
    "GroupNormalization",
    "GRU",
    "Hardmax",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "InstanceNormalization",
    "IsInf",
    "IsNaN",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "LpNormalization",
    "LpPool",
    "LRN",
    "LSTM",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "MeanVarianceNormalization",
    "Min",
    "Mish",
    "Mod",
    "Mul",
    "Neg",
    "NegativeLogLikelihoodLoss",
    "Not",
    "OneHot",
    "Or",
    "Pad",
    "Pow",
    "PRelu",
    "Range",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "RMSNormalization",
    "RNN",
    "RotaryEmbedding",
    "Round",
    "Scatter",
    "ScatterElements",
    "ScatterND",
    "Selu",
    "Shape",
    "Shrink",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Size",
    "Slice",
    "Softmax",
    "SoftmaxCrossEntropyLoss",
    "Softplus",
    "Softsign",
    "SpaceToDepth",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Swish",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
    "Tile",
    "TopK",
    "Transpose",
    "Trilu",
    "Unsqueeze",
    "Upsample",
    "Where",
    "Xor",
];

/// What an ONNX value is while importing.
#[derive(Clone, Debug)]
enum Value {
    /// A value of the graph, by its identifier.
    Tensor(String),
    /// Known at import time.
    Const(Constant),
}

type Result<T> = std::result::Result<T, String>;

pub(crate) struct Importer<'a> {
    inc: Incremental,
    lines: Vec<String>,
    names: Names,
    values: HashMap<String, Value>,
    params: Vec<(String, tfg_ir::Tensor)>,
    opset: i64,
    external: ExternalData<'a>,
    graph_name: String,
    /// Graph inputs given values: they are constants.
    known: &'a Known,
    /// For each value of the graph, the graph inputs it is computed from.
    origins: HashMap<String, BTreeSet<String>>,
    /// The graph inputs behind an operand that had to be a constant and was
    /// not: the values a caller could give to import the model.
    needed: RefCell<BTreeSet<String>>,
    /// Elements (and terms) the rules have written out so far, against
    /// [`WRITTEN`].
    written: Cell<u64>,
}

fn attr<'n>(n: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).and_then(|a| a.i).unwrap_or(default)
}

fn attr_f(n: &NodeProto, name: &str, default: f64) -> f64 {
    attr(n, name)
        .and_then(|a| a.f)
        .map_or(default, |f| f as f64)
}

fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}

fn attr_s(n: &NodeProto, name: &str) -> Option<String> {
    attr(n, name)
        .and_then(|a| a.s.as_ref())
        .map(|s| String::from_utf8_lossy(s).into_owned())
}

/// An ONNX axis or index: a negative one counts from the end of `len`.
fn wrap(i: i64, len: i64) -> i64 {
    if i < 0 {
        i + len
    } else {
        i
    }
}

/// An axis attribute or input as an index into a shape of rank `rank`:
/// negative counts from the end, and one outside `-rank..rank` (or up to
/// `rank` itself where `end` is allowed, as for Flatten) is an error, since
/// the model comes from a file and the index is used on the shape.
fn axis_in(i: i64, rank: i64, end: bool) -> Result<usize> {
    let k = wrap(i, rank);
    let top = if end { rank } else { rank - 1 };
    if (0..=top).contains(&k) {
        Ok(k as usize)
    } else {
        Err(format!("axis {i} is out of range for rank {rank}"))
    }
}

fn list<T: ToString>(xs: &[T]) -> String {
    let s: Vec<String> = xs.iter().map(T::to_string).collect();
    format!("[{}]", s.join(", "))
}

/// `x` of a float literal, always with a `.` or an exponent.
fn float(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains(['.', 'e', 'E']) || !x.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

impl<'a> Importer<'a> {
    pub(crate) fn new(
        graph_name: &str,
        opset: i64,
        external: ExternalData<'a>,
        known: &'a Known,
    ) -> Importer<'a> {
        Importer {
            inc: Incremental::new(graph_name),
            lines: Vec::new(),
            names: Names::default(),
            values: HashMap::new(),
            params: Vec::new(),
            opset,
            external,
            graph_name: graph_name.to_string(),
            known,
            origins: HashMap::new(),
            needed: RefCell::new(BTreeSet::new()),
            written: Cell::new(0),
        }
    }

    pub(crate) fn run(mut self, g: &GraphProto) -> std::result::Result<Imported, ImportError> {
        let invalid = ImportError::Invalid;
        let initializers: HashMap<&str, _> = g
            .initializer
            .iter()
            .filter_map(|t| t.name.as_deref().map(|n| (n, t)))
            .collect();
        // Inputs first (in model order), then outputs, claim their names.
        let mut inputs = Vec::new();
        for vi in &g.input {
            let name = vi.name.clone().unwrap_or_default();
            if initializers.contains_key(name.as_str()) || self.known.contains_key(&name) {
                continue;
            }
            let ident = self.names.fresh(&name);
            inputs.push((name, ident));
        }
        let mut outputs = Vec::new();
        for vi in &g.output {
            let name = vi.name.clone().unwrap_or_default();
            let ident = self.names.fresh(&name);
            outputs.push((name, ident));
        }
        let output_ident: HashMap<String, String> = outputs.iter().cloned().collect();
        let mut dim_names: HashMap<String, String> = HashMap::new();
        let mut fixed = Vec::new();
        for (k, vi) in g.input.iter().enumerate() {
            let name = vi.name.clone().unwrap_or_default();
            if initializers.contains_key(name.as_str()) {
                continue;
            }
            let tt = vi
                .r#type
                .as_ref()
                .and_then(|t| t.tensor_type.as_ref())
                .ok_or_else(|| invalid(format!("input `{name}` is not a tensor")))?;
            let dtype = dtype_of(tt.elem_type.unwrap_or(0)).map_err(invalid)?;
            if let Some(t) = self.known.get(&name) {
                let fits = declared_type(vi)
                    .is_some_and(|d| d.dtype == t.dtype() && d.shape.admits(&t.shape));
                if !fits {
                    return Err(invalid(format!(
                        "input `{name}` is given a value of type {}, which its declaration does not fit",
                        t.ty()
                    )));
                }
                self.values
                    .insert(name.clone(), Value::Const(Constant::from_tensor(t)));
                fixed.push(name);
                continue;
            }
            let mut dims = Vec::new();
            let dim_sizes = tt.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or(&[]);
            for (j, d) in dim_sizes.iter().enumerate() {
                dims.push(match (d.dim_value, &d.dim_param) {
                    (Some(v), _) if v >= 0 => v.to_string(),
                    (_, Some(p)) if !p.is_empty() => match dim_names.get(p) {
                        Some(d) => d.clone(),
                        None => {
                            let d = self.names.fresh(p);
                            dim_names.insert(p.clone(), d.clone());
                            d
                        }
                    },
                    _ => format!("d{k}_{j}"),
                });
            }
            let ident = inputs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, i)| i.clone())
                .unwrap_or_default();
            self.line(format!("input {ident}: {dtype}{}", list(&dims)), None)
                .map_err(invalid)?;
            self.origins
                .insert(name.clone(), BTreeSet::from([name.clone()]));
            self.values.insert(name, Value::Tensor(ident));
        }
        // Initializers used only as shapes and attributes stay constants;
        // the rest become params.
        let mut as_value: HashSet<&str> = HashSet::new();
        for n in &g.node {
            let op = n.op_type.as_deref().unwrap_or("");
            for (k, i) in n.input.iter().enumerate() {
                if !static_input(op, k) {
                    as_value.insert(i.as_str());
                }
            }
        }
        for o in &g.output {
            as_value.insert(o.name.as_deref().unwrap_or(""));
        }
        for t in &g.initializer {
            let name = t.name.clone().unwrap_or_default();
            let c = Constant::from_proto(t, self.external).map_err(invalid)?;
            let big = c.data.len() > 16 || c.dtype.is_float();
            if as_value.contains(name.as_str()) && big {
                let ident = self.names.fresh(&name);
                let tensor = c
                    .to_tensor()
                    .ok_or_else(|| invalid(format!("initializer `{name}` is malformed")))?;
                self.line(
                    format!("param {ident}: {}{} = zeros", c.dtype, list(&c.shape)),
                    None,
                )
                .map_err(invalid)?;
                self.params.push((ident.clone(), tensor));
                self.values.insert(name, Value::Tensor(ident));
            } else {
                self.values.insert(name, Value::Const(c));
            }
        }
        for n in &g.node {
            let op = n.op_type.clone().unwrap_or_default();
            let label = n
                .name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| n.output.first().cloned().unwrap_or_default());
            let results = self.node(n, &op, &output_ident).map_err(|e| {
                let message = format!("node `{label}` ({op}): {e}");
                let needed = std::mem::take(&mut *self.needed.borrow_mut());
                let inputs: Vec<Needed> = g
                    .input
                    .iter()
                    .filter_map(|vi| {
                        let name = vi.name.clone()?;
                        let (_, identifier) = inputs.iter().find(|(n, _)| *n == name)?;
                        Some(Needed {
                            identifier: identifier.clone(),
                            ty: declared_type(vi)?,
                            name,
                        })
                    })
                    .filter(|n| needed.contains(&n.name))
                    .collect();
                match inputs.is_empty() {
                    true => invalid(message),
                    false => ImportError::NeedsValues { message, inputs },
                }
            })?;
            let origins: BTreeSet<String> = n
                .input
                .iter()
                .filter_map(|i| self.origins.get(i))
                .flatten()
                .cloned()
                .collect();
            for (name, v) in n.output.iter().zip(results) {
                if !name.is_empty() {
                    if matches!(v, Value::Tensor(_)) {
                        self.origins.insert(name.clone(), origins.clone());
                    }
                    self.values.insert(name.clone(), v);
                }
            }
        }
        for (name, ident) in &outputs {
            let v = self
                .values
                .get(name)
                .cloned()
                .ok_or_else(|| invalid(format!("output `{name}` is computed by no node")))?;
            let have = match &v {
                Value::Tensor(t) => Some(t.clone()),
                Value::Const(_) => None,
            };
            if have.as_deref() != Some(ident.as_str()) {
                let expr = self.operand(&v).map_err(invalid)?;
                self.line(format!("{ident} = {expr}"), Some(&format!("output {name}")))
                    .map_err(invalid)?;
            }
        }
        let names: Vec<&str> = outputs.iter().map(|(_, i)| i.as_str()).collect();
        self.line(format!("output {}", names.join(", ")), None)
            .map_err(invalid)?;
        let mut source = format!(
            "# Imported from ONNX (opset {}) by `tfg import`.\ngraph {} {{\n",
            self.opset, self.graph_name
        );
        for l in &self.lines {
            source.push_str("    ");
            source.push_str(l);
            source.push('\n');
        }
        source.push_str("}\n");
        Ok(Imported {
            source,
            graph: self.graph_name,
            params: self.params,
            inputs,
            outputs,
            fixed,
        })
    }

    /// Adds one statement, checked by the frontend.
    fn line(&mut self, text: String, comment: Option<&str>) -> Result<()> {
        if let Err(diags) = self.inc.statement(&text) {
            let why: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
            return Err(format!("`{text}`: {}", why.join("; ")));
        }
        self.lines.push(match comment {
            Some(c) => format!("{text}    # {c}"),
            None => text,
        });
        Ok(())
    }

    /// Binds `expr` to a fresh name from `hint`, a statement of its own
    /// (without a node's comment): how a rule takes a computed value more
    /// than once without writing it out again.
    fn bind(&mut self, expr: String, hint: &str) -> Result<String> {
        let ident = self.names.fresh(hint);
        self.line(format!("{ident} = {expr}"), None)?;
        Ok(ident)
    }

    /// The expression of `atan(a)`, its steps bound to names from `hint`.
    /// tfg has no arctangent: |a| is reduced to [0, 1] (atan(t) = π/2 -
    /// atan(1/t)), then halved in angle (atan(r) = 2 atan(r / (1 + sqrt(1 +
    /// r²)))) to at most tan(π/8), where the Taylor series to the 15th
    /// power is within 2e-8.
    fn atan(&mut self, a: &str, hint: &str) -> Result<String> {
        let t = self.bind(format!("abs({a})"), &format!("{hint}_abs"))?;
        let r = self.bind(
            format!("where({t} > 1, 1 / {t}, {t})"),
            &format!("{hint}_reduced"),
        )?;
        let u = self.bind(
            format!("{r} / (1 + sqrt(1 + {r} * {r}))"),
            &format!("{hint}_halved"),
        )?;
        let z = self.bind(format!("{u} * {u}"), &format!("{hint}_square"))?;
        let mut series = float(-1.0 / 15.0);
        for k in (0..7).rev() {
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            series = format!("{} + {z} * ({series})", float(sign / f64::from(2 * k + 1)));
        }
        let half = self.bind(format!("2 * {u} * ({series})"), &format!("{hint}_atan"))?;
        Ok(format!(
            "sign({a}) * where({t} > 1, {} - {half}, {half})",
            float(std::f64::consts::FRAC_PI_2)
        ))
    }

    /// Binds `expr` to a fresh name for ONNX value `out` (a graph output
    /// keeps its own identifier).
    fn emit(
        &mut self,
        expr: String,
        out: &str,
        n: &NodeProto,
        outputs: &HashMap<String, String>,
    ) -> Result<Value> {
        let ident = match outputs.get(out) {
            Some(i)
                if !self
                    .values
                    .values()
                    .any(|v| matches!(v, Value::Tensor(t) if t == i)) =>
            {
                i.clone()
            }
            _ => self.names.fresh(out),
        };
        let comment = format!(
            "{} ({})",
            n.name.as_deref().filter(|s| !s.is_empty()).unwrap_or(out),
            n.op_type.as_deref().unwrap_or("")
        );
        self.line(format!("{ident} = {expr}"), Some(&comment))?;
        Ok(Value::Tensor(ident))
    }

    /// A value as an operand: a name, or a literal for a constant (large
    /// constants become params).
    fn operand(&mut self, v: &Value) -> Result<String> {
        match v {
            Value::Tensor(t) => Ok(t.clone()),
            Value::Const(c) => {
                if c.data.is_empty() {
                    // `[]` is not a tensor in the language.
                    return Ok(format!(
                        "broadcast_to(cast(0, {}), {})",
                        c.dtype,
                        list(&c.shape)
                    ));
                }
                if c.data.len() <= 64 {
                    if let Some(l) = c.literal() {
                        return Ok(l);
                    }
                }
                let tensor = c.to_tensor().ok_or("a symbolic size used as a value")?;
                let ident = self.names.fresh("constant");
                self.line(
                    format!("param {ident}: {}{} = zeros", c.dtype, list(&c.shape)),
                    None,
                )?;
                self.params.push((ident.clone(), tensor));
                Ok(ident)
            }
        }
    }

    fn ty(&self, v: &Value) -> Result<Type> {
        match v {
            Value::Const(c) => Ok(Type::new(
                c.dtype,
                tfg_ir::Shape(c.shape.iter().map(|&d| Dim::Known(d as u64)).collect()),
            )),
            Value::Tensor(t) => {
                let id = self
                    .inc
                    .lookup(t)
                    .ok_or_else(|| format!("`{t}` is not defined"))?;
                Ok(self.inc.graph().ty(id).clone())
            }
        }
    }

    fn input(&self, n: &NodeProto, k: usize) -> Result<Option<Value>> {
        match n.input.get(k).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => self
                .values
                .get(name)
                .cloned()
                .map(Some)
                .ok_or_else(|| format!("input `{name}` is not defined before it is used")),
        }
    }

    fn need(&self, n: &NodeProto, k: usize) -> Result<Value> {
        self.input(n, k)?
            .ok_or_else(|| format!("input {k} is missing"))
    }

    /// A constant input's integers (`Reshape`'s shape, `Slice`'s bounds).
    fn ints(&self, n: &NodeProto, k: usize) -> Result<Option<Vec<i64>>> {
        match self.input(n, k)? {
            None => Ok(None),
            Some(Value::Const(c)) => c
                .to_ints()
                .map(Some)
                .ok_or_else(|| format!("input {k} must be known integers")),
            Some(Value::Tensor(_)) => Err(self.not_known(n, k)),
        }
    }

    /// A known float input (scales), if given and not empty.
    fn floats(&self, n: &NodeProto, k: usize) -> Result<Option<Vec<f64>>> {
        match self.input(n, k)? {
            None => Ok(None),
            Some(Value::Const(c)) => {
                let v: Option<Vec<f64>> = c
                    .data
                    .iter()
                    .map(|e| match e {
                        Elem::F(f) => Some(*f),
                        Elem::I(i) => Some(*i as f64),
                        _ => None,
                    })
                    .collect();
                let v = v.ok_or_else(|| format!("input {k} must be known numbers"))?;
                Ok(Some(v).filter(|v| !v.is_empty()))
            }
            Some(Value::Tensor(_)) => Err(self.not_known(n, k)),
        }
    }

    /// The dims of `v`, which `op` needs all known.
    fn known_dims(&self, v: &Value, op: &str) -> Result<Vec<u64>> {
        let t = self.ty(v)?;
        let dims: Option<Vec<u64>> = t.shape.0.iter().map(Dim::known).collect();
        dims.ok_or_else(|| format!("{op} needs the dims of its input {t} known"))
    }

    fn rank(&self, v: &Value) -> Result<usize> {
        Ok(self.ty(v)?.shape.rank())
    }

    /// The rule for one node: its output values.
    fn node(
        &mut self,
        n: &NodeProto,
        op: &str,
        outputs: &HashMap<String, String>,
    ) -> Result<Vec<Value>> {
        let out = n.output.first().cloned().unwrap_or_default();
        if let Some(folded) = self.fold(n, op)? {
            return Ok(folded);
        }
        let x = |s: &mut Self, k: usize| -> Result<String> {
            let v = s.need(n, k)?;
            s.operand(&v)
        };
        if let Some(template) = elementwise(op) {
            let a = x(self, 0)?;
            return Ok(vec![self.emit(
                template.replace('$', &a),
                &out,
                n,
                outputs,
            )?]);
        }
        let expr = match op {
            "Identity" | "Dropout" => {
                let v = self.need(n, 0)?;
                if op == "Dropout" && self.opset >= 12 {
                    // Training mode (input 2) draws a random mask, which tfg
                    // has no operator for; with a ratio of 0 it keeps all.
                    let training = match self.input(n, 2)? {
                        Some(Value::Const(c)) => {
                            c.to_ints().is_some_and(|t| t.iter().any(|&t| t != 0))
                        }
                        Some(Value::Tensor(_)) => return Err(self.not_known(n, 2)),
                        None => false,
                    };
                    if training {
                        let ratio = match self.floats(n, 1)? {
                            Some(r) => r.first().copied().unwrap_or(0.5),
                            None => 0.5,
                        };
                        if ratio != 0.0 {
                            return Err(
                                "Dropout in training mode (a random mask) is not supported".into(),
                            );
                        }
                    }
                }
                let mut outs = vec![v.clone()];
                if let Some(mask) = n.output.get(1).filter(|m| !m.is_empty()) {
                    // Dropout's mask: all true at inference.
                    let dims: Vec<String> =
                        self.ty(&v)?.shape.0.iter().map(|d| d.to_string()).collect();
                    outs.push(self.emit(
                        format!("broadcast_to(true, [{}])", dims.join(", ")),
                        mask,
                        n,
                        outputs,
                    )?);
                }
                return Ok(outs);
            }
            "Not" => format!("!{}", x(self, 0)?),
            // Range is folded (its length is a shape): inputs computed in
            // the graph must be given values to import.
            "Range" => {
                let k = (0..3)
                    .find(|&k| matches!(self.input(n, k), Ok(Some(Value::Tensor(_)))))
                    .unwrap_or(0);
                return Err(self.not_known(n, k));
            }
            "Add" | "Sub" | "Mul" | "Div" | "Equal" | "Less" | "Greater" | "LessOrEqual"
            | "GreaterOrEqual" => {
                let sym = match op {
                    "Add" => "+",
                    "Sub" => "-",
                    "Mul" => "*",
                    "Div" => "/",
                    "Equal" => "==",
                    "Less" => "<",
                    "Greater" => ">",
                    "LessOrEqual" => "<=",
                    _ => ">=",
                };
                let (a, b) = (x(self, 0)?, x(self, 1)?);
                if op == "Div" && !self.ty(&self.need(n, 0)?)?.dtype.is_float() {
                    // ONNX integer division truncates; tfg's floors.
                    format!(
                        "where(logical_and({a} % {b} != 0, ({a} < 0) != ({b} < 0)), {a} / {b} + 1, {a} / {b})"
                    )
                } else {
                    format!("({a} {sym} {b})")
                }
            }
            "And" => format!("logical_and({}, {})", x(self, 0)?, x(self, 1)?),
            "Or" => format!("logical_or({}, {})", x(self, 0)?, x(self, 1)?),
            "Xor" => format!("({} != {})", x(self, 0)?, x(self, 1)?),
            "Pow" => {
                let (a, b) = (x(self, 0)?, x(self, 1)?);
                let (ta, tb) = (self.ty(&self.need(n, 0)?)?, self.ty(&self.need(n, 1)?)?);
                if ta.dtype == tb.dtype {
                    format!("pow({a}, {b})")
                } else {
                    format!("pow({a}, cast({b}, {}))", ta.dtype)
                }
            }
            "Mod" => {
                let (a, b) = (x(self, 0)?, x(self, 1)?);
                let float = self.ty(&self.need(n, 0)?)?.dtype.is_float();
                match (attr_i(n, "fmod", 0) == 1, float) {
                    // C's fmod: the remainder takes the dividend's sign.
                    (true, true) => {
                        format!("({a} - {b} * (sign({a} / {b}) * floor(abs({a} / {b}))))")
                    }
                    // On integers, from the floor remainder (the divisor's
                    // sign): one `b` back where the signs of `a` and it differ.
                    (true, false) => format!(
                        "where(sign({a} % {b}) * sign({a}) < 0, {a} % {b} - {b}, {a} % {b})"
                    ),
                    (false, _) => format!("({a} % {b})"),
                }
            }
            "Max" | "Min" | "Sum" | "Mean" => {
                let mut acc = x(self, 0)?;
                for k in 1..n.input.len() {
                    let b = x(self, k)?;
                    acc = match op {
                        "Max" => format!("maximum({acc}, {b})"),
                        "Min" => format!("minimum({acc}, {b})"),
                        _ => format!("({acc} + {b})"),
                    };
                }
                if op == "Mean" {
                    format!("({acc} / {})", float(n.input.len() as f64))
                } else {
                    acc
                }
            }
            "Where" => format!("where({}, {}, {})", x(self, 0)?, x(self, 1)?, x(self, 2)?),
            "Elu" => {
                let a = x(self, 0)?;
                let alpha = attr_f(n, "alpha", 1.0);
                format!(
                    "where({a} > 0, {a}, {} * expm1(minimum({a}, 0)))",
                    float(alpha)
                )
            }
            "Selu" => {
                let a = x(self, 0)?;
                let alpha = attr_f(n, "alpha", 1.6732632423543772);
                let gamma = attr_f(n, "gamma", 1.0507009873554805);
                format!(
                    "{} * where({a} > 0, {a}, {} * expm1(minimum({a}, 0)))",
                    float(gamma),
                    float(alpha)
                )
            }
            "LeakyRelu" => format!(
                "leaky_relu({}, alpha = {})",
                x(self, 0)?,
                float(attr_f(n, "alpha", 0.01))
            ),
            "PRelu" => {
                let (a, s) = (x(self, 0)?, x(self, 1)?);
                format!("where({a} < 0, {s} * {a}, {a})")
            }
            "Celu" => {
                let a = x(self, 0)?;
                let alpha = float(attr_f(n, "alpha", 1.0));
                format!("where({a} > 0, {a}, {alpha} * expm1(minimum({a}, 0) / {alpha}))")
            }
            "ThresholdedRelu" => {
                let a = x(self, 0)?;
                format!("where({a} > {}, {a}, 0)", float(attr_f(n, "alpha", 1.0)))
            }
            "Shrink" => {
                let a = x(self, 0)?;
                let (bias, lambd) = (attr_f(n, "bias", 0.0), attr_f(n, "lambd", 0.5));
                format!(
                    "where({a} < {}, {a} + {b}, where({a} > {}, {a} - {b}, 0))",
                    float(-lambd),
                    float(lambd),
                    b = float(bias)
                )
            }
            "Atan" => {
                let a = x(self, 0)?;
                self.atan(&a, &out)?
            }
            // asin(x) = atan(x / sqrt(1 - x²)), and acos(x) = 2 atan(sqrt((1
            // - x) / (1 + x))), which does not cancel near 1 as π/2 - asin
            // would.
            "Asin" => {
                let a = x(self, 0)?;
                let q = self.bind(
                    format!("{a} / sqrt((1 - {a}) * (1 + {a}))"),
                    &format!("{out}_tan"),
                )?;
                self.atan(&q, &out)?
            }
            "Acos" => {
                let a = x(self, 0)?;
                let q = self.bind(
                    format!("sqrt((1 - {a}) / (1 + {a}))"),
                    &format!("{out}_tan_half"),
                )?;
                format!("2 * {}", self.atan(&q, &out)?)
            }
            "Swish" => {
                let a = x(self, 0)?;
                format!("{a} * sigmoid({} * {a})", float(attr_f(n, "alpha", 1.0)))
            }
            "HardSigmoid" => format!(
                "clip({} * {} + {}, 0, 1)",
                x(self, 0)?,
                float(attr_f(n, "alpha", 0.2)),
                float(attr_f(n, "beta", 0.5))
            ),
            "Gelu" => {
                let approx = attr_s(n, "approximate").unwrap_or_default() == "tanh";
                format!("gelu({}, approximate = {approx})", x(self, 0)?)
            }
            "Clip" => {
                let a = x(self, 0)?;
                let (lo, hi) = if self.opset < 11 {
                    (
                        attr(n, "min").and_then(|v| v.f).map(|f| float(f as f64)),
                        attr(n, "max").and_then(|v| v.f).map(|f| float(f as f64)),
                    )
                } else {
                    let lo = match self.input(n, 1)? {
                        Some(v) => Some(self.operand(&v)?),
                        None => None,
                    };
                    let hi = match self.input(n, 2)? {
                        Some(v) => Some(self.operand(&v)?),
                        None => None,
                    };
                    (lo, hi)
                };
                let mut e = a;
                if let Some(lo) = lo {
                    e = format!("maximum({e}, {lo})");
                }
                if let Some(hi) = hi {
                    e = format!("minimum({e}, {hi})");
                }
                e
            }
            "Cast" => {
                let to = dtype_of(attr_i(n, "to", 1) as i32)?;
                format!("cast({}, {to})", x(self, 0)?)
            }
            "MatMul" => format!("({} @ {})", x(self, 0)?, x(self, 1)?),
            "Gemm" => {
                let (mut a, mut b) = (x(self, 0)?, x(self, 1)?);
                if attr_i(n, "transA", 0) == 1 {
                    a = format!("transpose({a})");
                }
                if attr_i(n, "transB", 0) == 1 {
                    b = format!("transpose({b})");
                }
                let alpha = attr_f(n, "alpha", 1.0);
                let beta = attr_f(n, "beta", 1.0);
                let mut e = format!("({a} @ {b})");
                if alpha != 1.0 {
                    e = format!("({} * {e})", float(alpha));
                }
                if let Some(c) = self.input(n, 2)? {
                    let c = self.operand(&c)?;
                    e = if beta == 1.0 {
                        format!("({e} + {c})")
                    } else {
                        format!("({e} + {} * {c})", float(beta))
                    };
                }
                e
            }
            "Transpose" => {
                let a = x(self, 0)?;
                match attr_ints(n, "perm") {
                    Some(p) => format!("transpose({a}, perm = {})", list(&p)),
                    None => format!("transpose({a})"),
                }
            }
            "Softmax" | "LogSoftmax" => {
                let v = self.need(n, 0)?;
                let rank = self.rank(&v)? as i64;
                let a = self.operand(&v)?;
                let f = if op == "Softmax" {
                    "softmax"
                } else {
                    "log_softmax"
                };
                let default = if self.opset < 13 { 1 } else { -1 };
                let axis = attr_i(n, "axis", default);
                let axis = axis_in(axis, rank, false)? as i64;
                if self.opset < 13 && axis != rank - 1 {
                    // Before opset 13: over the flattened trailing axes.
                    let t = self.ty(&v)?;
                    let dims: Vec<String> = t.shape.0[..axis as usize]
                        .iter()
                        .map(|d| d.to_string())
                        .collect();
                    let shape: Vec<String> = t.shape.0.iter().map(|d| d.to_string()).collect();
                    format!(
                        "reshape({f}(reshape({a}, [{}, -1]), axis = -1), [{}])",
                        dims.join(", "),
                        shape.join(", ")
                    )
                } else {
                    format!("{f}({a}, axis = {axis})")
                }
            }
            "Resize" | "Upsample" => self.resize(n, op, &out)?,
            "GridSample" => self.grid_sample(n, &out)?,
            "GatherElements" => {
                // One-hot selection along the axis moved last: O(indices ×
                // axis size), without a gather in the language.
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let iv = self.need(n, 1)?;
                let it = self.ty(&iv)?;
                let rank = t.shape.rank();
                if it.shape.rank() != rank || t.dtype == DType::Bool {
                    return Err("GatherElements needs numeric data and indices of its rank".into());
                }
                let axis = axis_in(attr_i(n, "axis", 0), rank as i64, false)?;
                let size = t.shape.0[axis]
                    .known()
                    .ok_or("GatherElements needs the size of its axis known")?;
                let mut data = self.operand(&v)?;
                let mut cut = vec![":".to_string(); rank];
                for k in (0..rank).filter(|&k| k != axis) {
                    if it.shape.0[k] != t.shape.0[k] {
                        match it.shape.0[k].known() {
                            Some(i) if t.shape.0[k].known().is_some_and(|d| i <= d) => {
                                cut[k] = format!(":{i}")
                            }
                            _ => return Err("GatherElements indices larger than the data".into()),
                        }
                    }
                }
                if cut.iter().any(|c| c != ":") {
                    data = format!("{data}[{}]", cut.join(", "));
                }
                let perm: Vec<usize> = (0..rank).filter(|&k| k != axis).chain([axis]).collect();
                let idx = self.operand(&iv)?;
                let dt = t.dtype;
                format!(
                    "sum(where(one_hot(where({idx} < 0, {idx} + {size}, {idx}), {size}) > 0.5, \
                     expand_dims(transpose({data}, perm = {}), {axis}), cast(0, {dt})), axis = -1)",
                    list(&perm)
                )
            }
            "NegativeLogLikelihoodLoss" | "SoftmaxCrossEntropyLoss" => {
                return self.nll(n, op, &out, outputs);
            }
            "Attention" => return self.attention(n, &out, outputs),
            "CastLike" => {
                let to = self.ty(&self.need(n, 1)?)?.dtype;
                format!("cast({}, {to})", x(self, 0)?)
            }
            "IsNaN" => {
                let a = x(self, 0)?;
                format!("({a} != {a})")
            }
            "IsInf" => {
                let a = x(self, 0)?;
                match (
                    attr_i(n, "detect_positive", 1),
                    attr_i(n, "detect_negative", 1),
                ) {
                    (1, 1) => format!("(abs({a}) == 1.0 / 0.0)"),
                    (1, _) => format!("({a} == 1.0 / 0.0)"),
                    (_, 1) => format!("({a} == -1.0 / 0.0)"),
                    // Neither sign: false everywhere, in `a`'s shape.
                    _ => format!("logical_and({a} != {a}, {a} == {a})"),
                }
            }
            "Round" => {
                // Halves to even: up from above a half, or from a half
                // where the floor is odd.
                let a = x(self, 0)?;
                let (f, d) = (format!("floor({a})"), format!("({a} - floor({a}))"));
                format!(
                    "where(logical_or({d} > 0.5, logical_and({d} == 0.5, {f} % 2.0 == 1.0)), {f} + 1.0, {f})"
                )
            }
            "LayerNormalization" | "RMSNormalization" => {
                let v = self.need(n, 0)?;
                let rank = self.rank(&v)?;
                let a = self.operand(&v)?;
                let axis = axis_in(attr_i(n, "axis", -1), rank as i64, false)?;
                let axes = list(&(axis..rank).collect::<Vec<_>>());
                let eps = float(attr_f(n, "epsilon", 1e-5));
                let scale = x(self, 1)?;
                if op == "RMSNormalization" {
                    format!(
                        "({a} * rsqrt(mean(square({a}), axis = {axes}, keepdims = true) + {eps}) * {scale})"
                    )
                } else {
                    // Mean and InvStdDev are outputs too (kept axes of 1).
                    let named = |k: usize, what: &str| {
                        n.output
                            .get(k)
                            .filter(|o| !o.is_empty())
                            .cloned()
                            .unwrap_or_else(|| format!("{out}_{what}"))
                    };
                    let mean = self.emit(
                        format!("mean({a}, axis = {axes}, keepdims = true)"),
                        &named(1, "mean"),
                        n,
                        outputs,
                    )?;
                    let m = self.operand(&mean)?;
                    let inv = self.emit(
                        format!(
                            "rsqrt(mean(square({a} - {m}), axis = {axes}, keepdims = true) + {eps})"
                        ),
                        &named(2, "inv_std"),
                        n,
                        outputs,
                    )?;
                    let i = self.operand(&inv)?;
                    let mut y = format!("({a} - {m}) * {i} * {scale}");
                    if let Some(b) = self.input(n, 2)? {
                        y = format!("({y} + {})", self.operand(&b)?);
                    }
                    let y = self.emit(y, &out, n, outputs)?;
                    return Ok(vec![y, mean, inv]);
                }
            }
            // Normalized over some axes: (x - mean) / sqrt(variance + eps),
            // the variance from the centred values (no cancellation).
            "InstanceNormalization" | "MeanVarianceNormalization" | "GroupNormalization" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let rank = t.shape.rank();
                let mut a = self.operand(&v)?;
                let axes: Vec<usize> = match op {
                    "MeanVarianceNormalization" => attr_ints(n, "axes")
                        .unwrap_or_else(|| vec![0, 2, 3])
                        .into_iter()
                        .map(|i| axis_in(i, rank as i64, false))
                        .collect::<Result<_>>()?,
                    _ if rank < 3 => {
                        return Err(format!("{op} needs a rank of at least 3, got {t}"))
                    }
                    "GroupNormalization" => vec![2],
                    _ => (2..rank).collect(),
                };
                // Groups: [N, C, ...] as [N, G, C / G · ...], normalized
                // along the last axis, then back.
                let groups = if op == "GroupNormalization" {
                    let spatial: Option<Vec<u64>> = t.shape.0[1..].iter().map(Dim::known).collect();
                    let g = attr_i(n, "num_groups", 0);
                    let (Some(dims), Ok(g @ 1..)) = (spatial.as_ref(), u64::try_from(g)) else {
                        return Err(format!(
                            "GroupNormalization needs a positive num_groups and the dims past the first known, got {g} and {t}"
                        ));
                    };
                    if dims[0] % g != 0 {
                        return Err(format!(
                            "num_groups = {g} does not divide {} channels",
                            dims[0]
                        ));
                    }
                    let rest: u64 = dims.iter().product::<u64>() / g;
                    a = self.bind(
                        format!("reshape({a}, [-1, {g}, {rest}])"),
                        &format!("{out}_groups"),
                    )?;
                    Some((g, dims.clone()))
                } else {
                    None
                };
                let axes = list(&axes);
                let eps = match op {
                    "MeanVarianceNormalization" => None,
                    _ => Some(float(attr_f(n, "epsilon", 1e-5))),
                };
                let m = self.bind(
                    format!("mean({a}, axis = {axes}, keepdims = true)"),
                    &format!("{out}_mean"),
                )?;
                let d = self.bind(format!("{a} - {m}"), &format!("{out}_centred"))?;
                let var = format!("mean(square({d}), axis = {axes}, keepdims = true)");
                let mut y = match &eps {
                    Some(eps) => format!("{d} * rsqrt({var} + {eps})"),
                    // ONNX's definition adds 1e-9 to the deviation.
                    None => format!("{d} / (sqrt({var}) + 1e-9)"),
                };
                if let Some((_, dims)) = &groups {
                    y = format!(
                        "reshape({y}, [-1, {}])",
                        list(dims).trim_matches(['[', ']'])
                    );
                }
                if eps.is_some() {
                    // Scale and bias, one per channel ([C]), or per group
                    // ([G], GroupNormalization before opset 21).
                    let ones = ", 1".repeat(rank - 2);
                    let per_channel = |s: &mut Self, k: usize| -> Result<String> {
                        let p = x(s, k)?;
                        Ok(match &groups {
                            Some((g, dims)) if s.opset < 21 => format!(
                                "reshape(broadcast_to(reshape({p}, [{g}, 1]), [{g}, {}]), [-1{ones}])",
                                dims[0] / g
                            ),
                            _ => format!("reshape({p}, [-1{ones}])"),
                        })
                    };
                    let (scale, bias) = (per_channel(self, 1)?, per_channel(self, 2)?);
                    y = format!("{y} * {scale} + {bias}");
                }
                y
            }
            "LpNormalization" => {
                let v = self.need(n, 0)?;
                let rank = self.rank(&v)? as i64;
                let a = self.operand(&v)?;
                let axis = axis_in(attr_i(n, "axis", -1), rank, false)?;
                let norm = match attr_i(n, "p", 2) {
                    1 => format!("sum(abs({a}), axis = {axis}, keepdims = true)"),
                    2 => format!("sqrt(sum(square({a}), axis = {axis}, keepdims = true))"),
                    p => return Err(format!("p = {p} is not supported (1 or 2)")),
                };
                // A zero norm gives zeros, as ONNX's reference does.
                format!("where({norm} == 0.0, 0.0, {a} / {norm})")
            }
            "OneHot" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let mut i = self.operand(&v)?;
                let depth = self
                    .floats(n, 1)?
                    .and_then(|d| d.first().copied())
                    .ok_or("OneHot needs its depth known")?;
                if depth.is_nan() || depth < 1.0 {
                    return Err("OneHot needs a depth of at least 1".into());
                }
                let depth = depth as u64;
                written(&self.written, depth, "a OneHot depth")?;
                let values = self.need(n, 2)?;
                let values = self.operand(&values)?;
                let rank = t.shape.rank() + 1;
                let axis = axis_in(attr_i(n, "axis", -1), rank as i64, false)?;
                if t.dtype != DType::I64 {
                    i = format!("cast({i}, i64)");
                }
                // A negative index counts from the end; one out of range
                // matches no position and gives all `off`.
                let i = self.bind(format!("expand_dims({i}, {axis})"), &format!("{out}_index"))?;
                let mut at = vec!["1".to_string(); rank];
                at[axis] = depth.to_string();
                let iota = format!(
                    "cast(reshape({}, [{}]), i64)",
                    list(&(0..depth).collect::<Vec<_>>()),
                    at.join(", ")
                );
                format!(
                    "where(where({i} < 0, {i} + {depth}, {i}) == {iota}, {values}[1], {values}[0])"
                )
            }
            "Hardmax" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let rank = t.shape.rank() as i64;
                let a = self.operand(&v)?;
                let default = if self.opset < 13 { 1 } else { -1 };
                let axis = axis_in(attr_i(n, "axis", default), rank, false)?;
                // Before opset 13 over the flattened trailing axes.
                let flat = self.opset < 13 && axis as i64 != rank - 1;
                let depth = if flat {
                    t.shape.0[axis..]
                        .iter()
                        .map(Dim::known)
                        .product::<Option<u64>>()
                } else {
                    t.shape.0[axis].known()
                }
                .ok_or("Hardmax needs the size of its axis known")?;
                written(&self.written, depth, "a Hardmax axis")?;
                let iota = list(&(0..depth).collect::<Vec<_>>());
                let hard = |x: &str, axis: usize, rank: usize| {
                    let mut at = vec!["1".to_string(); rank];
                    at[axis] = depth.to_string();
                    format!(
                        "cast(expand_dims(argmax({x}, {axis}), {axis}) == reshape({iota}, [{}]), {})",
                        at.join(", "),
                        t.dtype
                    )
                };
                if flat {
                    let lead: Vec<String> =
                        t.shape.0[..axis].iter().map(|d| d.to_string()).collect();
                    let shape: Vec<String> = t.shape.0.iter().map(|d| d.to_string()).collect();
                    let flat = format!("reshape({a}, [{}, -1])", lead.join(", "));
                    format!(
                        "reshape({}, [{}])",
                        hard(&flat, axis, axis + 1),
                        shape.join(", ")
                    )
                } else {
                    hard(&a, axis, rank as usize)
                }
            }
            "Trilu" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let a = self.operand(&v)?;
                let rank = t.shape.rank();
                let k = match self.ints(n, 1)? {
                    Some(k) => k.first().copied().unwrap_or(0),
                    None => 0,
                };
                let known = |i: usize| t.shape.0.get(i).and_then(Dim::known);
                let (Some(rows), Some(cols)) =
                    (known(rank.wrapping_sub(2)), known(rank.wrapping_sub(1)))
                else {
                    return Err("Trilu needs a matrix of known size".into());
                };
                if rows == 0 || cols == 0 {
                    return Ok(vec![v]);
                }
                let offsets = diagonal_offsets(&self.written, rows, cols, "a Trilu matrix")?;
                // Element (i, j) is kept where j - i is at least (upper) or at
                // most (lower) k.
                let keep = if attr_i(n, "upper", 1) == 1 {
                    ">="
                } else {
                    "<="
                };
                format!("where({offsets} {keep} {k}, {a}, cast(0, {}))", t.dtype)
            }
            "SpaceToDepth" | "DepthToSpace" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let a = self.operand(&v)?;
                let b = u64::try_from(attr_i(n, "blocksize", 0))
                    .ok()
                    .filter(|&b| b > 0)
                    .ok_or("blocksize must be positive")?;
                let dims: Option<Vec<u64>> = t
                    .shape
                    .0
                    .get(1..4)
                    .and_then(|d| d.iter().map(Dim::known).collect());
                let Some([c, hh, ww]) = dims.as_deref().map(|d| [d[0], d[1], d[2]]) else {
                    return Err(format!("{op} needs an NCHW input with known C, H and W"));
                };
                if op == "SpaceToDepth" {
                    if hh % b != 0 || ww % b != 0 {
                        return Err("blocksize must divide H and W".into());
                    }
                    let (h, w) = (hh / b, ww / b);
                    // DCR (the default) puts the block offsets before the
                    // channel in the new channel index; CRD after it.
                    let perm = if attr_s(n, "mode").as_deref() == Some("CRD") {
                        "[0, 1, 3, 5, 2, 4]"
                    } else {
                        "[0, 3, 5, 1, 2, 4]"
                    };
                    format!(
                        "reshape(transpose(reshape({a}, [-1, {c}, {h}, {b}, {w}, {b}]), perm = {perm}), [-1, {}, {h}, {w}])",
                        c * b * b
                    )
                } else {
                    if c % (b * b) != 0 {
                        return Err("blocksize² must divide C".into());
                    }
                    let d = c / (b * b);
                    let (split, perm) = if attr_s(n, "mode").as_deref() == Some("CRD") {
                        (
                            format!("[-1, {d}, {b}, {b}, {hh}, {ww}]"),
                            "[0, 1, 4, 2, 5, 3]",
                        )
                    } else {
                        (
                            format!("[-1, {b}, {b}, {d}, {hh}, {ww}]"),
                            "[0, 3, 4, 1, 5, 2]",
                        )
                    };
                    format!(
                        "reshape(transpose(reshape({a}, {split}), perm = {perm}), [-1, {d}, {}, {}])",
                        hh * b,
                        ww * b
                    )
                }
            }
            "Concat" => {
                let mut parts = Vec::new();
                for k in 0..n.input.len() {
                    if let Some(v) = self.input(n, k)? {
                        parts.push(self.operand(&v)?);
                    }
                }
                format!("concat([{}], {})", parts.join(", "), attr_i(n, "axis", 0))
            }
            "Reshape" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let a = self.operand(&v)?;
                let target = self.dims_input(n, 1)?;
                let allowzero = attr_i(n, "allowzero", 0) == 1;
                let mut dims = Vec::new();
                for (k, d) in target.iter().enumerate() {
                    dims.push(match d {
                        Elem::I(0) if !allowzero => t
                            .shape
                            .0
                            .get(k)
                            .map(|d| d.to_string())
                            .ok_or("a 0 in the target shape past the input's rank")?,
                        Elem::I(i) => i.to_string(),
                        Elem::Sym(s) => s.clone(),
                        _ => return Err("the target shape must be integers".into()),
                    });
                }
                format!("reshape({a}, [{}])", dims.join(", "))
            }
            "Flatten" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let a = self.operand(&v)?;
                let rank = t.shape.rank() as i64;
                let axis = axis_in(attr_i(n, "axis", 1), rank, true)?;
                let known = |ds: &[Dim]| -> Option<u64> { ds.iter().map(Dim::known).product() };
                let lead = match (known(&t.shape.0[..axis]), &t.shape.0[..axis]) {
                    (Some(k), _) => k.to_string(),
                    (None, [d]) => d.to_string(),
                    _ => "-1".into(),
                };
                let trail = match known(&t.shape.0[axis..]) {
                    Some(k) => k.to_string(),
                    None if lead != "-1" => "-1".into(),
                    None => return Err("cannot flatten symbolic dims on both sides".into()),
                };
                format!("reshape({a}, [{lead}, {trail}])")
            }
            "Squeeze" | "Unsqueeze" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let a = self.operand(&v)?;
                let axes = match attr_ints(n, "axes") {
                    Some(ax) => Some(ax),
                    None => self.ints(n, 1)?,
                };
                let mut dims: Vec<String> = t.shape.0.iter().map(|d| d.to_string()).collect();
                if op == "Squeeze" {
                    let rank = dims.len() as i64;
                    let axes: Vec<usize> = match axes {
                        Some(ax) => ax.iter().map(|&x| wrap(x, rank) as usize).collect(),
                        None => (0..dims.len())
                            .filter(|&k| t.shape.0[k] == Dim::Known(1))
                            .collect(),
                    };
                    dims = dims
                        .into_iter()
                        .enumerate()
                        .filter(|(k, _)| !axes.contains(k))
                        .map(|(_, d)| d)
                        .collect();
                } else {
                    let axes = axes.ok_or("Unsqueeze needs axes")?;
                    let rank = (dims.len() + axes.len()) as i64;
                    let mut axes: Vec<usize> =
                        axes.iter().map(|&x| wrap(x, rank) as usize).collect();
                    axes.sort_unstable();
                    for ax in axes {
                        if ax > dims.len() {
                            return Err("an axis out of range".into());
                        }
                        dims.insert(ax, "1".into());
                    }
                }
                format!("reshape({a}, [{}])", dims.join(", "))
            }
            "Expand" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let a = self.operand(&v)?;
                let target = self.dims_input(n, 1)?;
                // numpy broadcasting of the two shapes.
                let have: Vec<String> = t.shape.0.iter().map(|d| d.to_string()).collect();
                let want: Vec<String> = target
                    .iter()
                    .map(|e| match e {
                        Elem::I(i) => i.to_string(),
                        Elem::Sym(s) => s.clone(),
                        _ => "1".into(),
                    })
                    .collect();
                let rank = have.len().max(want.len());
                let pad = |v: &[String]| -> Vec<String> {
                    let mut p = vec!["1".to_string(); rank - v.len()];
                    p.extend(v.iter().cloned());
                    p
                };
                let (h, w) = (pad(&have), pad(&want));
                let dims: Vec<String> = h
                    .iter()
                    .zip(&w)
                    .map(|(a, b)| if a == "1" { b.clone() } else { a.clone() })
                    .collect();
                format!("broadcast_to({a}, [{}])", dims.join(", "))
            }
            "Tile" => {
                let a = x(self, 0)?;
                let reps = self.ints(n, 1)?.ok_or("Tile needs repeats")?;
                format!("tile({a}, {})", list(&reps))
            }
            "Gather" => {
                let v = self.need(n, 0)?;
                let rank = self.rank(&v)? as i64;
                let t = self.ty(&v)?;
                let a = self.operand(&v)?;
                let axis = attr_i(n, "axis", 0);
                let axis = wrap(axis, rank);
                let size = t.shape.0.get(axis as usize).and_then(Dim::known);
                let idx = match (self.need(n, 1)?, size) {
                    (Value::Const(c), Some(size)) => {
                        // ONNX wraps negative indices once.
                        let ints = c.to_ints().ok_or("indices must be integers")?;
                        let fixed: Vec<Elem> = ints
                            .iter()
                            .map(|&i| Elem::I(wrap(i, size as i64)))
                            .collect();
                        let c = Constant { data: fixed, ..c };
                        self.operand(&Value::Const(c))?
                    }
                    (i, Some(size)) => {
                        let i = self.operand(&i)?;
                        format!("where({i} < 0, {i} + {size}, {i})")
                    }
                    (i, None) => self.operand(&i)?,
                };
                format!("take({a}, {idx}, axis = {axis})")
            }
            "Slice" => {
                let v = self.need(n, 0)?;
                let rank = self.rank(&v)?;
                let a = self.operand(&v)?;
                let (starts, ends, axes, steps) = if self.opset < 10 {
                    (
                        attr_ints(n, "starts").ok_or("Slice needs starts")?,
                        attr_ints(n, "ends").ok_or("Slice needs ends")?,
                        attr_ints(n, "axes"),
                        None,
                    )
                } else {
                    (
                        self.ints(n, 1)?.ok_or("Slice needs starts")?,
                        self.ints(n, 2)?.ok_or("Slice needs ends")?,
                        self.ints(n, 3)?,
                        self.ints(n, 4)?,
                    )
                };
                let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
                // One start and one end per axis; they are indexed by the axes.
                if starts.len() != axes.len() || ends.len() != axes.len() {
                    return Err(format!(
                        "Slice has {} starts and {} ends for {} axes",
                        starts.len(),
                        ends.len(),
                        axes.len()
                    ));
                }
                let mut items = vec![":".to_string(); rank];
                for (k, &ax) in axes.iter().enumerate() {
                    let ax = wrap(ax, rank as i64) as usize;
                    let step = steps.as_ref().and_then(|s| s.get(k).copied()).unwrap_or(1);
                    let clamp = |x: i64| x.clamp(-(1 << 40), 1 << 40);
                    let (s, e) = (clamp(starts[k]), clamp(ends[k]));
                    let slot = items.get_mut(ax).ok_or("an axis out of range")?;
                    *slot = format!("{s}:{e}:{step}");
                }
                format!("{a}[{}]", items.join(", "))
            }
            "Split" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let a = self.operand(&v)?;
                let rank = t.shape.rank() as i64;
                let axis = axis_in(attr_i(n, "axis", 0), rank, false)?;
                let size = t
                    .shape
                    .0
                    .get(axis)
                    .and_then(Dim::known)
                    .ok_or("Split of a symbolic axis")?;
                let parts = match attr_ints(n, "split") {
                    Some(s) => s,
                    None => match self.ints(n, 1)? {
                        Some(s) => s,
                        None => {
                            // At least 1: a node from a file may have no outputs.
                            let k = (n.output.len() as i64).max(1);
                            let each = (size as i64 + k - 1) / k;
                            (0..k)
                                .map(|j| each.min(size as i64 - j * each).max(0))
                                .collect()
                        }
                    },
                };
                let mut outs = Vec::new();
                let mut at: i64 = 0;
                for (j, name) in n.output.iter().enumerate() {
                    let len = parts
                        .get(j)
                        .copied()
                        .ok_or("fewer split sizes than outputs")?;
                    // Sizes from a file: each part must lie within the axis.
                    let end = at
                        .checked_add(len)
                        .filter(|&end| len >= 0 && end <= size as i64)
                        .ok_or("split sizes outside the axis's size")?;
                    let mut items = vec![":".to_string(); rank as usize];
                    items[axis] = format!("{at}:{end}");
                    at = end;
                    outs.push(self.emit(format!("{a}[{}]", items.join(", ")), name, n, outputs)?);
                }
                return Ok(outs);
            }
            "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd"
            | "ReduceSumSquare" | "ReduceL1" | "ReduceL2" | "ReduceLogSum" | "ReduceLogSumExp" => {
                let v = self.need(n, 0)?;
                let rank = self.rank(&v)?;
                let a = self.operand(&v)?;
                let axes_as_input = (op == "ReduceSum" && self.opset >= 13) || self.opset >= 18;
                let axes = if axes_as_input {
                    self.ints(n, 1)?
                } else {
                    attr_ints(n, "axes")
                };
                let keep = attr_i(n, "keepdims", 1) == 1;
                let axes = match axes {
                    Some(ax) if !ax.is_empty() => ax,
                    _ if attr_i(n, "noop_with_empty_axes", 0) == 1 => {
                        return Ok(vec![self.need(n, 0)?]);
                    }
                    _ => (0..rank as i64).collect(),
                };
                let t = self.ty(&v)?;
                let extreme = matches!(op, "ReduceMax" | "ReduceMin" | "ReduceLogSumExp");
                let reduced: Vec<usize> = axes
                    .iter()
                    .map(|&x| wrap(x, rank as i64) as usize)
                    .collect();
                let empty = reduced
                    .iter()
                    .any(|&ax| t.shape.0.get(ax) == Some(&Dim::Known(0)));
                if extreme && empty && (t.dtype.is_float() || t.dtype == DType::Bool) {
                    // ONNX defines the max of nothing as the identity (-inf,
                    // or false); tfg's `max` refuses it, as numpy's does.
                    let identity = match (op == "ReduceMin", t.dtype == DType::Bool) {
                        (true, true) => "true",
                        (false, true) => "false",
                        (true, false) => "1.0 / 0.0",
                        (false, false) => "-1.0 / 0.0",
                    };
                    let dims: Vec<String> = (0..rank)
                        .filter_map(|k| match (reduced.contains(&k), keep) {
                            (true, true) => Some("1".to_string()),
                            (true, false) => None,
                            (false, _) => Some(t.shape.0[k].to_string()),
                        })
                        .collect();
                    let value = format!("cast({identity}, {})", t.dtype);
                    match dims.is_empty() {
                        true => value,
                        false => format!("broadcast_to({value}, {})", list(&dims)),
                    }
                } else {
                    let f = match op {
                        "ReduceSum" | "ReduceSumSquare" | "ReduceL1" | "ReduceL2"
                        | "ReduceLogSum" => "sum",
                        "ReduceMean" => "mean",
                        "ReduceMax" => "max",
                        "ReduceMin" => "min",
                        "ReduceProd" => "prod",
                        _ => "logsumexp",
                    };
                    // A max or min of booleans is an any or all: on 0s and 1s.
                    let boolean = t.dtype == DType::Bool && matches!(f, "max" | "min");
                    let inner = match op {
                        "ReduceSumSquare" | "ReduceL2" => format!("square({a})"),
                        "ReduceL1" => format!("abs({a})"),
                        _ if boolean => format!("cast({a}, i32)"),
                        _ => a,
                    };
                    let e = format!("{f}({inner}, axis = {}, keepdims = {keep})", list(&axes));
                    match op {
                        "ReduceL2" => format!("sqrt({e})"),
                        "ReduceLogSum" => format!("log({e})"),
                        _ if boolean => format!("cast({e}, bool)"),
                        _ => e,
                    }
                }
            }
            "ArgMax" | "ArgMin" => {
                let a = x(self, 0)?;
                let axis = attr_i(n, "axis", 0);
                let f = if op == "ArgMax" { "argmax" } else { "argmin" };
                let e = if attr_i(n, "select_last_index", 0) == 1 {
                    // The last extreme is the first of the reversed axis.
                    let t = self.ty(&self.need(n, 0)?)?;
                    let rank = t.shape.rank() as i64;
                    let at = if axis < 0 { axis + rank } else { axis };
                    let size = usize::try_from(at)
                        .ok()
                        .and_then(|i| t.shape.0.get(i))
                        .and_then(|d| d.known())
                        .ok_or("select_last_index = 1 needs the axis's size known")?;
                    let index = [vec![":"; at as usize], vec!["::-1"]].concat().join(", ");
                    format!("cast({} - {f}({a}[{index}], {axis}), i64)", size - 1)
                } else {
                    format!("cast({f}({a}, {axis}), i64)")
                };
                if attr_i(n, "keepdims", 1) == 1 {
                    format!("expand_dims({e}, {axis})")
                } else {
                    e
                }
            }
            "CumSum" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let rank = t.shape.rank();
                let mut a = self.operand(&v)?;
                let axis = self
                    .ints(n, 1)?
                    .and_then(|v| v.first().copied())
                    .ok_or("CumSum needs an axis")?;
                let axis = axis_in(axis, rank as i64, false)?;
                let (exclusive, reverse) =
                    (attr_i(n, "exclusive", 0) == 1, attr_i(n, "reverse", 0) == 1);
                if !exclusive && !reverse {
                    return Ok(vec![self.emit(
                        format!("cumsum({a}, axis = {axis})"),
                        &out,
                        n,
                        outputs,
                    )?]);
                }
                let len = t.shape.0[axis]
                    .known()
                    .ok_or("an exclusive or reverse CumSum needs its axis's size known")?;
                // Reversed: summed from the end, the axis taken backwards
                // before and after. Exclusive: each sum leaves its own
                // element out, the axis shifted by a zero in front.
                let backwards = list(&(0..len).rev().collect::<Vec<_>>());
                if reverse {
                    written(&self.written, len.saturating_mul(2), "a reverse CumSum")?;
                    a = format!("take({a}, {backwards}, axis = {axis})");
                }
                if exclusive {
                    let mut widths = vec!["[0, 0]"; rank];
                    widths[axis] = "[1, 0]";
                    let shifted = self.bind(
                        format!("pad({a}, [{}], value = 0)", widths.join(", ")),
                        &format!("{out}_shifted"),
                    )?;
                    let mut at = vec![":".to_string(); rank];
                    at[axis] = format!("0:{len}");
                    a = format!("{shifted}[{}]", at.join(", "));
                }
                match reverse {
                    true => format!("take(cumsum({a}, axis = {axis}), {backwards}, axis = {axis})"),
                    false => format!("cumsum({a}, axis = {axis})"),
                }
            }
            "BatchNormalization" => {
                let v = self.need(n, 0)?;
                let rank = self.rank(&v)?;
                let a = self.operand(&v)?;
                let eps = attr_f(n, "epsilon", 1e-5);
                let per_channel = |s: &mut Self, k: usize| -> Result<String> {
                    let p = x(s, k)?;
                    let mut shape = vec!["-1".to_string()];
                    shape.extend(std::iter::repeat_n("1".to_string(), rank.saturating_sub(2)));
                    Ok(format!("reshape({p}, [{}])", shape.join(", ")))
                };
                let (scale, bias) = (per_channel(self, 1)?, per_channel(self, 2)?);
                let extra = n.output.iter().skip(1).any(|o| !o.is_empty());
                if attr_i(n, "training_mode", 0) == 0 {
                    if extra {
                        // Before opset 14, asking for the statistics meant
                        // training; later, `training_mode` says so.
                        return Err("BatchNormalization's statistics outputs need training_mode = 1 (opset 14)".into());
                    }
                    let (mean, var) = (per_channel(self, 3)?, per_channel(self, 4)?);
                    format!(
                        "(({a} - {mean}) * ({scale} * rsqrt({var} + {})) + {bias})",
                        float(eps)
                    )
                } else {
                    // Training: normalised by the batch's own statistics
                    // over every axis but the channels', the population
                    // variance; the running ones move towards them.
                    let axes = list(&[0].into_iter().chain(2..rank).collect::<Vec<_>>());
                    let centred = self.bind(
                        format!("{a} - mean({a}, axis = {axes}, keepdims = true)"),
                        &format!("{out}_centred"),
                    )?;
                    let var = self.bind(
                        format!("mean(square({centred}), axis = {axes}, keepdims = true)"),
                        &format!("{out}_var"),
                    )?;
                    let y = format!(
                        "({centred} * ({scale} * rsqrt({var} + {})) + {bias})",
                        float(eps)
                    );
                    let mut outs = vec![self.emit(y, &out, n, outputs)?];
                    let momentum = float(attr_f(n, "momentum", 0.9));
                    let batch = [
                        format!("mean({a}, axis = {axes})"),
                        format!("reshape({var}, [-1])"),
                    ];
                    for (k, stat) in batch.iter().enumerate() {
                        let Some(name) = n.output.get(k + 1).filter(|o| !o.is_empty()) else {
                            // An output not asked for keeps its place.
                            outs.push(outs[0].clone());
                            continue;
                        };
                        let running = x(self, k + 3)?;
                        outs.push(self.emit(
                            format!("{running} * {momentum} + {stat} * (1.0 - {momentum})"),
                            name,
                            n,
                            outputs,
                        )?);
                    }
                    return Ok(outs);
                }
            }
            "RNN" | "GRU" | "LSTM" => return self.recurrent(n, op, outputs),
            "Conv" | "MaxPool" | "AveragePool" | "LpPool" => {
                return self.window(n, op, &out, outputs)
            }
            "ConvTranspose" => return self.conv_transpose(n, &out, outputs),
            "GlobalAveragePool" | "GlobalMaxPool" => {
                let v = self.need(n, 0)?;
                let rank = self.rank(&v)?;
                let a = self.operand(&v)?;
                let axes: Vec<usize> = (2..rank).collect();
                let f = if op == "GlobalAveragePool" {
                    "mean"
                } else {
                    "max"
                };
                format!("{f}({a}, axis = {}, keepdims = true)", list(&axes))
            }
            "LRN" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let a = self.operand(&v)?;
                let size = attr_i(n, "size", 1).max(1) as u64;
                written(&self.written, size, "an LRN window")?;
                let alpha = attr_f(n, "alpha", 1e-4);
                let beta = attr_f(n, "beta", 0.75);
                let bias = attr_f(n, "bias", 1.0);
                let c = t
                    .shape
                    .0
                    .get(1)
                    .and_then(Dim::known)
                    .ok_or("LRN needs known channels")?;
                let (lo, hi) = ((size - 1) / 2, size - 1 - (size - 1) / 2);
                let rank = t.shape.rank();
                let mut pads = vec!["[0, 0]".to_string(); rank];
                pads[1] = format!("[{lo}, {hi}]");
                let sq = self.emit(
                    format!("pad(square({a}), [{}])", pads.join(", ")),
                    &format!("{out}_padded"),
                    n,
                    outputs,
                )?;
                let sq = self.operand(&sq)?;
                let rest = ", ...".to_string();
                let terms: Vec<String> = (0..size)
                    .map(|k| format!("{sq}[:, {k}:{}{rest}]", k + c))
                    .collect();
                format!(
                    "({a} / pow({} + {} * ({}), {}))",
                    float(bias),
                    float(alpha / size as f64),
                    terms.join(" + "),
                    float(beta)
                )
            }
            "Pad" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let rank = t.shape.rank();
                let a = self.operand(&v)?;
                let mode = attr_s(n, "mode").unwrap_or_else(|| "constant".into());
                if !matches!(mode.as_str(), "constant" | "edge" | "reflect" | "wrap") {
                    return Err(format!("Pad mode `{mode}` is not supported"));
                }
                let (pads, value) = if self.opset < 11 {
                    (
                        attr_ints(n, "pads").ok_or("Pad needs pads")?,
                        float(attr_f(n, "value", 0.0)),
                    )
                } else {
                    let pads = self.ints(n, 1)?.ok_or("Pad needs pads")?;
                    let value = match self.input(n, 2)? {
                        // A one-element tensor (as exporters write it) is
                        // the scalar the language's `pad` takes.
                        Some(v) if self.ty(&v)?.shape.rank() > 0 => {
                            format!("reshape({}, [])", self.operand(&v)?)
                        }
                        Some(v) => self.operand(&v)?,
                        None => "0".into(),
                    };
                    (pads, value)
                };
                let axes: Vec<usize> = match self.ints(n, 3)? {
                    Some(ax) => ax
                        .iter()
                        .map(|&x| axis_in(x, rank as i64, false))
                        .collect::<Result<_>>()?,
                    None => (0..rank).collect(),
                };
                if pads.iter().any(|&p| p < 0) {
                    return Err("negative pads are not supported".into());
                }
                let k = axes.len();
                let sides: Vec<(usize, i64, i64)> = axes
                    .iter()
                    .enumerate()
                    .map(|(j, &ax)| {
                        let side = |i: usize| pads.get(i).copied().unwrap_or(0);
                        (ax, side(j), side(j + k))
                    })
                    .collect();
                if mode == "constant" {
                    let mut widths = vec!["[0, 0]".to_string(); rank];
                    for &(ax, b, e) in &sides {
                        widths[ax] = format!("[{b}, {e}]");
                    }
                    format!("pad({a}, [{}], value = {value})", widths.join(", "))
                } else {
                    // The other modes repeat the input's own elements: a
                    // `take` along each padded axis, of indices into it.
                    let mut padded = a;
                    for (ax, b, e) in sides.into_iter().filter(|&(_, b, e)| b + e > 0) {
                        let len = t.shape.0[ax]
                            .known()
                            .ok_or("Pad needs the padded axes' sizes known")?
                            as i64;
                        if len == 0 {
                            return Err(format!("Pad mode `{mode}` of an empty axis"));
                        }
                        let count = len.saturating_add(b).saturating_add(e);
                        written(&self.written, count as u64, "a Pad's indices")?;
                        let picks: Vec<i64> = (0..count)
                            .map(|i| padded_index(&mode, i - b, len))
                            .collect();
                        padded = format!("take({padded}, {}, axis = {ax})", list(&picks));
                    }
                    padded
                }
            }
            // The identity matrix of the input's shape, `k` diagonals up.
            "EyeLike" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let &[rows, cols] = self.known_dims(&v, op)?.as_slice() else {
                    return Err(format!("EyeLike needs a 2-D input, got {t}"));
                };
                let dtype = match attr(n, "dtype").and_then(|a| a.i) {
                    Some(d) => dtype_of(i32::try_from(d).unwrap_or(-1))?,
                    None => t.dtype,
                };
                format!(
                    "cast({} + ({}) == {}, {dtype})",
                    iota(&self.written, rows, 0, 2)?,
                    attr_i(n, "k", 0),
                    iota(&self.written, cols, 1, 2)?
                )
            }
            // Each index tuple (the last axis of `indices`) as one flat
            // index into the gathered axes, which are reshaped into one;
            // `batch_dims` leading axes pair up, each batch's block offset.
            "GatherND" => {
                let (data, indices) = (self.need(n, 0)?, self.need(n, 1)?);
                let (td, ti) = (self.ty(&data)?, self.ty(&indices)?);
                let (d, id) = (self.known_dims(&data, op)?, self.known_dims(&indices, op)?);
                let b = usize::try_from(attr_i(n, "batch_dims", 0)).unwrap_or(usize::MAX);
                let m = id.last().copied().unwrap_or(0) as usize;
                if m == 0 || b >= id.len() || b.saturating_add(m) > d.len() || d[..b] != id[..b] {
                    return Err(format!(
                        "GatherND of {td} by {ti} with batch_dims = {b} is not supported"
                    ));
                }
                let i = self.operand(&indices)?;
                let i = self.bind(i, &format!("{out}_indices"))?;
                let mut flat = vec![tuple_index(&i, &d[b..b + m])];
                let block: u64 = d[b..b + m].iter().product();
                let batches: u64 = d[..b].iter().product();
                if b > 0 {
                    // The batch's number, shaped [batches, 1, …] against
                    // the index tuples' leading axes.
                    let rank = id.len() - 1;
                    let mut shape: Vec<u64> = d[..b].to_vec();
                    shape.resize(rank, 1);
                    flat.push(format!(
                        "cast(reshape({}, {}), {}) * {block}",
                        iota(&self.written, batches, 0, 1)?,
                        list(&shape),
                        ti.dtype
                    ));
                }
                let flat = self.bind(flat.join(" + "), &format!("{out}_flat"))?;
                let mut rows = vec![batches * block];
                rows.extend(&d[b + m..]);
                format!(
                    "take(reshape({}, {}), {flat}, axis = 0)",
                    self.operand(&data)?,
                    list(&rows)
                )
            }
            // Each update's place as a one-hot along a new last axis, the
            // updates that land on a place gathered over the axis they
            // came along, moved into it, and combined with `data`.
            "ScatterElements" | "Scatter" => {
                let (data, indices, updates) =
                    (self.need(n, 0)?, self.need(n, 1)?, self.need(n, 2)?);
                let (td, ti) = (self.ty(&data)?, self.ty(&indices)?);
                let (d, id) = (self.known_dims(&data, op)?, self.known_dims(&indices, op)?);
                let r = d.len();
                let axis = axis_in(attr_i(n, "axis", 0), r as i64, false)?;
                if id.len() != r || (0..r).any(|a| a != axis && id[a] > d[a]) {
                    return Err(format!("{op} of {td} at {ti} is not supported"));
                }
                let reduction = attr_s(n, "reduction").unwrap_or_else(|| "none".into());
                let (gather, neutral) = gathering(&reduction, td.dtype)?;
                let len = d[axis];
                let i = self.operand(&indices)?;
                let lands = self.bind(
                    format!(
                        "expand_dims(cast(where({i} < 0, {i} + {len}, {i}), i64), {r}) == {}",
                        iota(&self.written, len, r, r + 1)?
                    ),
                    &format!("{out}_lands"),
                )?;
                // Without a reduction the last update to land wins, as in
                // ONNX's reference (ONNX leaves duplicates undefined).
                let chosen = match reduction.as_str() {
                    "none" => {
                        let position = iota(&self.written, id[axis], axis, r + 1)?;
                        self.bind(
                            format!("logical_and({lands}, {position} == max(where({lands}, {position}, -1), axis = {axis}, keepdims = true))"),
                            &format!("{out}_last"),
                        )?
                    }
                    _ => lands.clone(),
                };
                let u = self.operand(&updates)?;
                let mut perm: Vec<usize> = (0..r - 1).collect();
                perm.insert(axis, r - 1);
                let pads: Vec<String> = (0..r)
                    .map(|a| match a == axis {
                        true => "[0, 0]".to_string(),
                        false => format!("[0, {}]", d[a] - id[a]),
                    })
                    .collect();
                let placed = |x: String| {
                    format!(
                        "pad(transpose({x}, perm = {}), [{}])",
                        list(&perm),
                        pads.join(", ")
                    )
                };
                let gathered = self.bind(
                    placed(format!(
                        "{gather}(where({chosen}, expand_dims({u}, {r}), {neutral}), axis = {axis})"
                    )),
                    &format!("{out}_gathered"),
                )?;
                let hit = self.bind(
                    format!(
                        "{} > 0",
                        placed(format!("sum(cast({lands}, i32), axis = {axis})"))
                    ),
                    &format!("{out}_hit"),
                )?;
                scattered(&reduction, &self.operand(&data)?, &hit, &gathered)
            }
            // The index tuples as flat places of `data`'s first axes made
            // one, a one-hot of them, and the updates gathered onto them (a
            // matrix product where they are summed).
            "ScatterND" => {
                let (data, indices, updates) =
                    (self.need(n, 0)?, self.need(n, 1)?, self.need(n, 2)?);
                let (td, ti) = (self.ty(&data)?, self.ty(&indices)?);
                let (d, id) = (self.known_dims(&data, op)?, self.known_dims(&indices, op)?);
                let m = id.last().copied().unwrap_or(0) as usize;
                if m == 0 || m > d.len() {
                    return Err(format!("ScatterND of {td} at {ti} is not supported"));
                }
                let reduction = attr_s(n, "reduction").unwrap_or_else(|| "none".into());
                let (gather, neutral) = gathering(&reduction, td.dtype)?;
                let tuples: u64 = id[..id.len() - 1].iter().product();
                let places: u64 = d[..m].iter().product();
                let rest: u64 = d[m..].iter().product();
                let i = self.operand(&indices)?;
                let i = self.bind(i, &format!("{out}_indices"))?;
                let lands = self.bind(
                    format!(
                        "expand_dims(reshape(cast({}, i64), [{tuples}]), 1) == {}",
                        tuple_index(&i, &d[..m]),
                        iota(&self.written, places, 1, 2)?
                    ),
                    &format!("{out}_lands"),
                )?;
                let chosen = match reduction.as_str() {
                    "none" => {
                        let position = iota(&self.written, tuples, 0, 2)?;
                        self.bind(
                            format!("logical_and({lands}, {position} == max(where({lands}, {position}, -1), axis = 0, keepdims = true))"),
                            &format!("{out}_last"),
                        )?
                    }
                    _ => lands.clone(),
                };
                let u = format!("reshape({}, [{tuples}, {rest}])", self.operand(&updates)?);
                let gathered = match gather {
                    "sum" => format!("transpose(cast({chosen}, {}), perm = [1, 0]) @ {u}", td.dtype),
                    _ => format!(
                        "{gather}(where(expand_dims({chosen}, 2), expand_dims({u}, 1), {neutral}), axis = 0)"
                    ),
                };
                let gathered = self.bind(gathered, &format!("{out}_gathered"))?;
                let hit = self.bind(
                    format!("expand_dims(sum(cast({lands}, i32), axis = 0) > 0, 1)"),
                    &format!("{out}_hit"),
                )?;
                let flat = format!("reshape({}, [{places}, {rest}])", self.operand(&data)?);
                format!(
                    "reshape({}, {})",
                    scattered(&reduction, &flat, &hit, &gathered),
                    list(&d)
                )
            }
            // Pairs of features turned by the angle of each position
            // (ONNX's reference: [batch, sequence, heads, head] inside).
            "RotaryEmbedding" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let dims: Vec<Option<u64>> = t.shape.0.iter().map(Dim::known).collect();
                let a = self.operand(&v)?;
                let (x, seq, heads, head) = match dims.as_slice() {
                    [_, Some(heads), Some(seq), Some(head)] => (
                        format!("transpose({a}, perm = [0, 2, 1, 3])"),
                        *seq,
                        *heads,
                        *head,
                    ),
                    [_, Some(seq), Some(hidden)] => {
                        let heads = u64::try_from(attr_i(n, "num_heads", 0)).unwrap_or(0);
                        if heads == 0 || hidden % heads != 0 {
                            return Err(format!(
                                "a 3-D RotaryEmbedding needs num_heads dividing {hidden}"
                            ));
                        }
                        let head = hidden / heads;
                        (format!("reshape({a}, [-1, {seq}, {heads}, {head}])"), *seq, heads, head)
                    }
                    _ => {
                        return Err(format!(
                            "RotaryEmbedding needs an input of 3 or 4 dims, all but the batch known, got {t}"
                        ))
                    }
                };
                let x = self.bind(x, &format!("{out}_x"))?;
                let turned = match attr_i(n, "rotary_embedding_dim", 0) {
                    0 => head,
                    d => u64::try_from(d).unwrap_or(u64::MAX),
                };
                if turned > head || turned % 2 != 0 {
                    return Err(format!(
                        "rotary_embedding_dim must be even and at most {head}, got {turned}"
                    ));
                }
                let half = turned / 2;
                let cache = |s: &mut Self, k: usize, what: &str| -> Result<String> {
                    let c = s.need(n, k)?;
                    let c = s.operand(&c)?;
                    let c = match s.input(n, 3)? {
                        Some(p) => format!("take({c}, {}, axis = 0)", s.operand(&p)?),
                        None => c,
                    };
                    s.bind(format!("expand_dims({c}, 2)"), &format!("{out}_{what}"))
                };
                let (cos, sin) = (cache(self, 1, "cos")?, cache(self, 2, "sin")?);
                let interleaved = attr_i(n, "interleaved", 0) == 1;
                let (x1, x2) = match interleaved {
                    true => (
                        format!("{x}[..., 0:{turned}:2]"),
                        format!("{x}[..., 1:{turned}:2]"),
                    ),
                    false => (
                        format!("{x}[..., 0:{half}]"),
                        format!("{x}[..., {half}:{turned}]"),
                    ),
                };
                let real = self.bind(
                    format!("{cos} * {x1} - {sin} * {x2}"),
                    &format!("{out}_real"),
                )?;
                let imag = self.bind(
                    format!("{sin} * {x1} + {cos} * {x2}"),
                    &format!("{out}_imag"),
                )?;
                let mut y = match interleaved {
                    true => format!(
                        "reshape(stack([{real}, {imag}], axis = 4), [-1, {seq}, {heads}, {turned}])"
                    ),
                    false => format!("concat([{real}, {imag}], axis = 3)"),
                };
                if turned < head {
                    y = format!("concat([{y}, {x}[..., {turned}:{head}]], axis = 3)");
                }
                match dims.len() {
                    3 => format!("reshape({y}, [-1, {seq}, {}])", heads * head),
                    _ => format!("transpose({y}, perm = [0, 2, 1, 3])"),
                }
            }
            // The sampling grid of `theta`: each output pixel's normalized
            // coordinates (x first, then 1) times the batch's matrix.
            "AffineGrid" => {
                let theta = self.need(n, 0)?;
                let dtype = self.ty(&theta)?.dtype;
                let size = match self.ints(n, 1)? {
                    Some(s) if s.len() == 4 || s.len() == 5 => s,
                    Some(s) => {
                        return Err(format!(
                            "AffineGrid needs a size of 4 or 5 entries, got {s:?}"
                        ))
                    }
                    None => return Err(self.not_known(n, 1)),
                };
                let spatial: Vec<u64> = size[2..]
                    .iter()
                    .map(|&d| u64::try_from(d).ok().filter(|&d| d > 0))
                    .collect::<Option<_>>()
                    .ok_or_else(|| format!("AffineGrid needs positive sizes, got {size:?}"))?;
                let k = spatial.len();
                let align = attr_i(n, "align_corners", 0) == 1;
                // One coordinate a spatial axis, the last (x) first.
                let mut coords = Vec::new();
                for a in (0..k).rev() {
                    let len = spatial[a];
                    let i = format!("cast({}, {dtype})", iota(&self.written, len, a, k)?);
                    let at = match (align, len) {
                        (true, 1) => format!("{i} * 0.0"),
                        (true, _) => format!("{i} * {} - 1", float(2.0 / (len - 1) as f64)),
                        (false, _) => format!("({i} * 2 + 1) / {} - 1", float(len as f64)),
                    };
                    coords.push(format!("broadcast_to({at}, {})", list(&spatial)));
                }
                coords.push(format!(
                    "broadcast_to(cast(1, {dtype}), {})",
                    list(&spatial)
                ));
                let pixels: u64 = spatial.iter().product();
                let base = self.bind(
                    format!(
                        "reshape(stack([{}], axis = {k}), [{pixels}, {}])",
                        coords.join(", "),
                        k + 1
                    ),
                    &format!("{out}_base"),
                )?;
                let mut shape = vec![size[0]];
                shape.extend(spatial.iter().map(|&d| d as i64));
                shape.push(k as i64);
                format!(
                    "reshape({base} @ transpose({}, perm = [0, 2, 1]), {})",
                    self.operand(&theta)?,
                    list(&shape)
                )
            }
            // Each axis cut, or padded with zeros, about its centre to the
            // size asked for (the odd element at the end).
            "CenterCropPad" => {
                let v = self.need(n, 0)?;
                let dims = self.known_dims(&v, op)?;
                let rank = dims.len();
                let sizes = self.ints(n, 1)?.ok_or("CenterCropPad needs its shape")?;
                let axes: Vec<usize> = match attr_ints(n, "axes") {
                    Some(a) => a
                        .into_iter()
                        .map(|i| axis_in(i, rank as i64, false))
                        .collect::<Result<_>>()?,
                    None => (0..rank).collect(),
                };
                if sizes.len() != axes.len() || sizes.iter().any(|&s| s < 0) {
                    return Err(format!(
                        "CenterCropPad needs one size (not negative) an axis, got {sizes:?}"
                    ));
                }
                if rank == 0 {
                    return Err("CenterCropPad of a scalar is not supported".into());
                }
                let mut kept = vec![":".to_string(); rank];
                let mut pads = vec!["[0, 0]".to_string(); rank];
                for (&a, &size) in axes.iter().zip(&sizes) {
                    let (len, size) = (dims[a], size as u64);
                    if size < len {
                        let start = (len - size) / 2;
                        kept[a] = format!("{start}:{}", start + size);
                    } else if size > len {
                        let before = (size - len) / 2;
                        pads[a] = format!("[{before}, {}]", size - len - before);
                    }
                }
                format!(
                    "pad({}[{}], [{}])",
                    self.operand(&v)?,
                    kept.join(", "),
                    pads.join(", ")
                )
            }
            // The slices along `axis` (of the flattened input without one)
            // whose condition is true, as a `take` of their indices.
            "Compress" => {
                let v = self.need(n, 0)?;
                let rank = self.rank(&v)?;
                let condition = self.ints(n, 1)?.ok_or("Compress needs its condition")?;
                let picked: Vec<usize> = condition
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c != 0)
                    .map(|(i, _)| i)
                    .collect();
                if picked.is_empty() {
                    return Err(
                        "a Compress that keeps nothing (an empty result) is not supported".into(),
                    );
                }
                written(&self.written, picked.len() as u64, "Compress's indices")?;
                let t = self.ty(&v)?;
                let axis = match attr(n, "axis").and_then(|x| x.i) {
                    Some(axis) => Some(axis_in(axis, rank as i64, false)?),
                    None => None,
                };
                // A condition longer than the axis would pick past its end.
                let len = match axis {
                    Some(axis) => t.shape.0[axis].known(),
                    None => t.shape.0.iter().map(Dim::known).product(),
                };
                if len.is_some_and(|len| condition.len() as u64 > len) {
                    return Err(format!(
                        "Compress's condition ({} long) is longer than the axis of {t}",
                        condition.len()
                    ));
                }
                let a = self.operand(&v)?;
                let a = self.bind(a, &format!("{out}_input"))?;
                match axis {
                    Some(axis) => format!("take({a}, {}, axis = {axis})", list(&picked)),
                    None => format!("take(reshape({a}, [-1]), {}, axis = 0)", list(&picked)),
                }
            }
            // The k largest (or smallest), one a step, in order: each step
            // takes the first of the extremes not taken yet, so equal
            // values come out by index, as ONNX asks, infinities included.
            "TopK" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let rank = t.shape.rank();
                let axis = axis_in(attr_i(n, "axis", -1), rank as i64, false)?;
                let k = match self.opset {
                    ..10 => attr_i(n, "k", -1),
                    _ => match self.ints(n, 1)?.as_deref() {
                        Some(&[k]) => k,
                        _ => return Err(self.not_known(n, 1)),
                    },
                };
                let len = t.shape.0[axis].known().ok_or_else(|| {
                    format!("TopK needs the length of axis {axis} known, got {t}")
                })?;
                let k = u64::try_from(k)
                    .ok()
                    .filter(|&k| (1..=len.min(TOP_K)).contains(&k))
                    .ok_or_else(|| {
                        format!(
                            "TopK needs k between 1 and {} (the axis, at most {TOP_K}), got {k}",
                            len.min(TOP_K)
                        )
                    })?;
                // What a taken place holds: never better than a place left.
                let largest = attr_i(n, "largest", 1) == 1;
                let worst = extreme(t.dtype, largest)?;
                let pick = if largest { "max" } else { "min" };
                let x = self.operand(&v)?;
                let x = self.bind(x, &format!("{out}_x"))?;
                let position = self.bind(
                    iota(&self.written, len, axis, rank)?,
                    &format!("{out}_position"),
                )?;
                let mut taken = self.bind(format!("{x} < {x}"), &format!("{out}_taken"))?;
                let (mut values, mut indices) = (Vec::new(), Vec::new());
                for _ in 0..k {
                    let left = self.bind(
                        format!("where({taken}, {worst}, {x})"),
                        &format!("{out}_left"),
                    )?;
                    let best = self.bind(
                        format!("{pick}({left}, axis = {axis}, keepdims = true)"),
                        &format!("{out}_value"),
                    )?;
                    let at = self.bind(
                        format!("expand_dims(cast(argmax(cast(logical_and({left} == {best}, !{taken}), i32), axis = {axis}), i64), {axis})"),
                        &format!("{out}_index"),
                    )?;
                    taken = self.bind(
                        format!("logical_or({taken}, {position} == {at})"),
                        &format!("{out}_taken"),
                    )?;
                    values.push(best);
                    indices.push(at);
                }
                let joined =
                    |parts: &[String]| format!("concat([{}], axis = {axis})", parts.join(", "));
                let mut outs = vec![self.emit(joined(&values), &out, n, outputs)?];
                if let Some(i) = n.output.get(1).filter(|o| !o.is_empty()) {
                    outs.push(self.emit(joined(&indices), i, n, outputs)?);
                }
                return Ok(outs);
            }
            // A scan in log2(len) steps (Hillis and Steele): each multiplies
            // in the running products `s` places back, then twice as far.
            "CumProd" => {
                let v = self.need(n, 0)?;
                let t = self.ty(&v)?;
                let rank = t.shape.rank();
                let axis = match self.ints(n, 1)?.as_deref() {
                    Some(&[a]) => axis_in(a, rank as i64, false)?,
                    _ => return Err("CumProd needs its axis, one integer, known".into()),
                };
                let len = t.shape.0[axis].known().ok_or_else(|| {
                    format!("CumProd needs the length of axis {axis} known, got {t}")
                })?;
                let reverse = attr_i(n, "reverse", 0) == 1;
                // `y` moved `s` places along the scan, ones coming in.
                let shift = |y: &str, s: u64| {
                    let before = ":, ".repeat(axis);
                    let mut pads = vec!["[0, 0]".to_string(); rank];
                    let (kept, pad) = match reverse {
                        false => (format!("0:{}", len - s), format!("[{s}, 0]")),
                        true => (format!("{s}:{len}"), format!("[0, {s}]")),
                    };
                    pads[axis] = pad;
                    format!("pad({y}[{before}{kept}], [{}], value = 1)", pads.join(", "))
                };
                // Bound, so that it can be indexed even when it is a literal.
                let mut y = self.operand(&v)?;
                y = self.bind(y, &format!("{out}_scan"))?;
                let mut s = 1;
                while s < len {
                    y = self.bind(format!("{y} * {}", shift(&y, s)), &format!("{out}_scan"))?;
                    s *= 2;
                }
                if attr_i(n, "exclusive", 0) == 1 && len > 0 {
                    shift(&y, 1)
                } else {
                    y
                }
            }
            "ConstantOfShape" => {
                let dims = self.dims_input(n, 0)?;
                let value = self.fill_value(n)?;
                let v = Constant {
                    shape: vec![],
                    ..value
                };
                let lit = self.operand(&Value::Const(v))?;
                let shown: Vec<String> = dims
                    .iter()
                    .map(|e| match e {
                        Elem::I(i) => i.to_string(),
                        Elem::Sym(s) => s.clone(),
                        _ => "1".into(),
                    })
                    .collect();
                format!("broadcast_to({lit}, [{}])", shown.join(", "))
            }
            other => return Err(format!("no rule for {other}")),
        };
        Ok(vec![self.emit(expr, &out, n, outputs)?])
    }

    /// Why input `k` of `n`, which must be known when importing, is not;
    /// notes the graph inputs it is computed from (see `needed`).
    fn not_known(&self, n: &NodeProto, k: usize) -> String {
        let name = n.input.get(k).map_or("", String::as_str);
        if let Some(o) = self.origins.get(name) {
            self.needed.borrow_mut().extend(o.iter().cloned());
        }
        format!("input {k} must be known when importing (tfg compiles shapes ahead of time)")
    }

    /// `ConstantOfShape`'s fill: its `value`, else an f32 zero.
    fn fill_value(&self, n: &NodeProto) -> Result<Constant> {
        match attr(n, "value").and_then(|a| a.t.as_ref()) {
            Some(t) => Constant::from_proto(t, self.external),
            None => Ok(Constant::scalar(DType::F32, Elem::F(0.0))),
        }
    }

    /// An integer input that may hold symbolic dims (a folded shape).
    fn dims_input(&self, n: &NodeProto, k: usize) -> Result<Vec<Elem>> {
        match self.input(n, k)? {
            Some(Value::Const(c)) => Ok(c.data),
            Some(Value::Tensor(_)) => Err(self.not_known(n, k)),
            None => Err(format!("input {k} is missing")),
        }
    }

    /// `Conv`, `MaxPool`, `AveragePool` on NCHW: transposed to NHWC and back.
    fn window(
        &mut self,
        n: &NodeProto,
        op: &str,
        out: &str,
        outputs: &HashMap<String, String>,
    ) -> Result<Vec<Value>> {
        if Lp::p(n, op).is_some_and(|p| p < 1.0) {
            return Err(format!(
                "LpPool needs p of at least 1, got {}",
                attr_i(n, "p", 2)
            ));
        }
        let v = self.need(n, 0)?;
        let t = self.ty(&v)?;
        // A 1-D window (NCL) runs as a 2-D one of height 1: a unit axis at
        // 2, and a leading 1 (or 0 for pads) in every per-axis attribute.
        let one_d = match t.shape.rank() {
            3 => true,
            4 => false,
            5 if op != "Conv" => return self.pool_3d(n, op, out, outputs, &v),
            _ => {
                return Err(format!(
                "only 1-D and 2-D {op} (NCL or NCHW input), and 3-D pools, are supported, got {t}"
            ))
            }
        };
        let lift = |v: Option<Vec<i64>>| lifted(v, one_d, 1);
        let mut a = Lp::powered(n, op, self.operand(&v)?);
        if one_d {
            a = format!("expand_dims({a}, axis = 2)");
        }
        let strides = lift(attr_ints(n, "strides")).unwrap_or_else(|| vec![1, 1]);
        let dilations = lift(attr_ints(n, "dilations")).unwrap_or_else(|| vec![1, 1]);
        let pads = window_pads(n, one_d);
        if pads.as_ref().is_some_and(|p| p.len() != 4) {
            return Err(format!(
                "pads must have {} entries",
                if one_d { 2 } else { 4 }
            ));
        }
        let kernel = match op {
            "Conv" => match lift(attr_ints(n, "kernel_shape")) {
                Some(k) => k,
                None => {
                    let wt = self.ty(&self.need(n, 1)?)?;
                    let dims = wt
                        .shape
                        .0
                        .get(2..)
                        .unwrap_or_default()
                        .iter()
                        .map(|d| d.known().map_or(0, |k| k as i64));
                    lift(Some(dims.collect())).unwrap_or_default()
                }
            },
            _ => lift(attr_ints(n, "kernel_shape")).ok_or("kernel_shape is required")?,
        };
        let mut spatial: Vec<Option<u64>> = t.shape.0[2..].iter().map(|d| d.known()).collect();
        if one_d {
            spatial.insert(0, Some(1));
        }
        let window = Window {
            spatial,
            kernel,
            strides: strides.clone(),
            dilations: dilations.clone(),
        };
        let padding = window.padding(n, op, pads)?;
        if let Some(z) = &padding.zeros {
            a = format!(
                "pad({a}, [[0, 0], [0, 0], [{}, {}], [{}, {}]])",
                z[0].0, z[0].1, z[1].0, z[1].1
            );
        }
        let sides = padding.sides.text(0..2);
        let x = format!("transpose({a}, perm = [0, 2, 3, 1])");
        let nhwc = match op {
            "Conv" => {
                let w = self.need(n, 1)?;
                let mut w = self.operand(&w)?;
                if one_d {
                    w = format!("expand_dims({w}, axis = 2)");
                }
                let groups = attr_i(n, "group", 1);
                let mut e = format!(
                    "conv2d({x}, transpose({w}, perm = [2, 3, 1, 0]), stride = {}, padding = {sides}, dilation = {}, groups = {groups})",
                    list(&strides),
                    list(&dilations)
                );
                if let Some(b) = self.input(n, 2)? {
                    let b = self.operand(&b)?;
                    e = format!("({e} + {b})");
                }
                e
            }
            _ => {
                let pair = |v: &[u64]| [v[0], v[1]];
                let indices = n.output.get(1).filter(|o| !o.is_empty()).cloned();
                let pool = Pool2d {
                    max: op == "MaxPool",
                    x: &x,
                    dtype: t.dtype,
                    dims: window
                        .known_spatial(padding.zeros.as_deref())
                        .map(|d| pair(&d)),
                    k: pair(&window.positive(&window.kernel)?),
                    s: pair(&window.positive(&window.strides)?),
                    d: pair(&window.positive(&window.dilations)?),
                    sides: &padding.sides,
                };
                let text = pool.text(&self.written)?;
                let Some(indices) = indices else {
                    let text = Lp::root(n, op, text, &window.kernel);
                    return self.emit_nchw(text, one_d, out, n, outputs);
                };
                let nchw: Option<Vec<u64>> = t.shape.0.iter().map(Dim::known).collect();
                let (n_, c, h, w) = match (nchw.as_deref(), pool.dims) {
                    (Some(&[n_, c, ..]), Some([h, w])) => (n_, c, h, w),
                    _ => return Err("MaxPool's Indices need the input's dims known".into()),
                };
                let none = n_.saturating_mul(c).saturating_mul(h).saturating_mul(w);
                let flat = flat_index(&self.written, [n_, c, h, w])?;
                let values = self.bind(pool.padded(&x, "-1.0 / 0.0")?, &format!("{out}_padded"))?;
                let index = self.bind(
                    pool.padded(&flat, &none.to_string())?,
                    &format!("{indices}_flat"),
                )?;
                let pooled = self.bind(text, &format!("{out}_pooled"))?;
                let first = pool.indices(&self.written, &pooled, &values, &index, none)?;
                let mut outs = self.emit_nchw(pooled, one_d, out, n, outputs)?;
                let first = self.bind(first, &format!("{indices}_nhwc"))?;
                // `storage_order = 1`: the same element's index with H and
                // W swapped (column-major).
                let index = match attr_i(n, "storage_order", 0) {
                    0 => first,
                    _ => format!(
                        "({first} / {hw} * {hw} + {first} % {w} * {h} + {first} / {w} % {h})",
                        hw = h * w
                    ),
                };
                outs.extend(self.emit_nchw(index, one_d, &indices, n, outputs)?);
                return Ok(outs);
            }
        };
        self.emit_nchw(nhwc, one_d, out, n, outputs)
    }

    /// Emits the NHWC window result `nhwc` transposed back to NCHW (to NCL
    /// for a 1-D node).
    fn emit_nchw(
        &mut self,
        nhwc: String,
        one_d: bool,
        out: &str,
        n: &NodeProto,
        outputs: &HashMap<String, String>,
    ) -> Result<Vec<Value>> {
        let mut expr = format!("transpose({nhwc}, perm = [0, 3, 1, 2])");
        if one_d {
            expr = format!("squeeze({expr}, axis = 2)");
        }
        Ok(vec![self.emit(expr, out, n, outputs)?])
    }

    /// `Attention` (opset 23): `softmax(Q·Kᵀ·scale + bias)·V` over heads,
    /// as ONNX's reference computes it. Q, K and V are `[B, heads, S, D]`,
    /// or `[B, S, heads·D]` with the head counts as attributes; K and V
    /// follow their past (concatenated along S, the present outputs), and
    /// each KV head serves a group of query heads. The bias is the mask
    /// (boolean: 0 or -inf; shorter than K: padded with -inf) plus, if
    /// causal, -inf past the diagonal offset by the past's length; a row
    /// the bias masks entirely gives zeros.
    fn attention(
        &mut self,
        n: &NodeProto,
        out: &str,
        outputs: &HashMap<String, String>,
    ) -> Result<Vec<Value>> {
        if self.input(n, 6)?.is_some()
            || attr(n, "left_window_size").is_some()
            || attr(n, "right_window_size").is_some()
        {
            return Err("nonpad_kv_seqlen and sliding windows are not supported".into());
        }
        let (q, k, v) = (self.need(n, 0)?, self.need(n, 1)?, self.need(n, 2)?);
        let (qt, kt, vt) = (self.ty(&q)?, self.ty(&k)?, self.ty(&v)?);
        let rank = qt.shape.rank();
        if !(rank == 3 || rank == 4) || kt.shape.rank() != rank || vt.shape.rank() != rank {
            return Err("Attention needs Q, K and V of rank 3 or 4 alike".into());
        }
        if !qt.dtype.is_float() {
            return Err("Attention needs float inputs".into());
        }
        let dt = qt.dtype;
        let dim = |t: &Type, i: usize| {
            t.shape.0.get(i).and_then(Dim::known).ok_or_else(|| {
                "Attention needs the sequence, head and hidden sizes known".to_string()
            })
        };
        let batch = qt.shape.0[0].to_string();
        let (mut qs, mut ks, mut vs) = (self.operand(&q)?, self.operand(&k)?, self.operand(&v)?);
        let (hq, hkv, sq, dq, dv);
        if rank == 3 {
            let heads = |name: &str| {
                u64::try_from(attr_i(n, name, 0))
                    .ok()
                    .filter(|&h| h > 0)
                    .ok_or(format!("3-D Attention needs {name}"))
            };
            (hq, hkv) = (heads("q_num_heads")?, heads("kv_num_heads")?);
            let (sk, wq, wk, wv) = (dim(&kt, 1)?, dim(&qt, 2)?, dim(&kt, 2)?, dim(&vt, 2)?);
            sq = dim(&qt, 1)?;
            if wq % hq != 0 || wk % hkv != 0 || wv % hkv != 0 {
                return Err("Attention's hidden sizes must divide into its heads".into());
            }
            (dq, dv) = (wq / hq, wv / hkv);
            let split = |x: &str, s: u64, h: u64, d: u64| {
                format!("transpose(reshape({x}, [-1, {s}, {h}, {d}]), perm = [0, 2, 1, 3])")
            };
            qs = split(&qs, sq, hq, dq);
            ks = split(&ks, sk, hkv, wk / hkv);
            vs = split(&vs, sk, hkv, dv);
        } else {
            (hq, hkv, sq, dq, dv) = (
                dim(&qt, 1)?,
                dim(&kt, 1)?,
                dim(&qt, 2)?,
                dim(&qt, 3)?,
                dim(&vt, 3)?,
            );
        }
        let mut past = 0;
        let mut outs = vec![None, None, None, None];
        if let (Some(pk), Some(pv)) = (self.input(n, 4)?, self.input(n, 5)?) {
            past = dim(&self.ty(&pk)?, 2)?;
            let (pk, pv) = (self.operand(&pk)?, self.operand(&pv)?);
            ks = format!("concat([{pk}, {ks}], 2)");
            vs = format!("concat([{pv}, {vs}], 2)");
        }
        // The present key and value are outputs; they are named and used.
        for (slot, x, what) in [(1, &mut ks, "present_key"), (2, &mut vs, "present_value")] {
            let name = n.output.get(slot).filter(|o| !o.is_empty()).cloned();
            let value = self.emit(
                x.clone(),
                &name.unwrap_or(format!("{out}_{what}")),
                n,
                outputs,
            )?;
            *x = self.operand(&value)?;
            outs[slot] = Some(value);
        }
        let skv = dim(&kt, rank - 2)? + past;
        if hq != hkv {
            if hkv == 0 || hq % hkv != 0 {
                return Err("Attention's query heads must be a multiple of its KV heads".into());
            }
            let group = hq / hkv;
            let repeat = |x: &str, d: u64| {
                format!(
                    "reshape(broadcast_to(expand_dims({x}, 2), [{batch}, {hkv}, {group}, {skv}, {d}]), [-1, {hq}, {skv}, {d}])"
                )
            };
            ks = repeat(&ks, dim(&kt, rank - 1)? / if rank == 3 { hkv } else { 1 });
            vs = repeat(&vs, dv);
        }
        let scale = match attr(n, "scale").and_then(|a| a.f) {
            Some(f) => f as f64,
            None => 1.0 / (dq as f64).sqrt(),
        };
        let root = float(scale.sqrt());
        let named = |what: &str| format!("{out}_{what}");
        let mut scores = self.emit(
            format!("({qs} * {root}) @ transpose({ks} * {root}, perm = [0, 1, 3, 2])"),
            &named("scores"),
            n,
            outputs,
        )?;
        let softcap = attr(n, "softcap").and_then(|a| a.f).unwrap_or(0.0) as f64;
        if softcap > 0.0 {
            let x = self.operand(&scores)?;
            let c = float(softcap);
            scores = self.emit(
                format!("{c} * tanh({x} / {c})"),
                &named("capped"),
                n,
                outputs,
            )?;
        }
        // The bias: the mask (as 0 / -inf), plus the causal frontier.
        let mut bias = Vec::new();
        if let Some(m) = self.input(n, 3)? {
            let mt = self.ty(&m)?;
            let mut mask = self.operand(&m)?;
            let short = skv.saturating_sub(dim(&mt, mt.shape.rank().saturating_sub(1))?);
            if mt.dtype == DType::Bool {
                mask = format!("where({mask}, cast(0, {dt}), cast(-1.0 / 0.0, {dt}))");
            }
            if short > 0 {
                let mut sides = vec!["[0, 0]".to_string(); mt.shape.rank()];
                if let Some(last) = sides.last_mut() {
                    *last = format!("[0, {short}]");
                }
                mask = format!("pad({mask}, [{}], value = -1.0 / 0.0)", sides.join(", "));
            }
            bias.push(mask);
        }
        if attr_i(n, "is_causal", 0) == 1 {
            let offsets = diagonal_offsets(&self.written, sq, skv, "an Attention's causal mask")?;
            bias.push(format!(
                "where({offsets} <= {past}, cast(0, {dt}), cast(-1.0 / 0.0, {dt}))"
            ));
        }
        let sc = self.operand(&scores)?;
        let (weights, with_bias) = if bias.is_empty() {
            (format!("softmax({sc}, axis = -1)"), scores.clone())
        } else {
            let b = self.emit(bias.join(" + "), &named("bias"), n, outputs)?;
            let b = self.operand(&b)?;
            let with_bias = self.emit(format!("{sc} + {b}"), &named("biased"), n, outputs)?;
            let x = self.operand(&with_bias)?;
            // A softmax safe for rows of -inf, zero where the bias masks a
            // whole row.
            let top = format!("max({x}, axis = -1, keepdims = true)");
            let e = format!("exp({x} - where({top} == -1.0 / 0.0, cast(0, {dt}), {top}))");
            let sum = format!("sum({e}, axis = -1, keepdims = true)");
            let p = format!("{e} / where({sum} == 0.0, cast(1, {dt}), {sum})");
            let masked = format!("max({b}, axis = -1, keepdims = true) == -1.0 / 0.0");
            (format!("where({masked}, cast(0, {dt}), {p})"), with_bias)
        };
        let weights = self.emit(weights, &named("weights"), n, outputs)?;
        if let Some(name) = n.output.get(3).filter(|o| !o.is_empty()) {
            let shown = match attr_i(n, "qk_matmul_output_mode", 0) {
                0 | 1 => &scores,
                2 => &with_bias,
                3 => &weights,
                m => return Err(format!("qk_matmul_output_mode = {m} is not supported")),
            };
            let x = self.operand(shown)?;
            outs[3] = Some(self.emit(x, name, n, outputs)?);
        }
        let w = self.operand(&weights)?;
        let mut y = format!("{w} @ {vs}");
        if rank == 3 {
            y = format!(
                "reshape(transpose({y}, perm = [0, 2, 1, 3]), [-1, {sq}, {}])",
                hq * dv
            );
        }
        let y = self.emit(y, out, n, outputs)?;
        outs[0] = Some(y.clone());
        Ok(outs
            .into_iter()
            .map(|o| o.unwrap_or_else(|| y.clone()))
            .collect())
    }

    /// `NegativeLogLikelihoodLoss` on log-probabilities `[N, C, d…]` and
    /// integer targets `[N, d…]`, or `SoftmaxCrossEntropyLoss` on scores
    /// (their `log_softmax` over C, also its second output): each element's
    /// loss is minus its target's log-probability times the target's
    /// weight (0 where the target is `ignore_index`); reduced by `none`,
    /// `sum`, or `mean` (over the weights).
    fn nll(
        &mut self,
        n: &NodeProto,
        op: &str,
        out: &str,
        outputs: &HashMap<String, String>,
    ) -> Result<Vec<Value>> {
        let v = self.need(n, 0)?;
        let t = self.ty(&v)?;
        let rank = t.shape.rank();
        let classes = t.shape.0.get(1).and_then(Dim::known).filter(|_| rank >= 2);
        let Some(classes) = classes.filter(|_| t.dtype.is_float()) else {
            return Err(format!(
                "{op} needs float scores [N, C, …] with C known, got {t}"
            ));
        };
        let mut logp = self.operand(&v)?;
        let mut outs = Vec::new();
        if op == "SoftmaxCrossEntropyLoss" {
            let name = n
                .output
                .get(1)
                .filter(|o| !o.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("{out}_log_prob"));
            let lp = self.emit(format!("log_softmax({logp}, axis = 1)"), &name, n, outputs)?;
            logp = self.operand(&lp)?;
            outs.push(lp);
        }
        let target = self.operand(&self.need(n, 1)?)?;
        let dt = t.dtype;
        // The one-hot of the targets with the classes at axis 1.
        let mut perm = vec![0, rank - 1];
        perm.extend(1..rank - 1);
        let hot = format!(
            "(transpose(one_hot({target}, {classes}), perm = {}) > 0.5)",
            list(&perm)
        );
        let picked = format!("sum(where({hot}, {logp}, cast(0, {dt})), axis = 1)");
        let mut weight = match self.input(n, 2)? {
            Some(w) => {
                let mut shape = vec!["1".to_string(); rank];
                shape[1] = classes.to_string();
                let w = self.operand(&w)?;
                format!(
                    "sum(where({hot}, reshape({w}, [{}]), cast(0, {dt})), axis = 1)",
                    shape.join(", ")
                )
            }
            None => String::new(),
        };
        if let Some(ignore) = attr(n, "ignore_index").and_then(|a| a.i) {
            let kept = format!("cast({target} != {ignore}, {dt})");
            weight = match weight.is_empty() {
                true => kept,
                false => format!("{weight} * {kept}"),
            };
        }
        let loss = match weight.is_empty() {
            true => format!("-{picked}"),
            false => format!("-{picked} * {weight}"),
        };
        let reduction = attr_s(n, "reduction").unwrap_or_else(|| "mean".into());
        let expr = match reduction.as_str() {
            "none" => loss,
            "sum" => format!("sum({loss})"),
            "mean" if weight.is_empty() => format!("mean({loss})"),
            "mean" => format!("(sum({loss}) / sum({weight}))"),
            other => return Err(format!("reduction = {other} is not supported")),
        };
        outs.insert(0, self.emit(expr, out, n, outputs)?);
        Ok(outs)
    }

    /// `ConvTranspose` on NCHW (NCL as a height of 1): the input spread out
    /// by the stride (zeros between its elements), padded by the filter's
    /// reach less the node's pads, and convolved with the filter flipped in
    /// space and its in and out channels swapped within each group.
    fn conv_transpose(
        &mut self,
        n: &NodeProto,
        out: &str,
        outputs: &HashMap<String, String>,
    ) -> Result<Vec<Value>> {
        let v = self.need(n, 0)?;
        let t = self.ty(&v)?;
        let one_d = match t.shape.rank() {
            3 => true,
            4 => false,
            _ => {
                return Err(format!(
                    "a ConvTranspose of {t} is not supported (1-D and 2-D only: NCL or NCHW)"
                ))
            }
        };
        let lift = |v: Option<Vec<i64>>, height: i64| lifted(v, one_d, height);
        let pair =
            |v: Option<Vec<i64>>, default: i64, least: i64, what: &str| -> Result<[u64; 2]> {
                let v = v.unwrap_or_else(|| vec![default; 2]);
                match v.as_slice() {
                    &[a, b] if a >= least && b >= least => Ok([a as u64, b as u64]),
                    _ => Err(format!(
                        "{what} must have one entry an axis, each at least {least}"
                    )),
                }
            };
        let s = pair(lift(attr_ints(n, "strides"), 1), 1, 1, "strides")?;
        written(
            &self.written,
            s[0].saturating_mul(s[1]),
            "a ConvTranspose stride",
        )?;
        let d = pair(lift(attr_ints(n, "dilations"), 1), 1, 1, "dilations")?;
        let extra = pair(
            lift(attr_ints(n, "output_padding"), 0),
            0,
            0,
            "output_padding",
        )?;
        let w = self.need(n, 1)?;
        let wt = self.ty(&w)?;
        let mut wd: Vec<u64> = wt
            .shape
            .0
            .iter()
            .map(Dim::known)
            .collect::<Option<_>>()
            .ok_or("ConvTranspose needs a filter of known shape")?;
        let mut xd: Vec<Option<u64>> = t.shape.0.iter().map(Dim::known).collect();
        if one_d {
            wd.insert(2, 1);
            xd.insert(2, Some(1));
        }
        let (Some(c), Some(hh), Some(ww), &[wc, mg, kh, kw]) = (xd[1], xd[2], xd[3], wd.as_slice())
        else {
            return Err(format!(
                "ConvTranspose needs known channels and spatial dims, got {t} and {wt}"
            ));
        };
        let g = u64::try_from(attr_i(n, "group", 1))
            .ok()
            .filter(|&g| g > 0 && c % g == 0 && wc == c)
            .ok_or(
                "group must divide the input's channels, which the filter's first dim must equal",
            )?;
        let (k, x) = ([kh, kw], [hh, ww]);
        if k.contains(&0) || x.contains(&0) {
            return Err("an empty ConvTranspose window or input".into());
        }
        // Bounded, so that the sizes below cannot overflow.
        for v in [d[0], d[1], extra[0], extra[1]] {
            written(
                &self.written,
                v,
                "a ConvTranspose dilation or output_padding",
            )?;
        }
        if x.iter().chain(&k).any(|&v| v > 1 << 32) {
            return Err("a ConvTranspose too large".into());
        }
        let reach = |a: usize| (k[a] - 1) * d[a] + 1;
        // The output's size along an axis before the node's padding is cut.
        let full = |a: usize| s[a] * (x[a] - 1) + extra[a] + reach(a);
        // The padding cut from each end of the output: given, or worked out
        // from `output_shape` or `auto_pad` (the odd one at the end for
        // SAME_UPPER, at the beginning otherwise, as ONNX says).
        let split = |total: i64, upper: bool| {
            // A negative total (an `output_shape` larger than the full
            // output) is zeros added at the end.
            let small = total / 2;
            if total < 0 {
                (0, total)
            } else if upper {
                (small, total - small)
            } else {
                (total - small, small)
            }
        };
        let auto_pad = attr_s(n, "auto_pad").unwrap_or_else(|| "NOTSET".into());
        let mut cut = [(0i64, 0i64); 2];
        if let Some(shape) = lift(attr_ints(n, "output_shape"), 1) {
            let shape = shape
                .get(shape.len().saturating_sub(2)..)
                .unwrap_or_default();
            if shape.len() != 2 {
                return Err("output_shape must have one entry an axis".into());
            }
            for a in 0..2 {
                cut[a] = split(full(a) as i64 - shape[a], auto_pad == "SAME_UPPER");
            }
        } else {
            match auto_pad.as_str() {
                "SAME_UPPER" | "SAME_LOWER" => {
                    for a in 0..2 {
                        let total = full(a) as i64 - (x[a] * s[a]) as i64;
                        cut[a] = split(total, auto_pad == "SAME_UPPER");
                    }
                }
                "VALID" => {}
                "NOTSET" => {
                    if let Some(p) = window_pads(n, one_d) {
                        if p.len() != 4 || p.iter().any(|&p| p < 0) {
                            return Err("pads must have two entries an axis, none negative".into());
                        }
                        cut = [(p[0], p[2]), (p[1], p[3])];
                    }
                }
                other => return Err(format!("auto_pad = {other} is not supported")),
            }
        }
        let dtype = t.dtype;
        let mut a = self.operand(&v)?;
        let mut f = self.operand(&w)?;
        if one_d {
            a = format!("expand_dims({a}, axis = 2)");
            f = format!("expand_dims({f}, axis = 2)");
        }
        let batch = t.shape.0[0].to_string();
        let mut up = format!("transpose({a}, perm = [0, 2, 3, 1])");
        // Spread H, then W: each element followed by stride - 1 zeros,
        // the zeros after the last element dropped.
        let mut dims = [hh, ww];
        for axis in 0..2 {
            if s[axis] == 1 {
                continue;
            }
            let shape = [
                batch.clone(),
                dims[0].to_string(),
                dims[1].to_string(),
                c.to_string(),
            ];
            let zeros = format!("broadcast_to(cast(0, {dtype}), [{}])", shape.join(", "));
            let parts = std::iter::once(up.clone())
                .chain(std::iter::repeat_n(zeros, s[axis] as usize - 1))
                .collect::<Vec<_>>()
                .join(", ");
            let mut spread = shape.clone();
            spread[1 + axis] = (dims[axis] * s[axis]).to_string();
            dims[axis] = s[axis] * (dims[axis] - 1) + 1;
            let keep = if axis == 0 {
                format!(":{}", dims[0])
            } else {
                format!(":, :{}", dims[1])
            };
            up = format!(
                "reshape(stack([{parts}], axis = {}), [-1, {}])[:, {keep}]",
                2 + axis,
                spread[1..].join(", ")
            );
        }
        // The convolution's own padding; where the cut exceeds the reach,
        // the spread input is cropped instead.
        let mut pad = [(0u64, 0u64); 2];
        let mut crop = [(0u64, 0u64); 2];
        for a in 0..2 {
            let lo = reach(a) as i64 - 1 - cut[a].0;
            let hi = reach(a) as i64 - 1 - cut[a].1 + extra[a] as i64;
            pad[a] = (lo.max(0) as u64, hi.max(0) as u64);
            crop[a] = ((-lo).max(0) as u64, (-hi).max(0) as u64);
            if crop[a].0 + crop[a].1 >= dims[a] {
                return Err("ConvTranspose pads larger than its output".into());
            }
        }
        if crop != [(0, 0); 2] {
            up = format!(
                "{up}[:, {}:{}, {}:{}]",
                crop[0].0,
                dims[0] - crop[0].1,
                crop[1].0,
                dims[1] - crop[1].1
            );
        }
        let (cg, m) = (c / g, g * mg);
        let filter = format!(
            "reshape(transpose(reshape({f}, [{g}, {cg}, {mg}, {kh}, {kw}]), perm = [3, 4, 1, 0, 2]), [{kh}, {kw}, {cg}, {m}])[::-1, ::-1]"
        );
        let mut e = format!(
            "conv2d({up}, {filter}, padding = [[{}, {}], [{}, {}]], dilation = {}, groups = {g})",
            pad[0].0,
            pad[0].1,
            pad[1].0,
            pad[1].1,
            list(&d)
        );
        if let Some(b) = self.input(n, 2)? {
            e = format!("({e} + {})", self.operand(&b)?);
        }
        self.emit_nchw(e, one_d, out, n, outputs)
    }

    /// A 3-D `MaxPool` or `AveragePool` (NCDHW) as two of the language's
    /// 2-D pools: over H and W with the depth folded into the channels, then
    /// over D with H and W folded into one axis. A box window's max is the
    /// max of its slices' maxes; its mean (pads not counted) is the mean of
    /// their means, as every slice of one window counts the same H·W taps.
    fn pool_3d(
        &mut self,
        n: &NodeProto,
        op: &str,
        out: &str,
        outputs: &HashMap<String, String>,
        v: &Value,
    ) -> Result<Vec<Value>> {
        let t = self.ty(v)?;
        let known: Option<Vec<u64>> = t.shape.0[2..].iter().map(|d| d.known()).collect();
        let c = t.shape.0[1].known();
        let (Some(dims), Some(c)) = (known, c) else {
            return Err(format!(
                "a 3-D {op} needs known channels and spatial dims, got {t}"
            ));
        };
        let kernel = attr_ints(n, "kernel_shape").ok_or("kernel_shape is required")?;
        let strides = attr_ints(n, "strides").unwrap_or_else(|| vec![1; 3]);
        let dilations = attr_ints(n, "dilations").unwrap_or_else(|| vec![1; 3]);
        if kernel.len() != 3 || strides.len() != 3 {
            return Err("kernel_shape and strides must have 3 entries".into());
        }
        let pads = attr_ints(n, "pads");
        if pads.as_ref().is_some_and(|p| p.len() != 6) {
            return Err("pads must have 6 entries".into());
        }
        let window = Window {
            spatial: dims.iter().map(|&d| Some(d)).collect(),
            kernel,
            strides,
            dilations,
        };
        let padding = window.padding(n, op, pads)?;
        let (k, s, dil) = (
            window.positive(&window.kernel)?,
            window.positive(&window.strides)?,
            window.positive(&window.dilations)?,
        );
        let mut x = Lp::powered(n, op, self.operand(v)?);
        let mut dims = dims;
        if let Some(z) = &padding.zeros {
            let sides: Vec<String> = z.iter().map(|(b, e)| format!("[{b}, {e}]")).collect();
            x = format!("pad({x}, [[0, 0], [0, 0], {}])", sides.join(", "));
            for (d, (b, e)) in dims.iter_mut().zip(z) {
                *d = d.saturating_add(*b).saturating_add(*e);
            }
        }
        // Each axis's output size ("same": ceil(x / s); otherwise the
        // padded extent the window slides over).
        let mut size = Vec::new();
        for a in 0..3 {
            let (x, k, s) = (
                dims[a],
                (k[a] - 1).saturating_mul(dil[a]).saturating_add(1),
                s[a],
            );
            let reach = match &padding.sides {
                Sides::Same => {
                    size.push(x.div_ceil(s));
                    continue;
                }
                Sides::Valid => x,
                Sides::Explicit(p) => x.saturating_add(p[a].0).saturating_add(p[a].1),
            };
            if reach < k {
                return Err(format!("a {op} window larger than its input"));
            }
            size.push((reach - k) / s + 1);
        }
        let (hw, d) = match &padding.sides {
            Sides::Explicit(p) => (
                Sides::Explicit(p[1..3].to_vec()),
                Sides::Explicit(vec![(0, 0), p[0]]),
            ),
            Sides::Same => (Sides::Same, Sides::Same),
            Sides::Valid => (Sides::Valid, Sides::Valid),
        };
        let (dd, hh, ww) = (dims[0], dims[1], dims[2]);
        let (od, oh, ow) = (size[0], size[1], size[2]);
        // The batch stays the first axis throughout (it may be symbolic):
        // the depth rides in the channels for the first pool, H and W in
        // one axis for the second.
        let over_hw = Pool2d {
            max: op == "MaxPool",
            x: &format!(
                "reshape(transpose({x}, perm = [0, 3, 4, 2, 1]), [-1, {hh}, {ww}, {}])",
                dd * c
            ),
            dtype: t.dtype,
            dims: Some([hh, ww]),
            k: [k[1], k[2]],
            s: [s[1], s[2]],
            d: [dil[1], dil[2]],
            sides: &hw,
        }
        .text(&self.written)?;
        // Bound to a name: a dilated pool over the depth repeats its input
        // once a tap.
        let over_hw = self.bind(over_hw, &format!("{out}_over_hw"))?;
        let over_d = Pool2d {
            max: op == "MaxPool",
            x: &format!("reshape({over_hw}, [-1, {}, {dd}, {c}])", oh * ow),
            dtype: t.dtype,
            dims: Some([oh * ow, dd]),
            k: [1, k[0]],
            s: [1, s[0]],
            d: [1, dil[0]],
            sides: &d,
        }
        .text(&self.written)?;
        let expr = format!(
            "transpose(reshape({over_d}, [-1, {oh}, {ow}, {od}, {c}]), perm = [0, 4, 3, 1, 2])"
        );
        let expr = Lp::root(n, op, expr, &window.kernel);
        Ok(vec![self.emit(expr, out, n, outputs)?])
    }

    /// Folds a node whose inputs are all known, where the importer can
    /// compute it: the shape arithmetic of exported models.
    fn fold(&mut self, n: &NodeProto, op: &str) -> Result<Option<Vec<Value>>> {
        if op == "Constant" {
            let c = if let Some(t) = attr(n, "value").and_then(|a| a.t.as_ref()) {
                Constant::from_proto(t, self.external)?
            } else if let Some(a) = attr(n, "value_float") {
                Constant::scalar(DType::F32, Elem::F(a.f.unwrap_or(0.0) as f64))
            } else if let Some(a) = attr(n, "value_int") {
                Constant::scalar(DType::I64, Elem::I(a.i.unwrap_or(0)))
            } else if let Some(a) = attr(n, "value_ints") {
                Constant::ints(&a.ints)
            } else if let Some(a) = attr(n, "value_floats") {
                Constant {
                    dtype: DType::F32,
                    shape: vec![a.floats.len()],
                    data: a.floats.iter().map(|&f| Elem::F(f as f64)).collect(),
                }
            } else {
                return Err("a Constant without a supported value".into());
            };
            return Ok(Some(vec![Value::Const(c)]));
        }
        if op == "Shape" || op == "Size" {
            let v = self.need(n, 0)?;
            let t = self.ty(&v)?;
            let dims: Vec<Elem> = t
                .shape
                .0
                .iter()
                .map(|d| match d {
                    Dim::Known(k) => Elem::I(*k as i64),
                    Dim::Sym(s) => Elem::Sym(s.clone()),
                })
                .collect();
            if op == "Size" {
                let ints: Option<Vec<i64>> = dims
                    .iter()
                    .map(|e| match e {
                        Elem::I(i) => Some(*i),
                        _ => None,
                    })
                    .collect();
                return Ok(ints.map(|i| {
                    vec![Value::Const(Constant::scalar(
                        DType::I64,
                        Elem::I(i.iter().product()),
                    ))]
                }));
            }
            let rank = dims.len() as i64;
            let norm = |x: i64| if x < 0 { (x + rank).max(0) } else { x.min(rank) } as usize;
            let start = norm(attr_i(n, "start", 0));
            let end = norm(attr_i(n, "end", rank));
            let dims = dims[start..end.max(start)].to_vec();
            return Ok(Some(vec![Value::Const(Constant {
                dtype: DType::I64,
                shape: vec![dims.len()],
                data: dims,
            })]));
        }
        let mut known = Vec::new();
        for k in 0..n.input.len() {
            match self.input(n, k)? {
                Some(Value::Const(c)) => known.push(Some(c)),
                Some(Value::Tensor(_)) => return Ok(None),
                None => known.push(None),
            }
        }
        let Some(Some(first)) = known.first().cloned() else {
            return Ok(None);
        };
        let ints_of = |k: usize| known.get(k).cloned().flatten().and_then(|c| c.to_ints());
        let result = match op {
            "Identity" => Some(first),
            "Cast" | "CastLike" => {
                let to = match known.get(1).cloned().flatten() {
                    Some(like) if op == "CastLike" => like.dtype,
                    _ => dtype_of(attr_i(n, "to", 1) as i32)?,
                };
                let data = first
                    .data
                    .iter()
                    .map(|e| match (e, to) {
                        (Elem::F(f), DType::I32 | DType::I64) => Elem::I(f.trunc() as i64),
                        (Elem::I(i), DType::F32 | DType::F64) => Elem::F(*i as f64),
                        (Elem::B(b), DType::F32 | DType::F64) => Elem::F(*b as u8 as f64),
                        (Elem::B(b), DType::I32 | DType::I64) => Elem::I(*b as i64),
                        (Elem::I(i), DType::Bool) => Elem::B(*i != 0),
                        (Elem::F(f), DType::Bool) => Elem::B(*f != 0.0),
                        (e, _) => e.clone(),
                    })
                    .collect();
                Some(Constant {
                    dtype: to,
                    data,
                    ..first
                })
            }
            "Gather" if first.shape.len() == 1 => {
                let idx = ints_of(1).ok_or("indices must be integers")?;
                let shape = known
                    .get(1)
                    .cloned()
                    .flatten()
                    .map(|c| c.shape)
                    .unwrap_or_default();
                let len = first.data.len() as i64;
                let mut data = Vec::new();
                for i in idx {
                    let i = wrap(i, len);
                    data.push(
                        first
                            .data
                            .get(i as usize)
                            .cloned()
                            .ok_or("an index out of range")?,
                    );
                }
                Some(Constant {
                    shape,
                    data,
                    ..first
                })
            }
            "Concat"
                if known
                    .iter()
                    .all(|c| c.as_ref().is_none_or(|c| c.shape.len() <= 1)) =>
            {
                let mut data = Vec::new();
                for c in known.iter().flatten() {
                    data.extend(c.data.iter().cloned());
                }
                Some(Constant {
                    shape: vec![data.len()],
                    data,
                    ..first
                })
            }
            "Unsqueeze" | "Squeeze" | "Reshape" | "Flatten"
                if !first.has_sym() || first.shape.len() <= 1 =>
            {
                // Folded as values: only the shape changes.
                let count = first.data.len();
                let shape = match op {
                    "Unsqueeze" => {
                        let axes = attr_ints(n, "axes")
                            .or_else(|| ints_of(1))
                            .ok_or("Unsqueeze needs axes")?;
                        let rank = (first.shape.len() + axes.len()) as i64;
                        let mut s = first.shape.clone();
                        let mut axes: Vec<usize> =
                            axes.iter().map(|&x| wrap(x, rank) as usize).collect();
                        axes.sort_unstable();
                        for ax in axes {
                            if ax > s.len() {
                                return Err("an axis out of range".into());
                            }
                            s.insert(ax, 1);
                        }
                        s
                    }
                    "Squeeze" => first.shape.iter().copied().filter(|&d| d != 1).collect(),
                    "Flatten" => vec![1, count],
                    _ => {
                        let target = ints_of(1).ok_or("the target shape must be known")?;
                        let known: usize = target
                            .iter()
                            .filter(|&&d| d > 0)
                            .map(|&d| d as usize)
                            .product();
                        target
                            .iter()
                            .enumerate()
                            .map(|(k, &d)| match d {
                                -1 => count / known.max(1),
                                0 => first.shape.get(k).copied().unwrap_or(1),
                                d => d as usize,
                            })
                            .collect()
                    }
                };
                Some(Constant { shape, ..first })
            }
            "Neg" if first.dtype.is_int() => first.to_ints().map(|a| Constant {
                data: a.iter().map(|&x| Elem::I(x.wrapping_neg())).collect(),
                ..first
            }),
            "Add" | "Sub" | "Mul" | "Div" | "Mod" | "Max" | "Min" | "Equal" | "Less"
            | "Greater" | "And" | "Or"
                if (first.dtype.is_int() || first.dtype == DType::Bool) && known.len() == 2 =>
            {
                let b = ints_of(1).ok_or("an integer operand")?;
                let b_shape = known.get(1).cloned().flatten().map(|c| c.shape);
                // Folded where no element repeats but a single one: equal
                // shapes, or one side of one element (its axes all 1).
                let shape = first.to_ints().zip(b_shape).and_then(|(a, bs)| {
                    let pad = |s: &[usize], rank: usize| {
                        [vec![1; rank.saturating_sub(s.len())], s.to_vec()].concat()
                    };
                    let rank = first.shape.len().max(bs.len());
                    if bs == first.shape && a.len() == b.len() {
                        Some((bs, a.len()))
                    } else if b.len() == 1 {
                        Some((pad(&first.shape, rank), a.len()))
                    } else if a.len() == 1 {
                        Some((pad(&bs, rank), b.len()))
                    } else {
                        None
                    }
                });
                let python_mod = attr_i(n, "fmod", 0) == 0;
                match (first.to_ints(), shape) {
                    (Some(a), Some((shape, count))) => {
                        let at = |v: &[i64], k: usize| v[if v.len() == 1 { 0 } else { k }];
                        let data = (0..count)
                            .map(|k| {
                                let (x, y) = (at(&a, k), at(&b, k));
                                match op {
                                    "Add" => Elem::I(x.wrapping_add(y)),
                                    "Sub" => Elem::I(x.wrapping_sub(y)),
                                    "Mul" => Elem::I(x.wrapping_mul(y)),
                                    "Max" => Elem::I(x.max(y)),
                                    "Min" => Elem::I(x.min(y)),
                                    "Equal" => Elem::B(x == y),
                                    "Less" => Elem::B(x < y),
                                    "Greater" => Elem::B(x > y),
                                    "And" => Elem::B(x != 0 && y != 0),
                                    "Or" => Elem::B(x != 0 || y != 0),
                                    _ if y == 0 => Elem::I(0),
                                    // The remainder takes the divisor's sign
                                    // unless `fmod` asks for C's.
                                    "Mod" if python_mod => {
                                        Elem::I(x.wrapping_rem(y).wrapping_add(y).wrapping_rem(y))
                                    }
                                    "Mod" => Elem::I(x.wrapping_rem(y)),
                                    _ => Elem::I(x.wrapping_div(y)),
                                }
                            })
                            .collect();
                        let dtype = match op {
                            "Equal" | "Less" | "Greater" | "And" | "Or" => DType::Bool,
                            _ => first.dtype,
                        };
                        Some(Constant { dtype, shape, data })
                    }
                    _ => None,
                }
            }
            "Not" if first.dtype == DType::Bool => first.to_ints().map(|a| Constant {
                data: a.iter().map(|&x| Elem::B(x == 0)).collect(),
                ..first
            }),
            "Where" if known.len() == 3 => {
                let (a, b) = (known[1].clone(), known[2].clone());
                match (first.to_ints(), a, b) {
                    // Folded without broadcasting: all three of one shape.
                    (Some(c), Some(a), Some(b))
                        if a.dtype == b.dtype && a.shape == first.shape && b.shape == a.shape =>
                    {
                        let data = c
                            .iter()
                            .zip(a.data.iter().zip(&b.data))
                            .map(|(&c, (x, y))| if c != 0 { x.clone() } else { y.clone() })
                            .collect();
                        Some(Constant { data, ..a })
                    }
                    _ => None,
                }
            }
            "Range" if first.dtype.is_float() => {
                let scalar = |k: usize| match known.get(k).cloned().flatten()?.data.first()? {
                    Elem::F(x) => Some(*x),
                    Elem::I(i) => Some(*i as f64),
                    _ => None,
                };
                match (scalar(0), scalar(1), scalar(2)) {
                    (Some(s), Some(l), Some(d)) if d != 0.0 => {
                        // NaN counts none; an infinite count is refused.
                        let count = ((l - s) / d).ceil().max(0.0);
                        written(&self.written, count as u64, "a Range")?;
                        Some(Constant {
                            dtype: first.dtype,
                            shape: vec![count as usize],
                            data: (0..count as u64)
                                .map(|k| Elem::F(s + k as f64 * d))
                                .collect(),
                        })
                    }
                    _ => None,
                }
            }
            "Range" => {
                let (s, l, d) = (ints_of(0), ints_of(1), ints_of(2));
                // Inputs from a file may be empty or at the ends of i64:
                // first elements and checked arithmetic, or no folding.
                let first_of = |v: Option<Vec<i64>>| v.and_then(|v| v.first().copied());
                match (first_of(s), first_of(l), first_of(d)) {
                    (Some(s), Some(l), Some(d)) if d != 0 => {
                        let count = ((l as f64 - s as f64) / d as f64).ceil().max(0.0) as i64;
                        written(&self.written, count.max(0) as u64, "a Range")?;
                        let vals: Option<Vec<i64>> = (0..count)
                            .map(|k| k.checked_mul(d).and_then(|kd| s.checked_add(kd)))
                            .collect();
                        vals.map(|vals| Constant {
                            dtype: first.dtype,
                            ..Constant::ints(&vals)
                        })
                    }
                    _ => None,
                }
            }
            // A small fill is shape arithmetic (LayerNormalization's
            // expansion makes `[1, 1]` this way); a large one stays a node.
            "ConstantOfShape" => match first.to_ints() {
                Some(dims)
                    if dims.iter().all(|&d| (0..=SMALL).contains(&d))
                        && dims
                            .iter()
                            .try_fold(1i64, |a, &d| a.checked_mul(d))
                            .is_some_and(|count| count <= SMALL) =>
                {
                    let value = self.fill_value(n)?;
                    let fill = value.data.first().cloned().ok_or("an empty fill value")?;
                    let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
                    let count = shape.iter().product();
                    Some(Constant {
                        dtype: value.dtype,
                        shape,
                        data: vec![fill; count],
                    })
                }
                _ => None,
            },
            "Slice" if first.shape.len() == 1 && self.opset >= 10 => {
                let (st, en) = (ints_of(1), ints_of(2));
                let step = ints_of(4).and_then(|s| s.first().copied()).unwrap_or(1);
                // Empty starts or ends (from a file): not folded.
                match (
                    st.and_then(|v| v.first().copied()),
                    en.and_then(|v| v.first().copied()),
                ) {
                    (Some(st), Some(en)) if step == 1 => {
                        let len = first.data.len() as i64;
                        let norm =
                            |x: i64| if x < 0 { (x + len).max(0) } else { x.min(len) } as usize;
                        let (a, b) = (norm(st), norm(en));
                        let data = first.data[a..b.max(a)].to_vec();
                        Some(Constant {
                            shape: vec![data.len()],
                            data,
                            ..first
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        Ok(result.map(|c| vec![Value::Const(c)]))
    }
}

/// A graph input's declared type; a dim without a size gets its
/// `dim_param` (or `?`) as a symbol.
fn declared_type(vi: &crate::proto::ValueInfoProto) -> Option<Type> {
    let tt = vi.r#type.as_ref()?.tensor_type.as_ref()?;
    let dtype = dtype_of(tt.elem_type.unwrap_or(0)).ok()?;
    let dims = tt.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or(&[]);
    let shape = dims
        .iter()
        .map(|d| match d.dim_value {
            Some(v) if v >= 0 => Dim::Known(v as u64),
            _ => Dim::Sym(d.dim_param.clone().unwrap_or_else(|| "?".into())),
        })
        .collect();
    Some(Type::new(dtype, tfg_ir::Shape(shape)))
}

/// The most elements a fold makes (`ConstantOfShape`): what is written as
/// a literal rather than a param.
const SMALL: i64 = 64;

/// A 1-D window node's per-axis attribute with a leading entry for the
/// height axis of 1 it runs with (`height`: its value there); a 2-D node's
/// as it is.
fn lifted(v: Option<Vec<i64>>, one_d: bool, height: i64) -> Option<Vec<i64>> {
    match one_d {
        true => v.map(|v| [vec![height], v].concat()),
        false => v,
    }
}

/// A window node's `pads` as `[h_begin, w_begin, h_end, w_end]`: a 1-D
/// node's `[begin, end]` with no padding of its height.
fn window_pads(n: &NodeProto, one_d: bool) -> Option<Vec<i64>> {
    attr_ints(n, "pads").map(|p| match (one_d, p.as_slice()) {
        (true, &[begin, end]) => vec![0, begin, 0, end],
        _ => p,
    })
}

/// `j - i` for every element (i, j) of a `rows × cols` matrix, as a column
/// of row indices subtracted from a row of column indices: how masks about
/// a diagonal (Trilu, a causal frontier) are written.
fn diagonal_offsets(budget: &Cell<u64>, rows: u64, cols: u64, what: &str) -> Result<String> {
    written(budget, rows.saturating_add(cols), what)?;
    let rows: Vec<String> = (0..rows).map(|r| list(&[r])).collect();
    Ok(format!(
        "{} - {}",
        list(&(0..cols).collect::<Vec<_>>()),
        list(&rows)
    ))
}

/// The element of an axis of `len` that position `j` (0 is the first
/// element; negative before it) of a padded copy holds, by `Pad`'s `mode`
/// as numpy's `pad` defines it: the nearest end (`edge`), the axis mirrored
/// about its ends (`reflect`), or repeated (`wrap`).
fn padded_index(mode: &str, j: i64, len: i64) -> i64 {
    match mode {
        "edge" => j.clamp(0, len - 1),
        "reflect" if len == 1 => 0,
        "reflect" => {
            let m = j.rem_euclid(2 * len - 2);
            if m < len {
                m
            } else {
                2 * len - 2 - m
            }
        }
        _ => j.rem_euclid(len),
    }
}

/// The flat row-major index of each element of an NCHW tensor of dims
/// `nchw`, laid out NHWC: a sum of one short list an axis.
fn flat_index(budget: &Cell<u64>, nchw: [u64; 4]) -> Result<String> {
    let [n, c, h, w] = nchw;
    Ok(format!(
        "{} * {} + {} * {} + {} * {} + {} * 1",
        iota(budget, n, 0, 4)?,
        c * h * w,
        iota(budget, c, 3, 4)?,
        h * w,
        iota(budget, h, 1, 4)?,
        w,
        iota(budget, w, 2, 4)?,
    ))
}

/// `0, 1, …, len - 1` (i64) along axis `axis` of a tensor of rank `rank`
/// whose other dims are 1: a list written out, counted in `budget`.
fn iota(budget: &Cell<u64>, len: u64, axis: usize, rank: usize) -> Result<String> {
    written(budget, len, "an index list")?;
    let mut shape = vec![1; rank];
    shape[axis] = len;
    Ok(format!(
        "cast(reshape({}, {}), i64)",
        list(&(0..len).collect::<Vec<_>>()),
        list(&shape)
    ))
}

/// The flat row-major place of each index tuple (the last axis of `i`, one
/// entry an axis of `dims`), negative entries counted from the end.
fn tuple_index(i: &str, dims: &[u64]) -> String {
    let terms: Vec<String> = dims
        .iter()
        .enumerate()
        .map(|(j, len)| {
            let stride: u64 = dims[j + 1..].iter().product();
            format!("where({i}[..., {j}] < 0, {i}[..., {j}] + {len}, {i}[..., {j}]) * {stride}")
        })
        .collect();
    terms.join(" + ")
}

/// The lowest (or the highest) value of `dtype`, as a literal that takes
/// that dtype: what a place holds that must lose every comparison.
fn extreme(dtype: DType, lowest: bool) -> Result<&'static str> {
    Ok(match (dtype, lowest) {
        (DType::F32 | DType::F64, true) => "-1.0 / 0.0",
        (DType::F32 | DType::F64, false) => "1.0 / 0.0",
        (DType::I32, true) => "(-2147483647 - 1)",
        (DType::I32, false) => "2147483647",
        (DType::I64, true) => "(-9223372036854775807 - 1)",
        (DType::I64, false) => "9223372036854775807",
        (DType::Bool, _) => return Err("booleans are not supported here (no order)".into()),
    })
}

/// A scatter's `reduction`: the reduction that gathers the updates landing
/// on one place, and the value of a place none lands on.
fn gathering(reduction: &str, dtype: DType) -> Result<(&'static str, &'static str)> {
    Ok(match reduction {
        "none" | "add" => ("sum", "0"),
        "mul" => ("prod", "1"),
        "max" => ("max", extreme(dtype, true)?),
        "min" => ("min", extreme(dtype, false)?),
        other => return Err(format!("reduction = {other} is not supported")),
    })
}

/// A scatter's result: `data` where `hit` is false, else the `gathered`
/// updates, or (with a `reduction`) them combined with `data`.
fn scattered(reduction: &str, data: &str, hit: &str, gathered: &str) -> String {
    let combined = match reduction {
        "add" => format!("{data} + {gathered}"),
        "mul" => format!("{data} * {gathered}"),
        "max" => format!("maximum({data}, {gathered})"),
        "min" => format!("minimum({data}, {gathered})"),
        _ => gathered.to_string(),
    };
    format!("where({hit}, {combined}, {data})")
}

/// The largest `k` of a `TopK`: it takes `k` passes over its input.
const TOP_K: u64 = 256;

/// The most elements (or terms) the rules write out in one model: index
/// lists, masks, taps, folded ranges. Beyond it a model is refused rather
/// than turned into a file too large to read or compile (or a param larger
/// than its file); counted over the whole model, since a small file can
/// hold many nodes that each write a long list.
const WRITTEN: u64 = 1 << 16;

/// Counts `count` more elements written for `what` into `budget`: `Err`
/// naming `what` when the model's total would exceed [`WRITTEN`].
fn written(budget: &Cell<u64>, count: u64, what: &str) -> Result<()> {
    let total = budget.get().saturating_add(count);
    match total <= WRITTEN {
        true => {
            budget.set(total);
            Ok(())
        }
        false => Err(format!(
            "{what} too large to write out ({count} elements, {} before it in this model; at most {WRITTEN} in all)",
            budget.get()
        )),
    }
}

/// Inputs that hold shapes or attributes, not tensors to compute on.
fn static_input(op: &str, k: usize) -> bool {
    match op {
        "Reshape" | "Expand" | "Tile" | "Squeeze" | "Unsqueeze" | "Split" | "CumSum" => k == 1,
        "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd"
        | "ReduceSumSquare" | "ReduceL1" | "ReduceL2" | "ReduceLogSum" | "ReduceLogSumExp" => {
            k == 1
        }
        "Trilu" => k == 1,
        "Resize" => k >= 1,
        "Upsample" => k == 1,
        "Slice" => k >= 1,
        "Pad" => k == 1 || k == 3,
        "ConstantOfShape" => k == 0,
        "OneHot" => k == 1,
        "AffineGrid" | "CenterCropPad" | "Compress" => k == 1,
        "Range" => true,
        "Dropout" => k >= 1,
        _ => false,
    }
}

/// The `.tfg` expression of a one-input, attribute-free elementwise ONNX
/// operator, `$` standing for its input: a builtin, or the operator's
/// definition written where it does not cancel (`expm1` near 0, odd
/// functions on |x| with the sign put back).
fn elementwise(op: &str) -> Option<&'static str> {
    Some(match op {
        "Abs" => "abs($)",
        "Neg" => "neg($)",
        "Exp" => "exp($)",
        "Log" => "log($)",
        "Sqrt" => "sqrt($)",
        "Relu" => "relu($)",
        "Sigmoid" => "sigmoid($)",
        "Tanh" => "tanh($)",
        "Sin" => "sin($)",
        "Cos" => "cos($)",
        "Floor" => "floor($)",
        "Ceil" => "ceil($)",
        "Reciprocal" => "reciprocal($)",
        "Sign" => "sign($)",
        "Erf" => "erf($)",
        "Softplus" => "softplus($)",
        "Softsign" => "$ / (1 + abs($))",
        "HardSwish" => "$ * clip($ / 6 + 0.5, 0, 1)",
        "Mish" => "$ * tanh(softplus($))",
        "Sinh" => "(expm1($) - expm1(-$)) / 2",
        "Cosh" => "(exp($) + exp(-$)) / 2",
        "Tan" => "sin($) / cos($)",
        "Asinh" => "sign($) * log(abs($) + sqrt($ * $ + 1))",
        "Acosh" => "log($ + sqrt($ * $ - 1))",
        "Atanh" => "log((1 + $) / (1 - $)) / 2",
        _ => return None,
    })
}

/// LpPool, as an average pool that counts its zero padding: of |x| to the
/// `p`, times the window's taps, to the `1 / p`. Other windows pass through.
struct Lp;

impl Lp {
    fn p(n: &NodeProto, op: &str) -> Option<f64> {
        (op == "LpPool").then(|| attr_i(n, "p", 2) as f64)
    }

    /// The pool's input.
    fn powered(n: &NodeProto, op: &str, x: String) -> String {
        match Lp::p(n, op) {
            None => x,
            Some(2.0) => format!("square({x})"),
            Some(p) => format!("pow(abs({x}), {})", float(p)),
        }
    }

    /// The node's result, from the pool's.
    fn root(n: &NodeProto, op: &str, average: String, kernel: &[i64]) -> String {
        let taps = float(kernel.iter().product::<i64>() as f64);
        match Lp::p(n, op) {
            None => average,
            Some(2.0) => format!("sqrt({average} * {taps})"),
            Some(p) => format!("pow({average} * {taps}, {})", float(1.0 / p)),
        }
    }
}

/// A window's geometry along its spatial axes, for writing its padding in
/// the language's terms.
struct Window {
    /// The input's spatial dims, where known.
    spatial: Vec<Option<u64>>,
    kernel: Vec<i64>,
    strides: Vec<i64>,
    dilations: Vec<i64>,
}

/// A window's padding as the language writes it.
struct Padding {
    /// Zeros padded in first, (begin, end) per spatial axis: the pads of an
    /// average that counts them (ONNX's `count_include_pad`).
    zeros: Option<Vec<(u64, u64)>>,
    /// The padding the window itself slides over (never counted).
    sides: Sides,
}

enum Sides {
    Same,
    Valid,
    /// (begin, end) per spatial axis.
    Explicit(Vec<(u64, u64)>),
}

impl Sides {
    /// The `padding =` argument over the axes `axes`.
    fn text(&self, axes: std::ops::Range<usize>) -> String {
        match self {
            Sides::Same => "\"same\"".into(),
            Sides::Valid => "\"valid\"".into(),
            Sides::Explicit(p) => {
                let sides: Vec<String> =
                    p[axes].iter().map(|(b, e)| format!("[{b}, {e}]")).collect();
                format!("[{}]", sides.join(", "))
            }
        }
    }
}

impl Window {
    /// `v` (one entry an axis) as positive sizes.
    fn positive(&self, v: &[i64]) -> Result<Vec<u64>> {
        let axes = self.spatial.len();
        let sizes: Option<Vec<u64>> = v
            .iter()
            .map(|&x| u64::try_from(x).ok().filter(|&x| x > 0))
            .collect();
        sizes.filter(|s| s.len() == axes).ok_or_else(|| {
            format!("kernel_shape, strides and dilations need {axes} positive entries")
        })
    }

    /// The spatial dims, with `zeros` padded in, if all are known.
    fn known_spatial(&self, zeros: Option<&[(u64, u64)]>) -> Option<Vec<u64>> {
        self.spatial
            .iter()
            .enumerate()
            .map(|(a, d)| {
                let z = zeros
                    .and_then(|z| z.get(a))
                    .map_or(0, |(b, e)| b.saturating_add(*e));
                d.map(|d| d.saturating_add(z))
            })
            .collect()
    }

    /// `n`'s padding: ONNX's `auto_pad` (`SAME_UPPER` / `SAME_LOWER` put the
    /// odd element at the end / the beginning), or its explicit `pads`
    /// (all the begins, then all the ends); with `ceil_mode`, each end
    /// grows by the overhang of a last, partial window, which ONNX drops
    /// where it would start past the input and its beginning padding.
    fn padding(&self, n: &NodeProto, op: &str, pads: Option<Vec<i64>>) -> Result<Padding> {
        let axes = self.spatial.len();
        let auto_pad = attr_s(n, "auto_pad").unwrap_or_else(|| "NOTSET".into());
        let ceil = op != "Conv" && attr_i(n, "ceil_mode", 0) == 1;
        let include_pad =
            (op == "AveragePool" && attr_i(n, "count_include_pad", 0) == 1) || op == "LpPool";
        // A dilated pool is written tap by tap, each over explicit padding.
        let dilated = op != "Conv" && self.dilations.iter().any(|&d| d != 1);
        let keyword = |sides| Ok(Padding { zeros: None, sides });
        let pads = match auto_pad.as_str() {
            "SAME_UPPER" if !ceil && !include_pad && !dilated => return keyword(Sides::Same),
            "VALID" if !ceil && !dilated => return keyword(Sides::Valid),
            "SAME_UPPER" | "SAME_LOWER" | "VALID" => Vec::new(),
            "NOTSET" => pads.unwrap_or_else(|| vec![0; 2 * axes]),
            other => return Err(format!("auto_pad = {other} is not supported")),
        };
        let positive = |v: Option<&i64>| v.and_then(|&v| u64::try_from(v).ok()).filter(|&v| v > 0);
        let mut sides = Vec::with_capacity(axes);
        let mut overhang = Vec::with_capacity(axes);
        for a in 0..axes {
            let (Some(k), Some(s), Some(d)) = (
                positive(self.kernel.get(a)),
                positive(self.strides.get(a)),
                positive(self.dilations.get(a)),
            ) else {
                return Err(
                    "kernel_shape, strides and dilations need one positive entry an axis".into(),
                );
            };
            let x = self
                .spatial
                .get(a)
                .copied()
                .flatten()
                .ok_or("this padding needs the input's spatial dims known when importing")?;
            let reach = (k - 1).saturating_mul(d).saturating_add(1);
            let (begin, mut end) = match auto_pad.as_str() {
                "SAME_UPPER" | "SAME_LOWER" => {
                    let total = ((x.div_ceil(s) - 1) * s)
                        .saturating_add(reach)
                        .saturating_sub(x);
                    let small = total / 2;
                    if auto_pad == "SAME_UPPER" {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    }
                }
                "VALID" => (0, 0),
                _ => {
                    let side = |i: usize| {
                        pads.get(i)
                            .and_then(|&p| u64::try_from(p).ok())
                            .ok_or("pads must not be negative")
                    };
                    (side(a)?, side(a + axes)?)
                }
            };
            let padded = x.saturating_add(begin).saturating_add(end);
            if padded < reach {
                return Err(format!("a {op} window larger than its padded input"));
            }
            let mut over = 0;
            if ceil && !auto_pad.starts_with("SAME") {
                let mut out = (padded - reach).div_ceil(s) + 1;
                if (out - 1) * s >= x + begin {
                    out -= 1;
                }
                over = ((out - 1) * s).saturating_add(reach).saturating_sub(padded);
                end += over;
            }
            sides.push((begin, end));
            overhang.push(over);
        }
        if !include_pad
            || sides
                .iter()
                .zip(&overhang)
                .all(|(&(b, e), &o)| b == 0 && e == o)
        {
            return keyword(Sides::Explicit(sides));
        }
        // Counted pads are zeros padded in; only the overhang of
        // `ceil_mode` stays the window's own (not counted).
        Ok(Padding {
            zeros: Some(
                sides
                    .iter()
                    .zip(&overhang)
                    .map(|(&(b, e), &o)| (b, e - o))
                    .collect(),
            ),
            sides: Sides::Explicit(overhang.iter().map(|&o| (0, o)).collect()),
        })
    }
}

/// A 2-D pool over the NHWC operand `x` with spatial dims `dims`: the
/// language's `max_pool`/`avg_pool`, or, dilated (which those do not take),
/// the maximum or the mean of every tap's strided slice.
struct Pool2d<'a> {
    max: bool,
    x: &'a str,
    dtype: DType,
    /// Needed (known) only when dilated.
    dims: Option<[u64; 2]>,
    k: [u64; 2],
    s: [u64; 2],
    d: [u64; 2],
    sides: &'a Sides,
}

/// A pool taken tap by tap: its input's spatial dims and its output's.
struct Taps {
    dims: [u64; 2],
    out: [u64; 2],
}

impl Pool2d<'_> {
    /// The pool, counting what it writes out in `budget`.
    fn text(&self, budget: &Cell<u64>) -> Result<String> {
        let f = if self.max { "max_pool" } else { "avg_pool" };
        if self.d == [1, 1] {
            return Ok(self.call(f));
        }
        let Taps { dims, out } = self.taps("a dilated pool")?;
        written(
            budget,
            self.k[0].saturating_mul(self.k[1]),
            "a dilated pool window",
        )?;
        if self.max {
            let all = self.tap_slices(&self.padded(self.x, "-1.0 / 0.0")?, out);
            let first = all.first().cloned().unwrap_or_default();
            return Ok(all[1..]
                .iter()
                .fold(first, |m, t| format!("maximum({m}, {t})")));
        }
        // The mean over the real elements: their count is the same taps'
        // sum over ones padded with zeros.
        let sum = self
            .tap_slices(&self.padded(self.x, "0.0")?, out)
            .join(" + ");
        let ones = format!(
            "broadcast_to(cast(1.0, {}), [1, {}, {}, 1])",
            self.dtype, dims[0], dims[1]
        );
        let count = self
            .tap_slices(&self.padded(&ones, "0.0")?, out)
            .join(" + ");
        Ok(format!("(({sum}) / ({count}))"))
    }

    /// MaxPool's `Indices` (NHWC): for each window, the flat row-major
    /// NCHW index of its first largest element in row-major order, as
    /// ONNX's reference scans. `pooled` names the pool's result, `values`
    /// the input and `index` its [`flat_index`], both [`padded`](Self::padded)
    /// (with -inf, and one past the last index). Computed tap by tap: the
    /// smallest index whose element equals the window's maximum.
    fn indices(
        &self,
        budget: &Cell<u64>,
        pooled: &str,
        values: &str,
        index: &str,
        none: u64,
    ) -> Result<String> {
        let Taps { out, .. } = self.taps("a MaxPool's indices")?;
        let taps = self.k[0].saturating_mul(self.k[1]);
        written(budget, taps.saturating_mul(2), "a MaxPool's indices")?;
        let values = self.tap_slices(values, out);
        let index = self.tap_slices(index, out);
        Ok(values
            .iter()
            .zip(&index)
            .map(|(v, i)| format!("where({v} == {pooled}, {i}, {none})"))
            .reduce(|m, t| format!("minimum({m}, {t})"))
            .unwrap_or_default())
    }

    /// The input's spatial dims and the output's, where the pool is taken
    /// tap by tap (`what` names it in errors).
    fn taps(&self, what: &str) -> Result<Taps> {
        let sides = self.explicit_sides()?;
        let dims = self
            .dims
            .ok_or_else(|| format!("{what} needs the input's spatial dims known when importing"))?;
        let mut out = [0; 2];
        for a in 0..2 {
            let padded = dims[a]
                .saturating_add(sides[a].0)
                .saturating_add(sides[a].1);
            let reach = (self.k[a] - 1).saturating_mul(self.d[a]).saturating_add(1);
            if padded < reach {
                return Err("a pool window larger than its padded input".into());
            }
            out[a] = (padded - reach) / self.s[a] + 1;
        }
        Ok(Taps { dims, out })
    }

    fn explicit_sides(&self) -> Result<&[(u64, u64)]> {
        match self.sides {
            Sides::Explicit(sides) => Ok(sides),
            Sides::Valid => Ok(&[(0, 0), (0, 0)]),
            Sides::Same => {
                Err("a pool taken tap by tap needs explicit pads, not auto_pad SAME".into())
            }
        }
    }

    /// NHWC `t` padded by the pool's sides with `value`.
    fn padded(&self, t: &str, value: &str) -> Result<String> {
        let sides = self.explicit_sides()?;
        if sides.iter().all(|&(b, e)| b == 0 && e == 0) {
            return Ok(t.to_string());
        }
        Ok(format!(
            "pad({t}, [[0, 0], [{}, {}], [{}, {}], [0, 0]], value = {value})",
            sides[0].0, sides[0].1, sides[1].0, sides[1].1
        ))
    }

    /// Tap (i, j) of every window, in row-major order of the taps: a
    /// strided slice of the padded input `t`, for an output of `out`
    /// ([`taps`](Self::taps)).
    fn tap_slices(&self, t: &str, out: [u64; 2]) -> Vec<String> {
        let along = |a: usize, i: u64| {
            let start = i.saturating_mul(self.d[a]);
            let end = start.saturating_add((out[a] - 1).saturating_mul(self.s[a]) + 1);
            format!("{start}:{end}:{}", self.s[a])
        };
        (0..self.k[0])
            .flat_map(|i| (0..self.k[1]).map(move |j| (i, j)))
            .map(|(i, j)| format!("{t}[:, {}, {}]", along(0, i), along(1, j)))
            .collect()
    }

    /// The language's own pool.
    fn call(&self, f: &str) -> String {
        format!(
            "{f}({}, {}, stride = {}, padding = {})",
            self.x,
            list(&self.k),
            list(&self.s),
            self.sides.text(0..2)
        )
    }
}
