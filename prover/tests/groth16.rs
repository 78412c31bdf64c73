//! End-to-end Groth16: our prover, our verifier, and ark-groth16's verifier.

mod common;

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use common::*;
use veriflop_circuits::{CircuitKind, Dtype, Shape};
use veriflop_verifier::Verifier;

#[test]
fn honest_proofs_verify_for_shapes_dtypes_and_circuits() {
    let cases = [
        (CircuitKind::Freivalds, Shape::new(4, 4, 4, Dtype::Int8).unwrap()),
        (CircuitKind::Freivalds, Shape::new(3, 5, 2, Dtype::Int16).unwrap()),
        (CircuitKind::Freivalds, Shape::new(6, 2, 7, Dtype::Int32).unwrap()),
        (CircuitKind::Freivalds, Shape::new(1, 9, 1, Dtype::Int8).unwrap()),
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
        // Differential: ark-groth16's own verifier accepts our prover's proof.
        let pvk = ark_groth16::prepare_verifying_key(&f.pk.vk);
        let ok = Groth16::<Bn254>::verify_proof(&pvk, &bundle.proof.0, &bundle.statement.public_inputs()).unwrap();
        assert!(ok, "ark-groth16 rejects our {kind} proof for {shape}");
    }
}
