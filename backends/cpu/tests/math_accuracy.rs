//! The inline f32 `exp`, `log`, `tanh` and `sigmoid` against float64
//! references over dense sweeps of their useful ranges: the maximum error
//! must be well within the relative 1e-5 the language allows elementwise
//! work (docs/language.md, "Semantics"). Error is relative to the exact
//! value, or absolute below the smallest normal f32 (which f32 cannot hold
//! with any relative accuracy). `cargo test -p tfg-cpu --test math_accuracy
//! -- --nocapture` prints the measured maxima.

use tfg_ir::kernel::parse;
use tfg_ir::{Data, Tensor};

/// Evenly spaced points of `[lo, hi]`.
fn linear(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
    (0..n).map(move |i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
}

/// Points of `[lo, hi]` (both positive) evenly spaced in the exponent.
fn logarithmic(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
    linear(lo.ln(), hi.ln(), n).map(f64::exp)
}

/// Runs `op` on every point through the JIT, with and without fused
/// multiply-adds; gives (x, result) pairs.
fn jit(op: &str, xs: &[f32]) -> Vec<(f32, f32)> {
    let mut pairs = jit_with(op, xs, &tfg_cpu::Options::default());
    pairs.extend(jit_with(
        op,
        xs,
        &tfg_cpu::Options {
            fma: false,
            ..Default::default()
        },
    ));
    pairs
}

fn jit_with(op: &str, xs: &[f32], opts: &tfg_cpu::Options) -> Vec<(f32, f32)> {
    let n = xs.len();
    let text = format!(
        "program {{ buffer b0: f32[{n}] input 0  buffer b1: f32[{n}] output 0  arena 0
           kernel k reads b0 writes b1 {{ parallel for i0 in 0..{n} {{ store b1[i0] = {op}(b0[i0]) }} }} }}"
    );
    let p = parse(&text).expect("the sweep program parses");
    let mut c = tfg_cpu::compile_with(&p, opts).expect("compiles");
    let x = Tensor {
        shape: vec![n],
        data: Data::F32(xs.to_vec()),
    };
    let out = c.run(&[x], &[]).expect("runs");
    let Data::F32(ys) = &out.outputs[0].data else {
        panic!("f32 output")
    };
    xs.iter().copied().zip(ys.iter().copied()).collect()
}

/// The largest error of `op` against `exact` over `xs`, and where.
fn max_error(op: &str, xs: impl Iterator<Item = f64>, exact: impl Fn(f64) -> f64) -> (f64, f32) {
    let xs: Vec<f32> = xs.map(|x| x as f32).collect();
    let mut worst = (0.0, 0.0);
    for (x, y) in jit(op, &xs) {
        let want = exact(x as f64);
        // Beyond f32's range the right answer is the infinity it rounds to.
        let err = if (want as f32).is_infinite() || want.is_nan() {
            if (y == want as f32) || (want.is_nan() && y.is_nan()) {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            (y as f64 - want).abs() / want.abs().max(f32::MIN_POSITIVE as f64)
        };
        if err > worst.0 || err.is_nan() {
            worst = (err, x);
        }
    }
    println!(
        "{op:<8} max error {:.3e} at x = {:e} over {} points, with and without FMA",
        worst.0,
        worst.1,
        xs.len()
    );
    worst
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

const N: usize = 1 << 20;
const BOUND: f64 = 1e-6;

#[test]
fn exp_is_accurate() {
    let xs = linear(-104.0, 89.0, N).chain(linear(-1.0, 1.0, N)).chain([
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        88.7,
        88.8,
    ]);
    let (err, at) = max_error("exp", xs, f64::exp);
    assert!(err < BOUND, "exp: error {err:e} at {at}");
}

#[test]
fn log_is_accurate() {
    let xs = logarithmic(1e-45, 3e38, N)
        .chain(linear(0.5, 2.0, N))
        .chain([0.0, 1.0, f64::INFINITY]);
    let (err, at) = max_error("log", xs, f64::ln);
    assert!(err < BOUND, "log: error {err:e} at {at}");
    for (x, y) in jit("log", &[-1.0, f32::NAN, -0.0]) {
        assert!(
            y.is_nan() || (x == 0.0 && y == f32::NEG_INFINITY),
            "log({x}) = {y}"
        );
    }
}

#[test]
fn tanh_is_accurate() {
    let xs = linear(-10.0, 10.0, N)
        .chain(logarithmic(1e-30, 1.0, N / 4))
        .chain(logarithmic(1e-30, 1.0, N / 4).map(|x| -x))
        .chain([f64::INFINITY, f64::NEG_INFINITY, 0.0, 20.0]);
    let (err, at) = max_error("tanh", xs, f64::tanh);
    assert!(err < BOUND, "tanh: error {err:e} at {at}");
}

#[test]
fn sigmoid_is_accurate() {
    let xs = linear(-104.0, 30.0, N).chain(linear(-2.0, 2.0, N)).chain([
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        100.0,
    ]);
    let (err, at) = max_error("sigmoid", xs, sigmoid);
    assert!(err < BOUND, "sigmoid: error {err:e} at {at}");
}

#[test]
fn nan_propagates_through_every_function() {
    for op in ["exp", "log", "tanh", "sigmoid"] {
        for (_, y) in jit(op, &[f32::NAN; 5]) {
            assert!(y.is_nan(), "{op}(NaN) = {y}");
        }
    }
}
