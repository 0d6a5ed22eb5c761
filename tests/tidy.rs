//! The architecture invariants of docs/architecture.md that a grep can
//! check, checked on every test run so that they stay true:
//! - the compiler crates (`ir`, `frontend`, `passes`, the backends' compiler
//!   crates) touch no files: file I/O belongs to `formats`, `driver`, the
//!   binary and the C runtime;
//! - library code does not panic: no `unwrap()`, `expect(…)`, `panic!`,
//!   `todo!` or `unimplemented!` outside tests, except where a comment on the
//!   line before says `Invariant:` and why it cannot fire.
//!
//! Test modules (`#[cfg(test)]` to the end of a file) and test-support files
//! are not library code.

use std::path::{Path, PathBuf};

/// The crates whose `src/` may not touch files.
const NO_FILE_IO: &[&str] = &[
    "ir",
    "frontend",
    "onnx",
    "passes",
    "picture",
    "backends/interp",
    "backends/cpu",
    "backends/ptx",
];

/// Every library crate: no panicking calls.
const LIBRARIES: &[&str] = &[
    "ir",
    "frontend",
    "onnx",
    "passes",
    "picture",
    "formats",
    "driver",
    "serve",
    "backends/interp",
    "backends/cpu",
    "backends/cpu/runtime",
    "backends/ptx",
];

/// Files that exist to support tests (random graph generators).
const TEST_SUPPORT: &[&str] = &["ir/src/arbitrary.rs"];

const FILE_IO: &[&str] = &[
    "std::fs",
    "fs::",
    "File::open",
    "File::create",
    "OpenOptions",
];
const PANICS: &[&str] = &[
    ".unwrap()",
    "panic!(",
    "todo!(",
    "unimplemented!(",
    ".expect(",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `.rs` files under `dir`, recursively, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("source folder is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The library lines of a file (1-based number, text): up to its test
/// module, comments dropped.
fn library_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).expect("source is readable");
    text.lines()
        .enumerate()
        .take_while(|(_, l)| !l.starts_with("#[cfg(test)]") && !l.starts_with("#[cfg(all(test"))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

/// `line` without a trailing `// comment` and string literals' contents,
/// roughly: enough that a message mentioning `std::fs` is not code.
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => {
                in_string = !in_string;
                out.push('"');
            }
            '/' if !in_string && chars.peek() == Some(&'/') => break,
            _ if in_string => {}
            _ => out.push(c),
        }
    }
    out
}

/// Every line of the crates' library code that contains one of `needles`,
/// as `path:line: text`, except those `allowed`.
fn offences(
    crates: &[&str],
    needles: &[&str],
    allowed: impl Fn(&[(usize, String)], usize, &str) -> bool,
) -> Vec<String> {
    let mut found = Vec::new();
    for krate in crates {
        for path in sources(&root().join(krate).join("src")) {
            let rel = path.strip_prefix(root()).expect("under the root");
            let rel_text = rel.to_string_lossy().replace('\\', "/");
            if TEST_SUPPORT.contains(&rel_text.as_str()) {
                continue;
            }
            // A nested crate (backends/cpu/runtime) is checked as its own.
            let nested = LIBRARIES
                .iter()
                .any(|c| c.len() > krate.len() && rel_text.starts_with(&format!("{c}/")));
            if nested {
                continue;
            }
            let lines = library_lines(&path);
            for (at, (no, line)) in lines.iter().enumerate() {
                let code = code_of(line);
                let hit = needles.iter().find(|n| code.contains(*n));
                if let Some(n) = hit {
                    if !allowed(&lines, at, n) {
                        found.push(format!("{rel_text}:{no}: {}", line.trim()));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn the_compiler_crates_touch_no_files() {
    let found = offences(NO_FILE_IO, FILE_IO, |_, _, _| false);
    assert!(
        found.is_empty(),
        "file I/O in a compiler crate (it belongs in formats/, driver/ or the binary):\n{}",
        found.join("\n")
    );
}

#[test]
fn library_code_does_not_panic() {
    let found = offences(LIBRARIES, PANICS, |lines, at, needle| {
        let line = &lines[at].1;
        // A parser's own `self.expect(token)` returns a Result.
        if needle == ".expect(" && code_of(line).contains("self.expect(") {
            return !code_of(line)
                .replace("self.expect(", "")
                .contains(".expect(");
        }
        at > 0 && lines[at - 1].1.trim_start().starts_with("// Invariant:")
    });
    assert!(
        found.is_empty(),
        "a panicking call in library code (return an error, or say on the line before \
         `// Invariant: …` why it cannot fire):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    // A check that finds nothing because it reads nothing would pass forever.
    let files: usize = LIBRARIES
        .iter()
        .map(|c| sources(&root().join(c).join("src")).len())
        .sum();
    assert!(files > 50, "only {files} library files found");
    assert_eq!(code_of(r#"let x = "std::fs"; // fs::"#), r#"let x = ""; "#);
    let io = offences(&["driver"], FILE_IO, |_, _, _| false);
    assert!(
        !io.is_empty(),
        "the driver reads files, and the check must see it"
    );
}
