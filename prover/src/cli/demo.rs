//! The main job: the whole flow on generated data, with a summary of every phase.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use veriflop_circuits::matrix::write_matrix;
use veriflop_circuits::{field, Address, CircuitKind, InputMatrix, Job, JobId};
use veriflop_prover::KeyStore;
use veriflop_verifier::{JobTerms, Verifier};

use super::common::{secs, write_file, CliError, Ctx, KeyArgs, ShapeArgs};
use super::prove::{prove_job, write_bundle, BackendChoice};

/// Payout address used by the demo provider.
pub const DEMO_PROVIDER: &str = "0x00000000000000000000000000000000000f1095";

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Circuit: freivalds (default) or naive.
    #[arg(long, default_value = "freivalds")]
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
    /// Provider payout address bound into the proof.
    #[arg(long, default_value = DEMO_PROVIDER)]
    pub provider: Address,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let shape = args.shape.shape()?;
    let kind = args.circuit;
    let backend = args.backend.backend();
    let store = KeyStore::new(&args.keys.keys);
    let dir = &args.out_dir;
    let mut lines = vec![format!("veriflop demo: {shape}, {kind} circuit, backend {}", backend.name())];

    std::fs::create_dir_all(dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;

    // Client: data and job.
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, args.seed)?;
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, args.seed.wrapping_add(1))?;
    let job = Job::new(JobId::random(), shape, &a, &b)?;
    write_matrix(&dir.join("a.npy"), &a)?;
    write_matrix(&dir.join("b.npy"), &b)?;
    write_file(&dir.join("job.json"), serde_json::to_string_pretty(&job).expect("json").as_bytes())?;
    lines.push(format!(
        "  1 client   posts job {} with cm_A {}…, cm_B {}…",
        job.job_id,
        short(&job.cm_a),
        short(&job.cm_b)
    ));

    // Provider: execute and prove.
    let t = Instant::now();
    let c = veriflop_circuits::execute::matmul(&shape, &a, &b)?;
    let execute = t.elapsed();
    write_matrix(&dir.join(if shape.output_bits() <= 64 { "c.npy" } else { "c.vfm" }), &c)?;
    lines.push(format!("  2 provider executes C = A·B in {}", secs(execute)));
    let proven = prove_job(&job, a, b, Some(c), args.provider, kind, &store, backend.as_ref(), ctx)?;
    let s = &proven.stats;
    if let Some(t) = proven.setup {
        lines.push(format!(
            "    (keys for this shape generated in {}, development setup, cached in {})",
            secs(t),
            store.dir.display()
        ));
    }
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

    // Verifier: check against the job record and the payee.
    let vk = store.load_vk(kind, &shape)?;
    let verifier = Verifier::new(vk);
    let t = Instant::now();
    verifier.verify_for_job(&bundle, &JobTerms { job: job.clone(), provider: Some(args.provider) })?;
    let verify = t.elapsed();
    lines.push(format!(
        "  4 verifier accepts the proof in {}: C = A·B for this job, payable to {}",
        secs(verify),
        args.provider
    ));

    // Chain: the same proof settles the job in the escrow contract (in-process EVM).
    let price = 10u128.pow(16);
    let chain = veriflop_contracts::settle_in_evm(verifier.key(), &job, &bundle, price)
        .map_err(|e| CliError::new("settlement_failed", format!("on-chain settlement failed: {e}")))?;
    lines.push(format!(
        "  5 chain    JobEscrow pays {} wei to the provider: submit {} gas (verifier {} gas), job {:?} -> {:?}",
        chain.price_wei, chain.gas.submit_tx, chain.gas.verifier_call, chain.status_before, chain.status_after
    ));

    lines.push("result: VERIFIED and SETTLED".into());
    ctx.emit(
        lines.join("\n"),
        json!({
            "ok": true,
            "shape": shape,
            "circuit": kind,
            "backend": backend.name(),
            "job": job,
            "provider": args.provider,
            "seconds": {
                "setup": proven.setup.map(|d| d.as_secs_f64()),
                "execute": execute.as_secs_f64(),
                "prove": s.total.as_secs_f64(),
                "verify": verify.as_secs_f64(),
            },
            "prove": s,
            "proof_bytes": 256,
            "bundle_bytes": wire,
            "cm_c": field::fr_to_hex(&bundle.statement.cm_c),
            "verified": true,
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
