//! The standing adversarial suite: attacks on a real `veriflop-verifier`
//! process over loopback, each expected to fail. Run it alone with
//! `cargo test -p veriflop-service --test adversarial` (CI runs it with the rest).
//!
//! - connections: slowloris floods from one address and from many, half-open
//!   and idle connections, slow bodies, file-descriptor exhaustion;
//! - venues: a proof, a registration or a signed request is worth one payment
//!   in one venue; job ids cannot be squatted;
//! - money: unbacked, free and absurd prices, quotas, scheduled refunds, and
//!   the ledger audit (balances = deposits − locks + payouts + refunds) after all of it;
//! - key work: halo2 registrations for shapes the operator did not allow buy no
//!   key derivation (keys of allowed shapes are made once, at start-up).
//!
//! (The other findings of that review are tested where they live: the 32-byte
//! development SRS seed in `halo2/tests/srs.rs`, the verifier-code check of
//! every JobEscrow submit path in `contracts/tests/vanishing_verifier.rs`.)
//!
//! Every attack comes from 127.0.0.0/8 addresses of this machine only.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use veriflop_circuits::Venue;
use veriflop_service::client::{Client, SubmitOutcome, VenueInfo};
use veriflop_service::ledger::EscrowState;
use veriflop_verifier::auth::{unix_now, Signer};

fn sqlite(dir: &tempfile::TempDir, name: &str) -> String {
    format!("sqlite://{}", dir.path().join(name).display())
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    s.connect(to).await
}

/// Opens `n` connections from `from` that each send half a request head and
/// then nothing (slowloris). Connections the service refused or closed at once are dropped.
async fn slowloris(from: Ipv4Addr, to: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut open = Vec::new();
    for _ in 0..n {
        let Ok(mut s) = tokio::time::timeout(Duration::from_millis(500), connect_from(from, to))
            .await
            .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "backlog full")))
        else {
            continue;
        };
        if s.write_all(b"POST /v1/jobs HTTP/1.1\r\nHost: veriflop\r\nContent-Le").await.is_ok() {
            open.push(s);
        }
    }
    open
}

/// Time for an honest `GET /healthz` from 127.0.0.1 (a fresh connection each time).
async fn honest_health(url: &str) -> Duration {
    let t = Instant::now();
    let c = reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(30)).build().unwrap();
    let r = c.get(format!("{url}/healthz")).send().await.expect("honest request answered");
    assert_eq!(r.status().as_u16(), 200);
    t.elapsed()
}

/// Whether the server closed `s` (EOF or reset) within `within`.
async fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a response (e.g. 408/503) before the close
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_floods_do_not_starve_honest_clients() {
    let dir = tempfile::tempdir().unwrap();
    let proc = Proc::start(
        &sqlite(&dir, "l.db"),
        &["--header-timeout-secs", "2", "--max-connections", "64", "--max-connections-per-ip", "16"],
        &[],
        None,
    );
    let addr = proc.addr();

    // One address opens 25× its cap: all but 16 are refused at once, and the
    // honest client on another address is served at once.
    let mut one = slowloris(Ipv4Addr::new(127, 0, 0, 2), addr, 400).await;
    assert!(one.len() <= 400);
    for _ in 0..5 {
        let t = honest_health(&proc.url).await;
        assert!(t < Duration::from_secs(2), "honest request took {t:?} during a one-address flood");
    }
    assert!(metric(&proc.url, "veriflop_connections_refused_total").await >= 300);

    // Many addresses together open 8× the global cap: the service keeps
    // accepting as half-open connections time out, so an honest request waits
    // at most about one header timeout.
    let mut many = Vec::new();
    for i in 0..32u8 {
        many.extend(slowloris(Ipv4Addr::new(127, 0, 1, 10 + i), addr, 16).await);
    }
    for _ in 0..3 {
        let t = honest_health(&proc.url).await;
        assert!(t < Duration::from_secs(6), "honest request took {t:?} during a many-address flood");
    }

    // Half-open connections are closed by the service after the header timeout.
    let mut closed = 0;
    for s in one.iter_mut().take(10) {
        closed += closed_by_server(s, Duration::from_secs(5)).await as usize;
    }
    assert_eq!(closed, 10, "half-open connections outlived the header timeout");
    drop(one);
    drop(many);

    // Recovery: everything is answered at once again, and the connections are gone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = honest_health(&proc.url).await;
    assert!(t < Duration::from_millis(500), "{t:?} after the flood");
    assert!(metric(&proc.url, "veriflop_connections_open").await <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    let proc =
        Proc::start(&sqlite(&dir, "l.db"), &["--header-timeout-secs", "2", "--body-timeout-secs", "2"], &[], None);
    let addr = proc.addr();

    // Idle keep-alive: one request answered, then the connection is closed.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: veriflop\r\n\r\n").await.unwrap();
    let t = Instant::now();
    assert!(closed_by_server(&mut s, Duration::from_secs(6)).await, "idle keep-alive connection stayed open");
    assert!(t.elapsed() >= Duration::from_millis(1500), "closed before the header timeout: {:?}", t.elapsed());

    // Slow body: headers promise 1000 bytes, 10 arrive; 408 request_timeout.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /v1/jobs HTTP/1.1\r\nHost: veriflop\r\nContent-Length: 1000\r\n\r\n{\"nonce\":").await.unwrap();
    let mut got = Vec::new();
    let t = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(8), s.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(text.contains("request_timeout"), "{text:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // A trickled head (one byte a second) does not extend the header timeout.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let t = Instant::now();
    let mut closed = false;
    for b in b"GET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickled head kept the connection open");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(honest_health(&proc.url).await < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_descriptor_exhaustion_is_survived() {
    let dir = tempfile::tempdir().unwrap();
    // 160 open files in all, a connection cap asking for far more: the service
    // fits its cap to the limit instead of failing accept() for everyone.
    let proc = Proc::start(
        &sqlite(&dir, "l.db"),
        &["--header-timeout-secs", "2", "--max-connections", "100000", "--max-connections-per-ip", "0"],
        &[],
        Some(160),
    );
    let addr = proc.addr();
    let mut flood = Vec::new();
    for i in 0..6u8 {
        flood.extend(slowloris(Ipv4Addr::new(127, 0, 2, 10 + i), addr, 100).await);
    }
    for _ in 0..3 {
        let t = honest_health(&proc.url).await;
        assert!(t < Duration::from_secs(6), "honest request took {t:?} with file descriptors short");
    }
    drop(flood);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(honest_health(&proc.url).await < Duration::from_millis(500));
    // It did not hit the limit at all: no accept error.
    assert_eq!(metric(&proc.url, "veriflop_accept_errors_total").await, 0);
}

/// A service process with its own ledger, and a funded client of it.
struct Venue1 {
    proc: Proc,
    ledger: String,
    venue: Venue,
}

fn venue_service(dir: &tempfile::TempDir, name: &str, args: &[&str]) -> Venue1 {
    let ledger = sqlite(dir, name);
    let proc = Proc::start(&ledger, args, &[], None);
    let v = ledger_tool(&ledger, &["venue"]);
    let venue: Venue = v.split_whitespace().nth(1).unwrap().parse().unwrap();
    Venue1 { proc, ledger, venue }
}

impl Venue1 {
    fn fund(&self, who: &Signer, amount: u64) {
        ledger_tool(&self.ledger, &["deposit", "--to", &who.address().to_string(), "--amount", &amount.to_string()]);
    }

    fn client(&self, who: &Signer) -> Client {
        Client::new(&self.proc.url, who.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_or_request_is_worth_one_payment_in_one_venue() {
    let dir = tempfile::tempdir().unwrap();
    let a = venue_service(&dir, "a.db", &[]);
    let b = venue_service(&dir, "b.db", &[]);
    assert_ne!(a.venue.id(), b.venue.id());
    let client_key = Signer::random();
    let provider_key = Signer::random();
    a.fund(&client_key, 1000);
    b.fund(&client_key, 1000);
    let va: VenueInfo = a.client(&client_key).venue().await.unwrap();
    assert_eq!(va.venue_id, a.venue.id());

    // The same job data and nonce at both services: two different job ids.
    let tj = new_job(1);
    let nonce = tj.nonce;
    let id_a = a.venue.job_id(client_key.address(), &nonce);
    let id_b = b.venue.job_id(client_key.address(), &nonce);
    assert_ne!(id_a, id_b);
    let mut job_a = tj;
    job_a.job.job_id = id_a;
    let reg_a = job_a.register_request(client_key.address(), 100, in_an_hour());
    let body = serde_json::to_vec(&reg_a).unwrap();

    // Job-id squatting: an attacker registering the id the victim prepared,
    // at a price of 1, gets job_id_mismatch (ids name their client).
    let attacker = Signer::random();
    a.fund(&attacker, 10);
    let mut squat = reg_a.clone();
    squat.client = attacker.address();
    squat.price = "1".into();
    let got = signed(&a.proc.url, &attacker, "POST", "/v1/jobs", serde_json::to_vec(&squat).unwrap()).await;
    assert_error(&got, 400, "job_id_mismatch");
    // Without a job_id the attacker gets its own id, not the victim's.
    squat.job_id = None;
    let got = signed(&a.proc.url, &attacker, "POST", "/v1/jobs", serde_json::to_vec(&squat).unwrap()).await;
    assert_eq!(got.0, 201, "{got:?}");
    assert_ne!(got.1["job_id"], serde_json::json!(id_a.to_string()));

    // A registration signed for A, replayed verbatim at B: refused.
    let auth = client_key.sign_request(&a.venue.id(), "POST", "/v1/jobs", &body, unix_now());
    let pairs: Vec<_> = auth.pairs().into_iter().collect();
    assert_error(&raw(&b.proc.url, "POST", "/v1/jobs", &pairs, body.clone()).await, 401, "bad_signature");
    let ok = raw(&a.proc.url, "POST", "/v1/jobs", &pairs, body.clone()).await;
    assert_eq!(ok.0, 201, "{ok:?}");
    assert_eq!(ok.1["job_id"], serde_json::json!(id_a.to_string()));

    // The victim also posts the job at B (same data, same nonce): B's own id.
    let mut job_b = new_job(1);
    job_b.nonce = nonce;
    job_b.job.job_id = id_b;
    b.client(&client_key).register_job(&job_b.register_request(client_key.address(), 100, in_an_hour())).await.unwrap();

    // The provider's proof for A's job releases A's escrow, and is worth
    // nothing at B: B's job has another id, so the statement is for another job.
    let p = provider_key.address();
    let c_a = job_a.c_file();
    let proof_a = tokio::task::spawn_blocking(move || job_a.prove(p)).await.unwrap();
    let out = a.client(&provider_key).deliver(&id_a, &c_a, &proof_a).await.unwrap();
    assert_eq!(out.outcome, SubmitOutcome::Released);
    let e = b.client(&provider_key).submit_proof(&id_b, &proof_a).await.unwrap_err();
    assert_eq!(e.code(), Some("wrong_job"), "{e}");
    let e = b.client(&provider_key).submit_proof(&id_a, &proof_a).await.unwrap_err();
    assert_eq!(e.code(), Some("unknown_job"), "{e}");
    // A provider's submission signed for A is refused by B as well.
    let path = format!("/v1/jobs/{id_b}/proof");
    let auth = provider_key.sign_request(&a.venue.id(), "POST", &path, &proof_a.to_bytes(), unix_now());
    let pairs: Vec<_> = auth.pairs().into_iter().collect();
    assert_error(&raw(&b.proc.url, "POST", &path, &pairs, proof_a.to_bytes()).await, 401, "bad_signature");
    assert_eq!(b.client(&client_key).job(&id_b).await.unwrap().state, EscrowState::Locked);

    for v in [&a, &b] {
        assert!(ledger_tool(&v.ledger, &["audit"]).contains("ledger consistent"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escrow_locks_only_money_that_exists() {
    let dir = tempfile::tempdir().unwrap();
    let s =
        venue_service(&dir, "l.db", &["--max-open-jobs", "2", "--max-price", "1000000", "--sweep-interval-secs", "1"]);
    let client_key = Signer::random();
    let c = s.client(&client_key);
    let reg = |seed: u64, price: u64, deadline: i64| {
        let mut tj = new_job(seed);
        tj.job.job_id = s.venue.job_id(client_key.address(), &tj.nonce);
        tj.register_request(client_key.address(), price as u128, deadline)
    };

    // No deposit: nothing to lock.
    let e = c.register_job(&reg(1, 10, in_an_hour())).await.unwrap_err();
    assert_eq!(e.code(), Some("insufficient_funds"), "{e}");
    // Free and absurd prices.
    for price in ["0", "1000001", "340282366920938463463374607431768211455"] {
        let mut r = reg(2, 1, in_an_hour());
        r.price = price.into();
        let got = signed(&s.proc.url, &client_key, "POST", "/v1/jobs", serde_json::to_vec(&r).unwrap()).await;
        assert_error(&got, 400, "invalid_price");
    }

    s.fund(&client_key, 250);
    // 100 + 100 locked; a third job is over the quota, even with money left.
    let j1 = c.register_job(&reg(3, 100, unix_now() + 4)).await.unwrap();
    c.register_job(&reg(4, 100, in_an_hour())).await.unwrap();
    let e = c.register_job(&reg(5, 10, in_an_hour())).await.unwrap_err();
    assert_eq!(e.code(), Some("quota_exceeded"), "{e}");
    let acct = c.account(client_key.address()).await.unwrap();
    assert_eq!((acct.balance.as_str(), acct.open_jobs), ("50", 2));

    // The expired job is refunded by the sweep, without the client asking:
    // its money and its quota slot come back.
    let t = Instant::now();
    loop {
        let v = c.job(&j1.job_id).await.unwrap();
        if v.state == EscrowState::Refunded {
            assert_eq!(v.events.last().unwrap().actor, veriflop_service::ledger::SERVICE_ACTOR);
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(15), "the expired job was never refunded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let acct = c.account(client_key.address()).await.unwrap();
    assert_eq!((acct.balance.as_str(), acct.open_jobs), ("150", 1));
    let e = c.register_job(&reg(7, 151, in_an_hour())).await.unwrap_err();
    assert_eq!(e.code(), Some("insufficient_funds"), "{e}");
    c.register_job(&reg(8, 150, in_an_hour())).await.unwrap();
    let kinds: Vec<String> =
        c.account(client_key.address()).await.unwrap().events.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["deposit", "lock", "lock", "refund", "lock"]);

    // The operator cannot withdraw more than a balance holds.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veriflop-verifier"))
        .args(["withdraw", "--to", &client_key.address().to_string(), "--amount", "1", "--ledger", &s.ledger])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("less than"), "{out:?}");
    assert!(ledger_tool(&s.ledger, &["audit"]).contains("ledger consistent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halo2_key_work_cannot_be_bought_by_requests() {
    // A key directory with an SRS; the operator allows one small halo2 shape.
    let keys = tempfile::tempdir().unwrap();
    veriflop_halo2::setup_srs(12, [5; 32])
        .unwrap()
        .write_file(&keys.path().join(veriflop_verifier::keys::SRS_FILE))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite(&dir, "l.db");
    let keys_arg = keys.path().to_str().unwrap().to_string();
    let proc = Proc::start(&ledger, &["--keys", &keys_arg, "--halo2-shapes", "3x4x2"], &[], None);
    // The allowed shape's key was derived once, before the service listened.
    assert_eq!(metric(&proc.url, "veriflop_halo2_key_derivations_total").await, 1);

    // Signed registrations of halo2 jobs for shapes nobody allowed — one of
    // them 48³, ~25 s of key derivation before the fix — are refused at once.
    let client_key = Signer::random();
    ledger_tool(&ledger, &["deposit", "--to", &client_key.address().to_string(), "--amount", "100000"]);
    let c = Client::new(&proc.url, client_key.clone());
    let venue = c.venue().await.unwrap().venue().unwrap();
    let t = Instant::now();
    for n in [48u32, 40, 33, 20, 9] {
        let shape = veriflop_circuits::Shape::new(n, n, n, veriflop_circuits::Dtype::Int8).unwrap();
        let a = veriflop_circuits::InputMatrix::random(n as usize, n as usize, shape.dtype, 1).unwrap();
        let job = veriflop_circuits::Job::new(
            veriflop_circuits::JobId::random(),
            veriflop_circuits::CircuitKind::Poseidon,
            shape,
            None,
            &a,
            &a,
        )
        .unwrap()
        .with_system(veriflop_circuits::ProofSystem::Halo2KzgBn254)
        .unwrap();
        let nonce = veriflop_circuits::Bytes32::random();
        let job = veriflop_circuits::Job { job_id: venue.job_id(client_key.address(), &nonce), ..job };
        let req = veriflop_service::client::RegisterJob::for_job(&job, nonce, 10, in_an_hour(), client_key.address());
        let e = c.register_job(&req).await.unwrap_err();
        assert_eq!(e.code(), Some("unknown_shape"), "{e}");
    }
    let took = t.elapsed();
    assert!(took < Duration::from_secs(3), "five refusals took {took:?}");
    assert_eq!(metric(&proc.url, "veriflop_halo2_key_derivations_total").await, 1);
    assert_eq!(metric(&proc.url, "veriflop_halo2_keys_cached").await, 1);
    // Nothing was locked for the refused jobs.
    assert_eq!(c.account(client_key.address()).await.unwrap().balance, "100000");
}
