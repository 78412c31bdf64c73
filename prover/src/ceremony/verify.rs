//! Checks a whole ceremony, from the `.ptau` to the last contribution.
//!
//! 1. The `.ptau` sections phase 2 reads agree with each other: the powers are
//!    powers of one τ (in G1 and G2, and for α and β), and each Lagrange basis
//!    is the inverse DFT of the powers: Σ r_i·[L_i] = Σ_k ĉ_k·[τ^k] with ĉ the
//!    inverse NTT of a random r.
//! 2. File 0 is exactly [`super::init`]'s key for that `.ptau` and shape.
//! 3. For every contribution j: its file names the SHA-256 of file j − 1; the
//!    phase-1 points (α, β, γ, IC, A- and B-queries) are unchanged; the proofs
//!    of knowledge hold and δ₁ and the σ-bases moved by the proven δ_j and σ_j;
//!    δ₁ matches δ₂; every σ-base is σ·IC_C,i with σ = [σδ]₂/δ₂; and the L- and
//!    h-queries moved by exactly 1/δ_j. Vector equalities are checked with one
//!    pairing over a random combination (a wrong point passes with probability
//!    about 1/r).
//!
//! Every point was checked on the curve and in its subgroup when its file was
//! read ([`super::read`]).

use std::path::Path;

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::UniformRand;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use veriflop_circuits::circuit::committed::Layout;
use veriflop_circuits::cp::ic_ranges;

use super::ptau::{Ptau, Section};
use super::{challenge, files, read, CeremonyError, Phase2};

/// What a successful verification found.
#[derive(Debug)]
pub struct Verified {
    pub last: Phase2,
    /// (index, contributor name, contribution hash) of every contribution.
    pub contributions: Vec<(u32, String, [u8; 32])>,
}

/// e(a₁, b₂) = e(b₁, a₂): b₁/a₁ and b₂/a₂ are the same scalar.
fn same_ratio(g1: (G1Affine, G1Affine), g2: (G2Affine, G2Affine)) -> bool {
    let lhs = Bn254::multi_pairing([g1.0, -g1.1], [g2.1, g2.0]);
    lhs.0 == <Bn254 as Pairing>::TargetField::from(1u64)
}

fn random(n: usize) -> Vec<Fr> {
    let mut rng = rand::rngs::OsRng;
    (0..n).map(|_| Fr::rand(&mut rng)).collect()
}

fn msm1(bases: &[G1Affine], s: &[Fr]) -> G1Affine {
    G1Projective::msm(bases, s).expect("equal lengths").into_affine()
}

fn msm2(bases: &[G2Affine], s: &[Fr]) -> G2Affine {
    G2Projective::msm(bases, s).expect("equal lengths").into_affine()
}

/// Verifies the ceremony in `dir` against `ptau`.
pub fn verify(ptau: &mut Ptau, dir: &Path, progress: &dyn Fn(&str)) -> Result<Verified, CeremonyError> {
    let paths = files(dir)?;
    let name = |i: usize| paths[i].file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let reject = |i: usize, msg: String| CeremonyError::Rejected { file: name(i), msg };
    let first = read(&paths[0], None).map_err(|e| reject(0, e.to_string()))?;
    let shape = first.shape;
    let size = Layout::new(&shape).domain_size().ok_or_else(|| reject(0, format!("{shape} is too large")))?;
    if first.prev != ptau.digest {
        return Err(reject(0, "was made from another .ptau (its SHA-256 differs)".into()));
    }
    progress("checking the .ptau's powers and Lagrange bases");
    check_ptau(ptau, size).map_err(|msg| CeremonyError::Rejected { file: "the .ptau".into(), msg })?;
    progress("re-deriving the starting key");
    let start = super::init(&shape, ptau)?;
    if first.index != 0 || first != start {
        return Err(reject(0, "is not the starting key of this .ptau and shape".into()));
    }
    let [_, _, rc] = ic_ranges(&shape);
    let ic_c = first.key.vk.gamma_abc_g1[rc].to_vec();
    let mut contributions = Vec::new();
    let mut prev = first;
    for (i, path) in paths.iter().enumerate().skip(1) {
        progress(&format!("checking contribution {i}"));
        let cur = read(path, Some(&shape)).map_err(|e| reject(i, e.to_string()))?;
        if cur.index != i as u32 {
            return Err(reject(i, format!("holds index {}", cur.index)));
        }
        if cur.prev != prev.hash() {
            return Err(reject(i, format!("does not follow {} (another previous file's hash)", name(i - 1))));
        }
        check_step(&prev, &cur, &ic_c).map_err(|msg| reject(i, msg))?;
        contributions.push((cur.index, cur.name.clone(), cur.hash()));
        prev = cur;
    }
    Ok(Verified { last: prev, contributions })
}

fn check_step(p: &Phase2, q: &Phase2, ic_c: &[G1Affine]) -> Result<(), String> {
    let (pk, qk) = (&p.key, &q.key);
    let phase1 = |k: &crate::committed::CommittedKey| {
        (k.vk.alpha_g1, k.vk.beta_g2, k.vk.gamma_g2, k.beta_g1, k.vk.gamma_abc_g1.clone(), k.a_scalar.clone())
    };
    if phase1(pk) != phase1(qk)
        || (pk.b_g1_scalar != qk.b_g1_scalar || pk.b_g2_scalar != qk.b_g2_scalar || pk.a_entries != qk.a_entries)
    {
        return Err("changes a point phase 1 fixes (α, β, γ, the IC points or the A- and B-queries)".into());
    }
    let r = q.record.as_ref().ok_or("has no contribution record")?;
    let points = [r.s, r.s_delta, r.t, r.t_sigma, qk.delta_g1, qk.pok[0]];
    if points.iter().any(|p| p.is_zero())
        || [r.r_delta, r.q_sigma, qk.vk.delta_g2, q.sigma_delta_g2].iter().any(|p| p.is_zero())
    {
        return Err("has the identity where a secret's point must be".into());
    }
    let rd = challenge("delta", &q.prev, &r.s, &r.s_delta);
    if !same_ratio((r.s, r.s_delta), (rd, r.r_delta)) {
        return Err("its proof of knowledge of δ_j does not hold".into());
    }
    if !same_ratio((pk.delta_g1, qk.delta_g1), (rd, r.r_delta)) {
        return Err("δ₁ is not the previous δ₁ times the proven δ_j (made without knowing its secret?)".into());
    }
    if !same_ratio((G1Affine::generator(), qk.delta_g1), (G2Affine::generator(), qk.vk.delta_g2)) {
        return Err("δ₁ and δ₂ hold different δ".into());
    }
    let rs = challenge("sigma", &q.prev, &r.t, &r.t_sigma);
    if !same_ratio((r.t, r.t_sigma), (rs, r.q_sigma)) {
        return Err("its proof of knowledge of σ_j does not hold".into());
    }
    if !same_ratio((pk.pok[0], qk.pok[0]), (rs, r.q_sigma)) {
        return Err("the σ-bases are not the previous ones times the proven σ_j".into());
    }
    let x = random(ic_c.len());
    if !same_ratio((msm1(ic_c, &x), msm1(&qk.pok, &x)), (qk.vk.delta_g2, q.sigma_delta_g2)) {
        return Err("the σ-bases and [σδ]₂ disagree (σ and δ updated inconsistently, or a σ-base tampered)".into());
    }
    let l = |k: &crate::committed::CommittedKey| -> Vec<G1Affine> {
        k.l_scalar.iter().chain(&k.l_products).chain(&k.h).copied().collect()
    };
    let (lp, lq) = (l(pk), l(qk));
    let x = random(lp.len());
    if !same_ratio((msm1(&lq, &x), msm1(&lp, &x)), (pk.vk.delta_g2, qk.vk.delta_g2)) {
        return Err("the L- and h-queries did not move by 1/δ_j (a point tampered)".into());
    }
    Ok(())
}

/// Step 1 for a QAP domain of `size` points (the h-query reads 2·size).
fn check_ptau(ptau: &mut Ptau, size: usize) -> Result<(), String> {
    let big = 2 * size;
    let tau1 = ptau.g1(Section::TauG1, 0, big as u64)?;
    let tau2 = ptau.g2(Section::TauG2, 0, size as u64 + 1)?;
    if tau1[0] != G1Affine::generator() || tau2[0] != G2Affine::generator() {
        return Err("τ^0 is not the generator".into());
    }
    let (t1, t2) = (tau1[1], tau2[1]);
    // Σ x_k·P_(k+1) = τ·Σ x_k·P_k over a vector of powers, in G1 or G2.
    let shifted1 = |v: &[G1Affine]| {
        let x = random(v.len() - 1);
        same_ratio((msm1(&v[..v.len() - 1], &x), msm1(&v[1..], &x)), (G2Affine::generator(), t2))
    };
    if !shifted1(&tau1) {
        return Err("the [τ^i]₁ are not powers of one τ".into());
    }
    let x = random(size);
    if !same_ratio((G1Affine::generator(), t1), (msm2(&tau2[..size], &x), msm2(&tau2[1..], &x))) {
        return Err("the [τ^i]₂ are not powers of the same τ".into());
    }
    let alpha = ptau.g1(Section::AlphaTauG1, 0, size as u64 + 1)?;
    let beta = ptau.g1(Section::BetaTauG1, 0, size as u64 + 1)?;
    if !shifted1(&alpha) || !shifted1(&beta) {
        return Err("the [ατ^i]₁ or [βτ^i]₁ are not α and β times powers of τ".into());
    }
    let beta_g2 = ptau.g2(Section::BetaG2, 0, 1)?[0];
    if !same_ratio((G1Affine::generator(), beta[0]), (G2Affine::generator(), beta_g2)) {
        return Err("[β]₁ and [β]₂ hold different β".into());
    }
    // Lagrange bases: [L_i] = Σ_k ĉ_ik [τ^k], so Σ x_i [L_i] = Σ_k ifft(x)_k [τ^k].
    let lagrange_ok = |l: &[G1Affine], powers: &[G1Affine]| {
        let n = l.len();
        let x = random(n);
        let c = Radix2EvaluationDomain::<Fr>::new(n).expect("a power of two").ifft(&x);
        msm1(l, &x) == msm1(&powers[..n], &c)
    };
    for (s, powers, n) in [
        (Section::LagrangeG1, &tau1, size),
        (Section::LagrangeG1, &tau1, big),
        (Section::LagrangeAlphaG1, &alpha, size),
        (Section::LagrangeBetaG1, &beta, size),
    ] {
        if !lagrange_ok(&ptau.lagrange_g1(s, n)?, powers) {
            return Err(format!("section {}'s Lagrange basis of {n} points is not that of the powers", s as u32));
        }
    }
    let l2 = ptau.lagrange_g2(size)?;
    let x = random(size);
    let c = Radix2EvaluationDomain::<Fr>::new(size).expect("a power of two").ifft(&x);
    if msm2(&l2, &x) != msm2(&tau2[..size], &c) {
        return Err("section 13's Lagrange basis is not that of the [τ^i]₂".into());
    }
    Ok(())
}
