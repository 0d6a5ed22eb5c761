//! The REST APIs: TensorFlow Serving's (`/v1/models/…`), the Open Inference
//! Protocol v2 (`/v2/…`) and `/metrics`.
//!
//! Every route is matched by hand in one handler: TensorFlow Serving's paths
//! put the method after a colon (`/v1/models/NAME:predict`), which path
//! patterns do not split. Any content type is accepted; a body is read up to
//! `--max-body-mb` (413 beyond). Errors are `{"error": "…"}` with 400 (the
//! request does not fit), 404 (no such model, version or signature), 413,
//! 503 (queue full) or 500.

use crate::json::{self, string};
use crate::registry::{NotFound, Registry, State, Version};
use crate::runner::{RunError, SignatureRunner};
use axum::body::Body;
use axum::http::{header, Method, Request, Response, StatusCode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tfg_ir::{DType, Dim, Tensor, Type};

/// What the REST handler shares.
pub struct App {
    pub registry: Arc<Registry>,
    pub max_body: usize,
}

/// An answer: status and JSON body text.
struct Answer {
    status: StatusCode,
    body: String,
    content_type: &'static str,
}

impl Answer {
    fn ok(body: String) -> Answer {
        Answer {
            status: StatusCode::OK,
            body,
            content_type: "application/json",
        }
    }

    fn error(status: StatusCode, message: &str) -> Answer {
        Answer {
            status,
            body: format!("{{\"error\": {}}}", string(message)),
            content_type: "application/json",
        }
    }

    fn bad(message: impl AsRef<str>) -> Answer {
        Answer::error(StatusCode::BAD_REQUEST, message.as_ref())
    }

    fn not_found(message: impl AsRef<str>) -> Answer {
        Answer::error(StatusCode::NOT_FOUND, message.as_ref())
    }
}

impl From<NotFound> for Answer {
    fn from(e: NotFound) -> Answer {
        Answer::not_found(e.0)
    }
}

impl From<RunError> for Answer {
    fn from(e: RunError) -> Answer {
        let status = match e {
            RunError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RunError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            RunError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Answer::error(status, e.message())
    }
}

/// What a request's metrics are labelled with.
struct Labels {
    model: String,
    version: String,
    api: &'static str,
}

/// The one handler of every route.
pub async fn handle(app: Arc<App>, req: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let mut labels = Labels {
        model: String::new(),
        version: String::new(),
        api: "rest",
    };
    let answer = route(&app, req, &mut labels).await;
    if labels.api != "metrics" {
        app.registry.metrics().request(
            &labels.model,
            &labels.version,
            labels.api,
            answer.status.as_str(),
            started.elapsed(),
        );
    }
    Response::builder()
        .status(answer.status)
        .header(header::CONTENT_TYPE, answer.content_type)
        .body(Body::from(answer.body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

async fn route(app: &App, req: Request<Body>, labels: &mut Labels) -> Answer {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if path == "/metrics" {
        labels.api = "metrics";
        return Answer {
            status: StatusCode::OK,
            body: app.registry.metrics().text(),
            content_type: "text/plain; version=0.0.4",
        };
    }
    if let Some(rest) = path.strip_prefix("/v1/models/") {
        labels.api = "rest_v1";
        return v1(app, method, rest, req, labels).await;
    }
    if path == "/v2" || path.starts_with("/v2/") {
        labels.api = "rest_v2";
        return v2(app, method, &path, req, labels).await;
    }
    Answer::not_found(format!("no route for {method} {path}"))
}

/// The body as JSON, or the answer to send instead.
async fn json_body(app: &App, req: Request<Body>) -> Result<Value, Answer> {
    let too_large = || {
        Answer::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body is larger than {} bytes (--max-body-mb)",
                app.max_body
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > app.max_body) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(req.into_body(), app.max_body)
        .await
        .map_err(|_| too_large())?;
    json::parse_body(&bytes).map_err(|e| Answer::bad(format!("malformed JSON: {e}")))
}

fn parse_version(v: &str) -> Result<u64, Answer> {
    v.parse()
        .map_err(|_| Answer::not_found(format!("`{v}` is not a version number")))
}

// ---- TensorFlow Serving ----

async fn v1(
    app: &App,
    method: Method,
    rest: &str,
    req: Request<Body>,
    labels: &mut Labels,
) -> Answer {
    let (rest, verb) = match rest.rsplit_once(':') {
        Some((r, verb)) => (r, Some(verb)),
        None => (rest, None),
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (name, version, tail) = match parts.as_slice() {
        [name] => (*name, None, None),
        [name, "metadata"] => (*name, None, Some("metadata")),
        [name, "versions", v] => (*name, Some(*v), None),
        [name, "versions", v, "metadata"] => (*name, Some(*v), Some("metadata")),
        _ => return Answer::not_found(format!("no route for {method} /v1/models/{rest}")),
    };
    labels.model = name.to_string();
    labels.version = version.unwrap_or("").to_string();
    let version = match version.map(parse_version).transpose() {
        Ok(v) => v,
        Err(a) => return a,
    };
    match (verb, tail, &method) {
        (None, None, &Method::GET) => model_status(app, name, version),
        (None, Some(_), &Method::GET) => match app.registry.version(name, version) {
            Ok(v) => {
                labels.version = v.number.to_string();
                Answer::ok(metadata(name, &v))
            }
            Err(e) => e.into(),
        },
        (Some("predict"), None, &Method::POST) => {
            match predict(app, name, version, req, labels).await {
                Ok(a) | Err(a) => a,
            }
        }
        (Some(verb @ ("classify" | "regress")), None, &Method::POST) => Answer::bad(format!(
            "`{verb}` is not supported: tfg models serve `predict`"
        )),
        _ => Answer::not_found(format!(
            "no route for {method} /v1/models/{rest}{}",
            verb.map(|v| format!(":{v}")).unwrap_or_default()
        )),
    }
}

fn model_status(app: &App, name: &str, version: Option<u64>) -> Answer {
    let states = match app.registry.states(name, version) {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    let entries: Vec<String> = states
        .iter()
        .map(|(v, s)| {
            let (state, code, message) = match s {
                State::Loading => ("LOADING", "OK", String::new()),
                State::Available => ("AVAILABLE", "OK", String::new()),
                State::Failed(e) => ("END", "UNKNOWN", e.clone()),
                State::Unloaded => ("END", "OK", String::new()),
            };
            format!(
                "{{\"version\": \"{v}\", \"state\": \"{state}\", \"status\": {{\"error_code\": \"{code}\", \"error_message\": {}}}}}",
                string(&message)
            )
        })
        .collect();
    Answer::ok(format!(
        "{{\"model_version_status\": [{}]}}",
        entries.join(", ")
    ))
}

/// TensorFlow's name of a dtype (`DT_FLOAT`, …).
pub fn tf_dtype(d: DType) -> &'static str {
    match d {
        DType::F32 => "DT_FLOAT",
        DType::F64 => "DT_DOUBLE",
        DType::I32 => "DT_INT32",
        DType::I64 => "DT_INT64",
        DType::Bool => "DT_BOOL",
    }
}

/// A shape with symbolic dims as -1.
pub fn dims(ty: &Type) -> Vec<i64> {
    ty.shape
        .0
        .iter()
        .map(|d| match d {
            Dim::Known(n) => *n as i64,
            Dim::Sym(_) => -1,
        })
        .collect()
}

fn tensor_info(name: &str, ty: &Type) -> String {
    let dim: Vec<String> = dims(ty)
        .iter()
        .map(|d| format!("{{\"size\": \"{d}\", \"name\": \"\"}}"))
        .collect();
    format!(
        "{}: {{\"dtype\": \"{}\", \"tensor_shape\": {{\"dim\": [{}], \"unknown_rank\": false}}, \"name\": {}}}",
        string(name),
        tf_dtype(ty.dtype),
        dim.join(", "),
        string(name)
    )
}

fn metadata(name: &str, v: &Version) -> String {
    let defs: Vec<String> = v
        .signature_names()
        .iter()
        .filter_map(|s| v.runners.get(*s))
        .map(|r| {
            let inputs: Vec<String> = r.input_types.iter().map(|(n, t)| tensor_info(n, t)).collect();
            let outputs: Vec<String> = r.output_types.iter().map(|(n, t)| tensor_info(n, t)).collect();
            format!(
                "{}: {{\"inputs\": {{{}}}, \"outputs\": {{{}}}, \"method_name\": \"tensorflow/serving/predict\"}}",
                string(&r.signature.name),
                inputs.join(", "),
                outputs.join(", ")
            )
        })
        .collect();
    format!(
        "{{\"model_spec\": {{\"name\": {}, \"signature_name\": \"\", \"version\": \"{}\"}}, \"metadata\": {{\"signature_def\": {{\"signature_def\": {{{}}}}}}}}}",
        string(name),
        v.number,
        defs.join(", ")
    )
}

/// Which request format a predict used.
enum Format {
    Row,
    Columnar,
}

async fn predict(
    app: &App,
    name: &str,
    version: Option<u64>,
    req: Request<Body>,
    labels: &mut Labels,
) -> Result<Answer, Answer> {
    let body = json_body(app, req).await?;
    let v = app.registry.version(name, version)?;
    labels.version = v.number.to_string();
    let Value::Object(obj) = &body else {
        return Err(Answer::bad("the request body must be a JSON object"));
    };
    let signature = match obj.get("signature_name") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(Answer::bad("\"signature_name\" must be a string")),
    };
    let runner = v.runner(signature).map_err(Answer::not_found)?;
    let (format, inputs) = match (obj.get("instances"), obj.get("inputs")) {
        (Some(_), Some(_)) => {
            return Err(Answer::bad(
                "the request has both \"instances\" and \"inputs\"; give one",
            ))
        }
        (Some(instances), None) => (Format::Row, rows(runner, instances)?),
        (None, Some(inputs)) => (Format::Columnar, columns(runner, inputs)?),
        (None, None) => return Err(Answer::bad(
            "the request has neither \"instances\" (row format) nor \"inputs\" (columnar format)",
        )),
    };
    let rows = runner.check(&inputs)?;
    let rx = runner.submit(inputs, rows)?;
    let outputs = rx
        .await
        .map_err(|_| Answer::from(RunError::Internal("the model stopped".into())))??;
    let names: Vec<&str> = runner
        .output_types
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let mut out = String::new();
    match format {
        Format::Columnar => {
            out.push_str("{\"outputs\": ");
            match (names.as_slice(), outputs.as_slice()) {
                ([_], [t]) => json::nested(&mut out, t),
                _ => {
                    out.push('{');
                    for (i, (n, t)) in names.iter().zip(&outputs).enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(&string(n));
                        out.push_str(": ");
                        json::nested(&mut out, t);
                    }
                    out.push('}');
                }
            }
            out.push('}');
        }
        Format::Row => {
            let n = outputs.first().and_then(|t| t.shape.first()).copied();
            let Some(n) = n.filter(|&n| outputs.iter().all(|t| t.shape.first() == Some(&n))) else {
                return Err(Answer::bad(
                    "the outputs do not share a batch dimension, so they cannot be returned as rows; use the columnar format (\"inputs\")",
                ));
            };
            out.push_str("{\"predictions\": [");
            for row in 0..n {
                if row > 0 {
                    out.push_str(", ");
                }
                match outputs.as_slice() {
                    [t] => json::nested_row(&mut out, t, row),
                    _ => {
                        out.push('{');
                        for (i, (name, t)) in names.iter().zip(&outputs).enumerate() {
                            if i > 0 {
                                out.push_str(", ");
                            }
                            out.push_str(&string(name));
                            out.push_str(": ");
                            json::nested_row(&mut out, t, row);
                        }
                        out.push('}');
                    }
                }
            }
            out.push_str("]}");
        }
    }
    Ok(Answer::ok(out))
}

fn dtype_of(runner: &SignatureRunner, name: &str) -> Result<DType, Answer> {
    runner
        .input_types
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t.dtype)
        .ok_or_else(|| {
            Answer::bad(format!(
                "unknown input `{name}`; signature `{}` takes {}",
                runner.signature.name,
                runner
                    .input_types
                    .iter()
                    .map(|(n, _)| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The row format: `instances` is a list of rows; with one input a row is
/// its value (or an object naming it), with several an object by name.
fn rows(runner: &SignatureRunner, instances: &Value) -> Result<BTreeMap<String, Tensor>, Answer> {
    let Value::Array(list) = instances else {
        return Err(Answer::bad("\"instances\" must be a list"));
    };
    if list.is_empty() {
        return Err(Answer::bad("\"instances\" is empty"));
    }
    let names: Vec<&str> = runner.input_types.iter().map(|(n, _)| n.as_str()).collect();
    let mut columns: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (i, row) in list.iter().enumerate() {
        match (row, names.as_slice()) {
            (Value::Object(obj), _) if !(names.len() == 1 && obj.is_empty()) => {
                for (k, v) in obj {
                    dtype_of(runner, k)?;
                    columns.entry(k.clone()).or_default().push(v.clone());
                }
                for n in &names {
                    if !obj.contains_key(*n) {
                        return Err(Answer::bad(format!("missing input `{n}` in instance {i}")));
                    }
                }
            }
            (_, [one]) => columns
                .entry(one.to_string())
                .or_default()
                .push(row.clone()),
            _ => {
                return Err(Answer::bad(format!(
                    "instance {i} must be an object naming every input ({})",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }
    columns
        .into_iter()
        .map(|(name, values)| {
            let dtype = dtype_of(runner, &name)?;
            json::tensor_from_nested(&Value::Array(values), dtype, &name)
                .map(|t| (name, t))
                .map_err(Answer::bad)
        })
        .collect()
}

/// The columnar format: `inputs` is the one input's value, or an object of
/// every input's value by name.
fn columns(runner: &SignatureRunner, inputs: &Value) -> Result<BTreeMap<String, Tensor>, Answer> {
    let named: Vec<(String, &Value)> = match (inputs, runner.input_types.as_slice()) {
        (Value::Object(obj), _) => obj.iter().map(|(k, v)| (k.clone(), v)).collect(),
        (v, [(one, _)]) => vec![(one.clone(), v)],
        _ => {
            return Err(Answer::bad(
                "\"inputs\" must be an object naming every input",
            ))
        }
    };
    let mut out = BTreeMap::new();
    for (name, v) in named {
        let dtype = dtype_of(runner, &name)?;
        let t = json::tensor_from_nested(v, dtype, &name).map_err(Answer::bad)?;
        out.insert(name, t);
    }
    Ok(out)
}

// ---- Open Inference Protocol v2 ----

/// The protocol's name of a dtype.
pub fn v2_dtype(d: DType) -> &'static str {
    match d {
        DType::F32 => "FP32",
        DType::F64 => "FP64",
        DType::I32 => "INT32",
        DType::I64 => "INT64",
        DType::Bool => "BOOL",
    }
}

async fn v2(
    app: &App,
    method: Method,
    path: &str,
    req: Request<Body>,
    labels: &mut Labels,
) -> Answer {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    match (&method, parts.as_slice()) {
        (&Method::GET, []) => Answer::ok(format!(
            "{{\"name\": \"tfg\", \"version\": {}, \"extensions\": []}}",
            string(env!("CARGO_PKG_VERSION"))
        )),
        (&Method::GET, ["health", "live"]) | (&Method::GET, ["health", "ready"]) => {
            Answer::ok("{}".into())
        }
        (_, ["models", name, rest @ ..]) => {
            labels.model = name.to_string();
            let (version, rest) = match rest {
                ["versions", v, tail @ ..] => {
                    labels.version = v.to_string();
                    match parse_version(v) {
                        Ok(v) => (Some(v), tail),
                        Err(a) => return a,
                    }
                }
                tail => (None, tail),
            };
            let v = match app.registry.version(name, version) {
                Ok(v) => v,
                Err(e) => return e.into(),
            };
            labels.version = v.number.to_string();
            match (&method, rest) {
                (&Method::GET, []) => v2_metadata(name, &v),
                (&Method::GET, ["ready"]) => {
                    Answer::ok(format!("{{\"name\": {}, \"ready\": true}}", string(name)))
                }
                (&Method::POST, ["infer"]) => match infer(app, name, &v, req).await {
                    Ok(a) | Err(a) => a,
                },
                _ => Answer::not_found(format!("no route for {method} {path}")),
            }
        }
        _ => Answer::not_found(format!("no route for {method} {path}")),
    }
}

fn v2_tensor_meta(name: &str, ty: &Type) -> String {
    let d: Vec<String> = dims(ty).iter().map(|d| d.to_string()).collect();
    format!(
        "{{\"name\": {}, \"datatype\": \"{}\", \"shape\": [{}]}}",
        string(name),
        v2_dtype(ty.dtype),
        d.join(", ")
    )
}

fn v2_metadata(name: &str, v: &Version) -> Answer {
    let runner = match v.runner("") {
        Ok(r) => r,
        Err(e) => return Answer::not_found(e),
    };
    let inputs: Vec<String> = runner
        .input_types
        .iter()
        .map(|(n, t)| v2_tensor_meta(n, t))
        .collect();
    let outputs: Vec<String> = runner
        .output_types
        .iter()
        .map(|(n, t)| v2_tensor_meta(n, t))
        .collect();
    Answer::ok(format!(
        "{{\"name\": {}, \"versions\": [\"{}\"], \"platform\": \"tfg\", \"inputs\": [{}], \"outputs\": [{}]}}",
        string(name),
        v.number,
        inputs.join(", "),
        outputs.join(", ")
    ))
}

fn v2_dtype_named(s: &str) -> Option<DType> {
    [DType::F32, DType::F64, DType::I32, DType::I64, DType::Bool]
        .into_iter()
        .find(|d| v2_dtype(*d) == s)
}

async fn infer(app: &App, name: &str, v: &Version, req: Request<Body>) -> Result<Answer, Answer> {
    let body = json_body(app, req).await?;
    let Value::Object(obj) = &body else {
        return Err(Answer::bad("the request body must be a JSON object"));
    };
    let signature = obj
        .get("parameters")
        .and_then(|p| p.get("signature_name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let runner = v.runner(signature).map_err(Answer::not_found)?;
    let Some(Value::Array(list)) = obj.get("inputs") else {
        return Err(Answer::bad("\"inputs\" must be a list of tensors"));
    };
    let mut inputs = BTreeMap::new();
    for t in list {
        let Some(input) = t.get("name").and_then(Value::as_str) else {
            return Err(Answer::bad("an input has no \"name\""));
        };
        let declared = dtype_of(runner, input)?;
        let datatype = t.get("datatype").and_then(Value::as_str).unwrap_or("");
        let Some(given) = v2_dtype_named(datatype) else {
            return Err(Answer::bad(format!(
                "input `{input}` has datatype {datatype:?}, which tfg does not read (FP32, FP64, INT32, INT64, BOOL)"
            )));
        };
        if given != declared {
            return Err(Answer::bad(format!(
                "input `{input}` expects datatype {} but is given {datatype}",
                v2_dtype(declared)
            )));
        }
        let shape: Option<Vec<usize>> = t
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|s| s.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
        let Some(shape) = shape else {
            return Err(Answer::bad(format!(
                "input `{input}` has no valid \"shape\""
            )));
        };
        let Some(data) = t.get("data") else {
            return Err(Answer::bad(format!(
                "input `{input}` has no \"data\" (the binary tensor extension is not supported)"
            )));
        };
        let tensor = json::tensor_from_flat(data, &shape, declared, input).map_err(Answer::bad)?;
        if inputs.insert(input.to_string(), tensor).is_some() {
            return Err(Answer::bad(format!("input `{input}` is given twice")));
        }
    }
    let wanted: Option<Vec<String>> = match obj.get("outputs") {
        Some(Value::Array(outs)) => Some(
            outs.iter()
                .map(|o| {
                    o.get("name")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| Answer::bad("a requested output has no \"name\""))
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => None,
    };
    if let Some(w) = &wanted {
        for n in w {
            if !runner.output_types.iter().any(|(o, _)| o == n) {
                return Err(Answer::bad(format!("unknown output `{n}`")));
            }
        }
    }
    let rows = runner.check(&inputs)?;
    let rx = runner.submit(inputs, rows)?;
    let outputs = rx
        .await
        .map_err(|_| Answer::from(RunError::Internal("the model stopped".into())))??;
    let mut parts = Vec::new();
    for ((n, _), t) in runner.output_types.iter().zip(&outputs) {
        if wanted.as_ref().is_some_and(|w| !w.contains(n)) {
            continue;
        }
        let mut data = String::new();
        json::flat(&mut data, t);
        let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        parts.push(format!(
            "{{\"name\": {}, \"datatype\": \"{}\", \"shape\": [{}], \"data\": {data}}}",
            string(n),
            v2_dtype(t.dtype()),
            shape.join(", ")
        ));
    }
    let id = match obj.get("id").and_then(Value::as_str) {
        Some(id) => format!(", \"id\": {}", string(id)),
        None => String::new(),
    };
    Ok(Answer::ok(format!(
        "{{\"model_name\": {}, \"model_version\": \"{}\"{id}, \"outputs\": [{}]}}",
        string(name),
        v.number,
        parts.join(", ")
    )))
}
