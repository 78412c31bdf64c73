//! Shared fixtures for the prover's integration tests.
#![allow(dead_code)]

use ark_bn254::{Bn254, Fr};
use ark_groth16::ProvingKey;
use rand::rngs::OsRng;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{commit, Address, CircuitKind, InputMatrix, Job, JobId, MatmulCircuit, Shape, Witness};
use veriflop_prover::{prove, CpuBackend, ProveOptions};
use veriflop_verifier::{ProofBundle, ShapeKey};

pub const PROVIDER: Address = Address([0x11; 20]);

pub struct Fixture {
    pub shape: Shape,
    pub kind: CircuitKind,
    pub pk: ProvingKey<Bn254>,
    pub vk: ShapeKey,
    pub job: Job,
    pub a: InputMatrix,
    pub b: InputMatrix,
}

pub fn fixture(kind: CircuitKind, shape: Shape, seed: u64) -> Fixture {
    let (pk, vk) = veriflop_prover::setup::generate(kind, shape, &mut OsRng).unwrap();
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, seed).unwrap();
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, seed + 1).unwrap();
    let job = Job::new(JobId::random(), shape, &a, &b).unwrap();
    Fixture { shape, kind, pk, vk, job, a, b }
}

impl Fixture {
    pub fn witness(&self, provider: Address) -> Witness {
        let c = matmul(&self.shape, &self.a, &self.b).unwrap();
        Witness { job_id: self.job.job_id.0, provider: provider.to_fr(), a: self.a.clone(), b: self.b.clone(), c }
    }

    /// Proves `witness` (unsatisfied witnesses allowed, to model a cheating prover).
    pub fn prove_witness(&self, w: Witness) -> ProofBundle {
        let cm_c = commit::commit_output(&self.shape, &w.c);
        let statement = veriflop_circuits::Statement {
            job_id: JobId(w.job_id),
            provider: address_of(w.provider),
            shape: self.shape,
            cm_a: commit::commit_input(&self.shape, commit::Role::A, &w.a),
            cm_b: commit::commit_input(&self.shape, commit::Role::B, &w.b),
            cm_c,
        };
        let opts = ProveOptions { allow_unsatisfied: true };
        let (proof, _) = prove(
            &self.pk,
            MatmulCircuit::prove(self.kind, self.shape, w),
            &CpuBackend::new(),
            &mut OsRng,
            opts,
            &|_| {},
        )
        .unwrap();
        ProofBundle::new(self.kind, statement, proof)
    }

    pub fn honest(&self) -> ProofBundle {
        self.prove_witness(self.witness(PROVIDER))
    }
}

/// Inverse of `Address::to_fr` for the test addresses.
pub fn address_of(x: Fr) -> Address {
    let bytes = veriflop_circuits::field::fr_to_bytes(&x);
    Address(bytes[12..].try_into().unwrap())
}
