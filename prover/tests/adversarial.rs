//! Every check the verifier makes, fed a forged or tampered input.

mod common;

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{Field, UniformRand};
use ark_serialize::CanonicalSerialize;
use common::*;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{cp, Address, CircuitKind, Dtype, InputMatrix, Job, JobId, Shape};
use veriflop_prover::{CpuBackend, ProveError, ProveOptions};
use veriflop_verifier::bundle::{BundleError, CommitmentProof, EvmG1, Groth16Proof};
use veriflop_verifier::{JobTerms, Proof, ProofBundle, Verifier, VerifyError};

fn shape() -> Shape {
    Shape::new(4, 3, 5, Dtype::Int8).unwrap()
}

fn terms(f: &Fixture) -> JobTerms {
    JobTerms { job: f.job.clone(), provider: Some(PROVIDER) }
}

/// The circuits whose proofs a verifier may be handed; Groth16 checks apply to all.
const KINDS: [CircuitKind; 3] = CircuitKind::MATMUL;

#[test]
fn wrong_result_cannot_be_proven() {
    for kind in [CircuitKind::Committed, CircuitKind::Poseidon] {
        let f = fixture(kind, shape(), 1);
        let v = Verifier::new(f.vk.clone());
        for idx in [0usize, 9, 19] {
            let mut w = f.witness(PROVIDER);
            w.c.data[idx] += 1;
            // The honest pipeline refuses ...
            let err = veriflop_prover::prove_bundle(
                &f.pk,
                w.clone(),
                &CpuBackend::new(),
                &mut rand::rngs::OsRng,
                ProveOptions::default(),
                &|_| {},
            )
            .unwrap_err();
            assert!(matches!(err, ProveError::Unsatisfied(_)), "{kind}: {err}");
            // ... and a cheater that pushes through gets a proof nobody accepts.
            let forged = f.prove_witness(w);
            assert_eq!(v.verify_for_job(&forged, &terms(&f)), Err(VerifyError::InvalidProof), "{kind}");
        }
    }
}

#[test]
fn changed_public_inputs_are_rejected() {
    // The naive circuit uses job_id and provider in no constraint: the QAP's
    // per-input rows are what bind them there, so every circuit is checked.
    // For the committed circuit a changed digest no longer matches its point.
    for kind in KINDS {
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
            let err = v.verify(&b).unwrap_err();
            if kind == CircuitKind::Committed && (what.starts_with("cm_") || what.starts_with("swap")) {
                assert!(matches!(err, VerifyError::CommitmentDigest(_)), "{kind}: {what}: {err}");
            } else {
                assert_eq!(err, VerifyError::InvalidProof, "{kind}: {what}");
            }
        }
    }
}

/// The committed circuit's own checks: the commitment points, their digests, the
/// proof of knowledge of cm_C's opening, and the transcript.
#[test]
fn committed_points_and_pok_are_checked() {
    let f = fixture(CircuitKind::Committed, shape(), 12);
    let v = Verifier::new(f.vk.clone());
    let t = terms(&f);
    let good = f.honest();
    v.verify_for_job(&good, &t).unwrap();
    let cps = good.commitments.unwrap();
    let g = G1Projective::from(G1Affine::generator());
    let with = |edit: &dyn Fn(&mut CommitmentProof)| {
        let mut b = good.clone();
        edit(b.commitments.as_mut().unwrap());
        // Keep the digests consistent with the edited points, so the pairing decides.
        let c = b.commitments.unwrap();
        b.statement.cm_a = cp::digest(&c.cm_a.0);
        b.statement.cm_b = cp::digest(&c.cm_b.0);
        b.statement.cm_c = cp::digest(&c.cm_c.0);
        b
    };
    // Tampered pok, pok of the identity, pok moved.
    for b in [
        with(&|c| c.pok = EvmG1((c.pok.0 + g).into_affine())),
        with(&|c| c.pok = EvmG1(G1Affine::identity())),
        with(&|c| c.pok = c.cm_c),
    ] {
        assert_eq!(v.verify(&b), Err(VerifyError::InvalidProof));
    }
    // Swapped A and B points (digests follow): the job record catches it, and
    // the pairing does too.
    let swapped = with(&|c| std::mem::swap(&mut c.cm_a, &mut c.cm_b));
    assert_eq!(v.verify_for_job(&swapped, &t), Err(VerifyError::CommitmentMismatch("A")));
    assert_eq!(v.verify(&swapped), Err(VerifyError::InvalidProof));
    // A point that does not hash to the statement's digest.
    let mut b = good.clone();
    b.commitments.as_mut().unwrap().cm_c = EvmG1((cps.cm_c.0 + g).into_affine());
    assert_eq!(v.verify(&b), Err(VerifyError::CommitmentDigest("C")));
    // Another C's commitment with a valid pok for it (made from the proving key):
    // the Groth16 part was proven for the real C, so the pairing fails.
    let mut c2 = f.witness(PROVIDER).c;
    c2.data[3] += 1;
    let ck = f.ck.as_ref().unwrap();
    let other = with(&|c| {
        c.cm_c = EvmG1(ck.commit_c(&c2));
        c.pok = EvmG1(veriflop_circuits::msm::small_msm(f.pk.pok_bases(), &c2.data).into_affine());
    });
    assert_eq!(v.verify(&other), Err(VerifyError::InvalidProof));
    // A valid pok attached to a cm_C shifted by A's bases (not in C's span).
    let shifted = with(&|c| c.cm_c = EvmG1((c.cm_c.0 + ck.a[0]).into_affine()));
    assert_eq!(v.verify(&shifted), Err(VerifyError::InvalidProof));
    // The bundle must carry commitments exactly for the committed circuit.
    let mut v2: serde_json::Value = serde_json::from_str(&good.to_json()).unwrap();
    v2["commitments"] = serde_json::Value::Null;
    assert!(matches!(ProofBundle::from_json(&v2.to_string()), Err(BundleError::Malformed(_))));
    // Points off the curve in the commitments are refused on decode.
    let mut v3: serde_json::Value = serde_json::from_str(&good.to_json()).unwrap();
    let mut off = cp::g1_to_evm(&cps.cm_a.0);
    off[63] ^= 1;
    v3["commitments"]["cm_a"] = format!("0x{}", hex::encode(off)).into();
    assert!(matches!(ProofBundle::from_json(&v3.to_string()), Err(BundleError::Malformed(_))));
}

#[test]
fn tampered_proofs_are_rejected() {
    for kind in [CircuitKind::Committed, CircuitKind::Poseidon] {
        let f = fixture(kind, shape(), 3);
        let v = Verifier::new(f.vk.clone());
        let good = f.honest();
        let g = G1Projective::from(G1Affine::generator());
        let p = good.groth16().unwrap().clone();
        let with = |q: ark_groth16::Proof<ark_bn254::Bn254>| {
            let mut b = good.clone();
            b.proof = Proof::Groth16Bn254(Groth16Proof(q));
            b
        };
        let b = with(ark_groth16::Proof { a: (p.a + g).into_affine(), ..p.clone() });
        assert_eq!(v.verify(&b), Err(VerifyError::InvalidProof));
        let b = with(ark_groth16::Proof { c: (p.c + g).into_affine(), ..p.clone() });
        assert_eq!(v.verify(&b), Err(VerifyError::InvalidProof));
        let b = with(ark_groth16::Proof { a: p.c, c: p.a, ..p.clone() });
        assert_eq!(v.verify(&b), Err(VerifyError::InvalidProof));
        // Byte flips anywhere in the proof: a decoding error or an invalid proof, never acceptance.
        let bytes = Groth16Proof(p).to_bytes();
        for i in (0..bytes.len()).step_by(7) {
            let mut t = bytes;
            t[i] ^= 0x01;
            if let Ok(p) = Groth16Proof::from_bytes(&t) {
                let b = with(p.0);
                assert_eq!(v.verify(&b), Err(VerifyError::InvalidProof), "flip at byte {i}");
            }
        }
    }
}

#[test]
fn proof_replayed_for_another_job_or_provider_is_rejected() {
    for kind in [CircuitKind::Committed, CircuitKind::Poseidon] {
        let f = fixture(kind, shape(), 4);
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
}

#[test]
fn proof_against_another_shape_or_circuit_key_is_rejected() {
    for kind in [CircuitKind::Committed, CircuitKind::Poseidon] {
        let f = fixture(kind, shape(), 5);
        let good = f.honest();
        let other_shape = Shape::new(4, 3, 5, Dtype::Int16).unwrap();
        let g = fixture(kind, other_shape, 5);
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
        relabeled.commitments = None;
        assert_eq!(v.verify(&relabeled), Err(VerifyError::InvalidProof));
        // A key generated separately for the same shape (another setup) rejects it too.
        let f2 = fixture(kind, shape(), 5);
        assert_eq!(Verifier::new(f2.vk.clone()).verify(&good), Err(VerifyError::InvalidProof));
    }
}

#[test]
fn prover_using_other_data_is_rejected() {
    for kind in [CircuitKind::Committed, CircuitKind::Poseidon] {
        let f = fixture(kind, shape(), 6);
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
        if kind == CircuitKind::Committed {
            // The claimed digest is not that of the carried point ...
            assert_eq!(v.verify_for_job(&lying, &terms(&f)), Err(VerifyError::CommitmentDigest("A")));
            // ... and carrying the job's real cm_A point breaks the pairing.
            let honest = f.honest();
            lying.commitments.as_mut().unwrap().cm_a = honest.commitments.unwrap().cm_a;
        }
        assert_eq!(v.verify_for_job(&lying, &terms(&f)), Err(VerifyError::InvalidProof));
        // Swapped A and B commitments in the job terms.
        let mut swapped = terms(&f);
        std::mem::swap(&mut swapped.job.cm_a, &mut swapped.job.cm_b);
        assert_eq!(v.verify_for_job(&f.honest(), &swapped), Err(VerifyError::CommitmentMismatch("A")));
        // A job of another shape with the same id.
        let mut t = terms(&f);
        t.job.shape = Shape::new(4, 3, 6, Dtype::Int8).unwrap();
        assert!(matches!(v.verify_for_job(&f.honest(), &t), Err(VerifyError::JobShapeMismatch { .. })));
        // A job posted for another circuit.
        let mut t = terms(&f);
        t.job.circuit = if kind == CircuitKind::Committed { CircuitKind::Poseidon } else { CircuitKind::Committed };
        assert!(matches!(v.verify_for_job(&f.honest(), &t), Err(VerifyError::CircuitMismatch { .. })));
    }
}

fn g1_bytes(p: &G1Affine) -> Vec<u8> {
    let mut v = Vec::new();
    p.serialize_uncompressed(&mut v).unwrap();
    v
}

#[test]
fn malformed_points_and_fields_are_rejected_on_decode() {
    let f = fixture(CircuitKind::Poseidon, shape(), 7);
    let good = f.honest();
    let p = good.groth16().unwrap();
    let bytes = Groth16Proof(p.clone()).to_bytes();
    // Off the curve: A's y + 1.
    let mut t = bytes;
    let (x, y) = p.a.xy().unwrap();
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
    v["version"] = 1.into();
    assert_eq!(ProofBundle::from_json(&v.to_string()), Err(BundleError::Version(1)));
}
