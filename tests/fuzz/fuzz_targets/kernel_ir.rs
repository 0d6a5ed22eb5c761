//! The Kernel IR text form: the parser, then the verifier on whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = tfg_ir::kernel::parse(text) {
            let _ = tfg_ir::kernel::verify(&p);
        }
    }
});
