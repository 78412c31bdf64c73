//! `veriflop-verifier`: the verifier service a verifier operator hosts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use veriflop_circuits::Address;
use veriflop_service::ledger::{Ledger, TransferError};
use veriflop_service::{self as service, Config};

/// Verifies veriflop proof bundles over HTTP and settles escrow exactly once.
///
/// Without a subcommand, runs the service: clients register jobs (locking
/// escrow from their balance), providers submit proof bundles; a proof that
/// checks against the job releases the escrow to the provider it binds.
/// Requests that change state are signed with secp256k1 (Ethereum addresses)
/// for this service's venue. The subcommands are the operator's ledger tools:
/// balances come only from `deposit`. See docs/VERIFIER.md.
#[derive(Parser, Debug)]
#[command(name = "veriflop-verifier", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Escrow ledger: `sqlite://PATH` (created if missing) or `postgres://user@host:port/db` (shared by replicas).
    #[arg(long, env = "VERIFLOP_LEDGER", default_value = "sqlite://veriflop-data/ledger.db", global = true)]
    ledger: String,
    /// Blob store of job data: a directory, `file:///dir`, or `s3://bucket[/prefix]`
    /// (credentials and endpoint from the `AWS_*` variables; shared by replicas).
    #[arg(long, env = "VERIFLOP_BLOBS", default_value = "veriflop-data/blobs", global = true)]
    blobs: String,
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    serve: Args,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Credit an address (funds the operator received off-ledger); prints the new balance.
    Deposit(Transfer),
    /// Debit an address (funds the operator pays out off-ledger); refused beyond its balance.
    Withdraw(Transfer),
    /// Print an address's balance, open jobs and account history.
    Balance {
        address: Address,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Replay the ledger's event logs and check they explain every balance and
    /// escrow, and that every blob the ledger refers to is stored (exit 1 if not).
    Audit,
    /// Print this ledger's venue (what signed requests name and job ids derive from).
    Venue,
}

#[derive(clap::Args, Debug)]
struct Transfer {
    /// The account's address (0x and 40 hex digits).
    #[arg(long)]
    to: Address,
    /// Amount in the venue's unit (integer, 1 to 2^63 - 1).
    #[arg(long)]
    amount: u64,
    /// Who records it (kept in the account log).
    #[arg(long, default_value = "operator")]
    actor: String,
    /// Why, e.g. a payment reference (kept in the account log).
    #[arg(long)]
    memo: Option<String>,
}

#[derive(clap::Args, Debug)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "VERIFLOP_LISTEN", default_value = "127.0.0.1:8645")]
    listen: SocketAddr,
    /// Directory of verifying keys (`<circuit>-<MxKxN>-<dtype>.vk`, as written by `veriflop-prover setup`).
    #[arg(long, env = "VERIFLOP_KEYS", default_value = "veriflop-data/keys")]
    keys: PathBuf,
    /// Largest accepted proof submission body, bytes (at most 65536).
    #[arg(long, env = "VERIFLOP_MAX_BODY_BYTES", default_value_t = 65536)]
    max_body_bytes: usize,
    /// Signed requests per minute per address (0: unlimited).
    #[arg(long, env = "VERIFLOP_RATE_LIMIT", default_value_t = 600)]
    rate_limit_per_minute: u32,
    /// Unsigned uploads of on-chain data (`PUT /v1/data/…`) per minute per client
    /// IP address (IPv6: per /64), burst the same; past it `429 rate_limited`
    /// (0: unlimited). Behind a reverse proxy every client has the proxy's address.
    #[arg(long, env = "VERIFLOP_DATA_UPLOAD_LIMIT", default_value_t = Config::default().data_uploads_per_minute)]
    data_uploads_per_minute: u32,
    /// Verifications run at once (default: number of CPUs).
    #[arg(long, env = "VERIFLOP_VERIFY_CONCURRENCY")]
    verify_concurrency: Option<usize>,
    /// Proof submissions that may wait for a verification slot before `overloaded`.
    #[arg(long, env = "VERIFLOP_VERIFY_QUEUE", default_value_t = 1024)]
    verify_queue: usize,
    /// Accepted clock difference of signed requests, seconds.
    #[arg(long, env = "VERIFLOP_TIMESTAMP_WINDOW", default_value_t = 300)]
    timestamp_window_secs: u64,
    /// Longest accepted time from registration to a job's deadline, seconds.
    #[arg(long, env = "VERIFLOP_MAX_JOB_TTL", default_value_t = 30 * 24 * 3600)]
    max_job_ttl_secs: u64,
    /// Largest job price, in the venue's unit (at most 2^63 - 1).
    #[arg(long, env = "VERIFLOP_MAX_PRICE", default_value_t = Config::default().max_price)]
    max_price: u64,
    /// Jobs one client may have locked at once.
    #[arg(long, env = "VERIFLOP_MAX_OPEN_JOBS", default_value_t = Config::default().max_open_jobs_per_client)]
    max_open_jobs: u64,
    /// Seconds between sweeps that refund expired jobs and forget old request nonces.
    #[arg(long, env = "VERIFLOP_SWEEP_INTERVAL", default_value_t = Config::default().sweep_interval_secs)]
    sweep_interval_secs: u64,
    /// Seconds a request's head may take to arrive; idle keep-alive connections close after it.
    #[arg(long, env = "VERIFLOP_HEADER_TIMEOUT", default_value_t = Config::default().header_timeout_secs)]
    header_timeout_secs: u64,
    /// Seconds a request's body may take to arrive.
    #[arg(long, env = "VERIFLOP_BODY_TIMEOUT", default_value_t = Config::default().body_timeout_secs)]
    body_timeout_secs: u64,
    /// Seconds after which a connection is closed (once its request in flight is answered).
    #[arg(long, env = "VERIFLOP_MAX_CONNECTION_SECS", default_value_t = Config::default().max_connection_secs)]
    max_connection_secs: u64,
    /// Connections served at once (lowered to fit the open-files limit); more wait in the backlog.
    #[arg(long, env = "VERIFLOP_MAX_CONNECTIONS", default_value_t = Config::default().max_connections)]
    max_connections: usize,
    /// Connections from one IP address at once (0: no cap; raise it behind a reverse proxy).
    #[arg(long, env = "VERIFLOP_MAX_CONNECTIONS_PER_IP", default_value_t = Config::default().max_connections_per_ip)]
    max_connections_per_ip: usize,
    /// halo2 shapes to verify, `MxKxN[:dtype],…` (dtype int8 by default), e.g.
    /// `64x64x64,32x48x16:int16`. Their keys are loaded from the key directory's
    /// cache or derived from its SRS at start-up; other halo2 shapes are refused.
    #[arg(long, env = "VERIFLOP_HALO2_SHAPES", default_value = "", value_name = "SHAPES")]
    halo2_shapes: String,
    /// halo2 key derivations running at once (at start-up).
    #[arg(long, env = "VERIFLOP_HALO2_DERIVE_CONCURRENCY", default_value_t = 1)]
    halo2_derive_concurrency: usize,
    /// Where uploads wait while they are checked (default: `.spool` in a local blob store, else the temporary directory).
    #[arg(long, env = "VERIFLOP_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,
    /// Largest accepted matrix upload, bytes (each is also bounded by its job's shape).
    #[arg(long, env = "VERIFLOP_MAX_UPLOAD_BYTES", default_value_t = Config::default().max_upload_bytes)]
    max_upload_bytes: u64,
    /// Lease window of jobs whose client sets none, seconds.
    #[arg(long, env = "VERIFLOP_DEFAULT_LEASE_SECS", default_value_t = Config::default().default_lease_secs)]
    default_lease_secs: u64,
    /// Sign delivery receipts of on-chain jobs with this key (a file holding a
    /// 0x-hex secp256k1 secret key): `POST /v1/chain/receipts` (docs/CHAIN.md).
    #[arg(long, env = "VERIFLOP_ATTESTOR_KEY_FILE")]
    attestor_key_file: Option<std::path::PathBuf>,
    /// Fault injection for crash tests only: sleep inside each release transaction.
    #[arg(long, env = "VERIFLOP_FAULT_RELEASE_DELAY_MS", default_value_t = 0, hide = true)]
    fault_release_delay_ms: u64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let ledger_url = cli.ledger.clone();
    if let Some(path) = ledger_url.strip_prefix("sqlite://") {
        let path = PathBuf::from(path.split('?').next().unwrap_or(path));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("error: cannot create {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.cmd {
        Some(cmd) => rt.block_on(ledger_command(&ledger_url, &cli.blobs, cmd)),
        None => serve(rt, ledger_url, cli.blobs, cli.serve),
    }
}

/// The operator's ledger tools (exit 0 done, 1 refused or inconsistent, 2 ledger unavailable).
async fn ledger_command(url: &str, blobs: &str, cmd: Cmd) -> ExitCode {
    let ledger = match Ledger::connect(url).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let now = veriflop_verifier::auth::unix_now();
    let code = match cmd {
        Cmd::Deposit(t) => {
            transfer(ledger.deposit(t.to, t.amount, &t.actor, t.memo.as_deref(), now).await, "deposited", &t)
        }
        Cmd::Withdraw(t) => {
            transfer(ledger.withdraw(t.to, t.amount, &t.actor, t.memo.as_deref(), now).await, "withdrew", &t)
        }
        Cmd::Balance { address, json } => match (ledger.account(address).await, ledger.account_events(address).await) {
            (Ok(a), Ok(events)) => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"address": a.address, "balance": a.balance.to_string(), "open_jobs": a.open_jobs, "events": events})
                    );
                } else {
                    println!("{}: balance {}, {} open jobs", a.address, a.balance, a.open_jobs);
                    for e in events {
                        let job = e.job_id.map(|j| format!(" job {j}")).unwrap_or_default();
                        println!("  #{} {} {} → {}{job} by {}", e.seq, e.kind, e.amount, e.balance_after, e.actor);
                    }
                }
                ExitCode::SUCCESS
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Audit => match audit(&ledger, blobs).await {
            Ok(p) if p.is_empty() => {
                println!("ledger consistent: every balance and escrow is explained by its events");
                println!("blob store consistent: every input and result the ledger refers to is stored");
                ExitCode::SUCCESS
            }
            Ok(p) => {
                for line in &p {
                    println!("problem: {line}");
                }
                eprintln!("error: {} problems found", p.len());
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Venue => {
            let v = veriflop_circuits::Venue::Service { service_id: ledger.service_id() };
            println!(
                "venue {v}
venue id {}",
                v.id()
            );
            ExitCode::SUCCESS
        }
    };
    ledger.close().await;
    code
}

/// The ledger's own audit, then its blob references against the store.
async fn audit(ledger: &Ledger, blobs: &str) -> Result<Vec<String>, String> {
    let mut problems = ledger.audit().await.map_err(|e| e.to_string())?;
    let store = veriflop_service::blobs::BlobStore::open(blobs).map_err(|e| e.to_string())?;
    let (missing, orphans) = veriflop_service::blobs::audit(ledger, &store).await.map_err(|e| e.to_string())?;
    problems.extend(missing);
    if !orphans.is_empty() {
        println!(
            "note: {} stored blobs are not referenced by the ledger (uploads interrupted before they were recorded, or refused); they can be deleted",
            orphans.len()
        );
    }
    Ok(problems)
}

fn transfer(r: Result<veriflop_service::ledger::Account, TransferError>, did: &str, t: &Transfer) -> ExitCode {
    match r {
        Ok(a) => {
            println!("{did} {} for {}: balance {}", t.amount, a.address, a.balance);
            ExitCode::SUCCESS
        }
        Err(TransferError::Ledger(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn serve(rt: tokio::runtime::Runtime, ledger_url: String, blobs: String, a: Args) -> ExitCode {
    let halo2_shapes = match service::keys::parse_halo2_shapes(&a.halo2_shapes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --halo2-shapes: {e}");
            return ExitCode::from(2);
        }
    };
    let attestor_key = match a.attestor_key_file.as_deref().map(service::chain_data::read_attestor_key).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: --attestor-key-file: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = Config {
        listen: a.listen,
        key_dir: a.keys,
        ledger_url: Some(ledger_url),
        max_body_bytes: a.max_body_bytes,
        rate_limit_per_minute: a.rate_limit_per_minute,
        data_uploads_per_minute: a.data_uploads_per_minute,
        verify_queue: a.verify_queue,
        timestamp_window_secs: a.timestamp_window_secs,
        max_job_ttl_secs: a.max_job_ttl_secs,
        fault_release_delay_ms: a.fault_release_delay_ms,
        max_price: a.max_price,
        max_open_jobs_per_client: a.max_open_jobs,
        sweep_interval_secs: a.sweep_interval_secs,
        header_timeout_secs: a.header_timeout_secs,
        body_timeout_secs: a.body_timeout_secs,
        max_connection_secs: a.max_connection_secs,
        max_connections: a.max_connections,
        max_connections_per_ip: a.max_connections_per_ip,
        halo2_shapes,
        halo2_derive_concurrency: a.halo2_derive_concurrency,
        blob_url: Some(blobs),
        spool_dir: a.spool_dir,
        max_upload_bytes: a.max_upload_bytes,
        default_lease_secs: a.default_lease_secs,
        attestor_key,
        ..Config::default()
    };
    if let Some(n) = a.verify_concurrency {
        config.verify_concurrency = n;
    }
    rt.block_on(async move {
        let handle = match service::spawn(config).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        // Machine-readable line for scripts and tests that start us on port 0.
        println!("listening on http://{}", handle.addr);
        wait_for_stop_signal().await;
        tracing::info!("shutting down");
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// SIGINT (Ctrl-C) or SIGTERM: stop accepting, finish requests in flight.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
