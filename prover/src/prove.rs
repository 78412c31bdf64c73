//! The Groth16 prover: synthesize → QAP (NTTs) → five MSMs, all on a [`Backend`].
//!
//! π = (A, B, C) with random r, s:
//!   A = α + Σ z_i·a_i(τ) + r·δ                      (G1)
//!   B = β + Σ z_i·b_i(τ) + s·δ                      (G2, and in G1 for C)
//!   C = Σ_{witness} z_i·l_i + Σ h_j·(τ^j Z(τ)/δ) + s·A + r·B_G1 − r·s·δ
//! which is what ark-groth16 computes, so its verifier accepts our proofs.

use std::time::{Duration, Instant};

use ark_bn254::{Bn254, Fr};
use ark_ec::CurveGroup;
use ark_ff::UniformRand;
use ark_groth16::{Proof, ProvingKey};
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisError};
use rand::{CryptoRng, RngCore};
use serde::Serialize;
use veriflop_circuits::{commit, cp, CircuitKind, JobId, MatmulCircuit, Statement, Witness};
use veriflop_verifier::bundle::{CommitmentProof, EvmG1};
use veriflop_verifier::ProofBundle;

use crate::backend::{Backend, BackendError};
use crate::committed;
use crate::qap;
use crate::setup::{KeyBody, ProverKey};

#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("the witness does not satisfy the circuit (constraint {0}): the result or the inputs are wrong")]
    Unsatisfied(usize),
    #[error("the witness does not fit the job (wrong matrix sizes or values out of range)")]
    BadWitness,
    #[error("constraint synthesis failed: {0}")]
    Synthesis(SynthesisError),
    #[error("the proving key does not fit this circuit: {0}")]
    KeyMismatch(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Where the time went, and how big the circuit was.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProveStats {
    pub constraints: usize,
    pub variables: usize,
    pub domain_size: usize,
    /// Data commitments (Poseidon hashes or Pedersen MSMs) and the challenge.
    #[serde(serialize_with = "secs")]
    pub commit: Duration,
    #[serde(serialize_with = "secs")]
    pub synthesis: Duration,
    #[serde(serialize_with = "secs")]
    pub ntt: Duration,
    #[serde(serialize_with = "secs")]
    pub msm: Duration,
    #[serde(serialize_with = "secs")]
    pub other: Duration,
    #[serde(serialize_with = "secs")]
    pub total: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Options for adversarial testing; production proving uses the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProveOptions {
    /// Produce a proof even if the witness is wrong (it will not verify).
    /// Only for tests that show a cheating prover is caught by the verifier.
    pub allow_unsatisfied: bool,
}

/// Callback for progress: called with a phase name as each phase starts.
pub type Progress<'a> = &'a dyn Fn(&'static str);

/// Proves that the witness's C is A·B for its job and provider, and packs the
/// proof with its statement (the witness's own commitments) into a bundle.
/// The circuit and shape are the key's.
pub fn prove_bundle<R: RngCore + CryptoRng>(
    key: &ProverKey,
    witness: Witness,
    backend: &dyn Backend,
    rng: &mut R,
    options: ProveOptions,
    progress: Progress,
) -> Result<(ProofBundle, ProveStats), ProveError> {
    let (kind, shape) = (key.header.kind, key.header.shape);
    let (w, s) = (&witness, &shape);
    let dims = (w.a.rows, w.a.cols, w.b.rows, w.b.cols, w.c.rows, w.c.cols);
    let (m, k, n) = (s.m as usize, s.k as usize, s.n as usize);
    if dims != (m, k, k, n, m, n) || w.a.check_dtype(s.dtype).is_err() || w.b.check_dtype(s.dtype).is_err() {
        return Err(ProveError::BadWitness);
    }
    if !kind.is_matmul() {
        return Err(ProveError::KeyMismatch(format!("a {kind} job is proven with its model's keys")));
    }
    let t = Instant::now();
    progress("commit");
    let (statement, cps, challenge) = match kind {
        CircuitKind::Committed => {
            let ck = key.commit_key().map_err(|e| ProveError::KeyMismatch(e.to_string()))?;
            if key.pok_bases().len() != w.c.data.len() {
                return Err(ProveError::KeyMismatch("σ-bases do not fit the shape".into()));
            }
            let widen = |v: &[i32]| v.iter().map(|&x| x as i128).collect::<Vec<_>>();
            let msm = |bases, values: &[i128]| backend.msm_g1_small(bases, values).map(|p| p.into_affine());
            let (cm_a, cm_b) = (msm(&ck.a, &widen(&w.a.data))?, msm(&ck.b, &widen(&w.b.data))?);
            let (cm_c, pok) = (msm(&ck.c, &w.c.data)?, msm(key.pok_bases(), &w.c.data)?);
            let st = Statement {
                job_id: JobId(w.job_id),
                provider: w.provider,
                shape,
                cm_a: cp::digest(&cm_a),
                cm_b: cp::digest(&cm_b),
                cm_c: cp::digest(&cm_c),
            };
            let r = cp::challenge(&cp::seed(&shape, w.job_id, &w.provider, [st.cm_a, st.cm_b, st.cm_c]));
            let points = [cm_a, cm_b, cm_c, pok].map(EvmG1);
            let cps = CommitmentProof { cm_a: points[0], cm_b: points[1], cm_c: points[2], pok: points[3] };
            (st, Some(cps), Some(r))
        }
        CircuitKind::Poseidon | CircuitKind::Naive => {
            let st = Statement {
                job_id: JobId(w.job_id),
                provider: w.provider,
                shape,
                cm_a: commit::commit_input(&shape, commit::Role::A, &w.a),
                cm_b: commit::commit_input(&shape, commit::Role::B, &w.b),
                cm_c: commit::commit_output(&shape, &w.c),
            };
            (st, None, None)
        }
        CircuitKind::Inference => unreachable!("refused above"),
    };
    let commit_time = t.elapsed();
    let (proof, mut stats) = match (&key.body, challenge) {
        (KeyBody::Committed(pk), Some(r)) => {
            committed::prove(pk, &shape, &witness, r, backend, rng, options, progress)?
        }
        (KeyBody::Generic(pk), None) => {
            prove(pk, MatmulCircuit::prove(kind, shape, witness, None), backend, rng, options, progress)?
        }
        _ => return Err(ProveError::KeyMismatch(format!("not a {kind} key"))),
    };
    stats.commit = commit_time;
    stats.total += commit_time;
    Ok((ProofBundle::new(kind, statement, proof, cps), stats))
}

pub fn prove<R: RngCore + CryptoRng>(
    pk: &ProvingKey<Bn254>,
    circuit: MatmulCircuit,
    backend: &dyn Backend,
    rng: &mut R,
    options: ProveOptions,
    progress: Progress,
) -> Result<(Proof<Bn254>, ProveStats), ProveError> {
    let start = Instant::now();
    let mut stats = ProveStats::default();

    progress("witness");
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    circuit.generate_constraints(cs.clone()).map_err(|e| match e {
        SynthesisError::Unsatisfiable => ProveError::BadWitness,
        e => ProveError::Synthesis(e),
    })?;
    cs.finalize();
    let matrices = cs.to_matrices().ok_or(ProveError::Synthesis(SynthesisError::MissingCS))?;
    let (inputs, witness) = {
        let cs = cs.borrow().ok_or(ProveError::Synthesis(SynthesisError::MissingCS))?;
        (cs.instance_assignment.clone(), cs.witness_assignment.clone())
    };
    drop(cs);
    let z = [inputs.as_slice(), witness.as_slice()].concat();
    stats.constraints = matrices.num_constraints;
    stats.variables = z.len();
    stats.domain_size = qap::domain_size(matrices.num_constraints, matrices.num_instance_variables).unwrap_or(0);
    if pk.a_query.len() != z.len() || pk.l_query.len() != witness.len() || pk.vk.gamma_abc_g1.len() != inputs.len() {
        return Err(ProveError::KeyMismatch(format!(
            "key has {} variables, circuit has {}",
            pk.a_query.len(),
            z.len()
        )));
    }
    stats.synthesis = start.elapsed();

    progress("qap");
    let q = qap::witness_map(&matrices, &z, backend)?;
    drop(matrices);
    if let (Some(i), false) = (q.first_unsatisfied, options.allow_unsatisfied) {
        return Err(ProveError::Unsatisfied(i));
    }
    stats.ntt = q.ntt_time;

    progress("msm");
    let t = Instant::now();
    let r = Fr::rand(rng);
    let s = Fr::rand(rng);
    let assignment = &z[1..];
    let g_a = pk.vk.alpha_g1 + pk.a_query[0] + backend.msm_g1(&pk.a_query[1..], assignment)? + pk.delta_g1 * r;
    let g1_b = pk.beta_g1 + pk.b_g1_query[0] + backend.msm_g1(&pk.b_g1_query[1..], assignment)? + pk.delta_g1 * s;
    let g2_b = pk.vk.beta_g2 + pk.b_g2_query[0] + backend.msm_g2(&pk.b_g2_query[1..], assignment)? + pk.vk.delta_g2 * s;
    let h_acc = backend.msm_g1(&pk.h_query, &q.h)?;
    let l_acc = backend.msm_g1(&pk.l_query, &witness)?;
    stats.msm = t.elapsed();
    let g_c = g_a * s + g1_b * r - pk.delta_g1 * (r * s) + l_acc + h_acc;
    let proof = Proof { a: g_a.into_affine(), b: g2_b.into_affine(), c: g_c.into_affine() };
    stats.total = start.elapsed();
    stats.other = stats.total.saturating_sub(stats.synthesis + stats.ntt + stats.msm);
    Ok((proof, stats))
}
