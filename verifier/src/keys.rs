//! Key files.
//!
//! Every key file starts with a 20-byte header: 4 magic bytes (`VFVK` verifying,
//! `VFPK` proving, `VFCK` commitment), format version, circuit code, dtype
//! code, a zero byte, then m, k, n as u32 little-endian. The version is 1 for
//! the Poseidon and naive circuits and 4 for the committed one (version 2 keys
//! came from its own QAP reduction, without input rows for the matrix entries;
//! version 3 also puts its rows on H in blocks, so B is a polynomial in X^T;
//! version 4 takes h on the coset ω_2|H|·H, where a powers of tau gives the
//! h-query; older committed keys are refused with a message to run setup again).
//! Arkworks uncompressed encodings follow:
//! - verifying key: the Groth16 key; for the committed circuit, its input points
//!   are only IC0..IC3 (constant, job_id, provider, r) and [σδ]₂ follows;
//! - commitment key (committed circuit only): the bases of A, B and C, three
//!   vectors of G1 points (see `veriflop_circuits::cp`).
//!
//! Verifying and commitment keys are checked against the header's shape before
//! any allocation and fully validated on load.

use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_groth16::VerifyingKey;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use veriflop_circuits::cp::CommitKey;
use veriflop_circuits::{CircuitKind, Dtype, Shape};

pub const VK_MAGIC: &[u8; 4] = b"VFVK";
pub const PK_MAGIC: &[u8; 4] = b"VFPK";
pub const CK_MAGIC: &[u8; 4] = b"VFCK";
pub const HEADER_BYTES: usize = 20;
/// A matmul verifying key is under 1 KiB.
pub const MAX_VK_BYTES: usize = 4096;
/// alpha (G1) and beta, gamma, delta (G2), uncompressed.
const VK_FIXED_BYTES: usize = 64 + 3 * 128;
const G1_BYTES: usize = 64;
const G2_BYTES: usize = 128;

/// Exact size of a verifying-key file for `kind`.
pub fn vk_file_bytes(kind: CircuitKind) -> usize {
    let pok = if kind == CircuitKind::Committed { G2_BYTES } else { 0 };
    HEADER_BYTES + VK_FIXED_BYTES + 8 + kind.num_ic() * G1_BYTES + pok
}

/// Exact size of a commitment-key file for `shape`.
pub fn ck_file_bytes(shape: &Shape) -> usize {
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    HEADER_BYTES + 3 * 8 + (m * k + k * n + m * n) * G1_BYTES
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not a veriflop {0} key file (bad magic or version)")]
    BadHeader(&'static str),
    #[error("malformed key: {0}")]
    Malformed(String),
}

/// Stem of a key pair's file names in a key directory: `<circuit>-<MxKxN>-<dtype>`
/// (`.pk` proving key, `.vk` verifying key). The prover's key store and the
/// service's key loader both use it.
pub fn key_file_stem(kind: CircuitKind, shape: &Shape) -> String {
    format!("{kind}-{}", shape.id())
}

/// File name of the halo2 universal SRS in a key directory (halo2's params
/// format; every shape's halo2 keys are derived from it).
pub const SRS_FILE: &str = "halo2.srs";

/// What a key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHeader {
    pub kind: CircuitKind,
    pub shape: Shape,
}

/// The key format version a circuit's keys carry.
pub fn key_version(kind: CircuitKind) -> u8 {
    match kind {
        CircuitKind::Committed => 4,
        CircuitKind::Poseidon | CircuitKind::Naive => 1,
        // No shape key: a model's keys are `.ivk` / `.ipk` files (veriflop_infer::keys).
        CircuitKind::Inference => 0,
    }
}

impl KeyHeader {
    pub fn encode(&self, magic: &[u8; 4]) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        h[..4].copy_from_slice(magic);
        h[4] = key_version(self.kind);
        h[5] = self.kind.code();
        h[6] = self.shape.dtype.code();
        h[8..12].copy_from_slice(&self.shape.m.to_le_bytes());
        h[12..16].copy_from_slice(&self.shape.k.to_le_bytes());
        h[16..20].copy_from_slice(&self.shape.n.to_le_bytes());
        h
    }

    pub fn decode(bytes: &[u8], magic: &[u8; 4], what: &'static str) -> Result<Self, KeyError> {
        if bytes.len() < HEADER_BYTES || &bytes[..4] != magic || !(1..=4).contains(&bytes[4]) || bytes[7] != 0 {
            return Err(KeyError::BadHeader(what));
        }
        let kind = CircuitKind::from_code(bytes[5]).map_err(|e| KeyError::Malformed(e.to_string()))?;
        if !kind.is_matmul() {
            return Err(KeyError::Malformed(format!("{kind} jobs have model keys, not shape keys")));
        }
        if bytes[4] != key_version(kind) {
            return Err(KeyError::Malformed(format!(
                "a version {} {kind} {what} key; this release reads version {} (run `veriflop-prover setup --force` again)",
                bytes[4],
                key_version(kind)
            )));
        }
        let dtype = Dtype::from_code(bytes[6]).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let u = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        let shape = Shape::new(u(8), u(12), u(16), dtype).map_err(|e| KeyError::Malformed(e.to_string()))?;
        Ok(KeyHeader { kind, shape })
    }
}

/// A verifying key with the circuit and shape it belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapeKey {
    pub header: KeyHeader,
    pub vk: VerifyingKey<Bn254>,
    /// [σδ]₂, the committed circuit's key for the proof of knowledge of cm_C's opening.
    pub pok_g2: Option<G2Affine>,
}

impl ShapeKey {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header.encode(VK_MAGIC).to_vec();
        self.vk.serialize_uncompressed(&mut out).expect("writing to a Vec");
        if let Some(p) = &self.pok_g2 {
            p.serialize_uncompressed(&mut out).expect("writing to a Vec");
        }
        out
    }

    /// Decodes and fully validates an untrusted verifying key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() > MAX_VK_BYTES {
            return Err(KeyError::Malformed(format!("{} bytes is too large for a verifying key", bytes.len())));
        }
        let header = KeyHeader::decode(bytes, VK_MAGIC, "verifying")?;
        let kind = header.kind;
        // Check the layout before arkworks reads it: its Vec decoder allocates
        // whatever length prefix it finds.
        let ic_len_at = HEADER_BYTES + VK_FIXED_BYTES;
        let ic_len = bytes.get(ic_len_at..ic_len_at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
        if ic_len != Some(kind.num_ic() as u64) || bytes.len() != vk_file_bytes(kind) {
            return Err(KeyError::Malformed(format!(
                "a {kind} verifying key file is {} bytes with {} input points; got {} bytes",
                vk_file_bytes(kind),
                kind.num_ic(),
                bytes.len()
            )));
        }
        let mut rest = &bytes[HEADER_BYTES..];
        let vk = VerifyingKey::<Bn254>::deserialize_with_mode(&mut rest, Compress::No, Validate::Yes)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let pok_g2 = if kind == CircuitKind::Committed {
            let p = G2Affine::deserialize_with_mode(&mut rest, Compress::No, Validate::Yes)
                .map_err(|e| KeyError::Malformed(format!("[σδ]₂: {e}")))?;
            Some(p)
        } else {
            None
        };
        if !rest.is_empty() {
            return Err(KeyError::Malformed(format!("{} trailing bytes", rest.len())));
        }
        Ok(ShapeKey { header, vk, pok_g2 })
    }

    /// Short fingerprint for people and logs: first 8 bytes of SHA-256 of the key file.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(self.to_bytes())[..8])
    }
}

/// The committed circuit's commitment key, as a file (`<stem>.ck`).
pub fn ck_to_bytes(ck: &CommitKey) -> Vec<u8> {
    let header = KeyHeader { kind: CircuitKind::Committed, shape: ck.shape };
    let mut out = header.encode(CK_MAGIC).to_vec();
    for v in [&ck.a, &ck.b, &ck.c] {
        v.serialize_uncompressed(&mut out).expect("writing to a Vec");
    }
    out
}

/// Decodes a commitment key, checking its size against its shape first and
/// validating every point (on the curve, in the group).
pub fn ck_from_bytes(bytes: &[u8]) -> Result<CommitKey, KeyError> {
    let header = KeyHeader::decode(bytes, CK_MAGIC, "commitment")?;
    let shape = header.shape;
    if header.kind != CircuitKind::Committed || bytes.len() != ck_file_bytes(&shape) {
        return Err(KeyError::Malformed(format!(
            "a commitment key for {shape} is {} bytes; got {}",
            ck_file_bytes(&shape),
            bytes.len()
        )));
    }
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    let mut rest = &bytes[HEADER_BYTES..];
    let mut read = |len: usize| -> Result<Vec<G1Affine>, KeyError> {
        let prefix = u64::from_le_bytes(rest[..8].try_into().unwrap());
        if prefix != len as u64 {
            return Err(KeyError::Malformed(format!("expected {len} bases, the file says {prefix}")));
        }
        Vec::<G1Affine>::deserialize_with_mode(&mut rest, Compress::No, Validate::Yes)
            .map_err(|e| KeyError::Malformed(e.to_string()))
    };
    let (a, b, c) = (read(m * k)?, read(k * n)?, read(m * n)?);
    Ok(CommitKey { shape, a, b, c })
}
