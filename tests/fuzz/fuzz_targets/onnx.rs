//! ONNX models (`tfg run MODEL.onnx`, `tfg import`): protobuf decoding and
//! the conversion to `.tfg` source, then that source through the frontend,
//! as the driver does. External data is refused, as for a missing file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let external = |name: &str| -> Result<Vec<u8>, String> {
        Err(format!("no external data `{name}` in the fuzzer"))
    };
    if let Ok(imported) = tfg_onnx::import(data, "model", &external) {
        let _ = tfg_frontend::compile(&imported.source);
    }
});
