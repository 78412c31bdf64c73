//! veriflop settlement on a real chain: JobEscrow and the generated verifiers
//! driven over JSON-RPC through `alloy`, for clients, providers and operators.
//!
//! - [`Connection`]: a node, a signer and the confirmation depth; every
//!   transaction is estimated first (a revert is reported by the contract's
//!   custom error name, e.g. `InvalidProof(jobId: 0x…)`, before anything is
//!   sent), then sent and awaited to its receipt;
//! - [`Escrow`]: deploy, register a shape's verifier, post, lock, settle a
//!   bundle, refund, slash, withdraw, read a job;
//! - [`follow`]: `JobPosted` logs up to a confirmation depth from a persisted
//!   cursor (the provider agent's chain mode);
//! - [`wallet`]: keys from an environment variable or an Ethereum keystore;
//! - [`devnode`]: the local development node (hardhat, pinned in `tools/`)
//!   the tests and `demo --chain local` start.
//!
//! The in-process EVM of `veriflop-contracts` stays for fast tests and gas
//! figures; this crate talks to anything that speaks Ethereum JSON-RPC.

pub mod devnode;
pub mod error;
pub mod escrow;
pub mod follow;
pub mod gas_table;
pub mod revert;
pub mod rpc;
pub mod wallet;

pub use error::ChainError;
pub use escrow::{Escrow, OnchainJob};
pub use rpc::{Connection, TxOutcome};

pub use alloy::primitives::{Address, TxHash, U256};
