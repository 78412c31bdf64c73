//! The ledger audit: replays both event logs and checks they explain every
//! balance and every escrow.

use std::collections::{BTreeMap, HashMap};

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
    /// - money is conserved: balances + escrow held = deposits − withdrawals.
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
                    "lock" => -amt,
                    "payout" | "refund" => amt,
                    k => {
                        problems.push(format!("account {a}: unknown event kind {k:?}"));
                        0
                    }
                };
                if bal != e.balance_after as i128 {
                    problems
                        .push(format!("account {a}: event {} says {} but replay gives {bal}", e.seq, e.balance_after));
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
        if balances + escrow + withdrawals != deposits {
            problems.push(format!(
                "money is not conserved: balances {balances} + escrow {escrow} + withdrawals {withdrawals} != deposits {deposits}"
            ));
        }
        Ok(problems)
    }
}
