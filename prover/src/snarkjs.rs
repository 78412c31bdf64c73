//! Export to snarkjs' Groth16 JSON files (`verification_key.json`, `proof.json`,
//! `public.json`), so anyone can check a proof with `snarkjs groth16 verify`.
//!
//! snarkjs conventions: `curve: "bn128"`, numbers as decimal strings, points in
//! projective form with z = 1, G2 coordinates as [c0, c1] (the EVM takes [c1, c0]).
//!
//! A committed-circuit proof is a plain Groth16 proof for the inputs
//! (job_id, provider, r, entries of A, B, C), whose entry part is the sum of the
//! commitments. snarkjs gets that plain part: a per-proof key with
//! IC0' = IC0 + cm_A + cm_B + cm_C and public inputs [job_id, provider, r].
//! snarkjs cannot check the rest (cm_C's proof of knowledge, the digests, that r
//! is the transcript's challenge): `veriflop-prover verify` or the Solidity
//! verifier do (docs/PROTOCOL.md §7).

use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::PrimeField;
use ark_groth16::{Proof, VerifyingKey};
use serde_json::{json, Value};

fn fq(x: &Fq) -> String {
    x.into_bigint().to_string()
}

fn fq2(x: &Fq2) -> Value {
    json!([fq(&x.c0), fq(&x.c1)])
}

fn g1(p: &G1Affine) -> Value {
    match p.xy() {
        Some((x, y)) => json!([fq(&x), fq(&y), "1"]),
        None => json!(["0", "1", "0"]),
    }
}

fn g2(p: &G2Affine) -> Value {
    match p.xy() {
        Some((x, y)) => json!([fq2(&x), fq2(&y), ["1", "0"]]),
        None => json!([["0", "0"], ["1", "0"], ["0", "0"]]),
    }
}

pub fn verification_key(vk: &VerifyingKey<Bn254>) -> Value {
    json!({
        "protocol": "groth16",
        "curve": "bn128",
        "nPublic": vk.gamma_abc_g1.len() - 1,
        "vk_alpha_1": g1(&vk.alpha_g1),
        "vk_beta_2": g2(&vk.beta_g2),
        "vk_gamma_2": g2(&vk.gamma_g2),
        "vk_delta_2": g2(&vk.delta_g2),
        "IC": vk.gamma_abc_g1.iter().map(g1).collect::<Vec<_>>(),
    })
}

pub fn proof(p: &Proof<Bn254>) -> Value {
    json!({
        "pi_a": g1(&p.a),
        "pi_b": g2(&p.b),
        "pi_c": g1(&p.c),
        "protocol": "groth16",
        "curve": "bn128",
    })
}

pub fn public_inputs(inputs: &[Fr]) -> Value {
    Value::Array(inputs.iter().map(|x| Value::String(veriflop_circuits::field::fr_to_decimal(x))).collect())
}

/// `verification_key.json`, `proof.json` and `public.json` for a Groth16
/// bundle; `None` for a halo2 one (snarkjs has no halo2 verifier).
pub fn files(
    bundle: &veriflop_verifier::ProofBundle,
    key: &veriflop_verifier::ShapeKey,
) -> Option<[(&'static str, Value); 3]> {
    let groth16 = bundle.groth16()?;
    let st = &bundle.statement;
    let (vk, inputs) = match &bundle.commitments {
        Some(c) => {
            let mut vk = key.vk.clone();
            if let Some(ic0) = vk.gamma_abc_g1.first_mut() {
                *ic0 = (*ic0 + c.cm_a.0 + c.cm_b.0 + c.cm_c.0).into_affine();
            }
            let seed = veriflop_circuits::cp::seed(&st.shape, st.job_id.0, &st.provider, [st.cm_a, st.cm_b, st.cm_c]);
            (vk, vec![st.job_id.0, st.provider.to_fr(), veriflop_circuits::cp::challenge(&seed)])
        }
        None => (key.vk.clone(), st.public_inputs().to_vec()),
    };
    Some([
        ("verification_key.json", verification_key(&vk)),
        ("proof.json", proof(groth16)),
        ("public.json", public_inputs(&inputs)),
    ])
}
