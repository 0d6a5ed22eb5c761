//! Writing files so that they appear whole or not at all.
//!
//! Every file tfg writes goes through this module: the bytes go to a temporary
//! file in the same directory as the target, which is flushed to disk and then
//! renamed over the target. A rename within one file system is atomic, so a
//! reader (or a crash) sees the old file or the new one, never a prefix.
//!
//! The rules, the same for every writer:
//! - **Symbolic links are written through**: a target that is a symlink (or a
//!   chain of them) has the file it points to replaced, atomically, beside
//!   that file; the link stays a link.
//! - **Only regular files are replaced**: a target that exists and is not a
//!   regular file (a directory, a device such as `/dev/null`, a FIFO, a
//!   socket) is refused, and nothing is written.
//! - **A command's outputs appear together** ([`Staged`]): every file is
//!   written to its temporary first, and only when all are written are they
//!   renamed over their targets; a failure before that leaves every target
//!   as it was. Two outputs naming one file are refused.
//! - **Leftovers are swept**: a temporary is named after its target
//!   (`.NAME.tfg-PID-N.tmp`) and held under an exclusive lock while it is
//!   written, so the next write to the same target removes the temporaries of
//!   writers that died (a SIGKILL) and leaves those of live ones alone.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many symbolic links one target may go through.
const MAX_LINKS: usize = 40;

/// Writes `bytes` to `path`, whole or not at all. The directory must exist.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut staged = Staged::new();
    staged.add(path, bytes)?;
    staged.commit()
}

/// Checks, before any work, that [`write()`] could write `path`: its directory
/// exists and takes a new file, and the target is absent or a regular file
/// (through symlinks). Leaves nothing behind.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let target = target(path)?;
    Temp::create(path, &target).map(drop)
}

/// Whether `name` can be a file name as it is: one plain path component, not
/// `.` or `..`, without a separator or a NUL. Names that come from a file (an
/// output of a Graph IR file, a graph's name) become file names only if they
/// pass; otherwise a write could land outside the directory it was meant for.
pub fn plain_name(name: &str) -> Result<&str, String> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).file_name().is_some_and(|n| n == name);
    if plain {
        Ok(name)
    } else {
        Err(format!(
            "`{}` cannot be used as a file name: a name that becomes a file must be a plain file name",
            name.escape_debug()
        ))
    }
}

/// Files written to their temporaries, to be renamed over their targets
/// together by [`Staged::commit`]. Dropped without a commit, it removes them
/// and every target stays as it was.
#[derive(Default)]
pub struct Staged {
    temps: Vec<Temp>,
    /// The targets so far, by their directory's canonical path and name.
    claimed: BTreeSet<PathBuf>,
}

impl Staged {
    pub fn new() -> Staged {
        Staged::default()
    }

    /// Writes `bytes` to a temporary for `path` (through symlinks), refusing a
    /// target that is not a regular file or that another file of this set
    /// already names.
    pub fn add(&mut self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        let target = target(path)?;
        let key = identity(path, &target)?;
        if !self.claimed.insert(key) {
            return Err(format!(
                "cannot write `{}`: another output of the same command is written there",
                path.display()
            ));
        }
        let mut temp = Temp::create(path, &target)?;
        temp.fill(bytes)?;
        self.temps.push(temp);
        Ok(())
    }

    /// Renames every temporary over its target.
    pub fn commit(mut self) -> Result<(), String> {
        let temps = std::mem::take(&mut self.temps);
        let mut temps = temps.into_iter();
        while let Some(temp) = temps.next() {
            if let Err(e) = temp.rename() {
                // The rest stay unwritten; their temporaries are removed as they drop.
                drop(temps);
                return Err(e);
            }
        }
        Ok(())
    }
}

/// The file a write to `path` replaces: `path`, or what its symlinks lead to.
/// Refuses one that exists and is not a regular file.
fn target(path: &Path) -> Result<PathBuf, String> {
    let fail = |e: std::io::Error| format!("cannot write `{}`: {e}", path.display());
    if path.file_name().is_none() {
        return Err(format!(
            "cannot write `{}`: it is not a file name",
            path.display()
        ));
    }
    let mut at = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&at) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(at),
            Err(e) => return Err(fail(e)),
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&at).map_err(fail)?;
                // A relative link is relative to the directory holding it.
                at = match at.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
                if at.file_name().is_none() {
                    return Err(format!(
                        "cannot write `{}`: its symbolic link leads to `{}`, which is not a file name",
                        path.display(),
                        at.display()
                    ));
                }
            }
            Ok(m) if m.is_file() => return Ok(at),
            Ok(_) => {
                let what = if at == path {
                    String::new()
                } else {
                    format!(" (through a symbolic link, `{}`)", at.display())
                };
                return Err(format!(
                    "cannot write `{}`: it exists{what} and is not a regular file",
                    path.display()
                ));
            }
        }
    }
    Err(format!(
        "cannot write `{}`: too many levels of symbolic links",
        path.display()
    ))
}

/// One name for `target` however it was spelled: its directory's canonical
/// path and its file name.
fn identity(path: &Path, target: &Path) -> Result<PathBuf, String> {
    let (dir, name) = split(target);
    let dir =
        fs::canonicalize(dir).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    Ok(dir.join(name))
}

/// The directory (`.` for a bare name) and file name of a target.
fn split(target: &Path) -> (&Path, &std::ffi::OsStr) {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    (dir, target.file_name().unwrap_or_default())
}

/// A temporary beside its target, locked while this process writes it.
struct Temp {
    /// The path the user gave, for messages.
    shown: PathBuf,
    target: PathBuf,
    path: PathBuf,
    /// `None` once renamed.
    file: Option<File>,
}

impl Temp {
    /// Creates (and locks) a fresh temporary for `target`, after removing
    /// the temporaries that dead writers left for it.
    fn create(shown: &Path, target: &Path) -> Result<Temp, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let fail = |e: std::io::Error| format!("cannot write `{}`: {e}", shown.display());
        let (dir, name) = split(target);
        let prefix = temp_prefix(name);
        sweep(dir, &prefix);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{prefix}{}-{n}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(fail)?;
        let temp = Temp {
            shown: shown.to_path_buf(),
            target: target.to_path_buf(),
            path,
            file: Some(file),
        };
        if let Some(f) = &temp.file {
            f.lock().map_err(fail)?;
        }
        Ok(temp)
    }

    fn fill(&mut self, bytes: &[u8]) -> Result<(), String> {
        let Some(f) = self.file.as_mut() else {
            return Err(format!(
                "cannot write `{}`: already written",
                self.shown.display()
            ));
        };
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("cannot write `{}`: {e}", self.shown.display()))
    }

    fn rename(mut self) -> Result<(), String> {
        fs::rename(&self.path, &self.target)
            .map_err(|e| format!("cannot write `{}`: {e}", self.shown.display()))?;
        // Renamed: nothing is left to remove; the lock goes with the handle.
        self.file = None;
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Best effort: nothing sensible is left to do if it cannot be removed.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The start of every temporary name for a target named `name`.
fn temp_prefix(name: &std::ffi::OsStr) -> String {
    format!(".{}.tfg-", name.to_string_lossy())
}

/// Removes the temporaries in `dir` for the target whose temporaries start
/// with `prefix` that no live writer holds (their writer died before its
/// rename). Best effort: what cannot be read or removed stays.
fn sweep(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some((pid, n)) = rest.strip_suffix(".tmp").and_then(|r| r.split_once('-')) else {
            continue;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(pid) && digits(n)) {
            continue;
        }
        let path = entry.path();
        let unheld = File::open(&path).is_ok_and(|f| f.try_lock().is_ok());
        if unheld {
            let _ = fs::remove_file(&path);
        }
    }
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

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .expect("listable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = scratch("replace");
        let path = dir.join("out.npy");
        write(&path, b"old").expect("writable");
        write(&path, b"new contents").expect("writable");
        assert_eq!(fs::read(&path).expect("exists"), b"new contents");
        assert_eq!(names(&dir), ["out.npy"]);
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = scratch("fail");
        let err = write(&dir.join("missing").join("out.npy"), b"x").expect_err("no such directory");
        assert!(err.contains("missing/out.npy"), "{err}");
        // A directory in the way is refused before anything is written.
        fs::create_dir(dir.join("taken")).expect("mkdir");
        let err = write(&dir.join("taken"), b"x").expect_err("a directory");
        assert!(err.contains("not a regular file"), "{err}");
        assert_eq!(names(&dir), ["taken"]);
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_a_symlink_to_its_target() {
        let dir = scratch("symlink");
        fs::create_dir(dir.join("real")).expect("mkdir");
        fs::write(dir.join("real/file"), b"old").expect("write");
        std::os::unix::fs::symlink("real/file", dir.join("link")).expect("symlink");
        write(&dir.join("link"), b"new").expect("writable");
        let link = fs::symlink_metadata(dir.join("link")).expect("exists");
        assert!(link.file_type().is_symlink(), "the link stays a link");
        assert_eq!(fs::read(dir.join("real/file")).expect("exists"), b"new");
        assert_eq!(names(&dir.join("real")), ["file"]);
        // A dangling link creates its target.
        std::os::unix::fs::symlink("real/new", dir.join("dangling")).expect("symlink");
        write(&dir.join("dangling"), b"made").expect("writable");
        assert_eq!(fs::read(dir.join("real/new")).expect("exists"), b"made");
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_device_and_a_link_to_one() {
        let dir = scratch("device");
        let err = write(Path::new("/dev/null"), b"x").expect_err("a device");
        assert!(err.contains("not a regular file"), "{err}");
        std::os::unix::fs::symlink("/dev/null", dir.join("null")).expect("symlink");
        let err = write(&dir.join("null"), b"x").expect_err("a link to a device");
        assert!(err.contains("not a regular file"), "{err}");
        assert!(check_writable(&dir.join("null")).is_err());
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn staged_files_appear_together_or_not_at_all() {
        let dir = scratch("staged");
        fs::write(dir.join("a"), b"old").expect("write");
        let mut staged = Staged::new();
        staged.add(&dir.join("a"), b"new").expect("writable");
        assert!(staged.add(&dir.join("missing/b"), b"x").is_err());
        drop(staged);
        assert_eq!(fs::read(dir.join("a")).expect("exists"), b"old");
        assert_eq!(names(&dir), ["a"]);

        let mut staged = Staged::new();
        staged.add(&dir.join("a"), b"one").expect("writable");
        let err = staged
            .add(&dir.join(".").join("a"), b"two")
            .expect_err("the same file twice");
        assert!(err.contains("another output"), "{err}");
        staged.add(&dir.join("b"), b"two").expect("writable");
        staged.commit().expect("commits");
        assert_eq!(fs::read(dir.join("a")).expect("exists"), b"one");
        assert_eq!(names(&dir), ["a", "b"]);
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn the_next_write_sweeps_a_dead_writers_temporary() {
        let dir = scratch("sweep");
        // What a writer killed before its rename leaves behind.
        fs::write(dir.join(".out.tfg-999999-0.tmp"), b"half").expect("write");
        fs::write(dir.join(".other.tfg-999999-0.tmp"), b"half").expect("write");
        write(&dir.join("out"), b"whole").expect("writable");
        assert_eq!(names(&dir), [".other.tfg-999999-0.tmp", "out"]);
        // A live writer's temporary (locked) stays.
        let held = Temp::create(&dir.join("out"), &dir.join("out")).expect("created");
        write(&dir.join("out"), b"again").expect("writable");
        assert!(held.path.exists());
        drop(held);
        check_writable(&dir.join("out")).expect("writable");
        assert_eq!(names(&dir), [".other.tfg-999999-0.tmp", "out"]);
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn plain_names_only() {
        for ok in ["y", "loss.npy", "a b", "..x", "x.."] {
            assert_eq!(plain_name(ok), Ok(ok));
        }
        for bad in ["", ".", "..", "../x", "/etc/passwd", "a/b", "a\\b", "x\0"] {
            assert!(plain_name(bad).is_err(), "{bad:?}");
        }
    }
}
