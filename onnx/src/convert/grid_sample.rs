//! `GridSample` (2-D and 3-D): each output position reads the input at the
//! point its grid entry names, as ONNX's reference computes it
//! (`onnx/reference/ops/op_grid_sample.py`): the grid's [-1, 1] made pixel
//! coordinates, a point outside moved in by the padding mode (clamped, or
//! reflected off the borders), then the taps of the interpolation (1, 2 or
//! 4 an axis), each read with a `take` of flat indices into the input laid
//! out [batch · pixels, channels], weighted and summed.

use super::{attr_i, attr_s, float, iota, list, Importer, Result};
use crate::proto::NodeProto;

/// Keys' cubic convolution constant, as ONNX's reference uses.
const CUBIC: f64 = -0.75;

/// One tap along one axis: its index, its weight (none for nearest), and
/// (with zeros padding) whether it lies inside the input, as 1 or 0.
struct Tap {
    index: String,
    weight: Option<String>,
    inside: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

impl Importer<'_> {
    /// The sampled input, `[N, C, out…]`, for ONNX value `out`.
    pub(super) fn grid_sample(&mut self, n: &NodeProto, out: &str) -> Result<String> {
        let (x, g) = (self.need(n, 0)?, self.need(n, 1)?);
        let dims = self.known_dims(&x, "GridSample")?;
        let grid = self.known_dims(&g, "GridSample")?;
        let k = dims.len().saturating_sub(2);
        if !(k == 2 || k == 3)
            || grid.len() != k + 2
            || grid[k + 1] != k as u64
            || grid[0] != dims[0]
        {
            return Err(format!(
                "GridSample of an input {dims:?} at a grid {grid:?} is not supported (2-D or 3-D)"
            ));
        }
        let mode = match attr_s(n, "mode").as_deref() {
            None | Some("bilinear" | "linear") => Mode::Linear,
            Some("nearest") => Mode::Nearest,
            Some("bicubic" | "cubic") => Mode::Cubic,
            Some(other) => return Err(format!("mode = {other} is not supported")),
        };
        let padding = attr_s(n, "padding_mode").unwrap_or_else(|| "zeros".into());
        if !matches!(padding.as_str(), "zeros" | "border" | "reflection") {
            return Err(format!("padding_mode = {padding} is not supported"));
        }
        let align = attr_i(n, "align_corners", 0) == 1;
        let (batch, channels, spatial) = (dims[0], dims[1], &dims[2..]);
        let dtype = self.ty(&x)?.dtype;
        let pixels: u64 = spatial.iter().product();
        let hint = |what: &str| format!("{out}_{what}");
        let grid = self.operand(&g)?;
        let grid = self.bind(grid, &hint("grid"))?;
        let mut perm: Vec<usize> = vec![0];
        perm.extend(2..k + 2);
        perm.push(1);
        let source = self.operand(&x)?;
        let source = self.bind(
            format!(
                "reshape(transpose({source}, perm = {}), [{}, {channels}])",
                list(&perm),
                batch * pixels
            ),
            &hint("pixels"),
        )?;
        let mut axes: Vec<Vec<Tap>> = Vec::new();
        for (a, &len) in spatial.iter().enumerate() {
            let len = len as f64;
            // The grid's last axis lists x (the last spatial axis) first.
            let g = format!("{grid}[..., {}]", k - 1 - a);
            let (lo, hi) = if align {
                (0.0, len - 1.0)
            } else {
                (-0.5, len - 0.5)
            };
            let at = match align {
                true => format!("({g} + 1) / 2 * {}", float(len - 1.0)),
                false => format!("(({g} + 1) * {} - 1) / 2", float(len)),
            };
            let mut at = self.bind(at, &hint("at"))?;
            if mode == Mode::Nearest {
                // Halves to even (numpy's `rint`).
                let (f, d) = (format!("floor({at})"), format!("({at} - floor({at}))"));
                at = self.bind(
                    format!("where(logical_or({d} > 0.5, logical_and({d} == 0.5, {f} % 2.0 == 1.0)), {f} + 1.0, {f})"),
                    &hint("at"),
                )?;
            }
            let outside = format!("logical_or({at} < {}, {at} > {})", float(lo), float(hi));
            at = match padding.as_str() {
                "border" => self.bind(
                    format!(
                        "where({outside}, clip({at}, 0.0, {}), {at})",
                        float(len - 1.0)
                    ),
                    &hint("at"),
                )?,
                "reflection" => {
                    let r = self.reflect(&at, lo, hi, &hint("reflected"))?;
                    self.bind(format!("where({outside}, {r}, {at})"), &hint("at"))?
                }
                _ => at,
            };
            let taps: Vec<(String, Option<String>)> = match mode {
                Mode::Nearest => vec![(truncated(&at), None)],
                Mode::Linear | Mode::Cubic => {
                    let f = self.bind(format!("floor({at})"), &hint("floor"))?;
                    let t = self.bind(format!("{at} - {f}"), &hint("fraction"))?;
                    match mode {
                        Mode::Linear => vec![
                            (f.clone(), Some(format!("(1 - {t})"))),
                            (format!("({f} + 1)"), Some(t)),
                        ],
                        _ => {
                            let a = float(CUBIC);
                            let far = |u: &str| {
                                format!("((({a} * {u} - 5 * {a}) * {u} + 8 * {a}) * {u} - 4 * {a})")
                            };
                            let near = |u: &str| {
                                format!("((({a} + 2) * {u} - ({a} + 3)) * {u} * {u} + 1)")
                            };
                            vec![
                                (format!("({f} - 1)"), Some(far(&format!("({t} + 1)")))),
                                (f.clone(), Some(near(&t))),
                                (format!("({f} + 1)"), Some(near(&format!("(1 - {t})")))),
                                (format!("({f} + 2)"), Some(far(&format!("(2 - {t})")))),
                            ]
                        }
                    }
                }
            };
            // Each tap read as the padding mode says.
            let mut read = Vec::new();
            for (i, weight) in taps {
                let top = float(len - 1.0);
                let (index, inside) = match padding.as_str() {
                    "zeros" => (
                        format!("clip({i}, 0.0, {top})"),
                        Some(format!(
                            "cast(logical_and({i} >= 0, {i} <= {top}), {dtype})"
                        )),
                    ),
                    "border" => (format!("clip({i}, 0.0, {top})"), None),
                    _ => {
                        let r = self.reflect(&i, lo, hi, &hint("reflected"))?;
                        (format!("clip({}, 0.0, {top})", truncated(&r)), None)
                    }
                };
                let index = self.bind(format!("cast({index}, i64)"), &hint("index"))?;
                read.push(Tap {
                    index,
                    weight,
                    inside,
                });
            }
            axes.push(read);
        }
        // Every combination of one tap an axis.
        let mut strides = vec![1u64; k];
        for a in (0..k.saturating_sub(1)).rev() {
            strides[a] = strides[a + 1] * spatial[a + 1];
        }
        let first = format!("{} * {pixels}", iota(&self.written, batch, 0, k + 1)?);
        let first = self.bind(first, &hint("image"))?;
        let mut terms = Vec::new();
        let mut pick = vec![0usize; k];
        loop {
            let mut flat = vec![first.clone()];
            let mut factors = Vec::new();
            for ((taps, &p), stride) in axes.iter().zip(&pick).zip(&strides) {
                let tap = &taps[p];
                flat.push(format!("{} * {stride}", tap.index));
                factors.extend(tap.weight.iter().cloned());
                factors.extend(tap.inside.iter().cloned());
            }
            let value = format!("take({source}, {}, axis = 0)", flat.join(" + "));
            terms.push(match factors.is_empty() {
                true => value,
                false => format!("{value} * expand_dims({}, {})", factors.join(" * "), k + 1),
            });
            // The next combination, the last axis fastest.
            let Some(a) = (0..k).rev().find(|&a| pick[a] + 1 < axes[a].len()) else {
                break;
            };
            pick[a] += 1;
            pick[a + 1..].iter_mut().for_each(|p| *p = 0);
        }
        let mut back: Vec<usize> = vec![0, k + 1];
        back.extend(1..=k);
        Ok(format!(
            "transpose({}, perm = {})",
            terms.join(" + "),
            list(&back)
        ))
    }

    /// `x` reflected off `lo` and `hi` until it lies between them, as ONNX's
    /// reference does (for a point outside; a point inside is unchanged).
    fn reflect(&mut self, x: &str, lo: f64, hi: f64, hint: &str) -> Result<String> {
        let (l, h, range) = (float(lo), float(hi), float(hi - lo));
        // How far past a border, in whole crossings of the range and the
        // rest: an even count of crossings ends moving away from it.
        let crossed = |d: &str| {
            let turns = format!("floor({d} / {range})");
            let rest = format!("({d} - {turns} * {range})");
            (format!("floor({turns} / 2) * 2 == {turns}"), rest)
        };
        let below = self.bind(format!("{l} - {x}"), &format!("{hint}_below"))?;
        let above = self.bind(format!("{x} - {h}"), &format!("{hint}_above"))?;
        let (even, r) = crossed(&below);
        let low = format!("where({even}, {l} + {r}, {h} - {r})");
        let (even, r) = crossed(&above);
        let high = format!("where({even}, {h} - {r}, {l} + {r})");
        self.bind(
            format!("where({x} < {l}, {low}, where({x} > {h}, {high}, {x}))"),
            hint,
        )
    }
}

/// `x` rounded toward zero, as C's conversion to an integer does.
fn truncated(x: &str) -> String {
    format!("where({x} < 0, ceil({x}), floor({x}))")
}
