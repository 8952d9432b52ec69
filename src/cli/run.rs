//! `scriptless run`: one forward call from files, or a `.jsonl` batch file (`jsonl`).

use std::process::ExitCode;

use anyhow::{bail, Context};
use scriptless::script::Program;
use scriptless::{
    parse_device, read_request, Model, ModelInputs, ModelKind, Pooling, RequestFormat,
    META_FEATURE_WIDTH,
};

use super::jsonl::{self, Batching};
use super::output::{write_output, OutputTarget};
use super::program;
use super::RunArgs;

/// Requests per model call for a `.jsonl` input, unless `--batch-size` says otherwise.
const DEFAULT_BATCH_SIZE: usize = 256;

/// A model opened from `--weights`, the way `run` opens it.
pub(crate) enum Opened {
    /// One of the seed's models, run by its dedicated implementation.
    Seed {
        model: Box<Model>,
        kind: ModelKind,
        pooling: Pooling,
    },
    /// A program run by its own code (TorchScript or `torch.export`).
    Program(Box<Program>),
}

pub(crate) fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    // Everything that can be checked without running the model is checked first.
    let target = OutputTarget::from_arg(args.output.as_deref())?;
    let (model, kind, pooling) = match open(args)? {
        Opened::Program(program) => return program::run(args, &program),
        Opened::Seed {
            model,
            kind,
            pooling,
        } => (model, kind, pooling),
    };
    let limits = args.limits();
    if args.input.extension().is_some_and(|e| e == "jsonl") {
        let batching = Batching {
            batch_size: args.batch_size.map_or(DEFAULT_BATCH_SIZE, |n| n as usize),
            keep_going: args.keep_going,
            pooling,
            limits,
        };
        return jsonl::run(&model, &args.input, &target, &batching);
    }
    if args.keep_going || args.batch_size.is_some() {
        bail!("--keep-going and --batch-size apply to a .jsonl input only");
    }
    let inputs = read_seed_request(args, &model, kind)?;
    let output = model.forward(&inputs, pooling)?;
    write_output(&output, &target)?;
    Ok(ExitCode::SUCCESS)
}

/// Opens `--weights`: a program when `--interpret` says so or the file's code is not one of
/// the seed's, else the seed's model it holds (or `--model` names).
pub(crate) fn open(args: &RunArgs) -> anyhow::Result<Opened> {
    let device = parse_device(&args.device)?;
    let limits = args.limits();
    if args.interpret {
        if args.model.is_some() {
            bail!(
                "--interpret runs the archive by its own code, and --model by the seed's: give one"
            );
        }
        return Ok(Opened::Program(Box::new(program::load(args)?)));
    }
    // A file that is not one of the seed's models runs by its own code, when it has code.
    let mut weights = match scriptless::Opened::open(
        &args.weights,
        args.model.is_some(),
        &program::options(args)?,
    )? {
        scriptless::Opened::Seed(weights) => weights,
        scriptless::Opened::Program(program) => {
            program::announce(args, &program);
            return Ok(Opened::Program(program));
        }
    };
    let kind = ModelKind::resolve(args.model.map(ModelKind::from), &weights, "--model")?;
    if let Some(width) = args.feature_width {
        if kind != ModelKind::Categorical {
            bail!("--feature-width applies to the categorical model only, not {kind}");
        }
        weights.set_metadata(META_FEATURE_WIDTH, &width.to_string())?;
    }
    if args.pool.is_some() && kind != ModelKind::Sequence {
        bail!("--pool applies to the sequence model only, not {kind}");
    }
    let dtype = args.dtype.unwrap_or(super::DtypeArg::F32).into();
    let model = Model::from_weights(&weights, kind, dtype, &device)
        .with_context(|| format!("loading the {kind} model from {}", args.weights.display()))?
        .with_limits(limits);
    // The model holds what it needs; the file's tensors would only take memory from the run.
    drop(weights);
    let pooling = args.pool.map(Pooling::from).unwrap_or_default();
    Ok(Opened::Seed {
        model: Box::new(model),
        kind,
        pooling,
    })
}

/// The request file `--input` for one of the seed's models (not a `.jsonl` file).
pub(crate) fn read_seed_request(
    args: &RunArgs,
    model: &Model,
    kind: ModelKind,
) -> anyhow::Result<ModelInputs> {
    // A .npy gets the library's advice (one array; the models take two: use .npz).
    let npy = args.input.extension().is_some_and(|e| e == "npy");
    if RequestFormat::from_path(&args.input).is_none() && !npy {
        bail!(
            "input file {}: expected a .json, .safetensors, .npz or .jsonl file",
            args.input.display()
        );
    }
    Ok(read_request(
        &args.input,
        kind,
        model.dtype(),
        &args.limits(),
    )?)
}
