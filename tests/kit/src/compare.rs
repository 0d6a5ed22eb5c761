//! Comparing a result with its reference, as closely as the code promises.
//!
//! Integers and bools match exactly, compared as integers (not through
//! `f64`, where values near ±2^63 would round together). Any NaN matches any
//! NaN (NaN payloads are not part of tfg's semantics). Other floats match
//! by bits under [`Tol::EXACT`], else within the bounds a [`Tol`] states;
//! each test says next to its `Tol` why the bound is what it is.

use tfg_ir::{Data, Tensor};

/// How closely float results must match their reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tol {
    /// Relative to the larger magnitude of the two values.
    pub rel: f64,
    /// Relative to the largest finite magnitude in the reference tensor:
    /// for sums and dot products, whose error is bounded by the size of
    /// their terms, not by a result that cancels to near zero.
    pub of_largest: f64,
    /// Absolute: where even the whole result cancels (the mean of centred
    /// values), a bound from the size of the feeds the test chose.
    pub abs: f64,
}

impl Tol {
    /// The same bits: `-0.0` is not `0.0`.
    pub const EXACT: Tol = Tol {
        rel: 0.0,
        of_largest: 0.0,
        abs: 0.0,
    };
}

impl From<f64> for Tol {
    /// Relative `rel` alone.
    fn from(rel: f64) -> Tol {
        Tol { rel, ..Tol::EXACT }
    }
}

/// Whether `got` matches `want`: the same dtype and shape, every element as
/// `tol` says. Under a tolerance, values below the dtype's smallest normal
/// number also match each other (a backend may flush subnormals to zero),
/// and so do `-0.0` and `0.0`. Gives the first mismatch.
pub fn close(want: &Tensor, got: &Tensor, tol: impl Into<Tol>) -> Result<(), String> {
    let tol = tol.into();
    if want.shape != got.shape || want.dtype() != got.dtype() {
        return Err(format!(
            "{:?} {} vs {:?} {}",
            want.shape,
            want.dtype(),
            got.shape,
            got.dtype()
        ));
    }
    let mismatch = match (&want.data, &got.data) {
        (Data::F32(w), Data::F32(g)) => {
            let wide: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
            let same = floats(&wide, tol, f64::from(f32::MIN_POSITIVE));
            first(w, g, |a, b| {
                a.to_bits() == b.to_bits() || same(f64::from(*a), f64::from(*b))
            })
        }
        (Data::F64(w), Data::F64(g)) => {
            let same = floats(w, tol, f64::MIN_POSITIVE);
            first(w, g, |a, b| a.to_bits() == b.to_bits() || same(*a, *b))
        }
        (Data::I32(w), Data::I32(g)) => first(w, g, |a, b| a == b),
        (Data::I64(w), Data::I64(g)) => first(w, g, |a, b| a == b),
        (Data::Bool(w), Data::Bool(g)) => first(w, g, |a, b| a == b),
        _ => return Err("the data is not of the dtype it says".into()),
    };
    match mismatch {
        None => Ok(()),
        Some(i) => Err(format!(
            "element {i}: want {}, got {} (within {tol:?})",
            element(&want.data, i),
            element(&got.data, i)
        )),
    }
}

/// [`close`] for every result of a run, as `(outputs, updates)`: the same
/// number of each, and each matching its reference. Gives the first
/// mismatch, as `output 1: …` or `update 0: …`.
pub fn close_results(
    want: (&[Tensor], &[Tensor]),
    got: (&[Tensor], &[Tensor]),
    tol: impl Into<Tol>,
) -> Result<(), String> {
    let tol = tol.into();
    for (what, want, got) in [("output", want.0, got.0), ("update", want.1, got.1)] {
        if want.len() != got.len() {
            return Err(format!("{} {what}s, want {}", got.len(), want.len()));
        }
        for (i, (w, g)) in want.iter().zip(got).enumerate() {
            close(w, g, tol).map_err(|e| format!("{what} {i}: {e}"))?;
        }
    }
    Ok(())
}

/// Whether two floats of a tensor whose reference values are `want` match
/// under `tol` (bits aside); `tiny` is the dtype's smallest normal number.
fn floats(want: &[f64], tol: Tol, tiny: f64) -> impl Fn(f64, f64) -> bool {
    let exact = tol == Tol::EXACT;
    let largest = want
        .iter()
        .map(|x| x.abs())
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);
    let floor = tol.of_largest * largest + tol.abs;
    move |a, b| {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        // An infinity matches only itself (a relative bound would take it
        // for any large value).
        if exact || a.is_infinite() || b.is_infinite() {
            return false;
        }
        let diff = (a - b).abs();
        a == b || diff <= tol.rel * a.abs().max(b.abs()) + floor || diff < tiny
    }
}

/// The first index where `same` fails.
fn first<T>(want: &[T], got: &[T], same: impl Fn(&T, &T) -> bool) -> Option<usize> {
    want.iter().zip(got).position(|(a, b)| !same(a, b))
}

/// Element `i` as Rust prints it (floats with the digits that read back).
fn element(d: &Data, i: usize) -> String {
    match d {
        Data::F32(v) => format!("{:e}", v[i]),
        Data::F64(v) => format!("{:e}", v[i]),
        Data::I32(v) => v[i].to_string(),
        Data::I64(v) => v[i].to_string(),
        Data::Bool(v) => v[i].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(xs: &[f32]) -> Tensor {
        Tensor {
            shape: vec![xs.len()],
            data: Data::F32(xs.to_vec()),
        }
    }

    #[test]
    fn exact_is_by_bits_and_any_nan_matches() {
        assert!(close(
            &f32s(&[1.0, f32::NAN]),
            &f32s(&[1.0, -f32::NAN]),
            Tol::EXACT
        )
        .is_ok());
        assert!(close(&f32s(&[0.0]), &f32s(&[-0.0]), Tol::EXACT).is_err());
        assert!(close(&f32s(&[1.0]), &f32s(&[1.0 + f32::EPSILON]), Tol::EXACT).is_err());
        assert!(close(&f32s(&[f32::INFINITY]), &f32s(&[f32::MAX]), 1e-3).is_err());
    }

    #[test]
    fn integers_near_the_extremes_are_told_apart() {
        let a = Tensor {
            shape: vec![1],
            data: Data::I64(vec![i64::MAX]),
        };
        let b = Tensor {
            shape: vec![1],
            data: Data::I64(vec![i64::MAX - 1]),
        };
        // Through f64 both are 2^63.
        assert!(close(&a, &b, 1e-3).is_err());
    }

    #[test]
    fn the_bounds_are_those_stated() {
        assert!(close(&f32s(&[100.0]), &f32s(&[100.009]), 1e-4).is_ok());
        assert!(close(&f32s(&[100.0]), &f32s(&[100.02]), 1e-4).is_err());
        // 1e-3 of the largest (100) covers a cancelled 0.05 in another element.
        let tol = Tol {
            of_largest: 1e-3,
            ..Tol::EXACT
        };
        assert!(close(&f32s(&[100.0, 0.0]), &f32s(&[100.0, 0.05]), tol).is_ok());
        assert!(close(&f32s(&[100.0, 0.0]), &f32s(&[100.0, 0.2]), tol).is_err());
        // Subnormals may flush to zero under a tolerance, not exactly.
        assert!(close(&f32s(&[1e-40]), &f32s(&[0.0]), 1e-6).is_ok());
        assert!(close(&f32s(&[1e-40]), &f32s(&[0.0]), Tol::EXACT).is_err());
    }

    #[test]
    fn every_result_is_compared_and_the_first_mismatch_named() {
        let (one, two) = ([f32s(&[1.0])], [f32s(&[2.0])]);
        assert!(close_results((&one, &one), (&one, &one), Tol::EXACT).is_ok());
        let e = close_results((&one, &one), (&one, &two), Tol::EXACT);
        assert!(e.is_err_and(|e| e.starts_with("update 0: ")));
        let both = [f32s(&[1.0]), f32s(&[2.0])];
        let e = close_results((&one, &[]), (&both, &[]), Tol::EXACT);
        assert_eq!(e, Err("2 outputs, want 1".to_string()));
    }
}
