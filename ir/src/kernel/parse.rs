//! Text → Kernel IR: a recursive-descent reader for what [`super::print`]
//! writes. Whitespace (newlines included) only separates words, and `//`
//! starts a comment to the end of the line.

use super::{
    BufId, Buffer, Expr, Gemm, Index, Initial, Kernel, Local, LoopKind, MatRef, Plan, Program,
    Role, Scalar, Stmt, Var,
};
use crate::op::{BinaryOp, UnaryOp};
use crate::tensor::Data;
use crate::text::ParseError;
use crate::types::DType;

/// Reads a program in the text form.
pub fn parse(text: &str) -> Result<Program> {
    let mut c = Cursor { s: text, pos: 0 };
    let p = c.program()?;
    c.ws();
    if c.pos < c.s.len() {
        return Err(c.error("expected the end of the text after the program's `}`"));
    }
    Ok(p)
}

type Result<T> = std::result::Result<T, ParseError>;

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        let before = &self.s[..self.pos];
        let line = before.matches('\n').count() as u32 + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
        ParseError {
            line,
            col,
            message: message.into(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    /// Skips whitespace and comments.
    fn ws(&mut self) {
        loop {
            let r = self.rest();
            let trimmed = r.trim_start();
            self.pos += r.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else {
                return;
            }
        }
    }

    /// Consumes `tok` (after whitespace) if it is next; a word must not run on
    /// into more word characters.
    /// Skips spaces and tabs, not newlines.
    fn ws_in_line(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start_matches([' ', '\t']).len();
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        let r = self.rest();
        if !r.starts_with(tok) {
            return false;
        }
        let word = tok.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if word && r[tok.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            return false;
        }
        self.pos += tok.len();
        true
    }

    fn expect(&mut self, tok: &str) -> Result<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{tok}`")))
        }
    }

    fn peek_word(&mut self) -> &'a str {
        self.ws();
        let r = self.rest();
        let end = r
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_alphanumeric() || c == '_') || (i == 0 && c.is_ascii_digit())
            })
            .map_or(r.len(), |(i, _)| i);
        &r[..end]
    }

    fn word(&mut self) -> Result<&'a str> {
        let w = self.peek_word();
        if w.is_empty() {
            return Err(self.error("expected a name"));
        }
        self.pos += w.len();
        Ok(w)
    }

    fn uint(&mut self) -> Result<u64> {
        self.ws();
        let r = self.rest();
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        let n = r[..end]
            .parse()
            .map_err(|_| self.error("expected a non-negative integer"))?;
        self.pos += end;
        Ok(n)
    }

    /// `prefix` followed by a number, as one word (`b3`, `i0`, `t12`).
    fn id(&mut self, prefix: char, what: &str) -> Result<u32> {
        let w = self.peek_word();
        let n = w
            .strip_prefix(prefix)
            .and_then(|d| d.parse::<u32>().ok())
            .filter(|_| w.len() > 1);
        let n =
            n.ok_or_else(|| self.error(format!("expected {what} (`{prefix}0`, `{prefix}1`, …)")))?;
        self.pos += w.len();
        Ok(n)
    }

    fn string(&mut self) -> Result<String> {
        self.expect("\"")?;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, c @ ('"' | '\\'))) => out.push(c),
                    _ => return Err(self.error("unknown escape in a string")),
                },
                c => out.push(c),
            }
        }
        Err(self.error("unterminated string"))
    }

    fn dtype(&mut self) -> Result<DType> {
        let w = self.peek_word();
        let d = DType::from_name(w)
            .ok_or_else(|| self.error(format!("expected a dtype, found `{w}`")))?;
        self.pos += w.len();
        Ok(d)
    }

    fn program(&mut self) -> Result<Program> {
        self.expect("program")?;
        self.expect("{")?;
        let mut buffers = Vec::new();
        let mut offsets = Vec::new();
        while self.eat("buffer") {
            self.ws();
            let start = self.pos;
            let id = self.id('b', "a buffer")?;
            if id as usize != buffers.len() {
                self.pos = start;
                return Err(self.error(format!("expected buffer b{} next", buffers.len())));
            }
            self.expect(":")?;
            let (buf, offset) = self.buffer()?;
            buffers.push(buf);
            offsets.push(offset);
        }
        self.expect("arena")?;
        let arena_bytes = self.uint()?;
        let mut kernels = Vec::new();
        while self.eat("kernel") {
            kernels.push(self.kernel()?);
        }
        self.expect("}")?;
        Ok(Program {
            buffers,
            kernels,
            plan: Plan {
                arena_bytes,
                offsets,
            },
        })
    }

    fn buffer(&mut self) -> Result<(Buffer, Option<u64>)> {
        let dtype = self.dtype()?;
        let mut shape = Vec::new();
        if self.eat("[") && !self.eat("]") {
            loop {
                shape.push(self.uint()?);
                if self.eat("]") {
                    break;
                }
                self.expect(",")?;
            }
        }
        let role_word = self.word()?;
        let role = match role_word {
            "input" => Role::Input(self.u32()?),
            "param" => Role::Param(self.u32()?),
            "output" => Role::Output(self.u32()?),
            "update" => Role::Update(self.u32()?),
            "temp" => Role::Temp,
            "const" => Role::Const(self.data(dtype)?),
            w => return Err(self.error(format!("unknown buffer role `{w}`"))),
        };
        let offset = if self.eat("@") {
            Some(self.uint()?)
        } else {
            None
        };
        self.ws();
        let name = if self.rest().starts_with('"') {
            Some(self.string()?)
        } else {
            None
        };
        // A default or an init is in the Graph IR's syntax, to the end of the line.
        let initial = if self.eat("default") {
            self.expect("=")?;
            Some(Initial::Default(
                self.rest_of_line(|t| crate::text::parse_default(t, dtype))?,
            ))
        } else if self.eat("init") {
            self.expect("=")?;
            Some(Initial::Init(
                self.rest_of_line(|t| crate::text::parse_init(t, dtype))?,
            ))
        } else {
            None
        };
        Ok((
            Buffer {
                dtype,
                shape,
                role,
                name,
                initial,
            },
            offset,
        ))
    }

    /// Reads the rest of the line with `read`, which reports places within
    /// that text: they are moved to the line's place here.
    fn rest_of_line<T>(
        &mut self,
        read: impl FnOnce(&str) -> std::result::Result<T, ParseError>,
    ) -> Result<T> {
        self.ws_in_line();
        let rest = self.rest();
        let len = rest.find('\n').unwrap_or(rest.len());
        let text = &rest[..len];
        let here = self.error("");
        let value = read(text).map_err(|e| ParseError {
            line: here.line,
            col: here.col + e.col - 1,
            message: e.message,
        })?;
        self.pos += len;
        Ok(value)
    }

    fn u32(&mut self) -> Result<u32> {
        let n = self.uint()?;
        u32::try_from(n).map_err(|_| self.error("number too large"))
    }

    fn data(&mut self, dtype: DType) -> Result<Data> {
        self.expect("[")?;
        let mut elems = Vec::new();
        if !self.eat("]") {
            loop {
                elems.push(self.element(dtype)?);
                if self.eat("]") {
                    break;
                }
                self.expect(",")?;
            }
        }
        let data = match dtype {
            DType::F32 => Data::F32(
                elems
                    .iter()
                    .map(|s| if let Scalar::F32(x) = s { *x } else { 0.0 })
                    .collect(),
            ),
            DType::F64 => Data::F64(
                elems
                    .iter()
                    .map(|s| if let Scalar::F64(x) = s { *x } else { 0.0 })
                    .collect(),
            ),
            DType::I32 => Data::I32(
                elems
                    .iter()
                    .map(|s| if let Scalar::I32(x) = s { *x } else { 0 })
                    .collect(),
            ),
            DType::I64 => Data::I64(
                elems
                    .iter()
                    .map(|s| if let Scalar::I64(x) = s { *x } else { 0 })
                    .collect(),
            ),
            DType::Bool => Data::Bool(
                elems
                    .iter()
                    .map(|s| matches!(s, Scalar::Bool(true)))
                    .collect(),
            ),
        };
        Ok(data)
    }

    /// One element of a constant buffer: a number without suffix, read as `dtype`.
    fn element(&mut self, dtype: DType) -> Result<Scalar> {
        match dtype {
            DType::Bool => match self.word()? {
                "true" => Ok(Scalar::Bool(true)),
                "false" => Ok(Scalar::Bool(false)),
                w => Err(self.error(format!("expected true or false, found `{w}`"))),
            },
            DType::F32 => Ok(Scalar::F32(self.float::<f32>()?)),
            DType::F64 => Ok(Scalar::F64(self.float::<f64>()?)),
            DType::I32 | DType::I64 => {
                let (text, _) = self.number_text()?;
                let bad = |c: &Self| c.error(format!("expected an integer, found `{text}`"));
                Ok(match dtype {
                    DType::I32 => Scalar::I32(text.parse().map_err(|_| bad(self))?),
                    _ => Scalar::I64(text.parse().map_err(|_| bad(self))?),
                })
            }
        }
    }

    /// A number's text (sign, digits, `.`, exponent) and the suffix after it.
    fn number_text(&mut self) -> Result<(String, &'a str)> {
        self.ws();
        let r = self.rest();
        let b = r.as_bytes();
        let mut i = usize::from(b.first() == Some(&b'-'));
        let digits = |i: &mut usize| {
            let start = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            *i > start
        };
        if !digits(&mut i) {
            return Err(self.error("expected a number"));
        }
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
            digits(&mut i);
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
                j += 1;
            }
            if digits(&mut j) {
                i = j;
            }
        }
        let text = r[..i].to_string();
        let suffix_end = r[i..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(r.len(), |e| i + e);
        self.pos += suffix_end;
        Ok((text, &r[i..suffix_end]))
    }

    /// A float written without suffix: a number, `inf`, `-inf`, `nan` or
    /// `nan(0xBITS)`.
    fn float<F: FloatBits>(&mut self) -> Result<F> {
        let (x, suffix) = self.float_and_suffix::<F>()?;
        if !suffix.is_empty() {
            return Err(self.error(format!("unexpected suffix `{suffix}`")));
        }
        Ok(x)
    }

    fn float_and_suffix<F: FloatBits>(&mut self) -> Result<(F, &'a str)> {
        self.ws();
        let neg = self.rest().starts_with('-');
        let after_sign = &self.rest()[usize::from(neg)..];
        for special in ["nan", "inf"] {
            if after_sign.starts_with(special) {
                self.pos += usize::from(neg) + special.len();
                let mut x = if special == "inf" {
                    F::INFINITY
                } else {
                    F::NAN
                };
                if special == "nan" && self.rest().starts_with("(0x") {
                    self.pos += 3;
                    let r = self.rest();
                    let end = r
                        .find(')')
                        .ok_or_else(|| self.error("expected `)` after NaN bits"))?;
                    x = F::from_hex(&r[..end]).ok_or_else(|| self.error("bad NaN bits"))?;
                    self.pos += end + 1;
                }
                if neg {
                    x = x.negate();
                }
                let r = self.rest();
                let end = r
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(r.len());
                self.pos += end;
                return Ok((x, &r[..end]));
            }
        }
        let (text, suffix) = self.number_text()?;
        let x = text
            .parse::<F>()
            .map_err(|_| self.error(format!("bad number `{text}`")))?;
        Ok((x, suffix))
    }

    fn kernel(&mut self) -> Result<Kernel> {
        self.ws();
        let name = if self.rest().starts_with('"') {
            self.string()?
        } else {
            self.word()?.to_string()
        };
        let mut lists = [Vec::new(), Vec::new()];
        for (i, word) in ["reads", "writes"].into_iter().enumerate() {
            if self.eat(word) {
                loop {
                    lists[i].push(BufId(self.id('b', "a buffer")?));
                    if !self.eat(",") {
                        break;
                    }
                }
            }
        }
        let [reads, writes] = lists;
        let body = self.block()?;
        Ok(Kernel {
            name,
            reads,
            writes,
            body,
        })
    }

    fn block(&mut self) -> Result<Vec<Stmt>> {
        self.expect("{")?;
        let mut body = Vec::new();
        while !self.eat("}") {
            body.push(self.stmt()?);
        }
        Ok(body)
    }

    fn stmt(&mut self) -> Result<Stmt> {
        let kind = if self.eat("parallel") {
            Some(LoopKind::Parallel)
        } else if self.eat("reduce") {
            self.expect("(")?;
            let mut accs = Vec::new();
            loop {
                let local = Local(self.id('t', "an accumulator")?);
                self.expect(":")?;
                let word = self.word()?;
                let op = BinaryOp::from_name(word)
                    .ok_or_else(|| self.error(format!("`{word}` is not an operator")))?;
                accs.push((local, op));
                if !self.eat(",") {
                    break;
                }
            }
            self.expect(")")?;
            Some(LoopKind::Reduce(accs))
        } else {
            None
        };
        if self.eat("for") {
            let var = Var(self.id('i', "a loop variable")?);
            self.expect("in")?;
            if self.uint()? != 0 {
                return Err(self.error("loops start at 0"));
            }
            self.expect("..")?;
            let extent = self.uint()?;
            let body = self.block()?;
            return Ok(Stmt::Loop {
                var,
                extent,
                kind: kind.unwrap_or(LoopKind::Serial),
                body,
            });
        }
        if kind.is_some() {
            return Err(self.error("expected `for` after the loop's kind"));
        }
        if self.eat("let") {
            let local = Local(self.id('t', "a local")?);
            self.expect(":")?;
            let dtype = self.dtype()?;
            self.expect("=")?;
            return Ok(Stmt::Let {
                local,
                dtype,
                value: self.expr()?,
            });
        }
        if self.eat("store") {
            let (buf, index) = self.access()?;
            self.expect("=")?;
            return Ok(Stmt::Store {
                buf,
                index,
                value: self.expr()?,
            });
        }
        if self.eat("gemm") {
            return self.gemm().map(Stmt::Gemm);
        }
        if self.peek_word().starts_with('t') {
            let local = Local(self.id('t', "a local")?);
            self.expect("=")?;
            return Ok(Stmt::Assign {
                local,
                value: self.expr()?,
            });
        }
        Err(self.error("expected a statement (`for`, `let`, `store`, `gemm` or an assignment)"))
    }

    /// `b3[index]`.
    fn access(&mut self) -> Result<(BufId, Index)> {
        let buf = BufId(self.id('b', "a buffer")?);
        self.expect("[")?;
        let index = self.index()?;
        self.expect("]")?;
        Ok((buf, index))
    }

    fn gemm(&mut self) -> Result<Gemm> {
        let (c, _) = self.mat_ref()?;
        self.expect("=")?;
        let (a, trans_a) = self.mat_ref()?;
        self.expect("@")?;
        let (b, trans_b) = self.mat_ref()?;
        self.expect("{")?;
        let mut ints = [0u64; 4];
        for (i, key) in ["m", "n", "k", "batch"].into_iter().enumerate() {
            self.expect(key)?;
            self.expect("=")?;
            ints[i] = self.uint()?;
            self.expect(",")?;
        }
        self.expect("alpha")?;
        self.expect("=")?;
        let alpha = self.float::<f64>()?;
        self.expect(",")?;
        self.expect("beta")?;
        self.expect("=")?;
        let beta = self.float::<f64>()?;
        self.expect("}")?;
        let [m, n, k, batch] = ints;
        Ok(Gemm {
            m,
            n,
            k,
            batch,
            a,
            b,
            c,
            trans_a,
            trans_b,
            alpha,
            beta,
        })
    }

    fn mat_ref(&mut self) -> Result<(MatRef, bool)> {
        let (buf, offset) = self.access()?;
        self.expect("ld")?;
        let ld = self.uint()?;
        self.expect("stride")?;
        let stride = self.uint()?;
        let trans = self.eat("trans");
        Ok((
            MatRef {
                buf,
                offset,
                ld,
                stride,
            },
            trans,
        ))
    }

    fn index(&mut self) -> Result<Index> {
        let mut acc = self.index_term()?;
        while self.eat("+") {
            acc = Index::Add(Box::new(acc), Box::new(self.index_term()?));
        }
        Ok(acc)
    }

    fn index_term(&mut self) -> Result<Index> {
        let mut acc = if self.eat("(") {
            let i = self.index()?;
            self.expect(")")?;
            i
        } else if self.peek_word().starts_with('i') {
            Index::Var(Var(self.id('i', "a loop variable")?))
        } else {
            Index::Const(self.uint()?)
        };
        loop {
            let wrap: fn(Box<Index>, u64) -> Index = if self.eat("*") {
                Index::Mul
            } else if self.eat("/") {
                Index::Div
            } else if self.eat("%") {
                Index::Rem
            } else {
                return Ok(acc);
            };
            acc = wrap(Box::new(acc), self.uint()?);
        }
    }

    fn expr(&mut self) -> Result<Expr> {
        self.ws();
        let r = self.rest();
        if r.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            return self.literal().map(Expr::Const);
        }
        let w = self.peek_word();
        let numbered =
            |p: char| w.len() > 1 && w.starts_with(p) && w[1..].bytes().all(|b| b.is_ascii_digit());
        if numbered('t') {
            return Ok(Expr::Local(Local(self.id('t', "a local")?)));
        }
        if numbered('b') {
            let (buf, index) = self.access()?;
            return Ok(Expr::Load { buf, index });
        }
        if w.starts_with("nan") || w.starts_with("inf") {
            return self.literal().map(Expr::Const);
        }
        match w {
            "true" | "false" => {
                self.pos += w.len();
                return Ok(Expr::Const(Scalar::Bool(w == "true")));
            }
            "cast" => {
                self.pos += w.len();
                self.expect("<")?;
                let to = self.dtype()?;
                self.expect(">")?;
                let [a] = self.args::<1>()?;
                return Ok(Expr::Cast(to, Box::new(a)));
            }
            "index" => {
                self.pos += w.len();
                self.expect("(")?;
                let i = self.index()?;
                self.expect(")")?;
                return Ok(Expr::Index(i));
            }
            "select" => {
                self.pos += w.len();
                let [c, a, b] = self.args::<3>()?;
                return Ok(Expr::Select(Box::new(c), Box::new(a), Box::new(b)));
            }
            _ => {}
        }
        if let Some(op) = UnaryOp::from_name(w) {
            self.pos += w.len();
            let [a] = self.args::<1>()?;
            return Ok(Expr::Unary(op, Box::new(a)));
        }
        if let Some(op) = BinaryOp::from_name(w) {
            self.pos += w.len();
            let [a, b] = self.args::<2>()?;
            return Ok(Expr::Binary(op, Box::new(a), Box::new(b)));
        }
        Err(self.error(format!("expected an expression, found `{w}`")))
    }

    fn args<const N: usize>(&mut self) -> Result<[Expr; N]> {
        self.expect("(")?;
        let mut v = Vec::with_capacity(N);
        for i in 0..N {
            if i > 0 {
                self.expect(",")?;
            }
            v.push(self.expr()?);
        }
        self.expect(")")?;
        v.try_into()
            .map_err(|_| self.error("wrong number of operands"))
    }

    /// A constant: f32 bare, other dtypes with a suffix (`f64`, `i32`, `i64`).
    fn literal(&mut self) -> Result<Scalar> {
        let start = self.pos;
        let (x, suffix) = self.float_and_suffix::<f64>()?;
        match suffix {
            "" => {
                // Re-read as f32 so that the value is rounded once, from the text.
                self.pos = start;
                let (y, _) = self.float_and_suffix::<f32>()?;
                Ok(Scalar::F32(y))
            }
            "f64" => Ok(Scalar::F64(x)),
            "i32" | "i64" => {
                self.pos = start;
                let (text, _) = self.number_text()?;
                let bad = |c: &Self| {
                    c.error(format!(
                        "expected an integer before `{suffix}`, found `{text}`"
                    ))
                };
                if suffix == "i32" {
                    text.parse().map(Scalar::I32).map_err(|_| bad(self))
                } else {
                    text.parse().map(Scalar::I64).map_err(|_| bad(self))
                }
            }
            s => Err(self.error(format!("unknown literal suffix `{s}`"))),
        }
    }
}

/// What reading floats needs from f32 and f64.
trait FloatBits: std::str::FromStr + Copy {
    const INFINITY: Self;
    const NAN: Self;
    fn negate(self) -> Self;
    fn from_hex(hex: &str) -> Option<Self>;
}

impl FloatBits for f32 {
    const INFINITY: f32 = f32::INFINITY;
    const NAN: f32 = f32::NAN;
    fn negate(self) -> f32 {
        -self
    }
    fn from_hex(hex: &str) -> Option<f32> {
        u32::from_str_radix(hex, 16).ok().map(f32::from_bits)
    }
}

impl FloatBits for f64 {
    const INFINITY: f64 = f64::INFINITY;
    const NAN: f64 = f64::NAN;
    fn negate(self) -> f64 {
        -self
    }
    fn from_hex(hex: &str) -> Option<f64> {
        u64::from_str_radix(hex, 16).ok().map(f64::from_bits)
    }
}
