//! The generated code run on the host (tests/common/emulator.rs), where no
//! GPU is needed, against the Kernel IR interpreter: every test program,
//! on random feeds with special values where the op is elementwise; and
//! random graphs, on random feeds with special values.

mod common;

use common::{all_cases, emulator, feeds, lower, Case};
use proptest::prelude::*;
use tfg_interp::kernel::run_program;
use tfg_ir::{DType, Data, Graph, Op, Shape, Tensor, Type, UnaryOp};
use tfg_testkit::close_results;
use tfg_testkit::feeds::Rng;

#[test]
fn every_program_matches_the_interpreter() {
    let cases = all_cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| case_agrees(c, 7).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} programs differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Whether the emulated PTX of `c`'s program gives what the Kernel IR
/// interpreter gives, within `c.tol`, on `c`'s feeds from `seed`.
fn case_agrees(c: &Case, seed: u64) -> Result<(), String> {
    let (inputs, params) = feeds(c, seed);
    let want =
        run_program(&c.program, &inputs, &params).map_err(|e| format!("interpreter: {e}"))?;
    let got = emulator::run(&c.program, &inputs, &params)?;
    close_results((&want.outputs, &want.updates), (&got.0, &got.1), c.tol)?;
    Ok(())
}

/// [`case_agrees`] for `g`, fused and lowered as the pipeline does, on feeds
/// with NaN, infinities and subnormals among them.
fn random_graph_agrees(g: &Graph, seed: u64) -> Result<(), String> {
    let program = tfg_testkit::kernel_ir(g)?;
    // Relative 1e-4: reductions and products add in another order on the GPU.
    let c = Case {
        name: "random".into(),
        graph: g.clone(),
        program,
        tol: 1e-4.into(),
        special: true,
    };
    case_agrees(&c, seed).map_err(|e| format!("{e}\n{}", tfg_ir::kernel::print(&c.program)))
}

proptest! {
    // Each case compiles its module with LLVM; a few dozen keep the test short.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_match_the_interpreter(g in tfg_ir::arbitrary::arb_graph_with(tfg_ir::arbitrary::GraphConfig {
        steps: 1..=8,
        updates: true,
        ..Default::default()
    }), seed in any::<u64>()) {
        random_graph_agrees(&g, seed).map_err(|e| TestCaseError::fail(format!("{}\n{e}", tfg_ir::text::print(&g))))?;
    }
}

/// f32 `exp`, `log`, `tanh` and `sigmoid` give the same bits on the CPU
/// backend as on the GPU: both emit `tfg_math`'s formulas, one IEEE operation
/// for another. Inputs: every special value, values across each function's
/// range and tails, and random bit patterns (subnormals and NaNs among them).
/// An odd count runs the CPU's vector loop and its scalar tail.
#[test]
fn f32_transcendentals_are_bit_identical_to_the_cpu_backend() {
    let mut xs: Vec<f32> = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        f32::MAX,
        f32::MIN,
        88.72,
        -103.9,
        -87.3,
        7.905_311,
        -7.905_311,
    ];
    let mut rng = Rng(11);
    for _ in 0..2000 {
        xs.push((rng.unit() * 240.0 - 120.0) as f32);
        let magnitude = 10f64.powf(rng.unit() * 83.0 - 45.0) as f32;
        xs.push(if rng.next_u64().is_multiple_of(2) {
            magnitude
        } else {
            -magnitude
        });
        xs.push(f32::from_bits(rng.next_u64() as u32));
    }
    if xs.len().is_multiple_of(2) {
        xs.push(0.25);
    }
    let n = xs.len();
    let mut g = Graph::new("transcendentals");
    let x = g.add_input("x", Type::new(DType::F32, Shape::known(&[n as u64])), None);
    let ops = [UnaryOp::Exp, UnaryOp::Log, UnaryOp::Tanh, UnaryOp::Sigmoid];
    for op in ops {
        let y = g.add(Op::Unary(op), &[x]).expect("a unary op of f32");
        g.outputs.push((op.name().to_string(), y));
    }
    let program = lower(&g);
    let feed = [Tensor {
        shape: vec![n],
        data: Data::F32(xs.clone()),
    }];
    let gpu = emulator::run(&program, &feed, &[]).expect("the emulated GPU runs it");
    let cpu = tfg_cpu::compile(&program)
        .expect("the CPU backend compiles it")
        .run(&feed, &[])
        .expect("the CPU backend runs it");
    let mut differ = Vec::new();
    for ((op, c), g) in ops.iter().zip(&cpu.outputs).zip(&gpu.0) {
        let (Data::F32(c), Data::F32(g)) = (&c.data, &g.data) else {
            panic!("{}: the results are not f32", op.name());
        };
        for ((x, c), g) in xs.iter().zip(c).zip(g) {
            let same = c.to_bits() == g.to_bits() || (c.is_nan() && g.is_nan());
            if !same {
                differ.push(format!("{}({x:e}): cpu {c:e}, gpu {g:e}", op.name()));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} results differ:\n{}",
        differ.len(),
        ops.len() * n,
        differ[..differ.len().min(20)].join("\n")
    );
}
