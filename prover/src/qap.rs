//! R1CS → QAP: the quotient polynomial h(X) = (A(X)·B(X) − C(X)) / Z_H(X).
//!
//! The same reduction as arkworks' `LibsnarkReduction`, so keys made by
//! ark-groth16's generator work with our prover: the domain H covers the
//! constraints plus one row per public input (A-row i = x_i, which makes every
//! public input bind the proof), and the division happens on the coset g·H.
//! All seven transforms go through the [`Backend`].

use std::time::{Duration, Instant};

use ark_bn254::Fr;
use ark_ff::{FftField, Field, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_relations::r1cs::ConstraintMatrices;
use rayon::prelude::*;

use crate::backend::{Backend, BackendError, Ntt};

/// h's coefficients, and the first violated constraint if the witness is wrong.
pub struct QapWitness {
    pub h: Vec<Fr>,
    pub first_unsatisfied: Option<usize>,
    pub ntt_time: Duration,
}

fn eval_rows(rows: &[Vec<(Fr, usize)>], z: &[Fr], out: &mut [Fr]) {
    out.par_iter_mut().zip(rows).for_each(|(o, row)| {
        *o = row.iter().map(|(coeff, i)| *coeff * z[*i]).sum();
    });
}

pub fn domain_size(num_constraints: usize, num_inputs: usize) -> Option<usize> {
    Radix2EvaluationDomain::<Fr>::new(num_constraints + num_inputs).map(|d| d.size())
}

/// `z` is the full assignment (1, public inputs, witnesses).
pub fn witness_map(m: &ConstraintMatrices<Fr>, z: &[Fr], backend: &dyn Backend) -> Result<QapWitness, BackendError> {
    let (nc, ni) = (m.num_constraints, m.num_instance_variables);
    let domain = Radix2EvaluationDomain::<Fr>::new(nc + ni)
        .ok_or_else(|| BackendError::Unsupported(format!("{} rows exceed the largest NTT domain", nc + ni)))?;
    let size = domain.size();
    let mut a = vec![Fr::zero(); size];
    let mut b = vec![Fr::zero(); size];
    let mut c = vec![Fr::zero(); size];
    eval_rows(&m.a, z, &mut a[..nc]);
    eval_rows(&m.b, z, &mut b[..nc]);
    eval_rows(&m.c, z, &mut c[..nc]);
    a[nc..nc + ni].copy_from_slice(&z[..ni]);
    let first_unsatisfied = (0..nc).into_par_iter().find_first(|&i| a[i] * b[i] != c[i]);

    let (h, ntt_time) = quotient(a, b, c, backend)?;
    Ok(QapWitness { h, first_unsatisfied, ntt_time })
}

/// h's coefficients from A, B, C's evaluations on H (each of length |H|): three
/// inverse NTTs, three on the coset, the division by Z_H there, one back.
pub fn quotient(
    a: Vec<Fr>,
    b: Vec<Fr>,
    c: Vec<Fr>,
    backend: &dyn Backend,
) -> Result<(Vec<Fr>, Duration), BackendError> {
    let (mut h, mut ntt_time) = quotient_on_coset(a, b, c, backend)?;
    let t = Instant::now();
    backend.ntt(&mut h, Ntt::CosetInverse)?;
    ntt_time += t.elapsed();
    Ok((h, ntt_time))
}

/// h's evaluations on the coset g·H (what a key with the h-query in the coset's
/// Lagrange basis needs; one NTT fewer than [`quotient`]).
pub fn quotient_on_coset(
    mut a: Vec<Fr>,
    mut b: Vec<Fr>,
    mut c: Vec<Fr>,
    backend: &dyn Backend,
) -> Result<(Vec<Fr>, Duration), BackendError> {
    let size = a.len();
    let t = Instant::now();
    backend.to_coset(&mut [&mut a, &mut b, &mut c])?;
    let ntt_time = t.elapsed();
    // Z_H(X) = X^size − 1 is the constant g^size − 1 on the whole coset.
    let z_inv = (Fr::GENERATOR.pow([size as u64]) - Fr::ONE).inverse().expect("g is not in H");
    a.par_iter_mut().zip(&b).zip(&c).for_each(|((a, b), c)| *a = (*a * b - c) * z_inv);
    Ok((a, ntt_time))
}
