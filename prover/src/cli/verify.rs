use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use veriflop_circuits::{Address, ProofSystem};
use veriflop_prover::setup::read_vk;
use veriflop_prover::KeyStore;
use veriflop_verifier::{JobTerms, ShapeKey, Verifier};

use super::common::{read_bundle, read_job, secs, CliError, Ctx, KeyArgs};
use super::halo2::KeyReport;

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
    /// (halo2 keys come from the key cache in --keys, or are derived from its SRS once).
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

/// The verifier for a bundle's system, circuit and shape, and how its key was
/// obtained (Groth16: read from its file; halo2: from the key cache, or derived
/// from the SRS in --keys and cached).
pub fn load_verifier(
    vk: &Option<PathBuf>,
    keys: &KeyArgs,
    bundle: &veriflop_verifier::ProofBundle,
    ctx: &Ctx,
) -> Result<(Verifier, KeyReport), CliError> {
    let t = Instant::now();
    match bundle.system() {
        ProofSystem::Groth16Bn254 => {
            let key = load_vk(vk, keys, bundle)?;
            let path = match vk {
                Some(p) => p.clone(),
                None => KeyStore::new(&keys.keys).vk_path(bundle.circuit, &bundle.statement.shape),
            };
            let report = KeyReport { source: "loaded", seconds: t.elapsed().as_secs_f64(), path, refused: None };
            Ok((Verifier::new(key), report))
        }
        ProofSystem::Halo2KzgBn254 if vk.is_some() => {
            Err(CliError::new("usage", "--vk is a Groth16 key; halo2 keys are derived from the SRS in --keys"))
        }
        ProofSystem::Halo2KzgBn254 => {
            let (key, report) = super::halo2::verifier_key(&KeyStore::new(&keys.keys), &bundle.statement.shape, ctx)?;
            Ok((Verifier::halo2(key), report))
        }
    }
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let total = Instant::now();
    let bundle = read_bundle(&args.bundle)?;
    // The cheap checks first — the job's terms, the payee, --vk for halo2 —
    // so a wrong job or payee is reported before any key work.
    match &args.job {
        Some(p) => JobTerms { job: read_job(p)?, provider: args.provider }.check(&bundle)?,
        None => {
            if let Some(p) = args.provider.filter(|p| *p != bundle.statement.provider) {
                return Err(veriflop_verifier::VerifyError::ProviderMismatch {
                    expected: p,
                    got: bundle.statement.provider,
                }
                .into());
            }
        }
    }
    let (verifier, key) = load_verifier(&args.vk, &args.keys, &bundle, ctx)?;
    let t = Instant::now();
    verifier.verify(&bundle)?;
    let took = t.elapsed();
    let total = total.elapsed();
    let st = &bundle.statement;
    ctx.emit(
        format!(
            "VALID: {} proof for job {} ({}) paying {} verified in {}{}\n  {}; {} in all",
            bundle.system(),
            st.job_id,
            st.shape,
            st.provider,
            secs(took),
            if args.job.is_none() { " (statement not checked against a job file: pass --job)" } else { "" },
            key.describe("key"),
            secs(total)
        ),
        json!({"ok": true, "valid": true, "system": bundle.system(), "statement": st, "seconds": took.as_secs_f64(), "key": key, "total_seconds": total.as_secs_f64(), "job_checked": args.job.is_some()}),
    );
    Ok(())
}
