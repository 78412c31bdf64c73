//! Shared fixtures for the service tests: one key pair for a tiny shape, jobs,
//! honest proofs made with veriflop-prover, and raw signed HTTP requests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use rand::rngs::OsRng;
use veriflop_circuits::cp::CommitKey;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Address, Bytes32, CircuitKind, Dtype, InputMatrix, Job, JobId, Shape, Witness};
use veriflop_prover::{prove_bundle, CpuBackend, ProveOptions, ProverKey};
use veriflop_service::client::{Client, Config, RegisterJob, ServiceHandle};
use veriflop_verifier::auth::{unix_now, Signer};
use veriflop_verifier::{ProofBundle, ShapeKey};

pub const KIND: CircuitKind = CircuitKind::Committed;

pub fn shape() -> Shape {
    Shape::new(4, 4, 4, Dtype::Int8).unwrap()
}

pub struct Keys {
    pub pk: ProverKey,
    pub vk: ShapeKey,
    pub ck: CommitKey,
    pub dir: tempfile::TempDir,
}

/// One key pair per test binary, its verifying key in a key directory.
pub fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let (pk, vk) = veriflop_prover::setup::generate(KIND, shape(), &mut OsRng).unwrap();
        let ck = pk.commit_key().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let name = veriflop_service::keys::vk_file_name(KIND, &shape());
        std::fs::write(dir.path().join(name), vk.to_bytes()).unwrap();
        // The commitment key beside it: the service checks uploads with it.
        let stem = veriflop_verifier::keys::key_file_stem(KIND, &shape());
        std::fs::write(dir.path().join(format!("{stem}.ck")), veriflop_verifier::keys::ck_to_bytes(&ck)).unwrap();
        Keys { pk, vk, ck, dir }
    })
}

pub fn key_dir() -> PathBuf {
    keys().dir.path().to_path_buf()
}

/// A job with its input matrices and the client's nonce.
pub struct TestJob {
    pub job: Job,
    pub a: InputMatrix,
    pub b: InputMatrix,
    pub nonce: Bytes32,
}

pub fn new_job(seed: u64) -> TestJob {
    let s = shape();
    let a = InputMatrix::random(s.m as usize, s.k as usize, s.dtype, seed).unwrap();
    let b = InputMatrix::random(s.k as usize, s.n as usize, s.dtype, seed + 1).unwrap();
    // The id is a placeholder until `at` derives it for a service and client.
    let job = Job::new(JobId::random(), KIND, s, Some(&keys().ck), &a, &b).unwrap();
    TestJob { job, a, b, nonce: Bytes32::random() }
}

impl TestJob {
    /// This job as `client` posts it at the service `h` (its id derived from the venue).
    pub fn at(mut self, h: &ServiceHandle, client: Address) -> Self {
        self.job.job_id = h.state.venue.job_id(client, &self.nonce);
        self
    }

    /// An honest proof for this job paying `provider`.
    pub fn prove(&self, provider: Address) -> ProofBundle {
        let c = matmul(&shape(), &self.a, &self.b).unwrap();
        let w = Witness { job_id: self.job.job_id.0, provider, a: self.a.clone(), b: self.b.clone(), c };
        prove_bundle(&keys().pk, w, &CpuBackend::new(), &mut OsRng, ProveOptions::default(), &|_| {}).unwrap().0
    }

    pub fn register_request(&self, client: Address, price: u128, deadline: i64) -> RegisterJob {
        RegisterJob::for_job(&self.job, self.nonce, price, deadline, client)
    }

    /// C = A·B in a temporary `.vfm` file (what a provider delivers).
    pub fn c_file(&self) -> tempfile::TempPath {
        write_c(&self.a, &self.b)
    }

    /// A and B in temporary `.npy` files (what a client uploads).
    pub fn input_files(&self) -> (tempfile::TempPath, tempfile::TempPath) {
        (write_matrix_file(&self.a, "npy"), write_matrix_file(&self.b, "npy"))
    }
}

/// A·B in a temporary `.vfm` file.
pub fn write_c(a: &InputMatrix, b: &InputMatrix) -> tempfile::TempPath {
    write_matrix_file(&veriflop_circuits::execute::matmul_naive(a, b), "vfm")
}

/// A matrix in a temporary file of the given extension.
pub fn write_matrix_file<T: Copy + Into<i128>>(m: &veriflop_circuits::Matrix<T>, ext: &str) -> tempfile::TempPath {
    let p = tempfile::Builder::new().suffix(&format!(".{ext}")).tempfile().unwrap().into_temp_path();
    veriflop_circuits::matrix::write_matrix(&p, m).unwrap();
    p
}

pub fn test_config() -> Config {
    Config { key_dir: key_dir(), rate_limit_per_minute: 0, ..Config::default() }
}

/// A local service on a temporary SQLite ledger.
pub async fn local() -> (ServiceHandle, String) {
    let (_, h) = veriflop_service::client::spawn_local(test_config()).await.unwrap();
    let url = h.url();
    (h, url)
}

pub fn in_an_hour() -> i64 {
    unix_now() + 3600
}

/// A raw request with chosen auth headers, for the tests that forge them.
pub async fn raw(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut req =
        client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{url}{path}")).body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json)
}

/// Credits `address` with plenty to lock in jobs.
pub async fn fund(h: &ServiceHandle, address: Address) {
    h.state.ledger.deposit(address, 1_000_000_000_000, "test", None, unix_now()).await.unwrap();
}

/// The venue id of the service at `url` (what requests are signed for).
pub async fn venue_id(url: &str) -> Bytes32 {
    let bytes = reqwest::get(format!("{url}/v1/venue")).await.unwrap().bytes().await.unwrap();
    let v: veriflop_service::client::VenueInfo = serde_json::from_slice(&bytes).unwrap();
    v.venue_id
}

/// A signed raw request.
pub async fn signed(url: &str, signer: &Signer, method: &str, path: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let auth = signer.sign_request(&venue_id(url).await, method, path, &body, unix_now());
    let pairs: Vec<(&str, String)> = auth.pairs().into_iter().collect();
    raw(url, method, path, &pairs, body).await
}

/// Asserts a JSON error with this status and code.
pub fn assert_error(got: &(u16, serde_json::Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "expected {status} {code}, got {got:?}");
    assert_eq!(got.1["code"], code, "expected {code}, got {got:?}");
    assert!(got.1["message"].as_str().is_some_and(|m| !m.is_empty()), "no message in {got:?}");
}

pub fn client(url: &str, signer: &Signer) -> Client {
    Client::new(url, signer.clone())
}

/// The service binary, started on port 0 with `args`; its URL from the
/// "listening on" line. Killed when dropped.
pub struct Proc {
    pub child: std::process::Child,
    pub url: String,
}

impl Proc {
    /// Starts `veriflop-verifier` with no rate limit, `args`, and this test
    /// binary's key directory unless `args` names one; `nofile` caps its open files.
    pub fn start(ledger: &str, args: &[&str], env: &[(&str, String)], nofile: Option<u64>) -> Proc {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_veriflop-verifier"));
        cmd.args(["--listen", "127.0.0.1:0", "--rate-limit-per-minute", "0", "--ledger", ledger]);
        if !args.contains(&"--keys") {
            cmd.arg("--keys").arg(key_dir());
        }
        if !args.contains(&"--blobs") {
            cmd.arg("--blobs").arg(blobs_for(ledger));
        }
        cmd.args(args)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child before exec.
            unsafe {
                cmd.pre_exec(move || {
                    let l = libc::rlimit { rlim_cur: n, rlim_max: n };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Proc { child, url }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.url.strip_prefix("http://").unwrap().parse().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The blob store the binary uses with `ledger` in these tests: one per ledger,
/// kept across restarts, in the temporary directory (never the working one).
pub fn blobs_for(ledger: &str) -> PathBuf {
    use sha2::Digest;
    let h = hex::encode(&sha2::Sha256::digest(ledger.as_bytes())[..8]);
    std::env::temp_dir().join(format!("veriflop-test-blobs-{h}"))
}

/// Runs an operator ledger subcommand of the service binary; returns its stdout.
pub fn ledger_tool(ledger: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veriflop-verifier"))
        .args(args)
        .args(["--ledger", ledger])
        .arg("--blobs")
        .arg(blobs_for(ledger))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// A value of a Prometheus metric line that starts with `name`.
pub async fn metric(url: &str, name: &str) -> u64 {
    let text = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}
