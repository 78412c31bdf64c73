//! A model's development keys (PROTOCOL §16.5, "Setup"), made without
//! holding its weights in a constraint system.
//!
//! A dense layer's lookups read Σ_l W_lj·X_il (`crate::circuit::Fold`): m·k·n
//! weight terms, 134 M per layer for a 1024-wide layer on a batch of 128,
//! which arkworks' constraint system cannot hold. So the QAP's columns at τ
//! are those of the hollow matrices (the circuit without those terms), plus,
//! for each X_il, its terms' share of the B side:
//! −c·Σ_j W_lj·L_(first + i·n + j)(τ), c the layer's [`acc_coeff`]. With
//! int8 weights, that sum goes by buckets per weight, added up by a running
//! sum. The rest is ark-groth16's generator over [`crate::qap`]'s reduction:
//! the same queries from the same columns, which a test holds equal to those of
//! the whole circuit's synthesis.

use ark_bn254::{Bn254, Fr, G1Projective, G2Projective};
use ark_ec::scalar_mul::BatchMulPreprocessing;
use ark_ec::CurveGroup;
use ark_ff::{Field, One, UniformRand, Zero};
use ark_groth16::r1cs_to_qap::R1CSToQAP;
use ark_groth16::{ProvingKey, VerifyingKey};
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::r1cs::ConstraintMatrices;
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;

use crate::circuit::{acc_coeff, Fold};
use crate::model::Model;
use crate::qap::{columns as hollow_columns, rows, unpivoted, InferenceReduction};
use crate::Error;

type Domain = GeneralEvaluationDomain<Fr>;

/// The QAP's columns at τ, with the number of public inputs and Z_H(τ).
pub struct Columns {
    pub a: Vec<Fr>,
    pub b: Vec<Fr>,
    pub c: Vec<Fr>,
    pub num_instance: usize,
    pub domain_size: usize,
    pub zt: Fr,
}

/// The committed circuit's columns at τ for (model, batch, dense-row budget).
pub fn columns(model: &Model, batch: usize, dense_budget: u64, tau: Fr) -> Result<Columns, Error> {
    let m = crate::prover::synthesize(model, batch, dense_budget, true)?;
    columns_of(&m, model, batch, dense_budget, tau)
}

fn domain(m: &ConstraintMatrices<Fr>) -> Result<Domain, Error> {
    Domain::new(rows(m.num_constraints, &unpivoted(m)))
        .ok_or_else(|| Error::Model("the model's circuit exceeds the largest NTT domain".into()))
}

/// [`columns`] from the hollow matrices `m`.
fn columns_of(
    m: &ConstraintMatrices<Fr>,
    model: &Model,
    batch: usize,
    dense_budget: u64,
    tau: Fr,
) -> Result<Columns, Error> {
    let extra = unpivoted(m);
    let domain = domain(m)?;
    let lagrange = domain.evaluate_all_lagrange_coefficients(tau);
    let (a, mut b, c) = hollow_columns(m, &extra, &lagrange);
    for f in crate::circuit::folds(model, batch, dense_budget, m.num_constraints) {
        fold(model, batch, &f, &lagrange, &mut b);
    }
    Ok(Columns {
        a,
        b,
        c,
        num_instance: m.num_instance_variables,
        domain_size: domain.size(),
        zt: domain.evaluate_vanishing_polynomial(tau),
    })
}

/// Adds a dense layer's weight terms to its inputs' B columns.
fn fold(model: &Model, batch: usize, f: &Fold, lagrange: &[Fr], b: &mut [Fr]) {
    let layer = &model.layers[f.layer];
    let (k, n) = (layer.d_in, layer.d_out);
    let c = -acc_coeff(f.full);
    b[f.x_var..f.x_var + batch * k].par_chunks_mut(k).enumerate().for_each(|(i, xs)| {
        let l_row = &lagrange[f.first_row + i * n..f.first_row + (i + 1) * n];
        // Buckets by weight: index 128 + w.
        let mut buckets = [Fr::zero(); 256];
        for (l, x) in xs.iter_mut().enumerate() {
            buckets.iter_mut().for_each(|s| *s = Fr::zero());
            for (j, lj) in l_row.iter().enumerate() {
                buckets[(128 + layer.weight(l, j) as i16) as usize] += lj;
            }
            // Σ_w w·B_w = Σ_(m ≥ 1) m·(B_m − B_−m), by a running sum from the top.
            let (mut running, mut sum) = (Fr::zero(), Fr::zero());
            for mag in (1..=128usize).rev() {
                if mag < 128 {
                    running += buckets[128 + mag];
                }
                running -= buckets[128 - mag];
                sum += running;
            }
            *x += c * sum;
        }
    });
}

/// Development keys: random trapdoors (whoever runs this knows them), the
/// queries as ark-groth16's generator computes them from [`columns`].
pub fn generate<R: RngCore + CryptoRng>(
    model: &Model,
    batch: usize,
    dense_budget: u64,
    rng: &mut R,
) -> Result<ProvingKey<Bn254>, Error> {
    let (alpha, beta, gamma, delta) = (Fr::rand(rng), Fr::rand(rng), Fr::rand(rng), Fr::rand(rng));
    let (g1, g2) = (G1Projective::rand(rng), G2Projective::rand(rng));
    // τ off H and off the quotient's coset (τ^|H| ≠ ±1).
    let m = crate::prover::synthesize(model, batch, dense_budget, true)?;
    let size = domain(&m)?.size();
    let tau = loop {
        let t = Fr::rand(rng);
        let tn = t.pow([size as u64]);
        if tn != Fr::one() && tn != -Fr::one() {
            break t;
        }
    };
    let Columns { a, b, c, num_instance, domain_size, zt } = columns_of(&m, model, batch, dense_budget, tau)?;
    drop(m);
    let bad = |_| Error::Model("setup: a trapdoor is zero".into());
    let gamma_inv = gamma.inverse().ok_or(()).map_err(bad)?;
    let delta_inv = delta.inverse().ok_or(()).map_err(bad)?;
    let k = |i: usize, by: Fr| (beta * a[i] + alpha * b[i] + c[i]) * by;
    let gamma_abc: Vec<Fr> = (0..num_instance).into_par_iter().map(|i| k(i, gamma_inv)).collect();
    let l: Vec<Fr> = (num_instance..a.len()).into_par_iter().map(|i| k(i, delta_inv)).collect();
    drop(c);
    let h = InferenceReduction::h_query_scalars::<Fr, Domain>(domain_size - 1, tau, zt, delta_inv)
        .map_err(|e| Error::Model(format!("setup: {e}")))?;

    let nonzero = |v: &[Fr]| v.iter().filter(|x| !x.is_zero()).count();
    let g2_table = BatchMulPreprocessing::new(g2, nonzero(&b));
    let b_g2_query = g2_table.batch_mul(&b);
    drop(g2_table);
    let g1_table = BatchMulPreprocessing::new(g1, nonzero(&a) + nonzero(&b) + a.len() + h.len());
    let a_query = g1_table.batch_mul(&a);
    let b_g1_query = g1_table.batch_mul(&b);
    drop((a, b));
    let h_query = g1_table.batch_mul(&h);
    let l_query = g1_table.batch_mul(&l);
    let gamma_abc_g1 = g1_table.batch_mul(&gamma_abc);
    let vk = VerifyingKey::<Bn254> {
        alpha_g1: (g1 * alpha).into_affine(),
        beta_g2: (g2 * beta).into_affine(),
        gamma_g2: (g2 * gamma).into_affine(),
        delta_g2: (g2 * delta).into_affine(),
        gamma_abc_g1,
    };
    Ok(ProvingKey {
        vk,
        beta_g1: (g1 * beta).into_affine(),
        delta_g1: (g1 * delta).into_affine(),
        a_query,
        b_g1_query,
        b_g2_query,
        h_query,
        l_query,
    })
}
