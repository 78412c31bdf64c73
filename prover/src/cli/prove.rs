use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::matrix::{read_input, read_matrix};
use veriflop_circuits::{field, Address, CircuitKind, InputMatrix, Job, Matrix, OutputMatrix, ProofSystem, Witness};
use veriflop_prover::halo2::Halo2Stats;
use veriflop_prover::{Backend, CpuBackend, KeyStore, ProveOptions, ProveStats};
use veriflop_verifier::ProofBundle;

use super::common::{read_job, secs, write_file, CliError, Ctx, KeyArgs};

/// MSM/NTT backend.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum BackendChoice {
    /// arkworks on all CPU cores.
    #[default]
    Cpu,
}

impl BackendChoice {
    pub fn backend(self) -> Box<dyn Backend> {
        match self {
            BackendChoice::Cpu => Box::new(CpuBackend::new()),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Job file.
    #[arg(long, default_value = "veriflop-data/job/job.json")]
    pub job: PathBuf,
    #[arg(long, default_value = "veriflop-data/job/a.npy")]
    pub a: PathBuf,
    #[arg(long, default_value = "veriflop-data/job/b.npy")]
    pub b: PathBuf,
    /// C from `execute`; computed here when omitted.
    #[arg(long)]
    pub c: Option<PathBuf>,
    /// Payout address the proof binds (0x + 40 hex digits); only this address can be paid.
    #[arg(long, env = "VERIFLOP_PROVIDER")]
    pub provider: Address,
    /// Proof system to prove with: the job's (the client chose it when posting).
    /// Given, it must be the job's — a check for scripts, not a choice.
    #[arg(long)]
    pub proof_system: Option<ProofSystem>,
    #[arg(long, value_enum, default_value_t = BackendChoice::Cpu)]
    pub backend: BackendChoice,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Bundle output: binary wire form, or JSON when the name ends in .json.
    #[arg(long, default_value = "veriflop-data/job/bundle.vfpb")]
    pub out: PathBuf,
}

pub struct Proven {
    pub bundle: ProofBundle,
    pub stats: Stats,
    pub execute: Option<Duration>,
    pub setup: Option<Duration>,
}

/// What proving cost, per proof system.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Stats {
    Groth16(ProveStats),
    Halo2(Halo2Stats),
}

impl Stats {
    pub fn total(&self) -> Duration {
        match self {
            Stats::Groth16(s) => s.total,
            Stats::Halo2(s) => s.total,
        }
    }

    /// One line: size and where the time went.
    pub fn summary(&self) -> String {
        match self {
            Stats::Groth16(s) => format!(
                "{} constraints: commit {} · witness {} · NTT {} · MSM {} · other {}",
                s.constraints,
                secs(s.commit),
                secs(s.synthesis),
                secs(s.ntt),
                secs(s.msm),
                secs(s.other)
            ),
            Stats::Halo2(s) => format!(
                "2^{} rows: commit {} · keys from SRS {} · prove {}",
                s.k,
                secs(s.commit),
                secs(s.keygen),
                secs(s.prove)
            ),
        }
    }
}

/// Proves a job with its proof system: loads (or generates) keys or the SRS,
/// computes C if not given, proves.
#[allow(clippy::too_many_arguments)]
pub fn prove_job(
    job: &Job,
    a: InputMatrix,
    b: InputMatrix,
    c: Option<OutputMatrix>,
    provider: Address,
    store: &KeyStore,
    backend: &dyn Backend,
    ctx: &Ctx,
) -> Result<Proven, CliError> {
    let kind = job.circuit;
    job.system.check_circuit(kind)?;
    let (c, execute) = match c {
        Some(c) => (c, None),
        None => {
            let t = Instant::now();
            let c = matmul(&job.shape, &a, &b)?;
            (c, Some(t.elapsed()))
        }
    };
    if job.system == ProofSystem::Halo2KzgBn254 {
        let (srs, setup) = super::halo2::load_or_generate_srs(store, &job.shape, ctx)?;
        job.check_data(None, &a, &b)?;
        let witness = Witness { job_id: job.job_id.0, provider, a, b, c };
        let pb = ctx.spinner(format!("proving {} with halo2 on the CPU", job.shape));
        let (bundle, stats) = veriflop_prover::halo2::prove_halo2_bundle(&srs, &job.shape, &witness)?;
        pb.finish_and_clear();
        return Ok(Proven { bundle, stats: Stats::Halo2(stats), execute, setup });
    }
    let (pk, _vk, setup) = super::setup::load_or_generate(store, kind, job.shape, ctx)?;
    let ck = if kind == CircuitKind::Committed { Some(pk.commit_key()?) } else { None };
    job.check_data(ck.as_ref(), &a, &b)?;
    drop(ck);
    let witness = Witness { job_id: job.job_id.0, provider, a, b, c };
    let pb = ctx.spinner(format!("proving {} on {}", job.shape, backend.name()));
    let (bundle, stats) = veriflop_prover::prove_bundle(
        &pk,
        witness,
        backend,
        &mut rand::rngs::OsRng,
        ProveOptions::default(),
        &|phase| pb.set_message(format!("proving {} on {}: {phase}", job.shape, backend.name())),
    )?;
    pb.finish_and_clear();
    Ok(Proven { bundle, stats: Stats::Groth16(stats), execute, setup })
}

pub fn write_bundle(path: &Path, bundle: &ProofBundle) -> Result<(), CliError> {
    let json = path.extension().is_some_and(|e| e == "json");
    let bytes = if json { bundle.to_json().into_bytes() } else { bundle.to_bytes() };
    write_file(path, &bytes)
}

fn read_output(path: &Path) -> Result<OutputMatrix, CliError> {
    let m: Matrix<i128> = read_matrix(path)?;
    Ok(m)
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let job = read_job(&args.job)?;
    if let Some(system) = args.proof_system.filter(|s| *s != job.system) {
        return Err(CliError::new(
            "system_mismatch",
            format!("the job is settled by {}, not {system}; the client fixes the proof system in the job", job.system),
        ));
    }
    let a = read_input(&args.a, job.shape.dtype)?;
    let b = read_input(&args.b, job.shape.dtype)?;
    let c = args.c.as_deref().map(read_output).transpose()?;
    let backend = args.backend.backend();
    let store = KeyStore::new(&args.keys.keys);
    let p = prove_job(&job, a, b, c, args.provider, &store, backend.as_ref(), ctx)?;
    write_bundle(&args.out, &p.bundle)?;
    if let Some(t) = p.setup {
        ctx.note(format!(
            "generated {} keys for {} {} in {} (development setup)",
            job.system,
            job.circuit,
            job.shape,
            secs(t)
        ));
    }
    if let Some(t) = p.execute {
        ctx.note(format!("executed C = A·B in {}", secs(t)));
    }
    let s = &p.stats;
    let proof_bytes = p.bundle.proof.to_bytes().len();
    ctx.emit(
        format!(
            "proved job {} ({}, {} {} circuit) in {}\n  {}\n  cm_C {}\n  bundle {} ({} bytes, proof {proof_bytes} bytes)",
            job.job_id,
            job.shape,
            job.system,
            job.circuit,
            secs(s.total()),
            s.summary(),
            field::fr_to_hex(&p.bundle.statement.cm_c),
            args.out.display(),
            p.bundle.to_bytes().len()
        ),
        json!({"ok": true, "job_id": job.job_id, "system": job.system, "bundle": args.out, "stats": s, "proof_bytes": proof_bytes, "backend": backend.name(), "cm_c": field::fr_to_hex(&p.bundle.statement.cm_c)}),
    );
    Ok(())
}
