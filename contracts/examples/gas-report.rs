//! Prints the on-chain gas figures: generates a key for a small shape, proves a
//! random job, settles it in a fresh in-process EVM; then posts the same job with
//! delivery receipts (1-of-1 and 2-of-3 attestors) on fresh chains, attests and
//! settles it.
//!
//!     cargo run -p veriflop-contracts --example gas-report [-- MxKxN [int8|int16|int32] [committed|poseidon|naive]]
//!
//! (An example rather than a binary: it needs the prover, and the prover's CLI
//! depends on this crate.)

use alloy_sol_types::SolCall;
use k256::ecdsa::SigningKey;
use rand::rngs::OsRng;
use revm::primitives::{Address as EvmAddress, U256};
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{shape, Address, Bytes32, CircuitKind, Dtype, InputMatrix, Job, Shape, Witness};
use veriflop_contracts::abi::IJobEscrow;
use veriflop_contracts::delivery::{attestor_address, cm_c_word, delivery_digest, sign_delivery};
use veriflop_contracts::settle::{deploy_escrow, deploy_verifier, fr_u256, DEMO_CLIENT, DEMO_FUNDS, DEMO_OWNER};
use veriflop_contracts::{
    attest_delivery_calldata, job_shape_id, post_job_with_delivery, settle_calldata, Chain, PostTerms,
};
use veriflop_prover::{prove_bundle, CpuBackend, ProveOptions};
use veriflop_verifier::{ProofBundle, ShapeKey};

const PRICE: u128 = 1_000_000_000_000_000_000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (m, k, n) = shape::parse_dims(args.first().map(String::as_str).unwrap_or("4x4x4"))?;
    let dtype: Dtype = args.get(1).map(String::as_str).unwrap_or("int8").parse()?;
    let kind: CircuitKind = args.get(2).map(String::as_str).unwrap_or("committed").parse()?;
    let shape = Shape::new(m, k, n, dtype)?;
    let (pk, vk) = veriflop_prover::setup::generate(kind, shape, &mut OsRng)?;
    let a = InputMatrix::random(m as usize, k as usize, dtype, 1)?;
    let b = InputMatrix::random(k as usize, n as usize, dtype, 2)?;
    let ck = pk.commit_key().ok();
    // The job id the settlement's escrow derives for the demo client and this nonce.
    let nonce = Bytes32::random();
    let job = Job::new(veriflop_contracts::demo_job_id(&nonce), kind, shape, ck.as_ref(), &a, &b)?;
    let provider = Address([0x11; 20]);
    let c = matmul(&shape, &a, &b)?;
    let w = Witness { job_id: job.job_id.0, provider, a, b, c };
    let (bundle, _) = prove_bundle(&pk, w, &CpuBackend::new(), &mut OsRng, ProveOptions::default(), &|_| {})?;
    print!("{}", veriflop_contracts::gas_report(&vk, &job, &nonce, &bundle, PRICE)?);
    println!("\ndelivery receipts (postJobWithDelivery; the same job on a fresh chain each)");
    println!("{:<44} {:>9}", "step", "gas");
    for (n, k) in [(1, 1), (3, 2)] {
        let (post, attest, submit) = delivery_gas(&vk, &job, &nonce, &bundle, n, k)?;
        println!("{:<44} {post:>9}", format!("postJobWithDelivery {k}-of-{n}"));
        println!("{:<44} {attest:>9}", format!("attestDelivery, {k} signature{}", if k > 1 { "s" } else { "" }));
        println!("{:<44} {submit:>9}", format!("submit of the delivery job ({k}-of-{n}, locked)"));
    }
    Ok(())
}

/// Gas of `postJobWithDelivery`, `attestDelivery` with `k` receipts, and the locked
/// job's `submit`, for `k` of `n` attestors: the steps of `settle_in_evm` on a fresh
/// chain (so the same escrow address and job id), with delivery.
fn delivery_gas(
    vk: &ShapeKey,
    job: &Job,
    nonce: &Bytes32,
    bundle: &ProofBundle,
    n: u8,
    k: u8,
) -> anyhow::Result<(u64, u64, u64)> {
    let mut chain = Chain::new();
    let provider = EvmAddress::from(bundle.statement.provider.0);
    for a in [DEMO_OWNER, DEMO_CLIENT, provider] {
        chain.fund(a, U256::from(DEMO_FUNDS));
    }
    let (escrow, _) = deploy_escrow(&mut chain, DEMO_OWNER, DEMO_OWNER)?;
    let (verifier, _) = deploy_verifier(&mut chain, DEMO_OWNER, vk)?;
    let reg = IJobEscrow::registerVerifierCall { shape: job_shape_id(job), verifier }.abi_encode();
    chain.call(DEMO_OWNER, escrow, reg, U256::ZERO)?.ok("registerVerifier")?;
    let mut keys: Vec<(SigningKey, EvmAddress)> = (1..=n)
        .map(|i| {
            let key = SigningKey::from_bytes(&[i; 32].into()).expect("a valid key");
            let a = EvmAddress::from(attestor_address(&key));
            (key, a)
        })
        .collect();
    keys.sort_by_key(|(_, a)| *a);
    let set: Vec<EvmAddress> = keys.iter().map(|(_, a)| *a).collect();
    let stake = PRICE / 10;
    let terms = PostTerms { deadline: chain.time() + 24 * 3600, lock_window: 3600, lock_stake: stake };
    let (id, post) = post_job_with_delivery(&mut chain, escrow, DEMO_CLIENT, job, nonce, &terms, PRICE, &set, k)?;
    let lock = IJobEscrow::lockCall { jobId: fr_u256(&id.0) }.abi_encode();
    chain.call(provider, escrow, lock, U256::from(stake))?.ok("lock")?;
    let cm_c = cm_c_word(bundle);
    let digest = delivery_digest(chain.chain_id(), escrow.into_array(), &id, cm_c);
    let sigs: Vec<[u8; 65]> = keys[..k as usize].iter().map(|(key, _)| sign_delivery(key, &digest)).collect();
    let attest = attest_delivery_calldata(&id, cm_c, &set, k, &sigs);
    let attest = chain.call(provider, escrow, attest, U256::ZERO)?.ok("attestDelivery")?;
    let submit = chain.call(provider, escrow, settle_calldata(bundle), U256::ZERO)?.ok("submit")?;
    Ok((post.gas_used, attest.gas_used, submit.gas_used))
}
