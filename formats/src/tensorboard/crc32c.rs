//! CRC-32C (Castagnoli), the checksum TFRecord framing uses.

/// The reflected Castagnoli polynomial 0x1EDC6F41.
const POLY: u32 = 0x82F6_3B78;

/// One entry per byte value: the CRC of that byte alone, for byte-at-a-time updates.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// The CRC-32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| {
        TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

/// TFRecord's masked CRC: a CRC stored next to data that itself holds CRCs
/// is rotated and offset, so that checksumming the checksum does not cancel out.
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    let crc = crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}
