//! Tensors printed as numpy prints arrays, so `tfg run` output reads like `print(a)`.
//!
//! This follows numpy's `arrayprint` (numpy ≥ 2.3) with its default options (precision 8 in
//! `maxprec` mode, line width 75, summarised with `...` beyond 1000 elements,
//! 3 edge items): one format per array, chosen from all the (shown) elements, so
//! columns line up; scientific notation when the magnitudes call for it; `nan`
//! and `inf` padded to the column. A 0-d tensor prints as numpy prints a scalar:
//! the shortest digits that read back to the same value.

use std::fmt::{Display, LowerExp};
use tfg_ir::{Data, Tensor};

const LINE_WIDTH: usize = 75;
const PRECISION: usize = 8;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;

/// `NAME = ARRAY : TYPE`, with continuation lines aligned under the first bracket.
pub fn named(name: &str, t: &Tensor) -> String {
    let prefix = format!("{name} = ");
    format!("{prefix}{} : {}", array_str(t, prefix.len()), t.ty())
}

/// `numpy.array2string(a, prefix=" " * prefix_len)`: continuation lines are indented
/// to follow a prefix of that length on the first line.
pub fn array_str(t: &Tensor, prefix_len: usize) -> String {
    if t.shape.is_empty() {
        return scalar_str(&t.data, 0);
    }
    if t.numel() == 0 {
        return "[]".into();
    }
    let summarize = t.numel() > THRESHOLD;
    let shown = shown_indices(&t.shape, summarize);
    let element = ElementFormat::new(&t.data, &shown);
    let layout = Layout {
        shape: &t.shape,
        strides: strides(&t.shape),
        summarize,
        element: &|i| element.format(&t.data, i),
    };
    let hanging = " ".repeat(1 + prefix_len);
    layout.array(0, 0, &hanging, LINE_WIDTH)
}

/// Element `i` as numpy prints a scalar of its dtype (`str(np.float32(x))`).
pub fn scalar_str(data: &Data, i: usize) -> String {
    match data {
        Data::F32(v) => float_scalar(v[i]),
        Data::F64(v) => float_scalar(v[i]),
        Data::I32(v) => v[i].to_string(),
        Data::I64(v) => v[i].to_string(),
        Data::Bool(v) => if v[i] { "True" } else { "False" }.into(),
    }
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// Flat indices of the elements that will be printed: all, or when summarising
/// the first and last [`EDGE_ITEMS`] along every long axis (numpy's `_leading_trailing`).
fn shown_indices(shape: &[usize], summarize: bool) -> Vec<usize> {
    let strides = strides(shape);
    let mut flat = vec![0usize];
    for (&len, &stride) in shape.iter().zip(&strides) {
        let along: Vec<usize> = if summarize && len > 2 * EDGE_ITEMS {
            (0..EDGE_ITEMS).chain(len - EDGE_ITEMS..len).collect()
        } else {
            (0..len).collect()
        };
        flat = flat
            .iter()
            .flat_map(|&base| along.iter().map(move |&j| base + j * stride))
            .collect();
    }
    flat
}

/// numpy's `_formatArray`: nested brackets, rows wrapped at the line width.
struct Layout<'a> {
    shape: &'a [usize],
    strides: Vec<usize>,
    summarize: bool,
    element: &'a dyn Fn(usize) -> String,
}

impl Layout<'_> {
    fn array(&self, axis: usize, offset: usize, hanging: &str, width: usize) -> String {
        if axis == self.shape.len() {
            return (self.element)(offset);
        }
        let next_hanging = format!("{hanging} ");
        let next_width = width.saturating_sub(1);
        let len = self.shape[axis];
        let summary = self.summarize && 2 * EDGE_ITEMS < len;
        let (leading, trailing) = if summary {
            (EDGE_ITEMS, EDGE_ITEMS)
        } else {
            (0, len)
        };
        let at = |i: usize| offset + i * self.strides[axis];
        let nested = |i: usize| self.array(axis + 1, at(i), &next_hanging, next_width);
        let indices = (0..leading)
            .map(Some)
            .chain(summary.then_some(None))
            .chain((len - trailing..len).map(Some));

        let mut s = String::new();
        if axis + 1 == self.shape.len() {
            // Room for the closing bracket.
            let elem_width = width.saturating_sub(1);
            let mut line = hanging.to_string();
            for (k, i) in indices.enumerate() {
                if k > 0 {
                    line.push(' ');
                }
                let word = i.map_or_else(|| "...".to_string(), nested);
                if line.len() + word.len() > elem_width && line.len() > hanging.len() {
                    s.push_str(line.trim_end());
                    s.push('\n');
                    line = hanging.to_string();
                }
                line.push_str(&word);
            }
            s.push_str(&line);
        } else {
            let line_sep = "\n".repeat(self.shape.len() - axis - 1);
            for (k, i) in indices.enumerate() {
                if k > 0 {
                    s.push_str(&line_sep);
                }
                s.push_str(hanging);
                s.push_str(&i.map_or_else(|| "...".to_string(), nested));
            }
        }
        format!("[{}]", &s[hanging.len()..])
    }
}

/// How every element of one array is printed.
enum ElementFormat {
    F32(FloatFormat),
    F64(FloatFormat),
    Int { width: usize },
    Bool,
}

impl ElementFormat {
    fn new(data: &Data, shown: &[usize]) -> ElementFormat {
        let int_width = |strs: Vec<String>| strs.iter().map(String::len).max().unwrap_or(0);
        match data {
            Data::F32(v) => ElementFormat::F32(FloatFormat::new(
                &shown.iter().map(|&i| v[i]).collect::<Vec<_>>(),
            )),
            Data::F64(v) => ElementFormat::F64(FloatFormat::new(
                &shown.iter().map(|&i| v[i]).collect::<Vec<_>>(),
            )),
            Data::I32(v) => ElementFormat::Int {
                width: int_width(shown.iter().map(|&i| v[i].to_string()).collect()),
            },
            Data::I64(v) => ElementFormat::Int {
                width: int_width(shown.iter().map(|&i| v[i].to_string()).collect()),
            },
            Data::Bool(_) => ElementFormat::Bool,
        }
    }

    fn format(&self, data: &Data, i: usize) -> String {
        match (self, data) {
            (ElementFormat::F32(f), Data::F32(v)) => f.format(v[i]),
            (ElementFormat::F64(f), Data::F64(v)) => f.format(v[i]),
            (ElementFormat::Int { width }, _) => format!("{:>width$}", scalar_str(data, i)),
            // numpy pads `True` so that it lines up with `False`.
            (ElementFormat::Bool, Data::Bool(v)) => if v[i] { " True" } else { "False" }.into(),
            _ => scalar_str(data, i),
        }
    }
}

/// f32 and f64, compared in their own precision as numpy does.
trait Float: Copy + PartialOrd + Display + LowerExp {
    const ZERO: Self;
    const SMALL: Self;
    const LARGE: Self;
    const RATIO: Self;
    const SCALAR_LARGE: Self;
    fn abs(self) -> Self;
    fn is_finite(self) -> bool;
    fn is_nan(self) -> bool;
    fn ratio(self, other: Self) -> Self;
}

macro_rules! float {
    ($t:ty, $large:expr, $scalar_large:expr) => {
        impl Float for $t {
            const ZERO: $t = 0.0;
            const SMALL: $t = 1e-4;
            const LARGE: $t = $large;
            const RATIO: $t = 1e3;
            const SCALAR_LARGE: $t = $scalar_large;
            fn abs(self) -> $t {
                <$t>::abs(self)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn ratio(self, other: $t) -> $t {
                self / other
            }
        }
    };
}
// Where numpy (≥ 2.3) switches to scientific notation, in arrays and for scalars.
float!(f32, 1e6, 1e6);
float!(f64, 1e8, 1e16);

/// The shortest digits that identify `x`, positional, with at most `max_frac`
/// digits after the point (then correctly rounded): `(integer part, fraction)`.
fn positional<T: Float>(x: T, max_frac: usize) -> (String, String) {
    let split = |s: String| match s.split_once('.') {
        Some((int, frac)) => (int.to_string(), frac.trim_end_matches('0').to_string()),
        None => (s, String::new()),
    };
    let (int, frac) = split(format!("{x}"));
    if frac.len() <= max_frac {
        (int, frac)
    } else {
        split(format!("{x:.max_frac$}"))
    }
}

/// As [`positional`], in scientific notation: `(integer digit, fraction, exponent)`.
fn scientific<T: Float>(x: T, max_frac: usize) -> (String, String, i32) {
    let trimmed = |(int, frac, exp): (String, String, i32)| {
        (int, frac.trim_end_matches('0').to_string(), exp)
    };
    let (int, frac, exp) = trimmed(split_scientific(&format!("{x:e}")));
    if frac.len() <= max_frac {
        (int, frac, exp)
    } else {
        trimmed(split_scientific(&format!("{x:.max_frac$e}")))
    }
}

/// Rust's `1.25e-3` as `("1", "25", -3)`.
fn split_scientific(s: &str) -> (String, String, i32) {
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    (int.to_string(), frac.to_string(), exp.parse().unwrap_or(0))
}

fn exponent(exp: i32, digits: usize) -> String {
    format!(
        "e{}{:0>digits$}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    )
}

fn non_finite<T: Float>(x: T) -> &'static str {
    if x.is_nan() {
        "nan"
    } else if x > T::ZERO {
        "inf"
    } else {
        "-inf"
    }
}

/// numpy's scalar `str`: positional between 1e-4 and 1e16, else scientific.
fn float_scalar<T: Float>(x: T) -> String {
    if !x.is_finite() {
        return non_finite(x).into();
    }
    let a = x.abs();
    if a == T::ZERO || (T::SMALL <= a && a < T::SCALAR_LARGE) {
        let (int, frac) = positional(x, usize::MAX);
        format!("{int}.{}", if frac.is_empty() { "0" } else { &frac })
    } else {
        let (int, frac, exp) = scientific(x, usize::MAX);
        let frac = if frac.is_empty() {
            String::new()
        } else {
            format!(".{frac}")
        };
        format!("{int}{frac}{}", exponent(exp, 2))
    }
}

/// numpy's `FloatingFormat` for one array.
struct FloatFormat {
    /// Scientific notation: digits after the point and of the exponent, the same for every element.
    scientific: Option<(usize, usize)>,
    pad_left: usize,
    pad_right: usize,
}

impl FloatFormat {
    fn new<T: Float>(values: &[T]) -> FloatFormat {
        let finite: Vec<T> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let magnitudes = finite.iter().map(|x| x.abs()).filter(|&a| a != T::ZERO);
        let (min, max) = magnitudes.fold((None, None), |(lo, hi): (Option<T>, Option<T>), a| {
            (
                Some(lo.map_or(a, |l| if a < l { a } else { l })),
                Some(hi.map_or(a, |h| if a > h { a } else { h })),
            )
        });
        let use_scientific = match (min, max) {
            (Some(min), Some(max)) => {
                max >= T::LARGE || min < T::SMALL || max.ratio(min) > T::RATIO
            }
            _ => false,
        };

        let mut f = FloatFormat {
            scientific: None,
            pad_left: 0,
            pad_right: 0,
        };
        if use_scientific {
            let parts: Vec<_> = finite.iter().map(|&x| scientific(x, PRECISION)).collect();
            let exp_digits = parts
                .iter()
                .map(|(_, _, e)| e.unsigned_abs().to_string().len().max(2))
                .max()
                .unwrap_or(2);
            let precision = parts
                .iter()
                .map(|(_, frac, _)| frac.len())
                .max()
                .unwrap_or(0);
            f.scientific = Some((precision, exp_digits));
            f.pad_left = parts.iter().map(|(int, _, _)| int.len()).max().unwrap_or(0);
            f.pad_right = exp_digits + 2 + precision;
        } else if !finite.is_empty() {
            let parts: Vec<_> = finite.iter().map(|&x| positional(x, PRECISION)).collect();
            f.pad_left = parts.iter().map(|(int, _)| int.len()).max().unwrap_or(0);
            f.pad_right = parts.iter().map(|(_, frac)| frac.len()).max().unwrap_or(0);
        }
        if finite.len() < values.len() {
            let neg_inf = values
                .iter()
                .any(|&x| !x.is_finite() && !x.is_nan() && x < T::ZERO);
            let widest: usize = if neg_inf { 4 } else { 3 };
            f.pad_left = f.pad_left.max(widest.saturating_sub(f.pad_right + 1));
        }
        f
    }

    fn format<T: Float>(&self, x: T) -> String {
        let (pad_left, pad_right) = (self.pad_left, self.pad_right);
        if !x.is_finite() {
            return format!(
                "{:>width$}",
                non_finite(x),
                width = pad_left + pad_right + 1
            );
        }
        match self.scientific {
            Some((precision, exp_digits)) => {
                // Every element shows `precision` digits; past its own shortest
                // digits come the exact ones, as numpy's `min_digits` does.
                let (int, frac, exp) = split_scientific(&format!("{x:.precision$e}"));
                format!("{int:>pad_left$}.{frac}{}", exponent(exp, exp_digits))
            }
            None => {
                let (int, frac) = positional(x, PRECISION);
                format!("{int:>pad_left$}.{frac:<pad_right$}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::new(shape.to_vec(), Data::F32(v.to_vec())).expect("fits")
    }

    // Expected strings are what numpy 2.x prints for the same arrays.
    #[test]
    fn scalars_print_as_numpy_scalars() {
        let cases: [(f32, &str); 7] = [
            (0.8, "0.8"),
            (0.64000005, "0.64000005"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (1e-5, "1e-05"),
            (1.5e20, "1.5e+20"),
            (f32::NEG_INFINITY, "-inf"),
        ];
        for (x, expected) in cases {
            assert_eq!(array_str(&f32s(&[], &[x]), 0), expected);
        }
        assert_eq!(
            scalar_str(&Data::F64(vec![0.1 + 0.2]), 0),
            "0.30000000000000004"
        );
        assert_eq!(scalar_str(&Data::Bool(vec![true]), 0), "True");
    }

    #[test]
    fn vectors_align_their_columns() {
        assert_eq!(array_str(&f32s(&[3], &[1.0, 2.0, 3.0]), 0), "[1. 2. 3.]");
        assert_eq!(array_str(&f32s(&[2], &[1.5, 2.25]), 0), "[1.5  2.25]");
        assert_eq!(
            array_str(&f32s(&[3], &[-1.0, f32::NAN, 0.5]), 0),
            "[-1.   nan  0.5]"
        );
        assert_eq!(array_str(&f32s(&[2], &[1e-5, 1.5]), 0), "[1.0e-05 1.5e+00]");
        assert_eq!(
            array_str(&f32s(&[2], &[1e-5, 1e100_f64 as f32]), 0),
            "[1.e-05    inf]"
        );
        let t = Tensor::new(vec![2], Data::F64(vec![1e-5, 1e100])).expect("fits");
        assert_eq!(array_str(&t, 0), "[1.e-005 1.e+100]");
        let t = Tensor::new(vec![3], Data::F64(vec![1.0 / 3.0, 2.0, 100.0])).expect("fits");
        assert_eq!(array_str(&t, 0), "[  0.33333333   2.         100.        ]");
    }

    #[test]
    fn integers_and_bools() {
        let t = Tensor::new(vec![2, 2], Data::I32(vec![1, -20, 300, 4])).expect("fits");
        assert_eq!(array_str(&t, 0), "[[  1 -20]\n [300   4]]");
        let t = Tensor::new(vec![2], Data::Bool(vec![true, false])).expect("fits");
        assert_eq!(array_str(&t, 0), "[ True False]");
    }

    #[test]
    fn nested_rows_and_blank_lines_between_blocks() {
        let t = Tensor::new(vec![2, 2, 2], Data::I64((0..8).collect())).expect("fits");
        assert_eq!(array_str(&t, 0), "[[[0 1]\n  [2 3]]\n\n [[4 5]\n  [6 7]]]");
        let t = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(named("w", &t), "w = [[1. 2.]\n     [3. 4.]] : f32[2, 2]");
    }

    #[test]
    fn long_rows_wrap_and_large_arrays_are_summarised() {
        let t = Tensor::new(vec![30], Data::I32((0..30).collect())).expect("fits");
        assert_eq!(
            array_str(&t, 0),
            "[ 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19 20 21 22 23\n 24 25 26 27 28 29]"
        );
        let t = Tensor::new(vec![2000], Data::I64((0..2000).collect())).expect("fits");
        assert_eq!(array_str(&t, 0), "[   0    1    2 ... 1997 1998 1999]");
        let t = Tensor::new(vec![0, 3], Data::F32(vec![])).expect("fits");
        assert_eq!(array_str(&t, 0), "[]");
    }
}
