//! tfg's GPU backend.
#[allow(dead_code)]
mod math;
#[allow(dead_code)]
mod schedule;
