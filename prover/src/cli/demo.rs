//! The main job: the whole flow on generated data, with a summary of every phase.
//! Client creates a job → verifier service (on loopback) records the escrow →
//! provider executes and proves → native check → the service verifies and
//! releases the escrow → the same proof settles the job in JobEscrow (in-process EVM).

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use veriflop_circuits::matrix::write_matrix;
use veriflop_circuits::{field, CircuitKind, InputMatrix, Job, JobId};
use veriflop_prover::KeyStore;
use veriflop_verifier::auth::Signer;
use veriflop_verifier::client::blocking::BlockingClient;
use veriflop_verifier::service::{api::RegisterJob, spawn_local, Config};
use veriflop_verifier::{JobTerms, Verifier};

use super::common::{secs, write_file, CliError, Ctx, KeyArgs, ShapeArgs};
use super::prove::{prove_job, write_bundle, BackendChoice};
use super::submit::client_error;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Circuit: committed (default, commit-and-prove), poseidon (in-circuit hashing) or naive (O(n³)).
    #[arg(long, default_value = "committed")]
    pub circuit: CircuitKind,
    #[arg(long, value_enum, default_value_t = BackendChoice::Cpu)]
    pub backend: BackendChoice,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Seed for the generated matrices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the demo writes the job, matrices, result and bundle.
    #[arg(long, default_value = "veriflop-data/demo")]
    pub out_dir: PathBuf,
}

/// Escrowed price of the demo job, in wei (0.01 ETH).
const PRICE_WEI: u128 = 10_000_000_000_000_000;

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let shape = args.shape.shape()?;
    let kind = args.circuit;
    let backend = args.backend.backend();
    let store = KeyStore::new(&args.keys.keys);
    let dir = &args.out_dir;
    std::fs::create_dir_all(dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;
    let mut lines = vec![format!("veriflop demo: {shape}, {kind} circuit, backend {}", backend.name())];

    // Identities: both sides sign their requests; the provider's address is also
    // the payee bound into the proof.
    let client_id = Signer::random();
    let provider_id = Signer::random();
    let provider = provider_id.address();

    // Keys for the shape (the service loads the verifying key at start).
    let (pk, vk, setup) = super::setup::load_or_generate(&store, kind, shape, ctx)?;
    let ck = if kind == CircuitKind::Committed { Some(pk.commit_key()?) } else { None };
    drop(pk);
    if let Some(t) = setup {
        lines.push(format!(
            "  0 setup    keys generated in {} (development setup, cached in {})",
            secs(t),
            store.dir.display()
        ));
    }

    // Verifier service on loopback with a fresh SQLite ledger.
    let rt = tokio::runtime::Runtime::new().map_err(|e| CliError::new("io", e.to_string()))?;
    let (_, service) = rt
        .block_on(spawn_local(Config { key_dir: store.dir.clone(), ..Config::default() }))
        .map_err(|e| CliError::new("service", format!("could not start the local verifier service: {e}")))?;
    let url = service.url();
    let io = |e: std::io::Error| CliError::new("io", e.to_string());
    let as_client = BlockingClient::new(&url, client_id.clone()).map_err(io)?;
    let as_provider = BlockingClient::new(&url, provider_id).map_err(io)?;

    // Client: data, job, escrow.
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, args.seed)?;
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, args.seed.wrapping_add(1))?;
    let job = Job::new(JobId::random(), kind, shape, ck.as_ref(), &a, &b)?;
    drop(ck);
    write_matrix(&dir.join("a.npy"), &a)?;
    write_matrix(&dir.join("b.npy"), &b)?;
    write_file(&dir.join("job.json"), serde_json::to_string_pretty(&job).expect("json").as_bytes())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let posted = as_client
        .register_job(&RegisterJob::for_job(&job, PRICE_WEI, now + 3600, client_id.address()))
        .map_err(client_error)?;
    lines.push(format!(
        "  1 client   posts job {} (cm_A {}…, cm_B {}…) at {url}: escrow {:?}, {} wei",
        job.job_id,
        short(&job.cm_a),
        short(&job.cm_b),
        posted.state,
        posted.price
    ));

    // Provider: execute and prove.
    let t = Instant::now();
    let c = veriflop_circuits::execute::matmul(&shape, &a, &b)?;
    let execute = t.elapsed();
    write_matrix(&dir.join(if shape.output_bits() <= 64 { "c.npy" } else { "c.vfm" }), &c)?;
    lines.push(format!("  2 provider executes C = A·B in {}", secs(execute)));
    let proven = prove_job(&job, a, b, Some(c), provider, &store, backend.as_ref(), ctx)?;
    let s = &proven.stats;
    lines.push(format!(
        "  3 provider proves in {} ({} constraints): witness {} · NTT {} · MSM {} · other {}",
        secs(s.total),
        s.constraints,
        secs(s.synthesis),
        secs(s.ntt),
        secs(s.msm),
        secs(s.other)
    ));
    let bundle = proven.bundle;
    write_bundle(&dir.join("bundle.vfpb"), &bundle)?;
    write_bundle(&dir.join("bundle.json"), &bundle)?;
    let wire = bundle.to_bytes().len();
    lines.push(format!("    proof 256 bytes, bundle {wire} bytes → {}", dir.join("bundle.vfpb").display()));

    // Verification: natively, then through the service, which releases the escrow.
    let verifier = Verifier::new(vk);
    let t = Instant::now();
    verifier.verify_for_job(&bundle, &JobTerms { job: job.clone(), provider: Some(provider) })?;
    let verify = t.elapsed();
    lines.push(format!(
        "  4 anyone   verifies natively in {}: C = A·B for this job, payable to {provider}",
        secs(verify)
    ));
    let t = Instant::now();
    let submitted = as_provider.submit_proof(&job.job_id, &bundle).map_err(client_error)?;
    let submit_time = t.elapsed();
    let after = as_client.job(&job.job_id).map_err(client_error)?;
    rt.block_on(service.shutdown());
    lines.push(format!(
        "  5 service  {:?} in {}: escrow {:?}, {} wei to {} ({} ledger events)",
        submitted.outcome,
        secs(submit_time),
        after.state,
        submitted.amount,
        submitted.payee,
        after.events.len()
    ));

    // Chain: the same proof settles the job in the escrow contract (in-process EVM).
    let chain = veriflop_contracts::settle_in_evm(verifier.key(), &job, &bundle, PRICE_WEI)
        .map_err(|e| CliError::new("settlement_failed", format!("on-chain settlement failed: {e}")))?;
    lines.push(format!(
        "  6 chain    JobEscrow pays {} wei: submit {} gas (verifier {} gas), job {:?} → {:?}",
        chain.price_wei, chain.gas.submit_tx, chain.gas.verifier_call, chain.status_before, chain.status_after
    ));
    lines.push("result: VERIFIED, escrow RELEASED by the verifier service, SETTLED on-chain".into());

    ctx.emit(
        lines.join("\n"),
        json!({
            "ok": true,
            "shape": shape,
            "circuit": kind,
            "backend": backend.name(),
            "job": job,
            "provider": provider,
            "seconds": {
                "setup": setup.map(|d| d.as_secs_f64()),
                "execute": execute.as_secs_f64(),
                "prove": s.total.as_secs_f64(),
                "verify": verify.as_secs_f64(),
                "service_submit": submit_time.as_secs_f64(),
            },
            "prove": s,
            "proof_bytes": 256,
            "bundle_bytes": wire,
            "cm_c": field::fr_to_hex(&bundle.statement.cm_c),
            "verified": true,
            "service": {
                "outcome": format!("{:?}", submitted.outcome),
                "state": format!("{:?}", after.state),
                "events": after.events.len(),
            },
            "chain": {
                "submit_gas": chain.gas.submit_tx,
                "verifier_gas": chain.gas.verifier_call,
                "price_wei": chain.price_wei,
                "status_after": format!("{:?}", chain.status_after),
            },
        }),
    );
    Ok(())
}

fn short(x: &ark_bn254::Fr) -> String {
    field::fr_to_hex(x)[..12].to_string()
}
