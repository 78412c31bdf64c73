//! JobEscrow in revm, driven with real committed-circuit proofs (and one
//! Poseidon-circuit job): settlement, every rejection the issues list, locks and
//! slashing, the registry, re-entrancy, and gas.

mod common;

use alloy_sol_types::{SolCall, SolEvent, SolValue};
use ark_ec::{AffineRepr, CurveGroup};
use common::*;
use revm::primitives::U256;
use veriflop_circuits::{CircuitKind, ProofSystem};
use veriflop_contracts::abi::{IJobEscrow, IReentrantProvider};
use veriflop_contracts::artifacts;
use veriflop_contracts::settle::{fr_u256, point_words};
use veriflop_contracts::{settle_calldata, settle_in_evm, shape_id, JobStatus};

fn has_event<E: SolEvent>(r: &veriflop_contracts::Receipt) -> bool {
    r.logs.iter().any(|l| l.topics().first() == Some(&E::SIGNATURE_HASH))
}

fn event<E: SolEvent>(r: &veriflop_contracts::Receipt) -> E {
    let log = r.logs.iter().find(|l| l.topics().first() == Some(&E::SIGNATURE_HASH)).expect("event emitted");
    E::decode_log(log).unwrap().data
}

fn decoded(b: &veriflop_verifier::ProofBundle) -> IJobEscrow::submitCall {
    IJobEscrow::submitCall::abi_decode(&settle_calldata(b)).unwrap()
}

#[test]
fn valid_settlement_pays_the_provider_once() {
    let mut e = env();
    let r = e.post();
    assert!(has_event::<IJobEscrow::JobPosted>(&r));
    let id = fx().job_id();
    assert_eq!(e.status(id), JobStatus::Open);
    assert_eq!(e.balance(e.escrow), PRICE);
    let before = e.balance(PROVIDER);

    let b = fx().bundle_for(PROVIDER);
    let r = e.submit(PROVIDER, &b);
    ok(&r);
    // The result's digest is on record (the event), equal to the statement's.
    let settled = event::<IJobEscrow::JobSettled>(&r);
    assert_eq!(settled.cmC, fr_u256(&b.statement.cm_c));
    assert_eq!((settled.jobId, settled.provider, settled.price), (id, PROVIDER, U256::from(PRICE)));
    let verifier_gas = r.gas_of_call_to(e.verifier).unwrap();
    println!("settlement: submit tx {} gas, verifier call {} gas", r.gas_used, verifier_gas);
    let (t_verify, t_submit) = veriflop_contracts::gas_targets(CircuitKind::Committed);
    assert!(verifier_gas <= t_verify, "verifier call used {verifier_gas} gas");
    assert!(r.gas_used <= t_submit, "settlement used {} gas", r.gas_used);

    assert_eq!(e.status(id), JobStatus::Paid);
    assert_eq!(e.balance(PROVIDER), before + PRICE);
    assert_eq!(e.balance(e.escrow), 0);

    // Second submission (same proof, or from anyone): rejected, nothing paid.
    reverted_with(&e.submit(PROVIDER, &b), "JobNotOpen");
    reverted_with(&e.submit(OTHER, &fx().bundle_for(OTHER)), "JobNotOpen");
    assert_eq!(e.balance(PROVIDER), before + PRICE);
    // Nor can the client take the price back afterwards.
    e.chain.advance(DEADLINE_IN + 1);
    reverted_with(&e.send(CLIENT, IJobEscrow::refundCall { jobId: id }.abi_encode(), 0), "JobNotOpen");
}

#[test]
fn tampered_proof_is_rejected() {
    let mut e = env();
    e.post();
    let b = fx().bundle_for(PROVIDER);
    let mut d = decoded(&b);
    // A valid point, wrong proof: -A.
    let q = U256::from_str_radix(&veriflop_contracts::solidity::Q_HEX[2..], 16).unwrap();
    d.proof[1] = q - d.proof[1];
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "InvalidProof");
    // Off the curve: the verifier's precompile call fails and the submit reverts.
    let mut d = decoded(&b);
    d.proof[6] ^= U256::from(1);
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "PrecompileFailed");
    // A coordinate + q: the same point, another encoding: refused.
    let mut d = decoded(&b);
    d.proof[7] += q;
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "ProofCoordinateNotInField");
    // Tampered proof of knowledge: -pok, 2·pok, pok off the curve.
    let pok = b.commitments.unwrap().pok.0;
    for p in [-pok, (pok + pok).into_affine()] {
        let mut d = decoded(&b);
        d.pok = point_words(&p);
        reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "InvalidProof");
    }
    let mut d = decoded(&b);
    d.pok[0] ^= U256::from(1);
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "PrecompileFailed");
    // Raw byte flip anywhere in the proof (after the selector and job id).
    for byte in [4 + 32 + 31, 4 + 32 + 100, 4 + 32 + 255] {
        let mut data = settle_calldata(&b);
        data[byte] ^= 0x01;
        let r = e.send(PROVIDER, data, 0);
        assert!(!r.is_success(), "flipped byte {byte} accepted");
    }
    assert_eq!(e.status(fx().job_id()), JobStatus::Open);
    ok(&e.submit(PROVIDER, &b));
}

#[test]
fn wrong_commitments_are_rejected() {
    let mut e = env();
    e.post();
    let b = fx().bundle_for(PROVIDER);
    let cps = b.commitments.unwrap();
    let g = ark_bn254::G1Affine::generator();
    // A cm_A point that is not the job's (a valid curve point): refused before the proof.
    let mut d = decoded(&b);
    d.cmA = point_words(&(cps.cm_a.0 + g).into_affine());
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "CommitmentMismatch");
    let mut d = decoded(&b);
    d.cmB = point_words(&g);
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "CommitmentMismatch");
    // cm_A and cm_B swapped.
    let mut d = decoded(&b);
    std::mem::swap(&mut d.cmA, &mut d.cmB);
    let r = e.send(PROVIDER, d.abi_encode(), 0);
    let mut want = veriflop_contracts::abi::selector("CommitmentMismatch(uint256,uint256)").to_vec();
    want.extend(fx().job_id().to_be_bytes::<32>());
    want.extend([0u8; 32]); // which = 0: A
    assert_eq!(r.output, want);
    // The job's A point in another encoding (y + q) hashes differently: refused.
    let q = U256::from_str_radix(&veriflop_contracts::solidity::Q_HEX[2..], 16).unwrap();
    let mut d = decoded(&b);
    d.cmA[1] += q;
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "CommitmentMismatch");

    // A wrong C, proven anyway (its cm_C and pok are consistent): the proof fails.
    let wrong = fx().wrong_c_bundle(PROVIDER);
    reverted_with(&e.submit(PROVIDER, &wrong), "InvalidProof");
    // The honest proof with that other cm_C and its valid pok: fails.
    let wc = wrong.commitments.unwrap();
    let mut d = decoded(&b);
    d.cmC = point_words(&wc.cm_c.0);
    d.pok = point_words(&wc.pok.0);
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "InvalidProof");
    // Another cm_C without a matching pok.
    let mut d = decoded(&b);
    d.cmC = point_words(&(cps.cm_c.0 + g).into_affine());
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "InvalidProof");
    assert_eq!(e.status(fx().job_id()), JobStatus::Open);
    ok(&e.submit(PROVIDER, &b));

    // A job posted with other input digests (same id): the points do not match it.
    let mut e = env();
    let mut job = fx().job.clone();
    job.cm_a += ark_bn254::Fr::from(1u64);
    let deadline = e.chain.time() + DEADLINE_IN;
    ok(&e.send(CLIENT, post_call(&fx().nonce, &job, &fx().shape, deadline, WINDOW, STAKE), PRICE));
    reverted_with(&e.submit(PROVIDER, &b), "CommitmentMismatch");
    let mut e = env();
    let mut job = fx().job.clone();
    job.cm_b += ark_bn254::Fr::from(1u64);
    ok(&e.send(CLIENT, post_call(&fx().nonce, &job, &fx().shape, deadline, WINDOW, STAKE), PRICE));
    reverted_with(&e.submit(PROVIDER, &b), "CommitmentMismatch");
}

#[test]
fn wrong_circuit_is_rejected() {
    // A committed proof for a Poseidon job of the same id (the Poseidon job's data
    // posted with the committed job's nonce), and the other way round.
    let mut e = env();
    e.post_fx(fxp());
    let mut e2 = env();
    let deadline = e2.chain.time() + DEADLINE_IN;
    let r = e2.send(CLIENT, post_call(&fx().nonce, &fxp().job, &fxp().shape, deadline, WINDOW, STAKE), PRICE);
    ok(&r);
    assert_eq!(posted_id(&r), fx().job_id());
    reverted_with(&e2.submit(PROVIDER, &fx().bundle_for(PROVIDER)), "WrongCircuit");
    e.post();
    let mut pb = fxp().bundle_for(PROVIDER);
    pb.statement.job_id = fx().job.job_id;
    reverted_with(&e.submit(PROVIDER, &pb), "WrongCircuit");
    // The Poseidon job itself settles through submitPoseidon.
    let r = e.submit(PROVIDER, &fxp().bundle_for(PROVIDER));
    ok(&r);
    println!("poseidon settlement: submit tx {} gas", r.gas_used);
    assert_eq!(e.status(fxp().job_id()), JobStatus::Paid);
    // A registry id without a known circuit.
    let bare = shape_id(ProofSystem::Groth16Bn254, CircuitKind::Committed, &fx().shape) & ((1u128 << 104) - 1);
    let to = e.verifier;
    reverted_with(
        &e.send(OWNER, IJobEscrow::registerVerifierCall { shape: bare, verifier: to }.abi_encode(), 0),
        "UnknownCircuit",
    );
    reverted_with(
        &e.send(OWNER, IJobEscrow::registerVerifierCall { shape: bare | 9 << 104, verifier: to }.abi_encode(), 0),
        "UnknownCircuit",
    );
}

#[test]
fn wrong_shape_is_rejected() {
    // The job is posted for shape 2 (its own verifier) with shape 1's digests; a
    // proof made with the shape-1 key for the same id and points does not verify there.
    let mut e = env();
    let deadline = e.chain.time() + DEADLINE_IN;
    ok(&e.send(CLIENT, post_call(&fx().nonce, &fx().job, &fx2().shape, deadline, WINDOW, STAKE), PRICE));
    reverted_with(&e.submit(PROVIDER, &fx().bundle_for(PROVIDER)), "InvalidProof");
    // A shape nobody registered cannot be posted at all.
    let unknown = veriflop_circuits::Shape::new(8, 8, 8, veriflop_circuits::Dtype::Int32).unwrap();
    let mut job = fx().job.clone();
    reverted_with(
        &e.send(CLIENT, post_call(&nonce(5), &job, &unknown, deadline, WINDOW, STAKE), PRICE),
        "UnknownShape",
    );
    // Nor a registered shape under another circuit (no naive verifier registered).
    job.circuit = CircuitKind::Naive;
    reverted_with(
        &e.send(CLIENT, post_call(&nonce(5), &job, &fx().shape, deadline, WINDOW, STAKE), PRICE),
        "UnknownShape",
    );
}

#[test]
fn front_running_sender_gets_nothing() {
    let mut e = env();
    e.post();
    let b = fx().bundle_for(PROVIDER);
    // OTHER copies the provider's transaction data from the mempool.
    let before = e.balance(OTHER);
    reverted_with(&e.send(OTHER, settle_calldata(&b), 0), "InvalidProof");
    assert_eq!(e.balance(OTHER), before);
    ok(&e.submit(PROVIDER, &b));
}

#[test]
fn late_submission_and_early_refund_are_rejected() {
    let mut e = env();
    e.post();
    let id = fx().job_id();
    let refund = IJobEscrow::refundCall { jobId: id }.abi_encode();
    // Early refund.
    reverted_with(&e.send(CLIENT, refund.clone(), 0), "DeadlineNotReached");
    e.chain.advance(DEADLINE_IN); // exactly at the deadline: still the provider's time
    reverted_with(&e.send(CLIENT, refund.clone(), 0), "DeadlineNotReached");
    e.chain.advance(1);
    // Late submission.
    reverted_with(&e.submit(PROVIDER, &fx().bundle_for(PROVIDER)), "DeadlinePassed");
    // Only the client may reclaim, once.
    reverted_with(&e.send(OTHER, refund.clone(), 0), "NotClient");
    let before = e.balance(CLIENT);
    let r = e.send(CLIENT, refund.clone(), 0);
    ok(&r);
    assert!(has_event::<IJobEscrow::JobRefunded>(&r));
    assert_eq!(e.balance(CLIENT), before + PRICE);
    assert_eq!(e.status(id), JobStatus::Refunded);
    reverted_with(&e.send(CLIENT, refund, 0), "JobNotOpen");
    reverted_with(&e.submit(PROVIDER, &fx().bundle_for(PROVIDER)), "JobNotOpen");
}

#[test]
fn submission_on_the_deadline_is_accepted() {
    let mut e = env();
    e.post();
    e.chain.advance(DEADLINE_IN);
    ok(&e.submit(PROVIDER, &fx().bundle_for(PROVIDER)));
}

#[test]
fn lock_is_exclusive_and_stake_returned_on_delivery() {
    let mut e = env();
    e.post();
    let id = fx().job_id();
    // Wrong stake.
    reverted_with(&e.send(PROVIDER, IJobEscrow::lockCall { jobId: id }.abi_encode(), STAKE - 1), "WrongStake");
    let r = e.lock(PROVIDER, id);
    ok(&r);
    assert!(has_event::<IJobEscrow::JobLocked>(&r));
    // A lock on a locked job.
    reverted_with(&e.lock(OTHER, id), "AlreadyLocked");
    reverted_with(&e.lock(PROVIDER, id), "AlreadyLocked");
    // Another provider's valid proof is refused while the lock lasts.
    reverted_with(&e.submit(OTHER, &fx().bundle_for(OTHER)), "LockedByOther");
    // Not slashable before the window ends.
    reverted_with(&e.send(CLIENT, IJobEscrow::slashLockCall { jobId: id }.abi_encode(), 0), "LockActive");
    // The locker delivers in time: price and stake back.
    let before = e.balance(PROVIDER);
    e.chain.advance(WINDOW as u64 - 1);
    let r = e.submit(PROVIDER, &fx().bundle_for(PROVIDER));
    ok(&r);
    println!("settlement of a locked job: {} gas", r.gas_used);
    assert!(r.gas_used <= veriflop_contracts::gas_targets(CircuitKind::Committed).1);
    assert_eq!(e.balance(PROVIDER), before + PRICE + STAKE);
    assert_eq!(e.balance(e.escrow), 0);
    assert_eq!(e.owed(CLIENT), 0);
}

#[test]
fn expired_lock_is_slashed_once_and_job_reopens() {
    let mut e = env();
    e.post();
    let id = fx().job_id();
    ok(&e.lock(PROVIDER, id));
    e.chain.advance(WINDOW as u64);
    // Window over: anyone may slash; the stake is owed to the client.
    let slash = IJobEscrow::slashLockCall { jobId: id }.abi_encode();
    let r = e.send(OTHER, slash.clone(), 0);
    ok(&r);
    assert!(has_event::<IJobEscrow::StakeSlashed>(&r) && has_event::<IJobEscrow::JobReopened>(&r));
    assert_eq!(e.owed(CLIENT), STAKE);
    // A second claim of the same stake.
    reverted_with(&e.send(OTHER, slash.clone(), 0), "NotLocked");
    reverted_with(&e.send(CLIENT, slash, 0), "NotLocked");
    assert_eq!(e.owed(CLIENT), STAKE);
    // The client withdraws it, once.
    let withdraw = IJobEscrow::withdrawCall {}.abi_encode();
    reverted_with(&e.send(PROVIDER, withdraw.clone(), 0), "NothingOwed");
    let before = e.balance(CLIENT);
    ok(&e.send(CLIENT, withdraw.clone(), 0));
    assert_eq!(e.balance(CLIENT), before + STAKE);
    reverted_with(&e.send(CLIENT, withdraw, 0), "NothingOwed");
    // Reopened: another provider locks and delivers.
    ok(&e.lock(OTHER, id));
    let before = e.balance(OTHER);
    ok(&e.submit(OTHER, &fx().bundle_for(OTHER)));
    assert_eq!(e.balance(OTHER), before + PRICE + STAKE);
    assert_eq!(e.balance(e.escrow), 0);
}

#[test]
fn expired_lock_is_slashed_by_the_next_lock_or_a_late_delivery() {
    // A new lock on an expired one slashes it first.
    let mut e = env();
    e.post();
    let id = fx().job_id();
    ok(&e.lock(PROVIDER, id));
    e.chain.advance(WINDOW as u64);
    let r = e.lock(OTHER, id);
    ok(&r);
    assert!(has_event::<IJobEscrow::StakeSlashed>(&r));
    assert_eq!(e.owed(CLIENT), STAKE);
    // The first locker, late, is now locked out.
    reverted_with(&e.submit(PROVIDER, &fx().bundle_for(PROVIDER)), "LockedByOther");

    // A late locker still earns the price but has lost the stake.
    let mut e = env();
    e.post();
    ok(&e.lock(PROVIDER, id));
    e.chain.advance(WINDOW as u64 + 5);
    let before = e.balance(PROVIDER);
    let r = e.submit(PROVIDER, &fx().bundle_for(PROVIDER));
    ok(&r);
    assert!(has_event::<IJobEscrow::StakeSlashed>(&r));
    assert_eq!(e.balance(PROVIDER), before + PRICE);
    assert_eq!(e.owed(CLIENT), STAKE);
    reverted_with(&e.send(OTHER, IJobEscrow::slashLockCall { jobId: id }.abi_encode(), 0), "JobNotOpen");

    // Refund after the deadline with an expired lock: price back, stake owed.
    let mut e = env();
    e.post();
    ok(&e.lock(PROVIDER, id));
    e.chain.advance(DEADLINE_IN + 1);
    ok(&e.send(CLIENT, IJobEscrow::refundCall { jobId: id }.abi_encode(), 0));
    assert_eq!(e.owed(CLIENT), STAKE);
    assert_eq!(e.balance(e.escrow), STAKE);
    reverted_with(&e.send(OTHER, IJobEscrow::slashLockCall { jobId: id }.abi_encode(), 0), "JobNotOpen");
}

#[test]
fn lock_terms_are_enforced() {
    let mut e = env();
    let id = fx().job_id();
    let now = e.chain.time();
    // Locking disabled: both zero.
    ok(&e.send(CLIENT, post_call(&fx().nonce, &fx().job, &fx().shape, now + DEADLINE_IN, 0, 0), PRICE));
    reverted_with(&e.lock(PROVIDER, id), "LockingDisabled");
    // Half-specified lock terms.
    let (job, n) = (&fx().job, nonce(77));
    let post = |deadline, window, stake| post_call(&n, job, &fx().shape, deadline, window, stake);
    reverted_with(&e.send(CLIENT, post(now + DEADLINE_IN, WINDOW, 0), PRICE), "BadLockTerms");
    reverted_with(&e.send(CLIENT, post(now + DEADLINE_IN, 0, STAKE), PRICE), "BadLockTerms");
    // A lock must end by the deadline.
    let r = e.send(CLIENT, post(now + 100, WINDOW, STAKE), PRICE);
    ok(&r);
    assert_eq!(posted_id(&r), fr_u256(&env_job_id(CLIENT, &n).0));
    reverted_with(&e.lock(PROVIDER, posted_id(&r)), "LockPastDeadline");
}

#[test]
fn posting_is_validated() {
    let mut e = env();
    let now = e.chain.time();
    let shape = fx().shape;
    let r = U256::from_str_radix(&veriflop_contracts::solidity::R_HEX[2..], 16).unwrap();
    let good = IJobEscrow::postJobCall::abi_decode(&post_call(
        &fx().nonce,
        &fx().job,
        &shape,
        now + DEADLINE_IN,
        WINDOW,
        STAKE,
    ))
    .unwrap();
    let mut call = good.clone();
    call.cmA = r;
    reverted_with(&e.send(CLIENT, call.abi_encode(), PRICE), "CommitmentNotInField");
    let mut call = good.clone();
    call.cmB = U256::MAX;
    reverted_with(&e.send(CLIENT, call.abi_encode(), PRICE), "CommitmentNotInField");
    reverted_with(&e.send(CLIENT, good.abi_encode(), 0), "BadPayment");
    let mut call = good.clone();
    call.deadline = revm::primitives::alloy_primitives::aliases::U40::from(now);
    reverted_with(&e.send(CLIENT, call.abi_encode(), PRICE), "BadDeadline");
    ok(&e.send(CLIENT, good.abi_encode(), PRICE));
    // A reused nonce (the same id), even after settlement.
    let mut exists = veriflop_contracts::abi::selector("JobExists(uint256)").to_vec();
    exists.extend(fx().job_id().to_be_bytes::<32>());
    assert_eq!(e.send(CLIENT, good.abi_encode(), PRICE).output, exists);
    ok(&e.submit(PROVIDER, &fx().bundle_for(PROVIDER)));
    assert_eq!(e.send(CLIENT, good.abi_encode(), PRICE).output, exists);
    reverted_with(&e.send(CLIENT, good.abi_encode(), PRICE), "JobExists");
}

#[test]
fn registry_is_owner_controlled_and_write_once() {
    let mut e = env();
    let s1 = fx().shape_id();
    let reg = |shape, verifier| IJobEscrow::registerVerifierCall { shape, verifier }.abi_encode();
    let free_shape = shape_id(
        ProofSystem::Groth16Bn254,
        CircuitKind::Committed,
        &veriflop_circuits::Shape::new(3, 3, 3, veriflop_circuits::Dtype::Int16).unwrap(),
    );
    reverted_with(&e.send(OTHER, reg(free_shape, e.verifier), 0), "NotOwner");
    // Registered verifiers never change, even for the owner.
    reverted_with(&e.send(OWNER, reg(s1, e.verifier2), 0), "VerifierAlreadySet");
    reverted_with(&e.send(OWNER, reg(free_shape, OTHER), 0), "NotAContract");
    // Retiring a shape stops new jobs, not posted ones.
    e.post();
    reverted_with(&e.send(OTHER, IJobEscrow::retireShapeCall { shape: s1 }.abi_encode(), 0), "NotOwner");
    ok(&e.send(OWNER, IJobEscrow::retireShapeCall { shape: s1 }.abi_encode(), 0));
    let deadline = e.chain.time() + DEADLINE_IN;
    reverted_with(
        &e.send(CLIENT, post_call(&nonce(3), &fx().job, &fx().shape, deadline, WINDOW, STAKE), PRICE),
        "UnknownShape",
    );
    ok(&e.submit(PROVIDER, &fx().bundle_for(PROVIDER)));
    // Two-step ownership transfer.
    ok(&e.send(OWNER, IJobEscrow::transferOwnershipCall { newOwner: OTHER }.abi_encode(), 0));
    reverted_with(&e.send(CLIENT, IJobEscrow::acceptOwnershipCall {}.abi_encode(), 0), "NotOwner");
    ok(&e.send(OTHER, IJobEscrow::acceptOwnershipCall {}.abi_encode(), 0));
    ok(&e.send(OTHER, reg(free_shape, e.verifier), 0));
    reverted_with(&e.send(OWNER, IJobEscrow::retireShapeCall { shape: free_shape }.abi_encode(), 0), "NotOwner");
}

#[test]
fn reentrant_provider_is_paid_once() {
    let mut e = env();
    e.post();
    let id = fx().job_id();
    // A provider contract that re-enters `submit` from its receive hook.
    let art = artifacts::reentrant_provider();
    let escrow = e.escrow;
    let (attacker, _) = e.chain.deploy(OWNER, art.initcode(&escrow.abi_encode())).unwrap();
    let b = fx().bundle_for(attacker);
    let calldata = settle_calldata(&b);
    let set = IReentrantProvider::setReenterCallCall { data: calldata.clone().into() }.abi_encode();
    ok(&e.chain.call(OWNER, attacker, set, U256::ZERO).unwrap());
    let act = IReentrantProvider::actCall { data: calldata.into() }.abi_encode();
    let r = e.chain.call(OWNER, attacker, act, U256::ZERO).unwrap();
    ok(&r);
    let view = |e: &mut Env, data: Vec<u8>| e.chain.view(attacker, data).unwrap();
    let reentered = IReentrantProvider::reenteredCall::abi_decode_returns(&view(
        &mut e,
        IReentrantProvider::reenteredCall {}.abi_encode(),
    ))
    .unwrap();
    assert!(!reentered, "re-entrant submit succeeded");
    let err = IReentrantProvider::reenterErrorCall::abi_decode_returns(&view(
        &mut e,
        IReentrantProvider::reenterErrorCall {}.abi_encode(),
    ))
    .unwrap();
    assert_eq!(veriflop_contracts::abi::decode_revert(&err), "Reentrancy");
    let received = IReentrantProvider::receivedCall::abi_decode_returns(&view(
        &mut e,
        IReentrantProvider::receivedCall {}.abi_encode(),
    ))
    .unwrap();
    assert_eq!(received, U256::from(PRICE));
    assert_eq!(e.balance(attacker), PRICE);
    assert_eq!(e.balance(e.escrow), 0);
    assert_eq!(e.status(id), JobStatus::Paid);
}

#[test]
fn settle_in_evm_reports_gas_and_balances() {
    let f = fx();
    let b = f.bundle_for(PROVIDER);
    let rep = settle_in_evm(&f.vk, &f.job, &f.nonce, &b, PRICE).unwrap();
    println!("{rep}");
    println!("{}", veriflop_contracts::gas_report(&f.vk, &f.job, &f.nonce, &b, PRICE).unwrap());
    assert_eq!((rep.venue, rep.job_id), (venue(), f.job.job_id));
    assert_eq!(rep.status_before, JobStatus::Open);
    assert_eq!(rep.status_after, JobStatus::Paid);
    assert_eq!(rep.after.provider, rep.before.provider + PRICE + rep.stake_wei);
    assert_eq!(rep.after.escrow, 0);
    assert_eq!(rep.before.escrow, PRICE + rep.stake_wei);
    let (t_verify, t_submit) = veriflop_contracts::gas_targets(CircuitKind::Committed);
    assert!(rep.gas.verifier_call <= t_verify, "{:?}", rep.gas);
    assert!(rep.gas.verify_tx <= t_verify, "{:?}", rep.gas);
    assert!(rep.gas.submit_tx <= t_submit, "{:?}", rep.gas);
    assert_eq!(rep.calldata, settle_calldata(&b));

    // A tampered bundle fails clearly; inconsistent arguments are refused.
    let mut bad = b.clone();
    let c = bad.commitments.as_mut().unwrap();
    c.pok.0 = -c.pok.0;
    let err = settle_in_evm(&f.vk, &f.job, &f.nonce, &bad, PRICE).unwrap_err().to_string();
    assert!(err.contains("InvalidProof"), "{err}");
    assert!(settle_in_evm(&fx2().vk, &f.job, &f.nonce, &b, PRICE).is_err());
    assert!(settle_in_evm(&fxp().vk, &f.job, &f.nonce, &b, PRICE).is_err());
    assert!(settle_in_evm(&f.vk, &f.job, &f.nonce, &b, 0).is_err());
    // A nonce that does not derive the job's id is refused before any transaction.
    let err = settle_in_evm(&f.vk, &f.job, &nonce(1), &b, PRICE).unwrap_err();
    assert!(matches!(err, veriflop_contracts::Error::Input(_)), "{err}");
    // A bundle for another provider settles for that provider.
    let other = settle_in_evm(&f.vk, &f.job, &f.nonce, &f.bundle_for(OTHER), PRICE).unwrap();
    assert_eq!(other.provider, OTHER);

    // The Poseidon circuit still settles (through submitPoseidon).
    let p = fxp();
    let rep = settle_in_evm(&p.vk, &p.job, &p.nonce, &p.bundle_for(PROVIDER), PRICE).unwrap();
    println!("{rep}");
    assert_eq!(rep.status_after, JobStatus::Paid);
    let (t_verify, t_submit) = veriflop_contracts::gas_targets(CircuitKind::Poseidon);
    assert!(rep.gas.verifier_call <= t_verify && rep.gas.submit_tx <= t_submit, "{:?}", rep.gas);
}
