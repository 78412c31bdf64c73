//! Phase 2 of a Groth16 ceremony (BGM17, as snarkjs's `zkey` and gnark's
//! `mpcsetup` run it), on top of a public powers of tau, for any of the
//! Groth16 circuits: committed (the default), the Poseidon and naive ones,
//! and a model's inference keys (one model, one batch size).
//!
//! Phase 1 (the `.ptau`) fixes τ, α and β; γ is the G2 generator. Phase 2 adds
//! the circuit's own secrets as a product of one factor per contributor: δ,
//! and for the committed circuit σ (the proof-of-knowledge key of cm_C), for
//! a model's keys σ_hidden and σ_out (those of cm_hidden and cm_out). Each
//! contributor multiplies δ₁, δ₂ by δ_j, the L- and h-queries by 1/δ_j, each
//! σ's bases by its σ_j, [σδ]₂ by σ_j·δ_j (committed) or [σ]₂ by σ_j (a
//! model's), and proves knowledge of δ_j and of every σ_j. One honest
//! contributor who forgets its factors makes δ and the σ unknown to everyone
//! (docs/PROTOCOL.md §6, §16.5).
//!
//! A ceremony is a directory of files `0000.ph2`, `0001.ph2`, …: file 0 is
//! [`init`]'s key from the `.ptau` (δ = σ = 1), file j the key after
//! contribution j, with its record. [`verify`] re-derives file 0 from the
//! `.ptau` and checks every step; [`finalize`] writes the last key as the key
//! files the prover, the service and the contracts read.
//!
//! File format: a 20-byte key header with magic `VFP2` (circuit, dtype, shape;
//! for a model's keys the shape is batch × d_in × d_out, the version byte is
//! the model key files' and the header is followed by the model's digest and
//! the dense-row budget, u64 LE), the index (u32 LE), the 32-byte SHA-256 of the previous file (for file 0,
//! of the `.ptau`), the contributor's name (u16 LE length ≤ 128, UTF-8), for
//! file j ≥ 1 the proofs of knowledge (S, S·δ_j ∈ G1, R·δ_j ∈ G2; committed:
//! T, T·σ_j, Q·σ_j likewise; a model's keys: one such triple for σ_hidden,j,
//! then one for σ_out,j), for the committed circuit [σδ]₂, then the key
//! (arkworks uncompressed points; see [`stream`]). Its SHA-256 is the
//! contribution hash contributors publish.

mod contribute;
mod init;
pub mod ptau;
pub mod stream;
mod verify;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ark_bn254::{G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::Field;
use ark_serialize::CanonicalSerialize;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use veriflop_circuits::{CircuitKind, Shape};
use veriflop_infer::job::ModelKeys;
use veriflop_infer::Model;
use veriflop_verifier::keys::KeyHeader;

pub use contribute::{contribute, Contribution};
pub use init::{init, init_model};
pub use stream::{InferenceKey, Key, ModelTag, Pok, Prefix, Record};
pub use verify::{verify, Verified};

use stream::Reader;

const MAGIC: &[u8; 4] = b"VFP2";
/// Longest contributor name kept in a file.
pub const MAX_NAME: usize = 128;
const G1: usize = 64;
const G2: usize = 128;

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

/// One whole file of the transcript.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase2 {
    pub prefix: Prefix,
    pub key: Key,
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
        let mut out = self.prefix.to_bytes();
        out.extend_from_slice(&self.key.to_bytes());
        out
    }

    /// Decodes a file for `kind` and `shape`: lengths checked before any
    /// allocation, every point on the curve and in the prime-order subgroup.
    pub fn from_bytes(kind: CircuitKind, shape: &Shape, bytes: &[u8]) -> Result<Phase2, String> {
        decode(Reader::new(bytes, bytes.len() as u64), Some((kind, *shape)))
    }

    /// SHA-256 of the file: the contribution hash.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }
}

fn decode<R: std::io::Read>(mut r: Reader<R>, expect: Option<(CircuitKind, Shape)>) -> Result<Phase2, String> {
    let prefix = r.prefix(expect)?;
    let key = Key::from_bytes(prefix.kind, &prefix.shape, &r.rest()?)?;
    r.finish()?;
    Ok(Phase2 { prefix, key })
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

/// A file opened for streaming.
fn open(path: &Path) -> Result<Reader<BufReader<File>>, CeremonyError> {
    let io = |e: std::io::Error| CeremonyError::Io(format!("{}: {e}", path.display()));
    let f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    Ok(Reader::new(BufReader::with_capacity(1 << 20, f), len))
}

/// Reads one whole file of the ceremony; `expect`, when given, is the circuit
/// and shape the file must be for.
pub fn read(path: &Path, expect: Option<(CircuitKind, Shape)>) -> Result<Phase2, CeremonyError> {
    decode(open(path)?, expect).map_err(|e| CeremonyError::Format(format!("{}: {e}", path.display())))
}

/// Writes file `p` into `dir` (through a temporary file, renamed into place).
pub fn write(dir: &Path, p: &Phase2) -> Result<PathBuf, CeremonyError> {
    let path = dir.join(Phase2::file_name(p.prefix.index));
    if path.exists() {
        return Err(CeremonyError::Usage(format!("{} exists already", path.display())));
    }
    crate::setup::write_atomic(&path, &p.to_bytes()).map_err(|e| CeremonyError::Io(e.to_string()))?;
    Ok(path)
}

/// The last file's key as the prover's and verifier's key files.
pub fn finalize(last: &Phase2) -> Result<(crate::ProverKey, veriflop_verifier::ShapeKey), CeremonyError> {
    let p = &last.prefix;
    if p.index == 0 {
        return Err(CeremonyError::Usage(
            "no contribution yet: the key of 0000.ph2 has δ = 1 and protects nothing; run `ceremony contribute`".into(),
        ));
    }
    Ok(match (&last.key, p.sigma_delta_g2) {
        (Key::Committed(k), Some(sd)) => crate::setup::committed_keys(p.shape, k.clone(), sd),
        (Key::Generic(pk), None) => {
            let header = KeyHeader { kind: p.kind, shape: p.shape };
            let vk = veriflop_verifier::ShapeKey { header, vk: pk.vk.clone(), pok_g2: None };
            (crate::ProverKey { header, body: crate::KeyBody::Generic(pk.clone()) }, vk)
        }
        (Key::Inference(_), _) => {
            return Err(CeremonyError::Usage("a ceremony for a model's keys: finalize it with its model".into()))
        }
        _ => return Err(CeremonyError::Format("the key does not fit its circuit".into())),
    })
}

/// The last file's key as the model's key files (`.ipk`, `.ivk`): the file
/// must be for `model` (digest) and hold a contribution.
pub fn finalize_model(last: &Phase2, model: &Model) -> Result<ModelKeys, CeremonyError> {
    let p = &last.prefix;
    let (Key::Inference(k), Some(tag)) = (&last.key, p.model) else {
        return Err(CeremonyError::Usage(format!("a ceremony for {} {} is not for a model", p.kind, p.shape)));
    };
    if tag.digest != model.digest() {
        return Err(CeremonyError::Usage("the ceremony is for another model (its digest differs)".into()));
    }
    if p.index == 0 {
        return Err(CeremonyError::Usage(
            "no contribution yet: the key of 0000.ph2 has δ = σ = 1 and protects nothing; run `ceremony contribute`"
                .into(),
        ));
    }
    let k = k.clone();
    ModelKeys::from_parts(
        model,
        p.shape.m as usize,
        tag.dense_budget,
        k.pk,
        k.pok_hidden,
        k.pok_out,
        k.sigma_hidden_g2,
        k.sigma_out_g2,
    )
    .map_err(|e| CeremonyError::Format(e.to_string()))
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
