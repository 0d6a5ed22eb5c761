//! Reductions over sets of axes, and argmax / argmin along one axis.

use crate::index::{strides, Offsets};
use tfg_ir::element::{typed, with_float, with_numeric, Elem, Float, Num};
use tfg_ir::{Data, ReduceOp, Tensor};

/// `op` over `axes` of `x`. `keepdims` only changes the result's shape, not
/// the order of its elements, so it is not needed here.
pub(crate) fn reduce(op: ReduceOp, axes: &[usize], x: &Tensor) -> Result<Data, String> {
    let dtype = x.dtype();
    let lanes = Lanes::new(&x.shape, axes);
    if lanes.len == 0 && matches!(op, ReduceOp::Max | ReduceOp::Min) {
        return Err(format!("{} of an empty axis", op.name()));
    }
    if op == ReduceOp::Mean {
        return with_float!(dtype, T => {
            let v = typed::<T>(&x.data, dtype)?;
            let n = T::from_count(lanes.len);
            Ok(T::wrap(lanes.map(v, |lane| pairwise_sum(lane).div(n))))
        }, other => Err(format!("mean is not defined on {dtype}")));
    }
    with_numeric!(dtype, T => {
        let v = typed::<T>(&x.data, dtype)?;
        let f: fn(&[T]) -> T = match op {
            ReduceOp::Sum | ReduceOp::Mean => pairwise_sum,
            ReduceOp::Prod => product,
            ReduceOp::Max => |lane| fold1(lane, <T as Num>::maximum),
            ReduceOp::Min => |lane| fold1(lane, <T as Num>::minimum),
        };
        Ok(T::wrap(lanes.map(v, f)))
    }, bool => Err(format!("{} is not defined on bool", op.name())))
}

/// Index of the largest (`max`) or smallest element along `axis`: the first
/// one on ties, and the first NaN if there is one (as numpy does).
pub(crate) fn arg_extreme(max: bool, axis: usize, x: &Tensor) -> Result<Data, String> {
    let dtype = x.dtype();
    let lanes = Lanes::new(&x.shape, &[axis]);
    if lanes.len == 0 {
        return Err(format!(
            "arg{} of an empty axis",
            if max { "max" } else { "min" }
        ));
    }
    with_numeric!(dtype, T => {
        let v = typed::<T>(&x.data, dtype)?;
        let better: fn(T, T) -> bool = if max { |a, b| a > b } else { |a, b| a < b };
        let pick = |lane: &[T]| {
            let mut best = 0;
            for (i, &a) in lane.iter().enumerate() {
                if a.is_nan() {
                    return i as i32;
                }
                if better(a, lane[best]) {
                    best = i;
                }
            }
            best as i32
        };
        Ok(Data::I32(lanes.map(v, pick)))
    }, bool => Err(format!("arg{} is not defined on bool", if max { "max" } else { "min" })))
}

/// The lanes of a reduction: for each kept position (in row-major order of the
/// kept axes), the elements along the reduced axes.
struct Lanes {
    /// Offsets of the lanes' first elements.
    starts: Offsets,
    /// Offsets of a lane's elements relative to its start; the same for all.
    within: Vec<usize>,
    len: usize,
}

impl Lanes {
    fn new(shape: &[usize], axes: &[usize]) -> Lanes {
        let s = strides(shape);
        let (mut kept, mut kept_strides, mut reduced, mut reduced_strides) =
            (vec![], vec![], vec![], vec![]);
        for (i, (&d, &st)) in shape.iter().zip(&s).enumerate() {
            if axes.contains(&i) {
                reduced.push(d);
                reduced_strides.push(st);
            } else {
                kept.push(d);
                kept_strides.push(st);
            }
        }
        let within: Vec<usize> = Offsets::new(&reduced, reduced_strides).collect();
        Lanes {
            starts: Offsets::new(&kept, kept_strides),
            len: within.len(),
            within,
        }
    }

    /// `f` of every lane, gathered into one reused scratch buffer.
    fn map<T: Copy, R>(self, v: &[T], f: impl Fn(&[T]) -> R) -> Vec<R> {
        let mut lane = Vec::with_capacity(self.len);
        let within = self.within;
        self.starts
            .map(|start| {
                lane.clear();
                lane.extend(within.iter().map(|&o| v[start + o]));
                f(&lane)
            })
            .collect()
    }
}

fn product<T: Num>(lane: &[T]) -> T {
    lane.iter().fold(T::ONE, |acc, &x| acc.mul(x))
}

/// `f` folded over a lane that is not empty, starting from its first element.
fn fold1<T: Num>(lane: &[T], f: fn(T, T) -> T) -> T {
    lane[1..].iter().fold(lane[0], |acc, &x| f(acc, x))
}

/// numpy's pairwise summation (`pairwise_sum` in its `loops_utils.h`): blocks
/// of up to 128 summed with eight accumulators, halves summed recursively. The
/// rounding error grows with log(n) instead of n.
fn pairwise_sum<T: Num>(x: &[T]) -> T {
    const BLOCK: usize = 128;
    let n = x.len();
    if n < 8 {
        x.iter().fold(T::ZERO, |acc, &a| acc.add(a))
    } else if n <= BLOCK {
        let mut r = [T::ZERO; 8];
        r.copy_from_slice(&x[..8]);
        let whole = n - n % 8;
        for chunk in x[8..whole].chunks_exact(8) {
            for (acc, &a) in r.iter_mut().zip(chunk) {
                *acc = acc.add(a);
            }
        }
        let res = (r[0].add(r[1]).add(r[2].add(r[3]))).add(r[4].add(r[5]).add(r[6].add(r[7])));
        x[whole..].iter().fold(res, |acc, &a| acc.add(a))
    } else {
        let half = n / 2;
        let half = half - half % 8;
        pairwise_sum(&x[..half]).add(pairwise_sum(&x[half..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_of_a_million_tenths_is_accurate() {
        // A naive f32 loop drifts by about 1% here.
        let x = vec![0.1f32; 1_000_000];
        let want = 1e6 * (0.1f32 as f64);
        let got = pairwise_sum(&x) as f64;
        assert!((got - want).abs() / want < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn mean_of_a_million_elements_is_accurate() {
        let v: Vec<f32> = (0..1_000_000).map(|i| (i % 1000) as f32 * 0.001).collect();
        let x = Tensor::new(vec![1000, 1000], Data::F32(v)).unwrap();
        // Each row of 1000 is 0.000, 0.001, …, 0.999 (as f32), whose mean is 0.4995.
        let want: f64 = (0..1000).map(|i| (i as f32 * 0.001) as f64).sum::<f64>() / 1000.0;
        let Data::F32(got) = reduce(ReduceOp::Mean, &[0, 1], &x).unwrap() else {
            unreachable!()
        };
        assert!(
            (got[0] as f64 - want).abs() / want < 1e-5,
            "{} vs {want}",
            got[0]
        );
    }

    #[test]
    fn argmax_takes_the_first_of_ties_and_nan_first() {
        let x = Tensor::new(
            vec![2, 3],
            Data::F32(vec![2.0, 5.0, 5.0, 2.0, f32::NAN, 9.0]),
        )
        .unwrap();
        assert_eq!(arg_extreme(true, 1, &x).unwrap(), Data::I32(vec![1, 1]));
        assert_eq!(arg_extreme(false, 1, &x).unwrap(), Data::I32(vec![0, 1]));
        assert_eq!(arg_extreme(true, 0, &x).unwrap(), Data::I32(vec![0, 1, 1]));
    }
}
