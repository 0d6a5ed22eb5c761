//! The `.tfg` frontend: parsing, name resolution, inlining and lowering of
//! any UTF-8 text must return a module or diagnostics, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        let _ = tfg_frontend::compile(src);
    }
});
