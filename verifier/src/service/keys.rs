//! Verifying keys for the shapes this service accepts, loaded from a key
//! directory in the prover's KeyStore layout:
//! - Groth16: `<circuit>-<MxKxN>-<dtype>.vk`, one per circuit and shape. Keys
//!   found at start-up are loaded; a key added later is picked up the first time
//!   a job asks for its shape.
//! - halo2: the universal SRS `halo2.srs` (checked at start-up); the verifying
//!   key of a shape is derived from it the first time a job asks for the shape
//!   (seconds, so callers on an async runtime run [`KeyRegistry::get`] on the
//!   blocking pool) and kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use veriflop_circuits::{CircuitKind, ProofSystem, Shape};
use veriflop_halo2::Srs;

use crate::keys::{ShapeKey, SRS_FILE};
use crate::verify::Verifier;

/// File name of a verifying key in a key directory (same as the prover's KeyStore).
pub fn vk_file_name(kind: CircuitKind, shape: &Shape) -> String {
    format!("{}.vk", crate::keys::key_file_stem(kind, shape))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error("no verifying key for {kind} {shape} (expected {path})")]
    Missing { kind: CircuitKind, shape: Shape, path: PathBuf },
    #[error("{system} cannot prove {kind} jobs (it proves poseidon ones)")]
    Unsupported { system: ProofSystem, kind: CircuitKind },
    #[error("no halo2 SRS (expected {path})")]
    NoSrs { path: PathBuf },
    #[error("shape {shape} needs a halo2 SRS of 2^{need} points; this verifier's has 2^{have}")]
    SrsTooSmall { shape: Shape, need: u32, have: u32 },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
}

type KeyId = (ProofSystem, CircuitKind, Shape);

pub struct KeyRegistry {
    dir: PathBuf,
    keys: RwLock<HashMap<KeyId, Arc<Verifier>>>,
    /// The halo2 SRS when the directory has one.
    srs: Option<Srs>,
}

fn read_key(path: &Path) -> Result<ShapeKey, KeyLoadError> {
    let invalid = |msg: String| KeyLoadError::Invalid { path: path.to_path_buf(), msg };
    let meta = std::fs::metadata(path).map_err(|e| invalid(e.to_string()))?;
    if meta.len() > crate::keys::MAX_VK_BYTES as u64 {
        return Err(invalid(format!("{} bytes is too large for a verifying key", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    ShapeKey::from_bytes(&bytes).map_err(|e| invalid(e.to_string()))
}

impl KeyRegistry {
    /// Loads every `*.vk` in `dir` and its halo2 SRS if present (a missing
    /// directory is an error; an empty one is not).
    pub fn load(dir: impl Into<PathBuf>) -> Result<Self, KeyLoadError> {
        let dir = dir.into();
        let srs_path = dir.join(SRS_FILE);
        let srs = if srs_path.is_file() {
            let srs = Srs::read_file(&srs_path)
                .map_err(|e| KeyLoadError::Invalid { path: srs_path.clone(), msg: e.to_string() })?;
            tracing::info!("loaded halo2 SRS of 2^{} points ({})", srs.k(), srs_path.display());
            Some(srs)
        } else {
            None
        };
        let reg = KeyRegistry { dir: dir.clone(), keys: RwLock::new(HashMap::new()), srs };
        let entries =
            std::fs::read_dir(&dir).map_err(|e| KeyLoadError::Invalid { path: dir.clone(), msg: e.to_string() })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("vk") {
                continue;
            }
            let key = read_key(&path)?;
            let h = key.header;
            let expected = vk_file_name(h.kind, &h.shape);
            if path.file_name().and_then(|n| n.to_str()) != Some(expected.as_str()) {
                return Err(KeyLoadError::Invalid {
                    path,
                    msg: format!("holds the key for {} {}; it should be named {expected}", h.kind, h.shape),
                });
            }
            tracing::info!("loaded verifying key {} {} ({})", h.kind, h.shape, key.fingerprint());
            reg.insert(key);
        }
        Ok(reg)
    }

    pub fn insert(&self, key: ShapeKey) -> Arc<Verifier> {
        self.insert_verifier(Verifier::new(key))
    }

    fn insert_verifier(&self, v: Verifier) -> Arc<Verifier> {
        let v = Arc::new(v);
        let id = (v.system(), v.circuit(), v.shape());
        self.keys.write().unwrap_or_else(|p| p.into_inner()).insert(id, v.clone());
        v
    }

    /// The verifier if it is loaded already (never touches the disk).
    pub fn cached(&self, system: ProofSystem, kind: CircuitKind, shape: &Shape) -> Option<Arc<Verifier>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).get(&(system, kind, *shape)).cloned()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The verifier for a proof system, circuit and shape: loads a Groth16 key
    /// file that appeared since start-up, derives a halo2 key from the SRS.
    pub fn get(&self, system: ProofSystem, kind: CircuitKind, shape: &Shape) -> Result<Arc<Verifier>, KeyLoadError> {
        if let Some(v) = self.cached(system, kind, shape) {
            return Ok(v);
        }
        if !system.supports(kind) {
            return Err(KeyLoadError::Unsupported { system, kind });
        }
        if system == ProofSystem::Halo2KzgBn254 {
            let path = self.dir.join(SRS_FILE);
            let srs = self.srs.as_ref().ok_or(KeyLoadError::NoSrs { path: path.clone() })?;
            let need = veriflop_halo2::circuit_k(shape);
            if need > srs.k() {
                return Err(KeyLoadError::SrsTooSmall { shape: *shape, need, have: srs.k() });
            }
            let vk = veriflop_halo2::keygen_vk(shape, srs)
                .map_err(|e| KeyLoadError::Invalid { path, msg: format!("halo2 key for {shape}: {e}") })?;
            tracing::info!("derived halo2 verifying key {shape} ({})", vk.fingerprint());
            return Ok(self.insert_verifier(Verifier::halo2(vk)));
        }
        let path = self.dir.join(vk_file_name(kind, shape));
        if !path.is_file() {
            return Err(KeyLoadError::Missing { kind, shape: *shape, path });
        }
        let key = read_key(&path)?;
        if key.header.kind != kind || key.header.shape != *shape {
            return Err(KeyLoadError::Invalid {
                path,
                msg: format!("holds the key for {} {}", key.header.kind, key.header.shape),
            });
        }
        Ok(self.insert(key))
    }

    /// The halo2 SRS's size (log2 of its points), when the directory has one.
    pub fn srs_k(&self) -> Option<u32> {
        self.srs.as_ref().map(Srs::k)
    }

    /// `(system, circuit, shape, fingerprint)` of every loaded key.
    pub fn list(&self) -> Vec<(ProofSystem, CircuitKind, Shape, String)> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = keys.iter().map(|((y, k, s), v)| (*y, *k, *s, v.fingerprint())).collect();
        v.sort_by_key(|(y, k, s, _)| (y.code(), k.code(), s.id()));
        v
    }
}
