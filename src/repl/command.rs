//! The REPL's commands: entries that start with `:`.
//!
//! Each command is a line of [`COMMANDS`] (what `:help` prints and what the
//! editor completes) and a function here. Commands reuse what the other
//! commands of `tfg` do: the pass pipeline and IR printers of `tfg dump`,
//! autodiff, the training loop and checkpoints of `tfg train`.

use super::workspace::{restricted, Origin, Workspace};
use super::{shown, Flow, Repl};
use crate::failure::Failure;
use crate::stdout;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tfg_driver::checkpoint;
use tfg_driver::dumps::{Dumps, Sink};
use tfg_driver::feed::Feed;
use tfg_driver::session::param_name;
use tfg_driver::train::{train_loop, Feeding, Trainer};
use tfg_driver::Backend;
use tfg_formats::arrayprint::{self, scalar_str};
use tfg_ir::kernel::Program;
use tfg_ir::Graph;
use tfg_passes::{Ir, Level, Options};

/// A command: its name, its arguments and what it does, for `:help`.
pub struct Command {
    pub name: &'static str,
    pub args: &'static str,
    pub summary: &'static str,
}

const fn command(name: &'static str, args: &'static str, summary: &'static str) -> Command {
    Command {
        name,
        args,
        summary,
    }
}

pub const COMMANDS: [Command; 18] = [
    command("help", "", "this list"),
    command(
        "load",
        "FILE [GRAPH]",
        "start afresh from a file: its graph, fns and train item",
    ),
    command(
        "feed",
        "NAME = VALUE",
        "feed an input: a literal, or a path ending in .npy",
    ),
    command(
        "ir",
        "[NAME]",
        "the Graph IR of a value, or of the whole graph",
    ),
    command(
        "dump",
        "PASS [NAME]",
        "the IR after a pass (`frontend`: before any)",
    ),
    command(
        "kernels",
        "[NAME]",
        "the Kernel IR of a value, or of the graph's outputs",
    ),
    command(
        "clif",
        "[NAME]",
        "the Cranelift IR the cpu backend generates",
    ),
    command(
        "asm",
        "[NAME]",
        "the machine code the cpu backend generates",
    ),
    command(
        "ptx",
        "[NAME]",
        "the PTX the cuda backend generates (sm_80)",
    ),
    command(
        "time",
        "STATEMENT",
        "run a statement; show compile and run time",
    ),
    command("grad", "Y X", "the gradient dY/dX of a float scalar Y"),
    command("train", "[STEPS]", "train as the file's train item says"),
    command(
        "save",
        "FILE",
        "write every param to a safetensors checkpoint",
    ),
    command(
        "restore",
        "FILE",
        "read every param from a safetensors checkpoint",
    ),
    command(
        "backend",
        "[NAME]",
        "show or set where graphs run: cpu, interp, cuda",
    ),
    command(
        "reset",
        "",
        "back to the start: the file's graph, fresh params",
    ),
    command("quit", "", "leave (Ctrl-D does too)"),
    command("exit", "", "leave"),
];

/// Runs the command `text` (the entry without its `:`).
pub fn run(repl: &mut Repl, text: &str) -> Flow {
    let text = text.trim();
    let (name, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let args = args.trim();
    let ws = &mut repl.ws;
    let done: Result<String, Failure> = match name {
        "quit" | "q" | "exit" => return Flow::Quit,
        "help" | "h" => Ok(help()),
        "time" if !args.is_empty() => {
            repl.statement(args, true);
            return Flow::Go;
        }
        "time" => Err(Failure::new("usage: :time STATEMENT")),
        "load" => load(ws, args),
        "reset" => reset(ws),
        "feed" => {
            let before = ws.feeds.clone();
            let shown = feed(ws, args).and_then(|targets| repl.evaluate(&targets));
            if shown.is_err() {
                repl.ws.feeds = before;
            }
            shown.map(|_| String::new())
        }
        "ir" => ir(ws, args),
        "dump" => dump(ws, args),
        "kernels" => kernels(ws, args),
        "clif" => kernel_program(ws, args, "clif [NAME]").and_then(|p| {
            tfg_cpu::clif(&p).map_err(|e| Failure::new(format!("cannot generate code: {e}")))
        }),
        "asm" => kernel_program(ws, args, "asm [NAME]").and_then(|p| {
            tfg_cpu::asm(&p).map_err(|e| Failure::new(format!("cannot generate code: {e}")))
        }),
        "ptx" => kernel_program(ws, args, "ptx [NAME]").and_then(|p| {
            tfg_driver::backend::generate_ptx(&p, tfg_ptx::DEFAULT_SM)
                .map(|m| m.ptx)
                .map_err(|e| Failure::new(format!("cannot generate code: {e}")))
        }),
        "grad" => grad(ws, args),
        "train" => train(ws, args),
        "save" => save(ws, args),
        "restore" => restore(ws, args),
        "backend" => backend(ws, args),
        _ => Err(Failure::new(format!(
            "unknown command `:{name}`; `:help` lists the commands"
        ))),
    };
    match done {
        Ok(text) => repl.out.print(&text),
        Err(f) => repl.out.failure(&f),
    }
    Flow::Go
}

fn help() -> String {
    let width = COMMANDS
        .iter()
        .map(|c| c.name.len() + c.args.len() + 1)
        .max()
        .unwrap_or(0);
    let mut text = String::from(
        "Statements are those of a graph body (input, param, NAME = EXPR, output);\n\
         a bare expression is shown and bound to _1, _2, … (and _ to the latest);\n\
         a `train GRAPH { … }` item sets what :train runs.\n\n",
    );
    for c in &COMMANDS {
        let usage = format!("{} {}", c.name, c.args);
        text += &format!(":{usage:width$}  {}\n", c.summary);
    }
    text
}

/// The whitespace-separated arguments, of which there must be `min` to `max`.
fn arguments<'a>(
    args: &'a str,
    min: usize,
    max: usize,
    usage: &str,
) -> Result<Vec<&'a str>, Failure> {
    let words: Vec<&str> = args.split_whitespace().collect();
    if words.len() < min || words.len() > max {
        return Err(Failure::new(format!("usage: :{usage}")));
    }
    Ok(words)
}

fn load(ws: &mut Workspace, args: &str) -> Result<String, Failure> {
    let words = arguments(args, 1, 2, "load FILE [GRAPH]")?;
    let origin = Origin {
        file: Some(PathBuf::from(words[0])),
        graph: words.get(1).map(|g| g.to_string()),
        feeds: Vec::new(),
    };
    replace(ws, origin)
}

fn reset(ws: &mut Workspace) -> Result<String, Failure> {
    let origin = Origin {
        file: ws.origin.file.clone(),
        graph: ws.origin.graph.clone(),
        feeds: ws.origin.feeds.clone(),
    };
    replace(ws, origin)
}

/// Starts `ws` afresh on `origin`; it stays as it was if that fails.
fn replace(ws: &mut Workspace, origin: Origin) -> Result<String, Failure> {
    let (fresh, failures) = Workspace::open(origin, ws.backend, ws.seed)?;
    *ws = fresh;
    let mut text: String = failures.iter().map(|f| f.text().to_string()).collect();
    text += &summary(ws.inc.graph());
    Ok(text)
}

/// One line that says what a graph has.
pub fn summary(g: &Graph) -> String {
    let names = |ids: Vec<tfg_ir::ValueId>| {
        let names: Vec<&str> = ids
            .iter()
            .map(|&v| g.node(v).name.as_deref().unwrap_or("?"))
            .collect();
        match names.is_empty() {
            true => "none".to_string(),
            false => names.join(", "),
        }
    };
    if g.nodes.is_empty() {
        return format!("graph `{}`: empty\n", g.name);
    }
    let outputs: Vec<_> = g.outputs.iter().map(|&(_, v)| v).collect();
    format!(
        "graph `{}`: inputs {}; params {}; outputs {}\n",
        g.name,
        names(g.inputs().collect()),
        names(g.params().collect()),
        names(outputs),
    )
}

/// `:feed NAME = VALUE`: sets the feed; the input to show it with.
fn feed(ws: &mut Workspace, args: &str) -> Result<Vec<(String, tfg_ir::ValueId)>, Failure> {
    let usage = || Failure::new("usage: :feed NAME = VALUE");
    let (name, value) = args.split_once('=').ok_or_else(usage)?;
    let (name, value) = (name.trim(), value.trim());
    let feed: Feed = crate::cli::feed(&format!("{name}={value}"))
        .map_err(|e| Failure::new(format!("cannot feed `{name}`: {e}")))?;
    let g = ws.inc.graph();
    let Some(v) = g
        .inputs()
        .find(|&v| g.node(v).name.as_deref() == Some(name))
    else {
        let inputs: Vec<String> = g
            .inputs()
            .filter_map(|v| g.node(v).name.as_ref().map(|n| format!("`{n}`")))
            .collect();
        let has = match inputs.is_empty() {
            true => "it has no inputs".to_string(),
            false => format!("its inputs are {}", inputs.join(", ")),
        };
        return Err(Failure::new(format!(
            "graph `{}` has no input named `{name}`; {has}",
            g.name
        )));
    };
    ws.feeds.retain(|f| f.name != name);
    ws.feeds.push(feed);
    Ok(vec![(name.to_string(), v)])
}

/// `:ir [NAME]`: the graph, or what one value needs.
fn ir(ws: &Workspace, args: &str) -> Result<String, Failure> {
    let words = arguments(args, 0, 1, "ir [NAME]")?;
    let g = match words.first() {
        None => ws.inc.graph().clone(),
        Some(name) => restricted(ws.inc.graph(), &ws.targets(Some(name))?),
    };
    Ok(tfg_ir::text::print(&g))
}

/// `:dump PASS [NAME]`: the IR after `PASS`, as `tfg dump --after PASS` prints it.
fn dump(ws: &Workspace, args: &str) -> Result<String, Failure> {
    let words = arguments(args, 1, 2, "dump PASS [NAME]")?;
    let stages = tfg_driver::dumps::stages();
    let pass = words[0];
    if !stages.iter().any(|(name, _)| *name == pass) {
        let names: Vec<&str> = stages.iter().map(|(name, _)| *name).collect();
        return Err(Failure::new(format!(
            "no pass named `{pass}`; the stages are {}",
            names.join(", ")
        )));
    }
    let g = restricted(ws.inc.graph(), &ws.targets(words.get(1).copied())?);
    let mut text = (pass == tfg_driver::dumps::FRONTEND).then(|| tfg_ir::text::print(&g));
    let name = g.name.clone();
    // Fusion and lowering need concrete shapes.
    let level = if g.nodes.iter().any(|n| n.ty.shape.is_symbolic()) {
        Level::Graph
    } else {
        Level::Kernel
    };
    let mut ir = Ir::Graph(g);
    let passes = tfg_passes::pipeline_to(level);
    tfg_passes::run_pipeline(&mut ir, &passes, &Options::default(), |p, ir, _| {
        if p.name == pass {
            text = Some(ir.print());
        }
    })
    .map_err(|e| Failure::new(format!("graph `{name}`: {e}")))?;
    Ok(text.unwrap_or_default())
}

/// `:kernels [NAME]`: the Kernel IR, for the shapes of the current feeds.
fn kernels(ws: &mut Workspace, args: &str) -> Result<String, Failure> {
    let program = kernel_program(ws, args, "kernels [NAME]")?;
    Ok(tfg_ir::kernel::print(&program))
}

/// The Kernel IR program of a value, or of the graph's outputs, for the
/// shapes of the current feeds: what the cpu backend compiles.
fn kernel_program(ws: &mut Workspace, args: &str, usage: &str) -> Result<Program, Failure> {
    let words = arguments(args, 0, 1, usage)?;
    let targets = ws.targets(words.first().copied())?;
    let g = ws.inc.graph().clone();
    let name = g.name.clone();
    let mut ir = Ir::Graph(ws.bind(&g, &targets)?.graph);
    Dumps::new(Vec::new(), Sink::Stderr).run_to(&mut ir, Level::Kernel, &Options::default())?;
    ir.into_program()
        .ok_or_else(|| Failure::new(format!("the passes left graph `{name}` without Kernel IR")))
}

/// `:grad Y X`: dY/dX with the current params and feeds.
fn grad(ws: &mut Workspace, args: &str) -> Result<String, Failure> {
    let words = arguments(args, 2, 2, "grad Y X")?;
    let (y, x) = (ws.value(words[0])?, ws.value(words[1])?);
    let mut g = ws.inc.graph().clone();
    let dx = tfg_passes::autodiff::differentiate(&mut g, y, &[x])
        .map_err(|e| Failure::new(format!("cannot differentiate: {e}")))?;
    let name = format!("d{}/d{}", words[0], words[1]);
    let e = ws.evaluate(&g, &[(name, dx[0])])?;
    Ok(shown(&e.values))
}

/// `:train [STEPS]`: the file's train item, from the current params; they
/// stay trained.
fn train(ws: &mut Workspace, args: &str) -> Result<String, Failure> {
    let words = arguments(args, 0, 1, "train [STEPS]")?;
    let Some(spec) = ws.train.clone() else {
        return Err(Failure::new(format!(
            "graph `{}` has no train item; `:load` a file that has one",
            ws.inc.graph().name
        )));
    };
    let steps = match words.first() {
        None => spec.steps,
        Some(n) => n
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Failure::new(format!("`{n}` is not a number of steps")))?,
    };
    // Only what the loss and the logged values need is trained and fed.
    let mut wanted = vec![spec.minimize.clone()];
    wanted.extend(spec.log.iter().cloned());
    let targets = wanted
        .iter()
        .map(|n| Ok((n.clone(), ws.value(n)?)))
        .collect::<Result<Vec<_>, Failure>>()?;
    let g = restricted(ws.inc.graph(), &targets);
    let bound = ws.bind(&ws.inc.graph().clone(), &targets)?;
    let src = ws.source();
    let feeds: Vec<Feed> = ws
        .feeds
        .iter()
        .filter(|f| bound.inputs.contains_key(&f.name))
        .cloned()
        .collect();
    let dumps = Dumps::new(Vec::new(), Sink::Stderr);
    let mut trainer = Trainer::new(&g, &spec, ws.backend, dumps, ws.seed, &src)?;
    let mut feeding = Feeding::new(&trainer, &spec, &feeds, &bound.inputs, ws.seed, &src)?;
    let lines = std::io::stdout().is_terminal();
    let every = (steps / 10).max(1);
    let mut non_finite = None;
    let started = Instant::now();
    let loss = train_loop(
        &mut trainer,
        &mut ws.session,
        &mut feeding,
        steps,
        &mut |r| {
            if r.first_non_finite {
                non_finite = Some(r.step);
            }
            if lines && (r.step % every == 0) && r.step < steps {
                let loss = scalar_str(&r.loss.data, 0);
                let _ = stdout::write(&format!("step {}/{steps}  loss {loss}\n", r.step));
            }
        },
    )?;
    let secs = started.elapsed().as_secs_f64();
    let mut text = format!("trained {steps} steps in {secs:.3} s\n");
    if let Some(step) = non_finite {
        text += &format!("warning: the loss became non-finite at step {step}\n");
    }
    Ok(text + &arrayprint::named("final_loss", &loss) + "\n")
}

/// `:save FILE`: every param of the graph.
fn save(ws: &mut Workspace, args: &str) -> Result<String, Failure> {
    let path = file_argument(args, "save FILE")?;
    let g = ws.inc.graph().clone();
    ws.session.init_missing(&g, ws.seed, &ws.source())?;
    let params = g
        .params()
        .map(|v| {
            let name = param_name(&g, v);
            let value = ws.session.value(name).ok_or_else(|| {
                Failure::new(format!("param `{name}` has no value in this session"))
            })?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    checkpoint::save(path, &params)?;
    Ok(format!(
        "saved {} params to {}\n",
        params.len(),
        path.display()
    ))
}

/// `:restore FILE`: every param of the graph.
fn restore(ws: &mut Workspace, args: &str) -> Result<String, Failure> {
    let path = file_argument(args, "restore FILE")?;
    let g = ws.inc.graph().clone();
    let src = ws.source();
    checkpoint::restore(path, &g, &mut ws.session, &src)?;
    Ok(format!(
        "restored {} params from {}\n",
        g.params().count(),
        path.display()
    ))
}

fn file_argument<'a>(args: &'a str, usage: &str) -> Result<&'a Path, Failure> {
    match args.trim() {
        "" => Err(Failure::new(format!("usage: :{usage}"))),
        path => Ok(Path::new(path)),
    }
}

/// `:backend [NAME]`.
fn backend(ws: &mut Workspace, args: &str) -> Result<String, Failure> {
    let words = arguments(args, 0, 1, "backend [NAME]")?;
    if let Some(name) = words.first() {
        let backend = Backend::named(name).ok_or_else(|| {
            Failure::new(format!(
                "no backend named `{name}`; the backends are cpu, interp and cuda"
            ))
        })?;
        tfg_driver::backend::check_available(backend)?;
        ws.backend = backend;
    }
    Ok(format!("backend: {}\n", ws.backend.name()))
}
