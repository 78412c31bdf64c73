//! `chain`: JobEscrow on a real chain over JSON-RPC — deploy it, register a
//! shape's verifier, post a job with its price, lock it with a stake, settle it
//! with a bundle, refund, slash an expired lock, withdraw, show a job. Each
//! transaction is estimated first (a revert prints the contract's error by name
//! with its arguments), then sent and awaited to its receipt at
//! --confirmations; the hash and the gas used are printed.
//!
//! Keys come from --keystore (an encrypted Ethereum keystore) or the
//! VERIFLOP_PRIVATE_KEY environment variable, never from an argument.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use veriflop_chain::{Address, ChainError, Connection, Escrow, TxOutcome};
use veriflop_circuits::{Bytes32, CircuitKind, JobId, ProofSystem};
use veriflop_contracts::settle::PostTerms;
use veriflop_prover::KeyStore;

use veriflop_circuits::commit::Role;
use veriflop_service::chain_data::DataAddress;

use super::common::{read_bundle, read_job, CliError, Ctx, KeyArgs, ShapeArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    node: Node,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The node, the key and how long to wait.
#[derive(clap::Args, Debug, Clone)]
pub struct Node {
    /// JSON-RPC URL of the node.
    #[arg(long, env = "VERIFLOP_RPC_URL", default_value = "http://127.0.0.1:8545", global = true)]
    pub rpc_url: String,
    /// The chain id the node must serve, checked before anything is signed;
    /// required by every command that sends a transaction.
    #[arg(long, env = "VERIFLOP_CHAIN_ID", global = true)]
    pub chain_id: Option<u64>,
    /// An encrypted Ethereum keystore file (its password from --password-file
    /// or VERIFLOP_KEYSTORE_PASSWORD); without it, the hex key in VERIFLOP_PRIVATE_KEY.
    #[arg(long, env = "VERIFLOP_KEYSTORE", global = true)]
    pub keystore: Option<PathBuf>,
    /// File holding the keystore's password.
    #[arg(long, global = true)]
    pub password_file: Option<PathBuf>,
    /// Blocks a receipt must be buried under before it is reported (1: mined).
    #[arg(long, default_value_t = 1, global = true)]
    pub confirmations: u64,
    /// Seconds to wait for a receipt.
    #[arg(long, default_value_t = 300, global = true)]
    pub receipt_timeout: u64,
}

impl Node {
    /// Connects with the configured key (`readonly`: a throwaway key when none is configured).
    pub async fn connect(&self, readonly: bool) -> Result<Connection, CliError> {
        let signer = match veriflop_chain::wallet::load_signer(self.keystore.as_deref(), self.password_file.as_deref())
        {
            Err(ChainError::Config(_)) if readonly && self.keystore.is_none() => {
                alloy::signers::local::PrivateKeySigner::random()
            }
            r => r.map_err(chain_error)?,
        };
        if !readonly && self.chain_id.is_none() {
            return Err(CliError::new(
                "config",
                "name the chain this transaction is for: --chain-id N or VERIFLOP_CHAIN_ID (checked against the node's)",
            ));
        }
        Ok(Connection::connect(&self.rpc_url, signer, self.chain_id)
            .await
            .map_err(chain_error)?
            .with_confirmations(self.confirmations)
            .with_timeout(Duration::from_secs(self.receipt_timeout)))
    }
}

/// The escrow every command but `deploy` talks to.
#[derive(clap::Args, Debug, Clone)]
pub struct EscrowArg {
    /// The JobEscrow contract's address.
    #[arg(long, env = "VERIFLOP_ESCROW")]
    pub escrow: Address,
}

#[derive(clap::Args, Debug)]
pub struct JobIdArg {
    #[command(flatten)]
    escrow: EscrowArg,
    /// The job's id (0x-hex), as `post` printed it.
    #[arg(long)]
    job_id: JobId,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Deploy JobEscrow (the sender pays; --owner controls the shape registry).
    Deploy {
        /// Who may register verifiers (default: the sender).
        #[arg(long)]
        owner: Option<Address>,
        /// Also write the escrow's address to this file (for scripts: `export VERIFLOP_ESCROW=$(cat FILE)`).
        #[arg(long)]
        address_file: Option<PathBuf>,
    },
    /// Deploy the verifier of a shape's key and register it with the escrow (owner only).
    Register(RegisterArgs),
    /// Post a job (made with `veriflop-prover job --venue chain:<chain id>:<escrow> --client <you> --nonce N`), paying its price.
    Post(PostArgs),
    /// Lock an open job for its window, depositing the stake it asks for.
    Lock(JobIdArg),
    /// Settle a job with a proof bundle (sent from the bundle's payee key).
    Settle {
        #[command(flatten)]
        escrow: EscrowArg,
        /// Proof bundle (binary or JSON).
        #[arg(long, default_value = "veriflop-data/job/bundle.vfpb")]
        bundle: PathBuf,
    },
    /// Take the price back after the deadline (the job's client).
    Refund(JobIdArg),
    /// Slash an expired lock (anyone): its stake becomes the client's, the job reopens.
    Slash(JobIdArg),
    /// Withdraw what the escrow owes the sender (forfeited stakes).
    Withdraw {
        #[command(flatten)]
        escrow: EscrowArg,
    },
    /// Show a job as the escrow stores it (needs no key).
    Status(JobIdArg),
    /// Fetch a settled job's result C from the data plane, checked against the cm_C its settlement proved.
    Fetch(FetchArgs),
    /// Run the provider agent on the chain: follow posted jobs, lock, prove, deliver and settle, unattended.
    Work(super::chain_work::WorkArgs),
}

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    #[command(flatten)]
    escrow: EscrowArg,
    /// The job's id (default: the job file's).
    #[arg(long)]
    job_id: Option<JobId>,
    /// The data plane (a veriflop-verifier's base URL).
    #[arg(long, env = "VERIFLOP_DATA_URL", default_value = "http://127.0.0.1:8645")]
    data_url: String,
    /// The job file (its circuit and shape).
    #[arg(long, default_value = "veriflop-data/job/job.json")]
    job_file: PathBuf,
    /// Oldest block to look for the job's settlement (`JobSettled`) in: the
    /// block `post` printed, or any before it. The scan runs from the latest
    /// block back to this one and stops at the settlement; a job not Paid is
    /// not scanned for. Default 0: back to genesis if need be.
    #[arg(long, default_value_t = 0)]
    from_block: u64,
    /// Blocks per eth_getLogs request of that scan (lower it for a node that caps log ranges below it).
    #[arg(long, default_value_t = veriflop_chain::escrow::LOG_WINDOW)]
    log_window: u64,
    /// Where to write C (written only if it matches the proven commitment).
    #[arg(long, default_value = "veriflop-data/job/c.vfm")]
    out: PathBuf,
    #[command(flatten)]
    keys: KeyArgs,
}

#[derive(clap::Args, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    escrow: EscrowArg,
    #[command(flatten)]
    shape: ShapeArgs,
    /// Proof system: groth16 (the generic verifier with the key's constants) or
    /// halo2 (snark-verifier's contract for the key derived from the SRS in --keys, compiled with the pinned solc).
    #[arg(long, default_value = "groth16")]
    proof_system: ProofSystem,
    /// Circuit of the Groth16 key.
    #[arg(long, default_value = "committed")]
    circuit: CircuitKind,
    /// An inference verifier instead: the model file, whose verifying key for
    /// --batch is in --keys (`model setup`); registered for that model only.
    #[arg(long, conflicts_with_all = ["proof_system", "circuit"], requires = "batch")]
    model: Option<PathBuf>,
    /// The batch size of the model's key (with --model).
    #[arg(long, requires = "model")]
    batch: Option<usize>,
    #[command(flatten)]
    keys: KeyArgs,
}

#[derive(clap::Args, Debug)]
pub struct PostArgs {
    #[command(flatten)]
    escrow: EscrowArg,
    /// The job file.
    #[arg(long, default_value = "veriflop-data/job/job.json")]
    job: PathBuf,
    /// The nonce the job's id was derived with (`job --nonce`).
    #[arg(long)]
    nonce: Bytes32,
    /// The price, paid with the call: wei, or with a unit (`0.5ether`, `20gwei`).
    #[arg(long)]
    price: String,
    /// Seconds from now until the deadline (the last second a proof is accepted).
    #[arg(long, default_value_t = 3600)]
    deadline_in: u64,
    /// Seconds an exclusive lock lasts (0: no locking).
    #[arg(long, default_value_t = 0)]
    lock_window: u32,
    /// What a provider deposits to lock (wei or with a unit); required with --lock-window.
    #[arg(long, default_value = "0")]
    lock_stake: String,
    /// Upload A and B (an inference job: its input and model) to this data
    /// plane (a veriflop-verifier's base URL) before posting, where providers
    /// fetch them by their commitments.
    #[arg(long, env = "VERIFLOP_DATA_URL")]
    data_url: Option<String>,
    /// Matrix A (with --data-url).
    #[arg(long, requires = "b")]
    a: Option<PathBuf>,
    /// Matrix B (with --data-url).
    #[arg(long, requires = "a")]
    b: Option<PathBuf>,
    /// An inference job's model file (with --data-url; the job's B).
    #[arg(long, conflicts_with_all = ["a", "b"], requires = "input")]
    model: Option<PathBuf>,
    /// An inference job's input batch (with --data-url; the job's A).
    #[arg(long, requires = "model")]
    input: Option<PathBuf>,
    /// Require delivery: the job pays only once --threshold of these attestors
    /// (repeatable; services' attestor addresses) signed that they store C.
    #[arg(long = "attestor")]
    attestors: Vec<Address>,
    /// How many of --attestor must sign (default: all of them).
    #[arg(long)]
    threshold: Option<u8>,
}

pub fn chain_error(e: ChainError) -> CliError {
    match &e {
        ChainError::Reverted { .. } => CliError::rejected("reverted", e.to_string()),
        ChainError::WrongChain { .. } => CliError::new("wrong_chain", e.to_string()),
        ChainError::Mismatch(_) => CliError::new("mismatch", e.to_string()),
        ChainError::Config(_) => CliError::new("config", e.to_string()),
        ChainError::Timeout(_) => CliError::new("timeout", e.to_string()),
        _ => CliError::new("rpc", e.to_string()),
    }
}

/// Wei from `1000`, `0.5ether`, `0.5eth` or `20gwei`.
pub fn parse_amount(s: &str) -> Result<u128, CliError> {
    let t = s.trim().to_ascii_lowercase();
    let (num, decimals) = if let Some(n) = t.strip_suffix("ether").or_else(|| t.strip_suffix("eth")) {
        (n, 18)
    } else if let Some(n) = t.strip_suffix("gwei") {
        (n, 9)
    } else {
        (t.strip_suffix("wei").unwrap_or(&t), 0)
    };
    let v = alloy::primitives::utils::parse_units(num.trim(), decimals)
        .map_err(|e| CliError::new("usage", format!("amount {s:?}: {e}")))?;
    let wei: alloy::primitives::U256 = v.into();
    u128::try_from(wei).map_err(|_| CliError::new("usage", format!("amount {s:?} is too large")))
}

fn tx_line(what: &str, t: &TxOutcome) -> String {
    format!("{what}: {}", t.summary())
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new("io", e.to_string()))?;
    rt.block_on(run_async(args, ctx))
}

async fn run_async(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let readonly = matches!(args.cmd, Cmd::Status(_) | Cmd::Fetch(_));
    let conn = args.node.connect(readonly).await?;
    let chain = conn.chain_id();
    match args.cmd {
        Cmd::Deploy { owner, address_file } => {
            let (escrow, t) = Escrow::deploy(&conn, owner.unwrap_or(conn.from())).await.map_err(chain_error)?;
            if let Some(f) = &address_file {
                super::common::write_file(f, format!("{}\n", escrow.address).as_bytes())?;
            }
            ctx.emit(
                format!(
                    "JobEscrow deployed at {} on chain {chain} (owner {})\n  {}\n  jobs are posted at venue chain:{chain}:{}; export VERIFLOP_ESCROW={}",
                    escrow.address,
                    owner.unwrap_or(conn.from()),
                    tx_line("deploy", &t),
                    escrow.address,
                    escrow.address
                ),
                json!({"ok": true, "escrow": escrow.address.to_checksum(None), "chain_id": chain, "venue": escrow.venue().to_string(), "tx": t.json()}),
            );
        }
        Cmd::Register(a) if a.model.is_some() => {
            let escrow = Escrow::at(&conn, a.escrow.escrow).await.map_err(chain_error)?;
            let model = super::inference::read_model(a.model.as_deref().expect("matched"))?;
            let word = veriflop_verifier::verify::model_word(&model.digest());
            let vk = super::inference::load_vk(&a.keys.keys, word, a.batch.expect("clap: --model requires --batch"))?;
            let (verifier, d, r, entry) = escrow.register_inference(&vk).await.map_err(chain_error)?;
            let shape = vk.shape()?;
            ctx.emit(
                format!(
                    "inference verifier for model {} ({shape}) deployed at {verifier} and registered under key {entry:#x}\n  {}\n  {}",
                    veriflop_circuits::field::fr_to_hex(&word),
                    tx_line("deploy", &d),
                    tx_line("registerVerifier", &r)
                ),
                json!({"ok": true, "verifier": verifier.to_checksum(None), "model": veriflop_circuits::field::fr_to_hex(&word), "registry_key": format!("{entry:#x}"), "deploy": d.json(), "register": r.json()}),
            );
        }
        Cmd::Register(a) => {
            let escrow = Escrow::at(&conn, a.escrow.escrow).await.map_err(chain_error)?;
            let shape = a.shape.shape()?;
            let (verifier, d, r) = match a.proof_system {
                ProofSystem::Groth16Bn254 => {
                    let vk = KeyStore::new(&a.keys.keys).load_vk(a.circuit, &shape)?;
                    escrow.register_groth16(&vk).await
                }
                ProofSystem::Halo2KzgBn254 => {
                    let (vk, _) = super::halo2::verifier_key(&KeyStore::new(&a.keys.keys), &shape, ctx)?;
                    escrow.register_halo2(&vk, &shape).await
                }
            }
            .map_err(chain_error)?;
            let circuit = if a.proof_system == ProofSystem::Halo2KzgBn254 { CircuitKind::Poseidon } else { a.circuit };
            let id = veriflop_contracts::shape_id(a.proof_system, circuit, &shape);
            ctx.emit(
                format!(
                    "verifier for {shape} ({} {circuit}) deployed at {verifier} and registered as shape {id:#x}\n  {}\n  {}",
                    a.proof_system,
                    tx_line("deploy", &d),
                    tx_line("registerVerifier", &r)
                ),
                json!({"ok": true, "verifier": verifier.to_checksum(None), "shape_id": format!("{id:#x}"), "deploy": d.json(), "register": r.json()}),
            );
        }
        Cmd::Post(a) => {
            let escrow = Escrow::at(&conn, a.escrow.escrow).await.map_err(chain_error)?;
            let job = read_job(&a.job)?;
            let price = parse_amount(&a.price)?;
            let lock_stake = parse_amount(&a.lock_stake)?;
            let now = conn.latest_timestamp().await.map_err(chain_error)?;
            let terms = PostTerms { deadline: now + a.deadline_in, lock_window: a.lock_window, lock_stake };
            let files = match (&a.a, &a.b, &a.input, &a.model) {
                (Some(pa), Some(pb), ..) | (.., Some(pa), Some(pb)) => Some((pa, pb)),
                _ => None,
            };
            if (a.model.is_some()) != (job.circuit == CircuitKind::Inference) && files.is_some() {
                return Err(CliError::new(
                    "usage",
                    format!(
                        "a {} job's data is given with {}",
                        job.circuit,
                        if a.model.is_some() { "--a and --b" } else { "--input and --model" }
                    ),
                ));
            }
            if a.data_url.is_some() && files.is_none() {
                let what = if job.circuit == CircuitKind::Inference { "--input and --model" } else { "--a and --b" };
                return Err(CliError::new("usage", format!("--data-url uploads the job's data: give {what}")));
            }
            if let (Some(url), Some((pa, pb))) = (&a.data_url, files) {
                let data =
                    veriflop_service::client::Client::new(url.clone(), veriflop_verifier::auth::Signer::random());
                for (role, cm, path) in [(Role::A, job.cm_a, pa), (Role::B, job.cm_b, pb)] {
                    let addr = DataAddress::of(&job, role, cm);
                    let s = data.put_data(&addr.path(), path).await.map_err(super::submit::client_error)?;
                    ctx.note(format!("uploaded {} to {url}{} ({} bytes)", path.display(), s.path, s.bytes));
                }
            }
            let (id, t) = if a.attestors.is_empty() {
                escrow.post(&job, &a.nonce, &terms, price).await
            } else {
                let mut set = a.attestors.clone();
                set.sort();
                set.dedup();
                let k = a.threshold.unwrap_or(set.len() as u8);
                escrow.post_with_delivery(&job, &a.nonce, &terms, price, &set, k).await
            }
            .map_err(chain_error)?;
            ctx.emit(
                format!(
                    "job {id} posted on chain {chain} at {} ({} {} {}), price {price} wei, deadline {}\n  {}",
                    escrow.address,
                    job.shape,
                    job.system,
                    job.circuit,
                    terms.deadline,
                    tx_line("postJob", &t)
                ),
                json!({"ok": true, "job_id": id.to_string(), "price_wei": price.to_string(), "deadline": terms.deadline, "tx": t.json()}),
            );
        }
        Cmd::Lock(a) => {
            let escrow = Escrow::at(&conn, a.escrow.escrow).await.map_err(chain_error)?;
            let t = escrow.lock(&a.job_id).await.map_err(chain_error)?;
            let j = escrow.job(&a.job_id).await.map_err(chain_error)?;
            ctx.emit(
                format!(
                    "job {} locked by {} until {} (stake {} wei)\n  {}",
                    a.job_id,
                    conn.from(),
                    j.lock_until,
                    j.lock_stake,
                    tx_line("lock", &t)
                ),
                json!({"ok": true, "job_id": a.job_id.to_string(), "lock_until": j.lock_until, "tx": t.json()}),
            );
        }
        Cmd::Settle { escrow, bundle } => {
            let escrow = Escrow::at(&conn, escrow.escrow).await.map_err(chain_error)?;
            let b = read_bundle(&bundle)?;
            let t = escrow.settle(&b).await.map_err(chain_error)?;
            let j = escrow.job(&b.statement.job_id).await.map_err(chain_error)?;
            ctx.emit(
                format!("job {} settled: {:?}, {} wei paid to {}\n  {}", b.statement.job_id, j.status, j.price, conn.from(), tx_line("settle", &t)),
                json!({"ok": true, "job_id": b.statement.job_id.to_string(), "status": format!("{:?}", j.status), "tx": t.json()}),
            );
        }
        Cmd::Refund(a) => {
            let escrow = Escrow::at(&conn, a.escrow.escrow).await.map_err(chain_error)?;
            let t = escrow.refund(&a.job_id).await.map_err(chain_error)?;
            ctx.emit(
                format!("job {} refunded\n  {}", a.job_id, tx_line("refund", &t)),
                json!({"ok": true, "tx": t.json()}),
            );
        }
        Cmd::Slash(a) => {
            let escrow = Escrow::at(&conn, a.escrow.escrow).await.map_err(chain_error)?;
            let t = escrow.slash(&a.job_id).await.map_err(chain_error)?;
            ctx.emit(
                format!(
                    "job {}'s expired lock slashed to its client; the job is open again\n  {}",
                    a.job_id,
                    tx_line("slashLock", &t)
                ),
                json!({"ok": true, "tx": t.json()}),
            );
        }
        Cmd::Withdraw { escrow } => {
            let escrow = Escrow::at(&conn, escrow.escrow).await.map_err(chain_error)?;
            let owed = escrow.owed(conn.from()).await.map_err(chain_error)?;
            let t = escrow.withdraw().await.map_err(chain_error)?;
            ctx.emit(
                format!("{owed} wei withdrawn to {}\n  {}", conn.from(), tx_line("withdraw", &t)),
                json!({"ok": true, "amount_wei": owed.to_string(), "tx": t.json()}),
            );
        }
        Cmd::Work(a) => super::chain_work::run(a, &conn, ctx).await?,
        Cmd::Fetch(a) => {
            let escrow = Escrow::at(&conn, a.escrow.escrow).await.map_err(chain_error)?;
            let job = read_job(&a.job_file)?;
            let id = a.job_id.unwrap_or(job.job_id);
            if job.job_id != id {
                return Err(CliError::new(
                    "mismatch",
                    format!("{} is job {}, not {id}", a.job_file.display(), job.job_id),
                ));
            }
            let settled = escrow.settlement(&id, a.from_block, a.log_window).await.map_err(chain_error)?;
            let (cm_c, provider) = settled.ok_or_else(|| {
                let msg = if a.from_block > 0 {
                    format!(
                        "job {id} has no settlement on chain {chain} from block {}: not settled yet, or settled before --from-block",
                        a.from_block
                    )
                } else {
                    format!("job {id} has no settlement on chain {chain} yet")
                };
                CliError::new("not_settled", msg)
            })?;
            let cm = veriflop_circuits::field::fr_from_bytes(&cm_c.to_be_bytes::<32>())
                .map_err(|e| CliError::new("rpc", format!("cmC: {e}")))?;
            let addr = DataAddress::of(&job, Role::C, cm);
            let data =
                veriflop_service::client::Client::new(a.data_url.clone(), veriflop_verifier::auth::Signer::random());
            // An inference job's output is committed under its model's key.
            let ck = if job.circuit == CircuitKind::Inference {
                Some(super::inference::load_vk(&a.keys.keys, job.cm_b, job.shape.m as usize)?.commit_key()?)
            } else {
                super::common::commit_key_for(job.circuit, &job.shape, &a.keys)?
            };
            let dir =
                a.out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new(".")).to_path_buf();
            std::fs::create_dir_all(&dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;
            let tmp = tempfile::Builder::new()
                .prefix(".c-download-")
                .tempfile_in(&dir)
                .map_err(|e| CliError::new("io", e.to_string()))?
                .into_temp_path();
            data.get_data(&addr.path(), &tmp).await.map_err(super::submit::client_error)?;
            let f = std::fs::File::open(&tmp).map_err(|e| CliError::new("io", e.to_string()))?;
            let got = veriflop_circuits::stream::MatrixReader::new(f)
                .and_then(|mut r| {
                    veriflop_circuits::stream::commit_stream(job.circuit, &job.shape, Role::C, ck.as_ref(), &mut r)
                })
                .map_err(|e| {
                    CliError::rejected("result_mismatch", format!("the data plane's C is not a valid result: {e}"))
                })?;
            if got != cm {
                return Err(CliError::rejected(
                    "result_mismatch",
                    "the data plane's C does not commit to the settled cm_C: not the proven result; nothing was written",
                ));
            }
            let c = veriflop_circuits::stream::read_file(&tmp)?;
            veriflop_circuits::matrix::write_matrix(&a.out, &c)?;
            ctx.emit(
                format!(
                    "C of job {} ({}, proven by {provider}) checked against the settled cm_C and written to {}",
                    id,
                    job.shape,
                    a.out.display()
                ),
                json!({"ok": true, "job_id": id.to_string(), "provider": provider.to_checksum(None), "out": a.out.display().to_string()}),
            );
        }
        Cmd::Status(a) => {
            let escrow = Escrow::at(&conn, a.escrow.escrow).await.map_err(chain_error)?;
            let j = escrow.job(&a.job_id).await.map_err(chain_error)?;
            let lock = if j.locker == Address::ZERO {
                "none".to_string()
            } else {
                format!("{} until {}", j.locker, j.lock_until)
            };
            ctx.emit(
                format!(
                    "job {} on chain {chain} at {}: {:?}\n  client {}, price {} wei, deadline {}\n  shape id {:#x}, lock window {} s, stake {} wei, lock: {lock}",
                    a.job_id, escrow.address, j.status, j.client, j.price, j.deadline, j.shape, j.lock_window, j.lock_stake
                ),
                json!({"ok": true, "job_id": a.job_id.to_string(), "job": j.json()}),
            );
        }
    }
    Ok(())
}
