//! Shared fixtures for the prover's integration tests.
#![allow(dead_code)]

use ark_bn254::Fr;
use rand::rngs::OsRng;
use veriflop_circuits::cp::CommitKey;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Address, CircuitKind, InputMatrix, Job, JobId, Shape, Witness};
use veriflop_prover::{prove_bundle, CpuBackend, ProveOptions, ProverKey};
use veriflop_verifier::{ProofBundle, ShapeKey};

pub const PROVIDER: Address = Address([0x11; 20]);

pub struct Fixture {
    pub shape: Shape,
    pub kind: CircuitKind,
    pub pk: ProverKey,
    pub vk: ShapeKey,
    pub ck: Option<CommitKey>,
    pub job: Job,
    pub a: InputMatrix,
    pub b: InputMatrix,
}

pub fn fixture(kind: CircuitKind, shape: Shape, seed: u64) -> Fixture {
    let (pk, vk) = veriflop_prover::setup::generate(kind, shape, &mut OsRng).unwrap();
    let ck = (kind == CircuitKind::Committed).then(|| pk.commit_key().unwrap());
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, seed).unwrap();
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, seed + 1).unwrap();
    let job = Job::new(JobId::random(), kind, shape, ck.as_ref(), &a, &b).unwrap();
    Fixture { shape, kind, pk, vk, ck, job, a, b }
}

impl Fixture {
    pub fn witness(&self, provider: Address) -> Witness {
        let c = matmul(&self.shape, &self.a, &self.b).unwrap();
        Witness { job_id: self.job.job_id.0, provider, a: self.a.clone(), b: self.b.clone(), c }
    }

    /// Proves `witness` (unsatisfied witnesses allowed, to model a cheating prover).
    pub fn prove_witness(&self, w: Witness) -> ProofBundle {
        let opts = ProveOptions { allow_unsatisfied: true };
        prove_bundle(&self.pk, w, &CpuBackend::new(), &mut OsRng, opts, &|_| {}).unwrap().0
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
