//! The PTX run on a GPU through the CUDA runtime, against the Kernel IR
//! interpreter. Where there is no GPU (or no driver) each test says
//! `GPU test skipped: no CUDA device` and checks only the error it got.

mod common;

use common::{all_cases, feeds, is_no_gpu, skip};
use std::collections::BTreeMap;
use tfg_interp::kernel::run_program;
use tfg_ptx::cuda::{self, Device};
use tfg_testkit::close_results;

/// The GPU, or `None` after saying why the test is skipped. Only a machine
/// without a GPU skips: any other CUDA error (a broken driver) fails, and
/// so does a missing GPU under `TFG_REQUIRE_GPU`.
fn device() -> Option<Device> {
    match cuda::open() {
        Ok(d) => Some(d),
        Err(e) => {
            assert!(is_no_gpu(&e), "CUDA is broken here: {e}");
            skip("TFG_REQUIRE_GPU", &format!("a GPU ({e})"));
            None
        }
    }
}

fn sm(d: &Device) -> String {
    let (major, minor) = d.compute_capability().expect("compute capability");
    // PTX for a newer architecture than sm_90 is not needed: the driver
    // compiles sm_90 PTX for newer GPUs.
    format!("sm_{}", (major * 10 + minor).clamp(70, 90))
}

#[test]
fn without_a_gpu_open_says_what_is_missing() {
    match cuda::open() {
        Ok(d) => assert!(!d.name().is_empty()),
        Err(e) => {
            assert!(is_no_gpu(&e), "an unclear error without a GPU: {e}");
            skip("TFG_REQUIRE_GPU", &format!("a GPU ({e})"));
        }
    }
}

#[test]
fn every_program_matches_the_interpreter() {
    let Some(dev) = device() else { return };
    let sm = sm(&dev);
    let mut failures = Vec::new();
    let cases = all_cases();
    for c in &cases {
        let (inputs, params) = feeds(c, 11);
        let want = run_program(&c.program, &inputs, &params)
            .unwrap_or_else(|e| panic!("{}: interpreter: {e}", c.name));
        let run = || -> Result<cuda::Outputs, String> {
            let m = tfg_ptx::compile_ptx(&c.program, &sm)?;
            let mut s = dev.load(&m)?;
            s.set_params(&params)?;
            s.run(&inputs)
        };
        match run() {
            Ok(got) => {
                let want = (&want.outputs[..], &want.updates[..]);
                if let Err(e) = close_results(want, (&got.outputs, &got.updates), c.tol) {
                    failures.push(format!("{}: {e}", c.name));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", c.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} programs differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn hello_trains_on_the_device_to_the_spec_value() {
    let Some(dev) = device() else { return };
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hello.tfg"
    ))
    .expect("hello.tfg");
    let file = tfg_frontend::compile(&src)
        .map_err(|_| "hello.tfg does not compile")
        .expect("compiles");
    let g = file.graph(None).expect("one graph");
    let spec = file.train(&g.name).expect("a train item");
    let step = tfg_passes::train_step::build_train_step(g, spec).expect("train step");
    let step = tfg_ir::specialize(&step.graph, &BTreeMap::new()).expect("specialise");
    let m = tfg_ptx::compile_ptx(&common::lower(&step), &sm(&dev)).expect("compiles");
    let mut s = dev.load(&m).expect("loads");
    let params: Vec<tfg_ir::Tensor> = step
        .params()
        .map(|v| match &step.node(v).op {
            tfg_ir::Op::Param { name, init } => {
                tfg_ir::init::materialize(init, step.ty(v), 0, name).expect("init")
            }
            _ => unreachable!("params() gives params"),
        })
        .collect();
    s.set_params(&params).expect("params");
    let x = tfg_ir::Tensor::scalar_f32(1.0);
    for _ in 0..spec.steps {
        s.step(std::slice::from_ref(&x)).expect("step");
    }
    let w = s.params().expect("params")[0].data.get_f64(0);
    let want = 0.8 * 0.95f64.powi(100);
    assert!((w - want).abs() < 1e-6, "w = {w}, want {want}");
}

/// A training-step program (the mlp_digits example's step:
/// matrix products and reductions), with feeds for `seed`.
fn step_case(seed: u64) -> (common::Case, Vec<tfg_ir::Tensor>, Vec<tfg_ir::Tensor>) {
    let c = common::example_cases()
        .into_iter()
        .find(|c| c.name == "mlp_digits_mlp_digits_train")
        .expect("the mlp_digits training step");
    let (inputs, params) = feeds(&c, seed);
    (c, inputs, params)
}

/// Whether NCCL is here; if not, says the test is skipped (required under
/// `TFG_REQUIRE_NCCL`).
fn nccl_here() -> bool {
    let here = tfg_ptx::nccl::available();
    if !here {
        skip("TFG_REQUIRE_NCCL", "NCCL (libnccl.so)");
    }
    here
}

#[test]
fn a_group_of_one_gpu_averages_to_the_plain_run() {
    let Some(dev) = device() else { return };
    if !nccl_here() {
        return;
    }
    let (c, inputs, params) = step_case(3);
    let m = tfg_ptx::compile_ptx(&c.program, &sm(&dev)).expect("compiles");
    let mut s = dev.load(&m).expect("loads");
    s.set_params(&params).expect("params");
    let plain = s.run(&inputs).expect("runs").outputs;
    let id = tfg_ptx::nccl::unique_id().expect("an NCCL id");
    let group = tfg_ptx::nccl::Group::join(&id, 0, 1, &s).expect("joins a group of one");
    let (averaged, ms) = s.run_averaged(&inputs, &group).expect("runs averaged");
    // The mean over one rank is the value itself, bit for bit.
    assert_eq!(averaged, plain);
    assert!(ms >= 0.0, "the all-reduce took {ms} ms");
}

#[test]
fn two_gpus_average_their_outputs() {
    let Some(_) = device() else { return };
    if !nccl_here() {
        return;
    }
    if cuda::device_count() < 2 {
        skip("TFG_REQUIRE_GPUS", "a second GPU");
        return;
    }
    let id = tfg_ptx::nccl::unique_id().expect("an NCCL id");
    // One thread a rank: joining returns once both ranks have joined.
    let ranks: Vec<_> = (0..2u64)
        .map(|rank| {
            std::thread::spawn(move || {
                let dev = cuda::open_nth(rank as usize).expect("GPU");
                let (c, inputs, params) = step_case(10 + rank);
                let m = tfg_ptx::compile_ptx(&c.program, &sm(&dev)).expect("compiles");
                let mut s = dev.load(&m).expect("loads");
                s.set_params(&params).expect("params");
                let plain = s.run(&inputs).expect("runs").outputs;
                let group = tfg_ptx::nccl::Group::join(&id, rank as usize, 2, &s).expect("joins");
                let (averaged, _) = s.run_averaged(&inputs, &group).expect("runs averaged");
                (plain, averaged)
            })
        })
        .collect();
    let results: Vec<_> = ranks
        .into_iter()
        .map(|t| t.join().expect("rank thread"))
        .collect();
    let ((a, mean0), (b, mean1)) = (&results[0], &results[1]);
    assert_eq!(mean0, mean1, "the ranks disagree on the mean");
    for ((x, y), m) in a.iter().zip(b).zip(mean0) {
        for i in 0..m.data.len() {
            let want = (x.data.get_f64(i) + y.data.get_f64(i)) / 2.0;
            let got = m.data.get_f64(i);
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "element {i}: mean {got}, want {want}"
            );
        }
    }
}
