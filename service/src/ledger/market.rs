//! The market side of a job: where its data lies in the blob store, whether it
//! is offered, who holds its lease, and the results providers uploaded.
//!
//! A job is *offered* once both inputs are stored (`offered_at`). A provider's
//! claim gives it the lease until `claim_expires` (the client's lease window,
//! never past the deadline); an expired lease leaves the job offered again. A
//! provider's uploaded C is kept per (job, provider) in `results`; the release
//! copies the payee's into `deliveries` in the same transaction that pays, so a
//! released job always has the result its client downloads.
//!
//! Stakes mirror JobEscrow's lock stake: a job may ask `lease_stake` of each
//! claim. Claiming takes it from the provider's balance (`stake`) into
//! `stake_held`; it comes back with the price when that provider's release
//! lands within its lease (`unstake`), and goes to the client whenever the
//! lease ends without one (`forfeit`): expiry (settled by the next claim, the
//! sweep, the refund or a late release), or giving the lease back.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use veriflop_circuits::field::{fr_from_hex, fr_to_hex};
use veriflop_circuits::{Address, CircuitKind, Dtype, JobId, ProofSystem};

use super::accounts::{self, Movement};
use super::schema::JOB_COLUMNS;
use super::{addr, corrupt, job_from_row, JobRecord, Ledger, LedgerError};

/// Which input of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Input {
    A,
    B,
}

impl Input {
    pub fn as_str(self) -> &'static str {
        match self {
            Input::A => "a",
            Input::B => "b",
        }
    }
}

impl FromStr for Input {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "a" | "A" => Ok(Input::A),
            "b" | "B" => Ok(Input::B),
            _ => Err(format!("no input {s:?} (expected a or b)")),
        }
    }
}

/// A job's market record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Market {
    /// Seconds a claim holds the job (the client's choice).
    pub lease_secs: i64,
    /// Blob keys of the stored inputs.
    pub a_blob: Option<String>,
    pub b_blob: Option<String>,
    /// When both inputs were stored (the job is offered from then on).
    pub offered_at: Option<i64>,
    /// The last claim: its holder and end (a lease is valid while `now < claim_expires`).
    pub claimant: Option<Address>,
    pub claim_expires: Option<i64>,
    /// Claims made so far.
    pub claims: i64,
    /// What a claim costs (0: no stake), and what the last claimant's stake
    /// still held is (0 once returned or forfeited).
    pub lease_stake: i64,
    pub stake_held: i64,
    /// The delivered result's blob key (released jobs).
    pub result_blob: Option<String>,
}

impl Market {
    /// The provider holding a valid lease at `now`.
    pub fn lease_holder(&self, now: i64) -> Option<Address> {
        match (self.claimant, self.claim_expires) {
            (Some(a), Some(t)) if now < t => Some(a),
            _ => None,
        }
    }
}

/// A result a provider uploaded for a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResult {
    pub blob: String,
    pub bytes: i64,
    pub cm_c: ark_bn254::Fr,
}

/// Outcome of a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the lease until `expires` (a new claim, or its own still valid).
    Granted {
        expires: i64,
        renewed: bool,
    },
    /// Another provider holds a valid lease.
    Held {
        by: Address,
        until: i64,
    },
    /// The job asks a stake the provider's balance does not cover (nothing changed).
    InsufficientStake {
        stake: u64,
        balance: u64,
    },
    /// Inputs not stored yet.
    NotOffered,
    /// Settled, or at or past its deadline.
    Closed(JobRecord),
    Unknown,
}

/// Filters of the open-jobs listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenFilter {
    pub system: Option<ProofSystem>,
    pub circuit: Option<CircuitKind>,
    /// (m, k, n).
    pub dims: Option<(u32, u32, u32)>,
    pub dtype: Option<Dtype>,
    pub min_price: Option<u64>,
    /// Resume after this (offered_at, job id) cursor.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

impl Ledger {
    /// The job's market record (`None` for an unknown job).
    pub async fn market(&self, id: &JobId) -> Result<Option<Market>, LedgerError> {
        let row = sqlx::query(
            "SELECT m.lease_secs, m.a_blob, m.b_blob, m.offered_at, m.claimant, m.claim_expires, m.claims, m.lease_stake, m.stake_held, d.blob
             FROM job_market m LEFT JOIN deliveries d ON d.job_id = m.job_id WHERE m.job_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| market_from_row(&r, 0)).transpose()
    }

    /// Records a stored input of a job still locked. Storing the second input
    /// offers the job. Storing again the same blob is a no-op; another blob for
    /// an input already stored is refused (false).
    pub async fn set_input(&self, id: &JobId, input: Input, blob: &str, now: i64) -> Result<bool, LedgerError> {
        let col = match input {
            Input::A => "a_blob",
            Input::B => "b_blob",
        };
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(&format!(
            "UPDATE job_market SET {col} = $2 WHERE job_id = $1 AND ({col} IS NULL OR {col} = $2)
             AND EXISTS (SELECT 1 FROM jobs WHERE jobs.job_id = $1 AND state = 'locked')"
        ))
        .bind(id.to_string())
        .bind(blob)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE job_market SET offered_at = $2
             WHERE job_id = $1 AND offered_at IS NULL AND a_blob IS NOT NULL AND b_blob IS NOT NULL",
        )
        .bind(id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Claims the job for `provider` until min(now + lease, deadline). Exactly one
    /// of concurrent claimants (on any replica) wins; the holder claiming again
    /// keeps its lease (`renewed: false`) — a lease is never extended.
    pub async fn claim(&self, id: &JobId, provider: Address, now: i64) -> Result<Claim, LedgerError> {
        let Some(job) = self.job(id).await? else { return Ok(Claim::Unknown) };
        let Some(m) = self.market(id).await? else { return Ok(Claim::NotOffered) };
        if job.state != super::EscrowState::Locked || job.deadline <= now {
            return Ok(Claim::Closed(job));
        }
        if m.offered_at.is_none() {
            return Ok(Claim::NotOffered);
        }
        if let Some(by) = m.lease_holder(now) {
            let until = m.claim_expires.unwrap_or(now);
            return Ok(if by == provider {
                Claim::Granted { expires: until, renewed: false }
            } else {
                Claim::Held { by, until }
            });
        }
        let expires = (now + m.lease_secs).min(job.deadline);
        let mut tx = self.write_tx().await?;
        // The last claimant's lease has ended without a result: its stake is the client's.
        end_stake(&mut tx, id, now, None, true).await?;
        let n = sqlx::query(
            "UPDATE job_market SET claimant = $2, claim_expires = $3, claims = claims + 1, stake_held = lease_stake
             WHERE job_id = $1 AND offered_at IS NOT NULL AND (claim_expires IS NULL OR claim_expires <= $4)
             AND EXISTS (SELECT 1 FROM jobs WHERE jobs.job_id = $1 AND state = 'locked' AND deadline > $4)",
        )
        .bind(id.to_string())
        .bind(provider.to_string())
        .bind(expires)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            if m.lease_stake > 0 {
                let stake = Movement::for_job("stake", provider, m.lease_stake, id, now, provider);
                if let Err(balance) = accounts::debit(&mut tx, &stake).await? {
                    tx.rollback().await?;
                    return Ok(Claim::InsufficientStake { stake: m.lease_stake as u64, balance });
                }
            }
            tx.commit().await?;
            return Ok(Claim::Granted { expires, renewed: true });
        }
        tx.rollback().await?;
        // Lost a race: say who won.
        Box::pin(self.claim(id, provider, now)).await
    }

    /// Ends `provider`'s valid lease now (the job is offered again; a stake it
    /// put down goes to the client); false if it held none.
    pub async fn unclaim(&self, id: &JobId, provider: Address, now: i64) -> Result<bool, LedgerError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "UPDATE job_market SET claim_expires = $3 WHERE job_id = $1 AND claimant = $2 AND claim_expires > $3",
        )
        .bind(id.to_string())
        .bind(provider.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            end_stake(&mut tx, id, now, None, true).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Jobs whose last lease has ended with its stake still held (at most `limit`):
    /// the sweep forfeits them to their clients.
    pub async fn ended_stakes(&self, now: i64, limit: i64) -> Result<Vec<JobId>, LedgerError> {
        let rows = sqlx::query_scalar::<_, String>(
            "SELECT job_id FROM job_market WHERE stake_held > 0 AND claim_expires <= $1 ORDER BY claim_expires LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|id| JobId::from_str(id).map_err(corrupt)).collect()
    }

    /// Forfeits the job's stake to its client if the lease holding it has ended; whether it did.
    pub async fn forfeit_ended_stake(&self, id: &JobId, now: i64) -> Result<bool, LedgerError> {
        let mut tx = self.write_tx().await?;
        let done = end_stake(&mut tx, id, now, None, true).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Records (or replaces) `provider`'s uploaded result for a locked job.
    pub async fn put_result(
        &self,
        id: &JobId,
        provider: Address,
        r: &StoredResult,
        now: i64,
    ) -> Result<bool, LedgerError> {
        // One statement, writing first: SQLite never has to upgrade a read to a write.
        let n = self.write(sqlx::query(
            "INSERT INTO results (job_id, provider, blob, bytes, cm_c, at)
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM jobs WHERE job_id = $1 AND state = 'locked')
             ON CONFLICT (job_id, provider) DO UPDATE SET blob = excluded.blob, bytes = excluded.bytes, cm_c = excluded.cm_c, at = excluded.at",
        )
        .bind(id.to_string())
        .bind(provider.to_string())
        .bind(&r.blob)
        .bind(r.bytes)
        .bind(fr_to_hex(&r.cm_c))
        .bind(now))
            .await?;
        Ok(n == 1)
    }

    /// `provider`'s uploaded result for the job.
    pub async fn result(&self, id: &JobId, provider: Address) -> Result<Option<StoredResult>, LedgerError> {
        let row = sqlx::query("SELECT blob, bytes, cm_c FROM results WHERE job_id = $1 AND provider = $2")
            .bind(id.to_string())
            .bind(provider.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(StoredResult {
                blob: r.try_get(0)?,
                bytes: r.try_get(1)?,
                cm_c: fr_from_hex(&r.try_get::<String, _>(2)?).map_err(corrupt)?,
            })
        })
        .transpose()
    }

    /// Offered jobs nobody holds a lease on, still locked and before their
    /// deadline, oldest offer first; each with its lease window.
    pub async fn open_jobs(&self, f: &OpenFilter, now: i64) -> Result<Vec<(JobRecord, Market)>, LedgerError> {
        enum Arg {
            Text(String),
            Int(i64),
        }
        let cols: String = JOB_COLUMNS.split(", ").map(|c| format!("j.{c}")).collect::<Vec<_>>().join(", ");
        let mut sql = format!(
            "SELECT {cols}, m.lease_secs, m.a_blob, m.b_blob, m.offered_at, m.claimant, m.claim_expires, m.claims,
                    m.lease_stake, m.stake_held, CAST(NULL AS TEXT)
             FROM jobs j JOIN job_market m ON m.job_id = j.job_id
             WHERE j.state = 'locked' AND j.deadline > $1 AND m.offered_at IS NOT NULL
             AND (m.claim_expires IS NULL OR m.claim_expires <= $1)"
        );
        let mut args = vec![Arg::Int(now)];
        // Appends `cond` with each `?` replaced by the next placeholder.
        let mut push = |sql: &mut String, cond: &str, new: Vec<Arg>| {
            let mut c = cond.to_string();
            for a in new {
                args.push(a);
                c = c.replacen('?', &format!("${}", args.len()), 1);
            }
            sql.push_str(&c);
        };
        if let Some(s) = f.system {
            push(&mut sql, " AND j.proof_system = ?", vec![Arg::Text(s.name().to_string())]);
        }
        if let Some(c) = f.circuit {
            push(&mut sql, " AND j.circuit = ?", vec![Arg::Text(c.to_string())]);
        }
        if let Some((m, k, n)) = f.dims {
            push(
                &mut sql,
                " AND j.m = ? AND j.k = ? AND j.n = ?",
                vec![Arg::Int(m.into()), Arg::Int(k.into()), Arg::Int(n.into())],
            );
        }
        if let Some(d) = f.dtype {
            push(&mut sql, " AND j.dtype = ?", vec![Arg::Text(d.to_string())]);
        }
        if let Some(p) = f.min_price {
            push(&mut sql, " AND CAST(j.price AS BIGINT) >= ?", vec![Arg::Int(p.min(i64::MAX as u64) as i64)]);
        }
        if let Some((at, id)) = &f.after {
            let new = vec![Arg::Int(*at), Arg::Int(*at), Arg::Text(id.clone())];
            push(&mut sql, " AND (m.offered_at > ? OR (m.offered_at = ? AND j.job_id > ?))", new);
        }
        sql.push_str(&format!(" ORDER BY m.offered_at, j.job_id LIMIT {}", f.limit.clamp(1, 1000)));
        let mut q = sqlx::query(&sql);
        for a in args {
            q = match a {
                Arg::Text(t) => q.bind(t),
                Arg::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.pool).await?;
        let n = JOB_COLUMNS.split(", ").count();
        rows.iter().map(|r| Ok((job_from_row(r)?, market_from_row(r, n)?))).collect()
    }

    /// The proof bundle (wire bytes) accepted with the release.
    pub async fn delivered_bundle(&self, id: &JobId) -> Result<Option<Vec<u8>>, LedgerError> {
        let b = sqlx::query_scalar::<_, String>("SELECT bundle FROM deliveries WHERE job_id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        b.map(|h| hex::decode(&h).map_err(|_| corrupt(format!("{id}: delivered bundle is not hex")))).transpose()
    }

    /// Blob keys the ledger refers to (inputs, results, deliveries).
    pub async fn referenced_blobs(&self) -> Result<Vec<(String, String)>, LedgerError> {
        let rows = sqlx::query(
            "SELECT job_id, a_blob FROM job_market WHERE a_blob IS NOT NULL
             UNION ALL SELECT job_id, b_blob FROM job_market WHERE b_blob IS NOT NULL
             UNION ALL SELECT job_id, blob FROM results
             UNION ALL SELECT job_id, blob FROM deliveries",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }
}

fn market_from_row(r: &AnyRow, at: usize) -> Result<Market, LedgerError> {
    let claimant: Option<String> = r.try_get(at + 4)?;
    Ok(Market {
        lease_secs: r.try_get(at)?,
        a_blob: r.try_get(at + 1)?,
        b_blob: r.try_get(at + 2)?,
        offered_at: r.try_get(at + 3)?,
        claimant: claimant.as_deref().map(addr).transpose()?,
        claim_expires: r.try_get(at + 5)?,
        claims: r.try_get(at + 6)?,
        lease_stake: r.try_get(at + 7)?,
        stake_held: r.try_get(at + 8)?,
        result_blob: r.try_get(at + 9)?,
    })
}

/// Settles the stake the job holds, if any (and, with `ended_only`, only if its
/// lease has ended by `now`): back to `winner` when it is the claimant and its
/// lease is still valid (its release), else to the client. Whether a stake moved.
pub(super) async fn end_stake(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &JobId,
    now: i64,
    winner: Option<Address>,
    ended_only: bool,
) -> Result<bool, LedgerError> {
    let row = sqlx::query(
        "UPDATE job_market SET stake_held = 0 WHERE job_id = $1 AND stake_held > 0 AND claim_expires <= $2
         RETURNING lease_stake, claimant, claim_expires, (SELECT client FROM jobs WHERE jobs.job_id = $1)",
    )
    .bind(id.to_string())
    .bind(if ended_only { now } else { i64::MAX })
    .fetch_optional(&mut **tx)
    .await?;
    let Some(r) = row else { return Ok(false) };
    let stake: i64 = r.try_get(0)?;
    let claimant = addr(&r.try_get::<String, _>(1)?)?;
    let expires: i64 = r.try_get(2)?;
    let client = addr(&r.try_get::<String, _>(3)?)?;
    let m = if winner == Some(claimant) && now < expires {
        Movement::for_job("unstake", claimant, stake, id, now, claimant)
    } else {
        Movement::for_job("forfeit", client, stake, id, now, claimant)
    };
    accounts::credit(tx, &m).await?;
    Ok(true)
}
