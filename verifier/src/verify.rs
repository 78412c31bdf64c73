//! Native verification: a bundle against its shape's key and the job's terms.
//!
//! Order of checks (cheap and specific first, the pairing last):
//! 1. proof system and circuit match the key;
//! 2. the statement's shape is the key's shape;
//! 3. the statement matches the job record (job id, shape, cm_A, cm_B, and the
//!    provider when the caller knows who is being paid);
//! 4. the Groth16 pairing equation on the public inputs
//!    `[job_id, provider, cm_A, cm_B, cm_C]` rebuilt from the statement.

use ark_bn254::Bn254;
use ark_groth16::{Groth16, PreparedVerifyingKey};
use veriflop_circuits::{Address, Job, JobId, Shape};

use crate::bundle::{ProofBundle, ProofSystem};
use crate::keys::ShapeKey;

/// Why a proof was not accepted. `code()` is stable for APIs and scripts.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
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
    #[error("the proof pays {got}, not the submitting provider {expected}")]
    ProviderMismatch { expected: Address, got: Address },
    #[error("the proof does not verify for this statement")]
    InvalidProof,
    #[error("the verifying key is unusable: {0}")]
    BadKey(String),
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::CircuitMismatch { .. } => "circuit_mismatch",
            VerifyError::KeyShapeMismatch { .. } => "shape_mismatch",
            VerifyError::JobMismatch { .. } => "wrong_job",
            VerifyError::JobShapeMismatch { .. } => "shape_mismatch",
            VerifyError::CommitmentMismatch(_) => "commitment_mismatch",
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

/// A verifier for one shape's key, with the pairing precomputation done once.
pub struct Verifier {
    key: ShapeKey,
    pvk: PreparedVerifyingKey<Bn254>,
}

impl Verifier {
    pub fn new(key: ShapeKey) -> Self {
        let pvk = ark_groth16::prepare_verifying_key(&key.vk);
        Verifier { key, pvk }
    }

    pub fn key(&self) -> &ShapeKey {
        &self.key
    }

    /// Checks the proof (steps 1, 2 and 4 above).
    pub fn verify(&self, bundle: &ProofBundle) -> Result<(), VerifyError> {
        let h = &self.key.header;
        let ProofSystem::Groth16Bn254 = bundle.system;
        if bundle.circuit != h.kind {
            return Err(VerifyError::CircuitMismatch { expected: h.kind.to_string(), got: bundle.circuit.to_string() });
        }
        if bundle.statement.shape != h.shape {
            return Err(VerifyError::KeyShapeMismatch { expected: h.shape, got: bundle.statement.shape });
        }
        let inputs = bundle.statement.public_inputs();
        match Groth16::<Bn254>::verify_proof(&self.pvk, &bundle.proof.0, &inputs) {
            Ok(true) => Ok(()),
            Ok(false) => Err(VerifyError::InvalidProof),
            Err(e) => Err(VerifyError::BadKey(e.to_string())),
        }
    }

    /// Job terms first, then the proof.
    pub fn verify_for_job(&self, bundle: &ProofBundle, terms: &JobTerms) -> Result<(), VerifyError> {
        terms.check(bundle)?;
        self.verify(bundle)
    }
}
