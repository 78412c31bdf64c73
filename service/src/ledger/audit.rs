//! The ledger audit: replays both event logs and checks they explain every
//! balance and every escrow.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use veriflop_circuits::{Address, Venue};

use super::schema::JOB_COLUMNS;
use super::{job_from_row, EscrowState, Event, Ledger, LedgerError};

impl Ledger {
    /// Audits the whole ledger and returns the problems found (empty: consistent):
    /// - every job's id is derived from this venue, its client and its nonce;
    /// - every job's state, payee and version agree with its events, with at
    ///   most one settlement, for exactly the escrowed price;
    /// - every job's `lock` (and `payout` or `refund`) account event exists,
    ///   names the right address and amount, and no account event names a job
    ///   that does not explain it;
    /// - every account's events replay to its balance (seq 1..version, each
    ///   `balance_after` the previous one ± the amount), and its open jobs are
    ///   its jobs still locked;
    /// - every job's stakes pair up: each `stake` (of the job's lease stake) is
    ///   matched by one `unstake` to the paid provider or one `forfeit` to the
    ///   client, except the one the job still holds;
    /// - money is conserved: balances + escrow + stakes held = deposits − withdrawals.
    pub async fn audit(&self) -> Result<Vec<String>, LedgerError> {
        let mut problems = Vec::new();
        let venue = Venue::Service { service_id: self.service_id };
        let rows =
            sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY job_id")).fetch_all(&self.pool).await?;
        // (job id, kind) -> (address, amount) expected in the account log.
        let mut expected: HashMap<(String, &'static str), (Address, u128)> = HashMap::new();
        let mut open: BTreeMap<Address, u64> = BTreeMap::new();
        let mut escrow: u128 = 0;
        for r in &rows {
            let j = job_from_row(r)?;
            let id = j.job.job_id;
            if venue.job_id(j.client, &j.nonce) != id {
                problems.push(format!("{id}: not the id of client {} with nonce {} here", j.client, j.nonce));
            }
            expected.insert((id.to_string(), "lock"), (j.client, j.price));
            let ev = self.events(&id).await?;
            let seqs: Vec<i64> = ev.iter().map(|e| e.seq).collect();
            if seqs != (1..=j.version).collect::<Vec<_>>() {
                problems.push(format!("{id}: event seqs {seqs:?} but version {}", j.version));
            }
            match ev.first() {
                Some(e) if e.kind == "registered" && e.amount.as_deref() == Some(&j.price.to_string()) => {}
                _ => problems.push(format!("{id}: first event is not `registered` for the price")),
            }
            let settlements: Vec<&Event> = ev.iter().filter(|e| e.kind != "registered").collect();
            match (j.state, settlements.as_slice()) {
                (EscrowState::Locked, []) => {
                    escrow += j.price;
                    *open.entry(j.client).or_default() += 1;
                }
                (EscrowState::Released, [e]) if e.kind == "released" => {
                    if e.payee != j.payee || e.amount.as_deref() != Some(&j.price.to_string()) {
                        problems.push(format!("{id}: release event {e:?} disagrees with job"));
                    }
                    if let Some(p) = j.payee {
                        expected.insert((id.to_string(), "payout"), (p, j.price));
                    }
                }
                (EscrowState::Refunded, [e]) if e.kind == "refunded" => {
                    if e.payee != Some(j.client) || e.amount.as_deref() != Some(&j.price.to_string()) {
                        problems.push(format!("{id}: refund event {e:?} disagrees with job"));
                    }
                    expected.insert((id.to_string(), "refund"), (j.client, j.price));
                }
                (s, evs) => problems.push(format!("{id}: state {s:?} with settlement events {evs:?}")),
            }
        }

        // Stake movements per job: (kind, address, amount).
        let mut stakes: BTreeMap<String, Vec<(String, Address, u128)>> = BTreeMap::new();
        let (mut deposits, mut withdrawals, mut balances): (u128, u128, u128) = (0, 0, 0);
        for acct in self.accounts().await? {
            let a = acct.address;
            balances += acct.balance as u128;
            let events = self.account_events(a).await?;
            let mut bal: i128 = 0;
            for (i, e) in events.iter().enumerate() {
                if e.seq != i as i64 + 1 {
                    problems.push(format!("account {a}: event {} out of sequence", e.seq));
                }
                let amt = e.amount as i128;
                bal += match e.kind.as_str() {
                    "deposit" => {
                        deposits += e.amount as u128;
                        amt
                    }
                    "withdrawal" => {
                        withdrawals += e.amount as u128;
                        -amt
                    }
                    "lock" | "stake" => -amt,
                    "payout" | "refund" | "unstake" | "forfeit" => amt,
                    k => {
                        problems.push(format!("account {a}: unknown event kind {k:?}"));
                        0
                    }
                };
                if bal != e.balance_after as i128 {
                    problems
                        .push(format!("account {a}: event {} says {} but replay gives {bal}", e.seq, e.balance_after));
                }
                if matches!(e.kind.as_str(), "stake" | "unstake" | "forfeit") {
                    match e.job_id {
                        Some(job) => {
                            stakes.entry(job.to_string()).or_default().push((e.kind.clone(), a, e.amount as u128))
                        }
                        None => problems.push(format!("account {a}: {} event {} names no job", e.kind, e.seq)),
                    }
                    continue;
                }
                let kind: &'static str = match e.kind.as_str() {
                    "lock" => "lock",
                    "payout" => "payout",
                    "refund" => "refund",
                    _ => {
                        if e.job_id.is_some() {
                            problems.push(format!("account {a}: {} event {} names a job", e.kind, e.seq));
                        }
                        continue;
                    }
                };
                let Some(job) = e.job_id else {
                    problems.push(format!("account {a}: {kind} event {} names no job", e.seq));
                    continue;
                };
                match expected.remove(&(job.to_string(), kind)) {
                    Some((who, price)) if who == a && price == e.amount as u128 => {}
                    Some((who, price)) => problems.push(format!(
                        "account {a}: {kind} of {} for job {job}, which owes {price} to {who}",
                        e.amount
                    )),
                    None => problems.push(format!("account {a}: {kind} event {} for job {job} that has none", e.seq)),
                }
            }
            if bal != acct.balance as i128 {
                problems.push(format!("account {a}: balance {} but its events add up to {bal}", acct.balance));
            }
            let locked = open.remove(&a).unwrap_or(0);
            if acct.open_jobs != locked {
                problems.push(format!("account {a}: {} open jobs recorded, {locked} locked", acct.open_jobs));
            }
        }
        for ((job, kind), (who, price)) in expected {
            problems.push(format!("job {job}: no {kind} of {price} in {who}'s account"));
        }
        for (a, n) in open {
            problems.push(format!("{a} has {n} locked jobs but no account"));
        }
        let held = self.audit_stakes(stakes, &mut problems).await?;
        if balances + escrow + held + withdrawals != deposits {
            problems.push(format!(
                "money is not conserved: balances {balances} + escrow {escrow} + stakes {held} + withdrawals {withdrawals} != deposits {deposits}"
            ));
        }
        Ok(problems)
    }

    /// Pairs each job's stake movements against its market record; returns the
    /// total still held.
    async fn audit_stakes(
        &self,
        mut moves: BTreeMap<String, Vec<(String, Address, u128)>>,
        problems: &mut Vec<String>,
    ) -> Result<u128, LedgerError> {
        let rows = sqlx::query(
            "SELECT m.job_id, m.lease_stake, m.stake_held, m.claimant, j.client, j.payee, j.state
             FROM job_market m JOIN jobs j ON j.job_id = m.job_id ORDER BY m.job_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut total = 0u128;
        for r in &rows {
            let id: String = r.try_get(0)?;
            let (stake, held): (i64, i64) = (r.try_get(1)?, r.try_get(2)?);
            let claimant: Option<String> = r.try_get(3)?;
            let client: String = r.try_get(4)?;
            let payee: Option<String> = r.try_get(5)?;
            let state: String = r.try_get(6)?;
            let log = moves.remove(&id).unwrap_or_default();
            total += held.max(0) as u128;
            if held != 0 && (held != stake || state != "locked") {
                problems.push(format!("{id}: holds a stake of {held} ({state}, lease stake {stake})"));
            }
            let count = |k: &str| log.iter().filter(|(kind, _, _)| kind == k).count();
            for (kind, who, amount) in &log {
                let who = who.to_string();
                if *amount != stake as u128 {
                    problems.push(format!("{id}: {kind} of {amount} but the lease stake is {stake}"));
                }
                match kind.as_str() {
                    "unstake" if payee.as_deref() != Some(&who) || state != "released" => {
                        problems.push(format!("{id}: stake returned to {who}, who was not paid for it"))
                    }
                    "forfeit" if who != client => {
                        problems.push(format!("{id}: stake forfeited to {who}, not the client"))
                    }
                    _ => {}
                }
            }
            let stakers: Vec<String> =
                log.iter().filter(|(k, _, _)| k == "stake").map(|(_, a, _)| a.to_string()).collect();
            if held > 0 && !claimant.as_ref().is_some_and(|c| stakers.contains(c)) {
                problems.push(format!("{id}: holds a stake its claimant never put down"));
            }
            let ended = count("unstake") + count("forfeit") + (held > 0) as usize;
            if count("stake") != ended || count("unstake") > 1 {
                problems.push(format!(
                    "{id}: {} stakes put down, {} returned, {} forfeited, {} held",
                    count("stake"),
                    count("unstake"),
                    count("forfeit"),
                    (held > 0) as usize
                ));
            }
        }
        for (id, log) in moves {
            problems.push(format!("job {id}: stake movements {log:?} for a job with no market record"));
        }
        Ok(total)
    }
}
