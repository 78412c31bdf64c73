//! Route handlers. Each returns a response (never a warp rejection) and never
//! panics on input; errors are [`ApiError`]s counted in the metrics by code.

use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use sha2::Digest;
use veriflop_circuits::{Address, CircuitKind, Job, JobId, ProofSystem, Shape};
use warp::http::StatusCode;
use warp::reply::Response;

use super::api::{
    AccountView, Health, JobView, MarketView, RegisterJob, ShapeInfo, SubmitOutcome, SubmitResponse, VenueInfo,
};
use super::error::{json_response, ApiError};
use super::keys::KeyLoadError;
use super::{RequestParts, State};
use crate::keys::ModelKey;
use crate::ledger::{EscrowState, Insert, JobRecord, Refund, Release};
use veriflop_verifier::auth::{unix_now, AuthHeaders};
use veriflop_verifier::bundle::ProofBundle;
use veriflop_verifier::verify::{JobTerms, Verifier, VerifyError};

pub(super) fn finish(state: &State, r: Result<Response, ApiError>) -> Response {
    match r {
        Ok(r) => r,
        Err(e) => {
            if e.status.is_server_error() {
                tracing::warn!("{} {}: {}", e.status, e.code, e.message);
            } else {
                tracing::debug!("rejected {}: {}", e.code, e.message);
            }
            state.metrics.reject(e.code);
            e.into_response()
        }
    }
}

pub(super) fn parse_job_id(s: &str) -> Result<JobId, ApiError> {
    JobId::from_str(s).map_err(|e| ApiError::bad_request("malformed_job_id", format!("job id {s:?}: {e}")))
}

/// Checks the signature, timestamp, rate limit and nonce; returns the signer.
async fn authenticate(state: &State, req: &RequestParts, body: &[u8]) -> Result<Address, ApiError> {
    authenticate_with(state, &req.headers, &req.method, &req.path_and_query, |a, venue, now, window| {
        a.verify(venue, req.method.as_str(), &req.path_and_query, body, now, window)
    })
    .await
}

/// [`authenticate`] with the signature check given (`check(headers, venue, now, window)`).
pub(super) async fn authenticate_with(
    state: &State,
    h: &warp::http::HeaderMap,
    _method: &warp::http::Method,
    _path: &str,
    check: impl FnOnce(
        &AuthHeaders,
        &veriflop_circuits::Bytes32,
        i64,
        u64,
    ) -> Result<Address, veriflop_verifier::auth::AuthError>,
) -> Result<Address, ApiError> {
    let auth = AuthHeaders::parse(|name| h.get(name).and_then(|v| v.to_str().ok()))?;
    let now = unix_now();
    let window = state.config.timestamp_window_secs;
    let signer = check(&auth, &state.venue_id, now, window)?;
    if !state.limiter.allow(signer) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests from {signer}; try again later"),
        ));
    }
    let expires = auth.timestamp.saturating_add(window as i64);
    if !state.ledger.use_nonce(signer, &auth.nonce, expires).await? {
        return Err(veriflop_verifier::auth::AuthError::Replay(auth.nonce).into());
    }
    Ok(signer)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("malformed_json", format!("request body: {e}")))
}

pub(super) async fn view(state: &State, rec: &JobRecord) -> Result<JobView, ApiError> {
    let events = state.ledger.events(&rec.job.job_id).await?;
    let mut v = JobView::new(rec, events);
    v.market = state.ledger.market(&rec.job.job_id).await?.map(|m| MarketView::new(&m, unix_now()));
    Ok(v)
}

/// Why a job takes no more work: settled, or past its deadline.
pub(super) fn closed(rec: &JobRecord) -> ApiError {
    if rec.state == EscrowState::Locked {
        expired(rec)
    } else {
        settled(rec)
    }
}

pub(super) fn key_error(e: KeyLoadError) -> ApiError {
    match e {
        KeyLoadError::Missing { .. }
        | KeyLoadError::MissingModel { .. }
        | KeyLoadError::NoSrs { .. }
        | KeyLoadError::SrsTooSmall { .. }
        | KeyLoadError::NotAllowed { .. }
        | KeyLoadError::Unsupported { .. } => {
            ApiError::bad_request("unknown_shape", format!("this verifier has no key for that job: {e}"))
        }
        KeyLoadError::Invalid { .. } | KeyLoadError::Config(_) | KeyLoadError::MissingCommitKey { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "key_unavailable", e.to_string())
        }
    }
}

/// The verifier for a job's system, circuit and shape (and model: an
/// inference job's cm_b). What can be refused without key work is refused
/// here (a halo2 shape off the allow-list, among others); loading a key file
/// blocks, so a key not loaded yet is fetched on the blocking pool. (halo2 keys
/// of allowed shapes are obtained at start-up.)
pub(super) async fn verifier_for(
    state: &State,
    system: ProofSystem,
    circuit: CircuitKind,
    shape: Shape,
    model: ark_bn254::Fr,
) -> Result<Arc<Verifier>, ApiError> {
    if circuit == CircuitKind::Inference {
        return Ok(model_key(state, model, shape).await?.verifier);
    }
    if let Some(v) = state.keys.cached(system, circuit, &shape) {
        return Ok(v);
    }
    state.keys.precheck(system, circuit, &shape).map_err(key_error)?;
    let keys = state.keys.clone();
    tokio::task::spawn_blocking(move || keys.get(system, circuit, &shape))
        .await
        .map_err(|e| ApiError::internal(format!("key loading failed: {e}")))?
        .map_err(key_error)
}

/// An inference job's model key (loaded, or read from the key directory on the blocking pool).
pub(super) async fn model_key(state: &State, model: ark_bn254::Fr, shape: Shape) -> Result<ModelKey, ApiError> {
    let keys = state.keys.clone();
    tokio::task::spawn_blocking(move || keys.model(model, &shape))
        .await
        .map_err(|e| ApiError::internal(format!("key loading failed: {e}")))?
        .map_err(key_error)
}

pub(super) async fn register(state: Arc<State>, req: RequestParts) -> Response {
    let r = register_inner(&state, req).await;
    finish(&state, r)
}

async fn register_inner(state: &State, req: RequestParts) -> Result<Response, ApiError> {
    let body = req.body.clone()?;
    let signer = authenticate(state, &req, &body).await?;
    let r: RegisterJob = parse_json(&body)?;
    r.shape.validate().map_err(|e| ApiError::bad_request("invalid_job", e.to_string()))?;
    if r.client != signer {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "client_mismatch",
            format!("the job names client {} but the request is signed by {signer}", r.client),
        ));
    }
    let max_price = state.config.max_price;
    let price = (!r.price.is_empty() && r.price.len() <= 20 && r.price.bytes().all(|b| b.is_ascii_digit()))
        .then(|| r.price.parse::<u64>().ok())
        .flatten()
        .filter(|p| (1..=max_price).contains(p))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_price",
                format!("price {:?} is not an integer from 1 to {max_price}", r.price),
            )
        })?;
    let lease_stake = match r.lease_stake.as_deref() {
        None => 0,
        Some(x) => (!x.is_empty() && x.len() <= 20 && x.bytes().all(|b| b.is_ascii_digit()))
            .then(|| x.parse::<u64>().ok())
            .flatten()
            .filter(|s| *s <= max_price)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_price",
                    format!("lease_stake {x:?} is not an integer from 0 to {max_price}"),
                )
            })?,
    };
    let job_id = state.venue.job_id(signer, &r.nonce);
    if r.job_id.is_some_and(|id| id != job_id) {
        return Err(ApiError::bad_request(
            "job_id_mismatch",
            format!(
                "job ids here are derived from venue {}, client {signer} and nonce {}: expected {job_id}",
                state.venue, r.nonce
            ),
        ));
    }
    let now = unix_now();
    if r.deadline <= now {
        return Err(ApiError::bad_request(
            "invalid_job",
            format!("deadline {} is not in the future (now {now})", r.deadline),
        ));
    }
    if r.deadline - now > state.config.max_job_ttl_secs as i64 {
        return Err(ApiError::bad_request(
            "invalid_job",
            format!("deadline is more than {} s away", state.config.max_job_ttl_secs),
        ));
    }
    let ttl = (r.deadline - now) as u64;
    let lease_secs = r.lease_secs.unwrap_or(state.config.default_lease_secs.min(ttl));
    if lease_secs == 0 || lease_secs > ttl {
        return Err(ApiError::bad_request(
            "invalid_job",
            format!("lease_secs {lease_secs} must be from 1 to the {ttl} s left before the deadline"),
        ));
    }
    r.system.check_circuit(r.circuit).map_err(|e| ApiError::bad_request("invalid_job", e.to_string()))?;
    verifier_for(state, r.system, r.circuit, r.shape, r.cm_b).await?;
    let job = Job { job_id, system: r.system, circuit: r.circuit, shape: r.shape, cm_a: r.cm_a, cm_b: r.cm_b };
    let rec = JobRecord {
        job,
        client: signer,
        price: price as u128,
        deadline: r.deadline,
        state: EscrowState::Locked,
        payee: None,
        created_at: now,
        settled_at: None,
        version: 1,
        nonce: r.nonce,
    };
    match state
        .ledger
        .insert_job(&rec, lease_secs as i64, lease_stake as i64, state.config.max_open_jobs_per_client)
        .await?
    {
        Insert::Inserted => {}
        Insert::Exists => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "job_exists",
                format!("job {} is already registered (nonce {} was used)", rec.job.job_id, rec.nonce),
            ))
        }
        Insert::InsufficientFunds { balance } => {
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_funds",
                format!("{signer} has {balance}, less than the price {price}; deposit first"),
            ))
        }
        Insert::QuotaExceeded { open } => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                format!("{signer} already has {open} open jobs, the most allowed here; wait for one to settle"),
            ))
        }
    }
    state.metrics.jobs_registered.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        "job {} registered by {signer}: {} {}, price {price}",
        rec.job.job_id,
        rec.job.circuit,
        rec.job.shape
    );
    Ok(json_response(StatusCode::CREATED, &view(state, &rec).await?))
}

pub(super) async fn get_job(id: String, state: Arc<State>) -> Response {
    let r = async {
        let id = parse_job_id(&id)?;
        let rec = state.ledger.job(&id).await?.ok_or_else(|| unknown_job(&id))?;
        Ok(json_response(StatusCode::OK, &view(&state, &rec).await?))
    }
    .await;
    finish(&state, r)
}

pub(super) fn unknown_job(id: &JobId) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_job", format!("no job {id} is registered here"))
}

fn settled(rec: &JobRecord) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "already_settled",
        format!(
            "job {} is already {} (to {})",
            rec.job.job_id,
            rec.state.as_str(),
            rec.payee.map(|a| a.to_string()).unwrap_or_default()
        ),
    )
}

fn expired(rec: &JobRecord) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "job_expired",
        format!("job {} passed its deadline {}; no proof is accepted now", rec.job.job_id, rec.deadline),
    )
}

/// The answer to a repeat submission by the provider already paid.
async fn already_released(state: &State, rec: &JobRecord) -> Result<Response, ApiError> {
    let events = state.ledger.events(&rec.job.job_id).await?;
    let ev = events.iter().find(|e| e.kind == "released");
    Ok(json_response(
        StatusCode::OK,
        &SubmitResponse {
            job_id: rec.job.job_id,
            outcome: SubmitOutcome::AlreadyReleased,
            state: rec.state,
            payee: rec.payee.unwrap_or(Address([0; 20])),
            amount: rec.price.to_string(),
            event_seq: ev.map(|e| e.seq).unwrap_or(0),
            proof_digest: ev.and_then(|e| e.proof_digest.clone()),
        },
    ))
}

pub(super) async fn submit(id: String, state: Arc<State>, req: RequestParts) -> Response {
    let start = Instant::now();
    let r = submit_inner(&state, id, req).await;
    state.metrics.submit_seconds.observe(start.elapsed().as_secs_f64());
    finish(&state, r)
}

async fn submit_inner(state: &State, id: String, req: RequestParts) -> Result<Response, ApiError> {
    let body = req.body.clone()?;
    let provider = authenticate(state, &req, &body).await?;
    let id = parse_job_id(&id)?;
    let bundle = ProofBundle::decode(&body)?;
    let rec = state.ledger.job(&id).await?.ok_or_else(|| unknown_job(&id))?;
    match rec.state {
        EscrowState::Released if rec.payee == Some(provider) => return already_released(state, &rec).await,
        EscrowState::Locked => {}
        _ => return Err(settled(&rec)),
    }
    if unix_now() >= rec.deadline {
        return Err(expired(&rec));
    }
    if bundle.circuit != rec.job.circuit {
        return Err(VerifyError::CircuitMismatch {
            expected: rec.job.circuit.to_string(),
            got: bundle.circuit.to_string(),
        }
        .into());
    }
    // The payee is the authenticated submitter: a proof binding another
    // address is refused here, so nobody can be paid for someone else's proof.
    // Another provider's valid lease excludes this one (checked again at release).
    if let Some(by) = state.ledger.market(&id).await?.and_then(|m| m.lease_holder(unix_now())) {
        if by != provider {
            return Err(super::data::claimed_by_other(&id, by));
        }
    }
    let terms = JobTerms { job: rec.job.clone(), provider: Some(provider) };
    terms.check(&bundle)?;
    let verifier = verifier_for(state, rec.job.system, rec.job.circuit, rec.job.shape, rec.job.cm_b).await?;

    // CPU-heavy pairing check on the blocking pool, bounded concurrency and queue.
    let waiting = state.verify_waiting.fetch_add(1, Ordering::SeqCst);
    struct Waiting<'a>(&'a State);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.verify_waiting.fetch_sub(1, Ordering::SeqCst);
            self.0.metrics.verify_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
    state.metrics.verify_in_flight.fetch_add(1, Ordering::Relaxed);
    let guard = Waiting(state);
    if waiting >= state.config.verify_queue + state.config.verify_concurrency {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many proofs waiting for verification; retry later",
        ));
    }
    let permit = state.verify_slots.acquire().await.map_err(|_| ApiError::internal("verification pool closed"))?;
    let b = bundle.clone();
    let result = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let r = verifier.verify(&b);
        (r, t.elapsed())
    })
    .await;
    drop(permit);
    drop(guard);
    let (result, took) = result.map_err(|e| ApiError::internal(format!("verification task failed: {e}")))?;
    state.metrics.verify_seconds.observe(took.as_secs_f64());
    match &result {
        Ok(()) => state.metrics.verifications_valid.fetch_add(1, Ordering::Relaxed),
        Err(_) => state.metrics.verifications_invalid.fetch_add(1, Ordering::Relaxed),
    };
    result?;

    // Payment only for a delivered result: the provider's stored C must be the
    // one the proof commits to (the release re-checks it in its transaction).
    let cm_c = bundle.statement.cm_c;
    match state.ledger.result(&id, provider).await? {
        None => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "result_missing",
                format!(
                    "upload C first (PUT /v1/jobs/{id}/result): the escrow is released only for a delivered result"
                ),
            ))
        }
        Some(r) if r.cm_c != cm_c => {
            return Err(ApiError::bad_request(
                "result_mismatch",
                format!(
                    "the uploaded C commits to {}, the proof to {}: upload the C that was proven",
                    veriflop_circuits::field::fr_to_hex(&r.cm_c),
                    veriflop_circuits::field::fr_to_hex(&cm_c)
                ),
            ))
        }
        Some(_) => {}
    }
    let wire = bundle.to_bytes();
    let digest = hex::encode(sha2::Sha256::digest(&wire));
    match state.ledger.release(&id, provider, &digest, &cm_c, &wire, unix_now()).await? {
        Release::Released { seq, amount } => {
            state.metrics.releases.fetch_add(1, Ordering::Relaxed);
            tracing::info!("job {id}: escrow {amount} released to {provider} (event {seq})");
            Ok(json_response(
                StatusCode::OK,
                &SubmitResponse {
                    job_id: id,
                    outcome: SubmitOutcome::Released,
                    state: EscrowState::Released,
                    payee: provider,
                    amount: amount.to_string(),
                    event_seq: seq,
                    proof_digest: Some(digest),
                },
            ))
        }
        Release::NotLocked(rec) if rec.state == EscrowState::Released && rec.payee == Some(provider) => {
            already_released(state, &rec).await
        }
        Release::NotLocked(rec) => Err(settled(&rec)),
        Release::Expired(rec) => Err(expired(&rec)),
        Release::ClaimedByOther { by, .. } => Err(super::data::claimed_by_other(&id, by)),
        Release::NoResult => Err(ApiError::new(
            StatusCode::CONFLICT,
            "result_missing",
            format!("job {id}: the uploaded C changed during the release; upload the C that was proven"),
        )),
        Release::Unknown => Err(unknown_job(&id)),
    }
}

pub(super) async fn refund(id: String, state: Arc<State>, req: RequestParts) -> Response {
    let r = refund_inner(&state, id, req).await;
    finish(&state, r)
}

async fn refund_inner(state: &State, id: String, req: RequestParts) -> Result<Response, ApiError> {
    let body = req.body.clone()?;
    let signer = authenticate(state, &req, &body).await?;
    let id = parse_job_id(&id)?;
    let rec = state.ledger.job(&id).await?.ok_or_else(|| unknown_job(&id))?;
    if rec.client != signer {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_client",
            format!("only the job's client {} can ask for its refund", rec.client),
        ));
    }
    match state.ledger.refund(&id, signer, unix_now()).await? {
        Refund::Refunded { amount, .. } => {
            state.metrics.refunds.fetch_add(1, Ordering::Relaxed);
            tracing::info!("job {id}: escrow {amount} refunded to {signer}");
        }
        // Idempotent: a second refund request answers with the refunded job.
        Refund::NotLocked(r) if r.state == EscrowState::Refunded => {}
        Refund::NotLocked(r) => return Err(settled(&r)),
        Refund::NotYetDue(r) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "deadline_not_reached",
                format!("job {id} can be refunded from its deadline {} on (now {})", r.deadline, unix_now()),
            ))
        }
        Refund::Unknown => return Err(unknown_job(&id)),
    }
    let rec = state.ledger.job(&id).await?.ok_or_else(|| unknown_job(&id))?;
    Ok(json_response(StatusCode::OK, &view(state, &rec).await?))
}

pub(super) async fn venue(state: Arc<State>) -> Response {
    json_response(
        StatusCode::OK,
        &VenueInfo {
            venue: state.venue.to_string(),
            venue_id: state.venue_id,
            max_price: state.config.max_price.to_string(),
            max_open_jobs: state.config.max_open_jobs_per_client,
        },
    )
}

pub(super) async fn account(address: String, state: Arc<State>) -> Response {
    let r = async {
        let a = Address::from_str(&address)
            .map_err(|e| ApiError::bad_request("malformed_address", format!("address {address:?}: {e}")))?;
        let acct = state.ledger.account(a).await?;
        let events = state.ledger.account_events(a).await?;
        Ok(json_response(
            StatusCode::OK,
            &AccountView { address: a, balance: acct.balance.to_string(), open_jobs: acct.open_jobs, events },
        ))
    }
    .await;
    finish(&state, r)
}

pub(super) async fn shapes(state: Arc<State>) -> Response {
    let list: Vec<ShapeInfo> = state
        .keys
        .list()
        .into_iter()
        .map(|(system, circuit, shape, fingerprint)| ShapeInfo { system, circuit, shape, fingerprint })
        .collect();
    json_response(StatusCode::OK, &list)
}

pub(super) async fn health(state: Arc<State>) -> Response {
    let keys = state.keys.list().len();
    match state.ledger.ping().await {
        Ok(()) => json_response(StatusCode::OK, &Health { status: "ok".into(), ledger: "ok".into(), keys }),
        Err(e) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &Health { status: "degraded".into(), ledger: e.to_string(), keys },
        ),
    }
}

pub(super) async fn metrics(state: Arc<State>) -> Response {
    let mut r = Response::new((state.metrics.render() + &state.keys.render_metrics()).into());
    r.headers_mut()
        .insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

/// `GET /v1/jobs/{id}/proof`: the bundle accepted with the release (public, as
/// it would be on-chain), so a client can verify it and check its C against cm_C.
pub(super) async fn get_proof(id: String, state: Arc<State>) -> Response {
    let r = async {
        let id = parse_job_id(&id)?;
        let rec = state.ledger.job(&id).await?.ok_or_else(|| unknown_job(&id))?;
        let bundle = state.ledger.delivered_bundle(&id).await?.ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "not_delivered",
                format!("job {id} is {}: its proof is published with the release", rec.state.as_str()),
            )
        })?;
        let mut r = Response::new(bundle.into());
        r.headers_mut()
            .insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/octet-stream"));
        Ok(r)
    }
    .await;
    finish(&state, r)
}
