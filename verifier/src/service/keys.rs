//! Verifying keys for the shapes this service accepts, loaded from a key
//! directory in the prover's KeyStore layout: `<circuit>-<MxKxN>-<dtype>.vk`.
//! Keys found at start-up are loaded; a key added later is picked up the first
//! time a job asks for its shape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use veriflop_circuits::{CircuitKind, Shape};

use crate::keys::ShapeKey;
use crate::verify::Verifier;

/// File name of a verifying key in a key directory (same as the prover's KeyStore).
pub fn vk_file_name(kind: CircuitKind, shape: &Shape) -> String {
    format!("{}.vk", crate::keys::key_file_stem(kind, shape))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error("no verifying key for {kind} {shape} (expected {path})")]
    Missing { kind: CircuitKind, shape: Shape, path: PathBuf },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
}

pub struct KeyRegistry {
    dir: PathBuf,
    keys: RwLock<HashMap<(CircuitKind, Shape), Arc<Verifier>>>,
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
    /// Loads every `*.vk` in `dir` (a missing directory is an error; an empty one is not).
    pub fn load(dir: impl Into<PathBuf>) -> Result<Self, KeyLoadError> {
        let dir = dir.into();
        let reg = KeyRegistry { dir: dir.clone(), keys: RwLock::new(HashMap::new()) };
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
        let h = key.header;
        let v = Arc::new(Verifier::new(key));
        self.keys.write().unwrap_or_else(|p| p.into_inner()).insert((h.kind, h.shape), v.clone());
        v
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The verifier for a circuit and shape, loading its key file if it appeared since start-up.
    pub fn get(&self, kind: CircuitKind, shape: &Shape) -> Result<Arc<Verifier>, KeyLoadError> {
        if let Some(v) = self.keys.read().unwrap_or_else(|p| p.into_inner()).get(&(kind, *shape)) {
            return Ok(v.clone());
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

    /// `(circuit, shape, fingerprint)` of every loaded key.
    pub fn list(&self) -> Vec<(CircuitKind, Shape, String)> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = keys.iter().map(|((k, s), v)| (*k, *s, v.key().fingerprint())).collect();
        v.sort_by_key(|(k, s, _)| (k.code(), s.id()));
        v
    }
}
