//! The escrow ledger: balances, jobs, their escrow state, append-only event
//! logs, and the nonces used by signed requests.
//!
//! One code path for both back ends: sqlx's `Any` driver with SQL that SQLite
//! (≥ 3.35) and PostgreSQL read identically (`$n` placeholders, `RETURNING`,
//! `ON CONFLICT DO NOTHING`, partial unique indexes). Only the schema set-up
//! differs slightly (pragmas, the append-only triggers, and a lock so that
//! replicas starting together do not race on `CREATE`).
//!
//! Money: an address's balance comes from deposits credited by the operator
//! ([`Ledger::deposit`]). Registering a job moves its price from the client's
//! balance into the job's escrow (`lock`), in the same transaction that records
//! the job, and only if the balance covers it and the client's open jobs are
//! under the quota. Escrow states: `locked` → `released` (the price is credited
//! to the payee a valid proof binds: `payout`) or `locked` → `refunded` (back to
//! the client after the deadline: `refund`). Each change is one transaction: a
//! conditional `UPDATE … WHERE state = 'locked'` that bumps the job's `version`,
//! an event row keyed `(job_id, seq = version)`, and the balance change with its
//! account event keyed `(address, seq)`. A partial unique index allows at most
//! one settlement event per job, another at most one lock, payout and refund
//! per job, so even a logic error could not pay twice (stakes: see `market`); triggers refuse `UPDATE`
//! and `DELETE` on both event logs. [`Ledger::audit`] replays everything.

mod accounts;
mod audit;
mod market;
mod schema;

use accounts::Movement;
pub use accounts::{Account, AccountEvent, TransferError, MAX_AMOUNT};
pub use market::{Claim, Input, Market, OpenFilter, StoredResult};

use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use veriflop_circuits::field::{fr_from_hex, fr_to_hex};
use veriflop_circuits::{Address, Bytes32, Job, JobId, Shape};

use schema::JOB_COLUMNS;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger database error: {0}")]
    Db(String),
    #[error("ledger holds an invalid row: {0}")]
    Corrupt(String),
    #[error("unsupported ledger URL {0:?} (expected sqlite://PATH or postgres://…)")]
    Url(String),
    #[error(
        "this ledger was made by an older veriflop (jobs without deposits) and cannot be upgraded; start a new one"
    )]
    Legacy,
    #[error("{0}")]
    Amount(String),
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
    /// The client's nonce the job id is derived from (with the venue and client).
    pub nonce: Bytes32,
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
    /// Another provider holds a valid lease on the job.
    ClaimedByOther {
        by: Address,
        until: i64,
    },
    /// The payee has no stored result with the proven cm_C (nothing to deliver).
    NoResult,
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

/// Result of registering a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Insert {
    /// Recorded, its price moved from the client's balance into escrow.
    Inserted,
    /// The job id is taken (nothing changed).
    Exists,
    /// The client's balance does not cover the price (nothing changed).
    InsufficientFunds { balance: u64 },
    /// The client already has `open` jobs locked, the most allowed (nothing changed).
    QuotaExceeded { open: u64 },
}

/// The actor of settlements the service makes on its own (scheduled refunds of
/// expired jobs): the zero address, which no key signs for.
pub const SERVICE_ACTOR: Address = Address([0; 20]);

#[derive(Clone, Debug)]
pub struct Ledger {
    pool: AnyPool,
    backend: Backend,
    /// This venue's service id (meta key `service_id`, made with the ledger).
    service_id: Bytes32,
    /// Testing hook: sleep this long inside the release transaction, after its
    /// writes and before COMMIT (to kill the process mid-release).
    fault_release_delay: Duration,
}

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
                    // FULL: a committed release survives power loss, not only a
                    // killed process.
                    conn.execute("PRAGMA busy_timeout = 30000").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => opts.max_connections(16),
        };
        let pool = opts.connect(&url).await?;
        if backend == Backend::Sqlite {
            // WAL (readers never block the writer) is a property of the file: set
            // it once here, not per connection, where switching modes can fail
            // with "database is locked" while other connections write.
            let mut tries = 0;
            loop {
                match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL").fetch_one(&pool).await {
                    Ok(_) => break,
                    Err(e) if tries < 100 => {
                        tries += 1;
                        tracing::debug!("setting WAL mode: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let mut ledger = Ledger { pool, backend, service_id: Bytes32::default(), fault_release_delay: Duration::ZERO };
        ledger.service_id = ledger.migrate().await?;
        Ok(ledger)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs one writing statement in its own [`Ledger::write_tx`]; rows affected.
    async fn write<'a>(
        &self,
        q: sqlx::query::Query<'a, sqlx::Any, sqlx::any::AnyArguments<'a>>,
    ) -> Result<u64, LedgerError> {
        let mut tx = self.write_tx().await?;
        let n = q.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// A transaction that writes. On SQLite it takes the write lock at BEGIN
    /// (`BEGIN IMMEDIATE`), so it waits its turn (busy timeout) instead of
    /// failing when another writer commits between its first read and its
    /// first write.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// See the field's documentation; for crash tests only.
    pub fn set_fault_release_delay(&mut self, d: Duration) {
        self.fault_release_delay = d;
    }

    /// Creates the tables (idempotent) and returns the service id, made on first use.
    async fn migrate(&self) -> Result<Bytes32, LedgerError> {
        let mut tx = self.write_tx().await?;
        if self.backend == Backend::Postgres {
            // Serialise schema set-up between replicas starting at the same time.
            tx.execute("SELECT pg_advisory_xact_lock(7305813245)").await?;
        }
        let extra = match self.backend {
            Backend::Sqlite => schema::SQLITE,
            Backend::Postgres => schema::POSTGRES,
        };
        // A ledger of the previous generation has a jobs table but no meta.
        let had_meta = self.table_exists(&mut tx, "meta").await?;
        if !had_meta && self.table_exists(&mut tx, "jobs").await? {
            return Err(LedgerError::Legacy);
        }
        if had_meta {
            let v = sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = 'schema'")
                .fetch_optional(&mut *tx)
                .await?;
            if v.as_deref() == Some("2") {
                let upgrade = match self.backend {
                    Backend::Sqlite => schema::UPGRADE_2_SQLITE,
                    Backend::Postgres => schema::UPGRADE_2_POSTGRES,
                };
                for stmt in upgrade {
                    tx.execute(*stmt).await?;
                }
            }
        }
        for stmt in schema::COMMON.iter().chain(extra) {
            tx.execute(*stmt).await?;
        }
        let meta = |key: &'static str, value: String| {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(value)
        };
        meta("schema", schema::SCHEMA_VERSION.to_string()).execute(&mut *tx).await?;
        meta("service_id", Bytes32::random().to_string()).execute(&mut *tx).await?;
        let get =
            |key: &'static str| sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = $1").bind(key);
        let mut version = get("schema").fetch_one(&mut *tx).await?;
        if schema::UPGRADABLE.contains(&version.as_str()) {
            sqlx::query("UPDATE meta SET value = $1 WHERE key = 'schema'")
                .bind(schema::SCHEMA_VERSION)
                .execute(&mut *tx)
                .await?;
            version = schema::SCHEMA_VERSION.to_string();
        }
        if version != schema::SCHEMA_VERSION {
            return Err(corrupt(format!("ledger schema {version:?}, this veriflop writes {}", schema::SCHEMA_VERSION)));
        }
        let id = get("service_id").fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Bytes32::from_str(&id).map_err(|_| corrupt(format!("service id {id:?}")))
    }

    async fn table_exists(&self, conn: &mut sqlx::AnyConnection, name: &str) -> Result<bool, LedgerError> {
        let q = match self.backend {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
            Backend::Postgres => "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1",
        };
        Ok(sqlx::query_scalar::<_, i64>(q).bind(name).fetch_one(conn).await? > 0)
    }

    /// This venue's service id: every replica sharing the ledger has the same.
    pub fn service_id(&self) -> Bytes32 {
        self.service_id
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), LedgerError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Records a new job with its escrow `locked` and its `registered` event,
    /// moving its price from the client's balance into escrow (`lock`). Nothing
    /// changes unless all of it does: the id is free, the balance covers the
    /// price, and the client has fewer than `max_open_jobs` jobs locked.
    pub async fn insert_job(
        &self,
        rec: &JobRecord,
        lease_secs: i64,
        lease_stake: i64,
        max_open_jobs: u64,
    ) -> Result<Insert, LedgerError> {
        let price = accounts::amount(rec.price)?;
        let mut tx = self.write_tx().await?;
        let s = rec.job.shape;
        let inserted = sqlx::query(
            "INSERT INTO jobs (job_id, circuit, m, k, n, dtype, cm_a, cm_b, client, price, deadline, state, payee, created_at, settled_at, version, proof_system, nonce)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'locked', NULL, $12, NULL, 1, $13, $14)
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
        .bind(rec.nonce.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted != 1 {
            tx.rollback().await?;
            return Ok(Insert::Exists);
        }
        let m = Movement::lock(rec.client, price, &rec.job.job_id, rec.created_at);
        if let Err(refused) = accounts::lock(&mut tx, &m, max_open_jobs).await? {
            tx.rollback().await?;
            return Ok(refused);
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
        sqlx::query("INSERT INTO job_market (job_id, lease_secs, claims, lease_stake) VALUES ($1, $2, 0, $3)")
            .bind(rec.job.job_id.to_string())
            .bind(lease_secs)
            .bind(accounts::amount(lease_stake)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Insert::Inserted)
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

    /// `locked → released` to `payee`, if the job is locked, `now` is before its
    /// deadline, no other provider holds a valid lease on it, and the payee's
    /// uploaded result has the proven `cm_c`: that result (with the accepted
    /// `bundle`) becomes the job's delivery in the same transaction. Exactly one concurrent caller (on any
    /// replica) wins.
    pub async fn release(
        &self,
        id: &JobId,
        payee: Address,
        proof_digest: &str,
        cm_c: &ark_bn254::Fr,
        bundle: &[u8],
        now: i64,
    ) -> Result<Release, LedgerError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'released', payee = $2, settled_at = $3, version = version + 1
             WHERE job_id = $1 AND state = 'locked' AND deadline > $3
             AND NOT EXISTS (SELECT 1 FROM job_market m WHERE m.job_id = jobs.job_id
                             AND m.claimant <> $2 AND m.claim_expires > $3)
             RETURNING version, price, client",
        )
        .bind(id.to_string())
        .bind(payee.to_string())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            let market = self.market(id).await?;
            return Ok(match self.job(id).await? {
                None => Release::Unknown,
                Some(j) if j.state == EscrowState::Locked => match market.and_then(|m| {
                    let until = m.claim_expires?;
                    m.lease_holder(now).filter(|by| *by != payee).map(|by| (by, until))
                }) {
                    Some((by, until)) if j.deadline > now => Release::ClaimedByOther { by, until },
                    _ => Release::Expired(j),
                },
                Some(j) => Release::NotLocked(j),
            });
        };
        let delivered = sqlx::query(
            "INSERT INTO deliveries (job_id, provider, blob, cm_c, at, bundle)
             SELECT job_id, provider, blob, cm_c, $3, $5 FROM results WHERE job_id = $1 AND provider = $2 AND cm_c = $4",
        )
        .bind(id.to_string())
        .bind(payee.to_string())
        .bind(now)
        .bind(fr_to_hex(cm_c))
        .bind(hex::encode(bundle))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if delivered != 1 {
            tx.rollback().await?;
            return Ok(Release::NoResult);
        }
        let seq: i64 = row.try_get(0)?;
        let price: String = row.try_get(1)?;
        let client: String = row.try_get(2)?;
        let amount = price.parse::<u128>().map_err(|_| corrupt(format!("price {price:?}")))?;
        accounts::close_job(&mut tx, &addr(&client)?).await?;
        accounts::credit(&mut tx, &Movement::payout(payee, accounts::amount(amount)?, id, now)).await?;
        market::end_stake(&mut tx, id, now, Some(payee), false).await?;
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

    /// `locked → refunded` to the client, if `now` is at or after the deadline
    /// (`actor`: the client, or [`SERVICE_ACTOR`] for a scheduled refund).
    pub async fn refund(&self, id: &JobId, actor: Address, now: i64) -> Result<Refund, LedgerError> {
        let mut tx = self.write_tx().await?;
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
        let to = addr(&client)?;
        accounts::close_job(&mut tx, &to).await?;
        accounts::credit(&mut tx, &Movement::refund(to, accounts::amount(amount)?, id, now, actor)).await?;
        market::end_stake(&mut tx, id, now, None, false).await?;
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
        let n = self.write(sqlx::query("INSERT INTO nonces (address, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT (address, nonce) DO NOTHING")
            .bind(address.to_string())
            .bind(nonce.to_string())
            .bind(expires_at))
            .await?;
        Ok(n == 1)
    }

    /// Forgets nonces whose request timestamps can no longer pass the window.
    pub async fn prune_nonces(&self, now: i64) -> Result<u64, LedgerError> {
        Ok(self.write(sqlx::query("DELETE FROM nonces WHERE expires_at < $1").bind(now)).await?)
    }

    /// Jobs still locked at or after their deadline (at most `limit`), oldest first:
    /// the scheduled sweep refunds them so no escrow stays stuck.
    pub async fn expired_locked(&self, now: i64, limit: i64) -> Result<Vec<JobId>, LedgerError> {
        let rows = sqlx::query_scalar::<_, String>(
            "SELECT job_id FROM jobs WHERE state = 'locked' AND deadline <= $1 ORDER BY deadline LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|id| JobId::from_str(id).map_err(corrupt)).collect()
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
        nonce: Bytes32::from_str(&text(17)?).map_err(corrupt)?,
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
