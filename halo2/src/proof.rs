//! Keys, proving and verification.
//!
//! Proofs use SHPLONK multi-opening and snark-verifier's keccak `EvmTranscript`,
//! so the same bytes verify natively here and in the generated EVM verifier.
//! A proof for a given verifying key has one exact length (it depends only on
//! the constraint system), which the verifier checks before reading anything.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, keygen_pk, keygen_vk_custom, verify_proof, ProvingKey, VerifyingKey};
use halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use snark_verifier::loader::native::NativeLoader;
use snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use veriflop_circuits::commit::Role;
use veriflop_circuits::execute::{check_inputs, matmul};
use veriflop_circuits::{InputMatrix, OutputMatrix, Shape};

use crate::circuit::{MatmulCircuit, MatmulWitness, ShapeParam, NUM_INSTANCES};
use crate::encode::Encoding;
use crate::field::from_ark;
use crate::layout::Layout;
use crate::srs::{Srs, SrsError, SrsFingerprint};

/// Hard limit on proof bytes accepted before any parsing (the largest shapes'
/// proofs are a few KiB: the size depends on the column count, not the shape).
pub const MAX_PROOF_BYTES: usize = 16 * 1024;

/// Public inputs in the order of the Groth16 path: job_id, provider, cm_A, cm_B, cm_C
/// (`veriflop_circuits::Statement::public_inputs()`).
pub type PublicInputs = [ark_bn254::Fr; NUM_INSTANCES];

#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    #[error(transparent)]
    Srs(#[from] SrsError),
    #[error("halo2 key generation failed: {0}")]
    Halo2(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("input: {0}")]
    Input(#[from] veriflop_circuits::Error),
    #[error("C is not A·B (first difference at entry {0}); refusing to prove a false statement")]
    WrongResult(usize),
    #[error("halo2 prover failed: {0}")]
    Halo2(String),
}

/// Why a proof was rejected. Every malformed input maps to one of these; none panics.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("proof is {got} bytes; this key's proofs are exactly {expected}")]
    Length { got: usize, expected: usize },
    #[error("proof bytes do not decode: {0}")]
    Decode(String),
    #[error("proof does not verify for these public inputs and key")]
    Invalid,
}

/// Everything a prover needs for one shape: the halo2 proving key and the
/// first 2^k powers of the SRS with their Lagrange basis (shared with the SRS
/// when the circuit has its size).
pub struct ProverKey {
    pub shape: Shape,
    pub(crate) pk: ProvingKey<G1Affine>,
    pub(crate) params: Arc<ParamsKZG<Bn256>>,
    pub(crate) proof_len: usize,
}

/// Everything a verifier needs for one shape: the halo2 verifying key and the
/// three SRS points KZG verification uses.
#[derive(Clone)]
pub struct VerifierKey {
    pub shape: Shape,
    pub(crate) vk: VerifyingKey<G1Affine>,
    pub(crate) params: ParamsKZG<Bn256>,
    pub(crate) proof_len: usize,
}

impl ProverKey {
    /// log2 of the circuit's rows.
    pub fn k(&self) -> u32 {
        self.params.k()
    }

    /// Exact length of every proof for this key.
    pub fn proof_len(&self) -> usize {
        self.proof_len
    }

    /// The SRS (τ) this key was derived from.
    pub fn srs_fingerprint(&self) -> SrsFingerprint {
        SrsFingerprint::of_params(&self.params)
    }

    /// This key's verifying key, as [`keygen`] returns it beside the proving key.
    pub fn verifier_key(&self) -> VerifierKey {
        let vk = self.pk.get_vk().clone();
        let p = &self.params;
        let params = crate::srs::verifier_params(p.k(), p.get_g()[0], p.g2(), p.s_g2());
        VerifierKey { shape: self.shape, vk, params, proof_len: self.proof_len }
    }
}

impl VerifierKey {
    /// The SRS (τ) this key was derived from.
    pub fn srs_fingerprint(&self) -> SrsFingerprint {
        SrsFingerprint::of_params(&self.params)
    }

    /// Exact length of every proof for this key.
    pub fn proof_len(&self) -> usize {
        self.proof_len
    }

    /// Short hex id of this key: keccak256 of the verifying key (its transcript
    /// hash covers the fixed columns, permutation and constraint system) and of
    /// the SRS point [τ]G2 it is checked against; first 8 bytes.
    pub fn fingerprint(&self) -> String {
        use halo2_proofs::halo2curves::ff::PrimeField;
        use halo2_proofs::halo2curves::group::GroupEncoding;
        use sha3::Digest;
        let mut h = sha3::Keccak256::new();
        h.update(self.vk.transcript_repr().to_repr());
        h.update(self.params.s_g2().to_bytes());
        hex::encode(&h.finalize()[..8])
    }

    pub(crate) fn parts(&self) -> (&ParamsKZG<Bn256>, &VerifyingKey<G1Affine>) {
        (&self.params, &self.vk)
    }
}

/// Proving and verifying keys for `shape`, derived from the universal SRS
/// (deterministic: the same SRS and shape always give the same keys). Seconds
/// for large shapes, or for an SRS larger than the shape needs (the Lagrange
/// basis of the smaller domain is computed): callers keep the result, e.g. in
/// a [`crate::KeyCache`].
pub fn keygen(shape: &Shape, srs: &Srs) -> Result<(ProverKey, VerifierKey), KeygenError> {
    let k = circuit_k(shape);
    let params = srs.params_for(k)?;
    let circuit = MatmulCircuit { shape: *shape, witness: None };
    let h2 = |e: halo2_proofs::plonk::Error| KeygenError::Halo2(format!("{e:?}"));
    let vk = keygen_vk_custom(&*params, &circuit, true).map_err(h2)?;
    let pk = keygen_pk(&*params, vk.clone(), &circuit).map_err(h2)?;
    let vparams = srs.verifier_params(k);
    let proof_len = proof_len(&vparams, &vk);
    let verifier = VerifierKey { shape: *shape, vk, params: vparams, proof_len };
    Ok((ProverKey { shape: *shape, pk, params, proof_len }, verifier))
}

/// Only the verifying key for `shape` (what a verifier service derives): the
/// same key [`keygen`] returns, without the proving key's evaluations.
pub fn keygen_vk(shape: &Shape, srs: &Srs) -> Result<VerifierKey, KeygenError> {
    let k = circuit_k(shape);
    let params = srs.params_for(k)?;
    let circuit = MatmulCircuit { shape: *shape, witness: None };
    let vk = keygen_vk_custom(&*params, &circuit, true).map_err(|e| KeygenError::Halo2(format!("{e:?}")))?;
    let vparams = srs.verifier_params(k);
    let proof_len = proof_len(&vparams, &vk);
    Ok(VerifierKey { shape: *shape, vk, params: vparams, proof_len })
}

/// log2 of the rows the shape's circuit needs.
pub fn circuit_k(shape: &Shape) -> u32 {
    let mut cs = halo2_proofs::plonk::ConstraintSystem::<Fr>::default();
    let _ =
        <MatmulCircuit as halo2_proofs::plonk::Circuit<Fr>>::configure_with_params(&mut cs, ShapeParam(Some(*shape)));
    Layout::new(shape).k(cs.blinding_factors() + 1)
}

/// Proves that `c` = `a`·`b` for the job, paid to `provider`. Refuses (typed
/// error) if the inputs do not fit the shape or C is not the exact product.
pub fn prove(
    pk: &ProverKey,
    job_id: ark_bn254::Fr,
    provider: ark_bn254::Fr,
    a: &InputMatrix,
    b: &InputMatrix,
    c: &OutputMatrix,
) -> Result<Vec<u8>, ProveError> {
    let shape = &pk.shape;
    check_inputs(shape, a, b)?;
    let expect = matmul(shape, a, b)?;
    if (c.rows, c.cols) != (expect.rows, expect.cols) {
        return Err(ProveError::Input(veriflop_circuits::Error::Shape(format!(
            "C is {}×{}, the job needs {}×{}",
            c.rows, c.cols, expect.rows, expect.cols
        ))));
    }
    if let Some(i) = c.data.iter().zip(&expect.data).position(|(x, y)| x != y) {
        return Err(ProveError::WrongResult(i));
    }
    prove_unchecked(pk, job_id, provider, a, b, c)
}

/// The prover without the C = A·B pre-check: for tests that show a false
/// statement's proof is rejected by the verifier.
#[doc(hidden)]
pub fn prove_unchecked(
    pk: &ProverKey,
    job_id: ark_bn254::Fr,
    provider: ark_bn254::Fr,
    a: &InputMatrix,
    b: &InputMatrix,
    c: &OutputMatrix,
) -> Result<Vec<u8>, ProveError> {
    let shape = &pk.shape;
    let wide = |x: &InputMatrix| x.data.iter().map(|&v| v as i128).collect::<Vec<_>>();
    let (a, b) = (wide(a), wide(b));
    let cm = [
        Encoding::new(shape, Role::A).commit(shape, &a),
        Encoding::new(shape, Role::B).commit(shape, &b),
        Encoding::new(shape, Role::C).commit(shape, &c.data),
    ];
    let instances = [from_ark(&job_id), from_ark(&provider), cm[0], cm[1], cm[2]];
    let circuit = MatmulCircuit { shape: *shape, witness: Some(MatmulWitness { a, b, c: c.data.clone() }) };
    let mut transcript = EvmTranscript::<G1Affine, NativeLoader, _, Vec<u8>>::new(Vec::with_capacity(pk.proof_len));
    let run = catch_unwind(AssertUnwindSafe(|| {
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
            &*pk.params,
            &pk.pk,
            &[circuit],
            &[&[&instances]],
            rand::rngs::OsRng,
            &mut transcript,
        )
    }));
    match run {
        Ok(Ok(())) => Ok(transcript.finalize()),
        Ok(Err(e)) => Err(ProveError::Halo2(format!("{e:?}"))),
        Err(_) => Err(ProveError::Halo2("the halo2 prover panicked".into())),
    }
}

/// Verifies `proof` for the public inputs against the shape's key.
pub fn verify(vk: &VerifierKey, public: &PublicInputs, proof: &[u8]) -> Result<(), VerifyError> {
    if proof.len() != vk.proof_len {
        return Err(VerifyError::Length { got: proof.len(), expected: vk.proof_len });
    }
    let instances: Vec<Fr> = public.iter().map(from_ark).collect();
    let mut cursor = Cursor::new(proof);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut transcript = EvmTranscript::<G1Affine, NativeLoader, _, Vec<u8>>::new(&mut cursor);
        verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, SingleStrategy<'_, Bn256>>(
            &vk.params,
            &vk.vk,
            SingleStrategy::new(&vk.params),
            &[&[&instances]],
            &mut transcript,
        )
    }));
    match result {
        Ok(Ok(())) if cursor.position() as usize == proof.len() => Ok(()),
        Ok(Ok(())) => Err(VerifyError::Decode("trailing bytes".into())),
        Ok(Err(halo2_proofs::plonk::Error::Transcript(e))) => Err(VerifyError::Decode(e.to_string())),
        Ok(Err(_)) => Err(VerifyError::Invalid),
        Err(_) => Err(VerifyError::Decode("malformed proof".into())),
    }
}

/// Bytes of a SHPLONK proof for `vk`, read off snark-verifier's description
/// of the proof: 64 per G1 point (witness and quotient commitments, the two
/// SHPLONK openings), 32 per evaluation. Tests check it against real proofs.
pub(crate) fn proof_len(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>) -> usize {
    use snark_verifier::system::halo2::{compile, Config};
    let protocol = compile(params, vk, Config::kzg().with_num_instance(vec![NUM_INSTANCES]));
    let points = protocol.num_witness.iter().sum::<usize>() + protocol.quotient.num_chunk() + 2;
    64 * points + 32 * protocol.evaluations.len()
}
