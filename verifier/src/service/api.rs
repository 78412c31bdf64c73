//! Request and response bodies of the HTTP API (shared by the service and the client).

use ark_bn254::Fr;
use serde::{Deserialize, Serialize};
use veriflop_circuits::field::serde_fr;
use veriflop_circuits::{Address, CircuitKind, Job, JobId, ProofSystem, Shape};

use crate::ledger::{EscrowState, Event, JobRecord};

/// `POST /v1/jobs`: a client posts a job and locks its price in escrow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterJob {
    /// Chosen by the client (a BN254 scalar in 0x-hex); the service picks a random one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// Proof system that settles the job (default `groth16-bn254`; `halo2-kzg-bn254` needs circuit `poseidon`).
    #[serde(default)]
    pub system: ProofSystem,
    /// Circuit the provider must prove with (default `committed`); it fixes how cm_a and cm_b are computed.
    #[serde(default)]
    pub circuit: CircuitKind,
    pub shape: Shape,
    #[serde(with = "serde_fr")]
    pub cm_a: Fr,
    #[serde(with = "serde_fr")]
    pub cm_b: Fr,
    /// Escrowed amount, decimal string (up to 2^128 - 1).
    pub price: String,
    /// Unix seconds; proofs are accepted strictly before it, refunds at or after it.
    pub deadline: i64,
    /// The client's address; must be the address that signs the request.
    pub client: Address,
}

impl RegisterJob {
    pub fn for_job(job: &Job, price: u128, deadline: i64, client: Address) -> Self {
        RegisterJob {
            job_id: Some(job.job_id),
            system: job.system,
            circuit: job.circuit,
            shape: job.shape,
            cm_a: job.cm_a,
            cm_b: job.cm_b,
            price: price.to_string(),
            deadline,
            client,
        }
    }
}

/// A job, its escrow and its event history (`GET /v1/jobs/{job_id}` and the
/// answer to registration and refund).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    pub job_id: JobId,
    pub system: ProofSystem,
    pub circuit: CircuitKind,
    pub shape: Shape,
    #[serde(with = "serde_fr")]
    pub cm_a: Fr,
    #[serde(with = "serde_fr")]
    pub cm_b: Fr,
    pub price: String,
    pub deadline: i64,
    pub client: Address,
    pub state: EscrowState,
    pub payee: Option<Address>,
    pub created_at: i64,
    pub settled_at: Option<i64>,
    pub events: Vec<Event>,
}

impl JobView {
    pub fn new(r: &JobRecord, events: Vec<Event>) -> Self {
        JobView {
            job_id: r.job.job_id,
            system: r.job.system,
            circuit: r.job.circuit,
            shape: r.job.shape,
            cm_a: r.job.cm_a,
            cm_b: r.job.cm_b,
            price: r.price.to_string(),
            deadline: r.deadline,
            client: r.client,
            state: r.state,
            payee: r.payee,
            created_at: r.created_at,
            settled_at: r.settled_at,
            events,
        }
    }

    /// The job's terms as the verifier checks them.
    pub fn job(&self) -> Job {
        Job {
            job_id: self.job_id,
            system: self.system,
            circuit: self.circuit,
            shape: self.shape,
            cm_a: self.cm_a,
            cm_b: self.cm_b,
        }
    }
}

/// What happened to an accepted proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmitOutcome {
    /// This submission released the escrow.
    Released,
    /// The escrow had already been released to this same provider (idempotent repeat).
    AlreadyReleased,
}

/// `POST /v1/jobs/{job_id}/proof` answer on success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResponse {
    pub job_id: JobId,
    pub outcome: SubmitOutcome,
    pub state: EscrowState,
    pub payee: Address,
    pub amount: String,
    /// Seq of the `released` event.
    pub event_seq: i64,
    /// SHA-256 (hex) of the accepted bundle.
    pub proof_digest: Option<String>,
}

/// One loaded verifying key (`GET /v1/shapes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeInfo {
    pub system: ProofSystem,
    pub circuit: CircuitKind,
    pub shape: Shape,
    pub fingerprint: String,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub ledger: String,
    pub keys: usize,
}
