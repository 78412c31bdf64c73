//! A registered verifier whose code is gone, or replaced (issue #14, item 6).
//!
//! A `staticcall` to an account without code succeeds and returns nothing, which
//! is exactly what the halo2 verifiers return on a valid proof. An owner that,
//! in one transaction, creates a verifier, registers it and makes it
//! self-destruct (EIP-6780 still deletes code created in the same transaction)
//! would leave a registry entry that "verifies" any bytes; CREATE2 can later put
//! other code at that address. JobEscrow records the verifier's code hash at
//! registration and calls it only while the code is unchanged.

mod common;

use alloy_sol_types::{SolCall, SolValue};
use common::*;
use revm::primitives::hardfork::SpecId;
use revm::primitives::{keccak256, Address, B256, U256};
use veriflop_circuits::{Bytes32, CircuitKind, Dtype, ProofSystem, Shape};
use veriflop_contracts::abi::{selector, IJobEscrow, IVanishingVerifierFactory};
use veriflop_contracts::artifacts;
use veriflop_contracts::evm::Chain;
use veriflop_contracts::settle::{deploy_escrow, digest_word, escrow_job_id, nonce_word, point_words};
use veriflop_contracts::{shape_id, JobStatus};

/// Runtime code that returns the word 1 (`true`) to any call: a verifier that accepts everything.
const ACCEPT_ALL: [u8; 10] = [0x60, 0x01, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3];

struct Attack {
    chain: Chain,
    escrow: Address,
    factory: Address,
}

/// A chain where the escrow's owner is the attacker's factory contract.
fn attack() -> Attack {
    let mut chain = Chain::new();
    // Osaka, so Cancun's EIP-6780 applies (SELFDESTRUCT deletes code only in the
    // creating transaction): the scenario below depends on it.
    assert_eq!(chain.spec(), SpecId::OSAKA);
    assert!(chain.spec().is_enabled_in(SpecId::CANCUN));
    for a in [OWNER, CLIENT, PROVIDER] {
        chain.fund(a, U256::from(100 * ETH));
    }
    let (factory, _) = chain.deploy(OWNER, artifacts::vanishing_verifier_factory().initcode(&[])).unwrap();
    let (escrow, _) = deploy_escrow(&mut chain, OWNER, factory).unwrap();
    Attack { chain, escrow, factory }
}

impl Attack {
    /// In ONE transaction: create a verifier, register it for `shape`, self-destruct it.
    fn register_and_destroy(&mut self, shape: u128, salt: u8) -> Address {
        let call = IVanishingVerifierFactory::registerAndDestroyCall {
            escrow: self.escrow,
            shape,
            salt: B256::repeat_byte(salt),
        };
        let r = self.chain.call(OWNER, self.factory, call.abi_encode(), U256::ZERO).unwrap();
        ok(&r);
        let verifier = IVanishingVerifierFactory::registerAndDestroyCall::abi_decode_returns(&r.output).unwrap();
        // Registered (it had code then: registerVerifier checks) ...
        let out = self.chain.view(self.escrow, IJobEscrow::verifierOfCall { shape }.abi_encode()).unwrap();
        assert_eq!(Address::abi_decode(&out).unwrap(), verifier);
        let out = self.chain.view(self.escrow, IJobEscrow::codeHashOfCall { shape }.abi_encode()).unwrap();
        assert_eq!(B256::abi_decode(&out).unwrap(), keccak256([0x33, 0xff]));
        // ... and gone once the transaction ended.
        assert!(self.chain.code(verifier).is_empty(), "EIP-6780 deletes code created in the same transaction");
        verifier
    }

    /// Posts a job for `shape` as CLIENT (commitments `cm_a`, `cm_b`), returns its id.
    fn post(&mut self, shape: u128, cm_a: U256, cm_b: U256, n: &Bytes32) -> U256 {
        let call = IJobEscrow::postJobCall {
            nonce: nonce_word(n),
            shape,
            cmA: cm_a,
            cmB: cm_b,
            deadline: revm::primitives::alloy_primitives::aliases::U40::from(self.chain.time() + DEADLINE_IN),
            lockWindow: 0,
            lockStake: 0,
        };
        let r = self.chain.call(CLIENT, self.escrow, call.abi_encode(), U256::from(PRICE)).unwrap();
        ok(&r);
        posted_id(&r)
    }

    fn submit(&mut self, data: Vec<u8>) -> veriflop_contracts::Receipt {
        self.chain.call(PROVIDER, self.escrow, data, U256::ZERO).unwrap()
    }

    fn status(&mut self, id: U256) -> JobStatus {
        veriflop_contracts::settle::job_status(&mut self.chain, self.escrow, id).unwrap()
    }
}

fn shape_error(name: &str, shape: u128) -> Vec<u8> {
    let mut out = selector(&format!("{name}(uint128)")).to_vec();
    out.extend(U256::from(shape).to_be_bytes::<32>());
    out
}

/// The calldata `submitHalo2` sends to the verifier: five words, then the proof.
fn halo2_input(job_id: U256, provider: Address, cm_a: U256, cm_b: U256, cm_c: U256, proof: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [job_id, U256::from_be_slice(provider.as_slice()), cm_a, cm_b, cm_c] {
        v.extend(w.to_be_bytes::<32>());
    }
    v.extend_from_slice(proof);
    v
}

#[test]
fn halo2_job_with_a_vanished_verifier_is_not_paid() {
    let mut a = attack();
    let shape = shape_id(ProofSystem::Halo2KzgBn254, CircuitKind::Poseidon, &Shape::new(2, 4, 4, Dtype::Int8).unwrap());
    let verifier = a.register_and_destroy(shape, 1);
    let (cm_a, cm_b, cm_c) = (U256::from(11), U256::from(12), U256::from(13));
    let n = nonce(1);
    let id = a.post(shape, cm_a, cm_b, &n);
    assert_eq!(id, veriflop_contracts::settle::fr_u256(&escrow_job_id(&mut a.chain, a.escrow, CLIENT, &n).unwrap().0));
    let garbage = vec![0xde; 1000];

    // What the escrow's call would see: the empty account "verifies" the garbage
    // (success, no return data), so a plain staticcall would have paid.
    let direct = a.chain.call(PROVIDER, verifier, halo2_input(id, PROVIDER, cm_a, cm_b, cm_c, &garbage), U256::ZERO);
    let direct = direct.unwrap();
    assert!(direct.is_success() && direct.output.is_empty());

    // The escrow refuses it: the verifier has no code.
    let before = a.chain.balance(PROVIDER);
    let submit = IJobEscrow::submitHalo2Call { jobId: id, cmC: cm_c, proof: garbage.clone().into() }.abi_encode();
    let r = a.submit(submit.clone());
    reverted_with(&r, "VerifierHasNoCode");
    assert_eq!(r.output, shape_error("VerifierHasNoCode", shape));
    assert_eq!(a.status(id), JobStatus::Open);
    assert_eq!(a.chain.balance(PROVIDER), before);
    assert_eq!(a.chain.balance(a.escrow), U256::from(PRICE));

    // CREATE2 puts an accept-everything "verifier" at the same address later: its
    // code is not the registered code, so it is refused too.
    let redeploy = IVanishingVerifierFactory::redeployCall { salt: B256::repeat_byte(1), code: ACCEPT_ALL.into() };
    let r = a.chain.call(OWNER, a.factory, redeploy.abi_encode(), U256::ZERO).unwrap();
    ok(&r);
    assert_eq!(Address::abi_decode(&r.output).unwrap(), verifier);
    assert_eq!(a.chain.code(verifier), ACCEPT_ALL);
    let r = a.submit(submit);
    reverted_with(&r, "VerifierCodeChanged");
    assert_eq!(r.output, shape_error("VerifierCodeChanged", shape));
    assert_eq!(a.status(id), JobStatus::Open);

    // The client takes its price back after the deadline.
    a.chain.advance(DEADLINE_IN + 1);
    let before = a.chain.balance(CLIENT);
    ok(&a.chain.call(CLIENT, a.escrow, IJobEscrow::refundCall { jobId: id }.abi_encode(), U256::ZERO).unwrap());
    assert_eq!(a.chain.balance(CLIENT), before + U256::from(PRICE));
}

#[test]
fn groth16_jobs_with_a_vanished_or_replaced_verifier_are_not_paid() {
    let mut a = attack();
    let s = Shape::new(2, 4, 4, Dtype::Int8).unwrap();
    let committed = shape_id(ProofSystem::Groth16Bn254, CircuitKind::Committed, &s);
    let poseidon = shape_id(ProofSystem::Groth16Bn254, CircuitKind::Poseidon, &s);
    a.register_and_destroy(committed, 2);
    a.register_and_destroy(poseidon, 3);

    // Committed: points that hash to the job's digests (so the digest checks pass).
    let g = <ark_bn254::G1Affine as ark_ec::AffineRepr>::generator();
    let d = digest_word(&g);
    let id_c = a.post(committed, d, d, &nonce(1));
    let p = point_words(&g);
    let submit = IJobEscrow::submitCall { jobId: id_c, proof: [U256::from(1); 8], cmA: p, cmB: p, cmC: p, pok: p };
    assert_eq!(a.submit(submit.abi_encode()).output, shape_error("VerifierHasNoCode", committed));
    // Poseidon.
    let id_p = a.post(poseidon, U256::from(1), U256::from(2), &nonce(2));
    let submit_p = IJobEscrow::submitPoseidonCall { jobId: id_p, cmC: U256::from(3), proof: [U256::from(1); 8] };
    assert_eq!(a.submit(submit_p.abi_encode()).output, shape_error("VerifierHasNoCode", poseidon));

    // Redeployed at the same addresses with code that returns `true` to anything: refused.
    for salt in [2u8, 3] {
        let redeploy =
            IVanishingVerifierFactory::redeployCall { salt: B256::repeat_byte(salt), code: ACCEPT_ALL.into() };
        ok(&a.chain.call(OWNER, a.factory, redeploy.abi_encode(), U256::ZERO).unwrap());
    }
    assert_eq!(a.submit(submit.abi_encode()).output, shape_error("VerifierCodeChanged", committed));
    assert_eq!(a.submit(submit_p.abi_encode()).output, shape_error("VerifierCodeChanged", poseidon));
    assert_eq!((a.status(id_c), a.status(id_p)), (JobStatus::Open, JobStatus::Open));
    assert_eq!(a.chain.balance(a.escrow), U256::from(2 * PRICE));
}
