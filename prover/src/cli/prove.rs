use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use veriflop_circuits::matrix::{read_input, read_matrix};
use veriflop_circuits::{field, Address, CircuitKind, InputMatrix, Job, Matrix, OutputMatrix, ProofSystem, Witness};
use veriflop_prover::gemm::{Gemm, RanOn};
use veriflop_prover::halo2::Halo2Stats;
use veriflop_prover::{Backend, CpuBackend, KeyStore, ProveOptions, ProveStats};
use veriflop_verifier::ProofBundle;
use veriflop_verifier::Verifier;

use super::common::{read_job, secs, write_file, CliError, Ctx, KeyArgs};
use super::device::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Job file.
    #[arg(long, default_value = "veriflop-data/job/job.json")]
    pub job: PathBuf,
    /// Matrix A (m×k) the job committed to, .npy or .vfm.
    #[arg(long, default_value = "veriflop-data/job/a.npy")]
    pub a: PathBuf,
    /// Matrix B (k×n) the job committed to, .npy or .vfm.
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
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Bundle output: binary wire form, or JSON when the name ends in .json.
    #[arg(long, default_value = "veriflop-data/job/bundle.vfpb")]
    pub out: PathBuf,
}

pub struct Proven {
    pub bundle: ProofBundle,
    /// The result proven (delivered with the proof).
    pub c: OutputMatrix,
    pub stats: Stats,
    /// Time to compute C, and where it ran (None: C was given).
    pub execute: Option<(Duration, RanOn)>,
    pub setup: Option<Duration>,
    /// The proving backend's name ("cpu (…)", "icicle (cuda:0)").
    pub backend: String,
    /// halo2: how the shape's keys were obtained.
    pub keys: Option<super::halo2::KeyReport>,
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
                "2^{} rows: commit {} · keys {} {} · prove {}",
                s.k,
                secs(s.commit),
                match s.key_source {
                    "loaded" => "loaded from the key cache",
                    "derived" => "derived from the SRS",
                    other => other,
                },
                secs(s.keygen),
                secs(s.prove)
            ),
        }
    }
}

/// Where the provider's work runs: the Groth16 backend (unused by halo2,
/// which proves on the CPU) and the GEMM for C.
#[derive(Clone, Copy)]
pub struct Devices<'a> {
    pub backend: &'a dyn Backend,
    pub gemm: &'a Gemm,
}

/// Proves a job with its proof system: loads (or generates) keys or the SRS,
/// computes C if not given, proves, and checks the proof with the CPU
/// verifier before handing it out (a faulty device never yields a bad bundle).
#[allow(clippy::too_many_arguments)]
pub fn prove_job(
    job: &Job,
    a: InputMatrix,
    b: InputMatrix,
    c: Option<OutputMatrix>,
    provider: Address,
    store: &KeyStore,
    devices: Devices,
    ctx: &Ctx,
) -> Result<Proven, CliError> {
    let kind = job.circuit;
    job.system.check_circuit(kind)?;
    if job.system == ProofSystem::Halo2KzgBn254 {
        // Cheap checks before any key work: A and B are the job's, C has its size.
        // A given C is checked to be A·B here too (the prover checks it again).
        job.check_data(None, &a, &b)?;
        let given = c.is_some();
        let (c, execute) = compute_c(job, &a, &b, c, devices)?;
        let witness = Witness { job_id: job.job_id.0, provider, a, b, c };
        veriflop_prover::halo2::check_witness(&job.shape, &witness)?;
        let c = witness.c.clone();
        if given {
            let expect = veriflop_circuits::execute::matmul(&job.shape, &witness.a, &witness.b)?;
            if let Some(i) = witness.c.data.iter().zip(&expect.data).position(|(x, y)| x != y) {
                return Err(
                    veriflop_prover::halo2::Halo2Error::Prove(veriflop_halo2::ProveError::WrongResult(i)).into()
                );
            }
        }
        let (pk, keys, setup) = super::halo2::prover_key(store, &job.shape, ctx)?;
        let pb = ctx.spinner(format!("proving {} with halo2 on the CPU", job.shape));
        let (bundle, stats) = veriflop_prover::halo2::prove_halo2_with_key(&pk, &witness)?;
        pb.finish_and_clear();
        let stats = Halo2Stats {
            keygen: Duration::from_secs_f64(keys.seconds),
            key_source: keys.source,
            total: stats.total + Duration::from_secs_f64(keys.seconds),
            ..stats
        };
        return Ok(Proven {
            bundle,
            c,
            stats: Stats::Halo2(stats),
            execute,
            setup,
            backend: CpuBackend::new().name(),
            keys: Some(keys),
        });
    }
    let (c, execute) = compute_c(job, &a, &b, c, devices)?;
    let backend = devices.backend;
    let (pk, vk, setup) = super::setup::load_or_generate(store, kind, job.shape, ctx)?;
    let ck = if kind == CircuitKind::Committed { Some(pk.commit_key()?) } else { None };
    job.check_data(ck.as_ref(), &a, &b)?;
    drop(ck);
    let proven_c = c.clone();
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
    Verifier::new(vk).verify(&bundle).map_err(|e| {
        CliError::new(
            "self_check_failed",
            format!(
                "the proof made on {} does not verify ({e}); nothing was written — rerun with --backend cpu",
                backend.name()
            ),
        )
    })?;
    Ok(Proven {
        bundle,
        c: proven_c,
        stats: Stats::Groth16(stats),
        execute,
        setup,
        backend: backend.name(),
        keys: None,
    })
}

/// C as given, or computed on the GEMM device (with its time and device).
fn compute_c(
    job: &Job,
    a: &InputMatrix,
    b: &InputMatrix,
    c: Option<OutputMatrix>,
    devices: Devices,
) -> Result<(OutputMatrix, Option<(Duration, RanOn)>), CliError> {
    Ok(match c {
        Some(c) => {
            check_result(job, a, b, &c)?;
            (c, None)
        }
        None => {
            let t = Instant::now();
            let (c, ran) = devices.gemm.matmul(&job.shape, a, b)?;
            (c, Some((t.elapsed(), ran)))
        }
    })
}

/// A given C must be A·B: checked natively before any proving work, so a wrong
/// result is reported as such (with where), not as an unsatisfied constraint.
fn check_result(job: &Job, a: &InputMatrix, b: &InputMatrix, c: &OutputMatrix) -> Result<(), CliError> {
    let want = veriflop_circuits::execute::matmul(&job.shape, a, b)?;
    if (c.rows, c.cols) != (want.rows, want.cols) {
        return Err(CliError::new(
            "bad_input",
            format!("C is {}×{}; the job's result is {}×{}", c.rows, c.cols, want.rows, want.cols),
        ));
    }
    let wrong = c.data.iter().zip(&want.data).position(|(x, y)| x != y);
    if let Some(i) = wrong {
        let (r, col) = (i / want.cols, i % want.cols);
        let count = c.data.iter().zip(&want.data).filter(|(x, y)| x != y).count();
        return Err(CliError {
            exit: super::common::EXIT_UNSATISFIED,
            code: "unsatisfied",
            message: format!(
                "C ≠ A·B: {count} wrong entries, the first at row {r}, column {col} (C has {}, A·B is {}); nothing was proven",
                c.get(r, col),
                want.get(r, col)
            ),
        });
    }
    Ok(())
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
    let store = KeyStore::new(&args.keys.keys);
    // halo2 proves on the CPU: no backend to choose (nor to report a fallback for).
    let backend: Box<dyn Backend> =
        if job.system == ProofSystem::Groth16Bn254 { args.device.backend(ctx)? } else { Box::new(CpuBackend::new()) };
    let gemm = if c.is_none() { args.device.gemm.open(ctx)? } else { Gemm::Cpu };
    let p = prove_job(&job, a, b, c, args.provider, &store, Devices { backend: backend.as_ref(), gemm: &gemm }, ctx)?;
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
    if let Some((t, ran)) = p.execute {
        ctx.note(format!("executed C = A·B in {} on {}", secs(t), ran.as_str()));
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
        json!({"ok": true, "job_id": job.job_id, "system": job.system, "bundle": args.out, "stats": s, "keys": p.keys, "proof_bytes": proof_bytes, "backend": p.backend, "gemm": p.execute.map(|(_, r)| r.as_str()), "cm_c": field::fr_to_hex(&p.bundle.statement.cm_c)}),
    );
    Ok(())
}
