//! On-chain settlement of inference jobs (docs/PROTOCOL.md §16.7): the
//! `InferenceVerifier` of a model's keys, the calldata of its `verifyProof` and
//! of `JobEscrow.submitInference` for an [`InferenceProof`], and the registry
//! key of a (shape, model).
//!
//! An inference job is posted like a matmul job, with
//! - shape: system 0 (Groth16), circuit [`CIRCUIT_INFERENCE`], dtype int8,
//!   m = batch, k = d_in, n = d_out ([`inference_shape_id`]);
//! - cmA: the digest keccak256(x ‖ y) mod r of the input batch's commitment
//!   point cm_in ([`crate::settle::digest_word`]);
//! - cmB: the model word, the model digest mod r ([`model_word`]).
//!
//! The escrow looks the verifier up under [`inference_key`]`(shape, model)`, so
//! two models of the same dimensions have their own verifiers, and the verifier
//! refuses any model word but its own.

use alloy_sol_types::SolCall;
use ark_bn254::{Bn254, Fr, G2Affine};
use ark_ff::PrimeField;
use ark_groth16::VerifyingKey;
use revm::primitives::{keccak256, Address, U256};
use veriflop_infer::circuit::Group;
use veriflop_infer::job::{InferenceProof, InferenceStatement, ModelKeys};
use veriflop_infer::keys::ModelVk;
use veriflop_verifier::bundle::InferenceCommitments;
use veriflop_verifier::{Proof, ProofBundle};

use crate::abi::{IInferenceVerifier, IJobEscrow};
use crate::evm::{Chain, Receipt};
use crate::settle::{fr_u256, point_words, proof_words};
use crate::solidity::{g1_words, g2_words};
use crate::{artifacts, Error};

/// The circuit code of inference jobs in a shape id (bits 104–111).
pub const CIRCUIT_INFERENCE: u8 = 4;
/// The dtype code of inference jobs (int8 activations).
pub const DTYPE_INT8: u8 = 1;
/// Number of key words the `InferenceVerifier` constructor takes: α, β, γ, δ,
/// IC₀ (constant), IC₁ (r), IC₂ (α), [σ_hidden]₂, [σ_out]₂.
pub const INFERENCE_VK_WORDS: usize = 2 + 3 * 4 + 3 * 2 + 2 * 4;

/// What an inference verifier is deployed with: the parts of a model's keys
/// that verification needs (constant size whatever the model).
#[derive(Clone, Debug)]
pub struct InferenceVerifierKey<'a> {
    pub model_digest: [u8; 32],
    pub batch: usize,
    pub d_in: usize,
    pub d_out: usize,
    pub vk: &'a VerifyingKey<Bn254>,
    pub sigma_hidden_g2: G2Affine,
    pub sigma_out_g2: G2Affine,
}

impl<'a> InferenceVerifierKey<'a> {
    /// From a model's keys (the widths from its input and output groups).
    pub fn from_model_keys(keys: &'a ModelKeys) -> Result<Self, Error> {
        let count = |g: Group| keys.groups.iter().filter(|x| **x == g).count();
        let (inputs, outputs) = (count(Group::Input), count(Group::Output));
        if keys.batch == 0 || inputs % keys.batch != 0 || outputs % keys.batch != 0 {
            return Err(Error::Input(format!(
                "model keys for batch {} with {inputs} input and {outputs} output values",
                keys.batch
            )));
        }
        Ok(InferenceVerifierKey {
            model_digest: keys.model_digest,
            batch: keys.batch,
            d_in: inputs / keys.batch,
            d_out: outputs / keys.batch,
            vk: &keys.vk,
            sigma_hidden_g2: keys.sigma_hidden_g2,
            sigma_out_g2: keys.sigma_out_g2,
        })
    }

    /// From a model's verifying key file (`.ivk`): what a verifier deploying
    /// the contract holds.
    pub fn from_model_vk(vk: &'a ModelVk) -> Self {
        InferenceVerifierKey {
            model_digest: vk.model_digest,
            batch: vk.batch,
            d_in: vk.d_in,
            d_out: vk.d_out,
            vk: &vk.vk,
            sigma_hidden_g2: vk.sigma_hidden_g2,
            sigma_out_g2: vk.sigma_out_g2,
        }
    }

    /// The key as the constructor's 32-byte words ([`INFERENCE_VK_WORDS`]).
    pub fn words(&self) -> Result<Vec<[u8; 32]>, Error> {
        let vk = self.vk;
        if vk.gamma_abc_g1.len() < 3 {
            return Err(Error::Input(format!(
                "an inference key has at least 3 input points, not {}",
                vk.gamma_abc_g1.len()
            )));
        }
        let mut w = Vec::with_capacity(INFERENCE_VK_WORDS);
        w.extend(g1_words(&vk.alpha_g1));
        w.extend(g2_words(&vk.beta_g2));
        w.extend(g2_words(&vk.gamma_g2));
        w.extend(g2_words(&vk.delta_g2));
        for p in &vk.gamma_abc_g1[..3] {
            w.extend(g1_words(p));
        }
        w.extend(g2_words(&self.sigma_hidden_g2));
        w.extend(g2_words(&self.sigma_out_g2));
        debug_assert_eq!(w.len(), INFERENCE_VK_WORDS);
        Ok(w)
    }

    /// The registry's shape id of this key's jobs ([`inference_shape_id`]).
    pub fn shape_id(&self) -> Result<u128, Error> {
        inference_shape_id(self.batch, self.d_in, self.d_out)
    }

    /// The model word ([`model_word`]).
    pub fn model_word(&self) -> U256 {
        model_word(&self.model_digest)
    }
}

/// The model word jobs name a model by: its digest (32 bytes, big-endian) mod r.
/// It is what `JobEscrow` records as an inference job's cmB (below r, like every
/// commitment the escrow records) and what `InferenceVerifier.model()` returns.
pub fn model_word(digest: &[u8; 32]) -> U256 {
    fr_u256(&Fr::from_be_bytes_mod_order(digest))
}

/// Shape id of inference jobs: `0 << 112 | 4 << 104 | 1 << 96 | batch << 64 | d_in << 32 | d_out`.
pub fn inference_shape_id(batch: usize, d_in: usize, d_out: usize) -> Result<u128, Error> {
    let dim = |x: usize, what: &str| -> Result<u128, Error> {
        u32::try_from(x).map(u128::from).map_err(|_| Error::Input(format!("{what} {x} does not fit a shape id")))
    };
    Ok((CIRCUIT_INFERENCE as u128) << 104
        | (DTYPE_INT8 as u128) << 96
        | dim(batch, "batch")? << 64
        | dim(d_in, "input width")? << 32
        | dim(d_out, "output width")?)
}

/// `JobEscrow.inferenceKey(shape, model)`: the low 128 bits of
/// `keccak256(abi.encode(shape, model))` with bits 104–119 set to (system 0,
/// circuit 4). The verifier of inference jobs of `shape` naming `model` is
/// registered under it.
pub fn inference_key(shape: u128, model: U256) -> u128 {
    let mut pre = [0u8; 64];
    pre[16..32].copy_from_slice(&shape.to_be_bytes());
    pre[32..].copy_from_slice(&model.to_be_bytes::<32>());
    let h = keccak256(pre);
    let low = u128::from_be_bytes(h[16..].try_into().expect("16 bytes"));
    (low & !(0xffffu128 << 104)) | (CIRCUIT_INFERENCE as u128) << 104
}

/// Constructor arguments of `InferenceVerifier(uint256[28] vk, bytes32 digest,
/// uint32 batch, uint32 dIn, uint32 dOut)`.
pub fn inference_verifier_args(key: &InferenceVerifierKey<'_>) -> Result<Vec<u8>, Error> {
    let mut args = key.words()?.concat();
    args.extend(key.model_digest);
    inference_shape_id(key.batch, key.d_in, key.d_out)?;
    for x in [key.batch, key.d_in, key.d_out] {
        args.extend(U256::from(x).to_be_bytes::<32>());
    }
    Ok(args)
}

/// Creation code of a model's `InferenceVerifier` (the committed artifact and
/// the key's constructor arguments).
pub fn inference_verifier_initcode(key: &InferenceVerifierKey<'_>) -> Result<Vec<u8>, Error> {
    Ok(artifacts::inference_verifier().initcode(&inference_verifier_args(key)?))
}

/// Deploys a model's `InferenceVerifier`.
pub fn deploy_inference_verifier(
    chain: &mut Chain,
    from: Address,
    keys: &ModelKeys,
) -> Result<(Address, Receipt), Error> {
    chain.deploy(from, inference_verifier_initcode(&InferenceVerifierKey::from_model_keys(keys)?)?)
}

/// The prover's points as the contracts take them: `[cmHidden, cmOut, pokHidden, pokOut]`.
fn prover_points(p: &InferenceProof) -> [[U256; 2]; 4] {
    [&p.cm_hidden, &p.cm_out, &p.pok_hidden, &p.pok_out].map(point_words)
}

/// ABI-encoded `InferenceVerifier.verifyProof(proof, cmIn, cmHidden, cmOut,
/// pokHidden, pokOut, jobId, provider, model)` for a proof and its statement
/// (the model word from the statement's digest).
pub fn inference_verify_calldata(st: &InferenceStatement, p: &InferenceProof) -> Vec<u8> {
    let [cm_hidden, cm_out, pok_hidden, pok_out] = prover_points(p);
    IInferenceVerifier::verifyProofCall {
        proof: proof_words(&p.proof),
        cmIn: point_words(&st.cm_in),
        cmHidden: cm_hidden,
        cmOut: cm_out,
        pokHidden: pok_hidden,
        pokOut: pok_out,
        jobId: fr_u256(&st.job_id),
        provider: Address::from(st.provider.0),
        model: model_word(&st.model_digest),
    }
    .abi_encode()
}

/// ABI-encoded `JobEscrow.submitInference(jobId, proof, cmIn, cmHidden, cmOut,
/// pokHidden, pokOut)`: what the statement's provider sends to settle its job
/// (the escrow takes the model and the provider, msg.sender, from the job record
/// and the transaction).
pub fn submit_inference_calldata(st: &InferenceStatement, p: &InferenceProof) -> Vec<u8> {
    let [cm_hidden, cm_out, pok_hidden, pok_out] = prover_points(p);
    IJobEscrow::submitInferenceCall {
        jobId: fr_u256(&st.job_id),
        proof: proof_words(&p.proof),
        cmIn: point_words(&st.cm_in),
        cmHidden: cm_hidden,
        cmOut: cm_out,
        pokHidden: pok_hidden,
        pokOut: pok_out,
    }
    .abi_encode()
}

/// An inference bundle's Groth16 proof and points ([`ProofBundle::from_inference`]).
fn bundle_parts(b: &ProofBundle) -> Option<(&ark_groth16::Proof<Bn254>, &InferenceCommitments)> {
    match (&b.proof, &b.inference) {
        (Proof::Groth16Bn254(p), Some(i)) => Some((&p.0, i)),
        _ => None,
    }
}

/// [`submit_inference_calldata`] for an inference bundle (None for any other bundle).
pub fn bundle_submit_calldata(b: &ProofBundle) -> Option<Vec<u8>> {
    let (proof, i) = bundle_parts(b)?;
    Some(
        IJobEscrow::submitInferenceCall {
            jobId: fr_u256(&b.statement.job_id.0),
            proof: proof_words(proof),
            cmIn: point_words(&i.cm_in.0),
            cmHidden: point_words(&i.cm_hidden.0),
            cmOut: point_words(&i.cm_out.0),
            pokHidden: point_words(&i.pok_hidden.0),
            pokOut: point_words(&i.pok_out.0),
        }
        .abi_encode(),
    )
}

/// [`inference_verify_calldata`] for an inference bundle, the model word from
/// its statement's cm_b (None for any other bundle).
pub fn bundle_verify_calldata(b: &ProofBundle) -> Option<Vec<u8>> {
    let (proof, i) = bundle_parts(b)?;
    Some(
        IInferenceVerifier::verifyProofCall {
            proof: proof_words(proof),
            cmIn: point_words(&i.cm_in.0),
            cmHidden: point_words(&i.cm_hidden.0),
            cmOut: point_words(&i.cm_out.0),
            pokHidden: point_words(&i.pok_hidden.0),
            pokOut: point_words(&i.pok_out.0),
            jobId: fr_u256(&b.statement.job_id.0),
            provider: Address::from(b.statement.provider.0),
            model: fr_u256(&b.statement.cm_b),
        }
        .abi_encode(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_ids_and_keys() {
        let s = inference_shape_id(2, 6, 3).unwrap();
        assert_eq!(s, 4 << 104 | 1 << 96 | 2 << 64 | 6 << 32 | 3);
        assert!(inference_shape_id(1 << 32, 1, 1).is_err());
        let k = inference_key(s, U256::from(7));
        assert_eq!((k >> 104) & 0xffff, 4, "system 0, circuit 4");
        assert_ne!(k, inference_key(s, U256::from(8)));
        assert_ne!(k, inference_key(s + 1, U256::from(7)));
    }

    #[test]
    fn model_word_is_the_digest_mod_r() {
        assert_eq!(model_word(&[0; 32]), U256::ZERO);
        let r = U256::from_str_radix(&crate::solidity::R_HEX[2..], 16).unwrap();
        let d = [0xff; 32];
        assert_eq!(model_word(&d), U256::from_be_bytes(d) % r);
    }
}
