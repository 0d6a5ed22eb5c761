//! The Graph IR text form (a `--dump-dir` file `tfg run` reads back): the
//! parser, then the verifier on whatever parses, as the driver does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(g) = tfg_ir::text::parse(text) {
            let _ = tfg_ir::verify(&g);
        }
    }
});
