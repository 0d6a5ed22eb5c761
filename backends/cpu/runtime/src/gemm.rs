//! `Stmt::Gemm` at run time: `c = alpha · op(a) @ op(b) + beta · c` for each
//! matrix of a batch, through the `gemm` crate for floats (AVX2/AVX-512,
//! multithreaded) and a plain wrapping loop for integers.

use crate::packed::{self, Site};
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
/// `site` is 0, or the address of the [`Site`] that keeps `b` packed: a
/// `b` that does not change between calls (see [`crate::packed`]).
///
/// # Safety
/// The compiler has checked that every element touched is in its buffer,
/// that `c` overlaps neither `a` nor `b`, and that an integer product has
/// `alpha == 1` and `beta` 0 or 1. A `site` is a live [`Site`] whose
/// owner keeps the promise [`Site::packed`] asks for.
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
    site: i64,
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
    if dtype == F32_CODE && site != 0 && dims.packs(alpha, beta, b.2) {
        // SAFETY: the caller's contract above.
        unsafe {
            let site = &*(site as usize as *const Site);
            let count = if b.2 == 0 { 1 } else { dims.batch };
            let bp = site.packed(
                b.0 as usize as *const f32,
                b.1 as usize,
                b.2 as usize,
                count,
                dims.k,
                dims.n,
            );
            let (a0, c0) = (a.0 as usize, c.0 as usize);
            let one = |p: usize, parts: usize| {
                let p = p as isize;
                packed::gemm(
                    dims.m,
                    (a0 as *const f32).offset(p * a.2),
                    a.1 as usize,
                    &bp.matrices[if count == 1 { 0 } else { p as usize }],
                    (c0 as *mut f32).offset(p * c.2),
                    c.1 as usize,
                    parts,
                )
            };
            if dims.split_batch() {
                // Whole matrices a thread: no thread waits on another
                // between the products.
                use rayon::prelude::*;
                (0..dims.batch).into_par_iter().for_each(|p| one(p, 1));
            } else {
                let parts = dims.parts();
                (0..dims.batch).for_each(|p| one(p, parts));
            }
        }
        return;
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
    /// Whether the packed GEMM computes this product: `c = a @ b`, plain,
    /// the matrices of `b` apart or one for the whole batch, on a machine it
    /// runs on.
    fn packs(&self, alpha: f64, beta: f64, b_stride: isize) -> bool {
        alpha == 1.0
            && beta == 0.0
            && !self.trans_a
            && !self.trans_b
            && self.m > 0
            && self.n > 0
            && self.k > 0
            && b_stride >= 0
            && packed::available()
    }

    /// Threads for one product: one inside a kernel already split across
    /// cores, or for a small product (see [`PARALLEL_WORK`]).
    fn parts(&self) -> usize {
        self.threads_for(1)
    }

    /// Whether the batch's matrices go to the threads whole (a batch of at
    /// least one a thread, more work than [`PARALLEL_WORK`] in all).
    fn split_batch(&self) -> bool {
        let threads = self.threads_for(self.batch as u64);
        threads > 1 && self.batch >= threads
    }

    /// Threads for `matrices` products: one inside a kernel already split
    /// across cores, or for little work.
    fn threads_for(&self, matrices: u64) -> usize {
        let work = (self.m as u64)
            .saturating_mul(matrices)
            .saturating_mul(self.n as u64)
            .saturating_mul(self.k.max(1) as u64);
        if crate::pool::in_split_task() || work < PARALLEL_WORK {
            1
        } else {
            rayon::current_num_threads()
        }
    }

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

unsafe fn float<T: Float + Send + Sync + 'static>(
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
    // One part a thread (see `Split`).
    let parts = d.parts();
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
        let split = Split::new(d.m, d.n, parts);
        let block = Block {
            a: ap,
            b: bp,
            c: cp,
        };
        let (c_ld, block) = (c.ld, &block);
        let one = |part: usize| {
            let (rows, cols) = split.part(part);
            let (ap, bp, cp) = block.pointers();
            let at = |r: &std::ops::Range<usize>, stride: isize| r.start as isize * stride;
            // gemm computes `dst = alpha·dst + beta·lhs·rhs`: the names swap.
            gemm::gemm(
                rows.len(),
                cols.len(),
                d.k,
                cp.offset(at(&rows, c_ld) + at(&cols, 1)),
                1,
                c_ld,
                read_c,
                ap.offset(at(&rows, a_rs)),
                a_cs,
                a_rs,
                bp.offset(at(&cols, b_cs)),
                b_cs,
                b_rs,
                beta,
                alpha,
                false,
                false,
                false,
                Parallelism::None,
            );
        };
        if split.parts == 1 {
            one(0);
        } else {
            use rayon::prelude::*;
            (0..split.parts).into_par_iter().for_each(one);
        }
    }
}

/// The matrices of one product, shared by the threads that compute its
/// parts.
struct Block<T> {
    a: *mut T,
    b: *mut T,
    c: *mut T,
}

impl<T> Block<T> {
    /// `(a, b, c)`; a method, so that a closure captures the whole block
    /// (which is `Sync`), not its pointer fields (which are not).
    fn pointers(&self) -> (*mut T, *mut T, *mut T) {
        (self.a, self.b, self.c)
    }
}

// SAFETY: the threads read `a` and `b` and write disjoint parts of `c`.
unsafe impl<T> Send for Block<T> {}
unsafe impl<T> Sync for Block<T> {}

/// How a product is cut into parts, one a thread, each a GEMM of its own on
/// one thread: along the rows of the result where it has more rows than
/// columns (each part then packs the right operand, the smaller, again), else
/// along its columns. The `gemm` crate's own threading split a batch-1
/// convolution's product of 49 rows and 2,048 columns no faster than one
/// thread ran it.
struct Split {
    m: usize,
    n: usize,
    parts: usize,
    rows: bool,
    step: usize,
}

impl Split {
    /// Parts start at multiples of 16, the rows of the `gemm` crate's
    /// microkernel, so that no part ends in a sliver.
    const ALIGN: usize = 16;

    fn new(m: usize, n: usize, threads: usize) -> Split {
        let rows = m >= n;
        let len = if rows { m } else { n };
        let step = len
            .div_ceil(threads.max(1))
            .next_multiple_of(Self::ALIGN)
            .max(1);
        Split {
            m,
            n,
            parts: len.div_ceil(step),
            rows,
            step,
        }
    }

    /// The rows and columns of part `i`.
    fn part(&self, i: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let len = if self.rows { self.m } else { self.n };
        let cut = i * self.step..((i + 1) * self.step).min(len);
        if self.rows {
            (cut, 0..self.n)
        } else {
            (0..self.m, cut)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An operand for [`gemm_f32`]: the elements, the distance between rows
    /// and between the matrices of a batch.
    type Matrices<T> = (T, usize, usize);

    /// [`tfg_rt_gemm`] on f32 buffers, `[m, n, k, batch]`, after checking
    /// that each buffer holds the elements the call will touch.
    #[allow(clippy::too_many_arguments)]
    fn gemm_f32(
        [m, n, k, batch]: [usize; 4],
        (a, lda, a_stride): Matrices<&[f32]>,
        (b, ldb, b_stride): Matrices<&[f32]>,
        (c, ldc, c_stride): Matrices<&mut [f32]>,
        trans: i32,
        alpha: f64,
        beta: f64,
        site: Option<&Site>,
    ) {
        let last = |rows: usize, cols: usize, ld: usize, stride: usize| {
            (batch - 1) * stride + (rows - 1) * ld + cols
        };
        let (ar, ac) = if trans & 1 != 0 { (k, m) } else { (m, k) };
        let (br, bc) = if trans & 2 != 0 { (n, k) } else { (k, n) };
        assert!(a.len() >= last(ar, ac, lda, a_stride) && b.len() >= last(br, bc, ldb, b_stride));
        assert!(c.len() >= last(m, n, ldc, c_stride));
        let site = site.map_or(0, |s| s as *const Site as i64);
        let i = |x: usize| x as i64;
        // SAFETY: the buffers hold every element the dims name (checked
        // above), `c` overlaps neither, and a `site` outlives the call.
        unsafe {
            tfg_rt_gemm(
                F32_CODE,
                i(m),
                i(n),
                i(k),
                i(batch),
                a.as_ptr() as i64,
                i(lda),
                i(a_stride),
                b.as_ptr() as i64,
                i(ldb),
                i(b_stride),
                c.as_mut_ptr() as i64,
                i(ldc),
                i(c_stride),
                trans,
                alpha,
                beta,
                site,
            );
        }
    }

    #[test]
    fn parts_cover_the_longer_side_once_at_multiples_of_sixteen() {
        for (m, n, threads) in [(49, 2048, 2), (3136, 64, 2), (100, 100, 3), (5, 7, 4)] {
            let s = Split::new(m, n, threads);
            let len = m.max(n);
            let mut next = 0;
            for i in 0..s.parts {
                let (rows, cols) = s.part(i);
                let (cut, whole) = if m >= n { (rows, cols) } else { (cols, rows) };
                assert_eq!(cut.start, next, "{m}×{n}");
                assert!(cut.start % Split::ALIGN == 0 && !cut.is_empty());
                assert_eq!(whole.len(), m.min(n));
                next = cut.end;
            }
            assert_eq!(next, len, "{m}×{n}");
            assert!(s.parts <= threads);
        }
    }

    /// Products large enough to be split across the pool, both ways, every
    /// transpose, accumulating (`beta = 1`, `alpha = 0.5`), against a plain
    /// f64 loop.
    #[test]
    fn split_products_match_a_plain_loop() {
        for (m, n, k) in [(20usize, 700usize, 40usize), (700, 20, 40)] {
            for trans in 0..4 {
                let (ta, tb) = (trans & 1 != 0, trans & 2 != 0);
                let value = |i: usize| ((i * 7919) % 13) as f32 * 0.25 - 1.5;
                let a: Vec<f32> = (0..m * k).map(value).collect();
                let b: Vec<f32> = (0..k * n).map(|i| value(i + 5)).collect();
                let mut c: Vec<f32> = (0..m * n).map(|i| value(i + 11)).collect();
                let at = |i: usize, l: usize| if ta { a[l * m + i] } else { a[i * k + l] };
                let bt = |l: usize, j: usize| if tb { b[j * k + l] } else { b[l * n + j] };
                let want: Vec<f64> = (0..m * n)
                    .map(|e| {
                        let (i, j) = (e / n, e % n);
                        let dot: f64 = (0..k).map(|l| at(i, l) as f64 * bt(l, j) as f64).sum();
                        c[e] as f64 + 0.5 * dot
                    })
                    .collect();
                let (lda, ldb) = (if ta { m } else { k }, if tb { k } else { n });
                let (a, b) = ((&a[..], lda, 0), (&b[..], ldb, 0));
                gemm_f32(
                    [m, n, k, 1],
                    a,
                    b,
                    (&mut c[..], n, 0),
                    trans,
                    0.5,
                    1.0,
                    None,
                );
                for (e, (&got, &want)) in c.iter().zip(&want).enumerate() {
                    // Sums of 40 terms of at most 2.25: f32 rounding alone.
                    assert!(
                        (got as f64 - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "{m}×{n}×{k}, trans {trans}, element {e}: {got} against {want}"
                    );
                }
            }
        }
    }

    /// A batch kept packed at a site: one right operand a matrix (as
    /// Winograd's 16 products have) or one for all, computed twice (the
    /// second time from the kept packing), against a plain f64 loop.
    #[test]
    fn batches_kept_packed_match_a_plain_loop() {
        if !packed::available() {
            eprintln!("skipped: no AVX2 and FMA");
            return;
        }
        let (m, n, k, batch) = (30usize, 40usize, 50usize, 5usize);
        let value = |i: usize| ((i * 7919) % 13) as f32 * 0.25 - 1.5;
        let a: Vec<f32> = (0..batch * m * k).map(value).collect();
        for b_stride in [k * n, 0] {
            let b: Vec<f32> = (0..batch * k * n).map(|i| value(i + 5)).collect();
            let site = Site::default();
            let want: Vec<f64> = (0..batch * m * n)
                .map(|e| {
                    let (p, i, j) = (e / (m * n), e / n % m, e % n);
                    (0..k)
                        .map(|l| {
                            a[p * m * k + i * k + l] as f64 * b[p * b_stride + l * n + j] as f64
                        })
                        .sum()
                })
                .collect();
            for round in 0..2 {
                let mut c = vec![f32::NAN; batch * m * n];
                let (a, b) = ((&a[..], k, m * k), (&b[..], n, b_stride));
                gemm_f32(
                    [m, n, k, batch],
                    a,
                    b,
                    (&mut c[..], n, m * n),
                    0,
                    1.0,
                    0.0,
                    Some(&site),
                );
                for (e, (&got, &want)) in c.iter().zip(&want).enumerate() {
                    assert!(
                        (got as f64 - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "b_stride {b_stride}, round {round}, element {e}: {got} against {want}"
                    );
                }
            }
        }
    }
}
