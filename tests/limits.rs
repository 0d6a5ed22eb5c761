//! Graphs whose values cannot fit in memory are user errors (exit 1 with a
//! message), not an aborted process.

mod common;

use common::{scratch, tfg};

#[test]
fn a_value_larger_than_memory_is_an_error_not_an_abort() {
    let dir = scratch("a_value_larger_than_memory_is_an_error_not_an_abort");
    for (name, src) in [
        (
            "value.tfg",
            "graph g { output y = broadcast_to(1.0, [100000, 100000, 100000]) }",
        ),
        (
            "param.tfg",
            "graph g { param w: f32[100000, 100000, 100000] = zeros\n output y = w }",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, src).expect("write");
        for backend in ["cpu", "interp"] {
            let run = tfg(&["run", path.to_str().expect("UTF-8"), "--backend", backend]);
            assert_eq!(run.status, 1, "{name} on {backend}: {}", run.stderr);
            assert!(
                run.stderr
                    .contains("needs more memory than this machine has"),
                "{}",
                run.stderr
            );
        }
        let object = dir.join("m.o");
        let run = tfg(&[
            "compile",
            path.to_str().expect("UTF-8"),
            "--target",
            "cpu",
            "-o",
            object.to_str().expect("UTF-8"),
        ]);
        assert_eq!(run.status, 1, "{name} compile: {}", run.stderr);
        assert!(!object.exists(), "no partial output");
    }
}
