//! The fused level's text form: the parser (which verifies the partition it
//! reads), then lowering of whatever parses, as `tfg run FILE.tffused` does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((g, fusion, _)) = tfg_ir::fused::parse(text) {
            if tfg_ir::verify(&g).is_ok() {
                let _ = tfg_passes::to_kernel_ir(&g, &fusion);
            }
        }
    }
});
