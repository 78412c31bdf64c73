use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use veriflop_circuits::{Address, ProofSystem};
use veriflop_prover::setup::read_vk;
use veriflop_prover::KeyStore;
use veriflop_verifier::{JobTerms, ShapeKey, Verifier};

use super::common::{read_bundle, read_job, secs, CliError, Ctx, KeyArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Proof bundle (binary or JSON).
    #[arg(long, default_value = "veriflop-data/job/bundle.vfpb")]
    pub bundle: PathBuf,
    /// Also check the bundle is for this job (id, shape, cm_A, cm_B).
    #[arg(long)]
    pub job: Option<PathBuf>,
    /// Also check the proof pays this address.
    #[arg(long)]
    pub provider: Option<Address>,
    /// Groth16 verifying key file; by default the shape's key from --keys
    /// (halo2 keys are derived from the SRS in --keys).
    #[arg(long)]
    pub vk: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArgs,
}

pub fn load_vk(
    vk: &Option<PathBuf>,
    keys: &KeyArgs,
    bundle: &veriflop_verifier::ProofBundle,
) -> Result<ShapeKey, CliError> {
    Ok(match vk {
        Some(p) => read_vk(p)?,
        None => KeyStore::new(&keys.keys).load_vk(bundle.circuit, &bundle.statement.shape)?,
    })
}

/// The verifier for a bundle's system, circuit and shape.
pub fn load_verifier(
    vk: &Option<PathBuf>,
    keys: &KeyArgs,
    bundle: &veriflop_verifier::ProofBundle,
) -> Result<Verifier, CliError> {
    match bundle.system() {
        ProofSystem::Groth16Bn254 => Ok(Verifier::new(load_vk(vk, keys, bundle)?)),
        ProofSystem::Halo2KzgBn254 if vk.is_some() => {
            Err(CliError::new("usage", "--vk is a Groth16 key; halo2 keys are derived from the SRS in --keys"))
        }
        ProofSystem::Halo2KzgBn254 => super::halo2::verifier(&KeyStore::new(&keys.keys), &bundle.statement.shape),
    }
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let bundle = read_bundle(&args.bundle)?;
    let verifier = load_verifier(&args.vk, &args.keys, &bundle)?;
    let t = Instant::now();
    match &args.job {
        Some(p) => {
            let terms = JobTerms { job: read_job(p)?, provider: args.provider };
            verifier.verify_for_job(&bundle, &terms)?
        }
        None => {
            if let Some(p) = args.provider.filter(|p| *p != bundle.statement.provider) {
                return Err(veriflop_verifier::VerifyError::ProviderMismatch {
                    expected: p,
                    got: bundle.statement.provider,
                }
                .into());
            }
            verifier.verify(&bundle)?
        }
    }
    let took = t.elapsed();
    let st = &bundle.statement;
    ctx.emit(
        format!(
            "VALID: {} proof for job {} ({}) paying {} verified in {}{}",
            bundle.system(),
            st.job_id,
            st.shape,
            st.provider,
            secs(took),
            if args.job.is_none() { " (statement not checked against a job file: pass --job)" } else { "" }
        ),
        json!({"ok": true, "valid": true, "system": bundle.system(), "statement": st, "seconds": took.as_secs_f64(), "job_checked": args.job.is_some()}),
    );
    Ok(())
}
