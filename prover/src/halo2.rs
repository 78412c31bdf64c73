//! Proving with the second proof system, halo2-KZG (crate `veriflop-halo2`):
//! keys for the shape are derived from the universal SRS (or loaded from the
//! key cache next to it, see `veriflop_halo2::keycache`), then the proof is
//! packed into a bundle like a Groth16 one. halo2 proves the Poseidon-committed
//! statement, so the job must be a `poseidon` job.

use std::time::{Duration, Instant};

use serde::Serialize;
use veriflop_circuits::commit::{self, Role};
use veriflop_circuits::{execute, JobId, Shape, Statement, Witness};
use veriflop_halo2::Srs;
use veriflop_verifier::ProofBundle;

#[derive(Debug, thiserror::Error)]
pub enum Halo2Error {
    #[error("deriving the halo2 keys: {0}")]
    Keygen(#[from] veriflop_halo2::KeygenError),
    #[error(transparent)]
    Prove(#[from] veriflop_halo2::ProveError),
    #[error(transparent)]
    Input(#[from] veriflop_circuits::Error),
}

/// Where the time went.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Halo2Stats {
    /// log2 of the circuit's rows.
    pub k: u32,
    pub proof_bytes: usize,
    /// Poseidon commitments of A, B, C (the public inputs).
    #[serde(serialize_with = "secs")]
    pub commit: Duration,
    /// Obtaining the shape's keys: deriving them from the SRS (no trusted
    /// setup) or loading them from the key cache (see `key_source`).
    #[serde(serialize_with = "secs")]
    pub keygen: Duration,
    /// Where the keys came from: "derived" (from the SRS), "loaded" (from the
    /// key cache) or "given" (by the caller).
    pub key_source: &'static str,
    #[serde(serialize_with = "secs")]
    pub prove: Duration,
    #[serde(serialize_with = "secs")]
    pub total: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The SRS size a shape needs: log2 of its circuit's rows.
pub fn srs_k(shape: &Shape) -> u32 {
    veriflop_halo2::circuit_k(shape)
}

/// Proves that the witness's C is A·B for its job and provider with halo2, and
/// packs the proof with its statement into a bundle. Derives the shape's keys
/// from the SRS first (`stats.keygen`). Refuses a wrong C.
pub fn prove_halo2_bundle(
    srs: &Srs,
    shape: &Shape,
    witness: &Witness,
) -> Result<(ProofBundle, Halo2Stats), Halo2Error> {
    let total = Instant::now();
    check_witness(shape, witness)?;
    let t = Instant::now();
    let (pk, _) = veriflop_halo2::keygen(shape, srs)?;
    let keygen = t.elapsed();
    let (bundle, stats) = prove_halo2_with_key(&pk, witness)?;
    Ok((bundle, Halo2Stats { keygen, key_source: "derived", total: total.elapsed(), ..stats }))
}

/// [`prove_halo2_bundle`] with the shape's proving key already at hand
/// (`stats.keygen` is zero, `stats.key_source` "given").
pub fn prove_halo2_with_key(
    pk: &veriflop_halo2::ProverKey,
    witness: &Witness,
) -> Result<(ProofBundle, Halo2Stats), Halo2Error> {
    let total = Instant::now();
    let (shape, w) = (&pk.shape, witness);
    check_witness(shape, w)?;
    let t = Instant::now();
    let cm_a = commit::commit_input(shape, Role::A, &w.a);
    let cm_b = commit::commit_input(shape, Role::B, &w.b);
    let cm_c = commit::commit_output(shape, &w.c);
    let commit = t.elapsed();
    let t = Instant::now();
    let proof = veriflop_halo2::prove(pk, w.job_id, w.provider.to_fr(), &w.a, &w.b, &w.c)?;
    let prove = t.elapsed();
    let statement = Statement { job_id: JobId(w.job_id), provider: w.provider, shape: *shape, cm_a, cm_b, cm_c };
    let stats = Halo2Stats {
        k: pk.k(),
        proof_bytes: proof.len(),
        commit,
        keygen: Duration::ZERO,
        key_source: "given",
        prove,
        total: total.elapsed(),
    };
    Ok((ProofBundle::halo2(statement, proof), stats))
}

/// A and B fit the shape and C has its size (cheap; before any key work).
pub fn check_witness(shape: &Shape, w: &Witness) -> Result<(), Halo2Error> {
    let (m, n) = (shape.m as usize, shape.n as usize);
    execute::check_inputs(shape, &w.a, &w.b)?;
    if (w.c.rows, w.c.cols) != (m, n) {
        return Err(Halo2Error::Input(veriflop_circuits::Error::Shape(format!(
            "C is {}×{}, the job needs {m}×{n}",
            w.c.rows, w.c.cols
        ))));
    }
    Ok(())
}
