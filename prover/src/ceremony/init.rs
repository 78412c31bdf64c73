//! The phase-2 starting key from a prepared `.ptau`, with δ = σ = 1.
//!
//! Each variable's QAP polynomials at τ are Σ coefficient·L_x(τ) over its terms,
//! x the row's point of H (`Layout::qap_index`), so every query is a sum of the
//! `.ptau`'s Lagrange points (all coefficients of the layout are ±1): A-query
//! Σ[L]₁, B-queries Σ[L]₁ and Σ[L]₂, and K = β·u + α·v + w as Σ[βL]₁ + Σ[αL]₁
//! + Σ[L]₁, which is the IC point of an input (γ = 1) and the L-query point of
//! a witness (before any δ). The h-query is −2·[L'_(2i+1)]₁, L' the Lagrange
//! basis of size 2|H| (the coset shift is ω_2|H|; `backend::coset_shift`).

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{AdditiveGroup, One, Zero};
use rayon::prelude::*;
use veriflop_circuits::circuit::committed::{Layout, SCALAR_VARS};
use veriflop_circuits::cp::ic_ranges;
use veriflop_circuits::Shape;

use super::ptau::{Ptau, Section};
use super::{CeremonyError, Phase2};
use crate::committed::CommittedKey;

/// Phase 2's file 0 for `shape` from a prepared `.ptau`.
pub fn init(shape: &Shape, ptau: &mut Ptau) -> Result<Phase2, CeremonyError> {
    let (key, sigma_delta_g2) = initial_key(shape, ptau).map_err(CeremonyError::Format)?;
    Ok(Phase2 { shape: *shape, index: 0, prev: ptau.digest, name: String::new(), record: None, sigma_delta_g2, key })
}

/// ± point, for the layout's ±1 coefficients.
fn add<P: std::ops::AddAssign<A> + std::ops::SubAssign<A>, A: Copy>(
    acc: &mut P,
    coeff: Fr,
    p: A,
) -> Result<(), String> {
    if coeff.is_one() {
        *acc += p;
    } else if (-coeff).is_one() {
        *acc -= p;
    } else {
        return Err("the layout has a coefficient other than ±1".into());
    }
    Ok(())
}

fn initial_key(shape: &Shape, ptau: &mut Ptau) -> Result<(CommittedKey, G2Affine), String> {
    let layout = Layout::new(shape);
    let size = layout.domain_size().ok_or_else(|| format!("{shape} exceeds the largest NTT domain"))?;
    if 2 * size > 1usize << ptau.power {
        return Err(format!(
            "{shape} has a QAP domain of 2^{} rows, which needs a .ptau of power {} or more (this one has {})",
            size.trailing_zeros(),
            size.trailing_zeros() + 1,
            ptau.power
        ));
    }
    let l1 = ptau.lagrange_g1(Section::LagrangeG1, size)?;
    let l2 = ptau.lagrange_g2(size)?;
    let la = ptau.lagrange_g1(Section::LagrangeAlphaG1, size)?;
    let lb = ptau.lagrange_g1(Section::LagrangeBetaG1, size)?;

    let inputs = layout.num_inputs();
    let witnesses = layout.scalar_witnesses();
    let vars = layout.num_variables();
    // A for inputs and scalar witnesses; B for the scalar variables; K for all.
    let scalar_index = |v: usize| -> Option<usize> {
        if v < SCALAR_VARS {
            Some(v)
        } else if witnesses.contains(&v) {
            Some(SCALAR_VARS + v - witnesses.start)
        } else {
            None
        }
    };
    let scalars = SCALAR_VARS + witnesses.len();
    let mut a = vec![G1Projective::zero(); witnesses.end];
    let mut b1 = vec![G1Projective::zero(); scalars];
    let mut b2 = vec![G2Projective::zero(); scalars];
    let mut k = vec![G1Projective::zero(); vars];
    let mut row = 0usize;
    let mut failed = None;
    layout.for_each_row(|r| {
        if failed.is_some() {
            return;
        }
        let x = layout.qap_index(row, size);
        row += 1;
        let mut step = || -> Result<(), String> {
            for &(c, v) in &r.a {
                add(a.get_mut(v).ok_or("a product in an A combination")?, c, l1[x])?;
                add(&mut k[v], c, lb[x])?;
            }
            for &(c, v) in &r.b {
                let s = scalar_index(v).ok_or("a variable other than a scalar in a B combination")?;
                add(&mut b1[s], c, l1[x])?;
                add(&mut b2[s], c, l2[x])?;
                add(&mut k[v], c, la[x])?;
            }
            for &(c, v) in &r.c {
                add(&mut k[v], c, l1[x])?;
            }
            Ok(())
        };
        if let Err(e) = step() {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    drop((l1, l2, la, lb));

    let h: Vec<G1Affine> = {
        let l = ptau.lagrange_g1(Section::LagrangeG1, 2 * size)?;
        let h: Vec<G1Projective> =
            (0..size).into_par_iter().map(|i| -G1Projective::from(l[2 * i + 1]).double()).collect();
        G1Projective::normalize_batch(&h)
    };
    let a = G1Projective::normalize_batch(&a);
    let k = G1Projective::normalize_batch(&k);
    let pick = |v: &[G1Affine]| -> Vec<G1Affine> { (0..SCALAR_VARS).chain(witnesses.clone()).map(|i| v[i]).collect() };
    let [_, _, rc] = ic_ranges(shape);
    let alpha = ptau.g1(Section::AlphaTauG1, 0, 1)?[0];
    let beta = ptau.g1(Section::BetaTauG1, 0, 1)?[0];
    let beta_g2 = ptau.g2(Section::BetaG2, 0, 1)?[0];
    if alpha.is_zero() || beta.is_zero() || beta_g2.is_zero() {
        return Err(".ptau: α or β is the identity".into());
    }
    let key = CommittedKey {
        vk: ark_groth16::VerifyingKey {
            alpha_g1: alpha,
            beta_g2,
            gamma_g2: G2Affine::generator(),
            delta_g2: G2Affine::generator(),
            gamma_abc_g1: k[..inputs].to_vec(),
        },
        beta_g1: beta,
        delta_g1: G1Projective::generator().into_affine(),
        a_scalar: pick(&a),
        b_g1_scalar: G1Projective::normalize_batch(&b1),
        b_g2_scalar: G2Projective::normalize_batch(&b2),
        a_entries: a[SCALAR_VARS..inputs].to_vec(),
        l_scalar: k[witnesses.clone()].to_vec(),
        l_products: k[witnesses.end..].to_vec(),
        h,
        pok: k[rc].to_vec(),
    };
    if !key.fits(shape) {
        return Err("the starting key does not have the shape's lengths".into());
    }
    Ok((key, G2Affine::generator()))
}
