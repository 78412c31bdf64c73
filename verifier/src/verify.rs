//! Native verification: a bundle against its shape's key and the job's terms.
//!
//! Order of checks (cheap and specific first, the pairing last):
//! 1. proof system and circuit match the key (and the job's);
//! 2. the statement's shape is the key's shape;
//! 3. the statement matches the job record (job id, shape, cm_A, cm_B, and the
//!    provider when the caller knows who is being paid);
//! 4. Poseidon circuits: the Groth16 pairing equation on the public inputs
//!    `[job_id, provider, cm_A, cm_B, cm_C]` rebuilt from the statement;
//!    the committed circuit: the commitment points hash to the statement's
//!    digests, then one pairing product checks the Groth16 equation with
//!    X = IC0 + job·IC1 + provider·IC2 + r·IC3 + cm_A + cm_B + cm_C and, folded
//!    in with ρ, the proof of knowledge e(pok, δ) = e(cm_C, σδ)
//!    (docs/PROTOCOL.md §7);
//!    halo2: the proof's exact length for the key, then halo2's KZG verifier on
//!    the same five public inputs as the Poseidon circuit (docs/PROTOCOL.md §13);
//!    inference: cm_b is the key's model, cm_in and cm_out hash to cm_a and
//!    cm_c, then the model key's check (Groth16 over the commitments and the
//!    derived challenges, both proofs of knowledge; docs/PROTOCOL.md §16.5).

use ark_bn254::{Bn254, Fr, G1Projective, G2Affine};
use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::{AffineRepr, CurveGroup};
use ark_groth16::{Groth16, PreparedVerifyingKey};
use veriflop_circuits::{cp, Address, CircuitKind, Job, JobId, ProofSystem, Shape, Statement};

use crate::bundle::{CommitmentProof, InferenceCommitments, Proof, ProofBundle};
use crate::keys::ShapeKey;
use ark_ff::PrimeField;
use sha2::Digest;
use veriflop_infer::job::{InferenceProof, InferenceStatement};
use veriflop_infer::keys::ModelVk;

/// Why a proof was not accepted. `code()` is stable for APIs and scripts.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the bundle holds a {got} proof but {expected} is required")]
    SystemMismatch { expected: ProofSystem, got: ProofSystem },
    #[error("the bundle holds a {got} circuit proof but the key is for {expected}")]
    CircuitMismatch { expected: String, got: String },
    #[error("the proof is for shape {got} but the key is for {expected}")]
    KeyShapeMismatch { expected: Shape, got: Shape },
    #[error("the proof is for job {got}, not job {expected}")]
    JobMismatch { expected: JobId, got: JobId },
    #[error("the proof is for shape {got} but job has shape {expected}")]
    JobShapeMismatch { expected: Shape, got: Shape },
    #[error("commitment of {0} in the proof differs from the one recorded for the job")]
    CommitmentMismatch(&'static str),
    #[error("the commitment point of {0} does not hash to the statement's digest")]
    CommitmentDigest(&'static str),
    #[error("the proof pays {got}, not {expected}, the payee required here")]
    ProviderMismatch { expected: Address, got: Address },
    #[error("the proof does not verify for this statement")]
    InvalidProof,
    #[error("the verifying key is unusable: {0}")]
    BadKey(String),
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::SystemMismatch { .. } => "system_mismatch",
            VerifyError::CircuitMismatch { .. } => "circuit_mismatch",
            VerifyError::KeyShapeMismatch { .. } => "shape_mismatch",
            VerifyError::JobMismatch { .. } => "wrong_job",
            VerifyError::JobShapeMismatch { .. } => "shape_mismatch",
            VerifyError::CommitmentMismatch(_) => "commitment_mismatch",
            VerifyError::CommitmentDigest(_) => "commitment_mismatch",
            VerifyError::ProviderMismatch { .. } => "wrong_provider",
            VerifyError::InvalidProof => "invalid_proof",
            VerifyError::BadKey(_) => "bad_key",
        }
    }
}

/// The terms fixed when a job was posted, which every accepted proof must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobTerms {
    pub job: Job,
    /// Set when the payee is known (the authenticated submitter).
    pub provider: Option<Address>,
}

impl JobTerms {
    pub fn check(&self, bundle: &ProofBundle) -> Result<(), VerifyError> {
        let st = &bundle.statement;
        let job = &self.job;
        if st.job_id != job.job_id {
            return Err(VerifyError::JobMismatch { expected: job.job_id, got: st.job_id });
        }
        if bundle.system() != job.system {
            return Err(VerifyError::SystemMismatch { expected: job.system, got: bundle.system() });
        }
        if bundle.circuit != job.circuit {
            return Err(VerifyError::CircuitMismatch {
                expected: job.circuit.to_string(),
                got: bundle.circuit.to_string(),
            });
        }
        if st.shape != job.shape {
            return Err(VerifyError::JobShapeMismatch { expected: job.shape, got: st.shape });
        }
        if st.cm_a != job.cm_a {
            return Err(VerifyError::CommitmentMismatch("A"));
        }
        if st.cm_b != job.cm_b {
            return Err(VerifyError::CommitmentMismatch("B"));
        }
        match self.provider {
            Some(p) if p != st.provider => Err(VerifyError::ProviderMismatch { expected: p, got: st.provider }),
            _ => Ok(()),
        }
    }
}

/// A verifier for one proof system, circuit and shape, with its key's
/// precomputation done once.
pub struct Verifier {
    inner: Inner,
}

enum Inner {
    Groth16 { key: Box<ShapeKey>, pvk: Box<PreparedVerifyingKey<Bn254>> },
    Halo2 { vk: Box<veriflop_halo2::VerifierKey> },
    Inference { vk: Box<ModelVk>, shape: Shape, fingerprint: String },
}

/// A model digest as the field element a job records (cm_b of an inference job).
pub fn model_word(digest: &[u8; 32]) -> Fr {
    Fr::from_be_bytes_mod_order(digest)
}

impl Verifier {
    /// A Groth16 verifier for a shape's verifying key.
    pub fn new(key: ShapeKey) -> Self {
        let pvk = ark_groth16::prepare_verifying_key(&key.vk);
        Verifier { inner: Inner::Groth16 { key: Box::new(key), pvk: Box::new(pvk) } }
    }

    /// A halo2 verifier for a shape's key (derived from the universal SRS).
    pub fn halo2(vk: veriflop_halo2::VerifierKey) -> Self {
        Verifier { inner: Inner::Halo2 { vk: Box::new(vk) } }
    }

    /// A verifier for one model and batch (an inference job's key), whose
    /// job shape (batch, d_in, d_out, int8) must be within the shape bounds.
    pub fn inference(vk: ModelVk) -> Result<Self, VerifyError> {
        let shape = Shape::new(vk.batch as u32, vk.d_in as u32, vk.d_out as u32, veriflop_circuits::Dtype::Int8)
            .map_err(|e| VerifyError::BadKey(format!("the model key's job shape: {e}")))?;
        let digest: [u8; 32] = sha2::Sha256::digest(vk.to_bytes()).into();
        let fingerprint = hex::encode(&digest[..8]);
        Ok(Verifier { inner: Inner::Inference { vk: Box::new(vk), shape, fingerprint } })
    }

    pub fn system(&self) -> ProofSystem {
        match &self.inner {
            Inner::Groth16 { .. } | Inner::Inference { .. } => ProofSystem::Groth16Bn254,
            Inner::Halo2 { .. } => ProofSystem::Halo2KzgBn254,
        }
    }

    pub fn circuit(&self) -> CircuitKind {
        match &self.inner {
            Inner::Groth16 { key, .. } => key.header.kind,
            Inner::Halo2 { .. } => CircuitKind::Poseidon,
            Inner::Inference { .. } => CircuitKind::Inference,
        }
    }

    pub fn shape(&self) -> Shape {
        match &self.inner {
            Inner::Groth16 { key, .. } => key.header.shape,
            Inner::Halo2 { vk } => vk.shape,
            Inner::Inference { shape, .. } => *shape,
        }
    }

    /// Short id of the key (Groth16: the key file's hash; halo2: the verifying key and SRS).
    pub fn fingerprint(&self) -> String {
        match &self.inner {
            Inner::Groth16 { key, .. } => key.fingerprint(),
            Inner::Halo2 { vk } => vk.fingerprint(),
            Inner::Inference { fingerprint, .. } => fingerprint.clone(),
        }
    }

    /// The Groth16 key, for a Groth16 verifier.
    pub fn groth16_key(&self) -> Option<&ShapeKey> {
        match &self.inner {
            Inner::Groth16 { key, .. } => Some(key),
            Inner::Halo2 { .. } | Inner::Inference { .. } => None,
        }
    }

    /// The halo2 key, for a halo2 verifier.
    pub fn halo2_key(&self) -> Option<&veriflop_halo2::VerifierKey> {
        match &self.inner {
            Inner::Halo2 { vk } => Some(vk),
            Inner::Groth16 { .. } | Inner::Inference { .. } => None,
        }
    }

    /// The model's key, for an inference verifier.
    pub fn model_key(&self) -> Option<&ModelVk> {
        match &self.inner {
            Inner::Inference { vk, .. } => Some(vk),
            Inner::Groth16 { .. } | Inner::Halo2 { .. } => None,
        }
    }

    /// Checks the proof (steps 1, 2 and 4 above).
    pub fn verify(&self, bundle: &ProofBundle) -> Result<(), VerifyError> {
        if bundle.system() != self.system() {
            return Err(VerifyError::SystemMismatch { expected: self.system(), got: bundle.system() });
        }
        if bundle.circuit != self.circuit() {
            return Err(VerifyError::CircuitMismatch {
                expected: self.circuit().to_string(),
                got: bundle.circuit.to_string(),
            });
        }
        if bundle.statement.shape != self.shape() {
            return Err(VerifyError::KeyShapeMismatch { expected: self.shape(), got: bundle.statement.shape });
        }
        match (&self.inner, &bundle.proof) {
            (Inner::Groth16 { key, pvk }, Proof::Groth16Bn254(proof)) => {
                if key.header.kind == CircuitKind::Committed {
                    let (Some(cp), Some(pok_g2)) = (&bundle.commitments, key.pok_g2) else {
                        return Err(VerifyError::BadKey("committed bundle or key without commitment data".into()));
                    };
                    return self.verify_committed(pvk, key, &bundle.statement, &proof.0, cp, pok_g2);
                }
                let inputs = bundle.statement.public_inputs();
                match Groth16::<Bn254>::verify_proof(pvk, &proof.0, &inputs) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(VerifyError::InvalidProof),
                    Err(e) => Err(VerifyError::BadKey(e.to_string())),
                }
            }
            (Inner::Halo2 { vk }, Proof::Halo2KzgBn254(proof)) => {
                // Length, point and scalar encodings are checked inside; any failure is a rejection.
                veriflop_halo2::verify(vk, &bundle.statement.public_inputs(), &proof.0)
                    .map_err(|_| VerifyError::InvalidProof)
            }
            (Inner::Inference { vk, .. }, Proof::Groth16Bn254(proof)) => {
                let points =
                    bundle.inference.as_ref().ok_or_else(|| VerifyError::BadKey("no inference points".into()))?;
                verify_inference(vk, &bundle.statement, &proof.0, points)
            }
            _ => Err(VerifyError::SystemMismatch { expected: self.system(), got: bundle.system() }),
        }
    }

    fn verify_committed(
        &self,
        pvk: &PreparedVerifyingKey<Bn254>,
        key: &ShapeKey,
        st: &Statement,
        proof: &ark_groth16::Proof<Bn254>,
        cp: &CommitmentProof,
        pok_g2: G2Affine,
    ) -> Result<(), VerifyError> {
        for (name, point, digest) in [("A", &cp.cm_a, st.cm_a), ("B", &cp.cm_b, st.cm_b), ("C", &cp.cm_c, st.cm_c)] {
            if cp::digest(&point.0) != digest {
                return Err(VerifyError::CommitmentDigest(name));
            }
        }
        let ic = &key.vk.gamma_abc_g1;
        if ic.len() != 1 + cp::SCALAR_INPUTS {
            return Err(VerifyError::BadKey(format!("{} input points", ic.len())));
        }
        let seed = cp::seed(&st.shape, st.job_id.0, &st.provider, [st.cm_a, st.cm_b, st.cm_c]);
        let r = cp::challenge(&seed);
        let rho = cp::fold_challenge(&seed, &proof.a, &proof.b, &proof.c, &cp.pok.0);
        let scalars: [Fr; 3] = [st.job_id.0, st.provider.to_fr(), r];
        let mut x: G1Projective = ic[0].into_group() + cp.cm_a.0 + cp.cm_b.0 + cp.cm_c.0;
        for (p, s) in ic[1..].iter().zip(scalars) {
            x += *p * s;
        }
        // e(A,B)·e(X,−γ)·e(C + ρ·pok, −δ)·e(ρ·cm_C, σδ) = e(α,β)
        let c_fold = (proof.c.into_group() + cp.pok.0 * rho).into_affine();
        let cm_fold = (cp.cm_c.0 * rho).into_affine();
        let g1 = [proof.a, x.into_affine(), c_fold, cm_fold];
        let g2: [<Bn254 as Pairing>::G2Prepared; 4] =
            [proof.b.into(), pvk.gamma_g2_neg_pc.clone(), pvk.delta_g2_neg_pc.clone(), pok_g2.into()];
        let ml = Bn254::multi_miller_loop(g1, g2);
        match Bn254::final_exponentiation(ml) {
            Some(PairingOutput(v)) if v == pvk.alpha_g1_beta_g2 => Ok(()),
            _ => Err(VerifyError::InvalidProof),
        }
    }

    /// Job terms first, then the proof.
    pub fn verify_for_job(&self, bundle: &ProofBundle, terms: &JobTerms) -> Result<(), VerifyError> {
        terms.check(bundle)?;
        self.verify(bundle)
    }
}

fn verify_inference(
    vk: &ModelVk,
    st: &Statement,
    proof: &ark_groth16::Proof<Bn254>,
    p: &InferenceCommitments,
) -> Result<(), VerifyError> {
    if st.cm_b != model_word(&vk.model_digest) {
        return Err(VerifyError::CommitmentMismatch("the model"));
    }
    for (name, point, digest) in [("the input", &p.cm_in, st.cm_a), ("the output", &p.cm_out, st.cm_c)] {
        if cp::digest(&point.0) != digest {
            return Err(VerifyError::CommitmentDigest(name));
        }
    }
    let statement = InferenceStatement {
        job_id: st.job_id.0,
        provider: st.provider,
        model_digest: vk.model_digest,
        cm_in: p.cm_in.0,
    };
    let proof = InferenceProof {
        proof: proof.clone(),
        cm_hidden: p.cm_hidden.0,
        cm_out: p.cm_out.0,
        pok_hidden: p.pok_hidden.0,
        pok_out: p.pok_out.0,
    };
    if vk.verify(&statement, &proof) {
        Ok(())
    } else {
        Err(VerifyError::InvalidProof)
    }
}
