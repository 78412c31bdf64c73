//! On-chain settlement of inference jobs (docs/PROTOCOL.md §16.7), in revm with
//! real proofs of a tiny model (6 → 5 → 3, batch 2; keys from `ModelKeys::setup`,
//! proofs from `job::prove`): the honest proof verifies natively and on-chain and
//! pays through the escrow (with and without delivery receipts); the verifier and
//! the native `job::verify` agree on every tampering; malformed points revert;
//! and a job asking for one model is never settled by a proof of another (a
//! second model of the same dimensions has its own verifier and registry key).

mod common;

use std::sync::OnceLock;

use alloy_sol_types::{SolCall, SolEvent, SolValue};
use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use common::*;
use rand::{Rng, SeedableRng};
use revm::primitives::{Address, U256};
use veriflop_circuits::{Bytes32, JobId};
use veriflop_contracts::abi::{IInferenceVerifier, IJobEscrow};
use veriflop_contracts::evm::{Chain, TxStatus};
use veriflop_contracts::inference::{
    deploy_inference_verifier, inference_key, inference_shape_id, inference_verify_calldata, model_word,
    submit_inference_calldata, InferenceVerifierKey,
};
use veriflop_contracts::settle::{deploy_escrow, digest_word, fr_u256, nonce_word, statement_address};
use veriflop_contracts::solidity::{Q_HEX, R_HEX};
use veriflop_contracts::{JobStatus, Receipt};
use veriflop_infer::circuit::Witness;
use veriflop_infer::job::{commit_output, prove, verify, InferenceProof, InferenceStatement, ModelKeys};
use veriflop_infer::{run, Layer, Model, QuantParams, Requant};

const BATCH: usize = 2;

fn u(hex: &str) -> U256 {
    U256::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

/// A 6 → 5 → 3 int8 model (ReLU on the first layer), its weights from `seed`.
fn model(seed: u64) -> Model {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut layer = |k: usize, n: usize, relu: bool| {
        let zp: i8 = rng.gen_range(-20..20);
        Layer {
            d_in: k,
            d_out: n,
            weights: (0..k * n).map(|_| rng.gen_range(-127..=127)).collect(),
            bias: (0..n).map(|_| rng.gen_range(-3000..3000)).collect(),
            requant: Requant::new(rng.gen_range(0.002..0.02), zp, if relu { zp } else { -128 }, 127).unwrap(),
        }
    };
    let layers = vec![layer(6, 5, true), layer(5, 3, false)];
    let q = QuantParams { scale: 0.05, zero_point: 0 };
    Model { input: q, layers, output: q }
}

/// One model's keys, a client's input, its job (CLIENT's nonce) and the honest proof paying PROVIDER.
struct Mx {
    keys: ModelKeys,
    x: Vec<i8>,
    output: Vec<i8>,
    nonce: Bytes32,
    st: InferenceStatement,
    proof: InferenceProof,
}

impl Mx {
    fn shape(&self) -> u128 {
        inference_shape_id(BATCH, 6, 3).unwrap()
    }
    fn model(&self) -> U256 {
        model_word(&self.keys.model_digest)
    }
    fn key(&self) -> u128 {
        inference_key(self.shape(), self.model())
    }
    fn job_id(&self) -> U256 {
        fr_u256(&self.st.job_id)
    }
}

fn make(seed: u64, nonce: Bytes32) -> Mx {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let m = model(seed);
    let keys = ModelKeys::setup(&m, BATCH, &mut rng).unwrap();
    let x: Vec<i8> = (0..BATCH * m.d_in()).map(|_| rng.gen()).collect();
    let trace = run(&m, BATCH, &x).unwrap();
    let st = InferenceStatement {
        job_id: env_job_id(CLIENT, &nonce).0,
        provider: statement_address(PROVIDER),
        model_digest: m.digest(),
        cm_in: keys.commit_input(&x).unwrap(),
    };
    let proof = prove(&keys, &m, &Witness::from(&trace), &st, &mut rng).unwrap();
    Mx { keys, output: trace.output().to_vec(), x, nonce, st, proof }
}

/// Model 1 and its job.
fn m1() -> &'static Mx {
    static M: OnceLock<Mx> = OnceLock::new();
    M.get_or_init(|| make(1, nonce(1001)))
}

/// Model 2: other weights, the same dimensions (6 → 5 → 3, batch 2), its own keys and job.
fn m2() -> &'static Mx {
    static M: OnceLock<Mx> = OnceLock::new();
    M.get_or_init(|| make(2, nonce(1002)))
}

struct Ix {
    chain: Chain,
    escrow: Address,
    v1: Address,
    v2: Address,
}

impl Ix {
    fn send(&mut self, from: Address, data: Vec<u8>, value: u128) -> Receipt {
        let to = self.escrow;
        self.chain.call(from, to, data, U256::from(value)).unwrap()
    }

    fn register(&mut self, shape: u128, verifier: Address) -> Receipt {
        self.send(OWNER, IJobEscrow::registerVerifierCall { shape, verifier }.abi_encode(), 0)
    }

    /// `postJob` of an inference job: cmA the input point's digest, cmB the model word.
    fn post_call(&self, nonce: &Bytes32, shape: u128, cm_in: &G1Affine, model: U256) -> Vec<u8> {
        IJobEscrow::postJobCall {
            nonce: nonce_word(nonce),
            shape,
            cmA: digest_word(cm_in),
            cmB: model,
            deadline: revm::primitives::alloy_primitives::aliases::U40::from(self.chain.time() + DEADLINE_IN),
            lockWindow: WINDOW,
            lockStake: STAKE,
        }
        .abi_encode()
    }

    /// Posts a model's job as CLIENT (its nonce, input and model) and checks the id.
    fn post(&mut self, mx: &Mx) -> Receipt {
        let data = self.post_call(&mx.nonce, mx.shape(), &mx.st.cm_in, mx.model());
        let r = self.send(CLIENT, data, PRICE);
        ok(&r);
        assert_eq!(posted_id(&r), mx.job_id());
        r
    }

    fn status(&mut self, id: U256) -> JobStatus {
        veriflop_contracts::settle::job_status(&mut self.chain, self.escrow, id).unwrap()
    }

    fn balance(&self, who: Address) -> u128 {
        self.chain.balance(who).saturating_to()
    }
}

/// A fresh chain: the escrow (OWNER's first contract, so `venue()`'s), both
/// models' verifiers, and both registered for the inference shape.
fn ix() -> Ix {
    let mut chain = Chain::new();
    for a in [OWNER, CLIENT, PROVIDER, OTHER] {
        chain.fund(a, U256::from(100 * ETH));
    }
    let (escrow, _) = deploy_escrow(&mut chain, OWNER, OWNER).unwrap();
    let (v1, _) = deploy_inference_verifier(&mut chain, OWNER, &m1().keys).unwrap();
    let (v2, _) = deploy_inference_verifier(&mut chain, OWNER, &m2().keys).unwrap();
    let mut e = Ix { chain, escrow, v1, v2 };
    let shape = m1().shape();
    ok(&e.register(shape, v1));
    ok(&e.register(shape, v2));
    e
}

fn event<E: SolEvent>(r: &Receipt) -> E {
    let log = r.logs.iter().find(|l| l.topics().first() == Some(&E::SIGNATURE_HASH)).expect("event emitted");
    E::decode_log(log).unwrap().data
}

fn returned(r: &Receipt) -> bool {
    ok(r);
    bool::abi_decode(&r.output).unwrap()
}

/// The EVM verifier's verdict on (st, p), checked equal to the native `job::verify`'s.
fn both(chain: &mut Chain, v: Address, keys: &ModelKeys, st: &InferenceStatement, p: &InferenceProof) -> bool {
    let native = verify(keys, st, p);
    let evm = returned(&chain.call(PROVIDER, v, inference_verify_calldata(st, p), U256::ZERO).unwrap());
    assert_eq!(native, evm, "native verify says {native}, the EVM {evm}");
    evm
}

/// A forged output (one entry changed) with its commitment and an honest proof of knowledge of it.
fn forged_output(mx: &Mx) -> (G1Affine, G1Affine) {
    let mut y = mx.output.clone();
    y[1] = y[1].wrapping_add(1);
    let cm = commit_output(&mx.keys, &y).unwrap();
    let vals: Vec<Fr> = y.iter().map(|&v| Fr::from(v as i64)).collect();
    let pok = G1Projective::msm(&mx.keys.pok_out, &vals).unwrap().into_affine();
    (cm, pok)
}

/// cm_hidden moved by the commitment to an all-ones input (value moved between commitments).
fn shifted_hidden(mx: &Mx) -> G1Affine {
    let shift = mx.keys.commit_input(&vec![1; mx.x.len()]).unwrap();
    (mx.proof.cm_hidden + shift).into_affine()
}

#[test]
fn honest_proof_verifies_natively_and_on_chain() {
    let mx = m1();
    assert!(verify(&mx.keys, &mx.st, &mx.proof), "native");
    let e = &mut ix();
    let r = e.chain.call(PROVIDER, e.v1, inference_verify_calldata(&mx.st, &mx.proof), U256::ZERO).unwrap();
    assert!(returned(&r), "the EVM verifier refused the honest proof");
    println!("InferenceVerifier.verifyProof transaction: {} gas", r.gas_used);
    let (t_verify, _) = veriflop_contracts::INFERENCE_GAS_TARGETS;
    assert!(r.gas_used <= t_verify, "verifyProof tx used {} gas", r.gas_used);
    // The verifier knows its model and shape.
    let v1 = e.v1;
    let view = |e: &mut Ix, data: Vec<u8>| e.chain.view(v1, data).unwrap();
    let out = view(e, IInferenceVerifier::modelCall {}.abi_encode());
    assert_eq!(IInferenceVerifier::modelCall::abi_decode_returns(&out).unwrap(), mx.model());
    let out = view(e, IInferenceVerifier::modelDigestCall {}.abi_encode());
    assert_eq!(IInferenceVerifier::modelDigestCall::abi_decode_returns(&out).unwrap().0, mx.keys.model_digest);
    let out = view(e, IInferenceVerifier::shapeCall {}.abi_encode());
    let s = IInferenceVerifier::shapeCall::abi_decode_returns(&out).unwrap();
    assert_eq!((s.batch, s.dIn, s.dOut), (BATCH as u32, 6, 3));
    let k = InferenceVerifierKey::from_model_keys(&mx.keys).unwrap();
    assert_eq!((k.batch, k.d_in, k.d_out, k.shape_id().unwrap()), (BATCH, 6, 3, mx.shape()));
    // The escrow's hard-coded selector of the call it encodes by hand.
    assert_eq!(IInferenceVerifier::verifyProofCall::SELECTOR, 0x64450a77u32.to_be_bytes());
}

#[test]
fn verifier_agrees_with_native_on_every_tampering() {
    let (mx, other) = (m1(), m2());
    let e = &mut ix();
    let (v, keys, st, p) = (e.v1, &mx.keys, &mx.st, &mx.proof);
    let chain = &mut e.chain;
    assert!(both(chain, v, keys, st, p));

    // The Groth16 proof: -A, A and C swapped, B from another proof.
    let g = p.proof.clone();
    let with = |proof: ark_groth16::Proof<ark_bn254::Bn254>| InferenceProof { proof, ..p.clone() };
    assert!(!both(chain, v, keys, st, &with(ark_groth16::Proof { a: -g.a, ..g.clone() })), "-A");
    assert!(!both(chain, v, keys, st, &with(ark_groth16::Proof { a: g.c, c: g.a, ..g.clone() })), "A, C swapped");
    let b2 = other.proof.proof.b;
    assert!(!both(chain, v, keys, st, &with(ark_groth16::Proof { b: b2, ..g.clone() })), "other B");

    // A forged cm_out, without and with a proof of knowledge of its opening.
    let (cm, pok) = forged_output(mx);
    assert!(!both(chain, v, keys, st, &InferenceProof { cm_out: cm, ..p.clone() }), "forged cm_out");
    assert!(
        !both(chain, v, keys, st, &InferenceProof { cm_out: cm, pok_out: pok, ..p.clone() }),
        "forged cm_out + pok"
    );
    // Tampered proofs of knowledge: negated, doubled, random, the identity, swapped.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let random = (G1Affine::generator() * Fr::from(rng.gen::<u64>())).into_affine();
    for t in [-p.pok_hidden, (p.pok_hidden + p.pok_hidden).into_affine(), random, G1Affine::identity(), p.pok_out] {
        assert!(!both(chain, v, keys, st, &InferenceProof { pok_hidden: t, ..p.clone() }), "pok_hidden");
    }
    for t in [-p.pok_out, (p.pok_out + p.pok_out).into_affine(), random, G1Affine::identity(), p.pok_hidden] {
        assert!(!both(chain, v, keys, st, &InferenceProof { pok_out: t, ..p.clone() }), "pok_out");
    }
    // cm_hidden shifted (value moved from the input's bases); and moved to cm_out keeping the sum.
    let shifted = shifted_hidden(mx);
    assert!(!both(chain, v, keys, st, &InferenceProof { cm_hidden: shifted, ..p.clone() }), "cm_hidden shifted");
    let d = (shifted.into_group() - p.cm_hidden).into_affine();
    let moved = InferenceProof { cm_hidden: shifted, cm_out: (p.cm_out.into_group() - d).into_affine(), ..p.clone() };
    assert!(!both(chain, v, keys, st, &moved), "value moved from cm_out to cm_hidden");

    // The statement: another input, job, provider.
    let mut x2 = mx.x.clone();
    x2[0] = x2[0].wrapping_add(1);
    let st_in = InferenceStatement { cm_in: keys.commit_input(&x2).unwrap(), ..*st };
    assert!(!both(chain, v, keys, &st_in, p), "another input");
    let st_job = InferenceStatement { job_id: st.job_id + Fr::from(1u64), ..*st };
    assert!(!both(chain, v, keys, &st_job, p), "another job");
    let st_prov = InferenceStatement { provider: statement_address(OTHER), ..*st };
    assert!(!both(chain, v, keys, &st_prov, p), "another provider");

    // Another model's proof (same dimensions) against this model's verifier, with
    // this model's word: refused (native verify with this model's keys agrees).
    let st_other = InferenceStatement { model_digest: mx.keys.model_digest, ..other.st };
    assert!(!both(chain, v, keys, &st_other, &other.proof), "model 2's proof under model 1's key");
    // And model 1's proof under model 2's verifier (model 2's word, model 1's input point).
    let v2 = e.v2;
    let st_m2 = InferenceStatement { model_digest: other.keys.model_digest, ..*st };
    assert!(!both(&mut e.chain, v2, &other.keys, &st_m2, p), "model 1's proof under model 2's key");

    // A model word other than the verifier's own: refused by name, whatever the proof.
    for word in [other.model(), mx.model() + U256::from(1), U256::from_be_bytes(mx.keys.model_digest)] {
        if word == mx.model() {
            continue; // the full digest when it is below r
        }
        let mut call = IInferenceVerifier::verifyProofCall::abi_decode(&inference_verify_calldata(st, p)).unwrap();
        call.model = word;
        reverted_with(&e.chain.call(PROVIDER, v, call.abi_encode(), U256::ZERO).unwrap(), "WrongModel");
    }
}

#[test]
fn malformed_points_revert() {
    let mx = m1();
    let e = &mut ix();
    let v = e.v1;
    let good = IInferenceVerifier::verifyProofCall::abi_decode(&inference_verify_calldata(&mx.st, &mx.proof)).unwrap();
    let (r, q) = (u(R_HEX), u(Q_HEX));
    let mut call =
        |c: &IInferenceVerifier::verifyProofCall| e.chain.call(PROVIDER, v, c.abi_encode(), U256::ZERO).unwrap();
    fn points(c: &mut IInferenceVerifier::verifyProofCall) -> [&mut [U256; 2]; 5] {
        [&mut c.cmIn, &mut c.cmHidden, &mut c.cmOut, &mut c.pokHidden, &mut c.pokOut]
    }
    // Job id not a field element.
    for id in [r, good.jobId + r, U256::MAX] {
        reverted_with(
            &call(&IInferenceVerifier::verifyProofCall { jobId: id, ..good.clone() }),
            "PublicInputNotInField",
        );
    }
    // Non-canonical coordinates (y + q is the same point in another encoding), everywhere.
    for i in 0..8 {
        let mut bad = good.clone();
        bad.proof[i] += q;
        reverted_with(&call(&bad), "ProofCoordinateNotInField");
    }
    for which in 0..5 {
        for i in 0..2 {
            let mut bad = good.clone();
            points(&mut bad)[which][i] += q;
            reverted_with(&call(&bad), "ProofCoordinateNotInField");
        }
    }
    // Points off the curve (A, B, C and every commitment and pok): a precompile fails.
    for i in [1usize, 3, 7] {
        let mut bad = good.clone();
        bad.proof[i] ^= U256::from(1);
        reverted_with(&call(&bad), "PrecompileFailed");
    }
    for which in 0..5 {
        let mut bad = good.clone();
        points(&mut bad)[which][1] ^= U256::from(1);
        reverted_with(&call(&bad), "PrecompileFailed");
    }
    // Truncated calldata never returns true.
    let mut short = inference_verify_calldata(&mx.st, &mx.proof);
    short.truncate(300);
    assert_ne!(e.chain.call(PROVIDER, v, short, U256::ZERO).unwrap().status, TxStatus::Success);
}

/// EIP-150: a starved precompile must revert the verifier, never make it return false.
#[test]
fn starved_verifier_reverts_never_returns_false() {
    let mx = m1();
    let e = &mut ix();
    let data = inference_verify_calldata(&mx.st, &mx.proof);
    let full = e.chain.call_with_gas(PROVIDER, e.v1, data.clone(), 2_000_000).unwrap();
    assert!(returned(&full));
    let mut starved = 0;
    let mut gas = 80_000u64;
    while gas < full.gas_used + 3_000 {
        let r = e.chain.call_with_gas(PROVIDER, e.v1, data.clone(), gas).unwrap();
        match &r.status {
            TxStatus::Success => assert!(bool::abi_decode(&r.output).unwrap(), "false for a valid proof at {gas} gas"),
            TxStatus::Reverted => {
                assert_eq!(veriflop_contracts::abi::decode_revert(&r.output), "PrecompileFailed");
                starved += 1;
            }
            TxStatus::Halted(_) => {}
        }
        gas += if gas + 12_000 > full.gas_used { 211 } else { 2_999 };
    }
    assert!(starved > 0, "no gas limit starved a precompile with gas left to revert");
}

#[test]
fn settles_through_the_escrow_and_pays_once() {
    let mx = m1();
    let e = &mut ix();
    let r = e.post(mx);
    let posted = event::<IJobEscrow::JobPosted>(&r);
    assert_eq!((posted.shape, posted.cmA, posted.cmB), (mx.shape(), digest_word(&mx.st.cm_in), mx.model()));
    let id = mx.job_id();
    ok(&e.send(PROVIDER, IJobEscrow::lockCall { jobId: id }.abi_encode(), STAKE));
    let before = e.balance(PROVIDER);
    let data = submit_inference_calldata(&mx.st, &mx.proof);
    // Another sender with the provider's calldata (front-running): the proof pays PROVIDER only.
    let r = e.send(OTHER, data.clone(), 0);
    reverted_with(&r, "LockedByOther");

    let r = e.send(PROVIDER, data.clone(), 0);
    ok(&r);
    let verifier_gas = r.gas_of_call_to(e.v1).unwrap();
    println!("submitInference (lock holder): tx {} gas, verifier call {} gas", r.gas_used, verifier_gas);
    let (t_verify, t_submit) = veriflop_contracts::INFERENCE_GAS_TARGETS;
    assert!(verifier_gas <= t_verify, "verifier call used {verifier_gas} gas");
    assert!(r.gas_used <= t_submit, "submitInference used {} gas", r.gas_used);
    // The settled cmC is the output point's digest: what delivery receipts name.
    let settled = event::<IJobEscrow::JobSettled>(&r);
    assert_eq!((settled.jobId, settled.provider, settled.cmC), (id, PROVIDER, digest_word(&mx.proof.cm_out)));
    assert_eq!(settled.cmC, digest_word(&commit_output(&mx.keys, &mx.output).unwrap()));
    assert_eq!(e.status(id), JobStatus::Paid);
    assert_eq!(e.balance(PROVIDER), before + PRICE + STAKE);
    assert_eq!(e.balance(e.escrow), 0);
    reverted_with(&e.send(PROVIDER, data, 0), "JobNotOpen");

    // Unlocked, from a job of the other model: the same path, gas without the lock.
    let m = m2();
    e.post(m);
    let r = e.send(PROVIDER, submit_inference_calldata(&m.st, &m.proof), 0);
    ok(&r);
    println!(
        "submitInference (unlocked): tx {} gas, verifier call {} gas",
        r.gas_used,
        r.gas_of_call_to(e.v2).unwrap()
    );
    assert!(r.gas_used <= t_submit);
}

#[test]
fn escrow_refuses_tampered_and_replayed_proofs() {
    let mx = m1();
    let e = &mut ix();
    e.post(mx);
    let (st, p) = (&mx.st, &mx.proof);
    let send = |e: &mut Ix, from: Address, st: &InferenceStatement, p: &InferenceProof| {
        e.send(from, submit_inference_calldata(st, p), 0)
    };
    let g = p.proof.clone();
    let tampered = InferenceProof { proof: ark_groth16::Proof { a: -g.a, ..g.clone() }, ..p.clone() };
    reverted_with(&send(e, PROVIDER, st, &tampered), "InvalidProof");
    let (cm, pok) = forged_output(mx);
    reverted_with(&send(e, PROVIDER, st, &InferenceProof { cm_out: cm, ..p.clone() }), "InvalidProof");
    reverted_with(&send(e, PROVIDER, st, &InferenceProof { cm_out: cm, pok_out: pok, ..p.clone() }), "InvalidProof");
    reverted_with(&send(e, PROVIDER, st, &InferenceProof { pok_hidden: -p.pok_hidden, ..p.clone() }), "InvalidProof");
    reverted_with(&send(e, PROVIDER, st, &InferenceProof { pok_out: -p.pok_out, ..p.clone() }), "InvalidProof");
    let shifted = InferenceProof { cm_hidden: shifted_hidden(mx), ..p.clone() };
    reverted_with(&send(e, PROVIDER, st, &shifted), "InvalidProof");
    // cm_in not the job's: refused before the proof.
    let mut x2 = mx.x.clone();
    x2[0] = x2[0].wrapping_add(1);
    let st_in = InferenceStatement { cm_in: mx.keys.commit_input(&x2).unwrap(), ..*st };
    reverted_with(&send(e, PROVIDER, &st_in, p), "CommitmentMismatch");
    // Off the curve / non-canonical, through the escrow.
    let mut d = IJobEscrow::submitInferenceCall::abi_decode(&submit_inference_calldata(st, p)).unwrap();
    d.pokOut[1] ^= U256::from(1);
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "PrecompileFailed");
    let mut d = IJobEscrow::submitInferenceCall::abi_decode(&submit_inference_calldata(st, p)).unwrap();
    d.cmHidden[1] += u(Q_HEX);
    reverted_with(&e.send(PROVIDER, d.abi_encode(), 0), "ProofCoordinateNotInField");
    // Another provider sending the honest calldata.
    reverted_with(&send(e, OTHER, st, p), "InvalidProof");

    // Replay to another job id: the same input and model posted again under another nonce.
    let n2 = nonce(4242);
    let data = e.post_call(&n2, mx.shape(), &st.cm_in, mx.model());
    let r = e.send(CLIENT, data, PRICE);
    ok(&r);
    let id2 = posted_id(&r);
    let replay = InferenceStatement { job_id: env_job_id(CLIENT, &n2).0, ..*st };
    assert_eq!(fr_u256(&replay.job_id), id2);
    reverted_with(&send(e, PROVIDER, &replay, p), "InvalidProof");

    // Nothing was paid; the honest proof still settles its own job.
    assert_eq!((e.status(mx.job_id()), e.status(id2)), (JobStatus::Open, JobStatus::Open));
    ok(&send(e, PROVIDER, st, p));
    assert_eq!((e.status(mx.job_id()), e.status(id2)), (JobStatus::Paid, JobStatus::Open));
}

/// Two models with the same (batch, d_in, d_out): each has its own registry entry,
/// and a job asking for one is never settled by a proof of the other.
#[test]
fn a_job_for_one_model_is_not_settled_by_another_models_proof() {
    let (m, o) = (m1(), m2());
    assert_eq!(m.shape(), o.shape());
    assert_ne!(m.model(), o.model());
    let e = &mut ix();
    // The registry: one entry per (shape, model), each the model's verifier.
    for (mx, v) in [(m, e.v1), (o, e.v2)] {
        let key = mx.key();
        let to = e.escrow;
        let out = e.chain.view(to, IJobEscrow::inferenceKeyCall { shape: mx.shape(), model: mx.model() }.abi_encode());
        assert_eq!(IJobEscrow::inferenceKeyCall::abi_decode_returns(&out.unwrap()).unwrap(), key);
        let out = e.chain.view(to, IJobEscrow::verifierOfCall { shape: key }.abi_encode()).unwrap();
        assert_eq!(IJobEscrow::verifierOfCall::abi_decode_returns(&out).unwrap(), v);
    }
    // Nothing under the bare shape id: it cannot be used as a key.
    let to = e.escrow;
    let out = e.chain.view(to, IJobEscrow::verifierOfCall { shape: m.shape() }.abi_encode()).unwrap();
    assert_eq!(IJobEscrow::verifierOfCall::abi_decode_returns(&out).unwrap(), Address::ZERO);

    // Job for model 1 (its input point under model 1's key).
    e.post(m);
    // Model 2's proof for this very job id and provider, on the same input batch under
    // model 2's key: its cm_in is not the job's.
    let mut rng = rand::rngs::StdRng::seed_from_u64(77);
    let other_model = model(2);
    let trace = run(&other_model, BATCH, &m.x).unwrap();
    let st2 = InferenceStatement {
        job_id: m.st.job_id,
        provider: m.st.provider,
        model_digest: other_model.digest(),
        cm_in: o.keys.commit_input(&m.x).unwrap(),
    };
    let p2 = prove(&o.keys, &other_model, &Witness::from(&trace), &st2, &mut rng).unwrap();
    assert!(verify(&o.keys, &st2, &p2), "a valid proof of model 2's run");
    reverted_with(&e.send(PROVIDER, submit_inference_calldata(&st2, &p2), 0), "CommitmentMismatch");

    // A job naming model 1 whose cmA is model 2's input point (so the input check
    // passes): the escrow calls model 1's verifier with model 1's word; refused.
    let n = nonce(9001);
    let data = e.post_call(&n, m.shape(), &st2.cm_in, m.model());
    let r = e.send(CLIENT, data, PRICE);
    ok(&r);
    let st3 = InferenceStatement { job_id: env_job_id(CLIENT, &n).0, ..st2 };
    let p3 = prove(&o.keys, &other_model, &Witness::from(&trace), &st3, &mut rng).unwrap();
    assert!(verify(&o.keys, &st3, &p3));
    reverted_with(&e.send(PROVIDER, submit_inference_calldata(&st3, &p3), 0), "InvalidProof");
    // Model 1's proof of job 1 replayed to this job: its input point is not this job's.
    let st_replay = InferenceStatement { job_id: st3.job_id, ..m.st };
    reverted_with(&e.send(PROVIDER, submit_inference_calldata(&st_replay, &m.proof), 0), "CommitmentMismatch");

    // A job naming a model word nobody registered cannot be posted.
    let data = e.post_call(&nonce(9002), m.shape(), &m.st.cm_in, m.model() + U256::from(1));
    reverted_with(&e.send(CLIENT, data, PRICE), "UnknownShape");
    // Model 2's job settles with model 2's proof only.
    e.post(o);
    let st_m1_as_m2 = InferenceStatement { job_id: o.st.job_id, ..m.st };
    reverted_with(&e.send(PROVIDER, submit_inference_calldata(&st_m1_as_m2, &m.proof), 0), "CommitmentMismatch");
    ok(&e.send(PROVIDER, submit_inference_calldata(&o.st, &o.proof), 0));
    ok(&e.send(PROVIDER, submit_inference_calldata(&m.st, &m.proof), 0));
}

#[test]
fn registry_of_inference_verifiers() {
    let mx = m1();
    let mut chain = Chain::new();
    for a in [OWNER, CLIENT, PROVIDER] {
        chain.fund(a, U256::from(100 * ETH));
    }
    let (escrow, _) = deploy_escrow(&mut chain, OWNER, OWNER).unwrap();
    let (v1, d) = deploy_inference_verifier(&mut chain, OWNER, &mx.keys).unwrap();
    println!("deploy InferenceVerifier: {} gas", d.gas_used);
    let mut e = Ix { chain, escrow, v1, v2: Address::ZERO };
    let shape = mx.shape();
    // Only the owner registers; the entry is the verifier's own model.
    reverted_with(
        &e.send(CLIENT, IJobEscrow::registerVerifierCall { shape, verifier: v1 }.abi_encode(), 0),
        "NotOwner",
    );
    // Dimensions other than the verifier's, another dtype, the halo2 system: refused.
    reverted_with(&e.register(shape + 1, v1), "VerifierShapeMismatch");
    reverted_with(&e.register(shape + (1 << 64), v1), "VerifierShapeMismatch");
    reverted_with(&e.register(shape ^ (3 << 96), v1), "UnknownCircuit");
    reverted_with(&e.register(shape | (1 << 112), v1), "UnknownCircuit");
    reverted_with(&e.register(shape, OTHER), "NotAContract");
    let r = e.register(shape, v1);
    ok(&r);
    let reg = event::<IJobEscrow::InferenceVerifierRegistered>(&r);
    assert_eq!((reg.shape, reg.model, reg.key, reg.verifier), (shape, mx.model(), mx.key(), v1));
    assert_eq!(event::<IJobEscrow::VerifierRegistered>(&r).shape, mx.key());
    println!("registerVerifier (inference): {} gas", r.gas_used);
    // Write-once.
    reverted_with(&e.register(shape, v1), "VerifierAlreadySet");
    // A matmul verifier cannot be registered for an inference shape (no such views).
    let (cv, _) = veriflop_contracts::settle::deploy_verifier(&mut e.chain, OWNER, &fx().vk).unwrap();
    let r = e.register(shape, cv);
    assert!(!r.is_success());
    // Retiring the (shape, model) entry stops new jobs for that model.
    e.post(mx);
    let key = mx.key();
    ok(&e.send(OWNER, IJobEscrow::retireShapeCall { shape: key }.abi_encode(), 0));
    let data = e.post_call(&nonce(31), shape, &mx.st.cm_in, mx.model());
    reverted_with(&e.send(CLIENT, data, PRICE), "UnknownShape");
    // The posted job still settles.
    ok(&e.send(PROVIDER, submit_inference_calldata(&mx.st, &mx.proof), 0));
}

/// Inference and matmul jobs each settle only through their own function.
#[test]
fn entry_points_refuse_the_other_family() {
    let mx = m1();
    let e = &mut ix();
    // A committed matmul verifier and job, on the same escrow.
    let (cv, _) = veriflop_contracts::settle::deploy_verifier(&mut e.chain, OWNER, &fx().vk).unwrap();
    ok(&e.register(fx().shape_id(), cv));
    let deadline = e.chain.time() + DEADLINE_IN;
    ok(&e.send(CLIENT, post_call(&fx().nonce, &fx().job, &fx().shape, deadline, WINDOW, STAKE), PRICE));
    e.post(mx);
    // The matmul proof through submitInference's path is impossible to encode the
    // same way; an inference submission naming the matmul job's id is refused by family.
    let st = InferenceStatement { job_id: fx().job.job_id.0, ..mx.st };
    reverted_with(&e.send(PROVIDER, submit_inference_calldata(&st, &mx.proof), 0), "WrongCircuit");
    // The committed matmul proof naming the inference job's id: refused by family.
    let mut b = fx().bundle_for(PROVIDER);
    b.statement.job_id = JobId(mx.st.job_id);
    reverted_with(&e.send(PROVIDER, veriflop_contracts::settle_calldata(&b), 0), "WrongCircuit");
    ok(&e.send(PROVIDER, veriflop_contracts::settle_calldata(&fx().bundle_for(PROVIDER)), 0));
    ok(&e.send(PROVIDER, submit_inference_calldata(&mx.st, &mx.proof), 0));
}

/// A delivery job: the settled cmC is the output point's digest, attested as for matmul jobs.
#[test]
fn delivery_receipts_name_the_output_digest() {
    use veriflop_contracts::delivery::{delivery_digest, sign_delivery};
    let mx = m1();
    let e = &mut ix();
    let set = attestors(2);
    let addrs: Vec<Address> = set.iter().map(|(_, a)| *a).collect();
    let p = IJobEscrow::postJobCall::abi_decode(&e.post_call(&mx.nonce, mx.shape(), &mx.st.cm_in, mx.model())).unwrap();
    let data = IJobEscrow::postJobWithDeliveryCall {
        nonce: p.nonce,
        shape: p.shape,
        cmA: p.cmA,
        cmB: p.cmB,
        deadline: p.deadline,
        lockWindow: p.lockWindow,
        lockStake: p.lockStake,
        attestors: addrs.clone(),
        threshold: 2,
    }
    .abi_encode();
    ok(&e.send(CLIENT, data, PRICE));
    let data = submit_inference_calldata(&mx.st, &mx.proof);
    let cm_c = digest_word(&mx.proof.cm_out).to_be_bytes::<32>();
    reverted_with(&e.send(PROVIDER, data.clone(), 0), "NotDelivered");
    let d = delivery_digest(e.chain.chain_id(), e.escrow.into_array(), &JobId(mx.st.job_id), cm_c);
    let sigs: Vec<[u8; 65]> = set.iter().map(|(k, _)| sign_delivery(k, &d)).collect();
    let attest = veriflop_contracts::attest_delivery_calldata(&JobId(mx.st.job_id), cm_c, &addrs, 2, &sigs);
    ok(&e.send(OTHER, attest, 0));
    ok(&e.send(PROVIDER, data, 0));
    assert_eq!(e.status(mx.job_id()), JobStatus::Paid);
}

/// A bundle as the service and the CLI hold it settles as its statement does:
/// the same calldata, and `settle_inference_in_evm` (what the main job runs)
/// pays the job through the model's verifier built from its `.ivk`, refusing a
/// key of another model.
#[test]
fn an_inference_bundle_settles_as_its_statement_does() {
    use veriflop_circuits::{CircuitKind, Dtype, Job, JobId, Shape};
    use veriflop_verifier::ProofBundle;
    let mx = m1();
    let vk = mx.keys.verifying_key();
    let bundle = ProofBundle::from_inference(&vk, JobId(mx.st.job_id), mx.st.provider, mx.st.cm_in, &mx.proof).unwrap();
    assert_eq!(veriflop_contracts::settle_calldata(&bundle), submit_inference_calldata(&mx.st, &mx.proof));
    assert_eq!(veriflop_contracts::verify_calldata(&bundle), inference_verify_calldata(&mx.st, &mx.proof));
    assert_eq!(veriflop_contracts::settle_function(&bundle), "submitInference");

    // The main job's settlement: a job of the demo escrow, proven for its id.
    let m = model(1);
    let nonce = nonce(1003);
    let st = InferenceStatement { job_id: veriflop_contracts::demo_job_id(&nonce).0, ..mx.st };
    let trace = run(&m, BATCH, &mx.x).unwrap();
    let proof = prove(&mx.keys, &m, &Witness::from(&trace), &st, &mut rand::rngs::OsRng).unwrap();
    let bundle = ProofBundle::from_inference(&vk, JobId(st.job_id), st.provider, st.cm_in, &proof).unwrap();
    let job = Job {
        job_id: JobId(st.job_id),
        system: Default::default(),
        circuit: CircuitKind::Inference,
        shape: Shape::new(BATCH as u32, 6, 3, Dtype::Int8).unwrap(),
        cm_a: bundle.statement.cm_a,
        cm_b: bundle.statement.cm_b,
    };
    let r = veriflop_contracts::settle_inference_in_evm(&vk, &job, &nonce, &bundle, 1000).unwrap();
    assert_eq!((r.status_before, r.status_after), (JobStatus::Open, JobStatus::Paid));
    assert!(r.gas.verifier_call > 0 && r.gas.submit_tx > r.gas.verifier_call);
    let other = m2().keys.verifying_key();
    let e = veriflop_contracts::settle_inference_in_evm(&other, &job, &nonce, &bundle, 1000).unwrap_err();
    assert!(e.to_string().contains("not for job"), "{e}");
}
