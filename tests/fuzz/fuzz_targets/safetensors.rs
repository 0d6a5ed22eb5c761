//! safetensors checkpoints (`--restore FILE`): the bytes `read` decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tfg_formats::safetensors::decode(data);
});
