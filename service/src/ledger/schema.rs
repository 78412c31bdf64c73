//! The ledger's tables. SQL that SQLite (≥ 3.35) and PostgreSQL read
//! identically, plus each back end's append-only triggers.

pub(super) const COMMON: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
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
        proof_system TEXT NOT NULL,
        nonce TEXT NOT NULL,
        CHECK ((state = 'locked') = (payee IS NULL))
    )",
    "CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (deadline) WHERE state = 'locked'",
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
    // Balances: what an address can lock in new jobs. `version` counts its
    // account events; `open_jobs` its jobs still locked (the quota).
    "CREATE TABLE IF NOT EXISTS accounts (
        address TEXT PRIMARY KEY,
        balance BIGINT NOT NULL CHECK (balance >= 0),
        open_jobs BIGINT NOT NULL CHECK (open_jobs >= 0),
        version BIGINT NOT NULL
    )",
    ACCOUNT_EVENTS,
    // Once per job: its lock, and its payout or refund. Stakes come and go with
    // each claim; the audit pairs them (see audit.rs).
    "CREATE UNIQUE INDEX IF NOT EXISTS account_events_once_per_job ON account_events (job_id, kind)
     WHERE job_id IS NOT NULL AND kind IN ('lock', 'payout', 'refund')",
    "CREATE TABLE IF NOT EXISTS nonces (
        address TEXT NOT NULL,
        nonce TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (address, nonce)
    )",
    "CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at)",
    // The market (schema 3): a job's data, lease and the stake its claimant put
    // down, providers' results, and the result delivered with each release.
    // Blob columns hold blob-store keys.
    "CREATE TABLE IF NOT EXISTS job_market (
        job_id TEXT PRIMARY KEY REFERENCES jobs (job_id),
        lease_secs BIGINT NOT NULL CHECK (lease_secs > 0),
        a_blob TEXT,
        b_blob TEXT,
        offered_at BIGINT,
        claimant TEXT,
        claim_expires BIGINT,
        claims BIGINT NOT NULL,
        lease_stake BIGINT NOT NULL DEFAULT 0 CHECK (lease_stake >= 0),
        stake_held BIGINT NOT NULL DEFAULT 0 CHECK (stake_held >= 0),
        CHECK ((offered_at IS NULL) OR (a_blob IS NOT NULL AND b_blob IS NOT NULL))
    )",
    "CREATE INDEX IF NOT EXISTS job_market_offered ON job_market (offered_at, job_id) WHERE offered_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS results (
        job_id TEXT NOT NULL REFERENCES jobs (job_id),
        provider TEXT NOT NULL,
        blob TEXT NOT NULL,
        bytes BIGINT NOT NULL,
        cm_c TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (job_id, provider)
    )",
    "CREATE TABLE IF NOT EXISTS deliveries (
        job_id TEXT PRIMARY KEY REFERENCES jobs (job_id),
        provider TEXT NOT NULL,
        blob TEXT NOT NULL,
        cm_c TEXT NOT NULL,
        at BIGINT NOT NULL,
        bundle TEXT NOT NULL
    )",
];

/// Account log; kinds: `deposit`, `withdrawal` (operator), `lock`, `payout`,
/// `refund` (a job's escrow), `stake` (a claim's stake put down), `unstake`
/// (returned with the release), `forfeit` (a lease ended without a result: the
/// stake goes to the client).
const ACCOUNT_EVENTS: &str = "CREATE TABLE IF NOT EXISTS account_events (
        address TEXT NOT NULL REFERENCES accounts (address),
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'lock', 'payout', 'refund', 'stake', 'unstake', 'forfeit')),
        amount BIGINT NOT NULL CHECK (amount > 0),
        balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
        job_id TEXT,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        memo TEXT,
        PRIMARY KEY (address, seq)
    )";

/// Upgrades a schema-2 ledger before the statements above run: the account
/// log takes the stake kinds, and its once-per-job index leaves stakes out.
/// SQLite cannot alter a CHECK, so the table is copied (its triggers and index
/// are made again by [`COMMON`] and [`SQLITE`]).
pub(super) const UPGRADE_2_SQLITE: &[&str] = &[
    "ALTER TABLE account_events RENAME TO account_events_v2",
    ACCOUNT_EVENTS,
    "INSERT INTO account_events SELECT address, seq, kind, amount, balance_after, job_id, at, actor, memo FROM account_events_v2",
    "DROP TABLE account_events_v2",
];

pub(super) const UPGRADE_2_POSTGRES: &[&str] = &[
    "ALTER TABLE account_events DROP CONSTRAINT IF EXISTS account_events_kind_check",
    "ALTER TABLE account_events ADD CONSTRAINT account_events_kind_check
     CHECK (kind IN ('deposit', 'withdrawal', 'lock', 'payout', 'refund', 'stake', 'unstake', 'forfeit'))",
    "DROP INDEX IF EXISTS account_events_one_per_job",
];

pub(super) const SQLITE: &[&str] = &[
    "CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
     BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
     BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS account_events_no_update BEFORE UPDATE ON account_events
     BEGIN SELECT RAISE(ABORT, 'account events are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS account_events_no_delete BEFORE DELETE ON account_events
     BEGIN SELECT RAISE(ABORT, 'account events are append-only'); END",
];

pub(super) const POSTGRES: &[&str] = &[
    "CREATE OR REPLACE FUNCTION veriflop_events_append_only() RETURNS trigger AS $$
     BEGIN RAISE EXCEPTION 'events are append-only'; END $$ LANGUAGE plpgsql",
    "CREATE OR REPLACE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
     FOR EACH ROW EXECUTE FUNCTION veriflop_events_append_only()",
    "CREATE OR REPLACE TRIGGER account_events_no_update BEFORE UPDATE OR DELETE ON account_events
     FOR EACH ROW EXECUTE FUNCTION veriflop_events_append_only()",
];

/// Columns of a job row, in the order `job_from_row` reads them.
pub(super) const JOB_COLUMNS: &str = "job_id, circuit, m, k, n, dtype, cm_a, cm_b, client, price, deadline, state, payee, created_at, settled_at, version, proof_system, nonce";

/// The schema generation this code writes (meta key `schema`).
pub(super) const SCHEMA_VERSION: &str = "3";

/// Schema generations this code upgrades in place (see [`UPGRADE_2_SQLITE`]).
pub(super) const UPGRADABLE: &[&str] = &["2"];
