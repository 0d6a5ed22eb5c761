//! A PTX module on disk, as `tfg compile --target ptx` writes it and
//! `tfg run MODULE --backend cuda` runs it: the PTX, its launch manifest
//! and the initial param values, with no `.tfg` file and no LLVM needed to
//! run it.
//!
//! A module is a directory (`DIR/program.ptx`, `DIR/manifest.json`,
//! `DIR/params.safetensors`) or, when the path given ends in `.ptx`, three
//! files side by side (`NAME.ptx`, `NAME.manifest.json`,
//! `NAME.params.safetensors`). Each file is written whole or not at all.

use crate::source::Source;
use crate::Error;
use std::path::{Path, PathBuf};
use tfg_formats::safetensors;
use tfg_formats::whole_file::Staged;
use tfg_ir::{Graph, Init, Shape, Tensor, Type};
use tfg_ptx::{Manifest, PtxModule};

/// Where a module's files are.
pub struct Paths {
    pub ptx: PathBuf,
    pub manifest: PathBuf,
    pub params: PathBuf,
}

impl Paths {
    pub fn of(path: &Path) -> Paths {
        if is_ptx_file(path) {
            let with = |suffix: &str| {
                let mut name = path.with_extension("").into_os_string();
                name.push(suffix);
                PathBuf::from(name)
            };
            Paths {
                ptx: path.to_path_buf(),
                manifest: with(".manifest.json"),
                params: with(".params.safetensors"),
            }
        } else {
            Paths {
                ptx: path.join(tfg_ptx::PTX_FILE),
                manifest: path.join(tfg_ptx::MANIFEST_FILE),
                params: path.join("params.safetensors"),
            }
        }
    }
}

fn is_ptx_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "ptx")
}

/// Whether `tfg run PATH` names a compiled module rather than a `.tfg` file.
pub fn is_module(path: &Path) -> bool {
    path.is_dir() || is_ptx_file(path)
}

/// Writes `module` and the initial `params` (name and value) at `path`, all
/// three files or none: each is staged beside its target and they are renamed
/// into place together; a failure leaves what was there (and removes the
/// directory, if this call created it).
pub fn write(path: &Path, module: &PtxModule, params: &[(&str, &Tensor)]) -> Result<(), Error> {
    let dir = if is_ptx_file(path) {
        path.parent().unwrap_or(Path::new("."))
    } else {
        path
    };
    let creates_dir = !dir.as_os_str().is_empty() && !dir.exists();
    if creates_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::new(format!("cannot create directory `{}`: {e}", dir.display())))?;
    }
    let paths = Paths::of(path);
    let write_all = || -> Result<(), String> {
        let mut staged = Staged::new();
        staged.add(&paths.params, &safetensors::encode(&paths.params, params)?)?;
        staged.add(&paths.manifest, module.manifest.to_json().as_bytes())?;
        staged.add(&paths.ptx, module.ptx.as_bytes())?;
        staged.commit()
    };
    // The staged temporaries are gone once `write_all` returns.
    let written = write_all();
    if written.is_err() && creates_dir {
        // Best effort: nothing was renamed into it.
        let _ = std::fs::remove_dir(dir);
    }
    written.map_err(Error::new)
}

/// Reads the module at `path`.
pub fn read(path: &Path) -> Result<PtxModule, Error> {
    let paths = Paths::of(path);
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| {
            Error::new(format!(
                "`{}` is not a PTX module: cannot read `{}`: {e}",
                path.display(),
                p.display()
            ))
        })
    };
    let manifest = Manifest::from_json(&read(&paths.manifest)?).map_err(|e| {
        Error::new(format!(
            "`{}` is not a valid manifest: {e}",
            paths.manifest.display()
        ))
    })?;
    Ok(PtxModule {
        ptx: read(&paths.ptx)?,
        manifest,
    })
}

/// The inputs and params a manifest declares, as a graph of leaves, so
/// that feeds and checkpoints are checked as for a `.tfg` file.
fn signature(m: &Manifest) -> Result<Graph, Error> {
    let ty = |spec: &tfg_ptx::manifest::TensorSpec| {
        let dtype = tfg_ptx::manifest::dtype(&spec.dtype).map_err(Error::new)?;
        Ok::<_, Error>(Type::new(dtype, Shape::known(&spec.shape)))
    };
    let mut g = Graph::new("module");
    for spec in &m.inputs {
        g.add_input(&spec.name, ty(spec)?, None);
    }
    for spec in &m.params {
        g.add_param(&spec.name, ty(spec)?, Init::Zeros);
    }
    Ok(g)
}

/// A module read from disk, with what running it needs.
pub struct Loaded {
    pub module: PtxModule,
    /// Its inputs and params as a graph of leaves, so that feeds and
    /// checkpoints are checked as for a `.tfg` file.
    pub signature: Graph,
    pub paths: Paths,
}

/// Reads the module at `path` and its signature.
pub fn load(path: &Path) -> Result<Loaded, Error> {
    let module = read(path)?;
    let signature = signature(&module.manifest)?;
    Ok(Loaded {
        module,
        signature,
        paths: Paths::of(path),
    })
}

impl Loaded {
    /// A source for errors about feeds and params, which have no place in a
    /// file to point at.
    pub fn source(&self) -> Source {
        Source::new(self.paths.manifest.display().to_string(), "")
    }

    /// Its outputs' names, in the order a run gives them.
    pub fn output_names(&self) -> impl Iterator<Item = &str> {
        self.module.manifest.outputs.iter().map(|s| s.name.as_str())
    }
}
