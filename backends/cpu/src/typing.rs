//! The dtype of a Kernel IR expression, by the Graph IR's scalar type rules
//! (the verifier has already checked that they hold).

use tfg_ir::kernel::{Expr, Local, Program};
use tfg_ir::DType;

/// `None` for a local or buffer that does not exist.
pub(crate) fn dtype_of(
    p: &Program,
    e: &Expr,
    local: &impl Fn(Local) -> Option<DType>,
) -> Option<DType> {
    Some(match e {
        Expr::Const(s) => s.dtype(),
        Expr::Local(l) => local(*l)?,
        Expr::Index(_) => DType::I64,
        Expr::Load { buf, .. } => p.buffer(*buf)?.dtype,
        Expr::Unary(_, a) => dtype_of(p, a, local)?,
        Expr::Binary(op, _, _) if op.is_comparison() => DType::Bool,
        Expr::Binary(_, a, _) => dtype_of(p, a, local)?,
        Expr::Select(_, a, _) => dtype_of(p, a, local)?,
        Expr::Cast(to, _) => *to,
    })
}
