//! The verifier service over real HTTP on loopback with a real SQLite ledger:
//! happy path, every rejection reason, concurrent duplicates, the OpenAPI file
//! against the real routes.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use veriflop_circuits::{Address, JobId};
use veriflop_service::client::{spawn_local, Config, SubmitOutcome};
use veriflop_service::ledger::{EscrowState, Ledger};
use veriflop_verifier::auth::{unix_now, Signer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_register_prove_release() {
    let (h, url) = local().await;
    let client_key = Signer::random();
    let provider_key = Signer::random();
    let client = client(&url, &client_key);
    let provider = common::client(&url, &provider_key);

    assert_eq!(client.health().await.unwrap().status, "ok");
    fund(&h, client_key.address()).await;
    let shapes = client.shapes().await.unwrap();
    assert_eq!(shapes.len(), 1);
    assert_eq!(shapes[0].shape, shape());

    let tj = new_job(1).at(&h, client_key.address());
    let job_id = tj.job.job_id;
    let view = client.register_job(&tj.register_request(client_key.address(), 1_000_000, in_an_hour())).await.unwrap();
    assert_eq!(view.state, EscrowState::Locked);
    assert_eq!(view.job(), tj.job);
    assert_eq!(view.events.len(), 1);
    assert_eq!(view.events[0].kind, "registered");
    assert_eq!(view.events[0].actor, client_key.address());

    let p = provider_key.address();
    let c_file = tj.c_file();
    let bundle = tokio::task::spawn_blocking(move || tj.prove(p)).await.unwrap();
    let out = provider.deliver(&job_id, &c_file, &bundle).await.unwrap();
    assert_eq!(out.outcome, SubmitOutcome::Released);
    assert_eq!(out.payee, p);
    assert_eq!(out.amount, "1000000");
    assert_eq!(out.event_seq, 2);

    let view = client.job(&job_id).await.unwrap();
    assert_eq!(view.state, EscrowState::Released);
    assert_eq!(view.payee, Some(p));
    let kinds: Vec<&str> = view.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["registered", "released"]);
    assert_eq!(view.events[1].payee, Some(p));
    assert_eq!(view.events[1].amount.as_deref(), Some("1000000"));
    assert_eq!(view.events[1].proof_digest, out.proof_digest);

    // The same proof again (also as JSON): idempotent, nothing paid twice.
    let again = provider.submit_proof_bytes(&job_id, bundle.to_json().into_bytes()).await.unwrap();
    assert_eq!(again.outcome, SubmitOutcome::AlreadyReleased);
    assert_eq!(again.event_seq, 2);
    // The client cannot refund a released job.
    let e = client.refund(&job_id).await.unwrap_err();
    assert_eq!(e.code(), Some("already_settled"));
    assert_eq!(client.job(&job_id).await.unwrap().events.len(), 2);

    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("veriflop_verifications_total{result=\"valid\"} 1"), "{metrics}");
    assert!(metrics.contains("veriflop_releases_total 1"), "{metrics}");
    assert!(metrics.contains("veriflop_rejections_total{reason=\"already_settled\"} 1"), "{metrics}");
    assert!(metrics.contains("veriflop_verify_seconds_count 1"), "{metrics}");
    assert!(metrics.contains("veriflop_submit_seconds_bucket{le=\"+Inf\"} 2"), "{metrics}");
    assert!(h.state.ledger.audit().await.unwrap().is_empty());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_a_json_error_with_a_stable_code() {
    let (h, url) = local().await;
    let client_key = Signer::random();
    let p1 = Signer::random();
    let p2 = Signer::random();

    fund(&h, client_key.address()).await;
    // Two jobs, honest proofs for P1.
    let job_a = new_job(10).at(&h, client_key.address());
    let job_b = new_job(20).at(&h, client_key.address());
    let ida = job_a.job.job_id;
    for j in [&job_a, &job_b] {
        client(&url, &client_key)
            .register_job(&j.register_request(client_key.address(), 5, in_an_hour()))
            .await
            .unwrap();
    }
    let a1 = p1.address();
    let (job_a, proof_a, proof_b) = tokio::task::spawn_blocking(move || {
        let pa = job_a.prove(a1);
        let pb = job_b.prove(a1);
        (job_a, pa, pb)
    })
    .await
    .unwrap();
    let proof_path = |id: &JobId| format!("/v1/jobs/{id}/proof");

    // unknown job (submit and read)
    let unknown = JobId::random();
    assert_error(&signed(&url, &p1, "POST", &proof_path(&unknown), proof_a.to_bytes()).await, 404, "unknown_job");
    assert_error(&raw(&url, "GET", &format!("/v1/jobs/{unknown}"), &[], vec![]).await, 404, "unknown_job");
    assert_error(&raw(&url, "GET", "/v1/jobs/0xzz", &[], vec![]).await, 400, "malformed_job_id");

    // wrong job: job B's proof submitted for job A
    assert_error(&signed(&url, &p1, "POST", &proof_path(&ida), proof_b.to_bytes()).await, 400, "wrong_job");

    // wrong provider: P2 submits the proof that pays P1
    assert_error(&signed(&url, &p2, "POST", &proof_path(&ida), proof_a.to_bytes()).await, 403, "wrong_provider");
    // ...and rewriting the statement to pay P2 breaks the proof.
    let mut stolen = proof_a.clone();
    stolen.statement.provider = p2.address();
    assert_error(&signed(&url, &p2, "POST", &proof_path(&ida), stolen.to_bytes()).await, 422, "invalid_proof");

    // bad proof: another result commitment (point and digest), or another job's proof relabelled
    let mut bad = proof_a.clone();
    bad.statement.cm_c = proof_b.statement.cm_c;
    bad.commitments.as_mut().unwrap().cm_c = proof_b.commitments.unwrap().cm_c;
    assert_error(&signed(&url, &p1, "POST", &proof_path(&ida), bad.to_bytes()).await, 422, "invalid_proof");
    let mut relabelled = proof_b.clone();
    relabelled.statement = proof_a.statement.clone();
    relabelled.commitments = proof_a.commitments;
    assert_error(&signed(&url, &p1, "POST", &proof_path(&ida), relabelled.to_bytes()).await, 422, "invalid_proof");
    // a commitment point that does not hash to the statement's digest
    let mut digest = proof_a.clone();
    digest.statement.cm_c += ark_bn254::Fr::from(1u64);
    assert_error(&signed(&url, &p1, "POST", &proof_path(&ida), digest.to_bytes()).await, 400, "commitment_mismatch");
    // wrong commitment of A
    let mut cm = proof_a.clone();
    cm.statement.cm_a = proof_b.statement.cm_a;
    assert_error(&signed(&url, &p1, "POST", &proof_path(&ida), cm.to_bytes()).await, 400, "commitment_mismatch");
    // garbage bundles
    assert_error(
        &signed(&url, &p1, "POST", &proof_path(&ida), b"VFPB\x01\x02".to_vec()).await,
        400,
        "malformed_bundle",
    );
    assert_error(
        &signed(&url, &p1, "POST", &proof_path(&ida), b"{\"version\":1".to_vec()).await,
        400,
        "malformed_bundle",
    );
    let mut truncated = proof_a.to_bytes();
    truncated.truncate(truncated.len() - 7);
    assert_error(&signed(&url, &p1, "POST", &proof_path(&ida), truncated).await, 400, "malformed_bundle");

    // oversized body: by Content-Length, before reading it
    assert_error(&signed(&url, &p1, "POST", &proof_path(&ida), vec![b'x'; 70_000]).await, 413, "body_too_large");
    assert_error(&signed(&url, &client_key, "POST", "/v1/jobs", vec![b' '; 20_000]).await, 413, "body_too_large");
    // ...and a chunked body without Content-Length is cut off at the limit too
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..40).map(|_| Ok(vec![b'y'; 4096])).collect();
    let resp = reqwest::Client::new()
        .post(format!("{url}{}", proof_path(&ida)))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let v: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(v["code"], "body_too_large");

    // malformed JSON, unknown fields, bad values
    assert_error(&signed(&url, &client_key, "POST", "/v1/jobs", b"{not json".to_vec()).await, 400, "malformed_json");
    let mut req = serde_json::to_value(new_job(30).at(&h, client_key.address()).register_request(
        client_key.address(),
        5,
        in_an_hour(),
    ))
    .unwrap();
    req["surprise"] = 1.into();
    assert_error(
        &signed(&url, &client_key, "POST", "/v1/jobs", req.to_string().into_bytes()).await,
        400,
        "malformed_json",
    );
    let mut req = serde_json::to_value(new_job(31).at(&h, client_key.address()).register_request(
        client_key.address(),
        5,
        in_an_hour(),
    ))
    .unwrap();
    for bad_price in ["-5", "0", "340282366920938463463374607431768211455", "1000000000000000001", "1e3", ""] {
        req["price"] = bad_price.into();
        assert_error(
            &signed(&url, &client_key, "POST", "/v1/jobs", req.to_string().into_bytes()).await,
            400,
            "invalid_price",
        );
    }
    let past = new_job(32).at(&h, client_key.address()).register_request(client_key.address(), 5, unix_now() - 1);
    assert_error(
        &signed(&url, &client_key, "POST", "/v1/jobs", serde_json::to_vec(&past).unwrap()).await,
        400,
        "invalid_job",
    );
    // unknown shape: no key for it
    let mut odd = new_job(33).at(&h, client_key.address()).register_request(client_key.address(), 5, in_an_hour());
    odd.shape = veriflop_circuits::Shape::new(8, 8, 8, veriflop_circuits::Dtype::Int8).unwrap();
    assert_error(
        &signed(&url, &client_key, "POST", "/v1/jobs", serde_json::to_vec(&odd).unwrap()).await,
        400,
        "unknown_shape",
    );
    // client must sign its own job
    let other = new_job(34).at(&h, client_key.address()).register_request(p2.address(), 5, in_an_hour());
    assert_error(
        &signed(&url, &client_key, "POST", "/v1/jobs", serde_json::to_vec(&other).unwrap()).await,
        403,
        "client_mismatch",
    );
    // duplicate job id
    let dup = job_a.register_request(client_key.address(), 5, in_an_hour());
    assert_error(
        &signed(&url, &client_key, "POST", "/v1/jobs", serde_json::to_vec(&dup).unwrap()).await,
        409,
        "job_exists",
    );

    // authentication: missing, bad signature, wrong signer, stale, replay
    let body = proof_a.to_bytes();
    let path = proof_path(&ida);
    assert_error(&raw(&url, "POST", &path, &[], body.clone()).await, 401, "missing_auth");
    let mut auth = p1.sign_request(&h.state.venue_id, "POST", &path, &body, unix_now());
    auth.signature.0[5] ^= 0x40;
    let pairs: Vec<_> = auth.pairs().into_iter().collect();
    assert_error(&raw(&url, "POST", &path, &pairs, body.clone()).await, 401, "bad_signature");
    let mut auth = p1.sign_request(&h.state.venue_id, "POST", &path, &body, unix_now());
    auth.address = p2.address(); // claims to be P2, signed by P1
    let pairs: Vec<_> = auth.pairs().into_iter().collect();
    assert_error(&raw(&url, "POST", &path, &pairs, body.clone()).await, 401, "bad_signature");
    let auth = p1.sign_request(&h.state.venue_id, "POST", &path, &body, unix_now());
    let pairs: Vec<_> = auth.pairs().into_iter().collect();
    assert_error(&raw(&url, "POST", &path, &pairs, b"tampered body".to_vec()).await, 401, "bad_signature");
    let auth = p1.sign_request(&h.state.venue_id, "POST", &path, &body, unix_now() - 3600);
    let pairs: Vec<_> = auth.pairs().into_iter().collect();
    assert_error(&raw(&url, "POST", &path, &pairs, body.clone()).await, 401, "stale_request");
    let mut pairs: Vec<_> =
        p1.sign_request(&h.state.venue_id, "POST", &path, &body, unix_now()).pairs().into_iter().collect();
    pairs[3].1 = "0x1234".into();
    assert_error(&raw(&url, "POST", &path, &pairs, body.clone()).await, 401, "malformed_auth");

    // The valid submission (once its C is delivered), then the very same signed request replayed.
    let e = client(&url, &p1).submit_proof(&ida, &proof_a).await.unwrap_err();
    assert_eq!(e.code(), Some("result_missing"), "{e}");
    client(&url, &p1).upload_result(&ida, &job_a.c_file()).await.unwrap();
    let auth = p1.sign_request(&h.state.venue_id, "POST", &path, &body, unix_now());
    let pairs: Vec<_> = auth.pairs().into_iter().collect();
    let ok = raw(&url, "POST", &path, &pairs, body.clone()).await;
    assert_eq!(ok.0, 200, "{ok:?}");
    assert_eq!(ok.1["outcome"], "released");
    assert_error(&raw(&url, "POST", &path, &pairs, body.clone()).await, 409, "replay");
    // Job A is settled: P2 cannot be paid for it any more.
    assert_error(&signed(&url, &p2, "POST", &path, stolen.to_bytes()).await, 409, "already_settled");

    // expired job: no proof after the deadline; the client gets its refund.
    let job_c = new_job(40).at(&h, client_key.address());
    let idc = job_c.job.job_id;
    let deadline = unix_now() + 4;
    client(&url, &client_key).register_job(&job_c.register_request(client_key.address(), 77, deadline)).await.unwrap();
    let e = client(&url, &client_key).refund(&idc).await.unwrap_err();
    assert_eq!(e.code(), Some("deadline_not_reached"));
    let a1 = p1.address();
    let proof_c = tokio::task::spawn_blocking(move || job_c.prove(a1)).await.unwrap();
    while unix_now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_error(&signed(&url, &p1, "POST", &proof_path(&idc), proof_c.to_bytes()).await, 410, "job_expired");
    assert_error(&signed(&url, &p1, "POST", &format!("/v1/jobs/{idc}/refund"), vec![]).await, 403, "not_client");
    let refunded = client(&url, &client_key).refund(&idc).await.unwrap();
    assert_eq!(refunded.state, EscrowState::Refunded);
    assert_eq!(refunded.payee, Some(client_key.address()));
    assert_eq!(refunded.events.last().unwrap().kind, "refunded");
    assert_eq!(refunded.events.last().unwrap().amount.as_deref(), Some("77"));
    // Refund is idempotent; a proof after it is refused.
    assert_eq!(client(&url, &client_key).refund(&idc).await.unwrap().events.len(), 2);
    assert_error(&signed(&url, &p1, "POST", &proof_path(&idc), proof_c.to_bytes()).await, 409, "already_settled");

    // routes and methods
    assert_error(&raw(&url, "GET", "/v2/nothing", &[], vec![]).await, 404, "no_route");
    assert_error(&raw(&url, "DELETE", &format!("/v1/jobs/{ida}"), &[], vec![]).await, 405, "method_not_allowed");

    // Every rejection was counted under its code.
    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    for code in [
        "unknown_job",
        "wrong_job",
        "wrong_provider",
        "invalid_proof",
        "malformed_bundle",
        "body_too_large",
        "malformed_json",
        "bad_signature",
        "replay",
        "job_expired",
        "stale_request",
        "missing_auth",
        "unknown_shape",
    ] {
        assert!(
            metrics.contains(&format!("veriflop_rejections_total{{reason=\"{code}\"}}")),
            "{code} not counted:\n{metrics}"
        );
    }
    // Three proofs failing the pairing, and one whose commitment point does not hash to its digest.
    assert!(metrics.contains("veriflop_verifications_total{result=\"invalid\"} 4"), "{metrics}");
    // Nothing half-written: jobs and events agree everywhere.
    assert_eq!(h.state.ledger.audit().await.unwrap(), Vec::<String>::new());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_per_key() {
    let (_, h) =
        spawn_local(Config { key_dir: key_dir(), rate_limit_per_minute: 3, ..Config::default() }).await.unwrap();
    let url = h.url();
    let k = Signer::random();
    let path = format!("/v1/jobs/{}/proof", JobId::random());
    for _ in 0..3 {
        assert_error(&signed(&url, &k, "POST", &path, b"x".to_vec()).await, 400, "malformed_bundle");
    }
    assert_error(&signed(&url, &k, "POST", &path, b"x".to_vec()).await, 429, "rate_limited");
    // Another key is not affected.
    assert_error(&signed(&url, &Signer::random(), "POST", &path, b"x".to_vec()).await, 400, "malformed_bundle");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_duplicate_submissions_release_once() {
    let (h, url) = local().await;
    let client_key = Signer::random();
    let provider_key = Signer::random();
    fund(&h, client_key.address()).await;
    let tj = new_job(50).at(&h, client_key.address());
    let id = tj.job.job_id;
    client(&url, &client_key).register_job(&tj.register_request(client_key.address(), 9, in_an_hour())).await.unwrap();
    let p = provider_key.address();
    let c_file = tj.c_file();
    let bundle = tokio::task::spawn_blocking(move || tj.prove(p)).await.unwrap();

    let provider = client(&url, &provider_key);
    provider.upload_result(&id, &c_file).await.unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (provider, bundle, barrier) = (provider.clone(), bundle.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                provider.submit_proof(&id, &bundle).await
            })
        })
        .collect();
    let mut released = 0;
    for t in tasks {
        let out = t.await.unwrap().expect("every duplicate gets a success answer");
        assert_eq!(out.payee, p);
        assert_eq!(out.event_seq, 2);
        if out.outcome == SubmitOutcome::Released {
            released += 1;
        }
    }
    assert_eq!(released, 1);
    let view = provider.job(&id).await.unwrap();
    assert_eq!(view.events.iter().filter(|e| e.kind == "released").count(), 1);
    assert!(h.state.ledger.audit().await.unwrap().is_empty());
    h.shutdown().await;
}

/// Methods and paths from openapi.yaml (`paths:` then `  /path:` then `    method:`).
fn documented_routes() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let mut in_paths = false;
    let mut path = None;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if indent == 2 {
            path = Some(line.trim().trim_end_matches(':').to_string());
        } else if indent == 4 {
            let m = line.trim().trim_end_matches(':');
            if ["get", "post", "put", "delete", "patch", "head", "options"].contains(&m) {
                out.insert((m.to_uppercase(), path.clone().unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_exactly_the_real_routes() {
    let (h, url) = local().await;
    let documented = documented_routes();
    assert!(documented.len() >= 7, "{documented:?}");
    let concrete = |p: &str| {
        p.replace("{job_id}", &JobId::random().to_string())
            .replace("{address}", &Address([3; 20]).to_string())
            .replace("{input}", "a")
            .replace("{circuit}", "committed")
            .replace("{dims}", "4x4x4")
            .replace("{dtype}", "int8")
            .replace("{matrix}", "a")
            .replace("{cm}", "0x01")
            .replace("{model}", "0x02")
    };
    let paths: BTreeSet<String> = documented.iter().map(|(_, p)| p.clone()).collect();
    let is_no_route = |r: &(u16, serde_json::Value)| r.1["code"] == "no_route" || r.1["code"] == "method_not_allowed";
    for p in &paths {
        for m in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let r = raw(&url, m, &concrete(p), &[], vec![]).await;
            let served = !is_no_route(&r);
            let doc = documented.contains(&(m.to_string(), p.clone()));
            assert_eq!(served, doc, "{m} {p}: served={served} documented={doc}: {r:?}");
        }
    }
    // Paths next to the documented ones are not served.
    for p in ["/", "/v1", "/v1/jobs/0x01/proof/x", "/v1/job", "/metrics/x", "/v1/jobs/0x01/release"] {
        assert!(is_no_route(&raw(&url, "GET", p, &[], vec![]).await), "{p}");
        assert!(is_no_route(&raw(&url, "POST", p, &[], vec![]).await), "{p}");
    }
    // Every documented error code appears in the service sources, and vice versa.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    for code in [
        "missing_auth",
        "malformed_auth",
        "bad_signature",
        "stale_request",
        "replay",
        "rate_limited",
        "malformed_json",
        "invalid_job",
        "invalid_price",
        "job_id_mismatch",
        "insufficient_funds",
        "quota_exceeded",
        "malformed_address",
        "request_timeout",
        "too_many_connections",
        "unknown_shape",
        "client_mismatch",
        "job_exists",
        "malformed_job_id",
        "unknown_job",
        "body_too_large",
        "malformed_bundle",
        "unsupported_version",
        "wrong_job",
        "shape_mismatch",
        "commitment_mismatch",
        "circuit_mismatch",
        "wrong_provider",
        "invalid_proof",
        "already_settled",
        "job_expired",
        "not_client",
        "deadline_not_reached",
        "overloaded",
        "ledger_unavailable",
        "key_unavailable",
        "no_route",
        "method_not_allowed",
        "internal",
        "body_digest_mismatch",
        "malformed_matrix",
        "invalid_matrix",
        "bad_query",
        "not_lease_holder",
        "input_missing",
        "not_offered",
        "claimed",
        "claimed_by_other",
        "not_delivered",
        "result_missing",
        "result_mismatch",
        "blob_store_unavailable",
        "not_stored",
        "no_attestor",
        "missing_header",
        "bad_header",
        "bad_commitment",
        "bad_model",
        "invalid_model",
    ] {
        assert!(doc.contains(code), "error code {code} is not documented in openapi.yaml");
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_panics_or_writes() {
    let (h, url) = local().await;
    let k = Signer::random();
    let mut rng = rand::thread_rng();
    use rand::{Rng, RngCore};
    fund(&h, k.address()).await;
    let valid = new_job(60).at(&h, k.address()).register_request(k.address(), 1, in_an_hour());
    let valid_json = serde_json::to_vec(&valid).unwrap();
    for i in 0..60 {
        let mut body = if i % 2 == 0 { valid_json.clone() } else { b"VFPB".to_vec() };
        let n = rng.gen_range(1..200);
        let mut junk = vec![0u8; n];
        rng.fill_bytes(&mut junk);
        let at = rng.gen_range(0..body.len());
        body.splice(at..at, junk);
        let path = if i % 2 == 0 { "/v1/jobs".to_string() } else { format!("/v1/jobs/{}/proof", JobId::random()) };
        let r = signed(&url, &k, "POST", &path, body).await;
        assert!(r.0 == 400 || r.0 == 404, "{r:?}");
        assert!(r.1["code"].is_string(), "{r:?}");
    }
    assert_eq!(h.state.ledger.state_counts().await.unwrap(), vec![]);
    assert_eq!(reqwest::get(format!("{url}/healthz")).await.unwrap().status().as_u16(), 200);
    h.shutdown().await;
}

async fn pool_of(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

#[tokio::test]
async fn ledger_refuses_to_rewrite_events() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("l.db").display());
    let ledger = Ledger::connect(&url).await.unwrap();
    let client = Address([7; 20]);
    let mut tj = new_job(70);
    tj.job.job_id = veriflop_circuits::Venue::Service { service_id: ledger.service_id() }.job_id(client, &tj.nonce);
    ledger.deposit(client, 10, "test", None, unix_now()).await.unwrap();
    let rec = veriflop_service::ledger::JobRecord {
        job: tj.job.clone(),
        client,
        price: 3,
        deadline: unix_now() + 100,
        state: EscrowState::Locked,
        payee: None,
        created_at: unix_now(),
        settled_at: None,
        version: 1,
        nonce: tj.nonce,
    };
    use veriflop_service::ledger::Insert;
    assert_eq!(ledger.insert_job(&rec, 600, 0, 10).await.unwrap(), Insert::Inserted);
    assert_eq!(ledger.insert_job(&rec, 600, 0, 10).await.unwrap(), Insert::Exists);
    assert!(ledger.audit().await.unwrap().is_empty());
    assert!(sqlx::query("UPDATE account_events SET amount = 1").execute(&pool_of(&url).await).await.is_err());
    assert!(sqlx::query("DELETE FROM account_events").execute(&pool_of(&url).await).await.is_err());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    assert!(sqlx::query("UPDATE events SET amount = '999'").execute(&pool).await.is_err());
    assert!(sqlx::query("DELETE FROM events").execute(&pool).await.is_err());
    // A second settlement event for the job violates the unique index.
    sqlx::query("INSERT INTO events (job_id, seq, kind, at, actor) VALUES ($1, 5, 'refunded', 0, '0x0707070707070707070707070707070707070707')")
        .bind(tj.job.job_id.to_string())
        .execute(&pool)
        .await
        .unwrap();
    assert!(sqlx::query("INSERT INTO events (job_id, seq, kind, at, actor) VALUES ($1, 6, 'released', 0, '0x0707070707070707070707070707070707070707')")
        .bind(tj.job.job_id.to_string())
        .execute(&pool)
        .await
        .is_err());
    // The audit notices the forged event.
    assert!(!ledger.audit().await.unwrap().is_empty());
}
