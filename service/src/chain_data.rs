//! The data plane for jobs posted on a chain: matrices stored by their
//! commitment, and delivery receipts.
//!
//! A JobEscrow job names its data only by commitments (cm_A, cm_B on posting,
//! cm_C on settlement), so the data is addressed by them:
//! `/v1/data/{circuit}/{MxKxN}/{dtype}/{a|b|c}/{cm}`. An inference job's input
//! and output are committed under its model's key, so its data is addressed
//! under the model word (its cm_B) as well:
//! `/v1/data/inference/{model}/{BxDINxDOUT}/int8/{a|b|c}/{cm}` (its B is the
//! model file, whose commitment is the model word itself). Anyone may upload: the
//! service recomputes the commitment of the upload (streamed, bounded in size
//! and time, as for its own jobs) and stores it only under the commitment it
//! has, so nobody can put other data under a job's name. Anyone may download:
//! an on-chain job is public, and every provider needs its inputs (docs/CHAIN.md
//! says so to clients).
//!
//! Uploads are unsigned, so what bounds the store is checked before the body
//! is read: the circuit and shape must be one this service verifies (a loaded
//! verifying key, or a key file it can load; halo2: the allow-list), and each
//! client IP address (IPv6: /64) has `data_uploads_per_minute` uploads a minute.
//!
//! Delivery receipts (`POST /v1/chain/receipts`): a service started with an
//! attestor key signs, for a job on a chain, an EIP-712 `Delivery(jobId, cmC)`
//! under that escrow's domain once it stores a C with that commitment. A job
//! posted with delivery required is paid only with k of its n attestors'
//! receipts (docs/PROTOCOL.md, "Delivery for on-chain jobs").

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Buf;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use veriflop_circuits::commit::Role;
use veriflop_circuits::{field, CircuitKind, Dtype, JobId, ProofSystem, Shape};
use warp::http::StatusCode;
use warp::reply::Response;

use super::data::{blob_response, commitment, spool, Head};
use super::error::{json_response, ApiError};
use super::handlers::{finish, verifier_for};
use super::State;
use veriflop_verifier::auth::HEADER_CONTENT_KECCAK;

/// Where a matrix of `circuit` and `shape` with commitment `cm` lives (an
/// inference job's data: also under its model word, `model`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataAddress {
    pub circuit: CircuitKind,
    pub shape: Shape,
    /// The model word of an inference job (its cm_B); `None` for a matmul job.
    pub model: Option<ark_bn254::Fr>,
    pub role: Role,
    pub cm: ark_bn254::Fr,
}

impl DataAddress {
    /// The address of `job`'s matrix `role` with commitment `cm`.
    pub fn of(job: &veriflop_circuits::Job, role: Role, cm: ark_bn254::Fr) -> Self {
        let model = (job.circuit == CircuitKind::Inference).then_some(job.cm_b);
        DataAddress { circuit: job.circuit, shape: job.shape, model, role, cm }
    }

    /// The URL path, `/v1/data/{circuit}/{MxKxN}/{dtype}/{a|b|c}/{cm}`, or for
    /// inference `/v1/data/inference/{model}/{BxDINxDOUT}/int8/{a|b|c}/{cm}`.
    pub fn path(&self) -> String {
        let model = self.model.map(|m| format!("/{}", hex_fr(&m))).unwrap_or_default();
        format!(
            "/v1/data/{}{model}/{}x{}x{}/{}/{}/{}",
            self.circuit,
            self.shape.m,
            self.shape.k,
            self.shape.n,
            self.shape.dtype,
            role_name(self.role),
            hex_fr(&self.cm)
        )
    }

    /// The blob store key: `commit/{circuit}/{MxKxN}/{dtype}/{a|b|c}/{cm}`
    /// (the `sha256/` blobs are the service's own jobs').
    fn blob_key(&self) -> String {
        format!("commit/{}", self.path().trim_start_matches("/v1/data/"))
    }

    /// From the path's segments; `model` is the segment after `inference`.
    fn parse(
        circuit: &str,
        model: Option<&str>,
        dims: &str,
        dtype: &str,
        role: &str,
        cm: &str,
    ) -> Result<Self, ApiError> {
        let bad = |what: &str, e: String| ApiError::new(StatusCode::NOT_FOUND, "no_route", format!("{what}: {e}"));
        let circuit = CircuitKind::from_str(circuit).map_err(|e| bad("circuit", e.to_string()))?;
        let model = match (circuit, model) {
            (CircuitKind::Inference, Some(m)) => Some(parse_fr(m).map_err(|e| ApiError::bad_request("bad_model", e))?),
            (CircuitKind::Inference, None) => {
                let e = "inference data is addressed under its model: /v1/data/inference/{model}/{BxDINxDOUT}/int8/{a|b|c}/{cm}";
                return Err(bad("inference", e.to_string()));
            }
            (_, Some(_)) => return Err(bad("circuit", format!("{circuit} data is not addressed under a model"))),
            (_, None) => None,
        };
        let dtype = Dtype::from_str(dtype).map_err(|e| bad("dtype", e.to_string()))?;
        let (m, k, n) = veriflop_circuits::shape::parse_dims(dims).map_err(|e| bad("shape", e.to_string()))?;
        let shape = Shape::new(m, k, n, dtype).map_err(|e| bad("shape", e.to_string()))?;
        let role = match role {
            "a" => Role::A,
            "b" => Role::B,
            "c" => Role::C,
            other => return Err(bad("matrix", format!("{other:?} is not a, b or c"))),
        };
        let cm = parse_fr(cm).map_err(|e| ApiError::bad_request("bad_commitment", e))?;
        if role == Role::B && model.is_some_and(|m| m != cm) {
            return Err(ApiError::bad_request(
                "commitment_mismatch",
                "an inference job's B is its model file, whose commitment is the model word",
            ));
        }
        Ok(DataAddress { circuit, shape, model, role, cm })
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::A => "a",
        Role::B => "b",
        Role::C => "c",
    }
}

fn hex_fr(x: &ark_bn254::Fr) -> String {
    format!("0x{}", hex::encode(field::fr_to_bytes(x)))
}

/// A 0x-hex field element (what JobEscrow stores as cmA, cmB and emits as cmC).
fn parse_fr(s: &str) -> Result<ark_bn254::Fr, String> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if h.is_empty() || h.len() > 64 {
        return Err(format!("{s:?} is not a 32-byte hex commitment"));
    }
    let b = hex::decode(format!("{h:0>64}")).map_err(|_| format!("{s:?} is not hex"))?;
    field::fr_from_bytes(&b).map_err(|e| format!("{s:?}: {e}"))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StoredData {
    /// Where to download it.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// False when the same matrix was already stored (the upload was checked and dropped).
    pub new: bool,
}

fn declared_keccak(head: &Head) -> Result<[u8; 32], ApiError> {
    let h = head.headers.get(HEADER_CONTENT_KECCAK).ok_or_else(|| {
        ApiError::bad_request("missing_header", format!("the upload needs {HEADER_CONTENT_KECCAK}: its keccak256"))
    })?;
    let s =
        h.to_str().map_err(|_| ApiError::bad_request("bad_header", format!("{HEADER_CONTENT_KECCAK} is not text")))?;
    veriflop_verifier::auth::parse_digest(s).map_err(|e| ApiError::bad_request("bad_header", e.to_string()))
}

/// Takes one of the client's upload tokens (keyed by [`crate::ratelimit::client_net`];
/// a request without a peer address shares the bucket of `0.0.0.0`).
fn take_upload_token(state: &State, peer: Option<IpAddr>) -> Result<(), ApiError> {
    let ip = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let net = crate::ratelimit::client_net(ip);
    if state.upload_limiter.allow(net) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "too many data uploads from {net} (at most {} a minute); try again later",
            state.config.data_uploads_per_minute
        ),
    ))
}

/// Refuses data for a circuit and shape this service verifies no job of: no
/// verifying key is loaded or loadable for any proof system of the circuit
/// (a halo2 shape must be on the allow-list). A committed shape also needs its
/// commitment key, which uploads are checked with.
/// Inference data needs the model's verifying key (its input and output are
/// committed under it).
async fn check_servable(state: &State, addr: &DataAddress) -> Result<(), ApiError> {
    let (circuit, shape) = (addr.circuit, addr.shape);
    if let Some(model) = addr.model {
        return super::handlers::model_key(state, model, shape).await.map(|_| ());
    }
    let mut refusals = Vec::new();
    let mut unavailable = None;
    let mut servable = false;
    for system in ProofSystem::ALL.into_iter().filter(|y| y.supports(circuit)) {
        match verifier_for(state, system, circuit, shape, ark_bn254::Fr::from(0u64)).await {
            Ok(_) => {
                servable = true;
                break;
            }
            Err(e) if e.status.is_server_error() => unavailable = Some(e),
            Err(e) => refusals.push(format!("{system}: {}", e.message)),
        }
    }
    if !servable {
        return Err(unavailable.unwrap_or_else(|| {
            ApiError::bad_request(
                "unknown_shape",
                format!(
                    "this service stores data only for jobs it can verify, and it verifies no {circuit} {shape} job (see GET /v1/shapes): {}",
                    refusals.join("; ")
                ),
            )
        }));
    }
    if circuit == CircuitKind::Committed {
        let keys = state.keys.clone();
        tokio::task::spawn_blocking(move || keys.commit_key(&shape).map(|_| ()))
            .await
            .map_err(|e| ApiError::internal(format!("commitment key task failed: {e}")))?
            .map_err(|e| {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "key_unavailable", format!("commitment key: {e}"))
            })?;
    }
    Ok(())
}

/// `PUT /v1/data/{circuit}/{MxKxN}/{dtype}/{a|b|c}/{cm}`: stored only if its
/// commitment is `cm`. Before the body is read: the client's upload rate, then
/// the shape (one this service verifies).
#[allow(clippy::too_many_arguments)]
pub(super) async fn put_data<S, B>(
    circuit: String,
    model: Option<String>,
    dims: String,
    dtype: String,
    role: String,
    cm: String,
    state: Arc<State>,
    peer: Option<IpAddr>,
    head: Head,
    body: S,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let r = async {
        let addr = DataAddress::parse(&circuit, model.as_deref(), &dims, &dtype, &role, &cm)?;
        take_upload_token(&state, peer)?;
        check_servable(&state, &addr).await?;
        let declared = declared_keccak(&head)?;
        let s = addr.shape;
        let (entries, entry_bytes) = match addr.role {
            Role::A => (s.m as u64 * s.k as u64, 8),
            Role::B => (s.k as u64 * s.n as u64, 8),
            Role::C => (s.m as u64 * s.n as u64, 16),
        };
        let limit = if addr.model.is_some() && addr.role == Role::B {
            state.config.max_upload_bytes // the model file
        } else {
            super::data::max_file_bytes(entries, entry_bytes).min(state.config.max_upload_bytes)
        };
        let sp = spool(&head.headers, body, limit, state.body_timeout(), &state.spool_dir, declared).await?;
        let got = commitment(&state, addr.circuit, s, addr.role, sp.path.to_path_buf(), addr.model).await?;
        if got != addr.cm {
            return Err(ApiError::bad_request(
                "commitment_mismatch",
                format!(
                    "this matrix's {} commitment is {}, not {}: nothing was stored",
                    addr.circuit,
                    hex_fr(&got),
                    hex_fr(&addr.cm)
                ),
            ));
        }
        let key = addr.blob_key();
        let unavailable = |e: crate::blobs::BlobError| {
            tracing::error!("blob store: {e}");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "blob_store_unavailable", e.to_string())
        };
        let new = state.blobs.size(&key).await.map_err(unavailable)?.is_none();
        if new {
            state.blobs.put_file(&key, &sp.path, sp.len).await.map_err(unavailable)?;
            state.metrics.uploaded_bytes.fetch_add(sp.len, std::sync::atomic::Ordering::Relaxed);
            tracing::info!("chain data {} stored ({} bytes)", addr.path(), sp.len);
        }
        Ok(json_response(
            StatusCode::OK,
            &StoredData { path: addr.path(), bytes: sp.len, sha256: sp.sha256.clone(), new },
        ))
    }
    .await;
    finish(&state, r)
}

/// `GET /v1/data/{circuit}/{MxKxN}/{dtype}/{a|b|c}/{cm}`.
pub(super) async fn get_data(
    circuit: String,
    model: Option<String>,
    dims: String,
    dtype: String,
    role: String,
    cm: String,
    state: Arc<State>,
) -> Response {
    let r = async {
        let addr = DataAddress::parse(&circuit, model.as_deref(), &dims, &dtype, &role, &cm)?;
        let key = addr.blob_key();
        if state.blobs.size(&key).await.ok().flatten().is_none() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_stored",
                format!("no matrix with commitment {} is stored here", hex_fr(&addr.cm)),
            ));
        }
        blob_response(&state, &key).await
    }
    .await;
    finish(&state, r)
}

/// `POST /v1/chain/receipts`: a delivery receipt for a job on a chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiptRequest {
    pub chain_id: u64,
    /// The JobEscrow contract (0x-hex).
    pub escrow: String,
    pub job_id: JobId,
    pub circuit: CircuitKind,
    pub shape: Shape,
    /// An inference job's model word (its cm_B, 0x-hex), under which its output is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The result's commitment as JobEscrow takes it (0x-hex field element).
    pub cm_c: String,
}

/// A signed EIP-712 `Delivery(jobId, cmC)` under the escrow's domain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeliveryReceipt {
    /// The attestor's address (this service's attestor key).
    pub attestor: String,
    pub chain_id: u64,
    pub escrow: String,
    pub job_id: JobId,
    pub cm_c: String,
    /// The EIP-712 hash signed.
    pub digest: String,
    /// r ‖ s ‖ v (65 bytes, 0x-hex), what `JobEscrow.attestDelivery` takes.
    pub signature: String,
}

/// Loads an attestor key file: a 0x-hex secp256k1 secret key (as `veriflop-prover key new` prints).
pub fn read_attestor_key(path: &std::path::Path) -> Result<k256::ecdsa::SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let b = hex::decode(text.trim().trim_start_matches("0x"))
        .map_err(|_| format!("{}: not a hex secret key", path.display()))?;
    k256::ecdsa::SigningKey::from_slice(&b).map_err(|_| format!("{}: not a secp256k1 secret key", path.display()))
}

pub(super) async fn receipt(state: Arc<State>, req: super::RequestParts) -> Response {
    let r = async {
        let key = state.attestor.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_attestor",
                "this service attests no deliveries (it has no attestor key)",
            )
        })?;
        let body = req.body?;
        let q: ReceiptRequest = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("bad_request", format!("not a receipt request: {e}")))?;
        let escrow: [u8; 20] = hex::decode(q.escrow.trim_start_matches("0x"))
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ApiError::bad_request("bad_request", format!("escrow {:?} is not an address", q.escrow)))?;
        let cm = parse_fr(&q.cm_c).map_err(|e| ApiError::bad_request("bad_commitment", e))?;
        let model = match (q.circuit, &q.model) {
            (CircuitKind::Inference, Some(m)) => Some(parse_fr(m).map_err(|e| ApiError::bad_request("bad_model", e))?),
            (CircuitKind::Inference, None) => {
                return Err(ApiError::bad_request("bad_request", "an inference job's receipt request names its model"))
            }
            (_, Some(_)) => {
                return Err(ApiError::bad_request("bad_request", format!("a {} job has no model", q.circuit)))
            }
            (_, None) => None,
        };
        let addr = DataAddress { circuit: q.circuit, shape: q.shape, model, role: Role::C, cm };
        if state.blobs.size(&addr.blob_key()).await.ok().flatten().is_none() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_delivered",
                format!("no C with commitment {} is stored here: upload it first (PUT {})", q.cm_c, addr.path()),
            ));
        }
        let digest =
            veriflop_contracts::delivery::delivery_digest(q.chain_id, escrow, &q.job_id, field::fr_to_bytes(&cm));
        let sig = veriflop_contracts::delivery::sign_delivery(key, &digest);
        let attestor = veriflop_contracts::delivery::attestor_address(key);
        tracing::info!("delivery receipt: job {} on chain {} (cm_C {})", q.job_id, q.chain_id, q.cm_c);
        Ok(json_response(
            StatusCode::OK,
            &DeliveryReceipt {
                attestor: format!("0x{}", hex::encode(attestor)),
                chain_id: q.chain_id,
                escrow: format!("0x{}", hex::encode(escrow)),
                job_id: q.job_id,
                cm_c: hex_fr(&cm),
                digest: format!("0x{}", hex::encode(digest)),
                signature: format!("0x{}", hex::encode(sig)),
            },
        ))
    }
    .await;
    finish(&state, r)
}
