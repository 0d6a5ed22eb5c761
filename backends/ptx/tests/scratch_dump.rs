use std::collections::BTreeMap;
fn prog(path: &str, dims: &[(&str, u64)], train: bool) -> String {
    let src = std::fs::read_to_string(path).unwrap();
    let p = tfg_frontend::compile(&src).map_err(|_| "parse").unwrap();
    let g = p.graph(None).unwrap().clone();
    let mut g = if train {
        let spec = p.train(&g.name).unwrap();
        tfg_passes::train_step::build_train_step(&g, spec).unwrap().graph
    } else { g };
    let dims: BTreeMap<String, u64> = dims.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    g = tfg_ir::specialize(&g, &dims).unwrap();
    tfg_ir::kernel::print(&to_kernel(g))
}
#[test]
fn dump() {
    for (p, d, t) in [("../../examples/hello.tfg", vec![], true), ("../../examples/linear_regression.tfg", vec![("N", 32)], true), ("../../examples/mlp_digits.tfg", vec![("N", 64), ("T", 360)], true)] {
        println!("=== {p} {t}\n{}", prog(p, &d, t));
    }
}
fn lowered(path: &str, dims: &[(&str, u64)], train: bool) -> tfg_ir::kernel::Program {
    let src = std::fs::read_to_string(path).unwrap();
    let p = tfg_frontend::compile(&src).map_err(|_| "parse").unwrap();
    let g = p.graph(None).unwrap().clone();
    let mut g = if train {
        let spec = p.train(&g.name).unwrap();
        tfg_passes::train_step::build_train_step(&g, spec).unwrap().graph
    } else { g };
    let dims: BTreeMap<String, u64> = dims.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    g = tfg_ir::specialize(&g, &dims).unwrap();
    to_kernel(g)
}
#[test]
fn ptx() {
    for (p, d, t) in [("../../examples/hello.tfg", vec![], true), ("../../examples/linear_regression.tfg", vec![("N", 32)], true), ("../../examples/mlp_digits.tfg", vec![("N", 64), ("T", 360)], true)] {
        let prog = lowered(p, &d, t);
        let m = tfg_ptx::compile_ptx(&prog, "sm_80").unwrap();
        let name = std::path::Path::new(p).file_stem().unwrap().to_str().unwrap();
        std::fs::write(format!("/tmp/{name}.ptx"), &m.ptx).unwrap();
        std::fs::write(format!("/tmp/{name}.json"), m.manifest.to_json()).unwrap();
        std::fs::write(format!("/tmp/{name}.ll"), tfg_ptx::llvm_ir(&prog).unwrap()).unwrap();
    }
}

fn to_kernel(g: tfg_ir::Graph) -> tfg_ir::kernel::Program {
    let mut ir = tfg_passes::Ir::Graph(g);
    tfg_passes::run_pipeline(&mut ir, &tfg_passes::pipeline(), &tfg_passes::Options::default(), |_, _, _| {}).unwrap();
    ir.into_program().unwrap()
}
