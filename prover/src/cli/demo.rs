//! The main job: the whole flow on generated data, with a summary of every phase.
//! Client creates a job → verifier service (on loopback) locks its price from the
//! client's deposit → provider executes and proves → native check → the service
//! verifies and releases the escrow. A second job, posted to JobEscrow (in-process
//! EVM), is proven for its own id and settled on-chain: a job id names its venue,
//! so each proof pays once, in one place.
//! By default it runs twice, once per proof system: a Groth16 job (commit-and-prove
//! circuit) and a halo2 job (Poseidon commitments, universal SRS).

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use veriflop_circuits::matrix::write_matrix;
use veriflop_circuits::{field, Bytes32, CircuitKind, InputMatrix, Job, ProofSystem, Shape};
use veriflop_prover::KeyStore;
use veriflop_verifier::auth::Signer;
use veriflop_verifier::client::blocking::BlockingClient;
use veriflop_verifier::service::{api::RegisterJob, spawn_local, Config};
use veriflop_verifier::{JobTerms, ProofBundle, Verifier};

use super::common::{secs, write_file, CliError, Ctx, KeyArgs, ShapeArgs};
use super::device::DeviceArgs;
use super::prove::{prove_job, write_bundle, Devices};
use super::submit::client_error;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Proof systems to run the flow with, in order (comma-separated): groth16, halo2.
    #[arg(long, value_delimiter = ',', default_value = "groth16,halo2")]
    pub proof_system: Vec<ProofSystem>,
    /// Circuit of the Groth16 job: committed (default, commit-and-prove), poseidon
    /// (in-circuit hashing) or naive (O(n³)). The halo2 job is always poseidon.
    #[arg(long, default_value = "committed")]
    pub circuit: CircuitKind,
    #[command(flatten)]
    pub device: DeviceArgs,
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
    let backend = args.device.backend(ctx)?;
    let gemm = args.device.gemm.open(ctx)?;
    let devices = Devices { backend: backend.as_ref(), gemm: &gemm };
    let store = KeyStore::new(&args.keys.keys);
    let mut systems = args.proof_system.clone();
    systems.dedup();
    if systems.is_empty() {
        return Err(CliError::new("usage", "--proof-system needs at least one of groth16, halo2"));
    }
    // The halo2 settlement compiles the shape's generated verifier: find the
    // pinned solc before any work, whatever the current directory.
    if systems.contains(&ProofSystem::Halo2KzgBn254) {
        veriflop_contracts::solc::locate().map_err(|e| {
            CliError::new(
                "solc_unavailable",
                format!("the halo2 job settles through a generated verifier compiled with the pinned solc: {e}"),
            )
        })?;
    }
    let circuit_of = |system: ProofSystem| match system {
        ProofSystem::Groth16Bn254 => args.circuit,
        ProofSystem::Halo2KzgBn254 => CircuitKind::Poseidon,
    };
    let names: Vec<String> = systems.iter().map(|&y| format!("{y} ({})", circuit_of(y))).collect();
    let mut lines = vec![format!(
        "veriflop demo: {shape}, proof systems {}, Groth16 backend {}, GEMM {}",
        names.join(" then "),
        backend.name(),
        gemm.name()
    )];

    // Keys first: the service loads verifying keys (and halo2 keys from the key
    // cache) at start.
    let mut setup_secs = serde_json::Map::new();
    for &system in &systems {
        let mut keys_line = None;
        let took = match system {
            ProofSystem::Groth16Bn254 => super::setup::load_or_generate(&store, args.circuit, shape, ctx)?.2,
            ProofSystem::Halo2KzgBn254 => {
                let (_, keys, srs) = super::halo2::prover_key(&store, &shape, ctx)?;
                keys_line = Some(format!("  0 setup    halo2 {}", keys.describe("keys for this shape")));
                srs
            }
        };
        if let Some(t) = took {
            let what = match system {
                ProofSystem::Groth16Bn254 => format!("{} keys for {shape}", args.circuit),
                ProofSystem::Halo2KzgBn254 => {
                    format!("halo2 universal SRS of 2^{} points", veriflop_prover::halo2::srs_k(&shape))
                }
            };
            lines.push(format!(
                "  0 setup    {what} generated in {} (development setup, cached in {})",
                secs(t),
                store.dir.display()
            ));
            setup_secs.insert(system.name().into(), json!(t.as_secs_f64()));
        }
        lines.extend(keys_line);
    }

    // Verifier service on loopback with a fresh SQLite ledger.
    let rt = tokio::runtime::Runtime::new().map_err(|e| CliError::new("io", e.to_string()))?;
    let halo2_shapes = if systems.contains(&ProofSystem::Halo2KzgBn254) { vec![shape] } else { Vec::new() };
    let (_, service) = rt
        .block_on(spawn_local(Config { key_dir: store.dir.clone(), halo2_shapes, ..Config::default() }))
        .map_err(|e| CliError::new("service", format!("could not start the local verifier service: {e}")))?;
    let url = service.url();
    let io = |e: std::io::Error| CliError::new("io", e.to_string());

    // Identities: both sides sign their requests; the provider's address is also
    // the payee bound into the proof.
    let client_id = Signer::random();
    let provider_id = Signer::random();
    // The operator credits the client's deposit (escrow locks only money that exists).
    let deposit = PRICE_WEI as u64 * systems.len() as u64;
    rt.block_on(service.state.ledger.deposit(client_id.address(), deposit, "demo operator", Some("demo deposit"), 0))
        .map_err(|e| CliError::new("service", format!("crediting the client's deposit: {e}")))?;
    let parties = Parties {
        client: BlockingClient::new(&url, client_id.clone()).map_err(io)?,
        client_address: client_id.address(),
        provider: BlockingClient::new(&url, provider_id.clone()).map_err(io)?,
        provider_address: provider_id.address(),
        url: url.clone(),
    };
    let mut runs = Vec::new();
    for &system in &systems {
        let dir = match systems.len() {
            1 => args.out_dir.clone(),
            _ => args.out_dir.join(match system {
                ProofSystem::Groth16Bn254 => "groth16",
                ProofSystem::Halo2KzgBn254 => "halo2",
            }),
        };
        let flow = Flow { shape, system, circuit: circuit_of(system), dir, seed: args.seed };
        let r = flow.run(&store, &devices, &parties, ctx);
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                rt.block_on(service.shutdown());
                return Err(e);
            }
        };
        lines.push(format!("{system} job ({} circuit):", flow.circuit));
        lines.extend(r.lines);
        runs.push(r.json);
    }
    rt.block_on(service.shutdown());
    lines.push(
        "result: VERIFIED; one job RELEASED by the verifier service, another SETTLED on-chain (each proof paid once)"
            .into(),
    );
    ctx.emit(
        lines.join("\n"),
        json!({
            "ok": true,
            "shape": shape,
            "backend": backend.name(),
            "gemm": gemm.name(),
            "provider": parties.provider_address,
            "setup_seconds": setup_secs,
            "runs": runs,
        }),
    );
    Ok(())
}

struct Parties {
    client: BlockingClient,
    client_address: veriflop_circuits::Address,
    provider: BlockingClient,
    provider_address: veriflop_circuits::Address,
    url: String,
}

/// One job through the whole flow with one proof system.
struct Flow {
    shape: Shape,
    system: ProofSystem,
    circuit: CircuitKind,
    dir: PathBuf,
    seed: u64,
}

struct FlowReport {
    lines: Vec<String>,
    json: serde_json::Value,
}

impl Flow {
    fn run(&self, store: &KeyStore, devices: &Devices, p: &Parties, ctx: &Ctx) -> Result<FlowReport, CliError> {
        let (shape, dir) = (self.shape, &self.dir);
        std::fs::create_dir_all(dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;
        let mut lines = Vec::new();
        let provider = p.provider_address;

        // Client: data, job, escrow.
        let ck = match self.circuit {
            CircuitKind::Committed => Some(store.load_ck(&shape)?),
            _ => None,
        };
        let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, self.seed)?;
        let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, self.seed.wrapping_add(1))?;
        // The job id is derived from the service's venue, the client and a nonce:
        // the proof for it is worth one payment, at this service only.
        let nonce = Bytes32::random();
        let job_id = p.client.job_id_for(&nonce).map_err(client_error)?;
        let job = Job::new(job_id, self.circuit, shape, ck.as_ref(), &a, &b)?.with_system(self.system)?;
        drop(ck);
        write_matrix(&dir.join("a.npy"), &a)?;
        write_matrix(&dir.join("b.npy"), &b)?;
        write_file(&dir.join("job.json"), serde_json::to_string_pretty(&job).expect("json").as_bytes())?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let posted = p
            .client
            .register_job(&RegisterJob::for_job(&job, nonce, PRICE_WEI, now + 3600, p.client_address))
            .map_err(client_error)?;
        lines.push(format!(
            "  1 client   posts job {} (cm_A {}…, cm_B {}…) at {}: escrow {:?}, {} wei",
            job.job_id,
            short(&job.cm_a),
            short(&job.cm_b),
            p.url,
            posted.state,
            posted.price
        ));

        // Provider: execute and prove.
        let t = Instant::now();
        let (c, ran) = devices.gemm.matmul(&shape, &a, &b)?;
        let execute = t.elapsed();
        write_matrix(&dir.join(if shape.output_bits() <= 64 { "c.npy" } else { "c.vfm" }), &c)?;
        lines.push(format!("  2 provider executes C = A·B in {} on {}", secs(execute), ran.as_str()));
        let proven = prove_job(&job, a, b, Some(c), provider, store, *devices, ctx)?;
        let s = &proven.stats;
        lines.push(format!("  3 provider proves on {} in {} ({})", proven.backend, secs(s.total()), s.summary()));
        let bundle = proven.bundle;
        write_bundle(&dir.join("bundle.vfpb"), &bundle)?;
        write_bundle(&dir.join("bundle.json"), &bundle)?;
        let wire = bundle.to_bytes().len();
        let proof_bytes = bundle.proof.to_bytes().len();
        lines.push(format!(
            "    proof {proof_bytes} bytes, bundle {wire} bytes → {}",
            dir.join("bundle.vfpb").display()
        ));

        // Verification: natively, then through the service, which releases the escrow.
        let verifier = match self.system {
            ProofSystem::Groth16Bn254 => Verifier::new(store.load_vk(self.circuit, &shape)?),
            ProofSystem::Halo2KzgBn254 => Verifier::halo2(super::halo2::verifier_key(store, &shape, ctx)?.0),
        };
        let t = Instant::now();
        verifier.verify_for_job(&bundle, &JobTerms { job: job.clone(), provider: Some(provider) })?;
        let verify = t.elapsed();
        lines.push(format!(
            "  4 anyone   verifies natively in {}: C = A·B for this job, payable to {provider}",
            secs(verify)
        ));
        let t = Instant::now();
        let submitted = p.provider.submit_proof(&job.job_id, &bundle).map_err(client_error)?;
        let submit_time = t.elapsed();
        let after = p.client.job(&job.job_id).map_err(client_error)?;
        lines.push(format!(
            "  5 service  {:?} in {}: escrow {:?}, {} wei to {} ({} ledger events)",
            submitted.outcome,
            secs(submit_time),
            after.state,
            submitted.amount,
            submitted.payee,
            after.events.len()
        ));

        // Chain: another job, posted to JobEscrow with its own nonce. Its id is
        // derived from the chain's venue, so the service's proof is worth nothing
        // there: the provider proves this job again, and the escrow pays it once.
        let chain_nonce = Bytes32::random();
        let chain_job = Job { job_id: veriflop_contracts::demo_job_id(&chain_nonce), ..job.clone() };
        let a = veriflop_circuits::matrix::read_input(&dir.join("a.npy"), shape.dtype)?;
        let b = veriflop_circuits::matrix::read_input(&dir.join("b.npy"), shape.dtype)?;
        let chain_proof = prove_job(&chain_job, a, b, None, provider, store, *devices, ctx)?;
        let chain = settle(&verifier, &chain_job, &chain_nonce, &chain_proof.bundle)?;
        lines.push(format!(
            "  6 chain    job {} posted to JobEscrow at {}, proven in {}",
            chain_job.job_id,
            chain.venue,
            secs(chain_proof.stats.total())
        ));
        lines.push(format!(
            "    JobEscrow pays {} wei: {} {} gas (verifier {} gas), job {:?} → {:?}",
            chain.price_wei,
            settle_function(&chain_proof.bundle),
            chain.gas.submit_tx,
            chain.gas.verifier_call,
            chain.status_before,
            chain.status_after
        ));

        let json = json!({
            "system": self.system,
            "circuit": self.circuit,
            "job": job,
            "seconds": {
                "execute": execute.as_secs_f64(),
                "prove": s.total().as_secs_f64(),
                "verify": verify.as_secs_f64(),
                "service_submit": submit_time.as_secs_f64(),
            },
            "prove": s,
            "proof_bytes": proof_bytes,
            "bundle_bytes": wire,
            "cm_c": field::fr_to_hex(&bundle.statement.cm_c),
            "verified": true,
            "service": {
                "outcome": format!("{:?}", submitted.outcome),
                "state": format!("{:?}", after.state),
                "events": after.events.len(),
            },
            "chain": {
                "venue": chain.venue.to_string(),
                "job_id": chain_job.job_id,
                "submit_gas": chain.gas.submit_tx,
                "verifier_gas": chain.gas.verifier_call,
                "verify_tx_gas": chain.gas.verify_tx,
                "deploy_verifier_gas": chain.gas.deploy_verifier,
                "price_wei": chain.price_wei,
                "status_after": format!("{:?}", chain.status_after),
            },
        });
        Ok(FlowReport { lines, json })
    }
}

fn settle(
    verifier: &Verifier,
    job: &Job,
    nonce: &Bytes32,
    bundle: &ProofBundle,
) -> Result<veriflop_contracts::SettlementReport, CliError> {
    let r = match (verifier.groth16_key(), verifier.halo2_key()) {
        (Some(vk), _) => veriflop_contracts::settle_in_evm(vk, job, nonce, bundle, PRICE_WEI),
        (None, Some(vk)) => veriflop_contracts::settle_halo2_in_evm(vk, job, nonce, bundle, PRICE_WEI),
        (None, None) => Err(veriflop_contracts::Error::Input("the verifier holds no key".into())),
    };
    r.map_err(|e| CliError::new("settlement_failed", format!("on-chain settlement failed: {e}")))
}

fn settle_function(bundle: &ProofBundle) -> &'static str {
    match (bundle.system(), bundle.circuit) {
        (ProofSystem::Halo2KzgBn254, _) => "submitHalo2",
        (_, CircuitKind::Committed) => "submit",
        _ => "submitPoseidon",
    }
}

fn short(x: &ark_bn254::Fr) -> String {
    field::fr_to_hex(x)[..12].to_string()
}
