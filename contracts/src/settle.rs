//! Settlement: calldata for a proof bundle, and a whole settlement run in a
//! fresh in-process EVM (what the prover CLI and the README demo show).

use alloy_sol_types::{SolCall, SolValue};
use revm::primitives::{Address, U256};
use std::fmt;
use veriflop_circuits::{cp, Bytes32, CircuitKind, Job, JobId, ProofSystem, Shape, Venue};
use veriflop_verifier::{Proof, ProofBundle, ShapeKey};

use crate::abi::{ICommittedVerifier, IGroth16Verifier, IJobEscrow, JobStatus};
use crate::evm::{Chain, Receipt, DEFAULT_CHAIN_ID};
use crate::solidity::{g1_words, g2_words, vk_words, COMMITTED_VK_WORDS};
use crate::{artifacts, Error};

/// Registry key of a (proof system, circuit, shape) in JobEscrow:
/// `system << 112 | circuit << 104 | dtype << 96 | m << 64 | k << 32 | n` (system:
/// Groth16 0, halo2 1; circuit and dtype codes as in key files: committed 3,
/// Poseidon 1, naive 2; int8 1, int16 2, int32 3).
pub fn shape_id(system: ProofSystem, kind: CircuitKind, shape: &Shape) -> u128 {
    (system.code() as u128) << 112
        | (kind.code() as u128) << 104
        | (shape.dtype.code() as u128) << 96
        | (shape.m as u128) << 64
        | (shape.k as u128) << 32
        | shape.n as u128
}

/// The shape id a job is posted under.
pub fn job_shape_id(job: &Job) -> u128 {
    shape_id(job.system, job.circuit, &job.shape)
}

/// A field element as a uint256.
pub fn fr_u256(x: &ark_bn254::Fr) -> U256 {
    U256::from_be_bytes(veriflop_circuits::field::fr_to_bytes(x))
}

/// A Groth16 proof as the verifier takes it: `[A.x, A.y, B.x1, B.x0, B.y1, B.y0, C.x, C.y]`.
pub fn proof_words(p: &ark_groth16::Proof<ark_bn254::Bn254>) -> [U256; 8] {
    let mut w = [U256::ZERO; 8];
    let words: Vec<[u8; 32]> = g1_words(&p.a).into_iter().chain(g2_words(&p.b)).chain(g1_words(&p.c)).collect();
    for (o, b) in w.iter_mut().zip(words) {
        *o = U256::from_be_bytes(b);
    }
    w
}

/// The statement's public inputs `[job_id, provider, cm_a, cm_b, cm_c]` as uint256
/// (the Poseidon and naive circuits' verifier input).
pub fn public_input_words(bundle: &ProofBundle) -> [U256; 5] {
    bundle.statement.public_inputs().map(|x| fr_u256(&x))
}

/// A G1 point as `[x, y]` uint256 words (the identity as zeros).
pub fn point_words(p: &ark_bn254::G1Affine) -> [U256; 2] {
    g1_words(p).map(U256::from_be_bytes)
}

/// The committed circuit's points `[cmA, cmB, cmC, pok]`, each `[x, y]`; `None`
/// for a bundle of another circuit.
pub fn commitment_words(bundle: &ProofBundle) -> Option<[[U256; 2]; 4]> {
    let c = bundle.commitments.as_ref()?;
    Some([&c.cm_a, &c.cm_b, &c.cm_c, &c.pok].map(|p| point_words(&p.0)))
}

/// The digest the escrow records for a commitment point: keccak256(x ‖ y) mod r.
pub fn digest_word(p: &ark_bn254::G1Affine) -> U256 {
    fr_u256(&cp::digest(p))
}

/// An EVM address as a statement address (the same 20 bytes).
pub fn statement_address(a: Address) -> veriflop_circuits::Address {
    veriflop_circuits::Address(a.into_array())
}

/// A job nonce as the `uint256` `postJob` takes (the 32 bytes big-endian).
pub fn nonce_word(nonce: &Bytes32) -> U256 {
    U256::from_be_bytes(nonce.0)
}

/// A job id read from the EVM; errors on a value ≥ r (JobEscrow never makes one).
pub fn job_id_from_word(w: U256) -> Result<JobId, Error> {
    veriflop_circuits::field::fr_from_bytes(&w.to_be_bytes::<32>())
        .map(JobId)
        .map_err(|e| Error::Evm(format!("job id {w:#x}: {e}")))
}

/// The venue of the JobEscrow deployed at `escrow` on `chain`:
/// `Venue::Chain { chain_id: chain.chain_id(), escrow }`. Its
/// `job_id(client, nonce)` is the id that escrow gives `client`'s job posted with
/// `nonce` (`JobEscrow.jobIdOf`), so a client derives the id to prove for before
/// posting, and a provider checks a posted job's id against its (client, nonce).
pub fn chain_venue(chain: &Chain, escrow: Address) -> Venue {
    Venue::Chain { chain_id: chain.chain_id(), escrow: statement_address(escrow) }
}

/// The escrow's own `venue()` (a view call): equals `chain_venue(chain, escrow).id()`.
pub fn escrow_venue_id(chain: &mut Chain, escrow: Address) -> Result<Bytes32, Error> {
    let out = chain.view(escrow, IJobEscrow::venueCall {}.abi_encode())?;
    let v = IJobEscrow::venueCall::abi_decode_returns(&out).map_err(|e| Error::Evm(e.to_string()))?;
    Ok(Bytes32(v.0))
}

/// The escrow's own `jobIdOf(client, nonce)` (a view call): equals
/// `chain_venue(chain, escrow).job_id(client, nonce)`.
pub fn escrow_job_id(chain: &mut Chain, escrow: Address, client: Address, nonce: &Bytes32) -> Result<JobId, Error> {
    let out = chain.view(escrow, IJobEscrow::jobIdOfCall { client, nonce: nonce_word(nonce) }.abi_encode())?;
    job_id_from_word(IJobEscrow::jobIdOfCall::abi_decode_returns(&out).map_err(|e| Error::Evm(e.to_string()))?)
}

/// A job's escrow terms besides its data and price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostTerms {
    /// Last second (block timestamp) a proof is accepted (a `uint40` on-chain:
    /// larger values are sent as its maximum).
    pub deadline: u64,
    /// Seconds an exclusive lock lasts (0: locking disabled, then `lock_stake` is 0 too).
    pub lock_window: u32,
    /// What a provider deposits to lock the job.
    pub lock_stake: u128,
}

/// ABI-encoded `JobEscrow.postJob(nonce, shape, cmA, cmB, deadline, lockWindow, lockStake)`
/// for `job` (its registry id [`job_shape_id`] and commitments): the data a client
/// sends with the price. `job.job_id` is not sent: the escrow derives the id from
/// the sender and `nonce` (see [`chain_venue`]), and returns it.
pub fn post_job_calldata(job: &Job, nonce: &Bytes32, terms: &PostTerms) -> Vec<u8> {
    IJobEscrow::postJobCall {
        nonce: nonce_word(nonce),
        shape: job_shape_id(job),
        cmA: fr_u256(&job.cm_a),
        cmB: fr_u256(&job.cm_b),
        deadline: revm::primitives::alloy_primitives::aliases::U40::saturating_from(terms.deadline),
        lockWindow: terms.lock_window,
        lockStake: terms.lock_stake,
    }
    .abi_encode()
}

/// ABI-encoded `JobEscrow.postJobWithDelivery(nonce, shape, cmA, cmB, deadline,
/// lockWindow, lockStake, attestors, threshold)`: [`post_job_calldata`] for a job
/// that pays only once `threshold` of `attestors` signed a delivery receipt for the
/// proven cmC ([`crate::delivery`]). Sent as given: the escrow refuses
/// (`BadAttestors`) attestors that are not strictly increasing non-zero addresses,
/// more than [`crate::delivery::MAX_ATTESTORS`] of them, or a threshold outside
/// `1..=attestors.len()`.
pub fn post_job_with_delivery_calldata(
    job: &Job,
    nonce: &Bytes32,
    terms: &PostTerms,
    attestors: &[Address],
    threshold: u8,
) -> Vec<u8> {
    IJobEscrow::postJobWithDeliveryCall {
        nonce: nonce_word(nonce),
        shape: job_shape_id(job),
        cmA: fr_u256(&job.cm_a),
        cmB: fr_u256(&job.cm_b),
        deadline: revm::primitives::alloy_primitives::aliases::U40::saturating_from(terms.deadline),
        lockWindow: terms.lock_window,
        lockStake: terms.lock_stake,
        attestors: attestors.to_vec(),
        threshold,
    }
    .abi_encode()
}

/// ABI-encoded `JobEscrow.attestDelivery(jobId, cmC, attestors, threshold, signatures)`:
/// `attestors` and `threshold` as the job was posted with, `signatures` 65-byte
/// receipts ([`crate::delivery::sign_delivery`] of
/// [`crate::delivery::delivery_digest`]) sorted by their signers' addresses.
pub fn attest_delivery_calldata(
    job_id: &JobId,
    cm_c: [u8; 32],
    attestors: &[Address],
    threshold: u8,
    signatures: &[[u8; 65]],
) -> Vec<u8> {
    IJobEscrow::attestDeliveryCall {
        jobId: fr_u256(&job_id.0),
        cmC: U256::from_be_bytes(cm_c),
        attestors: attestors.to_vec(),
        threshold,
        signatures: signatures.iter().map(|s| s.to_vec().into()).collect(),
    }
    .abi_encode()
}

/// Posts `job` to the escrow as `client` with `nonce`, paying `price_wei`, and
/// returns the job id the escrow derived and stored it under (`postJob`'s return
/// value) with the receipt.
///
/// Proofs bind the job id, so `job.job_id` must already be
/// `chain_venue(chain, escrow).job_id(client, nonce)`: otherwise nothing is sent
/// and the error says so (a job posted under another id could never be settled
/// with the job's proofs). A reverted `postJob` is [`Error::Reverted`] with the
/// contract's reason (`JobExists` for a nonce the client used before, ...).
pub fn post_job(
    chain: &mut Chain,
    escrow: Address,
    client: Address,
    job: &Job,
    nonce: &Bytes32,
    terms: &PostTerms,
    price_wei: u128,
) -> Result<(JobId, Receipt), Error> {
    send_post(chain, escrow, client, job, nonce, price_wei, "postJob", post_job_calldata(job, nonce, terms))
}

/// [`post_job`] with `postJobWithDelivery` ([`post_job_with_delivery_calldata`]):
/// the job pays only against `threshold` of `attestors`' delivery receipts.
#[allow(clippy::too_many_arguments)]
pub fn post_job_with_delivery(
    chain: &mut Chain,
    escrow: Address,
    client: Address,
    job: &Job,
    nonce: &Bytes32,
    terms: &PostTerms,
    price_wei: u128,
    attestors: &[Address],
    threshold: u8,
) -> Result<(JobId, Receipt), Error> {
    let data = post_job_with_delivery_calldata(job, nonce, terms, attestors, threshold);
    send_post(chain, escrow, client, job, nonce, price_wei, "postJobWithDelivery", data)
}

/// Sends a posting transaction after checking `job.job_id` is the id it will get,
/// and checks the id returned (both posting functions return it the same way).
#[allow(clippy::too_many_arguments)]
fn send_post(
    chain: &mut Chain,
    escrow: Address,
    client: Address,
    job: &Job,
    nonce: &Bytes32,
    price_wei: u128,
    what: &str,
    data: Vec<u8>,
) -> Result<(JobId, Receipt), Error> {
    let venue = chain_venue(chain, escrow);
    let expected = venue.job_id(statement_address(client), nonce);
    if job.job_id != expected {
        return Err(Error::Input(format!(
            "job id {} is not the id {venue} gives client {client}'s nonce {nonce} ({expected}): \
             make the job with that id (Venue::job_id) before proving",
            job.job_id
        )));
    }
    let r = chain.call(client, escrow, data, U256::from(price_wei))?.ok(what)?;
    let id = job_id_from_word(
        IJobEscrow::postJobCall::abi_decode_returns(&r.output)
            .map_err(|e| Error::Evm(format!("{what} output: {e}")))?,
    )?;
    if id != expected {
        return Err(Error::Evm(format!("the escrow posted job {id}, the venue derivation gives {expected}")));
    }
    Ok((id, r))
}

/// The JobEscrow function [`settle_calldata`] calls for this bundle.
pub fn settle_function(bundle: &ProofBundle) -> &'static str {
    match (bundle.system(), bundle.circuit) {
        (ProofSystem::Halo2KzgBn254, _) => "submitHalo2",
        (_, CircuitKind::Committed) => "submit",
        (_, CircuitKind::Inference) => "submitInference",
        _ => "submitPoseidon",
    }
}

/// ABI-encoded settlement transaction for this bundle: the data the provider
/// (the statement's `provider` address) sends to the escrow. The escrow takes
/// everything else (job, provider = msg.sender, and for the committed circuit
/// the digests of A and B) from its own record.
/// - committed circuit: `JobEscrow.submit(jobId, proof, cmA, cmB, cmC, pok)`;
/// - Poseidon and naive circuits: `JobEscrow.submitPoseidon(jobId, cmC, proof)`;
/// - halo2: `JobEscrow.submitHalo2(jobId, cmC, proof)`;
/// - inference: `JobEscrow.submitInference(jobId, proof, cmIn, cmHidden, cmOut,
///   pokHidden, pokOut)` ([`crate::inference::bundle_submit_calldata`]).
pub fn settle_calldata(bundle: &ProofBundle) -> Vec<u8> {
    if let Some(data) = crate::inference::bundle_submit_calldata(bundle) {
        return data;
    }
    let job_id = fr_u256(&bundle.statement.job_id.0);
    let cm_c = fr_u256(&bundle.statement.cm_c);
    match (&bundle.proof, commitment_words(bundle)) {
        (Proof::Halo2KzgBn254(p), _) => {
            IJobEscrow::submitHalo2Call { jobId: job_id, cmC: cm_c, proof: p.0.clone().into() }.abi_encode()
        }
        (Proof::Groth16Bn254(p), Some([cm_a, cm_b, cm_c, pok])) => {
            IJobEscrow::submitCall { jobId: job_id, proof: proof_words(&p.0), cmA: cm_a, cmB: cm_b, cmC: cm_c, pok }
                .abi_encode()
        }
        (Proof::Groth16Bn254(p), None) => {
            IJobEscrow::submitPoseidonCall { jobId: job_id, cmC: cm_c, proof: proof_words(&p.0) }.abi_encode()
        }
    }
}

/// ABI-encoded `verifyProof(...)` for this bundle (a direct verifier call): for
/// the committed circuit `(proof, cmA, cmB, cmC, pok, jobId, provider)`, else
/// `(proof, [job_id, provider, cm_a, cm_b, cm_c])`. Both return one `bool`.
/// halo2: the five public inputs as words, then the proof (empty return or revert).
/// Inference: `InferenceVerifier.verifyProof` ([`crate::inference::bundle_verify_calldata`]).
pub fn verify_calldata(bundle: &ProofBundle) -> Vec<u8> {
    if let Some(data) = crate::inference::bundle_verify_calldata(bundle) {
        return data;
    }
    let p = match &bundle.proof {
        Proof::Halo2KzgBn254(p) => return veriflop_halo2::evm::calldata(&bundle.statement.public_inputs(), &p.0),
        Proof::Groth16Bn254(p) => &p.0,
    };
    match commitment_words(bundle) {
        Some([cm_a, cm_b, cm_c, pok]) => ICommittedVerifier::verifyProofCall {
            proof: proof_words(p),
            cmA: cm_a,
            cmB: cm_b,
            cmC: cm_c,
            pok,
            jobId: fr_u256(&bundle.statement.job_id.0),
            provider: Address::from(bundle.statement.provider.0),
        }
        .abi_encode(),
        None => {
            IGroth16Verifier::verifyProofCall { proof: proof_words(p), input: public_input_words(bundle) }.abi_encode()
        }
    }
}

/// Constructor arguments of the generic verifier for a key: `Groth16Verifier(uint256[26] vk)`,
/// or for a committed key `CommittedVerifier(uint256[26] vk, uint32 m, uint32 k, uint32 n, uint8 dtype)`.
pub fn verifier_constructor_args(vk: &ShapeKey) -> Vec<u8> {
    let mut args = vk_words(vk).concat();
    if vk.header.kind == CircuitKind::Committed {
        let s = vk.header.shape;
        for x in [s.m, s.k, s.n, s.dtype.code() as u32] {
            args.extend(U256::from(x).to_be_bytes::<32>());
        }
    }
    args
}

/// Checks a key has the layout its circuit's verifier takes.
fn check_key_layout(vk: &ShapeKey) -> Result<(), Error> {
    let n = vk.vk.gamma_abc_g1.len();
    let kind = vk.header.kind;
    if !kind.is_matmul() {
        return Err(Error::Input(format!("{kind} jobs are verified with their model's key, not a shape key")));
    }
    if n != kind.num_ic() {
        return Err(Error::Input(format!(
            "the {kind} verifying key has {} input points, a matmul key has {}",
            n,
            kind.num_ic()
        )));
    }
    if (kind == CircuitKind::Committed) != vk.pok_g2.is_some() {
        return Err(Error::Input(format!(
            "the {kind} verifying key {} [σδ]₂",
            if vk.pok_g2.is_some() { "has" } else { "lacks" }
        )));
    }
    debug_assert!(kind != CircuitKind::Committed || vk_words(vk).len() == COMMITTED_VK_WORDS);
    Ok(())
}

/// Deploys the generic verifier (precompiled artifact) for a key: `CommittedVerifier`
/// for a committed-circuit key, `Groth16Verifier` for the others.
pub fn deploy_verifier(chain: &mut Chain, from: Address, vk: &ShapeKey) -> Result<(Address, Receipt), Error> {
    chain.deploy(from, verifier_initcode(vk)?)
}

/// Creation code of the generic verifier for a key (see [`deploy_verifier`]).
pub fn verifier_initcode(vk: &ShapeKey) -> Result<Vec<u8>, Error> {
    check_key_layout(vk)?;
    let art = match vk.header.kind {
        CircuitKind::Committed => artifacts::committed_verifier(),
        CircuitKind::Poseidon | CircuitKind::Naive => artifacts::groth16_verifier(),
        CircuitKind::Inference => unreachable!("check_key_layout refuses inference keys"),
    };
    Ok(art.initcode(&verifier_constructor_args(vk)))
}

/// Creation code of the halo2 verifier for a shape's key: snark-verifier's
/// generated Solidity (the key's fixed commitments are constants in the code),
/// compiled by the project's pinned solc (`npm ci --prefix contracts`).
pub fn halo2_verifier_initcode(vk: &veriflop_halo2::VerifierKey) -> Result<Vec<u8>, Error> {
    veriflop_halo2::evm::compile_solidity(&veriflop_halo2::evm::solidity(vk)).map_err(|e| Error::Solc(e.to_string()))
}

/// Deploys the halo2 verifier for a shape's key (compiles it first, see [`halo2_verifier_initcode`]).
pub fn deploy_halo2_verifier(
    chain: &mut Chain,
    from: Address,
    vk: &veriflop_halo2::VerifierKey,
) -> Result<(Address, Receipt), Error> {
    chain.deploy(from, halo2_verifier_initcode(vk)?)
}

/// Deploys JobEscrow with `owner` controlling its registry.
pub fn deploy_escrow(chain: &mut Chain, from: Address, owner: Address) -> Result<(Address, Receipt), Error> {
    chain.deploy(from, artifacts::job_escrow().initcode(&owner.abi_encode()))
}

/// Reads a job's status from the escrow.
pub fn job_status(chain: &mut Chain, escrow: Address, job_id: U256) -> Result<JobStatus, Error> {
    let out = chain.view(escrow, IJobEscrow::jobsCall { jobId: job_id }.abi_encode())?;
    let r = IJobEscrow::jobsCall::abi_decode_returns(&out).map_err(|e| Error::Evm(e.to_string()))?;
    JobStatus::from_code(r.status).ok_or_else(|| Error::Evm(format!("unknown job status {}", r.status)))
}

/// Gas used by each step of [`settle_in_evm`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementGas {
    pub deploy_verifier: u64,
    pub deploy_escrow: u64,
    pub register_verifier: u64,
    pub post_job: u64,
    pub lock: u64,
    /// The whole `submit` transaction (intrinsic gas, escrow logic, verification, payment).
    pub submit_tx: u64,
    /// The verifier call inside `submit` (gas spent by the verifier frame).
    pub verifier_call: u64,
    /// A stand-alone transaction calling `verifyProof` (intrinsic gas included).
    pub verify_tx: u64,
}

/// Balances in wei.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balances {
    pub client: u128,
    pub provider: u128,
    pub escrow: u128,
}

/// What [`settle_in_evm`] did.
#[derive(Clone, Debug)]
pub struct SettlementReport {
    pub escrow: Address,
    /// The escrow's venue ([`demo_venue`]).
    pub venue: Venue,
    /// The job id the escrow derived (`postJob`'s return value), the bundle's.
    pub job_id: JobId,
    pub verifier: Address,
    pub client: Address,
    pub provider: Address,
    pub shape_id: u128,
    pub price_wei: u128,
    pub stake_wei: u128,
    pub gas: SettlementGas,
    /// After posting and locking, before `submit`.
    pub before: Balances,
    pub after: Balances,
    pub status_before: JobStatus,
    pub status_after: JobStatus,
    /// The `submit` transaction data.
    pub calldata: Vec<u8>,
}

impl fmt::Display for SettlementReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.gas;
        writeln!(f, "settled on-chain (in-process EVM): {} gas for the submit transaction", g.submit_tx)?;
        writeln!(f, "  verifier call             {:>9} gas", g.verifier_call)?;
        writeln!(f, "  verifyProof as a tx       {:>9} gas", g.verify_tx)?;
        writeln!(f, "  submit (whole settlement) {:>9} gas", g.submit_tx)?;
        writeln!(f, "  post job                  {:>9} gas", g.post_job)?;
        writeln!(f, "  lock                      {:>9} gas", g.lock)?;
        writeln!(f, "  register verifier         {:>9} gas", g.register_verifier)?;
        writeln!(f, "  deploy verifier           {:>9} gas", g.deploy_verifier)?;
        writeln!(f, "  deploy escrow             {:>9} gas", g.deploy_escrow)?;
        writeln!(f, "  job {} at {}: {:?} -> {:?}", self.job_id, self.venue, self.status_before, self.status_after)?;
        writeln!(
            f,
            "  provider {}: {} -> {} wei (price {} + stake {} returned)",
            self.provider, self.before.provider, self.after.provider, self.price_wei, self.stake_wei
        )?;
        write!(f, "  escrow {}: {} -> {} wei", self.escrow, self.before.escrow, self.after.escrow)
    }
}

/// Account of the escrow's owner (registry admin) in [`settle_in_evm`].
pub const DEMO_OWNER: Address = Address::new([0xa0; 20]);
/// Account of the client in [`settle_in_evm`].
pub const DEMO_CLIENT: Address = Address::new([0xc1; 20]);
/// Starting balance of the demo accounts.
pub const DEMO_FUNDS: u128 = 100 * 10u128.pow(18);

/// The address of the JobEscrow [`settle_in_evm`] deploys: [`DEMO_OWNER`]'s
/// first contract on a fresh chain.
pub fn demo_escrow() -> Address {
    DEMO_OWNER.create(0)
}

/// The venue of [`settle_in_evm`]'s escrow:
/// `Venue::Chain { chain_id: DEFAULT_CHAIN_ID, escrow: demo_escrow() }` (the same
/// on every run: a fresh chain, the escrow deployed first).
pub fn demo_venue() -> Venue {
    Venue::Chain { chain_id: DEFAULT_CHAIN_ID, escrow: statement_address(demo_escrow()) }
}

/// The id [`settle_in_evm`]'s escrow gives the demo client's ([`DEMO_CLIENT`])
/// job posted with `nonce`: make the job with it, prove, then settle with the
/// same nonce.
///
/// ```
/// use veriflop_circuits::Bytes32;
/// let nonce = Bytes32([7; 32]);
/// let id = veriflop_contracts::demo_job_id(&nonce);
/// assert_eq!(id, veriflop_contracts::demo_venue().job_id(veriflop_circuits::Address([0xc1; 20]), &nonce));
/// ```
pub fn demo_job_id(nonce: &Bytes32) -> JobId {
    demo_venue().job_id(statement_address(DEMO_CLIENT), nonce)
}

fn wei(x: U256) -> u128 {
    x.saturating_to()
}

/// Settles `bundle` for `job` on a fresh in-process chain: deploys a JobEscrow
/// (at [`demo_escrow`]) and the verifier for `vk` (any Groth16 circuit),
/// registers the verifier for the job's system, circuit and shape, posts the job
/// as the client [`DEMO_CLIENT`] with `nonce` and `price_wei`, locks it as the
/// provider (stake: a tenth of the price, at least 1 wei), submits the bundle's
/// proof from the statement's provider address, and reports gas and balances.
///
/// The escrow derives the job id from its venue, the client and `nonce`, so
/// `job.job_id` (and the bundle's) must be [`demo_job_id`]`(nonce)`.
///
/// Errors: inconsistent inputs (key and job of different shapes or circuits,
/// bundle for another job, a job id that is not `demo_job_id(nonce)`), a zero
/// price, or a reverted transaction (with the contract's reason, e.g.
/// `InvalidProof` for a proof that does not verify).
pub fn settle_in_evm(
    vk: &ShapeKey,
    job: &Job,
    nonce: &Bytes32,
    bundle: &ProofBundle,
    price_wei: u128,
) -> Result<SettlementReport, Error> {
    if vk.header.shape != job.shape {
        return Err(Error::Input(format!("the key is for shape {}, the job is {}", vk.header.shape, job.shape)));
    }
    if bundle.circuit != vk.header.kind {
        return Err(Error::Input(format!(
            "the bundle is a {} proof, the key is for {}",
            bundle.circuit, vk.header.kind
        )));
    }
    if job.circuit != vk.header.kind {
        return Err(Error::Input(format!(
            "the job is for the {} circuit, the key is for {}",
            job.circuit, vk.header.kind
        )));
    }
    check_system(ProofSystem::Groth16Bn254, job, bundle)?;
    settle(verifier_initcode(vk)?, job, nonce, bundle, price_wei)
}

/// [`settle_in_evm`] for a halo2 job: deploys the shape's generated halo2 verifier
/// (compiled with the pinned solc) and settles with `JobEscrow.submitHalo2`.
/// `job.job_id` must be [`demo_job_id`]`(nonce)`.
pub fn settle_halo2_in_evm(
    vk: &veriflop_halo2::VerifierKey,
    job: &Job,
    nonce: &Bytes32,
    bundle: &ProofBundle,
    price_wei: u128,
) -> Result<SettlementReport, Error> {
    if vk.shape != job.shape {
        return Err(Error::Input(format!("the key is for shape {}, the job is {}", vk.shape, job.shape)));
    }
    check_system(ProofSystem::Halo2KzgBn254, job, bundle)?;
    settle(halo2_verifier_initcode(vk)?, job, nonce, bundle, price_wei)
}

/// [`settle_in_evm`] for an inference job: deploys the model's
/// `InferenceVerifier` (from its verifying key file), registers it for the
/// job's shape and model, and settles with `JobEscrow.submitInference`.
/// `job.job_id` must be [`demo_job_id`]`(nonce)`.
pub fn settle_inference_in_evm(
    vk: &veriflop_infer::keys::ModelVk,
    job: &Job,
    nonce: &Bytes32,
    bundle: &ProofBundle,
    price_wei: u128,
) -> Result<SettlementReport, Error> {
    if job.circuit != CircuitKind::Inference || bundle.inference.is_none() {
        return Err(Error::Input(format!(
            "a {} job with a {} bundle is not an inference job",
            job.circuit, bundle.circuit
        )));
    }
    let key = crate::inference::InferenceVerifierKey::from_model_vk(vk);
    if crate::inference::inference_shape_id(vk.batch, vk.d_in, vk.d_out)? != job_shape_id(job)
        || crate::inference::model_word(&vk.model_digest) != fr_u256(&job.cm_b)
    {
        return Err(Error::Input(format!(
            "the model key is not for job {}'s model and shape {}",
            job.job_id, job.shape
        )));
    }
    check_system(ProofSystem::Groth16Bn254, job, bundle)?;
    settle(crate::inference::inference_verifier_initcode(&key)?, job, nonce, bundle, price_wei)
}

fn check_system(system: ProofSystem, job: &Job, bundle: &ProofBundle) -> Result<(), Error> {
    if job.system != system || bundle.system() != system {
        return Err(Error::Input(format!(
            "the job is for {} and the bundle holds a {} proof; this settles {system}",
            job.system,
            bundle.system()
        )));
    }
    Ok(())
}

fn settle(
    verifier_initcode: Vec<u8>,
    job: &Job,
    nonce: &Bytes32,
    bundle: &ProofBundle,
    price_wei: u128,
) -> Result<SettlementReport, Error> {
    if bundle.statement.job_id != job.job_id {
        return Err(Error::Input(format!("the bundle is for job {}, not job {}", bundle.statement.job_id, job.job_id)));
    }
    let job_id = demo_job_id(nonce);
    if job.job_id != job_id {
        return Err(Error::Input(format!(
            "job {} is not the id the demo escrow ({}) gives the demo client's nonce {nonce} ({job_id}): \
             make the job with demo_job_id(nonce)",
            job.job_id,
            demo_venue()
        )));
    }
    if price_wei == 0 {
        return Err(Error::Input("the price must be positive".into()));
    }
    let provider = Address::from(bundle.statement.provider.0);
    let client = DEMO_CLIENT;
    if provider == client || provider == DEMO_OWNER {
        return Err(Error::Input(format!("provider address {provider} is reserved by the demo chain")));
    }
    let price = U256::from(price_wei);
    let stake = (price_wei / 10).max(1);
    let mut chain = Chain::new();
    chain.fund(DEMO_OWNER, U256::from(DEMO_FUNDS));
    chain.fund(client, U256::from(DEMO_FUNDS) + price);
    chain.fund(provider, U256::from(DEMO_FUNDS));

    // The escrow first: its address (DEMO_OWNER's first creation) is demo_venue()'s.
    let (escrow, r_e) = deploy_escrow(&mut chain, DEMO_OWNER, DEMO_OWNER)?;
    let venue = chain_venue(&chain, escrow);
    if venue != demo_venue() {
        return Err(Error::Evm(format!("the escrow was deployed as {venue}, not {}", demo_venue())));
    }
    let (verifier, r_v) = chain.deploy(DEMO_OWNER, verifier_initcode)?;
    let sid = job_shape_id(job);
    let r_reg = chain
        .call(DEMO_OWNER, escrow, IJobEscrow::registerVerifierCall { shape: sid, verifier }.abi_encode(), U256::ZERO)?
        .ok("registerVerifier")?;

    let terms = PostTerms { deadline: chain.time() + 24 * 3600, lock_window: 3600, lock_stake: stake };
    let (posted, r_post) = post_job(&mut chain, escrow, client, job, nonce, &terms, price_wei)?;
    let job_id = fr_u256(&posted.0);
    let r_lock = chain
        .call(provider, escrow, IJobEscrow::lockCall { jobId: job_id }.abi_encode(), U256::from(stake))?
        .ok("lock")?;

    let balances = |c: &Chain| Balances {
        client: wei(c.balance(client)),
        provider: wei(c.balance(provider)),
        escrow: wei(c.balance(escrow)),
    };
    let before = balances(&chain);
    let status_before = job_status(&mut chain, escrow, job_id)?;

    // The verifier alone, as a transaction (before settlement, same inputs).
    let r_verify = chain.call(provider, verifier, verify_calldata(bundle), U256::ZERO)?;
    let valid = match bundle.system() {
        // halo2 verifiers revert on an invalid proof and return nothing otherwise.
        ProofSystem::Halo2KzgBn254 => r_verify.is_success(),
        ProofSystem::Groth16Bn254 => {
            let out = &r_verify.clone().ok("verifyProof")?.output;
            bool::abi_decode(out).map_err(|e| Error::Evm(e.to_string()))?
        }
    };

    let calldata = settle_calldata(bundle);
    let r_submit = chain.call(provider, escrow, calldata.clone(), U256::ZERO)?;
    if !r_submit.is_success() && !valid {
        return Err(Error::Reverted {
            what: "submit".into(),
            reason: format!(
                "{} (verifyProof returned false for the bundle's statement)",
                crate::abi::decode_revert(&r_submit.output)
            ),
            gas_used: r_submit.gas_used,
        });
    }
    let r_submit = r_submit.ok("submit")?;
    let verifier_call =
        r_submit.gas_of_call_to(verifier).ok_or_else(|| Error::Evm("submit made no call to the verifier".into()))?;

    Ok(SettlementReport {
        escrow,
        venue,
        job_id: posted,
        verifier,
        client,
        provider,
        shape_id: sid,
        price_wei,
        stake_wei: stake,
        gas: SettlementGas {
            deploy_verifier: r_v.gas_used,
            deploy_escrow: r_e.gas_used,
            register_verifier: r_reg.gas_used,
            post_job: r_post.gas_used,
            lock: r_lock.gas_used,
            submit_tx: r_submit.gas_used,
            verifier_call,
            verify_tx: r_verify.gas_used,
        },
        before,
        after: balances(&chain),
        status_before,
        status_after: job_status(&mut chain, escrow, job_id)?,
        calldata,
    })
}
