//! The backend axis of the suite.
//!
//! Every case and every calibration names a backend id; the driver runs each
//! case once per requested backend and the results record which backends this
//! binary knows and which were available. Adding a GPU backend (e.g. an
//! `IcicleBackend` in veriflop-prover) is one more entry in [`registry`]:
//! an id, a probe that says whether it can run here, and a constructor. Reports,
//! plots and `check` already group and normalise by backend id.

use veriflop_prover::{Backend, CpuBackend};

/// One backend this binary can benchmark.
pub struct BackendDesc {
    /// Stable id used in case ids and results (`cpu`, later e.g. `icicle-cuda`).
    pub id: &'static str,
    /// Ok when the backend can run on this machine, else why not.
    pub probe: fn() -> Result<(), String>,
    pub make: fn() -> Box<dyn Backend>,
}

/// Every backend compiled into this binary, in report order.
pub fn registry() -> Vec<BackendDesc> {
    vec![BackendDesc { id: "cpu", probe: || Ok(()), make: || Box::new(CpuBackend::new()) }]
}

pub fn find(id: &str) -> Option<BackendDesc> {
    registry().into_iter().find(|b| b.id == id)
}

/// A ready backend for `id`, or why it cannot run here.
pub fn make(id: &str) -> Result<Box<dyn Backend>, String> {
    let known = registry().iter().map(|b| b.id).collect::<Vec<_>>().join(", ");
    let desc = find(id).ok_or_else(|| format!("unknown backend {id:?} (this binary has: {known})"))?;
    (desc.probe)().map_err(|why| format!("backend {id} is not available here: {why}"))?;
    Ok((desc.make)())
}
