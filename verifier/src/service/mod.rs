//! The verifier service: an HTTP API (warp on tokio) in front of native Groth16
//! verification and the escrow ledger. See docs/VERIFIER.md and verifier/openapi.yaml.
//!
//! Routes:
//! - `POST /v1/jobs` (signed by the client): register a job, escrow `locked`;
//! - `GET /v1/jobs/{job_id}`: the job, its escrow state and event history;
//! - `POST /v1/jobs/{job_id}/proof` (signed by the provider): submit a proof
//!   bundle; if it checks, `locked → released` to the provider, exactly once;
//! - `POST /v1/jobs/{job_id}/refund` (signed by the client): after the deadline,
//!   `locked → refunded`;
//! - `GET /v1/shapes`, `GET /healthz`, `GET /metrics`.

pub mod api;
pub mod error;
mod handlers;
pub mod keys;
pub mod metrics;
pub mod ratelimit;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Semaphore};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::ledger::{Ledger, LedgerError};
pub use error::{ApiError, ErrorBody};
use keys::{KeyLoadError, KeyRegistry};
use metrics::Metrics;
use ratelimit::RateLimiter;

/// Largest accepted body of a JSON request other than a proof (job registration).
pub const MAX_JSON_BODY_BYTES: usize = 16 * 1024;

/// Operator configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Directory of verifying keys, `<circuit>-<MxKxN>-<dtype>.vk`.
    pub key_dir: PathBuf,
    /// `sqlite://PATH` (created if missing) or `postgres://…`. `None` with
    /// [`spawn_local`]: a fresh SQLite file in a temporary directory.
    pub ledger_url: Option<String>,
    /// Largest accepted proof submission body (bundles are bounded at
    /// [`crate::bundle::MAX_BUNDLE_BYTES`] whatever this says).
    pub max_body_bytes: usize,
    /// Signed requests per minute per address (0: unlimited).
    pub rate_limit_per_minute: u32,
    /// Verifications running at once on the blocking pool.
    pub verify_concurrency: usize,
    /// Submissions allowed to wait for a verification slot before `overloaded`.
    pub verify_queue: usize,
    /// Accepted clock difference of a signed request's timestamp, seconds.
    pub timestamp_window_secs: u64,
    /// Longest accepted time from registration to deadline, seconds.
    pub max_job_ttl_secs: u64,
    /// Fault injection for crash tests: sleep inside the release transaction.
    pub fault_release_delay_ms: u64,
    /// halo2 shapes this service verifies (allow-list). Their keys are loaded
    /// from the key cache in `key_dir` or derived from its SRS at start-up;
    /// any other halo2 shape is refused (`unknown_shape`) with no key work.
    pub halo2_shapes: Vec<veriflop_circuits::Shape>,
    /// halo2 key derivations running at once (at least 1).
    pub halo2_derive_concurrency: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8645)),
            key_dir: PathBuf::from("veriflop-data/keys"),
            ledger_url: None,
            max_body_bytes: crate::bundle::MAX_BUNDLE_BYTES,
            rate_limit_per_minute: 600,
            verify_concurrency: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            verify_queue: 1024,
            timestamp_window_secs: 300,
            max_job_ttl_secs: 30 * 24 * 3600,
            fault_release_delay_ms: 0,
            halo2_shapes: Vec::new(),
            halo2_derive_concurrency: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("keys: {0}")]
    Keys(#[from] KeyLoadError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot listen on {addr}: {msg}")]
    Bind { addr: SocketAddr, msg: String },
    #[error("{0}")]
    Config(String),
}

impl Config {
    /// The halo2 part of the configuration, for the key registry.
    pub fn halo2_policy(&self) -> keys::Halo2Policy {
        keys::Halo2Policy { shapes: self.halo2_shapes.clone(), derive_concurrency: self.halo2_derive_concurrency }
    }
}

/// Shared state of one service instance.
pub struct State {
    pub config: Config,
    pub ledger: Ledger,
    pub keys: Arc<KeyRegistry>,
    pub metrics: Metrics,
    pub limiter: RateLimiter,
    pub verify_slots: Semaphore,
    pub verify_waiting: AtomicUsize,
}

impl State {
    pub async fn new(config: Config) -> Result<Arc<State>, ServiceError> {
        if config.verify_concurrency == 0 {
            return Err(ServiceError::Config("verify concurrency must be at least 1".into()));
        }
        let url = config.ledger_url.clone().ok_or_else(|| ServiceError::Config("no ledger URL".into()))?;
        let keys = Arc::new(keys::open(config.key_dir.clone(), config.halo2_policy()).await?);
        let mut ledger = Ledger::connect(&url).await?;
        ledger.set_fault_release_delay(Duration::from_millis(config.fault_release_delay_ms));
        Ok(Arc::new(State {
            limiter: RateLimiter::new(config.rate_limit_per_minute),
            verify_slots: Semaphore::new(config.verify_concurrency),
            verify_waiting: AtomicUsize::new(0),
            metrics: Metrics::default(),
            config,
            ledger,
            keys,
        }))
    }
}

/// What a route handler receives of the request.
pub(crate) struct RequestParts {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Result<bytes::Bytes, ApiError>,
}

/// Most bytes read and discarded after a chunked body went over its limit.
const DRAIN_LIMIT: usize = 1 << 20;

/// Reads the body up to `limit` bytes (refusing early on a larger Content-Length).
async fn read_body<S, B>(headers: &HeaderMap, stream: S, limit: usize) -> Result<bytes::Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use futures_util::StreamExt;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body is over the {limit}-byte limit"),
        )
    };
    if let Some(len) = headers.get(warp::http::header::CONTENT_LENGTH) {
        let len = len
            .to_str()
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| ApiError::bad_request("bad_request", "invalid Content-Length"))?;
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    let mut out = bytes::BytesMut::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|e| ApiError::bad_request("bad_request", format!("reading the body: {e}")))?;
        if out.len() + chunk.remaining() > limit {
            // Hyper closes a connection with unread input by a reset, which can
            // reach a client still sending before it reads the 413: read and drop
            // a bounded tail first (a lingering close), then answer.
            let mut drained = 0usize;
            while drained < DRAIN_LIMIT {
                match stream.next().await {
                    Some(Ok(c)) => drained += c.remaining(),
                    _ => break,
                }
            }
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let c = chunk.chunk();
            let n = c.len();
            out.extend_from_slice(c);
            chunk.advance(n);
        }
    }
    Ok(out.freeze())
}

fn parts(limit: usize) -> impl Filter<Extract = (RequestParts,), Error = Rejection> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(move |method, full: warp::path::FullPath, query: String, headers: HeaderMap, stream| async move {
            let body = read_body(&headers, stream, limit).await;
            let path_and_query =
                if query.is_empty() { full.as_str().to_string() } else { format!("{}?{query}", full.as_str()) };
            RequestParts { method, path_and_query, headers, body }
        })
}

fn with_state(state: Arc<State>) -> impl Filter<Extract = (Arc<State>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// All routes, with rejections turned into JSON errors.
pub fn routes(state: Arc<State>) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone {
    let proof_limit = state.config.max_body_bytes.min(crate::bundle::MAX_BUNDLE_BYTES);
    let s = || with_state(state.clone());
    let register =
        warp::path!("v1" / "jobs").and(warp::post()).and(s()).and(parts(MAX_JSON_BODY_BYTES)).then(handlers::register);
    let get_job = warp::path!("v1" / "jobs" / String).and(warp::get()).and(s()).then(handlers::get_job);
    let submit = warp::path!("v1" / "jobs" / String / "proof")
        .and(warp::post())
        .and(s())
        .and(parts(proof_limit))
        .then(handlers::submit);
    let refund = warp::path!("v1" / "jobs" / String / "refund")
        .and(warp::post())
        .and(s())
        .and(parts(MAX_JSON_BODY_BYTES))
        .then(handlers::refund);
    let shapes = warp::path!("v1" / "shapes").and(warp::get()).and(s()).then(handlers::shapes);
    let health = warp::path!("healthz").and(warp::get()).and(s()).then(handlers::health);
    let metrics = warp::path!("metrics").and(warp::get()).and(s()).then(handlers::metrics);
    let rejected_state = state.clone();
    register
        .or(get_job)
        .unify()
        .or(submit)
        .unify()
        .or(refund)
        .unify()
        .or(shapes)
        .unify()
        .or(health)
        .unify()
        .or(metrics)
        .unify()
        .recover(move |r: Rejection| {
            let st = rejected_state.clone();
            async move {
                let e = rejection_to_error(r);
                st.metrics.reject(e.code);
                Ok::<_, std::convert::Infallible>(e.into_response())
            }
        })
        .unify()
}

fn rejection_to_error(r: Rejection) -> ApiError {
    if r.is_not_found() {
        ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route (see openapi.yaml)")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
    } else {
        ApiError::bad_request("bad_request", format!("{r:?}"))
    }
}

/// A running service; drop or [`ServiceHandle::shutdown`] to stop it.
pub struct ServiceHandle {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Keeps a temporary ledger directory alive.
    _ledger_dir: Option<tempfile::TempDir>,
}

impl ServiceHandle {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets requests in flight finish, closes the ledger.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.state.ledger.close().await;
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the service on `config.listen` (inside the current tokio runtime).
pub async fn spawn(config: Config) -> Result<ServiceHandle, ServiceError> {
    spawn_with(config, None).await
}

async fn spawn_with(config: Config, ledger_dir: Option<tempfile::TempDir>) -> Result<ServiceHandle, ServiceError> {
    let listen = config.listen;
    let state = State::new(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| ServiceError::Bind { addr: listen, msg: e.to_string() })?;
    let addr = listener.local_addr().map_err(|e| ServiceError::Bind { addr: listen, msg: e.to_string() })?;
    let (tx, rx) = oneshot::channel::<()>();
    let server = warp::serve(routes(state.clone())).incoming(listener).graceful(async move {
        let _ = rx.await;
    });
    // Forget used nonces once their timestamps are out of the window.
    let pruner = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            if Arc::strong_count(&pruner) == 1 {
                break;
            }
            let now = crate::auth::unix_now();
            if let Err(e) = pruner.ledger.prune_nonces(now).await {
                tracing::warn!("pruning nonces: {e}");
            }
        }
    });
    let task = tokio::spawn(server.run());
    tracing::info!("veriflop verifier listening on http://{addr}");
    Ok(ServiceHandle { addr, state, shutdown: Some(tx), task: Some(task), _ledger_dir: ledger_dir })
}

/// Starts the service on 127.0.0.1 with an ephemeral port and, unless
/// `config.ledger_url` is set, a fresh SQLite ledger in a temporary directory
/// (removed when the handle is dropped). For demos and tests.
pub async fn spawn_local(mut config: Config) -> Result<(SocketAddr, ServiceHandle), ServiceError> {
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut dir = None;
    if config.ledger_url.is_none() {
        let d = tempfile::Builder::new()
            .prefix("veriflop-ledger")
            .tempdir()
            .map_err(|e| ServiceError::Config(format!("temporary ledger directory: {e}")))?;
        config.ledger_url = Some(format!("sqlite://{}", d.path().join("ledger.db").display()));
        dir = Some(d);
    }
    let h = spawn_with(config, dir).await?;
    Ok((h.addr, h))
}
