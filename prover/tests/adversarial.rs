//! Every check the verifier makes, fed a forged or tampered input.

mod common;

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{Field, UniformRand};
use ark_serialize::CanonicalSerialize;
use common::*;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Address, CircuitKind, Dtype, InputMatrix, Job, JobId, Shape};
use veriflop_prover::{CpuBackend, ProveError, ProveOptions};
use veriflop_verifier::bundle::{BundleError, Groth16Proof};
use veriflop_verifier::{JobTerms, ProofBundle, Verifier, VerifyError};

fn shape() -> Shape {
    Shape::new(4, 3, 5, Dtype::Int8).unwrap()
}

fn terms(f: &Fixture) -> JobTerms {
    JobTerms { job: f.job.clone(), provider: Some(PROVIDER) }
}

#[test]
fn wrong_result_cannot_be_proven() {
    let f = fixture(CircuitKind::Freivalds, shape(), 1);
    let v = Verifier::new(f.vk.clone());
    for idx in [0usize, 9, 19] {
        let mut w = f.witness(PROVIDER);
        w.c.data[idx] += 1;
        // The honest pipeline refuses ...
        let err = veriflop_prover::prove(
            &f.pk,
            veriflop_circuits::MatmulCircuit::prove(f.kind, f.shape, w.clone()),
            &CpuBackend::new(),
            &mut rand::rngs::OsRng,
            ProveOptions::default(),
            &|_| {},
        )
        .unwrap_err();
        assert!(matches!(err, ProveError::Unsatisfied(_)), "{err}");
        // ... and a cheater that pushes through gets a proof nobody accepts.
        let forged = f.prove_witness(w);
        assert_eq!(v.verify_for_job(&forged, &terms(&f)), Err(VerifyError::InvalidProof));
    }
}

#[test]
fn changed_public_inputs_are_rejected() {
    // The naive circuit uses job_id and provider in no constraint: the QAP's
    // per-input rows are what bind them there, so both circuits are checked.
    for kind in [CircuitKind::Freivalds, CircuitKind::Naive] {
        let f = fixture(kind, shape(), 2);
        let v = Verifier::new(f.vk.clone());
        let good = f.honest();
        v.verify(&good).unwrap();
        let mutations: Vec<(&str, Box<dyn Fn(&mut ProofBundle)>)> = vec![
            ("job_id", Box::new(|b| b.statement.job_id = JobId(b.statement.job_id.0 + Fr::ONE))),
            ("provider", Box::new(|b| b.statement.provider = Address([0x22; 20]))),
            ("cm_a", Box::new(|b| b.statement.cm_a += Fr::ONE)),
            ("cm_b", Box::new(|b| b.statement.cm_b += Fr::ONE)),
            ("cm_c", Box::new(|b| b.statement.cm_c += Fr::ONE)),
            ("swap cm_a/cm_b", Box::new(|b| std::mem::swap(&mut b.statement.cm_a, &mut b.statement.cm_b))),
        ];
        for (what, mutate) in mutations {
            let mut b = good.clone();
            mutate(&mut b);
            assert_eq!(v.verify(&b), Err(VerifyError::InvalidProof), "{kind}: {what}");
        }
    }
}

#[test]
fn tampered_proofs_are_rejected() {
    let f = fixture(CircuitKind::Freivalds, shape(), 3);
    let v = Verifier::new(f.vk.clone());
    let good = f.honest();
    let g = G1Projective::from(G1Affine::generator());
    let mut b = good.clone();
    b.proof.0.a = (b.proof.0.a + g).into_affine();
    assert_eq!(v.verify(&b), Err(VerifyError::InvalidProof));
    let mut b = good.clone();
    b.proof.0.c = (b.proof.0.c + g).into_affine();
    assert_eq!(v.verify(&b), Err(VerifyError::InvalidProof));
    let mut b = good.clone();
    std::mem::swap(&mut b.proof.0.a, &mut b.proof.0.c);
    assert_eq!(v.verify(&b), Err(VerifyError::InvalidProof));
    // Byte flips anywhere in the proof: a decoding error or an invalid proof, never acceptance.
    let bytes = good.proof.to_bytes();
    for i in (0..bytes.len()).step_by(7) {
        let mut t = bytes;
        t[i] ^= 0x01;
        if let Ok(p) = Groth16Proof::from_bytes(&t) {
            let mut b = good.clone();
            b.proof = p;
            assert_eq!(v.verify(&b), Err(VerifyError::InvalidProof), "flip at byte {i}");
        }
    }
}

#[test]
fn proof_replayed_for_another_job_or_provider_is_rejected() {
    let f = fixture(CircuitKind::Freivalds, shape(), 4);
    let v = Verifier::new(f.vk.clone());
    let good = f.honest();
    // The same data posted again as another job: the old proof does not transfer.
    let other_job = Job { job_id: JobId::random(), ..f.job.clone() };
    let t = JobTerms { job: other_job.clone(), provider: Some(PROVIDER) };
    assert!(matches!(v.verify_for_job(&good, &t), Err(VerifyError::JobMismatch { .. })));
    let mut relabeled = good.clone();
    relabeled.statement.job_id = other_job.job_id;
    assert_eq!(v.verify_for_job(&relabeled, &t), Err(VerifyError::InvalidProof));
    // Another provider submitting a proof seen in transit.
    let thief = Address([0x66; 20]);
    let t = JobTerms { job: f.job.clone(), provider: Some(thief) };
    assert!(matches!(v.verify_for_job(&good, &t), Err(VerifyError::ProviderMismatch { .. })));
    let mut stolen = good.clone();
    stolen.statement.provider = thief;
    assert_eq!(v.verify_for_job(&stolen, &t), Err(VerifyError::InvalidProof));
}

#[test]
fn proof_against_another_shape_or_circuit_key_is_rejected() {
    let f = fixture(CircuitKind::Freivalds, shape(), 5);
    let good = f.honest();
    let other_shape = Shape::new(4, 3, 5, Dtype::Int16).unwrap();
    let g = fixture(CircuitKind::Freivalds, other_shape, 5);
    let v = Verifier::new(g.vk.clone());
    assert!(matches!(v.verify(&good), Err(VerifyError::KeyShapeMismatch { .. })));
    let mut relabeled = good.clone();
    relabeled.statement.shape = other_shape;
    assert_eq!(v.verify(&relabeled), Err(VerifyError::InvalidProof));
    // Same shape, the other circuit's key.
    let n = fixture(CircuitKind::Naive, shape(), 5);
    let v = Verifier::new(n.vk.clone());
    assert!(matches!(v.verify(&good), Err(VerifyError::CircuitMismatch { .. })));
    let mut relabeled = good.clone();
    relabeled.circuit = CircuitKind::Naive;
    assert_eq!(v.verify(&relabeled), Err(VerifyError::InvalidProof));
    // A key generated separately for the same shape (another setup) rejects it too.
    let f2 = fixture(CircuitKind::Freivalds, shape(), 5);
    assert_eq!(Verifier::new(f2.vk.clone()).verify(&good), Err(VerifyError::InvalidProof));
}

#[test]
fn prover_using_other_data_is_rejected() {
    let f = fixture(CircuitKind::Freivalds, shape(), 6);
    let v = Verifier::new(f.vk.clone());
    // Proves a correct product, but of an A' that is not the job's A.
    let mut w = f.witness(PROVIDER);
    w.a = InputMatrix::random(4, 3, Dtype::Int8, 99).unwrap();
    w.c = matmul(&f.shape, &w.a, &w.b).unwrap();
    let bundle = f.prove_witness(w);
    v.verify(&bundle).unwrap(); // a valid proof, about other data ...
    assert_eq!(v.verify_for_job(&bundle, &terms(&f)), Err(VerifyError::CommitmentMismatch("A")));
    // ... and claiming the job's commitment instead breaks the proof.
    let mut lying = bundle.clone();
    lying.statement.cm_a = f.job.cm_a;
    assert_eq!(v.verify_for_job(&lying, &terms(&f)), Err(VerifyError::InvalidProof));
    // Swapped A and B commitments in the job terms.
    let mut swapped = terms(&f);
    std::mem::swap(&mut swapped.job.cm_a, &mut swapped.job.cm_b);
    assert_eq!(v.verify_for_job(&f.honest(), &swapped), Err(VerifyError::CommitmentMismatch("A")));
    // A job of another shape with the same id.
    let mut t = terms(&f);
    t.job.shape = Shape::new(4, 3, 6, Dtype::Int8).unwrap();
    assert!(matches!(v.verify_for_job(&f.honest(), &t), Err(VerifyError::JobShapeMismatch { .. })));
}

fn g1_bytes(p: &G1Affine) -> Vec<u8> {
    let mut v = Vec::new();
    p.serialize_uncompressed(&mut v).unwrap();
    v
}

#[test]
fn malformed_points_and_fields_are_rejected_on_decode() {
    let f = fixture(CircuitKind::Freivalds, shape(), 7);
    let good = f.honest();
    let bytes = good.proof.to_bytes();
    // Off the curve: A's y + 1.
    let mut t = bytes;
    let (x, y) = good.proof.0.a.xy().unwrap();
    let off = G1Affine::new_unchecked(x, y + Fq::ONE);
    t[..64].copy_from_slice(&g1_bytes(&off));
    assert!(matches!(Groth16Proof::from_bytes(&t), Err(BundleError::Malformed(_))));
    // Non-canonical coordinate (x ≥ q).
    let mut t = bytes;
    t[..31].fill(0xff);
    assert!(Groth16Proof::from_bytes(&t).is_err());
    // The identity.
    let mut t = bytes;
    t[..64].copy_from_slice(&g1_bytes(&G1Affine::identity()));
    assert!(Groth16Proof::from_bytes(&t).is_err());
    // B on the twist but outside the prime-order subgroup (the G2 cofactor is large).
    let mut rng = rand::thread_rng();
    let bad_b = loop {
        if let Some(p) = G2Affine::get_point_from_x_unchecked(Fq2::rand(&mut rng), true) {
            if !p.is_in_correct_subgroup_assuming_on_curve() {
                break p;
            }
        }
    };
    let mut t = bytes;
    let mut v = Vec::new();
    bad_b.serialize_uncompressed(&mut v).unwrap();
    t[64..192].copy_from_slice(&v);
    assert!(matches!(Groth16Proof::from_bytes(&t), Err(BundleError::Malformed(_))));
    // Wrong length.
    assert!(Groth16Proof::from_bytes(&bytes[..255]).is_err());
    // Non-canonical field element in the statement (cm_c = r).
    let json = good.to_json();
    let r = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";
    let cm_c = veriflop_circuits::field::fr_to_hex(&good.statement.cm_c);
    assert!(ProofBundle::from_json(&json.replace(&cm_c, r)).is_err());
    // Out-of-bounds shape.
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["statement"]["shape"]["m"] = 0.into();
    assert!(ProofBundle::from_json(&v.to_string()).is_err());
    v["statement"]["shape"]["m"] = 100_000.into();
    assert!(ProofBundle::from_json(&v.to_string()).is_err());
    // Unknown version.
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["version"] = 2.into();
    assert_eq!(ProofBundle::from_json(&v.to_string()), Err(BundleError::Version(2)));
}
