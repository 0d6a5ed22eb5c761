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
    tfg_passes::run_pipeline(&mut g, &tfg_passes::pipeline(), |_, _| {}).unwrap();
    let f = tfg_passes::fuse::fuse(&g);
    let k = tfg_passes::lower::lower(&g, &f).unwrap();
    tfg_ir::kernel::print(&k)
}
#[test]
fn dump() {
    for (p, d, t) in [("../../examples/hello.tfg", vec![], true), ("../../examples/linear_regression.tfg", vec![("N", 32)], true), ("../../examples/mlp_digits.tfg", vec![("N", 64), ("T", 360)], true)] {
        println!("=== {p} {t}\n{}", prog(p, &d, t));
    }
}
