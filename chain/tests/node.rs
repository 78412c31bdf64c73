//! JobEscrow on a real JSON-RPC node (hardhat's, started per test on loopback):
//! deploy, register, post, lock and settle for Groth16 committed, Groth16
//! Poseidon and halo2; a tampered proof, a front-running sender, a replay and a
//! wrong shape, each reverting by name; refund and slash after time travel; the
//! JobPosted follower restarted from its cursor and across a reorg; keys from a
//! keystore; a node of another chain refused; a delivery job's terms read from
//! its posting block, and its settlement found by a scan in windows of a few
//! blocks when it is many windows old.

use std::sync::OnceLock;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use rand::rngs::OsRng;
use serde_json::json;
use veriflop_chain::devnode::{DevNode, DEV_CHAIN_ID, DEV_KEYS};
use veriflop_chain::escrow::LOG_WINDOW;
use veriflop_chain::follow::Follower;
use veriflop_chain::{ChainError, Connection, Escrow};
use veriflop_circuits::commit::commit_output;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Bytes32, CircuitKind, Dtype, InputMatrix, Job, JobId, ProofSystem, Shape, Witness};
use veriflop_contracts::abi::{IJobEscrow, JobStatus};
use veriflop_contracts::settle::{fr_u256, statement_address, PostTerms};
use veriflop_contracts::settle_calldata;
use veriflop_prover::{prove_bundle, CpuBackend, ProveOptions, ProverKey};
use veriflop_verifier::{ProofBundle, ShapeKey};

const ETH: u128 = 1_000_000_000_000_000_000;
const PRICE: u128 = ETH;
const STAKE: u128 = ETH / 10;

struct Keys {
    shape: Shape,
    pk: ProverKey,
    vk: ShapeKey,
}

fn keys(kind: CircuitKind) -> &'static Keys {
    static C: OnceLock<Keys> = OnceLock::new();
    static P: OnceLock<Keys> = OnceLock::new();
    let (cell, shape) = match kind {
        CircuitKind::Committed => (&C, Shape::new(4, 4, 4, Dtype::Int8).unwrap()),
        _ => (&P, Shape::new(2, 4, 4, Dtype::Int8).unwrap()),
    };
    cell.get_or_init(|| {
        let (pk, vk) = veriflop_prover::setup::generate(kind, shape, &mut OsRng).unwrap();
        Keys { shape, pk, vk }
    })
}

fn signer(i: usize) -> PrivateKeySigner {
    DEV_KEYS[i].parse().unwrap()
}

async fn connect(node: &DevNode, i: usize) -> Connection {
    Connection::connect(&node.url, signer(i), Some(DEV_CHAIN_ID)).await.unwrap()
}

/// A job of `keys`' shape on random data, with its id derived for `client` at `escrow`.
struct Posting {
    job: Job,
    nonce: Bytes32,
    a: InputMatrix,
    b: InputMatrix,
}

fn posting(k: &Keys, kind: CircuitKind, system: ProofSystem, escrow: &Escrow<'_>, client: Address) -> Posting {
    let a = InputMatrix::random(k.shape.m as usize, k.shape.k as usize, k.shape.dtype, rand::random()).unwrap();
    let b = InputMatrix::random(k.shape.k as usize, k.shape.n as usize, k.shape.dtype, rand::random()).unwrap();
    let nonce = Bytes32::random();
    let id = escrow.venue().job_id(statement_address(client), &nonce);
    let ck = k.pk.commit_key().ok();
    let ck = if kind == CircuitKind::Committed { ck } else { None };
    let job = Job::new(id, kind, k.shape, ck.as_ref(), &a, &b).unwrap().with_system(system).unwrap();
    Posting { job, nonce, a, b }
}

fn prove(k: &Keys, p: &Posting, provider: Address) -> ProofBundle {
    let w = Witness {
        job_id: p.job.job_id.0,
        provider: statement_address(provider),
        a: p.a.clone(),
        b: p.b.clone(),
        c: matmul(&k.shape, &p.a, &p.b).unwrap(),
    };
    prove_bundle(&k.pk, w, &CpuBackend::new(), &mut OsRng, ProveOptions::default(), &|_| {}).unwrap().0
}

async fn now(conn: &Connection) -> u64 {
    let b = conn.dev_rpc("eth_getBlockByNumber", json!(["latest", false])).await.unwrap();
    u64::from_str_radix(b["timestamp"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

async fn travel(conn: &Connection, secs: u64) {
    conn.dev_rpc("evm_increaseTime", json!([secs])).await.unwrap();
    conn.dev_rpc("evm_mine", json!([])).await.unwrap();
}

fn reverted(r: Result<impl std::fmt::Debug, ChainError>) -> String {
    match r {
        Err(e @ ChainError::Reverted { .. }) => {
            let s = e.to_string();
            println!("{s}");
            e.revert_name().unwrap().to_string()
        }
        other => panic!("expected a revert, got {other:?}"),
    }
}

/// Sends settlement calldata as is (past the client-side checks of `Escrow::settle`).
async fn raw(c: &Connection, escrow: Address, data: Vec<u8>) -> Result<veriflop_chain::TxOutcome, ChainError> {
    c.send("submit", Some(escrow), data, U256::ZERO).await
}

fn terms(deadline: u64, locking: bool) -> PostTerms {
    PostTerms { deadline, lock_window: if locking { 600 } else { 0 }, lock_stake: if locking { STAKE } else { 0 } }
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_job_posted_locked_and_settled_with_every_forgery_named() {
    let node = DevNode::start().unwrap();
    let (owner, client, provider, other) =
        (connect(&node, 0).await, connect(&node, 1).await, connect(&node, 2).await, connect(&node, 3).await);
    let (escrow, deployed) = Escrow::deploy(&owner, owner.from()).await.unwrap();
    println!("deploy JobEscrow: {}", deployed.summary());
    let k = keys(CircuitKind::Committed);
    let (verifier, d, r) = escrow.register_groth16(&k.vk).await.unwrap();
    println!("verifier {verifier}: deploy {}, register {}", d.summary(), r.summary());
    // Registration is write-once.
    assert!(matches!(escrow.register_groth16(&k.vk).await, Err(ChainError::Mismatch(_))));

    let esc = |c| Escrow { conn: c, address: escrow.address };
    let p = posting(k, CircuitKind::Committed, ProofSystem::Groth16Bn254, &escrow, client.from());
    let deadline = now(&client).await + 3600;
    // A job made for another client's nonce is refused before sending.
    assert!(matches!(
        esc(&other).post(&p.job, &p.nonce, &terms(deadline, true), PRICE).await,
        Err(ChainError::Mismatch(_))
    ));
    let (id, posted) = esc(&client).post(&p.job, &p.nonce, &terms(deadline, true), PRICE).await.unwrap();
    println!("postJob: {}", posted.summary());
    assert_eq!(id, p.job.job_id);
    // The same nonce again.
    assert_eq!(reverted(esc(&client).post(&p.job, &p.nonce, &terms(deadline, true), PRICE).await), "JobExists");

    let job = esc(&provider).job(&id).await.unwrap();
    assert_eq!((job.status, job.price, job.lock_stake, job.client), (JobStatus::Open, PRICE, STAKE, client.from()));
    let locked = esc(&provider).lock(&id).await.unwrap();
    println!("lock: {}", locked.summary());
    assert_eq!(reverted(esc(&other).lock(&id).await), "AlreadyLocked");

    let bundle = prove(k, &p, provider.from());
    // Front-running: another sender submits the provider's bundle (sent raw: the
    // client-side check would refuse it first).
    assert!(matches!(esc(&other).settle(&bundle).await, Err(ChainError::Mismatch(_))));
    assert_eq!(reverted(raw(&other, escrow.address, settle_calldata(&bundle)).await), "LockedByOther");
    // A tampered proof.
    let mut data = settle_calldata(&bundle);
    data.copy_within(4 + 32..4 + 96, 4 + 32 + 6 * 32); // the proof's C replaced by its A: on the curve, wrong
    assert_eq!(reverted(raw(&provider, escrow.address, data).await), "InvalidProof");
    let mut data = settle_calldata(&bundle);
    data[4 + 32 + 31] ^= 1; // A.x moved off the curve: the verifier's precompile fails
    assert_eq!(reverted(raw(&provider, escrow.address, data).await), "PrecompileFailed");
    // The proof of another job (same data, another nonce's id).
    let q = Posting {
        job: Job {
            job_id: escrow.venue().job_id(statement_address(client.from()), &Bytes32::random()),
            ..p.job.clone()
        },
        nonce: p.nonce,
        a: p.a.clone(),
        b: p.b.clone(),
    };
    let other_job = prove(k, &q, provider.from());
    let mut data = settle_calldata(&other_job);
    data[4..36].copy_from_slice(&fr_u256(&id.0).to_be_bytes::<32>());
    assert_eq!(reverted(raw(&provider, escrow.address, data).await), "InvalidProof");

    let before = provider.balance(provider.from()).await.unwrap();
    let settled = esc(&provider).settle(&bundle).await.unwrap();
    println!("submit: {}", settled.summary());
    let fee = U256::from(settled.gas_used) * U256::from(settled.receipt.effective_gas_price);
    assert_eq!(provider.balance(provider.from()).await.unwrap(), before + U256::from(PRICE + STAKE) - fee);
    assert_eq!(esc(&client).job(&id).await.unwrap().status, JobStatus::Paid);
    // Replay: the same bundle again.
    assert_eq!(reverted(esc(&provider).settle(&bundle).await), "JobNotOpen");

    // A wrong shape: a job for a shape nobody registered.
    let kp = keys(CircuitKind::Poseidon);
    let wrong = posting(kp, CircuitKind::Poseidon, ProofSystem::Groth16Bn254, &escrow, client.from());
    assert_eq!(
        reverted(esc(&client).post(&wrong.job, &wrong.nonce, &terms(deadline, false), PRICE).await),
        "UnknownShape"
    );
    // A bundle of another circuit for a committed job.
    let p2 = posting(k, CircuitKind::Committed, ProofSystem::Groth16Bn254, &escrow, client.from());
    let (id2, _) = esc(&client).post(&p2.job, &p2.nonce, &terms(deadline, false), PRICE).await.unwrap();
    let pos = Posting {
        job: Job { job_id: id2, ..wrong.job.clone() },
        nonce: wrong.nonce,
        a: wrong.a.clone(),
        b: wrong.b.clone(),
    };
    let poseidon_bundle = prove(kp, &pos, provider.from());
    assert_eq!(reverted(esc(&provider).settle(&poseidon_bundle).await), "WrongCircuit");
    // The escrow at the address is checked to be JobEscrow.
    assert!(Escrow::at(&client, escrow.address).await.is_ok());
    assert!(matches!(Escrow::at(&client, verifier).await, Err(ChainError::Mismatch(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn poseidon_and_halo2_jobs_are_locked_and_settled_on_the_node() {
    let node = DevNode::start().unwrap();
    let (owner, client, provider) = (connect(&node, 0).await, connect(&node, 1).await, connect(&node, 2).await);
    let (escrow, _) = Escrow::deploy(&owner, owner.from()).await.unwrap();
    let esc = |c| Escrow { conn: c, address: escrow.address };
    let deadline = now(&client).await + 3600;

    let kp = keys(CircuitKind::Poseidon);
    escrow.register_groth16(&kp.vk).await.unwrap();
    let p = posting(kp, CircuitKind::Poseidon, ProofSystem::Groth16Bn254, &escrow, client.from());
    let (id, _) = esc(&client).post(&p.job, &p.nonce, &terms(deadline, true), PRICE).await.unwrap();
    esc(&provider).lock(&id).await.unwrap();
    let bundle = prove(kp, &p, provider.from());
    let mut data = settle_calldata(&bundle);
    data[4 + 63] ^= 1; // another result commitment cmC
    assert_eq!(reverted(provider.send("submitPoseidon", Some(escrow.address), data, U256::ZERO).await), "InvalidProof");
    let settled = esc(&provider).settle(&bundle).await.unwrap();
    println!("submitPoseidon: {}", settled.summary());
    assert_eq!(esc(&client).job(&id).await.unwrap().status, JobStatus::Paid);

    // halo2: a universal SRS, a verifier compiled with the pinned solc.
    let srs = veriflop_halo2::setup_srs(12, [5; 32]).unwrap();
    let shape = Shape::new(2, 4, 4, Dtype::Int8).unwrap();
    let (pk, vk) = veriflop_halo2::keygen(&shape, &srs).unwrap();
    let (_, d, _) = escrow.register_halo2(&vk, &shape).await.unwrap();
    println!("halo2 verifier deploy: {}", d.summary());
    let a = InputMatrix::random(2, 4, Dtype::Int8, 31).unwrap();
    let b = InputMatrix::random(4, 4, Dtype::Int8, 32).unwrap();
    let nonce = Bytes32::random();
    let id = escrow.venue().job_id(statement_address(client.from()), &nonce);
    let job = Job::new(id, CircuitKind::Poseidon, shape, None, &a, &b)
        .unwrap()
        .with_system(ProofSystem::Halo2KzgBn254)
        .unwrap();
    esc(&client).post(&job, &nonce, &terms(deadline, true), PRICE).await.unwrap();
    esc(&provider).lock(&id).await.unwrap();
    let c = matmul(&shape, &a, &b).unwrap();
    let payee = statement_address(provider.from());
    let proof = veriflop_halo2::proof::prove_unchecked(&pk, id.0, payee.to_fr(), &a, &b, &c).unwrap();
    let bundle = ProofBundle::halo2(job.statement(payee, commit_output(&shape, &c)), proof);
    let mut bad = settle_calldata(&bundle);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(reverted(provider.send("submitHalo2", Some(escrow.address), bad, U256::ZERO).await), "InvalidProof");
    let settled = esc(&provider).settle(&bundle).await.unwrap();
    println!("submitHalo2: {}", settled.summary());
    assert_eq!(esc(&client).job(&id).await.unwrap().status, JobStatus::Paid);
}

#[tokio::test(flavor = "multi_thread")]
async fn refund_and_slash_after_time_travel() {
    let node = DevNode::start().unwrap();
    let (owner, client, provider, other) =
        (connect(&node, 0).await, connect(&node, 1).await, connect(&node, 2).await, connect(&node, 3).await);
    let (escrow, _) = Escrow::deploy(&owner, owner.from()).await.unwrap();
    let esc = |c| Escrow { conn: c, address: escrow.address };
    let k = keys(CircuitKind::Committed);
    escrow.register_groth16(&k.vk).await.unwrap();
    let deadline = now(&client).await + 3600;
    let p = posting(k, CircuitKind::Committed, ProofSystem::Groth16Bn254, &escrow, client.from());
    let (id, _) = esc(&client).post(&p.job, &p.nonce, &terms(deadline, true), PRICE).await.unwrap();
    esc(&provider).lock(&id).await.unwrap();
    assert_eq!(reverted(esc(&other).slash(&id).await), "LockActive");
    assert_eq!(reverted(esc(&client).refund(&id).await), "DeadlineNotReached");
    assert_eq!(reverted(esc(&client).withdraw().await), "NothingOwed");

    travel(&client, 601).await; // the lock window ends without a proof
    let slashed = esc(&other).slash(&id).await.unwrap();
    println!("slashLock: {}", slashed.summary());
    assert_eq!(esc(&client).owed(client.from()).await.unwrap(), U256::from(STAKE));
    let job = esc(&client).job(&id).await.unwrap();
    assert_eq!((job.status, job.locker), (JobStatus::Open, Address::ZERO));
    let withdrawn = esc(&client).withdraw().await.unwrap();
    println!("withdraw: {}", withdrawn.summary());

    assert_eq!(reverted(esc(&other).refund(&id).await), "NotClient");
    travel(&client, 3600).await; // past the deadline
    let bundle = prove(k, &p, provider.from());
    assert_eq!(reverted(esc(&provider).settle(&bundle).await), "DeadlinePassed");
    let before = client.balance(client.from()).await.unwrap();
    let refunded = esc(&client).refund(&id).await.unwrap();
    println!("refund: {}", refunded.summary());
    let fee = U256::from(refunded.gas_used) * U256::from(refunded.receipt.effective_gas_price);
    assert_eq!(client.balance(client.from()).await.unwrap(), before + U256::from(PRICE) - fee);
    assert_eq!(esc(&client).job(&id).await.unwrap().status, JobStatus::Refunded);
    assert_eq!(reverted(esc(&client).refund(&id).await), "JobNotOpen");
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_resumes_from_its_cursor_and_ignores_unconfirmed_blocks_lost_to_a_reorg() {
    let node = DevNode::start().unwrap();
    let (owner, client) = (connect(&node, 0).await, connect(&node, 1).await);
    let (escrow, deployed) = Escrow::deploy(&owner, owner.from()).await.unwrap();
    let esc = Escrow { conn: &client, address: escrow.address };
    let k = keys(CircuitKind::Committed);
    escrow.register_groth16(&k.vk).await.unwrap();
    let deadline = now(&client).await + 3600;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let p = posting(k, CircuitKind::Committed, ProofSystem::Groth16Bn254, &escrow, client.from());
        ids.push(esc.post(&p.job, &p.nonce, &terms(deadline, false), PRICE).await.unwrap().0);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cursor.json");
    const DEPTH: u64 = 2;
    let mut f = Follower::open(&path, DEV_CHAIN_ID, escrow.address, deployed.block, DEPTH).unwrap();
    // The last post is one block deep: not confirmed at depth 2.
    let seen: Vec<JobId> = f.poll(&client).await.unwrap().iter().map(|e| e.job_id).collect();
    assert_eq!(seen, ids[..2]);
    let first = f.poll(&client).await.unwrap().remove(0);
    f.handled(&first).unwrap();
    drop(f); // the agent stops after one job

    client.dev_rpc("evm_mine", json!([])).await.unwrap();
    // Another chain's or escrow's cursor is not reused.
    assert!(Follower::open(&path, 1, escrow.address, 0, DEPTH).is_err());
    let mut f = Follower::open(&path, DEV_CHAIN_ID, escrow.address, 0, DEPTH).unwrap();
    let rest: Vec<JobId> = f.poll(&client).await.unwrap().iter().map(|e| e.job_id).collect();
    assert_eq!(rest, ids[1..], "resumes after the handled job, now sees the third");
    for e in f.poll(&client).await.unwrap() {
        f.handled(&e).unwrap();
    }
    f.advance(&client).await.unwrap();
    assert!(f.poll(&client).await.unwrap().is_empty());

    // A job posted in a block that a reorg removes before it is confirmed.
    let snapshot = client.dev_rpc("evm_snapshot", json!([])).await.unwrap();
    let lost = posting(k, CircuitKind::Committed, ProofSystem::Groth16Bn254, &escrow, client.from());
    esc.post(&lost.job, &lost.nonce, &terms(deadline, false), PRICE).await.unwrap();
    assert!(f.poll(&client).await.unwrap().is_empty(), "one block deep: not confirmed");
    assert_eq!(client.dev_rpc("evm_revert", json!([snapshot])).await.unwrap(), json!(true));
    let kept = posting(k, CircuitKind::Committed, ProofSystem::Groth16Bn254, &escrow, client.from());
    let (kept_id, _) = esc.post(&kept.job, &kept.nonce, &terms(deadline, false), PRICE).await.unwrap();
    client.dev_rpc("evm_mine", json!([])).await.unwrap();
    let seen: Vec<JobId> = f.poll(&client).await.unwrap().iter().map(|e| e.job_id).collect();
    assert_eq!(seen, [kept_id]);
    assert_ne!(kept_id, lost.job.job_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_come_from_a_keystore_and_another_chain_is_refused() {
    let node = DevNode::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = veriflop_chain::wallet::write_keystore(dir.path(), &signer(1), "correct horse").unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "correct horse\n").unwrap();
    let s = veriflop_chain::wallet::load_signer(Some(&path), Some(&pw)).unwrap();
    assert_eq!(s.address(), signer(1).address());
    std::fs::write(&pw, "wrong").unwrap();
    assert!(matches!(veriflop_chain::wallet::load_signer(Some(&path), Some(&pw)), Err(ChainError::Config(_))));
    let e = Connection::connect(&node.url, s, Some(1)).await.err().unwrap();
    assert!(matches!(e, ChainError::WrongChain { node: DEV_CHAIN_ID, expected: 1, .. }), "{e}");
    // A call the contract rejects is reported before anything is sent: no nonce is used.
    let c = connect(&node, 1).await;
    let (escrow, _) = Escrow::deploy(&c, c.from()).await.unwrap();
    let n0 = c.dev_rpc("eth_getTransactionCount", json!([c.from(), "latest"])).await.unwrap();
    let data = IJobEscrow::refundCall { jobId: U256::from(1u8) }.abi_encode();
    assert_eq!(reverted(c.send("refund", Some(escrow.address), data, U256::ZERO).await), "NotClient");
    assert_eq!(c.dev_rpc("eth_getTransactionCount", json!([c.from(), "latest"])).await.unwrap(), n0);

    // At two confirmations a receipt is reported only once another block is on top.
    let deep = connect(&node, 2).await.with_confirmations(2);
    let miner = connect(&node, 3).await;
    let send = tokio::spawn(async move {
        // A plain transfer, mined at once (automine), then awaited one block deeper.
        deep.send("transfer", Some(Address::repeat_byte(0x42)), Vec::new(), U256::from(1u8)).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!send.is_finished(), "reported before the second confirmation");
    miner.dev_rpc("evm_mine", json!([])).await.unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), send).await.unwrap().unwrap().unwrap();
    assert!(miner.block_number().await.unwrap() >= out.block + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn delivery_receipts_missing_forged_or_for_another_job_are_refused() {
    use veriflop_contracts::delivery::{attestor_address, cm_c_word, delivery_digest, sign_delivery};
    let node = DevNode::start().unwrap();
    let (owner, client, provider) = (connect(&node, 0).await, connect(&node, 1).await, connect(&node, 2).await);
    let (escrow, _) = Escrow::deploy(&owner, owner.from()).await.unwrap();
    let esc = |c| Escrow { conn: c, address: escrow.address };
    let k = keys(CircuitKind::Committed);
    escrow.register_groth16(&k.vk).await.unwrap();
    let attestor = k256::ecdsa::SigningKey::random(&mut OsRng);
    let set = [Address::from(attestor_address(&attestor))];
    let deadline = now(&client).await + 3600;
    let p = posting(k, CircuitKind::Committed, ProofSystem::Groth16Bn254, &escrow, client.from());
    let q = posting(k, CircuitKind::Committed, ProofSystem::Groth16Bn254, &escrow, client.from());
    let (id, posted) =
        esc(&client).post_with_delivery(&p.job, &p.nonce, &terms(deadline, false), PRICE, &set, 1).await.unwrap();
    println!("postJobWithDelivery: {}", posted.summary());
    let (other_id, _) =
        esc(&client).post_with_delivery(&q.job, &q.nonce, &terms(deadline, false), PRICE, &set, 1).await.unwrap();
    assert!(esc(&client).job(&id).await.unwrap().delivery);
    // DeliveryRequired is read from the block of the job's JobPosted (the same call emits both), and only there.
    assert_eq!(esc(&client).delivery_terms(&id, posted.block).await.unwrap(), Some((set.to_vec(), 1)));
    assert_eq!(esc(&client).delivery_terms(&id, posted.block - 1).await.unwrap(), None);

    let bundle = prove(k, &p, provider.from());
    let word = cm_c_word(&bundle);
    // Missing: no receipt recorded.
    assert_eq!(reverted(esc(&provider).settle(&bundle).await), "NotDelivered");
    // Forged: signed by a key outside the job's attestors.
    let forger = k256::ecdsa::SigningKey::random(&mut OsRng);
    let digest = delivery_digest(DEV_CHAIN_ID, escrow.address.0 .0, &id, word);
    let forged = sign_delivery(&forger, &digest);
    assert_eq!(reverted(esc(&provider).attest(&id, word, &set, 1, &[forged]).await), "NotAttestor");
    // Signed by the attestor, but for another job.
    let for_other = sign_delivery(&attestor, &delivery_digest(DEV_CHAIN_ID, escrow.address.0 .0, &other_id, word));
    assert_eq!(reverted(esc(&provider).attest(&id, word, &set, 1, &[for_other]).await), "NotAttestor");
    // Signed for this job on another chain's escrow (another EIP-712 domain).
    let other_chain = sign_delivery(&attestor, &delivery_digest(1, escrow.address.0 .0, &id, word));
    assert_eq!(reverted(esc(&provider).attest(&id, word, &set, 1, &[other_chain]).await), "NotAttestor");
    // A receipt for another cmC does not deliver this one.
    let mut wrong = word;
    wrong[31] ^= 1;
    let for_wrong = sign_delivery(&attestor, &delivery_digest(DEV_CHAIN_ID, escrow.address.0 .0, &id, wrong));
    esc(&provider).attest(&id, wrong, &set, 1, &[for_wrong]).await.unwrap();
    assert_eq!(reverted(esc(&provider).settle(&bundle).await), "NotDelivered");
    // The attestor's receipt for this job and this C: paid.
    let attested = esc(&provider).attest(&id, word, &set, 1, &[sign_delivery(&attestor, &digest)]).await.unwrap();
    println!("attestDelivery: {}", attested.summary());
    let settled = esc(&provider).settle(&bundle).await.unwrap();
    println!("submit (delivery job): {}", settled.summary());
    assert_eq!(esc(&client).job(&id).await.unwrap().status, JobStatus::Paid);
    let want = Some((U256::from_be_bytes(word), provider.from()));
    assert_eq!(esc(&client).settlement(&id, posted.block, LOG_WINDOW).await.unwrap(), want);

    // The settlement scan reads newest window first, `window` blocks per
    // eth_getLogs request: with 4-block windows it finds a settlement that is
    // 30 blocks old (eight windows back), from the posting block or from genesis.
    client.dev_rpc("hardhat_mine", json!(["0x1e"])).await.unwrap();
    let head = client.block_number().await.unwrap();
    assert!(head >= settled.block + 30 && settled.block > posted.block);
    assert_eq!(esc(&client).settlement(&id, posted.block, 4).await.unwrap(), want);
    assert_eq!(esc(&client).settlement(&id, 0, 4).await.unwrap(), want);
    assert_eq!(esc(&client).settlement(&id, settled.block, 1).await.unwrap(), want);
    // Not before `from_block`, and nothing for a job that is not Paid.
    assert_eq!(esc(&client).settlement(&id, settled.block + 1, 4).await.unwrap(), None);
    assert_eq!(esc(&client).settlement(&other_id, 0, 4).await.unwrap(), None);
}
