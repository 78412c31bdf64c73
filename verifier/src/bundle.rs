//! The proof bundle: everything a verifier needs besides the key.
//!
//! Wire form: the 4 bytes `VFPB` then the bincode (standard config) encoding of
//! [`ProofBundle`]; people get the same structure as JSON with hex strings.
//! Decoding is bounded ([`MAX_BUNDLE_BYTES`]), rejects trailing bytes, unknown
//! versions, invalid shapes, non-canonical field elements, and points that are
//! off the curve, outside the prime-order subgroup or the identity.
//!
//! The proof is tagged with its system ([`Proof`]): a Groth16 proof (256
//! bytes, points validated on decode) or a halo2-KZG proof (opaque bytes whose
//! exact length the shape's key fixes; decoded and checked by the verifier).
//! A committed-circuit bundle also carries the commitment points and the proof
//! of knowledge of cm_C's opening ([`CommitmentProof`], EVM encoding); other
//! circuits' bundles carry none. An inference bundle carries its five points
//! instead ([`InferenceCommitments`]). halo2 bundles are for the Poseidon
//! circuit's statement only.

use ark_bn254::{Bn254, G1Affine};
use ark_ec::AffineRepr;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use veriflop_circuits::field::{de_bytes, ser_bytes};
use veriflop_circuits::{cp, CircuitKind, ProofSystem, Statement};

/// Current bundle version (2: commitment points for the committed circuit;
/// 3: the proof is tagged with its system, halo2 proofs; 4: inference jobs).
pub const BUNDLE_VERSION: u32 = 4;
/// Largest accepted encoded bundle (a Groth16 bundle is under 1 KiB, a halo2
/// one about 3.5 KiB; halo2 proofs are capped at [`MAX_HALO2_PROOF_BYTES`]).
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024;
/// Largest halo2 proof accepted before any parsing (each key fixes one exact length below it).
pub const MAX_HALO2_PROOF_BYTES: usize = veriflop_halo2::MAX_PROOF_BYTES;
/// Encoded Groth16 proof: A (G1), B (G2), C (G1), uncompressed.
pub const GROTH16_PROOF_BYTES: usize = 256;
const MAGIC: &[u8; 4] = b"VFPB";

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BundleError {
    #[error("bundle is {0} bytes, more than the {MAX_BUNDLE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("not a veriflop proof bundle (missing VFPB magic)")]
    BadMagic,
    #[error("malformed bundle: {0}")]
    Malformed(String),
    #[error("bundle version {0} is not supported (this build reads version {BUNDLE_VERSION})")]
    Version(u32),
}

/// A Groth16 proof over BN254, validated on decode.
#[derive(Clone, Debug, PartialEq)]
pub struct Groth16Proof(pub ark_groth16::Proof<Bn254>);

impl Groth16Proof {
    pub fn to_bytes(&self) -> [u8; GROTH16_PROOF_BYTES] {
        let mut v = Vec::with_capacity(GROTH16_PROOF_BYTES);
        self.0.serialize_uncompressed(&mut v).expect("writing to a Vec");
        v.try_into().expect("uncompressed BN254 Groth16 proof is 256 bytes")
    }

    /// Decodes and checks every point is on the curve, in the prime-order subgroup
    /// and not the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() != GROTH16_PROOF_BYTES {
            return Err(BundleError::Malformed(format!(
                "proof is {} bytes, expected {GROTH16_PROOF_BYTES}",
                bytes.len()
            )));
        }
        let p = ark_groth16::Proof::<Bn254>::deserialize_with_mode(bytes, Compress::No, Validate::Yes)
            .map_err(|e| BundleError::Malformed(format!("proof point rejected: {e}")))?;
        if p.a.is_zero() || p.b.is_zero() || p.c.is_zero() {
            return Err(BundleError::Malformed("proof contains the point at infinity".into()));
        }
        Ok(Groth16Proof(p))
    }
}

impl Serialize for Groth16Proof {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ser_bytes(&self.to_bytes(), s)
    }
}

impl<'de> Deserialize<'de> for Groth16Proof {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = de_bytes::<D, GROTH16_PROOF_BYTES>(d)?;
        Groth16Proof::from_bytes(&b).map_err(de::Error::custom)
    }
}

/// A halo2-KZG proof (SHPLONK, keccak transcript): the bytes the EVM verifier
/// takes after the public inputs. At most [`MAX_HALO2_PROOF_BYTES`]; what the
/// bytes hold is checked by the verifier against the shape's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Halo2Proof(pub Vec<u8>);

impl Serialize for Halo2Proof {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ser_bytes(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Halo2Proof {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "at most {MAX_HALO2_PROOF_BYTES} bytes, or them as a 0x-prefixed hex string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let h = v.strip_prefix("0x").ok_or_else(|| E::custom("expected 0x-prefixed hex"))?;
                if h.len() > 2 * MAX_HALO2_PROOF_BYTES {
                    return Err(E::custom(format!("halo2 proof over {MAX_HALO2_PROOF_BYTES} bytes")));
                }
                hex::decode(h).map_err(E::custom)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                if v.len() > MAX_HALO2_PROOF_BYTES {
                    return Err(E::custom(format!("halo2 proof over {MAX_HALO2_PROOF_BYTES} bytes")));
                }
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
                self.visit_bytes(&v)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    if out.len() == MAX_HALO2_PROOF_BYTES {
                        return Err(de::Error::custom(format!("halo2 proof over {MAX_HALO2_PROOF_BYTES} bytes")));
                    }
                    out.push(b);
                }
                Ok(out)
            }
        }
        // serde_json hands a string's raw UTF-8 to `deserialize_bytes`: ask for a string when human-readable.
        if d.is_human_readable() { d.deserialize_str(V) } else { d.deserialize_bytes(V) }.map(Halo2Proof)
    }
}

/// The proof, tagged with the system that made it (JSON: `{"groth16-bn254": "0x…"}`
/// or `{"halo2-kzg-bn254": "0x…"}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(clippy::large_enum_variant)] // one per bundle; a Groth16 proof is 280 bytes inline
pub enum Proof {
    Groth16Bn254(Groth16Proof),
    Halo2KzgBn254(Halo2Proof),
}

impl Proof {
    pub fn system(&self) -> ProofSystem {
        match self {
            Proof::Groth16Bn254(_) => ProofSystem::Groth16Bn254,
            Proof::Halo2KzgBn254(_) => ProofSystem::Halo2KzgBn254,
        }
    }

    /// Encoded proof bytes (what a verifier contract receives).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Proof::Groth16Bn254(p) => p.to_bytes().to_vec(),
            Proof::Halo2KzgBn254(p) => p.0.clone(),
        }
    }
}

/// A G1 point in EVM encoding (x ‖ y, big-endian; zeros for the identity),
/// validated on decode: canonical coordinates, on the curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvmG1(pub G1Affine);

impl Serialize for EvmG1 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ser_bytes(&cp::g1_to_evm(&self.0), s)
    }
}

impl<'de> Deserialize<'de> for EvmG1 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = de_bytes::<D, 64>(d)?;
        cp::g1_from_evm(&b).map(EvmG1).map_err(de::Error::custom)
    }
}

/// The committed circuit's data commitments and the proof of knowledge of
/// cm_C's opening (pok = σ·cm_C); the statement holds their digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitmentProof {
    pub cm_a: EvmG1,
    pub cm_b: EvmG1,
    pub cm_c: EvmG1,
    pub pok: EvmG1,
}

/// An inference proof's points (docs/PROTOCOL.md §16.5): the client's input
/// commitment, the prover's commitments to its hidden values and to the
/// output, and their proofs of knowledge. The statement holds the digests of
/// cm_in (as cm_a) and cm_out (as cm_c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceCommitments {
    pub cm_in: EvmG1,
    pub cm_hidden: EvmG1,
    pub cm_out: EvmG1,
    pub pok_hidden: EvmG1,
    pub pok_out: EvmG1,
}

/// A proof with the statement it proves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofBundle {
    pub version: u32,
    /// How the statement's data is committed (the job's circuit).
    pub circuit: CircuitKind,
    pub statement: Statement,
    pub proof: Proof,
    /// Present exactly for the committed circuit.
    pub commitments: Option<CommitmentProof>,
    /// Present exactly for an inference job.
    pub inference: Option<InferenceCommitments>,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_BUNDLE_BYTES>()
}

impl ProofBundle {
    /// A Groth16 bundle.
    pub fn new(
        circuit: CircuitKind,
        statement: Statement,
        proof: ark_groth16::Proof<Bn254>,
        commitments: Option<CommitmentProof>,
    ) -> Self {
        ProofBundle {
            version: BUNDLE_VERSION,
            circuit,
            statement,
            proof: Proof::Groth16Bn254(Groth16Proof(proof)),
            commitments,
            inference: None,
        }
    }

    /// An inference bundle (Groth16 with the model's keys).
    pub fn inference(statement: Statement, proof: ark_groth16::Proof<Bn254>, points: InferenceCommitments) -> Self {
        ProofBundle {
            version: BUNDLE_VERSION,
            circuit: CircuitKind::Inference,
            statement,
            proof: Proof::Groth16Bn254(Groth16Proof(proof)),
            commitments: None,
            inference: Some(points),
        }
    }

    /// The bundle of an inference proof for `job_id` paying `provider`: the
    /// statement's shape and model are the key's, cm_a and cm_c the digests
    /// of cm_in and cm_out.
    pub fn from_inference(
        vk: &veriflop_infer::keys::ModelVk,
        job_id: veriflop_circuits::JobId,
        provider: veriflop_circuits::Address,
        cm_in: G1Affine,
        p: &veriflop_infer::job::InferenceProof,
    ) -> Result<Self, BundleError> {
        let shape = veriflop_circuits::Shape::new(
            vk.batch as u32,
            vk.d_in as u32,
            vk.d_out as u32,
            veriflop_circuits::Dtype::Int8,
        )
        .map_err(|e| BundleError::Malformed(e.to_string()))?;
        let statement = Statement {
            job_id,
            provider,
            shape,
            cm_a: cp::digest(&cm_in),
            cm_b: crate::verify::model_word(&vk.model_digest),
            cm_c: cp::digest(&p.cm_out),
        };
        let points = InferenceCommitments {
            cm_in: EvmG1(cm_in),
            cm_hidden: EvmG1(p.cm_hidden),
            cm_out: EvmG1(p.cm_out),
            pok_hidden: EvmG1(p.pok_hidden),
            pok_out: EvmG1(p.pok_out),
        };
        Ok(Self::inference(statement, p.proof.clone(), points))
    }

    /// A halo2 bundle (the Poseidon-committed statement).
    pub fn halo2(statement: Statement, proof: Vec<u8>) -> Self {
        ProofBundle {
            version: BUNDLE_VERSION,
            circuit: CircuitKind::Poseidon,
            statement,
            proof: Proof::Halo2KzgBn254(Halo2Proof(proof)),
            commitments: None,
            inference: None,
        }
    }

    pub fn system(&self) -> ProofSystem {
        self.proof.system()
    }

    /// The Groth16 proof, if that is what the bundle holds.
    pub fn groth16(&self) -> Option<&ark_groth16::Proof<Bn254>> {
        match &self.proof {
            Proof::Groth16Bn254(p) => Some(&p.0),
            Proof::Halo2KzgBn254(_) => None,
        }
    }

    /// Checks what serde cannot: version, shape bounds, that the system can
    /// prove the circuit, and that commitment points come exactly with the
    /// committed circuit.
    fn validate(self) -> Result<Self, BundleError> {
        if self.version != BUNDLE_VERSION {
            return Err(BundleError::Version(self.version));
        }
        self.statement.shape.validate().map_err(|e| BundleError::Malformed(e.to_string()))?;
        self.system().check_circuit(self.circuit).map_err(|e| BundleError::Malformed(e.to_string()))?;
        let carries = |yes: bool| if yes { "must not carry" } else { "must carry" };
        if (self.circuit == CircuitKind::Committed) != self.commitments.is_some() {
            return Err(BundleError::Malformed(format!(
                "a {} bundle {} commitment points",
                self.circuit,
                carries(self.commitments.is_some())
            )));
        }
        if (self.circuit == CircuitKind::Inference) != self.inference.is_some() {
            return Err(BundleError::Malformed(format!(
                "a {} bundle {} inference points",
                self.circuit,
                carries(self.inference.is_some())
            )));
        }
        Ok(self)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(bincode::serde::encode_to_vec(self, config()).expect("bundle encodes"));
        out
    }

    /// Decodes untrusted wire bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(bytes.len()));
        }
        let body = bytes.strip_prefix(MAGIC.as_slice()).ok_or(BundleError::BadMagic)?;
        let (bundle, used): (ProofBundle, usize) =
            bincode::serde::decode_from_slice(body, config()).map_err(|e| BundleError::Malformed(e.to_string()))?;
        if used != body.len() {
            return Err(BundleError::Malformed(format!("{} trailing bytes", body.len() - used)));
        }
        bundle.validate()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("bundle serializes")
    }

    /// Decodes untrusted JSON.
    pub fn from_json(text: &str) -> Result<Self, BundleError> {
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(text.len()));
        }
        let bundle: ProofBundle = serde_json::from_str(text).map_err(|e| BundleError::Malformed(e.to_string()))?;
        bundle.validate()
    }

    /// Either form: wire bytes (starting `VFPB`) or JSON.
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.starts_with(MAGIC) {
            return Self::from_bytes(bytes);
        }
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| BundleError::BadMagic)?;
        Self::from_json(text)
    }
}
