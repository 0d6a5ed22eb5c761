//! The packed GEMM (`tfg_rt::packed`, weights packed once) against the
//! `gemm` crate's path of `tfg_rt_gemm` (both operands packed on every
//! call) on the GEMMs of ResNet-50's convolutions at batch 1, alternating
//! A B A B in one run; both split each product in two parts, one a thread.
//!
//! `cargo bench -p tfg-rt --bench packed`. Prints GFLOP/s of each and the
//! ratio of their best times.

use std::time::Instant;
use tfg_rt::gemm::{tfg_rt_gemm, F32_CODE};
use tfg_rt::packed::{self, Packed};

/// `(m, n, k)`: pixels, output channels, input channels × taps.
const SHAPES: [(usize, usize, usize); 8] = [
    (12544, 64, 147),
    (3136, 64, 576),
    (3136, 256, 64),
    (784, 128, 1152),
    (196, 256, 2304),
    (196, 1024, 256),
    (49, 512, 4608),
    (49, 2048, 512),
];

fn main() {
    if !packed::available() {
        println!("skipped: the packed GEMM needs AVX2 and FMA");
        return;
    }
    let threads = rayon::current_num_threads();
    println!("| m | n | k | gemm crate GFLOP/s | packed GFLOP/s | packed / crate time |");
    println!("|---|---|---|---|---|---|");
    let value = |i: usize| ((i * 7919 % 13) as f32 - 6.0) * 0.1;
    for (m, n, k) in SHAPES {
        let a: Vec<f32> = (0..m * k).map(value).collect();
        let b: Vec<f32> = (0..k * n).map(|i| value(i + 3)).collect();
        let mut c = vec![0.0f32; m * n];
        // SAFETY: `b` holds k rows of n.
        let p = unsafe { Packed::new(b.as_ptr(), n, k, n) };
        let flops = 2.0 * (m * n * k) as f64;
        let reps = (4e9 / flops).max(3.0) as usize;
        let mut best = [f64::MAX; 2];
        for _ in 0..7 {
            for (which, slot) in best.iter_mut().enumerate() {
                let t = Instant::now();
                for _ in 0..reps {
                    // SAFETY: the buffers hold the matrices the dims name.
                    unsafe {
                        if which == 0 {
                            tfg_rt_gemm(
                                F32_CODE,
                                m as i64,
                                n as i64,
                                k as i64,
                                1,
                                a.as_ptr() as i64,
                                k as i64,
                                0,
                                b.as_ptr() as i64,
                                n as i64,
                                0,
                                c.as_mut_ptr() as i64,
                                n as i64,
                                0,
                                0,
                                1.0,
                                0.0,
                                0,
                            );
                        } else {
                            packed::gemm(m, a.as_ptr(), k, &p, c.as_mut_ptr(), n, threads);
                        }
                    }
                }
                *slot = slot.min(t.elapsed().as_secs_f64() / reps as f64);
            }
        }
        println!(
            "| {m} | {n} | {k} | {:.1} | {:.1} | {:.2} |",
            flops / best[0] / 1e9,
            flops / best[1] / 1e9,
            best[1] / best[0]
        );
    }
}
