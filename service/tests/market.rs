//! The data plane and the market over real HTTP: inputs checked at upload,
//! offers, exclusive leases, downloads only by those allowed, and payment only
//! for a delivered C that matches the proof — each check fed a forged or
//! tampered input, on SQLite and on PostgreSQL.
//!
//! PostgreSQL tests need a server: `eval "$(scripts/pg-test-server.sh)"` sets
//! VERIFLOP_TEST_PG_URL. Without it they fail, unless VERIFLOP_SKIP_PG=1.

mod common;

use std::time::Duration;

use common::*;
use veriflop_circuits::{InputMatrix, Matrix};
use veriflop_service::client::{spawn_local, Config, Input, ServiceHandle};
use veriflop_service::ledger::EscrowState;
use veriflop_verifier::auth::Signer;

async fn pg_database() -> Option<String> {
    let Ok(url) = std::env::var("VERIFLOP_TEST_PG_URL") else {
        if std::env::var("VERIFLOP_SKIP_PG").as_deref() == Ok("1") {
            eprintln!("SKIPPED: PostgreSQL test (VERIFLOP_SKIP_PG=1)");
            return None;
        }
        panic!("VERIFLOP_TEST_PG_URL is not set: eval \"$(scripts/pg-test-server.sh)\", or VERIFLOP_SKIP_PG=1");
    };
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let name = format!("veriflop_test_{}", hex::encode(rand::random::<[u8; 6]>()));
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap();
    Some(format!("{base}/{name}"))
}

/// Files in the service's blob store.
async fn blobs(h: &ServiceHandle) -> Vec<String> {
    h.state.blobs.list().await.unwrap()
}

fn spool_files(h: &ServiceHandle) -> usize {
    std::fs::read_dir(&h.state.spool_dir).map(|d| d.count()).unwrap_or(0)
}

async fn market_checks(cfg: Config) {
    let (_, h) = spawn_local(cfg).await.unwrap();
    let url = h.url();
    let (client_key, p1, p2) = (Signer::random(), Signer::random(), Signer::random());
    fund(&h, client_key.address()).await;
    let c = client(&url, &client_key);
    let (c1, c2) = (client(&url, &p1), client(&url, &p2));
    let tj = new_job(300).at(&h, client_key.address());
    let id = tj.job.job_id;
    let mut reg = tj.register_request(client_key.address(), 700, in_an_hour());
    // Long enough that the checks below run inside the lease on a loaded CI machine.
    reg.lease_secs = Some(8);
    c.register_job(&reg).await.unwrap();
    let (fa, fb) = tj.input_files();

    // Not offered before its data is stored: not listed, not claimable.
    assert!(c.open_jobs("").await.unwrap().jobs.is_empty());
    assert_eq!(c1.claim(&id).await.unwrap_err().code(), Some("not_offered"));
    let early = tempfile::tempdir().unwrap();
    let e = c.download_input(&id, Input::A, &early.path().join("a")).await.unwrap_err();
    assert_eq!(e.code(), Some("input_missing"), "{e}");

    // Inputs that do not match the commitments are refused, nothing stored.
    let other = common::write_matrix_file(&InputMatrix::random(4, 4, tj.job.shape.dtype, 999).unwrap(), "npy");
    let e = c.upload_input(&id, Input::A, &other).await.unwrap_err();
    assert_eq!(e.code(), Some("commitment_mismatch"), "{e}");
    let e = c.upload_input(&id, Input::A, &fb).await.unwrap_err(); // B's data as A
    assert_eq!(e.code(), Some("commitment_mismatch"), "{e}");
    let wrong_shape = common::write_matrix_file(&Matrix::new(4, 3, vec![1i32; 12]).unwrap(), "vfm");
    assert_eq!(c.upload_input(&id, Input::A, &wrong_shape).await.unwrap_err().code(), Some("invalid_matrix"));
    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(garbage.path(), b"not a matrix at all").unwrap();
    assert_eq!(c.upload_input(&id, Input::A, garbage.path()).await.unwrap_err().code(), Some("malformed_matrix"));
    // Only the client uploads its inputs.
    assert_eq!(c1.upload_input(&id, Input::A, &fa).await.unwrap_err().code(), Some("not_client"));
    assert!(blobs(&h).await.is_empty(), "a refused upload left a blob");
    assert_eq!(spool_files(&h), 0, "a refused upload left a spool file");

    // A body that is not the one signed (declared digest) is refused, nothing stored.
    let body = std::fs::read(&fa).unwrap();
    let venue = venue_id(&url).await;
    let path = format!("/v1/jobs/{id}/inputs/a");
    let declared = veriflop_verifier::auth::keccak256(b"something else");
    let auth = client_key.sign_streamed_request(&venue, "PUT", &path, &declared, veriflop_verifier::auth::unix_now());
    let mut pairs: Vec<(&str, String)> = auth.pairs().into_iter().collect();
    pairs.push((veriflop_verifier::auth::HEADER_CONTENT_KECCAK, format!("0x{}", hex::encode(declared))));
    assert_error(&raw(&url, "PUT", &path, &pairs, body.clone()).await, 400, "body_digest_mismatch");
    // Unsigned, or signed without the digest header: refused before the body is read.
    assert_error(&raw(&url, "PUT", &path, &[], body).await, 401, "missing_auth");

    // The right data is stored; with both inputs the job is offered.
    let r = c.upload_input(&id, Input::A, &fa).await.unwrap();
    assert!(!r.offered);
    assert!(c.upload_input(&id, Input::B, &fb).await.unwrap().offered);
    let open = c.open_jobs("").await.unwrap();
    assert_eq!(open.jobs.len(), 1);
    assert_eq!(open.jobs[0].job(), tj.job);
    assert_eq!(open.jobs[0].lease_secs, 8);
    // Filters.
    assert_eq!(c.open_jobs("min_price=701").await.unwrap().jobs.len(), 0);
    assert_eq!(c.open_jobs("min_price=700&shape=4x4x4&dtype=int8&circuit=committed").await.unwrap().jobs.len(), 1);
    assert_eq!(c.open_jobs("system=halo2-kzg-bn254").await.unwrap().jobs.len(), 0);
    assert_eq!(c.open_jobs("bogus=1").await.unwrap_err().code(), Some("bad_query"));

    // Before any claim, nobody but the client downloads the inputs.
    let dl = tempfile::tempdir().unwrap();
    assert_eq!(
        c1.download_input(&id, Input::A, &dl.path().join("a")).await.unwrap_err().code(),
        Some("not_lease_holder")
    );
    c.download_input(&id, Input::A, &dl.path().join("a")).await.unwrap();
    assert_eq!(std::fs::read(dl.path().join("a")).unwrap(), std::fs::read(&fa).unwrap());

    // An exclusive lease: p1 claims; p2 can neither claim nor download nor be paid.
    let lease = c1.claim(&id).await.unwrap();
    assert!(lease.new);
    assert!(!c1.claim(&id).await.unwrap().new, "claiming again keeps the lease, never extends it");
    assert_eq!(c2.claim(&id).await.unwrap_err().code(), Some("claimed"));
    assert!(c.open_jobs("").await.unwrap().jobs.is_empty(), "a leased job is not listed");
    c1.download_input(&id, Input::B, &dl.path().join("b")).await.unwrap();
    assert_eq!(
        c2.download_input(&id, Input::B, &dl.path().join("x")).await.unwrap_err().code(),
        Some("not_lease_holder")
    );
    assert!(!dl.path().join("x").exists(), "a refused download wrote a file");
    let (b1, b2) = (tj.prove(p1.address()), tj.prove(p2.address()));
    let cf = tj.c_file();
    assert_eq!(c2.upload_result(&id, &cf).await.unwrap_err().code(), Some("claimed_by_other"));
    assert_eq!(c2.submit_proof(&id, &b2).await.unwrap_err().code(), Some("claimed_by_other"));

    // The lease holder: a valid proof without C is refused, and so is a C that
    // is not the proven one. Nothing is paid.
    assert_eq!(c1.submit_proof(&id, &b1).await.unwrap_err().code(), Some("result_missing"));
    let mut wrong = veriflop_circuits::execute::matmul_naive(&tj.a, &tj.b);
    wrong.data[5] += 1;
    let wf = common::write_matrix_file(&wrong, "vfm");
    c1.upload_result(&id, &wf).await.unwrap();
    assert_eq!(c1.submit_proof(&id, &b1).await.unwrap_err().code(), Some("result_mismatch"));
    // A C outside the range A·B can reach is refused at upload.
    let mut huge = veriflop_circuits::execute::matmul_naive(&tj.a, &tj.b);
    huge.data[0] = 1 << 40;
    assert_eq!(
        c1.upload_result(&id, &common::write_matrix_file(&huge, "vfm")).await.unwrap_err().code(),
        Some("invalid_matrix")
    );
    let v = c.job(&id).await.unwrap();
    assert_eq!(v.state, EscrowState::Locked);
    assert_eq!(v.events.len(), 1);
    // The result is not downloadable before the release.
    assert_eq!(c.download_result(&id, &dl.path().join("c")).await.unwrap_err().code(), Some("not_delivered"));

    // Once p1's lease expires, the job is offered again and p2 takes it.
    while veriflop_verifier::auth::unix_now() < lease.expires_at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.open_jobs("").await.unwrap().jobs.len(), 1, "an expired lease reopens the job");
    assert!(c2.claim(&id).await.unwrap().new);
    assert_eq!(c1.submit_proof(&id, &b1).await.unwrap_err().code(), Some("claimed_by_other"));
    let out = c2.deliver(&id, &cf, &b2).await.unwrap();
    assert_eq!(out.payee, p2.address());
    let v = c.job(&id).await.unwrap();
    assert_eq!(v.state, EscrowState::Released);
    assert!(v.market.as_ref().unwrap().delivered);

    // The delivered C goes to the client only; the accepted proof is public.
    assert_eq!(c2.download_result(&id, &dl.path().join("c")).await.unwrap_err().code(), Some("not_client"));
    c.download_result(&id, &dl.path().join("c")).await.unwrap();
    let got = veriflop_circuits::stream::read_file(&dl.path().join("c")).unwrap();
    assert_eq!(got, veriflop_circuits::execute::matmul_naive(&tj.a, &tj.b));
    let proof = c.delivered_proof(&id).await.unwrap();
    assert_eq!(proof.statement.provider, p2.address());
    // After the release, the inputs are closed to uploads and the job to claims.
    assert_eq!(c.upload_input(&id, Input::A, &fa).await.unwrap_err().code(), Some("already_settled"));
    assert_eq!(c1.claim(&id).await.unwrap_err().code(), Some("already_settled"));
    // Balances: the price moved once; the ledger and the blob store agree.
    assert_eq!(c.account(p2.address()).await.unwrap().balance, "700");
    assert_eq!(c.account(p1.address()).await.unwrap().balance, "0");
    assert!(h.state.ledger.audit().await.unwrap().is_empty());
    let (missing, _) = veriflop_service::blobs::audit(&h.state.ledger, &h.state.blobs).await.unwrap();
    assert!(missing.is_empty(), "{missing:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_on_sqlite() {
    market_checks(test_config()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_on_postgres() {
    let Some(db) = pg_database().await else { return };
    market_checks(Config { ledger_url: Some(db), ..test_config() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_limit_get_413_and_store_nothing() {
    let (_, h) = spawn_local(Config { max_upload_bytes: 100, ..test_config() }).await.unwrap();
    let url = h.url();
    let client_key = Signer::random();
    fund(&h, client_key.address()).await;
    let c = client(&url, &client_key);
    let tj = new_job(301).at(&h, client_key.address());
    c.register_job(&tj.register_request(client_key.address(), 5, in_an_hour())).await.unwrap();
    // A 4×4 int8 .npy is 144 bytes: over the 100-byte limit (by Content-Length).
    let (fa, _) = tj.input_files();
    let e = c.upload_input(&tj.job.job_id, Input::A, &fa).await.unwrap_err();
    assert!(matches!(e, veriflop_service::client::ClientError::Api { status: 413, .. }), "{e}");
    // Chunked (no Content-Length): cut off while streaming, 413 as well.
    let venue = venue_id(&url).await;
    let path = format!("/v1/jobs/{}/inputs/a", tj.job.job_id);
    let body = vec![7u8; 4096];
    let k = veriflop_verifier::auth::keccak256(&body);
    let auth = client_key.sign_streamed_request(&venue, "PUT", &path, &k, veriflop_verifier::auth::unix_now());
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(512).map(|c| Ok(c.to_vec())).collect();
    let mut req = reqwest::Client::new()
        .put(format!("{url}{path}"))
        .header(veriflop_verifier::auth::HEADER_CONTENT_KECCAK, format!("0x{}", hex::encode(k)))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)));
    for (n, v) in auth.pairs() {
        req = req.header(n, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert!(blobs(&h).await.is_empty());
    assert_eq!(spool_files(&h), 0);
    let v = c.job(&tj.job.job_id).await.unwrap();
    assert!(!v.market.unwrap().a_stored);
    h.shutdown().await;
}
