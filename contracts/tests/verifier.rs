//! The Solidity Groth16 verifier in revm: real proofs accepted, every malformed
//! or tampered input rejected, reverts (never `false`) on starved precompiles,
//! and the per-key generated source (compiled with the pinned solc) behaves
//! exactly like the committed generic one.

mod common;

use alloy_sol_types::SolCall;
use common::*;
use revm::primitives::{Address, U256};
use veriflop_contracts::abi::{IGroth16Verifier, IJobEscrow};
use veriflop_contracts::evm::{Chain, TxStatus};
use veriflop_contracts::settle::{deploy_verifier, proof_words, public_input_words};
use veriflop_contracts::solidity::{Q_HEX, R_HEX};
use veriflop_contracts::{settle_calldata, solidity_verifier, verify_calldata};

fn u(hex: &str) -> U256 {
    U256::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

fn call_verify(chain: &mut Chain, v: Address, proof: [U256; 8], input: [U256; 5]) -> veriflop_contracts::Receipt {
    chain.call(PROVIDER, v, IGroth16Verifier::verifyProofCall { proof, input }.abi_encode(), U256::ZERO).unwrap()
}

fn returned(r: &veriflop_contracts::Receipt) -> bool {
    ok(r);
    IGroth16Verifier::verifyProofCall::abi_decode_returns(&r.output).unwrap()
}

fn setup() -> (Chain, Address) {
    let mut chain = Chain::new();
    chain.fund(OWNER, U256::from(ETH));
    let (v, _) = deploy_verifier(&mut chain, OWNER, &fx().vk).unwrap();
    (chain, v)
}

#[test]
fn accepts_honest_proof_and_rejects_tampering() {
    let (mut chain, v) = setup();
    let b = fx().bundle_for(PROVIDER);
    let (proof, input) = (proof_words(&b), public_input_words(&b));
    let r = call_verify(&mut chain, v, proof, input);
    assert!(returned(&r), "honest proof rejected");
    println!("verifyProof transaction: {} gas", r.gas_used);
    assert!(r.gas_used <= 250_000, "verifyProof tx used {} gas", r.gas_used);

    // Each public input changed: a well-formed statement the proof is not for.
    for i in 0..5 {
        let mut bad = input;
        bad[i] += U256::from(1);
        assert!(!returned(&call_verify(&mut chain, v, proof, bad)), "input {i} changed and still accepted");
    }
    // -A instead of A: a valid curve point, wrong proof.
    let mut neg_a = proof;
    neg_a[1] = u(Q_HEX) - proof[1];
    assert!(!returned(&call_verify(&mut chain, v, neg_a, input)));
    // A and C swapped.
    let mut swapped = proof;
    swapped.swap(0, 6);
    swapped.swap(1, 7);
    assert!(!returned(&call_verify(&mut chain, v, swapped, input)));
    // A proof for another provider.
    let other = fx().bundle_for(OTHER);
    assert!(!returned(&call_verify(&mut chain, v, proof_words(&other), input)));
    // A proof of another key (other shape) for a statement with the same inputs.
    let b2 = fx2().bundle_for(PROVIDER);
    assert!(!returned(&call_verify(&mut chain, v, proof_words(&b2), public_input_words(&b2))));
}

#[test]
fn malformed_inputs_revert() {
    let (mut chain, v) = setup();
    let b = fx().bundle_for(PROVIDER);
    let (proof, input) = (proof_words(&b), public_input_words(&b));
    let r = u(R_HEX);
    let q = u(Q_HEX);
    // Public input equal to r (x and x + r are the same field element: must be refused).
    for i in 0..5 {
        let mut bad = input;
        bad[i] = r;
        reverted_with(&call_verify(&mut chain, v, proof, bad), "PublicInputNotInField");
        bad[i] = input[i] + r;
        reverted_with(&call_verify(&mut chain, v, proof, bad), "PublicInputNotInField");
        bad[i] = U256::MAX;
        reverted_with(&call_verify(&mut chain, v, proof, bad), "PublicInputNotInField");
    }
    // Proof coordinates >= q (A.y + q would otherwise negate to the same -A).
    for i in 0..8 {
        let mut bad = proof;
        bad[i] = proof[i] + q;
        reverted_with(&call_verify(&mut chain, v, bad, input), "ProofCoordinateNotInField");
    }
    // Points off the curve: the precompile fails, the verifier reverts.
    for i in [0usize, 2, 6] {
        let mut bad = proof;
        bad[i] ^= U256::from(1);
        reverted_with(&call_verify(&mut chain, v, bad, input), "PrecompileFailed");
    }
    // Garbage calldata (too short) reverts without output, never returns true.
    let mut short = verify_calldata(&b);
    short.truncate(100);
    let rr = chain.call(PROVIDER, v, short, U256::ZERO).unwrap();
    assert_ne!(rr.status, TxStatus::Success);
}

/// EIP-150: a call gets at most 63/64 of the remaining gas. A verifier that
/// turned a failed (starved) precompile call into `false` would let anyone
/// make a valid proof look invalid by choosing the gas limit. Ours reverts.
#[test]
fn starved_precompile_reverts_never_returns_false() {
    let (mut chain, v) = setup();
    let b = fx().bundle_for(PROVIDER);
    let data = verify_calldata(&b);
    let full = chain.call_with_gas(PROVIDER, v, data.clone(), 1_000_000).unwrap();
    assert!(returned(&full));
    let needed = full.gas_used;
    let mut reverted = 0;
    let mut starved_revert = 0;
    let mut gas = 40_000u64;
    while gas < needed + 5_000 {
        let r = chain.call_with_gas(PROVIDER, v, data.clone(), gas).unwrap();
        match &r.status {
            TxStatus::Success => {
                let valid = IGroth16Verifier::verifyProofCall::abi_decode_returns(&r.output).unwrap();
                assert!(valid, "with a {gas} gas limit the verifier returned false for a valid proof");
            }
            TxStatus::Reverted => {
                reverted += 1;
                assert_eq!(
                    veriflop_contracts::abi::decode_revert(&r.output),
                    "PrecompileFailed",
                    "unexpected revert with a {gas} gas limit"
                );
                starved_revert += 1;
            }
            TxStatus::Halted(_) => {}
        }
        gas += if gas + 12_000 > needed { 97 } else { 1_499 };
    }
    // The interesting case happened: a precompile ran out of gas and the verifier,
    // left with its 1/64, reverted instead of answering.
    assert!(starved_revert > 0, "no gas limit made a precompile fail with gas left to revert ({reverted} reverts)");

    // The same through the escrow: a starved submit reverts and pays nothing;
    // the job stays open and a properly funded submit settles.
    let mut e = env();
    e.post();
    let calldata = settle_calldata(&b);
    let mut starved = 0;
    for gas in (200_000..280_000).step_by(2_000) {
        let to = e.escrow;
        let r = e.chain.call_with_gas(PROVIDER, to, calldata.clone(), gas).unwrap();
        if !r.is_success() {
            starved += 1;
            assert_eq!(e.status(fx().job_id()), veriflop_contracts::JobStatus::Open);
        } else {
            break;
        }
    }
    assert!(starved > 0);
    if e.status(fx().job_id()) == veriflop_contracts::JobStatus::Open {
        ok(&e.submit(PROVIDER, &b));
    }
    assert_eq!(e.status(fx().job_id()), veriflop_contracts::JobStatus::Paid);
}

/// `solidity_verifier` output, compiled by the pinned solc (needs
/// `npm ci --prefix contracts`), deployed, and checked against the generic one.
#[test]
fn generated_per_key_verifier_compiles_and_matches_generic() {
    let key = &fx().vk;
    let src = solidity_verifier(key);
    assert!(src.contains(&fx().vk.fingerprint()));
    let name = veriflop_contracts::solidity::contract_name(key);
    let arts = veriflop_contracts::solc::compile(&[("Verifier.sol", &src)]).unwrap_or_else(|e| panic!("{e}"));
    let art = arts.get(&name).unwrap_or_else(|| panic!("no contract {name} in {:?}", arts.keys()));

    let mut chain = Chain::new();
    chain.fund(OWNER, U256::from(ETH));
    let (generic, dg) = deploy_verifier(&mut chain, OWNER, key).unwrap();
    let (fixed, df) = chain.deploy(OWNER, art.bytecode.clone()).unwrap();
    println!("deployment: generic (immutables) {} gas, generated (constants) {} gas", dg.gas_used, df.gas_used);
    let b = fx().bundle_for(PROVIDER);
    let (proof, input) = (proof_words(&b), public_input_words(&b));
    let rg = call_verify(&mut chain, generic, proof, input);
    let rf = call_verify(&mut chain, fixed, proof, input);
    assert!(returned(&rg) && returned(&rf));
    println!("verifyProof tx: generic (immutables) {} gas, generated (constants) {} gas", rg.gas_used, rf.gas_used);
    assert_eq!(rg.gas_used, rf.gas_used, "constants and immutables should cost the same");
    let mut bad = input;
    bad[4] += U256::from(1);
    assert!(!returned(&call_verify(&mut chain, fixed, proof, bad)));
    bad[4] = u(R_HEX);
    reverted_with(&call_verify(&mut chain, fixed, proof, bad), "PublicInputNotInField");
}

#[test]
fn escrow_rebuilds_the_statements_public_inputs() {
    let mut e = env();
    e.post();
    let b = fx().bundle_for(PROVIDER);
    let call = IJobEscrow::publicInputsCall {
        jobId: fx().job_id(),
        provider: PROVIDER,
        cmC: veriflop_contracts::settle::fr_u256(&b.statement.cm_c),
    };
    let to = e.escrow;
    let out = e.chain.view(to, call.abi_encode()).unwrap();
    let got = IJobEscrow::publicInputsCall::abi_decode_returns(&out).unwrap();
    assert_eq!(got, public_input_words(&b));
    // And the calldata carries exactly the job id, cm_C and the proof.
    let d = IJobEscrow::submitCall::abi_decode(&settle_calldata(&b)).unwrap();
    assert_eq!(d.jobId, fx().job_id());
    assert_eq!(d.proof, proof_words(&b));
}
