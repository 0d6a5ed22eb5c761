//! The builtins for real models, against references tfg did not compute:
//! - TensorFlow goldens (`tests/golden/tensorflow.json`, written by
//!   `tests/golden/make_tensorflow_goldens.py`) for `conv2d`, depthwise and
//!   grouped convolution, `max_pool`, `avg_pool`, and the `rmsprop`,
//!   `adagrad`, `exponential_decay` and `clip_norm` training rules;
//! - numpy (`tests/python/breadth_cases.py`) for the elementwise, reduction,
//!   shape and indexing builtins;
//! - central finite differences (float64, in process) for every gradient.
//!
//! Every value check runs on the interpreter and on the CPU backend.

mod common;

use common::{numpy, python, report, scratch, tfg, tfg_ok};
use serde_json::Value;
use std::path::Path;
use tfg_ir::{Data, Tensor};

const BACKENDS: [&str; 2] = ["interp", "cpu"];

fn goldens() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tensorflow.json");
    let text = std::fs::read_to_string(path).expect("the goldens are committed");
    serde_json::from_str(&text).expect("the goldens are JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("a shape")
        .iter()
        .map(|d| d.as_u64().expect("a dim") as usize)
        .collect()
}

/// Writes the golden tensor `t` (shape and data) as an f32 `.npy` file.
fn write_f32(dir: &Path, name: &str, t: &Value) -> String {
    let data: Vec<f32> = floats(&t["data"]).iter().map(|&x| x as f32).collect();
    let tensor = Tensor::new(shape(&t["shape"]), Data::F32(data)).expect("a tensor");
    let path = dir.join(format!("{name}.npy"));
    tfg_formats::npy::write(&path, &tensor).expect("writable");
    format!("{name}={}", path.display())
}

/// `got` within `rtol` of `want` (relative, with an absolute floor of
/// `rtol` for values near zero).
fn assert_close(what: &str, got: &[f64], want: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: element counts differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= rtol * w.abs().max(1.0);
        assert!(ok, "{what}[{i}]: got {g}, want {w}");
    }
}

#[test]
fn convolutions_match_tensorflow() {
    let dir = scratch("convolutions_match_tensorflow");
    for (k, case) in goldens()["conv2d"]
        .as_array()
        .expect("cases")
        .iter()
        .enumerate()
    {
        let kwargs = case["kwargs"].as_str().expect("text");
        let x = &case["x"];
        let w = &case["w"];
        let dims = |t: &Value| {
            let s: Vec<String> = shape(&t["shape"]).iter().map(|d| d.to_string()).collect();
            s.join(", ")
        };
        let program = dir.join(format!("conv{k}.tfg"));
        std::fs::write(
            &program,
            format!(
                "graph conv {{\n    input x: f32[{}]\n    input w: f32[{}]\n    output y = conv2d(x, w, {kwargs})\n}}\n",
                dims(x),
                dims(w)
            ),
        )
        .expect("writable");
        let feeds = [write_f32(&dir, "x", x), write_f32(&dir, "w", w)];
        let what = format!("conv2d(x, w, {kwargs})");
        assert_y_matches(&program, &feeds, &case["y"], &what, 1e-4);
    }
}

/// The output `y` of `program` run with `feeds` on every backend: the shape
/// of `want` and its data within `rtol`.
fn assert_y_matches(program: &Path, feeds: &[String], want: &Value, what: &str, rtol: f64) {
    for backend in BACKENDS {
        let mut args = vec!["run", program.to_str().expect("UTF-8")];
        for f in feeds {
            args.extend(["--feed", f]);
        }
        args.extend(["--json", "--backend", backend]);
        let out = report(&tfg_ok(&args));
        let y = &out["outputs"]["y"];
        let what = format!("{what} on {backend}");
        assert_eq!(shape(&y["shape"]), shape(&want["shape"]), "{what}");
        assert_close(&what, &floats(&y["data"]), &floats(&want["data"]), rtol);
    }
}

/// The 3 × 3 convolutions large enough for Winograd's F(2×2, 3×3) (odd
/// sizes, both paddings, explicit uneven pads, a batch of 2) against numpy's
/// direct sum over the taps, on every backend.
#[test]
fn winograd_convolutions_match_numpy() {
    let Some(py) = numpy() else { return };
    let dir = scratch("winograd_convolutions_match_numpy");
    let dir_arg = dir.to_str().expect("UTF-8");
    python(&py, "winograd_cases.py", &[dir_arg, "7"]);
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("cases.json")).expect("written by the script"),
    )
    .expect("JSON");
    for (k, want) in cases.as_array().expect("cases").iter().enumerate() {
        let feeds = [
            format!("x={dir_arg}/x{k}.npy"),
            format!("w={dir_arg}/w{k}.npy"),
        ];
        let program = dir.join(format!("conv{k}.tfg"));
        assert_y_matches(&program, &feeds, want, &format!("Winograd case {k}"), 1e-4);
    }
}

#[test]
fn pooling_matches_tensorflow() {
    let dir = scratch("pooling_matches_tensorflow");
    for case in goldens()["pool"].as_array().expect("cases") {
        let call = case["call"].as_str().expect("text");
        let program = dir.join("pool.tfg");
        std::fs::write(
            &program,
            format!("graph pool {{\n    input x: f32[2, 7, 6, 3]\n    output y = {call}\n}}\n"),
        )
        .expect("writable");
        let feed = write_f32(&dir, "x", &case["x"]);
        assert_y_matches(&program, &[feed], &case["y"], call, 1e-5);
    }
}

/// A `.tfg` literal of a golden tensor.
fn literal(t: &Value) -> String {
    let data: Vec<String> = floats(&t["data"])
        .iter()
        .map(|&x| format!("{:?}", x as f32))
        .collect();
    match shape(&t["shape"]).as_slice() {
        [] => data[0].clone(),
        [_] => format!("[{}]", data.join(", ")),
        [_, cols] => {
            let rows: Vec<String> = data
                .chunks(*cols)
                .map(|r| format!("[{}]", r.join(", ")))
                .collect();
            format!("[{}]", rows.join(", "))
        }
        other => panic!("no literal for rank {}", other.len()),
    }
}

#[test]
fn optimizers_schedules_and_clipping_match_tensorflow() {
    let dir = scratch("optimizers_schedules_and_clipping_match_tensorflow");
    let g = goldens();
    let o = &g["optimizers"];
    for case in o["cases"].as_array().expect("cases") {
        let optimizer = case["optimizer"].as_str().expect("text");
        let clip = match case["clip_norm"].as_f64() {
            Some(c) => format!("    clip_norm {c:?}\n"),
            None => String::new(),
        };
        let steps = case["steps"].as_u64().expect("steps");
        let program = dir.join("fit.tfg");
        std::fs::write(
            &program,
            format!(
                "graph fit {{
    input x: f32[4, 3] = {x}
    input y: f32[4] = {y}
    param w: f32[3] = {w0}
    param b: f32 = {b0:?}
    loss = mean(square(x @ w + b - y))
    output loss
}}
train fit {{
    minimize loss
    optimizer {optimizer}
    steps {steps}
{clip}}}
",
                x = literal(&o["x"]),
                y = literal(&o["y"]),
                w0 = literal(&o["w0"]),
                b0 = o["b0"].as_f64().expect("b0") as f32,
            ),
        )
        .expect("writable");
        for backend in BACKENDS {
            let out = report(&tfg_ok(&[
                "train",
                program.to_str().expect("UTF-8"),
                "--json",
                "--backend",
                backend,
            ]));
            let what = format!("{optimizer} {clip} on {backend}");
            for p in ["w", "b"] {
                assert_close(
                    &format!("{what}: {p}"),
                    &floats(&out["params"][p]["data"]),
                    &floats(&case[p]["data"]),
                    1e-5,
                );
            }
        }
    }
}

#[test]
fn builtins_match_numpy() {
    let Some(py) = numpy() else { return };
    let dir = scratch("builtins_match_numpy");
    let dir_arg = dir.to_str().expect("UTF-8");
    python(&py, "breadth_cases.py", &[dir_arg, "5"]);
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("written by the script"),
    )
    .expect("JSON");
    let program = dir.join("cases.tfg");
    let feeds: Vec<String> = ["a", "p", "t", "c", "ib", "ii", "idx"]
        .iter()
        .map(|n| format!("{n}={dir_arg}/{n}.npy"))
        .collect();
    for backend in BACKENDS {
        let mut args = vec!["run", program.to_str().expect("UTF-8")];
        for f in &feeds {
            args.extend(["--feed", f]);
        }
        args.extend(["--json", "--backend", backend]);
        let out = report(&tfg_ok(&args));
        for (name, want) in expected.as_object().expect("cases") {
            let got = &out["outputs"][name];
            let what = format!("{} on {backend}", want["expr"].as_str().expect("text"));
            assert_eq!(shape(&got["shape"]), shape(&want["shape"]), "{what}");
            let rtol = want["rtol"].as_f64().expect("rtol");
            let (g, w) = (
                got["data"].as_array().expect("data"),
                want["data"].as_array().expect("data"),
            );
            if w.first().is_some_and(Value::is_boolean) || got["dtype"] != "f32" || rtol == 0.0 {
                // Exact: booleans and integers as they are, floats as f32 bits.
                let exact = |v: &Value| match v {
                    Value::Number(n) => Value::from(n.as_f64().map_or(0.0, |x| x as f32 as f64)),
                    other => other.clone(),
                };
                let g: Vec<Value> = g.iter().map(exact).collect();
                let w: Vec<Value> = w.iter().map(exact).collect();
                assert_eq!(g, w, "{what}");
            } else {
                assert_close(&what, &floats(&got["data"]), &floats(&want["data"]), rtol);
            }
        }
    }
}

/// Float `%` on signed zeros, infinities, NaN and extreme magnitudes equals
/// numpy's `np.mod`, on every backend: special results exactly (any NaN for
/// NaN), ordinary ones up to the rounding stated below.
#[test]
fn float_remainder_matches_numpy_on_special_values() {
    let Some(py) = numpy() else { return };
    let dir = scratch("float_remainder_matches_numpy_on_special_values");
    let dir_arg = dir.to_str().expect("UTF-8");
    python(&py, "remainder_cases.py", &[dir_arg]);
    for dtype in ["f32", "f64"] {
        let read = |name: &str| {
            tfg_formats::npy::read(&dir.join(format!("{name}_{dtype}.npy"))).expect("written")
        };
        let want = read("want");
        let n = want.shape[0];
        let program = dir.join(format!("mod_{dtype}.tfg"));
        let src = format!(
            "graph m {{\n    input a: {dtype}[{n}]\n    input b: {dtype}[{n}]\n    r = a % b\n    output r\n}}\n"
        );
        std::fs::write(&program, src).expect("writable");
        for backend in BACKENDS {
            let out = dir.join(format!("out_{dtype}_{backend}"));
            let (a, b) = (
                format!("a={dir_arg}/a_{dtype}.npy"),
                format!("b={dir_arg}/b_{dtype}.npy"),
            );
            tfg_ok(&[
                "run",
                program.to_str().expect("UTF-8"),
                "--feed",
                &a,
                "--feed",
                &b,
                "--out",
                out.to_str().expect("UTF-8"),
                "--backend",
                backend,
            ]);
            let got = tfg_formats::npy::read(&out.join("r.npy")).expect("written by tfg");
            let (a, b) = (read("a"), read("b"));
            assert_eq!(got.shape, want.shape, "{dtype} on {backend}");
            // Special results (NaN, infinities, zeros with their sign) must
            // be numpy's exactly. Ordinary ones may differ by the rounding of
            // `floor(a / b) * b`, which numpy's exact fmod does not have: a
            // few units in the last place of the larger operand.
            let eps = if dtype == "f32" {
                f32::EPSILON as f64
            } else {
                f64::EPSILON
            };
            for i in 0..n {
                let (x, y) = (a.data.get_f64(i), b.data.get_f64(i));
                let (g, w) = (got.data.get_f64(i), want.data.get_f64(i));
                let what = format!("{dtype} on {backend}: {x:?} % {y:?}: got {g:?}, numpy {w:?}");
                if w.is_nan() {
                    assert!(g.is_nan(), "{what}");
                } else if !w.is_finite() || w == 0.0 || !g.is_finite() || g == 0.0 {
                    // Widening f32 to f64 keeps the sign of zero: compare bits.
                    assert_eq!(g.to_bits(), w.to_bits(), "{what}");
                } else {
                    let tol = 4.0 * eps * x.abs().max(y.abs());
                    assert!((g - w).abs() <= tol, "{what}");
                }
            }
        }
    }
}

/// `dy/dx` by autodiff and by central differences, for `y` a scalar
/// expression of f64 inputs `x` and `w`, in process on the interpreter.
fn check_gradient(loss: &str, x_dims: &[usize], w_dims: &[usize], seed: u64) {
    let ty = |d: &[usize]| {
        let s: Vec<String> = d.iter().map(usize::to_string).collect();
        format!("f64[{}]", s.join(", "))
    };
    let src = format!(
        "graph g {{\n    input x: {}\n    input w: {}\n    loss = {loss}\n    gx = grad(loss, x)\n    gw = grad(loss, w)\n    output loss, gx, gw\n}}\n",
        ty(x_dims),
        ty(w_dims)
    );
    let module = tfg_frontend::compile(&src).unwrap_or_else(|d| panic!("{loss}: {d:?}"));
    let mut g = module.graphs[0].clone();
    tfg_passes::autodiff::expand_grads(&mut g).expect("gradients");
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut random = |n: usize| -> Vec<f64> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
            })
            .collect()
    };
    let tensor =
        |d: &[usize], v: Vec<f64>| Tensor::new(d.to_vec(), Data::F64(v)).expect("a tensor");
    let x = random(x_dims.iter().product());
    let w = random(w_dims.iter().product());
    let run = |x: &[f64], w: &[f64]| -> Vec<Tensor> {
        let inputs = [tensor(x_dims, x.to_vec()), tensor(w_dims, w.to_vec())];
        tfg_interp::run(&g, &inputs, &[])
            .unwrap_or_else(|e| panic!("{loss}: {e:?}"))
            .outputs
    };
    let base = run(&x, &w);
    let h = 1e-6;
    for (k, (v, other)) in [(&x, &w), (&w, &x)].into_iter().enumerate() {
        // Every coordinate of a small operand; about 32 spread over a large
        // one (a Winograd convolution's), each a run of the whole graph.
        let step = if v.len() > 256 {
            v.len().div_ceil(32)
        } else {
            1
        };
        for j in (0..v.len()).step_by(step) {
            let at = |delta: f64| {
                let mut moved = v.clone();
                moved[j] += delta;
                let out = if k == 0 {
                    run(&moved, other)
                } else {
                    run(other, &moved)
                };
                out[0].data.get_f64(0)
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            let analytic = base[1 + k].data.get_f64(j);
            assert!(
                (analytic - numeric).abs() <= 1e-5 * numeric.abs().max(1.0),
                "{loss}: d/d{}[{j}]: autodiff {analytic}, finite differences {numeric}",
                ["x", "w"][k]
            );
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    let cases: &[(&str, &[usize], &[usize])] = &[
        ("sum(square(conv2d(x, w, stride = [2, 1], padding = \"same\", groups = 2)))", &[1, 6, 5, 4], &[3, 2, 2, 6]),
        ("sum(square(conv2d(x, w, padding = [[1, 0], [2, 1]], dilation = 2)))", &[2, 6, 6, 2], &[2, 2, 2, 3]),
        ("sum(square(conv2d(x, w, padding = \"same\", groups = 3)))", &[1, 5, 5, 3], &[2, 2, 1, 3]),
        // Winograd's F(2×2, 3×3): 32 channels in and out, 6 × 6 tiles.
        ("sum(square(conv2d(x, w, padding = \"same\")))", &[1, 12, 11, 32], &[3, 3, 32, 32]),
        ("sum(square(max_pool(x, 2, stride = 1, padding = \"same\") * w)) + sum(avg_pool(x * x, 3, stride = 2, padding = \"same\"))", &[1, 6, 5, 2], &[2]),
        ("sum(square(x[1:, ::-2])) + sum(x[..., 0] * 3.0) + sum(w[::-1] * x[0, :3])", &[4, 5], &[3]),
        ("sum(square(pad(x, [[1, 0], [2, 1]]) * 1.5)) + sum(tile(x, [2, 1]) * 2.0) + sum(square(stack([w, w * 2.0], axis = 1))) + sum(cumsum(x, axis = 1) * x)", &[3, 4], &[4]),
        ("sum(square(take(x, [[0, 4], [9, -2]], axis = 0))) + sum(take(w, [2, 2, 0]) * w[0])", &[5, 3], &[3]),
        ("sum(log1p(square(x)) + expm1(x * 0.5) + erf(x) + gelu(x) + gelu(x, approximate = true))", &[3, 4], &[4]),
        ("sum(softplus(x) + silu(x) + elu(x) + leaky_relu(x) + clip(x, -0.5, 0.5) * w)", &[3, 4], &[4]),
        ("sum(logsumexp(x, axis = 1)) + sum(var(x, 0)) + std(x) + sum(x % 0.7) + sum(w * w)", &[3, 4], &[4]),
    ];
    for (k, (loss, x, w)) in cases.iter().enumerate() {
        check_gradient(loss, x, w, k as u64 + 1);
    }
}

#[test]
fn stop_gradient_blocks_only_the_gradient() {
    let src = "graph g {
    input x: f32[3] = [1.0, -2.0, 0.5]
    input w: f32[3] = [3.0, 0.25, -1.0]
    loss = sum(x * stop_gradient(x * w))
    gx = grad(loss, x)
    gw = grad(loss, w)
    output loss, gx, gw
}
";
    let dir = scratch("stop_gradient_blocks_only_the_gradient");
    let file = dir.join("sg.tfg");
    std::fs::write(&file, src).expect("writable");
    for backend in BACKENDS {
        let out = report(&tfg_ok(&[
            "run",
            file.to_str().expect("UTF-8"),
            "--json",
            "--backend",
            backend,
        ]));
        // loss = Σ x²·w; the gradient flows only through the first x: x·w.
        assert_eq!(floats(&out["outputs"]["loss"]["data"]), [3.0 + 1.0 - 0.25]);
        assert_eq!(floats(&out["outputs"]["gx"]["data"]), [3.0, -0.5, -0.5]);
        assert_eq!(floats(&out["outputs"]["gw"]["data"]), [0.0, 0.0, 0.0]);
    }
}

#[test]
fn bad_indices_and_windows_are_errors_with_a_place() {
    let dir = scratch("bad_indices_and_windows_are_errors_with_a_place");
    let cases = [
        (
            "y = x[3]",
            "index 3 is out of range for axis 0 of f32[3, 4], of size 3",
        ),
        (
            "y = x[0, -5]",
            "index -5 is out of range for axis 1 of f32[3, 4], of size 4",
        ),
        ("y = x[::0]", "a slice step cannot be 0"),
        (
            "y = x[0, 1, 2]",
            "3 indices for f32[3, 4], which has 2 axes",
        ),
        ("y = x[..., ...]", "an index can have only one `...`"),
        (
            "y = b[1:]",
            "axis 0 of f32[B, 4] has the symbolic size `B`; only `:` can index it",
        ),
        ("y = conv2d(i, k, groups = 2)", "`conv2d` with groups = 2"),
        ("y = max_pool(i, 9)", "does not fit in 5 rows of input"),
        ("y = conv2d(i, k, padding = \"full\")", "`padding` must be"),
        ("y = take(x, [0.5])", "`take` needs i32 or i64 indices"),
        ("y = pad(x, [[1, 2]])", "`pad` needs widths"),
    ];
    for (k, (stmt, message)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad{k}.tfg"));
        std::fs::write(
            &file,
            format!("graph g {{\n    input x: f32[3, 4]\n    input b: f32[B, 4]\n    input i: f32[1, 5, 5, 3]\n    input k: f32[3, 3, 3, 2]\n    {stmt}\n    output y\n}}\n"),
        )
        .expect("writable");
        let run = tfg(&["check", file.to_str().expect("UTF-8")]);
        assert_eq!(run.status, 1, "{stmt}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{stmt}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("bad{k}.tfg:6:")),
            "{stmt}: {}",
            run.stderr
        );
    }
}

#[test]
fn the_cnn_example_learns_the_digits() {
    let out = report(&tfg_ok(&["train", "examples/cnn_digits.tfg", "--json"]));
    let accuracy = floats(&out["outputs"]["accuracy"]["data"])[0];
    assert!(accuracy >= 0.98, "test accuracy {accuracy}");
}
