//! An f32 GEMM against a right operand packed once: a served model's
//! weights, or a convolution's filter, which stay the same from run to run.
//!
//! The `gemm` crate copies ("packs") both operands into cache-friendly
//! panels on every call. For a batch-1 forward pass that copy of the
//! weights is most of what is not multiply-add: every weight is read and
//! written again on every run. Here the right operand `b` (`k × n`) is
//! packed once into panels of [`NR`] columns, `k` rows of [`NR`] values each
//! (zero past `n`), and kept in a [`Site`] for the call site; the left
//! operand is read where it lies, [`MR`] rows at a time.
//!
//! The micro-kernel holds an `MR × NR` tile of the result in twelve AVX2
//! registers and adds one rank-1 update a step: two loads of `b`, six
//! broadcasts of `a`, twelve fused multiply-adds. Machines without AVX2 and
//! FMA never get here ([`available`]).
//!
//! A [`Site`] trusts its caller that the memory it packed from has not
//! changed while the address stays the same (see `tfg_cpu::Compiled`'s
//! `run_packed`); a different address or shape packs again.

use std::sync::{Arc, Mutex};

/// Columns of a packed panel: two 8-lane vectors.
pub const NR: usize = 16;
/// Rows of `a` one micro-kernel call multiplies.
pub const MR: usize = 6;
/// The step along `k`: an `MR × KC` slice of `a` and a `KC × NR` slice of a
/// panel stay in the L1 and L2 caches while a tile is computed.
const KC: usize = 384;
/// Rows of `a` walked against every panel before the next rows: their
/// `MC × KC` slice stays in the L2 cache.
const MC: usize = 120;

/// `b`, `k × n`, as panels of [`NR`] columns.
pub struct Packed {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl Packed {
    /// Packs `b` (`k` rows of `n`, `ld` apart).
    ///
    /// # Safety
    /// `b` points to `k` rows of `n` readable elements, `ld` apart.
    pub unsafe fn new(b: *const f32, ld: usize, k: usize, n: usize) -> Packed {
        let panels = n.div_ceil(NR);
        let mut data = vec![0.0f32; panels * k * NR];
        for (j, panel) in data.chunks_exact_mut((k * NR).max(1)).enumerate() {
            let cols = NR.min(n - j * NR);
            for (row, out) in panel.chunks_exact_mut(NR).enumerate() {
                // SAFETY: row `row` < k, columns j·NR .. j·NR + cols < n.
                let src = unsafe { std::slice::from_raw_parts(b.add(row * ld + j * NR), cols) };
                out[..cols].copy_from_slice(src);
            }
        }
        Packed { k, n, data }
    }

    fn panel(&self, j: usize) -> *const f32 {
        self.data[j * self.k * NR..].as_ptr()
    }
}

/// The right operands of one GEMM call, packed: one matrix, or one for
/// each matrix of a batch.
pub struct Batch {
    /// Where they were packed from: the first element, the distances
    /// between rows and between matrices, how many, `k` and `n`.
    from: (usize, usize, usize, usize, usize, usize),
    pub matrices: Vec<Packed>,
}

/// One GEMM call site's packed right operand, packed at its first call.
#[derive(Default)]
pub struct Site(Mutex<Option<Arc<Batch>>>);

impl Site {
    /// The packing of `count` matrices `b` (`k × n`, rows `ld` apart, the
    /// matrices `stride` apart): the one kept, if it was packed from the
    /// same address and shapes, else a new one, kept.
    ///
    /// # Safety
    /// As [`Packed::new`] for each matrix; and what a kept packing was
    /// packed from has not changed since (the `Site`'s owner forgets it when
    /// it may have).
    pub unsafe fn packed(
        &self,
        b: *const f32,
        ld: usize,
        stride: usize,
        count: usize,
        k: usize,
        n: usize,
    ) -> Arc<Batch> {
        let from = (b as usize, ld, stride, count, k, n);
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match kept.as_ref() {
            Some(p) if p.from == from => Arc::clone(p),
            _ => {
                let matrices = (0..count)
                    // SAFETY: the caller's contract.
                    .map(|i| unsafe { Packed::new(b.add(i * stride), ld, k, n) })
                    .collect();
                let p = Arc::new(Batch { from, matrices });
                *kept = Some(Arc::clone(&p));
                p
            }
        }
    }

    /// Drops the packing, whose source may have changed.
    pub fn forget(&mut self) {
        *self.0.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Whether this machine runs the packed GEMM (x86-64 with AVX2 and FMA).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The result's rows and `b`'s panels one thread computes.
struct Part {
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
}

/// `c = a @ b` for `m` rows: `a` is `m × k` (rows `lda` apart), `c` is
/// `m × n` (rows `ldc` apart), overwritten. Cut into `parts` parts, one a
/// thread: along the rows where there are more rows than columns, else
/// along the panels.
///
/// # Safety
/// [`available`] is true; `a` and `c` hold the elements named, `c` overlaps
/// neither `a` nor the packing.
pub unsafe fn gemm(
    m: usize,
    a: *const f32,
    lda: usize,
    b: &Packed,
    c: *mut f32,
    ldc: usize,
    parts: usize,
) {
    let panels = b.n.div_ceil(NR);
    let parts = parts.max(1);
    let cut = |len: usize, align: usize, i: usize| {
        let step = len.div_ceil(parts).next_multiple_of(align).max(1);
        (i * step).min(len)..((i + 1) * step).min(len)
    };
    let part = |i: usize| {
        if m >= b.n {
            Part {
                rows: cut(m, MR, i),
                panels: 0..panels,
            }
        } else {
            Part {
                rows: 0..m,
                panels: cut(panels, 1, i),
            }
        }
    };
    let (a, c) = (a as usize, c as usize);
    let one = |i: usize| {
        let p = part(i);
        if !p.rows.is_empty() && !p.panels.is_empty() {
            // SAFETY: the caller's contract; parts write disjoint tiles.
            unsafe { blocks(&p, a as *const f32, lda, b, c as *mut f32, ldc) }
        }
    };
    if parts == 1 {
        one(0);
    } else {
        use rayon::prelude::*;
        (0..parts).into_par_iter().for_each(one);
    }
}

/// One part, in cache blocks: `KC` steps along `k`, then `MC / MR` tiles
/// of rows at a time, each against every panel of the part. The rows are
/// cut into tiles as even as they go (49 rows are tiles of 6 and 5, not
/// eight of 6 and one of 1, whose micro-kernel would wait on loads).
unsafe fn blocks(p: &Part, a: *const f32, lda: usize, b: &Packed, c: *mut f32, ldc: usize) {
    let len = p.rows.len();
    let tiles = len.div_ceil(MR);
    let edge = |t: usize| p.rows.start + t * len / tiles;
    let mut pc = 0;
    while pc < b.k {
        let kc = KC.min(b.k - pc);
        for block in (0..tiles).step_by(MC / MR) {
            for j in p.panels.clone() {
                let cols = NR.min(b.n - j * NR);
                for t in block..(block + MC / MR).min(tiles) {
                    let i = edge(t);
                    // SAFETY: rows edge(t)..edge(t + 1) and panel j are in
                    // range.
                    unsafe {
                        Tile {
                            a: a.add(i * lda + pc),
                            lda,
                            b: b.panel(j).add(pc * NR),
                            kc,
                            c: c.add(i * ldc + j * NR),
                            ldc,
                            rows: edge(t + 1) - i,
                            cols,
                            add: pc > 0,
                        }
                        .run()
                    };
                }
            }
        }
        pc += kc;
    }
}

/// One micro-kernel call: `rows × cols` (at most `MR × NR`) of `c`, plus
/// (where `add`) what it holds, from `kc` steps.
struct Tile {
    a: *const f32,
    lda: usize,
    b: *const f32,
    kc: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    add: bool,
}

impl Tile {
    unsafe fn run(&self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `gemm`'s caller checked `available`.
        unsafe {
            if self.cols == NR {
                match self.rows {
                    6 => avx2::tile::<6>(self, self.c, self.ldc),
                    5 => avx2::tile::<5>(self, self.c, self.ldc),
                    4 => avx2::tile::<4>(self, self.c, self.ldc),
                    3 => avx2::tile::<3>(self, self.c, self.ldc),
                    2 => avx2::tile::<2>(self, self.c, self.ldc),
                    _ => avx2::tile::<1>(self, self.c, self.ldc),
                }
            } else {
                // A panel's last, narrower columns: a full tile into a
                // scratch tile, then its columns that exist.
                let mut scratch = [0.0f32; MR * NR];
                for r in 0..self.rows {
                    for col in 0..self.cols {
                        scratch[r * NR + col] = *self.c.add(r * self.ldc + col);
                    }
                }
                avx2::tile::<MR>(self, scratch.as_mut_ptr(), NR);
                for r in 0..self.rows {
                    for col in 0..self.cols {
                        *self.c.add(r * self.ldc + col) = scratch[r * NR + col];
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Tile, NR};
    use std::arch::x86_64::*;

    /// `R` rows of the tile into `c` (rows `ldc` apart). With fewer than
    /// `R` real rows (the scratch tile of a narrow panel), the rows past
    /// `t.rows` read row 0 of `a` again and land in the scratch only.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile<const R: usize>(t: &Tile, c: *mut f32, ldc: usize) {
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        let row = |r: usize| if r < t.rows { r } else { 0 };
        // SAFETY (whole body): `Tile`'s fields name elements in range.
        unsafe {
            if t.add {
                for r in 0..R {
                    lo[r] = _mm256_loadu_ps(c.add(r * ldc));
                    hi[r] = _mm256_loadu_ps(c.add(r * ldc + 8));
                }
            }
            let rows: [*const f32; R] = std::array::from_fn(|r| t.a.add(row(r) * t.lda));
            // One step: a rank-1 update of the tile by row `p` of the panel.
            let mut step = |p: usize| {
                let b = t.b.add(p * NR);
                let b0 = _mm256_loadu_ps(b);
                let b1 = _mm256_loadu_ps(b.add(8));
                for r in 0..R {
                    let x = _mm256_broadcast_ss(&*rows[r].add(p));
                    lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
                }
            };
            // Four steps a turn, so that the loop's own instructions do not
            // hold back the FMAs.
            let whole = t.kc - t.kc % 4;
            for p in (0..whole).step_by(4) {
                step(p);
                step(p + 1);
                step(p + 2);
                step(p + 3);
            }
            for p in whole..t.kc {
                step(p);
            }
            for r in 0..R {
                _mm256_storeu_ps(c.add(r * ldc), lo[r]);
                _mm256_storeu_ps(c.add(r * ldc + 8), hi[r]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a @ b` in f64, by definition.
    fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|l| f64::from(a[i * k + l]) * f64::from(b[l * n + j]))
                    .sum();
            }
        }
        c
    }

    #[test]
    fn products_of_every_edge_shape_match_the_definition() {
        if !available() {
            eprintln!("skipped: no AVX2 and FMA");
            return;
        }
        let mut seed = 1u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        // Rows around MR and MC, columns around NR, depths around KC.
        for &(m, k, n) in &[
            (1, 1, 1),
            (5, 3, 7),
            (6, 16, 16),
            (7, 513, 17),
            (49, 520, 40),
            (50, 1030, 33),
            (13, 64, 200),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let want = reference(&a, &b, m, k, n);
            for parts in [1, 2, 3] {
                // Wider rows than the result, to check `ldc`; NaN where
                // nothing may be written.
                let ldc = n + 3;
                let mut c = vec![f32::NAN; m * ldc];
                // SAFETY: the buffers are as large as the shapes say.
                unsafe {
                    let p = Packed::new(b.as_ptr(), n, k, n);
                    gemm(m, a.as_ptr(), k, &p, c.as_mut_ptr(), ldc, parts);
                }
                for i in 0..m {
                    for j in 0..ldc {
                        let got = c[i * ldc + j];
                        if j >= n {
                            assert!(
                                got.is_nan(),
                                "({m}, {k}, {n}): wrote past a row at ({i}, {j})"
                            );
                            continue;
                        }
                        let w = want[i * n + j];
                        assert!(
                            (f64::from(got) - w).abs()
                                <= 1e-5 * (1.0 + w.abs()) * (k as f64).sqrt(),
                            "({m}, {k}, {n}) in {parts} parts: c[{i}][{j}] = {got}, want {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_site_packs_again_when_the_operand_moves() {
        let b1 = vec![1.0f32; 4 * 16];
        let b2 = vec![2.0f32; 4 * 16];
        let site = Site::default();
        // SAFETY: each buffer holds 4 rows of 16.
        unsafe {
            let first = site.packed(b1.as_ptr(), 16, 0, 1, 4, 16);
            assert!(Arc::ptr_eq(
                &first,
                &site.packed(b1.as_ptr(), 16, 0, 1, 4, 16)
            ));
            let moved = site.packed(b2.as_ptr(), 16, 0, 1, 4, 16);
            assert_eq!(moved.matrices[0].data[0], 2.0);
            let reshaped = site.packed(b2.as_ptr(), 8, 0, 1, 8, 8);
            assert_eq!((reshaped.matrices[0].k, reshaped.matrices[0].n), (8, 8));
            // Two matrices of 2 rows, 32 values apart: the second all 2s.
            let mut b3 = vec![1.0f32; 64];
            b3[32..].fill(2.0);
            let batch = site.packed(b3.as_ptr(), 16, 32, 2, 2, 16);
            assert_eq!(batch.matrices.len(), 2);
            assert_eq!(batch.matrices[1].data[0], 2.0);
            assert!(!Arc::ptr_eq(
                &batch,
                &site.packed(b3.as_ptr(), 16, 32, 1, 2, 16)
            ));
        }
    }
}
