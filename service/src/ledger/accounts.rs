//! Balances and their append-only event log.
//!
//! Amounts are integers in the venue's smallest unit, at most [`MAX_AMOUNT`]
//! (2^63 − 1: balances are 64-bit database integers so that every check and
//! update is one conditional SQL statement, atomic on both back ends).

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use veriflop_circuits::{Address, JobId};

use super::{addr, corrupt, Insert, Ledger, LedgerError};

/// Largest amount (balance, deposit or job price): `i64::MAX`.
pub const MAX_AMOUNT: u64 = i64::MAX as u64;

/// An amount as the database stores it, refused above [`MAX_AMOUNT`].
pub(super) fn amount(x: impl TryInto<i64>) -> Result<i64, LedgerError> {
    x.try_into()
        .ok()
        .filter(|a| *a >= 0)
        .ok_or_else(|| LedgerError::Amount(format!("amounts are at most {MAX_AMOUNT}")))
}

/// An address's balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub address: Address,
    /// What it can lock in new jobs (payouts and refunds included).
    pub balance: u64,
    /// Its jobs still locked (counted against the quota).
    pub open_jobs: u64,
}

/// One row of an address's account log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    pub seq: i64,
    /// `deposit`, `withdrawal` (operator), `lock` (job registered), `payout`
    /// (job released to this payee), `refund` (job refunded to this client),
    /// `stake` (put down to claim a job), `unstake` (returned with the
    /// release), `forfeit` (a lease's stake, paid to this client).
    pub kind: String,
    pub amount: u64,
    pub balance_after: u64,
    pub job_id: Option<JobId>,
    pub at: i64,
    /// Who caused it: the operator's label for deposits and withdrawals, else the signer.
    pub actor: String,
    pub memo: Option<String>,
}

/// A balance change about to be recorded.
pub(super) struct Movement<'a> {
    pub address: Address,
    pub kind: &'static str,
    pub amount: i64,
    pub job_id: Option<&'a JobId>,
    pub at: i64,
    pub actor: String,
    pub memo: Option<&'a str>,
}

impl<'a> Movement<'a> {
    /// A movement for a job, caused by `actor`.
    pub(super) fn for_job(
        kind: &'static str,
        address: Address,
        amount: i64,
        job: &'a JobId,
        at: i64,
        actor: Address,
    ) -> Self {
        Movement { address, kind, amount, job_id: Some(job), at, actor: actor.to_string(), memo: None }
    }

    pub(super) fn lock(client: Address, amount: i64, job: &'a JobId, at: i64) -> Self {
        Movement { address: client, kind: "lock", amount, job_id: Some(job), at, actor: client.to_string(), memo: None }
    }

    pub(super) fn payout(payee: Address, amount: i64, job: &'a JobId, at: i64) -> Self {
        Movement { address: payee, kind: "payout", amount, job_id: Some(job), at, actor: payee.to_string(), memo: None }
    }

    pub(super) fn refund(client: Address, amount: i64, job: &'a JobId, at: i64, actor: Address) -> Self {
        Movement {
            address: client,
            kind: "refund",
            amount,
            job_id: Some(job),
            at,
            actor: actor.to_string(),
            memo: None,
        }
    }
}

async fn ensure_account(tx: &mut Transaction<'_, Any>, a: &Address) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO accounts (address, balance, open_jobs, version) VALUES ($1, 0, 0, 0) ON CONFLICT (address) DO NOTHING",
    )
    .bind(a.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn record(tx: &mut Transaction<'_, Any>, m: &Movement<'_>, row: AnyRow) -> Result<(), LedgerError> {
    let seq: i64 = row.try_get(0)?;
    let balance: i64 = row.try_get(1)?;
    sqlx::query(
        "INSERT INTO account_events (address, seq, kind, amount, balance_after, job_id, at, actor, memo)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(m.address.to_string())
    .bind(seq)
    .bind(m.kind)
    .bind(m.amount)
    .bind(balance)
    .bind(m.job_id.map(|j| j.to_string()))
    .bind(m.at)
    .bind(m.actor.clone())
    .bind(m.memo.map(str::to_string))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds `m.amount` to the balance (creating the account); refuses to overflow.
pub(super) async fn credit(tx: &mut Transaction<'_, Any>, m: &Movement<'_>) -> Result<(), LedgerError> {
    ensure_account(tx, &m.address).await?;
    let row = sqlx::query(
        "UPDATE accounts SET balance = balance + $2, version = version + 1
         WHERE address = $1 AND balance <= $3 - $2 RETURNING version, balance",
    )
    .bind(m.address.to_string())
    .bind(m.amount)
    .bind(MAX_AMOUNT as i64)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| LedgerError::Amount(format!("{}'s balance would exceed {MAX_AMOUNT}", m.address)))?;
    record(tx, m, row).await
}

/// Takes `m.amount` from the balance if it covers it; else the balance.
pub(super) async fn debit(tx: &mut Transaction<'_, Any>, m: &Movement<'_>) -> Result<Result<(), u64>, LedgerError> {
    let row = sqlx::query(
        "UPDATE accounts SET balance = balance - $2, version = version + 1
         WHERE address = $1 AND balance >= $2 RETURNING version, balance",
    )
    .bind(m.address.to_string())
    .bind(m.amount)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => record(tx, m, row).await.map(Ok),
        None => Ok(Err(balance_in(tx, &m.address).await?.0)),
    }
}

async fn balance_in(tx: &mut Transaction<'_, Any>, a: &Address) -> Result<(u64, u64), LedgerError> {
    let row = sqlx::query("SELECT balance, open_jobs FROM accounts WHERE address = $1")
        .bind(a.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(r) => Ok((r.try_get::<i64, _>(0)? as u64, r.try_get::<i64, _>(1)? as u64)),
        None => Ok((0, 0)),
    }
}

/// A job's `lock`: debit the client and count the job against its quota, both
/// in one conditional statement.
pub(super) async fn lock(
    tx: &mut Transaction<'_, Any>,
    m: &Movement<'_>,
    max_open_jobs: u64,
) -> Result<Result<(), Insert>, LedgerError> {
    let row = sqlx::query(
        "UPDATE accounts SET balance = balance - $2, open_jobs = open_jobs + 1, version = version + 1
         WHERE address = $1 AND balance >= $2 AND open_jobs < $3 RETURNING version, balance",
    )
    .bind(m.address.to_string())
    .bind(m.amount)
    .bind(i64::try_from(max_open_jobs).unwrap_or(i64::MAX))
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = row {
        record(tx, m, row).await?;
        return Ok(Ok(()));
    }
    let (balance, open) = balance_in(tx, &m.address).await?;
    Ok(Err(if open >= max_open_jobs { Insert::QuotaExceeded { open } } else { Insert::InsufficientFunds { balance } }))
}

/// A settled job no longer counts against its client's quota.
pub(super) async fn close_job(tx: &mut Transaction<'_, Any>, client: &Address) -> Result<(), LedgerError> {
    let n = sqlx::query("UPDATE accounts SET open_jobs = open_jobs - 1 WHERE address = $1 AND open_jobs > 0")
        .bind(client.to_string())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n != 1 {
        return Err(corrupt(format!("{client} has no open job to close")));
    }
    Ok(())
}

fn account_event_from_row(r: &AnyRow) -> Result<AccountEvent, LedgerError> {
    let job: Option<String> = r.try_get(4)?;
    Ok(AccountEvent {
        seq: r.try_get(0)?,
        kind: r.try_get(1)?,
        amount: r.try_get::<i64, _>(2)? as u64,
        balance_after: r.try_get::<i64, _>(3)? as u64,
        job_id: job.as_deref().map(JobId::from_str).transpose().map_err(corrupt)?,
        at: r.try_get(5)?,
        actor: r.try_get(6)?,
        memo: r.try_get(7)?,
    })
}

/// Why an operator's deposit or withdrawal was refused.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{address} has {balance}, less than {amount}")]
    InsufficientFunds { address: Address, balance: u64, amount: u64 },
    #[error("amount must be between 1 and {MAX_AMOUNT}")]
    BadAmount,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl Ledger {
    /// Credits `amount` to `address` (the operator received the funds
    /// off-ledger). `actor` names who recorded it, `memo` why (e.g. a payment reference).
    pub async fn deposit(
        &self,
        address: Address,
        amount: u64,
        actor: &str,
        memo: Option<&str>,
        now: i64,
    ) -> Result<Account, TransferError> {
        if amount == 0 || amount > MAX_AMOUNT {
            return Err(TransferError::BadAmount);
        }
        let mut tx = self.write_tx().await.map_err(LedgerError::from)?;
        let m = Movement {
            address,
            kind: "deposit",
            amount: amount as i64,
            job_id: None,
            at: now,
            actor: actor.into(),
            memo,
        };
        credit(&mut tx, &m).await?;
        tx.commit().await.map_err(LedgerError::from)?;
        Ok(self.account(address).await?)
    }

    /// Debits `amount` from `address` (the operator pays it out off-ledger).
    pub async fn withdraw(
        &self,
        address: Address,
        amount: u64,
        actor: &str,
        memo: Option<&str>,
        now: i64,
    ) -> Result<Account, TransferError> {
        if amount == 0 || amount > MAX_AMOUNT {
            return Err(TransferError::BadAmount);
        }
        let mut tx = self.write_tx().await.map_err(LedgerError::from)?;
        let m = Movement {
            address,
            kind: "withdrawal",
            amount: amount as i64,
            job_id: None,
            at: now,
            actor: actor.into(),
            memo,
        };
        if let Err(balance) = debit(&mut tx, &m).await? {
            tx.rollback().await.map_err(LedgerError::from)?;
            return Err(TransferError::InsufficientFunds { address, balance, amount });
        }
        tx.commit().await.map_err(LedgerError::from)?;
        Ok(self.account(address).await?)
    }

    /// The balance of `address` (zero for an address never credited).
    pub async fn account(&self, address: Address) -> Result<Account, LedgerError> {
        let row = sqlx::query("SELECT balance, open_jobs FROM accounts WHERE address = $1")
            .bind(address.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let (balance, open_jobs) = match row {
            Some(r) => (r.try_get::<i64, _>(0)? as u64, r.try_get::<i64, _>(1)? as u64),
            None => (0, 0),
        };
        Ok(Account { address, balance, open_jobs })
    }

    /// The account log of `address`, oldest first.
    pub async fn account_events(&self, address: Address) -> Result<Vec<AccountEvent>, LedgerError> {
        let rows = sqlx::query(
            "SELECT seq, kind, amount, balance_after, job_id, at, actor, memo FROM account_events
             WHERE address = $1 ORDER BY seq",
        )
        .bind(address.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_event_from_row).collect()
    }

    /// Every account, by address.
    pub async fn accounts(&self) -> Result<Vec<Account>, LedgerError> {
        let rows = sqlx::query("SELECT address, balance, open_jobs FROM accounts ORDER BY address")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Account {
                    address: addr(&r.try_get::<String, _>(0)?)?,
                    balance: r.try_get::<i64, _>(1)? as u64,
                    open_jobs: r.try_get::<i64, _>(2)? as u64,
                })
            })
            .collect()
    }
}
