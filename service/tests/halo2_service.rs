//! The verifier service with both proof systems: a key directory holding the
//! halo2 SRS beside a Groth16 key; halo2 jobs registered, verified and released
//! over HTTP, and the halo2 rejections with their stable codes. halo2 key work
//! is bounded: only allow-listed shapes get keys (at start-up, from the key
//! cache or derived once), everything else is refused without key work.

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{assert_error, client, fund, in_an_hour, signed};
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Bytes32, CircuitKind, Dtype, InputMatrix, Job, JobId, ProofSystem, Shape, Witness};
use veriflop_service::client::{spawn_local, Config, RegisterJob, ServiceHandle, SubmitOutcome};
use veriflop_service::keys::{parse_halo2_shapes, Halo2Policy, KeyRegistry};
use veriflop_verifier::auth::Signer;
use veriflop_verifier::keys::SRS_FILE;
use veriflop_verifier::{Halo2Proof, Proof, ProofBundle};

fn shape() -> Shape {
    Shape::new(3, 4, 2, Dtype::Int8).unwrap()
}

/// A key directory with a development SRS (k = 12) and the Groth16 committed key of `common`.
fn key_dir() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        veriflop_halo2::setup_srs(12, [5; 32]).unwrap().write_file(&dir.path().join(SRS_FILE)).unwrap();
        for entry in std::fs::read_dir(common::key_dir()).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
        dir
    })
}

struct H2Job {
    job: Job,
    a: InputMatrix,
    b: InputMatrix,
    nonce: Bytes32,
}

fn h2_job(seed: u64) -> H2Job {
    let s = shape();
    let a = InputMatrix::random(3, 4, s.dtype, seed).unwrap();
    let b = InputMatrix::random(4, 2, s.dtype, seed + 1).unwrap();
    let job = Job::new(JobId::random(), CircuitKind::Poseidon, s, None, &a, &b)
        .unwrap()
        .with_system(ProofSystem::Halo2KzgBn254)
        .unwrap();
    H2Job { job, a, b, nonce: Bytes32::random() }
}

impl H2Job {
    /// The job as `client` posts it at `h` (id derived from the venue).
    fn at(mut self, h: &ServiceHandle, client: veriflop_circuits::Address) -> Self {
        self.job.job_id = h.state.venue.job_id(client, &self.nonce);
        self
    }

    fn register(&self, client: veriflop_circuits::Address) -> RegisterJob {
        RegisterJob::for_job(&self.job, self.nonce, 1000, in_an_hour(), client)
    }

    fn c_file(&self) -> tempfile::TempPath {
        common::write_c(&self.a, &self.b)
    }

    fn prove(&self, provider: veriflop_circuits::Address) -> ProofBundle {
        let srs = veriflop_halo2::Srs::read_file(&key_dir().path().join(SRS_FILE)).unwrap();
        let c = matmul(&shape(), &self.a, &self.b).unwrap();
        let w = Witness { job_id: self.job.job_id.0, provider, a: self.a.clone(), b: self.b.clone(), c };
        veriflop_prover::halo2::prove_halo2_bundle(&srs, &shape(), &w).unwrap().0
    }
}

/// A fresh key directory holding only the shared SRS (no cached halo2 keys).
fn srs_only_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(key_dir().path().join(SRS_FILE), dir.path().join(SRS_FILE)).unwrap();
    dir
}

fn config(dir: &Path, halo2_shapes: Vec<Shape>) -> Config {
    Config { key_dir: dir.to_path_buf(), rate_limit_per_minute: 0, halo2_shapes, ..Config::default() }
}

/// A Prometheus sample's value from /metrics.
async fn metric(url: &str, name: &str) -> u64 {
    let text = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("no {name}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A signed registration of a halo2 job for `shape` (data of the right size).
fn h2_request(shape: Shape, client_key: &Signer) -> Vec<u8> {
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, 1).unwrap();
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, 2).unwrap();
    let job = Job::new(JobId::random(), CircuitKind::Poseidon, shape, None, &a, &b)
        .unwrap()
        .with_system(ProofSystem::Halo2KzgBn254)
        .unwrap();
    // No job id: the service derives it from its venue, the client and the nonce.
    let mut req = RegisterJob::for_job(&job, Bytes32::random(), 1000, in_an_hour(), client_key.address());
    req.job_id = None;
    serde_json::to_vec(&req).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halo2_jobs_are_verified_and_released() {
    let config = config(key_dir().path(), vec![shape()]);
    let (_, h) = spawn_local(config).await.unwrap();
    let url = h.url();
    let client_key = Signer::random();
    let provider_key = Signer::random();
    let c = client(&url, &client_key);
    let p = client(&url, &provider_key);
    let provider = provider_key.address();

    fund(&h, client_key.address()).await;
    // Registration: the halo2 key of a new shape is derived from the SRS.
    let tj = h2_job(1).at(&h, client_key.address());
    let view = c.register_job(&tj.register(client_key.address())).await.unwrap();
    assert_eq!(view.system, ProofSystem::Halo2KzgBn254);
    let shapes = c.shapes().await.unwrap();
    assert!(shapes.iter().any(|s| s.system == ProofSystem::Halo2KzgBn254 && s.shape == shape()), "{shapes:?}");

    // A shape that is not allowed (64×64×64 would also need 2^15 rows, the SRS has 2^12).
    let big = Shape::new(64, 64, 64, Dtype::Int8).unwrap();
    let (a, b) =
        (InputMatrix::random(64, 64, Dtype::Int8, 1).unwrap(), InputMatrix::random(64, 64, Dtype::Int8, 2).unwrap());
    let big_job = Job::new(JobId::random(), CircuitKind::Poseidon, big, None, &a, &b)
        .unwrap()
        .with_system(ProofSystem::Halo2KzgBn254)
        .unwrap();
    let nonce = Bytes32::random();
    let big_job = Job { job_id: h.state.venue.job_id(client_key.address(), &nonce), ..big_job };
    let body =
        serde_json::to_vec(&RegisterJob::for_job(&big_job, nonce, 1000, in_an_hour(), client_key.address())).unwrap();
    let got = signed(&url, &client_key, "POST", "/v1/jobs", body).await;
    assert_error(&got, 400, "unknown_shape");
    assert!(got.1["message"].as_str().unwrap().contains("halo2 shapes: 3x4x2:int8"), "{got:?}");

    // halo2 proves Poseidon jobs only: a committed halo2 job is refused.
    let mut bad = h2_job(3).at(&h, client_key.address()).register(client_key.address());
    bad.circuit = CircuitKind::Committed;
    let body = serde_json::to_vec(&bad).unwrap();
    assert_error(&signed(&url, &client_key, "POST", "/v1/jobs", body).await, 400, "invalid_job");

    let good = tj.prove(provider);
    let path = format!("/v1/jobs/{}/proof", tj.job.job_id);
    // A tampered proof byte: invalid_proof, nothing released.
    let mut bytes = good.proof.to_bytes();
    bytes[100] ^= 1;
    let mut tampered = good.clone();
    tampered.proof = Proof::Halo2KzgBn254(Halo2Proof(bytes));
    assert_error(&signed(&url, &provider_key, "POST", &path, tampered.to_bytes()).await, 422, "invalid_proof");
    // A truncated proof: invalid_proof.
    let mut short = good.clone();
    short.proof = Proof::Halo2KzgBn254(Halo2Proof(good.proof.to_bytes()[..64].to_vec()));
    assert_error(&signed(&url, &provider_key, "POST", &path, short.to_bytes()).await, 422, "invalid_proof");
    // Another provider submitting the proof: it pays someone else.
    let thief = Signer::random();
    assert_error(&signed(&url, &thief, "POST", &path, good.to_bytes()).await, 403, "wrong_provider");
    // A Groth16 proof of the same statement's shape is the wrong system for this job.
    let groth = common::new_job(9).at(&h, client_key.address()).prove(provider);
    let mut relabelled = groth.clone();
    relabelled.statement = good.statement.clone();
    relabelled.circuit = CircuitKind::Poseidon;
    relabelled.commitments = None;
    assert_error(&signed(&url, &provider_key, "POST", &path, relabelled.to_bytes()).await, 400, "system_mismatch");
    assert_eq!(c.job(&tj.job.job_id).await.unwrap().events.len(), 1, "nothing but the registration");

    // The honest proof, with its C delivered, releases the escrow, once.
    let e = p.submit_proof(&tj.job.job_id, &good).await.unwrap_err();
    assert_eq!(e.code(), Some("result_missing"), "{e}");
    p.upload_result(&tj.job.job_id, &tj.c_file()).await.unwrap();
    let r = p.submit_proof(&tj.job.job_id, &good).await.unwrap();
    assert_eq!(r.outcome, SubmitOutcome::Released);
    assert_eq!(r.payee, provider);
    let r = p.submit_proof(&tj.job.job_id, &good).await.unwrap();
    assert_eq!(r.outcome, SubmitOutcome::AlreadyReleased);
    let view = c.job(&tj.job.job_id).await.unwrap();
    assert_eq!(view.system, ProofSystem::Halo2KzgBn254);
    assert_eq!(view.job(), tj.job);

    // A Groth16 job on the same service still works beside it.
    let gj = common::new_job(11).at(&h, client_key.address());
    c.register_job(&gj.register_request(client_key.address(), 5, in_an_hour())).await.unwrap();
    let r = p.deliver(&gj.job.job_id, &gj.c_file(), &gj.prove(provider)).await.unwrap();
    assert_eq!(r.outcome, SubmitOutcome::Released);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_srs_halo2_jobs_are_unknown_shapes() {
    let config = Config { key_dir: common::key_dir(), rate_limit_per_minute: 0, ..Config::default() };
    let (_, h) = spawn_local(config).await.unwrap();
    let url = h.url();
    let client_key = Signer::random();
    fund(&h, client_key.address()).await;
    let req = h2_job(5).at(&h, client_key.address()).register(client_key.address());
    let got = signed(&url, &client_key, "POST", "/v1/jobs", serde_json::to_vec(&req).unwrap()).await;
    assert_error(&got, 400, "unknown_shape");
    assert!(got.1["message"].as_str().unwrap().contains(SRS_FILE), "{got:?}");
    h.shutdown().await;
}

#[test]
fn a_corrupt_srs_stops_the_service_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    veriflop_halo2::setup_srs(4, [1; 32]).unwrap().write(&mut bytes).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(dir.path().join(SRS_FILE), &bytes).unwrap();
    let err = veriflop_service::keys::KeyRegistry::load(dir.path()).err().expect("refused");
    assert!(err.to_string().contains(SRS_FILE), "{err}");
    // Truncated.
    std::fs::write(dir.path().join(SRS_FILE), &bytes[..bytes.len() / 2]).unwrap();
    assert!(veriflop_service::keys::KeyRegistry::load(dir.path()).is_err());
}

#[test]
fn an_allowed_shape_the_srs_cannot_serve_stops_the_service_at_start() {
    let dir = srs_only_dir();
    let big = Shape::new(64, 64, 64, Dtype::Int8).unwrap();
    let policy = Halo2Policy { shapes: vec![shape(), big], derive_concurrency: 1 };
    let err = KeyRegistry::load_with(dir.path(), policy).err().expect("refused");
    assert!(err.to_string().contains("2^15"), "{err}");
    // An allow-list without an SRS, or a zero concurrency, is refused too.
    let empty = tempfile::tempdir().unwrap();
    let policy = Halo2Policy { shapes: vec![shape()], derive_concurrency: 1 };
    let err = KeyRegistry::load_with(empty.path(), policy).err().expect("refused");
    assert!(err.to_string().contains(SRS_FILE), "{err}");
    let policy = Halo2Policy { shapes: vec![shape()], derive_concurrency: 0 };
    assert!(KeyRegistry::load_with(dir.path(), policy).is_err());
}

#[test]
fn the_allow_list_parses_shapes_with_dtypes() {
    let int16 = Shape::new(32, 48, 16, Dtype::Int16).unwrap();
    assert_eq!(parse_halo2_shapes("3x4x2, 32x48x16:int16,3x4x2:int8,").unwrap(), vec![shape(), int16]);
    assert_eq!(parse_halo2_shapes("").unwrap(), vec![]);
    for bad in ["3x4", "3x4x2:int7", "0x4x2", "axbxc"] {
        assert!(parse_halo2_shapes(bad).is_err(), "{bad}");
    }
}

/// The service derives the allowed shape's key once at start-up; a shape off
/// the list is refused at once with no key work, however many are asked for;
/// concurrent registrations of the allowed shape derive nothing; a restart
/// loads the key from the key cache, and a corrupt cached key is re-derived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halo2_key_work_is_bounded_by_the_allow_list() {
    let dir = srs_only_dir();
    let t = Instant::now();
    let (_, h) = spawn_local(config(dir.path(), vec![shape()])).await.unwrap();
    eprintln!("start-up with one derivation: {:?}", t.elapsed());
    let url = h.url();
    assert_eq!(metric(&url, "veriflop_halo2_key_derivations_total").await, 1);
    assert_eq!(metric(&url, "veriflop_halo2_keys_loaded_total").await, 0);
    assert_eq!(metric(&url, "veriflop_halo2_keys_cached").await, 1);
    assert_eq!(metric(&url, "veriflop_halo2_shapes_allowed").await, 1);
    let fp = veriflop_halo2::Srs::read_fingerprint(&dir.path().join(SRS_FILE)).unwrap().1;
    let cached = veriflop_halo2::KeyCache::new(dir.path()).vk_path(&shape(), &fp);
    assert!(cached.is_file(), "the derived key is cached next to the SRS");

    // Shapes off the list: unknown_shape at once (48³ would take ~25 s to derive), naming the list.
    let client_key = Signer::random();
    let big = Shape::new(48, 48, 48, Dtype::Int8).unwrap();
    let t = Instant::now();
    let got = signed(&url, &client_key, "POST", "/v1/jobs", h2_request(big, &client_key)).await;
    let took = t.elapsed();
    eprintln!("refused a 48³ halo2 registration in {took:?}");
    assert_error(&got, 400, "unknown_shape");
    assert!(got.1["message"].as_str().unwrap().contains("3x4x2:int8"), "{got:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    for n in 2..22u32 {
        let s = Shape::new(n, n + 2, 3, Dtype::Int8).unwrap(); // never the allowed 3×4×2
        let got = signed(&url, &client_key, "POST", "/v1/jobs", h2_request(s, &client_key)).await;
        assert_error(&got, 400, "unknown_shape");
    }
    assert_eq!(metric(&url, "veriflop_halo2_key_derivations_total").await, 1);
    assert_eq!(metric(&url, "veriflop_halo2_keys_cached").await, 1);
    assert_eq!(h.state.keys.halo2_cached(), 1);

    // Concurrent registrations of the allowed shape: all registered, no derivation.
    let keys: Vec<Signer> = (0..8).map(|_| Signer::random()).collect();
    for k in &keys {
        fund(&h, k.address()).await;
    }
    let regs = keys.into_iter().map(|key| {
        let url = url.clone();
        tokio::spawn(async move { signed(&url, &key, "POST", "/v1/jobs", h2_request(shape(), &key)).await.0 })
    });
    for r in regs.collect::<Vec<_>>() {
        assert_eq!(r.await.unwrap(), 201);
    }
    assert_eq!(metric(&url, "veriflop_halo2_key_derivations_total").await, 1);
    assert_eq!(metric(&url, "veriflop_jobs_registered_total").await, 8);
    h.shutdown().await;

    // A restart loads the cached key.
    let (_, h) = spawn_local(config(dir.path(), vec![shape()])).await.unwrap();
    assert_eq!(metric(&h.url(), "veriflop_halo2_key_derivations_total").await, 0);
    assert_eq!(metric(&h.url(), "veriflop_halo2_keys_loaded_total").await, 1);
    h.shutdown().await;

    // A corrupt cached key is refused, derived again and replaced.
    let good = std::fs::read(&cached).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&cached, &bad).unwrap();
    let (_, h) = spawn_local(config(dir.path(), vec![shape()])).await.unwrap();
    assert_eq!(metric(&h.url(), "veriflop_halo2_key_derivations_total").await, 1);
    assert_eq!(metric(&h.url(), "veriflop_halo2_keys_loaded_total").await, 0);
    assert_eq!(std::fs::read(&cached).unwrap(), good);
    h.shutdown().await;
}

/// Concurrent first requests for a shape derive its key once (single flight),
/// and derivations of different shapes run one at a time (the default bound).
#[test]
fn concurrent_key_requests_derive_each_shape_once() {
    let dir = srs_only_dir();
    let other = Shape::new(2, 2, 2, Dtype::Int8).unwrap();
    let policy = Halo2Policy { shapes: vec![shape(), other], derive_concurrency: 1 };
    let reg = Arc::new(KeyRegistry::load_with(dir.path(), policy).unwrap());
    assert_eq!(reg.halo2_cached(), 0);
    let got: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let reg = reg.clone();
                let sh = if i % 3 == 2 { other } else { shape() };
                s.spawn(move || reg.get(ProofSystem::Halo2KzgBn254, CircuitKind::Poseidon, &sh).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(reg.halo2_derivations(), 2);
    assert_eq!(reg.halo2_peak_derivations(), 1);
    assert_eq!(reg.halo2_cached(), 2);
    for (i, v) in got.iter().enumerate() {
        let first = if i % 3 == 2 { &got[2] } else { &got[0] };
        assert!(Arc::ptr_eq(v, first), "one key per shape");
    }
    // Not allowed: refused without key work, and nothing is cached.
    let big = Shape::new(48, 48, 48, Dtype::Int8).unwrap();
    let t = Instant::now();
    let err = reg.get(ProofSystem::Halo2KzgBn254, CircuitKind::Poseidon, &big).err().unwrap();
    assert!(t.elapsed() < Duration::from_millis(100));
    assert!(err.to_string().contains("not served here"), "{err}");
    assert_eq!((reg.halo2_derivations(), reg.halo2_cached()), (2, 2));
    // After warm-up the SRS is released: every allowed key is in memory already.
    reg.warm_up().unwrap();
    assert_eq!(reg.halo2_derivations(), 2);
}

/// The binary's `--halo2-shapes`: allowed shapes are served (their keys come
/// from the key cache here); a malformed list is a usage error.
#[test]
fn the_binary_takes_a_halo2_allow_list() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = srs_only_dir();
    // Cache the key first, so start-up only loads it.
    KeyRegistry::load_with(dir.path(), Halo2Policy { shapes: vec![shape()], derive_concurrency: 1 })
        .unwrap()
        .warm_up()
        .unwrap();
    let bin = env!("CARGO_BIN_EXE_veriflop-verifier");
    let ledger = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let keys = dir.path().to_str().unwrap();
    let blobs = dir.path().join("blobs");
    let blobs = blobs.to_str().unwrap();
    let out = Command::new(bin)
        .args([
            "--keys",
            keys,
            "--ledger",
            &ledger,
            "--blobs",
            blobs,
            "--listen",
            "127.0.0.1:0",
            "--halo2-shapes",
            "3x4",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--halo2-shapes"), "{out:?}");
    let mut child = Command::new(bin)
        .args(["--keys", keys, "--ledger", &ledger, "--blobs", blobs, "--listen", "127.0.0.1:0"])
        .env("VERIFLOP_HALO2_SHAPES", "3x4x2:int8")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (allowed, loaded, derived) = rt.block_on(async {
        (
            metric(&url, "veriflop_halo2_shapes_allowed").await,
            metric(&url, "veriflop_halo2_keys_loaded_total").await,
            metric(&url, "veriflop_halo2_key_derivations_total").await,
        )
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!((allowed, loaded, derived), (1, 1, 0));
}
