fn main() {
    let kind = std::env::args().nth(1).unwrap();
    let d: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let src = match kind.as_str() {
        "paren" => format!("graph g {{ input x: f32\n y = {}x{} }}", "(".repeat(d), ")".repeat(d)),
        "call" => format!("graph g {{ input x: f32\n y = {}x{} }}", "exp(".repeat(d), ")".repeat(d)),
        "neg" => format!("graph g {{ input x: f32\n y = {}x }}", "-".repeat(d)),
        "sum" => format!("graph g {{ input x: f32\n y = {} }}", vec!["x"; d].join(" + ")),
        _ => panic!(),
    };
    let kb: usize = std::env::args().nth(3).unwrap().parse().unwrap();
    std::thread::Builder::new().stack_size(kb * 1024).spawn(move || { let _ = tfg_frontend::compile(&src); }).unwrap().join().unwrap();
    println!("ok");
}
