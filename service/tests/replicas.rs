//! Replicas on one PostgreSQL ledger, and crash safety: the service binary is
//! SIGKILLed in the middle of a release and restarted.
//!
//! PostgreSQL tests need a server: `eval "$(scripts/pg-test-server.sh)"` sets
//! VERIFLOP_TEST_PG_URL. Without it they fail, unless VERIFLOP_SKIP_PG=1.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sqlx::Executor;
use veriflop_service::client::{spawn_local, Client, Config, SubmitOutcome};
use veriflop_service::ledger::{EscrowState, Ledger};
use veriflop_verifier::auth::Signer;

/// A fresh database on the test server, or None when PostgreSQL tests are skipped.
async fn pg_database() -> Option<String> {
    let Ok(url) = std::env::var("VERIFLOP_TEST_PG_URL") else {
        if std::env::var("VERIFLOP_SKIP_PG").as_deref() == Ok("1") {
            eprintln!("SKIPPED: PostgreSQL test (VERIFLOP_SKIP_PG=1)");
            return None;
        }
        panic!(
            "VERIFLOP_TEST_PG_URL is not set. Start a throwaway PostgreSQL with\n    \
             eval \"$(scripts/pg-test-server.sh)\"\n(needs `apt-get install -y postgresql`), \
             or set VERIFLOP_SKIP_PG=1 to skip the PostgreSQL tests explicitly."
        );
    };
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to VERIFLOP_TEST_PG_URL={url}: {e}"));
    let name = format!("veriflop_test_{}", hex::encode(rand::random::<[u8; 6]>()));
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap();
    Some(format!("{base}/{name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_release_once() {
    let Some(db) = pg_database().await else { return };
    let cfg = Config { ledger_url: Some(db.clone()), ..test_config() };
    // Two service instances sharing the ledger (started together: schema set-up must not race).
    let (a, b) = tokio::join!(spawn_local(cfg.clone()), spawn_local(cfg.clone()));
    let ((_, a), (_, b)) = (a.unwrap(), b.unwrap());
    let client_key = Signer::random();
    let provider_key = Signer::random();

    // Both replicas are one venue: the service id lives in the shared ledger.
    assert_eq!(a.state.venue_id, b.state.venue_id);
    fund(&a, client_key.address()).await;
    // Happy path through replica A, read back from replica B.
    let tj = new_job(100).at(&a, client_key.address());
    let id = tj.job.job_id;
    let view = Client::new(a.url(), client_key.clone())
        .register_job(&tj.register_request(client_key.address(), 42, in_an_hour()))
        .await
        .unwrap();
    assert_eq!(view.state, EscrowState::Locked);
    assert_eq!(Client::new(b.url(), client_key.clone()).job(&id).await.unwrap(), view);

    let p = provider_key.address();
    let c_file = tj.c_file();
    let bundle = tokio::task::spawn_blocking(move || tj.prove(p)).await.unwrap();
    // C delivered once, then the same proof to both replicas, 10 times each, all at once.
    Client::new(a.url(), provider_key.clone()).upload_result(&id, &c_file).await.unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let c = Client::new(if i % 2 == 0 { a.url() } else { b.url() }, provider_key.clone());
            let (bundle, barrier) = (bundle.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                c.submit_proof(&id, &bundle).await
            })
        })
        .collect();
    let mut released = 0;
    for t in tasks {
        let out = t.await.unwrap().unwrap();
        assert_eq!(out.payee, p);
        released += (out.outcome == SubmitOutcome::Released) as usize;
    }
    assert_eq!(released, 1);
    let releases = a.state.metrics.releases.load(std::sync::atomic::Ordering::Relaxed)
        + b.state.metrics.releases.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(releases, 1);

    let view = Client::new(b.url(), client_key.clone()).job(&id).await.unwrap();
    assert_eq!(view.state, EscrowState::Released);
    assert_eq!(view.events.iter().filter(|e| e.kind == "released").count(), 1);
    // A replay of one replica's request at the other is refused (nonces are shared).
    let path = format!("/v1/jobs/{id}/proof");
    let body = bundle.to_bytes();
    let pairs: Vec<_> = provider_key
        .sign_request(&a.state.venue_id, "POST", &path, &body, veriflop_verifier::auth::unix_now())
        .pairs()
        .into_iter()
        .collect();
    assert_eq!(raw(&a.url(), "POST", &path, &pairs, body.clone()).await.0, 200);
    assert_error(&raw(&b.url(), "POST", &path, &pairs, body).await, 409, "replay");

    // A refund race between replicas on an expired job: one refund event.
    let tj = new_job(101).at(&b, client_key.address());
    let id2 = tj.job.job_id;
    let deadline = veriflop_verifier::auth::unix_now() + 4;
    Client::new(a.url(), client_key.clone())
        .register_job(&tj.register_request(client_key.address(), 5, deadline))
        .await
        .unwrap();
    while veriflop_verifier::auth::unix_now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ca, cb) = (Client::new(a.url(), client_key.clone()), Client::new(b.url(), client_key.clone()));
    let (ra, rb) = tokio::join!(ca.refund(&id2), cb.refund(&id2));
    assert_eq!(ra.unwrap().state, EscrowState::Refunded);
    assert_eq!(rb.unwrap().events.iter().filter(|e| e.kind == "refunded").count(), 1);

    assert_eq!(a.state.ledger.audit().await.unwrap(), Vec::<String>::new());
    a.shutdown().await;
    b.shutdown().await;
}

fn start_binary(ledger: &str, fault_delay_ms: u64) -> Proc {
    Proc::start(ledger, &[], &[("VERIFLOP_FAULT_RELEASE_DELAY_MS", fault_delay_ms.to_string())], None)
}

/// SIGKILL while the release transaction is open (after its writes, before
/// COMMIT), restart, check; then SIGKILL right after a committed release.
async fn kill_mid_release(ledger_url: &str) {
    let client_key = Signer::random();
    let provider_key = Signer::random();
    let p = provider_key.address();
    // The operator funds the client with the ledger tool, which also names the venue.
    ledger_tool(ledger_url, &["deposit", "--to", &client_key.address().to_string(), "--amount", "5000"]);
    let venue = ledger_tool(ledger_url, &["venue"]);
    let service_id = venue.split_whitespace().nth(1).unwrap().strip_prefix("service:").unwrap().parse().unwrap();
    let mut tj = new_job(200);
    tj.job.job_id = veriflop_circuits::Venue::Service { service_id }.job_id(client_key.address(), &tj.nonce);
    let id = tj.job.job_id;
    let reg = tj.register_request(client_key.address(), 1234, in_an_hour());
    let c_file = tj.c_file();
    let bundle = tokio::task::spawn_blocking(move || tj.prove(p)).await.unwrap();

    let mut proc = start_binary(ledger_url, 30_000);
    Client::new(&proc.url, client_key.clone()).register_job(&reg).await.unwrap();
    let c = Client::new(&proc.url, provider_key.clone());
    c.upload_result(&id, &c_file).await.unwrap();
    let b2 = bundle.clone();
    let pending = tokio::spawn(async move { c.submit_proof(&id, &b2).await });
    // Wait until the proof verified and the release transaction is open.
    let t0 = Instant::now();
    while metric(&proc.url, "veriflop_verifications_total{result=\"valid\"}").await < 1 {
        assert!(t0.elapsed() < Duration::from_secs(30), "verification did not happen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    proc.child.kill().unwrap(); // SIGKILL
    proc.child.wait().unwrap();
    let err = pending.await.unwrap().unwrap_err();
    assert!(err.code().is_none(), "the killed request got an answer: {err}");

    // The ledger is consistent: the release never committed, nothing half-written.
    let ledger = Ledger::connect(ledger_url).await.unwrap();
    let rec = ledger.job(&id).await.unwrap().unwrap();
    assert_eq!(rec.state, EscrowState::Locked);
    assert_eq!(ledger.events(&id).await.unwrap().len(), 1);
    assert_eq!(ledger.audit().await.unwrap(), Vec::<String>::new());

    // Restarted, the provider resubmits and is paid once; then a kill right after commit.
    let mut proc = start_binary(ledger_url, 0);
    let c = Client::new(&proc.url, provider_key.clone());
    let out = c.submit_proof(&id, &bundle).await.unwrap();
    assert_eq!(out.outcome, SubmitOutcome::Released);
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();
    let proc = start_binary(ledger_url, 0);
    let c = Client::new(&proc.url, provider_key.clone());
    assert_eq!(c.submit_proof(&id, &bundle).await.unwrap().outcome, SubmitOutcome::AlreadyReleased);
    let view = c.job(&id).await.unwrap();
    assert_eq!(view.state, EscrowState::Released);
    assert_eq!(view.payee, Some(p));
    let kinds: Vec<&str> = view.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["registered", "released"]);
    assert_eq!(view.events[1].amount.as_deref(), Some("1234"));
    assert_eq!(ledger.audit().await.unwrap(), Vec::<String>::new());
    // Money: the client locked 1234 of its 5000, the provider was paid 1234.
    assert_eq!(ledger.account(client_key.address()).await.unwrap().balance, 5000 - 1234);
    assert_eq!(ledger.account(p).await.unwrap().balance, 1234);
    assert!(ledger_tool(ledger_url, &["audit"]).contains("ledger consistent"));
    ledger.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_release_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_mid_release(&format!("sqlite://{}", dir.path().join("ledger.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_release_postgres() {
    let Some(db) = pg_database().await else { return };
    kill_mid_release(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_local_uses_a_temporary_sqlite_ledger() {
    let (addr, h) = spawn_local(test_config()).await.unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    assert_eq!(h.state.ledger.backend(), veriflop_service::ledger::Backend::Sqlite);
    h.shutdown().await;
}
