//! A static estimate of how much work a piece of Kernel IR does, in scalar
//! operations: what decides whether a loop is worth splitting across threads.

use tfg_ir::kernel::{Expr, Stmt};
use tfg_ir::UnaryOp;

/// Estimated operations to run `body` once.
pub(crate) fn work(body: &[Stmt]) -> u64 {
    body.iter().fold(0u64, |acc, s| {
        let w = match s {
            Stmt::Loop { extent, body, .. } => extent.saturating_mul(work(body).max(1)),
            Stmt::Gemm(g) => 2u64
                .saturating_mul(g.m)
                .saturating_mul(g.n)
                .saturating_mul(g.k.max(1))
                .saturating_mul(g.batch),
            _ => s.exprs().iter().map(|e| expr_work(e)).sum::<u64>() + 1,
        };
        acc.saturating_add(w)
    })
}

fn expr_work(e: &Expr) -> u64 {
    let mut w = 0u64;
    e.walk(&mut |x| {
        w += match x {
            Expr::Unary(
                UnaryOp::Exp
                | UnaryOp::Log
                | UnaryOp::Tanh
                | UnaryOp::Sigmoid
                | UnaryOp::Sin
                | UnaryOp::Cos,
                _,
            ) => 20,
            Expr::Binary(tfg_ir::BinaryOp::Pow, ..) => 40,
            _ => 1,
        }
    });
    w
}
