//! Inference bundles: wire and JSON forms round-trip and are validated on
//! decode; the verifier refuses each relabelled or tampered part (job,
//! provider, input, model, output, hidden commitment, proofs of knowledge,
//! proof bytes) and a key of another model; damaged wire bytes never panic.

use rand::rngs::{OsRng, StdRng};
use rand::{Rng, SeedableRng};
use veriflop_circuits::{cp, Address, CircuitKind, Dtype, Job, JobId, ProofSystem, Shape};
use veriflop_infer::circuit::Witness;
use veriflop_infer::job::{prove, InferenceStatement, ModelKeys};
use veriflop_infer::{run, Layer, Model, QuantParams, Requant};
use veriflop_verifier::bundle::{BundleError, EvmG1};
use veriflop_verifier::verify::model_word;
use veriflop_verifier::{JobTerms, ProofBundle, Verifier};

const BATCH: usize = 2;

fn model(seed: u64) -> Model {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut layer = |k: usize, n: usize, relu: bool| {
        let zp: i8 = rng.gen_range(-20..20);
        Layer {
            d_in: k,
            d_out: n,
            weights: (0..k * n).map(|_| rng.gen_range(-127..=127)).collect(),
            bias: (0..n).map(|_| rng.gen_range(-3000..3000)).collect(),
            requant: Requant::new(rng.gen_range(0.002..0.02), zp, if relu { zp } else { -128 }, 127).unwrap(),
        }
    };
    let layers = vec![layer(4, 5, true), layer(5, 3, false)];
    let q = QuantParams { scale: 0.05, zero_point: 0 };
    Model { input: q, layers, output: q }
}

#[test]
fn inference_bundles_are_checked_part_by_part() {
    let mut rng = StdRng::seed_from_u64(3);
    let (m, other) = (model(1), model(2));
    let keys = ModelKeys::setup(&m, BATCH, &mut OsRng).unwrap();
    let other_keys = ModelKeys::setup(&other, BATCH, &mut OsRng).unwrap();
    let vk = keys.verifying_key();
    let x: Vec<i8> = (0..BATCH * 4).map(|_| rng.gen()).collect();
    let trace = run(&m, BATCH, &x).unwrap();
    let (job_id, provider) = (JobId(7u64.into()), Address([5; 20]));
    let cm_in = vk.commit_input(&x).unwrap();
    let st = InferenceStatement { job_id: job_id.0, provider, model_digest: m.digest(), cm_in };
    let proof = prove(&keys, &m, &Witness::from(&trace), &st, &mut OsRng).unwrap();
    let bundle = ProofBundle::from_inference(&vk, job_id, provider, cm_in, &proof).unwrap();

    // Both encodings round-trip; the points must come exactly with the circuit.
    assert_eq!(ProofBundle::decode(&bundle.to_bytes()).unwrap(), bundle);
    assert_eq!(ProofBundle::from_json(&bundle.to_json()).unwrap(), bundle);
    let mut stripped = bundle.clone();
    stripped.inference = None;
    assert!(matches!(ProofBundle::decode(&stripped.to_bytes()), Err(BundleError::Malformed(_))));
    let mut relabelled = bundle.clone();
    relabelled.circuit = CircuitKind::Committed;
    assert!(matches!(ProofBundle::decode(&relabelled.to_bytes()), Err(BundleError::Malformed(_))));

    let shape = Shape::new(BATCH as u32, 4, 3, Dtype::Int8).unwrap();
    let job = Job {
        job_id,
        system: ProofSystem::Groth16Bn254,
        circuit: CircuitKind::Inference,
        shape,
        cm_a: cp::digest(&cm_in),
        cm_b: model_word(&m.digest()),
    };
    let terms = JobTerms { job: job.clone(), provider: Some(provider) };
    let verifier = Verifier::inference(vk.clone()).unwrap();
    assert_eq!((verifier.circuit(), verifier.shape()), (CircuitKind::Inference, shape));
    verifier.verify_for_job(&bundle, &terms).expect("the honest bundle");

    let code = |b: &ProofBundle, t: &JobTerms| verifier.verify_for_job(b, t).unwrap_err().code();
    let with = |f: &dyn Fn(&mut ProofBundle)| {
        let mut b = bundle.clone();
        f(&mut b);
        b
    };
    // The job's terms: another job, another payee, another input, another model.
    let other_job = JobTerms { job: Job { job_id: JobId(8u64.into()), ..job.clone() }, ..terms.clone() };
    assert_eq!(code(&bundle, &other_job), "wrong_job");
    assert_eq!(code(&bundle, &JobTerms { provider: Some(Address([6; 20])), ..terms.clone() }), "wrong_provider");
    let mut x2 = x.clone();
    x2[0] = x2[0].wrapping_add(1);
    let other_input = JobTerms { job: Job { cm_a: vk.input_digest(&x2).unwrap(), ..job.clone() }, ..terms.clone() };
    assert_eq!(code(&bundle, &other_input), "commitment_mismatch");
    let other_model = JobTerms { job: Job { cm_b: model_word(&other.digest()), ..job.clone() }, ..terms.clone() };
    assert_eq!(code(&bundle, &other_model), "commitment_mismatch");

    // Relabelled statements: each is refused even by a verifier that is told no job.
    let relabel = [
        with(&|b| b.statement.job_id = JobId(8u64.into())),
        with(&|b| b.statement.provider = Address([6; 20])),
        with(&|b| b.inference.as_mut().unwrap().cm_hidden = EvmG1(proof.cm_out)),
        with(&|b| b.inference.as_mut().unwrap().pok_hidden = EvmG1(proof.pok_out)),
        with(&|b| b.inference.as_mut().unwrap().pok_out = EvmG1(proof.pok_hidden)),
        with(&|b| {
            let forged = vk.commit_input(&x2).unwrap();
            b.statement.cm_a = cp::digest(&forged);
            b.inference.as_mut().unwrap().cm_in = EvmG1(forged);
        }),
        with(&|b| {
            let mut y = trace.output().to_vec();
            y[1] = y[1].wrapping_add(1);
            let forged = vk.commit_output(&y).unwrap();
            b.statement.cm_c = cp::digest(&forged);
            b.inference.as_mut().unwrap().cm_out = EvmG1(forged);
        }),
        with(&|b| {
            let mut p = proof.proof.clone();
            p.a = p.c;
            b.proof = veriflop_verifier::Proof::Groth16Bn254(veriflop_verifier::Groth16Proof(p));
        }),
    ];
    for (i, b) in relabel.iter().enumerate() {
        assert_eq!(verifier.verify(b).unwrap_err().code(), "invalid_proof", "case {i}");
    }
    // Points that do not hash to the statement's digests.
    let b = with(&|b| b.inference.as_mut().unwrap().cm_out = EvmG1(proof.cm_hidden));
    assert_eq!(verifier.verify(&b).unwrap_err().code(), "commitment_mismatch");
    let b = with(&|b| b.statement.cm_b = model_word(&other.digest()));
    assert_eq!(verifier.verify(&b).unwrap_err().code(), "commitment_mismatch");

    // Another model's key with the same dimensions refuses the proof.
    let theirs = Verifier::inference(other_keys.verifying_key()).unwrap();
    let b = with(&|b| b.statement.cm_b = model_word(&other.digest()));
    assert_eq!(theirs.verify(&b).unwrap_err().code(), "invalid_proof");
    assert_eq!(theirs.verify(&bundle).unwrap_err().code(), "commitment_mismatch");

    // Every single-byte change of the wire form is refused on decode or by the
    // verifier, or decodes to the same bundle (flag bits arkworks ignores).
    let wire = bundle.to_bytes();
    for i in 0..wire.len() {
        for flip in [0x01u8, 0x80] {
            let mut w = wire.clone();
            w[i] ^= flip;
            if let Ok(b) = ProofBundle::decode(&w) {
                assert!(b == bundle || verifier.verify_for_job(&b, &terms).is_err(), "byte {i} ^ {flip:#x} accepted");
            }
        }
    }
    for cut in 0..wire.len() {
        assert!(ProofBundle::decode(&wire[..cut]).is_err());
    }
}
