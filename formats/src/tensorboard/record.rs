//! TFRecord framing: each record is its length (u64, little-endian), the
//! masked CRC-32C of those 8 bytes, the data, and the masked CRC-32C of the data.

use super::crc32c::masked_crc32c;
use std::io::{self, Write};

pub fn write_record(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    out.write_all(&len)?;
    out.write_all(&masked_crc32c(&len).to_le_bytes())?;
    out.write_all(data)?;
    out.write_all(&masked_crc32c(data).to_le_bytes())
}
