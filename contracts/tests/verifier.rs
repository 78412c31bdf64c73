//! The Solidity verifiers in revm. Committed circuit (the default): real proofs
//! accepted, the EVM and the native verifier agree on every tampered bundle,
//! malformed inputs revert (never `false`), starved precompiles revert, and the
//! per-key generated source (compiled with the pinned solc) behaves exactly like
//! the committed generic one. Poseidon circuit: its plain Groth16 verifier
//! still works in both forms.

mod common;

use alloy_sol_types::{SolCall, SolValue};
use ark_bn254::G1Affine;
use ark_ec::{AffineRepr, CurveGroup};
use common::*;
use revm::primitives::{Address, U256};
use veriflop_circuits::{cp, Address as VAddress, JobId};
use veriflop_contracts::abi::{ICommittedVerifier, IGroth16Verifier, IJobEscrow};
use veriflop_contracts::evm::{Chain, TxStatus};
use veriflop_contracts::settle::{deploy_verifier, proof_words, public_input_words};
use veriflop_contracts::solidity::{Q_HEX, R_HEX};
use veriflop_contracts::{settle_calldata, solidity_verifier, verify_calldata, Receipt};
use veriflop_verifier::{bundle::EvmG1, Groth16Proof, Proof, ProofBundle, Verifier};

fn u(hex: &str) -> U256 {
    U256::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

fn call(chain: &mut Chain, v: Address, data: Vec<u8>) -> Receipt {
    chain.call(PROVIDER, v, data, U256::ZERO).unwrap()
}

fn returned(r: &Receipt) -> bool {
    ok(r);
    bool::abi_decode(&r.output).unwrap()
}

fn setup() -> (Chain, Address) {
    let mut chain = Chain::new();
    chain.fund(OWNER, U256::from(ETH));
    let (v, _) = deploy_verifier(&mut chain, OWNER, &fx().vk).unwrap();
    (chain, v)
}

/// Recomputes the statement's digests from the bundle's points (what a forger
/// who changed the points would claim).
fn restate(mut b: ProofBundle) -> ProofBundle {
    let c = b.commitments.unwrap();
    b.statement.cm_a = cp::digest(&c.cm_a.0);
    b.statement.cm_b = cp::digest(&c.cm_b.0);
    b.statement.cm_c = cp::digest(&c.cm_c.0);
    b
}

/// The verdict of the EVM verifier, checked equal to the native verifier's.
fn both(chain: &mut Chain, v: Address, b: &ProofBundle) -> bool {
    let native = Verifier::new(fx().vk.clone()).verify(b);
    let evm = returned(&call(chain, v, verify_calldata(b)));
    assert_eq!(native.is_ok(), evm, "native verifier says {native:?}, the EVM {evm}");
    evm
}

fn with_points(b: &ProofBundle, f: impl FnOnce(&mut veriflop_verifier::bundle::CommitmentProof)) -> ProofBundle {
    let mut b = b.clone();
    f(b.commitments.as_mut().unwrap());
    restate(b)
}

#[test]
fn accepts_honest_proof_and_agrees_with_native_on_tampering() {
    let (mut chain, v) = setup();
    let b = fx().bundle_for(PROVIDER);
    let r = call(&mut chain, v, verify_calldata(&b));
    assert!(returned(&r), "honest proof rejected");
    assert!(both(&mut chain, v, &b));
    println!("committed verifyProof transaction: {} gas", r.gas_used);
    assert!(r.gas_used <= 300_000, "verifyProof tx used {} gas", r.gas_used);

    let cps = b.commitments.unwrap();
    // Another job or provider: the seed (so r and ρ) and the scalar inputs change.
    let mut other_job = b.clone();
    other_job.statement.job_id = JobId(b.statement.job_id.0 + ark_bn254::Fr::from(1u64));
    assert!(!both(&mut chain, v, &other_job), "other job accepted");
    let mut other_provider = b.clone();
    other_provider.statement.provider = VAddress(OTHER.into_array());
    assert!(!both(&mut chain, v, &other_provider), "other provider accepted");
    // A proof for another provider, sent as PROVIDER's.
    let mut stolen = fx().bundle_for(OTHER);
    stolen.statement.provider = b.statement.provider;
    assert!(!both(&mut chain, v, &stolen), "OTHER's proof accepted for PROVIDER");

    // cm_A and cm_B swapped: X is the same sum, but the seed orders the digests.
    let swapped = with_points(&b, |c| std::mem::swap(&mut c.cm_a, &mut c.cm_b));
    assert!(!both(&mut chain, v, &swapped), "swapped cm_A/cm_B accepted");
    // A cm_A that is not A's commitment (any other point).
    let g = G1Affine::generator();
    let moved = with_points(&b, |c| c.cm_a = EvmG1((c.cm_a.0 + g).into_affine()));
    assert!(!both(&mut chain, v, &moved), "other cm_A accepted");
    // Commitments moved between A and C keeping X: cm_A + P, cm_C − P.
    let shifted = with_points(&b, |c| {
        c.cm_a = EvmG1((c.cm_a.0 + g).into_affine());
        c.cm_c = EvmG1((c.cm_c.0.into_group() - g).into_affine());
    });
    assert!(!both(&mut chain, v, &shifted), "mass moved from cm_C to cm_A accepted");

    // pok tampered: negated, doubled, the identity.
    for pok in [-cps.pok.0, (cps.pok.0 + cps.pok.0).into_affine(), G1Affine::identity()] {
        let t = with_points(&b, |c| c.pok = EvmG1(pok));
        assert!(!both(&mut chain, v, &t), "tampered pok accepted");
    }
    // A wrong C, proven anyway: its own cm_C and pok are consistent, the proof is not.
    let wrong = fx().wrong_c_bundle(PROVIDER);
    assert!(!both(&mut chain, v, &wrong), "wrong C accepted");
    // A different cm_C with a valid pok for it (taken from the wrong-C bundle) in the honest proof.
    let wc = wrong.commitments.unwrap();
    assert_ne!(wc.cm_c, cps.cm_c);
    let grafted = with_points(&b, |c| {
        c.cm_c = wc.cm_c;
        c.pok = wc.pok;
    });
    assert!(!both(&mut chain, v, &grafted), "other cm_C with its pok accepted");
    // And the other way: the wrong-C proof with the honest cm_C and pok.
    let grafted = with_points(&wrong, |c| {
        c.cm_c = cps.cm_c;
        c.pok = cps.pok;
    });
    assert!(!both(&mut chain, v, &grafted), "wrong-C proof with honest cm_C accepted");

    // Proof elements: -A, A and C swapped, C replaced by C + pok (ρ changes with it).
    let p = b.groth16().unwrap().clone();
    let with = |q: ark_groth16::Proof<ark_bn254::Bn254>| {
        let mut t = b.clone();
        t.proof = Proof::Groth16Bn254(Groth16Proof(q));
        t
    };
    assert!(!both(&mut chain, v, &with(ark_groth16::Proof { a: -p.a, ..p.clone() })));
    assert!(!both(&mut chain, v, &with(ark_groth16::Proof { a: p.c, c: p.a, ..p.clone() })));
    assert!(!both(&mut chain, v, &with(ark_groth16::Proof { c: (p.c + cps.pok.0).into_affine(), ..p.clone() })));
    // A proof of another key (other shape), with its own points.
    let b2 = fx2().bundle_for(PROVIDER);
    let mut b2 = b2.clone();
    b2.statement.shape = b.statement.shape;
    b2.statement.job_id = b.statement.job_id;
    assert!(!both(&mut chain, v, &b2));
}

#[test]
fn malformed_inputs_revert() {
    let (mut chain, v) = setup();
    let b = fx().bundle_for(PROVIDER);
    let good = ICommittedVerifier::verifyProofCall::abi_decode(&verify_calldata(&b)).unwrap();
    let r = u(R_HEX);
    let q = u(Q_HEX);
    // Job id not a field element.
    for id in [r, good.jobId + r, U256::MAX] {
        let mut bad = good.clone();
        bad.jobId = id;
        reverted_with(&call(&mut chain, v, bad.abi_encode()), "PublicInputNotInField");
    }
    // Coordinates >= q, in the proof and in every point.
    for i in 0..8 {
        let mut bad = good.clone();
        bad.proof[i] += q;
        reverted_with(&call(&mut chain, v, bad.abi_encode()), "ProofCoordinateNotInField");
    }
    for which in 0..4 {
        for i in 0..2 {
            let mut bad = good.clone();
            let p = [&mut bad.cmA, &mut bad.cmB, &mut bad.cmC, &mut bad.pok];
            p.into_iter().nth(which).unwrap()[i] += q;
            reverted_with(&call(&mut chain, v, bad.abi_encode()), "ProofCoordinateNotInField");
        }
    }
    // Points off the curve: a precompile fails, the verifier reverts.
    for i in [0usize, 2, 6] {
        let mut bad = good.clone();
        bad.proof[i] ^= U256::from(1);
        reverted_with(&call(&mut chain, v, bad.abi_encode()), "PrecompileFailed");
    }
    for which in 0..4 {
        let mut bad = good.clone();
        let p = [&mut bad.cmA, &mut bad.cmB, &mut bad.cmC, &mut bad.pok];
        p.into_iter().nth(which).unwrap()[1] ^= U256::from(1);
        reverted_with(&call(&mut chain, v, bad.abi_encode()), "PrecompileFailed");
    }
    // A provider word with bits above the address: the ABI decoder refuses it.
    let mut data = good.abi_encode();
    let at = data.len() - 32;
    data[at] = 1;
    let rr = call(&mut chain, v, data);
    assert_ne!(rr.status, TxStatus::Success);
    // Garbage calldata (too short) reverts, never returns true.
    let mut short = verify_calldata(&b);
    short.truncate(100);
    assert_ne!(call(&mut chain, v, short).status, TxStatus::Success);
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
    let mut gas = 60_000u64;
    while gas < needed + 5_000 {
        let r = chain.call_with_gas(PROVIDER, v, data.clone(), gas).unwrap();
        match &r.status {
            TxStatus::Success => {
                let valid = bool::abi_decode(&r.output).unwrap();
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
    let to = e.escrow;
    let needed = {
        let mut probe = env();
        probe.post();
        let r = probe.chain.call(PROVIDER, to, calldata.clone(), U256::ZERO).unwrap();
        ok(&r);
        r.gas_used
    };
    let mut starved = 0;
    for gas in (needed - 80_000..needed + 2_000).step_by(1_000) {
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

/// `solidity_verifier` output for a committed key, compiled by the pinned solc
/// (needs `npm ci --prefix contracts`), deployed, and checked against the generic one.
#[test]
fn generated_per_key_verifier_compiles_and_matches_generic() {
    let key = &fx().vk;
    let src = solidity_verifier(key);
    assert!(src.contains(&fx().vk.fingerprint()));
    let name = veriflop_contracts::solidity::contract_name(key);
    assert_eq!(name, "MatmulVerifier_4x4x4_int8");
    let arts = veriflop_contracts::solc::compile(&[("Verifier.sol", &src)]).unwrap_or_else(|e| panic!("{e}"));
    let art = arts.get(&name).unwrap_or_else(|| panic!("no contract {name} in {:?}", arts.keys()));

    let mut chain = Chain::new();
    chain.fund(OWNER, U256::from(ETH));
    let (generic, dg) = deploy_verifier(&mut chain, OWNER, key).unwrap();
    let (fixed, df) = chain.deploy(OWNER, art.bytecode.clone()).unwrap();
    println!("deployment: generic (immutables) {} gas, generated (constants) {} gas", dg.gas_used, df.gas_used);
    // Both know their shape.
    for v in [generic, fixed] {
        let out = chain.view(v, ICommittedVerifier::shapeCall {}.abi_encode()).unwrap();
        let s = ICommittedVerifier::shapeCall::abi_decode_returns(&out).unwrap();
        assert_eq!((s.m, s.k, s.n, s.dtype), (4, 4, 4, 1));
    }
    let b = fx().bundle_for(PROVIDER);
    let rg = call(&mut chain, generic, verify_calldata(&b));
    let rf = call(&mut chain, fixed, verify_calldata(&b));
    assert!(returned(&rg) && returned(&rf));
    println!("verifyProof tx: generic (immutables) {} gas, generated (constants) {} gas", rg.gas_used, rf.gas_used);
    assert_eq!(rg.gas_used, rf.gas_used, "constants and immutables should cost the same");
    let mut bad = ICommittedVerifier::verifyProofCall::abi_decode(&verify_calldata(&b)).unwrap();
    bad.provider = OTHER;
    assert!(!returned(&call(&mut chain, fixed, bad.abi_encode())));
    bad.jobId = u(R_HEX);
    reverted_with(&call(&mut chain, fixed, bad.abi_encode()), "PublicInputNotInField");
}

/// The Poseidon circuit's plain Groth16 verifier: generic and generated forms.
#[test]
fn poseidon_key_verifier_still_works() {
    let f = fxp();
    let key = &f.vk;
    let mut chain = Chain::new();
    chain.fund(OWNER, U256::from(ETH));
    let (generic, _) = deploy_verifier(&mut chain, OWNER, key).unwrap();
    let src = solidity_verifier(key);
    let name = veriflop_contracts::solidity::contract_name(key);
    assert_eq!(name, "MatmulVerifier_2x4x4_int8_poseidon");
    let arts = veriflop_contracts::solc::compile(&[("Verifier.sol", &src)]).unwrap_or_else(|e| panic!("{e}"));
    let (fixed, _) = chain.deploy(OWNER, arts[&name].bytecode.clone()).unwrap();

    let b = f.bundle_for(PROVIDER);
    assert!(b.commitments.is_none());
    let (proof, input) = (proof_words(b.groth16().unwrap()), public_input_words(&b));
    let v = |chain: &mut Chain, to, proof, input| {
        call(chain, to, IGroth16Verifier::verifyProofCall { proof, input }.abi_encode())
    };
    let rg = v(&mut chain, generic, proof, input);
    let rf = v(&mut chain, fixed, proof, input);
    assert!(returned(&rg) && returned(&rf));
    assert_eq!(rg.gas_used, rf.gas_used);
    println!("poseidon verifyProof tx: {} gas", rg.gas_used);
    assert!(rg.gas_used <= 250_000);
    for i in 0..5 {
        let mut bad = input;
        bad[i] += U256::from(1);
        assert!(!returned(&v(&mut chain, generic, proof, bad)), "input {i} changed and still accepted");
        bad[i] = u(R_HEX);
        reverted_with(&v(&mut chain, fixed, proof, bad), "PublicInputNotInField");
    }
    let mut bad = proof;
    bad[1] = u(Q_HEX) - proof[1];
    assert!(!returned(&v(&mut chain, generic, bad, input)));
    // A committed key's verifier refuses the Poseidon call shape (no such function).
    let (cv, _) = deploy_verifier(&mut chain, OWNER, &fx().vk).unwrap();
    assert_ne!(v(&mut chain, cv, proof, input).status, TxStatus::Success);
}

#[test]
fn settle_calldata_carries_the_proof_and_points() {
    let b = fx().bundle_for(PROVIDER);
    let d = IJobEscrow::submitCall::abi_decode(&settle_calldata(&b)).unwrap();
    let c = b.commitments.unwrap();
    assert_eq!(d.jobId, fx().job_id());
    assert_eq!(d.proof, proof_words(b.groth16().unwrap()));
    let w = |p: &EvmG1| veriflop_contracts::settle::point_words(&p.0);
    assert_eq!([d.cmA, d.cmB, d.cmC, d.pok], [w(&c.cm_a), w(&c.cm_b), w(&c.cm_c), w(&c.pok)]);
    // The escrow's digest is the statement's.
    assert_eq!(
        veriflop_contracts::settle::digest_word(&c.cm_c.0),
        veriflop_contracts::settle::fr_u256(&b.statement.cm_c)
    );
    // Identity points encode as zeros (and hash like the native digest).
    assert_eq!(veriflop_contracts::settle::point_words(&G1Affine::identity()), [U256::ZERO; 2]);
}

#[test]
fn escrow_rebuilds_the_poseidon_statements_public_inputs() {
    let mut e = env();
    let f = fxp();
    e.post_fx(f);
    let b = f.bundle_for(PROVIDER);
    let call = IJobEscrow::publicInputsCall {
        jobId: f.job_id(),
        provider: PROVIDER,
        cmC: veriflop_contracts::settle::fr_u256(&b.statement.cm_c),
    };
    let to = e.escrow;
    let out = e.chain.view(to, call.abi_encode()).unwrap();
    let got = IJobEscrow::publicInputsCall::abi_decode_returns(&out).unwrap();
    assert_eq!(got, public_input_words(&b));
    let d = IJobEscrow::submitPoseidonCall::abi_decode(&settle_calldata(&b)).unwrap();
    assert_eq!(d.jobId, f.job_id());
    assert_eq!(d.proof, proof_words(b.groth16().unwrap()));
}
