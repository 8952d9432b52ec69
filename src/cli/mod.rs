//! Command-line arguments and the dispatch to each subcommand.

mod bench;
mod bench_file;
mod inspect;
mod jsonl;
mod output;
mod program;
mod progress;
mod run;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand, ValueEnum};

/// Run the seed's PyTorch models without libtorch, with PyTorch's outputs.
#[derive(Debug, Parser)]
#[command(
    name = "scriptless",
    version,
    about,
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a model on an input file: one request, or one per line of a `.jsonl` file.
    Run(RunArgs),
    /// Show what a weights file holds: tensors, format, metadata, the model and its sizes.
    Inspect(InspectArgs),
    /// Time forward calls over the fixed benchmark table (random weights and inputs).
    Bench(BenchArgs),
}

/// Arguments of `scriptless bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Device to run on: cpu, cuda, cuda:N or metal. GPU-only configurations run on GPUs only.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Run only the configurations whose name starts with this prefix.
    #[arg(long, value_name = "NAME_PREFIX")]
    pub only: Option<String>,
    /// Print one JSON object: {"device": ..., "cpu": tier, "rows": [{"name", "median_us",
    /// "runs", "macs"}, ...]}.
    #[arg(long)]
    pub json: bool,
    /// Seconds of timed calls per configuration, after a warm-up of a tenth of that.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// The LSTM's time loop: `fused` (CPU default) or `composed` (candle ops, the GPU default).
    #[arg(long, value_enum)]
    pub kernel: Option<KernelArg>,
    /// Instead of the table, measure the peak f32 multiply-add throughput of every CPU tier
    /// this machine can use (at or below SCRIPTLESS_CPU), on one thread and on all the
    /// kernels' threads, each for --seconds; with --json: {"cpu": tier, "peak": [{"tier",
    /// "threads", "gflops"}, ...]}.
    #[arg(long, conflicts_with_all = ["only", "kernel"])]
    pub peak: bool,
    /// Instead of the table, time one model on one request: any file `run --weights` takes,
    /// opened as `run` opens it (row `name`: the file's stem; `macs`: null).
    #[arg(long, value_name = "FILE", requires = "input", conflicts_with_all = ["only", "peak", "kernel"])]
    pub weights: Option<PathBuf>,
    /// The request for --weights: a `.json`, `.safetensors` or `.npz` file, as `run --input`.
    #[arg(long, value_name = "FILE", requires = "weights")]
    pub input: Option<PathBuf>,
    /// With --weights: which of the seed's models the file holds, as `run --model`.
    #[arg(long, value_enum, requires = "weights")]
    pub model: Option<ModelArg>,
    /// With --weights: the precision, as `run --dtype`.
    #[arg(long, value_enum, requires = "weights")]
    pub dtype: Option<DtypeArg>,
    /// With --weights: run the archive by its own code even when it is one of the seed's
    /// models, as `run --interpret`.
    #[arg(long, requires = "weights")]
    pub interpret: bool,
    /// With --weights: after the timing, time every operator call for another --seconds and
    /// print where a call's time goes: per operator overload, its calls and microseconds per
    /// forward call; the rest is the interpreter's or executor's own (with --json: a
    /// "profile" object).
    #[arg(long, requires = "weights")]
    pub profile: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KernelArg {
    Fused,
    Composed,
}

impl From<KernelArg> for scriptless::StepKernel {
    fn from(k: KernelArg) -> Self {
        match k {
            KernelArg::Fused => Self::Fused,
            KernelArg::Composed => Self::Composed,
        }
    }
}

/// Arguments of `scriptless inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// A weights file: safetensors, `torch.save(model.state_dict())`, `torch.jit.save` or
    /// `torch.export.save` (`.pt2`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Read the file as this seed model, whatever it names, its code is or its tensors suggest
    /// (as `run --model` does).
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Categorical model only: the width of `tensor_input`, when the file does not record it.
    #[arg(long, value_name = "N")]
    pub feature_width: Option<usize>,
    /// Refuse a file larger than this (bytes; K, M, G suffixes allowed) [default: a
    /// sixteenth of the memory this process may use, at most 16G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_weights_bytes: Option<u64>,
}

/// Arguments of `scriptless run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Which of the seed's models to run. Without it: the model the weights' metadata names, or
    /// the seed model whose code a TorchScript or torch.export archive holds; an archive whose
    /// code is not one of the seed's is refused. With it: the file's tensors go into the seed's
    /// model of that kind, and any code in the file is ignored.
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Weights: safetensors, `torch.save(model.state_dict(), path)`, a TorchScript archive
    /// (`torch.jit.save`) or a `torch.export.save` archive (`.pt2`), told apart by content. A
    /// file without code runs the seed's `forward`; an archive runs only when its code is the
    /// seed's, unless --model says otherwise.
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    /// Categorical model only: the width of `tensor_input` (the rest of `linear.in_features`
    /// is categories), when the weights do not record it (metadata `feature_width`, or the
    /// `one_hot` of an archive's code).
    #[arg(long, value_name = "N")]
    pub feature_width: Option<usize>,
    /// Inputs: `.json`, `.safetensors` or `.npz` (NumPy's `np.savez`, stored or compressed),
    /// keyed by the seed's forward argument names; or `.jsonl`, one JSON request per line.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write the output (`.json`, `.safetensors` or `.npy` as `np.save` writes it,
    /// bf16 as float32; `.jsonl` for a `.jsonl` input); stdout (JSON) when omitted.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// `.jsonl` input: requests run together per model call [default: 256].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
    /// `.jsonl` input: on a bad line, write `{"error": ..., "line": N}` for it and go on (the
    /// exit status is still 1 if any line failed). Without it the run stops at the first.
    #[arg(long)]
    pub keep_going: bool,
    /// Device to run on: cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Precision the model computes in [default: f32 for the seed's models; a model run by its
    /// own code keeps its archive's dtypes, and a .pt2 program runs only in its own].
    #[arg(long, value_enum)]
    pub dtype: Option<DtypeArg>,
    /// Sequence model only: which time step feeds the final Linear. `padded-last` is the seed's
    /// `[:, -1, :]` (shorter rows output the bias); `last-valid` is each row's own last step.
    #[arg(long, value_enum)]
    pub pool: Option<PoolArg>,
    /// Refuse a weights file larger than this (bytes; K, M, G suffixes allowed) [default: a
    /// sixteenth of the memory this process may use, at most 16G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_weights_bytes: Option<u64>,
    /// Refuse an input file, or a line of a `.jsonl` file, larger than this, or an `.npz` whose
    /// arrays are, uncompressed (bytes; K, M, G suffixes allowed) [default: a sixteenth of the
    /// memory this process may use, at most 1G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_input_bytes: Option<u64>,
    /// Refuse a call that would build any tensor of more elements than this: an input, the
    /// padded batch, a broadcast, the LSTM's gates over all packed rows, the output [default:
    /// the memory this process may use / 128 bytes, at most 134217728 (2^27)].
    #[arg(long, value_name = "N")]
    pub max_elements: Option<usize>,
    /// Run a TorchScript archive by its own code through the interpreter even when its code is
    /// one of the seed's models (which otherwise run on their dedicated implementations).
    #[arg(long)]
    pub interpret: bool,
    /// Interpreted models: the most statements and loop turns one call may run.
    #[arg(long, value_name = "N", default_value_t = scriptless::script::DEFAULT_MAX_STEPS)]
    pub max_steps: u64,
    /// Interpreted models: the deepest calls may nest.
    #[arg(long, value_name = "N", default_value_t = scriptless::script::DEFAULT_MAX_DEPTH)]
    pub max_depth: usize,
}

impl RunArgs {
    pub(crate) fn limits(&self) -> scriptless::Limits {
        let default = scriptless::Limits::default();
        scriptless::Limits {
            max_weights_bytes: self.max_weights_bytes.unwrap_or(default.max_weights_bytes),
            max_input_bytes: self.max_input_bytes.unwrap_or(default.max_input_bytes),
            max_elements: self.max_elements.unwrap_or(default.max_elements),
        }
    }
}

/// A byte count: a plain number, or one with a K, M or G suffix (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{s}` is not a size (expected bytes, or a number with K, M or G)"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModelArg {
    TwoInput,
    Categorical,
    Sequence,
}

impl From<ModelArg> for scriptless::ModelKind {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::TwoInput => Self::TwoInput,
            ModelArg::Categorical => Self::Categorical,
            ModelArg::Sequence => Self::Sequence,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DtypeArg {
    F32,
    F64,
    F16,
    Bf16,
}

impl From<DtypeArg> for candle_core::DType {
    fn from(d: DtypeArg) -> Self {
        match d {
            DtypeArg::F32 => Self::F32,
            DtypeArg::F64 => Self::F64,
            DtypeArg::F16 => Self::F16,
            DtypeArg::Bf16 => Self::BF16,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PoolArg {
    PaddedLast,
    LastValid,
}

impl From<PoolArg> for scriptless::Pooling {
    fn from(p: PoolArg) -> Self {
        match p {
            PoolArg::PaddedLast => Self::PaddedLast,
            PoolArg::LastValid => Self::LastValid,
        }
    }
}

/// Parses the command line and runs the subcommand.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version: print as clap formats them, and succeed.
            write!(std::io::stdout().lock(), "{err}")?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(err) if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Bare `scriptless`: the full help, with the list of subcommands, as a usage error.
            eprint!("{}", err.render());
            return Ok(ExitCode::from(2));
        }
        Err(err) => {
            // Usage errors: one line, without clap's usage block.
            let text = err.render().to_string();
            let line = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("scriptless: {}", line.trim_start_matches("error: "));
            return Ok(ExitCode::from(2));
        }
    };
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Inspect(args) => inspect::run(&args),
    }
}
