use std::path::PathBuf;

use serde_json::json;
use veriflop_circuits::matrix::read_input;
use veriflop_circuits::{Address, Bytes32, CircuitKind, Dtype, Job, JobId, ProofSystem, Shape, Venue};

use super::common::{commit_key_for, write_file, CliError, Ctx, KeyArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Matrix A (m×k), .npy or .vfm.
    #[arg(long, required_unless_present = "model")]
    pub a: Option<PathBuf>,
    /// Matrix B (k×n), .npy or .vfm.
    #[arg(long, required_unless_present = "model")]
    pub b: Option<PathBuf>,
    /// An inference job instead: the model file (`model import` writes it), whose
    /// verifying key for the input's batch is in --keys (`model setup`).
    #[arg(long, conflicts_with_all = ["a", "b", "circuit", "proof_system"], requires = "input")]
    pub model: Option<PathBuf>,
    /// The inference job's int8 input batch (batch × the model's inputs), .npy or .vfm.
    #[arg(long, requires = "model")]
    pub input: Option<PathBuf>,
    /// Element type the entries must fit.
    #[arg(long, default_value = "int8")]
    pub dtype: Dtype,
    /// Where the job will be escrowed: `service:0x<service id>` (a verifier
    /// service: `GET /v1/venue`) or `chain:<chain id>:0x<JobEscrow address>`.
    /// With --client, the job id is derived from venue, client and nonce, as the
    /// venue requires; without, the id is a random local one that no venue accepts.
    #[arg(long, requires = "client", conflicts_with = "job_id")]
    pub venue: Option<Venue>,
    /// The client's address (who posts and pays for the job at --venue).
    #[arg(long, requires = "venue")]
    pub client: Option<Address>,
    /// The client's 32-byte nonce for this job (0x-hex); random when omitted.
    #[arg(long, requires = "venue")]
    pub nonce: Option<Bytes32>,
    /// Job id (0x-hex field element) for local use; random when omitted.
    #[arg(long)]
    pub job_id: Option<JobId>,
    /// Proof system that settles the job: groth16 or halo2 (universal SRS; the
    /// job's data is then committed with Poseidon). The client chooses it because
    /// it decides which trusted setup the payment relies on.
    #[arg(long, default_value = "groth16")]
    pub proof_system: ProofSystem,
    /// Circuit the job must be proven with; it fixes how A and B are committed
    /// (committed: under the shape's commitment key, which must be in --keys).
    /// Default: committed for groth16, poseidon for halo2.
    #[arg(long)]
    pub circuit: Option<CircuitKind>,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Where to write the job file.
    #[arg(long, default_value = "veriflop-data/job/job.json")]
    pub out: PathBuf,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let nonce = args.venue.map(|_| args.nonce.unwrap_or_else(Bytes32::random));
    let job_id = match (args.venue, args.client, nonce) {
        (Some(venue), Some(client), Some(nonce)) => venue.job_id(client, &nonce),
        _ => args.job_id.unwrap_or_else(JobId::random),
    };
    let job = match (&args.model, &args.input, &args.a, &args.b) {
        (Some(model), Some(input), _, _) => {
            let m = super::inference::read_model(model)?;
            let x = read_input(input, Dtype::Int8)?;
            super::inference::job_for(job_id, &m, &x, &args.keys.keys)?
        }
        (_, _, Some(pa), Some(pb)) => {
            let a = read_input(pa, args.dtype)?;
            let b = read_input(pb, args.dtype)?;
            let shape = Shape::new(a.rows as u32, a.cols as u32, b.cols as u32, args.dtype)?;
            let circuit = args.circuit.unwrap_or(match args.proof_system {
                ProofSystem::Groth16Bn254 => CircuitKind::Committed,
                ProofSystem::Halo2KzgBn254 => CircuitKind::Poseidon,
            });
            args.proof_system.check_circuit(circuit)?;
            let ck = commit_key_for(circuit, &shape, &args.keys)?;
            Job::new(job_id, circuit, shape, ck.as_ref(), &a, &b)?.with_system(args.proof_system)?
        }
        _ => return Err(CliError::new("usage", "give --a and --b, or --model and --input")),
    };
    let shape = job.shape;
    let circuit = job.circuit;
    let text = serde_json::to_string_pretty(&job).expect("job serializes");
    write_file(&args.out, text.as_bytes())?;
    let origin = match (args.venue, args.client, nonce) {
        (Some(v), Some(c), Some(n)) => {
            format!("\n  id derived for client {c} at {v} with nonce {n} (register it with that nonce)")
        }
        _ => "\n  id is local (no --venue): no venue will accept it".to_string(),
    };
    ctx.emit(
        format!(
            "job {} ({shape}, {} {circuit}){origin}\n  cm_A {}\n  cm_B {}\nwritten to {}",
            job.job_id,
            job.system,
            hexf(&job.cm_a),
            hexf(&job.cm_b),
            args.out.display()
        ),
        json!({"ok": true, "job": job, "venue": args.venue.map(|v| v.to_string()), "client": args.client, "nonce": nonce, "path": args.out}),
    );
    Ok(())
}

fn hexf(x: &ark_bn254::Fr) -> String {
    veriflop_circuits::field::fr_to_hex(x)
}
