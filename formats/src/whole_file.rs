//! Writing files so that they appear whole or not at all.
//!
//! Every file tfg writes goes through [`write()`]: the bytes go to a temporary file
//! in the same directory, which is flushed to disk and then renamed over the
//! target. A rename within one file system is atomic, so a reader (or a crash)
//! sees the old file or the new one, never a prefix.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path`, whole or not at all. The directory must exist.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write `{}`: {e}", path.display());
    let temp = temp_path(path)
        .ok_or_else(|| format!("cannot write `{}`: it is not a file name", path.display()))?;
    let written = File::create(&temp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match written.and_then(|()| fs::rename(&temp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            // Best effort: the temporary file may not exist if creating it failed.
            let _ = fs::remove_file(&temp);
            Err(fail(e))
        }
    }
}

/// A fresh hidden name beside `path`: same directory, so the rename stays on one file system.
fn temp_path(path: &Path) -> Option<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name()?.to_string_lossy();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Some(path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tfg-whole-file-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir is writable");
        dir
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = scratch("replace");
        let path = dir.join("out.npy");
        write(&path, b"old").expect("writable");
        write(&path, b"new contents").expect("writable");
        assert_eq!(fs::read(&path).expect("exists"), b"new contents");
        let names: Vec<_> = fs::read_dir(&dir)
            .expect("listable")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["out.npy"]);
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = scratch("fail");
        let err = write(&dir.join("missing").join("out.npy"), b"x").expect_err("no such directory");
        assert!(err.contains("missing/out.npy"), "{err}");
        // A directory in the way: the rename fails after the temporary was written.
        fs::create_dir(dir.join("taken")).expect("mkdir");
        assert!(write(&dir.join("taken"), b"x").is_err());
        let names: Vec<_> = fs::read_dir(&dir)
            .expect("listable")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["taken"]);
        fs::remove_dir_all(dir).expect("cleanup");
    }
}
