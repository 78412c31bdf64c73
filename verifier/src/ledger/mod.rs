//! The escrow ledger: jobs, their escrow state, an append-only event log, and
//! the nonces used by signed requests.
//!
//! One code path for both back ends: sqlx's `Any` driver with SQL that SQLite
//! (≥ 3.35) and PostgreSQL read identically (`$n` placeholders, `RETURNING`,
//! `ON CONFLICT DO NOTHING`, partial unique indexes). Only the schema set-up
//! differs slightly (pragmas, the append-only triggers, and a lock so that
//! replicas starting together do not race on `CREATE`).
//!
//! Escrow states: `locked` → `released` (to the payee a valid proof binds) or
//! `locked` → `refunded` (to the client, after the deadline). Each change is one
//! transaction: a conditional `UPDATE … WHERE state = 'locked'` that bumps the
//! job's `version`, and an event row keyed `(job_id, seq = version)`. A partial
//! unique index allows at most one settlement event (`released` or `refunded`)
//! per job, so even a logic error could not pay twice; triggers refuse
//! `UPDATE`/`DELETE` on events.

use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use veriflop_circuits::field::{fr_from_hex, fr_to_hex};
use veriflop_circuits::{Address, Job, JobId, Shape};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger database error: {0}")]
    Db(String),
    #[error("ledger holds an invalid row: {0}")]
    Corrupt(String),
    #[error("unsupported ledger URL {0:?} (expected sqlite://PATH or postgres://…)")]
    Url(String),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Db(e.to_string())
    }
}

fn corrupt(what: impl std::fmt::Display) -> LedgerError {
    LedgerError::Corrupt(what.to_string())
}

/// Escrow state of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EscrowState {
    Locked,
    Released,
    Refunded,
}

impl EscrowState {
    pub fn as_str(self) -> &'static str {
        match self {
            EscrowState::Locked => "locked",
            EscrowState::Released => "released",
            EscrowState::Refunded => "refunded",
        }
    }
}

impl FromStr for EscrowState {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<Self, LedgerError> {
        match s {
            "locked" => Ok(EscrowState::Locked),
            "released" => Ok(EscrowState::Released),
            "refunded" => Ok(EscrowState::Refunded),
            _ => Err(corrupt(format!("unknown escrow state {s:?}"))),
        }
    }
}

/// A job as the ledger records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// The job's terms, its circuit included.
    pub job: Job,
    pub client: Address,
    /// Escrowed amount in the marketplace's smallest unit.
    pub price: u128,
    /// Unix seconds; proofs are accepted strictly before, refunds at or after.
    pub deadline: i64,
    pub state: EscrowState,
    /// Who was paid (released) or refunded.
    pub payee: Option<Address>,
    pub created_at: i64,
    pub settled_at: Option<i64>,
    /// Number of events so far (the seq of the latest event).
    pub version: i64,
}

/// One row of the append-only event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    /// `registered`, `released` or `refunded`.
    pub kind: String,
    /// Unix seconds.
    pub at: i64,
    /// The authenticated address that caused it.
    pub actor: Address,
    /// Who receives `amount` (settlement events only).
    pub payee: Option<Address>,
    /// Decimal string.
    pub amount: Option<String>,
    /// SHA-256 of the accepted proof bundle (release only).
    pub proof_digest: Option<String>,
}

/// Result of a release attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Release {
    /// This call released the escrow (event `seq`).
    Released {
        seq: i64,
        amount: u128,
    },
    /// The job was already settled (or expired) by the time of the attempt.
    NotLocked(JobRecord),
    /// The deadline passed before the release could commit.
    Expired(JobRecord),
    Unknown,
}

/// Result of a refund attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refund {
    Refunded { seq: i64, amount: u128 },
    NotLocked(JobRecord),
    NotYetDue(JobRecord),
    Unknown,
}

/// Which database a ledger runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Ledger {
    pool: AnyPool,
    backend: Backend,
    /// Testing hook: sleep this long inside the release transaction, after its
    /// writes and before COMMIT (to kill the process mid-release).
    fault_release_delay: Duration,
}

const SCHEMA_COMMON: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS jobs (
        job_id TEXT PRIMARY KEY,
        circuit TEXT NOT NULL,
        m BIGINT NOT NULL, k BIGINT NOT NULL, n BIGINT NOT NULL,
        dtype TEXT NOT NULL,
        cm_a TEXT NOT NULL,
        cm_b TEXT NOT NULL,
        client TEXT NOT NULL,
        price TEXT NOT NULL,
        deadline BIGINT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('locked', 'released', 'refunded')),
        payee TEXT,
        created_at BIGINT NOT NULL,
        settled_at BIGINT,
        version BIGINT NOT NULL,
        proof_system TEXT NOT NULL DEFAULT 'groth16-bn254',
        CHECK ((state = 'locked') = (payee IS NULL))
    )",
    "CREATE TABLE IF NOT EXISTS events (
        job_id TEXT NOT NULL REFERENCES jobs (job_id),
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('registered', 'released', 'refunded')),
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        payee TEXT,
        amount TEXT,
        proof_digest TEXT,
        PRIMARY KEY (job_id, seq)
    )",
    "CREATE UNIQUE INDEX IF NOT EXISTS events_one_settlement ON events (job_id) WHERE kind IN ('released', 'refunded')",
    "CREATE TABLE IF NOT EXISTS nonces (
        address TEXT NOT NULL,
        nonce TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (address, nonce)
    )",
    "CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at)",
];

const SCHEMA_SQLITE: &[&str] = &[
    "CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
     BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
     BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
];

const SCHEMA_POSTGRES: &[&str] = &[
    "CREATE OR REPLACE FUNCTION veriflop_events_append_only() RETURNS trigger AS $$
     BEGIN RAISE EXCEPTION 'events are append-only'; END $$ LANGUAGE plpgsql",
    "CREATE OR REPLACE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
     FOR EACH ROW EXECUTE FUNCTION veriflop_events_append_only()",
];

const JOB_COLUMNS: &str =
    "job_id, circuit, m, k, n, dtype, cm_a, cm_b, client, price, deadline, state, payee, created_at, settled_at, version, proof_system";

static DRIVERS: Once = Once::new();

impl Ledger {
    /// Opens (creating if needed) the ledger at `url`: `sqlite://PATH` (the file
    /// is created) or `postgres://user@host:port/db`.
    pub async fn connect(url: &str) -> Result<Ledger, LedgerError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = if path.contains("mode=") { url.to_string() } else { format!("{url}{sep}mode=rwc") };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(LedgerError::Url(url.to_string()));
        };
        let opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let opts = match backend {
            Backend::Sqlite => opts.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL: readers never block the writer; FULL: a committed
                    // release survives power loss, not only a killed process.
                    conn.execute("PRAGMA busy_timeout = 30000").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => opts.max_connections(16),
        };
        let pool = opts.connect(&url).await?;
        let ledger = Ledger { pool, backend, fault_release_delay: Duration::ZERO };
        ledger.migrate().await?;
        Ok(ledger)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// See the field's documentation; for crash tests only.
    pub fn set_fault_release_delay(&mut self, d: Duration) {
        self.fault_release_delay = d;
    }

    async fn migrate(&self) -> Result<(), LedgerError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Serialise schema set-up between replicas starting at the same time.
            tx.execute("SELECT pg_advisory_xact_lock(7305813245)").await?;
        }
        let extra = match self.backend {
            Backend::Sqlite => SCHEMA_SQLITE,
            Backend::Postgres => SCHEMA_POSTGRES,
        };
        for stmt in SCHEMA_COMMON.iter().chain(extra) {
            tx.execute(*stmt).await?;
        }
        // Ledgers created before jobs named their proof system hold Groth16 jobs only.
        let has_system = match self.backend {
            Backend::Sqlite => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM pragma_table_info('jobs') WHERE name = 'proof_system'",
                )
                .fetch_one(&mut *tx)
                .await?
                    > 0
            }
            Backend::Postgres => false,
        };
        if !has_system {
            let add = match self.backend {
                Backend::Sqlite => "ALTER TABLE jobs ADD COLUMN proof_system TEXT NOT NULL DEFAULT 'groth16-bn254'",
                Backend::Postgres => {
                    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS proof_system TEXT NOT NULL DEFAULT 'groth16-bn254'"
                }
            };
            tx.execute(add).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), LedgerError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Records a new job with its escrow `locked`, and its `registered` event.
    /// Returns false (and changes nothing) if the job id is taken.
    pub async fn insert_job(&self, rec: &JobRecord) -> Result<bool, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let s = rec.job.shape;
        let inserted = sqlx::query(
            "INSERT INTO jobs (job_id, circuit, m, k, n, dtype, cm_a, cm_b, client, price, deadline, state, payee, created_at, settled_at, version, proof_system)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'locked', NULL, $12, NULL, 1, $13)
             ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(rec.job.job_id.to_string())
        .bind(rec.job.circuit.to_string())
        .bind(s.m as i64)
        .bind(s.k as i64)
        .bind(s.n as i64)
        .bind(s.dtype.to_string())
        .bind(fr_to_hex(&rec.job.cm_a))
        .bind(fr_to_hex(&rec.job.cm_b))
        .bind(rec.client.to_string())
        .bind(rec.price.to_string())
        .bind(rec.deadline)
        .bind(rec.created_at)
        .bind(rec.job.system.name())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO events (job_id, seq, kind, at, actor, payee, amount, proof_digest)
             VALUES ($1, 1, 'registered', $2, $3, NULL, $4, NULL)",
        )
        .bind(rec.job.job_id.to_string())
        .bind(rec.created_at)
        .bind(rec.client.to_string())
        .bind(rec.price.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn job(&self, id: &JobId) -> Result<Option<JobRecord>, LedgerError> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// The job's events in order.
    pub async fn events(&self, id: &JobId) -> Result<Vec<Event>, LedgerError> {
        let rows = sqlx::query(
            "SELECT seq, kind, at, actor, payee, amount, proof_digest FROM events WHERE job_id = $1 ORDER BY seq",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// `locked → released` to `payee`, if the job is locked and `now` is before
    /// its deadline. Exactly one concurrent caller (on any replica) wins.
    pub async fn release(
        &self,
        id: &JobId,
        payee: Address,
        proof_digest: &str,
        now: i64,
    ) -> Result<Release, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'released', payee = $2, settled_at = $3, version = version + 1
             WHERE job_id = $1 AND state = 'locked' AND deadline > $3
             RETURNING version, price",
        )
        .bind(id.to_string())
        .bind(payee.to_string())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(match self.job(id).await? {
                None => Release::Unknown,
                Some(j) if j.state == EscrowState::Locked => Release::Expired(j),
                Some(j) => Release::NotLocked(j),
            });
        };
        let seq: i64 = row.try_get(0)?;
        let price: String = row.try_get(1)?;
        let amount = price.parse::<u128>().map_err(|_| corrupt(format!("price {price:?}")))?;
        sqlx::query(
            "INSERT INTO events (job_id, seq, kind, at, actor, payee, amount, proof_digest)
             VALUES ($1, $2, 'released', $3, $4, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(seq)
        .bind(now)
        .bind(payee.to_string())
        .bind(price)
        .bind(proof_digest.to_string())
        .execute(&mut *tx)
        .await?;
        if !self.fault_release_delay.is_zero() {
            tokio::time::sleep(self.fault_release_delay).await;
        }
        tx.commit().await?;
        Ok(Release::Released { seq, amount })
    }

    /// `locked → refunded` to the client, if `now` is at or after the deadline.
    pub async fn refund(&self, id: &JobId, actor: Address, now: i64) -> Result<Refund, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'refunded', payee = client, settled_at = $2, version = version + 1
             WHERE job_id = $1 AND state = 'locked' AND deadline <= $2
             RETURNING version, price, client",
        )
        .bind(id.to_string())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(match self.job(id).await? {
                None => Refund::Unknown,
                Some(j) if j.state == EscrowState::Locked => Refund::NotYetDue(j),
                Some(j) => Refund::NotLocked(j),
            });
        };
        let seq: i64 = row.try_get(0)?;
        let price: String = row.try_get(1)?;
        let client: String = row.try_get(2)?;
        let amount = price.parse::<u128>().map_err(|_| corrupt(format!("price {price:?}")))?;
        sqlx::query(
            "INSERT INTO events (job_id, seq, kind, at, actor, payee, amount, proof_digest)
             VALUES ($1, $2, 'refunded', $3, $4, $5, $6, NULL)",
        )
        .bind(id.to_string())
        .bind(seq)
        .bind(now)
        .bind(actor.to_string())
        .bind(client)
        .bind(price)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Refund::Refunded { seq, amount })
    }

    /// Records a request nonce; false if `(address, nonce)` was already used.
    pub async fn use_nonce(&self, address: Address, nonce: &str, expires_at: i64) -> Result<bool, LedgerError> {
        let n = sqlx::query("INSERT INTO nonces (address, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT (address, nonce) DO NOTHING")
            .bind(address.to_string())
            .bind(nonce.to_string())
            .bind(expires_at)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Forgets nonces whose request timestamps can no longer pass the window.
    pub async fn prune_nonces(&self, now: i64) -> Result<u64, LedgerError> {
        Ok(sqlx::query("DELETE FROM nonces WHERE expires_at < $1").bind(now).execute(&self.pool).await?.rows_affected())
    }

    /// Audits the whole ledger: every job's state, payee and version agree
    /// with its events; at most one settlement per job; settlement amounts
    /// equal the escrowed price. Returns the list of problems (empty = consistent).
    pub async fn audit(&self) -> Result<Vec<String>, LedgerError> {
        let mut problems = Vec::new();
        let rows =
            sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY job_id")).fetch_all(&self.pool).await?;
        for r in &rows {
            let j = job_from_row(r)?;
            let id = j.job.job_id;
            let ev = self.events(&id).await?;
            let seqs: Vec<i64> = ev.iter().map(|e| e.seq).collect();
            if seqs != (1..=j.version).collect::<Vec<_>>() {
                problems.push(format!("{id}: event seqs {seqs:?} but version {}", j.version));
            }
            if ev.first().map(|e| e.kind.as_str()) != Some("registered") {
                problems.push(format!("{id}: first event is not `registered`"));
            }
            let settlements: Vec<&Event> = ev.iter().filter(|e| e.kind != "registered").collect();
            match (j.state, settlements.as_slice()) {
                (EscrowState::Locked, []) => {}
                (EscrowState::Released, [e]) if e.kind == "released" => {
                    if e.payee != j.payee || e.amount.as_deref() != Some(&j.price.to_string()) {
                        problems.push(format!("{id}: release event {e:?} disagrees with job"));
                    }
                }
                (EscrowState::Refunded, [e]) if e.kind == "refunded" => {
                    if e.payee != Some(j.client) || e.amount.as_deref() != Some(&j.price.to_string()) {
                        problems.push(format!("{id}: refund event {e:?} disagrees with job"));
                    }
                }
                (s, evs) => problems.push(format!("{id}: state {s:?} with settlement events {evs:?}")),
            }
        }
        Ok(problems)
    }

    /// Counts of jobs per escrow state.
    pub async fn state_counts(&self) -> Result<Vec<(String, i64)>, LedgerError> {
        let rows =
            sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?))).collect()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn addr(s: &str) -> Result<Address, LedgerError> {
    Address::from_str(s).map_err(|_| corrupt(format!("address {s:?}")))
}

fn job_from_row(r: &AnyRow) -> Result<JobRecord, LedgerError> {
    let text = |i: usize| -> Result<String, LedgerError> { Ok(r.try_get::<String, _>(i)?) };
    let int = |i: usize| -> Result<i64, LedgerError> { Ok(r.try_get::<i64, _>(i)?) };
    let dim = |i: usize| -> Result<u32, LedgerError> { u32::try_from(int(i)?).map_err(|_| corrupt("dimension")) };
    let dtype = text(5)?.parse().map_err(corrupt)?;
    let shape = Shape::new(dim(2)?, dim(3)?, dim(4)?, dtype).map_err(corrupt)?;
    let job = Job {
        job_id: JobId::from_str(&text(0)?).map_err(corrupt)?,
        system: text(16)?.parse().map_err(corrupt)?,
        circuit: text(1)?.parse().map_err(corrupt)?,
        shape,
        cm_a: fr_from_hex(&text(6)?).map_err(corrupt)?,
        cm_b: fr_from_hex(&text(7)?).map_err(corrupt)?,
    };
    let payee: Option<String> = r.try_get(12)?;
    Ok(JobRecord {
        job,
        client: addr(&text(8)?)?,
        price: text(9)?.parse().map_err(|_| corrupt("price"))?,
        deadline: int(10)?,
        state: text(11)?.parse()?,
        payee: payee.as_deref().map(addr).transpose()?,
        created_at: int(13)?,
        settled_at: r.try_get(14)?,
        version: int(15)?,
    })
}

fn event_from_row(r: &AnyRow) -> Result<Event, LedgerError> {
    let payee: Option<String> = r.try_get(4)?;
    Ok(Event {
        seq: r.try_get(0)?,
        kind: r.try_get(1)?,
        at: r.try_get(2)?,
        actor: addr(&r.try_get::<String, _>(3)?)?,
        payee: payee.as_deref().map(addr).transpose()?,
        amount: r.try_get(5)?,
        proof_digest: r.try_get(6)?,
    })
}
