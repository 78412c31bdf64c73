//! Figures that come from other veriflop crates.
//!
//! **On-chain gas** (`gas` feature, on by default): after a case's last proof,
//! [`settlement_gas`] settles it with `veriflop_contracts::settle_in_evm` in a
//! fresh in-process EVM (revm) and records the gas of verification and of the
//! whole escrow settlement. Gas is deterministic up to calldata zero bytes, so
//! `check` compares it without calibration, with a tight tolerance.
//!
//! **Verifier-service throughput**: [`crate::service`] measures verified
//! proofs per second natively and through the HTTP verifier service
//! (`veriflop_service::client::spawn_local`) in a child process;
//! [`service_status`] says what the run did (`extensions.service_throughput`),
//! the figures go to `extensions.service`.

use veriflop_circuits::{Bytes32, Job, JobId};
use veriflop_verifier::{ProofBundle, ShapeKey};

use crate::results::{ExtensionStatus, Gas};

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

/// A case's job nonce (from its seed) and job id. JobEscrow derives job ids from
/// its venue, the client and the nonce, so with on-chain gas the id is the one
/// `settle_in_evm`'s escrow gives the nonce (`veriflop_contracts::demo_job_id`);
/// without, the id the benchmark always used.
pub fn case_job_id(seed: u64) -> (Bytes32, JobId) {
    let mut nonce = [0u8; 32];
    nonce[24..].copy_from_slice(&seed.wrapping_add(1000).to_be_bytes());
    let nonce = Bytes32(nonce);
    #[cfg(feature = "gas")]
    let id = veriflop_contracts::demo_job_id(&nonce);
    #[cfg(not(feature = "gas"))]
    let id = JobId(ark_bn254::Fr::from(seed.wrapping_add(1000)));
    (nonce, id)
}

/// Settles `bundle` in a fresh in-process EVM and returns the gas figures
/// (`job.job_id` must be [`case_job_id`]'s for `nonce`).
#[cfg(feature = "gas")]
pub fn settlement_gas(vk: &ShapeKey, job: &Job, nonce: &Bytes32, bundle: &ProofBundle) -> Result<Gas, String> {
    let r =
        veriflop_contracts::settle_in_evm(vk, job, nonce, bundle, SETTLEMENT_PRICE_WEI).map_err(|e| e.to_string())?;
    gas_of(r)
}

#[cfg(feature = "gas")]
fn gas_of(r: veriflop_contracts::SettlementReport) -> Result<Gas, String> {
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

/// Settles a halo2 `bundle` in a fresh in-process EVM (the shape's generated
/// verifier, compiled with the pinned solc) and returns the gas figures.
#[cfg(feature = "gas")]
pub fn halo2_settlement_gas(
    vk: &veriflop_halo2::VerifierKey,
    job: &Job,
    nonce: &Bytes32,
    bundle: &ProofBundle,
) -> Result<Gas, String> {
    let r = veriflop_contracts::settle_halo2_in_evm(vk, job, nonce, bundle, SETTLEMENT_PRICE_WEI)
        .map_err(|e| e.to_string())?;
    gas_of(r)
}

#[cfg(not(feature = "gas"))]
pub fn halo2_settlement_gas(
    _vk: &veriflop_halo2::VerifierKey,
    _job: &Job,
    _nonce: &Bytes32,
    _bundle: &ProofBundle,
) -> Result<Gas, String> {
    Err("built without the `gas` feature".into())
}

#[cfg(not(feature = "gas"))]
pub fn settlement_gas(_vk: &ShapeKey, _job: &Job, _nonce: &Bytes32, _bundle: &ProofBundle) -> Result<Gas, String> {
    Err("built without the `gas` feature".into())
}

/// True when `spec` needs the Solidity compiler: a halo2 case measuring gas
/// compiles its shape's generated verifier (Groth16 verifiers are precompiled).
pub fn needs_solc(spec: &crate::results::CaseSpec) -> bool {
    spec.gas && spec.system == veriflop_circuits::ProofSystem::Halo2KzgBn254
}

/// The pinned Solidity compiler as found (whatever the current directory), or
/// why none is usable and how to install it.
#[cfg(feature = "gas")]
pub fn solc() -> Result<String, String> {
    veriflop_contracts::solc::locate().map(|s| s.to_string()).map_err(|e| e.to_string())
}

#[cfg(not(feature = "gas"))]
pub fn solc() -> Result<String, String> {
    veriflop_halo2::solc::locate().map(|s| s.to_string()).map_err(|e| e.to_string())
}

/// Why the run has (or has no) verifier-service figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceOutcome {
    Measured,
    /// `--no-service`.
    Disabled,
    /// The suite has no service measurement, or `--filter` did not select it.
    NotSelected(String),
    Failed(String),
}

pub fn service_status(outcome: &ServiceOutcome) -> ExtensionStatus {
    let (status, detail) = match outcome {
        ServiceOutcome::Measured => (
            "measured",
            "bench/src/service.rs: native Verifier::verify_for_job (1 thread, all cores) and HTTP submissions \
             through veriflop_service::client::spawn_local with concurrent connections"
                .to_string(),
        ),
        ServiceOutcome::Disabled => ("skipped", "disabled with --no-service".to_string()),
        ServiceOutcome::NotSelected(why) => ("skipped", why.clone()),
        ServiceOutcome::Failed(e) => ("failed", e.clone()),
    };
    ExtensionStatus { status: status.into(), detail }
}
