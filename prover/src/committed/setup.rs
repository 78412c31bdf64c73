//! Development setup for the committed circuit, straight from its layout.
//!
//! With toxic waste τ, α, β, γ, δ, σ, every variable's QAP polynomials are
//! evaluated at τ as Σ over its terms of coefficient·L_i(τ), i the row's point
//! in H (`Layout::qap_index`; one pass over the rows, no constraint system),
//! and each query is a batch of fixed-base scalar multiplications of the
//! generator, in parallel. The keys are those
//! ark-groth16's generator would make for the same QAP (with the curve
//! generators), minus the identity points the prover never reads.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::{Field, UniformRand, Zero};
use ark_groth16::VerifyingKey;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;
use veriflop_circuits::circuit::committed::{Layout, SCALAR_VARS};
use veriflop_circuits::cp::ic_ranges;
use veriflop_circuits::Shape;

use super::fixed_base::FixedBase;
use super::CommittedKey;

fn nonzero<R: RngCore + CryptoRng>(rng: &mut R) -> Fr {
    loop {
        let x = Fr::rand(rng);
        if !x.is_zero() {
            return x;
        }
    }
}

/// The committed circuit's proving key and [σδ]₂ for `shape`.
pub fn generate<R: RngCore + CryptoRng>(shape: &Shape, rng: &mut R) -> Result<(CommittedKey, G2Affine), String> {
    let layout = Layout::new(shape);
    let domain = layout
        .domain_size()
        .and_then(Radix2EvaluationDomain::<Fr>::new)
        .ok_or_else(|| format!("{shape} needs {} QAP rows, more than the largest NTT domain", layout.num_rows()))?;
    let size = domain.size();
    let [alpha, beta, gamma, delta, sigma] = [(); 5].map(|_| nonzero(rng));
    let tau = loop {
        let t = nonzero(rng);
        if !domain.evaluate_vanishing_polynomial(t).is_zero() {
            break t;
        }
    };
    let lagrange = domain.evaluate_all_lagrange_coefficients(tau);

    // u, v, w at τ for every variable: one pass over the rows.
    let vars = layout.num_variables();
    let (mut u, mut v, mut w) = (vec![Fr::zero(); vars], vec![Fr::zero(); vars], vec![Fr::zero(); vars]);
    let mut row = 0usize;
    layout.for_each_row(|r| {
        let l = lagrange[layout.qap_index(row, size)];
        for (terms, out) in [(&r.a, &mut u), (&r.b, &mut v), (&r.c, &mut w)] {
            for (coeff, var) in terms {
                out[*var] += *coeff * l;
            }
        }
        row += 1;
    });
    drop(lagrange);

    // What the key leaves out must be the identity.
    let inputs = layout.num_inputs();
    let products = layout.scalar_witnesses().end..vars;
    if products.clone().any(|i| !u[i].is_zero() || !v[i].is_zero()) || (SCALAR_VARS..inputs).any(|i| !v[i].is_zero()) {
        return Err("layout puts a product in A or B, or an entry in B".into());
    }

    let (gamma_inv, delta_inv) = (gamma.inverse().expect("nonzero"), delta.inverse().expect("nonzero"));
    let combined = |range: std::ops::Range<usize>, by: Fr| -> Vec<Fr> {
        range.into_par_iter().map(|i| (beta * u[i] + alpha * v[i] + w[i]) * by).collect()
    };
    let scalar_vars: Vec<usize> = (0..SCALAR_VARS).chain(layout.scalar_witnesses()).collect();
    let pick = |x: &[Fr], idx: &[usize]| -> Vec<Fr> { idx.iter().map(|&i| x[i]).collect() };

    // h-query in the Lagrange basis of the coset g·H (the prover's h is evaluated there).
    let zt_over_delta = domain.evaluate_vanishing_polynomial(tau) * delta_inv;
    let shift = crate::backend::coset_shift(size).ok_or("no coset for a domain of 2^28")?;
    let coset = domain.get_coset(shift).ok_or("the coset shift lies in H")?;
    let mut h_scalars = coset.evaluate_all_lagrange_coefficients(tau);
    h_scalars.par_iter_mut().for_each(|x| *x *= zt_over_delta);
    let h_len = h_scalars.len();
    let largest = h_len.max(vars);
    let g1 = FixedBase::new(largest);
    let mul1 = |s: &[Fr]| -> Vec<G1Affine> { g1.mul(s) };
    let g2 = G2Projective::generator();
    let mul2 = |s: &[Fr]| -> Vec<G2Affine> {
        G2Projective::normalize_batch(&s.par_iter().map(|x| g2 * x).collect::<Vec<_>>())
    };

    let ic_scalars = combined(0..inputs, gamma_inv);
    let [_, _, rc] = ic_ranges(shape);
    let pok_scalars: Vec<Fr> = ic_scalars[rc].par_iter().map(|x| *x * sigma).collect();
    let key = CommittedKey {
        vk: VerifyingKey {
            alpha_g1: (G1Projective::generator() * alpha).into_affine(),
            beta_g2: (g2 * beta).into_affine(),
            gamma_g2: (g2 * gamma).into_affine(),
            delta_g2: (g2 * delta).into_affine(),
            gamma_abc_g1: mul1(&ic_scalars),
        },
        beta_g1: (G1Projective::generator() * beta).into_affine(),
        delta_g1: (G1Projective::generator() * delta).into_affine(),
        a_scalar: mul1(&pick(&u, &scalar_vars)),
        b_g1_scalar: mul1(&pick(&v, &scalar_vars)),
        b_g2_scalar: mul2(&pick(&v, &scalar_vars)),
        a_entries: mul1(&u[SCALAR_VARS..inputs]),
        l_scalar: mul1(&combined(layout.scalar_witnesses(), delta_inv)),
        l_products: mul1(&combined(products, delta_inv)),
        h: mul1(&h_scalars),
        pok: mul1(&pok_scalars),
    };
    debug_assert!(key.fits(shape));
    Ok((key, (g2 * (sigma * delta)).into_affine()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::AffineRepr;
    use std::collections::HashSet;
    use veriflop_circuits::Dtype;

    /// Binding needs every commitment base distinct and not the identity (the
    /// layout's independence argument, checked on real keys).
    #[test]
    fn commitment_bases_are_distinct_and_not_the_identity() {
        let shape = Shape::new(3, 4, 5, Dtype::Int8).unwrap();
        let (key, _) = generate(&shape, &mut rand::thread_rng()).unwrap();
        assert!(key.fits(&shape));
        let ic = &key.vk.gamma_abc_g1;
        let points: HashSet<_> = ic.iter().map(|p| p.xy()).collect();
        assert_eq!(points.len(), ic.len(), "two input points coincide");
        assert!(ic.iter().all(|p| !p.is_zero()), "an input point is the identity");
        assert!(key.pok.iter().all(|p| !p.is_zero()));
    }
}
