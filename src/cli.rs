//! The command line: commands and options (docs/cli.md), parsed by clap.
//!
//! Only the syntax lives here; what the commands do is in their own modules.
//! clap answers a usage error (an unknown flag, a malformed option value) with
//! exit status 2 before any command runs.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use tfg_driver::feed::{Feed, FeedValue};
use tfg_driver::Backend;

#[derive(Parser, Debug)]
#[command(
    name = "tfg",
    version,
    about = "A graph compiler for tensor programs",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile and run a graph once; print its outputs.
    Run(RunArgs),
    /// Train a graph as the file's `train` item says; print the final loss and the outputs.
    Train(TrainArgs),
    /// Parse, resolve and check types and shapes; report every error.
    Check(CheckArgs),
    /// Print the IR after each pass (or after the passes named by --after).
    Dump(DumpArgs),
    /// Run single passes over a dumped IR file (`.tfir`) and print the result.
    Opt(OptArgs),
    /// Compile a graph ahead of time: an object file and a C header (or its CLIF or assembly).
    Compile(CompileArgs),
    /// Draw the graph as a picture: SVG (laid out by tfg) or Graphviz DOT.
    Graph(GraphArgs),
    /// An interactive prompt that compiles and runs each statement as it is entered.
    Repl(ReplArgs),
    /// Write a graph as a self-contained model version for serving (docs/serving.md).
    Export(ExportArgs),
    /// Serve models over REST (TensorFlow Serving, Open Inference Protocol v2) and gRPC.
    Serve(ServeArgs),
    /// An ONNX model as a readable .tfg file and a safetensors file of its initializers.
    Import(ImportArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The ONNX model (.onnx).
    pub model: PathBuf,
    /// The .tfg file to write; the params go beside it, with the extension .safetensors.
    #[arg(short, long, value_name = "OUT.tfg")]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct OptArgs {
    /// A Graph IR text file, as `tfg dump` writes it (.tfir).
    pub file: PathBuf,
    /// The passes to run, in order (comma-separated or repeated).
    #[arg(long, value_name = "PASS", value_delimiter = ',', required = true, value_parser = pass_parser())]
    pub passes: Vec<String>,
    /// Say why each rewrite of simplify fired.
    #[arg(long)]
    pub explain: bool,
    /// Write the result to this file instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReplArgs {
    /// A .tfg file to start from: its graph, fns and train item.
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub graph: GraphArg,
    /// Feed an input: VALUE is a literal in .tfg syntax (x=[1,2,3]) or a path ending in .npy.
    /// Repeatable; `:feed NAME = VALUE` sets one at the prompt.
    #[arg(long = "feed", value_name = "NAME=VALUE", value_parser = feed)]
    pub feeds: Vec<Feed>,
    /// Where to run, as for `tfg run`; `:backend NAME` changes it at the prompt.
    #[arg(long, value_parser = backend(), default_value = "cpu")]
    pub backend: Backend,
    /// Seed for random param initialisers and for shuffling minibatches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The .tfg file, or a PTX module from `tfg compile --target ptx` (its
    /// directory or its .ptx file; runs with --backend cuda).
    pub file: PathBuf,
    #[command(flatten)]
    pub graph: GraphArg,
    /// Feed an input: VALUE is a literal in .tfg syntax (x=[1,2,3]) or a path ending in .npy.
    /// Repeatable. Inputs without a feed take their default.
    #[arg(long = "feed", value_name = "NAME=VALUE", value_parser = feed)]
    pub feeds: Vec<Feed>,
    /// Where to run: `cpu` JIT-compiles with Cranelift, `interp` is the reference
    /// interpreter, `cuda` runs PTX on an NVIDIA GPU.
    #[arg(long, value_parser = backend(), default_value = "cpu")]
    pub backend: Backend,
    /// Seed for random param initialisers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print exactly one JSON object on stdout: {"outputs": {NAME: {"dtype", "shape", "data"}, …}}.
    #[arg(long)]
    pub json: bool,
    /// Write every output as DIR/NAME.npy (DIR is created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Start from the params in this safetensors checkpoint instead of their initialisers.
    #[arg(long, value_name = "CKPT")]
    pub restore: Option<PathBuf>,
    /// Compile once, run once to warm up, then time N runs: print the compile time and the
    /// median/min/max time per run (in --json as "timing": {"compile_ms", "run_ms": {…}}).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub bench: Option<u64>,
    #[command(flatten)]
    pub dump: DumpOptions,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The .tfg file.
    pub file: PathBuf,
    #[command(flatten)]
    pub graph: GraphArg,
    /// Feed an input: VALUE is a literal in .tfg syntax (x=[1,2,3]) or a path ending in .npy.
    /// Repeatable. Inputs fed from files are cut into minibatches when the train item says `batch N`.
    #[arg(long = "feed", value_name = "NAME=VALUE", value_parser = feed)]
    pub feeds: Vec<Feed>,
    /// Where to run, as for `tfg run`.
    #[arg(long, value_parser = backend(), default_value = "cpu")]
    pub backend: Backend,
    /// Seed for random param initialisers and for shuffling minibatches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run this many steps instead of the train item's `steps`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,
    /// Run one warm-up step and then N timed steps instead of the train item's `steps`: print
    /// the compile time and the median/min/max time per step (in --json as "timing").
    #[arg(long, value_name = "N", conflicts_with = "steps", value_parser = clap::value_parser!(u64).range(1..))]
    pub bench: Option<u64>,
    /// Start from the params in this safetensors checkpoint instead of their initialisers.
    #[arg(long, value_name = "CKPT")]
    pub restore: Option<PathBuf>,
    /// Write every param after training to this safetensors checkpoint.
    #[arg(long, value_name = "CKPT")]
    pub save: Option<PathBuf>,
    /// After training, export the graph as a model version into DIR (as `tfg export`).
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
    /// Print exactly one JSON object on stdout:
    /// {"steps", "final_loss", "outputs": {NAME: TENSOR, …}, "params": {NAME: TENSOR, …}}.
    #[arg(long)]
    pub json: bool,
    /// Write every output of the run after training as DIR/NAME.npy (DIR is created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write a TensorBoard event file into DIR: the loss and logged values at every step,
    /// and the training-step graph.
    #[arg(long, value_name = "DIR")]
    pub logdir: Option<PathBuf>,
    #[command(flatten)]
    pub dump: DumpOptions,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The .tfg file.
    pub file: PathBuf,
    /// Also check that the file has a graph of this name.
    #[arg(long, value_name = "NAME")]
    pub graph: Option<String>,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The .tfg file (not needed with --list-passes).
    #[arg(required_unless_present = "list_passes")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub graph: GraphArg,
    /// Print the IR only after these stages (repeatable, or comma-separated); default: all.
    #[arg(long, alias = "dump-after", value_name = "PASS", value_delimiter = ',', value_parser = stage_parser())]
    pub after: Vec<String>,
    /// Write one file per stage into DIR instead of printing.
    #[arg(long, value_name = "DIR")]
    pub dump_dir: Option<PathBuf>,
    /// List the stages (the frontend's output, then each pass) and exit.
    #[arg(long)]
    pub list_passes: bool,
    /// Bind a symbolic dimension (repeatable). Fusion and lowering need
    /// concrete shapes; without them the dump stops at the Graph IR passes.
    #[arg(long = "dim", value_name = "NAME=N", value_parser = crate::selection::dim_binding)]
    pub dims: Vec<(String, u64)>,
    /// Dump the training step of the file's train item instead of the forward graph.
    #[arg(long)]
    pub train: bool,
    /// Print a table of how long each pass took (to stderr).
    #[arg(long)]
    pub time_passes: bool,
    /// Do not run the IR verifier after each pass (to time the passes alone).
    #[arg(long)]
    pub no_verify: bool,
    /// After simplify, print each rewrite it applied: the rule, and the term before and after.
    #[arg(long)]
    pub explain: bool,
    /// After the Kernel IR, print the GPU launch plan its PTX would run with
    /// (grid, block, shared memory and buffers of each launch); needs --dim
    /// for symbolic dims.
    #[arg(long)]
    pub launch_plan: bool,
    /// The GPU architecture for --launch-plan (default sm_80).
    #[arg(long, value_name = "sm_XX", requires = "launch_plan")]
    pub sm: Option<String>,
}

#[derive(Args, Debug)]
pub struct GraphArgs {
    /// The .tfg file.
    pub file: PathBuf,
    #[command(flatten)]
    pub graph: GraphArg,
    /// Draw the graph after this stage (`all`: after every pass); default: as the frontend built it.
    #[arg(long, value_name = "PASS", value_parser = stage_parser())]
    pub after: Option<String>,
    /// Draw the training step (forward pass, gradients, optimizer update) of the file's train item.
    #[arg(long)]
    pub train: bool,
    /// Group the ops into the kernels fusion makes: a cluster each in DOT, one box each in SVG.
    #[arg(long)]
    pub kernels: bool,
    /// Bind a symbolic dimension (repeatable), so shapes are concrete and fusion can group ops.
    #[arg(long = "dim", value_name = "NAME=N", value_parser = crate::selection::dim_binding)]
    pub dims: Vec<(String, u64)>,
    /// Where to write the picture; the extension picks the format: .svg or .dot.
    #[arg(short, long, value_name = "OUT.svg|OUT.dot")]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct GraphArg {
    /// Which graph of the file (needed when it has several).
    #[arg(long = "graph", value_name = "NAME")]
    pub name: Option<String>,
}

/// `--dump-after` / `--dump-dir` on commands that compile.
#[derive(Args, Debug)]
pub struct DumpOptions {
    /// Print the IR to stderr after this pass, or after every stage with `all`
    /// (repeatable, or comma-separated). `frontend` is the IR before any pass.
    #[arg(long, value_name = "PASS|all", value_delimiter = ',', value_parser = stage_parser())]
    pub dump_after: Vec<String>,
    /// Write the dumps as one file per stage into DIR instead of stderr
    /// (every stage unless --dump-after names some).
    #[arg(long, value_name = "DIR")]
    pub dump_dir: Option<PathBuf>,
    /// Do not run the IR verifier after each pass (to time compilation alone).
    #[arg(long)]
    pub no_verify: bool,
}

/// Parses `--backend`: the driver's backends by name, each with its summary
/// in `--help`.
pub fn backend() -> impl TypedValueParser<Value = Backend> {
    let values = Backend::ALL.map(|b| PossibleValue::new(b.name()).help(b.summary()));
    PossibleValuesParser::new(values).try_map(|name| Backend::named(&name).ok_or("no such backend"))
}

impl DumpOptions {
    /// The dumps these options ask for.
    pub fn dumps(&self) -> tfg_driver::Dumps {
        tfg_driver::Dumps::to(&self.dump_after, self.dump_dir.as_deref()).verify(!self.no_verify)
    }
}

/// Parses `--feed NAME=VALUE`: a `.npy` path, or a literal whose errors
/// are shown as in a file called `--feed NAME`. NAME is what the graph calls
/// the input: an identifier in a `.tfg` file, any ONNX name (`gpu_0/data_0`)
/// in an `.onnx` model.
pub fn feed(s: &str) -> Result<Feed, String> {
    let (name, value) = s.split_once('=').ok_or("expected NAME=VALUE")?;
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{name}` is not a name"));
    }
    if value.trim().is_empty() {
        return Err(format!("no value for `{name}`"));
    }
    let value = match value.ends_with(".npy") {
        true => FeedValue::Npy(PathBuf::from(value)),
        false => FeedValue::Literal {
            text: value.to_string(),
            shown_as: format!("--feed {name}"),
        },
    };
    Ok(Feed {
        name: name.to_string(),
        value,
    })
}

/// How the command line gives an input a value.
pub fn how_to_feed(name: &str) -> String {
    format!("pass `--feed {name}=VALUE`")
}

/// The names of the pipeline's passes.
fn pass_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(tfg_passes::pipeline().into_iter().map(|p| p.name))
}

/// What `--dump-after` accepts: `all`, `frontend`, or a pass of the pipeline.
fn stage_parser() -> PossibleValuesParser {
    let stages = ["all", tfg_driver::dumps::FRONTEND]
        .into_iter()
        .chain(tfg_passes::pipeline().into_iter().map(|p| p.name));
    PossibleValuesParser::new(stages)
}

#[derive(Args, Debug)]
pub struct CompileArgs {
    /// The .tfg file.
    pub file: PathBuf,
    #[command(flatten)]
    pub graph: GraphArg,
    /// What to compile for.
    #[arg(long, value_enum, default_value_t = Target::Cpu)]
    pub target: Target,
    /// Bind a symbolic dimension (repeatable); every one must be bound.
    #[arg(long = "dim", value_name = "NAME=N", value_parser = crate::selection::dim_binding)]
    pub dims: Vec<(String, u64)>,
    /// Require the file's train item (its step becomes `NAME_train_step`); with
    /// --emit clif|asm|llvm|ptx, show the training step instead of the forward
    /// graph; with --target ptx, compile the training step.
    #[arg(long)]
    pub train: bool,
    /// What to write. cpu: `obj` (the default), or the `clif` or `asm` of the
    /// kernels (LLVM's under TFG_CPU_TIER=llvm), or the `llvm` IR of the
    /// CPU's LLVM tier. ptx: a module directory (the default), or its `ptx`
    /// or `llvm` IR.
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
    /// The GPU architecture for --target ptx: sm_80 (the default), sm_90, …
    #[arg(long, value_name = "sm_XX")]
    pub sm: Option<String>,
    /// Where to write it: the object file (cpu), the module directory or a
    /// FILE.ptx (ptx, see docs/cli.md); listings default to stdout.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Where to write the C header declaring the object's API.
    #[arg(long, value_name = "FILE.h")]
    pub header: Option<PathBuf>,
    /// Seed for random param initialisers, whose values are embedded in the object.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The CPU tfg runs on, through Cranelift.
    Cpu,
    /// NVIDIA GPUs: PTX and its launch manifest, through LLVM's NVPTX target.
    Ptx,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    Obj,
    Clif,
    Asm,
    Llvm,
    Ptx,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_feed_options() {
        let f = feed("x=[1, 2]").expect("valid");
        assert_eq!(f.name, "x");
        assert!(
            matches!(f.value, FeedValue::Literal { ref text, ref shown_as }
            if text == "[1, 2]" && shown_as == "--feed x")
        );
        let f = feed("batch_1=data/x.npy").expect("valid");
        assert!(matches!(f.value, FeedValue::Npy(ref p) if p == &PathBuf::from("data/x.npy")));
        // An ONNX model's inputs have names that are not identifiers.
        let f = feed("gpu_0/data_0=x.npy").expect("valid");
        assert_eq!(f.name, "gpu_0/data_0");
        for bad in ["x", "=1", "x=", "a b=1", "\tx=1"] {
            assert!(feed(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn help_says_what_each_backend_is() {
        let help = Cli::command()
            .find_subcommand_mut("run")
            .expect("run exists")
            .render_long_help()
            .to_string();
        assert!(
            help.contains("Cranelift JIT: lowers the graph to Kernel IR"),
            "{help}"
        );
        assert!(help.contains("The reference interpreter"), "{help}");
    }
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The .tfg file.
    pub file: PathBuf,
    #[command(flatten)]
    pub graph: GraphArg,
    /// The directory to write: one model version (such as BASE/1). Replaced if it exists.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Take the params from this safetensors checkpoint instead of their initialisers.
    #[arg(long, value_name = "CKPT")]
    pub restore: Option<PathBuf>,
    /// Seed for random param initialisers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A .tfg file to serve as one model named after its graph (version 1), instead of --model.
    #[arg(required_unless_present = "models", conflicts_with = "models")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub graph: GraphArg,
    /// With FILE: take the params from this safetensors checkpoint.
    #[arg(long, value_name = "CKPT", requires = "file")]
    pub restore: Option<PathBuf>,
    /// With FILE: seed for random param initialisers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A model to serve: its name and base path, which holds versions as BASE/1, BASE/2, …
    /// (the highest is served). Repeatable.
    #[arg(long = "model", value_name = "NAME=BASE", value_parser = model_arg)]
    pub models: Vec<(String, PathBuf)>,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The REST port (0: the system picks one).
    #[arg(long, default_value_t = 8501)]
    pub rest_port: u16,
    /// The gRPC port (0: the system picks one).
    #[arg(long, default_value_t = 8500)]
    pub grpc_port: u16,
    /// Where models run.
    #[arg(long, value_parser = backend(), default_value = "cpu")]
    pub backend: Backend,
    /// The most rows run together in one batch.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_batch: u64,
    /// How long a batch waits for more requests after its first, in microseconds.
    #[arg(long, default_value_t = 0)]
    pub batch_timeout_us: u64,
    /// The most rows waiting per signature; more are refused with 503.
    #[arg(long, default_value_t = 1024)]
    pub max_queue: u64,
    /// The largest request body, in MiB; larger ones are refused with 413.
    #[arg(long, default_value_t = 64.0)]
    pub max_body_mb: f64,
    /// How often each base path is re-read for new versions, in seconds (0: never).
    #[arg(long, default_value_t = 2.0)]
    pub poll_s: f64,
}

fn model_arg(s: &str) -> Result<(String, PathBuf), String> {
    let (name, base) = s.split_once('=').ok_or("expected NAME=BASE")?;
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(format!(
            "`{name}` is not a model name (letters, digits, `_`, `-`, `.`)"
        ));
    }
    if base.is_empty() {
        return Err("the base path is empty".into());
    }
    Ok((name.to_string(), PathBuf::from(base)))
}
