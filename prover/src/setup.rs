//! Per-shape Groth16 keys: generation and files.
//!
//! **Development setup.** [`generate`] runs ark-groth16's generator with fresh
//! randomness on this machine: whoever runs it knows the toxic waste and could
//! forge proofs for that shape. It is fine for a provider testing locally and for
//! CI; a marketplace must use keys from a multi-party phase-2 ceremony (see
//! docs/PROTOCOL.md, "Trusted setup").
//!
//! Files (in a key directory): `<circuit>-<MxKxN>-<dtype>.pk` and `.vk`, each a
//! 20-byte [`KeyHeader`] followed by the arkworks uncompressed key. Writes go to a
//! temporary file that is renamed into place, so a crash never leaves half a key.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ark_bn254::Bn254;
use ark_groth16::{Groth16, ProvingKey};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand::{CryptoRng, RngCore};
use veriflop_circuits::{CircuitKind, MatmulCircuit, Shape};
use veriflop_verifier::keys::{key_file_stem, KeyHeader, ShapeKey, HEADER_BYTES, PK_MAGIC};

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {msg}")]
    Io { path: PathBuf, msg: String },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("key generation failed: {0}")]
    Setup(String),
}

/// Generates the proving and verifying key for one circuit and shape (single-party, development).
pub fn generate<R: RngCore + CryptoRng>(
    kind: CircuitKind,
    shape: Shape,
    rng: &mut R,
) -> Result<(ProvingKey<Bn254>, ShapeKey), KeyFileError> {
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(MatmulCircuit::setup(kind, shape), rng)
        .map_err(|e| KeyFileError::Setup(e.to_string()))?;
    let vk = ShapeKey { header: KeyHeader { kind, shape }, vk: pk.vk.clone() };
    Ok((pk, vk))
}

/// A directory of keys, one pair per (circuit, shape).
#[derive(Clone, Debug)]
pub struct KeyStore {
    pub dir: PathBuf,
}

impl KeyStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KeyStore { dir: dir.into() }
    }

    pub fn pk_path(&self, kind: CircuitKind, shape: &Shape) -> PathBuf {
        self.dir.join(format!("{}.pk", key_file_stem(kind, shape)))
    }

    pub fn vk_path(&self, kind: CircuitKind, shape: &Shape) -> PathBuf {
        self.dir.join(format!("{}.vk", key_file_stem(kind, shape)))
    }

    pub fn has(&self, kind: CircuitKind, shape: &Shape) -> bool {
        self.pk_path(kind, shape).is_file() && self.vk_path(kind, shape).is_file()
    }

    pub fn save(&self, pk: &ProvingKey<Bn254>, vk: &ShapeKey) -> Result<(), KeyFileError> {
        let h = vk.header;
        fs::create_dir_all(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        let mut bytes = h.encode(PK_MAGIC).to_vec();
        pk.serialize_uncompressed(&mut bytes).map_err(|e| KeyFileError::Setup(e.to_string()))?;
        write_atomic(&self.pk_path(h.kind, &h.shape), &bytes)?;
        write_atomic(&self.vk_path(h.kind, &h.shape), &vk.to_bytes())
    }

    pub fn load_vk(&self, kind: CircuitKind, shape: &Shape) -> Result<ShapeKey, KeyFileError> {
        read_vk(&self.vk_path(kind, shape))
    }

    pub fn load_pk(&self, kind: CircuitKind, shape: &Shape) -> Result<ProvingKey<Bn254>, KeyFileError> {
        let path = self.pk_path(kind, shape);
        let (header, pk) = read_pk(&path)?;
        if header != (KeyHeader { kind, shape: *shape }) {
            return Err(invalid(
                &path,
                format!("holds a key for {} {}, not {kind} {shape}", header.kind, header.shape),
            ));
        }
        Ok(pk)
    }
}

fn io_err(path: &Path, e: std::io::Error) -> KeyFileError {
    KeyFileError::Io { path: path.to_path_buf(), msg: e.to_string() }
}

fn invalid(path: &Path, msg: impl Into<String>) -> KeyFileError {
    KeyFileError::Invalid { path: path.to_path_buf(), msg: msg.into() }
}

/// Writes via a temporary file and rename: readers see the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    Ok(())
}

pub fn read_vk(path: &Path) -> Result<ShapeKey, KeyFileError> {
    let bytes = fs::read(path).map_err(|e| io_err(path, e))?;
    ShapeKey::from_bytes(&bytes).map_err(|e| invalid(path, e.to_string()))
}

const G1: usize = 64;
const G2: usize = 128;

/// Walks the uncompressed proving-key layout checking every length prefix
/// against the bytes present, so a corrupted file gives an error instead of a
/// huge allocation inside the deserializer.
fn check_pk_layout(body: &[u8]) -> Result<(), String> {
    let mut off = 0usize;
    let fixed = |n: usize, off: &mut usize| -> Result<(), String> {
        *off = off.checked_add(n).filter(|&o| o <= body.len()).ok_or("truncated")?;
        Ok(())
    };
    let vec = |elem: usize, off: &mut usize| -> Result<(), String> {
        let len_bytes = body.get(*off..*off + 8).ok_or("truncated")?;
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap());
        let size = (len as usize).checked_mul(elem).ok_or("length overflow")?;
        *off = off.checked_add(8 + size).filter(|&o| o <= body.len()).ok_or("truncated or corrupted length")?;
        Ok(())
    };
    fixed(G1 + 3 * G2, &mut off)?; // alpha, beta, gamma, delta
    vec(G1, &mut off)?; // gamma_abc
    fixed(2 * G1, &mut off)?; // beta_g1, delta_g1
    vec(G1, &mut off)?; // a_query
    vec(G1, &mut off)?; // b_g1_query
    vec(G2, &mut off)?; // b_g2_query
    vec(G1, &mut off)?; // h_query
    vec(G1, &mut off)?; // l_query
    if off != body.len() {
        return Err(format!("{} trailing bytes", body.len() - off));
    }
    Ok(())
}

/// Reads a proving key. The key is the prover's own file, so points are not
/// re-validated (that would take longer than proving); a wrong key only yields
/// proofs that fail verification.
pub fn read_pk(path: &Path) -> Result<(KeyHeader, ProvingKey<Bn254>), KeyFileError> {
    let bytes = fs::read(path).map_err(|e| io_err(path, e))?;
    let header = KeyHeader::decode(&bytes, PK_MAGIC, "proving").map_err(|e| invalid(path, e.to_string()))?;
    let body = &bytes[HEADER_BYTES..];
    check_pk_layout(body).map_err(|e| invalid(path, format!("not a valid proving key: {e}")))?;
    let pk = ProvingKey::<Bn254>::deserialize_uncompressed_unchecked(body)
        .map_err(|e| invalid(path, format!("not a valid proving key: {e}")))?;
    Ok((header, pk))
}
