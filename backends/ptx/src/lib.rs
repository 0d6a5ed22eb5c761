//! tfg's GPU backend.
#[allow(dead_code)]
mod math;
