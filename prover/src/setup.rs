//! Per-shape Groth16 keys: generation and files.
//!
//! **Development setup.** [`generate`] makes keys with fresh randomness on this
//! machine (ark-groth16's generator; for the committed circuit its own,
//! [`crate::committed`]): whoever runs it knows the toxic waste and could forge
//! proofs for that shape. It is fine for a provider testing locally and for CI;
//! a marketplace must use keys from a multi-party phase-2 ceremony (see
//! docs/PROTOCOL.md, "Trusted setup").
//!
//! The committed circuit's setup adds one more secret, σ: the proving key gets
//! σ·IC_{C,i} for every entry of C (the bases of cm_C's proof of knowledge) and
//! the verifying key [σδ]₂. σ is toxic waste like τ, α, β, γ, δ.
//!
//! Files (in a key directory): `<circuit>-<MxKxN>-<dtype>.pk` and `.vk`, each a
//! 20-byte [`KeyHeader`] followed by the key: ark-groth16's uncompressed proving
//! key, or for the committed circuit its [`CommittedKey`] encoding; and for the
//! committed circuit `.ck`, the commitment key clients commit with. Writes go to
//! a temporary file that is renamed into place, so a crash never leaves half a key.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_groth16::{Groth16, ProvingKey, VerifyingKey};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand::{CryptoRng, RngCore};
use veriflop_circuits::cp::CommitKey;
use veriflop_circuits::{CircuitKind, MatmulCircuit, Shape};
use veriflop_verifier::keys::{ck_from_bytes, ck_to_bytes, key_file_stem, KeyHeader, ShapeKey, HEADER_BYTES, PK_MAGIC};

use crate::committed::{self, CommittedKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {msg}")]
    Io { path: PathBuf, msg: String },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("key generation failed: {0}")]
    Setup(String),
}

/// What the prover needs for one circuit and shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ProverKey {
    pub header: KeyHeader,
    pub body: KeyBody,
}

#[derive(Clone, Debug, PartialEq)]
pub enum KeyBody {
    /// Poseidon and naive circuits: ark-groth16's key (libsnark reduction).
    Generic(ProvingKey<Bn254>),
    /// The committed circuit: its structured key, whose `vk.gamma_abc_g1` holds
    /// every input point, so the commitment key too.
    Committed(CommittedKey),
}

impl ProverKey {
    /// The full verifying key (for the committed circuit, with every input point).
    pub fn vk(&self) -> &VerifyingKey<Bn254> {
        match &self.body {
            KeyBody::Generic(pk) => &pk.vk,
            KeyBody::Committed(pk) => &pk.vk,
        }
    }

    /// σ·IC_{C,i}, the bases of cm_C's proof of knowledge (empty but for the committed circuit).
    pub fn pok_bases(&self) -> &[G1Affine] {
        match &self.body {
            KeyBody::Generic(_) => &[],
            KeyBody::Committed(pk) => &pk.pok,
        }
    }

    /// Whether `vk` is this key's verifying key (same setup, circuit and shape).
    pub fn matches(&self, vk: &ShapeKey) -> bool {
        let (p, v) = (self.vk(), &vk.vk);
        vk.header == self.header
            && (p.alpha_g1, p.beta_g2, p.gamma_g2, p.delta_g2) == (v.alpha_g1, v.beta_g2, v.gamma_g2, v.delta_g2)
            && p.gamma_abc_g1.get(..v.gamma_abc_g1.len()) == Some(&v.gamma_abc_g1[..])
    }

    /// The commitment key inside a committed circuit's proving key.
    pub fn commit_key(&self) -> Result<CommitKey, veriflop_circuits::Error> {
        CommitKey::from_ic(self.header.shape, &self.vk().gamma_abc_g1)
    }

    /// The key file's body (after the header).
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.body {
            KeyBody::Generic(pk) => {
                let mut out = Vec::with_capacity(pk.uncompressed_size());
                pk.serialize_uncompressed(&mut out).expect("writing to a Vec cannot fail");
                out
            }
            KeyBody::Committed(pk) => pk.to_bytes(),
        }
    }

    /// Size of the key file's body in bytes.
    pub fn encoded_len(&self) -> usize {
        match &self.body {
            KeyBody::Generic(pk) => pk.uncompressed_size(),
            KeyBody::Committed(pk) => pk.encoded_len(),
        }
    }
}

/// Generates the keys for one circuit and shape (single-party, development).
pub fn generate<R: RngCore + CryptoRng>(
    kind: CircuitKind,
    shape: Shape,
    rng: &mut R,
) -> Result<(ProverKey, ShapeKey), KeyFileError> {
    let header = KeyHeader { kind, shape };
    if kind == CircuitKind::Committed {
        let (pk, pok_g2) = committed::generate(&shape, rng).map_err(KeyFileError::Setup)?;
        return Ok(committed_keys(shape, pk, pok_g2));
    }
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(MatmulCircuit::setup(kind, shape), rng)
        .map_err(|e| KeyFileError::Setup(e.to_string()))?;
    let vk = ShapeKey { header, vk: pk.vk.clone(), pok_g2: None };
    Ok((ProverKey { header, body: KeyBody::Generic(pk) }, vk))
}

/// The key files' contents for a committed key and its [σδ]₂ (from the
/// development setup or a ceremony).
pub fn committed_keys(shape: Shape, pk: CommittedKey, pok_g2: G2Affine) -> (ProverKey, ShapeKey) {
    let header = KeyHeader { kind: CircuitKind::Committed, shape };
    let mut vk = pk.vk.clone();
    vk.gamma_abc_g1.truncate(CircuitKind::Committed.num_ic());
    let key = ShapeKey { header, vk, pok_g2: Some(pok_g2) };
    (ProverKey { header, body: KeyBody::Committed(pk) }, key)
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

    /// The commitment key (committed circuit): what a client commits to A and B with.
    pub fn ck_path(&self, shape: &Shape) -> PathBuf {
        self.dir.join(format!("{}.ck", key_file_stem(CircuitKind::Committed, shape)))
    }

    pub fn has(&self, kind: CircuitKind, shape: &Shape) -> bool {
        self.pk_path(kind, shape).is_file()
            && self.vk_path(kind, shape).is_file()
            && (kind != CircuitKind::Committed || self.ck_path(shape).is_file())
    }

    /// Writes the proving, verifying and (committed circuit) commitment keys;
    /// the verifying key last, so `has` is true only once all are in place.
    pub fn save(&self, pk: &ProverKey, vk: &ShapeKey) -> Result<(), KeyFileError> {
        let h = vk.header;
        fs::create_dir_all(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        let mut bytes = h.encode(PK_MAGIC).to_vec();
        bytes.extend_from_slice(&pk.to_bytes());
        if h.kind == CircuitKind::Committed {
            let ck = pk.commit_key().map_err(|e| KeyFileError::Setup(e.to_string()))?;
            write_atomic(&self.ck_path(&h.shape), &ck_to_bytes(&ck))?;
        }
        write_atomic(&self.pk_path(h.kind, &h.shape), &bytes)?;
        write_atomic(&self.vk_path(h.kind, &h.shape), &vk.to_bytes())
    }

    /// The halo2 universal SRS (one for every shape).
    pub fn srs_path(&self) -> PathBuf {
        self.dir.join(veriflop_verifier::keys::SRS_FILE)
    }

    /// Writes the halo2 SRS (temporary file + rename).
    pub fn save_srs(&self, srs: &veriflop_halo2::Srs) -> Result<(), KeyFileError> {
        fs::create_dir_all(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        let path = self.srs_path();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = srs.write_file(&tmp).map_err(|e| e.to_string()).and_then(|()| {
            fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .and_then(|()| fs::rename(&tmp, &path))
                .map_err(|e| e.to_string())
        });
        if let Err(msg) = result {
            let _ = fs::remove_file(&tmp);
            return Err(invalid(&path, msg));
        }
        Ok(())
    }

    /// Reads and checks the halo2 SRS (a pairing check that it is a powers-of-τ).
    pub fn load_srs(&self) -> Result<veriflop_halo2::Srs, KeyFileError> {
        let path = self.srs_path();
        if !path.is_file() {
            return Err(invalid(&path, "no halo2 SRS: run `veriflop-prover setup --proof-system halo2`"));
        }
        veriflop_halo2::Srs::read_file(&path).map_err(|e| invalid(&path, e.to_string()))
    }

    pub fn load_ck(&self, shape: &Shape) -> Result<CommitKey, KeyFileError> {
        let path = self.ck_path(shape);
        let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
        let ck = ck_from_bytes(&bytes).map_err(|e| invalid(&path, e.to_string()))?;
        if ck.shape != *shape {
            return Err(invalid(&path, format!("holds the commitment key of {}, not {shape}", ck.shape)));
        }
        Ok(ck)
    }

    pub fn load_vk(&self, kind: CircuitKind, shape: &Shape) -> Result<ShapeKey, KeyFileError> {
        read_vk(&self.vk_path(kind, shape))
    }

    pub fn load_pk(&self, kind: CircuitKind, shape: &Shape) -> Result<ProverKey, KeyFileError> {
        let path = self.pk_path(kind, shape);
        let pk = read_pk(&path)?;
        let header = pk.header;
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

/// Walks the uncompressed ark-groth16 proving-key layout checking every length
/// prefix against the bytes present, so a corrupted file gives an error instead
/// of a huge allocation inside the deserializer.
pub(crate) fn check_pk_layout(body: &[u8]) -> Result<(), String> {
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
pub fn read_pk(path: &Path) -> Result<ProverKey, KeyFileError> {
    let bytes = fs::read(path).map_err(|e| io_err(path, e))?;
    let header = KeyHeader::decode(&bytes, PK_MAGIC, "proving").map_err(|e| invalid(path, e.to_string()))?;
    let mut body = &bytes[HEADER_BYTES..];
    let bad = |e: String| invalid(path, format!("not a valid proving key: {e}"));
    if header.kind == CircuitKind::Committed {
        let pk = CommittedKey::from_bytes(&header.shape, body).map_err(bad)?;
        return Ok(ProverKey { header, body: KeyBody::Committed(pk) });
    }
    check_pk_layout(body).map_err(bad)?;
    let groth16 = ProvingKey::<Bn254>::deserialize_uncompressed_unchecked(&mut body).map_err(|e| bad(e.to_string()))?;
    if groth16.vk.gamma_abc_g1.len() != header.kind.num_ic() {
        return Err(invalid(path, format!("input points do not fit a {} key for {}", header.kind, header.shape)));
    }
    Ok(ProverKey { header, body: KeyBody::Generic(groth16) })
}
