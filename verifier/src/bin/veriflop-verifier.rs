//! `veriflop-verifier`: the verifier service a verifier operator hosts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use veriflop_verifier::service::{self, Config};

/// Verifies veriflop proof bundles over HTTP and settles escrow exactly once.
///
/// Clients register jobs (locking escrow), providers submit Groth16 proof
/// bundles; a proof that checks against the job releases the escrow to the
/// provider it binds. Requests that change state are signed with secp256k1
/// (Ethereum addresses). See docs/VERIFIER.md.
#[derive(Parser, Debug)]
#[command(name = "veriflop-verifier", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "VERIFLOP_LISTEN", default_value = "127.0.0.1:8645")]
    listen: SocketAddr,
    /// Directory of verifying keys (`<circuit>-<MxKxN>-<dtype>.vk`, as written by `veriflop-prover setup`).
    #[arg(long, env = "VERIFLOP_KEYS", default_value = "veriflop-data/keys")]
    keys: PathBuf,
    /// Escrow ledger: `sqlite://PATH` (created if missing) or `postgres://user@host:port/db` (shared by replicas).
    #[arg(long, env = "VERIFLOP_LEDGER", default_value = "sqlite://veriflop-data/ledger.db")]
    ledger: String,
    /// Largest accepted proof submission body, bytes (at most 65536).
    #[arg(long, env = "VERIFLOP_MAX_BODY_BYTES", default_value_t = 65536)]
    max_body_bytes: usize,
    /// Signed requests per minute per address (0: unlimited).
    #[arg(long, env = "VERIFLOP_RATE_LIMIT", default_value_t = 600)]
    rate_limit_per_minute: u32,
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
    /// halo2 shapes to verify, `MxKxN[:dtype],…` (dtype int8 by default), e.g.
    /// `64x64x64,32x48x16:int16`. Their keys are loaded from the key directory's
    /// cache or derived from its SRS at start-up; other halo2 shapes are refused.
    #[arg(long, env = "VERIFLOP_HALO2_SHAPES", default_value = "", value_name = "SHAPES")]
    halo2_shapes: String,
    /// halo2 key derivations running at once (at start-up).
    #[arg(long, env = "VERIFLOP_HALO2_DERIVE_CONCURRENCY", default_value_t = 1)]
    halo2_derive_concurrency: usize,
    /// Fault injection for crash tests only: sleep inside each release transaction.
    #[arg(long, env = "VERIFLOP_FAULT_RELEASE_DELAY_MS", default_value_t = 0, hide = true)]
    fault_release_delay_ms: u64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    let halo2_shapes = match service::keys::parse_halo2_shapes(&a.halo2_shapes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --halo2-shapes: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = Config {
        listen: a.listen,
        key_dir: a.keys,
        ledger_url: Some(a.ledger.clone()),
        max_body_bytes: a.max_body_bytes,
        rate_limit_per_minute: a.rate_limit_per_minute,
        verify_queue: a.verify_queue,
        timestamp_window_secs: a.timestamp_window_secs,
        max_job_ttl_secs: a.max_job_ttl_secs,
        fault_release_delay_ms: a.fault_release_delay_ms,
        halo2_shapes,
        halo2_derive_concurrency: a.halo2_derive_concurrency,
        ..Config::default()
    };
    if let Some(n) = a.verify_concurrency {
        config.verify_concurrency = n;
    }
    if let Some(path) = a.ledger.strip_prefix("sqlite://") {
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
