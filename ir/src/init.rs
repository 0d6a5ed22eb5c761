//! Param initialisers: turning an [`Init`] into the param's first value.
//!
//! Random initialisers must give the same numbers for a given `--seed` on
//! every machine and with every version of tfg's dependencies, so they draw
//! from a PRNG written here (splitmix64) rather than from a crate. Each param
//! gets its own stream, seeded from the run's seed and an FNV-1a hash of the
//! param's name: adding, removing or reordering params leaves every other
//! param's value as it was.

use crate::op::Init;
use crate::tensor::{Data, Tensor};
use crate::types::Type;

/// The first value of a param declared `name: ty = init`, for a run seeded with
/// `seed`. `ty` must be concrete (no symbolic dims).
pub fn materialize(init: &Init, ty: &Type, seed: u64, name: &str) -> Result<Tensor, String> {
    let shape = ty.shape.concrete().ok_or_else(|| {
        format!("param {name}: type {ty} has symbolic dims; bind them before initialising")
    })?;
    let n: usize = shape.iter().product();
    let random = matches!(
        init,
        Init::Uniform { .. } | Init::Normal { .. } | Init::Glorot
    );
    if random && !ty.dtype.is_float() {
        return Err(format!(
            "param {name}: random initialisers need a float dtype, not {}",
            ty.dtype
        ));
    }
    let mut rng = SplitMix64::for_param(seed, name);
    let data = match *init {
        Init::Literal(ref lit) => return literal(lit, ty, shape, name),
        Init::Zeros => return Ok(Tensor::full(ty.dtype, shape, 0.0)),
        Init::Ones => return Ok(Tensor::full(ty.dtype, shape, 1.0)),
        Init::Full(v) => return Ok(Tensor::full(ty.dtype, shape, v)),
        Init::Uniform { lo, hi } => {
            if !lo.is_finite() || !hi.is_finite() || lo > hi {
                return Err(format!(
                    "param {name}: uniform({lo}, {hi}) needs finite lo <= hi"
                ));
            }
            Data::from_f64(ty.dtype, (0..n).map(|_| lo + (hi - lo) * rng.next_unit()))
        }
        Init::Normal { mean, std } => {
            if !mean.is_finite() || !std.is_finite() || std < 0.0 {
                return Err(format!("param {name}: normal(mean = {mean}, std = {std}) needs a finite mean and std >= 0"));
            }
            Data::from_f64(ty.dtype, rng.normals(n).into_iter().map(|z| mean + std * z))
        }
        Init::Glorot => {
            let (fan_in, fan_out) = match shape.as_slice() {
                [] => (1, 1),
                [d] => (*d, *d),
                [d0, d1, ..] => (*d0, *d1),
            };
            // A zero fan means an empty tensor: the limit is never used.
            let limit = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
            Data::from_f64(
                ty.dtype,
                (0..n).map(|_| limit * (2.0 * rng.next_unit() - 1.0)),
            )
        }
    };
    Ok(Tensor { shape, data })
}

/// A literal initialiser: a scalar fills the shape, anything else must match it.
fn literal(lit: &Tensor, ty: &Type, shape: Vec<usize>, name: &str) -> Result<Tensor, String> {
    if lit.shape.iter().product::<usize>() != lit.numel() {
        return Err(format!(
            "param {name}: malformed initial value (shape {:?} with {} elements)",
            lit.shape,
            lit.numel()
        ));
    }
    if lit.shape.is_empty() {
        return lit
            .cast(ty.dtype)
            .splat(shape)
            .ok_or_else(|| format!("param {name}: its shape has too many elements"));
    }
    if lit.shape != shape {
        return Err(format!(
            "param {name}: initial value has shape {:?} but the param is declared {ty}",
            lit.shape
        ));
    }
    Ok(lit.cast(ty.dtype))
}

/// FNV-1a, 64-bit: a stable hash of a param's name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Steele, Lea and Flood's splitmix64: tiny, fast, and good enough for weights
/// (and for shuffling minibatches, which the driver draws from it too).
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The stream of param `name` in a run seeded with `seed` (or of any other
    /// named use, such as `batch/shuffle`). The seed goes through one mixing
    /// step so that nearby seeds give unrelated streams.
    pub fn for_param(seed: u64, name: &str) -> SplitMix64 {
        let mixed_seed = SplitMix64 { state: seed }.next_u64();
        SplitMix64 {
            state: mixed_seed ^ fnv1a(name.as_bytes()),
        }
    }

    /// The next 64 random bits of the stream.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with the 53 bits an f64 holds.
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `n` standard normal draws by Box–Muller, which yields them in pairs.
    fn normals(&mut self, n: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            // 1 - u lies in (0, 1], so the log is finite.
            let r = (-2.0 * (1.0 - self.next_unit()).ln()).sqrt();
            let theta = 2.0 * std::f64::consts::PI * self.next_unit();
            out.push(r * theta.cos());
            out.push(r * theta.sin());
        }
        out.truncate(n);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{DType, Shape};

    fn f32_ty(dims: &[u64]) -> Type {
        Type::new(DType::F32, Shape::known(dims))
    }

    fn values(t: &Tensor) -> Vec<f64> {
        (0..t.numel()).map(|i| t.data.get_f64(i)).collect()
    }

    fn mean_std(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference (isthe.com/chongo/tech/comp/fnv).
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn splitmix64_matches_the_reference_implementation() {
        // Rosetta Code, "Pseudo-random numbers/Splitmix64": seed 1234567.
        let mut rng = SplitMix64 { state: 1234567 };
        let got: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423
            ]
        );
    }

    #[test]
    fn random_draws_are_deterministic_and_per_name() {
        let ty = f32_ty(&[4, 5]);
        let init = Init::Normal {
            mean: 0.0,
            std: 1.0,
        };
        let a = materialize(&init, &ty, 7, "w").unwrap();
        assert_eq!(a, materialize(&init, &ty, 7, "w").unwrap());
        assert_ne!(a, materialize(&init, &ty, 7, "v").unwrap());
        assert_ne!(a, materialize(&init, &ty, 8, "w").unwrap());
    }

    #[test]
    fn uniform_stays_in_range_with_the_right_moments() {
        let (lo, hi) = (-2.0, 3.0);
        let t = materialize(&Init::Uniform { lo, hi }, &f32_ty(&[200_000]), 0, "u").unwrap();
        let xs = values(&t);
        assert!(xs.iter().all(|&x| (lo..=hi).contains(&x)));
        let (mean, std) = mean_std(&xs);
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        // The standard deviation of U(lo, hi) is (hi - lo) / sqrt(12).
        assert!((std - 5.0 / 12f64.sqrt()).abs() < 0.02, "std {std}");
    }

    #[test]
    fn normal_has_the_requested_mean_and_std() {
        let t = materialize(
            &Init::Normal {
                mean: 1.5,
                std: 0.5,
            },
            &Type::new(DType::F64, Shape::known(&[200_001])),
            3,
            "n",
        )
        .unwrap();
        let (mean, std) = mean_std(&values(&t));
        assert!((mean - 1.5).abs() < 0.01, "mean {mean}");
        assert!((std - 0.5).abs() < 0.01, "std {std}");
    }

    #[test]
    fn glorot_uses_the_first_two_dims_as_fans() {
        let t = materialize(&Init::Glorot, &f32_ty(&[300, 500, 2]), 0, "g").unwrap();
        let xs = values(&t);
        let limit = (6.0f64 / 800.0).sqrt();
        assert!(xs.iter().all(|x| x.abs() <= limit + 1e-7));
        let (mean, std) = mean_std(&xs);
        assert!(mean.abs() < 0.01 * limit, "mean {mean}");
        assert!(
            (std - limit / 3f64.sqrt()).abs() < 0.01 * limit,
            "std {std}"
        );
        assert!(xs.iter().any(|x| x.abs() > 0.99 * limit));
        // Rank 1 uses dims[0] for both fans; rank 0 uses 1.
        let v = values(&materialize(&Init::Glorot, &f32_ty(&[3000]), 0, "g").unwrap());
        let limit = (6.0f64 / 6000.0).sqrt();
        assert!(v.iter().all(|x| x.abs() <= limit + 1e-7));
        assert!(v.iter().any(|x| x.abs() > 0.99 * limit));
        let s = values(&materialize(&Init::Glorot, &f32_ty(&[]), 0, "g").unwrap());
        assert!(s[0].abs() <= 3f64.sqrt() + 1e-7);
    }

    #[test]
    fn constant_initialisers_fill_and_convert() {
        let ty = Type::new(DType::I32, Shape::known(&[2, 2]));
        assert_eq!(
            materialize(&Init::Full(2.7), &ty, 0, "k").unwrap().data,
            Data::I32(vec![2; 4])
        );
        assert_eq!(
            materialize(&Init::Ones, &ty, 0, "k").unwrap().data,
            Data::I32(vec![1; 4])
        );
        let lit = Init::Literal(Tensor::scalar_f32(0.8));
        assert_eq!(
            materialize(&lit, &f32_ty(&[3]), 0, "w").unwrap().data,
            Data::F32(vec![0.8; 3])
        );
        let arr = Tensor::new(vec![2], Data::I32(vec![1, -3])).unwrap();
        let got = materialize(
            &Init::Literal(arr),
            &Type::new(DType::F64, Shape::known(&[2])),
            0,
            "a",
        )
        .unwrap();
        assert_eq!(got.data, Data::F64(vec![1.0, -3.0]));
    }

    #[test]
    fn bad_initialisers_are_errors() {
        let arr = Tensor::new(vec![2], Data::F32(vec![1.0, 2.0])).unwrap();
        assert!(materialize(&Init::Literal(arr), &f32_ty(&[3]), 0, "w")
            .unwrap_err()
            .contains("shape"));
        let sym = Type::new(DType::F32, Shape(vec![crate::types::Dim::Sym("B".into())]));
        assert!(materialize(&Init::Zeros, &sym, 0, "w")
            .unwrap_err()
            .contains("symbolic"));
        let int = Type::scalar(DType::I32);
        assert!(materialize(&Init::Glorot, &int, 0, "w").is_err());
        assert!(materialize(&Init::Uniform { lo: 1.0, hi: 0.0 }, &f32_ty(&[2]), 0, "w").is_err());
    }
}
