//! NumPy `.npy` files: the tensors `--feed x=FILE.npy` reads and `--out DIR` writes.
//!
//! Reads format versions 1.0, 2.0 and 3.0 with the five tfg dtypes, little-endian,
//! C order (a Fortran-order array of rank ≤ 1 has the same bytes, so it is read too);
//! anything else is rejected with a message that says what the file holds and what
//! tfg accepts. Writes version 1.0 (2.0 only if the header would not fit), as
//! `numpy.save` does, through [`whole_file::write`] so a file appears whole or not
//! at all.

use crate::whole_file;
use std::path::Path;
use tfg_ir::{DType, Data, Tensor};

const MAGIC: &[u8] = b"\x93NUMPY";
/// numpy aligns the start of the data to this many bytes.
const ALIGN: usize = 64;
/// A longer header is not something numpy writes: the file is corrupt.
const MAX_HEADER: usize = 1 << 20;

/// Reads `path`; errors name the file.
pub fn read(path: &Path) -> Result<Tensor, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    decode(&bytes).map_err(|e| format!("`{}` is not a valid .npy file: {e}", path.display()))
}

/// Writes `t` to `path` whole or not at all.
pub fn write(path: &Path, t: &Tensor) -> Result<(), String> {
    whole_file::write(path, &encode(t))
}

/// The tensor stored in the bytes of a `.npy` file.
pub fn decode(bytes: &[u8]) -> Result<Tensor, String> {
    if bytes.len() < MAGIC.len() + 2 || !bytes.starts_with(MAGIC) {
        return Err("it does not start with the .npy magic string `\\x93NUMPY`".into());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let len_size = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(format!(
                "format version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are)"
            ))
        }
    };
    let len_at = MAGIC.len() + 2;
    let len_bytes = bytes
        .get(len_at..len_at + len_size)
        .ok_or("it is truncated inside the header")?;
    let header_len = len_bytes
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | b as usize);
    if header_len > MAX_HEADER {
        return Err(format!(
            "its header claims {header_len} bytes, which is implausible"
        ));
    }
    let data_at = len_at + len_size + header_len;
    let header = bytes
        .get(len_at + len_size..data_at)
        .ok_or("it is truncated inside the header")?;
    // Versions 1 and 2 are latin-1; 3 is UTF-8. The keys and values tfg accepts are ASCII either way.
    let header = std::str::from_utf8(header).map_err(|_| "its header is not text")?;
    let header = Header::parse(header)?;

    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("its shape has more elements than this machine can address")?;
    let size = count
        .checked_mul(header.dtype.size())
        .ok_or("its shape is too large")?;
    let data = &bytes[data_at..];
    if data.len() < size {
        return Err(format!(
            "it is truncated: shape {:?} of {} needs {size} bytes of data, the file has {}",
            header.shape,
            header.dtype,
            data.len()
        ));
    }
    if data.len() > size {
        return Err(format!(
            "it has {} bytes after the data of shape {:?} of {}",
            data.len() - size,
            header.shape,
            header.dtype
        ));
    }
    Tensor::new(header.shape, decode_data(header.dtype, data))
        .ok_or_else(|| "its data does not fit its shape".into())
}

/// The bytes of a `.npy` file (version 1.0, or 2.0 for a huge header) holding `t`.
pub fn encode(t: &Tensor) -> Vec<u8> {
    let shape = match t.shape.as_slice() {
        [d] => format!("({d},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        descr(t.dtype())
    );
    let (version, len_size) = if MAGIC.len() + 2 + 2 + dict.len() < 1 << 16 {
        (1u8, 2)
    } else {
        (2u8, 4)
    };
    let unpadded = MAGIC.len() + 2 + len_size + dict.len() + 1;
    dict.extend(std::iter::repeat_n(' ', (ALIGN - unpadded % ALIGN) % ALIGN));
    dict.push('\n');

    let mut out =
        Vec::with_capacity(MAGIC.len() + 2 + len_size + dict.len() + t.numel() * t.dtype().size());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    out.extend_from_slice(&(dict.len() as u32).to_le_bytes()[..len_size]);
    out.extend_from_slice(dict.as_bytes());
    write_data(&t.data, &mut out);
    out
}

/// Appends the elements of `data` as little-endian bytes (a bool is one byte, 0 or 1),
/// the layout `.npy` and safetensors files share.
pub fn write_data(data: &Data, out: &mut Vec<u8>) {
    match data {
        Data::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::F64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::I32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::Bool(v) => out.extend(v.iter().map(|&b| b as u8)),
    }
}

fn descr(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::Bool => "|b1",
    }
}

/// The dtype a `descr` string names, or why tfg cannot read it.
fn dtype_of(descr: &str) -> Result<DType, String> {
    let (order, code) = descr.split_at(descr.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(0));
    let dtype = match code {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "b1" | "?" => DType::Bool,
        _ => {
            return Err(format!(
                "its dtype '{descr}' is not supported (tfg reads float32, float64, int32, int64 and bool)"
            ))
        }
    };
    match order {
        "<" | "|" | "=" | "" => Ok(dtype),
        ">" if dtype.size() == 1 => Ok(dtype),
        ">" => Err(format!(
            "its data is big-endian ('{descr}'); save it little-endian, e.g. with `a.astype(a.dtype.newbyteorder('<'))`"
        )),
        _ => Err(format!("its dtype '{descr}' is not understood")),
    }
}

/// The elements in `bytes`, laid out as [`write_data`] writes them; `bytes`
/// must hold a whole number of elements.
pub fn decode_data(dtype: DType, bytes: &[u8]) -> Data {
    fn words<const N: usize, T>(bytes: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
        bytes
            .chunks_exact(N)
            // Invariant: `chunks_exact(N)` yields slices of exactly N bytes.
            .map(|c| from(c.try_into().expect("chunks_exact yields N bytes")))
            .collect()
    }
    match dtype {
        DType::F32 => Data::F32(words(bytes, f32::from_le_bytes)),
        DType::F64 => Data::F64(words(bytes, f64::from_le_bytes)),
        DType::I32 => Data::I32(words(bytes, i32::from_le_bytes)),
        DType::I64 => Data::I64(words(bytes, i64::from_le_bytes)),
        DType::Bool => Data::Bool(bytes.iter().map(|&b| b != 0).collect()),
    }
}

/// What the header dictionary says.
struct Header {
    dtype: DType,
    shape: Vec<usize>,
}

impl Header {
    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    fn parse(text: &str) -> Result<Header, String> {
        let mut p = Literal {
            rest: text.trim_end_matches(['\n', ' ', '\0']),
        };
        let Value::Dict(entries) = p.value(0)? else {
            return Err("its header is not a dictionary".into());
        };
        if !p.rest.trim().is_empty() {
            return Err("its header has text after the dictionary".into());
        }
        let get = |key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let dtype = match get("descr") {
            Some(Value::Str(s)) => dtype_of(s)?,
            Some(_) => return Err("it holds a structured array, which tfg does not read".into()),
            None => return Err("its header has no 'descr'".into()),
        };
        let shape = match get("shape") {
            Some(Value::Tuple(dims)) => dims
                .iter()
                .map(|d| match d {
                    Value::Int(n) => Ok(*n),
                    _ => Err("its 'shape' holds something other than sizes".to_string()),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err("its header has no 'shape' tuple".into()),
        };
        match get("fortran_order") {
            Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) if shape.len() <= 1 => {}
            Some(Value::Bool(true)) => {
                return Err("its data is in Fortran order; save it in C order, e.g. with `np.ascontiguousarray(a)`".into())
            }
            _ => return Err("its header has no 'fortran_order' flag".into()),
        }
        Ok(Header { dtype, shape })
    }
}

/// The Python literals a `.npy` header is made of.
enum Value {
    Str(String),
    Int(usize),
    Bool(bool),
    Tuple(Vec<Value>),
    Dict(Vec<(String, Value)>),
}

/// A parser of the Python literal subset numpy writes into headers.
struct Literal<'a> {
    rest: &'a str,
}

impl Literal<'_> {
    /// Deeper nesting is not something a header has; the limit keeps the stack small.
    const MAX_DEPTH: usize = 8;

    fn eat(&mut self, token: &str) -> bool {
        self.rest = self.rest.trim_start();
        let found = self.rest.starts_with(token);
        if found {
            self.rest = &self.rest[token.len()..];
        }
        found
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > Self::MAX_DEPTH {
            return Err("its header nests too deeply".into());
        }
        self.rest = self.rest.trim_start();
        if self.eat("{") {
            let mut entries = Vec::new();
            while !self.eat("}") {
                let Value::Str(key) = self.value(depth + 1)? else {
                    return Err("its header has a key that is not a string".into());
                };
                if !self.eat(":") {
                    return Err(format!("its header lacks ':' after '{key}'"));
                }
                entries.push((key, self.value(depth + 1)?));
                if !self.eat(",") && !self.rest.trim_start().starts_with('}') {
                    return Err("its header dictionary is malformed".into());
                }
            }
            Ok(Value::Dict(entries))
        } else if let Some(close) = [("(", ")"), ("[", "]")]
            .into_iter()
            .find_map(|(o, c)| self.eat(o).then_some(c))
        {
            // A list only appears in a structured dtype, which is rejected later; parse it as a tuple.
            let mut items = Vec::new();
            while !self.eat(close) {
                items.push(self.value(depth + 1)?);
                if !self.eat(",") && !self.rest.trim_start().starts_with(close) {
                    return Err("its header has a malformed tuple".into());
                }
            }
            Ok(Value::Tuple(items))
        } else if self.eat("True") {
            Ok(Value::Bool(true))
        } else if self.eat("False") {
            Ok(Value::Bool(false))
        } else if let Some(quote) = self.rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let body = &self.rest[1..];
            let end = body
                .find(quote)
                .ok_or("its header has an unterminated string")?;
            self.rest = &body[end + 1..];
            Ok(Value::Str(body[..end].to_string()))
        } else {
            let digits = self
                .rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(self.rest.len());
            let (number, rest) = self.rest.split_at(digits);
            // numpy 1.x wrote `3L` for Python 2 longs.
            self.rest = rest.strip_prefix('L').unwrap_or(rest);
            number
                .parse()
                .map(Value::Int)
                .map_err(|_| "its header is malformed".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: &[usize], data: Data) -> Tensor {
        Tensor::new(shape.to_vec(), data).expect("shape fits data")
    }

    #[test]
    fn round_trips_every_dtype_and_rank() {
        let cases = [
            tensor(&[], Data::F32(vec![0.8])),
            tensor(&[3], Data::F64(vec![1.0, -2.5, f64::NAN])),
            tensor(&[2, 2], Data::I32(vec![1, -2, i32::MAX, i32::MIN])),
            tensor(&[1, 2, 1], Data::I64(vec![i64::MIN, 7])),
            tensor(&[4], Data::Bool(vec![true, false, false, true])),
            tensor(&[0, 3], Data::F32(vec![])),
        ];
        for t in cases {
            let bytes = encode(&t);
            assert_eq!(
                (bytes.len() - t.numel() * t.dtype().size()) % ALIGN,
                0,
                "data is 64-byte aligned"
            );
            let back = decode(&bytes).expect("decodes what it encodes");
            assert_eq!(back.shape, t.shape);
            assert_eq!(
                format!("{:?}", back.data),
                format!("{:?}", t.data),
                "bit-equal, NaN included"
            );
        }
    }

    #[test]
    fn writes_the_header_numpy_writes() {
        let bytes = encode(&tensor(&[3], Data::F32(vec![1.0, 2.0, 3.0])));
        assert_eq!(&bytes[..10], b"\x93NUMPY\x01\x00\x76\x00");
        let header = std::str::from_utf8(&bytes[10..128]).expect("ascii");
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"));
        assert!(header.ends_with(" \n"));
    }

    /// Builds a file by hand as another writer might.
    fn file(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_versions_2_and_3_and_old_spellings() {
        let data: Vec<u8> = [7i64, -1].iter().flat_map(|x| x.to_le_bytes()).collect();
        for version in [2, 3] {
            let t = decode(&file(
                version,
                "{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (2,)}\n",
                &data,
            ))
            .expect("valid");
            assert_eq!(t.data, Data::I64(vec![7, -1]));
        }
        let t = decode(&file(
            1,
            "{'descr': '|b1', 'fortran_order': True, 'shape': (2L,), }\n",
            &[1, 0],
        ))
        .expect("1-D Fortran order is C order");
        assert_eq!(t.data, Data::Bool(vec![true, false]));
    }

    #[test]
    fn rejects_what_it_cannot_read_with_reasons() {
        let cases: [(Vec<u8>, &str); 9] = [
            (b"PK\x03\x04".to_vec(), "magic"),
            (file(4, "{}", &[]), "version 4.0"),
            (
                file(
                    1,
                    "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
                    &[0; 4],
                ),
                "big-endian",
            ),
            (
                file(
                    1,
                    "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                    &[0; 16],
                ),
                "Fortran order",
            ),
            (
                file(
                    1,
                    "{'descr': '<i2', 'fortran_order': False, 'shape': (1,), }",
                    &[0; 2],
                ),
                "'<i2' is not supported",
            ),
            (
                file(
                    1,
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                    &[0; 8],
                ),
                "truncated",
            ),
            (
                file(
                    1,
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                    &[0; 8],
                ),
                "4 bytes after",
            ),
            (
                file(
                    1,
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (",
                    &[],
                ),
                "malformed",
            ),
            (
                file(
                    1,
                    "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (), }",
                    &[0; 4],
                ),
                "structured",
            ),
        ];
        for (bytes, expected) in cases {
            let err = decode(&bytes)
                .err()
                .unwrap_or_else(|| panic!("accepted a file that should fail: {expected}"));
            assert!(
                err.contains(expected),
                "`{err}` should mention `{expected}`"
            );
        }
    }

    #[test]
    fn never_panics_on_prefixes_of_a_valid_file() {
        let bytes = encode(&tensor(&[2, 3], Data::F64(vec![1.0; 6])));
        for n in 0..bytes.len() {
            assert!(
                decode(&bytes[..n]).is_err(),
                "a {n}-byte prefix is not a whole file"
            );
        }
    }
}
