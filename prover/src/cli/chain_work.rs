//! `chain work`: the provider agent on a chain. It follows the escrow's
//! `JobPosted` events from a cursor persisted after every job (a restart
//! neither misses nor repeats one), at a confirmation depth (a reorg within it
//! is never seen). For each job it can prove — keys for the shape in --keys,
//! price and stake within its limits, still open, not locked by another — it
//! locks when the job asks for a stake, fetches A and B from the data plane by
//! their commitments and checks them, proves, uploads C, gathers delivery
//! receipts when the job requires them, and settles. Before acting it reads the
//! job's on-chain state, so a job it already locked is not locked twice, and a
//! settled one is skipped. An inference job (its shape id names the inference
//! circuit, its cm_B the model) needs the model's proving key for its batch in
//! --keys; its input batch and model file are fetched under the model word and
//! checked against the job before proving, its output is delivered as C, and
//! it settles with `submitInference`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use veriflop_chain::follow::{Follower, PostedJob};
use veriflop_chain::{Connection, Escrow};
use veriflop_circuits::commit::Role;
use veriflop_circuits::{CircuitKind, Dtype, Job, ProofSystem, Shape};
use veriflop_contracts::abi::JobStatus;
use veriflop_prover::gemm::Gemm;
use veriflop_prover::{Backend, CpuBackend, KeyStore};
use veriflop_service::chain_data::{DataAddress, ReceiptRequest};
use veriflop_service::client::Client;
use veriflop_verifier::auth::Signer;

use super::common::{commit_key_for, secs, CliError, Ctx, KeyArgs};
use super::device::DeviceArgs;
use super::inference::ProvingKeys;
use super::onchain::{chain_error, parse_amount, EscrowArg};
use super::prove::{prove_job, Devices};
use super::submit::client_error;

#[derive(clap::Args, Debug)]
pub struct WorkArgs {
    #[command(flatten)]
    escrow: EscrowArg,
    /// The data plane holding on-chain jobs' inputs by commitment (a
    /// veriflop-verifier's base URL); C is uploaded there too.
    #[arg(long, env = "VERIFLOP_DATA_URL", default_value = "http://127.0.0.1:8645")]
    data_url: String,
    /// Services asked for delivery receipts when a job requires them (each is
    /// asked; the job's attestors among them sign). Default: --data-url.
    #[arg(long = "attestor-url")]
    attestor_urls: Vec<String>,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// The cursor file: which blocks' jobs are handled.
    #[arg(long, default_value = "veriflop-data/chain-work/cursor.json")]
    cursor: PathBuf,
    /// First block to read when there is no cursor yet (default: the latest block).
    #[arg(long)]
    from_block: Option<u64>,
    /// A job is acted on once its block is this many blocks deep (1: the latest block).
    #[arg(long, default_value_t = 2)]
    depth: u64,
    /// Largest stake put down to lock a job (wei or with a unit); jobs asking more are skipped.
    #[arg(long, default_value = "0")]
    max_stake: String,
    /// Only jobs paying at least this much (wei or with a unit).
    #[arg(long, default_value = "1")]
    min_price: String,
    /// Seconds between looks at the chain when it has nothing new.
    #[arg(long, default_value_t = 2.0)]
    poll_secs: f64,
    /// Exit after settling this many jobs.
    #[arg(long)]
    max_jobs: Option<u64>,
    /// Exit when every confirmed block is handled (instead of waiting for more).
    #[arg(long)]
    exit_when_idle: bool,
    /// Job data while a job is worked on.
    #[arg(long, default_value = "veriflop-data/chain-work")]
    work_dir: PathBuf,
}

/// What became of one posted job.
enum Outcome {
    Settled(String),
    Skipped(String),
}

/// A failure that may pass (the node or the data plane): the job is retried.
fn transient(e: &CliError) -> bool {
    matches!(
        e.code,
        "rpc" | "timeout" | "verifier_unreachable" | "blob_store_unavailable" | "unavailable" | "rate_limited"
    )
}

/// Uploads a matrix of an on-chain job, waiting out the data plane's limit on
/// uploads per client address (`429 rate_limited`; its allowance refills
/// within a minute) for up to about two minutes.
async fn put_data_patiently(c: &Client, path: &str, file: &std::path::Path) -> Result<(), CliError> {
    let mut waited = Duration::ZERO;
    loop {
        match c.put_data(path, file).await {
            Err(e) if e.code() == Some("rate_limited") && waited < Duration::from_secs(120) => {
                eprintln!("warning: the data plane limits uploads from this address; retrying in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
                waited += Duration::from_secs(5);
            }
            r => return r.map(|_| ()).map_err(client_error),
        }
    }
}

/// (system, circuit, shape) of a registry shape id (inverse of `shape_id`).
fn decode_shape_id(id: u128) -> Option<(ProofSystem, CircuitKind, Shape)> {
    let system = ProofSystem::ALL.into_iter().find(|s| s.code() as u128 == id >> 112)?;
    let circuit = CircuitKind::from_code(((id >> 104) & 0xff) as u8).ok()?;
    let dtype = Dtype::from_code(((id >> 96) & 0xff) as u8).ok()?;
    let dim = |s: u32| ((id >> s) & 0xffff_ffff) as u32;
    let shape = Shape::new(dim(64), dim(32), dim(0), dtype).ok()?;
    (veriflop_contracts::shape_id(system, circuit, &shape) == id).then_some((system, circuit, shape))
}

fn fr(w: alloy::primitives::U256) -> Result<ark_bn254::Fr, CliError> {
    veriflop_circuits::field::fr_from_bytes(&w.to_be_bytes::<32>())
        .map_err(|e| CliError::new("bad_job", format!("commitment {w:#x}: {e}")))
}

struct Agent<'a> {
    a: &'a WorkArgs,
    conn: &'a Connection,
    escrow: Escrow<'a>,
    data: Client,
    store: KeyStore,
    /// The proving keys of the last model proven (inference jobs).
    model_keys: Arc<ProvingKeys>,
    max_stake: u128,
    min_price: u128,
}

pub async fn run(a: WorkArgs, conn: &Connection, ctx: &Ctx) -> Result<(), CliError> {
    let escrow = Escrow::at(conn, a.escrow.escrow).await.map_err(chain_error)?;
    let start = match a.from_block {
        Some(b) => b,
        None => conn.block_number().await.map_err(chain_error)?,
    };
    let mut follower =
        Follower::open(&a.cursor, conn.chain_id(), escrow.address, start, a.depth).map_err(chain_error)?;
    let agent = Agent {
        a: &a,
        conn,
        escrow,
        data: Client::new(a.data_url.clone(), Signer::random()),
        store: KeyStore::new(&a.keys.keys),
        model_keys: Arc::default(),
        max_stake: parse_amount(&a.max_stake)?,
        min_price: parse_amount(&a.min_price)?,
    };
    ctx.note(format!(
        "chain agent {} on chain {} at escrow {}: from block {} (depth {}), data at {}",
        conn.from(),
        conn.chain_id(),
        agent.escrow.address,
        follower.cursor().block,
        a.depth,
        a.data_url
    ));
    let mut settled = 0u64;
    let poll = Duration::from_secs_f64(a.poll_secs.max(0.05));
    loop {
        let events = match follower.poll(conn).await {
            Ok(e) => e,
            Err(e) => {
                eprintln!("warning: reading the chain: {e}; retrying");
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        let idle = events.is_empty();
        let mut retry = false;
        for ev in &events {
            match agent.handle(ev, ctx).await {
                Ok(Outcome::Settled(line)) => {
                    println!("{line}");
                    settled += 1;
                }
                Ok(Outcome::Skipped(why)) => ctx.note(format!("job {}: skipped ({why})", ev.job_id)),
                Err(e) if transient(&e) => {
                    eprintln!("warning: job {}: {}; retrying", ev.job_id, e.message);
                    retry = true;
                    break;
                }
                Err(e) => eprintln!("job {}: failed: {}", ev.job_id, e.message),
            }
            follower.handled(ev).map_err(chain_error)?;
            if a.max_jobs.is_some_and(|m| settled >= m) {
                return Ok(());
            }
        }
        if retry {
            tokio::time::sleep(poll).await;
            continue;
        }
        follower.advance(conn).await.map_err(chain_error)?;
        if idle {
            if a.exit_when_idle {
                ctx.note(format!("no more confirmed jobs: {settled} settled"));
                return Ok(());
            }
            tokio::time::sleep(poll).await;
        }
    }
}

impl Agent<'_> {
    async fn handle(&self, ev: &PostedJob, ctx: &Ctx) -> Result<Outcome, CliError> {
        let Some((system, circuit, shape)) = decode_shape_id(ev.shape) else {
            return Ok(Outcome::Skipped(format!("unknown shape id {:#x}", ev.shape)));
        };
        let job = Job { job_id: ev.job_id, system, circuit, shape, cm_a: fr(ev.cm_a)?, cm_b: fr(ev.cm_b)? };
        let inference = circuit == CircuitKind::Inference;
        if inference && !ProvingKeys::has(&self.a.keys.keys, &job) {
            return Ok(Outcome::Skipped(format!(
                "no proving key for model {} and batch {} in {}",
                veriflop_circuits::field::fr_to_hex(&job.cm_b),
                shape.m,
                self.a.keys.keys.display()
            )));
        }
        if !inference && system == ProofSystem::Groth16Bn254 && !self.store.vk_path(circuit, &shape).is_file() {
            return Ok(Outcome::Skipped(format!("no {circuit} keys for {shape} in {}", self.a.keys.keys.display())));
        }
        let price = u128::try_from(ev.price).unwrap_or(u128::MAX);
        if price < self.min_price {
            return Ok(Outcome::Skipped(format!("price {price} wei is below --min-price")));
        }
        let me = self.conn.from();
        let j = self.escrow.job(&ev.job_id).await.map_err(chain_error)?;
        if j.status != JobStatus::Open {
            return Ok(Outcome::Skipped(format!("{:?}", j.status)));
        }
        let now = self.conn.latest_timestamp().await.map_err(chain_error)?;
        if j.deadline <= now {
            return Ok(Outcome::Skipped("past its deadline".into()));
        }
        let total = Instant::now();
        let mut lock_note = String::new();
        let held = j.locker == me && now < j.lock_until;
        if j.locker != Address::ZERO && j.locker != me && now < j.lock_until {
            return Ok(Outcome::Skipped(format!("locked by {} until {}", j.locker, j.lock_until)));
        }
        if j.lock_window > 0 && !held {
            if j.lock_stake > self.max_stake {
                return Ok(Outcome::Skipped(format!("its stake {} wei is above --max-stake", j.lock_stake)));
            }
            let t = self.escrow.lock(&ev.job_id).await.map_err(chain_error)?;
            lock_note = format!("lock {} gas · ", t.gas_used);
        }

        // Inputs by commitment, checked before any device time is spent (an
        // inference job's input and model: in `inference::prove`, before proving).
        let t = Instant::now();
        let dir = self.a.work_dir.join(ev.job_id.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;
        let (pa, pb) = (dir.join("a.mat"), dir.join("b.mat"));
        for (role, cm, path) in [(Role::A, job.cm_a, &pa), (Role::B, job.cm_b, &pb)] {
            self.data.get_data(&DataAddress::of(&job, role, cm).path(), path).await.map_err(client_error)?;
        }
        let a = veriflop_circuits::stream::read_input_file(&pa, shape.dtype)?;
        let b = if inference {
            Err(super::inference::read_model(&pb)?)
        } else {
            let b = veriflop_circuits::stream::read_input_file(&pb, shape.dtype)?;
            let ck = commit_key_for(circuit, &shape, &self.a.keys)?;
            if let Err(e) = job.check_data(ck.as_ref(), &a, &b) {
                return Ok(Outcome::Skipped(format!("the data plane's A, B do not match the job's commitments: {e}")));
            }
            Ok(b)
        };
        let inputs = t.elapsed();

        // Prove (blocking work off the async runtime's threads).
        let t = Instant::now();
        let quiet = Ctx { json: ctx.json, quiet: true };
        let payee = veriflop_contracts::settle::statement_address(me);
        let (store, device, model_keys, key_dir) =
            (self.store.clone(), self.a.device.clone(), self.model_keys.clone(), self.a.keys.keys.clone());
        let job2 = job.clone();
        let proven: Result<_, CliError> = tokio::task::spawn_blocking(move || match b {
            Err(model) => {
                let keys = model_keys.load(&key_dir, &job2)?;
                let p = super::inference::prove(&job2, &a, &model, &keys, payee)?;
                let y = p.output;
                let y = veriflop_circuits::Matrix::new(y.rows, y.cols, y.data.into_iter().map(i128::from).collect())?;
                Ok((y, p.bundle, "cpu".to_string()))
            }
            Ok(b) => {
                let backend: Box<dyn Backend> = if system == ProofSystem::Groth16Bn254 {
                    device.backend(&quiet)?
                } else {
                    Box::new(CpuBackend::new())
                };
                let gemm: Gemm = device.gemm.open(&quiet)?;
                let devices = Devices { backend: backend.as_ref(), gemm: &gemm };
                let p = prove_job(&job2, a, b, None, payee, &store, devices, &quiet)?;
                Ok((p.c, p.bundle, p.backend))
            }
        })
        .await
        .map_err(|e| CliError::new("prove_failed", e.to_string()))?;
        let (c, bundle, backend) = match proven {
            Err(e) if e.code == "bad_job_data" => return Ok(Outcome::Skipped(e.message)),
            r => r?,
        };
        let prove = t.elapsed();

        // Deliver C to the data plane (and the attestors), then settle.
        let t = Instant::now();
        let pc = dir.join("c.vfm");
        veriflop_circuits::matrix::write_matrix(&pc, &c)?;
        let cm_c = bundle.statement.cm_c;
        let c_addr = DataAddress::of(&job, Role::C, cm_c);
        let mut urls = vec![self.a.data_url.clone()];
        urls.extend(self.a.attestor_urls.iter().filter(|u| **u != self.a.data_url).cloned());
        for url in &urls {
            let c = Client::new(url.clone(), Signer::random());
            put_data_patiently(&c, &c_addr.path(), &pc).await?;
        }
        let mut attest_note = String::new();
        if j.delivery {
            // DeliveryRequired comes with the JobPosted (one call emits both): read in its block only.
            let terms = self.escrow.delivery_terms(&ev.job_id, ev.block).await.map_err(chain_error)?;
            let (attestors, threshold) = terms.ok_or_else(|| {
                let msg = format!("the job requires delivery but block {} has no DeliveryRequired for it", ev.block);
                CliError::new("rpc", msg)
            })?;
            let word = veriflop_contracts::delivery::cm_c_word(&bundle);
            let mut sigs: Vec<(Address, [u8; 65])> = Vec::new();
            for url in &urls {
                let req = ReceiptRequest {
                    chain_id: self.conn.chain_id(),
                    escrow: self.escrow.address.to_string(),
                    job_id: ev.job_id,
                    circuit,
                    shape,
                    model: c_addr.model.map(|m| veriflop_circuits::field::fr_to_hex(&m)),
                    cm_c: format!("0x{}", hex::encode(word)),
                };
                match Client::new(url.clone(), Signer::random()).delivery_receipt(&req).await {
                    Ok(r) => {
                        let sig: Option<[u8; 65]> =
                            hex::decode(r.signature.trim_start_matches("0x")).ok().and_then(|b| b.try_into().ok());
                        let digest = veriflop_contracts::delivery::delivery_digest(
                            self.conn.chain_id(),
                            self.escrow.address.0 .0,
                            &ev.job_id,
                            word,
                        );
                        match sig
                            .and_then(|s| veriflop_contracts::delivery::recover_attestor(&digest, &s).map(|a| (a, s)))
                        {
                            Some((who, s)) if attestors.contains(&Address::from(who)) => {
                                sigs.push((Address::from(who), s))
                            }
                            _ => eprintln!("warning: {url}'s receipt is not signed by one of the job's attestors"),
                        }
                    }
                    Err(e) => eprintln!("warning: no delivery receipt from {url}: {e}"),
                }
            }
            sigs.sort_by_key(|(a, _)| *a);
            sigs.dedup_by_key(|(a, _)| *a);
            if sigs.len() < threshold as usize {
                return Err(CliError::new(
                    "unavailable",
                    format!("{} of the {threshold} delivery receipts the job needs", sigs.len()),
                ));
            }
            let s: Vec<[u8; 65]> = sigs.iter().map(|(_, s)| *s).collect();
            let tx = self.escrow.attest(&ev.job_id, word, &attestors, threshold, &s).await.map_err(chain_error)?;
            attest_note = format!(" · attestDelivery {} gas", tx.gas_used);
        }
        let settle = self.escrow.settle(&bundle).await.map_err(chain_error)?;
        let deliver = t.elapsed();
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Outcome::Settled(format!(
            "job {} {shape} {system} {circuit}: {lock_note}inputs {} · prove {} on {} · deliver and settle {}{attest_note} · settle {} gas, tx {} · total {} → paid {} wei to {me}",
            ev.job_id,
            secs(inputs),
            secs(prove),
            backend,
            secs(deliver),
            settle.gas_used,
            settle.hash,
            secs(total.elapsed()),
            j.price + if j.lock_window > 0 { j.lock_stake } else { 0 },
        )))
    }
}
