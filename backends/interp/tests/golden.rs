//! The interpreter against numpy: every case in `golden/cases.json` (written
//! by `golden/gen.py`, whose docstring describes the format and tolerances)
//! is rebuilt with `Graph::add`, run, and compared with numpy's float64
//! result. The test also checks that the cases cover every op on every dtype
//! its type rule accepts.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use tfg_ir::{
    infer, BinaryOp, DType, Data, Graph, Init, Op, ReduceOp, Shape, Tensor, Type, UnaryOp, ValueId,
};

const CASES: &str = include_str!("golden/cases.json");

/// Relative error allowed for elementwise results, and for reductions and
/// matrix products (docs/language.md, "Semantics"); the absolute floor only
/// matters for results that are themselves tiny (subnormal sigmoid tails and
/// the like).
const RTOL_ELEMENTWISE: f64 = 1e-5;
const RTOL_REDUCTION: f64 = 1e-4;
const ATOL: f64 = 1e-12;

#[test]
fn interpreter_matches_numpy() {
    let doc: Value = serde_json::from_str(CASES).expect("cases.json is valid JSON");
    let cases = doc["cases"].as_array().expect("cases.json has a case list");
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        if let Err(e) = check_case(case, &mut covered) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    let missing: Vec<String> = required_coverage().difference(&covered).cloned().collect();
    assert!(
        missing.is_empty(),
        "no golden case for: {}",
        missing.join(", ")
    );
}

fn check_case(case: &Value, covered: &mut BTreeSet<String>) -> Result<(), String> {
    let mut g = Graph::new("golden");
    let mut env: HashMap<String, ValueId> = HashMap::new();
    let (mut inputs, mut params) = (Vec::new(), Vec::new());
    for leaf in array(&case["leaves"])? {
        let name = string(&leaf["name"])?;
        let t = parse_tensor(&leaf["tensor"])?;
        let id = match string(&leaf["kind"])? {
            "input" => {
                inputs.push(t.clone());
                g.add_input(name, t.ty(), None)
            }
            "param" => {
                params.push(t.clone());
                g.add_param(name, t.ty(), Init::Zeros)
            }
            "const" => g.add(Op::Const(t), &[]).map_err(|e| e.message)?,
            other => return Err(format!("unknown leaf kind {other}")),
        };
        env.insert(name.to_string(), id);
    }
    for node in array(&case["nodes"])? {
        let op = parse_op(string(&node["op"])?, &node["attrs"])?;
        let args = array(&node["args"])?
            .iter()
            .map(|a| {
                string(a).and_then(|a| env.get(a).copied().ok_or(format!("unknown value {a}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        covered.insert(coverage_key(
            &op,
            &args.iter().map(|&a| g.ty(a)).collect::<Vec<_>>(),
        ));
        let id = g
            .add(op, &args)
            .map_err(|e| format!("Graph::add: {}", e.message))?;
        let name = string(&node["name"])?;
        g.node_mut(id).name = Some(name.to_string());
        env.insert(name.to_string(), id);
    }
    for out in array(&case["outputs"])? {
        let name = string(&out["name"])?;
        g.outputs.push((name.to_string(), env[name]));
    }
    let result = tfg_interp::run(&g, &inputs, &params).map_err(|e| format!("run: {e}"))?;
    for (out, got) in array(&case["outputs"])?.iter().zip(&result.outputs) {
        let want = parse_tensor(&out["expect"])?;
        let scale = match &out["scale"] {
            Value::Null => None,
            s => Some(parse_tensor(s)?),
        };
        let rtol = match string(&out["tol"])? {
            "elementwise" => RTOL_ELEMENTWISE,
            _ => RTOL_REDUCTION,
        };
        compare(got, &want, scale.as_ref(), rtol)
            .map_err(|e| format!("output {}: {e}", string(&out["name"]).unwrap_or("?")))?;
    }
    Ok(())
}

fn compare(got: &Tensor, want: &Tensor, scale: Option<&Tensor>, rtol: f64) -> Result<(), String> {
    if got.dtype() != want.dtype() || got.shape != want.shape {
        return Err(format!("got {} but numpy gives {}", got.ty(), want.ty()));
    }
    let exact = !want.dtype().is_float();
    for i in 0..want.numel() {
        let (g, w) = (got.data.get_f64(i), want.data.get_f64(i));
        let ok = if exact {
            same_integer(&got.data, &want.data, i)
        } else if w.is_nan() || w.is_infinite() {
            g.is_nan() && w.is_nan() || g == w
        } else {
            let s = scale.map_or(0.0, |s| s.data.get_f64(i));
            (g - w).abs() <= rtol * w.abs().max(s) + ATOL
        };
        if !ok {
            return Err(format!("element {i}: got {g:e}, numpy gives {w:e}"));
        }
    }
    Ok(())
}

/// Exact comparison without going through f64, which would hide i64 errors.
fn same_integer(a: &Data, b: &Data, i: usize) -> bool {
    match (a, b) {
        (Data::I32(x), Data::I32(y)) => x[i] == y[i],
        (Data::I64(x), Data::I64(y)) => x[i] == y[i],
        (Data::Bool(x), Data::Bool(y)) => x[i] == y[i],
        _ => false,
    }
}

/// What a node exercises: the op (with its variant) and the dtype it runs on.
fn coverage_key(op: &Op, args: &[&Type]) -> String {
    let dtype = match op {
        // The condition is always bool; the branches carry the dtype.
        Op::Select => args[1].dtype,
        _ => args[0].dtype,
    };
    match op {
        Op::Cast { to } => format!("cast {dtype}->{to}"),
        _ => format!("{} {dtype}", op.name()),
    }
}

/// Every (op, dtype) the type rules accept, as `coverage_key` names them.
fn required_coverage() -> BTreeSet<String> {
    let m = |d: DType| Type::new(d, Shape::known(&[2, 2]));
    let mut ops: Vec<Op> = UnaryOp::ALL.iter().map(|&u| Op::Unary(u)).collect();
    ops.extend(BinaryOp::ALL.iter().map(|&b| Op::Binary(b)));
    ops.extend(ReduceOp::ALL.iter().map(|&op| Op::Reduce {
        op,
        axes: vec![0],
        keepdims: false,
    }));
    ops.extend([
        Op::Select,
        Op::ArgMax { axis: 0 },
        Op::ArgMin { axis: 0 },
        Op::MatMul,
        Op::Transpose { perm: vec![1, 0] },
        Op::Reshape {
            shape: Shape::known(&[4]),
        },
        Op::BroadcastTo {
            shape: Shape::known(&[3, 2, 2]),
        },
        Op::Concat { axis: 0 },
        Op::OneHot { depth: 3 },
    ]);
    ops.extend(DType::ALL.iter().map(|&to| Op::Cast { to }));
    let mut required = BTreeSet::new();
    for op in &ops {
        for d in DType::ALL {
            let (t, cond) = (m(d), m(DType::Bool));
            let args: Vec<&Type> = match op.arity() {
                Some(1) | None => vec![&t],
                Some(2) => vec![&t, &t],
                _ => vec![&cond, &t, &t],
            };
            if infer(op, &args).is_ok() {
                required.insert(coverage_key(op, &args));
            }
        }
    }
    required
}

fn parse_op(name: &str, attrs: &Value) -> Result<Op, String> {
    if let Some(u) = UnaryOp::from_name(name) {
        return Ok(Op::Unary(u));
    }
    if let Some(b) = BinaryOp::from_name(name) {
        return Ok(Op::Binary(b));
    }
    if let Some(op) = name.strip_prefix("reduce_").and_then(ReduceOp::from_name) {
        let keepdims = attrs["keepdims"]
            .as_bool()
            .ok_or("keepdims must be a bool")?;
        return Ok(Op::Reduce {
            op,
            axes: usizes(&attrs["axes"])?,
            keepdims,
        });
    }
    let axis = || {
        attrs["axis"]
            .as_u64()
            .map(|a| a as usize)
            .ok_or("axis must be an integer")
    };
    let shape = || {
        usizes(&attrs["shape"])
            .map(|s| Shape::known(&s.iter().map(|&d| d as u64).collect::<Vec<_>>()))
    };
    Ok(match name {
        "select" => Op::Select,
        "argmax" => Op::ArgMax { axis: axis()? },
        "argmin" => Op::ArgMin { axis: axis()? },
        "matmul" => Op::MatMul,
        "transpose" => Op::Transpose {
            perm: usizes(&attrs["perm"])?,
        },
        "reshape" => Op::Reshape { shape: shape()? },
        "broadcast_to" => Op::BroadcastTo { shape: shape()? },
        "concat" => Op::Concat { axis: axis()? },
        "one_hot" => Op::OneHot {
            depth: attrs["depth"].as_u64().ok_or("depth must be an integer")?,
        },
        "cast" => Op::Cast {
            to: DType::from_name(string(&attrs["to"])?).ok_or("unknown dtype")?,
        },
        other => return Err(format!("unknown op {other}")),
    })
}

fn parse_tensor(v: &Value) -> Result<Tensor, String> {
    let dtype = DType::from_name(string(&v["dtype"])?).ok_or("unknown dtype")?;
    let shape = usizes(&v["shape"])?;
    let items = array(&v["data"])?;
    let floats = || {
        items
            .iter()
            .map(float)
            .collect::<Result<Vec<f64>, String>>()
    };
    let ints = || {
        items
            .iter()
            .map(|x| x.as_i64().ok_or(format!("{x} is not an integer")))
            .collect::<Result<Vec<i64>, String>>()
    };
    let data = match dtype {
        DType::F32 => Data::F32(floats()?.into_iter().map(|x| x as f32).collect()),
        DType::F64 => Data::F64(floats()?),
        DType::I32 => Data::I32(ints()?.into_iter().map(|x| x as i32).collect()),
        DType::I64 => Data::I64(ints()?),
        DType::Bool => Data::Bool(
            items
                .iter()
                .map(|x| x.as_bool().ok_or("not a bool"))
                .collect::<Result<_, _>>()?,
        ),
    };
    Tensor::new(shape, data).ok_or_else(|| "data does not fill the shape".into())
}

fn float(v: &Value) -> Result<f64, String> {
    match v {
        Value::String(s) => match s.as_str() {
            "nan" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(format!("bad float {s}")),
        },
        _ => v.as_f64().ok_or_else(|| format!("{v} is not a number")),
    }
}

fn usizes(v: &Value) -> Result<Vec<usize>, String> {
    array(v)?
        .iter()
        .map(|x| {
            x.as_u64()
                .map(|x| x as usize)
                .ok_or(format!("{x} is not a size"))
        })
        .collect()
}

fn array(v: &Value) -> Result<&Vec<Value>, String> {
    v.as_array().ok_or_else(|| format!("{v} is not a list"))
}

fn string(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| format!("{v} is not a string"))
}
