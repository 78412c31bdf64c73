//! The verifier service with both proof systems: a key directory holding the
//! halo2 SRS beside a Groth16 key; halo2 jobs registered, verified and released
//! over HTTP, and the halo2 rejections with their stable codes.

mod common;

use std::sync::OnceLock;

use common::{assert_error, client, in_an_hour, signed};
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{CircuitKind, Dtype, InputMatrix, Job, JobId, ProofSystem, Shape, Witness};
use veriflop_verifier::auth::Signer;
use veriflop_verifier::client::{spawn_local, Config, RegisterJob, SubmitOutcome};
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
}

fn h2_job(seed: u64) -> H2Job {
    let s = shape();
    let a = InputMatrix::random(3, 4, s.dtype, seed).unwrap();
    let b = InputMatrix::random(4, 2, s.dtype, seed + 1).unwrap();
    let job = Job::new(JobId::random(), CircuitKind::Poseidon, s, None, &a, &b)
        .unwrap()
        .with_system(ProofSystem::Halo2KzgBn254)
        .unwrap();
    H2Job { job, a, b }
}

impl H2Job {
    fn prove(&self, provider: veriflop_circuits::Address) -> ProofBundle {
        let srs = veriflop_halo2::Srs::read_file(&key_dir().path().join(SRS_FILE)).unwrap();
        let c = matmul(&shape(), &self.a, &self.b).unwrap();
        let w = Witness { job_id: self.job.job_id.0, provider, a: self.a.clone(), b: self.b.clone(), c };
        veriflop_prover::halo2::prove_halo2_bundle(&srs, &shape(), &w).unwrap().0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halo2_jobs_are_verified_and_released() {
    let config = Config { key_dir: key_dir().path().to_path_buf(), rate_limit_per_minute: 0, ..Config::default() };
    let (_, h) = spawn_local(config).await.unwrap();
    let url = h.url();
    let client_key = Signer::random();
    let provider_key = Signer::random();
    let c = client(&url, &client_key);
    let p = client(&url, &provider_key);
    let provider = provider_key.address();

    // Registration: the halo2 key of a new shape is derived from the SRS.
    let tj = h2_job(1);
    let view = c.register_job(&RegisterJob::for_job(&tj.job, 1000, in_an_hour(), client_key.address())).await.unwrap();
    assert_eq!(view.system, ProofSystem::Halo2KzgBn254);
    let shapes = c.shapes().await.unwrap();
    assert!(shapes.iter().any(|s| s.system == ProofSystem::Halo2KzgBn254 && s.shape == shape()), "{shapes:?}");

    // A shape larger than the SRS serves (64×64×64 needs 2^15 rows, the SRS has 2^12).
    let big = Shape::new(64, 64, 64, Dtype::Int8).unwrap();
    let (a, b) =
        (InputMatrix::random(64, 64, Dtype::Int8, 1).unwrap(), InputMatrix::random(64, 64, Dtype::Int8, 2).unwrap());
    let big_job = Job::new(JobId::random(), CircuitKind::Poseidon, big, None, &a, &b)
        .unwrap()
        .with_system(ProofSystem::Halo2KzgBn254)
        .unwrap();
    let body = serde_json::to_vec(&RegisterJob::for_job(&big_job, 1000, in_an_hour(), client_key.address())).unwrap();
    let got = signed(&url, &client_key, "POST", "/v1/jobs", body).await;
    assert_error(&got, 400, "unknown_shape");
    assert!(got.1["message"].as_str().unwrap().contains("2^15"), "{got:?}");

    // halo2 proves Poseidon jobs only: a committed halo2 job is refused.
    let mut bad = RegisterJob::for_job(&h2_job(3).job, 1000, in_an_hour(), client_key.address());
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
    let groth = common::new_job(9).prove(provider);
    let mut relabelled = groth.clone();
    relabelled.statement = good.statement.clone();
    relabelled.circuit = CircuitKind::Poseidon;
    relabelled.commitments = None;
    assert_error(&signed(&url, &provider_key, "POST", &path, relabelled.to_bytes()).await, 400, "system_mismatch");
    assert_eq!(c.job(&tj.job.job_id).await.unwrap().events.len(), 1, "nothing but the registration");

    // The honest proof releases the escrow, once.
    let r = p.submit_proof(&tj.job.job_id, &good).await.unwrap();
    assert_eq!(r.outcome, SubmitOutcome::Released);
    assert_eq!(r.payee, provider);
    let r = p.submit_proof(&tj.job.job_id, &good).await.unwrap();
    assert_eq!(r.outcome, SubmitOutcome::AlreadyReleased);
    let view = c.job(&tj.job.job_id).await.unwrap();
    assert_eq!(view.system, ProofSystem::Halo2KzgBn254);
    assert_eq!(view.job(), tj.job);

    // A Groth16 job on the same service still works beside it.
    let gj = common::new_job(11);
    c.register_job(&gj.register_request(client_key.address(), 5, in_an_hour())).await.unwrap();
    let r = p.submit_proof(&gj.job.job_id, &gj.prove(provider)).await.unwrap();
    assert_eq!(r.outcome, SubmitOutcome::Released);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_srs_halo2_jobs_are_unknown_shapes() {
    let config = Config { key_dir: common::key_dir(), rate_limit_per_minute: 0, ..Config::default() };
    let (_, h) = spawn_local(config).await.unwrap();
    let url = h.url();
    let client_key = Signer::random();
    let req = RegisterJob::for_job(&h2_job(5).job, 1000, in_an_hour(), client_key.address());
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
    let err = veriflop_verifier::service::keys::KeyRegistry::load(dir.path()).err().expect("refused");
    assert!(err.to_string().contains(SRS_FILE), "{err}");
    // Truncated.
    std::fs::write(dir.path().join(SRS_FILE), &bytes[..bytes.len() / 2]).unwrap();
    assert!(veriflop_verifier::service::keys::KeyRegistry::load(dir.path()).is_err());
}
