//! The market side of a job: where its data lies in the blob store, whether it
//! is offered, who holds its lease, and the results providers uploaded.
//!
//! A job is *offered* once both inputs are stored (`offered_at`). A provider's
//! claim gives it the lease until `claim_expires` (the client's lease window,
//! never past the deadline); an expired lease leaves the job offered again. A
//! provider's uploaded C is kept per (job, provider) in `results`; the release
//! copies the payee's into `deliveries` in the same transaction that pays, so a
//! released job always has the result its client downloads.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use veriflop_circuits::field::{fr_from_hex, fr_to_hex};
use veriflop_circuits::{Address, CircuitKind, Dtype, JobId, ProofSystem};

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
            "SELECT m.lease_secs, m.a_blob, m.b_blob, m.offered_at, m.claimant, m.claim_expires, m.claims, d.blob
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
        let n = self
            .write(
                sqlx::query(
                    "UPDATE job_market SET claimant = $2, claim_expires = $3, claims = claims + 1
             WHERE job_id = $1 AND offered_at IS NOT NULL AND (claim_expires IS NULL OR claim_expires <= $4)
             AND EXISTS (SELECT 1 FROM jobs WHERE jobs.job_id = $1 AND state = 'locked' AND deadline > $4)",
                )
                .bind(id.to_string())
                .bind(provider.to_string())
                .bind(expires)
                .bind(now),
            )
            .await?;
        if n == 1 {
            return Ok(Claim::Granted { expires, renewed: true });
        }
        // Lost a race: say who won.
        Box::pin(self.claim(id, provider, now)).await
    }

    /// Ends `provider`'s valid lease now (the job is offered again); false if it held none.
    pub async fn unclaim(&self, id: &JobId, provider: Address, now: i64) -> Result<bool, LedgerError> {
        let n = self.write(sqlx::query(
            "UPDATE job_market SET claim_expires = $3 WHERE job_id = $1 AND claimant = $2 AND claim_expires > $3",
        )
        .bind(id.to_string())
        .bind(provider.to_string())
        .bind(now))
            .await?;
        Ok(n == 1)
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
                    CAST(NULL AS TEXT)
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
        result_blob: r.try_get(at + 7)?,
    })
}
