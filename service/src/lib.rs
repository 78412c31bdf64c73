//! The verifier service: an HTTP API (warp on tokio) in front of native
//! verification (`veriflop-verifier`), the escrow ledger and the data plane.
//! See docs/VERIFIER.md and service/openapi.yaml.
//!
//! The parts:
//! - [`server`], `handlers`: connections (bounded: timeouts, caps) and the
//!   job/proof/refund/account routes;
//! - `data`, [`blobs`]: the data plane (inputs and results streamed into a
//!   content-addressed blob store, claims and leases);
//! - [`ledger`]: escrow, accounts and the market tables, SQLite or PostgreSQL;
//! - [`client`]: the typed client the prover CLI (client commands and provider
//!   agent) talks to the service with.
//!
//! Routes:
//! - `POST /v1/jobs` (signed by the client): register a job, escrow `locked`;
//! - `GET /v1/jobs/{job_id}`: the job, its escrow state and event history;
//! - `POST /v1/jobs/{job_id}/proof` (signed by the provider): submit a proof
//!   bundle; if it checks, `locked → released` to the provider, exactly once;
//! - `POST /v1/jobs/{job_id}/refund` (signed by the client): after the deadline,
//!   `locked → refunded`;
//! - `PUT|GET /v1/jobs/{job_id}/inputs/{a|b}`, `POST …/claim|unclaim`,
//!   `PUT|GET …/result`, `GET …/proof`, `GET /v1/market/jobs`: the data plane;
//! - `GET /v1/venue`: the venue id signed requests name and job ids derive from;
//! - `GET /v1/accounts/{address}`: a balance (credited by the operator's
//!   deposits) and its history;
//! - `GET /v1/shapes`, `GET /healthz`, `GET /metrics`.

pub mod api;
pub mod blobs;
pub mod chain_data;
pub mod client;
mod data;
pub mod error;
mod handlers;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod ratelimit;
pub mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use veriflop_circuits::{Bytes32, Venue};
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
    /// [`veriflop_verifier::bundle::MAX_BUNDLE_BYTES`] whatever this says).
    pub max_body_bytes: usize,
    /// Signed requests per minute per address (0: unlimited).
    pub rate_limit_per_minute: u32,
    /// Unsigned uploads of on-chain data (`PUT /v1/data/…`) per minute per
    /// client IP address (IPv6: per /64), burst the same (0: unlimited). Every
    /// upload takes a token before its body is read, whatever its outcome.
    pub data_uploads_per_minute: u32,
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
    /// Largest job price (the venue's unit), at most [`crate::ledger::MAX_AMOUNT`].
    pub max_price: u64,
    /// Jobs one client may have locked at once.
    pub max_open_jobs_per_client: u64,
    /// Seconds between sweeps that refund expired jobs and forget old nonces.
    pub sweep_interval_secs: u64,
    /// A request's head must arrive within this (and idle keep-alive connections close after it), seconds.
    pub header_timeout_secs: u64,
    /// A request's body must arrive within this, seconds.
    pub body_timeout_secs: u64,
    /// A connection is closed (after its request in flight) once this old, seconds.
    pub max_connection_secs: u64,
    /// Connections served at once (lowered to fit the open-files limit); more wait in the backlog.
    pub max_connections: usize,
    /// Connections from one IP address at once (0: no per-address cap).
    pub max_connections_per_ip: usize,
    /// halo2 shapes this service verifies (allow-list). Their keys are loaded
    /// from the key cache in `key_dir` or derived from its SRS at start-up;
    /// any other halo2 shape is refused (`unknown_shape`) with no key work.
    pub halo2_shapes: Vec<veriflop_circuits::Shape>,
    /// halo2 key derivations running at once (at least 1).
    pub halo2_derive_concurrency: usize,
    /// Blob store of job data: a directory, `file:///dir` or `s3://bucket[/prefix]`.
    /// `None` with [`spawn_local`]: a temporary directory.
    pub blob_url: Option<String>,
    /// Where uploads are spooled before they are checked (default: `.spool` in
    /// a local blob store's directory, else the system's temporary directory).
    pub spool_dir: Option<PathBuf>,
    /// Largest accepted upload (a matrix file), bytes.
    pub max_upload_bytes: u64,
    /// Lease window of jobs that do not set one, seconds.
    pub default_lease_secs: u64,
    /// The key this service signs delivery receipts of on-chain jobs with
    /// (`POST /v1/chain/receipts`); none: it attests nothing.
    pub attestor_key: Option<k256::ecdsa::SigningKey>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8645)),
            key_dir: PathBuf::from("veriflop-data/keys"),
            ledger_url: None,
            max_body_bytes: veriflop_verifier::bundle::MAX_BUNDLE_BYTES,
            rate_limit_per_minute: 600,
            data_uploads_per_minute: 60,
            verify_concurrency: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            verify_queue: 1024,
            timestamp_window_secs: 300,
            max_job_ttl_secs: 30 * 24 * 3600,
            fault_release_delay_ms: 0,
            max_price: 1_000_000_000_000_000_000,
            max_open_jobs_per_client: 64,
            sweep_interval_secs: 60,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            max_connection_secs: 300,
            max_connections: 1024,
            max_connections_per_ip: 64,
            halo2_shapes: Vec::new(),
            halo2_derive_concurrency: 1,
            blob_url: None,
            spool_dir: None,
            // A 4096×4096 C of int128 entries in .vfm, with room for a header.
            max_upload_bytes: 16 + 4096 * 4096 * 16 + 4096,
            default_lease_secs: 600,
            attestor_key: None,
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
    pub blobs: crate::blobs::BlobStore,
    /// Uploads wait here (temporary files) until they are checked.
    pub spool_dir: PathBuf,
    /// This service as a venue (its id comes from the ledger, shared by replicas).
    pub venue: Venue,
    pub venue_id: Bytes32,
    pub keys: Arc<KeyRegistry>,
    pub metrics: Arc<Metrics>,
    pub limiter: RateLimiter,
    /// [`Config::data_uploads_per_minute`], by [`ratelimit::client_net`].
    pub upload_limiter: RateLimiter<std::net::IpAddr>,
    pub verify_slots: Semaphore,
    pub verify_waiting: AtomicUsize,
    /// [`Config::attestor_key`].
    pub attestor: Option<k256::ecdsa::SigningKey>,
}

impl State {
    pub async fn new(config: Config) -> Result<Arc<State>, ServiceError> {
        if config.verify_concurrency == 0 {
            return Err(ServiceError::Config("verify concurrency must be at least 1".into()));
        }
        if config.max_price == 0 || config.max_price > crate::ledger::MAX_AMOUNT {
            return Err(ServiceError::Config(format!("max price must be between 1 and {}", crate::ledger::MAX_AMOUNT)));
        }
        if config.header_timeout_secs == 0 || config.body_timeout_secs == 0 || config.max_connection_secs == 0 {
            return Err(ServiceError::Config("timeouts must be at least 1 s".into()));
        }
        let url = config.ledger_url.clone().ok_or_else(|| ServiceError::Config("no ledger URL".into()))?;
        let blob_url = config.blob_url.clone().ok_or_else(|| ServiceError::Config("no blob store URL".into()))?;
        let blobs = crate::blobs::BlobStore::open(&blob_url).map_err(|e| ServiceError::Config(e.to_string()))?;
        let spool_dir = match &config.spool_dir {
            Some(d) => d.clone(),
            None if !blob_url.starts_with("s3://") => {
                PathBuf::from(blob_url.strip_prefix("file://").unwrap_or(&blob_url)).join(".spool")
            }
            None => std::env::temp_dir(),
        };
        std::fs::create_dir_all(&spool_dir)
            .map_err(|e| ServiceError::Config(format!("spool directory {}: {e}", spool_dir.display())))?;
        clean_spool(&spool_dir, Duration::from_secs(config.body_timeout_secs + 60));
        if config.default_lease_secs == 0 {
            return Err(ServiceError::Config("the default lease must be at least 1 s".into()));
        }
        let keys = Arc::new(keys::open(config.key_dir.clone(), config.halo2_policy()).await?);
        let mut ledger = Ledger::connect(&url).await?;
        ledger.set_fault_release_delay(Duration::from_millis(config.fault_release_delay_ms));
        let venue = Venue::Service { service_id: ledger.service_id() };
        Ok(Arc::new(State {
            venue,
            venue_id: venue.id(),
            limiter: RateLimiter::new(config.rate_limit_per_minute),
            upload_limiter: RateLimiter::new(config.data_uploads_per_minute),
            verify_slots: Semaphore::new(config.verify_concurrency),
            verify_waiting: AtomicUsize::new(0),
            attestor: config.attestor_key.clone(),
            metrics: Arc::new(Metrics::default()),
            config,
            ledger,
            blobs,
            spool_dir,
            keys,
        }))
    }

    pub(crate) fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.config.body_timeout_secs)
    }
}

/// A request's method, path and headers, its body left unread (streamed routes).
fn head() -> impl Filter<Extract = (data::Head,), Error = std::convert::Infallible> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method().and(warp::path::full()).and(query).and(warp::header::headers_cloned()).map(
        |method, full: warp::path::FullPath, query: String, headers: HeaderMap| {
            let path_and_query =
                if query.is_empty() { full.as_str().to_string() } else { format!("{}?{query}", full.as_str()) };
            data::Head { method, path_and_query, headers }
        },
    )
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

/// Reads the body up to `limit` bytes within `timeout` (refusing early on a
/// larger Content-Length; `request_timeout` when the client is too slow).
async fn read_body<S, B>(
    headers: &HeaderMap,
    stream: S,
    limit: usize,
    timeout: Duration,
) -> Result<bytes::Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    tokio::time::timeout(timeout, read_body_unbounded(headers, stream, limit)).await.unwrap_or_else(|_| {
        Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request body did not arrive within {} s", timeout.as_secs()),
        ))
    })
}

async fn read_body_unbounded<S, B>(headers: &HeaderMap, stream: S, limit: usize) -> Result<bytes::Bytes, ApiError>
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

fn parts(limit: usize, timeout: Duration) -> impl Filter<Extract = (RequestParts,), Error = Rejection> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(move |method, full: warp::path::FullPath, query: String, headers: HeaderMap, stream| async move {
            let body = read_body(&headers, stream, limit, timeout).await;
            let path_and_query =
                if query.is_empty() { full.as_str().to_string() } else { format!("{}?{query}", full.as_str()) };
            RequestParts { method, path_and_query, headers, body }
        })
}

/// The client's IP address: the connection's peer ([`server::PeerAddr`], set
/// by this service's accept loop), else what `warp::serve` records. Behind a
/// reverse proxy this is the proxy's address.
fn peer_ip() -> impl Filter<Extract = (Option<std::net::IpAddr>,), Error = std::convert::Infallible> + Clone {
    warp::ext::optional::<server::PeerAddr>()
        .and(warp::addr::remote())
        .map(|ours: Option<server::PeerAddr>, warps: Option<SocketAddr>| ours.map(|p| p.0).or(warps).map(|a| a.ip()))
}

fn with_state(state: Arc<State>) -> impl Filter<Extract = (Arc<State>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// All routes, with rejections turned into JSON errors.
pub fn routes(state: Arc<State>) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone {
    let proof_limit = state.config.max_body_bytes.min(veriflop_verifier::bundle::MAX_BUNDLE_BYTES);
    let t = Duration::from_secs(state.config.body_timeout_secs);
    let s = || with_state(state.clone());
    let register = warp::path!("v1" / "jobs")
        .and(warp::post())
        .and(s())
        .and(parts(MAX_JSON_BODY_BYTES, t))
        .then(handlers::register);
    let get_job = warp::path!("v1" / "jobs" / String).and(warp::get()).and(s()).then(handlers::get_job);
    let submit = warp::path!("v1" / "jobs" / String / "proof")
        .and(warp::post())
        .and(s())
        .and(parts(proof_limit, t))
        .then(handlers::submit);
    let refund = warp::path!("v1" / "jobs" / String / "refund")
        .and(warp::post())
        .and(s())
        .and(parts(MAX_JSON_BODY_BYTES, t))
        .then(handlers::refund);
    let venue = warp::path!("v1" / "venue").and(warp::get()).and(s()).then(handlers::venue);
    let account = warp::path!("v1" / "accounts" / String).and(warp::get()).and(s()).then(handlers::account);
    let shapes = warp::path!("v1" / "shapes").and(warp::get()).and(s()).then(handlers::shapes);
    let health = warp::path!("healthz").and(warp::get()).and(s()).then(handlers::health);
    let metrics = warp::path!("metrics").and(warp::get()).and(s()).then(handlers::metrics);
    let put_input = warp::path!("v1" / "jobs" / String / "inputs" / String)
        .and(warp::put())
        .and(s())
        .and(head())
        .and(warp::body::stream())
        .then(data::put_input);
    let get_input = warp::path!("v1" / "jobs" / String / "inputs" / String)
        .and(warp::get())
        .and(s())
        .and(head())
        .then(data::get_input);
    let claim = warp::path!("v1" / "jobs" / String / "claim").and(warp::post()).and(s()).and(head()).then(data::claim);
    let unclaim =
        warp::path!("v1" / "jobs" / String / "unclaim").and(warp::post()).and(s()).and(head()).then(data::unclaim);
    let put_result = warp::path!("v1" / "jobs" / String / "result")
        .and(warp::put())
        .and(s())
        .and(head())
        .and(warp::body::stream())
        .then(data::put_result);
    let get_result =
        warp::path!("v1" / "jobs" / String / "result").and(warp::get()).and(s()).and(head()).then(data::get_result);
    let get_proof = warp::path!("v1" / "jobs" / String / "proof").and(warp::get()).and(s()).then(handlers::get_proof);
    let open_jobs = warp::path!("v1" / "market" / "jobs")
        .and(warp::get())
        .and(s())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .then(data::open_jobs);
    // `/v1/data/{circuit}/{dims}/{dtype}/{role}/{cm}`, and for inference
    // `/v1/data/inference/{model}/{dims}/{dtype}/{role}/{cm}`.
    let data_path = || {
        let matmul = warp::path!("v1" / "data" / String / String / String / String / String)
            .map(|c, d, t, r, cm| (c, None, d, t, r, cm));
        let inference = warp::path!("v1" / "data" / String / String / String / String / String / String)
            .map(|c, m, d, t, r, cm| (c, Some(m), d, t, r, cm));
        matmul.or(inference).unify().untuple_one()
    };
    let put_data = data_path()
        .and(warp::put())
        .and(s())
        .and(peer_ip())
        .and(head())
        .and(warp::body::stream())
        .then(chain_data::put_data);
    let get_data = data_path().and(warp::get()).and(s()).then(chain_data::get_data);
    let receipt = warp::path!("v1" / "chain" / "receipts")
        .and(warp::post())
        .and(s())
        .and(parts(MAX_JSON_BODY_BYTES, t))
        .then(chain_data::receipt);
    let rejected_state = state.clone();
    // Two boxed groups keep the filter types shallow (and compile times sane).
    let jobs = register
        .or(get_job)
        .unify()
        .or(submit)
        .unify()
        .or(refund)
        .unify()
        .or(venue)
        .unify()
        .or(account)
        .unify()
        .or(shapes)
        .unify()
        .or(health)
        .unify()
        .or(metrics)
        .unify()
        .boxed();
    let market = put_input
        .or(get_input)
        .unify()
        .or(claim)
        .unify()
        .or(unclaim)
        .unify()
        .or(put_result)
        .unify()
        .or(get_result)
        .unify()
        .or(open_jobs)
        .unify()
        .or(get_proof)
        .unify()
        .boxed();
    let chain = put_data.or(get_data).unify().or(receipt).unify().boxed();
    jobs.or(market)
        .unify()
        .or(chain)
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
    shutdown: Option<watch::Sender<bool>>,
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
            let _ = tx.send(true);
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
            let _ = tx.send(true);
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
    let (tx, rx) = watch::channel(false);
    let c = &state.config;
    let limits = server::Limits {
        header_timeout: Duration::from_secs(c.header_timeout_secs),
        max_connection_age: Duration::from_secs(c.max_connection_secs),
        max_connections: server::effective_max_connections(c.max_connections),
        max_connections_per_ip: c.max_connections_per_ip,
    };
    let server =
        server::serve(listener, warp::service(routes(state.clone())), limits, state.metrics.clone(), rx.clone());
    tokio::spawn(sweep(state.clone(), rx));
    let task = tokio::spawn(server);
    tracing::info!("veriflop verifier listening on http://{addr}");
    Ok(ServiceHandle { addr, state, shutdown: Some(tx), task: Some(task), _ledger_dir: ledger_dir })
}

/// Every `sweep_interval_secs`: refunds jobs still locked past their deadline,
/// forfeits the stakes of leases that ended without a result
/// (actor [`crate::ledger::SERVICE_ACTOR`]), so no escrow stays stuck and the
/// client's quota frees up, and forgets nonces whose timestamps are out of the window.
async fn sweep(state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.config.sweep_interval_secs.max(1));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let now = veriflop_verifier::auth::unix_now();
        // Uploads a crash left behind (never visible as blobs): spool files
        // older than any upload may take.
        clean_spool(&state.spool_dir, Duration::from_secs(state.config.body_timeout_secs + 60));
        if let Err(e) = state.ledger.prune_nonces(now).await {
            tracing::warn!("pruning nonces: {e}");
        }
        let expired = match state.ledger.expired_locked(now, 500).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!("listing expired jobs: {e}");
                continue;
            }
        };
        for id in expired {
            match state.ledger.refund(&id, crate::ledger::SERVICE_ACTOR, now).await {
                Ok(crate::ledger::Refund::Refunded { amount, .. }) => {
                    state.metrics.scheduled_refunds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!("job {id}: expired, escrow {amount} refunded to its client");
                }
                Ok(_) => {} // settled meanwhile (another replica, or the client)
                Err(e) => tracing::warn!("refunding expired job {id}: {e}"),
            }
        }
        // Stakes of leases that ended without a result go to their clients now,
        // not only when the job is next claimed or settled.
        match state.ledger.ended_stakes(now, 500).await {
            Ok(ids) => {
                for id in ids {
                    match state.ledger.forfeit_ended_stake(&id, now).await {
                        Ok(true) => {
                            tracing::info!("job {id}: lease ended without a result, stake forfeited to the client")
                        }
                        Ok(false) => {}
                        Err(e) => tracing::warn!("forfeiting job {id}'s stake: {e}"),
                    }
                }
            }
            Err(e) => tracing::warn!("listing ended stakes: {e}"),
        }
    }
}

/// Removes spooled uploads older than `age` (left by a crash mid-upload).
fn clean_spool(dir: &std::path::Path, age: Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let old =
            e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok()).is_some_and(|t| t > age);
        if old && e.file_name().to_string_lossy().starts_with("upload-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Starts the service on 127.0.0.1 with an ephemeral port and, unless
/// `config.ledger_url` / `config.blob_url` are set, a fresh SQLite ledger and
/// blob store in a temporary directory (removed when the handle is dropped).
/// For demos and tests.
pub async fn spawn_local(mut config: Config) -> Result<(SocketAddr, ServiceHandle), ServiceError> {
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut dir = None;
    if config.ledger_url.is_none() || config.blob_url.is_none() {
        let d = tempfile::Builder::new()
            .prefix("veriflop-ledger")
            .tempdir()
            .map_err(|e| ServiceError::Config(format!("temporary ledger directory: {e}")))?;
        if config.ledger_url.is_none() {
            config.ledger_url = Some(format!("sqlite://{}", d.path().join("ledger.db").display()));
        }
        if config.blob_url.is_none() {
            config.blob_url = Some(d.path().join("blobs").display().to_string());
        }
        dir = Some(d);
    }
    let h = spawn_with(config, dir).await?;
    Ok((h.addr, h))
}
