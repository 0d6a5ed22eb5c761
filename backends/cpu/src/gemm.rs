//! `Stmt::Gemm`'s calling convention: the parameters of the runtime's
//! [`tfg_rt_gemm`] (in `tfg-rt`) as Cranelift types, and its dtype codes.

use cranelift_codegen::ir::types::{F64, I32, I64};
use cranelift_codegen::ir::Type;
use tfg_ir::kernel::{Gemm, Program, Role};
use tfg_ir::DType;
pub(crate) use tfg_rt::gemm::{tfg_rt_gemm, F32_CODE, F64_CODE, I32_CODE, I64_CODE};

/// The parameters of [`tfg_rt_gemm`], in order.
pub(crate) const PARAMS: [Type; 18] = [
    I32, I64, I64, I64, I64, I64, I64, I64, I64, I64, I64, I64, I64, I64, I32, F64, F64, I64,
];

/// Whether `g`'s right operand can stay packed between runs: an f32
/// param or constant (which no kernel writes), read as it lies.
pub(crate) fn keeps_packed(p: &Program, g: &Gemm) -> bool {
    let buffer = |b| p.buffer(b);
    !g.trans_b
        && buffer(g.c.buf).is_some_and(|c| c.dtype == DType::F32)
        && buffer(g.b.buf).is_some_and(|b| matches!(b.role, Role::Param(_) | Role::Const(_)))
}
