//! Request and response bodies of the HTTP API (shared by the service and the client).

use ark_bn254::Fr;
use serde::{Deserialize, Serialize};
use veriflop_circuits::field::serde_fr;
use veriflop_circuits::{Address, Bytes32, CircuitKind, Job, JobId, ProofSystem, Shape, Venue};

use crate::ledger::{AccountEvent, EscrowState, Event, JobRecord};

/// `POST /v1/jobs`: a client posts a job and locks its price in escrow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterJob {
    /// 32 bytes the client picks per job (0x-hex); the job id is derived from
    /// this service's venue, the client and the nonce (`GET /v1/venue`).
    pub nonce: Bytes32,
    /// The id the client expects (optional): refused with `job_id_mismatch` unless
    /// it is the derived one.
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
    /// Escrowed amount in the venue's unit, decimal string, from 1 to the
    /// service's `max_price` (at most 2^63 - 1); taken from the client's balance.
    pub price: String,
    /// Unix seconds; proofs are accepted strictly before it, refunds at or after it.
    pub deadline: i64,
    /// The client's address; must be the address that signs the request.
    pub client: Address,
}

impl RegisterJob {
    /// The registration of `job`, whose id must be `venue.job_id(client, nonce)`.
    pub fn for_job(job: &Job, nonce: Bytes32, price: u128, deadline: i64, client: Address) -> Self {
        RegisterJob {
            nonce,
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
    pub nonce: Bytes32,
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
            nonce: r.nonce,
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

/// `GET /v1/venue`: where this service's escrow lives. Signed requests name
/// `venue_id`, and job ids are derived from it (`veriflop_circuits::venue`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueInfo {
    /// `service:0x…` (the service id, shared by replicas of one ledger).
    pub venue: String,
    pub venue_id: Bytes32,
    /// Largest job price accepted here.
    pub max_price: String,
    /// Jobs one client may have locked at once.
    pub max_open_jobs: u64,
}

impl VenueInfo {
    pub fn venue(&self) -> Result<Venue, veriflop_circuits::Error> {
        self.venue.parse()
    }
}

/// `GET /v1/accounts/{address}`: a balance and its history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub address: Address,
    /// Decimal string, the venue's unit.
    pub balance: String,
    pub open_jobs: u64,
    pub events: Vec<AccountEvent>,
}
