//! A node, a signer and how long to wait: every transaction is estimated first,
//! so a revert is reported with the contract's error before anything is spent,
//! then signed locally, sent, and awaited to its receipt at the confirmation
//! depth.

use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, TxHash, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportErrorKind};

use crate::error::ChainError;
use crate::revert;

/// A mined transaction: its hash, block and gas.
#[derive(Clone, Debug)]
pub struct TxOutcome {
    pub hash: TxHash,
    pub block: u64,
    pub gas_used: u64,
    /// The deployed contract (contract creations only).
    pub contract: Option<Address>,
    pub receipt: TransactionReceipt,
}

impl TxOutcome {
    /// `"tx 0x… in block N, G gas"`, what every command prints.
    pub fn summary(&self) -> String {
        format!("tx {} in block {}, {} gas", self.hash, self.block, self.gas_used)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "tx": self.hash.to_string(),
            "block": self.block,
            "gas_used": self.gas_used,
            "contract": self.contract.map(|a| a.to_checksum(None)),
        })
    }
}

/// rustls needs a process-wide crypto provider for https RPC URLs (ring, which
/// the rest of the workspace already builds).
fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Gas limit over the estimate: the estimate is made against the pending
/// state, and the verifiers' precompile calls must not be starved (EIP-150).
const GAS_HEADROOM_PERCENT: u64 = 25;

pub struct Connection {
    provider: DynProvider,
    url: String,
    chain_id: u64,
    from: Address,
    confirmations: u64,
    timeout: Duration,
}

impl Connection {
    /// Connects to `url` as `signer`; with `expected_chain_id`, refuses a node
    /// that serves another chain (a key used on the wrong chain signs
    /// transactions valid there only, but a job id names its chain).
    pub async fn connect(
        url: &str,
        signer: PrivateKeySigner,
        expected_chain_id: Option<u64>,
    ) -> Result<Self, ChainError> {
        install_tls();
        let parsed = url.parse().map_err(|e| ChainError::Config(format!("RPC URL {url:?}: {e}")))?;
        let from = signer.address();
        // The nonce is read from the node for every transaction (not cached):
        // after a reorg or a transaction sent elsewhere with the same key, a
        // cached one is wrong.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_http(parsed)
            .erased();
        let chain_id =
            provider.get_chain_id().await.map_err(|e| ChainError::Rpc(format!("{url}: eth_chainId: {e}")))?;
        if let Some(expected) = expected_chain_id {
            if expected != chain_id {
                return Err(ChainError::WrongChain { url: url.to_string(), node: chain_id, expected });
            }
        }
        Ok(Connection {
            provider,
            url: url.to_string(),
            chain_id,
            from,
            confirmations: 1,
            timeout: Duration::from_secs(300),
        })
    }

    /// Blocks a receipt must be buried under before a command reports it (1: mined).
    pub fn with_confirmations(mut self, confirmations: u64) -> Self {
        self.confirmations = confirmations.max(1);
        self
    }

    /// How long to wait for a receipt.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The signer's address: who sends, pays and is paid.
    pub fn from(&self) -> Address {
        self.from
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn confirmations(&self) -> u64 {
        self.confirmations
    }

    fn failure(&self, what: &str, e: RpcError<TransportErrorKind>, tx: Option<TxHash>) -> ChainError {
        match e.as_error_resp().and_then(|p| p.as_revert_data()) {
            Some(data) => ChainError::Reverted { what: what.to_string(), reason: revert::decode(&data), tx },
            None => match e.as_error_resp() {
                Some(p) if p.message.contains("revert") => {
                    ChainError::Reverted { what: what.to_string(), reason: p.message.to_string(), tx }
                }
                _ => ChainError::Rpc(format!("{what}: {e}")),
            },
        }
    }

    /// Estimates, signs, sends and waits for `what` (a call to `to`, or a
    /// contract creation without one).
    pub async fn send(
        &self,
        what: &str,
        to: Option<Address>,
        input: Vec<u8>,
        value: U256,
    ) -> Result<TxOutcome, ChainError> {
        let tx = TransactionRequest::default().with_from(self.from).with_input(input).with_value(value);
        let tx = match to {
            Some(a) => tx.with_to(a),
            None => tx.into_create(),
        };
        let estimate = self.provider.estimate_gas(tx.clone()).await.map_err(|e| self.failure(what, e, None))?;
        let tx = tx.with_gas_limit(estimate + estimate * GAS_HEADROOM_PERCENT / 100);
        let pending = self.provider.send_transaction(tx.clone()).await.map_err(|e| self.failure(what, e, None))?;
        let hash = *pending.tx_hash();
        let receipt = pending
            .with_required_confirmations(self.confirmations)
            .with_timeout(Some(self.timeout))
            .get_receipt()
            .await
            .map_err(|e| {
                ChainError::Timeout(format!(
                    "{what}: no receipt for {hash} at {} confirmation(s) within {:?}: {e} (it may still be mined; check before resending)",
                    self.confirmations, self.timeout
                ))
            })?;
        let block = receipt.block_number.unwrap_or_default();
        if !receipt.status() {
            // Mined but reverted (the state moved between estimate and
            // inclusion): replay it on the block before for the reason.
            let reason = match self.provider.call(tx).block(block.saturating_sub(1).into()).await {
                Err(e) => match self.failure(what, e, Some(hash)) {
                    ChainError::Reverted { reason, .. } => reason,
                    other => format!("reverted ({other})"),
                },
                Ok(_) => "reverted (the replay on the previous block succeeds: the state changed in between)".into(),
            };
            return Err(ChainError::Reverted { what: what.to_string(), reason, tx: Some(hash) });
        }
        Ok(TxOutcome { hash, block, gas_used: receipt.gas_used, contract: receipt.contract_address, receipt })
    }

    /// A read-only call at the latest block.
    pub async fn call(&self, what: &str, to: Address, input: Vec<u8>) -> Result<Bytes, ChainError> {
        let tx = TransactionRequest::default().with_to(to).with_input(input);
        self.provider.call(tx).await.map_err(|e| self.failure(what, e, None))
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64, ChainError> {
        self.provider.get_block_number().await.map_err(|e| ChainError::Rpc(format!("eth_blockNumber: {e}")))
    }

    /// The latest block's timestamp (what deadlines and lock windows compare with).
    pub async fn latest_timestamp(&self) -> Result<u64, ChainError> {
        let b = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| ChainError::Rpc(format!("latest block: {e}")))?
            .ok_or_else(|| ChainError::Rpc("the node has no latest block".into()))?;
        Ok(b.header.timestamp)
    }

    /// An account's balance in wei.
    pub async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        self.provider.get_balance(who).await.map_err(|e| ChainError::Rpc(format!("eth_getBalance: {e}")))
    }

    /// A development node's RPC extension (`evm_increaseTime`, `evm_mine`,
    /// `evm_snapshot`, …); tests and the local demo only.
    pub async fn dev_rpc(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ChainError> {
        self.provider.raw_request(method.into(), params).await.map_err(|e| ChainError::Rpc(format!("{method}: {e}")))
    }
}
