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
use veriflop_circuits::{Address, InputMatrix, Matrix};
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

/// A job asking a lease stake: the claim takes it from the provider's balance;
/// it comes back with the price for a delivery within the lease, and goes to the
/// client when the lease ends without one (given back, expired and claimed by
/// another, or delivered late). The audit explains every movement and catches a
/// stake that disappears.
async fn stake_checks(cfg: Config) {
    let ledger_url = cfg.ledger_url.clone().unwrap();
    let (_, h) = spawn_local(cfg).await.unwrap();
    let url = h.url();
    let (client_key, p1, p2) = (Signer::random(), Signer::random(), Signer::random());
    fund(&h, client_key.address()).await;
    let deposit = |who: &Signer, amount: u64| {
        let (ledger, a) = (h.state.ledger.clone(), who.address());
        async move { ledger.deposit(a, amount, "test", None, veriflop_verifier::auth::unix_now()).await.unwrap() }
    };
    let (c, c1, c2) = (client(&url, &client_key), client(&url, &p1), client(&url, &p2));
    let balance = |who: Address| {
        let c = client(&url, &client_key);
        async move { c.account(who).await.unwrap().balance.parse::<u64>().unwrap() }
    };
    let post = |seed: u64, price: u128, lease: u64, stake: &str| {
        let tj = new_job(seed).at(&h, client_key.address());
        let mut reg = tj.register_request(client_key.address(), price, in_an_hour());
        reg.lease_secs = Some(lease);
        reg.lease_stake = Some(stake.to_string());
        (tj, reg)
    };
    let offer = |tj: &TestJob| {
        let (c, id, (fa, fb)) = (client(&url, &client_key), tj.job.job_id, tj.input_files());
        async move {
            c.upload_input(&id, Input::A, &fa).await.unwrap();
            c.upload_input(&id, Input::B, &fb).await.unwrap();
        }
    };
    let c0 = balance(client_key.address()).await;

    // Malformed stakes are refused at registration.
    for bad in ["abc", "-1", "99999999999999999999999"] {
        let (_, reg) = post(400, 700, 60, bad);
        assert_eq!(c.register_job(&reg).await.unwrap_err().code(), Some("invalid_price"), "{bad}");
    }

    // Job 1: a claim without the stake's cover is refused and changes nothing.
    let (tj, reg) = post(401, 700, 60, "100");
    c.register_job(&reg).await.unwrap();
    offer(&tj).await;
    let id = tj.job.job_id;
    assert_eq!(c.open_jobs("").await.unwrap().jobs[0].lease_stake, "100");
    assert_eq!(c1.claim(&id).await.unwrap_err().code(), Some("insufficient_funds"));
    assert_eq!(c.open_jobs("").await.unwrap().jobs.len(), 1);
    // Covered: the stake moves into the job; giving the lease back forfeits it.
    deposit(&p1, 100).await;
    c1.claim(&id).await.unwrap();
    assert_eq!(balance(p1.address()).await, 0);
    assert_eq!(c.job(&id).await.unwrap().market.unwrap().stake_held, "100");
    c1.unclaim(&id).await.unwrap();
    assert_eq!(c.job(&id).await.unwrap().market.unwrap().stake_held, "0");
    assert_eq!(balance(client_key.address()).await, c0 - 700 + 100);
    // p2 delivers within its lease: price and stake back.
    deposit(&p2, 100).await;
    c2.claim(&id).await.unwrap();
    assert_eq!(balance(p2.address()).await, 0);
    let (b2, cf) = (tj.prove(p2.address()), tj.c_file());
    c2.deliver(&id, &cf, &b2).await.unwrap();
    assert_eq!(balance(p2.address()).await, 800);
    assert_eq!(c.job(&id).await.unwrap().market.unwrap().stake_held, "0");

    // Job 2: p1's lease expires; p2's claim forfeits p1's stake; p2's own lease
    // expires too, and its late delivery is paid but its stake is the client's.
    let (tj, reg) = post(402, 300, 2, "50");
    c.register_job(&reg).await.unwrap();
    offer(&tj).await;
    let id = tj.job.job_id;
    deposit(&p1, 50).await;
    let lease = c1.claim(&id).await.unwrap();
    let (b2, cf) = (tj.prove(p2.address()), tj.c_file());
    let wait_past = |t: i64| async move {
        while veriflop_verifier::auth::unix_now() < t {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    wait_past(lease.expires_at).await;
    let lease = c2.claim(&id).await.unwrap();
    assert_eq!(balance(p2.address()).await, 750);
    assert_eq!(balance(client_key.address()).await, c0 - 1000 + 100 + 50);
    wait_past(lease.expires_at).await;
    c2.deliver(&id, &cf, &b2).await.unwrap();
    assert_eq!(balance(p2.address()).await, 750 + 300);
    assert_eq!(balance(client_key.address()).await, c0 - 1000 + 100 + 50 + 50);

    // Job 3: a stake still held at the end; the audit counts it.
    let (tj, reg) = post(403, 10, 60, "20");
    c.register_job(&reg).await.unwrap();
    offer(&tj).await;
    c2.claim(&tj.job.job_id).await.unwrap();
    let events = c.account(p2.address()).await.unwrap().events;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["deposit", "stake", "payout", "unstake", "stake", "payout", "stake"]);
    assert_eq!(h.state.ledger.audit().await.unwrap(), Vec::<String>::new());
    // A stake that disappears from the job is caught.
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&ledger_url).await.unwrap();
    db.execute(format!("UPDATE job_market SET stake_held = 0 WHERE job_id = '{}'", tj.job.job_id).as_str())
        .await
        .unwrap();
    let problems = h.state.ledger.audit().await.unwrap();
    assert!(problems.iter().any(|p| p.contains("1 held") || p.contains("stakes put down")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("not conserved")), "{problems:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stakes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("ledger.db").display());
    stake_checks(Config { ledger_url: Some(ledger), ..test_config() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stakes_on_postgres() {
    let Some(db) = pg_database().await else { return };
    stake_checks(Config { ledger_url: Some(db), ..test_config() }).await;
}

/// A ledger made before the market (schema 2) is upgraded in place: its
/// account log keeps its rows, takes the stake kinds, allows a stake per claim,
/// and stays append-only.
async fn upgrade_checks(url: &str) {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let a = Address([7; 20]).to_string();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(url).await.unwrap();
    let v2 = [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)".to_string(),
        format!("INSERT INTO meta (key, value) VALUES ('schema', '2'), ('service_id', '0x{}')", "11".repeat(32)),
        "CREATE TABLE accounts (address TEXT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0),
         open_jobs BIGINT NOT NULL CHECK (open_jobs >= 0), version BIGINT NOT NULL)"
            .to_string(),
        "CREATE TABLE account_events (address TEXT NOT NULL REFERENCES accounts (address), seq BIGINT NOT NULL,
         kind TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'lock', 'payout', 'refund')),
         amount BIGINT NOT NULL CHECK (amount > 0), balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
         job_id TEXT, at BIGINT NOT NULL, actor TEXT NOT NULL, memo TEXT, PRIMARY KEY (address, seq))"
            .to_string(),
        "CREATE UNIQUE INDEX account_events_one_per_job ON account_events (job_id, kind) WHERE job_id IS NOT NULL"
            .to_string(),
        format!("INSERT INTO accounts VALUES ('{a}', 5, 0, 1)"),
        format!("INSERT INTO account_events VALUES ('{a}', 1, 'deposit', 5, 5, NULL, 0, 'op', NULL)"),
    ];
    for stmt in v2 {
        db.execute(stmt.as_str()).await.unwrap();
    }
    let stake =
        |seq: u32| format!("INSERT INTO account_events VALUES ('{a}', {seq}, 'stake', 1, 4, 'j', 0, 'x', NULL)");
    assert!(db.execute(stake(2).as_str()).await.is_err(), "schema 2 knows no stakes");
    drop(db);

    let ledger = veriflop_service::ledger::Ledger::connect(url).await.unwrap();
    assert_eq!(ledger.audit().await.unwrap(), Vec::<String>::new());
    ledger.deposit(Address([7; 20]), 3, "test", None, 1).await.unwrap();
    let events = ledger.account_events(Address([7; 20])).await.unwrap();
    assert_eq!(events.iter().map(|e| (e.seq, e.balance_after)).collect::<Vec<_>>(), [(1, 5), (2, 8)]);
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(url).await.unwrap();
    let schema: String =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'schema'").fetch_one(&mut db).await.unwrap();
    assert_eq!(schema, "3");
    // Two stakes for one job (two claims) are allowed; the log stays append-only.
    db.execute(stake(3).as_str()).await.unwrap();
    db.execute(stake(4).as_str()).await.unwrap();
    assert!(db.execute("UPDATE account_events SET amount = 2").await.is_err());
    assert!(db.execute("DELETE FROM account_events").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_2_ledger_is_upgraded_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    upgrade_checks(&format!("sqlite://{}?mode=rwc", dir.path().join("ledger.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_2_ledger_is_upgraded_on_postgres() {
    let Some(db) = pg_database().await else { return };
    upgrade_checks(&db).await;
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
