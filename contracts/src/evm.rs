//! A small in-process EVM (revm) for deploying and driving our contracts.
//!
//! Gas price and base fee are zero, so balances move only by the values sent
//! and the gas figures are those a real chain would charge (Osaka rules, which
//! include Cancun's EIP-6780 `SELFDESTRUCT`). The chain id is
//! [`DEFAULT_CHAIN_ID`] unless set with [`Chain::with_chain_id`]; JobEscrow's
//! job ids depend on it (`block.chainid`).
//! Every call frame a transaction makes is recorded with the gas it spent, so
//! the cost of the verifier call inside a settlement can be read off exactly.

use revm::context::result::{ExecutionResult, Output};
use revm::context::{BlockEnv, CfgEnv, Context, Journal, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::database_interface::DatabaseRef;
use revm::handler::MainnetEvm;
use revm::inspector::Inspector;
use revm::interpreter::{CallInputs, CallOutcome};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, Log, TxKind, U256};
use revm::state::AccountInfo;
use revm::{InspectCommitEvm, MainBuilder};

use crate::Error;

type Db = CacheDB<EmptyDB>;
type Ctx = Context<BlockEnv, TxEnv, CfgEnv, Db, Journal<Db>, ()>;

/// One call frame of a transaction (outermost first, in the order they ended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFrame {
    pub caller: Address,
    pub target: Address,
    /// Gas the callee spent (not counting the caller's CALL overhead).
    pub gas_spent: u64,
    pub gas_limit: u64,
    pub success: bool,
}

/// Records every call frame's gas.
#[derive(Default, Debug)]
pub struct FrameRecorder {
    pub frames: Vec<CallFrame>,
}

impl Inspector<Ctx> for FrameRecorder {
    fn call_end(&mut self, _context: &mut Ctx, inputs: &CallInputs, outcome: &mut CallOutcome) {
        self.frames.push(CallFrame {
            caller: inputs.caller,
            target: inputs.target_address,
            gas_spent: outcome.result.gas.total_gas_spent(),
            gas_limit: inputs.gas_limit,
            success: outcome.result.result.is_ok(),
        });
    }
}

/// How a transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    Success,
    /// REVERT: the output holds the reason.
    Reverted,
    /// Exceptional halt (out of gas, invalid opcode, ...): all gas consumed.
    Halted(String),
}

/// The result of a transaction.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub status: TxStatus,
    pub output: Vec<u8>,
    /// Gas charged for the whole transaction (intrinsic gas included).
    pub gas_used: u64,
    pub logs: Vec<Log>,
    pub created: Option<Address>,
    /// Call frames, in the order they ended (the outermost last).
    pub frames: Vec<CallFrame>,
}

impl Receipt {
    pub fn is_success(&self) -> bool {
        self.status == TxStatus::Success
    }

    /// The 4-byte custom-error selector of a revert, if any.
    pub fn revert_selector(&self) -> Option<[u8; 4]> {
        match self.status {
            TxStatus::Reverted if self.output.len() >= 4 => Some(self.output[..4].try_into().unwrap()),
            _ => None,
        }
    }

    /// Gas spent by the first frame that called `target` (e.g. the verifier).
    pub fn gas_of_call_to(&self, target: Address) -> Option<u64> {
        self.frames.iter().find(|f| f.target == target).map(|f| f.gas_spent)
    }

    /// `Ok(self)` on success, else an error naming `what` and the decoded reason.
    pub fn ok(self, what: &str) -> Result<Self, Error> {
        match &self.status {
            TxStatus::Success => Ok(self),
            TxStatus::Reverted => Err(Error::Reverted {
                what: what.to_string(),
                reason: crate::abi::decode_revert(&self.output),
                gas_used: self.gas_used,
            }),
            TxStatus::Halted(r) => {
                Err(Error::Reverted { what: what.to_string(), reason: format!("halted: {r}"), gas_used: self.gas_used })
            }
        }
    }
}

/// A fresh chain in memory.
pub struct Chain {
    evm: MainnetEvm<Ctx, FrameRecorder>,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

/// Block timestamp a new chain starts at.
pub const GENESIS_TIME: u64 = 1_750_000_000;
/// Gas limit of transactions (the EIP-7825 cap).
pub const TX_GAS_LIMIT: u64 = 16_777_216;
/// Chain id of [`Chain::new`] (`block.chainid`): the usual local development id.
pub const DEFAULT_CHAIN_ID: u64 = 31337;
/// The rules a chain runs: Osaka (after Cancun, so EIP-6780 applies: `SELFDESTRUCT`
/// deletes code only in the transaction that created it).
pub const SPEC: SpecId = SpecId::OSAKA;

impl Chain {
    /// A fresh chain with id [`DEFAULT_CHAIN_ID`].
    pub fn new() -> Self {
        Self::with_chain_id(DEFAULT_CHAIN_ID)
    }

    /// A fresh chain whose `block.chainid` is `chain_id`.
    pub fn with_chain_id(chain_id: u64) -> Self {
        let ctx: Ctx = Context::new(CacheDB::new(EmptyDB::new()), SPEC);
        let ctx = ctx.modify_cfg_chained(|c: &mut CfgEnv| c.chain_id = chain_id);
        let ctx = ctx.modify_block_chained(|b: &mut BlockEnv| {
            b.timestamp = U256::from(GENESIS_TIME);
            b.number = U256::from(1);
            b.basefee = 0;
            b.gas_limit = 60_000_000;
        });
        Chain { evm: ctx.build_mainnet_with_inspector(FrameRecorder::default()) }
    }

    /// `block.chainid`.
    pub fn chain_id(&self) -> u64 {
        self.evm.ctx.cfg.chain_id
    }

    /// The hard fork whose rules apply ([`SPEC`]).
    pub fn spec(&self) -> SpecId {
        self.evm.ctx.cfg.spec
    }

    fn db(&self) -> &Db {
        &self.evm.ctx.journaled_state.database
    }

    /// Sets the balance of an account (creating it).
    pub fn fund(&mut self, who: Address, wei: U256) {
        let mut info = self.db().basic_ref(who).ok().flatten().unwrap_or_default();
        info.balance = wei;
        self.evm.ctx.journaled_state.database.insert_account_info(who, info);
    }

    pub fn balance(&self, who: Address) -> U256 {
        self.db().basic_ref(who).ok().flatten().map(|a: AccountInfo| a.balance).unwrap_or_default()
    }

    /// The account's nonce (for a contract: how many contracts it has created, plus one).
    pub fn nonce(&self, who: Address) -> u64 {
        self.db().basic_ref(who).ok().flatten().map(|a| a.nonce).unwrap_or(0)
    }

    /// The address the next contract `deployer` creates gets (`CREATE` with its nonce).
    pub fn next_contract_address(&self, deployer: Address) -> Address {
        deployer.create(self.nonce(deployer))
    }

    /// The account's runtime code (empty for an account without code, or one
    /// whose code was deleted).
    pub fn code(&self, who: Address) -> Vec<u8> {
        let Some(info) = self.db().basic_ref(who).ok().flatten() else { return Vec::new() };
        let code = match info.code {
            Some(c) => c,
            None => self.db().code_by_hash_ref(info.code_hash).unwrap_or_default(),
        };
        code.original_bytes().to_vec()
    }

    /// A storage word of an account (zero if unset): for tests that check a
    /// contract's storage layout.
    pub fn storage(&self, who: Address, slot: U256) -> U256 {
        self.db().storage_ref(who, slot).unwrap_or_default()
    }

    pub fn time(&self) -> u64 {
        self.evm.ctx.block.timestamp.saturating_to()
    }

    /// Moves the clock (and the block number) forward.
    pub fn advance(&mut self, seconds: u64) {
        let t = self.time() + seconds;
        self.set_time(t);
    }

    pub fn set_time(&mut self, t: u64) {
        self.evm.ctx.block.timestamp = U256::from(t);
        self.evm.ctx.block.number += U256::from(1);
    }

    fn transact(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Vec<u8>,
        value: U256,
        gas_limit: u64,
    ) -> Result<Receipt, Error> {
        let tx = TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(Bytes::from(data))
            .value(value)
            .gas_limit(gas_limit)
            .gas_price(0)
            .chain_id(Some(self.chain_id()))
            .nonce(self.nonce(from))
            .build()
            .map_err(|e| Error::Evm(format!("{e:?}")))?;
        self.evm.inspector.frames.clear();
        let res = self.evm.inspect_tx_commit(tx).map_err(|e| Error::Evm(e.to_string()))?;
        let frames = std::mem::take(&mut self.evm.inspector.frames);
        let gas_used = res.tx_gas_used();
        Ok(match res {
            ExecutionResult::Success { logs, output, .. } => {
                let created = match &output {
                    Output::Create(_, a) => *a,
                    Output::Call(_) => None,
                };
                Receipt {
                    status: TxStatus::Success,
                    output: output.into_data().to_vec(),
                    gas_used,
                    logs,
                    created,
                    frames,
                }
            }
            ExecutionResult::Revert { output, logs, .. } => {
                Receipt { status: TxStatus::Reverted, output: output.to_vec(), gas_used, logs, created: None, frames }
            }
            ExecutionResult::Halt { reason, logs, .. } => Receipt {
                status: TxStatus::Halted(format!("{reason:?}")),
                output: Vec::new(),
                gas_used,
                logs,
                created: None,
                frames,
            },
        })
    }

    /// Deploys `initcode` (creation bytecode followed by constructor arguments).
    pub fn deploy(&mut self, from: Address, initcode: Vec<u8>) -> Result<(Address, Receipt), Error> {
        let r = self.transact(from, TxKind::Create, initcode, U256::ZERO, TX_GAS_LIMIT)?.ok("contract creation")?;
        let addr = r.created.ok_or_else(|| Error::Evm("creation returned no address".into()))?;
        Ok((addr, r))
    }

    /// Sends a call transaction (committed even when it reverts: nonce and gas).
    pub fn call(&mut self, from: Address, to: Address, data: Vec<u8>, value: U256) -> Result<Receipt, Error> {
        self.transact(from, TxKind::Call(to), data, value, TX_GAS_LIMIT)
    }

    /// Like [`Chain::call`] with an explicit transaction gas limit.
    pub fn call_with_gas(
        &mut self,
        from: Address,
        to: Address,
        data: Vec<u8>,
        gas_limit: u64,
    ) -> Result<Receipt, Error> {
        self.transact(from, TxKind::Call(to), data, U256::ZERO, gas_limit)
    }

    /// A read-only call; returns the output or the decoded revert.
    pub fn view(&mut self, to: Address, data: Vec<u8>) -> Result<Vec<u8>, Error> {
        let r = self.call(VIEWER, to, data, U256::ZERO)?.ok("view call")?;
        Ok(r.output)
    }
}

/// Caller of [`Chain::view`].
pub const VIEWER: Address = Address::new([0x0e; 20]);
