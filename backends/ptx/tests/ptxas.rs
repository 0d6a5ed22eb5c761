//! NVIDIA's assembler accepts the PTX of every test program, and of the
//! examples' forward and training graphs, for sm_80 and sm_90 — the check
//! that needs no GPU. `ptxas` comes from `$TFG_PTXAS` or the `.venv` that
//! `scripts/test` fills (`pip install nvidia-cuda-nvcc-cu12`); without it
//! the test says it was skipped, or fails where `TFG_REQUIRE_PTXAS` is set.

mod common;

use common::{all_cases, ptxas};
use std::path::Path;
use std::process::Command;

fn assemble(ptxas: &Path, ptx: &str, sm: &str, dir: &Path, name: &str) -> Result<(), String> {
    let file = dir.join(format!("{name}_{sm}.ptx"));
    std::fs::write(&file, ptx).map_err(|e| e.to_string())?;
    let out = Command::new(ptxas)
        .arg(format!("-arch={sm}"))
        .arg(&file)
        .arg("-o")
        .arg(file.with_extension("cubin"))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ptxas.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn every_program_assembles_for_sm_80_and_sm_90() {
    let Some(ptxas) = ptxas() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("tfg-ptxas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let cases = all_cases();
    let mut failures = Vec::new();
    let mut assembled = 0;
    for sm in ["sm_80", "sm_90"] {
        for c in &cases {
            let result = tfg_ptx::compile_ptx(&c.program, sm)
                .and_then(|m| assemble(&ptxas, &m.ptx, sm, &dir, &c.name));
            match result {
                Ok(()) => assembled += 1,
                Err(e) => failures.push(format!("{} ({sm}): {e}", c.name)),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} programs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(assembled, 2 * cases.len());
    assert!(
        cases.iter().any(|c| c.name.ends_with("_train")),
        "the examples' training steps are among the programs"
    );
}

#[test]
fn the_test_programs_cover_every_launch_mapping() {
    let cases = common::shape_cases();
    let module = |name: &str| {
        let c = cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no case {name}"));
        tfg_ptx::compile_ptx(&c.program, "sm_80").expect("compiles")
    };
    // A warp a row: shuffles, no shared memory.
    let m = module("softmax_rows");
    assert!(m.ptx.contains("shfl.sync.bfly"));
    assert_eq!(
        (
            m.manifest.launches[0].block[0],
            m.manifest.launches[0].shared_bytes
        ),
        (256, 0)
    );
    // A block a row: shuffles, then shared memory across warps.
    let m = module("softmax_long_rows");
    assert!(m.ptx.contains("bar.sync") && m.manifest.launches[0].shared_bytes > 0);
    // A serial full reduction by one block of 1024 threads.
    let m = module("sum_all");
    assert_eq!(
        (m.manifest.launches[0].grid, m.manifest.launches[0].block),
        ([1, 1, 1], [1024, 1, 1])
    );
    // A vectorised elementwise loop: 16-byte loads and stores.
    let m = module("elementwise");
    assert!(
        m.ptx.contains("ld.global.nc.v4.f32") && m.ptx.contains("st.global.v4.f32"),
        "{}",
        m.ptx
    );
    // The tiled GEMM: a 2 × 2 grid of 64 × 64 tiles for a 70 × 65 result.
    let m = module("matmul_70x33x65");
    assert_eq!(m.manifest.launches[0].grid, [2, 2, 1]);
    assert!(m.ptx.contains(".shared"));
}
