//! GPU measurements for `bench/gpu/run.sh`, on a machine with an NVIDIA GPU
//! (built on one without: LLVM is linked in, CUDA is loaded at run time).
//!
//! ```text
//! gpu_bench check              every test program vs the Kernel IR interpreter
//! gpu_bench elementwise [LOG2] examples/elementwise.tfg over 2^LOG2 f32 (26)
//!                              vs a device-to-device copy of the same bytes
//! gpu_bench mlp [BATCH…]       the mlp_digits training step (adam), ms/step (64)
//! ```
//!
//! `--module DIR` (after `elementwise LOG2` or `mlp BATCH`) times the module
//! `tfg compile --target ptx` wrote for that size instead of compiling here.
//!
//! Each measurement prints one JSON object a line.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Instant;
use tfg_ir::{Data, Tensor};
use tfg_ptx::cuda::{self, Device};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let dev = cuda::open()?;
    let (major, minor) = dev.compute_capability()?;
    let sm = format!("sm_{}", (major * 10 + minor).clamp(70, 90));
    eprintln!("device: {} ({sm})", dev.name());
    // `--module DIR`: the PTX module to time, as `tfg compile` wrote it.
    let (args, module) = match args.iter().position(|a| a == "--module") {
        Some(at) => {
            let dir = args.get(at + 1).ok_or("--module needs a directory")?;
            let read = |name: &str| {
                let path = std::path::Path::new(dir).join(name);
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
            };
            let m = tfg_ptx::PtxModule {
                manifest: tfg_ptx::Manifest::from_json(&read(tfg_ptx::MANIFEST_FILE)?)?,
                ptx: read(tfg_ptx::PTX_FILE)?,
            };
            (&args[..at], Some(m))
        }
        None => (args, None),
    };
    let numbers = |from: usize| {
        args.iter()
            .skip(from)
            .map(|a| a.parse::<u64>().map_err(|e| format!("{a}: {e}")))
            .collect::<Result<Vec<_>, _>>()
    };
    match args.first().map(String::as_str) {
        Some("check") => check(&dev, &sm),
        Some("elementwise") => elementwise(
            &dev,
            &sm,
            numbers(1)?.first().copied().unwrap_or(26),
            module,
        ),
        Some("mlp") => {
            let batches = numbers(1)?;
            for b in if batches.is_empty() {
                vec![64]
            } else {
                batches
            } {
                mlp(&dev, &sm, b, module.clone())?;
            }
            Ok(())
        }
        _ => Err("usage: gpu_bench check | elementwise [LOG2_N] | mlp [BATCH…]".into()),
    }
}

/// Every test program against the interpreter, as `tests/gpu.rs` does.
fn check(dev: &Device, sm: &str) -> Result<(), String> {
    let cases = common::all_cases();
    let mut failed = 0;
    for c in &cases {
        let (inputs, params) = common::feeds(c, 11);
        let want = tfg_interp::kernel::run_program(&c.program, &inputs, &params)
            .map_err(|e| e.to_string())?;
        let got = tfg_ptx::compile_ptx(&c.program, sm).and_then(|m| {
            let mut s = dev.load(&m)?;
            s.set_params(&params)?;
            s.run(&inputs)
        });
        let verdict = match got {
            Err(e) => Err(e),
            Ok(got) => tfg_testkit::close_results(
                (&want.outputs, &want.updates),
                (&got.outputs, &got.updates),
                c.tol,
            ),
        };
        if let Err(e) = verdict {
            failed += 1;
            println!(
                "{{\"check\": {:?}, \"ok\": false, \"error\": {:?}}}",
                c.name, e
            );
        }
    }
    println!(
        "{{\"check\": \"all\", \"programs\": {}, \"failed\": {failed}}}",
        cases.len()
    );
    if failed > 0 {
        return Err(format!(
            "{failed} of {} programs differ from the interpreter",
            cases.len()
        ));
    }
    Ok(())
}

fn example(name: &str) -> Result<tfg_frontend::Module, String> {
    let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    tfg_frontend::compile(&src).map_err(|_| format!("{path} does not compile"))
}

/// The fused elementwise kernel over 2^log2 f32, against the copy bandwidth.
fn elementwise(
    dev: &Device,
    sm: &str,
    log2: u64,
    module: Option<tfg_ptx::PtxModule>,
) -> Result<(), String> {
    let n = 1u64 << log2;
    let file = example("elementwise.tfg")?;
    let g = file.graph(None).map_err(|e| e.to_string())?;
    let g = tfg_ir::specialize(g, &BTreeMap::from([("N".to_string(), n)]))
        .map_err(|e| e.to_string())?;
    let m = match module {
        Some(m) => m,
        None => tfg_ptx::compile_ptx(&common::lower(&g), sm)?,
    };
    if m.manifest.launches.len() != 1 {
        return Err(format!(
            "expected one fused kernel, got {}",
            m.manifest.launches.len()
        ));
    }
    let mut s = dev.load(&m)?;
    let x = Tensor {
        shape: vec![n as usize],
        data: Data::F32((0..n).map(|i| (i % 1000) as f32 * 0.006 - 3.0).collect()),
    };
    let ms = s.time_launches(std::slice::from_ref(&x), 20)?[0];
    let bytes = 2 * 4 * n as usize;
    let kernel = bytes as f64 / (ms * 1e-3) / 1e9;
    let copy = dev.copy_bandwidth(bytes / 2, 20)?;
    println!(
        "{{\"bench\": \"elementwise\", \"elements\": {n}, \"kernel_ms\": {ms:.4}, \"kernel_gb_s\": {kernel:.1}, \"copy_gb_s\": {copy:.1}, \"fraction_of_copy\": {:.3}}}",
        kernel / copy
    );
    Ok(())
}

/// The mlp_digits training step at `batch` rows: ms a step, end to end
/// (feeding the batch, running, applying updates) and launches only.
fn mlp(
    dev: &Device,
    sm: &str,
    batch: u64,
    module: Option<tfg_ptx::PtxModule>,
) -> Result<(), String> {
    let file = example("mlp_digits.tfg")?;
    let g = file.graph(None).map_err(|e| e.to_string())?;
    let spec = file.train(&g.name).ok_or("mlp_digits has no train item")?;
    let step = tfg_passes::train_step::build_train_step(g, spec)?.graph;
    let dims = BTreeMap::from([("N".to_string(), batch), ("T".to_string(), batch)]);
    let step = tfg_ir::specialize(&step, &dims).map_err(|e| e.to_string())?;
    let case = common::Case {
        name: "mlp".into(),
        program: common::lower(&step),
        graph: step,
        tol: 1e-4.into(),
        special: false,
    };
    let (mut inputs, params) = common::feeds(&case, 1);
    // Labels in 0..10.
    for t in &mut inputs {
        if let Data::I32(v) = &mut t.data {
            v.iter_mut().for_each(|x| *x = x.rem_euclid(10));
        }
    }
    let m = match module {
        Some(m) => m,
        None => tfg_ptx::compile_ptx(&case.program, sm)?,
    };
    let mut s = dev.load(&m)?;
    s.set_params(&params)?;
    let launches = s.time_launches(&inputs, 50)?.iter().sum::<f64>();
    for _ in 0..10 {
        s.step(&inputs)?;
    }
    let steps = 200;
    let start = Instant::now();
    for _ in 0..steps {
        s.step(&inputs)?;
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / f64::from(steps);
    println!(
        "{{\"bench\": \"mlp_step\", \"batch\": {batch}, \"launches\": {}, \"step_ms\": {ms:.4}, \"kernels_ms\": {launches:.4}}}",
        m.manifest.launches.len()
    );
    Ok(())
}
