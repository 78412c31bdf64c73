//! On-chain settlement for veriflop: a generator of Solidity Groth16 verifiers
//! for our verifying keys, the `JobEscrow` contract, and an in-process EVM
//! (revm) to deploy and drive them.
//!
//! - [`solidity_verifier`]: stand-alone Solidity verifier for one key;
//! - [`settle_calldata`]: the `JobEscrow.submit` transaction data for a bundle;
//! - [`settle_in_evm`]: a complete settlement on a fresh in-process chain, with gas;
//! - [`gas_report`]: the gas figures as a table.
//!
//! Solidity sources live in `contracts/src/`, compiled artifacts (pinned solc,
//! `contracts/build.sh`) in `contracts/out/`, embedded in this crate. See
//! `docs/CONTRACTS.md`.

pub mod abi;
pub mod artifacts;
pub mod evm;
pub mod settle;
pub mod solc;
pub mod solidity;

pub use abi::JobStatus;
pub use evm::{Chain, Receipt, TxStatus};
pub use settle::{
    settle_calldata, settle_in_evm, shape_id, verify_calldata, Balances, SettlementGas, SettlementReport,
};
pub use solidity::{generic_verifier_source, solidity_verifier, vk_words};

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

/// Settles `bundle` in a fresh EVM and formats the gas figures as a table
/// (what `cargo run -p veriflop-contracts --example gas-report` prints).
pub fn gas_report(
    vk: &veriflop_verifier::ShapeKey,
    job: &veriflop_circuits::Job,
    bundle: &veriflop_verifier::ProofBundle,
    price_wei: u128,
) -> Result<String, Error> {
    let r = settle_in_evm(vk, job, bundle, price_wei)?;
    let g = &r.gas;
    let mut s =
        format!("on-chain gas, {} {} key, 5 public inputs (revm, Osaka rules)\n", vk.header.kind, vk.header.shape);
    s += &format!("{:<44} {:>9} {:>9}\n", "step", "gas", "target");
    for (name, gas, target) in [
        ("verifier call inside submit (verifier frame)", g.verifier_call, "250000"),
        ("verifyProof as its own transaction", g.verify_tx, "250000"),
        ("submit: whole settlement transaction", g.submit_tx, "320000"),
        ("postJob (client)", g.post_job, ""),
        ("lock (provider)", g.lock, ""),
        ("registerVerifier (owner)", g.register_verifier, ""),
        ("deploy Groth16Verifier", g.deploy_verifier, ""),
        ("deploy JobEscrow", g.deploy_escrow, ""),
    ] {
        s += &format!("{name:<44} {gas:>9} {target:>9}\n");
    }
    Ok(s)
}
