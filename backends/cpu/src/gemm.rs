//! `Stmt::Gemm`'s calling convention: the parameters of the runtime's
//! [`tfg_rt_gemm`] (in `tfg-rt`) as Cranelift types, and its dtype codes.

use cranelift_codegen::ir::types::{F64, I32, I64};
use cranelift_codegen::ir::Type;
pub(crate) use tfg_rt::gemm::{tfg_rt_gemm, F32_CODE, F64_CODE, I32_CODE, I64_CODE};

/// The parameters of [`tfg_rt_gemm`], in order.
pub(crate) const PARAMS: [Type; 17] = [
    I32, I64, I64, I64, I64, I64, I64, I64, I64, I64, I64, I64, I64, I64, I32, F64, F64,
];
