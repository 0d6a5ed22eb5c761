//! The CLIF the JIT generates for W1's elementwise kernel,
//! `y = tanh(0.5*x + 0.1) * sigmoid(x) + x*x` over f32[1000]: one loop of
//! f32x4 vectors (the math inline) and its scalar tail.

#[test]
fn w1_is_one_vectorised_loop_and_a_scalar_tail() {
    let g = tfg_testkit::build::elementwise(&[1000]);
    let p = tfg_testkit::kernel_ir(&g).expect("lowers");
    // Without FMA the text is the same on every x86-64 host.
    let opts = tfg_cpu::Options {
        fma: false,
        ..Default::default()
    };
    let text = tfg_cpu::clif_with(&p, &opts).expect("translates");
    // x is read once a vector step and once a tail step; y written likewise.
    assert_eq!(text.matches("load.f32x4").count(), 1, "{text}");
    assert_eq!(text.matches("load.f32 ").count(), 1, "{text}");
    assert_eq!(
        text.matches("store notrap v").count() + text.matches("store notrap aligned").count(),
        2,
        "{text}"
    );
    // No runtime calls: tanh and sigmoid are inline.
    assert!(!text.contains("call "), "{text}");
    insta::assert_snapshot!(text);
}

/// A one-kernel program over `n` elements of each listed dtype: buffer `bi`
/// is input `i` for `i < inputs.len()`, then come the outputs.
fn program(inputs: &[&str], outputs: &[&str], n: u64, body: &str) -> tfg_ir::kernel::Program {
    let mut text = String::from("program {\n");
    for (i, d) in inputs.iter().enumerate() {
        text.push_str(&format!("buffer b{i}: {d}[{n}] input {i}\n"));
    }
    for (j, d) in outputs.iter().enumerate() {
        text.push_str(&format!(
            "buffer b{}: {d}[{n}] output {j}\n",
            inputs.len() + j
        ));
    }
    let reads: Vec<String> = (0..inputs.len()).map(|i| format!("b{i}")).collect();
    let writes: Vec<String> = (0..outputs.len())
        .map(|j| format!("b{}", inputs.len() + j))
        .collect();
    text.push_str(&format!(
        "arena 0\nkernel k reads {} writes {} {{\n{body}\n}}\n}}\n",
        reads.join(", "),
        writes.join(", ")
    ));
    tfg_ir::kernel::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Kernels whose innermost loop must compile to vectors on any x86-64 host:
/// if Cranelift could not encode them, the JIT would silently fall back to
/// scalar code, and these would fail.
#[test]
fn kernels_of_every_dtype_compile_to_vectors() {
    let cases = [
        (vec!["f32", "f32"], vec!["bool"], "parallel for i0 in 0..19 { store b2[i0] = lt(b0[i0], b1[i0]) }", "i32x4"),
        (vec!["f64", "f64"], vec!["bool"], "parallel for i0 in 0..19 { store b2[i0] = ne(b0[i0], b1[i0]) }", "f64x2"),
        (vec!["bool", "i32", "i32"], vec!["i32"], "parallel for i0 in 0..19 { store b3[i0] = select(b0[i0], b1[i0], b2[i0]) }", "i32x4"),
        (vec!["bool"], vec!["bool"], "parallel for i0 in 0..19 { store b1[i0] = not(b0[i0]) }", "swiden_low"),
        (vec!["i64", "i64"], vec!["i64"], "parallel for i0 in 0..19 { store b2[i0] = add(b0[i0], b1[i0]) }", "i64x2"),
        (vec!["f32"], vec!["i32"], "parallel for i0 in 0..19 { store b1[i0] = cast<i32>(floor(b0[i0])) }", "i32x4"),
        (vec!["i32"], vec!["f32"], "parallel for i0 in 0..19 { store b1[i0] = cast<f32>(maximum(b0[i0], 0i32)) }", "f32x4"),
        (vec!["bool"], vec!["f64"], "parallel for i0 in 0..19 { store b1[i0] = cast<f64>(b0[i0]) }", "f64x2"),
        (vec!["f64"], vec!["f64"], "parallel for i0 in 0..19 { store b1[i0] = sign(sqrt(abs(b0[i0]))) }", "f64x2"),
        (
            vec!["f32"],
            vec!["f64"],
            "let t0: f64 = 0.0f64\nreduce(t0: add) for i0 in 0..19 { t0 = add(t0, cast<f64>(exp(b0[i0]))) }\nstore b1[0] = t0",
            "fvpromote_low",
        ),
        (vec!["i32"], vec!["i32"], "let t0: i32 = 0i32\nreduce(t0: maximum) for i0 in 0..19 { t0 = maximum(t0, b0[i0]) }\nstore b1[0] = t0", "i32x4"),
    ];
    for (inputs, outputs, body, expect) in cases {
        let p = program(&inputs, &outputs, 19, body);
        let text = tfg_cpu::clif(&p).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert!(text.contains(expect), "{body}: no {expect} in\n{text}");
    }
}
