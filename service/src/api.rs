//! Request and response bodies of the HTTP API (shared by the service and the client).

use ark_bn254::Fr;
use serde::{Deserialize, Serialize};
use veriflop_circuits::field::serde_fr;
use veriflop_circuits::{Address, Bytes32, CircuitKind, Job, JobId, ProofSystem, Shape, Venue};

use crate::ledger::{AccountEvent, EscrowState, Event, Input, JobRecord, Market};

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
    /// Seconds a provider's claim holds the job (default: the service's
    /// `default_lease_secs`); at most the time to the deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_secs: Option<u64>,
    /// What a claim costs the provider (decimal string, default "0": none),
    /// taken from its balance when it claims. Returned with the price when it
    /// delivers within its lease; the client's when the lease ends without a
    /// result (expiry, giving the lease back, or a late delivery): JobEscrow's
    /// lock stake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_stake: Option<String>,
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
            lease_secs: None,
            lease_stake: None,
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
    /// Data plane and lease (absent for jobs of ledgers older than the market).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<MarketView>,
}

/// A job's data, offer and lease, as anyone may read them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketView {
    pub lease_secs: i64,
    /// What a claim costs (decimal string; "0": none).
    pub lease_stake: String,
    /// The stake held from the last claimant now (decimal string; "0" once
    /// returned or forfeited).
    pub stake_held: String,
    /// Whether A and B are stored.
    pub a_stored: bool,
    pub b_stored: bool,
    /// When the job was offered (both inputs stored), unix seconds.
    pub offered_at: Option<i64>,
    /// The provider holding a valid lease now, and until when.
    pub lease_holder: Option<Address>,
    pub lease_expires: Option<i64>,
    /// Claims made so far.
    pub claims: i64,
    /// Whether a result was delivered with the release (the client may fetch it).
    pub delivered: bool,
}

impl MarketView {
    pub fn new(m: &Market, now: i64) -> Self {
        let holder = m.lease_holder(now);
        MarketView {
            lease_secs: m.lease_secs,
            lease_stake: m.lease_stake.to_string(),
            stake_held: m.stake_held.to_string(),
            a_stored: m.a_blob.is_some(),
            b_stored: m.b_blob.is_some(),
            offered_at: m.offered_at,
            lease_holder: holder,
            lease_expires: holder.and(m.claim_expires),
            claims: m.claims,
            delivered: m.result_blob.is_some(),
        }
    }
}

/// `GET /v1/market/jobs`: offered jobs nobody holds, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenJobs {
    pub jobs: Vec<OpenJob>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// One offered job: its terms, price, deadline and lease window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenJob {
    pub job_id: JobId,
    pub system: ProofSystem,
    pub circuit: CircuitKind,
    pub shape: Shape,
    #[serde(with = "serde_fr")]
    pub cm_a: Fr,
    #[serde(with = "serde_fr")]
    pub cm_b: Fr,
    pub client: Address,
    pub price: String,
    pub deadline: i64,
    pub lease_secs: i64,
    /// What claiming it costs (decimal string; "0": none).
    pub lease_stake: String,
    pub offered_at: i64,
}

impl OpenJob {
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

/// `POST /v1/jobs/{job_id}/claim` answer: the caller's lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub job_id: JobId,
    pub provider: Address,
    /// Unix seconds; the lease is valid strictly before.
    pub expires_at: i64,
    /// False when the caller already held this lease (claiming again never extends it).
    pub new: bool,
}

/// `PUT /v1/jobs/{job_id}/result` answer: the stored C and its commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResultView {
    pub job_id: JobId,
    pub provider: Address,
    /// The commitment the job's circuit defines for C; the proof's cm_C must equal it.
    #[serde(with = "serde_fr")]
    pub cm_c: Fr,
    pub bytes: u64,
    /// SHA-256 (hex) of the stored file.
    pub sha256: String,
}

/// `PUT /v1/jobs/{job_id}/inputs/{a|b}` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredInput {
    pub job_id: JobId,
    pub input: Input,
    pub bytes: u64,
    pub sha256: String,
    /// Whether the job is offered now (both inputs stored).
    pub offered: bool,
    /// Seconds spent receiving the body (to the spool), checking it (parse,
    /// ranges, commitment) and storing it in the blob store.
    pub receive_s: f64,
    pub check_s: f64,
    pub store_s: f64,
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
            market: None,
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
