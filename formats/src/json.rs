//! The `--json` output (docs/cli.md): `{"outputs": {"NAME": {"dtype", "shape", "data"}, …}}`
//! for `tfg run`, and `{"steps", "final_loss", "outputs", "params"}` for `tfg train`.
//!
//! Written by hand rather than through `serde_json::Value` so that the outputs
//! keep the graph's order and each float is printed with the shortest digits
//! that read back to the same value *in its own dtype* (an f32 `0.8` prints as
//! `0.8`, not as the f64 `0.800000011920929`). JSON has no NaN or infinity:
//! they are written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`,
//! which Python's `float()` and numpy's `astype` read back.

use std::fmt::Write;
use tfg_ir::{Data, Tensor};

/// The `--json` object of `tfg run`.
pub fn run_report(outputs: &[(&str, &Tensor)]) -> String {
    format!("{{\"outputs\": {}}}\n", tensors(outputs))
}

/// The `--json` object of `tfg train`: the steps run, the loss of the last
/// step (a number in the loss's own dtype), the outputs of one more run with
/// the trained params, and every param.
pub fn train_report(
    steps: u64,
    final_loss: &Tensor,
    outputs: &[(&str, &Tensor)],
    params: &[(&str, &Tensor)],
) -> String {
    let mut loss = String::new();
    element(&mut loss, &final_loss.data, 0);
    format!(
        "{{\"steps\": {steps}, \"final_loss\": {loss}, \"outputs\": {}, \"params\": {}}}\n",
        tensors(outputs),
        tensors(params)
    )
}

/// `report` (one JSON object and a newline) with one more member, `"name": value`
/// (`value` already JSON), at its end.
pub fn with_member(report: &str, name: &str, value: &str) -> String {
    let body = report.trim_end();
    let body = body.strip_suffix('}').unwrap_or(body);
    format!("{body}, {}: {value}}}\n", string(name))
}

/// `{"NAME": TENSOR, …}` in the given order.
pub fn tensors(named: &[(&str, &Tensor)]) -> String {
    let entries: Vec<String> = named
        .iter()
        .map(|(name, t)| format!("{}: {}", string(name), tensor(t)))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// `{"dtype": "f32", "shape": [2, 3], "data": [1.0, …]}`, data in row-major order.
pub fn tensor(t: &Tensor) -> String {
    let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
    let mut data = String::new();
    for i in 0..t.numel() {
        if i > 0 {
            data.push_str(", ");
        }
        element(&mut data, &t.data, i);
    }
    format!(
        "{{\"dtype\": \"{}\", \"shape\": [{}], \"data\": [{data}]}}",
        t.dtype(),
        shape.join(", ")
    )
}

/// Element `i` of `data` as a JSON value.
fn element(out: &mut String, data: &Data, i: usize) {
    let _ = match data {
        Data::F32(v) => float(
            out,
            v[i].is_finite(),
            v[i].is_nan(),
            v[i] < 0.0,
            format_args!("{:?}", v[i]),
        ),
        Data::F64(v) => float(
            out,
            v[i].is_finite(),
            v[i].is_nan(),
            v[i] < 0.0,
            format_args!("{:?}", v[i]),
        ),
        Data::I32(v) => write!(out, "{}", v[i]),
        Data::I64(v) => write!(out, "{}", v[i]),
        Data::Bool(v) => write!(out, "{}", v[i]),
    };
}

/// Rust's `{:?}` of a finite float is the shortest round-trip form and valid JSON (`0.8`, `1e-7`).
fn float(
    out: &mut String,
    finite: bool,
    nan: bool,
    negative: bool,
    repr: std::fmt::Arguments,
) -> std::fmt::Result {
    match (finite, nan, negative) {
        (true, _, _) => out.write_fmt(repr),
        (false, true, _) => out.write_str("\"NaN\""),
        (false, false, false) => out.write_str("\"Infinity\""),
        (false, false, true) => out.write_str("\"-Infinity\""),
    }
}

/// A JSON string literal.
fn string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_back_to_the_same_bits() {
        let values = [
            0.8f32,
            0.64000005,
            1.0,
            -0.0,
            1e-7,
            3.4028235e38,
            f32::MIN_POSITIVE,
            1.0e-45,
        ];
        let t = Tensor::new(vec![values.len()], Data::F32(values.to_vec())).expect("fits");
        let parsed: serde_json::Value = serde_json::from_str(&tensor(&t)).expect("valid JSON");
        let back: Vec<f32> = parsed["data"]
            .as_array()
            .expect("data is a list")
            .iter()
            .map(|x| x.as_f64().expect("a number") as f32)
            .collect();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            values.map(f32::to_bits)
        );
        assert!(tensor(&t).contains("[0.8, 0.64000005, 1.0, -0.0,"));
    }

    #[test]
    fn train_report_has_the_spec_keys_in_order() {
        let loss = Tensor::new(vec![], Data::F32(vec![f32::NAN])).expect("fits");
        let y = Tensor::new(vec![2], Data::F64(vec![0.1, -2.5])).expect("fits");
        let w = Tensor::new(vec![], Data::F32(vec![0.8])).expect("fits");
        let text = train_report(7, &loss, &[("y", &y)], &[("w", &w)]);
        assert_eq!(
            text,
            "{\"steps\": 7, \"final_loss\": \"NaN\", \
             \"outputs\": {\"y\": {\"dtype\": \"f64\", \"shape\": [2], \"data\": [0.1, -2.5]}}, \
             \"params\": {\"w\": {\"dtype\": \"f32\", \"shape\": [], \"data\": [0.8]}}}\n"
        );
    }

    #[test]
    fn non_finite_values_are_strings_and_order_is_kept() {
        let a = Tensor::new(
            vec![3],
            Data::F64(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
        )
        .expect("fits");
        let b = Tensor::new(vec![1, 2], Data::Bool(vec![true, false])).expect("fits");
        let c = Tensor::new(vec![], Data::I64(vec![i64::MIN])).expect("fits");
        let text = run_report(&[("z", &a), ("a\"b", &b), ("m", &c)]);
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            parsed["outputs"]["z"]["data"],
            serde_json::json!(["NaN", "Infinity", "-Infinity"])
        );
        assert_eq!(
            parsed["outputs"]["a\"b"],
            serde_json::json!({"dtype": "bool", "shape": [1, 2], "data": [true, false]})
        );
        assert_eq!(parsed["outputs"]["m"]["data"][0].as_i64(), Some(i64::MIN));
        assert!(
            text.find("\"z\"") < text.find("\"a\\\"b\"")
                && text.find("\"a\\\"b\"") < text.find("\"m\"")
        );
    }
}
