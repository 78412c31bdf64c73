//! The main job: the market flow as its users run it, in separate processes on
//! loopback. The operator starts a verifier service (`veriflop-verifier`, SQLite
//! ledger and a blob store in `--out-dir`) and credits the client's deposit; a
//! provider agent (`veriflop-prover work`) watches the market; this process is
//! the client: it posts a job with its data, waits while the agent claims it,
//! checks the data, proves and delivers C with the proof, and the service
//! releases the escrow; then it fetches C, checked against the proven cm_C. A
//! second job, posted to JobEscrow (in-process EVM), is proven for its own id and
//! settled on-chain: a job id names its venue, so each proof pays once.
//! By default it runs once per proof system: Groth16 (commit-and-prove circuit)
//! and halo2 (Poseidon commitments, universal SRS); then an inference job: a
//! small int8 model made here and imported from ONNX, run and proven by the
//! same agent, its output delivered before payment (`demo_inference`).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use veriflop_circuits::matrix::write_matrix;
use veriflop_circuits::{field, Address, Bytes32, CircuitKind, InputMatrix, Job, ProofSystem, Shape};
use veriflop_prover::KeyStore;
use veriflop_service::client::blocking::BlockingClient;
use veriflop_service::ledger::EscrowState;
use veriflop_verifier::auth::{unix_now, Signer};
use veriflop_verifier::{JobTerms, ProofBundle, Verifier};

use super::client::{fetch_checked, post_with_data, Terms};
use super::common::{secs, CliError, Ctx, KeyArgs, ShapeArgs};
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
    /// Where the demo writes the service's ledger, blobs and log, the provider's
    /// work directory and log, and the client's job files, matrices and result.
    #[arg(long, default_value = "veriflop-data/demo")]
    pub out_dir: PathBuf,
    /// The verifier service binary (default: `veriflop-verifier` beside this one, else on PATH).
    #[arg(long, env = "VERIFLOP_VERIFIER_BIN")]
    pub verifier_bin: Option<PathBuf>,
    /// Where the on-chain job settles: `evm` (an in-process EVM, revm) or
    /// `local` (hardhat's node on loopback over JSON-RPC, with the provider's
    /// chain agent and a delivery receipt; `npm ci --prefix tools`).
    #[arg(long, default_value = "evm", value_parser = ["evm", "local"])]
    pub chain: String,
    /// The inference job's model: an int8 MLP with these widths (inputs, hidden
    /// layers, outputs), made here, written as ONNX and imported; `none` skips
    /// the inference job.
    #[arg(long, default_value = "32-24-10")]
    pub inference: String,
    /// Rows of the inference job's input batch.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
}

/// Escrowed price of each demo job, in wei (0.01 ETH).
pub(super) const PRICE_WEI: u128 = 10_000_000_000_000_000;

/// Longest wait for the agent to deliver one job.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(900);

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
    let verifier_bin = find_verifier_bin(args.verifier_bin.as_deref())?;
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

    // Keys first (a development setup, shared by the three parties here): the
    // service loads verifying keys at start, the agent proves with the proving keys.
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

    // The model owner's part of the inference job: the model and its keys.
    let model = match args.inference.as_str() {
        "none" => None,
        spec => Some(super::demo_inference::prepare(spec, args.batch, args.seed, &store.dir, &args.out_dir)?),
    };
    if let Some(m) = &model {
        lines.extend(m.lines.iter().cloned());
        if let Some(t) = m.setup_seconds {
            setup_secs.insert("inference".into(), json!(t));
        }
    }
    let jobs = systems.len() + model.is_some() as usize;

    // A fresh market each run: the service's ledger and blobs, the agent's work.
    let out = &args.out_dir;
    for d in ["service", "provider", "client"] {
        let _ = std::fs::remove_dir_all(out.join(d));
        std::fs::create_dir_all(out.join(d)).map_err(|e| CliError::new("io", format!("{}: {e}", out.display())))?;
    }
    let client_id = Signer::random();
    let provider_id = Signer::random();
    let halo2_shapes = if systems.contains(&ProofSystem::Halo2KzgBn254) { shape_arg(&shape) } else { String::new() };
    let attestor = Signer::random();
    let attestor_file = out.join("service").join("attestor.key");
    super::common::write_file(&attestor_file, attestor.secret_hex().as_bytes())?;
    let service = Service::start(&verifier_bin, out, &store.dir, &halo2_shapes, &attestor_file)?;
    let deposit = PRICE_WEI as u64 * jobs as u64;
    service.tool(&[
        "deposit",
        "--to",
        &client_id.address().to_string(),
        "--amount",
        &deposit.to_string(),
        "--actor",
        "demo operator",
        "--memo",
        "demo deposit",
    ])?;
    lines.push(format!(
        "  1 operator starts the verifier service at {} (pid {}; ledger, blobs and log in {}) and credits the client's deposit of {deposit} wei",
        service.url,
        service.child.id(),
        out.join("service").display()
    ));
    let mut agent_shapes = halo2_shapes.clone();
    if let Some(m) = &model {
        agent_shapes =
            [agent_shapes, shape_arg(&m.shape)].iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(",");
    }
    let agent = Agent::start(&args, &store.dir, &service.url, &provider_id, jobs, &agent_shapes)?;
    lines.push(format!(
        "  2 provider starts its agent (`veriflop-prover work`, pid {}; log in {}) for {}",
        agent.child.id(),
        out.join("provider/agent.log").display(),
        provider_id.address()
    ));
    let local = if args.chain == "local" {
        let (mut c, line) = super::demo_chain::LocalChain::start()?;
        lines.push(line);
        lines.push(c.start_agent(&store.dir, &service.url, &out.join("provider"), args.device.to_args())?);
        Some(c)
    } else {
        None
    };
    let client =
        BlockingClient::new(&service.url, client_id.clone()).map_err(|e| CliError::new("io", e.to_string()))?;
    let provider_view =
        BlockingClient::new(&service.url, provider_id.clone()).map_err(|e| CliError::new("io", e.to_string()))?;
    let mut runs = Vec::new();
    for &system in &systems {
        let dir = match systems.len() {
            1 => out.join("client"),
            _ => out.join("client").join(match system {
                ProofSystem::Groth16Bn254 => "groth16",
                ProofSystem::Halo2KzgBn254 => "halo2",
            }),
        };
        let flow = Flow { shape, system, circuit: circuit_of(system), dir, seed: args.seed };
        let on_chain =
            local.as_ref().map(|c| OnChain { chain: c, data_url: &service.url, attestor: attestor.address() });
        let r = flow.run(&store, &devices, &client, client_id.address(), &agent, &args.keys, on_chain, ctx)?;
        lines.push(format!("{system} job ({} circuit):", flow.circuit));
        lines.extend(r.lines);
        runs.push(r.json);
    }
    let inference = match &model {
        Some(m) => {
            let dir = out.join("client").join("inference");
            let on_chain =
                local.as_ref().map(|c| OnChain { chain: c, data_url: &service.url, attestor: attestor.address() });
            let r = super::demo_inference::run(
                m,
                &client,
                client_id.address(),
                &agent,
                &args.keys,
                &dir,
                args.seed,
                on_chain,
                ctx,
            )?;
            lines.push(format!("inference job (model {}, batch {}):", args.inference, args.batch));
            lines.extend(r.lines);
            Some(r.json)
        }
        None => None,
    };
    let paid = provider_view.account(provider_id.address()).map_err(client_error)?;
    let left = client.account(client_id.address()).map_err(client_error)?;
    let audit = service.tool(&["audit"])?;
    lines.push(format!(
        "balances: provider {} wei, client {} wei; audit: {}",
        paid.balance,
        left.balance,
        audit.lines().next().unwrap_or("").trim()
    ));
    lines.push(
        format!(
            "result: VERIFIED and DELIVERED; each service job RELEASED once its C was stored{}, another SETTLED on-chain ({}; each proof paid once)",
            if model.is_some() { " (the inference job's C: the model's output)" } else { "" },
            if args.chain == "local" { "a hardhat node over JSON-RPC, C delivered and attested" } else { "in-process EVM" }
        ),
    );
    drop(local);
    drop(agent);
    drop(service);
    ctx.emit(
        lines.join("\n"),
        json!({
            "ok": true,
            "shape": shape,
            "backend": backend.name(),
            "gemm": gemm.name(),
            "provider": provider_id.address(),
            "client": client_id.address(),
            "provider_balance": paid.balance,
            "client_balance": left.balance,
            "setup_seconds": setup_secs,
            "runs": runs,
            "inference": inference,
        }),
    );
    Ok(())
}

fn shape_arg(s: &Shape) -> String {
    format!("{}x{}x{}:{}", s.m, s.k, s.n, s.dtype)
}

fn find_verifier_bin(given: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let beside = std::env::current_exe().ok().map(|e| e.with_file_name("veriflop-verifier"));
    if let Some(p) = beside.filter(|p| p.is_file()) {
        return Ok(p);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join("veriflop-verifier")).find(|p| p.is_file()));
    on_path.flatten().ok_or_else(|| {
        CliError::new(
            "verifier_unavailable",
            "the demo starts the verifier service as its own process: build it (`cargo build -p veriflop-service`; scripts/demo does) or pass --verifier-bin",
        )
    })
}

/// Sends SIGTERM (a graceful stop), then waits a little, then kills.
pub(super) fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The verifier service, in its own process.
struct Service {
    child: Child,
    url: String,
    bin: PathBuf,
    ledger: String,
    blobs: String,
}

impl Service {
    fn start(bin: &Path, out: &Path, keys: &Path, halo2_shapes: &str, attestor: &Path) -> Result<Service, CliError> {
        let dir = std::path::absolute(out.join("service")).map_err(|e| CliError::new("io", e.to_string()))?;
        let ledger = format!("sqlite://{}", dir.join("ledger.db").display());
        let blobs = dir.join("blobs").display().to_string();
        let log = std::fs::File::create(dir.join("service.log")).map_err(|e| CliError::new("io", e.to_string()))?;
        let mut child = Command::new(bin)
            .args(["--ledger", &ledger, "--blobs", &blobs, "--listen", "127.0.0.1:0", "--rate-limit-per-minute", "0"])
            .arg("--keys")
            .arg(keys)
            .args(["--halo2-shapes", halo2_shapes])
            .arg("--attestor-key-file")
            .arg(attestor)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| CliError::new("verifier_unavailable", format!("starting {}: {e}", bin.display())))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let mut svc = Service { child, url: String::new(), bin: bin.to_path_buf(), ledger, blobs };
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => svc.url = url,
            Err(_) => {
                let log = std::fs::read_to_string(dir.join("service.log")).unwrap_or_default();
                return Err(CliError::new("service", format!("the verifier service did not start:\n{log}")));
            }
        }
        Ok(svc)
    }

    /// Runs one of the operator's ledger tools against this service's ledger.
    fn tool(&self, args: &[&str]) -> Result<String, CliError> {
        let out = Command::new(&self.bin)
            .args(args)
            .args(["--ledger", &self.ledger, "--blobs", &self.blobs])
            .output()
            .map_err(|e| CliError::new("io", e.to_string()))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            return Err(CliError::new(
                "service",
                format!("veriflop-verifier {}: {text}{}", args[0], String::from_utf8_lossy(&out.stderr)),
            ));
        }
        Ok(text)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The provider agent, in its own process; its lines (one per job) arrive on `lines`.
pub(super) struct Agent {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl Agent {
    fn start(
        args: &Args,
        keys: &Path,
        url: &str,
        provider: &Signer,
        jobs: usize,
        extra_shapes: &str,
    ) -> Result<Agent, CliError> {
        let exe = std::env::current_exe().map_err(|e| CliError::new("io", e.to_string()))?;
        let dir = args.out_dir.join("provider");
        let log = dir.join("agent.log");
        let log_file = std::fs::File::create(&log).map_err(|e| CliError::new("io", e.to_string()))?;
        let mut shapes = shape_arg(&args.shape.shape()?);
        if !extra_shapes.is_empty() && extra_shapes != shapes {
            shapes += &format!(",{extra_shapes}");
        }
        let mut child = Command::new(exe)
            .args(["work", "--url", url, "--poll-secs", "0.2", "--max-jobs", &jobs.to_string(), "--shapes", &shapes])
            .arg("--keys")
            .arg(keys)
            .arg("--work-dir")
            .arg(dir.join("work"))
            .args(args.device.to_args())
            .env("VERIFLOP_PROVIDER_KEY", provider.secret_hex())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| CliError::new("io", format!("starting the provider agent: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Ok(Agent { child, lines, log })
    }

    /// The agent's report of the job with this id, once it printed it.
    pub(super) fn report(&self, id: &str) -> Option<String> {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains(&id[..8]) => return Some(l),
                _ => {}
            }
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The node the on-chain job settles on (`--chain local`).
#[derive(Clone, Copy)]
pub(super) struct OnChain<'a> {
    pub chain: &'a super::demo_chain::LocalChain,
    pub data_url: &'a str,
    pub attestor: Address,
}

/// One job through the market with one proof system.
struct Flow {
    shape: Shape,
    system: ProofSystem,
    circuit: CircuitKind,
    dir: PathBuf,
    seed: u64,
}

pub(super) struct FlowReport {
    pub lines: Vec<String>,
    pub json: serde_json::Value,
}

impl Flow {
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        store: &KeyStore,
        devices: &Devices,
        client: &BlockingClient,
        me: Address,
        agent: &Agent,
        keys: &KeyArgs,
        on_chain: Option<OnChain>,
        ctx: &Ctx,
    ) -> Result<FlowReport, CliError> {
        let (shape, dir) = (self.shape, &self.dir);
        std::fs::create_dir_all(dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;
        let mut lines = Vec::new();

        // Client: data, job, escrow, upload.
        let ck = match self.circuit {
            CircuitKind::Committed => Some(store.load_ck(&shape)?),
            _ => None,
        };
        let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, self.seed)?;
        let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, self.seed.wrapping_add(1))?;
        // The job id is derived from the service's venue, the client and a nonce:
        // the proof for it is worth one payment, at this service only.
        let nonce = Bytes32::random();
        let job_id = client.job_id_for(&nonce).map_err(client_error)?;
        let job = Job::new(job_id, self.circuit, shape, ck.as_ref(), &a, &b)?.with_system(self.system)?;
        drop(ck);
        let (pa, pb) = (dir.join("a.npy"), dir.join("b.npy"));
        write_matrix(&pa, &a)?;
        write_matrix(&pb, &b)?;
        let t = Instant::now();
        let terms =
            Terms { nonce, price: PRICE_WEI, deadline: unix_now() + 3600, lease_secs: Some(600), lease_stake: None };
        let (posted, uploads) = post_with_data(client, &job, &terms, me, [pa.as_path(), pb.as_path()], || Ok(()))?;
        let up_bytes: u64 = uploads.iter().map(|u| u.bytes).sum();
        lines.push(format!(
            "  3 client   posts job {} (cm_A {}…, cm_B {}…): {} wei locked in escrow; uploads A and B ({up_bytes} bytes in {}), checked by the service against cm_A and cm_B; the job is offered",
            job.job_id,
            short(&job.cm_a),
            short(&job.cm_b),
            posted.price,
            secs(t.elapsed())
        ));

        // Provider (the agent process): claim, check, prove, deliver. The client waits.
        let (released, waited) = wait_released(client, &job, agent)?;
        let report = agent.report(&job.job_id.to_string()).unwrap_or_else(|| "(no report)".into());
        lines.push(format!("  4 provider agent claims it, downloads and checks A and B, proves, uploads C and the proof:\n    {report}"));
        let payee = released.payee.map(|p| p.to_string()).unwrap_or_default();
        lines.push(format!(
            "  5 service  verifies the proof, checks the stored C against its cm_C, releases {} wei to {payee} ({} ledger events; {} after posting)",
            released.price,
            released.events.len(),
            secs(waited)
        ));

        // Client: the result, checked before it is written.
        let t = Instant::now();
        let out = dir.join(if shape.output_bits() <= 64 { "c.npy" } else { "c.vfm" });
        let fetched = fetch_checked(client, job.job_id, keys, &out, ctx)?;
        let fetch = t.elapsed();
        let want = veriflop_circuits::execute::matmul(&shape, &a, &b)?;
        if fetched.c != want {
            return Err(CliError::new("wrong_result", "the delivered C is not A·B"));
        }
        let bundle = fetched.bundle;
        write_bundle(&dir.join("bundle.vfpb"), &bundle)?;
        write_bundle(&dir.join("bundle.json"), &bundle)?;
        lines.push(format!(
            "  6 client   fetches C in {} → {}: it matches the proven cm_C {}…{}",
            secs(fetch),
            out.display(),
            short(&bundle.statement.cm_c),
            if fetched.proof_checked { " (and the proof verifies here)" } else { "" }
        ));

        // Anyone: the accepted proof verifies natively.
        let verifier = match self.system {
            ProofSystem::Groth16Bn254 => Verifier::new(store.load_vk(self.circuit, &shape)?),
            ProofSystem::Halo2KzgBn254 => Verifier::halo2(super::halo2::verifier_key(store, &shape, ctx)?.0),
        };
        let t = Instant::now();
        verifier.verify_for_job(&bundle, &JobTerms { job: job.clone(), provider: Some(bundle.statement.provider) })?;
        let verify = t.elapsed();
        let proof_bytes = bundle.proof.to_bytes().len();
        lines.push(format!(
            "  7 anyone   verifies the accepted proof natively in {} ({proof_bytes}-byte proof, {}-byte bundle)",
            secs(verify),
            bundle.to_bytes().len()
        ));

        // Chain: another job, posted to JobEscrow with its own nonce. Its id is
        // derived from the chain's venue, so the service's proof is worth nothing
        // there: the provider proves this job again, and the escrow pays it once.
        let chain_json = if let Some(oc) = on_chain {
            let want = veriflop_circuits::execute::matmul(&shape, &a, &b)?;
            let out = dir.join(if shape.output_bits() <= 64 { "c-chain.npy" } else { "c-chain.vfm" });
            let attestor = alloy::primitives::Address::from(oc.attestor.0);
            let r = oc.chain.run_job(&job, &verifier, &pa, &pb, oc.data_url, attestor, &want, keys, &out)?;
            lines.push(format!("  8 chain    another job on the node, escrow {}:", oc.chain.escrow));
            lines.extend(r.lines);
            r.json
        } else {
            let chain_nonce = Bytes32::random();
            let chain_job = Job { job_id: veriflop_contracts::demo_job_id(&chain_nonce), ..job.clone() };
            let chain_proof = prove_job(&chain_job, a, b, None, bundle.statement.provider, store, *devices, ctx)?;
            let chain = settle(&verifier, &chain_job, &chain_nonce, &chain_proof.bundle)?;
            let s = &chain_proof.stats;
            lines.push(format!(
                "  8 chain    job {} posted to JobEscrow at {}, proven on {} in {} ({})",
                chain_job.job_id,
                chain.venue,
                chain_proof.backend,
                secs(s.total()),
                s.summary()
            ));
            lines.push(format!(
                "    JobEscrow pays {} wei: {} {} gas (verifier {} gas), job {:?} → {:?}",
                chain.price_wei,
                veriflop_contracts::settle_function(&chain_proof.bundle),
                chain.gas.submit_tx,
                chain.gas.verifier_call,
                chain.status_before,
                chain.status_after
            ));

            json!({
                "venue": chain.venue.to_string(),
                "job_id": chain_job.job_id,
                "prove": s,
                "submit_gas": chain.gas.submit_tx,
                "verifier_gas": chain.gas.verifier_call,
                "verify_tx_gas": chain.gas.verify_tx,
                "deploy_verifier_gas": chain.gas.deploy_verifier,
                "price_wei": chain.price_wei,
                "status_after": format!("{:?}", chain.status_after),
            })
        };
        let json = json!({
            "system": self.system,
            "circuit": self.circuit,
            "job": job,
            "provider_report": report,
            "seconds": {
                "delivery": waited.as_secs_f64(),
                "fetch": fetch.as_secs_f64(),
                "verify": verify.as_secs_f64(),
            },
            "uploaded_bytes": up_bytes,
            "proof_bytes": proof_bytes,
            "bundle_bytes": bundle.to_bytes().len(),
            "cm_c": field::fr_to_hex(&bundle.statement.cm_c),
            "verified": true,
            "delivered": true,
            "proof_checked_by_client": fetched.proof_checked,
            "result": out,
            "service": {
                "state": format!("{:?}", released.state),
                "payee": released.payee,
                "events": released.events.len(),
            },
            "chain": chain_json,
        });
        Ok(FlowReport { lines, json })
    }
}

/// Waits while the agent claims, proves and delivers the job, until the service
/// releases its escrow; the job's view then, and how long it took.
pub(super) fn wait_released(
    client: &BlockingClient,
    job: &Job,
    agent: &Agent,
) -> Result<(veriflop_service::client::JobView, Duration), CliError> {
    let t = Instant::now();
    let released = loop {
        let v = client.job(&job.job_id).map_err(client_error)?;
        if v.state != EscrowState::Locked {
            break v;
        }
        if t.elapsed() > DELIVERY_TIMEOUT {
            return Err(CliError::new(
                "timeout",
                format!("no delivery within {} s; see {}", DELIVERY_TIMEOUT.as_secs(), agent.log.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if released.state != EscrowState::Released {
        return Err(CliError::new(
            "not_released",
            format!("job {} ended {:?}; see {}", job.job_id, released.state, agent.log.display()),
        ));
    }
    Ok((released, t.elapsed()))
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

pub(super) fn short(x: &ark_bn254::Fr) -> String {
    field::fr_to_hex(x)[..12].to_string()
}
