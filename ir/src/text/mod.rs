//! The Graph IR's text form: one op per line, in the style of MLIR and XLA HLO.
//!
//! ```text
//! graph hello {
//!   %x = input {default = 1.0} : f32                    loc(3:5)
//!   %w = param {init = 0.8} : f32                       loc(4:5)
//!   %y = mul %w, %x : f32                               loc(5:10)
//!   output y = %y
//! }
//! ```
//!
//! [`print()`] and [`parse`] round-trip exactly: `parse(&print(g)) == Ok(g)` for
//! every graph whose operands, outputs and updates name existing nodes and
//! whose tensors hold as many elements as their shapes say (floats keep their
//! bits; the grammar is in `docs/ir.md`).

mod lexer;
mod parser;
mod printer;

use lexer::Pos;
use std::fmt;

use crate::graph::Graph;

/// IR text (a graph, or a Kernel IR program) that does not parse, with the
/// 1-based place where it stops being IR. Both text forms report this one type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub col: u32,
    /// What was expected there, or what is wrong.
    pub message: String,
}

impl ParseError {
    fn at(pos: Pos, message: impl Into<String>) -> ParseError {
        ParseError {
            line: pos.line,
            col: pos.col,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The text form of `g`.
pub fn print(g: &Graph) -> String {
    let mut out = String::new();
    printer::print_graph(&mut out, g);
    out
}

/// Several graphs, separated by blank lines.
pub fn print_module(graphs: &[Graph]) -> String {
    let texts: Vec<String> = graphs.iter().map(print).collect();
    texts.join("\n")
}

/// Reads a text holding exactly one graph.
pub fn parse(text: &str) -> Result<Graph, ParseError> {
    Ok(parse_with_positions(text)?.0)
}

/// Reads a text holding one graph, and where in it each node is defined (the
/// place of its label), in node order: where errors about a node of a dump
/// point, rather than at the `loc(…)` it records from its source.
pub fn parse_with_positions(text: &str) -> Result<(Graph, Vec<crate::Loc>), ParseError> {
    let (mut graphs, mut positions) = parser::parse_with_positions(text)?;
    match (graphs.len(), graphs.pop(), positions.pop()) {
        (1, Some(g), Some(at)) => Ok((g, at)),
        (n, ..) => Err(ParseError {
            line: 1,
            col: 1,
            message: format!("expected one graph, found {n}; use parse_module for several"),
        }),
    }
}

pub(crate) use parser::{parse_default, parse_init};
pub(crate) use printer::{default_text, init as init_text};

/// Reads a text holding any number of graphs.
pub fn parse_module(text: &str) -> Result<Vec<Graph>, ParseError> {
    parser::parse_graphs(text)
}

/// A type as the text form writes it (`f32`, `f32[B, 3]`; odd names quoted).
pub fn type_text(ty: &crate::types::Type) -> String {
    printer::ty(ty)
}
