//! The data plane and the market: inputs uploaded with a job, the open-jobs
//! listing, claims (leases), result uploads, and downloads for exactly the
//! parties allowed (inputs: the client and the lease holder; the result: the
//! client, once the job is released).
//!
//! Uploads stream: the request is authenticated from its headers first (the
//! signed text carries the body's declared keccak256), the body is spooled to
//! a temporary file with bounded size and time and hashed on the way, its
//! commitment is recomputed from the file chunk by chunk, and only data that
//! matches is put in the blob store and recorded in the ledger. Memory stays a
//! few MiB whatever the matrix size.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt;
use veriflop_circuits::commit::Role;
use veriflop_circuits::stream::{commit_stream, MatrixReader};
use veriflop_circuits::{Address, CircuitKind, Dtype, JobId, ProofSystem, Shape};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;

use super::api::{Lease, OpenJob, OpenJobs, StoredInput, StoredResultView};
use super::error::{json_response, ApiError};
use super::handlers::{authenticate_with, closed, finish, parse_job_id, unknown_job, view};
use super::State;
use crate::blobs::key_of;
use crate::ledger::{Claim, EscrowState, Input, JobRecord, OpenFilter, StoredResult};
use veriflop_verifier::auth::{unix_now, HEADER_CONTENT_KECCAK};

/// The largest file a matrix of `entries` entries can take in any accepted
/// encoding (`.npy` headers are padded to 64 bytes, often 128; int64 entries).
pub(crate) fn max_file_bytes(entries: u64, entry_bytes: u64) -> u64 {
    4096 + entries * entry_bytes
}

/// A request whose body has not been read yet.
pub(crate) struct Head {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
}

/// A body spooled to a temporary file (removed on drop).
pub(crate) struct Spooled {
    pub path: tempfile::TempPath,
    pub len: u64,
    pub sha256: String,
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request body is over the {limit}-byte limit"),
    )
}

/// Writes the body to a temporary file in `dir`: at most `limit` bytes, within
/// `timeout`, and it must hash to `declared` (keccak256). Nothing is left behind
/// on any error.
pub(crate) async fn spool<S, B>(
    headers: &HeaderMap,
    body: S,
    limit: u64,
    timeout: Duration,
    dir: &Path,
    declared: [u8; 32],
) -> Result<Spooled, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    if let Some(len) = headers.get(warp::http::header::CONTENT_LENGTH) {
        let len = len
            .to_str()
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| ApiError::bad_request("bad_request", "invalid Content-Length"))?;
        if len > limit {
            return Err(too_large(limit));
        }
    }
    let internal = |e: std::io::Error| ApiError::internal(format!("spooling the upload: {e}"));
    let (file, path) = tempfile::Builder::new().prefix("upload-").tempfile_in(dir).map_err(internal)?.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let work = async {
        let mut keccak = sha3::Keccak256::new();
        let mut sha = sha2::Sha256::new();
        let mut len = 0u64;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let mut chunk =
                chunk.map_err(|e| ApiError::bad_request("bad_request", format!("reading the body: {e}")))?;
            while chunk.has_remaining() {
                let c = chunk.chunk();
                len += c.len() as u64;
                if len > limit {
                    return Err(too_large(limit));
                }
                keccak.update(c);
                sha.update(c);
                file.write_all(c).await.map_err(internal)?;
                let n = c.len();
                chunk.advance(n);
            }
        }
        file.flush().await.map_err(internal)?;
        let got: [u8; 32] = keccak.finalize().into();
        if got != declared {
            return Err(ApiError::bad_request(
                "body_digest_mismatch",
                format!(
                    "the body's keccak256 is 0x{}, not the 0x{} the request declared and signed",
                    hex::encode(got),
                    hex::encode(declared)
                ),
            ));
        }
        Ok((len, hex::encode(sha.finalize())))
    };
    let (len, sha256) = tokio::time::timeout(timeout, work).await.unwrap_or_else(|_| {
        Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request body did not arrive within {} s", timeout.as_secs()),
        ))
    })?;
    Ok(Spooled { path, len, sha256 })
}

/// Authenticates a streamed request: the signed body line is the declared digest.
async fn authenticate_streamed(state: &State, head: &Head) -> Result<(Address, [u8; 32]), ApiError> {
    let declared = head
        .headers
        .get(HEADER_CONTENT_KECCAK)
        .ok_or(veriflop_verifier::auth::AuthError::Missing(HEADER_CONTENT_KECCAK))?
        .to_str()
        .map_err(|_| veriflop_verifier::auth::AuthError::Malformed(HEADER_CONTENT_KECCAK, "not text".into()))
        .and_then(veriflop_verifier::auth::parse_digest)?;
    let signer = authenticate_with(state, &head.headers, &head.method, &head.path_and_query, |a, venue, now, w| {
        a.verify_digest(venue, head.method.as_str(), &head.path_and_query, &declared, now, w)
    })
    .await?;
    Ok((signer, declared))
}

/// Authenticates a signed request without a body (downloads, claims).
async fn authenticate_empty(state: &State, head: &Head) -> Result<Address, ApiError> {
    authenticate_with(state, &head.headers, &head.method, &head.path_and_query, |a, venue, now, w| {
        a.verify(venue, head.method.as_str(), &head.path_and_query, &[], now, w)
    })
    .await
}

/// Recomputes the commitment of a spooled upload on the blocking pool. An
/// inference job (`model`: its cm_b) commits its input (A) and output (C)
/// under the model key's bases; its B is the model file, whose commitment is
/// the model word of its digest.
pub(crate) async fn commitment(
    state: &State,
    circuit: CircuitKind,
    shape: Shape,
    role: Role,
    file: PathBuf,
    model: Option<ark_bn254::Fr>,
) -> Result<ark_bn254::Fr, ApiError> {
    let model_ck = match (circuit, model) {
        (CircuitKind::Inference, Some(m)) => Some(super::handlers::model_key(state, m, shape).await?.ck),
        (CircuitKind::Inference, None) => {
            return Err(ApiError::bad_request("unknown_shape", "inference data needs its job's model".to_string()))
        }
        _ => None,
    };
    let keys = state.keys.clone();
    tokio::task::spawn_blocking(move || {
        if circuit == CircuitKind::Inference && role == Role::B {
            return model_file_word(&file);
        }
        let ck = match circuit {
            CircuitKind::Inference => model_ck,
            CircuitKind::Committed => Some(keys.commit_key(&shape).map_err(|e| {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "key_unavailable", format!("commitment key: {e}"))
            })?),
            _ => None,
        };
        let f = std::fs::File::open(&file).map_err(|e| ApiError::internal(format!("reopening the upload: {e}")))?;
        let mut r = MatrixReader::new(f).map_err(|e| ApiError::bad_request("malformed_matrix", e.to_string()))?;
        commit_stream(circuit, &shape, role, ck.as_deref(), &mut r).map_err(|e| match e {
            veriflop_circuits::Error::Shape(_) | veriflop_circuits::Error::Range(_) => {
                ApiError::bad_request("invalid_matrix", e.to_string())
            }
            _ => ApiError::bad_request("malformed_matrix", e.to_string()),
        })
    })
    .await
    .map_err(|e| ApiError::internal(format!("commitment task failed: {e}")))?
}

/// The model word of an uploaded model file (an inference job's B).
fn model_file_word(file: &std::path::Path) -> Result<ark_bn254::Fr, ApiError> {
    let bytes = std::fs::read(file).map_err(|e| ApiError::internal(format!("reopening the upload: {e}")))?;
    let model =
        veriflop_infer::Model::from_json(&bytes).map_err(|e| ApiError::bad_request("invalid_model", e.to_string()))?;
    Ok(veriflop_verifier::verify::model_word(&model.digest()))
}

async fn store(state: &State, sp: &Spooled) -> Result<String, ApiError> {
    let key = key_of(&sp.sha256);
    state.blobs.put_file(&key, &sp.path, sp.len).await.map_err(|e| {
        tracing::error!("blob store: {e}");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "blob_store_unavailable", e.to_string())
    })?;
    Ok(key)
}

async fn job_or_404(state: &State, id: &JobId) -> Result<JobRecord, ApiError> {
    state.ledger.job(id).await?.ok_or_else(|| unknown_job(id))
}

fn parse_input(s: &str) -> Result<Input, ApiError> {
    Input::from_str(s).map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "no_route", e))
}

/// `PUT /v1/jobs/{id}/inputs/{a|b}` (signed by the job's client).
pub(super) async fn put_input<S, B>(id: String, which: String, state: Arc<State>, head: Head, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let r = async {
        let id = parse_job_id(&id)?;
        let input = parse_input(&which)?;
        let rec = job_or_404(&state, &id).await?;
        let (signer, declared) = authenticate_streamed(&state, &head).await?;
        if signer != rec.client {
            return Err(not_client(&rec, "upload its inputs"));
        }
        if rec.state != EscrowState::Locked {
            return Err(closed(&rec));
        }
        let s = rec.job.shape;
        let (rows, cols) = match input {
            Input::A => (s.m, s.k),
            Input::B => (s.k, s.n),
        };
        let limit = if rec.job.circuit == CircuitKind::Inference && input == Input::B {
            state.config.max_upload_bytes // the model file
        } else {
            max_file_bytes(rows as u64 * cols as u64, 8).min(state.config.max_upload_bytes)
        };
        let t = std::time::Instant::now();
        let sp = spool(&head.headers, body, limit, state.body_timeout(), &state.spool_dir, declared).await?;
        let receive_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let role = match input {
            Input::A => Role::A,
            Input::B => Role::B,
        };
        let cm = commitment(&state, rec.job.circuit, s, role, sp.path.to_path_buf(), Some(rec.job.cm_b)).await?;
        let want = match input {
            Input::A => rec.job.cm_a,
            Input::B => rec.job.cm_b,
        };
        if cm != want {
            return Err(ApiError::bad_request(
                "commitment_mismatch",
                format!(
                    "this {} does not match the job's cm_{}: it is not the data the job committed to; nothing was stored",
                    input.as_str().to_uppercase(),
                    input.as_str().to_uppercase()
                ),
            ));
        }
        let check_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let key = store(&state, &sp).await?;
        let store_s = t.elapsed().as_secs_f64();
        if !state.ledger.set_input(&id, input, &key, unix_now()).await? {
            let rec = job_or_404(&state, &id).await?;
            if rec.state != EscrowState::Locked {
                return Err(closed(&rec));
            }
            // Same matrix in another encoding: the first stored one stands.
        }
        let m = state.ledger.market(&id).await?;
        state.metrics.uploaded_bytes.fetch_add(sp.len, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("job {id}: input {} stored ({} bytes)", input.as_str(), sp.len);
        Ok(json_response(
            StatusCode::OK,
            &StoredInput {
                job_id: id,
                input,
                bytes: sp.len,
                sha256: sp.sha256.clone(),
                offered: m.and_then(|m| m.offered_at).is_some(),
                receive_s,
                check_s,
                store_s,
            },
        ))
    }
    .await;
    finish(&state, r)
}

fn not_client(rec: &JobRecord, what: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "not_client", format!("only the job's client {} may {what}", rec.client))
}

/// Streams a blob as the response (bounded channel: the store is read as the client reads).
pub(crate) async fn blob_response(state: &State, key: &str) -> Result<Response, ApiError> {
    let (size, mut stream) = state.blobs.get(key).await.map_err(|e| {
        tracing::error!("blob store: {e}");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "blob_store_unavailable", e.to_string())
    })?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let metrics = state.metrics.clone();
    tokio::spawn(async move {
        while let Some(c) = stream.next().await {
            let c = c.map_err(|e| std::io::Error::other(e.to_string()));
            if let Ok(b) = &c {
                metrics.downloaded_bytes.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            if tx.send(c).await.is_err() {
                return; // the client went away
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut r = warp::reply::Reply::into_response(warp::reply::stream(body));
    let h = r.headers_mut();
    h.insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/octet-stream"));
    h.insert(warp::http::header::CONTENT_LENGTH, warp::http::HeaderValue::from(size));
    if let Some(sha) = key.strip_prefix("sha256/").and_then(|s| warp::http::HeaderValue::from_str(s).ok()) {
        h.insert("x-veriflop-sha256", sha);
    }
    Ok(r)
}

/// `GET /v1/jobs/{id}/inputs/{a|b}` (signed by the client or the lease holder).
pub(super) async fn get_input(id: String, which: String, state: Arc<State>, head: Head) -> Response {
    let r = async {
        let id = parse_job_id(&id)?;
        let input = parse_input(&which)?;
        let rec = job_or_404(&state, &id).await?;
        let signer = authenticate_empty(&state, &head).await?;
        let m = state.ledger.market(&id).await?.ok_or_else(|| not_stored(&id, input))?;
        let now = unix_now();
        if signer != rec.client && m.lease_holder(now) != Some(signer) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_lease_holder",
                format!("only the job's client and the provider holding its lease may download its inputs; claim it first (POST /v1/jobs/{id}/claim)"),
            ));
        }
        let key = match input {
            Input::A => m.a_blob,
            Input::B => m.b_blob,
        }
        .ok_or_else(|| not_stored(&id, input))?;
        blob_response(&state, &key).await
    }
    .await;
    finish(&state, r)
}

fn not_stored(id: &JobId, input: Input) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "input_missing", format!("job {id}'s input {} is not stored", input.as_str()))
}

/// `POST /v1/jobs/{id}/claim` (signed by a provider, empty body).
pub(super) async fn claim(id: String, state: Arc<State>, head: Head) -> Response {
    let r = async {
        let id = parse_job_id(&id)?;
        let provider = authenticate_empty(&state, &head).await?;
        match state.ledger.claim(&id, provider, unix_now()).await? {
            Claim::Granted { expires, renewed } => {
                if renewed {
                    state.metrics.claims.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!("job {id}: claimed by {provider} until {expires}");
                }
                Ok(json_response(StatusCode::OK, &Lease { job_id: id, provider, expires_at: expires, new: renewed }))
            }
            Claim::Held { by, until } => {
                Err(ApiError::new(StatusCode::CONFLICT, "claimed", format!("job {id} is leased to {by} until {until}")))
            }
            Claim::NotOffered => Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_offered",
                format!("job {id} is not offered: its client has not stored both inputs"),
            )),
            Claim::InsufficientStake { stake, balance } => Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_funds",
                format!("claiming job {id} takes a stake of {stake}; {provider} has {balance}; deposit first"),
            )),
            Claim::Closed(rec) => Err(closed(&rec)),
            Claim::Unknown => Err(unknown_job(&id)),
        }
    }
    .await;
    finish(&state, r)
}

/// `POST /v1/jobs/{id}/unclaim` (signed by the lease holder): gives the lease
/// back; a stake it put down goes to the client (the lease ends without a result).
pub(super) async fn unclaim(id: String, state: Arc<State>, head: Head) -> Response {
    let r = async {
        let id = parse_job_id(&id)?;
        let provider = authenticate_empty(&state, &head).await?;
        job_or_404(&state, &id).await?;
        if !state.ledger.unclaim(&id, provider, unix_now()).await? {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_lease_holder",
                format!("{provider} holds no valid lease on job {id}"),
            ));
        }
        tracing::info!("job {id}: lease given back by {provider}");
        Ok(json_response(StatusCode::OK, &view(&state, &job_or_404(&state, &id).await?).await?))
    }
    .await;
    finish(&state, r)
}

/// `PUT /v1/jobs/{id}/result` (signed by a provider): C, kept for the provider's proof.
pub(super) async fn put_result<S, B>(id: String, state: Arc<State>, head: Head, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let r = async {
        let id = parse_job_id(&id)?;
        let rec = job_or_404(&state, &id).await?;
        let (provider, declared) = authenticate_streamed(&state, &head).await?;
        let now = unix_now();
        // A repeat by the provider already paid (a retried delivery) answers with what was delivered.
        let repeat = rec.state == EscrowState::Released && rec.payee == Some(provider);
        if !repeat && (rec.state != EscrowState::Locked || rec.deadline <= now) {
            return Err(closed(&rec));
        }
        if let Some(by) = state.ledger.market(&id).await?.and_then(|m| m.lease_holder(now)) {
            if by != provider {
                return Err(claimed_by_other(&id, by));
            }
        }
        let s = rec.job.shape;
        let limit = max_file_bytes(s.m as u64 * s.n as u64, 16).min(state.config.max_upload_bytes);
        let sp = spool(&head.headers, body, limit, state.body_timeout(), &state.spool_dir, declared).await?;
        let cm_c = commitment(&state, rec.job.circuit, s, Role::C, sp.path.to_path_buf(), Some(rec.job.cm_b)).await?;
        if repeat {
            let r = state.ledger.result(&id, provider).await?.ok_or_else(|| closed(&rec))?;
            return Ok(json_response(
                StatusCode::OK,
                &StoredResultView {
                    job_id: id,
                    provider,
                    cm_c: r.cm_c,
                    bytes: r.bytes as u64,
                    sha256: sp.sha256.clone(),
                },
            ));
        }
        let key = store(&state, &sp).await?;
        let stored = StoredResult { blob: key, bytes: sp.len as i64, cm_c };
        if !state.ledger.put_result(&id, provider, &stored, unix_now()).await? {
            return Err(closed(&job_or_404(&state, &id).await?));
        }
        state.metrics.uploaded_bytes.fetch_add(sp.len, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("job {id}: result stored for {provider} ({} bytes)", sp.len);
        Ok(json_response(
            StatusCode::OK,
            &StoredResultView { job_id: id, provider, cm_c, bytes: sp.len, sha256: sp.sha256.clone() },
        ))
    }
    .await;
    finish(&state, r)
}

pub(super) fn claimed_by_other(id: &JobId, by: Address) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "claimed_by_other", format!("job {id} is leased to another provider, {by}"))
}

/// `GET /v1/jobs/{id}/result` (signed by the client): the delivered C.
pub(super) async fn get_result(id: String, state: Arc<State>, head: Head) -> Response {
    let r = async {
        let id = parse_job_id(&id)?;
        let rec = job_or_404(&state, &id).await?;
        let signer = authenticate_empty(&state, &head).await?;
        if signer != rec.client {
            return Err(not_client(&rec, "download its result"));
        }
        let key = state.ledger.market(&id).await?.and_then(|m| m.result_blob).ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "not_delivered",
                format!("job {id} is {}: a result is delivered with the release", rec.state.as_str()),
            )
        })?;
        blob_response(&state, &key).await
    }
    .await;
    finish(&state, r)
}

/// Largest page of the open-jobs listing.
pub const MAX_PAGE: i64 = 100;

/// `GET /v1/market/jobs?system=&circuit=&shape=MxKxN&dtype=&min_price=&limit=&after=`.
pub(super) async fn open_jobs(state: Arc<State>, query: std::collections::HashMap<String, String>) -> Response {
    let r = async {
        let bad = |what: &str, e: &dyn std::fmt::Display| ApiError::bad_request("bad_query", format!("{what}: {e}"));
        let mut f = OpenFilter { limit: MAX_PAGE, ..Default::default() };
        for (k, v) in &query {
            match k.as_str() {
                "system" => f.system = Some(ProofSystem::from_str(v).map_err(|e| bad("system", &e))?),
                "circuit" => f.circuit = Some(CircuitKind::from_str(v).map_err(|e| bad("circuit", &e))?),
                "shape" => f.dims = Some(veriflop_circuits::shape::parse_dims(v).map_err(|e| bad("shape", &e))?),
                "dtype" => f.dtype = Some(Dtype::from_str(v).map_err(|e| bad("dtype", &e))?),
                "min_price" => f.min_price = Some(v.parse().map_err(|e| bad("min_price", &e))?),
                "limit" => {
                    f.limit = v.parse::<i64>().map_err(|e| bad("limit", &e))?.clamp(1, MAX_PAGE);
                }
                "after" => {
                    let (at, id) = v.split_once(':').ok_or_else(|| bad("after", &"expected the `next` of a page"))?;
                    let at = at.parse::<i64>().map_err(|e| bad("after", &e))?;
                    f.after = Some((at, parse_job_id(id)?.to_string()));
                }
                other => return Err(bad("unknown parameter", &other)),
            }
        }
        let rows = state.ledger.open_jobs(&f, unix_now()).await?;
        let next = (rows.len() as i64 == f.limit)
            .then(|| rows.last().map(|(j, m)| format!("{}:{}", m.offered_at.unwrap_or(0), j.job.job_id)))
            .flatten();
        let jobs = rows
            .into_iter()
            .map(|(j, m)| OpenJob {
                job_id: j.job.job_id,
                system: j.job.system,
                circuit: j.job.circuit,
                shape: j.job.shape,
                cm_a: j.job.cm_a,
                cm_b: j.job.cm_b,
                client: j.client,
                price: j.price.to_string(),
                deadline: j.deadline,
                lease_secs: m.lease_secs,
                lease_stake: m.lease_stake.to_string(),
                offered_at: m.offered_at.unwrap_or(0),
            })
            .collect();
        Ok(json_response(StatusCode::OK, &OpenJobs { jobs, next }))
    }
    .await;
    finish(&state, r)
}
