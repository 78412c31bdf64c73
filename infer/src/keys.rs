//! A model's keys as files, and the verifier's side of them.
//!
//! - [`ModelVk`]: what a verifier needs for one model and batch: the Groth16
//!   verifying key's fixed part (α, β, γ, δ and the bases of 1, r, α), the
//!   input and output groups' bases (to recompute cm_in and cm_out from the
//!   client's input and the delivered output) and [σ_hidden]₂, [σ_out]₂. It
//!   does not grow with the hidden layers. File `.ivk`: a header (`VFIV`,
//!   version, model digest, batch, d_in, d_out), then the points uncompressed;
//!   the exact length follows from the header and is checked before anything
//!   is read, every point is validated (on the curve, in the subgroup).
//! - [`ModelKeys`] (the prover's): file `.ipk`, a header (`VFIP`, version,
//!   model digest, batch, dense-row budget, payload length, keccak256 of the
//!   payload), then the
//!   proving key, the groups and the σ-bases. The checksum guards against a
//!   corrupt file; the points are not re-validated (a wrong proving key only
//!   makes proofs that fail).

use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_ec::pairing::Pairing;
use ark_ec::AffineRepr;
use ark_groth16::{Groth16, PreparedVerifyingKey, ProvingKey, VerifyingKey};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use sha3::{Digest, Keccak256};
use std::io::Read;
use std::path::{Path, PathBuf};
use veriflop_circuits::cp::{digest, CommitKey};
use veriflop_circuits::{Dtype, Shape};

use crate::circuit::Group;
use crate::job::{challenges, commit_values, InferenceProof, InferenceStatement, ModelKeys, SKIP};
use crate::Error;

/// Magic of a model's verifying-key file.
pub const VK_MAGIC: &[u8; 4] = b"VFIV";
/// Magic of a model's proving-key file.
pub const PK_MAGIC: &[u8; 4] = b"VFIP";
/// Version of both key files (and of a model ceremony's phase-2 files).
pub const VERSION: u8 = 5;
/// Entries of one committed group (batch × width) a key file may hold.
pub const MAX_GROUP: usize = 1 << 22;
const G1_BYTES: usize = 64;
const G2_BYTES: usize = 128;
/// Header of a verifying-key file: magic, version, digest, batch, d_in, d_out.
const VK_HEADER: usize = 4 + 1 + 32 + 3 * 4;
/// Header of a proving-key file: magic, version, digest, batch, dense-row
/// budget, payload length, keccak.
const PK_HEADER: usize = 4 + 1 + 32 + 4 + 8 + 8 + 32;

/// Stem of a model's key files in a key directory: `inference-<first 8 bytes
/// of the model digest, hex>-b<batch>` (`.ipk` proving key, `.ivk` verifying key).
pub fn file_stem(model_digest: &[u8; 32], batch: usize) -> String {
    format!("inference-{}-b{batch}", hex::encode(&model_digest[..8]))
}

/// Which of a model's key files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFile {
    /// `.ipk`, the prover's.
    Proving,
    /// `.ivk`, the verifier's.
    Verifying,
}

impl KeyFile {
    pub fn extension(self) -> &'static str {
        match self {
            KeyFile::Proving => "ipk",
            KeyFile::Verifying => "ivk",
        }
    }
    fn magic(self) -> &'static [u8; 4] {
        match self {
            KeyFile::Proving => PK_MAGIC,
            KeyFile::Verifying => VK_MAGIC,
        }
    }
}

/// The model digest and batch a key file's header names (both files start with
/// magic, version, digest, batch), without reading the rest.
pub fn read_header(kind: KeyFile, path: &Path) -> Option<([u8; 32], usize)> {
    let mut head = [0u8; 41];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if &head[..4] != kind.magic() || head[4] != VERSION {
        return None;
    }
    let digest: [u8; 32] = head[5..37].try_into().expect("32 bytes");
    Some((digest, u32::from_be_bytes(head[37..41].try_into().expect("4 bytes")) as usize))
}

/// Finds, in a key directory, the key file of the model whose digest `is_model`
/// accepts, for `batch`: what a client or provider holds when a job names the
/// model only by its word (the digest reduced mod r). Reads headers only.
pub fn find(dir: &Path, kind: KeyFile, batch: usize, is_model: impl Fn(&[u8; 32]) -> bool) -> Option<PathBuf> {
    let suffix = format!("-b{batch}.{}", kind.extension());
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.starts_with("inference-")
            && name.ends_with(&suffix)
            && read_header(kind, p).is_some_and(|(d, b)| {
                b == batch && is_model(&d) && name == format!("{}.{}", file_stem(&d, b), kind.extension())
            })
    })
}

/// The verifier's key for one model and batch.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelVk {
    pub model_digest: [u8; 32],
    pub batch: usize,
    pub d_in: usize,
    pub d_out: usize,
    /// α, β, γ, δ and the bases of 1, r, α (`gamma_abc_g1` has those three).
    pub vk: VerifyingKey<Bn254>,
    /// Bases of the input group (batch × d_in) and of the output group (batch × d_out).
    pub input_bases: Vec<G1Affine>,
    pub output_bases: Vec<G1Affine>,
    pub sigma_hidden_g2: G2Affine,
    pub sigma_out_g2: G2Affine,
}

impl ModelKeys {
    /// The verifier's part of the keys.
    pub fn verifying_key(&self) -> ModelVk {
        let bases = |g: Group| -> Vec<G1Affine> {
            self.groups.iter().zip(&self.vk.gamma_abc_g1[SKIP..]).filter(|(x, _)| **x == g).map(|(_, p)| *p).collect()
        };
        let (input_bases, output_bases) = (bases(Group::Input), bases(Group::Output));
        let mut vk = self.vk.clone();
        vk.gamma_abc_g1.truncate(SKIP);
        ModelVk {
            model_digest: self.model_digest,
            batch: self.batch,
            d_in: input_bases.len() / self.batch,
            d_out: output_bases.len() / self.batch,
            vk,
            input_bases,
            output_bases,
            sigma_hidden_g2: self.sigma_hidden_g2,
            sigma_out_g2: self.sigma_out_g2,
        }
    }

    /// The `.ipk` file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        let groups: Vec<u8> = self.groups.iter().map(|g| *g as u8).collect();
        let w = &mut payload;
        let ok = "serializing to a vector";
        self.pk.serialize_uncompressed(&mut *w).expect(ok);
        groups.serialize_uncompressed(&mut *w).expect(ok);
        self.pok_hidden.serialize_uncompressed(&mut *w).expect(ok);
        self.pok_out.serialize_uncompressed(&mut *w).expect(ok);
        [self.sigma_hidden_g2, self.sigma_out_g2]
            .serialize_uncompressed(&mut payload)
            .expect("serializing to a vector");
        let mut out = Vec::with_capacity(PK_HEADER + payload.len());
        out.extend_from_slice(PK_MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.model_digest);
        out.extend_from_slice(&(self.batch as u32).to_be_bytes());
        out.extend_from_slice(&self.dense_budget.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        out.extend_from_slice(&Keccak256::digest(&payload));
        out.extend_from_slice(&payload);
        out
    }

    /// Reads an `.ipk` file's bytes (header, length and checksum checked first).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |m: &str| Error::Key(format!("proving key: {m}"));
        if bytes.len() < PK_HEADER || &bytes[..4] != PK_MAGIC {
            return Err(bad("not a model proving key (missing VFIP header)"));
        }
        if bytes[4] != VERSION {
            return Err(bad(&format!("version {} (this build reads {VERSION}): make the model's keys again with `veriflop-prover model setup`", bytes[4])));
        }
        let model_digest: [u8; 32] = bytes[5..37].try_into().expect("32 bytes");
        let batch = u32::from_be_bytes(bytes[37..41].try_into().expect("4 bytes")) as usize;
        let dense_budget = u64::from_be_bytes(bytes[41..49].try_into().expect("8 bytes"));
        let len = u64::from_be_bytes(bytes[49..57].try_into().expect("8 bytes"));
        let payload = &bytes[PK_HEADER..];
        if payload.len() as u64 != len {
            return Err(bad(&format!("{} payload bytes, the header says {len}", payload.len())));
        }
        if Keccak256::digest(payload).as_slice() != &bytes[57..89] {
            return Err(bad("checksum mismatch (corrupt file)"));
        }
        type Payload = (ProvingKey<Bn254>, Vec<u8>, Vec<G1Affine>, Vec<G1Affine>);
        let mut r = payload;
        let (pk, groups, pok_hidden, pok_out) =
            Payload::deserialize_with_mode(&mut r, Compress::No, Validate::No).map_err(|e| bad(&e.to_string()))?;
        let [sigma_hidden_g2, sigma_out_g2] =
            <[G2Affine; 2]>::deserialize_with_mode(&mut r, Compress::No, Validate::Yes)
                .map_err(|e| bad(&e.to_string()))?;
        if !r.is_empty() {
            return Err(bad("trailing bytes"));
        }
        let groups = groups
            .into_iter()
            .map(|g| match g {
                0 => Ok(Group::Input),
                1 => Ok(Group::Hidden),
                2 => Ok(Group::Output),
                _ => Err(bad("unknown group")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if batch == 0 || pk.vk.gamma_abc_g1.len() != SKIP + groups.len() {
            return Err(bad("inconsistent lengths"));
        }
        let vk = pk.vk.clone();
        Ok(ModelKeys {
            model_digest,
            batch,
            dense_budget,
            pk,
            vk,
            groups,
            pok_hidden,
            pok_out,
            sigma_hidden_g2,
            sigma_out_g2,
        })
    }
}

impl ModelVk {
    /// The client's commitment to its input batch (batch × d_in, int8).
    pub fn commit_input(&self, input: &[i8]) -> Result<G1Affine, Error> {
        commit_values(&self.input_bases, input, "the input")
    }

    /// The commitment to an output batch (batch × d_out, int8): what delivery checks.
    pub fn commit_output(&self, output: &[i8]) -> Result<G1Affine, Error> {
        commit_values(&self.output_bases, output, "the output")
    }

    /// Checks a proof against the statement: the Groth16 equation over the
    /// commitments and derived challenges, and both proofs of knowledge.
    pub fn verify(&self, st: &InferenceStatement, p: &InferenceProof) -> bool {
        if st.model_digest != self.model_digest || self.vk.gamma_abc_g1.len() != SKIP {
            return false;
        }
        let ch = challenges(st, self.batch, &p.cm_hidden, &p.cm_out);
        let ic = &self.vk.gamma_abc_g1;
        let prepared = ic[0].into_group() + ic[1] * ch.r + ic[2] * ch.alpha + st.cm_in + p.cm_hidden + p.cm_out;
        let pvk: PreparedVerifyingKey<Bn254> = ark_groth16::prepare_verifying_key(&self.vk);
        let groth = Groth16::<Bn254>::verify_proof_with_prepared_inputs(&pvk, &p.proof, &prepared).unwrap_or(false);
        let g2 = G2Affine::generator();
        let pok = |pok: &G1Affine, cm: &G1Affine, s: &G2Affine| Bn254::pairing(pok, g2) == Bn254::pairing(cm, s);
        groth
            && pok(&p.pok_hidden, &p.cm_hidden, &self.sigma_hidden_g2)
            && pok(&p.pok_out, &p.cm_out, &self.sigma_out_g2)
    }

    /// The job shape this key proves: batch × d_in → d_out, int8.
    pub fn shape(&self) -> Result<Shape, Error> {
        Shape::new(self.batch as u32, self.d_in as u32, self.d_out as u32, Dtype::Int8)
            .map_err(|e| Error::Key(format!("the model key's job shape: {e}")))
    }

    /// The input and output bases as a commitment key (A: the input batch, C:
    /// the output), to commit job files as the matrix jobs' are.
    pub fn commit_key(&self) -> Result<CommitKey, Error> {
        Ok(CommitKey { shape: self.shape()?, a: self.input_bases.clone(), b: Vec::new(), c: self.output_bases.clone() })
    }

    /// Digest of the input commitment (what a job records as cm_in).
    pub fn input_digest(&self, input: &[i8]) -> Result<ark_bn254::Fr, Error> {
        Ok(digest(&self.commit_input(input)?))
    }

    /// The `.ivk` file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.file_len());
        out.extend_from_slice(VK_MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.model_digest);
        for v in [self.batch, self.d_in, self.d_out] {
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
        let vk = &self.vk;
        vk.alpha_g1.serialize_uncompressed(&mut out).expect("serializing to a vector");
        [vk.beta_g2, vk.gamma_g2, vk.delta_g2, self.sigma_hidden_g2, self.sigma_out_g2]
            .serialize_uncompressed(&mut out)
            .expect("serializing to a vector");
        for p in vk.gamma_abc_g1.iter().chain(&self.input_bases).chain(&self.output_bases) {
            p.serialize_uncompressed(&mut out).expect("serializing to a vector");
        }
        out
    }

    fn file_len(&self) -> usize {
        vk_file_len(self.batch * self.d_in, self.batch * self.d_out)
    }

    /// Reads an `.ivk` file's bytes (untrusted: sizes checked first, every point validated).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |m: &str| Error::Key(format!("verifying key: {m}"));
        if bytes.len() < VK_HEADER || &bytes[..4] != VK_MAGIC {
            return Err(bad("not a model verifying key (missing VFIV header)"));
        }
        if bytes[4] != VERSION {
            return Err(bad(&format!("version {} (this build reads {VERSION}): make the model's keys again with `veriflop-prover model setup`", bytes[4])));
        }
        let model_digest: [u8; 32] = bytes[5..37].try_into().expect("32 bytes");
        let word = |i: usize| u32::from_be_bytes(bytes[37 + 4 * i..41 + 4 * i].try_into().expect("4 bytes")) as usize;
        let (batch, d_in, d_out) = (word(0), word(1), word(2));
        if batch == 0 || d_in == 0 || d_out == 0 {
            return Err(bad("zero batch or width"));
        }
        let (n_in, n_out) = match (batch.checked_mul(d_in), batch.checked_mul(d_out)) {
            (Some(a), Some(b)) if a <= MAX_GROUP && b <= MAX_GROUP => (a, b),
            _ => return Err(bad(&format!("batch {batch} × {d_in} → {d_out} is beyond {MAX_GROUP} entries"))),
        };
        if bytes.len() != vk_file_len(n_in, n_out) {
            return Err(bad(&format!("{} bytes, expected {}", bytes.len(), vk_file_len(n_in, n_out))));
        }
        let mut r = &bytes[VK_HEADER..];
        let alpha_g1 = G1Affine::deserialize_uncompressed(&mut r).map_err(|e| bad(&e.to_string()))?;
        let [beta_g2, gamma_g2, delta_g2, sigma_hidden_g2, sigma_out_g2] =
            <[G2Affine; 5]>::deserialize_uncompressed(&mut r).map_err(|e| bad(&e.to_string()))?;
        let mut points = |n: usize| -> Result<Vec<G1Affine>, Error> {
            (0..n).map(|_| G1Affine::deserialize_uncompressed(&mut r).map_err(|e| bad(&e.to_string()))).collect()
        };
        let gamma_abc_g1 = points(SKIP)?;
        let input_bases = points(n_in)?;
        let output_bases = points(n_out)?;
        Ok(ModelVk {
            model_digest,
            batch,
            d_in,
            d_out,
            vk: VerifyingKey { alpha_g1, beta_g2, gamma_g2, delta_g2, gamma_abc_g1 },
            input_bases,
            output_bases,
            sigma_hidden_g2,
            sigma_out_g2,
        })
    }
}

fn vk_file_len(n_in: usize, n_out: usize) -> usize {
    VK_HEADER + G1_BYTES + 5 * G2_BYTES + (SKIP + n_in + n_out) * G1_BYTES
}
