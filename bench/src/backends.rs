//! The backend axis of the suite.
//!
//! Every case and every calibration names a backend id; the driver runs each
//! case once per requested backend and the results record which backends this
//! binary knows and which were available. Reports, plots and `check` group
//! and normalise by backend id.

use veriflop_prover::{Backend, CpuBackend, IcicleBackend, IcicleConfig};

/// One backend this binary can benchmark.
pub struct BackendDesc {
    /// Stable id used in case ids and results (`cpu`, `icicle`).
    pub id: &'static str,
    /// A ready backend, or why it cannot run here.
    pub open: fn() -> Result<Box<dyn Backend>, String>,
}

/// ICICLE as the prover CLI finds it: `$VERIFLOP_ICICLE_DIR` (else /opt/icicle)
/// and `$VERIFLOP_ICICLE_DEVICE` (else CUDA:0).
fn open_icicle() -> Result<Box<dyn Backend>, String> {
    let backend = IcicleBackend::load(&IcicleConfig::from_env()?).map_err(|e| e.to_string())?;
    Ok(Box::new(backend))
}

/// Every backend compiled into this binary, in report order.
pub fn registry() -> Vec<BackendDesc> {
    vec![
        BackendDesc { id: "cpu", open: || Ok(Box::new(CpuBackend::new())) },
        BackendDesc { id: "icicle", open: open_icicle },
    ]
}

pub fn find(id: &str) -> Option<BackendDesc> {
    registry().into_iter().find(|b| b.id == id)
}

/// A ready backend for `id`, or why it cannot run here.
pub fn make(id: &str) -> Result<Box<dyn Backend>, String> {
    let known = registry().iter().map(|b| b.id).collect::<Vec<_>>().join(", ");
    let desc = find(id).ok_or_else(|| format!("unknown backend {id:?} (this binary has: {known})"))?;
    (desc.open)().map_err(|why| format!("backend {id} is not available here: {why}"))
}
