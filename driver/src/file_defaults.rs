//! Inputs whose default feed is a `.npy` file: `input x: f32[N, 64] = "data/x.npy"`.
//!
//! The path is relative to the directory of the `.tfg` file that names it, so
//! an example finds its data wherever it is run from. A file is read only when
//! its input has no `--feed`, and a file that cannot be read, or holds another
//! dtype, is an error that points at the string.

use crate::feed::{numpy_name, Feed, FeedValue};
use crate::source::Source;
use crate::Error;
use std::path::Path;
use tfg_formats::npy;
use tfg_frontend::diag::Diagnostic;
use tfg_frontend::Module;
use tfg_ir::{Graph, InputDefault, Op};

/// `feeds`, then a feed for every input of `g` that has a file default and no
/// feed in `feeds`. `file` is the path of the file that names the defaults
/// (a `.tfg` file or a dump); `program` may say where in it each one is.
pub fn with_file_defaults(
    program: &Module,
    g: &Graph,
    feeds: &[Feed],
    file: &Path,
    src: &Source,
) -> Result<Vec<Feed>, Error> {
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut all = feeds.to_vec();
    for v in g.inputs() {
        let node = g.node(v);
        let Op::Input {
            name,
            default: Some(InputDefault::File(default)),
        } = &node.op
        else {
            continue;
        };
        if feeds.iter().any(|f| f.name == *name) {
            continue;
        }
        // In a `.tfg` file the error marks the string and names the file as
        // written there; in a dump, the input's line.
        let written = program.input_path(&g.name, name);
        let path = dir.join(written.map_or(default.as_str(), |w| w.path.as_str()));
        let at_string = |message: String, label: &str| match written {
            Some(w) => src.failure(vec![Diagnostic::error(message).at(w.span).label(label)]),
            None => src.error_at(node.loc, message, "declared here"),
        };
        let t = npy::read(&path).map_err(|e| {
            at_string(
                format!("cannot load the default feed of input `{name}`: {e}"),
                "the default feed of this input",
            )
        })?;
        if t.dtype() != node.ty.dtype {
            return Err(at_string(
                format!(
                    "input `{name}` is declared {} but `{}` holds {}; convert it, e.g. with `a.astype(np.{})`",
                    node.ty,
                    path.display(),
                    t.ty(),
                    numpy_name(&node.ty)
                ),
                "the default feed of this input",
            ));
        }
        all.push(Feed {
            name: name.clone(),
            value: FeedValue::NpyLoaded(t),
        });
    }
    Ok(all)
}
