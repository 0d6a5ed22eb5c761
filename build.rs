//! Link options of the `tfg` binary, for its resident memory at start-up
//! (docs/performance.md, W6). The `llvm` build links LLVM statically, and its
//! ~380 static constructors run before `main` in every process, CPU-only runs
//! included; what they touch becomes resident.

fn main() {
    // Keep the constructors' code (`.text.startup.*`) together instead of
    // scattered over 37 MB of code: fewer pages touched (rust-lld, unlike
    // GNU ld's default script, does not group by prefix unless told).
    println!("cargo:rustc-link-arg-bins=-Wl,-z,keep-text-section-prefix");
    // 90,000 relative relocations (vtables, mostly LLVM's) as a compact RELR
    // table (glibc 2.36+) rather than 2 MB of RELA entries read at start-up.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
