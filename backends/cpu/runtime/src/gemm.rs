//! `Stmt::Gemm` at run time: `c = alpha · op(a) @ op(b) + beta · c` for each
//! matrix of a batch, through the `gemm` crate for floats (AVX2/AVX-512,
//! multithreaded) and a plain wrapping loop for integers.

use gemm::Parallelism;

/// [`tfg_rt_gemm`]'s `dtype` codes.
pub const F32_CODE: i32 = 0;
pub const F64_CODE: i32 = 1;
pub const I32_CODE: i32 = 2;
pub const I64_CODE: i32 = 3;

/// Products below this many multiply-adds run on the calling thread: waking
/// the pool costs more than they do.
const PARALLEL_WORK: u64 = 1 << 18;

/// One operand: the first matrix, the distance between rows and between
/// consecutive matrices of the batch, in elements.
#[derive(Clone, Copy)]
struct Operand<T> {
    ptr: *mut T,
    ld: isize,
    stride: isize,
}

/// Called by compiled kernels. `trans` has bit 0 for `a` and bit 1 for `b`.
///
/// # Safety
/// The compiler has checked that every element touched is in its buffer,
/// that `c` overlaps neither `a` nor `b`, and that an integer product has
/// `alpha == 1` and `beta` 0 or 1.
#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "C" fn tfg_rt_gemm(
    dtype: i32,
    m: i64,
    n: i64,
    k: i64,
    batch: i64,
    a: i64,
    a_ld: i64,
    a_stride: i64,
    b: i64,
    b_ld: i64,
    b_stride: i64,
    c: i64,
    c_ld: i64,
    c_stride: i64,
    trans: i32,
    alpha: f64,
    beta: f64,
) {
    let dims = Dims {
        m: m as usize,
        n: n as usize,
        k: k as usize,
        batch: batch as usize,
        trans_a: trans & 1 != 0,
        trans_b: trans & 2 != 0,
    };
    let op = |ptr: i64, ld: i64, stride: i64| (ptr, ld as isize, stride as isize);
    let (a, b, c) = (
        op(a, a_ld, a_stride),
        op(b, b_ld, b_stride),
        op(c, c_ld, c_stride),
    );
    fn cast<T>((ptr, ld, stride): (i64, isize, isize)) -> Operand<T> {
        Operand {
            ptr: ptr as usize as *mut T,
            ld,
            stride,
        }
    }
    // SAFETY: the caller's contract above.
    unsafe {
        match dtype {
            F32_CODE => float(
                &dims,
                cast::<f32>(a),
                cast(b),
                cast(c),
                alpha as f32,
                beta as f32,
            ),
            F64_CODE => float(&dims, cast::<f64>(a), cast(b), cast(c), alpha, beta),
            I32_CODE => int(&dims, cast::<i32>(a), cast(b), cast(c), beta != 0.0),
            I64_CODE => int(&dims, cast::<i64>(a), cast(b), cast(c), beta != 0.0),
            _ => {}
        }
    }
}

struct Dims {
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    trans_a: bool,
    trans_b: bool,
}

impl Dims {
    /// (row stride, column stride) of `op(x)`.
    fn strides<T>(x: &Operand<T>, trans: bool) -> (isize, isize) {
        if trans {
            (1, x.ld)
        } else {
            (x.ld, 1)
        }
    }
}

trait Float: Copy {
    const ZERO: Self;
    fn scale(self, by: Self) -> Self;
    fn is_zero(self) -> bool;
}

macro_rules! impl_float {
    ($t:ty) => {
        impl Float for $t {
            const ZERO: $t = 0.0;
            fn scale(self, by: $t) -> $t {
                self * by
            }
            fn is_zero(self) -> bool {
                self == 0.0
            }
        }
    };
}
impl_float!(f32);
impl_float!(f64);

unsafe fn float<T: Float + 'static>(
    d: &Dims,
    a: Operand<T>,
    b: Operand<T>,
    c: Operand<T>,
    alpha: T,
    beta: T,
) {
    if d.m == 0 || d.n == 0 || d.batch == 0 {
        return;
    }
    let (a_rs, a_cs) = Dims::strides(&a, d.trans_a);
    let (b_rs, b_cs) = Dims::strides(&b, d.trans_b);
    let work = (d.m as u64)
        .saturating_mul(d.n as u64)
        .saturating_mul(d.k.max(1) as u64);
    // Inside a kernel already split across cores, or for a small product,
    // stay on this thread.
    let threads = if crate::pool::in_split_task() || work < PARALLEL_WORK {
        Parallelism::None
    } else {
        Parallelism::Rayon(0)
    };
    let read_c = !beta.is_zero();
    for p in 0..d.batch as isize {
        let (ap, bp, cp) = (
            a.ptr.offset(p * a.stride),
            b.ptr.offset(p * b.stride),
            c.ptr.offset(p * c.stride),
        );
        if d.k == 0 {
            // An empty sum: `c = beta · c`, and nothing of `c` read when beta is 0.
            for i in 0..d.m as isize {
                for j in 0..d.n as isize {
                    let e = cp.offset(i * c.ld + j);
                    *e = if read_c { (*e).scale(beta) } else { T::ZERO };
                }
            }
            continue;
        }
        // gemm computes `dst = alpha·dst + beta·lhs·rhs`: the names swap.
        gemm::gemm(
            d.m, d.n, d.k, cp, 1, c.ld, read_c, ap, a_cs, a_rs, bp, b_cs, b_rs, beta, alpha, false,
            false, false, threads,
        );
    }
}

trait Wrapping: Copy + Default {
    fn mul_add(self, x: Self, y: Self) -> Self;
}

impl Wrapping for i32 {
    fn mul_add(self, x: i32, y: i32) -> i32 {
        self.wrapping_add(x.wrapping_mul(y))
    }
}

impl Wrapping for i64 {
    fn mul_add(self, x: i64, y: i64) -> i64 {
        self.wrapping_add(x.wrapping_mul(y))
    }
}

/// Integer products wrap, as numpy's do; `alpha` is 1.
unsafe fn int<T: Wrapping>(
    d: &Dims,
    a: Operand<T>,
    b: Operand<T>,
    c: Operand<T>,
    accumulate: bool,
) {
    let (a_rs, a_cs) = Dims::strides(&a, d.trans_a);
    let (b_rs, b_cs) = Dims::strides(&b, d.trans_b);
    for p in 0..d.batch as isize {
        let (ap, bp, cp) = (
            a.ptr.offset(p * a.stride),
            b.ptr.offset(p * b.stride),
            c.ptr.offset(p * c.stride),
        );
        for i in 0..d.m as isize {
            let row = cp.offset(i * c.ld);
            if !accumulate {
                for j in 0..d.n as isize {
                    *row.offset(j) = T::default();
                }
            }
            for l in 0..d.k as isize {
                let x = *ap.offset(i * a_rs + l * a_cs);
                for j in 0..d.n as isize {
                    let e = row.offset(j);
                    *e = (*e).mul_add(x, *bp.offset(l * b_rs + j * b_cs));
                }
            }
        }
    }
}
