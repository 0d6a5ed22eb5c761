//! `conv2d` by Winograd's minimal filtering F(2 × 2, 3 × 3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016).
//!
//! A 3 × 3, stride-1 convolution computes each 2 × 2 block of its output
//! from a 4 × 4 tile of the padded input, the tiles 2 apart. In Winograd's
//! basis the tile's convolution is an elementwise product:
//!
//! ```text
//! Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//! ```
//!
//! and summed over the input channels that product is 16 matrix products
//! (one for each of the 4 × 4 positions) of `[tiles, C] @ [C, K]`: 16
//! multiply-adds a tile and channel pair where im2col's product has 36
//! (9 for each of the 4 outputs), 2.25 times fewer. The transforms `Bᵀ d B`
//! and `Aᵀ m A` are adds and subtracts of strided slices, which fusion
//! joins into passes over the input and the products; `G g Gᵀ` depends only
//! on the filter, so a params-only prologue computes it once.
//!
//! The arithmetic is the same sums in another order, plus halvings (exact):
//! its rounding error is of the order of im2col's.

use crate::lower::{At, GraphLowerer, Lowered};
use tfg_ir::{BinaryOp, DType, Data, Dim, Op, Tensor, ValueId};

/// `Bᵀ`: a tile `d` (4 × 4) goes to `Bᵀ d B`.
const INPUT: [[f64; 4]; 4] = [
    [1.0, 0.0, -1.0, 0.0],
    [0.0, 1.0, 1.0, 0.0],
    [0.0, -1.0, 1.0, 0.0],
    [0.0, 1.0, 0.0, -1.0],
];

/// `Aᵀ`: a product `m` (4 × 4) goes to the outputs `Aᵀ m A` (2 × 2).
const OUTPUT: [[f64; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];

/// Whether F(2 × 2, 3 × 3) is worth its transforms for an output of
/// `oh × ow` with `c` input and `k` output channels: its products are
/// matrices of `tiles × c` by `c × k`, so both channel counts must fill the
/// GEMM's panels, and there must be enough tiles for each transformed filter
/// (16 · c · k values, 1.8 times the filter) to be read for more than a few
/// rows.
pub(crate) fn pays(oh: u64, ow: u64, c: u64, k: u64) -> bool {
    let tiles = oh.div_ceil(2) * ow.div_ceil(2);
    c >= 32 && k >= 32 && tiles >= 36
}

/// The padding (`[(top, bottom), (left, right)]`) of an input of `size` that
/// makes whole tiles for an output of `out` after the convolution's own
/// `pad`: 2 · tiles + 2 rows and columns, the extra ones (for an odd output)
/// at the bottom and right.
pub(crate) fn padding(size: [u64; 2], out: [u64; 2], pad: [(u64, u64); 2]) -> [(u64, u64); 2] {
    std::array::from_fn(|a| {
        let lo = pad[a].0;
        (lo, 2 * out[a].div_ceil(2) + 2 - size[a] - lo)
    })
}

impl GraphLowerer<'_, '_> {
    /// The convolution, stride 1, of `w` (`[3, 3, C, K]`) over the tiles
    /// `taps` (element `(r, q)` of every 4 × 4 tile, `[N, tiles, tiles, C]`,
    /// in row-major order, `N` known: the taps of a 4 × 4 window, stride 2,
    /// over the input as [`padding`] pads it): an output of `out = [OH, OW]`.
    ///
    /// Each transform is one sum of broadcast products, a constant of
    /// coefficients (0 or ±1) times a strided view, so that fusion makes
    /// each a single pass: the input's over `[16, N, tiles, tiles, C]`, the
    /// output's over the result, with what consumes it (a bias, an
    /// activation) in the same loop.
    pub(crate) fn winograd(
        &mut self,
        at: At,
        taps: &[ValueId],
        w: ValueId,
        out: [u64; 2],
    ) -> Lowered<ValueId> {
        let first = *taps.first().ok_or(crate::lower::Reported)?;
        let n = self.known_dim(at, first, 0)?;
        let tiles = [self.known_dim(at, first, 1)?, self.known_dim(at, first, 2)?];
        let c = self.known_dim(at, first, 3)?;
        let k = self.known_dim(at, w, 3)?;
        let dtype = self.ty(first).dtype;
        let rows = n * tiles[0] * tiles[1];
        let known = |dims: &[u64]| dims.iter().map(|&d| Dim::Known(d)).collect::<Vec<_>>();

        // Bᵀ d B for every tile at once: position p = 4 i + j of the result
        // takes tap (r, q) with the coefficient Bᵀ[i][r] · Bᵀ[j][q].
        let mut terms = Vec::new();
        for (tap, &d) in taps.iter().enumerate() {
            let (r, q) = (tap / 4, tap % 4);
            let coef = (0..16).map(|p| INPUT[p / 4][r] * INPUT[p % 4][q]);
            terms.push((d, coef.collect()));
        }
        let v = self.weighted_sum(at, dtype, &[16, 1, 1, 1, 1], terms)?;
        let v = self.reshape(at, v, known(&[16, rows, c]))?;

        // The 16 products, `[16, rows, C] @ [16, C, K]`.
        let u = self.transformed_filter(at, w, c, k)?;
        let m = self.op(at, Op::MatMul, &[v, u])?;

        // Aᵀ m A: output (a, b) of each tile takes position p = 4 r + q of
        // its product with the coefficient Aᵀ[a][r] · Aᵀ[b][q], straight into
        // the tile's place, `[N, tiles, 2, tiles, 2, K]`.
        let mut products = Vec::new();
        for p in 0..16 {
            let mp = self.slice_axis(at, m, 0, p as u64, 1, 1)?;
            let mp = self.reshape(at, mp, known(&[n, tiles[0], 1, tiles[1], 1, k]))?;
            let coef = (0..4).map(|ab| OUTPUT[ab / 2][p / 4] * OUTPUT[ab % 2][p % 4]);
            products.push((mp, coef.collect()));
        }
        let y = self.weighted_sum(at, dtype, &[1, 1, 2, 1, 2, 1], products)?;
        let y = self.reshape(at, y, known(&[n, 2 * tiles[0], 2 * tiles[1], k]))?;
        let y = self.slice_axis(at, y, 1, 0, 1, out[0])?;
        self.slice_axis(at, y, 2, 0, 1, out[1])
    }

    /// `Σ c ⊙ x` over `terms` (`(x, c)`): each `c` a constant of `shape`,
    /// broadcast against its `x`.
    fn weighted_sum(
        &mut self,
        at: At,
        dtype: DType,
        shape: &[usize],
        terms: Vec<(ValueId, Vec<f64>)>,
    ) -> Lowered<ValueId> {
        let mut sum = None;
        for (x, c) in terms {
            let c = self.constant(
                at,
                Tensor {
                    shape: shape.to_vec(),
                    data: Data::from_f64(dtype, c),
                },
            )?;
            let term = self.bin(at, BinaryOp::Mul, c, x)?;
            sum = Some(match sum {
                Some(s) => self.bin(at, BinaryOp::Add, s, term)?,
                None => term,
            });
        }
        sum.ok_or(crate::lower::Reported)
    }

    /// `G g Gᵀ` for each input and output channel of `w` (`[3, 3, C, K]`):
    /// `[16, C, K]`, row-major over the 4 × 4 positions.
    fn transformed_filter(&mut self, at: At, w: ValueId, c: u64, k: u64) -> Lowered<ValueId> {
        let dtype = self.ty(w).dtype;
        let half = self.scalar(at, dtype, 0.5)?;
        // G along one axis: g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2.
        let g = |s: &mut Self, axis: usize, x: ValueId| -> Lowered<Vec<ValueId>> {
            let t: Vec<ValueId> = (0..3)
                .map(|i| s.slice_axis(at, x, axis, i, 1, 1))
                .collect::<Lowered<_>>()?;
            let outer = s.bin(at, BinaryOp::Add, t[0], t[2])?;
            let plus = s.bin(at, BinaryOp::Add, outer, t[1])?;
            let minus = s.bin(at, BinaryOp::Sub, outer, t[1])?;
            let plus = s.bin(at, BinaryOp::Mul, plus, half)?;
            let minus = s.bin(at, BinaryOp::Mul, minus, half)?;
            Ok(vec![t[0], plus, minus, t[2]])
        };
        let flat = vec![Dim::Known(1), Dim::Known(c), Dim::Known(k)];
        let mut u = Vec::new();
        for r in g(self, 0, w)? {
            for q in g(self, 1, r)? {
                u.push(self.reshape(at, q, flat.clone())?);
            }
        }
        self.op(at, Op::Concat { axis: 0 }, &u)
    }
}
