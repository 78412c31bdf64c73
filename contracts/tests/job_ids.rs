//! Job ids bound to the venue and the client (issue #14, item 3): JobEscrow
//! derives a job's id from its own venue (chain id, address), the client and the
//! client's nonce, exactly as `veriflop_circuits::Venue::job_id`; a proof binds
//! the id, so it settles one job of one escrow deployment and nothing else.

mod common;

use alloy_sol_types::{SolCall, SolEvent};
use common::*;
use revm::primitives::{Address, U256};
use veriflop_circuits::{Bytes32, CircuitKind, Dtype, JobId, ProofSystem, Shape, Venue};
use veriflop_contracts::abi::{selector, IJobEscrow};
use veriflop_contracts::evm::{Chain, DEFAULT_CHAIN_ID};
use veriflop_contracts::settle::{
    deploy_escrow, escrow_job_id, escrow_venue_id, fr_u256, job_id_from_word, nonce_word, statement_address,
};
use veriflop_contracts::{chain_venue, settle_calldata, shape_id, JobStatus};

/// The BN254 scalar modulus as a word.
fn modulus() -> U256 {
    U256::from_str_radix(&veriflop_contracts::solidity::R_HEX[2..], 16).unwrap()
}

/// Nonces worth trying: zero, small, r − 1, r, all ones, random.
fn nonces() -> Vec<Bytes32> {
    let r = modulus();
    vec![
        Bytes32([0; 32]),
        nonce(1),
        Bytes32((r - U256::from(1)).to_be_bytes()),
        Bytes32(r.to_be_bytes()),
        Bytes32([0xff; 32]),
        Bytes32::random(),
    ]
}

/// A shape id registered with a contract that has code (the escrow itself: posting
/// only needs a registered, non-retired shape; nothing here is settled).
fn register_dummy(chain: &mut Chain, escrow: Address, owner: Address) -> u128 {
    let sid = shape_id(ProofSystem::Groth16Bn254, CircuitKind::Committed, &Shape::new(2, 2, 2, Dtype::Int8).unwrap());
    let reg = IJobEscrow::registerVerifierCall { shape: sid, verifier: escrow }.abi_encode();
    ok(&chain.call(owner, escrow, reg, U256::ZERO).unwrap());
    sid
}

fn post_raw(
    chain: &mut Chain,
    escrow: Address,
    client: Address,
    sid: u128,
    n: &Bytes32,
) -> veriflop_contracts::Receipt {
    let call = IJobEscrow::postJobCall {
        nonce: nonce_word(n),
        shape: sid,
        cmA: U256::from(1),
        cmB: U256::from(2),
        deadline: revm::primitives::alloy_primitives::aliases::U40::from(chain.time() + DEADLINE_IN),
        lockWindow: 0,
        lockStake: 0,
    };
    chain.call(client, escrow, call.abi_encode(), U256::from(PRICE)).unwrap()
}

fn job_exists(id: U256) -> Vec<u8> {
    let mut out = selector("JobExists(uint256)").to_vec();
    out.extend(id.to_be_bytes::<32>());
    out
}

#[test]
fn escrow_job_ids_match_the_rust_derivation() {
    let clients = [CLIENT, OTHER, Address::ZERO, Address::repeat_byte(0xff)];
    for chain_id in [1, 10, 8453, DEFAULT_CHAIN_ID, u64::MAX] {
        let mut chain = Chain::with_chain_id(chain_id);
        assert_eq!(chain.chain_id(), chain_id);
        for a in clients {
            chain.fund(a, U256::from(100 * ETH));
        }
        // Three deployments: two deployers, one of them twice.
        let mut escrows = Vec::new();
        for deployer in [OWNER, OTHER, OTHER] {
            let expect = chain.next_contract_address(deployer);
            let (escrow, _) = deploy_escrow(&mut chain, deployer, OWNER).unwrap();
            assert_eq!(escrow, expect);
            escrows.push(escrow);
        }
        for &escrow in &escrows {
            let venue = chain_venue(&chain, escrow);
            assert_eq!(venue, Venue::Chain { chain_id, escrow: statement_address(escrow) });
            assert_eq!(escrow_venue_id(&mut chain, escrow).unwrap(), venue.id(), "venue() on chain {chain_id}");
            for client in clients {
                for n in nonces() {
                    let want = venue.job_id(statement_address(client), &n);
                    assert_eq!(escrow_job_id(&mut chain, escrow, client, &n).unwrap(), want, "jobIdOf({client}, {n})");
                }
            }
            // postJob stores, emits and returns that id.
            let sid = register_dummy(&mut chain, escrow, OWNER);
            for (client, n) in [(CLIENT, nonce(7)), (OTHER, Bytes32([0xff; 32]))] {
                let want = fr_u256(&venue.job_id(statement_address(client), &n).0);
                let r = post_raw(&mut chain, escrow, client, sid, &n);
                ok(&r);
                assert_eq!(posted_id(&r), want);
                let log = r.logs.iter().find(|l| l.topics()[0] == IJobEscrow::JobPosted::SIGNATURE_HASH).unwrap();
                let posted = IJobEscrow::JobPosted::decode_log(log).unwrap().data;
                assert_eq!((posted.jobId, posted.client), (want, client));
                let job = chain.view(escrow, IJobEscrow::jobsCall { jobId: want }.abi_encode()).unwrap();
                let job = IJobEscrow::jobsCall::abi_decode_returns(&job).unwrap();
                assert_eq!((job.client, job.status), (client, 1));
            }
        }
        // Distinct deployments, distinct venues and ids.
        let ids: Vec<JobId> =
            escrows.iter().map(|&e| chain_venue(&chain, e).job_id(statement_address(CLIENT), &nonce(1))).collect();
        assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    }
    // One address on two chains: two venues.
    let a = chain_venue(&Chain::with_chain_id(1), OWNER.create(0));
    let b = chain_venue(&Chain::with_chain_id(10), OWNER.create(0));
    assert_ne!(a.job_id(statement_address(CLIENT), &nonce(1)), b.job_id(statement_address(CLIENT), &nonce(1)));
}

#[test]
fn nonces_are_per_client_and_single_use() {
    let mut chain = Chain::new();
    for a in [OWNER, CLIENT, OTHER] {
        chain.fund(a, U256::from(100 * ETH));
    }
    let (escrow, _) = deploy_escrow(&mut chain, OWNER, OWNER).unwrap();
    let sid = register_dummy(&mut chain, escrow, OWNER);
    let n = nonce(42);
    // Two clients, the same nonce: two jobs, two ids.
    let r1 = post_raw(&mut chain, escrow, CLIENT, sid, &n);
    let r2 = post_raw(&mut chain, escrow, OTHER, sid, &n);
    ok(&r1);
    ok(&r2);
    let (id1, id2) = (posted_id(&r1), posted_id(&r2));
    assert_ne!(id1, id2);
    assert_eq!(id1, fr_u256(&chain_venue(&chain, escrow).job_id(statement_address(CLIENT), &n).0));
    assert_eq!(id2, fr_u256(&chain_venue(&chain, escrow).job_id(statement_address(OTHER), &n).0));
    // The same client re-using its nonce: JobExists(its id), for either client.
    let r = post_raw(&mut chain, escrow, CLIENT, sid, &n);
    assert_eq!(r.output, job_exists(id1));
    reverted_with(&r, "JobExists");
    assert_eq!(post_raw(&mut chain, escrow, OTHER, sid, &n).output, job_exists(id2));
    // Still after the job ended (refunded).
    chain.advance(DEADLINE_IN + 1);
    ok(&chain.call(CLIENT, escrow, IJobEscrow::refundCall { jobId: id1 }.abi_encode(), U256::ZERO).unwrap());
    assert_eq!(post_raw(&mut chain, escrow, CLIENT, sid, &n).output, job_exists(id1));
    // Another nonce is another job.
    let r = post_raw(&mut chain, escrow, CLIENT, sid, &nonce(43));
    ok(&r);
    assert!(posted_id(&r) != id1 && posted_id(&r) != id2);
    // Every id is below r, whatever the nonce.
    for n in nonces() {
        let id = escrow_job_id(&mut chain, escrow, CLIENT, &n).unwrap();
        assert!(fr_u256(&id.0) < modulus());
    }
}

#[test]
fn proof_for_one_escrow_does_not_settle_another_deployment() {
    let f = fx();
    let mut e = env();
    // A second JobEscrow on the same chain, with the same verifiers.
    let (escrow2, _) = deploy_escrow(&mut e.chain, OWNER, OWNER).unwrap();
    for (g, v) in [(fx(), e.verifier), (fxp(), e.verifier_p)] {
        let reg = IJobEscrow::registerVerifierCall { shape: g.shape_id(), verifier: v }.abi_encode();
        ok(&e.chain.call(OWNER, escrow2, reg, U256::ZERO).unwrap());
    }
    let deadline = e.chain.time() + DEADLINE_IN;
    let post2 = |e: &mut Env, g: &Fx| {
        let data = post_call(&g.nonce, &g.job, &g.shape, deadline, WINDOW, STAKE);
        let r = e.chain.call(CLIENT, escrow2, data, U256::from(PRICE)).unwrap();
        ok(&r);
        posted_id(&r)
    };
    // The same client posts the same job with the same nonce to both escrows.
    e.post();
    let id2 = post2(&mut e, f);
    assert_ne!(id2, f.job_id());
    assert_eq!(id2, fr_u256(&chain_venue(&e.chain, escrow2).job_id(statement_address(CLIENT), &f.nonce).0));

    let b = f.bundle_for(PROVIDER);
    let send2 = |e: &mut Env, data: Vec<u8>| e.chain.call(PROVIDER, escrow2, data, U256::ZERO).unwrap();
    // As made (for escrow 1's id): escrow 2 has no such job.
    reverted_with(&send2(&mut e, settle_calldata(&b)), "JobNotOpen");
    // Pointed at escrow 2's job: the proof is bound to the other id.
    let mut d = IJobEscrow::submitCall::abi_decode(&settle_calldata(&b)).unwrap();
    d.jobId = id2;
    reverted_with(&send2(&mut e, d.abi_encode()), "InvalidProof");
    // The same for the Poseidon circuit (submitPoseidon rebuilds the inputs from the record).
    e.post_fx(fxp());
    let pid2 = post2(&mut e, fxp());
    let pb = fxp().bundle_for(PROVIDER);
    reverted_with(&send2(&mut e, settle_calldata(&pb)), "JobNotOpen");
    let mut d = IJobEscrow::submitPoseidonCall::abi_decode(&settle_calldata(&pb)).unwrap();
    d.jobId = pid2;
    reverted_with(&send2(&mut e, d.abi_encode()), "InvalidProof");

    // Each proof settles the job it was made for, once.
    ok(&e.submit(PROVIDER, &b));
    ok(&e.submit(PROVIDER, &pb));
    assert_eq!(e.status(f.job_id()), JobStatus::Paid);
    // And escrow 2's job settles with a proof made for its own id.
    let b2 = f.prove_for(job_id_from_word(id2).unwrap(), PROVIDER, f.c.clone());
    ok(&send2(&mut e, settle_calldata(&b2)));
    reverted_with(&e.submit(PROVIDER, &b2), "JobNotOpen");
}

#[test]
fn proof_for_one_chain_does_not_settle_the_same_address_on_another() {
    // Same deployer, same nonce, so the same escrow address, but chain id 1.
    let f = fx();
    let mut e = env_on(Chain::with_chain_id(1));
    let deadline = e.chain.time() + DEADLINE_IN;
    let r = e.send(CLIENT, post_call(&f.nonce, &f.job, &f.shape, deadline, WINDOW, STAKE), PRICE);
    ok(&r);
    let id = posted_id(&r);
    assert_ne!(id, f.job_id());
    let b = f.bundle_for(PROVIDER);
    reverted_with(&e.submit(PROVIDER, &b), "JobNotOpen");
    let mut d = IJobEscrow::submitCall::abi_decode(&settle_calldata(&b)).unwrap();
    d.jobId = id;
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "InvalidProof");
    assert_eq!(e.status(id), JobStatus::Open);
}

#[test]
fn proof_for_a_service_job_settles_no_on_chain_job() {
    // The client registers its job with a verifier service and with the escrow,
    // with one nonce: the service's job id is another id.
    let service = Venue::Service { service_id: Bytes32([0x5e; 32]) };
    for g in [fx(), fxp()] {
        let sid = service.job_id(statement_address(CLIENT), &g.nonce);
        assert_ne!(sid, g.job.job_id);
        let mut e = env();
        e.post_fx(g);
        assert_ne!(escrow_job_id(&mut e.chain, e.escrow, CLIENT, &g.nonce).unwrap(), sid);
        // A valid proof for the service's job (the same data, provider and result).
        let b = g.prove_for(sid, PROVIDER, g.c.clone());
        // Under its own id: no such job on-chain.
        reverted_with(&e.submit(PROVIDER, &b), "JobNotOpen");
        // Pointed at the on-chain job: bound to the service's id.
        let mut data = settle_calldata(&b);
        data[4..36].copy_from_slice(&g.job_id().to_be_bytes::<32>());
        reverted_with(&e.send(PROVIDER, data, 0), "InvalidProof");
        assert_eq!(e.status(g.job_id()), JobStatus::Open);
        // No other client's nonce reaches it either (the id would be a keccak collision).
        for client in [OTHER, PROVIDER, OWNER] {
            assert_ne!(escrow_job_id(&mut e.chain, e.escrow, client, &g.nonce).unwrap(), sid);
        }
    }
}
