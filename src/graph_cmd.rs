//! `tfg graph FILE -o OUT.svg|OUT.dot`: a picture of a graph, as the frontend
//! built it or after a stage of the pass pipeline.

use crate::cli::GraphArgs;
use crate::failure::Failure;
use crate::selection;
use std::path::Path;
use tfg_driver::source::Source;
use tfg_formats::whole_file;
use tfg_passes::{Ir, Level, Options};
use tfg_picture::{dot, svg, Picture, LARGE};

enum Format {
    Svg,
    Dot,
}

impl Format {
    fn of(path: &Path) -> Result<Format, Failure> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("svg") => Ok(Format::Svg),
            Some(e) if e.eq_ignore_ascii_case("dot") || e.eq_ignore_ascii_case("gv") => {
                Ok(Format::Dot)
            }
            _ => Err(Failure::new(format!(
                "cannot tell the picture format of `{}`: the output must end in .svg or .dot",
                path.display()
            ))),
        }
    }
}

pub fn graph(args: &GraphArgs) -> Result<(), Failure> {
    let format = Format::of(&args.output)?;
    let src = Source::load(&args.file)?;
    let program = src.compile()?;
    let g = selection::select(
        &src,
        &program,
        args.graph.name.as_deref(),
        args.train,
        &args.dims,
    )?;
    // A picture shows the Graph IR; after `fuse` or `lower` it shows the
    // optimised graph with its kernels.
    let mut passes = tfg_passes::pipeline_to(Level::Graph);
    let stage = args.after.as_deref().unwrap_or(tfg_driver::dumps::FRONTEND);
    let graph_stage = passes.iter().position(|p| p.name == stage);
    let upto = match (stage, graph_stage) {
        (tfg_driver::dumps::FRONTEND, _) => 0,
        (_, Some(i)) => i + 1,
        _ => passes.len(),
    };
    let kernels = args.kernels
        || (stage != tfg_driver::dumps::FRONTEND && graph_stage.is_none() && stage != "all");
    passes.truncate(upto);
    let name = g.name.clone();
    let mut ir = Ir::Graph(g);
    tfg_passes::run_pipeline(&mut ir, &passes, &Options::default(), |_, _, _| {})
        .map_err(|e| Failure::new(format!("graph `{name}`: {e}")))?;
    let Ir::Graph(g) = ir else {
        return Err(Failure::new(format!(
            "graph `{name}`: the Graph IR passes left no graph"
        )));
    };

    if kernels && g.nodes.iter().any(|n| n.ty.shape.is_symbolic()) {
        eprintln!(
            "note: graph `{name}` has symbolic dims; fusion keeps each op in a kernel of its own (bind them with --dim NAME=N)"
        );
    }
    let fusion = kernels.then(|| tfg_passes::fuse::fuse(&g));
    let mut picture = Picture::new(&g, fusion.as_ref());
    if stage != tfg_driver::dumps::FRONTEND {
        picture.title = format!("{} after {stage}", picture.title);
    }
    let text = match format {
        Format::Dot => dot::render(&picture),
        Format::Svg => {
            let picture = if picture.items.len() > LARGE {
                picture.with_chains()
            } else {
                picture
            };
            svg::render(&picture.collapsed())
        }
    };
    whole_file::write(&args.output, text.as_bytes()).map_err(Failure::new)
}
