//! C = A·B by Freivalds' check with Fiat–Shamir challenges.
//!
//! With (r, s) squeezed from the transcript (which absorbs the commitments of A,
//! B and C, so the challenges are fixed only after the data is), the circuit
//! enforces Σ_i s^i · ( Σ_l A_il · y_l − Σ_j C_ij · r^j ) = 0 where y = B·(1, r, …, r^{n−1}).
//! This is sᵀ(A·B − C)r = 0 for a bivariate polynomial of degree < m in s and
//! < n in r; if A·B ≠ C it vanishes with probability ≤ (m + n − 2)/|Fr|
//! (Schwartz–Zippel). Cost: kn + mk + mn + O(m + n + k) constraints.

use ark_bn254::Fr;
use ark_crypto_primitives::sponge::constraints::CryptographicSpongeVar;
use ark_crypto_primitives::sponge::poseidon::constraints::PoseidonSpongeVar;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSystemRef, SynthesisError, Variable};

use super::{materialize, mul, Val};
use crate::commit;
use crate::shape::Shape;

/// The public values the challenges are bound to.
pub(crate) struct Transcript {
    pub job_id: FpVar<Fr>,
    pub provider: FpVar<Fr>,
    pub cm: [FpVar<Fr>; 3],
}

/// (r, s) squeezed in-circuit from the Poseidon transcript.
pub(crate) fn poseidon_challenges(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    t: &Transcript,
) -> Result<(Val, Val), SynthesisError> {
    // Same order as `commit::transcript`; the constants come from there too.
    let native = commit::transcript(shape, Fr::from(0u64), Fr::from(0u64), [Fr::from(0u64); 3]);
    let mut elements: Vec<FpVar<Fr>> = native[..5].iter().copied().map(FpVar::Constant).collect();
    elements.push(t.job_id.clone());
    elements.push(t.provider.clone());
    elements.extend(t.cm.iter().cloned());
    let mut sponge = PoseidonSpongeVar::new(cs.clone(), commit::poseidon_config());
    sponge.absorb(&elements)?;
    let out = sponge.squeeze_field_elements(2)?;
    Ok((Val::from_fpvar(&out[0]), Val::from_fpvar(&out[1])))
}

/// 1, x, x², …, x^{len−1}.
fn powers(cs: &ConstraintSystemRef<Fr>, x: &Val, len: usize) -> Result<Vec<Val>, SynthesisError> {
    let mut out = vec![Val::constant(Fr::from(1u64))];
    if len > 1 {
        out.push(x.clone());
    }
    while out.len() < len {
        let next = mul(cs, out.last().unwrap(), x)?;
        out.push(next);
    }
    Ok(out)
}

/// Σ_j row_j · weights_j (weights_0 = 1 is free).
fn dot(cs: &ConstraintSystemRef<Fr>, row: &[Val], weights: &[Val]) -> Result<Val, SynthesisError> {
    let mut acc = Val { lc: row[0].lc.clone(), value: row[0].value };
    for (x, w) in row.iter().zip(weights).skip(1) {
        acc.add(&mul(cs, x, w)?);
    }
    Ok(acc)
}

/// Enforces sᵀ(A·B − C)r = 0 with r = (1, r, …, r^{n−1}) and s = (1, s, …, s^{m−1}).
pub(crate) fn enforce(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    a: &[Val],
    b: &[Val],
    c: &[Val],
    r: &Val,
    s: &Val,
) -> Result<(), SynthesisError> {
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    let rp = powers(cs, r, n)?;
    let sp = powers(cs, s, m)?;
    // y = B·r, each y_l used m times: materialise.
    let y = b.chunks(n).map(|row| materialize(cs, &dot(cs, row, &rp)?)).collect::<Result<Vec<_>, _>>()?;
    // d_i = (A·y)_i − (C·r)_i
    let mut total = Val { lc: lc!(), value: Some(Fr::from(0u64)) };
    for i in 0..m {
        let mut ay = Val { lc: lc!(), value: Some(Fr::from(0u64)) };
        for (x, yl) in a[i * k..(i + 1) * k].iter().zip(&y) {
            ay.add(&mul(cs, x, yl)?);
        }
        let cr = dot(cs, &c[i * n..(i + 1) * n], &rp)?;
        let d = Val { lc: ay.lc - &cr.lc, value: ay.value.zip(cr.value).map(|(u, v)| u - v) };
        let term = if i == 0 { d } else { mul(cs, &d, &sp[i])? };
        total.add(&term);
    }
    cs.enforce_constraint(total.lc, lc!() + Variable::One, lc!())
}
