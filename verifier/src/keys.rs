//! Verifying-key files.
//!
//! Every key file starts with a 20-byte header: 4 magic bytes (`VFVK` verifying,
//! `VFPK` proving), format version 1, circuit code, dtype code, a zero byte, then
//! m, k, n as u32 little-endian. The arkworks uncompressed key follows.
//! A verifying key is small and always fully validated on load.

use ark_bn254::Bn254;
use ark_groth16::VerifyingKey;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use veriflop_circuits::statement::NUM_PUBLIC_INPUTS;
use veriflop_circuits::{CircuitKind, Dtype, Shape};

pub const VK_MAGIC: &[u8; 4] = b"VFVK";
pub const PK_MAGIC: &[u8; 4] = b"VFPK";
pub const HEADER_BYTES: usize = 20;
/// A verifying key for our 5 public inputs is under 1 KiB.
pub const MAX_VK_BYTES: usize = 4096;
/// alpha (G1) and beta, gamma, delta (G2), uncompressed.
const VK_FIXED_BYTES: usize = 64 + 3 * 128;
/// Exact size of a matmul verifying-key file.
pub const VK_FILE_BYTES: usize = HEADER_BYTES + VK_FIXED_BYTES + 8 + (NUM_PUBLIC_INPUTS + 1) * 64;

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

/// What a key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHeader {
    pub kind: CircuitKind,
    pub shape: Shape,
}

impl KeyHeader {
    pub fn encode(&self, magic: &[u8; 4]) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        h[..4].copy_from_slice(magic);
        h[4] = 1;
        h[5] = self.kind.code();
        h[6] = self.shape.dtype.code();
        h[8..12].copy_from_slice(&self.shape.m.to_le_bytes());
        h[12..16].copy_from_slice(&self.shape.k.to_le_bytes());
        h[16..20].copy_from_slice(&self.shape.n.to_le_bytes());
        h
    }

    pub fn decode(bytes: &[u8], magic: &[u8; 4], what: &'static str) -> Result<Self, KeyError> {
        if bytes.len() < HEADER_BYTES || &bytes[..4] != magic || bytes[4] != 1 || bytes[7] != 0 {
            return Err(KeyError::BadHeader(what));
        }
        let kind = match bytes[5] {
            1 => CircuitKind::Freivalds,
            2 => CircuitKind::Naive,
            c => return Err(KeyError::Malformed(format!("unknown circuit code {c}"))),
        };
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
}

impl ShapeKey {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header.encode(VK_MAGIC).to_vec();
        self.vk.serialize_uncompressed(&mut out).expect("writing to a Vec");
        out
    }

    /// Decodes and fully validates an untrusted verifying key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() > MAX_VK_BYTES {
            return Err(KeyError::Malformed(format!("{} bytes is too large for a verifying key", bytes.len())));
        }
        let header = KeyHeader::decode(bytes, VK_MAGIC, "verifying")?;
        // Check the layout before arkworks reads it: its Vec decoder allocates
        // whatever length prefix it finds.
        let ic_len_at = HEADER_BYTES + VK_FIXED_BYTES;
        let ic_len = bytes.get(ic_len_at..ic_len_at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
        if ic_len != Some(NUM_PUBLIC_INPUTS as u64 + 1) || bytes.len() != VK_FILE_BYTES {
            return Err(KeyError::Malformed(format!(
                "a matmul verifying key file is {VK_FILE_BYTES} bytes with {} input points; got {} bytes",
                NUM_PUBLIC_INPUTS + 1,
                bytes.len()
            )));
        }
        let mut rest = &bytes[HEADER_BYTES..];
        let vk = VerifyingKey::<Bn254>::deserialize_with_mode(&mut rest, Compress::No, Validate::Yes)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(KeyError::Malformed(format!("{} trailing bytes", rest.len())));
        }
        if vk.gamma_abc_g1.len() != NUM_PUBLIC_INPUTS + 1 {
            return Err(KeyError::Malformed(format!(
                "key has {} public inputs, a matmul key has {NUM_PUBLIC_INPUTS}",
                vk.gamma_abc_g1.len().saturating_sub(1)
            )));
        }
        Ok(ShapeKey { header, vk })
    }

    /// Short fingerprint for people and logs: first 8 bytes of SHA-256 of the key file.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(self.to_bytes())[..8])
    }
}
