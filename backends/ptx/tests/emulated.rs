//! The generated code run on the host (tests/common/emulator.rs), where no
//! GPU is needed, against the Kernel IR interpreter: every test program,
//! on random feeds with special values where the op is elementwise.

mod common;

use common::{all_cases, close, emulator, feeds};
use tfg_interp::kernel::run_program;

#[test]
fn every_program_matches_the_interpreter() {
    let mut failures = Vec::new();
    let cases = all_cases();
    for c in &cases {
        let (inputs, params) = feeds(c, 7);
        let want = run_program(&c.program, &inputs, &params)
            .unwrap_or_else(|e| panic!("{}: interpreter: {e}", c.name));
        let got = match emulator::run(&c.program, &inputs, &params) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: {e}", c.name));
                continue;
            }
        };
        let pairs = want
            .outputs
            .iter()
            .zip(&got.0)
            .chain(want.updates.iter().zip(&got.1));
        for (i, (w, g)) in pairs.enumerate() {
            if let Err(e) = close(w, g, c.tol) {
                failures.push(format!("{} result {i}: {e}", c.name));
            }
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
