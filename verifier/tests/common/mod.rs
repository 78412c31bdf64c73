//! Shared fixtures for the service tests: one key pair for a tiny shape, jobs,
//! honest proofs made with veriflop-prover, and raw signed HTTP requests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use rand::rngs::OsRng;
use veriflop_circuits::cp::CommitKey;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Address, CircuitKind, Dtype, InputMatrix, Job, JobId, Shape, Witness};
use veriflop_prover::{prove_bundle, CpuBackend, ProveOptions, ProverKey};
use veriflop_verifier::auth::{unix_now, Signer};
use veriflop_verifier::client::{Client, Config, RegisterJob, ServiceHandle};
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
        let name = veriflop_verifier::service::keys::vk_file_name(KIND, &shape());
        std::fs::write(dir.path().join(name), vk.to_bytes()).unwrap();
        Keys { pk, vk, ck, dir }
    })
}

pub fn key_dir() -> PathBuf {
    keys().dir.path().to_path_buf()
}

/// A job with its input matrices.
pub struct TestJob {
    pub job: Job,
    pub a: InputMatrix,
    pub b: InputMatrix,
}

pub fn new_job(seed: u64) -> TestJob {
    let s = shape();
    let a = InputMatrix::random(s.m as usize, s.k as usize, s.dtype, seed).unwrap();
    let b = InputMatrix::random(s.k as usize, s.n as usize, s.dtype, seed + 1).unwrap();
    let job = Job::new(JobId::random(), KIND, s, Some(&keys().ck), &a, &b).unwrap();
    TestJob { job, a, b }
}

impl TestJob {
    /// An honest proof for this job paying `provider`.
    pub fn prove(&self, provider: Address) -> ProofBundle {
        let c = matmul(&shape(), &self.a, &self.b).unwrap();
        let w = Witness { job_id: self.job.job_id.0, provider, a: self.a.clone(), b: self.b.clone(), c };
        prove_bundle(&keys().pk, w, &CpuBackend::new(), &mut OsRng, ProveOptions::default(), &|_| {}).unwrap().0
    }

    pub fn register_request(&self, client: Address, price: u128, deadline: i64) -> RegisterJob {
        RegisterJob::for_job(&self.job, price, deadline, client)
    }
}

pub fn test_config() -> Config {
    Config { key_dir: key_dir(), rate_limit_per_minute: 0, ..Config::default() }
}

/// A local service on a temporary SQLite ledger.
pub async fn local() -> (ServiceHandle, String) {
    let (_, h) = veriflop_verifier::client::spawn_local(test_config()).await.unwrap();
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

/// A signed raw request.
pub async fn signed(url: &str, signer: &Signer, method: &str, path: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let auth = signer.sign_request(method, path, &body, unix_now());
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
