//! Phase 2 of a Groth16 ceremony for the committed circuit (BGM17, as snarkjs's
//! `zkey` and gnark's `mpcsetup` run it), on top of a public powers of tau.
//!
//! Phase 1 (the `.ptau`) fixes τ, α and β; γ is the G2 generator. Phase 2 adds
//! the circuit's own secrets, δ and σ (the proof-of-knowledge key of cm_C), as
//! a product of one factor per contributor: each multiplies δ₁, δ₂ by δ_j, the
//! L- and h-queries by 1/δ_j, the σ-bases by σ_j and [σδ]₂ by σ_j·δ_j, and
//! proves knowledge of δ_j and σ_j. One honest contributor who forgets δ_j and
//! σ_j makes δ and σ unknown to everyone (docs/PROTOCOL.md §6).
//!
//! A ceremony is a directory of files `0000.ph2`, `0001.ph2`, …: file 0 is
//! [`init`]'s key from the `.ptau` (δ = σ = 1), file j the key after
//! contribution j, with its record. [`verify`] re-derives file 0 from the
//! `.ptau` and checks every step; [`finalize`] writes the last key as the key
//! files the prover, the service and the contracts read.
//!
//! File format: a 20-byte key header with magic `VFP2` (circuit, dtype, shape),
//! the index (u32 LE), the 32-byte SHA-256 of the previous file (for file 0,
//! of the `.ptau`), the contributor's name (u16 LE length ≤ 128, UTF-8), the
//! record (file j ≥ 1: S, S·δ_j ∈ G1, R·δ_j ∈ G2, T, T·σ_j ∈ G1, Q·σ_j ∈ G2,
//! uncompressed), [σδ]₂, then the key in [`CommittedKey`]'s encoding. Its
//! SHA-256 is the contribution hash contributors publish.

mod contribute;
mod init;
pub mod ptau;
mod verify;

use std::path::{Path, PathBuf};

use ark_bn254::{G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::Field;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use veriflop_circuits::{CircuitKind, Shape};
use veriflop_verifier::keys::{KeyHeader, HEADER_BYTES};

use crate::committed::{self, CommittedKey};

pub use contribute::contribute;
pub use init::init;
pub use verify::{verify, Verified};

const MAGIC: &[u8; 4] = b"VFP2";
/// Longest contributor name kept in a file.
pub const MAX_NAME: usize = 128;
const G1: usize = 64;
const G2: usize = 128;
const RECORD: usize = 4 * G1 + 2 * G2;

#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    #[error("{0}")]
    Io(String),
    /// A file that is not a phase-2 file for this shape, or is damaged.
    #[error("{0}")]
    Format(String),
    /// A check of `verify` failed; `file` names the contribution.
    #[error("{file}: {msg}")]
    Rejected { file: String, msg: String },
    #[error("{0}")]
    Usage(String),
}

/// A contribution's proof of knowledge of its secrets: for δ_j, S = [s]₁,
/// S·δ_j and R·δ_j with R = [`challenge`]("delta", prev, S, S·δ_j) ∈ G2; for
/// σ_j, T, T·σ_j and Q·σ_j likewise.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub s: G1Affine,
    pub s_delta: G1Affine,
    pub r_delta: G2Affine,
    pub t: G1Affine,
    pub t_sigma: G1Affine,
    pub q_sigma: G2Affine,
}

/// One file of the transcript.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase2 {
    pub shape: Shape,
    pub index: u32,
    /// SHA-256 of the previous file (file 0: of the `.ptau`).
    pub prev: [u8; 32],
    pub name: String,
    pub record: Option<Record>,
    pub sigma_delta_g2: G2Affine,
    pub key: CommittedKey,
}

/// G2 point from a transcript hash, with a discrete logarithm no one knows:
/// try-and-increment from a ChaCha20 stream seeded by SHA-256 of the inputs,
/// then the cofactor cleared (as snarkjs's `hashToG2`).
pub fn challenge(tag: &str, prev: &[u8; 32], a: &G1Affine, b: &G1Affine) -> G2Affine {
    let mut h = Sha256::new();
    h.update(b"veriflop phase 2 challenge/");
    h.update(tag.as_bytes());
    h.update(prev);
    for p in [a, b] {
        let mut buf = Vec::with_capacity(G1);
        p.serialize_uncompressed(&mut buf).expect("a Vec");
        h.update(&buf);
    }
    let mut rng = ChaCha20Rng::from_seed(h.finalize().into());
    loop {
        let x = <ark_bn254::Fq2 as ark_ff::UniformRand>::rand(&mut rng);
        let greatest = rand::Rng::gen(&mut rng);
        if let Some(p) = G2Affine::get_point_from_x_unchecked(x, greatest) {
            let p = p.mul_by_cofactor_to_group().into_affine();
            if !p.is_zero() {
                return p;
            }
        }
    }
}

impl Phase2 {
    pub fn file_name(index: u32) -> String {
        format!("{index:04}.ph2")
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let header = KeyHeader { kind: CircuitKind::Committed, shape: self.shape };
        let mut out = header.encode(MAGIC).to_vec();
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.prev);
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        let ser = |out: &mut Vec<u8>, p: &dyn Fn(&mut Vec<u8>) -> Result<(), ark_serialize::SerializationError>| {
            p(out).expect("writing to a Vec cannot fail")
        };
        if let Some(r) = &self.record {
            for p in [&r.s, &r.s_delta] {
                ser(&mut out, &|o| p.serialize_uncompressed(o));
            }
            ser(&mut out, &|o| r.r_delta.serialize_uncompressed(o));
            for p in [&r.t, &r.t_sigma] {
                ser(&mut out, &|o| p.serialize_uncompressed(o));
            }
            ser(&mut out, &|o| r.q_sigma.serialize_uncompressed(o));
        }
        ser(&mut out, &|o| self.sigma_delta_g2.serialize_uncompressed(o));
        out.extend_from_slice(&self.key.to_bytes());
        out
    }

    /// Decodes a file for `shape` and checks every point: on the curve, in the
    /// prime-order subgroup, lengths exactly those of the shape.
    pub fn from_bytes(shape: &Shape, bytes: &[u8]) -> Result<Phase2, String> {
        let header = decode_header(bytes)?;
        if header.shape != *shape {
            return Err(format!("a phase-2 file for {}, not {shape}", header.shape));
        }
        let mut at = HEADER_BYTES;
        let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
            let s = bytes.get(*at..*at + n).ok_or("truncated")?;
            *at += n;
            Ok(s)
        };
        let index = u32::from_le_bytes(take(&mut at, 4)?.try_into().expect("4"));
        let prev: [u8; 32] = take(&mut at, 32)?.try_into().expect("32");
        let name_len = u16::from_le_bytes(take(&mut at, 2)?.try_into().expect("2")) as usize;
        if name_len > MAX_NAME {
            return Err(format!("a contributor name of {name_len} bytes (at most {MAX_NAME})"));
        }
        let name = std::str::from_utf8(take(&mut at, name_len)?).map_err(|_| "the name is not UTF-8")?.to_string();
        let e = |e: ark_serialize::SerializationError| e.to_string();
        let record = if index > 0 {
            let mut b = take(&mut at, RECORD)?;
            let mut g1 = || G1Affine::deserialize_uncompressed(&mut b).map_err(e);
            let (s, s_delta) = (g1()?, g1()?);
            let r_delta = G2Affine::deserialize_uncompressed(&mut b).map_err(e)?;
            let mut g1 = || G1Affine::deserialize_uncompressed(&mut b).map_err(e);
            let (t, t_sigma) = (g1()?, g1()?);
            let q_sigma = G2Affine::deserialize_uncompressed(&mut b).map_err(e)?;
            Some(Record { s, s_delta, r_delta, t, t_sigma, q_sigma })
        } else {
            None
        };
        let sigma_delta_g2 = G2Affine::deserialize_uncompressed(&mut take(&mut at, G2)?).map_err(e)?;
        let key = CommittedKey::from_bytes(shape, &bytes[at..])?;
        check_points(&key)?;
        Ok(Phase2 { shape: *shape, index, prev, name, record, sigma_delta_g2, key })
    }

    /// SHA-256 of the file: the contribution hash.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }
}

fn decode_header(bytes: &[u8]) -> Result<KeyHeader, String> {
    let header = KeyHeader::decode(bytes, MAGIC, "phase-2").map_err(|e| format!("not a phase-2 file: {e}"))?;
    if header.kind != CircuitKind::Committed {
        return Err(format!("a phase-2 file of the {} circuit; ceremonies are for committed", header.kind));
    }
    Ok(header)
}

/// Every point of a key on the curve and in the prime-order subgroup (G1 of
/// BN254 has cofactor 1; G2's check matters).
fn check_points(k: &CommittedKey) -> Result<(), String> {
    let g1s: [(&str, &[G1Affine]); 9] = [
        ("fixed", &[k.vk.alpha_g1, k.beta_g1, k.delta_g1]),
        ("IC", &k.vk.gamma_abc_g1),
        ("A-query (scalars)", &k.a_scalar),
        ("B₁-query", &k.b_g1_scalar),
        ("A-query (entries)", &k.a_entries),
        ("L-query (scalars)", &k.l_scalar),
        ("L-query (products)", &k.l_products),
        ("h-query", &k.h),
        ("σ-bases", &k.pok),
    ];
    for (what, v) in g1s {
        if let Some(i) = v.par_iter().position_any(|p| !p.is_on_curve()) {
            return Err(format!("{what} point {i} is not on the curve"));
        }
    }
    let g2 = [k.vk.beta_g2, k.vk.gamma_g2, k.vk.delta_g2];
    for (what, v) in [("fixed G2", &g2[..]), ("B₂-query", &k.b_g2_scalar)] {
        if let Some(i) =
            v.par_iter().position_any(|p| !p.is_on_curve() || !p.is_in_correct_subgroup_assuming_on_curve())
        {
            return Err(format!("{what} point {i} is not in G2"));
        }
    }
    Ok(())
}

/// The files of a ceremony directory, in order; they must be 0000… without gaps.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, CeremonyError> {
    let mut out = Vec::new();
    loop {
        let p = dir.join(Phase2::file_name(out.len() as u32));
        if !p.is_file() {
            break;
        }
        out.push(p);
    }
    if out.is_empty() {
        return Err(CeremonyError::Usage(format!("{}: no 0000.ph2 (run `ceremony init` first)", dir.display())));
    }
    Ok(out)
}

/// Reads one file of the ceremony (its header and size checked before the
/// rest is read); `shape`, when given, is the shape the file must be for.
pub fn read(path: &Path, shape: Option<&Shape>) -> Result<Phase2, CeremonyError> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| CeremonyError::Io(format!("{name}: {e}"));
    let format = |m: String| CeremonyError::Format(format!("{name}: {m}"));
    let mut head = [0u8; HEADER_BYTES];
    std::io::Read::read_exact(&mut std::fs::File::open(path).map_err(io)?, &mut head)
        .map_err(|_| format("truncated".into()))?;
    let found = decode_header(&head).map_err(format)?.shape;
    if let Some(s) = shape.filter(|s| **s != found) {
        return Err(format(format!("a phase-2 file for {found}, not {s}")));
    }
    let longest = committed_len(&found).ok_or_else(|| format(format!("{found} is too large")))?;
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > longest as u64 {
        return Err(format(format!("{len} bytes, more than a phase-2 file for {found} holds")));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    Phase2::from_bytes(&found, &bytes).map_err(format)
}

/// Longest phase-2 file for a shape.
fn committed_len(shape: &Shape) -> Option<usize> {
    let v = committed::lengths(shape)?;
    let points: usize = v.iter().sum();
    Some(HEADER_BYTES + 4 + 32 + 2 + MAX_NAME + RECORD + G2 + 3 * G2 + 3 * G1 + 9 * 8 + points * G1 + v[3] * (G2 - G1))
}

/// Writes file `p` into `dir` (through a temporary file, renamed into place).
pub fn write(dir: &Path, p: &Phase2) -> Result<PathBuf, CeremonyError> {
    let path = dir.join(Phase2::file_name(p.index));
    if path.exists() {
        return Err(CeremonyError::Usage(format!("{} exists already", path.display())));
    }
    crate::setup::write_atomic(&path, &p.to_bytes()).map_err(|e| CeremonyError::Io(e.to_string()))?;
    Ok(path)
}

/// The last file's key as the prover's and verifier's key files.
pub fn finalize(last: &Phase2) -> Result<(crate::ProverKey, veriflop_verifier::ShapeKey), CeremonyError> {
    if last.index == 0 {
        return Err(CeremonyError::Usage(
            "no contribution yet: the key of 0000.ph2 has δ = σ = 1 and protects nothing; run `ceremony contribute`"
                .into(),
        ));
    }
    Ok(crate::setup::committed_keys(last.shape, last.key.clone(), last.sigma_delta_g2))
}

/// `point · x` for every point, in parallel, back to affine.
fn scale(points: &[G1Affine], x: ark_bn254::Fr) -> Vec<G1Affine> {
    let p: Vec<G1Projective> = points.par_iter().map(|p| *p * x).collect();
    G1Projective::normalize_batch(&p)
}

fn scale2(p: &G2Affine, x: ark_bn254::Fr) -> G2Affine {
    (G2Projective::from(*p) * x).into_affine()
}

fn inverse(x: ark_bn254::Fr) -> ark_bn254::Fr {
    x.inverse().expect("nonzero")
}
