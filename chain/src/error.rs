//! What can go wrong talking to a chain, each with a message a user can act on.

use alloy::primitives::TxHash;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A missing or malformed setting (key, keystore, URL, address).
    #[error("{0}")]
    Config(String),
    /// The node did not answer, or answered with a JSON-RPC error that is not a revert.
    #[error("JSON-RPC: {0}")]
    Rpc(String),
    /// The node serves another chain than the one named.
    #[error("the node at {url} serves chain {node}, not chain {expected}: check --rpc-url and --chain-id")]
    WrongChain { url: String, node: u64, expected: u64 },
    /// The transaction (or its gas estimate) reverted; `reason` is the
    /// contract's custom error by name with its arguments.
    #[error("{what} reverted: {reason}{}", tx.map(|t| format!(" (transaction {t})")).unwrap_or_default())]
    Reverted { what: String, reason: String, tx: Option<TxHash> },
    /// The job, bundle or key does not fit what is on chain (caught before sending).
    #[error("{0}")]
    Mismatch(String),
    /// Building calldata or a verifier failed.
    #[error(transparent)]
    Contracts(#[from] veriflop_contracts::Error),
    /// No receipt within the timeout (the transaction may still be mined).
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Io(String),
}

impl ChainError {
    /// The custom error's name when this is a revert (`InvalidProof`, `LockedByOther`, …).
    pub fn revert_name(&self) -> Option<&str> {
        match self {
            ChainError::Reverted { reason, .. } => Some(reason.split('(').next().unwrap_or(reason)),
            _ => None,
        }
    }
}
