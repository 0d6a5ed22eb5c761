fn main() {
    let path = std::env::args().nth(1).unwrap();
    let src = std::fs::read_to_string(&path).unwrap();
    match tfg_frontend::compile(&src) {
        Ok(p) => {
            for g in &p.graphs {
                println!("graph {}", g.name);
                for (i, n) in g.nodes.iter().enumerate() {
                    println!("  %{i} {:?} {:?} : {} name={:?} loc={:?}", n.op, n.args, n.ty, n.name, n.loc.map(|l| (l.line, l.col)));
                }
                println!("  outputs {:?}", g.outputs);
            }
            for t in &p.trains { println!("{t:?}"); }
        }
        Err(d) => print!("{}", tfg_frontend::diag::render(&d, &path, &src, false)),
    }
}
