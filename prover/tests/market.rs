//! The market as its users run it: the verifier service, provider agents
//! (`veriflop-prover work`) and clients (`veriflop-prover client …`) as separate
//! processes over loopback HTTP, on SQLite and on PostgreSQL.
//!
//! - three agents race for ten jobs: each is paid exactly once, and each client
//!   fetches a C equal to A·B;
//! - an agent SIGKILLed mid-proof: its lease expires, another agent completes the
//!   job, and the killed agent's restart forgets its stale claim;
//! - the service SIGKILLed during an upload: after a restart the ledger and the
//!   blob store agree (`veriflop-verifier audit`);
//! - an inference job: posted with its input batch and model file, proven and
//!   delivered by an agent holding the model's proving key, its output fetched.
//!
//! PostgreSQL tests need a server: `eval "$(scripts/pg-test-server.sh)"` sets
//! VERIFLOP_TEST_PG_URL. Without it they fail, unless VERIFLOP_SKIP_PG=1.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use veriflop_circuits::execute::matmul_naive;
use veriflop_circuits::matrix::write_matrix;
use veriflop_circuits::{Dtype, InputMatrix};

const PRICE: u64 = 1000;

fn prover() -> &'static str {
    env!("CARGO_BIN_EXE_veriflop-prover")
}

/// The verifier service binary, built beside this package's by `cargo test --workspace`.
fn verifier() -> PathBuf {
    let p = Path::new(prover()).with_file_name("veriflop-verifier");
    assert!(p.is_file(), "{} is not built: run the tests with --workspace (scripts/test does)", p.display());
    p
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn secret() -> String {
    format!("0x{}", hex::encode(rand::random::<[u8; 32]>()))
}

fn address_of(secret: &str) -> String {
    veriflop_verifier::auth::Signer::from_hex(secret).unwrap().address().to_string()
}

/// A market: a key directory for one small shape, and the service's state.
struct Market {
    dir: tempfile::TempDir,
    ledger: String,
    /// The blob store's URL (a local directory unless [`Market::on_s3`]) and
    /// the environment the service needs for it.
    blobs: String,
    blob_env: Vec<(&'static str, String)>,
}

impl Market {
    fn new(ledger: Option<String>) -> Market {
        let dir = tempfile::tempdir().unwrap();
        let ledger = ledger.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("ledger.db").display()));
        run(Command::new(prover())
            .args(["--quiet", "setup", "--shape", "4x4x4", "--dtype", "int8", "--keys"])
            .arg(dir.path().join("keys")));
        let blobs = dir.path().join("blobs").display().to_string();
        Market { dir, ledger, blobs, blob_env: Vec::new() }
    }

    /// The blob store on the S3-compatible server of `scripts/s3-test-server.sh`,
    /// under a prefix of its own; `None` (skipped) with VERIFLOP_SKIP_S3=1.
    fn on_s3(mut self) -> Option<Market> {
        let (Ok(url), Ok(endpoint)) =
            (std::env::var("VERIFLOP_TEST_S3_URL"), std::env::var("VERIFLOP_TEST_S3_ENDPOINT"))
        else {
            if std::env::var("VERIFLOP_SKIP_S3").as_deref() == Ok("1") {
                eprintln!("SKIPPED: S3 test (VERIFLOP_SKIP_S3=1)");
                return None;
            }
            panic!("VERIFLOP_TEST_S3_URL is not set: eval \"$(scripts/s3-test-server.sh)\", or VERIFLOP_SKIP_S3=1");
        };
        self.blobs = format!("{url}/{}", hex::encode(rand::random::<[u8; 6]>()));
        self.blob_env = vec![
            ("AWS_ENDPOINT", endpoint),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ];
        Some(self)
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn tool(&self, args: &[&str]) -> String {
        let out = run(Command::new(verifier())
            .args(args)
            .args(["--ledger", &self.ledger, "--blobs", &self.blobs])
            .envs(self.blob_env.iter().map(|(k, v)| (k, v))));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start_service(&self) -> Service {
        let mut child = Command::new(verifier())
            .args(["--listen", "127.0.0.1:0", "--rate-limit-per-minute", "0", "--ledger", &self.ledger])
            .args(["--sweep-interval-secs", "1", "--blobs", &self.blobs])
            .envs(self.blob_env.iter().map(|(k, v)| (k, v)))
            .arg("--keys")
            .arg(self.path("keys"))
            .env("RUST_LOG", std::env::var("VERIFLOP_TEST_SERVICE_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_string();
        Service { child, url }
    }

    /// A client posts a job from fresh matrices; returns (job file, A·B).
    fn post(&self, url: &str, key: &str, seed: u64, lease_secs: u64) -> (PathBuf, veriflop_circuits::OutputMatrix) {
        self.post_with(url, key, seed, lease_secs, &[])
    }

    /// [`Market::post`] with more `client post` arguments.
    fn post_with(
        &self,
        url: &str,
        key: &str,
        seed: u64,
        lease_secs: u64,
        extra: &[&str],
    ) -> (PathBuf, veriflop_circuits::OutputMatrix) {
        let d = self.path(&format!("client/{seed}"));
        std::fs::create_dir_all(&d).unwrap();
        let a = InputMatrix::random(4, 4, Dtype::Int8, seed).unwrap();
        let b = InputMatrix::random(4, 4, Dtype::Int8, seed + 1000).unwrap();
        write_matrix(&d.join("a.npy"), &a).unwrap();
        write_matrix(&d.join("b.npy"), &b).unwrap();
        let job = d.join("job.json");
        run(Command::new(prover())
            .args(["--quiet", "client", "post", "--url", url, "--price", &PRICE.to_string()])
            .args(["--lease-secs", &lease_secs.to_string()])
            .args(extra)
            .arg("--a")
            .arg(d.join("a.npy"))
            .arg("--b")
            .arg(d.join("b.npy"))
            .arg("--keys")
            .arg(self.path("keys"))
            .arg("--out")
            .arg(&job)
            .env("VERIFLOP_CLIENT_KEY", key));
        (job, matmul_naive(&a, &b))
    }

    fn agent(&self, url: &str, key: &str, name: &str, extra: &[&str]) -> Command {
        let mut cmd = Command::new(prover());
        cmd.args(["work", "--url", url, "--poll-secs", "0.1"])
            .arg("--keys")
            .arg(self.path("keys"))
            .arg("--work-dir")
            .arg(self.path(&format!("work-{name}")))
            .args(["--backend", "cpu", "--gemm", "cpu"])
            .args(extra)
            .env("VERIFLOP_PROVIDER_KEY", key)
            .env_remove("VERIFLOP_FAULT_PROVE_DELAY_MS");
        cmd
    }

    fn job_view(&self, url: &str, job: &Path) -> serde_json::Value {
        let out = run(Command::new(prover())
            .args(["--json", "client", "status", "--url", url, "--key", &secret()])
            .arg("--job")
            .arg(job));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["job"].clone()
    }

    /// The client fetches C (checked against the proven cm_C) and reads it back.
    fn fetch(&self, url: &str, key: &str, job: &Path) -> veriflop_circuits::OutputMatrix {
        let out = job.with_file_name("c.npy");
        run(Command::new(prover())
            .args(["--quiet", "client", "fetch", "--url", url])
            .arg("--job")
            .arg(job)
            .arg("--keys")
            .arg(self.path("keys"))
            .arg("--out")
            .arg(&out)
            .env("VERIFLOP_CLIENT_KEY", key));
        let m = veriflop_circuits::matrix::read_matrix(&out).unwrap();
        veriflop_circuits::Matrix::new(m.rows, m.cols, m.data).unwrap()
    }
}

struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pg_database() -> Option<String> {
    let Ok(url) = std::env::var("VERIFLOP_TEST_PG_URL") else {
        if std::env::var("VERIFLOP_SKIP_PG").as_deref() == Ok("1") {
            eprintln!("SKIPPED: PostgreSQL test (VERIFLOP_SKIP_PG=1)");
            return None;
        }
        panic!("VERIFLOP_TEST_PG_URL is not set: eval \"$(scripts/pg-test-server.sh)\", or VERIFLOP_SKIP_PG=1");
    };
    use sqlx::Executor;
    let name = format!("veriflop_test_{}", hex::encode(rand::random::<[u8; 6]>()));
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.unwrap();
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    });
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap();
    Some(format!("{base}/{name}"))
}

fn three_agents_race_for_ten_jobs(ledger: Option<String>) {
    let m = Market::new(ledger);
    let svc = m.start_service();
    let client = secret();
    m.tool(&["deposit", "--to", &address_of(&client), "--amount", &(10 * PRICE).to_string()]);
    let jobs: Vec<_> = (0..10).map(|i| m.post(&svc.url, &client, 10 + i, 60)).collect();
    let providers: Vec<String> = (0..3).map(|_| secret()).collect();
    let agents: Vec<Child> = providers
        .iter()
        .enumerate()
        .map(|(i, key)| {
            m.agent(&svc.url, key, &i.to_string(), &["--exit-when-idle"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut delivered = 0;
    for a in agents {
        let out = a.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "agent failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        delivered += text.lines().filter(|l| l.contains("Released")).count();
    }
    assert_eq!(delivered, 10, "every job delivered once, by one agent");
    // The race cost the ledger nothing: no request failed on a busy database.
    let metrics = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { reqwest::get(format!("{}/metrics", svc.url)).await.unwrap().text().await.unwrap() });
    assert!(!metrics.contains("reason=\"ledger_unavailable\""), "{metrics}");
    // Each job paid exactly once; each client gets A·B, checked.
    for (job, want) in &jobs {
        let v = m.job_view(&svc.url, job);
        assert_eq!(v["state"], "released", "{v}");
        let kinds: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["registered", "released"]);
        assert_eq!(&m.fetch(&svc.url, &client, job), want);
    }
    let total: u64 = providers
        .iter()
        .map(|k| {
            let out = m.tool(&["balance", &address_of(k), "--json"]);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            v["balance"].as_str().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(total, 10 * PRICE, "the providers hold exactly the ten prices");
    assert!(m.tool(&["audit"]).contains("blob store consistent"));
}

#[test]
fn three_agents_race_for_ten_jobs_on_sqlite() {
    three_agents_race_for_ten_jobs(None);
}

#[test]
fn three_agents_race_for_ten_jobs_on_postgres() {
    let Some(db) = pg_database() else { return };
    three_agents_race_for_ten_jobs(Some(db));
}

#[test]
fn the_market_runs_on_s3_blob_storage() {
    let Some(m) = Market::new(None).on_s3() else { return };
    let svc = m.start_service();
    let (client, provider) = (secret(), secret());
    m.tool(&["deposit", "--to", &address_of(&client), "--amount", &(2 * PRICE).to_string()]);
    let jobs: Vec<_> = (0..2).map(|i| m.post(&svc.url, &client, 50 + i, 60)).collect();
    let out = run(&mut m.agent(&svc.url, &provider, "p", &["--max-jobs", "2"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("Released").count(), 2);
    for (job, want) in &jobs {
        assert_eq!(&m.fetch(&svc.url, &client, job), want);
    }
    // Inputs and results are in the bucket, and every ledger reference resolves there.
    let audit = m.tool(&["audit"]);
    assert!(audit.contains("ledger consistent"), "{audit}");
    assert!(audit.contains("blob store consistent"), "{audit}");
    // The bucket itself holds them, content-addressed: 2 × (A, B, C).
    let (bucket, prefix) = m.blobs.trim_start_matches("s3://").split_once('/').unwrap();
    let endpoint = &m.blob_env[0].1;
    let list = run(Command::new("curl").args(["-sf", &format!("{endpoint}/{bucket}?prefix={prefix}/sha256/")]));
    let list = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.matches("<Key>").count(), 6, "{list}");
}

#[test]
fn an_agent_puts_down_a_lease_stake_only_within_its_limit_and_gets_it_back() {
    let m = Market::new(None);
    let svc = m.start_service();
    let (client, provider) = (secret(), secret());
    m.tool(&["deposit", "--to", &address_of(&client), "--amount", &PRICE.to_string()]);
    m.tool(&["deposit", "--to", &address_of(&provider), "--amount", "40"]);
    let (job, want) = m.post_with(&svc.url, &client, 41, 60, &["--lease-stake", "40"]);
    // By default an agent takes no job that asks a stake.
    let out = run(&mut m.agent(&svc.url, &provider, "p", &["--exit-when-idle"]));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Released"));
    assert_eq!(m.job_view(&svc.url, &job)["market"]["claims"], 0);
    // Within --max-stake it claims (40 from its balance), delivers, and is paid price + stake.
    let out = run(&mut m.agent(&svc.url, &provider, "p", &["--max-stake", "40", "--max-jobs", "1"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Released"));
    let bal: serde_json::Value = serde_json::from_str(&m.tool(&["balance", &address_of(&provider), "--json"])).unwrap();
    assert_eq!(bal["balance"], (PRICE + 40).to_string());
    let kinds: Vec<&str> = bal["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["deposit", "stake", "payout", "unstake"]);
    assert_eq!(m.fetch(&svc.url, &client, &job), want);
    assert!(m.tool(&["audit"]).contains("ledger consistent"));
}

#[test]
fn a_killed_agent_s_lease_expires_and_another_completes_the_job() {
    let m = Market::new(None);
    let svc = m.start_service();
    let client = secret();
    m.tool(&["deposit", "--to", &address_of(&client), "--amount", &PRICE.to_string()]);
    let (job, want) = m.post(&svc.url, &client, 7, 3);
    let (slow, fast) = (secret(), secret());
    // The first agent claims the job, then stalls "mid-proof" and is SIGKILLed.
    let mut a = m
        .agent(&svc.url, &slow, "slow", &[])
        .env("VERIFLOP_FAULT_PROVE_DELAY_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while m.job_view(&svc.url, &job)["market"]["lease_holder"] != address_of(&slow) {
        assert!(t.elapsed() < Duration::from_secs(60), "the agent never claimed the job");
        std::thread::sleep(Duration::from_millis(100));
    }
    a.kill().unwrap();
    a.wait().unwrap();
    // Another agent completes it once the 3 s lease has expired.
    let out = run(&mut m.agent(&svc.url, &fast, "fast", &["--max-jobs", "1"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Released"));
    let v = m.job_view(&svc.url, &job);
    assert_eq!(v["state"], "released");
    assert_eq!(v["payee"], address_of(&fast));
    assert_eq!(v["market"]["claims"], 2);
    assert_eq!(m.fetch(&svc.url, &client, &job), want);
    // The killed agent, restarted, forgets its stale claim and finds no work.
    let out = run(&mut m.agent(&svc.url, &slow, "slow", &["--exit-when-idle"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forgetting job"), "{err}");
    assert!(m.tool(&["audit"]).contains("ledger consistent"));
}

#[test]
fn the_service_killed_mid_upload_leaves_ledger_and_blobs_in_agreement() {
    let m = Market::new(None);
    let svc = m.start_service();
    let client = secret();
    let c = address_of(&client);
    m.tool(&["deposit", "--to", &c, "--amount", &PRICE.to_string()]);
    // A job registered, then an upload of A that stalls halfway when the service dies.
    let (job, _) = m.post(&svc.url, &client, 3, 60);
    let v = m.job_view(&svc.url, &job);
    let id = v["job_id"].as_str().unwrap().to_string();
    let mut svc = svc;
    let body = vec![1u8; 4000]; // within the 4×4 C's upload limit
    let k = veriflop_verifier::auth::keccak256(&body);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let venue: veriflop_service::client::VenueInfo = rt.block_on(async {
        serde_json::from_slice(&reqwest::get(format!("{}/v1/venue", svc.url)).await.unwrap().bytes().await.unwrap())
            .unwrap()
    });
    let signer = veriflop_verifier::auth::Signer::from_hex(&client).unwrap();
    let path = format!("/v1/jobs/{id}/result");
    let auth = signer.sign_streamed_request(&venue.venue_id, "PUT", &path, &k, veriflop_verifier::auth::unix_now());
    let url = svc.url.clone();
    let upload = rt.spawn(async move {
        // Half the body, then nothing: the service is killed while it waits.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        tx.send(Ok(body[..2000].to_vec())).await.unwrap();
        let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
        let mut req = reqwest::Client::new()
            .put(format!("{url}{path}"))
            .header(veriflop_verifier::auth::HEADER_CONTENT_KECCAK, format!("0x{}", hex::encode(k)))
            .body(reqwest::Body::wrap_stream(stream));
        for (n, v) in auth.pairs() {
            req = req.header(n, v);
        }
        let r = req.send().await;
        drop(tx);
        r.map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(500));
    svc.child.kill().unwrap(); // SIGKILL mid-upload
    svc.child.wait().unwrap();
    let answered = rt.block_on(upload).unwrap();
    assert!(answered.as_ref().map_or(true, |s| *s == 408), "the killed upload got {answered:?}");
    // Restarted: the job is as it was, nothing half-written is visible, audit agrees.
    let svc = m.start_service();
    let v = m.job_view(&svc.url, &job);
    assert_eq!(v["state"], "locked");
    assert_eq!(v["market"]["a_stored"], true);
    let audit = m.tool(&["audit"]);
    assert!(audit.contains("ledger consistent") && audit.contains("blob store consistent"), "{audit}");
    // Only complete blobs are in the store: the two inputs.
    let stored: Vec<_> = walk(&m.path("blobs/sha256"));
    assert_eq!(stored.len(), 2, "{stored:?}");
    for f in stored {
        let bytes = std::fs::read(&f).unwrap();
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), f.file_name().unwrap().to_string_lossy());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

fn wait_for_lease(m: &Market, url: &str, job: &Path, holder: &str) {
    let t = Instant::now();
    while m.job_view(url, job)["market"]["lease_holder"] != holder {
        assert!(t.elapsed() < Duration::from_secs(60), "the agent never claimed the job");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_finishes_the_job_in_hand_and_a_second_signal_gives_the_lease_back() {
    let m = Market::new(None);
    let svc = m.start_service();
    let client = secret();
    m.tool(&["deposit", "--to", &address_of(&client), "--amount", &(2 * PRICE).to_string()]);
    let provider = secret();

    // One signal: the agent delivers the job it holds, then exits.
    let (job, want) = m.post(&svc.url, &client, 31, 60);
    let a = m
        .agent(&svc.url, &provider, "term", &[])
        .env("VERIFLOP_FAULT_PROVE_DELAY_MS", "1500")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lease(&m, &svc.url, &job, &address_of(&provider));
    signal(&a, libc::SIGTERM);
    let out = a.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Released"), "{out:?}");
    assert_eq!(m.job_view(&svc.url, &job)["state"], "released");
    assert_eq!(m.fetch(&svc.url, &client, &job), want);

    // Two signals: the lease is given back at once and the job is offered again.
    let (job, _) = m.post(&svc.url, &client, 32, 60);
    let a = m
        .agent(&svc.url, &provider, "term2", &[])
        .env("VERIFLOP_FAULT_PROVE_DELAY_MS", "60000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lease(&m, &svc.url, &job, &address_of(&provider));
    signal(&a, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    signal(&a, libc::SIGTERM);
    let out = a.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 leases given back"), "{out:?}");
    let v = m.job_view(&svc.url, &job);
    assert_eq!(v["state"], "locked");
    assert!(v["market"]["lease_holder"].is_null(), "{v}");
    assert_eq!(v["market"]["claims"], 1);
}

/// An inference job through the binaries: the model owner makes the model's
/// keys (`model setup`), the client posts its input batch with the model file
/// (`client post --model --input`), an agent without the model's proving key
/// leaves the job, one with it runs the model, proves and delivers the output,
/// and the client fetches the output, checked, equal to `model run`'s.
#[test]
fn an_inference_job_is_posted_proven_delivered_and_fetched() {
    let m = Market::new(None);
    let keys = m.path("keys");
    let (model, other) = (m.path("model.json"), m.path("other.json"));
    std::fs::write(&model, veriflop_infer::Model::random_mlp(&[12, 8, 5], 3).to_json()).unwrap();
    std::fs::write(&other, veriflop_infer::Model::random_mlp(&[12, 8, 5], 4).to_json()).unwrap();
    run(Command::new(prover())
        .args(["--quiet", "model", "setup", "--batch", "3", "--model"])
        .arg(&model)
        .arg("--keys")
        .arg(&keys));
    let svc = m.start_service();
    let (client, provider) = (secret(), secret());
    m.tool(&["deposit", "--to", &address_of(&client), "--amount", &PRICE.to_string()]);
    let x = m.path("x.npy");
    write_matrix(&x, &InputMatrix::random(3, 12, Dtype::Int8, 5).unwrap()).unwrap();
    let job = m.path("job.json");
    let post = |model: &Path| {
        Command::new(prover())
            .args(["--quiet", "client", "post", "--url", &svc.url, "--price", &PRICE.to_string(), "--model"])
            .arg(model)
            .arg("--input")
            .arg(&x)
            .arg("--keys")
            .arg(&keys)
            .arg("--out")
            .arg(&job)
            .env("VERIFLOP_CLIENT_KEY", &client)
            .output()
            .unwrap()
    };
    // A model whose keys the client does not hold: refused, nothing locked.
    let out = post(&other);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no verifying key for model"), "{out:?}");
    assert!(!job.exists());
    let out = post(&model);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = m.job_view(&svc.url, &job);
    assert_eq!((v["circuit"].as_str(), v["shape"]["m"].as_u64()), (Some("inference"), Some(3)), "{v}");

    // Without the model's proving key an agent leaves the job.
    let pk = std::fs::read_dir(&keys)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "ipk"))
        .unwrap();
    let aside = pk.with_extension("ipk.aside");
    std::fs::rename(&pk, &aside).unwrap();
    let out = run(&mut m.agent(&svc.url, &provider, "p", &["--exit-when-idle"]));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Released"));
    assert_eq!(m.job_view(&svc.url, &job)["market"]["claims"], 0);
    std::fs::rename(&aside, &pk).unwrap();

    // With it: claimed, checked, run, proven, delivered and paid.
    let out = run(&mut m.agent(&svc.url, &provider, "p", &["--max-jobs", "1"]));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.contains("inference") && line.contains("Released"), "{line}");
    let fetch = |out: &Path| {
        let mut c = Command::new(prover());
        c.args(["--quiet", "client", "fetch", "--url", &svc.url])
            .arg("--job")
            .arg(&job)
            .arg("--keys")
            .arg(&keys)
            .arg("--out")
            .arg(out)
            .env("VERIFLOP_CLIENT_KEY", &client);
        c
    };
    let y = m.path("y.npy");
    run(&mut fetch(&y));
    let want = m.path("want.npy");
    run(Command::new(prover())
        .args(["--quiet", "model", "run", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&x)
        .arg("--out")
        .arg(&want));
    let (got, want) =
        (veriflop_circuits::matrix::read_matrix(&y).unwrap(), veriflop_circuits::matrix::read_matrix(&want).unwrap());
    assert_eq!((got.rows, got.cols), (3, 5));
    assert_eq!(got.data, want.data, "the delivered output is the model's");
    let bal: serde_json::Value = serde_json::from_str(&m.tool(&["balance", &address_of(&provider), "--json"])).unwrap();
    assert_eq!(bal["balance"], PRICE.to_string());
    assert!(m.tool(&["audit"]).contains("ledger consistent"));

    // A blob store that changed the delivered output in place: the download
    // no longer matches the content address the service names, and the client
    // refuses it and writes nothing. (A service that lied about the address
    // too would meet the client's check against the proven cm_C.)
    let stored = walk(&Path::new(&m.blobs).join("sha256"))
        .into_iter()
        .find(|p| {
            let r = std::fs::File::open(p).map(veriflop_circuits::stream::MatrixReader::new);
            r.is_ok_and(|r| r.is_ok_and(|r| (r.rows, r.cols) == (3, 5)))
        })
        .expect("the delivered output in the blob store");
    // Its last byte is the last int8 entry (.npy and .vfm alike).
    let mut bytes = std::fs::read(&stored).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    let mut perms = std::fs::metadata(&stored).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&stored, perms).unwrap();
    std::fs::write(&stored, bytes).unwrap();
    let y2 = m.path("y2.npy");
    let out = fetch(&y2).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SHA-256 differs"), "{out:?}");
    assert!(!y2.exists(), "nothing written");
    let left = walk(y2.parent().unwrap());
    assert!(!left.iter().any(|p| p.to_string_lossy().contains(".c-download-")), "{left:?}");
}
