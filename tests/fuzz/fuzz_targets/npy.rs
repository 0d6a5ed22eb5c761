//! `.npy` files (`--feed x=FILE.npy`, `input x = "FILE.npy"`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tfg_formats::npy::decode(data);
});
