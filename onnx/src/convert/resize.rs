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
    /// The part of the axis resized (`tf_crop_and_resize`'s region of
    /// interest), as fractions of it; all of it otherwise.
    region: (f64, f64),
}

const WHOLE: (f64, f64) = (0.0, 1.0);

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
        let antialias = attr_i(n, "antialias", 0) != 0;
        if antialias && mode == "nearest" {
            return Err("antialias needs mode = linear or cubic".into());
        }
        let axes: Vec<usize> = match attr_ints(n, "axes") {
            Some(axes) => axes
                .iter()
                .map(|&x| axis_in(x, rank as i64, false))
                .collect::<Result<_>>()?,
            None => (0..rank).collect(),
        };
        // tf_crop_and_resize's region of interest: a start and an end an
        // axis listed, the starts first.
        let roi = match transform.as_str() {
            "tf_crop_and_resize" => {
                let roi = self.floats(n, 1)?.ok_or("tf_crop_and_resize needs a roi")?;
                if roi.len() != 2 * axes.len() {
                    return Err("roi must have a start and an end an axis".into());
                }
                roi
            }
            _ => Vec::new(),
        };
        let region = |k: usize| match roi.is_empty() {
            true => WHOLE,
            false => (roi[k], roi[axes.len() + k]),
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
                for (k, ((&axis, &input), (&size, ratio))) in axes
                    .iter()
                    .zip(&inputs)
                    .zip(sizes.iter().zip(ratios))
                    .enumerate()
                {
                    let (out, scale, width) = match kept {
                        None => (size, ratio, size as f64),
                        Some(scale) => {
                            let width = scale * input as f64;
                            ((width + 0.5).floor() as i64, scale, width)
                        }
                    };
                    plan.push(Axis {
                        axis,
                        input,
                        out,
                        scale,
                        width,
                        region: region(k),
                    });
                }
            }
            (None, Some(scales)) => {
                if scales.len() != axes.len() {
                    return Err("scales must have one entry an axis".into());
                }
                for (k, (&axis, &scale)) in axes.iter().zip(scales).enumerate() {
                    if scale == 1.0 && region(k) == WHOLE {
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
                        region: region(k),
                    });
                }
            }
            (None, None) => return Err("Resize needs scales or sizes".into()),
        }
        let coeff_a = attr_f(n, "cubic_coeff_a", -0.75);
        let exclude_outside = attr_i(n, "exclude_outside", 0) != 0;
        let extrapolation = attr_f(n, "extrapolation_value", 0.0);
        for Axis {
            axis,
            input,
            out,
            scale,
            width,
            region,
        } in plan
        {
            if out as u64 == input && scale == 1.0 && region == WHOLE {
                continue;
            }
            if out <= 0 || input == 0 || scale.is_nan() || scale <= 0.0 {
                return Err("Resize to an empty or negative size".into());
            }
            // A filter of its own (cubic, or antialiased): `taps`
            // coefficients a position, as many for every position.
            let cubic = (mode == "cubic").then_some(coeff_a);
            let shrink = antialias.then_some(scale);
            let taps =
                (mode == "cubic" || antialias).then(|| coefficients(cubic, 0.5, shrink).len());
            let lists = match (mode.as_str(), taps) {
                (_, Some(taps)) => 2 * taps as u64,
                ("nearest", None) => 1,
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
                    "tf_crop_and_resize" => {
                        let (start, end) = region;
                        let span = (end - start) * (i_n - 1.0);
                        let x = match width == 1.0 {
                            true => span / 2.0,
                            false => i * span / (width - 1.0),
                        };
                        x + start * (i_n - 1.0)
                    }
                    other => {
                        return Err(format!(
                            "coordinate_transformation_mode = {other} is not supported"
                        ))
                    }
                })
            };
            let coordinates = (0..out)
                .map(|i| coordinate(i as f64))
                .collect::<Result<Vec<f64>>>()?;
            let last = input as i64 - 1;
            let clamp = |k: i64| k.clamp(0, last);
            let mut shape = vec!["1".to_string(); rank];
            shape[axis] = out.to_string();
            let shape = shape.join(", ");
            let weights =
                |w: &[String]| format!("reshape(cast({}, {}), [{shape}])", list(w), t.dtype);
            if mode != "nearest" && a.contains('(') {
                // `a` is taken more than once: the axes resized before are
                // bound to a name, or each axis would multiply the text.
                a = self.bind(a, &format!("{name}_resized"))?;
            }
            a = match taps {
                _ if mode == "nearest" => {
                    let picks: Vec<i64> = coordinates
                        .iter()
                        .map(|&x| {
                            let k = match nearest.as_str() {
                                "floor" => x.floor(),
                                "ceil" => x.ceil(),
                                "round_prefer_ceil" => (x + 0.5).floor(),
                                _ if x.fract() == 0.5 => x.floor(),
                                _ => x.round(),
                            };
                            clamp(k as i64)
                        })
                        .collect();
                    format!("take({a}, {}, axis = {axis})", list(&picks))
                }
                Some(taps) => {
                    let (mut picks, mut w) = (vec![Vec::new(); taps], vec![Vec::new(); taps]);
                    for &x in &coordinates {
                        let k = x.floor();
                        // At a whole coordinate the reference takes the
                        // ratio 1 (and the window that ends there).
                        let ratio = if x == k { 1.0 } else { x - k };
                        let mut c = coefficients(cubic, ratio, shrink);
                        let start = window_start(x, taps as i64);
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
                        for (j, cj) in c.iter().enumerate() {
                            picks[j].push(clamp(start + j as i64));
                            w[j].push(float(*cj));
                        }
                    }
                    let terms: Vec<String> = picks
                        .iter()
                        .zip(&w)
                        .map(|(p, w)| {
                            format!("take({a}, {}, axis = {axis}) * {}", list(p), weights(w))
                        })
                        .collect();
                    format!("({})", terms.join(" + "))
                }
                None => {
                    let (mut low, mut high, mut w) = (Vec::new(), Vec::new(), Vec::new());
                    for &x in &coordinates {
                        let x = x.clamp(0.0, last as f64);
                        let k = x.floor() as i64;
                        low.push(clamp(k));
                        high.push(clamp(k + 1));
                        w.push(float(x - k as f64));
                    }
                    let w = weights(&w);
                    format!(
                        "(take({a}, {}, axis = {axis}) * (1.0 - {w}) + take({a}, {}, axis = {axis}) * {w})",
                        list(&low),
                        list(&high)
                    )
                }
            };
            // tf_crop_and_resize: a position whose coordinate lies past the
            // input takes the extrapolation value.
            let outside: Vec<bool> = coordinates
                .iter()
                .map(|&x| transform == "tf_crop_and_resize" && (x < 0.0 || x > last as f64))
                .collect();
            if outside.contains(&true) {
                a = format!(
                    "where(reshape({}, [{shape}]), {}, {a})",
                    list(&outside),
                    float(extrapolation)
                );
            }
        }
        Ok(a)
    }
}

/// A filter's coefficients for a coordinate `ratio` past a whole one, as
/// ONNX's reference gives them: `linear`'s two (`cubic` `None`), or the
/// cubic convolution's four (Keys, with `a` = `cubic`). Antialiasing a
/// downsampling by `shrink`, the filter is widened by `1 / shrink` and its
/// coefficients normalised.
fn coefficients(cubic: Option<f64>, ratio: f64, shrink: Option<f64>) -> Vec<f64> {
    let kernel = |d: f64| -> f64 {
        let d = d.abs();
        match cubic {
            None => (1.0 - d).clamp(0.0, 1.0),
            Some(a) if d <= 1.0 => ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0,
            Some(a) if d < 2.0 => ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a,
            Some(_) => 0.0,
        }
    };
    let reach = if cubic.is_some() { 2.0 } else { 1.0 };
    let scale = shrink.map_or(1.0, |s| s.min(1.0));
    // The taps from `first` to `1 - first` about the whole coordinate
    // before: -1..=2 for cubic, 0..=1 for linear, without antialiasing.
    let first = (-reach / scale).floor() as i64 + 1;
    let c: Vec<f64> = (first..=1 - first)
        .map(|i| kernel(scale * (i as f64 - ratio)))
        .collect();
    match shrink {
        Some(_) => {
            let sum: f64 = c.iter().sum();
            c.iter().map(|x| x / sum).collect()
        }
        None => c,
    }
}

/// The first neighbour of coordinate `x` that a filter of `taps` takes: the
/// `taps` nearest it, ties to the smaller index, as the reference picks them.
fn window_start(x: f64, taps: i64) -> i64 {
    let pad = (taps + 1) / 2;
    let padded = x + pad as f64;
    let p = padded.floor();
    let frac = padded - p;
    let offset = match taps % 2 {
        0 if frac == 0.0 => -(taps / 2),
        0 => 1 - taps / 2,
        _ if frac <= 0.5 => -((taps - 1) / 2),
        _ => 1 - (taps - 1) / 2,
    };
    p as i64 + offset - pad
}
