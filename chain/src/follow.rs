//! `JobPosted` events of one escrow, oldest first, up to a confirmation depth,
//! from a cursor persisted after every handled event: a provider restarted
//! mid-stream resumes after the last job it handled, neither missing nor
//! repeating one. Blocks shallower than the depth are not read, so a reorg
//! within the depth is never seen; a deeper one (the cursor's parent block
//! changed hash) rewinds the cursor by the depth, and the agent's own checks
//! of each job's on-chain state keep the replay harmless.

use std::path::{Path, PathBuf};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use serde::{Deserialize, Serialize};
use veriflop_circuits::JobId;
use veriflop_contracts::abi::IJobEscrow;
use veriflop_contracts::settle::job_id_from_word;

use crate::error::ChainError;
use crate::rpc::Connection;

/// Where a follower stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub chain_id: u64,
    pub escrow: Address,
    /// Every event in blocks below this one is handled.
    pub block: u64,
    /// Events of `block` with a lower log index are handled.
    pub log_index: u64,
    /// The hash of block `block − 1` when it was read: a reorg below the
    /// confirmation depth changes it.
    pub parent_hash: Option<B256>,
}

/// One posted job, as the event tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedJob {
    pub job_id: JobId,
    pub client: Address,
    pub shape: u128,
    pub cm_a: U256,
    pub cm_b: U256,
    pub price: U256,
    pub deadline: u64,
    pub lock_window: u64,
    pub lock_stake: U256,
    pub block: u64,
    pub log_index: u64,
}

pub struct Follower {
    path: PathBuf,
    cursor: Cursor,
    depth: u64,
    /// Blocks per `eth_getLogs` request (public nodes cap the range).
    max_range: u64,
    /// The last block of the range the last poll read.
    scanned_to: Option<u64>,
}

fn io(path: &Path, e: impl std::fmt::Display) -> ChainError {
    ChainError::Io(format!("{}: {e}", path.display()))
}

impl Follower {
    /// Opens the cursor at `path` (made at `start_block` when absent). A cursor
    /// of another chain or escrow is refused, not reused.
    pub fn open(path: &Path, chain_id: u64, escrow: Address, start_block: u64, depth: u64) -> Result<Self, ChainError> {
        let cursor = match std::fs::read(path) {
            Ok(bytes) => {
                let c: Cursor = serde_json::from_slice(&bytes).map_err(|e| io(path, format!("not a cursor: {e}")))?;
                if c.chain_id != chain_id || c.escrow != escrow {
                    return Err(ChainError::Mismatch(format!(
                        "cursor {} follows escrow {} on chain {}, not {escrow} on chain {chain_id}: use another --cursor",
                        path.display(),
                        c.escrow,
                        c.chain_id
                    )));
                }
                c
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Cursor { chain_id, escrow, block: start_block, log_index: 0, parent_hash: None }
            }
            Err(e) => return Err(io(path, e)),
        };
        let f = Follower {
            path: path.to_path_buf(),
            cursor,
            depth: depth.max(1),
            max_range: crate::escrow::LOG_WINDOW,
            scanned_to: None,
        };
        f.save()?;
        Ok(f)
    }

    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// Written to a temporary file and renamed: a crash leaves the old cursor or the new one.
    fn save(&self) -> Result<(), ChainError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let tmp = self.path.with_extension("tmp");
        let text = serde_json::to_vec_pretty(&self.cursor).expect("cursor serializes");
        std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, e))
    }

    async fn block_hash(conn: &Connection, n: u64) -> Result<Option<B256>, ChainError> {
        let b = conn
            .provider()
            .get_block_by_number(BlockNumberOrTag::Number(n))
            .await
            .map_err(|e| ChainError::Rpc(format!("eth_getBlockByNumber {n}: {e}")))?;
        Ok(b.map(|b| b.header.hash))
    }

    /// The confirmed events not handled yet, oldest first. Mark each with
    /// [`Follower::handled`] once acted on, then call [`Follower::advance`].
    pub async fn poll(&mut self, conn: &Connection) -> Result<Vec<PostedJob>, ChainError> {
        self.scanned_to = None;
        let head = conn.block_number().await?;
        if let (Some(h), true) = (self.cursor.parent_hash, self.cursor.block > 0) {
            if Self::block_hash(conn, self.cursor.block - 1).await? != Some(h) {
                let back = self.cursor.block.saturating_sub(self.depth + 1);
                tracing::warn!(
                    block = self.cursor.block - 1,
                    rewind_to = back,
                    "a reorg deeper than the confirmation depth replaced a handled block; re-reading from {back}"
                );
                self.cursor = Cursor { block: back, log_index: 0, parent_hash: None, ..self.cursor.clone() };
                self.save()?;
            }
        }
        let Some(safe) = (head + 1).checked_sub(self.depth) else { return Ok(Vec::new()) };
        if self.cursor.block > safe {
            return Ok(Vec::new());
        }
        let to = safe.min(self.cursor.block + self.max_range - 1);
        let filter = Filter::new()
            .address(self.cursor.escrow)
            .event_signature(IJobEscrow::JobPosted::SIGNATURE_HASH)
            .from_block(self.cursor.block)
            .to_block(to);
        let logs = conn.provider().get_logs(&filter).await.map_err(|e| ChainError::Rpc(format!("eth_getLogs: {e}")))?;
        let mut out = Vec::new();
        for log in logs {
            let (Some(block), Some(index)) = (log.block_number, log.log_index) else { continue };
            if block == self.cursor.block && index < self.cursor.log_index {
                continue;
            }
            let ev = log
                .log_decode::<IJobEscrow::JobPosted>()
                .map_err(|e| ChainError::Rpc(format!("JobPosted log: {e}")))?;
            let d = &ev.inner.data;
            out.push(PostedJob {
                job_id: job_id_from_word(d.jobId)?,
                client: d.client,
                shape: d.shape,
                cm_a: d.cmA,
                cm_b: d.cmB,
                price: d.price,
                deadline: d.deadline.saturating_to(),
                lock_window: d.lockWindow.saturating_to(),
                lock_stake: d.lockStake,
                block,
                log_index: index,
            });
        }
        out.sort_by_key(|e| (e.block, e.log_index));
        self.scanned_to = Some(to);
        Ok(out)
    }

    /// Records that `ev` was handled (persisted before returning).
    pub fn handled(&mut self, ev: &PostedJob) -> Result<(), ChainError> {
        if (ev.block, ev.log_index) >= (self.cursor.block, self.cursor.log_index) {
            if ev.block != self.cursor.block {
                self.cursor.parent_hash = None;
            }
            self.cursor.block = ev.block;
            self.cursor.log_index = ev.log_index + 1;
            self.save()?;
        }
        Ok(())
    }

    /// Moves past the range the last [`Follower::poll`] read (all of its events handled).
    pub async fn advance(&mut self, conn: &Connection) -> Result<(), ChainError> {
        if let Some(to) = self.scanned_to.take() {
            let parent_hash = Self::block_hash(conn, to).await?;
            self.cursor = Cursor { block: to + 1, log_index: 0, parent_hash, ..self.cursor.clone() };
            self.save()?;
        }
        Ok(())
    }
}
