//! JobEscrow over JSON-RPC: what a client, a provider and an operator send.
//! Calldata comes from `veriflop-contracts` (the same bytes the in-process EVM
//! tests settle); this module adds the node, the checks made before sending
//! (a job id derived for this escrow and this sender, a bundle paying this
//! sender, the stake the job asks), and the receipts.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolEvent, SolValue};
use veriflop_circuits::{Bytes32, Job, JobId, Venue};
use veriflop_contracts::abi::{IJobEscrow, JobStatus};
use veriflop_contracts::settle::{fr_u256, job_id_from_word, statement_address, PostTerms};
use veriflop_contracts::{artifacts, settle_calldata};
use veriflop_verifier::{ProofBundle, ShapeKey};

use crate::error::ChainError;
use crate::rpc::{Connection, TxOutcome};

/// A job as JobEscrow stores it (`jobs(jobId)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnchainJob {
    pub client: Address,
    pub deadline: u64,
    pub lock_window: u32,
    pub status: JobStatus,
    /// Pays only once the proven cmC's delivery is attested (`postJobWithDelivery`).
    pub delivery: bool,
    pub locker: Address,
    pub lock_until: u64,
    pub price: u128,
    pub lock_stake: u128,
    pub shape: u128,
    pub cm_a: U256,
    pub cm_b: U256,
}

impl OnchainJob {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "client": self.client.to_checksum(None),
            "status": format!("{:?}", self.status),
            "delivery_required": self.delivery,
            "price_wei": self.price.to_string(),
            "deadline": self.deadline,
            "lock_window": self.lock_window,
            "lock_stake_wei": self.lock_stake.to_string(),
            "locker": (self.locker != Address::ZERO).then(|| self.locker.to_checksum(None)),
            "lock_until": self.lock_until,
            "shape_id": format!("{:#x}", self.shape),
            "cm_a": format!("{:#066x}", self.cm_a),
            "cm_b": format!("{:#066x}", self.cm_b),
        })
    }
}

/// Blocks per `eth_getLogs` request when events are scanned for (public nodes
/// cap the range of one request; 2000 is within every common cap).
pub const LOG_WINDOW: u64 = 2_000;

/// The ranges `from..=to` is read in, newest first: contiguous, each at most
/// `window` blocks (at least 1), covering it exactly (none when `from > to`).
pub fn windows_newest_first(from: u64, to: u64, window: u64) -> impl Iterator<Item = (u64, u64)> {
    let window = window.max(1);
    let mut next = (from <= to).then_some(to);
    std::iter::from_fn(move || {
        let hi = next?;
        let lo = hi.saturating_sub(window - 1).max(from);
        next = if lo > from { Some(lo - 1) } else { None };
        Some((lo, hi))
    })
}

/// `JobSettled` of `JobSettled(uint256,address,…)`.
fn event_name(signature: &str) -> &str {
    signature.split('(').next().unwrap_or(signature)
}

/// A JobEscrow deployment reached through a [`Connection`].
pub struct Escrow<'a> {
    pub conn: &'a Connection,
    pub address: Address,
}

fn decode<C: SolCall>(what: &str, out: &[u8]) -> Result<C::Return, ChainError> {
    C::abi_decode_returns(out).map_err(|e| ChainError::Rpc(format!("{what}: undecodable answer: {e}")))
}

impl<'a> Escrow<'a> {
    /// Deploys JobEscrow with `owner` controlling its shape registry.
    pub async fn deploy(conn: &'a Connection, owner: Address) -> Result<(Escrow<'a>, TxOutcome), ChainError> {
        let code = artifacts::job_escrow().initcode(&owner.abi_encode());
        let out = conn.send("deploy JobEscrow", None, code, U256::ZERO).await?;
        let address = out.contract.ok_or_else(|| ChainError::Rpc("deploy JobEscrow: no contract address".into()))?;
        Ok((Escrow { conn, address }, out))
    }

    /// The escrow at `address`, checked to be one: its code is JobEscrow's and
    /// its `venue()` is this chain's venue for it (job ids are derived from it).
    pub async fn at(conn: &'a Connection, address: Address) -> Result<Escrow<'a>, ChainError> {
        let code = conn
            .provider()
            .get_code_at(address)
            .await
            .map_err(|e| ChainError::Rpc(format!("eth_getCode {address}: {e}")))?;
        if code.as_ref() != artifacts::job_escrow().deployed_bytecode.as_slice() {
            return Err(ChainError::Mismatch(format!(
                "{address} on chain {} is not this version's JobEscrow ({} bytes of code): check --escrow",
                conn.chain_id(),
                code.len()
            )));
        }
        let e = Escrow { conn, address };
        let venue = decode::<IJobEscrow::venueCall>(
            "venue",
            &conn.call("venue", address, IJobEscrow::venueCall {}.abi_encode()).await?,
        )?;
        if venue.0 != e.venue().id().0 {
            return Err(ChainError::Mismatch(format!(
                "the escrow's venue() differs from chain {}'s venue for {address}",
                conn.chain_id()
            )));
        }
        Ok(e)
    }

    /// `chain:<chain id>:<escrow>`: what job ids are derived from.
    pub fn venue(&self) -> Venue {
        Venue::Chain { chain_id: self.conn.chain_id(), escrow: statement_address(self.address) }
    }

    async fn send(&self, what: &str, data: Vec<u8>, value: U256) -> Result<TxOutcome, ChainError> {
        self.conn.send(what, Some(self.address), data, value).await
    }

    /// Deploys the generic Groth16 verifier for `vk` (its constants as
    /// constructor arguments) and registers it for the key's shape.
    pub async fn register_groth16(&self, vk: &ShapeKey) -> Result<(Address, TxOutcome, TxOutcome), ChainError> {
        let code = veriflop_contracts::settle::verifier_initcode(vk)?;
        let shape = veriflop_contracts::shape_id(
            veriflop_circuits::ProofSystem::Groth16Bn254,
            vk.header.kind,
            &vk.header.shape,
        );
        self.deploy_and_register(shape, shape, code).await
    }

    /// Compiles and deploys the halo2 verifier for `vk` (pinned solc) and
    /// registers it for its shape (halo2 proves Poseidon-committed jobs).
    pub async fn register_halo2(
        &self,
        vk: &veriflop_halo2::VerifierKey,
        shape: &veriflop_circuits::Shape,
    ) -> Result<(Address, TxOutcome, TxOutcome), ChainError> {
        let code = veriflop_contracts::settle::halo2_verifier_initcode(vk)?;
        let id = veriflop_contracts::shape_id(
            veriflop_circuits::ProofSystem::Halo2KzgBn254,
            veriflop_circuits::CircuitKind::Poseidon,
            shape,
        );
        self.deploy_and_register(id, id, code).await
    }

    /// Deploys the `InferenceVerifier` of a model's verifying key (one model,
    /// one batch size) and registers it for the key's shape; the escrow files it
    /// under `inferenceKey(shape, model)`. Returns the verifier, both
    /// transactions and that registry key.
    pub async fn register_inference(
        &self,
        vk: &veriflop_infer::keys::ModelVk,
    ) -> Result<(Address, TxOutcome, TxOutcome, u128), ChainError> {
        let key = veriflop_contracts::inference::InferenceVerifierKey::from_model_vk(vk);
        let shape = veriflop_contracts::inference::inference_shape_id(vk.batch, vk.d_in, vk.d_out)?;
        let entry = veriflop_contracts::inference::inference_key(shape, key.model_word());
        let code = veriflop_contracts::inference::inference_verifier_initcode(&key)?;
        let (verifier, d, r) = self.deploy_and_register(shape, entry, code).await?;
        Ok((verifier, d, r, entry))
    }

    /// Deploys `code` and registers it for `shape`, which the escrow files
    /// under the registry key `entry` (the shape itself, but for inference).
    async fn deploy_and_register(
        &self,
        shape: u128,
        entry: u128,
        code: Vec<u8>,
    ) -> Result<(Address, TxOutcome, TxOutcome), ChainError> {
        let existing = self.verifier_of(entry).await?;
        if existing != Address::ZERO {
            return Err(ChainError::Mismatch(format!(
                "registry entry {entry:#x} already has verifier {existing} (registrations are write-once)"
            )));
        }
        let deployed = self.conn.send("deploy verifier", None, code, U256::ZERO).await?;
        let verifier =
            deployed.contract.ok_or_else(|| ChainError::Rpc("deploy verifier: no contract address".into()))?;
        let registered = self
            .send("registerVerifier", IJobEscrow::registerVerifierCall { shape, verifier }.abi_encode(), U256::ZERO)
            .await?;
        Ok((verifier, deployed, registered))
    }

    /// The verifier registered for a shape id (zero when none).
    pub async fn verifier_of(&self, shape: u128) -> Result<Address, ChainError> {
        let out = self.conn.call("verifierOf", self.address, IJobEscrow::verifierOfCall { shape }.abi_encode()).await?;
        decode::<IJobEscrow::verifierOfCall>("verifierOf", &out)
    }

    /// Posts `job` with `nonce`, paying `price` wei. The job's id must be the id
    /// this escrow gives this sender's nonce (its proofs bind it): checked
    /// before anything is sent, and against `postJob`'s answer.
    pub async fn post(
        &self,
        job: &Job,
        nonce: &Bytes32,
        terms: &PostTerms,
        price: u128,
    ) -> Result<(JobId, TxOutcome), ChainError> {
        self.check_job_id(job, nonce)?;
        let data = veriflop_contracts::post_job_calldata(job, nonce, terms);
        let out = self.send("postJob", data, U256::from(price)).await?;
        self.posted_id(job, out)
    }

    /// [`Escrow::post`] for a job that pays only once `threshold` of
    /// `attestors` (strictly increasing addresses) signed a delivery receipt for
    /// the proven result.
    pub async fn post_with_delivery(
        &self,
        job: &Job,
        nonce: &Bytes32,
        terms: &PostTerms,
        price: u128,
        attestors: &[Address],
        threshold: u8,
    ) -> Result<(JobId, TxOutcome), ChainError> {
        self.check_job_id(job, nonce)?;
        let data = veriflop_contracts::settle::post_job_with_delivery_calldata(job, nonce, terms, attestors, threshold);
        let out = self.send("postJobWithDelivery", data, U256::from(price)).await?;
        self.posted_id(job, out)
    }

    fn check_job_id(&self, job: &Job, nonce: &Bytes32) -> Result<(), ChainError> {
        let expected = self.venue().job_id(statement_address(self.conn.from()), nonce);
        if job.job_id != expected {
            return Err(ChainError::Mismatch(format!(
                "job {} was not made for this sender and escrow: {} gives {}'s nonce {nonce} the id {expected}; \
                 make the job with --venue {} --client {} --nonce {nonce}",
                job.job_id,
                self.venue(),
                self.conn.from(),
                self.venue(),
                self.conn.from()
            )));
        }
        Ok(())
    }

    /// The id `JobPosted` reports, checked against the job's.
    fn posted_id(&self, job: &Job, out: TxOutcome) -> Result<(JobId, TxOutcome), ChainError> {
        let posted = out
            .receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| l.log_decode::<IJobEscrow::JobPosted>().ok())
            .ok_or_else(|| ChainError::Rpc("postJob: no JobPosted event in the receipt".into()))?;
        let id = job_id_from_word(posted.inner.data.jobId)?;
        if id != job.job_id {
            return Err(ChainError::Mismatch(format!(
                "the escrow posted job {id}, the venue derivation gives {}",
                job.job_id
            )));
        }
        Ok((id, out))
    }

    /// The attestors and threshold a delivery job was posted with (its
    /// `DeliveryRequired` event; the escrow stores only their hash).
    /// `postJobWithDelivery` emits it in the same call as the job's
    /// `JobPosted`, so only `posted_block`, that event's block, is read.
    pub async fn delivery_terms(
        &self,
        job_id: &JobId,
        posted_block: u64,
    ) -> Result<Option<(Vec<Address>, u8)>, ChainError> {
        let e = self.job_event::<IJobEscrow::DeliveryRequired>(job_id, posted_block, posted_block, 1).await?;
        Ok(e.map(|e| (e.attestors, e.threshold)))
    }

    /// The settlement of a job, if any: the cmC its proof settled with and the
    /// provider paid (its `JobSettled` event). Only a job whose record is Paid
    /// is looked for (nothing is scanned for one that is not), in blocks from
    /// the latest back to `from_block`, at most `window` blocks per
    /// `eth_getLogs` request (public nodes cap the range; [`LOG_WINDOW`]): a
    /// recent settlement is found in the first requests, and `from_block` (the
    /// job's posting block, or any block before it) bounds the scan.
    pub async fn settlement(
        &self,
        job_id: &JobId,
        from_block: u64,
        window: u64,
    ) -> Result<Option<(U256, Address)>, ChainError> {
        // The record first, then the head: a settlement the record shows is in a block up to the head.
        if self.job(job_id).await?.status != JobStatus::Paid {
            return Ok(None);
        }
        let head = self.conn.block_number().await?;
        let e = self.job_event::<IJobEscrow::JobSettled>(job_id, from_block, head, window).await?;
        Ok(e.map(|e| (e.cmC, e.provider)))
    }

    /// The newest `E` event of this escrow whose first indexed topic is
    /// `job_id`, in blocks `from..=to`, read newest window first with at most
    /// `window` blocks per `eth_getLogs` request, stopping at the first window
    /// that holds one.
    async fn job_event<E: SolEvent>(
        &self,
        job_id: &JobId,
        from: u64,
        to: u64,
        window: u64,
    ) -> Result<Option<E>, ChainError> {
        for (lo, hi) in windows_newest_first(from, to, window) {
            let filter = alloy::rpc::types::Filter::new()
                .address(self.address)
                .event_signature(E::SIGNATURE_HASH)
                .topic1(alloy::primitives::B256::from(fr_u256(&job_id.0)))
                .from_block(lo)
                .to_block(hi);
            let logs = self.conn.provider().get_logs(&filter).await.map_err(|e| {
                ChainError::Rpc(format!("eth_getLogs {} in blocks {lo}..={hi}: {e}", event_name(E::SIGNATURE)))
            })?;
            if let Some(ev) = logs.iter().rev().find_map(|l| l.log_decode::<E>().ok()) {
                return Ok(Some(ev.inner.data));
            }
        }
        Ok(None)
    }

    /// Records the attestors' receipts for `cm_c` (signatures sorted by signer).
    pub async fn attest(
        &self,
        job_id: &JobId,
        cm_c: [u8; 32],
        attestors: &[Address],
        threshold: u8,
        signatures: &[[u8; 65]],
    ) -> Result<TxOutcome, ChainError> {
        let data = veriflop_contracts::settle::attest_delivery_calldata(job_id, cm_c, attestors, threshold, signatures);
        self.send("attestDelivery", data, U256::ZERO).await
    }

    /// The job as stored.
    pub async fn job(&self, job_id: &JobId) -> Result<OnchainJob, ChainError> {
        let out = self
            .conn
            .call("jobs", self.address, IJobEscrow::jobsCall { jobId: fr_u256(&job_id.0) }.abi_encode())
            .await?;
        let r = decode::<IJobEscrow::jobsCall>("jobs", &out)?;
        Ok(OnchainJob {
            client: r.client,
            deadline: r.deadline.to::<u64>(),
            lock_window: r.lockWindow,
            status: JobStatus::from_code(r.status)
                .ok_or_else(|| ChainError::Rpc(format!("unknown job status {}", r.status)))?,
            delivery: r.delivery,
            locker: r.locker,
            lock_until: r.lockUntil.to::<u64>(),
            price: r.price,
            lock_stake: r.lockStake,
            shape: r.shape,
            cm_a: r.cmA,
            cm_b: r.cmB,
        })
    }

    /// Locks an open job, depositing the stake it asks for.
    pub async fn lock(&self, job_id: &JobId) -> Result<TxOutcome, ChainError> {
        let j = self.job(job_id).await?;
        let data = IJobEscrow::lockCall { jobId: fr_u256(&job_id.0) }.abi_encode();
        self.send("lock", data, U256::from(j.lock_stake)).await
    }

    /// Settles a job with a proof bundle; the bundle must pay this sender (the
    /// proof binds its payee, so another sender's transaction would revert).
    pub async fn settle(&self, bundle: &ProofBundle) -> Result<TxOutcome, ChainError> {
        let payee = bundle.statement.provider;
        if payee.0 != self.conn.from().0 .0 {
            return Err(ChainError::Mismatch(format!(
                "the bundle pays {payee}; send it from that key (this key is {})",
                self.conn.from()
            )));
        }
        self.send(veriflop_contracts::settle_function(bundle), settle_calldata(bundle), U256::ZERO).await
    }

    /// Takes the price back after the deadline (the job's client only).
    pub async fn refund(&self, job_id: &JobId) -> Result<TxOutcome, ChainError> {
        self.send("refund", IJobEscrow::refundCall { jobId: fr_u256(&job_id.0) }.abi_encode(), U256::ZERO).await
    }

    /// Slashes an expired lock (anyone): the stake is owed to the client.
    pub async fn slash(&self, job_id: &JobId) -> Result<TxOutcome, ChainError> {
        self.send("slashLock", IJobEscrow::slashLockCall { jobId: fr_u256(&job_id.0) }.abi_encode(), U256::ZERO).await
    }

    /// Withdraws everything owed to the sender (forfeited stakes).
    pub async fn withdraw(&self) -> Result<TxOutcome, ChainError> {
        self.send("withdraw", IJobEscrow::withdrawCall {}.abi_encode(), U256::ZERO).await
    }

    /// What the escrow owes `who` (forfeited stakes not yet withdrawn).
    pub async fn owed(&self, who: Address) -> Result<U256, ChainError> {
        let out = self.conn.call("owed", self.address, IJobEscrow::owedCall { account: who }.abi_encode()).await?;
        decode::<IJobEscrow::owedCall>("owed", &out)
    }
}

#[cfg(test)]
mod tests {
    use super::windows_newest_first;

    #[test]
    fn windows_cover_the_range_newest_first_within_the_cap() {
        let w: Vec<_> = windows_newest_first(3, 12, 4).collect();
        assert_eq!(w, [(9, 12), (5, 8), (3, 4)]);
        assert_eq!(windows_newest_first(7, 7, 1).collect::<Vec<_>>(), [(7, 7)]);
        assert_eq!(windows_newest_first(0, 9, 10).collect::<Vec<_>>(), [(0, 9)]);
        assert_eq!(windows_newest_first(0, 0, 0).collect::<Vec<_>>(), [(0, 0)], "a zero window reads one block");
        assert_eq!(windows_newest_first(5, 4, 10).count(), 0);
        let top: Vec<_> = windows_newest_first(0, u64::MAX, u64::MAX).collect();
        assert_eq!(top, [(1, u64::MAX), (0, 0)], "no overflow at the ends");
        for (from, to, win) in [(0u64, 100u64, 7u64), (17, 17_000, 2_000), (1, 2, 1), (0, 59_999, 10_000)] {
            let w: Vec<_> = windows_newest_first(from, to, win).collect();
            assert_eq!(w.first().unwrap().1, to);
            assert_eq!(w.last().unwrap().0, from);
            assert!(w.iter().all(|(lo, hi)| lo <= hi && hi - lo < win));
            assert!(w.windows(2).all(|p| p[1].1 + 1 == p[0].0), "contiguous, newest first: {w:?}");
        }
    }
}
