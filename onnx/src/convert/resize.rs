//! `Resize` (and the older `Upsample`): each resized axis is a `take` of
//! constant indices along it, weighted for `linear` and `cubic`, the
//! indices and weights computed here as ONNX's reference computes them
//! (`onnx/reference/ops/op_resize.py`): the source coordinate of each
//! output position, its neighbours clamped to the input (edge padding), and
//! their coefficients.

use super::{
    attr, attr_f, attr_i, attr_ints, attr_s, axis_in, float, list, written, Importer, Result,
};
use crate::proto::NodeProto;

/// One axis to resize.
struct Axis {
    axis: usize,
    input: u64,
    out: i64,
    scale: f64,
    /// The output length the coordinates use: `scale · input`, unrounded
    /// (the reference's `output_width`), or the size asked for.
    width: f64,
}

impl Importer<'_> {
    /// The resized input, for ONNX value `name`.
    pub(super) fn resize(&mut self, n: &NodeProto, op: &str, name: &str) -> Result<String> {
        let v = self.need(n, 0)?;
        let t = self.ty(&v)?;
        let mut a = self.operand(&v)?;
        let rank = t.shape.rank();
        // Opset 10 (and Upsample): scales are input 1; then input 1 is a
        // region of interest, 2 scales and 3 sizes.
        let legacy = self.opset < 11 || op == "Upsample";
        let (scales, sizes) = if legacy {
            let scales = match attr(n, "scales") {
                Some(a) => Some(a.floats.iter().map(|&f| f as f64).collect()),
                None => self.floats(n, 1)?,
            };
            (scales, None)
        } else {
            (
                self.floats(n, 2)?,
                self.ints(n, 3)?.filter(|s| !s.is_empty()),
            )
        };
        let mode = attr_s(n, "mode").unwrap_or_else(|| "nearest".into());
        let transform = match legacy {
            true => "asymmetric".to_string(),
            false => {
                attr_s(n, "coordinate_transformation_mode").unwrap_or_else(|| "half_pixel".into())
            }
        };
        // Before opset 11, a nearest pick is the floor.
        let nearest = match legacy {
            true => "floor".to_string(),
            false => attr_s(n, "nearest_mode").unwrap_or_else(|| "round_prefer_floor".into()),
        };
        if !matches!(mode.as_str(), "nearest" | "linear" | "bilinear" | "cubic") {
            return Err(format!(
                "mode = {mode} is not supported (nearest, linear, cubic)"
            ));
        }
        if attr_i(n, "antialias", 0) != 0 {
            return Err("antialias is not supported".into());
        }
        let axes: Vec<usize> = match attr_ints(n, "axes") {
            Some(axes) => axes
                .iter()
                .map(|&x| axis_in(x, rank as i64, false))
                .collect::<Result<_>>()?,
            None => (0..rank).collect(),
        };
        let dim = |axis: usize| -> Result<u64> {
            t.shape.0[axis]
                .known()
                .ok_or_else(|| "Resize needs the input's dims known".to_string())
        };
        let mut plan = Vec::new();
        match (&sizes, &scales) {
            (Some(sizes), _) => {
                if sizes.len() != axes.len() {
                    return Err("sizes must have one entry an axis".into());
                }
                let inputs = axes.iter().map(|&x| dim(x)).collect::<Result<Vec<_>>>()?;
                let ratios = sizes
                    .iter()
                    .zip(&inputs)
                    .map(|(&o, &i)| o as f64 / i as f64);
                // A kept aspect ratio: one scale for every axis listed, the
                // smallest or the largest, and sizes rounded from it.
                let kept = match attr_s(n, "keep_aspect_ratio_policy").as_deref() {
                    None | Some("stretch") => None,
                    Some("not_larger") => ratios.clone().reduce(f64::min),
                    Some("not_smaller") => ratios.clone().reduce(f64::max),
                    Some(other) => {
                        return Err(format!(
                            "keep_aspect_ratio_policy = {other} is not supported"
                        ))
                    }
                };
                for ((&axis, &input), (&size, ratio)) in
                    axes.iter().zip(&inputs).zip(sizes.iter().zip(ratios))
                {
                    plan.push(match kept {
                        None => Axis {
                            axis,
                            input,
                            out: size,
                            scale: ratio,
                            width: size as f64,
                        },
                        Some(scale) => {
                            let width = scale * input as f64;
                            Axis {
                                axis,
                                input,
                                out: (width + 0.5).floor() as i64,
                                scale,
                                width,
                            }
                        }
                    });
                }
            }
            (None, Some(scales)) => {
                if scales.len() != axes.len() {
                    return Err("scales must have one entry an axis".into());
                }
                for (&axis, &scale) in axes.iter().zip(scales) {
                    if scale == 1.0 {
                        continue;
                    }
                    let input = dim(axis)?;
                    let width = input as f64 * scale;
                    plan.push(Axis {
                        axis,
                        input,
                        out: width.floor() as i64,
                        scale,
                        width,
                    });
                }
            }
            (None, None) => return Err("Resize needs scales or sizes".into()),
        }
        for Axis {
            axis,
            input,
            out,
            scale,
            width,
        } in plan
        {
            if out as u64 == input && scale == 1.0 {
                continue;
            }
            if out <= 0 || input == 0 || scale.is_nan() || scale <= 0.0 {
                return Err("Resize to an empty or negative size".into());
            }
            let lists = match mode.as_str() {
                "nearest" => 1,
                "cubic" => 8,
                _ => 3,
            };
            written(
                &self.written,
                (out as u64).saturating_mul(lists),
                "a Resize's output axis",
            )?;
            let i_n = input as f64;
            let coordinate = |i: f64| -> Result<f64> {
                Ok(match transform.as_str() {
                    "half_pixel" => (i + 0.5) / scale - 0.5,
                    "half_pixel_symmetric" => {
                        let offset = i_n / 2.0 * (1.0 - out as f64 / width);
                        offset + (i + 0.5) / scale - 0.5
                    }
                    "pytorch_half_pixel" if width == 1.0 => -0.5,
                    "pytorch_half_pixel" => (i + 0.5) / scale - 0.5,
                    "asymmetric" => i / scale,
                    "align_corners" if width == 1.0 => 0.0,
                    "align_corners" => i * (i_n - 1.0) / (width - 1.0),
                    "tf_half_pixel_for_nn" => (i + 0.5) / scale,
                    other => {
                        return Err(format!(
                            "coordinate_transformation_mode = {other} is not supported"
                        ))
                    }
                })
            };
            let last = input as i64 - 1;
            let clamp = |k: i64| k.clamp(0, last);
            let mut shape = vec!["1".to_string(); rank];
            shape[axis] = out.to_string();
            let shape = shape.join(", ");
            let weights =
                |w: &[String]| format!("reshape(cast({}, {}), [{shape}])", list(w), t.dtype);
            if mode == "nearest" {
                let mut picks = Vec::new();
                for i in 0..out {
                    let x = coordinate(i as f64)?;
                    let k = match nearest.as_str() {
                        "floor" => x.floor(),
                        "ceil" => x.ceil(),
                        "round_prefer_ceil" => (x + 0.5).floor(),
                        _ if x.fract() == 0.5 => x.floor(),
                        _ => x.round(),
                    };
                    picks.push(clamp(k as i64));
                }
                a = format!("take({a}, {}, axis = {axis})", list(&picks));
                continue;
            }
            // `a` is taken more than once: the axes resized before are bound
            // to a name, or each axis would multiply the text.
            if a.contains('(') {
                a = self.bind(a, &format!("{name}_resized"))?;
            }
            if mode == "cubic" {
                let coeff_a = attr_f(n, "cubic_coeff_a", -0.75);
                let exclude_outside = attr_i(n, "exclude_outside", 0) != 0;
                let (mut picks, mut w) = (vec![Vec::new(); 4], vec![Vec::new(); 4]);
                for i in 0..out {
                    let x = coordinate(i as f64)?;
                    let k = x.floor();
                    // At a whole coordinate the reference takes the window
                    // that ends there, with the ratio 1.
                    let (ratio, start) = match x == k {
                        true => (1.0, k as i64 - 2),
                        false => (x - k, k as i64 - 1),
                    };
                    let mut c = cubic(ratio, coeff_a);
                    if exclude_outside {
                        for (j, cj) in c.iter_mut().enumerate() {
                            if !(0..=last).contains(&(start + j as i64)) {
                                *cj = 0.0;
                            }
                        }
                        let sum: f64 = c.iter().sum();
                        let sum = if sum == 0.0 { 1.0 } else { sum };
                        c.iter_mut().for_each(|cj| *cj /= sum);
                    }
                    for j in 0..4 {
                        picks[j].push(clamp(start + j as i64));
                        w[j].push(float(c[j]));
                    }
                }
                let terms: Vec<String> = picks
                    .iter()
                    .zip(&w)
                    .map(|(p, w)| format!("take({a}, {}, axis = {axis}) * {}", list(p), weights(w)))
                    .collect();
                a = format!("({})", terms.join(" + "));
                continue;
            }
            let (mut low, mut high, mut w) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..out {
                let x = coordinate(i as f64)?.clamp(0.0, last as f64);
                let k = x.floor() as i64;
                low.push(clamp(k));
                high.push(clamp(k + 1));
                w.push(float(x - k as f64));
            }
            let w = weights(&w);
            a = format!(
                "(take({a}, {}, axis = {axis}) * (1.0 - {w}) + take({a}, {}, axis = {axis}) * {w})",
                list(&low),
                list(&high)
            );
        }
        Ok(a)
    }
}

/// The cubic convolution's coefficients (Keys, with `a`) of the four
/// neighbours of a coordinate `ratio` past the second of them.
fn cubic(ratio: f64, a: f64) -> [f64; 4] {
    let near = |d: f64| ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0;
    let far = |d: f64| ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a;
    [
        far(ratio + 1.0),
        near(ratio),
        near(1.0 - ratio),
        far(2.0 - ratio),
    ]
}
