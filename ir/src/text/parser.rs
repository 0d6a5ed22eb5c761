//! Text → Graph IR: a recursive-descent parser over the lexer's tokens.

use super::lexer::{lex, Label, Pos, Tok};
use super::ParseError;
use crate::graph::{Graph, Loc, Node, ValueId};
use crate::op::{BinaryOp, Init, InputDefault, Op, ReduceOp, UnaryOp};
use crate::tensor::{Data, Tensor};
use crate::types::{DType, Dim, Shape, Type};
use std::collections::HashMap;

pub fn parse_graphs(text: &str) -> Result<Vec<Graph>, ParseError> {
    Ok(parse_with_positions(text)?.0)
}

/// The graphs of `text`, and where in `text` each node of each is defined
/// (its label), by graph, in node order.
pub fn parse_with_positions(text: &str) -> Result<(Vec<Graph>, Vec<Vec<Loc>>), ParseError> {
    let mut p = Parser::new(text)?;
    let mut graphs = Vec::new();
    let mut positions = Vec::new();
    while p.peek().is_some() {
        graphs.push(p.graph()?);
        positions.push(std::mem::take(&mut p.positions));
    }
    Ok((graphs, positions))
}

fn end_pos(text: &str) -> Pos {
    let line = text.lines().count().max(1) as u32 + u32::from(text.ends_with('\n'));
    let col = if text.ends_with('\n') {
        1
    } else {
        text.lines().last().map_or(0, |l| l.chars().count()) as u32 + 1
    };
    Pos { line, col }
}

/// A literal before its dtype is known: element texts and the nesting's shape.
struct RawLiteral {
    elems: Vec<(String, Pos)>,
    shape: Vec<usize>,
    /// The `as TYPE` that overrides the context dtype and the nesting's shape.
    as_type: Option<(Type, Pos)>,
    pos: Pos,
}

/// Reads `text`, the value of an input's `default` attribute in the Graph
/// IR's syntax, for an input of `dtype` (the Kernel IR's buffer lines use it).
pub fn parse_default(text: &str, dtype: DType) -> Result<InputDefault, ParseError> {
    let mut p = Parser::new(text)?;
    let default = match p.attr("default")? {
        Attr::DefaultFile(path) => InputDefault::File(path),
        Attr::Default(raw) => InputDefault::Value(tensor(raw, dtype)?),
        _ => return Err(ParseError::at(p.pos(), "expected a default")),
    };
    p.end_of_text()?;
    Ok(default)
}

/// Reads `text`, the value of a param's `init` attribute in the Graph IR's
/// syntax, for a param of `dtype` (the Kernel IR's buffer lines use it).
pub fn parse_init(text: &str, dtype: DType) -> Result<Init, ParseError> {
    let mut p = Parser::new(text)?;
    let init = match p.init()? {
        RawInit::Literal(raw) => Init::Literal(tensor(raw, dtype)?),
        RawInit::Other(init) => init,
    };
    p.end_of_text()?;
    Ok(init)
}

enum RawInit {
    Literal(RawLiteral),
    Other(Init),
}

enum Attr {
    Name(String),
    Default(RawLiteral),
    /// `default = "x.npy"`.
    DefaultFile(String),
    Init(RawInit),
    Ints(Vec<usize>),
    Int(u64),
    Bool(bool),
    Shape(Shape),
    DType(DType),
}

const ATTR_KEYS: [&str; 12] = [
    "name", "default", "init", "axes", "keepdims", "axis", "perm", "shape", "depth", "to", "start",
    "step",
];

struct Parser {
    toks: Vec<(Tok, Pos)>,
    i: usize,
    end: Pos,
    /// Where each node of the graph being read is defined.
    positions: Vec<Loc>,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) | Tok::Num(s) => format!("`{s}`"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Value(_) => "a value".into(),
        Tok::Punct(c) => format!("`{c}`"),
    }
}

impl Parser {
    fn new(text: &str) -> Result<Parser, ParseError> {
        Ok(Parser {
            toks: lex(text)?,
            i: 0,
            end: end_pos(text),
            positions: Vec::new(),
        })
    }

    fn end_of_text(&self) -> Result<(), ParseError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(ParseError::at(
                self.pos(),
                format!("expected the end of the line, found {}", describe(t)),
            )),
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(t, _)| t)
    }

    fn pos(&self) -> Pos {
        self.toks.get(self.i).map_or(self.end, |&(_, p)| p)
    }

    fn next(&mut self) -> Option<(Tok, Pos)> {
        let t = self.toks.get(self.i).cloned();
        self.i += usize::from(t.is_some());
        t
    }

    fn error<T>(&self, expected: &str) -> Result<T, ParseError> {
        let found = self.peek().map_or("the end of the text".into(), describe);
        Err(ParseError::at(
            self.pos(),
            format!("expected {expected}, found {found}"),
        ))
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(&Tok::Punct(c));
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            self.error(&format!("`{c}`"))
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == w)
    }

    fn ident(&mut self, what: &str) -> Result<(String, Pos), ParseError> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                Ok((s, self.next().map_or(self.end, |(_, p)| p)))
            }
            _ => self.error(what),
        }
    }

    /// An identifier or a quoted string.
    fn name(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek() {
            Some(Tok::Ident(s) | Tok::Str(s)) => {
                let s = s.clone();
                self.i += 1;
                Ok(s)
            }
            _ => self.error(what),
        }
    }

    fn label(&mut self) -> Result<(Label, Pos), ParseError> {
        match self.peek() {
            Some(Tok::Value(l)) => {
                let l = l.clone();
                Ok((l, self.next().map_or(self.end, |(_, p)| p)))
            }
            _ => self.error("a value such as %x or %3"),
        }
    }

    fn uint(&mut self, what: &str) -> Result<u64, ParseError> {
        match self.peek() {
            Some(Tok::Num(s)) => match s.parse() {
                Ok(n) => {
                    self.i += 1;
                    Ok(n)
                }
                Err(_) => self.error(what),
            },
            _ => self.error(what),
        }
    }

    fn graph(&mut self) -> Result<Graph, ParseError> {
        if !self.is_word("graph") {
            return self.error("`graph`");
        }
        self.i += 1;
        let mut g = Graph::new(self.name("the graph's name")?);
        self.expect('{')?;
        let mut defined: HashMap<Label, ValueId> = HashMap::new();
        // Operands may name later nodes (an invalid graph still prints and
        // parses back), so references are resolved once the body is read.
        let mut uses: Vec<(Label, Pos)> = Vec::new();
        let mut node_args: Vec<Vec<usize>> = Vec::new();
        let mut outputs = Vec::new();
        let mut updates = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Punct('}')) => break,
                Some(Tok::Value(_)) => {
                    let (label, pos) = self.label()?;
                    let id = ValueId(g.nodes.len() as u32);
                    if defined.insert(label.clone(), id).is_some() {
                        return Err(ParseError::at(pos, format!("{label} is defined twice")));
                    }
                    let (node, args) = self.node(label, &mut uses)?;
                    self.positions.push(Loc {
                        line: pos.line,
                        col: pos.col,
                    });
                    g.nodes.push(node);
                    node_args.push(args);
                }
                Some(Tok::Ident(w)) if w == "output" => {
                    self.i += 1;
                    loop {
                        let name = self.name("an output name")?;
                        self.expect('=')?;
                        let (l, p) = self.label()?;
                        outputs.push((name, uses.len()));
                        uses.push((l, p));
                        if !self.eat(',') {
                            break;
                        }
                    }
                }
                Some(Tok::Ident(w)) if w == "update" => {
                    self.i += 1;
                    let (target, p) = self.label()?;
                    uses.push((target, p));
                    self.expect('=')?;
                    let (value, p) = self.label()?;
                    uses.push((value, p));
                    updates.push(uses.len() - 2);
                }
                _ => return self.error("a value definition, `output`, `update` or `}`"),
            }
        }
        self.expect('}')?;
        let resolved = uses
            .into_iter()
            .map(|(l, p)| {
                defined
                    .get(&l)
                    .copied()
                    .ok_or_else(|| ParseError::at(p, format!("{l} is not defined")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (node, args) in g.nodes.iter_mut().zip(node_args) {
            node.args = args.into_iter().map(|u| resolved[u]).collect();
        }
        g.outputs = outputs.into_iter().map(|(n, u)| (n, resolved[u])).collect();
        g.updates = updates
            .into_iter()
            .map(|u| (resolved[u], resolved[u + 1]))
            .collect();
        Ok(g)
    }

    /// `OP [LITERAL] [%a, %b] [{attrs}] : TYPE [loc(L:C)]` after `%label =`.
    fn node(
        &mut self,
        label: Label,
        uses: &mut Vec<(Label, Pos)>,
    ) -> Result<(Node, Vec<usize>), ParseError> {
        self.expect('=')?;
        let (op_name, op_pos) = self.ident("an op name")?;
        let value = if op_name == "const" {
            Some(self.literal()?)
        } else {
            None
        };
        let mut args = Vec::new();
        if matches!(self.peek(), Some(Tok::Value(_))) {
            loop {
                args.push(uses.len());
                uses.push(self.label()?);
                if !self.eat(',') {
                    break;
                }
            }
        }
        let mut attrs: Vec<(String, Attr, Pos)> = Vec::new();
        if self.eat('{') {
            loop {
                let (key, pos) = self.ident("an attribute name")?;
                if !ATTR_KEYS.contains(&key.as_str()) {
                    return Err(ParseError::at(pos, format!("unknown attribute `{key}`")));
                }
                if attrs.iter().any(|(k, ..)| *k == key) {
                    return Err(ParseError::at(
                        pos,
                        format!("attribute `{key}` is given twice"),
                    ));
                }
                self.expect('=')?;
                let value = self.attr(&key)?;
                attrs.push((key, value, pos));
                if !self.eat(',') {
                    break;
                }
            }
            self.expect('}')?;
        }
        self.expect(':')?;
        let ty = self.ty()?;
        let loc = if self.is_word("loc") {
            self.i += 1;
            self.expect('(')?;
            let line = self.loc_number()?;
            self.expect(':')?;
            let col = self.loc_number()?;
            self.expect(')')?;
            Some(Loc { line, col })
        } else {
            None
        };
        let name = match label {
            Label::Named(n, _) => Some(n),
            Label::Index(_) => None,
        };
        let op = build_op(&op_name, op_pos, value, attrs, &ty, name.as_deref())?;
        Ok((
            Node {
                op,
                args: Vec::new(),
                ty,
                name,
                loc,
            },
            args,
        ))
    }

    fn loc_number(&mut self) -> Result<u32, ParseError> {
        let n = self.uint("a line or column number")?;
        u32::try_from(n).map_err(|_| ParseError::at(self.pos(), "line or column number too large"))
    }

    fn attr(&mut self, key: &str) -> Result<Attr, ParseError> {
        Ok(match key {
            "name" => Attr::Name(self.name("a name")?),
            "default" => match self.peek() {
                Some(Tok::Str(path)) => {
                    let path = path.clone();
                    self.i += 1;
                    Attr::DefaultFile(path)
                }
                _ => Attr::Default(self.literal()?),
            },
            "init" => Attr::Init(self.init()?),
            "axes" | "perm" | "start" | "step" => {
                self.expect('[')?;
                let mut xs = Vec::new();
                while !self.eat(']') {
                    if !xs.is_empty() {
                        self.expect(',')?;
                    }
                    xs.push(self.uint(if key == "axes" || key == "perm" {
                        "an axis"
                    } else {
                        "an integer"
                    })? as usize);
                }
                Attr::Ints(xs)
            }
            "keepdims" => match self.peek() {
                Some(Tok::Ident(w)) if w == "true" || w == "false" => {
                    let b = w == "true";
                    self.i += 1;
                    Attr::Bool(b)
                }
                _ => return self.error("`true` or `false`"),
            },
            "shape" => Attr::Shape(self.dims()?),
            "to" => {
                let (w, pos) = self.ident("a dtype")?;
                Attr::DType(
                    DType::from_name(&w)
                        .ok_or_else(|| ParseError::at(pos, format!("unknown dtype `{w}`")))?,
                )
            }
            _ => Attr::Int(self.uint("a non-negative integer")?),
        })
    }

    fn init(&mut self) -> Result<RawInit, ParseError> {
        let word = match self.peek() {
            Some(Tok::Ident(w)) if !matches!(w.as_str(), "true" | "false" | "inf" | "nan") => {
                w.clone()
            }
            _ => return Ok(RawInit::Literal(self.literal()?)),
        };
        let pos = self.pos();
        self.i += 1;
        let init = match word.as_str() {
            "zeros" => Init::Zeros,
            "ones" => Init::Ones,
            "glorot" => Init::Glorot,
            "full" => {
                self.expect('(')?;
                let v = self.f64()?;
                self.expect(')')?;
                Init::Full(v)
            }
            "uniform" => {
                let [lo, hi] = self.keyword_args(["lo", "hi"])?;
                Init::Uniform { lo, hi }
            }
            "normal" => {
                let [mean, std] = self.keyword_args(["mean", "std"])?;
                Init::Normal { mean, std }
            }
            _ => {
                return Err(ParseError::at(
                    pos,
                    format!("unknown initialiser `{word}`; expected a literal, zeros, ones, full, uniform, normal or glorot"),
                ))
            }
        };
        Ok(RawInit::Other(init))
    }

    /// `(k0 = v0, k1 = v1)`, keys in this order.
    fn keyword_args<const N: usize>(&mut self, keys: [&str; N]) -> Result<[f64; N], ParseError> {
        self.expect('(')?;
        let mut out = [0.0; N];
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                self.expect(',')?;
            }
            if !self.is_word(key) {
                return self.error(&format!("`{key}`"));
            }
            self.i += 1;
            self.expect('=')?;
            out[i] = self.f64()?;
        }
        self.expect(')')?;
        Ok(out)
    }

    fn f64(&mut self) -> Result<f64, ParseError> {
        let (text, pos) = self.scalar()?;
        parse_f64(&text)
            .ok_or_else(|| ParseError::at(pos, format!("expected a number, found `{text}`")))
    }

    /// One element's text: a number, `true`, `false`, `inf`, `nan` or `nan(0xBITS)`.
    fn scalar(&mut self) -> Result<(String, Pos), ParseError> {
        let pos = self.pos();
        let text = match self.peek() {
            Some(Tok::Num(s)) => s.clone(),
            Some(Tok::Ident(w)) if matches!(w.as_str(), "true" | "false" | "inf" | "nan") => {
                w.clone()
            }
            _ => return self.error("a number, `true` or `false`"),
        };
        self.i += 1;
        if text.ends_with("nan") && self.eat('(') {
            let bits = match self.next() {
                Some((Tok::Num(b), _)) => b,
                _ => {
                    return Err(ParseError::at(
                        pos,
                        "expected the bits of a NaN, as in nan(0x7fc00001)",
                    ))
                }
            };
            self.expect(')')?;
            return Ok((format!("{text}({bits})"), pos));
        }
        Ok((text, pos))
    }

    fn literal(&mut self) -> Result<RawLiteral, ParseError> {
        let pos = self.pos();
        let mut elems = Vec::new();
        let shape = self.nested(&mut elems)?;
        let as_type = if self.is_word("as") {
            self.i += 1;
            let p = self.pos();
            Some((self.ty()?, p))
        } else {
            None
        };
        Ok(RawLiteral {
            elems,
            shape,
            as_type,
            pos,
        })
    }

    /// Reads one level of a nested literal; gives its shape.
    fn nested(&mut self, elems: &mut Vec<(String, Pos)>) -> Result<Vec<usize>, ParseError> {
        if !self.eat('[') {
            elems.push(self.scalar()?);
            return Ok(Vec::new());
        }
        let mut inner: Option<Vec<usize>> = None;
        let mut n = 0;
        while !self.eat(']') {
            if n > 0 {
                self.expect(',')?;
            }
            let pos = self.pos();
            let s = self.nested(elems)?;
            if inner.as_ref().is_some_and(|i| *i != s) {
                return Err(ParseError::at(
                    pos,
                    "the rows of an array literal must all have the same shape",
                ));
            }
            inner = Some(s);
            n += 1;
        }
        let mut shape = vec![n];
        shape.extend(inner.unwrap_or_default());
        Ok(shape)
    }

    fn ty(&mut self) -> Result<Type, ParseError> {
        let (w, pos) = self.ident("a type such as f32 or f32[B, 3]")?;
        let dtype = DType::from_name(&w)
            .ok_or_else(|| ParseError::at(pos, format!("unknown dtype `{w}`")))?;
        let shape = if self.peek() == Some(&Tok::Punct('[')) {
            self.dims()?
        } else {
            Shape::scalar()
        };
        Ok(Type::new(dtype, shape))
    }

    fn dims(&mut self) -> Result<Shape, ParseError> {
        self.expect('[')?;
        let mut dims = Vec::new();
        while !self.eat(']') {
            if !dims.is_empty() {
                self.expect(',')?;
            }
            dims.push(match self.peek() {
                Some(Tok::Num(_)) => Dim::Known(self.uint("a dimension size")?),
                _ => Dim::Sym(self.name("a dimension: a size or a name")?),
            });
        }
        Ok(Shape(dims))
    }
}

fn parse_f32(s: &str) -> Option<f32> {
    match nan_bits(s) {
        Some(bits) => u32::try_from(bits?)
            .ok()
            .map(f32::from_bits)
            .filter(|x| x.is_nan()),
        None if s == "nan" => Some(f32::NAN),
        None => s.parse().ok(),
    }
}

fn parse_f64(s: &str) -> Option<f64> {
    match nan_bits(s) {
        Some(bits) => bits.map(f64::from_bits).filter(|x| x.is_nan()),
        None if s == "nan" => Some(f64::NAN),
        None => s.parse().ok(),
    }
}

/// `Some(bits)` for `nan(0xBITS)`, `Some(None)` if the bits are malformed.
fn nan_bits(s: &str) -> Option<Option<u64>> {
    let hex = s.strip_prefix("nan(")?.strip_suffix(')')?;
    Some(
        hex.strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok()),
    )
}

/// Gives a raw literal its dtype (from `as` or from the context) and shape.
fn tensor(raw: RawLiteral, context: DType) -> Result<Tensor, ParseError> {
    let (dtype, shape) = match raw.as_type {
        Some((ty, pos)) => {
            let shape = ty
                .shape
                .concrete()
                .ok_or_else(|| ParseError::at(pos, "a literal's type must have known dims"))?;
            if shape.iter().product::<usize>() != raw.elems.len() {
                return Err(ParseError::at(
                    pos,
                    format!(
                        "{} elements do not fill {}",
                        raw.elems.len(),
                        super::printer::ty(&ty)
                    ),
                ));
            }
            (ty.dtype, shape)
        }
        None => (context, raw.shape),
    };
    fn convert<T>(
        elems: &[(String, Pos)],
        what: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<T>, ParseError> {
        elems
            .iter()
            .map(|(s, p)| {
                f(s).ok_or_else(|| ParseError::at(*p, format!("expected {what}, found `{s}`")))
            })
            .collect()
    }
    let e = &raw.elems;
    let data = match dtype {
        DType::F32 => Data::F32(convert(e, "an f32", parse_f32)?),
        DType::F64 => Data::F64(convert(e, "an f64", parse_f64)?),
        DType::I32 => Data::I32(convert(e, "an i32", |s| s.parse().ok())?),
        DType::I64 => Data::I64(convert(e, "an i64", |s| s.parse().ok())?),
        DType::Bool => Data::Bool(convert(e, "true or false", |s| s.parse().ok())?),
    };
    Tensor::new(shape, data).ok_or_else(|| ParseError::at(raw.pos, "malformed literal"))
}

fn build_op(
    op_name: &str,
    op_pos: Pos,
    value: Option<RawLiteral>,
    attrs: Vec<(String, Attr, Pos)>,
    ty: &Type,
    node_name: Option<&str>,
) -> Result<Op, ParseError> {
    let allowed: &[&str] = match op_name {
        "input" => &["name", "default"],
        "param" => &["name", "init"],
        _ if op_name.starts_with("reduce_") => &["axes", "keepdims"],
        "argmax" | "argmin" | "concat" => &["axis"],
        "transpose" => &["perm"],
        "reshape" | "broadcast_to" => &["shape"],
        "slice" => &["start", "step", "shape"],
        "one_hot" => &["depth"],
        "cast" => &["to"],
        _ => &[],
    };
    let mut found: HashMap<String, Attr> = HashMap::new();
    for (key, attr, pos) in attrs {
        if !allowed.contains(&key.as_str()) {
            return Err(ParseError::at(
                pos,
                format!("{op_name} has no attribute `{key}`"),
            ));
        }
        found.insert(key, attr);
    }
    let missing =
        |key: &str| ParseError::at(op_pos, format!("{op_name} needs the attribute `{key}`"));
    let mut take = |key: &str| found.remove(key);
    let leaf_name = |given: Option<Attr>| match given {
        Some(Attr::Name(n)) => Ok(n),
        _ => node_name.map(str::to_string).ok_or_else(|| missing("name")),
    };
    let op = match op_name {
        "input" => {
            let name = leaf_name(take("name"))?;
            let default = match take("default") {
                Some(Attr::Default(raw)) => Some(InputDefault::Value(tensor(raw, ty.dtype)?)),
                Some(Attr::DefaultFile(path)) => Some(InputDefault::File(path)),
                _ => None,
            };
            Op::Input { name, default }
        }
        "param" => {
            let name = leaf_name(take("name"))?;
            let init = match take("init") {
                Some(Attr::Init(RawInit::Literal(raw))) => Init::Literal(tensor(raw, ty.dtype)?),
                Some(Attr::Init(RawInit::Other(init))) => init,
                _ => return Err(missing("init")),
            };
            Op::Param { name, init }
        }
        "const" => Op::Const(tensor(value.ok_or_else(|| missing("value"))?, ty.dtype)?),
        "select" => Op::Select,
        "matmul" => Op::MatMul,
        "grad" => Op::Grad,
        "stop_gradient" => Op::StopGradient,
        "slice" => match (take("start"), take("step"), take("shape")) {
            (Some(Attr::Ints(start)), Some(Attr::Ints(step)), Some(Attr::Shape(shape))) => {
                Op::Slice {
                    start: start.into_iter().map(|x| x as u64).collect(),
                    step: step.into_iter().map(|x| x as u64).collect(),
                    shape,
                }
            }
            _ => return Err(missing("start, step and shape")),
        },
        "argmax" | "argmin" | "concat" => {
            let axis = match take("axis") {
                Some(Attr::Int(a)) => a as usize,
                _ => return Err(missing("axis")),
            };
            match op_name {
                "argmax" => Op::ArgMax { axis },
                "argmin" => Op::ArgMin { axis },
                _ => Op::Concat { axis },
            }
        }
        "transpose" => match take("perm") {
            Some(Attr::Ints(perm)) => Op::Transpose { perm },
            _ => return Err(missing("perm")),
        },
        "reshape" | "broadcast_to" => match take("shape") {
            Some(Attr::Shape(shape)) if op_name == "reshape" => Op::Reshape { shape },
            Some(Attr::Shape(shape)) => Op::BroadcastTo { shape },
            _ => return Err(missing("shape")),
        },
        "one_hot" => match take("depth") {
            Some(Attr::Int(depth)) => Op::OneHot { depth },
            _ => return Err(missing("depth")),
        },
        "cast" => match take("to") {
            Some(Attr::DType(to)) => Op::Cast { to },
            _ => return Err(missing("to")),
        },
        _ => {
            if let Some(r) = op_name
                .strip_prefix("reduce_")
                .and_then(ReduceOp::from_name)
            {
                let axes = match take("axes") {
                    Some(Attr::Ints(axes)) => axes,
                    _ => return Err(missing("axes")),
                };
                let keepdims = matches!(take("keepdims"), Some(Attr::Bool(true)));
                Op::Reduce {
                    op: r,
                    axes,
                    keepdims,
                }
            } else if let Some(u) = UnaryOp::from_name(op_name) {
                Op::Unary(u)
            } else if let Some(b) = BinaryOp::from_name(op_name) {
                Op::Binary(b)
            } else {
                return Err(ParseError::at(op_pos, format!("unknown op `{op_name}`")));
            }
        }
    };
    Ok(op)
}
