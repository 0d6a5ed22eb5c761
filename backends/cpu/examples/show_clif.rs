//! Prints the CLIF (or, with `--asm`, the machine code) that the JIT makes
//! of a Kernel IR program in text form:
//! `cargo run -p tfg-cpu --example show_clif -- FILE [--asm]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: show_clif FILE [--asm]");
        std::process::exit(2);
    };
    let asm = args.next().as_deref() == Some("--asm");
    let shown = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| tfg_ir::kernel::parse(&text).map_err(|e| e.to_string()))
        .and_then(|p| {
            if asm {
                tfg_cpu::asm(&p)
            } else {
                tfg_cpu::clif(&p)
            }
            .map_err(|e| e.to_string())
        });
    match shown {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
