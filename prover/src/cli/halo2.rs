//! halo2 plumbing shared by the commands: the universal SRS in the key store
//! (generated for development when missing, like Groth16 keys) and the shape
//! keys derived from it, kept in the key cache next to it (derived once per
//! shape and SRS; see `veriflop_halo2::keycache`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use veriflop_circuits::Shape;
use veriflop_halo2::{KeyCache, Srs, SrsFingerprint};
use veriflop_prover::KeyStore;

use super::common::{secs, CliError, Ctx};

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

/// How a command got a shape's key, for its output (human and `--json`).
#[derive(Clone, Debug, Serialize)]
pub struct KeyReport {
    /// "loaded" (a checked key file) or "derived" (from the SRS, then cached).
    pub source: &'static str,
    /// Time to load the key file, or to read the SRS, derive the key and write it.
    pub seconds: f64,
    /// The key file.
    pub path: PathBuf,
    /// A cached key file that was refused (and replaced), and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl KeyReport {
    /// "key loaded from FILE in 3.1 ms" / "key derived from the SRS in 12.3 s (cached as FILE)".
    pub fn describe(&self, what: &str) -> String {
        let t = secs(Duration::from_secs_f64(self.seconds));
        match self.source {
            "loaded" => format!("{what} loaded from {} in {t}", self.path.display()),
            _ => format!("{what} derived from the SRS in {t} (cached as {})", self.path.display()),
        }
    }
}

fn report<K>(f: &veriflop_halo2::keycache::Fetched<K>, ctx: &Ctx) -> KeyReport {
    if let Some(e) = &f.refused {
        ctx.note(format!("refused the cached halo2 key: {e}; derived it again"));
    }
    if let Some(e) = &f.save_error {
        ctx.note(format!("warning: could not cache the halo2 key: {e}"));
    }
    KeyReport {
        source: f.source.as_str(),
        seconds: f.took.as_secs_f64(),
        path: f.path.clone(),
        refused: f.refused.as_ref().map(|e| e.msg.clone()),
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

/// Generates (and saves) a development SRS for `shape` when the store has
/// none; returns the SRS so made and the time it took.
pub fn ensure_srs(store: &KeyStore, shape: &Shape, ctx: &Ctx) -> Result<Option<(Srs, Duration)>, CliError> {
    if store.srs_path().is_file() {
        return Ok(None);
    }
    ctx.note(format!(
        "no halo2 SRS in {}: generating a development one (production: setup --proof-system halo2 --ptau FILE)",
        store.dir.display()
    ));
    generate_srs(store, veriflop_halo2::circuit_k(shape), ctx).map(Some)
}

/// The fingerprint of the store's SRS, from three of its points (no full load).
fn srs_fingerprint(store: &KeyStore) -> Result<SrsFingerprint, CliError> {
    let path = store.srs_path();
    if !path.is_file() {
        return Err(CliError::new(
            "bad_key",
            format!("{}: no halo2 SRS: run `veriflop-prover setup --proof-system halo2`", path.display()),
        ));
    }
    Srs::read_fingerprint(&path)
        .map(|(_, fp)| fp)
        .map_err(|e| CliError::new("bad_key", format!("{}: {e}", path.display())))
}

/// The store's SRS, fully checked, large enough for `shape`.
fn load_srs_for(store: &KeyStore, shape: &Shape, ctx: &Ctx) -> Result<Srs, CliError> {
    let need = veriflop_halo2::circuit_k(shape);
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
    Ok(srs)
}

/// The halo2 proving key for `shape`: from the key cache, or derived from the
/// store's SRS (generated first, for development, when there is none) and
/// cached. Also returns the SRS generation time when one was generated.
pub fn prover_key(
    store: &KeyStore,
    shape: &Shape,
    ctx: &Ctx,
) -> Result<(veriflop_halo2::ProverKey, KeyReport, Option<Duration>), CliError> {
    let generated = ensure_srs(store, shape, ctx)?;
    let setup = generated.as_ref().map(|(_, t)| *t);
    let fp = match &generated {
        Some((srs, _)) => srs.fingerprint(),
        None => srs_fingerprint(store)?,
    };
    let cache = KeyCache::new(&store.dir);
    let pb = ctx.spinner(format!("loading the halo2 keys for {shape}"));
    let fetched = cache.prover_key(shape, &fp, || -> Result<_, CliError> {
        pb.finish_and_clear();
        ctx.note(format!(
            "no cached halo2 keys for {shape} and this SRS: deriving them (once per shape and SRS) into {}",
            cache.pk_path(shape, &fp).display()
        ));
        let srs = match generated {
            Some((srs, _)) => srs,
            None => load_srs_for(store, shape, ctx)?,
        };
        let pb = ctx.spinner(format!("deriving the halo2 keys for {shape} from the SRS"));
        let keys = veriflop_halo2::keygen(shape, &srs).map_err(|e| CliError::new("bad_key", e.to_string()))?;
        pb.finish_and_clear();
        Ok(keys)
    })?;
    pb.finish_and_clear();
    let r = report(&fetched, ctx);
    Ok((fetched.key, r, setup))
}

/// The halo2 verifying key for `shape`: from the key cache, or derived from the
/// store's SRS and cached.
pub fn verifier_key(
    store: &KeyStore,
    shape: &Shape,
    ctx: &Ctx,
) -> Result<(veriflop_halo2::VerifierKey, KeyReport), CliError> {
    let fp = srs_fingerprint(store)?;
    let cache = KeyCache::new(&store.dir);
    let pb = ctx.spinner(format!("loading the halo2 verifying key for {shape}"));
    let fetched = cache.verifier_key(shape, &fp, || -> Result<_, CliError> {
        pb.finish_and_clear();
        ctx.note(format!(
            "no cached halo2 verifying key for {shape} and this SRS: deriving it (once per shape and SRS) into {}",
            cache.vk_path(shape, &fp).display()
        ));
        let srs = load_srs_for(store, shape, ctx)?;
        let pb = ctx.spinner(format!("deriving the halo2 verifying key for {shape} from the SRS"));
        let vk = veriflop_halo2::keygen_vk(shape, &srs).map_err(|e| CliError::new("bad_key", e.to_string()))?;
        pb.finish_and_clear();
        Ok(vk)
    })?;
    pb.finish_and_clear();
    let r = report(&fetched, ctx);
    Ok((fetched.key, r))
}
