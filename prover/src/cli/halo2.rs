//! halo2 plumbing shared by the commands: the universal SRS in the key store
//! (generated for development when missing, like Groth16 keys) and verifiers.

use std::time::{Duration, Instant};

use veriflop_circuits::Shape;
use veriflop_halo2::Srs;
use veriflop_prover::KeyStore;
use veriflop_verifier::Verifier;

use super::common::{CliError, Ctx};

impl From<veriflop_prover::halo2::Halo2Error> for CliError {
    fn from(e: veriflop_prover::halo2::Halo2Error) -> Self {
        use veriflop_halo2::ProveError;
        use veriflop_prover::halo2::Halo2Error::*;
        match e {
            Prove(ProveError::WrongResult(_)) | Prove(ProveError::Input(_)) | Input(_) => {
                CliError { exit: super::common::EXIT_UNSATISFIED, code: "unsatisfied", message: e.to_string() }
            }
            e => CliError::new("prove_failed", e.to_string()),
        }
    }
}

/// A development SRS of 2^k points with τ from a fresh 32-byte OS seed, written to the key store.
pub fn generate_srs(store: &KeyStore, k: u32, ctx: &Ctx) -> Result<(Srs, Duration), CliError> {
    let pb = ctx.spinner(format!("generating a development halo2 SRS of 2^{k} points"));
    let t = Instant::now();
    let srs = Srs::setup_dev_random(k).map_err(|e| CliError::new("bad_input", e.to_string()))?;
    store.save_srs(&srs)?;
    pb.finish_and_clear();
    Ok((srs, t.elapsed()))
}

/// The key store's SRS, checked to be large enough for `shape`; a development
/// one is generated (and saved) when the store has none.
pub fn load_or_generate_srs(store: &KeyStore, shape: &Shape, ctx: &Ctx) -> Result<(Srs, Option<Duration>), CliError> {
    let need = veriflop_halo2::circuit_k(shape);
    if !store.srs_path().is_file() {
        ctx.note(format!(
            "no halo2 SRS in {}: generating a development one (production: setup --proof-system halo2 --ptau FILE)",
            store.dir.display()
        ));
        let (srs, t) = generate_srs(store, need, ctx)?;
        return Ok((srs, Some(t)));
    }
    let pb = ctx.spinner("loading the halo2 SRS");
    let srs = store.load_srs()?;
    pb.finish_and_clear();
    if srs.k() < need {
        return Err(CliError::new(
            "bad_key",
            format!(
                "{}: the SRS has 2^{} points, shape {shape} needs 2^{need}; run setup --proof-system halo2 --k {need} --force (or --ptau with a large enough file)",
                store.srs_path().display(),
                srs.k()
            ),
        ));
    }
    Ok((srs, None))
}

/// The halo2 verifying key for `shape`, derived from the key store's SRS.
pub fn verifier_key(store: &KeyStore, shape: &Shape) -> Result<veriflop_halo2::VerifierKey, CliError> {
    let srs = store.load_srs()?;
    veriflop_halo2::keygen_vk(shape, &srs).map_err(|e| CliError::new("bad_key", e.to_string()))
}

/// The halo2 verifier for `shape` (see [`verifier_key`]).
pub fn verifier(store: &KeyStore, shape: &Shape) -> Result<Verifier, CliError> {
    Ok(Verifier::halo2(verifier_key(store, shape)?))
}
