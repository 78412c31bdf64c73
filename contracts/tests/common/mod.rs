//! Shared fixtures: keys and real proofs (small shapes), a chain with the
//! verifiers and the escrow deployed.
#![allow(dead_code)]

use alloy_sol_types::SolCall;
use ark_bn254::Bn254;
use ark_groth16::ProvingKey;
use rand::rngs::OsRng;
use revm::primitives::{Address, U256};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{
    commit, Address as VAddress, CircuitKind, Dtype, InputMatrix, Job, JobId, MatmulCircuit, Shape, Witness,
};
use veriflop_contracts::abi::{IJobEscrow, JobStatus};
use veriflop_contracts::evm::{Chain, Receipt, TxStatus};
use veriflop_contracts::settle::{deploy_escrow, deploy_verifier, fr_u256, job_status};
use veriflop_contracts::{settle_calldata, shape_id};
use veriflop_prover::{prove, CpuBackend, ProveOptions};
use veriflop_verifier::{ProofBundle, ShapeKey};

pub const OWNER: Address = Address::new([0xa0; 20]);
pub const CLIENT: Address = Address::new([0xc1; 20]);
pub const PROVIDER: Address = Address::new([0x11; 20]);
pub const OTHER: Address = Address::new([0x22; 20]);
pub const ETH: u128 = 1_000_000_000_000_000_000;
pub const PRICE: u128 = ETH;
pub const STAKE: u128 = ETH / 10;
pub const WINDOW: u32 = 600;
pub const DEADLINE_IN: u64 = 3600;

pub struct Fx {
    pub kind: CircuitKind,
    pub shape: Shape,
    pub pk: ProvingKey<Bn254>,
    pub vk: ShapeKey,
    pub job: Job,
    pub a: InputMatrix,
    pub b: InputMatrix,
    proofs: Mutex<HashMap<Address, ProofBundle>>,
}

fn make(shape: Shape, seed: u64) -> Fx {
    let kind = CircuitKind::Freivalds;
    let (pk, vk) = veriflop_prover::setup::generate(kind, shape, &mut OsRng).unwrap();
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, seed).unwrap();
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, seed + 1).unwrap();
    let job = Job::new(JobId::random(), shape, &a, &b).unwrap();
    Fx { kind, shape, pk, vk, job, a, b, proofs: Mutex::new(HashMap::new()) }
}

/// The main fixture: a 4×4×4 int8 key, a job, proofs on demand.
pub fn fx() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| make(Shape::new(4, 4, 4, Dtype::Int8).unwrap(), 7))
}

/// A second shape (2×4×4 int8) with its own key.
pub fn fx2() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| make(Shape::new(2, 4, 4, Dtype::Int8).unwrap(), 9))
}

impl Fx {
    /// An honest proof of this fixture's job, paying `provider`.
    pub fn bundle_for(&self, provider: Address) -> ProofBundle {
        if let Some(b) = self.proofs.lock().unwrap().get(&provider) {
            return b.clone();
        }
        let c = matmul(&self.shape, &self.a, &self.b).unwrap();
        let prov = VAddress(provider.into_array());
        let w = Witness {
            job_id: self.job.job_id.0,
            provider: prov.to_fr(),
            a: self.a.clone(),
            b: self.b.clone(),
            c: c.clone(),
        };
        let statement = self.job.statement(prov, commit::commit_output(&self.shape, &c));
        let (proof, _) = prove(
            &self.pk,
            MatmulCircuit::prove(self.kind, self.shape, w),
            &CpuBackend::new(),
            &mut OsRng,
            ProveOptions::default(),
            &|_| {},
        )
        .unwrap();
        let b = ProofBundle::new(self.kind, statement, proof);
        self.proofs.lock().unwrap().insert(provider, b.clone());
        b
    }

    pub fn job_id(&self) -> U256 {
        fr_u256(&self.job.job_id.0)
    }
}

/// A chain with both verifiers registered in a JobEscrow owned by OWNER.
pub struct Env {
    pub chain: Chain,
    pub escrow: Address,
    pub verifier: Address,
    pub verifier2: Address,
}

pub fn env() -> Env {
    let mut chain = Chain::new();
    for a in [OWNER, CLIENT, PROVIDER, OTHER] {
        chain.fund(a, U256::from(100 * ETH));
    }
    let (verifier, _) = deploy_verifier(&mut chain, OWNER, &fx().vk).unwrap();
    let (verifier2, _) = deploy_verifier(&mut chain, OWNER, &fx2().vk).unwrap();
    let (escrow, _) = deploy_escrow(&mut chain, OWNER, OWNER).unwrap();
    let mut e = Env { chain, escrow, verifier, verifier2 };
    for (shape, v) in [(fx().shape, verifier), (fx2().shape, verifier2)] {
        let r =
            e.send(OWNER, IJobEscrow::registerVerifierCall { shape: shape_id(&shape), verifier: v }.abi_encode(), 0);
        ok(&r);
    }
    e
}

pub fn post_call(job: &Job, shape: &Shape, deadline: u64, window: u32, stake: u128) -> Vec<u8> {
    IJobEscrow::postJobCall {
        jobId: fr_u256(&job.job_id.0),
        shape: shape_id(shape),
        cmA: fr_u256(&job.cm_a),
        cmB: fr_u256(&job.cm_b),
        deadline: revm::primitives::alloy_primitives::aliases::U40::from(deadline),
        lockWindow: window,
        lockStake: stake,
    }
    .abi_encode()
}

impl Env {
    pub fn send(&mut self, from: Address, data: Vec<u8>, value: u128) -> Receipt {
        let to = self.escrow;
        self.chain.call(from, to, data, U256::from(value)).unwrap()
    }

    /// Posts the main fixture's job (price PRICE, deadline in an hour, locks of WINDOW for STAKE).
    pub fn post(&mut self) -> Receipt {
        let deadline = self.chain.time() + DEADLINE_IN;
        let r = self.send(CLIENT, post_call(&fx().job, &fx().shape, deadline, WINDOW, STAKE), PRICE);
        ok(&r);
        r
    }

    pub fn submit(&mut self, from: Address, bundle: &ProofBundle) -> Receipt {
        self.send(from, settle_calldata(bundle), 0)
    }

    pub fn lock(&mut self, from: Address, job_id: U256) -> Receipt {
        self.send(from, IJobEscrow::lockCall { jobId: job_id }.abi_encode(), STAKE)
    }

    pub fn status(&mut self, job_id: U256) -> JobStatus {
        job_status(&mut self.chain, self.escrow, job_id).unwrap()
    }

    pub fn owed(&mut self, who: Address) -> u128 {
        let out = self.chain.view(self.escrow, IJobEscrow::owedCall { account: who }.abi_encode()).unwrap();
        IJobEscrow::owedCall::abi_decode_returns(&out).unwrap().saturating_to()
    }

    pub fn balance(&self, who: Address) -> u128 {
        self.chain.balance(who).saturating_to()
    }
}

#[track_caller]
pub fn ok(r: &Receipt) {
    assert!(r.is_success(), "transaction failed: {:?} {}", r.status, veriflop_contracts::abi::decode_revert(&r.output));
}

/// Asserts the transaction reverted with the custom error `name` (any arguments).
#[track_caller]
pub fn reverted_with(r: &Receipt, name: &str) {
    assert_eq!(r.status, TxStatus::Reverted, "expected revert {name}, got {:?}", r.status);
    let reason = veriflop_contracts::abi::decode_revert(&r.output);
    assert!(reason == name || reason.starts_with(&format!("{name}(")), "expected revert {name}, got {reason}");
}
