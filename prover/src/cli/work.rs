//! `work`: the provider agent. It runs unattended: finds offered jobs it holds
//! keys for, claims one (an exclusive lease), downloads A and B and checks them
//! against the job before spending device time, executes and proves, uploads C
//! with the proof, and is paid when the service releases the escrow.
//!
//! One line per job on stdout; errors and progress on stderr. SIGINT/SIGTERM:
//! the jobs in hand are finished and the agent exits; a second signal gives
//! their leases back at once. Each claim is recorded in `--work-dir` until it
//! is settled, so after a crash (or SIGKILL) a restart resumes a claim whose
//! lease is still valid, and forgets one that expired (the job reopened).
//!
//! An inference job's A is the input batch and its B the model file; the agent
//! takes it when `--keys` holds the model's proving key for the batch
//! (`model setup`), and delivers the model's output as C.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use veriflop_circuits::{CircuitKind, JobId, ProofSystem, Shape};
use veriflop_prover::gemm::Gemm;
use veriflop_prover::{Backend, CpuBackend, KeyStore};
use veriflop_service::client::{blocking::BlockingClient, ClientError, Input, OpenJob};
use veriflop_verifier::auth::Signer;

use super::common::{commit_key_for, secs, CliError, Ctx, KeyArgs};
use super::device::DeviceArgs;
use super::inference::{self, ProvingKeys};
use super::prove::{prove_job, Devices};
use super::submit::client_error;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Verifier service base URL.
    #[arg(long, env = "VERIFLOP_VERIFIER_URL", default_value = "http://127.0.0.1:8645")]
    pub url: String,
    /// The provider's secp256k1 secret key (0x-hex): its address claims jobs and is paid.
    #[arg(long, env = "VERIFLOP_PROVIDER_KEY", hide_env_values = true)]
    pub key: String,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Only jobs settled by this proof system.
    #[arg(long)]
    pub proof_system: Option<ProofSystem>,
    /// Only jobs of these shapes, `MxKxN[:dtype],…` (default: every shape whose keys are in --keys).
    #[arg(long, default_value = "")]
    pub shapes: String,
    /// Only jobs paying at least this much.
    #[arg(long, default_value_t = 1)]
    pub min_price: u64,
    /// Largest lease stake we put down to claim a job (from our balance at the
    /// service; forfeited to the client if our lease ends without a result).
    /// Jobs asking more are skipped; the default, 0, takes only jobs without one.
    #[arg(long, default_value_t = 0)]
    pub max_stake: u64,
    /// Jobs worked on at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Seconds between looks at the market when it has nothing for us.
    #[arg(long, default_value_t = 2.0)]
    pub poll_secs: f64,
    /// Exit after delivering this many jobs.
    #[arg(long)]
    pub max_jobs: Option<u64>,
    /// Exit when the market has no job for us (instead of waiting for more).
    #[arg(long)]
    pub exit_when_idle: bool,
    /// Claims in hand and job data, kept until each job is settled.
    #[arg(long, env = "VERIFLOP_WORK_DIR", default_value = "veriflop-data/work")]
    pub work_dir: PathBuf,
    /// Fault injection for crash tests only: sleep this long before each proof.
    #[arg(long, env = "VERIFLOP_FAULT_PROVE_DELAY_MS", default_value_t = 0, hide = true)]
    pub fault_prove_delay_ms: u64,
}

/// A claim in hand, as recorded in the work directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ClaimRecord {
    job: OpenJob,
    expires_at: i64,
}

/// Longest wait after repeated errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// 0 running; 1 finish the jobs in hand, claim no more; 2 give leases back now.
static STOP: AtomicUsize = AtomicUsize::new(0);

struct Agent {
    args: Args,
    signer: Signer,
    shapes: Vec<Shape>,
    store: KeyStore,
    claims_dir: PathBuf,
    /// Claims found at start-up, still valid: worked on first.
    resumed: Mutex<VecDeque<ClaimRecord>>,
    delivered: AtomicU64,
    failed: AtomicU64,
    /// The proving keys of the last model proven (inference jobs).
    model_keys: ProvingKeys,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let signer = Signer::from_hex(&args.key).map_err(|e| CliError::new("bad_key", e.to_string()))?;
    let shapes = veriflop_service::keys::parse_halo2_shapes(&args.shapes)
        .map_err(|e| CliError::new("bad_input", format!("--shapes: {e}")))?;
    if args.concurrency == 0 {
        return Err(CliError::new("bad_input", "--concurrency must be at least 1"));
    }
    let claims_dir = args.work_dir.join("claims");
    std::fs::create_dir_all(&claims_dir).map_err(|e| CliError::new("io", format!("{}: {e}", claims_dir.display())))?;
    spawn_signal_watcher();
    let agent = Arc::new(Agent {
        store: KeyStore::new(&args.keys.keys),
        args,
        signer,
        shapes,
        claims_dir,
        resumed: Mutex::new(VecDeque::new()),
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        model_keys: ProvingKeys::default(),
    });
    let client = agent.client()?;
    let venue = client.venue().map_err(client_error)?;
    ctx.note(format!(
        "provider {} working for {} ({}), keys in {}, {} at once",
        agent.signer.address(),
        agent.args.url,
        venue.venue,
        agent.args.keys.keys.display(),
        agent.args.concurrency
    ));
    agent.resume(&client, ctx);
    let workers: Vec<_> = (0..agent.args.concurrency)
        .map(|w| {
            let agent = agent.clone();
            let ctx = Ctx { json: ctx.json, quiet: ctx.quiet };
            std::thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || agent.worker(&ctx))
                .expect("spawn a worker thread")
        })
        .collect();
    // A second signal gives the leases in hand back and exits at once.
    loop {
        if workers.iter().all(|w| w.is_finished()) {
            break;
        }
        if STOP.load(Ordering::SeqCst) >= 2 {
            let n = agent.give_back_all(&client);
            ctx.note(format!("stopped: {n} leases given back"));
            std::process::exit(130);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for w in workers {
        let _ = w.join();
    }
    let (d, f) = (agent.delivered.load(Ordering::SeqCst), agent.failed.load(Ordering::SeqCst));
    ctx.emit(
        format!("agent stopped: {d} jobs delivered, {f} failed"),
        json!({"ok": true, "delivered": d, "failed": f}),
    );
    Ok(())
}

fn spawn_signal_watcher() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            #[cfg(unix)]
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                #[cfg(unix)]
                let got = match term.as_mut() {
                    Some(t) => tokio::select! { r = tokio::signal::ctrl_c() => r.is_ok(), r = t.recv() => r.is_some() },
                    None => tokio::signal::ctrl_c().await.is_ok(),
                };
                #[cfg(not(unix))]
                let got = tokio::signal::ctrl_c().await.is_ok();
                if !got {
                    return;
                }
                let n = STOP.fetch_add(1, Ordering::SeqCst) + 1;
                if n == 1 {
                    eprintln!("stopping: finishing the jobs in hand (signal again to give their leases back)");
                }
            }
        });
    });
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst) > 0
}

impl Agent {
    fn client(&self) -> Result<BlockingClient, CliError> {
        BlockingClient::new(&self.args.url, self.signer.clone()).map_err(|e| CliError::new("io", e.to_string()))
    }

    fn claim_path(&self, id: &JobId) -> PathBuf {
        self.claims_dir.join(format!("{id}.json"))
    }

    /// Claims recorded by an earlier run: resumed while their lease is valid.
    fn resume(&self, client: &BlockingClient, ctx: &Ctx) {
        let Ok(dir) = std::fs::read_dir(&self.claims_dir) else { return };
        for entry in dir.flatten() {
            let path = entry.path();
            let rec: Option<ClaimRecord> = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
            let Some(rec) = rec else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            let id = rec.job.job_id;
            let holder = client.job(&id).ok().and_then(|v| v.market).and_then(|m| m.lease_holder);
            if holder == Some(self.signer.address()) {
                ctx.note(format!("resuming job {id}: our lease is still valid until {}", rec.expires_at));
                self.resumed.lock().expect("resumed").push_back(rec);
            } else {
                ctx.note(format!("forgetting job {id}: our lease ended (the job reopened for others)"));
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_dir_all(self.args.work_dir.join(id.to_string()));
            }
        }
    }

    fn give_back_all(&self, client: &BlockingClient) -> usize {
        let mut n = 0;
        for entry in std::fs::read_dir(&self.claims_dir).into_iter().flatten().flatten() {
            let rec: Option<ClaimRecord> =
                std::fs::read(entry.path()).ok().and_then(|b| serde_json::from_slice(&b).ok());
            if let Some(rec) = rec {
                if client.run(|c| c.unclaim(&rec.job.job_id)).is_ok() {
                    n += 1;
                }
                let _ = std::fs::remove_file(entry.path());
            }
        }
        n
    }

    /// Whether we take the job: its stake is within ours, and we can prove it
    /// with what is in the key directory (never a fresh setup).
    fn can_prove(&self, j: &OpenJob) -> bool {
        if !self.shapes.is_empty() && !self.shapes.contains(&j.shape) {
            return false;
        }
        if self.args.proof_system.is_some_and(|s| s != j.system) {
            return false;
        }
        if j.lease_stake.parse::<u64>().map_or(true, |s| s > self.args.max_stake) {
            return false;
        }
        match j.system {
            ProofSystem::Groth16Bn254 if j.circuit == CircuitKind::Inference => {
                ProvingKeys::has(&self.args.keys.keys, &j.job())
            }
            ProofSystem::Groth16Bn254 => self.store.has(j.circuit, &j.shape),
            ProofSystem::Halo2KzgBn254 => j.circuit == CircuitKind::Poseidon && self.store.srs_path().is_file(),
        }
    }

    fn worker(&self, ctx: &Ctx) {
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return eprintln!("error: {}", e.message),
        };
        let poll = Duration::from_secs_f64(self.args.poll_secs.max(0.05));
        let mut backoff = poll;
        let after_error = |what: &str, e: &dyn std::fmt::Display, backoff: &mut Duration| {
            eprintln!("error: {what}: {e} (retrying in {})", secs(*backoff));
            std::thread::sleep(*backoff);
            *backoff = (*backoff * 2).min(MAX_BACKOFF);
        };
        loop {
            if stopping() || self.done() {
                return;
            }
            let resumed = self.resumed.lock().expect("resumed").pop_front();
            let next = match resumed {
                Some(rec) => Ok(Some(rec)),
                None => self.find_and_claim(&client),
            };
            match next {
                Ok(Some(rec)) => match self.work(&client, &rec, ctx) {
                    Ok(line) => {
                        println!("{line}");
                        self.delivered.fetch_add(1, Ordering::SeqCst);
                        backoff = poll;
                    }
                    Err(e) => {
                        self.failed.fetch_add(1, Ordering::SeqCst);
                        let id = rec.job.job_id;
                        let _ = client.run(|c| c.unclaim(&id));
                        self.forget(&id);
                        after_error(&format!("job {id}"), &e.message, &mut backoff);
                    }
                },
                Ok(None) => {
                    if self.args.exit_when_idle {
                        return;
                    }
                    std::thread::sleep(poll);
                }
                Err(e) => after_error("looking for jobs", &e, &mut backoff),
            }
        }
    }

    fn done(&self) -> bool {
        self.args.max_jobs.is_some_and(|m| self.delivered.load(Ordering::SeqCst) >= m)
    }

    fn forget(&self, id: &JobId) {
        let _ = std::fs::remove_file(self.claim_path(id));
        let _ = std::fs::remove_dir_all(self.args.work_dir.join(id.to_string()));
    }

    /// Lists offered jobs (all pages) and claims the first we can prove.
    fn find_and_claim(&self, client: &BlockingClient) -> Result<Option<ClaimRecord>, ClientError> {
        let mut after: Option<String> = None;
        loop {
            let mut q = format!("min_price={}&limit=100", self.args.min_price);
            if let Some(s) = self.args.proof_system {
                q += &format!("&system={}", s.name());
            }
            if let Some(a) = &after {
                q += &format!("&after={a}");
            }
            let page = client.run(|c| c.open_jobs(&q))?;
            for j in page.jobs.into_iter().filter(|j| self.can_prove(j)) {
                match client.run(|c| c.claim(&j.job_id)) {
                    Ok(lease) => {
                        let rec = ClaimRecord { job: j, expires_at: lease.expires_at };
                        let path = self.claim_path(&rec.job.job_id);
                        let bytes = serde_json::to_vec(&rec).expect("json");
                        if let Err(e) = veriflop_prover::setup::write_atomic(&path, &bytes) {
                            eprintln!("warning: cannot record the claim in {}: {e}", path.display());
                        }
                        return Ok(Some(rec));
                    }
                    // Another provider was faster, or the job closed meanwhile: next one.
                    Err(ClientError::Api { status: 409 | 410, .. }) => continue,
                    // Our balance does not cover its stake.
                    Err(e @ ClientError::Api { status: 402, .. }) => {
                        eprintln!("skipping job {}: {e}", j.job_id);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(None),
            }
        }
    }

    /// One claimed job, from download to payment; the line to print.
    fn work(&self, client: &BlockingClient, rec: &ClaimRecord, ctx: &Ctx) -> Result<String, CliError> {
        let j = &rec.job;
        let job = j.job();
        let dir = self.args.work_dir.join(j.job_id.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;
        let total = Instant::now();

        // Inputs, checked against the job before any device time is spent.
        let t = Instant::now();
        let (pa, pb) = (dir.join("a.mat"), dir.join("b.mat"));
        client.run(|c| c.download_input(&j.job_id, Input::A, &pa)).map_err(client_error)?;
        client.run(|c| c.download_input(&j.job_id, Input::B, &pb)).map_err(client_error)?;
        let a = veriflop_circuits::stream::read_input_file(&pa, j.shape.dtype)?;
        let pc = dir.join("c.vfm");
        let (bundle, prove, backend) = if job.circuit == CircuitKind::Inference {
            // B is the model file; its keys are the model's (checked in `inference::prove`).
            let model = inference::read_model(&pb)?;
            let keys = self.model_keys.load(&self.args.keys.keys, &job)?;
            let inputs = t.elapsed();
            let t = Instant::now();
            let heartbeat = Heartbeat::start(j.job_id, ctx.quiet);
            std::thread::sleep(Duration::from_millis(self.args.fault_prove_delay_ms));
            let proven = inference::prove(&job, &a, &model, &keys, self.signer.address());
            drop(heartbeat);
            let p = proven?;
            veriflop_circuits::matrix::write_matrix(&pc, &p.output)?;
            (p.bundle, (inputs, t.elapsed()), "cpu".to_string())
        } else {
            let b = veriflop_circuits::stream::read_input_file(&pb, j.shape.dtype)?;
            let ck = commit_key_for(j.circuit, &j.shape, &self.args.keys)?;
            job.check_data(ck.as_ref(), &a, &b).map_err(|e| {
                CliError::rejected("bad_job_data", format!("the job's data does not match its terms: {e}"))
            })?;
            drop(ck);
            let inputs = t.elapsed();

            // Execute and prove (progress on stderr while it runs).
            let t = Instant::now();
            let quiet = Ctx { json: ctx.json, quiet: true };
            let backend: Box<dyn Backend> = if job.system == ProofSystem::Groth16Bn254 {
                self.args.device.backend(&quiet)?
            } else {
                Box::new(CpuBackend::new())
            };
            let gemm: Gemm = self.args.device.gemm.open(&quiet)?;
            let heartbeat = Heartbeat::start(j.job_id, ctx.quiet);
            std::thread::sleep(Duration::from_millis(self.args.fault_prove_delay_ms));
            let proven = prove_job(
                &job,
                a,
                b,
                None,
                self.signer.address(),
                &self.store,
                Devices { backend: backend.as_ref(), gemm: &gemm },
                &quiet,
            );
            drop(heartbeat);
            let p = proven?;
            veriflop_circuits::matrix::write_matrix(&pc, &p.c)?;
            (p.bundle, (inputs, t.elapsed()), p.backend)
        };
        let (inputs, prove) = prove;

        // Deliver: C first, then the proof that releases the escrow.
        let t = Instant::now();
        let r = client.run(|c| c.deliver(&j.job_id, &pc, &bundle)).map_err(client_error)?;
        let deliver = t.elapsed();
        self.forget(&j.job_id);
        Ok(format!(
            "job {} {} {} {}: inputs {} · prove {} on {} · deliver {} · total {} → {:?} {} to {}",
            short(&j.job_id),
            j.shape,
            j.system,
            j.circuit,
            secs(inputs),
            secs(prove),
            backend,
            secs(deliver),
            secs(total.elapsed()),
            r.outcome,
            r.amount,
            r.payee
        ))
    }
}

fn short(id: &JobId) -> String {
    let s = id.to_string();
    format!("{}…{}", &s[..8], &s[s.len() - 4..])
}

/// Prints "still proving" every 10 s while a proof runs (unattended logs).
struct Heartbeat(Option<std::sync::mpsc::Sender<()>>);

impl Heartbeat {
    fn start(id: JobId, quiet: bool) -> Self {
        if quiet {
            return Heartbeat(None);
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let t = Instant::now();
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(10)) {
                eprintln!("  job {}: proving for {}", short(&id), secs(t.elapsed()));
            }
        });
        Heartbeat(Some(tx))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.take();
    }
}
