//! A PTX module on disk, as `tfg compile --target ptx` writes it and
//! `tfg run MODULE --backend cuda` runs it: the PTX, its launch manifest
//! and the initial param values, with no `.tfg` file and no LLVM needed to
//! run it.
//!
//! A module is a directory (`DIR/program.ptx`, `DIR/manifest.json`,
//! `DIR/params.safetensors`) or, when the path given ends in `.ptx`, three
//! files side by side (`NAME.ptx`, `NAME.manifest.json`,
//! `NAME.params.safetensors`). Each file is written whole or not at all.

use crate::cli::{Backend, RunArgs};
use crate::failure::Failure;
use crate::session::Session;
use crate::source::Source;
use crate::timing::Timing;
use crate::{checkpoint, feed, run};
use std::path::{Path, PathBuf};
use std::time::Instant;
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
/// three files or none: a failure removes those already written (and the
/// directory, if this call created it).
pub fn write(path: &Path, module: &PtxModule, params: &[(&str, &Tensor)]) -> Result<(), Failure> {
    let dir = if is_ptx_file(path) {
        path.parent().unwrap_or(Path::new("."))
    } else {
        path
    };
    let creates_dir = !dir.as_os_str().is_empty() && !dir.exists();
    if creates_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(format!("cannot create directory `{}`: {e}", dir.display()))
        })?;
    }
    let paths = Paths::of(path);
    let write = |p: &Path, text: &str| crate::whole_file::write(p, text.as_bytes());
    let written = checkpoint::save(&paths.params, params)
        .and_then(|()| write(&paths.manifest, &module.manifest.to_json()).map_err(Failure::new))
        .and_then(|()| write(&paths.ptx, &module.ptx).map_err(Failure::new));
    if written.is_err() {
        // Best effort: a file the failure came before does not exist.
        for p in [&paths.params, &paths.manifest, &paths.ptx] {
            let _ = std::fs::remove_file(p);
        }
        if creates_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
    written
}

/// Reads the module at `path`.
pub fn read(path: &Path) -> Result<PtxModule, Failure> {
    let paths = Paths::of(path);
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| {
            Failure::new(format!(
                "`{}` is not a PTX module: cannot read `{}`: {e}",
                path.display(),
                p.display()
            ))
        })
    };
    let manifest = Manifest::from_json(&read(&paths.manifest)?).map_err(|e| {
        Failure::new(format!(
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
fn signature(m: &Manifest) -> Result<Graph, Failure> {
    let ty = |spec: &tfg_ptx::manifest::TensorSpec| {
        let dtype = tfg_ptx::manifest::dtype(&spec.dtype).map_err(Failure::new)?;
        Ok::<_, Failure>(Type::new(dtype, Shape::known(&spec.shape)))
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

/// `tfg run MODULE --backend cuda`: feeds, runs and prints as `tfg run` does.
pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let shown = args.file.display();
    if args.backend != Backend::Cuda {
        return Err(Failure::new(format!(
            "`{shown}` is a compiled PTX module: run it with --backend cuda"
        )));
    }
    let module = read(&args.file)?;
    let paths = Paths::of(&args.file);
    let g = signature(&module.manifest)?;
    // Errors about feeds and params have no place in a file to point at.
    let src = Source {
        name: paths.manifest.display().to_string(),
        text: String::new(),
    };
    let bound = feed::bind(&g, &args.feeds, &src)?;
    let inputs = bound.inputs_for(&g)?;
    let mut session = Session::default();
    let ckpt = args.restore.as_ref().unwrap_or(&paths.params);
    checkpoint::restore(ckpt, &g, &mut session, &src)?;
    let params = session.params_for(&g)?;

    let started = Instant::now();
    let device = tfg_ptx::cuda::open().map_err(Failure::new)?;
    let mut gpu = device.load(&module).map_err(Failure::new)?;
    gpu.set_params(&params).map_err(Failure::new)?;
    let mut timing = args.bench.map(|_| Timing::new(started.elapsed()));
    let mut result = gpu.run(&inputs).map_err(Failure::new)?;
    if let (Some(t), Some(runs)) = (&mut timing, args.bench) {
        for _ in 0..runs {
            result = t.run(|| gpu.run(&inputs)).map_err(Failure::new)?;
        }
    }
    let outputs: Vec<(&str, &Tensor)> = module
        .manifest
        .outputs
        .iter()
        .map(|s| s.name.as_str())
        .zip(&result.outputs)
        .collect();
    run::report(args, &outputs, timing.as_ref())
}
