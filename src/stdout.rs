//! Results on stdout: the driver's writer (which stops quietly when the
//! reader has gone), with its errors as the binary reports them.

use crate::failure::Failure;

/// Writes `text` to stdout.
pub fn write(text: &str) -> Result<(), Failure> {
    Ok(tfg_driver::stdout::write(text)?)
}
