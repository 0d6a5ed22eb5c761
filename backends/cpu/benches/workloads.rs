//! A quick measurement, not a test: compile time and run time of W1
//! (`tanh(0.5*x + 0.1) * sigmoid(x) + x*x` over 2^24 f32), a 1024³ f32
//! matmul and a softmax over f32[4096, 1024] through the JIT, next to a
//! plain copy of W1's bytes as the memory-bandwidth yardstick.
//! `cargo bench -p tfg-cpu --bench workloads`.

use std::time::{Duration, Instant};
use tfg_ir::{BinaryOp, DType, Graph, Op, ReduceOp, Shape, Tensor, Type, UnaryOp};
use tfg_testkit::build::{add, elementwise};

fn matmul(n: u64) -> Graph {
    let mut g = Graph::new("matmul");
    let t = Type::new(DType::F32, Shape::known(&[n, n]));
    let a = g.add_input("a", t.clone(), None);
    let b = g.add_input("b", t, None);
    let c = add(&mut g, Op::MatMul, &[a, b]);
    g.outputs.push(("c".into(), c));
    g
}

fn softmax(rows: u64, cols: u64) -> Graph {
    let mut g = Graph::new("softmax");
    let x = g.add_input(
        "x",
        Type::new(DType::F32, Shape::known(&[rows, cols])),
        None,
    );
    let m = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Max,
            axes: vec![1],
            keepdims: true,
        },
        &[x],
    );
    let d = add(&mut g, Op::Binary(BinaryOp::Sub), &[x, m]);
    let e = add(&mut g, Op::Unary(UnaryOp::Exp), &[d]);
    let s = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![1],
            keepdims: true,
        },
        &[e],
    );
    let y = add(&mut g, Op::Binary(BinaryOp::Div), &[e, s]);
    g.outputs.push(("y".into(), y));
    g
}

fn feed(g: &Graph) -> Vec<Tensor> {
    g.inputs()
        .map(|v| {
            let shape = g.ty(v).shape.concrete().expect("concrete");
            let n: usize = shape.iter().product();
            let data = (0..n)
                .map(|i| ((i * 7919 % 2003) as f32 / 1001.0) - 1.0)
                .collect();
            Tensor {
                shape,
                data: tfg_ir::Data::F32(data),
            }
        })
        .collect()
}

/// Median, min and max of `runs` timed calls after two warm-up calls.
fn time(runs: usize, mut f: impl FnMut()) -> (Duration, Duration, Duration) {
    f();
    f();
    let mut ts: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    ts.sort();
    (ts[runs / 2], ts[0], ts[runs - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn bench(name: &str, g: &Graph, runs: usize, note: impl Fn(Duration) -> String) {
    bench_with(name, g, &tfg_cpu::Options::default(), runs, note)
}

fn bench_with(
    name: &str,
    g: &Graph,
    opts: &tfg_cpu::Options,
    runs: usize,
    note: impl Fn(Duration) -> String,
) {
    let t = Instant::now();
    let p = tfg_testkit::kernel_ir(g).expect("lowers");
    let lowered = t.elapsed();
    let t = Instant::now();
    let mut c = tfg_cpu::compile_with(&p, opts).expect("compiles");
    let compiled = t.elapsed();
    let inputs = feed(g);
    let (med, min, max) = time(runs, || {
        c.run(&inputs, &[]).expect("runs");
    });
    println!(
        "{name:<22} lower {:>6.2} ms  compile {:>6.2} ms  run median {:>8.3} ms  min {:>8.3}  max {:>8.3}  {}",
        ms(lowered),
        ms(compiled),
        ms(med),
        ms(min),
        ms(max),
        note(med)
    );
}

fn main() {
    println!("threads: {}", rayon::current_num_threads());
    let n = 1u64 << 24;
    let bytes = (n * 8) as f64;
    let src = vec![1.0f32; n as usize];
    let (copy, _, _) = time(10, || {
        let dst = src.clone();
        std::hint::black_box(&dst);
    });
    println!(
        "copy 2^24 f32 (alloc + read + write)  median {:.3} ms  {:.2} GB/s",
        ms(copy),
        bytes / copy.as_secs_f64() / 1e9
    );
    let gbs = |d: Duration| format!("{:.2} GB/s", bytes / d.as_secs_f64() / 1e9);
    bench("W1 2^24 f32", &elementwise(&[n]), 10, gbs);
    let one_thread = tfg_cpu::Options {
        threads: false,
        ..Default::default()
    };
    bench_with("W1, one thread", &elementwise(&[n]), &one_thread, 10, gbs);
    for size in [1024u64, 2048] {
        let flops = 2.0 * (size as f64).powi(3);
        bench(&format!("W2 matmul {size}^3 f32"), &matmul(size), 5, |d| {
            format!("{:.1} GFLOP/s", flops / d.as_secs_f64() / 1e9)
        });
    }
    let sm_bytes = 4096.0 * 1024.0 * 8.0;
    bench("W4 softmax 4096x1024", &softmax(4096, 1024), 10, |d| {
        format!("{:.2} GB/s", sm_bytes / d.as_secs_f64() / 1e9)
    });
}
