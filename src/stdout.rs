//! Results on stdout: the driver's writer (which stops quietly when the
//! reader has gone), with its errors as the binary reports them.

use crate::failure::Failure;

/// Writes `text` to stdout.
pub fn write(text: &str) -> Result<(), Failure> {
    Ok(tfg_driver::stdout::write(text)?)
}

/// Writes `text` to the file `path` (whole or not at all), or to stdout
/// without one or when it is `-`, as compilers take `-o -`.
pub fn write_to(path: Option<&std::path::Path>, text: &str) -> Result<(), Failure> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            tfg_formats::whole_file::write(p, text.as_bytes()).map_err(Failure::new)
        }
        _ => write(text),
    }
}
