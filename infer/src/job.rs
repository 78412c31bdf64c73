//! Commit-and-prove for inference (docs/PROTOCOL.md §16.5), with arkworks'
//! Groth16 and a model-specific key.
//!
//! The values the challenges act on are public inputs of the committed circuit
//! ([`InferenceCircuit::committed`]), grouped ([`instance_groups`]). No verifier
//! sees them: it needs only Σ x_i·IC_i over each group, the commitments
//! - cm_in over the client's input X_0,
//! - cm_hidden over accumulators, hidden activations, d, e and multiplicities,
//! - cm_out over the output X_L.
//!
//! The prover commits first, then derives r and α from the job, the provider,
//! the model and the three commitments' digests, then proves. cm_hidden and
//! cm_out are the prover's, so each comes with a proof of knowledge of its
//! opening: pok = σ_g·cm_g, computable only as Σ x_i·(σ_g·IC_i) from the
//! proving key's σ-bases, and checked by e(pok, G₂) = e(cm, [σ_g]₂).
//!
//! This is the relation's first integration: the job kind, the service, the
//! escrow and a structured prover come next.

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{PrimeField, UniformRand};
use ark_groth16::{Proof, ProvingKey, VerifyingKey};
use rand::{CryptoRng, RngCore};
use sha3::{Digest, Keccak256};
use std::time::Instant;
use veriflop_circuits::cp::digest;
use veriflop_circuits::statement::Address;

use crate::circuit::{instance_groups, Challenges, Group, Witness, DENSE_BUDGET};
use crate::model::Model;
use crate::prover::{self, ProveStats};
use crate::Error;

const FS_TAG: &[u8] = b"veriflop/v1/inference";

/// A model's keys for one batch size.
pub struct ModelKeys {
    pub model_digest: [u8; 32],
    pub batch: usize,
    /// The circuit's dense-row budget ([`crate::circuit::dense_layers`]).
    pub dense_budget: u64,
    pub pk: ProvingKey<Bn254>,
    pub vk: VerifyingKey<Bn254>,
    /// Group of each public input after 1, r, α.
    pub groups: Vec<Group>,
    /// σ_hidden·IC_i and σ_out·IC_i over their groups' inputs, in order.
    pub pok_hidden: Vec<G1Affine>,
    pub pok_out: Vec<G1Affine>,
    /// [σ_hidden]₂, [σ_out]₂.
    pub sigma_hidden_g2: G2Affine,
    pub sigma_out_g2: G2Affine,
}

/// What a provider hands over: the proof, its two commitments and their proofs of knowledge.
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceProof {
    pub proof: Proof<Bn254>,
    pub cm_hidden: G1Affine,
    pub cm_out: G1Affine,
    pub pok_hidden: G1Affine,
    pub pok_out: G1Affine,
}

/// The public statement: who is paid, for which job, model and input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InferenceStatement {
    pub job_id: Fr,
    pub provider: Address,
    pub model_digest: [u8; 32],
    pub cm_in: G1Affine,
}

pub(crate) const SKIP: usize = 3; // IC[0] = 1, IC[1] = r, IC[2] = α

impl ModelKeys {
    /// Development setup (trusted: whoever runs it knows the trapdoors).
    pub fn setup<R: RngCore + CryptoRng>(model: &Model, batch: usize, rng: &mut R) -> Result<Self, Error> {
        Self::setup_with_budget(model, batch, DENSE_BUDGET, rng)
    }

    /// [`ModelKeys::setup`] with another dense-row budget: 0 checks every
    /// layer by Freivalds (how tests reach that path on small models).
    pub fn setup_with_budget<R: RngCore + CryptoRng>(
        model: &Model,
        batch: usize,
        dense_budget: u64,
        rng: &mut R,
    ) -> Result<Self, Error> {
        model.validate()?;
        let pk = crate::setup::generate(model, batch, dense_budget, rng)?;
        let vk = pk.vk.clone();
        let groups = instance_groups(model, batch, dense_budget);
        if vk.gamma_abc_g1.len() != SKIP + groups.len() {
            return Err(Error::Model("the committed circuit's inputs do not match its groups".into()));
        }
        let (sh, so) = (Fr::rand(rng), Fr::rand(rng));
        let scaled = |g: Group, s: Fr| -> Vec<G1Affine> {
            let pts: Vec<G1Projective> = bases(&vk, &groups, g).into_iter().map(|p| p * s).collect();
            G1Projective::normalize_batch(&pts)
        };
        let g2 = G2Affine::generator();
        Ok(ModelKeys {
            model_digest: model.digest(),
            batch,
            dense_budget,
            pok_hidden: scaled(Group::Hidden, sh),
            pok_out: scaled(Group::Output, so),
            sigma_hidden_g2: (g2 * sh).into_affine(),
            sigma_out_g2: (g2 * so).into_affine(),
            pk,
            vk,
            groups,
        })
    }

    /// Keys from a proving key made elsewhere (a phase-2 ceremony,
    /// `veriflop-prover ceremony`) and its σ part: the σ-bases must be
    /// the hidden and output groups' lengths; whether they are σ times the
    /// input bases is the ceremony's check.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        model: &Model,
        batch: usize,
        dense_budget: u64,
        pk: ProvingKey<Bn254>,
        pok_hidden: Vec<G1Affine>,
        pok_out: Vec<G1Affine>,
        sigma_hidden_g2: G2Affine,
        sigma_out_g2: G2Affine,
    ) -> Result<Self, Error> {
        let groups = instance_groups(model, batch, dense_budget);
        let count = |g: Group| groups.iter().filter(|x| **x == g).count();
        if pk.vk.gamma_abc_g1.len() != SKIP + groups.len()
            || pok_hidden.len() != count(Group::Hidden)
            || pok_out.len() != count(Group::Output)
        {
            return Err(Error::Key(format!("the key does not fit the model at batch {batch}")));
        }
        Ok(ModelKeys {
            model_digest: model.digest(),
            batch,
            dense_budget,
            vk: pk.vk.clone(),
            pk,
            groups,
            pok_hidden,
            pok_out,
            sigma_hidden_g2,
            sigma_out_g2,
        })
    }

    /// The client's commitment to its input batch (batch × d_in, int8).
    pub fn commit_input(&self, input: &[i8]) -> Result<G1Affine, Error> {
        commit_group(self, Group::Input, input)
    }
}

/// The committed circuit's whole R1CS for (model, batch, dense-row budget),
/// dense layers' weight terms included, as a ceremony evaluates it (the
/// prover's [`prover::prepare`] and [`crate::setup`] leave those terms out).
pub fn setup_matrices(
    model: &Model,
    batch: usize,
    dense_budget: u64,
) -> Result<ark_relations::r1cs::ConstraintMatrices<Fr>, Error> {
    model.validate()?;
    prover::synthesize(model, batch, dense_budget, false)
}

/// Σ x_i·IC_i over a group's bases; the values must fill the group exactly.
fn commit_group(keys: &ModelKeys, g: Group, values: &[i8]) -> Result<G1Affine, Error> {
    commit_values(&bases(&keys.vk, &keys.groups, g), values, &format!("{g:?}"))
}

/// Σ x_i·B_i; `values` must have one entry per base.
pub(crate) fn commit_values(bases: &[G1Affine], values: &[i8], what: &str) -> Result<G1Affine, Error> {
    if bases.len() != values.len() {
        return Err(Error::Shape(format!("{} values for a commitment to {} ({what})", values.len(), bases.len())));
    }
    let vals: Vec<Fr> = values.iter().map(|&x| Fr::from(x as i64)).collect();
    Ok(msm(bases, &vals))
}

/// The key's input bases of one group, in order.
fn bases(vk: &VerifyingKey<Bn254>, groups: &[Group], g: Group) -> Vec<G1Affine> {
    groups.iter().zip(&vk.gamma_abc_g1[SKIP..]).filter(|(x, _)| **x == g).map(|(_, p)| *p).collect()
}

fn msm(bases: &[G1Affine], scalars: &[Fr]) -> G1Affine {
    G1Projective::msm(bases, scalars).expect("equal lengths").into_affine()
}

fn keccak_fr(parts: &[&[u8]]) -> Fr {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    Fr::from_be_bytes_mod_order(&h.finalize())
}

/// r and α: keccak256 over the tag, the statement and the prover's commitments.
pub fn challenges(st: &InferenceStatement, batch: usize, cm_hidden: &G1Affine, cm_out: &G1Affine) -> Challenges {
    let mut provider = [0u8; 32];
    provider[12..].copy_from_slice(&st.provider.0);
    let mut h = Keccak256::new();
    h.update(FS_TAG);
    h.update(veriflop_circuits::field::fr_to_bytes(&st.job_id));
    h.update(provider);
    h.update(st.model_digest);
    h.update((batch as u64).to_be_bytes());
    for p in [&st.cm_in, cm_hidden, cm_out] {
        h.update(veriflop_circuits::field::fr_to_bytes(&digest(p)));
    }
    let seed: [u8; 32] = h.finalize().into();
    Challenges { r: keccak_fr(&[&seed, &[1]]), alpha: keccak_fr(&[&seed, &[2]]) }
}

/// Proves that `witness` is the model's run on the committed input.
pub fn prove<R: RngCore + CryptoRng>(
    keys: &ModelKeys,
    model: &Model,
    witness: &Witness,
    st: &InferenceStatement,
    rng: &mut R,
) -> Result<InferenceProof, Error> {
    prove_with_stats(keys, model, witness, st, rng).map(|(p, _)| p)
}

/// [`prove`], with where its time went.
///
/// The committed values do not depend on the challenges: they are computed
/// from the run and committed first; then r and α are derived, the full
/// assignment is computed from the run, and [`crate::prover`] makes an
/// ordinary Groth16 proof with the model's keys and cached matrices (which
/// also check that the run satisfies the circuit: [`Error::Unsatisfied`]).
pub fn prove_with_stats<R: RngCore + CryptoRng>(
    keys: &ModelKeys,
    model: &Model,
    witness: &Witness,
    st: &InferenceStatement,
    rng: &mut R,
) -> Result<(InferenceProof, ProveStats), Error> {
    if model.digest() != keys.model_digest || st.model_digest != keys.model_digest || witness.batch != keys.batch {
        return Err(Error::Model("the keys are for another model or batch".into()));
    }
    let start = Instant::now();
    let mut stats = ProveStats::default();
    let t = Instant::now();
    let prep = prover::prepare(model, keys.batch, keys.dense_budget)?;
    stats.prepare = t.elapsed();
    (stats.constraints, stats.instance, stats.witness, stats.domain_size) =
        (prep.num_constraints, prep.num_instance, prep.num_witness, prep.domain_size);
    stats.rows = crate::qap::rows(prep.num_constraints, &prep.extra_rows);
    if prep.num_instance != keys.vk.gamma_abc_g1.len()
        || keys.groups.len() + SKIP != prep.num_instance
        || keys.pk.a_query.len() != prep.num_instance + prep.num_witness
        || keys.pk.h_query.len() != prep.domain_size
    {
        return Err(Error::Model("the keys do not fit the model's circuit".into()));
    }

    let t = Instant::now();
    let values = prover::committed_values(model, witness, &prep.dense)?;
    stats.committed_values = t.elapsed();
    let t = Instant::now();
    let group =
        |g: Group| -> Vec<i64> { keys.groups.iter().zip(&values).filter(|(x, _)| **x == g).map(|(_, v)| *v).collect() };
    let (hidden, out) = (group(Group::Hidden), group(Group::Output));
    let cm_hidden = prover::commit(&bases(&keys.vk, &keys.groups, Group::Hidden), &hidden);
    let cm_out = prover::commit(&bases(&keys.vk, &keys.groups, Group::Output), &out);
    let pok_hidden = prover::commit(&keys.pok_hidden, &hidden);
    let pok_out = prover::commit(&keys.pok_out, &out);
    stats.commitments = t.elapsed();

    let ch = challenges(st, keys.batch, &cm_hidden, &cm_out);
    let t = Instant::now();
    let z = prover::direct_assignment(model, witness, ch, &values, &prep)?;
    stats.synthesis = t.elapsed();
    let folded = prover::folded_values(model, witness, &prep);
    let proof = prover::groth16(&keys.pk, &prep, &z, &folded, rng, &mut stats)?;
    stats.total = start.elapsed();
    Ok((InferenceProof { proof, cm_hidden, cm_out, pok_hidden, pok_out }, stats))
}

/// Checks a proof against the statement (see [`crate::keys::ModelVk::verify`]).
pub fn verify(keys: &ModelKeys, st: &InferenceStatement, p: &InferenceProof) -> bool {
    keys.verifying_key().verify(st, p)
}

/// The commitment to an output batch under a model's keys (what delivery checks).
pub fn commit_output(keys: &ModelKeys, output: &[i8]) -> Result<G1Affine, Error> {
    commit_group(keys, Group::Output, output)
}
