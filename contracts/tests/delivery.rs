//! Delivery receipts for on-chain jobs (issue 19, part 3): a job posted with
//! `postJobWithDelivery` pays only once k of its n attestors signed an EIP-712
//! `Delivery(jobId, cmC)` receipt for the cmC its proof settles with. Real
//! proofs (committed 4×4×4 int8, Poseidon 2×4×4 int8); every refusal is
//! asserted by name, and the k-of-n path settles and pays.

mod common;

use alloy_sol_types::{SolCall, SolError, SolEvent, SolValue};
use common::*;
use k256::ecdsa::SigningKey;
use revm::primitives::{Address, U256};
use veriflop_circuits::{CircuitKind, JobId};
use veriflop_contracts::abi::IJobEscrow;
use veriflop_contracts::delivery::{attestor_set_hash, cm_c_word, delivery_digest, sign_delivery, MAX_ATTESTORS};
use veriflop_contracts::settle::fr_u256;
use veriflop_contracts::{attest_delivery_calldata, JobStatus, Receipt};

/// secp256k1's group order n.
fn secp_n() -> U256 {
    U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).unwrap()
}

fn event<E: SolEvent>(r: &Receipt) -> E {
    let log = r.logs.iter().find(|l| l.topics().first() == Some(&E::SIGNATURE_HASH)).expect("event emitted");
    E::decode_log(log).unwrap().data
}

/// The custom error `E` a transaction reverted with (fails on any other outcome).
#[track_caller]
fn error<E: SolError>(r: &Receipt) -> E {
    reverted_with(r, E::SIGNATURE.split('(').next().unwrap());
    E::abi_decode(&r.output).unwrap()
}

fn addrs(keys: &[(SigningKey, Address)]) -> Vec<Address> {
    keys.iter().map(|(_, a)| *a).collect()
}

/// Posts a fixture's job as CLIENT (its nonce, so its id and proofs) with delivery receipts.
fn post_delivery(e: &mut Env, f: &Fx, set: &[Address], threshold: u8) -> Receipt {
    let deadline = e.chain.time() + DEADLINE_IN;
    let r =
        e.send(CLIENT, post_delivery_call(&f.nonce, &f.job, &f.shape, deadline, WINDOW, STAKE, set, threshold), PRICE);
    ok(&r);
    assert_eq!(posted_id(&r), f.job_id());
    r
}

/// Receipts for `(job_id, cm_c)` under `e`'s escrow and chain, by `keys` in the given order.
fn receipts(e: &Env, keys: &[&SigningKey], job_id: &JobId, cm_c: [u8; 32]) -> Vec<[u8; 65]> {
    let d = delivery_digest(e.chain.chain_id(), e.escrow.into_array(), job_id, cm_c);
    keys.iter().map(|k| sign_delivery(k, &d)).collect()
}

/// `attestDelivery` sent by OTHER (anyone may relay receipts).
fn attest(e: &mut Env, job_id: &JobId, cm_c: [u8; 32], set: &[Address], threshold: u8, sigs: &[[u8; 65]]) -> Receipt {
    e.send(OTHER, attest_delivery_calldata(job_id, cm_c, set, threshold, sigs), 0)
}

fn is_delivered(e: &mut Env, job_id: U256, cm_c: [u8; 32]) -> bool {
    let call = IJobEscrow::deliveredCall { jobId: job_id, cmC: U256::from_be_bytes(cm_c) };
    IJobEscrow::deliveredCall::abi_decode_returns(&e.chain.view(e.escrow, call.abi_encode()).unwrap()).unwrap()
}

/// Storage slots of JobEscrow's `jobs` and `attestorsOf` mappings (declaration order).
const JOBS_SLOT: u64 = 5;
const ATTESTORS_OF_SLOT: u64 = 7;

/// `keccak256(abi.encode(key, slot))`: where a mapping keeps `key`'s value.
fn mapping_slot(key: U256, slot: u64) -> U256 {
    U256::from_be_bytes(revm::primitives::keccak256((key, U256::from(slot)).abi_encode()).0)
}

/// The first storage slot of a job's record (client, deadline, lock window, status, delivery).
fn job_slot(job_id: U256) -> U256 {
    mapping_slot(job_id, JOBS_SLOT)
}

fn job_record(e: &mut Env, job_id: U256) -> IJobEscrow::jobsReturn {
    let out = e.chain.view(e.escrow, IJobEscrow::jobsCall { jobId: job_id }.abi_encode()).unwrap();
    IJobEscrow::jobsCall::abi_decode_returns(&out).unwrap()
}

#[test]
fn k_of_n_receipts_release_the_payment() {
    let f = fx();
    let mut e = env();
    let keys = attestors(3);
    let set = addrs(&keys);
    let r = post_delivery(&mut e, f, &set, 2);
    println!("postJobWithDelivery 2-of-3: {} gas", r.gas_used);
    // JobPosted, then DeliveryRequired with the set; only its hash is stored.
    assert_eq!(r.logs[0].topics()[0], IJobEscrow::JobPosted::SIGNATURE_HASH);
    assert_eq!(r.logs[1].topics()[0], IJobEscrow::DeliveryRequired::SIGNATURE_HASH);
    let req = event::<IJobEscrow::DeliveryRequired>(&r);
    assert_eq!((req.jobId, req.attestors.clone(), req.threshold), (f.job_id(), set.clone(), 2));
    let rec = job_record(&mut e, f.job_id());
    assert!(rec.delivery);
    assert_eq!((rec.status, rec.price, rec.client), (1, PRICE, CLIENT));
    // The layout: the flag is slot 0's byte after `status`; the set's hash is under
    // `attestorsOf` (storage slot 7, after `owed`), without a getter.
    let word0 = e.chain.storage(e.escrow, job_slot(f.job_id()));
    assert_eq!((word0 >> 232) & U256::from(0xffff), U256::from(0x0101), "status Open, delivery");
    assert_eq!(word0 >> 248, U256::ZERO);
    let set_hash = e.chain.storage(e.escrow, mapping_slot(f.job_id(), ATTESTORS_OF_SLOT));
    assert_eq!(set_hash.to_be_bytes::<32>(), attestor_set_hash(&set, 2));

    ok(&e.lock(PROVIDER, f.job_id()));
    let b = f.bundle_for(PROVIDER);
    let cm = cm_c_word(&b);
    // A valid proof without receipts: NotDelivered for exactly this job and cmC.
    let nd = error::<IJobEscrow::NotDelivered>(&e.submit(PROVIDER, &b));
    assert_eq!((nd.jobId, nd.cmC), (f.job_id(), U256::from_be_bytes(cm)));
    // One receipt of two.
    let one = receipts(&e, &[&keys[0].0], &f.job.job_id, cm);
    let ne = error::<IJobEscrow::NotEnoughReceipts>(&attest(&mut e, &f.job.job_id, cm, &set, 2, &one));
    assert_eq!((ne.jobId, ne.have, ne.need), (f.job_id(), U256::from(1), U256::from(2)));
    reverted_with(&e.submit(PROVIDER, &b), "NotDelivered");

    // Two of three (the first and the last attestor), relayed by anyone.
    let two = receipts(&e, &[&keys[0].0, &keys[2].0], &f.job.job_id, cm);
    let r = attest(&mut e, &f.job.job_id, cm, &set, 2, &two);
    ok(&r);
    println!("attestDelivery, 2 signatures: {} gas", r.gas_used);
    let att = event::<IJobEscrow::DeliveryAttested>(&r);
    assert_eq!((att.jobId, att.cmC), (f.job_id(), U256::from_be_bytes(cm)));
    assert!(is_delivered(&mut e, f.job_id(), cm));

    // The locker settles: price and stake back, the attested cmC in the event.
    let before = e.balance(PROVIDER);
    let r = e.submit(PROVIDER, &b);
    ok(&r);
    println!("submit of a delivery job (committed, locked): {} gas", r.gas_used);
    assert!(r.gas_used <= veriflop_contracts::gas_targets(CircuitKind::Committed).1);
    assert_eq!(event::<IJobEscrow::JobSettled>(&r).cmC, U256::from_be_bytes(cm));
    assert_eq!(e.balance(PROVIDER), before + PRICE + STAKE);
    assert_eq!(e.balance(e.escrow), 0);
    assert_eq!(e.status(f.job_id()), JobStatus::Paid);
    // Paid once; receipts for a closed job are refused.
    reverted_with(&e.submit(PROVIDER, &b), "JobNotOpen");
    reverted_with(&attest(&mut e, &f.job.job_id, cm, &set, 2, &two), "JobNotOpen");
}

#[test]
fn poseidon_job_one_of_one() {
    let f = fxp();
    let mut e = env();
    let keys = attestors(1);
    let set = addrs(&keys);
    let r = post_delivery(&mut e, f, &set, 1);
    println!("postJobWithDelivery 1-of-1: {} gas", r.gas_used);
    let b = f.bundle_for(PROVIDER);
    let cm = cm_c_word(&b);
    reverted_with(&e.submit(PROVIDER, &b), "NotDelivered");
    let sigs = receipts(&e, &[&keys[0].0], &f.job.job_id, cm);
    let r = attest(&mut e, &f.job.job_id, cm, &set, 1, &sigs);
    ok(&r);
    println!("attestDelivery, 1 signature: {} gas", r.gas_used);
    let before = e.balance(PROVIDER);
    let r = e.submit(PROVIDER, &b);
    ok(&r);
    println!("submitPoseidon of a delivery job (unlocked): {} gas", r.gas_used);
    assert!(r.gas_used <= veriflop_contracts::gas_targets(CircuitKind::Poseidon).1);
    assert_eq!(event::<IJobEscrow::JobSettled>(&r).cmC, U256::from_be_bytes(cm));
    assert_eq!(e.balance(PROVIDER), before + PRICE);
    assert_eq!(e.balance(e.escrow), 0);
    assert_eq!(e.status(f.job_id()), JobStatus::Paid);
}

#[test]
fn forged_or_misdirected_receipts_are_refused() {
    let f = fx();
    let mut e = env();
    let keys = attestors(3);
    let set = addrs(&keys);
    post_delivery(&mut e, f, &set, 2);
    let id = &f.job.job_id;
    let b = f.bundle_for(PROVIDER);
    let cm = cm_c_word(&b);
    let (k0, k1) = (&keys[0].0, &keys[1].0);

    // Forged: a key outside the set signs with one attestor (sorted by signer).
    let forger = SigningKey::from_bytes(&[0x99; 32].into()).unwrap();
    let forger_addr = Address::from(veriflop_contracts::delivery::attestor_address(&forger));
    let mut pair = [(k0, keys[0].1), (&forger, forger_addr)];
    pair.sort_by_key(|(_, a)| *a);
    let sigs = receipts(&e, &[pair[0].0, pair[1].0], id, cm);
    let na = error::<IJobEscrow::NotAttestor>(&attest(&mut e, id, cm, &set, 2, &sigs));
    let at = pair.iter().position(|(_, a)| *a == forger_addr).unwrap();
    assert_eq!((na.index, na.signer), (U256::from(at), forger_addr));
    // The forger listed as if it were in the set: the list does not match the job's.
    let mut forged_set = vec![keys[0].1, forger_addr];
    forged_set.sort();
    reverted_with(&attest(&mut e, id, cm, &forged_set, 2, &sigs), "WrongAttestors");

    // Receipts signed for another job (fx2's id): they recover strangers.
    let sigs = receipts(&e, &[k0, k1], &fx2().job.job_id, cm);
    assert_eq!(error::<IJobEscrow::NotAttestor>(&attest(&mut e, id, cm, &set, 2, &sigs)).index, U256::ZERO);
    // For another escrow address, and for another chain (same address): another domain.
    let other_escrow = e.verifier.into_array();
    for (chain_id, escrow) in [(e.chain.chain_id(), other_escrow), (1, e.escrow.into_array())] {
        let d = delivery_digest(chain_id, escrow, id, cm);
        let sigs = [sign_delivery(k0, &d), sign_delivery(k1, &d)];
        reverted_with(&attest(&mut e, id, cm, &set, 2, &sigs), "NotAttestor");
    }

    // Receipts for another cmC: they do not count for the real one...
    let mut other_cm = cm;
    other_cm[31] ^= 1;
    let sigs = receipts(&e, &[k0, k1], id, other_cm);
    reverted_with(&attest(&mut e, id, cm, &set, 2, &sigs), "NotAttestor");
    // ...and attested as what they are, they record that value only: the proof of
    // the real C is still NotDelivered.
    ok(&attest(&mut e, id, other_cm, &set, 2, &sigs));
    assert!(is_delivered(&mut e, f.job_id(), other_cm));
    assert!(!is_delivered(&mut e, f.job_id(), cm));
    let nd = error::<IJobEscrow::NotDelivered>(&e.submit(PROVIDER, &b));
    assert_eq!(nd.cmC, U256::from_be_bytes(cm));
    assert_eq!(e.status(f.job_id()), JobStatus::Open);

    // The right receipts: the job settles.
    let sigs = receipts(&e, &[k0, k1], id, cm);
    ok(&attest(&mut e, id, cm, &set, 2, &sigs));
    ok(&e.submit(PROVIDER, &b));
    assert_eq!(e.status(f.job_id()), JobStatus::Paid);
}

#[test]
fn malformed_duplicate_or_too_few_receipts_are_refused() {
    let f = fx();
    let mut e = env();
    let keys = attestors(3);
    let set = addrs(&keys);
    post_delivery(&mut e, f, &set, 2);
    let id = &f.job.job_id;
    let cm = cm_c_word(&f.bundle_for(PROVIDER));
    let (k0, k2) = (&keys[0].0, &keys[2].0);
    let good = receipts(&e, &[k0, k2], id, cm);

    // One attestor's receipt twice, to reach the threshold: counted once.
    let ooo = error::<IJobEscrow::ReceiptOutOfOrder>(&attest(&mut e, id, cm, &set, 2, &[good[0], good[0]]));
    assert_eq!(ooo.index, U256::from(1));
    // Not sorted by signer.
    let ooo = error::<IJobEscrow::ReceiptOutOfOrder>(&attest(&mut e, id, cm, &set, 2, &[good[1], good[0]]));
    assert_eq!(ooo.index, U256::from(1));
    // Fewer than the threshold (none, one).
    for sigs in [&good[..0], &good[..1]] {
        let ne = error::<IJobEscrow::NotEnoughReceipts>(&attest(&mut e, id, cm, &set, 2, sigs));
        assert_eq!((ne.have, ne.need), (U256::from(sigs.len()), U256::from(2)));
    }

    // The high-s twin of a good receipt: the bare precompile recovers the attestor
    // from it, the escrow refuses it.
    let s = U256::from_be_slice(&good[0][32..64]);
    let mut twin = good[0];
    twin[32..64].copy_from_slice(&(secp_n() - s).to_be_bytes::<32>());
    twin[64] = 55 - good[0][64]; // 27 <-> 28
    let d = delivery_digest(e.chain.chain_id(), e.escrow.into_array(), id, cm);
    let mut input = d.to_vec();
    input.extend(U256::from(twin[64]).to_be_bytes::<32>());
    input.extend_from_slice(&twin[..64]);
    let out = e.chain.view(Address::with_last_byte(1), input).unwrap();
    assert_eq!(&out[12..], keys[0].1.as_slice(), "ecrecover accepts the twin");
    let bad = error::<IJobEscrow::BadReceipt>(&attest(&mut e, id, cm, &set, 2, &[twin, good[1]]));
    assert_eq!(bad.index, U256::ZERO);
    // v as 0 / 1 or 29, r = 0, 64 and 66 bytes (through raw calldata).
    let mut variants: Vec<Vec<u8>> = Vec::new();
    for v in [good[1][64] - 27, 29] {
        let mut x = good[1];
        x[64] = v;
        variants.push(x.to_vec());
    }
    let mut zero_r = good[1];
    zero_r[..32].fill(0);
    variants.push(zero_r.to_vec());
    variants.push(good[1][..64].to_vec());
    variants.push([&good[1][..], &[0u8][..]].concat());
    for x in variants {
        let call = IJobEscrow::attestDeliveryCall {
            jobId: f.job_id(),
            cmC: U256::from_be_bytes(cm),
            attestors: set.clone(),
            threshold: 2,
            signatures: vec![good[0].to_vec().into(), x.into()],
        };
        let bad = error::<IJobEscrow::BadReceipt>(&e.send(OTHER, call.abi_encode(), 0));
        assert_eq!(bad.index, U256::from(1));
    }

    // A wrong attestor list: other keys, the job's list with a lower threshold, a
    // subset, the list out of order.
    let mut others = set.clone();
    others[2] = Address::new([0xee; 20]);
    for (list, t) in [(others, 2), (set.clone(), 1), (set[..2].to_vec(), 2), (vec![set[1], set[0], set[2]], 2)] {
        let sigs = receipts(&e, &[k0, k2], id, cm);
        let wa = error::<IJobEscrow::WrongAttestors>(&attest(&mut e, id, cm, &list, t, &sigs));
        assert_eq!(wa.jobId, f.job_id());
    }
    assert!(!is_delivered(&mut e, f.job_id(), cm));
    ok(&attest(&mut e, id, cm, &set, 2, &good));
    assert!(is_delivered(&mut e, f.job_id(), cm));
}

#[test]
fn posting_with_delivery_is_validated() {
    let f = fx();
    let mut e = env();
    let deadline = e.chain.time() + DEADLINE_IN;
    let keys = attestors(MAX_ATTESTORS + 1);
    let all = addrs(&keys);
    let post = |n: u64, set: &[Address], t: u8| {
        post_delivery_call(&nonce(n), &f.job, &f.shape, deadline, WINDOW, STAKE, set, t)
    };
    let (a, b) = (all[0], all[1]);
    let bad_sets: Vec<(Vec<Address>, u8)> = vec![
        (vec![b, a], 1),                     // unsorted
        (vec![a, a], 1),                     // duplicate
        (vec![Address::ZERO, a], 1),         // zero address
        (vec![a, b], 0),                     // threshold 0
        (vec![a, b], 3),                     // threshold > n
        (vec![], 0),                         // nobody
        (all.clone(), 1),                    // 17 attestors
        (all[..MAX_ATTESTORS].to_vec(), 17), // threshold > 16
    ];
    for (set, t) in &bad_sets {
        reverted_with(&e.send(CLIENT, post(1, set, *t), PRICE), "BadAttestors");
    }
    // postJob's own checks apply unchanged (the shared code).
    reverted_with(&e.send(CLIENT, post(1, &all[..2], 1), 0), "BadPayment");
    // Sixteen attestors, all required: accepted.
    let r = e.send(CLIENT, post(1, &all[..MAX_ATTESTORS], MAX_ATTESTORS as u8), PRICE);
    ok(&r);
    println!("postJobWithDelivery 16-of-16: {} gas", r.gas_used);
    // One nonce, one job, whichever function posted it.
    ok(&e.send(CLIENT, post_call(&nonce(2), &f.job, &f.shape, deadline, WINDOW, STAKE), PRICE));
    reverted_with(&e.send(CLIENT, post(2, &all[..1], 1), PRICE), "JobExists");
    reverted_with(&e.send(CLIENT, post_call(&nonce(1), &f.job, &f.shape, deadline, WINDOW, STAKE), PRICE), "JobExists");
}

#[test]
fn jobs_without_delivery_take_no_receipts_and_settle_as_before() {
    let f = fx();
    let mut e = env();
    let r = e.post();
    println!("postJob: {} gas", r.gas_used);
    let keys = attestors(1);
    let set = addrs(&keys);
    let b = f.bundle_for(PROVIDER);
    let cm = cm_c_word(&b);
    let sigs = receipts(&e, &[&keys[0].0], &f.job.job_id, cm);
    let nr = error::<IJobEscrow::DeliveryNotRequired>(&attest(&mut e, &f.job.job_id, cm, &set, 1, &sigs));
    assert_eq!(nr.jobId, f.job_id());
    assert!(!job_record(&mut e, f.job_id()).delivery);
    let word0 = e.chain.storage(e.escrow, job_slot(f.job_id()));
    assert_eq!((word0 >> 232) & U256::from(0xffff), U256::from(0x0001), "status Open, no delivery");
    assert_eq!(e.chain.storage(e.escrow, mapping_slot(f.job_id(), ATTESTORS_OF_SLOT)), U256::ZERO);
    // No job under an id: JobNotOpen.
    let ghost = JobId(ark_bn254::Fr::from(12345u64));
    let sigs = receipts(&e, &[&keys[0].0], &ghost, cm);
    reverted_with(&attest(&mut e, &ghost, cm, &set, 1, &sigs), "JobNotOpen");
    // The job settles with no receipt, as before.
    let before = e.balance(PROVIDER);
    let r = e.submit(PROVIDER, &b);
    ok(&r);
    println!("submit of a job without delivery (committed, unlocked): {} gas", r.gas_used);
    assert!(r.gas_used <= veriflop_contracts::gas_targets(CircuitKind::Committed).1);
    assert_eq!(event::<IJobEscrow::JobSettled>(&r).cmC, fr_u256(&b.statement.cm_c));
    assert_eq!(e.balance(PROVIDER), before + PRICE);
    assert_eq!(e.status(f.job_id()), JobStatus::Paid);

    // A delivery job nobody attests is refunded after the deadline like any other.
    let mut e = env();
    post_delivery(&mut e, f, &set, 1);
    e.chain.advance(DEADLINE_IN + 1);
    let before = e.balance(CLIENT);
    ok(&e.send(CLIENT, IJobEscrow::refundCall { jobId: f.job_id() }.abi_encode(), 0));
    assert_eq!(e.balance(CLIENT), before + PRICE);
    let sigs = receipts(&e, &[&keys[0].0], &f.job.job_id, cm);
    reverted_with(&attest(&mut e, &f.job.job_id, cm, &set, 1, &sigs), "JobNotOpen");
}
