//! Phase-2 files a slice at a time: `contribute` and `verify` never hold a
//! whole key, only [`CHUNK`] points of each file they read (and σ-base 0 and
//! the commitment key IC_C, which the checks need whole).
//!
//! The key part of a file is [`CommittedKey::to_bytes`]'s encoding: α₁, β₂, γ₂,
//! δ₂, β₁, δ₁, then nine length-prefixed vectors ([`VECTORS`]).

use std::io::{Read, Write};

use ark_bn254::{G1Affine, G2Affine};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use veriflop_circuits::{CircuitKind, Shape};
use veriflop_verifier::keys::{KeyHeader, HEADER_BYTES};

use super::{Record, G1, G2, MAGIC, MAX_NAME, RECORD};
use crate::committed::{self, CommittedKey};

/// Points read or written at a time.
pub const CHUNK: usize = 1 << 15;
/// The G2 vector (B₂-query of the scalar variables).
pub const B_G2: usize = 3;
pub const L_SCALAR: usize = 5;
pub const H: usize = 7;
pub const POK: usize = 8;

/// Everything in a file before the key.
#[derive(Clone, Debug, PartialEq)]
pub struct Prefix {
    pub shape: Shape,
    pub index: u32,
    /// SHA-256 of the previous file (file 0: of the `.ptau`).
    pub prev: [u8; 32],
    pub name: String,
    pub record: Option<Record>,
    pub sigma_delta_g2: G2Affine,
}

fn ser(out: &mut Vec<u8>, p: &impl CanonicalSerialize) {
    p.serialize_uncompressed(out).expect("writing to a Vec cannot fail")
}

impl Prefix {
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = KeyHeader { kind: CircuitKind::Committed, shape: self.shape };
        let mut out = header.encode(MAGIC).to_vec();
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.prev);
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        if let Some(r) = &self.record {
            ser(&mut out, &r.s);
            ser(&mut out, &r.s_delta);
            ser(&mut out, &r.r_delta);
            ser(&mut out, &r.t);
            ser(&mut out, &r.t_sigma);
            ser(&mut out, &r.q_sigma);
        }
        ser(&mut out, &self.sigma_delta_g2);
        out
    }

    /// Length of the whole file this prefix starts.
    pub fn file_len(&self) -> Option<u64> {
        let v = committed::lengths(&self.shape)?;
        let points: usize = v.iter().sum();
        let key = G1 + 3 * G2 + 2 * G1 + 9 * 8 + points * G1 + v[B_G2] * (G2 - G1);
        Some((self.to_bytes().len() + key) as u64)
    }
}

pub fn decode_header(bytes: &[u8]) -> Result<KeyHeader, String> {
    let header = KeyHeader::decode(bytes, MAGIC, "phase-2").map_err(|e| format!("not a phase-2 file: {e}"))?;
    if header.kind != CircuitKind::Committed {
        return Err(format!("a phase-2 file of the {} circuit; ceremonies are for committed", header.kind));
    }
    Ok(header)
}

/// Reads a file in order, hashing every byte; every point is checked on the
/// curve, and G2 points in the prime-order subgroup (BN254's G1 has cofactor 1).
pub struct Reader<R> {
    r: R,
    hash: Sha256,
}

impl<R: Read> Reader<R> {
    pub fn new(r: R) -> Self {
        Reader { r, hash: Sha256::new() }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; n];
        self.r.read_exact(&mut buf).map_err(|_| format!("truncated: the file ends in its {what}"))?;
        self.hash.update(&buf);
        Ok(buf)
    }

    /// The prefix; `len`, the file's length, must be what the prefix implies,
    /// and `shape`, when given, the file's shape.
    pub fn prefix(&mut self, shape: Option<&Shape>, len: u64) -> Result<Prefix, String> {
        let found = decode_header(&self.take(HEADER_BYTES, "header")?)?.shape;
        if let Some(s) = shape.filter(|s| **s != found) {
            return Err(format!("a phase-2 file for {found}, not {s}"));
        }
        let index = u32::from_le_bytes(self.take(4, "index")?.try_into().expect("4"));
        let prev: [u8; 32] = self.take(32, "previous hash")?.try_into().expect("32");
        let name_len = u16::from_le_bytes(self.take(2, "name")?.try_into().expect("2")) as usize;
        if name_len > MAX_NAME {
            return Err(format!("a contributor name of {name_len} bytes (at most {MAX_NAME})"));
        }
        let name = String::from_utf8(self.take(name_len, "name")?).map_err(|_| "the name is not UTF-8")?;
        let record = if index > 0 {
            let b = self.take(RECORD, "record")?;
            let g1 = |at: usize| point_g1(&b[at..at + G1]).map_err(|e| format!("record: {e}"));
            let g2 = |at: usize| point_g2(&b[at..at + G2]).map_err(|e| format!("record: {e}"));
            Some(Record {
                s: g1(0)?,
                s_delta: g1(G1)?,
                r_delta: g2(2 * G1)?,
                t: g1(2 * G1 + G2)?,
                t_sigma: g1(3 * G1 + G2)?,
                q_sigma: g2(4 * G1 + G2)?,
            })
        } else {
            None
        };
        let sigma_delta_g2 = point_g2(&self.take(G2, "[σδ]₂")?).map_err(|e| format!("[σδ]₂: {e}"))?;
        let p = Prefix { shape: found, index, prev, name, record, sigma_delta_g2 };
        let want = p.file_len().ok_or_else(|| format!("{found} is too large"))?;
        if len != want {
            return Err(format!("{len} bytes, a phase-2 file for {found} with this prefix has {want}"));
        }
        Ok(p)
    }

    pub fn g1s(&mut self, n: usize, what: &str) -> Result<Vec<G1Affine>, String> {
        let b = self.take(n * G1, what)?;
        b.par_chunks(G1).enumerate().map(|(i, p)| point_g1(p).map_err(|e| format!("{what} point {i}: {e}"))).collect()
    }

    pub fn g2s(&mut self, n: usize, what: &str) -> Result<Vec<G2Affine>, String> {
        let b = self.take(n * G2, what)?;
        b.par_chunks(G2).enumerate().map(|(i, p)| point_g2(p).map_err(|e| format!("{what} point {i}: {e}"))).collect()
    }

    /// A vector's length prefix, which must be `want`.
    pub fn len(&mut self, want: usize, what: &str) -> Result<(), String> {
        let got = u64::from_le_bytes(self.take(8, what)?.try_into().expect("8"));
        if got != want as u64 {
            return Err(format!("{what} holds {got} points, not {want}"));
        }
        Ok(())
    }

    /// The whole key (for a file small enough to hold).
    pub fn key(&mut self, shape: &Shape) -> Result<CommittedKey, String> {
        let f = Fixed::read(self)?;
        let v = committed::lengths(shape).ok_or("the shape is too large")?;
        let mut g1: Vec<Vec<G1Affine>> = Vec::with_capacity(8);
        let mut b_g2 = Vec::new();
        for (i, n) in v.iter().enumerate() {
            self.len(*n, VECTORS[i])?;
            if i == B_G2 {
                b_g2 = self.g2s(*n, VECTORS[i])?;
            } else {
                g1.push(self.g1s(*n, VECTORS[i])?);
            }
        }
        let [ic, a_scalar, b_g1_scalar, a_entries, l_scalar, l_products, h, pok]: [Vec<G1Affine>; 8] =
            g1.try_into().expect("eight G1 vectors");
        Ok(CommittedKey {
            vk: ark_groth16::VerifyingKey {
                alpha_g1: f.alpha_g1,
                beta_g2: f.beta_g2,
                gamma_g2: f.gamma_g2,
                delta_g2: f.delta_g2,
                gamma_abc_g1: ic,
            },
            beta_g1: f.beta_g1,
            delta_g1: f.delta_g1,
            a_scalar,
            b_g1_scalar,
            b_g2_scalar: b_g2,
            a_entries,
            l_scalar,
            l_products,
            h,
            pok,
        })
    }

    /// The SHA-256 of the file, which must end here.
    pub fn finish(mut self) -> Result<[u8; 32], String> {
        let mut extra = [0u8; 1];
        if self.r.read(&mut extra).map_err(|e| e.to_string())? != 0 {
            return Err("bytes after the key".into());
        }
        Ok(self.hash.finalize().into())
    }
}

/// Names of the nine vectors, in file order.
pub const VECTORS: [&str; 9] = [
    "IC",
    "A-query (scalars)",
    "B₁-query",
    "B₂-query",
    "A-query (entries)",
    "L-query (scalars)",
    "L-query (products)",
    "h-query",
    "σ-bases",
];

/// The key's fixed points.
#[derive(Clone, Debug, PartialEq)]
pub struct Fixed {
    pub alpha_g1: G1Affine,
    pub beta_g2: G2Affine,
    pub gamma_g2: G2Affine,
    pub delta_g2: G2Affine,
    pub beta_g1: G1Affine,
    pub delta_g1: G1Affine,
}

impl Fixed {
    pub fn read<R: Read>(r: &mut Reader<R>) -> Result<Fixed, String> {
        let alpha_g1 = r.g1s(1, "α₁")?[0];
        let g2 = r.g2s(3, "β₂, γ₂, δ₂")?;
        let g1 = r.g1s(2, "β₁, δ₁")?;
        Ok(Fixed { alpha_g1, beta_g2: g2[0], gamma_g2: g2[1], delta_g2: g2[2], beta_g1: g1[0], delta_g1: g1[1] })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(G1 + 3 * G2 + 2 * G1);
        ser(&mut out, &self.alpha_g1);
        for p in [&self.beta_g2, &self.gamma_g2, &self.delta_g2] {
            ser(&mut out, p);
        }
        ser(&mut out, &self.beta_g1);
        ser(&mut out, &self.delta_g1);
        out
    }
}

fn point_g1(b: &[u8]) -> Result<G1Affine, String> {
    let p = G1Affine::deserialize_uncompressed_unchecked(b).map_err(|e| e.to_string())?;
    if !p.is_on_curve() {
        return Err("not on the curve".into());
    }
    Ok(p)
}

fn point_g2(b: &[u8]) -> Result<G2Affine, String> {
    let p = G2Affine::deserialize_uncompressed_unchecked(b).map_err(|e| e.to_string())?;
    if !p.is_on_curve() || !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err("not in G2 (off the curve or outside the prime-order subgroup)".into());
    }
    Ok(p)
}

/// Writes in order, hashing every byte.
pub struct Writer<W> {
    w: W,
    hash: Sha256,
}

impl<W: Write> Writer<W> {
    pub fn new(w: W) -> Self {
        Writer { w, hash: Sha256::new() }
    }

    pub fn bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.hash.update(b);
        self.w.write_all(b)
    }

    pub fn g1s(&mut self, points: &[G1Affine]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(points.len() * G1);
        for p in points {
            ser(&mut out, p);
        }
        self.bytes(&out)
    }

    pub fn g2s(&mut self, points: &[G2Affine]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(points.len() * G2);
        for p in points {
            ser(&mut out, p);
        }
        self.bytes(&out)
    }

    pub fn finish(mut self) -> std::io::Result<(W, [u8; 32])> {
        self.w.flush()?;
        Ok((self.w, self.hash.finalize().into()))
    }
}
