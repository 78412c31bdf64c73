//! The halo2 proof system through the bundle, job and verifier layers: the same
//! forged and tampered inputs as the Groth16 path (`adversarial.rs`), rejected.

mod common;

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_ff::Field;
use common::{fixture, PROVIDER};
use veriflop_circuits::commit::{commit_output, Role};
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{commit, Address, CircuitKind, Dtype, InputMatrix, Job, JobId, ProofSystem, Shape, Witness};
use veriflop_halo2::Srs;
use veriflop_prover::halo2::{prove_halo2_bundle, Halo2Error};
use veriflop_verifier::bundle::{BundleError, Halo2Proof};
use veriflop_verifier::{JobTerms, Proof, ProofBundle, Verifier, VerifyError};

/// One development SRS for every shape below (k = 12 covers them).
fn srs() -> &'static Srs {
    static S: OnceLock<Srs> = OnceLock::new();
    S.get_or_init(|| veriflop_halo2::setup_srs(12, [7; 32]).unwrap())
}

fn shape() -> Shape {
    Shape::new(4, 3, 5, Dtype::Int8).unwrap()
}

struct Fx {
    shape: Shape,
    job: Job,
    a: InputMatrix,
    b: InputMatrix,
    verifier: Verifier,
    bundle: ProofBundle,
}

impl Fx {
    fn new(shape: Shape, seed: u64) -> Fx {
        let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, seed).unwrap();
        let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, seed + 1).unwrap();
        let job = Job::new(JobId::random(), CircuitKind::Poseidon, shape, None, &a, &b)
            .unwrap()
            .with_system(ProofSystem::Halo2KzgBn254)
            .unwrap();
        let verifier = Verifier::halo2(veriflop_halo2::keygen_vk(&shape, srs()).unwrap());
        let c = matmul(&shape, &a, &b).unwrap();
        let w = Witness { job_id: job.job_id.0, provider: PROVIDER, a: a.clone(), b: b.clone(), c };
        let bundle = prove_halo2_bundle(srs(), &shape, &w).unwrap().0;
        Fx { shape, job, a, b, verifier, bundle }
    }

    fn witness(&self, provider: Address) -> Witness {
        let c = matmul(&self.shape, &self.a, &self.b).unwrap();
        Witness { job_id: self.job.job_id.0, provider, a: self.a.clone(), b: self.b.clone(), c }
    }

    fn terms(&self) -> JobTerms {
        JobTerms { job: self.job.clone(), provider: Some(PROVIDER) }
    }

    fn proof_bytes(&self) -> &[u8] {
        match &self.bundle.proof {
            Proof::Halo2KzgBn254(p) => &p.0,
            Proof::Groth16Bn254(_) => unreachable!("a halo2 fixture"),
        }
    }

    fn with_proof(&self, bytes: Vec<u8>) -> ProofBundle {
        let mut b = self.bundle.clone();
        b.proof = Proof::Halo2KzgBn254(Halo2Proof(bytes));
        b
    }
}

fn fx() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| Fx::new(shape(), 1))
}

#[test]
fn honest_bundle_verifies_and_round_trips() {
    let f = fx();
    assert_eq!(f.bundle.system(), ProofSystem::Halo2KzgBn254);
    assert_eq!(f.bundle.circuit, CircuitKind::Poseidon);
    f.verifier.verify_for_job(&f.bundle, &f.terms()).unwrap();
    // The statement's commitments are the job's Poseidon commitments.
    assert_eq!((f.bundle.statement.cm_a, f.bundle.statement.cm_b), (f.job.cm_a, f.job.cm_b));
    assert_eq!(f.bundle.statement.cm_c, commit_output(&f.shape, &matmul(&f.shape, &f.a, &f.b).unwrap()));
    for decoded in [ProofBundle::decode(&f.bundle.to_bytes()), ProofBundle::decode(f.bundle.to_json().as_bytes())] {
        let decoded = decoded.unwrap();
        assert_eq!(decoded, f.bundle);
        f.verifier.verify(&decoded).unwrap();
    }
    assert!(f.bundle.to_json().contains("\"halo2-kzg-bn254\""));
    assert_eq!(f.proof_bytes().len(), f.verifier.halo2_key().unwrap().proof_len());
}

#[test]
fn wrong_result_cannot_be_proven() {
    let f = fx();
    for idx in [0usize, 7, 19] {
        let mut w = f.witness(PROVIDER);
        w.c.data[idx] += 1;
        // The honest pipeline refuses ...
        let err = prove_halo2_bundle(srs(), &f.shape, &w).unwrap_err();
        assert!(matches!(err, Halo2Error::Prove(veriflop_halo2::ProveError::WrongResult(i)) if i == idx), "{err}");
        // ... and a cheater that pushes a proof through (claiming the wrong C's
        // commitment) gets one nobody accepts.
        let (pk, _) = veriflop_halo2::keygen(&f.shape, srs()).unwrap();
        let forged =
            veriflop_halo2::proof::prove_unchecked(&pk, w.job_id, w.provider.to_fr(), &w.a, &w.b, &w.c).unwrap();
        let mut b = f.with_proof(forged);
        b.statement.cm_c = commit_output(&f.shape, &w.c);
        assert_eq!(f.verifier.verify_for_job(&b, &f.terms()), Err(VerifyError::InvalidProof), "entry {idx}");
    }
}

#[test]
fn changed_public_inputs_are_rejected() {
    let f = fx();
    let mutations: Vec<(&str, Box<dyn Fn(&mut ProofBundle)>)> = vec![
        ("job_id", Box::new(|b| b.statement.job_id = JobId(b.statement.job_id.0 + Fr::ONE))),
        ("provider", Box::new(|b| b.statement.provider = Address([0x22; 20]))),
        ("cm_a", Box::new(|b| b.statement.cm_a += Fr::ONE)),
        ("cm_b", Box::new(|b| b.statement.cm_b += Fr::ONE)),
        ("cm_c", Box::new(|b| b.statement.cm_c += Fr::ONE)),
        ("swap cm_a/cm_b", Box::new(|b| std::mem::swap(&mut b.statement.cm_a, &mut b.statement.cm_b))),
    ];
    for (what, mutate) in mutations {
        let mut b = f.bundle.clone();
        mutate(&mut b);
        assert_eq!(f.verifier.verify(&b), Err(VerifyError::InvalidProof), "{what}");
    }
}

#[test]
fn tampered_proof_bytes_are_rejected() {
    let f = fx();
    let bytes = f.proof_bytes().to_vec();
    // Flips across the whole proof: commitments, evaluations, openings.
    for i in (0..bytes.len()).step_by(61).chain([bytes.len() - 1]) {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        assert_eq!(f.verifier.verify(&f.with_proof(t)), Err(VerifyError::InvalidProof), "flip at byte {i}");
    }
    // Wrong lengths, empty, all zeros, an all-0xff (non-canonical) proof.
    for t in [
        bytes[..bytes.len() - 1].to_vec(),
        [bytes.clone(), vec![0]].concat(),
        vec![],
        vec![0u8; bytes.len()],
        vec![0xff; bytes.len()],
    ] {
        assert_eq!(f.verifier.verify(&f.with_proof(t)), Err(VerifyError::InvalidProof));
    }
}

#[test]
fn proof_is_bound_to_job_provider_and_shape() {
    let f = fx();
    // Other job: terms check, then the proof itself when relabelled.
    let other_job = Job { job_id: JobId::random(), ..f.job.clone() };
    let err = f.verifier.verify_for_job(&f.bundle, &JobTerms { job: other_job.clone(), provider: Some(PROVIDER) });
    assert!(matches!(err, Err(VerifyError::JobMismatch { .. })), "{err:?}");
    let mut relabelled = f.bundle.clone();
    relabelled.statement.job_id = other_job.job_id;
    assert_eq!(
        f.verifier.verify_for_job(&relabelled, &JobTerms { job: other_job, provider: Some(PROVIDER) }),
        Err(VerifyError::InvalidProof)
    );
    // Other provider: the submitter is not the payee, and re-pointing the payee breaks the proof.
    let thief = Address([0x99; 20]);
    let err = f.verifier.verify_for_job(&f.bundle, &JobTerms { job: f.job.clone(), provider: Some(thief) });
    assert!(matches!(err, Err(VerifyError::ProviderMismatch { .. })), "{err:?}");
    let mut stolen = f.bundle.clone();
    stolen.statement.provider = thief;
    assert_eq!(
        f.verifier.verify_for_job(&stolen, &JobTerms { job: f.job.clone(), provider: Some(thief) }),
        Err(VerifyError::InvalidProof)
    );
    // Other shape: another shape's key refuses the bundle; relabelled, the proof fails.
    let other = Shape::new(5, 3, 4, Dtype::Int8).unwrap();
    let v2 = Verifier::halo2(veriflop_halo2::keygen_vk(&other, srs()).unwrap());
    assert!(matches!(v2.verify(&f.bundle), Err(VerifyError::KeyShapeMismatch { .. })));
    let mut reshaped = f.bundle.clone();
    reshaped.statement.shape = other;
    reshaped.statement.cm_a =
        commit::commit_input(&other, Role::A, &InputMatrix::random(5, 3, Dtype::Int8, 1).unwrap());
    assert_eq!(v2.verify(&reshaped), Err(VerifyError::InvalidProof));
    // The same shape's key from another SRS (another τ) rejects the proof.
    let other_srs = veriflop_halo2::setup_srs(12, [8; 32]).unwrap();
    let v3 = Verifier::halo2(veriflop_halo2::keygen_vk(&f.shape, &other_srs).unwrap());
    assert_ne!(v3.fingerprint(), f.verifier.fingerprint());
    assert_eq!(v3.verify(&f.bundle), Err(VerifyError::InvalidProof));
}

#[test]
fn systems_and_circuits_cannot_be_mixed() {
    let f = fx();
    // A Groth16 Poseidon key and job for the same shape and data.
    let g = fixture(CircuitKind::Poseidon, f.shape, 1);
    let g16 = Verifier::new(g.vk.clone());
    let err = g16.verify(&f.bundle).unwrap_err();
    assert!(matches!(err, VerifyError::SystemMismatch { .. }), "{err}");
    let groth_bundle = g.honest();
    assert!(matches!(f.verifier.verify(&groth_bundle), Err(VerifyError::SystemMismatch { .. })));
    // A Groth16 job is not settled by a halo2 proof, nor a halo2 job by a Groth16 one.
    let groth_job = Job { system: ProofSystem::Groth16Bn254, ..f.job.clone() };
    let err = JobTerms { job: groth_job, provider: None }.check(&f.bundle).unwrap_err();
    assert_eq!(err.code(), "system_mismatch");
    let halo2_job = Job { system: ProofSystem::Halo2KzgBn254, ..g.job.clone() };
    let err = JobTerms { job: halo2_job, provider: None }.check(&groth_bundle).unwrap_err();
    assert_eq!(err.code(), "system_mismatch");
    // halo2 proves Poseidon-committed jobs only: a job or bundle claiming otherwise is refused.
    assert!(Job { circuit: CircuitKind::Committed, ..f.job.clone() }.with_system(ProofSystem::Halo2KzgBn254).is_err());
    let mut committed = f.bundle.clone();
    committed.circuit = CircuitKind::Committed;
    assert!(matches!(ProofBundle::decode(&committed.to_bytes()), Err(BundleError::Malformed(_))));
    assert!(matches!(ProofBundle::decode(committed.to_json().as_bytes()), Err(BundleError::Malformed(_))));
}

#[test]
fn oversized_halo2_proofs_are_refused_on_decode() {
    let f = fx();
    let big = f.with_proof(vec![1u8; veriflop_verifier::bundle::MAX_HALO2_PROOF_BYTES + 1]);
    let err = ProofBundle::decode(&big.to_bytes()).unwrap_err();
    assert!(matches!(err, BundleError::Malformed(_) | BundleError::TooLarge(_)), "{err}");
    let err = ProofBundle::decode(big.to_json().as_bytes()).unwrap_err();
    assert!(matches!(err, BundleError::Malformed(_) | BundleError::TooLarge(_)), "{err}");
    // Malformed hex in JSON.
    let json = f.bundle.to_json().replace("\"halo2-kzg-bn254\": \"0x", "\"halo2-kzg-bn254\": \"0xzz");
    assert!(ProofBundle::decode(json.as_bytes()).is_err());
}

#[test]
fn prover_refuses_inputs_that_do_not_fit_the_shape() {
    let f = fx();
    let mut w = f.witness(PROVIDER);
    w.a.data[0] = 300; // not an int8
    assert!(prove_halo2_bundle(srs(), &f.shape, &w).is_err());
    let mut w = f.witness(PROVIDER);
    w.c.rows -= 1;
    w.c.data.truncate(w.c.rows * w.c.cols);
    assert!(prove_halo2_bundle(srs(), &f.shape, &w).is_err());
    // An SRS too small for the shape is a typed error, not a panic.
    let tiny = veriflop_halo2::setup_srs(8, [1; 32]).unwrap();
    assert!(matches!(prove_halo2_bundle(&tiny, &f.shape, &f.witness(PROVIDER)), Err(Halo2Error::Keygen(_))));
}
