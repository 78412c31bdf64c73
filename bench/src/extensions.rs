//! Figures that come from other veriflop crates.
//!
//! **On-chain gas** (`gas` feature, on by default): after a case's last proof,
//! [`settlement_gas`] settles it with `veriflop_contracts::settle_in_evm` in a
//! fresh in-process EVM (revm) and records the gas of verification and of the
//! whole escrow settlement. Gas is deterministic up to calldata zero bytes, so
//! `check` compares it without calibration, with a tight tolerance.
//!
//! **Verifier-service throughput**: reserved. [`service_throughput`] is where a
//! run measures verified proofs per second through the HTTP verifier service. It
//! needs a library entry point in veriflop-verifier (today the service benchmark
//! is the bench target `verifier/benches/http_throughput.rs`, which this crate
//! cannot call). When veriflop-verifier exposes, e.g.,
//! `veriflop_verifier::bench::service_throughput(shape, jobs, concurrency) ->
//! Result<Report, _>`, fill [`service_throughput`] in from it; the results field
//! `extensions.service` and the report section are already in place.

use veriflop_circuits::Job;
use veriflop_verifier::{ProofBundle, ShapeKey};

use crate::results::{ExtensionStatus, Gas, ServiceThroughput};

/// Price used for the settlement (wei); gas does not depend on it.
pub const SETTLEMENT_PRICE_WEI: u128 = 1_000_000_000_000_000_000;

/// True when this binary was built with on-chain gas measurement.
pub fn gas_available() -> bool {
    cfg!(feature = "gas")
}

pub fn gas_status(enabled: bool) -> ExtensionStatus {
    match (gas_available(), enabled) {
        (true, true) => ExtensionStatus {
            status: "measured".into(),
            detail: "veriflop_contracts::settle_in_evm (in-process revm) on each case's last proof".into(),
        },
        (true, false) => ExtensionStatus { status: "skipped".into(), detail: "disabled with --no-gas".into() },
        (false, _) => ExtensionStatus {
            status: "unavailable".into(),
            detail: "built without the `gas` feature (veriflop-contracts)".into(),
        },
    }
}

/// Settles `bundle` in a fresh in-process EVM and returns the gas figures.
#[cfg(feature = "gas")]
pub fn settlement_gas(vk: &ShapeKey, job: &Job, bundle: &ProofBundle) -> Result<Gas, String> {
    let r = veriflop_contracts::settle_in_evm(vk, job, bundle, SETTLEMENT_PRICE_WEI).map_err(|e| e.to_string())?;
    if r.status_after != veriflop_contracts::JobStatus::Paid {
        return Err(format!("settlement ended in status {:?}, not Paid", r.status_after));
    }
    let g = r.gas;
    Ok(Gas {
        verify_tx: g.verify_tx,
        verifier_call: g.verifier_call,
        submit_tx: g.submit_tx,
        post_job: g.post_job,
        lock: g.lock,
        deploy_verifier: g.deploy_verifier,
        deploy_escrow: g.deploy_escrow,
        register_verifier: g.register_verifier,
    })
}

#[cfg(not(feature = "gas"))]
pub fn settlement_gas(_vk: &ShapeKey, _job: &Job, _bundle: &ProofBundle) -> Result<Gas, String> {
    Err("built without the `gas` feature".into())
}

/// Verifier-service throughput: not measurable yet (see the module docs).
/// Returns the status to record and, once wired, the figures.
pub fn service_throughput() -> (ExtensionStatus, Option<ServiceThroughput>) {
    (
        ExtensionStatus {
            status: "unavailable".into(),
            detail: "veriflop-verifier exposes no service-benchmark API yet \
                     (its HTTP benchmark is the bench target verifier/benches/http_throughput.rs)"
                .into(),
        },
        None,
    )
}
