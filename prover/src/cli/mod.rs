//! Command-line interface. One module per subcommand; each has clap `Args` and a
//! `run` that returns a [`CliError`] carrying a meaningful exit code.

mod ceremony;
mod chain;
mod chain_work;
mod client;
mod common;
mod demo;
mod demo_chain;
mod demo_inference;
mod device;
mod execute;
mod export;
mod gen;
mod halo2;
mod inference;
mod job;
mod key;
mod model;
mod onchain;
mod prove;
mod setup;
mod submit;
mod verify;
mod work;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

use common::Ctx;

/// veriflop prover: execute matrix jobs and prove the result with Groth16 or halo2-KZG (BN254).
///
/// A typical provider session: `setup` keys for the job's shape once (Groth16)
/// or the universal SRS (halo2), then `execute` and `prove` each job with the
/// proof system the job names, and hand the bundle to the verifier.
/// `demo` runs the whole flow on generated data.
///
/// Exit codes: 0 success; 1 error (bad input, I/O); 2 usage; 3 proof rejected;
/// 4 the result does not satisfy the job (nothing was proven).
#[derive(Parser, Debug)]
#[command(name = "veriflop-prover", version, propagate_version = true)]
struct Cli {
    /// Print one JSON object on stdout instead of human-readable text.
    #[arg(long, global = true)]
    json: bool,
    /// Hide progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole flow end to end on generated data (the main job).
    Demo(demo::Args),
    /// Generate random input matrices A and B for a shape (reproducible from a seed).
    Gen(gen::Args),
    /// Create a job from A and B (client side): job id, shape, commitments.
    Job(job::Args),
    /// Generate Groth16 keys for a shape, or the halo2 universal SRS (development setup or a .ptau file).
    Setup(setup::Args),
    /// Compute C = A·B for a job and write it with its commitment.
    Execute(execute::Args),
    /// Prove a job's result and write a proof bundle.
    Prove(prove::Args),
    /// Verify a proof bundle natively, optionally against a job and payee.
    Verify(verify::Args),
    /// Export a bundle and its key as snarkjs JSON (verification_key, proof, public).
    Export(export::Args),
    /// Deliver a result to a verifier service: upload C, then submit its proof bundle (signed with the provider's key).
    Submit(submit::Args),
    /// Client commands against a verifier service: post a job with its data, status, fetch the checked result, refund.
    #[command(subcommand_required = true)]
    Client(client::Args),
    /// Run the provider agent: find, claim, prove and deliver jobs from a verifier service, unattended.
    Work(work::Args),
    /// Make a signing key, or print a key's address (clients and providers sign with these).
    #[command(subcommand_required = true)]
    Key(key::Args),
    /// Print the JobEscrow settlement calldata for a bundle.
    Calldata(chain::CalldataArgs),
    /// Generate the Solidity verifier (Groth16 or halo2) for a shape's key.
    Solidity(chain::SolidityArgs),
    /// JobEscrow on a chain over JSON-RPC: deploy, register, post, lock, settle, refund, slash, withdraw, status.
    #[command(subcommand_required = true)]
    Chain(onchain::Args),
    /// Production Groth16 keys: a multi-party phase-2 ceremony on a public powers of tau.
    #[command(subcommand_required = true)]
    Ceremony(ceremony::Args),
    /// int8 inference models: import from ONNX (onnxruntime-quantized), run exactly, export.
    #[command(subcommand_required = true)]
    Model(model::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Ctx { json: cli.json, quiet: cli.quiet || cli.json };
    let result = match cli.command {
        Command::Demo(a) => demo::run(a, &ctx),
        Command::Gen(a) => gen::run(a, &ctx),
        Command::Job(a) => job::run(a, &ctx),
        Command::Setup(a) => setup::run(a, &ctx),
        Command::Execute(a) => execute::run(a, &ctx),
        Command::Prove(a) => prove::run(a, &ctx),
        Command::Verify(a) => verify::run(a, &ctx),
        Command::Export(a) => export::run(a, &ctx),
        Command::Submit(a) => submit::run(a, &ctx),
        Command::Client(a) => client::run(a, &ctx),
        Command::Work(a) => work::run(a, &ctx),
        Command::Key(a) => key::run(a, &ctx),
        Command::Calldata(a) => chain::calldata(a, &ctx),
        Command::Solidity(a) => chain::solidity(a, &ctx),
        Command::Chain(a) => onchain::run(a, &ctx),
        Command::Ceremony(a) => ceremony::run(a, &ctx),
        Command::Model(a) => model::run(a, &ctx),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ctx.report_error(&e);
            ExitCode::from(e.exit)
        }
    }
}
