//! Shared fixtures: keys and real proofs (small shapes), a chain with the
//! escrow and the verifiers deployed.
//!
//! Job ids are derived by the escrow from its venue, the client and a nonce, so
//! the fixtures' jobs are made for the escrow [`env`] deploys: OWNER's first
//! contract on a fresh chain, which is also `settle_in_evm`'s escrow
//! (`demo_venue()`: OWNER and CLIENT are the demo accounts).
#![allow(dead_code)]

use alloy_sol_types::SolCall;
use rand::rngs::OsRng;
use revm::primitives::{Address, U256};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{
    Address as VAddress, Bytes32, CircuitKind, Dtype, InputMatrix, Job, JobId, OutputMatrix, ProofSystem, Shape, Venue,
    Witness,
};
use veriflop_contracts::abi::{IJobEscrow, JobStatus};
use veriflop_contracts::evm::{Chain, Receipt, TxStatus};
use veriflop_contracts::settle::{
    demo_escrow, deploy_escrow, deploy_verifier, fr_u256, job_status, nonce_word, statement_address, DEMO_CLIENT,
    DEMO_OWNER,
};
use veriflop_contracts::{demo_venue, settle_calldata, shape_id};
use veriflop_prover::{prove_bundle, CpuBackend, ProveOptions, ProverKey};
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

/// The venue of [`env`]'s escrow (the same as `settle_in_evm`'s).
pub fn venue() -> Venue {
    demo_venue()
}

/// The id [`env`]'s escrow gives `client`'s job posted with `nonce`.
pub fn env_job_id(client: Address, nonce: &Bytes32) -> JobId {
    venue().job_id(statement_address(client), nonce)
}

/// A nonce from a small number (`n` in the last 8 bytes).
pub fn nonce(n: u64) -> Bytes32 {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&n.to_be_bytes());
    Bytes32(b)
}

pub struct Fx {
    pub kind: CircuitKind,
    pub shape: Shape,
    pub pk: ProverKey,
    pub vk: ShapeKey,
    /// CLIENT's nonce for `job`: `job.job_id` is `env_job_id(CLIENT, &nonce)`.
    pub nonce: Bytes32,
    pub job: Job,
    pub a: InputMatrix,
    pub b: InputMatrix,
    pub c: OutputMatrix,
    proofs: Mutex<HashMap<Address, ProofBundle>>,
}

fn make(kind: CircuitKind, shape: Shape, seed: u64) -> Fx {
    let (pk, vk) = veriflop_prover::setup::generate(kind, shape, &mut OsRng).unwrap();
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, seed).unwrap();
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, seed + 1).unwrap();
    let ck = pk.commit_key().ok();
    let nonce = Bytes32::random();
    let job = Job::new(env_job_id(CLIENT, &nonce), kind, shape, ck.as_ref(), &a, &b).unwrap();
    let c = matmul(&shape, &a, &b).unwrap();
    Fx { kind, shape, pk, vk, nonce, job, a, b, c, proofs: Mutex::new(HashMap::new()) }
}

/// The main fixture: a committed-circuit key for 4×4×4 int8, a job, proofs on demand.
pub fn fx() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| make(CircuitKind::Committed, Shape::new(4, 4, 4, Dtype::Int8).unwrap(), 7))
}

/// A second shape (2×4×4 int8) with its own committed-circuit key.
pub fn fx2() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| make(CircuitKind::Committed, Shape::new(2, 4, 4, Dtype::Int8).unwrap(), 9))
}

/// A Poseidon-circuit key (2×4×4 int8) and job: the previous construction's
/// verifier and `submitPoseidon` path.
pub fn fxp() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| make(CircuitKind::Poseidon, Shape::new(2, 4, 4, Dtype::Int8).unwrap(), 11))
}

impl Fx {
    /// A proof of this fixture's job with result `c`, paying `provider`
    /// (`allow_unsatisfied` when `c` is not A·B: the proof is then invalid).
    pub fn prove_with(&self, provider: Address, c: OutputMatrix) -> ProofBundle {
        self.prove_for(self.job.job_id, provider, c)
    }

    /// A proof of this fixture's data for another job id, paying `provider`.
    pub fn prove_for(&self, job_id: JobId, provider: Address, c: OutputMatrix) -> ProofBundle {
        let w = Witness {
            job_id: job_id.0,
            provider: VAddress(provider.into_array()),
            a: self.a.clone(),
            b: self.b.clone(),
            c,
        };
        let opts = ProveOptions { allow_unsatisfied: true };
        prove_bundle(&self.pk, w, &CpuBackend::new(), &mut OsRng, opts, &|_| {}).unwrap().0
    }

    /// An honest proof of this fixture's job, paying `provider`.
    pub fn bundle_for(&self, provider: Address) -> ProofBundle {
        if let Some(b) = self.proofs.lock().unwrap().get(&provider) {
            return b.clone();
        }
        let b = self.prove_with(provider, self.c.clone());
        self.proofs.lock().unwrap().insert(provider, b.clone());
        b
    }

    /// A proof claiming C with one entry off by one (made with `allow_unsatisfied`).
    pub fn wrong_c_bundle(&self, provider: Address) -> ProofBundle {
        let mut c = self.c.clone();
        c.data[0] += 1;
        self.prove_with(provider, c)
    }

    pub fn job_id(&self) -> U256 {
        fr_u256(&self.job.job_id.0)
    }

    pub fn shape_id(&self) -> u128 {
        shape_id(ProofSystem::Groth16Bn254, self.kind, &self.shape)
    }
}

/// A chain with the three fixtures' verifiers registered in a JobEscrow owned by OWNER
/// (deployed first, at `venue()`'s address).
pub struct Env {
    pub chain: Chain,
    pub escrow: Address,
    pub verifier: Address,
    pub verifier2: Address,
    pub verifier_p: Address,
}

pub fn env() -> Env {
    env_on(Chain::new())
}

/// [`env`] on `chain` (e.g. one with another chain id: the escrow has the same
/// address, but another venue).
pub fn env_on(mut chain: Chain) -> Env {
    assert_eq!((OWNER, CLIENT), (DEMO_OWNER, DEMO_CLIENT));
    for a in [OWNER, CLIENT, PROVIDER, OTHER] {
        chain.fund(a, U256::from(100 * ETH));
    }
    let (escrow, _) = deploy_escrow(&mut chain, OWNER, OWNER).unwrap();
    assert_eq!(escrow, demo_escrow(), "the escrow is OWNER's first contract");
    let (verifier, _) = deploy_verifier(&mut chain, OWNER, &fx().vk).unwrap();
    let (verifier2, _) = deploy_verifier(&mut chain, OWNER, &fx2().vk).unwrap();
    let (verifier_p, _) = deploy_verifier(&mut chain, OWNER, &fxp().vk).unwrap();
    let mut e = Env { chain, escrow, verifier, verifier2, verifier_p };
    for (f, v) in [(fx(), verifier), (fx2(), verifier2), (fxp(), verifier_p)] {
        let r = e.send(OWNER, IJobEscrow::registerVerifierCall { shape: f.shape_id(), verifier: v }.abi_encode(), 0);
        ok(&r);
    }
    e
}

/// `postJob` with `nonce` for `job`'s commitments under the registry id of
/// (`job.system`, `job.circuit`, `shape`); `job.job_id` is not sent (the escrow
/// derives the id from the sender and `nonce`).
pub fn post_call(nonce: &Bytes32, job: &Job, shape: &Shape, deadline: u64, window: u32, stake: u128) -> Vec<u8> {
    IJobEscrow::postJobCall {
        nonce: nonce_word(nonce),
        shape: shape_id(job.system, job.circuit, shape),
        cmA: fr_u256(&job.cm_a),
        cmB: fr_u256(&job.cm_b),
        deadline: revm::primitives::alloy_primitives::aliases::U40::from(deadline),
        lockWindow: window,
        lockStake: stake,
    }
    .abi_encode()
}

/// `postJobWithDelivery`: [`post_call`] plus the attestor set and threshold (sent as given).
#[allow(clippy::too_many_arguments)]
pub fn post_delivery_call(
    nonce: &Bytes32,
    job: &Job,
    shape: &Shape,
    deadline: u64,
    window: u32,
    stake: u128,
    attestors: &[Address],
    threshold: u8,
) -> Vec<u8> {
    let p = IJobEscrow::postJobCall::abi_decode(&post_call(nonce, job, shape, deadline, window, stake)).unwrap();
    IJobEscrow::postJobWithDeliveryCall {
        nonce: p.nonce,
        shape: p.shape,
        cmA: p.cmA,
        cmB: p.cmB,
        deadline: p.deadline,
        lockWindow: p.lockWindow,
        lockStake: p.lockStake,
        attestors: attestors.to_vec(),
        threshold,
    }
    .abi_encode()
}

/// `n` attestor keys (fixed, distinct), sorted by address, with their addresses.
pub fn attestors(n: usize) -> Vec<(k256::ecdsa::SigningKey, Address)> {
    let mut v: Vec<_> = (1..=n as u8)
        .map(|i| {
            let k = k256::ecdsa::SigningKey::from_bytes(&[i; 32].into()).unwrap();
            let a = Address::from(veriflop_contracts::delivery::attestor_address(&k));
            (k, a)
        })
        .collect();
    v.sort_by_key(|(_, a)| *a);
    v
}

impl Env {
    pub fn send(&mut self, from: Address, data: Vec<u8>, value: u128) -> Receipt {
        let to = self.escrow;
        self.chain.call(from, to, data, U256::from(value)).unwrap()
    }

    /// Posts the main fixture's job (price PRICE, deadline in an hour, locks of WINDOW for STAKE).
    pub fn post(&mut self) -> Receipt {
        self.post_fx(fx())
    }

    /// Posts a fixture's job as CLIENT with its nonce (price PRICE, deadline in an
    /// hour, locks of WINDOW for STAKE), and checks the id the escrow returns.
    pub fn post_fx(&mut self, f: &Fx) -> Receipt {
        let deadline = self.chain.time() + DEADLINE_IN;
        let r = self.send(CLIENT, post_call(&f.nonce, &f.job, &f.shape, deadline, WINDOW, STAKE), PRICE);
        ok(&r);
        assert_eq!(posted_id(&r), f.job_id());
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

/// The job id a successful `postJob` returned.
#[track_caller]
pub fn posted_id(r: &Receipt) -> U256 {
    IJobEscrow::postJobCall::abi_decode_returns(&r.output).expect("postJob returns the job id")
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
