//! The driver as a library, in process, as a server or a trainer calls it:
//! no binary, no command line. Results are checked against numbers worked
//! out by hand and against the reference interpreter.

use tfg_driver::feed::{self, Feed, FeedValue};
use tfg_driver::train::{train_loop, Feeding, Trainer};
use tfg_driver::{backend, checkpoint, Backend, Dumps, Error, Session, Source};
use tfg_ir::Tensor;

const HELLO: &str = "graph hello {
    input x: f32 = 1.0
    param w: f32 = 0.8
    y    = w * x
    loss = (y - 0.0) ** 2
    output y, loss
}

train hello {
    minimize loss
    optimizer sgd(lr = 0.025)
    steps 100
}
";

fn source(text: &str) -> Source {
    Source::new("in_process.tfg", text)
}

fn scalar(t: &Tensor) -> f64 {
    t.data.get_f64(0)
}

fn dumps() -> Dumps {
    Dumps::to(&[], None)
}

/// The one graph of `text` with `x` fed, and a session with its params
/// initialised.
fn fed_x(text: &str, x: Tensor) -> (feed::Bound, Session) {
    let src = source(text);
    let module = src.compile().expect("compiles");
    let g = module.graph(None).expect("one graph");
    let feeds = [Feed {
        name: "x".into(),
        value: FeedValue::NpyLoaded(x),
    }];
    let bound = feed::bind(g, &feeds, &src, &|_| String::new()).expect("binds");
    let mut session = Session::default();
    session
        .init_missing(&bound.graph, 0, &src)
        .expect("initialises");
    (bound, session)
}

#[test]
fn a_graph_runs_on_every_host_backend_with_a_tensor_fed() {
    let x = Tensor::new(vec![], tfg_ir::Data::F32(vec![2.0])).expect("a scalar");
    let (bound, session) = fed_x(HELLO, x);
    for b in [Backend::Interp, Backend::Cpu] {
        let (exe, out) = backend::run_once(&bound, &session, b, None, &dumps()).expect("runs");
        let named = exe.named_outputs(&out.outputs);
        assert_eq!(named[0].0, "y");
        // y = w·x = 0.8·2 in f32, loss = y².
        assert_eq!(scalar(named[0].1), f64::from(0.8f32 * 2.0), "{b:?}");
        assert_eq!(
            scalar(named[1].1),
            f64::from((0.8f32 * 2.0).powi(2)),
            "{b:?}"
        );
    }
}

#[test]
fn training_in_process_follows_sgd_and_a_checkpoint_round_trips() {
    let src = source(HELLO);
    let module = src.compile().expect("compiles");
    let g = module.graph(None).expect("one graph");
    let spec = module.train("hello").expect("a train item");
    let bound = feed::bind(g, &[], &src, &|_| String::new()).expect("binds");
    let mut session = Session::default();
    session
        .init_missing(&bound.graph, 0, &src)
        .expect("initialises");
    let mut trainer = Trainer::new(g, spec, Backend::Cpu, dumps(), 0, &src).expect("builds");
    let mut feeding = Feeding::new(&trainer, spec, &[], &bound.inputs, 0, &src).expect("feeds");
    let mut seen = 0;
    let last = train_loop(&mut trainer, &mut session, &mut feeding, 100, &mut |r| {
        seen += 1;
        assert_eq!(r.step, seen);
    })
    .expect("trains");
    assert_eq!(seen, 100);
    // Each sgd step multiplies w by 1 - 2·0.025·x² = 0.95.
    let w = scalar(session.value("w").expect("w has a value"));
    let expected = 0.8 * 0.95f64.powi(100);
    assert!((w - expected).abs() <= 1e-6, "w = {w}, expected {expected}");
    assert!(scalar(&last) > 0.0);

    let dir = std::env::temp_dir().join(format!("tfg-driver-in-process-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let ckpt = dir.join("hello.safetensors");
    let params = tfg_driver::train::user_params(&bound.graph, &session).expect("params");
    checkpoint::save(&ckpt, &params).expect("saves");
    let mut restored = Session::default();
    checkpoint::restore(&ckpt, &bound.graph, &mut restored, &src).expect("restores");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(restored.value("w"), session.value("w"));
}

#[test]
fn errors_are_values_that_point_into_the_source() {
    let src = source("graph g {\n    y = w * 2.0\n    output y\n}\n");
    let err = src.compile().expect_err("`w` is not defined");
    let Error::Diagnostics { name, diags, .. } = &err else {
        panic!("a diagnostic, not {err:?}");
    };
    assert_eq!(name, "in_process.tfg");
    assert!(diags[0].message.contains("unknown name `w`"), "{err}");
    // Rendered without colour, it names the file, line and column.
    assert!(
        err.render(false).contains("in_process.tfg:2:9"),
        "{}",
        err.render(false)
    );
}

/// A dense layer whose weight is stored transposed and scaled, as imported
/// models often have it: on `cpu` the params-only part runs apart.
/// `x @ (transpose(w) * s)` for an `x` of `rows × cols` and `outs` outputs:
/// the scaled transpose is params-only work (a prologue's).
fn dense(rows: usize, cols: usize, outs: usize) -> String {
    format!(
        "graph dense {{
    input x: f32[{rows}, {cols}]
    param w: f32[{outs}, {cols}] = normal(std = 0.5)
    param s: f32 = 1.5
    y = x @ (transpose(w) * s)
    output y
}}
"
    )
}

#[test]
fn runs_on_loaded_params_equal_runs_given_them_and_the_interpreter() {
    let x = Tensor::new(
        vec![2, 4],
        tfg_ir::Data::F32(vec![1.0, -2.0, 0.5, 3.0, -1.5, 0.25, 2.0, -0.75]),
    )
    .expect("a matrix");
    let (bound, session) = fed_x(&dense(2, 4, 3), x);
    let (_, want) =
        backend::run_once(&bound, &session, Backend::Interp, None, &dumps()).expect("interprets");
    let mut exe = backend::prepare(Backend::Cpu, bound.graph.clone(), &dumps()).expect("compiles");
    assert!(
        tfg_passes::prologue::split(exe.graph()).is_some(),
        "the scaled transpose is params-only work"
    );
    let inputs = bound.inputs_for(exe.graph()).expect("inputs");
    let params = session.params_for(exe.graph()).expect("params");
    let given = exe.run(&inputs, &params).expect("runs");
    exe.load_params(params).expect("loads");
    for _ in 0..2 {
        let loaded = exe.run_loaded(&inputs).expect("runs on loaded params");
        assert_eq!(loaded.outputs, given.outputs);
    }
    let (w, g) = (&want.outputs[0], &given.outputs[0]);
    for i in 0..w.numel() {
        let (a, b) = (w.data.get_f64(i), g.data.get_f64(i));
        assert!(
            (a - b).abs() <= 1e-5 * a.abs().max(1.0),
            "element {i}: {b} vs {a}"
        );
    }
    // The loaded params are the ones given, not the prologue's derived values.
    assert_eq!(exe.params().expect("params").len(), 2);
}

/// The CPU code keeps each GEMM's param operand packed across runs on loaded
/// params (`tfg_rt::packed`); params loaded again are packed again.
#[test]
fn runs_on_reloaded_params_use_the_new_params() {
    let x = Tensor::new(
        vec![8, 32],
        tfg_ir::Data::from_f64(tfg_ir::DType::F32, (0..256).map(|i| f64::from(i % 7) - 3.0)),
    )
    .expect("a matrix");
    let (bound, session) = fed_x(&dense(8, 32, 24), x);
    let mut exe = backend::prepare(Backend::Cpu, bound.graph.clone(), &dumps()).expect("compiles");
    let inputs = bound.inputs_for(exe.graph()).expect("inputs");
    let first = session.params_for(exe.graph()).expect("params");
    // The same params with `w` negated and halved.
    let second: Vec<Tensor> = first
        .iter()
        .map(|t| match t.shape.len() {
            2 => Tensor::new(
                t.shape.clone(),
                tfg_ir::Data::from_f64(
                    tfg_ir::DType::F32,
                    (0..t.numel()).map(|i| -0.5 * t.data.get_f64(i)),
                ),
            )
            .expect("a matrix"),
            _ => t.clone(),
        })
        .collect();
    let close = |got: &Tensor, want: &Tensor, what: &str| {
        for i in 0..want.numel() {
            let (a, b) = (want.data.get_f64(i), got.data.get_f64(i));
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "{what}, element {i}: {b} vs {a}"
            );
        }
    };
    for params in [&first, &second, &first] {
        let given = exe.run(&inputs, params).expect("runs");
        exe.load_params(params.clone()).expect("loads");
        for _ in 0..2 {
            let loaded = exe.run_loaded(&inputs).expect("runs on loaded params");
            close(&loaded.outputs[0], &given.outputs[0], "loaded");
        }
    }
    let y = |params: &[Tensor], exe: &mut backend::Executable| {
        exe.run(&inputs, params).expect("runs").outputs.remove(0)
    };
    let (y1, y2) = (y(&first, &mut exe), y(&second, &mut exe));
    // Negated and halved: the runs above saw different params.
    close(
        &y2,
        &Tensor::new(
            y1.shape.clone(),
            tfg_ir::Data::from_f64(
                tfg_ir::DType::F32,
                (0..y1.numel()).map(|i| -0.5 * y1.data.get_f64(i)),
            ),
        )
        .expect("a matrix"),
        "second params",
    );
}
