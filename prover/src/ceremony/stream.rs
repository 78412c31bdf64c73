//! Phase-2 files a slice at a time: `contribute` and `verify` never hold a
//! whole key, only [`CHUNK`] points of each file they read (and for the
//! committed circuit σ-base 0 and the commitment key IC_C, which its checks
//! need whole).
//!
//! A file is a [`Prefix`] then the key: [`CommittedKey::to_bytes`]'s encoding,
//! ark-groth16's uncompressed `ProvingKey` for the Poseidon and naive
//! circuits, or for a model's inference keys that `ProvingKey` followed by
//! the σ part ([`InferenceKey`]); [`items`] lists each's parts in order with
//! what phase 2 does to each.

use std::io::{Read, Write};

use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_groth16::ProvingKey;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use veriflop_circuits::{CircuitKind, Shape};
use veriflop_verifier::keys::{KeyHeader, HEADER_BYTES};

use super::{G1, G2, MAGIC, MAX_NAME};
use crate::committed::{self, CommittedKey};

/// Points read or written at a time.
pub const CHUNK: usize = 1 << 15;

/// What a contribution does to a part of the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Fixed by phase 1 (α, β, γ, IC, A- and B-queries): never changes.
    Phase1,
    /// [δ]₁ or [δ]₂: times δ_j.
    Delta,
    /// L- and h-queries: times 1/δ_j.
    OverDelta,
    /// σ-bases and [σ]₂ of the k-th σ (committed circuit: σ; a model's
    /// keys: σ_hidden, σ_out): times that σ's factor σ_k,j.
    Sigma(usize),
}

/// One part of a key, in file order: a point or a length-prefixed vector.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    pub name: &'static str,
    pub g2: bool,
    pub vector: bool,
    pub role: Role,
}

const fn point(name: &'static str, g2: bool, role: Role) -> Item {
    Item { name, g2, vector: false, role }
}

const fn vector(name: &'static str, g2: bool, role: Role) -> Item {
    Item { name, g2, vector: true, role }
}

const COMMITTED: [Item; 15] = [
    point("α₁", false, Role::Phase1),
    point("β₂", true, Role::Phase1),
    point("γ₂", true, Role::Phase1),
    point("δ₂", true, Role::Delta),
    point("β₁", false, Role::Phase1),
    point("δ₁", false, Role::Delta),
    vector("IC", false, Role::Phase1),
    vector("A-query (scalars)", false, Role::Phase1),
    vector("B₁-query", false, Role::Phase1),
    vector("B₂-query", true, Role::Phase1),
    vector("A-query (entries)", false, Role::Phase1),
    vector("L-query (scalars)", false, Role::OverDelta),
    vector("L-query (products)", false, Role::OverDelta),
    vector("h-query", false, Role::OverDelta),
    vector("σ-bases", false, Role::Sigma(0)),
];

const GENERIC: [Item; 12] = [
    point("α₁", false, Role::Phase1),
    point("β₂", true, Role::Phase1),
    point("γ₂", true, Role::Phase1),
    point("δ₂", true, Role::Delta),
    vector("IC", false, Role::Phase1),
    point("β₁", false, Role::Phase1),
    point("δ₁", false, Role::Delta),
    vector("A-query", false, Role::Phase1),
    vector("B₁-query", false, Role::Phase1),
    vector("B₂-query", true, Role::Phase1),
    vector("h-query", false, Role::OverDelta),
    vector("L-query", false, Role::OverDelta),
];

/// A model's keys: ark-groth16's `ProvingKey` (as [`GENERIC`]), then the
/// σ part of `veriflop_infer::job::ModelKeys`.
const INFERENCE: [Item; 16] = [
    GENERIC[0],
    GENERIC[1],
    GENERIC[2],
    GENERIC[3],
    GENERIC[4],
    GENERIC[5],
    GENERIC[6],
    GENERIC[7],
    GENERIC[8],
    GENERIC[9],
    GENERIC[10],
    GENERIC[11],
    vector("σ_hidden-bases", false, Role::Sigma(0)),
    vector("σ_out-bases", false, Role::Sigma(1)),
    point("[σ_hidden]₂", true, Role::Sigma(0)),
    point("[σ_out]₂", true, Role::Sigma(1)),
];

/// The parts of a key of `kind`, in file order.
pub fn items(kind: CircuitKind) -> &'static [Item] {
    match kind {
        CircuitKind::Committed => &COMMITTED,
        CircuitKind::Poseidon | CircuitKind::Naive => &GENERIC,
        CircuitKind::Inference => &INFERENCE,
    }
}

/// How many σ a key of `kind` has besides δ (each with its own factor and
/// proof of knowledge per contribution).
pub fn sigmas(kind: CircuitKind) -> usize {
    match kind {
        CircuitKind::Committed => 1,
        CircuitKind::Poseidon | CircuitKind::Naive => 0,
        CircuitKind::Inference => 2,
    }
}

/// The transcript tag of the k-th σ's proof of knowledge.
pub fn sigma_tag(k: usize) -> &'static str {
    ["sigma", "sigma_out"][k.min(1)]
}

/// A proof of knowledge of a secret x: S = [s]₁, S·x and R·x, R =
/// [`super::challenge`] of the previous file's hash, S and S·x.
#[derive(Clone, Debug, PartialEq)]
pub struct Pok {
    pub s: G1Affine,
    pub sx: G1Affine,
    pub rx: G2Affine,
}

/// A contribution's proofs of knowledge: of δ_j, and of each σ's factor
/// ([`sigmas`] of them: σ_j for the committed circuit, σ_hidden,j and
/// σ_out,j for a model's keys).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub delta: Pok,
    pub sigmas: Vec<Pok>,
}

/// What a model ceremony's keys are for besides the job shape (batch × d_in
/// → d_out): the model's digest and the circuit's dense-row budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelTag {
    pub digest: [u8; 32],
    pub dense_budget: u64,
}

/// Everything in a file before the key.
#[derive(Clone, Debug, PartialEq)]
pub struct Prefix {
    pub kind: CircuitKind,
    pub shape: Shape,
    pub index: u32,
    /// SHA-256 of the previous file (file 0: of the `.ptau`).
    pub prev: [u8; 32],
    pub name: String,
    /// Exactly for a model's keys (kind inference).
    pub model: Option<ModelTag>,
    /// Present exactly for index ≥ 1.
    pub record: Option<Record>,
    /// [σδ]₂, exactly for the committed circuit.
    pub sigma_delta_g2: Option<G2Affine>,
}

fn ser(out: &mut Vec<u8>, p: &impl CanonicalSerialize) {
    p.serialize_uncompressed(out).expect("writing to a Vec cannot fail")
}

impl Prefix {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = KeyHeader { kind: self.kind, shape: self.shape }.encode(MAGIC).to_vec();
        if let Some(m) = &self.model {
            // A model's keys carry the model key files' version.
            out[4] = veriflop_infer::keys::VERSION;
            out.extend_from_slice(&m.digest);
            out.extend_from_slice(&m.dense_budget.to_le_bytes());
        }
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.prev);
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        if let Some(r) = &self.record {
            for p in std::iter::once(&r.delta).chain(&r.sigmas) {
                ser(&mut out, &p.s);
                ser(&mut out, &p.sx);
                ser(&mut out, &p.rx);
            }
        }
        if let Some(p) = &self.sigma_delta_g2 {
            ser(&mut out, p);
        }
        out
    }
}

/// Reads a file in order, hashing every byte; every point is checked on the
/// curve, and G2 points in the prime-order subgroup (BN254's G1 has cofactor
/// 1). No read goes past the file's length, whatever a length prefix says.
pub struct Reader<R> {
    r: R,
    hash: Sha256,
    left: u64,
}

impl<R: Read> Reader<R> {
    /// A reader of a file of `len` bytes.
    pub fn new(r: R, len: u64) -> Self {
        Reader { r, hash: Sha256::new(), left: len }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<Vec<u8>, String> {
        if n as u64 > self.left {
            return Err(format!("truncated: the file ends in its {what}"));
        }
        let mut buf = vec![0u8; n];
        self.r.read_exact(&mut buf).map_err(|_| format!("truncated: the file ends in its {what}"))?;
        self.left -= n as u64;
        self.hash.update(&buf);
        Ok(buf)
    }

    fn pok(&mut self, what: &str) -> Result<Pok, String> {
        let b = self.take(2 * G1 + G2, what)?;
        let e = |e: String| format!("{what}: {e}");
        Ok(Pok {
            s: point_g1(&b[..G1]).map_err(e)?,
            sx: point_g1(&b[G1..2 * G1]).map_err(e)?,
            rx: point_g2(&b[2 * G1..]).map_err(e)?,
        })
    }

    /// The prefix; `expect`, when given, is the circuit and shape the file must be for.
    pub fn prefix(&mut self, expect: Option<(CircuitKind, Shape)>) -> Result<Prefix, String> {
        let head = self.take(HEADER_BYTES, "header")?;
        let (kind, shape, model) = if head[..4] == *MAGIC && head[5] == CircuitKind::Inference.code() {
            let shape = model_shape(&head)?;
            let digest: [u8; 32] = self.take(32, "model digest")?.try_into().expect("32");
            let dense_budget = u64::from_le_bytes(self.take(8, "dense-row budget")?.try_into().expect("8"));
            (CircuitKind::Inference, shape, Some(ModelTag { digest, dense_budget }))
        } else {
            let header = KeyHeader::decode(&head, MAGIC, "phase-2").map_err(|e| format!("not a phase-2 file: {e}"))?;
            (header.kind, header.shape, None)
        };
        if let Some((k, s)) = expect.filter(|e| *e != (kind, shape)) {
            return Err(format!("a phase-2 file for {kind} {shape}, not {k} {s}"));
        }
        let index = u32::from_le_bytes(self.take(4, "index")?.try_into().expect("4"));
        let prev: [u8; 32] = self.take(32, "previous hash")?.try_into().expect("32");
        let name_len = u16::from_le_bytes(self.take(2, "name")?.try_into().expect("2")) as usize;
        if name_len > MAX_NAME {
            return Err(format!("a contributor name of {name_len} bytes (at most {MAX_NAME})"));
        }
        let name = String::from_utf8(self.take(name_len, "name")?).map_err(|_| "the name is not UTF-8")?;
        let committed = kind == CircuitKind::Committed;
        let record = if index > 0 {
            let delta = self.pok("proof of knowledge of δ_j")?;
            let sigmas =
                (0..sigmas(kind)).map(|_| self.pok("proof of knowledge of a σ_j")).collect::<Result<_, _>>()?;
            Some(Record { delta, sigmas })
        } else {
            None
        };
        let sigma_delta_g2 = if committed {
            Some(point_g2(&self.take(G2, "[σδ]₂")?).map_err(|e| format!("[σδ]₂: {e}"))?)
        } else {
            None
        };
        Ok(Prefix { kind, shape, index, prev, name, model, record, sigma_delta_g2 })
    }

    pub fn g1s(&mut self, n: usize, what: &str) -> Result<Vec<G1Affine>, String> {
        let b = self.take(n * G1, what)?;
        b.par_chunks(G1).enumerate().map(|(i, p)| point_g1(p).map_err(|e| format!("{what} point {i}: {e}"))).collect()
    }

    pub fn g2s(&mut self, n: usize, what: &str) -> Result<Vec<G2Affine>, String> {
        let b = self.take(n * G2, what)?;
        b.par_chunks(G2).enumerate().map(|(i, p)| point_g2(p).map_err(|e| format!("{what} point {i}: {e}"))).collect()
    }

    /// A vector's length prefix: it must fit in what is left of the file, and
    /// equal `want` when given.
    pub fn len(&mut self, item: &Item, want: Option<usize>) -> Result<usize, String> {
        let got = u64::from_le_bytes(self.take(8, item.name)?.try_into().expect("8"));
        let width = if item.g2 { G2 } else { G1 } as u64;
        if got.checked_mul(width).is_none_or(|b| b > self.left) {
            return Err(format!("{} claims {got} points, more than the file holds", item.name));
        }
        if want.is_some_and(|w| w as u64 != got) {
            return Err(format!("{} holds {got} points, not {}", item.name, want.unwrap_or(0)));
        }
        Ok(got as usize)
    }

    /// The rest of the file (for a whole read).
    pub fn rest(&mut self) -> Result<Vec<u8>, String> {
        let n = usize::try_from(self.left).map_err(|_| "file too large")?;
        self.take(n, "key")
    }

    /// The SHA-256 of the file, which must end here.
    pub fn finish(mut self) -> Result<[u8; 32], String> {
        let mut extra = [0u8; 1];
        if self.left != 0 || self.r.read(&mut extra).map_err(|e| e.to_string())? != 0 {
            return Err("bytes after the key".into());
        }
        Ok(self.hash.finalize().into())
    }
}

/// The job shape (batch × d_in → d_out, int8) of a model ceremony's header,
/// which must carry the model key files' version.
fn model_shape(head: &[u8]) -> Result<Shape, String> {
    let version = veriflop_infer::keys::VERSION;
    if head[4] != version || head[7] != 0 {
        return Err(format!(
            "a model ceremony's file of version {} (this release reads {version}): start the ceremony again",
            head[4]
        ));
    }
    let dtype = veriflop_circuits::Dtype::from_code(head[6]).map_err(|e| e.to_string())?;
    let u = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4"));
    Shape::new(u(8), u(12), u(16), dtype).map_err(|e| format!("not a phase-2 file: {e}"))
}

/// Vector lengths a key of `kind` for `shape` must have, in file order (None:
/// only bounded by the file; the check against file 0 fixes them).
pub fn lengths(kind: CircuitKind, shape: &Shape) -> Vec<Option<usize>> {
    match (kind, committed::lengths(shape)) {
        (CircuitKind::Committed, Some(v)) => v.iter().map(|n| Some(*n)).collect(),
        _ => vec![None; items(kind).iter().filter(|i| i.vector).count()],
    }
}

/// A model's keys as phase 2 transforms them: the Groth16 proving key, the
/// σ-bases over the hidden and output groups' input bases, and [σ]₂ of each.
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceKey {
    pub pk: ProvingKey<Bn254>,
    pub pok_hidden: Vec<G1Affine>,
    pub pok_out: Vec<G1Affine>,
    pub sigma_hidden_g2: G2Affine,
    pub sigma_out_g2: G2Affine,
}

/// A whole key, decoded and checked.
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    Committed(CommittedKey),
    Generic(ProvingKey<Bn254>),
    Inference(InferenceKey),
}

impl Key {
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Key::Committed(k) => k.to_bytes(),
            Key::Generic(pk) => {
                let mut out = Vec::with_capacity(pk.uncompressed_size());
                pk.serialize_uncompressed(&mut out).expect("writing to a Vec cannot fail");
                out
            }
            Key::Inference(k) => {
                let mut out = Key::Generic(k.pk.clone()).to_bytes();
                ser(&mut out, &k.pok_hidden);
                ser(&mut out, &k.pok_out);
                ser(&mut out, &k.sigma_hidden_g2);
                ser(&mut out, &k.sigma_out_g2);
                out
            }
        }
    }

    /// Decodes the key part of a file (lengths checked before any allocation,
    /// every point checked).
    pub fn from_bytes(kind: CircuitKind, shape: &Shape, bytes: &[u8]) -> Result<Key, String> {
        if kind == CircuitKind::Committed {
            let k = CommittedKey::from_bytes(shape, bytes)?;
            let mut r = Reader::new(bytes, bytes.len() as u64);
            let want = lengths(kind, shape);
            let mut v = 0;
            for item in items(kind) {
                let n = if item.vector {
                    v += 1;
                    r.len(item, want[v - 1])?
                } else {
                    1
                };
                if item.g2 {
                    r.g2s(n, item.name)?;
                } else {
                    r.g1s(n, item.name)?;
                }
            }
            r.finish()?;
            return Ok(Key::Committed(k));
        }
        if kind == CircuitKind::Inference {
            return inference_key(bytes).map(Key::Inference);
        }
        crate::setup::check_pk_layout(bytes)?;
        let pk = ProvingKey::<Bn254>::deserialize_uncompressed(bytes).map_err(|e| e.to_string())?;
        if pk.vk.gamma_abc_g1.len() != kind.num_ic() {
            return Err(format!("input points do not fit a {kind} key"));
        }
        Ok(Key::Generic(pk))
    }
}

/// A model's key from its parts in [`INFERENCE`]'s order, every point checked.
fn inference_key(bytes: &[u8]) -> Result<InferenceKey, String> {
    let mut r = Reader::new(bytes, bytes.len() as u64);
    let (mut g1, mut g2) = (Vec::new(), Vec::new());
    for item in &INFERENCE {
        let n = if item.vector { r.len(item, None)? } else { 1 };
        if item.g2 {
            g2.push(r.g2s(n, item.name)?);
        } else {
            g1.push(r.g1s(n, item.name)?);
        }
    }
    r.finish()?;
    // G1: α, IC, β, δ, A, B₁, h, L, σ_hidden-bases, σ_out-bases; G2: β, γ, δ, B₂, [σ_hidden], [σ_out].
    let mut g1 = g1.into_iter();
    let mut g2 = g2.into_iter();
    let mut one1 = || g1.next().expect("ten G1 parts");
    let mut one2 = || g2.next().expect("six G2 parts");
    let (alpha_g1, ic, beta_g1, delta_g1) = (one1()[0], one1(), one1()[0], one1()[0]);
    let (a_query, b_g1_query, h_query, l_query, pok_hidden, pok_out) = (one1(), one1(), one1(), one1(), one1(), one1());
    let (beta_g2, gamma_g2, delta_g2, b_g2_query) = (one2()[0], one2()[0], one2()[0], one2());
    let (sigma_hidden_g2, sigma_out_g2) = (one2()[0], one2()[0]);
    let vk = ark_groth16::VerifyingKey { alpha_g1, beta_g2, gamma_g2, delta_g2, gamma_abc_g1: ic };
    let pk = ProvingKey { vk, beta_g1, delta_g1, a_query, b_g1_query, b_g2_query, h_query, l_query };
    Ok(InferenceKey { pk, pok_hidden, pok_out, sigma_hidden_g2, sigma_out_g2 })
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
