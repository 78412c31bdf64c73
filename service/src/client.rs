//! A client for the verifier service: register jobs, submit proof bundles and
//! read jobs, signing requests with a [`Signer`]; plus [`spawn_local`], which
//! starts a service on loopback for demos and tests.
//!
//! ```no_run
//! # async fn demo(bundle: veriflop_verifier::ProofBundle, reg: veriflop_service::api::RegisterJob) -> Result<(), Box<dyn std::error::Error>> {
//! use veriflop_service::client::{spawn_local, Client, Config};
//! use veriflop_verifier::auth::Signer;
//! let (addr, handle) = spawn_local(Config { key_dir: "veriflop-data/keys".into(), ..Config::default() }).await?;
//! let client = Client::new(format!("http://{addr}"), Signer::random());
//! let job = client.register_job(&reg).await?; // reg.nonce, and a deposit first

//! let outcome = client.submit_proof(&job.job_id, &bundle).await?;
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use veriflop_circuits::{Address, Bytes32, JobId, Venue};

pub use crate::api::{
    AccountView, Health, JobView, Lease, OpenJob, OpenJobs, RegisterJob, ShapeInfo, StoredInput, StoredResultView,
    SubmitOutcome, SubmitResponse, VenueInfo,
};
pub use crate::error::ErrorBody;
pub use crate::ledger::Input;
pub use crate::{spawn_local, Config, ServiceError, ServiceHandle};
use veriflop_verifier::auth::{unix_now, Signer};
use veriflop_verifier::bundle::ProofBundle;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service answered with an error (`code` is stable, see docs/VERIFIER.md).
    #[error("verifier refused ({status}): {code}: {message}")]
    Api { status: u16, code: String, message: String },
    #[error("cannot reach the verifier at {url}: {msg}")]
    Transport { url: String, msg: String },
    #[error("unexpected answer from the verifier: {0}")]
    Decode(String),
    #[error("{0}")]
    Io(String),
}

impl ClientError {
    /// The service's error code, if it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// How long an idle keep-alive connection is kept for reuse: below the
/// service's smallest sensible header timeout.
pub const POOL_IDLE: Duration = Duration::from_secs(4);

/// A signing client for one verifier service. Requests are signed for the
/// service's venue, read once from `GET /v1/venue` (or pinned with
/// [`Client::with_venue`]), so they are worth nothing at any other service.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    signer: Signer,
    venue: std::sync::Arc<tokio::sync::OnceCell<VenueInfo>>,
}

impl Client {
    /// `base_url` like `http://127.0.0.1:8645` (no trailing slash needed).
    pub fn new(base_url: impl Into<String>, signer: Signer) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            // The service closes keep-alive connections idle for its header
            // timeout (10 s by default); reusing one it closed fails the request,
            // so idle connections are dropped well before that.
            .pool_idle_timeout(POOL_IDLE)
            .build()
            .expect("an HTTP client without TLS always builds");
        Client { base: base_url.into().trim_end_matches('/').to_string(), http, signer, venue: Default::default() }
    }

    /// Signs for `venue` without asking the service (a client that knows which
    /// service it means to pay; a service with another venue refuses every request).
    pub fn with_venue(self, venue: VenueInfo) -> Self {
        Client { venue: std::sync::Arc::new(tokio::sync::OnceCell::new_with(Some(venue))), ..self }
    }

    /// The service's venue (fetched once).
    pub async fn venue(&self) -> Result<VenueInfo, ClientError> {
        self.venue
            .get_or_try_init(|| async {
                let (s, b) = self.finish(self.http.get(format!("{}/v1/venue", self.base))).await?;
                Self::decode::<VenueInfo>(s, &b)
            })
            .await
            .cloned()
    }

    /// The id the job with `nonce` gets when this client registers it here.
    pub async fn job_id_for(&self, nonce: &Bytes32) -> Result<JobId, ClientError> {
        let v = self.venue().await?;
        let venue: Venue = v.venue().map_err(|e| ClientError::Decode(e.to_string()))?;
        if venue.id() != v.venue_id {
            return Err(ClientError::Decode(format!(
                "the service's venue {} does not hash to its id {}",
                v.venue, v.venue_id
            )));
        }
        Ok(venue.job_id(self.signer.address(), nonce))
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request signed with this client's key; returns status and body.
    pub async fn send_signed(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let venue = self.venue().await?.venue_id;
        let auth = self.signer.sign_request(&venue, method, path, &body, unix_now());
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| ClientError::Decode(e.to_string()))?;
        let mut req =
            self.http.request(method, format!("{}{path}", self.base)).header("content-type", content_type).body(body);
        for (k, v) in auth.pairs() {
            req = req.header(k, v);
        }
        self.finish(req).await
    }

    async fn finish(&self, req: reqwest::RequestBuilder) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let transport = |e: reqwest::Error| ClientError::Transport { url: self.base.clone(), msg: e.to_string() };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        Ok((status, bytes.to_vec()))
    }

    fn decode<T: serde::de::DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ClientError> {
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(body) {
                Ok(e) => ClientError::Api { status: status.as_u16(), code: e.code, message: e.message },
                Err(_) => ClientError::Decode(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                )),
            });
        }
        serde_json::from_slice(body).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Registers a job and locks its escrow (the request is signed; `job.client`
    /// must be this client's address).
    pub async fn register_job(&self, job: &RegisterJob) -> Result<JobView, ClientError> {
        let body = serde_json::to_vec(job).map_err(|e| ClientError::Decode(e.to_string()))?;
        let (s, b) = self.send_signed("POST", "/v1/jobs", body, "application/json").await?;
        Self::decode(s, &b)
    }

    /// Submits a proof bundle (wire form) for a job, as the provider this client signs for.
    pub async fn submit_proof(&self, job_id: &JobId, bundle: &ProofBundle) -> Result<SubmitResponse, ClientError> {
        self.submit_proof_bytes(job_id, bundle.to_bytes()).await
    }

    /// Submits raw bundle bytes (wire `VFPB…` or JSON).
    pub async fn submit_proof_bytes(&self, job_id: &JobId, bytes: Vec<u8>) -> Result<SubmitResponse, ClientError> {
        let (s, b) =
            self.send_signed("POST", &format!("/v1/jobs/{job_id}/proof"), bytes, "application/octet-stream").await?;
        Self::decode(s, &b)
    }

    /// Asks for the refund of an expired job (signed by its client).
    pub async fn refund(&self, job_id: &JobId) -> Result<JobView, ClientError> {
        let (s, b) =
            self.send_signed("POST", &format!("/v1/jobs/{job_id}/refund"), Vec::new(), "application/json").await?;
        Self::decode(s, &b)
    }

    /// Reads a job, its escrow state and its events (unsigned).
    pub async fn job(&self, job_id: &JobId) -> Result<JobView, ClientError> {
        let (s, b) = self.finish(self.http.get(format!("{}/v1/jobs/{job_id}", self.base))).await?;
        Self::decode(s, &b)
    }

    /// The shapes (verifying keys) the service accepts.
    pub async fn shapes(&self) -> Result<Vec<ShapeInfo>, ClientError> {
        let (s, b) = self.finish(self.http.get(format!("{}/v1/shapes", self.base))).await?;
        Self::decode(s, &b)
    }

    /// A balance and its history (unsigned).
    pub async fn account(&self, address: Address) -> Result<AccountView, ClientError> {
        let (s, b) = self.finish(self.http.get(format!("{}/v1/accounts/{address}", self.base))).await?;
        Self::decode(s, &b)
    }

    pub async fn health(&self) -> Result<Health, ClientError> {
        let (s, b) = self.finish(self.http.get(format!("{}/healthz", self.base))).await?;
        Self::decode(s, &b)
    }

    fn io(&self, what: &str, e: impl std::fmt::Display) -> ClientError {
        ClientError::Io(format!("{what}: {e}"))
    }

    /// Sends a file as a streamed, signed body (its keccak256 declared and signed first).
    async fn send_file(&self, method: &str, path: &str, file: &Path) -> Result<(StatusCode, Vec<u8>), ClientError> {
        self.send_file_as(method, path, file, true).await
    }

    /// [`Client::send_file`], signed or not (the on-chain data plane checks commitments, not senders).
    async fn send_file_as(
        &self,
        method: &str,
        path: &str,
        file: &Path,
        sign: bool,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let (keccak, len) = hash_file(file).await.map_err(|e| self.io(&file.display().to_string(), e))?;
        let auth = if sign {
            let venue = self.venue().await?.venue_id;
            Some(self.signer.sign_streamed_request(&venue, method, path, &keccak, unix_now()))
        } else {
            None
        };
        let f = tokio::fs::File::open(file).await.map_err(|e| self.io(&file.display().to_string(), e))?;
        let body = futures_util::stream::unfold(f, |mut f| async move {
            let mut buf = vec![0u8; 1 << 20];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
                }
                Err(e) => Some((Err(e), f)),
            }
        });
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| ClientError::Decode(e.to_string()))?;
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(TRANSFER_TIMEOUT)
            .header("content-type", "application/octet-stream")
            .header("content-length", len)
            .header(veriflop_verifier::auth::HEADER_CONTENT_KECCAK, format!("0x{}", hex::encode(keccak)))
            .body(reqwest::Body::wrap_stream(body));
        for (k, v) in auth.iter().flat_map(|a| a.pairs()) {
            req = req.header(k, v);
        }
        self.finish(req).await
    }

    /// A signed request without a body, its answer streamed into `dest` (written
    /// whole or not at all: a temporary file renamed at the end).
    async fn download(&self, path: &str, dest: &Path) -> Result<Downloaded, ClientError> {
        self.download_as(path, dest, true).await
    }

    /// [`Client::download`], signed or not.
    async fn download_as(&self, path: &str, dest: &Path, sign: bool) -> Result<Downloaded, ClientError> {
        use futures_util::StreamExt;
        use sha2::Digest;
        let auth = if sign {
            let venue = self.venue().await?.venue_id;
            Some(self.signer.sign_request(&venue, "GET", path, &[], unix_now()))
        } else {
            None
        };
        let mut req = self.http.get(format!("{}{path}", self.base)).timeout(TRANSFER_TIMEOUT);
        for (k, v) in auth.iter().flat_map(|a| a.pairs()) {
            req = req.header(k, v);
        }
        let transport = |e: reqwest::Error| ClientError::Transport { url: self.base.clone(), msg: e.to_string() };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        if !status.is_success() {
            let b = resp.bytes().await.map_err(transport)?;
            return Err(Self::decode::<serde_json::Value>(status, &b)
                .err()
                .unwrap_or_else(|| ClientError::Decode(format!("HTTP {status} without an error body"))));
        }
        let claimed_sha = resp.headers().get("x-veriflop-sha256").and_then(|v| v.to_str().ok()).map(str::to_string);
        let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".download-")
            .tempfile_in(dir)
            .map_err(|e| self.io(&dir.display().to_string(), e))?;
        let (f, tmp_path) = tmp.into_parts();
        let mut f = tokio::fs::File::from_std(f);
        let mut sha = sha2::Sha256::new();
        let mut len = 0u64;
        let mut stream = resp.bytes_stream();
        while let Some(c) = stream.next().await {
            let c = c.map_err(transport)?;
            sha.update(&c);
            len += c.len() as u64;
            f.write_all(&c).await.map_err(|e| self.io("writing the download", e))?;
        }
        f.flush().await.map_err(|e| self.io("writing the download", e))?;
        f.sync_all().await.map_err(|e| self.io("writing the download", e))?;
        let sha256 = hex::encode(sha.finalize());
        if claimed_sha.as_deref().is_some_and(|c| c != sha256) {
            return Err(ClientError::Decode(format!("download of {path} was corrupted in transit (SHA-256 differs)")));
        }
        tmp_path.persist(dest).map_err(|e| self.io(&dest.display().to_string(), e))?;
        Ok(Downloaded { bytes: len, sha256 })
    }

    /// Stores an input of a job this client registered (`.npy` or `.vfm`). The
    /// service checks it against the job's commitment; both stored, the job is offered.
    pub async fn upload_input(&self, job_id: &JobId, input: Input, file: &Path) -> Result<StoredInput, ClientError> {
        let (s, b) = self.send_file("PUT", &format!("/v1/jobs/{job_id}/inputs/{}", input.as_str()), file).await?;
        Self::decode(s, &b)
    }

    /// Downloads an input (as the job's client or its lease holder) into `dest`.
    /// The caller checks it against the job's commitment before using it.
    pub async fn download_input(&self, job_id: &JobId, input: Input, dest: &Path) -> Result<Downloaded, ClientError> {
        self.download(&format!("/v1/jobs/{job_id}/inputs/{}", input.as_str()), dest).await
    }

    /// Claims an offered job: its lease, exclusive until `expires_at`.
    pub async fn claim(&self, job_id: &JobId) -> Result<Lease, ClientError> {
        let (s, b) =
            self.send_signed("POST", &format!("/v1/jobs/{job_id}/claim"), Vec::new(), "application/json").await?;
        Self::decode(s, &b)
    }

    /// Gives a lease back (the job is offered again at once).
    pub async fn unclaim(&self, job_id: &JobId) -> Result<JobView, ClientError> {
        let (s, b) =
            self.send_signed("POST", &format!("/v1/jobs/{job_id}/unclaim"), Vec::new(), "application/json").await?;
        Self::decode(s, &b)
    }

    /// Stores C (`.npy` or `.vfm`) for this provider's proof of the job.
    pub async fn upload_result(&self, job_id: &JobId, file: &Path) -> Result<StoredResultView, ClientError> {
        let (s, b) = self.send_file("PUT", &format!("/v1/jobs/{job_id}/result"), file).await?;
        Self::decode(s, &b)
    }

    /// Uploads C, then the proof: the escrow is released only for a delivered result.
    pub async fn deliver(
        &self,
        job_id: &JobId,
        c_file: &Path,
        bundle: &ProofBundle,
    ) -> Result<SubmitResponse, ClientError> {
        self.upload_result(job_id, c_file).await?;
        self.submit_proof(job_id, bundle).await
    }

    /// Downloads the delivered C of a released job (as its client) into `dest`.
    /// The caller checks it against the proven cm_C before trusting it.
    pub async fn download_result(&self, job_id: &JobId, dest: &Path) -> Result<Downloaded, ClientError> {
        self.download(&format!("/v1/jobs/{job_id}/result"), dest).await
    }

    /// The proof bundle accepted with a job's release (unsigned).
    pub async fn delivered_proof(&self, job_id: &JobId) -> Result<ProofBundle, ClientError> {
        let (s, b) = self.finish(self.http.get(format!("{}/v1/jobs/{job_id}/proof", self.base))).await?;
        if !s.is_success() {
            return Err(Self::decode::<serde_json::Value>(s, &b)
                .err()
                .unwrap_or_else(|| ClientError::Decode(format!("HTTP {s}"))));
        }
        ProofBundle::decode(&b).map_err(|e| ClientError::Decode(format!("the delivered proof: {e}")))
    }

    /// Stores a matrix of an on-chain job at its commitment's address
    /// ([`crate::chain_data::DataAddress::path`]); the service keeps it only if
    /// its commitment is that one.
    pub async fn put_data(&self, path: &str, file: &Path) -> Result<crate::chain_data::StoredData, ClientError> {
        let (s, b) = self.send_file_as("PUT", path, file, false).await?;
        Self::decode(s, &b)
    }

    /// Downloads a matrix of an on-chain job by its commitment's address into
    /// `dest` (whole or not at all); check it against the commitment before use.
    pub async fn get_data(&self, path: &str, dest: &Path) -> Result<Downloaded, ClientError> {
        self.download_as(path, dest, false).await
    }

    /// A delivery receipt for an on-chain job whose C this service stores.
    pub async fn delivery_receipt(
        &self,
        req: &crate::chain_data::ReceiptRequest,
    ) -> Result<crate::chain_data::DeliveryReceipt, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Decode(e.to_string()))?;
        let r = self
            .http
            .post(format!("{}/v1/chain/receipts", self.base))
            .header("content-type", "application/json")
            .body(body);
        let (s, b) = self.finish(r).await?;
        Self::decode(s, &b)
    }

    /// One page of offered jobs nobody holds (`query`: `system=…&circuit=…&shape=MxKxN&dtype=…&min_price=…&limit=…&after=…`).
    pub async fn open_jobs(&self, query: &str) -> Result<OpenJobs, ClientError> {
        let q = if query.is_empty() { String::new() } else { format!("?{query}") };
        let (s, b) = self.finish(self.http.get(format!("{}/v1/market/jobs{q}", self.base))).await?;
        Self::decode(s, &b)
    }
}

/// Longest upload or download of one matrix.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// A finished download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downloaded {
    pub bytes: u64,
    /// SHA-256 (hex) of what was written.
    pub sha256: String,
}

/// keccak256 and length of a file, read in 1 MiB chunks.
async fn hash_file(path: &Path) -> std::io::Result<([u8; 32], u64)> {
    use sha3::Digest;
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = sha3::Keccak256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((h.finalize().into(), len))
}

/// Blocking wrappers for synchronous callers (a CLI): each call runs on a
/// small private tokio runtime.
pub mod blocking {
    use super::*;

    pub struct BlockingClient {
        rt: tokio::runtime::Runtime,
        inner: Client,
    }

    impl BlockingClient {
        pub fn new(base_url: impl Into<String>, signer: Signer) -> std::io::Result<Self> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            Ok(BlockingClient { rt, inner: Client::new(base_url, signer) })
        }

        pub fn register_job(&self, job: &RegisterJob) -> Result<JobView, ClientError> {
            self.rt.block_on(self.inner.register_job(job))
        }

        pub fn submit_proof(&self, job_id: &JobId, bundle: &ProofBundle) -> Result<SubmitResponse, ClientError> {
            self.rt.block_on(self.inner.submit_proof(job_id, bundle))
        }

        pub fn submit_proof_bytes(&self, job_id: &JobId, bytes: Vec<u8>) -> Result<SubmitResponse, ClientError> {
            self.rt.block_on(self.inner.submit_proof_bytes(job_id, bytes))
        }

        pub fn refund(&self, job_id: &JobId) -> Result<JobView, ClientError> {
            self.rt.block_on(self.inner.refund(job_id))
        }

        pub fn job(&self, job_id: &JobId) -> Result<JobView, ClientError> {
            self.rt.block_on(self.inner.job(job_id))
        }

        pub fn venue(&self) -> Result<VenueInfo, ClientError> {
            self.rt.block_on(self.inner.venue())
        }

        pub fn job_id_for(&self, nonce: &Bytes32) -> Result<JobId, ClientError> {
            self.rt.block_on(self.inner.job_id_for(nonce))
        }

        pub fn account(&self, address: Address) -> Result<AccountView, ClientError> {
            self.rt.block_on(self.inner.account(address))
        }

        /// Runs any [`Client`] call to completion.
        pub fn run<'a, T, F: std::future::Future<Output = T> + 'a>(&'a self, f: impl FnOnce(&'a Client) -> F) -> T {
            self.rt.block_on(f(&self.inner))
        }
    }
}
