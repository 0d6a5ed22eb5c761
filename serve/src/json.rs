//! Tensors in JSON, as TensorFlow Serving's REST API and the Open Inference
//! Protocol write them.
//!
//! Reading: nested lists (or, for protocol v2, a flat list and a shape) of
//! numbers or booleans, converted to the dtype the signature declares; a
//! value that does not fit that dtype is an error that names the input.
//! Floats may also be the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
//! Writing is by hand, so that f32 values keep their shortest digits (with
//! a `.0` on whole numbers, as TensorFlow Serving writes floats) and
//! NaN and infinities come out as TensorFlow Serving writes them: the bare
//! words `NaN`, `Infinity` and `-Infinity`.

use serde_json::Value;
use std::fmt::Write;
use tfg_ir::{DType, Data, Tensor};

/// Parses a request body as JSON, also taking the bare words `NaN`,
/// `Infinity` and `-Infinity` where numbers go, as TensorFlow Serving does
/// (Python's `json.dumps` writes them). They become the strings that
/// [`tensor_from_nested`] reads as those floats.
pub fn parse_body(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let first = match serde_json::from_slice(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut replaced = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        let word = [&b"-Infinity"[..], b"Infinity", b"NaN"]
            .into_iter()
            .find(|w| rest.starts_with(w));
        match (b, word) {
            (b'"', _) => {
                in_string = true;
                out.push(b);
                i += 1;
            }
            (_, Some(w)) => {
                out.push(b'"');
                out.extend_from_slice(w);
                out.push(b'"');
                replaced = true;
                i += w.len();
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    match replaced {
        true => serde_json::from_slice(&out).map_err(|_| first),
        false => Err(first),
    }
}

/// The tensor of dtype `dtype` that nested lists `v` hold, for input `name`.
pub fn tensor_from_nested(v: &Value, dtype: DType, name: &str) -> Result<Tensor, String> {
    let mut shape = Vec::new();
    let mut at = v;
    while let Value::Array(items) = at {
        shape.push(items.len());
        match items.first() {
            Some(first) => at = first,
            None => break,
        }
    }
    let mut leaves = Vec::new();
    collect(v, &shape, 0, &mut leaves, name)?;
    let data = leaves_to_data(&leaves, dtype, name)?;
    Tensor::new(shape, data).ok_or_else(|| format!("input `{name}`: the lists are not rectangular"))
}

/// The tensor of shape `shape` whose elements, in row-major order, are
/// `data` (flat, or nested: it is flattened), for input `name`.
pub fn tensor_from_flat(
    data: &Value,
    shape: &[usize],
    dtype: DType,
    name: &str,
) -> Result<Tensor, String> {
    let mut leaves = Vec::new();
    flatten(data, &mut leaves);
    let want = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if want != Some(leaves.len()) {
        let needs = want.map_or_else(|| "more than can be held".to_string(), |n| n.to_string());
        return Err(format!(
            "input `{name}` has {} elements but its shape {shape:?} needs {needs}",
            leaves.len()
        ));
    }
    let data = leaves_to_data(&leaves, dtype, name)?;
    Tensor::new(shape.to_vec(), data)
        .ok_or_else(|| format!("input `{name}` does not fit its shape"))
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other),
    }
}

fn collect<'a>(
    v: &'a Value,
    shape: &[usize],
    depth: usize,
    out: &mut Vec<&'a Value>,
    name: &str,
) -> Result<(), String> {
    match (v, shape.get(depth)) {
        (Value::Array(items), Some(&n)) if items.len() == n => items
            .iter()
            .try_for_each(|i| collect(i, shape, depth + 1, out, name)),
        (Value::Array(_), _) | (_, Some(_)) => Err(format!(
            "input `{name}`: the lists are not rectangular (every list at one depth must have the same length)"
        )),
        (leaf, None) => {
            out.push(leaf);
            Ok(())
        }
    }
}

fn leaves_to_data(leaves: &[&Value], dtype: DType, name: &str) -> Result<Data, String> {
    let wrong = |v: &Value| {
        let shown: String = v.to_string().chars().take(40).collect();
        format!(
            "input `{name}` expects {} values, but is given `{shown}`",
            dtype
        )
    };
    let float = |v: &Value| -> Result<f64, String> {
        match v {
            Value::Number(n) => n.as_f64().ok_or_else(|| wrong(v)),
            Value::String(s) => match s.as_str() {
                "NaN" | "nan" => Ok(f64::NAN),
                "Infinity" | "inf" | "+Infinity" => Ok(f64::INFINITY),
                "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
                _ => Err(wrong(v)),
            },
            _ => Err(wrong(v)),
        }
    };
    let int = |v: &Value, lo: i64, hi: i64| -> Result<i64, String> {
        let n = match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Some(i),
                None => n
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                    .map(|f| f as i64),
            },
            _ => None,
        };
        n.filter(|i| (lo..=hi).contains(i)).ok_or_else(|| wrong(v))
    };
    Ok(match dtype {
        DType::F32 => Data::F32(
            leaves
                .iter()
                .map(|v| float(v).map(|f| f as f32))
                .collect::<Result<_, _>>()?,
        ),
        DType::F64 => Data::F64(leaves.iter().map(|v| float(v)).collect::<Result<_, _>>()?),
        DType::I32 => Data::I32(
            leaves
                .iter()
                .map(|v| int(v, i32::MIN as i64, i32::MAX as i64).map(|i| i as i32))
                .collect::<Result<_, _>>()?,
        ),
        DType::I64 => Data::I64(
            leaves
                .iter()
                .map(|v| int(v, i64::MIN, i64::MAX))
                .collect::<Result<_, _>>()?,
        ),
        DType::Bool => Data::Bool(
            leaves
                .iter()
                .map(|v| v.as_bool().ok_or_else(|| wrong(v)))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Element `i` of `data`, as TensorFlow Serving writes it.
pub fn element(out: &mut String, data: &Data, i: usize) {
    fn float(out: &mut String, x: f64, shortest: impl FnOnce(&mut String)) {
        if x.is_nan() {
            out.push_str("NaN");
        } else if x.is_infinite() {
            out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        } else {
            shortest(out);
        }
    }
    match data {
        Data::F32(v) => {
            let x = v[i];
            float(out, x as f64, |o| {
                let _ = write!(o, "{x:?}");
            })
        }
        Data::F64(v) => {
            let x = v[i];
            float(out, x, |o| {
                let _ = write!(o, "{x:?}");
            })
        }
        Data::I32(v) => {
            let _ = write!(out, "{}", v[i]);
        }
        Data::I64(v) => {
            let _ = write!(out, "{}", v[i]);
        }
        Data::Bool(v) => out.push_str(if v[i] { "true" } else { "false" }),
    }
}

/// `t` as nested lists (a scalar as a number).
pub fn nested(out: &mut String, t: &Tensor) {
    nested_from(out, t, 0, 0);
}

/// Row `row` of `t` (along axis 0) as nested lists.
pub fn nested_row(out: &mut String, t: &Tensor, row: usize) {
    let width: usize = t.shape.iter().skip(1).product();
    nested_from(out, t, 1, row * width);
}

fn nested_from(out: &mut String, t: &Tensor, depth: usize, offset: usize) {
    let Some(&n) = t.shape.get(depth) else {
        element(out, &t.data, offset);
        return;
    };
    let stride: usize = t.shape.iter().skip(depth + 1).product();
    out.push('[');
    for k in 0..n {
        if k > 0 {
            out.push_str(", ");
        }
        nested_from(out, t, depth + 1, offset + k * stride);
    }
    out.push(']');
}

/// `t`'s elements as one flat list.
pub fn flat(out: &mut String, t: &Tensor) {
    out.push('[');
    for i in 0..t.numel() {
        if i > 0 {
            out.push_str(", ");
        }
        element(out, &t.data, i);
    }
    out.push(']');
}

/// A JSON string literal.
pub fn string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_lists_read_and_write_back() {
        let t = tensor_from_nested(&json!([[1, 2.5], [3, "NaN"]]), DType::F32, "x").unwrap();
        assert_eq!(t.shape, vec![2, 2]);
        let mut s = String::new();
        nested(&mut s, &t);
        assert_eq!(s, "[[1.0, 2.5], [3.0, NaN]]");
        let mut r = String::new();
        nested_row(&mut r, &t, 1);
        assert_eq!(r, "[3.0, NaN]");
    }

    #[test]
    fn bodies_may_hold_nan_and_infinities_as_tf_serving_reads_them() {
        let v = parse_body(br#"{"instances": [[NaN, -Infinity, Infinity, "NaN x"]]}"#).unwrap();
        assert_eq!(v["instances"][0][3], "NaN x");
        let t = tensor_from_nested(
            &v["instances"].as_array().unwrap()[0].as_array().unwrap()[..3]
                .to_vec()
                .into(),
            DType::F32,
            "x",
        )
        .unwrap();
        let mut s = String::new();
        nested(&mut s, &t);
        assert_eq!(s, "[NaN, -Infinity, Infinity]");
        assert!(parse_body(b"{\"a\": [1, 2").is_err());
    }

    #[test]
    fn values_of_the_wrong_dtype_name_the_input() {
        let e = tensor_from_nested(&json!([1.5]), DType::I32, "ids").unwrap_err();
        assert!(e.contains("`ids`"), "{e}");
        let e = tensor_from_nested(&json!([[1], [2, 3]]), DType::F32, "x").unwrap_err();
        assert!(e.contains("rectangular"), "{e}");
        let e = tensor_from_flat(&json!([1, 2, 3]), &[2, 2], DType::F32, "x").unwrap_err();
        assert!(e.contains("`x`"), "{e}");
    }
}
