//! halo2 jobs on-chain: JobEscrow's `submitHalo2` path with snark-verifier's
//! generated verifier (compiled by the pinned solc), and the same forged and
//! tampered submissions as the Groth16 paths, rejected.

mod common;

use std::sync::OnceLock;

use alloy_sol_types::{SolCall, SolEvent};
use common::*;
use revm::primitives::{Address, U256};
use veriflop_circuits::commit::commit_output;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Address as VAddress, Bytes32, CircuitKind, Dtype, InputMatrix, Job, ProofSystem, Shape};
use veriflop_contracts::abi::IJobEscrow;
use veriflop_contracts::delivery::{cm_c_word, delivery_digest, sign_delivery};
use veriflop_contracts::settle::{deploy_halo2_verifier, fr_u256, job_shape_id};
use veriflop_contracts::{attest_delivery_calldata, settle_calldata, settle_halo2_in_evm, shape_id, JobStatus};
use veriflop_halo2::{ProverKey, Srs, VerifierKey};
use veriflop_verifier::{Proof, ProofBundle};

/// A halo2 job of 2×4×4 int8 (the Poseidon fixture's shape), keys from one dev SRS.
struct H2 {
    shape: Shape,
    pk: ProverKey,
    vk: VerifierKey,
    /// CLIENT's nonce for `job` (`job.job_id` is `env_job_id(CLIENT, &nonce)`).
    nonce: Bytes32,
    job: Job,
    a: InputMatrix,
    b: InputMatrix,
    initcode: Vec<u8>,
}

fn srs() -> &'static Srs {
    static S: OnceLock<Srs> = OnceLock::new();
    S.get_or_init(|| veriflop_halo2::setup_srs(12, [3; 32]).unwrap())
}

fn h2() -> &'static H2 {
    static F: OnceLock<H2> = OnceLock::new();
    F.get_or_init(|| {
        let shape = Shape::new(2, 4, 4, Dtype::Int8).unwrap();
        let (pk, vk) = veriflop_halo2::keygen(&shape, srs()).unwrap();
        let a = InputMatrix::random(2, 4, Dtype::Int8, 21).unwrap();
        let b = InputMatrix::random(4, 4, Dtype::Int8, 22).unwrap();
        let nonce = Bytes32::random();
        let job = Job::new(env_job_id(CLIENT, &nonce), CircuitKind::Poseidon, shape, None, &a, &b)
            .unwrap()
            .with_system(ProofSystem::Halo2KzgBn254)
            .unwrap();
        let initcode =
            veriflop_contracts::settle::halo2_verifier_initcode(&vk).expect("pinned solc compiles the verifier");
        H2 { shape, pk, vk, nonce, job, a, b, initcode }
    })
}

impl H2 {
    /// A bundle for `job` paying `provider`, with result `c` (not checked: a
    /// cheater's proof when `c` is not A·B).
    fn bundle(&self, job: &Job, provider: Address, c: &veriflop_circuits::OutputMatrix) -> ProofBundle {
        let p = VAddress(provider.into_array());
        let proof =
            veriflop_halo2::proof::prove_unchecked(&self.pk, job.job_id.0, p.to_fr(), &self.a, &self.b, c).unwrap();
        ProofBundle::halo2(job.statement(p, commit_output(&self.shape, c)), proof)
    }

    fn c(&self) -> veriflop_circuits::OutputMatrix {
        matmul(&self.shape, &self.a, &self.b).unwrap()
    }
}

/// The common environment plus the halo2 verifier registered for the halo2 shape id.
fn env_h2() -> (Env, Address) {
    let mut e = env();
    let (v, _) = e.chain.deploy(OWNER, h2().initcode.clone()).unwrap();
    let sid = job_shape_id(&h2().job);
    ok(&e.send(OWNER, IJobEscrow::registerVerifierCall { shape: sid, verifier: v }.abi_encode(), 0));
    (e, v)
}

fn with_proof(b: &ProofBundle, bytes: Vec<u8>) -> ProofBundle {
    let mut t = b.clone();
    t.proof = Proof::Halo2KzgBn254(veriflop_verifier::Halo2Proof(bytes));
    t
}

fn proof_bytes(b: &ProofBundle) -> Vec<u8> {
    b.proof.to_bytes()
}

#[test]
fn halo2_job_settles_with_a_valid_proof_only() {
    let h = h2();
    let (mut e, verifier) = env_h2();
    let job_id = fr_u256(&h.job.job_id.0);
    ok(&e.post_fx_job(&h.nonce, &h.job, &h.shape));
    let good = h.bundle(&h.job, PROVIDER, &h.c());

    // Tampered proofs: byte flips, truncated, extended, empty.
    let bytes = proof_bytes(&good);
    for i in (0..bytes.len()).step_by(397).chain([bytes.len() - 1]) {
        let mut t = bytes.clone();
        t[i] ^= 1;
        reverted_with(&e.submit(PROVIDER, &with_proof(&good, t)), "InvalidProof");
    }
    for t in [bytes[..bytes.len() - 32].to_vec(), [bytes.clone(), vec![0; 32]].concat(), vec![]] {
        reverted_with(&e.submit(PROVIDER, &with_proof(&good, t)), "InvalidProof");
    }
    // Wrong public inputs: another cm_C, cm_C outside the field.
    let mut other_c = good.clone();
    other_c.statement.cm_c += ark_bn254::Fr::from(1u64);
    reverted_with(&e.submit(PROVIDER, &other_c), "InvalidProof");
    let too_big = IJobEscrow::submitHalo2Call { jobId: job_id, cmC: U256::MAX, proof: bytes.clone().into() };
    reverted_with(&e.send(PROVIDER, too_big.abi_encode(), 0), "CommitmentNotInField");
    // Wrong C: a cheater's proof for C' ≠ A·B with C''s commitment.
    let mut c = h.c();
    c.data[3] += 1;
    reverted_with(&e.submit(PROVIDER, &h.bundle(&h.job, PROVIDER, &c)), "InvalidProof");
    // Another provider sending PROVIDER's proof (copied from the mempool): bound to msg.sender.
    reverted_with(&e.submit(OTHER, &good), "InvalidProof");
    // The Groth16 Poseidon entry point does not settle a halo2 job.
    let poseidon =
        IJobEscrow::submitPoseidonCall { jobId: job_id, cmC: fr_u256(&good.statement.cm_c), proof: [U256::ZERO; 8] };
    reverted_with(&e.send(PROVIDER, poseidon.abi_encode(), 0), "WrongCircuit");
    assert_eq!(e.status(job_id), JobStatus::Open);

    // The valid proof settles and pays; the verifier frame's gas is reported.
    let before = e.balance(PROVIDER);
    let r = e.submit(PROVIDER, &good);
    ok(&r);
    let verifier_gas = r.gas_of_call_to(verifier).unwrap();
    println!("submitHalo2: {} gas (verifier call {verifier_gas} gas)", r.gas_used);
    assert_eq!(e.status(job_id), JobStatus::Paid);
    assert_eq!(e.balance(PROVIDER), before + PRICE);
    let topic = IJobEscrow::JobSettled::SIGNATURE_HASH;
    let log = r.logs.iter().find(|l| l.topics().first() == Some(&topic)).expect("JobSettled emitted");
    let settled = IJobEscrow::JobSettled::decode_log(log).unwrap().data;
    assert_eq!(settled.cmC, fr_u256(&good.statement.cm_c));
    assert_eq!(settled.provider, PROVIDER);
    reverted_with(&e.submit(PROVIDER, &good), "JobNotOpen");
}

#[test]
fn halo2_proofs_are_bound_to_their_job_and_shape() {
    let h = h2();
    let (mut e, _) = env_h2();
    // Two jobs on the same data: job 1's proof does not settle job 2.
    let nonce2 = Bytes32::random();
    let job2 = Job { job_id: env_job_id(CLIENT, &nonce2), ..h.job.clone() };
    ok(&e.post_fx_job(&h.nonce, &h.job, &h.shape));
    ok(&e.post_fx_job(&nonce2, &job2, &h.shape));
    let mut replay = h.bundle(&h.job, PROVIDER, &h.c());
    replay.statement.job_id = job2.job_id;
    reverted_with(&e.submit(PROVIDER, &replay), "InvalidProof");
    ok(&e.submit(PROVIDER, &h.bundle(&job2, PROVIDER, &h.c())));

    // A Groth16 Poseidon job (same shape, Groth16 registry id) is not settled by submitHalo2.
    let fp = fxp();
    ok(&e.post_fx(fp));
    let gb = fp.bundle_for(PROVIDER);
    let cross = IJobEscrow::submitHalo2Call {
        jobId: fp.job_id(),
        cmC: fr_u256(&gb.statement.cm_c),
        proof: proof_bytes(&replay).into(),
    };
    reverted_with(&e.send(PROVIDER, cross.abi_encode(), 0), "WrongCircuit");

    // Another shape's halo2 job, registered with that shape's verifier: this shape's proof fails.
    let other = Shape::new(2, 4, 3, Dtype::Int8).unwrap();
    let (_, vk2) = veriflop_halo2::keygen(&other, srs()).unwrap();
    let (v2, _) = deploy_halo2_verifier(&mut e.chain, OWNER, &vk2).unwrap();
    let sid2 = shape_id(ProofSystem::Halo2KzgBn254, CircuitKind::Poseidon, &other);
    ok(&e.send(OWNER, IJobEscrow::registerVerifierCall { shape: sid2, verifier: v2 }.abi_encode(), 0));
    let nonce3 = Bytes32::random();
    let job3 = Job { job_id: env_job_id(CLIENT, &nonce3), shape: other, ..h.job.clone() };
    ok(&e.post_fx_job(&nonce3, &job3, &other));
    let mut reshaped = h.bundle(&h.job, PROVIDER, &h.c());
    reshaped.statement.job_id = job3.job_id;
    reshaped.statement.shape = other;
    reverted_with(&e.submit(PROVIDER, &reshaped), "InvalidProof");
}

#[test]
fn halo2_delivery_job_pays_only_after_receipts() {
    // submitHalo2 shares the delivery check with the Groth16 paths (contracts/tests/delivery.rs).
    let h = h2();
    let (mut e, _) = env_h2();
    let keys = attestors(2);
    let set: Vec<Address> = keys.iter().map(|(_, a)| *a).collect();
    let deadline = e.chain.time() + DEADLINE_IN;
    let r = e.send(CLIENT, post_delivery_call(&h.nonce, &h.job, &h.shape, deadline, WINDOW, STAKE, &set, 2), PRICE);
    ok(&r);
    assert_eq!(posted_id(&r), fr_u256(&h.job.job_id.0));
    let good = h.bundle(&h.job, PROVIDER, &h.c());
    let cm = cm_c_word(&good);
    reverted_with(&e.submit(PROVIDER, &good), "NotDelivered");
    let d = delivery_digest(e.chain.chain_id(), e.escrow.into_array(), &h.job.job_id, cm);
    let sigs: Vec<[u8; 65]> = keys.iter().map(|(k, _)| sign_delivery(k, &d)).collect();
    ok(&e.send(OTHER, attest_delivery_calldata(&h.job.job_id, cm, &set, 2, &sigs), 0));
    let before = e.balance(PROVIDER);
    let r = e.submit(PROVIDER, &good);
    ok(&r);
    println!("submitHalo2 of a delivery job: {} gas", r.gas_used);
    assert_eq!(e.balance(PROVIDER), before + PRICE);
    assert_eq!(e.status(fr_u256(&h.job.job_id.0)), JobStatus::Paid);
}

#[test]
fn halo2_registry_accepts_poseidon_jobs_only() {
    let (mut e, v) = env_h2();
    let reg = |shape| IJobEscrow::registerVerifierCall { shape, verifier: v }.abi_encode();
    let s = Shape::new(3, 3, 3, Dtype::Int8).unwrap();
    for circuit in [CircuitKind::Committed, CircuitKind::Naive] {
        reverted_with(&e.send(OWNER, reg(shape_id(ProofSystem::Halo2KzgBn254, circuit, &s)), 0), "UnknownCircuit");
    }
    // An unknown proof-system code.
    let unknown = shape_id(ProofSystem::Groth16Bn254, CircuitKind::Poseidon, &s) | 2u128 << 112;
    reverted_with(&e.send(OWNER, reg(unknown), 0), "UnknownCircuit");
    // A halo2 job cannot be posted where only a Groth16 verifier is registered (and vice versa).
    let fp = fxp();
    let halo2_of_fp = Job { system: ProofSystem::Halo2KzgBn254, ..fp.job.clone() };
    let deadline = e.chain.time() + DEADLINE_IN;
    let r = e.send(
        CLIENT,
        post_call(&fp.nonce, &halo2_of_fp, &Shape::new(4, 4, 4, Dtype::Int8).unwrap(), deadline, WINDOW, STAKE),
        PRICE,
    );
    reverted_with(&r, "UnknownShape");
}

#[test]
fn settle_halo2_in_evm_reports_gas() {
    let h = h2();
    let good = h.bundle(&h.job, PROVIDER, &h.c());
    let rep = settle_halo2_in_evm(&h.vk, &h.job, &h.nonce, &good, PRICE).unwrap();
    assert_eq!((rep.status_before, rep.status_after), (JobStatus::Open, JobStatus::Paid));
    assert_eq!(rep.job_id, h.job.job_id);
    assert_eq!(rep.calldata, settle_calldata(&good));
    println!("{rep}");
    // A Groth16 job or bundle is refused before any transaction.
    let g = Job { system: ProofSystem::Groth16Bn254, ..h.job.clone() };
    assert!(settle_halo2_in_evm(&h.vk, &g, &h.nonce, &good, PRICE).is_err());
    // A nonce that does not derive the job's id.
    assert!(settle_halo2_in_evm(&h.vk, &h.job, &nonce(1), &good, PRICE).is_err());
    // An invalid proof reverts with the contract's reason.
    let mut bad = good.clone();
    bad.statement.cm_c += ark_bn254::Fr::from(1u64);
    let err = settle_halo2_in_evm(&h.vk, &h.job, &h.nonce, &bad, PRICE).unwrap_err().to_string();
    assert!(err.contains("InvalidProof"), "{err}");
}

impl Env {
    /// Posts `job` as CLIENT with `nonce`; its id must be the one the escrow derives.
    fn post_fx_job(&mut self, nonce: &Bytes32, job: &Job, shape: &Shape) -> veriflop_contracts::Receipt {
        let deadline = self.chain.time() + DEADLINE_IN;
        let r = self.send(CLIENT, post_call(nonce, job, shape, deadline, WINDOW, STAKE), PRICE);
        if r.is_success() {
            assert_eq!(posted_id(&r), fr_u256(&job.job_id.0));
        }
        r
    }
}
