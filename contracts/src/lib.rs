//! On-chain settlement for veriflop: a generator of Solidity Groth16 verifiers
//! for our verifying keys, the `JobEscrow` contract, and an in-process EVM
//! (revm) to deploy and drive them.
//!
//! - [`solidity_verifier`]: stand-alone Solidity verifier for one key (the
//!   committed circuit's, or the Poseidon / naive circuits' plain Groth16 one);
//! - [`chain_venue`], [`post_job`], [`post_job_calldata`]: a JobEscrow
//!   deployment's venue (job ids are derived from it, the client and a nonce:
//!   `veriflop_circuits::Venue`), and posting a job with a nonce;
//! - [`settle_calldata`]: the `JobEscrow.submit` (committed),
//!   `JobEscrow.submitPoseidon` or `JobEscrow.submitHalo2` transaction data for a bundle;
//! - [`inference`]: inference jobs: a model's `InferenceVerifier`, the
//!   `verifyProof` and `JobEscrow.submitInference` calldata of an inference
//!   proof, the registry key of a (shape, model);
//! - [`delivery`]: opt-in delivery receipts (EIP-712, k of n attestors) that a
//!   job posted with [`post_job_with_delivery`] needs before it pays;
//! - [`settle_in_evm`]: a complete settlement on a fresh in-process chain, with
//!   gas (for a job whose id is [`demo_job_id`] of its nonce);
//! - [`gas_report`]: the gas figures as a table.
//!
//! Solidity sources live in `contracts/src/`, compiled artifacts (pinned solc,
//! `contracts/build.sh`) in `contracts/out/`, embedded in this crate. See
//! `docs/CONTRACTS.md`.

pub mod abi;
pub mod artifacts;
pub mod delivery;
pub mod evm;
pub mod inference;
pub mod settle;
pub mod solc;
pub mod solidity;

pub use abi::JobStatus;
pub use delivery::{delivery_digest, delivery_domain_separator, recover_attestor, sign_delivery};
pub use evm::{Chain, Receipt, TxStatus};
pub use settle::{
    attest_delivery_calldata, chain_venue, demo_job_id, demo_venue, job_shape_id, post_job, post_job_calldata,
    post_job_with_delivery, post_job_with_delivery_calldata, settle_calldata, settle_function, settle_halo2_in_evm,
    settle_in_evm, settle_inference_in_evm, shape_id, verify_calldata, Balances, PostTerms, SettlementGas,
    SettlementReport,
};
pub use solidity::{generic_committed_verifier_source, generic_verifier_source, solidity_verifier, vk_words};

/// Errors of deployment and settlement.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Inconsistent arguments (caught before touching the chain).
    #[error("{0}")]
    Input(String),
    /// A transaction reverted or halted; `reason` is the decoded custom error.
    #[error("{what} reverted: {reason} ({gas_used} gas)")]
    Reverted { what: String, reason: String, gas_used: u64 },
    /// The EVM rejected a transaction (not a revert) or returned something unexpected.
    #[error("EVM: {0}")]
    Evm(String),
    /// Running the pinned Solidity compiler failed.
    #[error("solc: {0}")]
    Solc(String),
}

/// Gas targets `(verification, whole submit transaction)` of a circuit's
/// settlement: on-chain verification ≤ 300k gas for the committed circuit
/// (issue 5), 250k for the Poseidon circuits' plain Groth16 check.
pub fn gas_targets(kind: veriflop_circuits::CircuitKind) -> (u64, u64) {
    match kind {
        veriflop_circuits::CircuitKind::Committed => (300_000, 350_000),
        _ => (250_000, 320_000),
    }
}

/// Gas targets `(verification, whole submitInference transaction)` of an
/// inference job's settlement (`InferenceVerifier`: one 7-pair pairing, 6
/// `ecMul`; constant whatever the model).
pub const INFERENCE_GAS_TARGETS: (u64, u64) = (380_000, 420_000);

/// Settles `bundle` in a fresh EVM ([`settle_in_evm`]: `job.job_id` must be
/// [`demo_job_id`]`(nonce)`) and formats the gas figures as a table (what
/// `cargo run -p veriflop-contracts --example gas-report` prints).
pub fn gas_report(
    vk: &veriflop_verifier::ShapeKey,
    job: &veriflop_circuits::Job,
    nonce: &veriflop_circuits::Bytes32,
    bundle: &veriflop_verifier::ProofBundle,
    price_wei: u128,
) -> Result<String, Error> {
    let r = settle_in_evm(vk, job, nonce, bundle, price_wei)?;
    let g = &r.gas;
    let what = match vk.header.kind {
        veriflop_circuits::CircuitKind::Committed => "commitment points, 5-pair pairing",
        _ => "5 public inputs, 4-pair pairing",
    };
    let mut s = format!("on-chain gas, {} {} key, {what} (revm, Osaka rules)\n", vk.header.kind, vk.header.shape);
    s += &format!("{:<44} {:>9} {:>9}\n", "step", "gas", "target");
    let (t_verify, t_submit) = gas_targets(vk.header.kind);
    let (t_verify, t_submit) = (t_verify.to_string(), t_submit.to_string());
    for (name, gas, target) in [
        ("verifier call inside submit (verifier frame)", g.verifier_call, t_verify.as_str()),
        ("verifyProof as its own transaction", g.verify_tx, t_verify.as_str()),
        ("submit: whole settlement transaction", g.submit_tx, t_submit.as_str()),
        ("postJob (client)", g.post_job, ""),
        ("lock (provider)", g.lock, ""),
        ("registerVerifier (owner)", g.register_verifier, ""),
        ("deploy verifier", g.deploy_verifier, ""),
        ("deploy JobEscrow", g.deploy_escrow, ""),
    ] {
        s += &format!("{name:<44} {gas:>9} {target:>9}\n");
    }
    Ok(s)
}
