//! `veriflop-prover model …`: int8 inference models (docs/PROTOCOL.md §16).
//!
//! Import turns an ONNX model quantized by onnxruntime's tooling into
//! veriflop's model file; run executes it exactly as onnxruntime does; setup
//! makes a model's keys for a batch size (the key files the verifier service
//! and the prover read, docs/PROTOCOL.md §16.8).

use std::path::PathBuf;
use std::time::Instant;

use clap::Subcommand;
use serde_json::json;
use veriflop_circuits::matrix::{read_input, write_matrix, Matrix};
use veriflop_circuits::Dtype;
use veriflop_infer::circuit::Cost;
use veriflop_infer::{onnx, Model};

use super::common::{secs, write_file, CliError, Ctx};
use super::inference::{read_model, setup_keys};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Import an int8 ONNX model quantized by onnxruntime (QOperator or QDQ form) into a model file.
    Import(ImportArgs),
    /// Run a model on an int8 input batch (.npy, batch × inputs), exactly as onnxruntime does.
    Run(RunArgs),
    /// Write a model file back as ONNX (a chain of QGemm), to run it in onnxruntime.
    Export(ExportArgs),
    /// Make a model's keys for one batch size (development setup: whoever runs it knows the trapdoors).
    Setup(SetupArgs),
    /// Write an int8 MLP with random weights as ONNX (QGemm chain): a stand-in for
    /// a trained model when trying the flow or measuring the prover.
    Random(RandomArgs),
}

#[derive(clap::Args, Debug)]
struct RandomArgs {
    /// Layer widths: inputs, hidden layers, outputs (ReLU after each hidden layer).
    #[arg(long, default_value = "784-256-256-10")]
    widths: String,
    /// Seed of the weights and biases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write the .onnx file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args, Debug)]
struct SetupArgs {
    #[arg(long, default_value = "veriflop-data/model/model.json")]
    model: PathBuf,
    /// Rows of the input batch a job carries.
    #[arg(long)]
    batch: usize,
    #[command(flatten)]
    keys: super::common::KeyArgs,
    /// Regenerate even if the keys exist.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
struct ImportArgs {
    /// The .onnx file.
    onnx: PathBuf,
    /// Where to write the model file.
    #[arg(long, default_value = "veriflop-data/model/model.json")]
    out: PathBuf,
    /// Batch size for the proving-cost estimate printed.
    #[arg(long, default_value_t = 1)]
    batch: usize,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    #[arg(long, default_value = "veriflop-data/model/model.json")]
    model: PathBuf,
    /// int8 input, batch × inputs (.npy or .vfm).
    #[arg(long)]
    input: PathBuf,
    /// Where to write the int8 output (batch × outputs).
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args, Debug)]
struct ExportArgs {
    #[arg(long, default_value = "veriflop-data/model/model.json")]
    model: PathBuf,
    /// Where to write the .onnx file.
    #[arg(long)]
    out: PathBuf,
}

impl From<veriflop_infer::Error> for CliError {
    fn from(e: veriflop_infer::Error) -> Self {
        let code = match e {
            veriflop_infer::Error::Unsupported { .. } => "unsupported_model",
            veriflop_infer::Error::Io(_) => "io",
            _ => "bad_model",
        };
        CliError::new(code, e.to_string())
    }
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    match args.command {
        Command::Import(a) => import(a, ctx),
        Command::Run(a) => execute(a, ctx),
        Command::Export(a) => export(a, ctx),
        Command::Setup(a) => setup(a, ctx),
        Command::Random(a) => random(a, ctx),
    }
}

fn import(a: ImportArgs, ctx: &Ctx) -> Result<(), CliError> {
    let model = onnx::import_path(&a.onnx)?;
    write_file(&a.out, &model.to_json())?;
    let cost = Cost::of(&model, a.batch.max(1));
    let layers: Vec<String> = model
        .layers
        .iter()
        .map(|l| {
            format!(
                "{}→{} (scale {:e}, zero point {}{})",
                l.d_in,
                l.d_out,
                l.requant.scale,
                l.requant.zero_point,
                if l.requant.lo > -128 { ", ReLU" } else { "" }
            )
        })
        .collect();
    let digest = hex::encode(model.digest());
    ctx.emit(
        format!(
            "imported {} layers: {}\n  model digest 0x{digest}\n  constraints for a batch of {}: {} (matmul {}, requantization {}, tables {})\nwritten to {}",
            model.layers.len(),
            layers.join(", "),
            a.batch.max(1),
            cost.total(),
            cost.matmul,
            cost.requant,
            cost.tables,
            a.out.display()
        ),
        json!({"ok": true, "layers": model.layers.iter().map(|l| [l.d_in, l.d_out]).collect::<Vec<_>>(),
               "digest": format!("0x{digest}"), "cost": cost, "path": a.out}),
    );
    Ok(())
}

fn execute(a: RunArgs, ctx: &Ctx) -> Result<(), CliError> {
    let model = read_model(&a.model)?;
    let x = read_input(&a.input, Dtype::Int8)?;
    if x.cols != model.d_in() {
        return Err(CliError::new(
            "bad_input",
            format!("{}: {} columns, the model takes {} inputs", a.input.display(), x.cols, model.d_in()),
        ));
    }
    let input: Vec<i8> = x.data.iter().map(|&v| v as i8).collect();
    let t = Instant::now();
    let trace = veriflop_infer::run(&model, x.rows, &input)?;
    let took = t.elapsed();
    let y = Matrix::new(x.rows, model.d_out(), trace.output().to_vec())?;
    write_matrix(&a.out, &y)?;
    ctx.emit(
        format!(
            "ran {} layers on a batch of {} in {}\nwritten to {}",
            model.layers.len(),
            x.rows,
            secs(took),
            a.out.display()
        ),
        json!({"ok": true, "batch": x.rows, "seconds": took.as_secs_f64(), "path": a.out}),
    );
    Ok(())
}

fn export(a: ExportArgs, ctx: &Ctx) -> Result<(), CliError> {
    let model = read_model(&a.model)?;
    write_file(&a.out, &onnx::export(&model)?)?;
    ctx.emit(format!("written to {}", a.out.display()), json!({"ok": true, "path": a.out}));
    Ok(())
}

fn setup(a: SetupArgs, ctx: &Ctx) -> Result<(), CliError> {
    let model = read_model(&a.model)?;
    let (pk_path, vk_path, took) = setup_keys(&model, a.batch, &a.keys.keys, a.force)?;
    let digest = format!("0x{}", hex::encode(model.digest()));
    let Some(took) = took else {
        ctx.emit(
            format!("keys exist: {} (--force to regenerate)", vk_path.display()),
            json!({"ok": true, "existing": true, "model": digest, "pk": pk_path, "vk": vk_path}),
        );
        return Ok(());
    };
    ctx.emit(
        format!(
            "model {digest}, batch {}: keys made in {}\n  proving key {}\n  verifying key {}",
            a.batch,
            secs(took),
            pk_path.display(),
            vk_path.display()
        ),
        json!({"ok": true, "existing": false, "model": digest, "batch": a.batch, "seconds": took.as_secs_f64(),
               "pk": pk_path, "vk": vk_path}),
    );
    Ok(())
}

fn random(a: RandomArgs, ctx: &Ctx) -> Result<(), CliError> {
    let widths = super::inference::parse_widths(&a.widths)?;
    let model = Model::random_mlp(&widths, a.seed);
    model.validate()?;
    write_file(&a.out, &onnx::export(&model)?)?;
    ctx.emit(
        format!("random int8 MLP {} (seed {}) written to {}", a.widths, a.seed, a.out.display()),
        json!({"ok": true, "widths": widths, "seed": a.seed, "path": a.out}),
    );
    Ok(())
}
