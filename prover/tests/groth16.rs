//! End-to-end Groth16: our prover, our verifier, and ark-groth16's verifier.

mod common;

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use common::*;
use veriflop_circuits::circuit::fr_from_i128;
use veriflop_circuits::{cp, CircuitKind, Dtype, Shape};
use veriflop_verifier::{ProofBundle, Verifier};

/// The committed circuit's full input vector: job, provider, r, then A, B, C.
fn committed_inputs(f: &Fixture, bundle: &ProofBundle) -> Vec<ark_bn254::Fr> {
    let st = &bundle.statement;
    let r = cp::challenge(&cp::seed(&st.shape, st.job_id.0, &st.provider, [st.cm_a, st.cm_b, st.cm_c]));
    let c = f.witness(PROVIDER).c;
    let mut v = vec![st.job_id.0, st.provider.to_fr(), r];
    v.extend(f.a.data.iter().chain(&f.b.data).map(|&x| fr_from_i128(x as i128)));
    v.extend(c.data.iter().map(|&x| fr_from_i128(x)));
    // The commitments are exactly the IC sums over these entries.
    let ck = f.ck.as_ref().unwrap();
    assert_eq!(cp::digest(&ck.commit_c(&c)), st.cm_c);
    v
}

#[test]
fn honest_proofs_verify_for_shapes_dtypes_and_circuits() {
    let cases = [
        (CircuitKind::Committed, Shape::new(4, 4, 4, Dtype::Int8).unwrap()),
        (CircuitKind::Committed, Shape::new(3, 5, 2, Dtype::Int16).unwrap()),
        (CircuitKind::Committed, Shape::new(6, 2, 7, Dtype::Int32).unwrap()),
        (CircuitKind::Committed, Shape::new(1, 9, 1, Dtype::Int8).unwrap()),
        (CircuitKind::Poseidon, Shape::new(4, 4, 4, Dtype::Int8).unwrap()),
        (CircuitKind::Poseidon, Shape::new(3, 5, 2, Dtype::Int16).unwrap()),
        (CircuitKind::Poseidon, Shape::new(6, 2, 7, Dtype::Int32).unwrap()),
        (CircuitKind::Poseidon, Shape::new(1, 9, 1, Dtype::Int8).unwrap()),
        (CircuitKind::Naive, Shape::new(3, 4, 5, Dtype::Int8).unwrap()),
        (CircuitKind::Naive, Shape::new(2, 3, 2, Dtype::Int32).unwrap()),
    ];
    for (kind, shape) in cases {
        let f = fixture(kind, shape, 5);
        let bundle = f.honest();
        // Our verifier, with the job's terms and the payee.
        let v = Verifier::new(f.vk.clone());
        let terms = veriflop_verifier::JobTerms { job: f.job.clone(), provider: Some(PROVIDER) };
        v.verify_for_job(&bundle, &terms).unwrap_or_else(|e| panic!("{kind} {shape}: {e}"));
        // Differential: ark-groth16's own verifier accepts our prover's proof
        // (for the committed circuit, with every entry as a public input).
        let pvk = ark_groth16::prepare_verifying_key(f.pk.vk());
        let inputs = match kind {
            CircuitKind::Committed => committed_inputs(&f, &bundle),
            _ => bundle.statement.public_inputs().to_vec(),
        };
        let ok = Groth16::<Bn254>::verify_proof(&pvk, bundle.groth16().unwrap(), &inputs).unwrap();
        assert!(ok, "ark-groth16 rejects our {kind} proof for {shape}");
    }
}
