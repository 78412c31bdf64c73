//! R1CS → QAP: the quotient polynomial h(X) = (A(X)·B(X) − C(X)) / Z_H(X).
//!
//! The same reduction as arkworks' `LibsnarkReduction`, so keys made by
//! ark-groth16's generator work with our prover: the domain H covers the
//! constraints plus one row per public input (A-row i = x_i, which makes every
//! public input bind the proof), and the division happens on the coset g·H (g = ω_2|H|, `coset_shift`).
//! All seven transforms go through the [`Backend`].

use std::time::{Duration, Instant};

use ark_bn254::Fr;
use ark_ff::{Field, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_relations::r1cs::ConstraintMatrices;
use rayon::prelude::*;

use crate::backend::{coset_shift, Backend, BackendError, Ntt};

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
///
/// `b` may be shorter than `a` and `c`: its length P divides |H| and b[i mod P]
/// is B at ω^i, i.e. B(X) = B'(X^(|H|/P)). Then B on g·H repeats B' on the coset
/// g^(|H|/P)·⟨ω^(|H|/P)⟩, which an NTT of P points gives (on the CPU: it is
/// small), and the backend transforms only A and C.
pub fn quotient_on_coset(
    mut a: Vec<Fr>,
    mut b: Vec<Fr>,
    mut c: Vec<Fr>,
    backend: &dyn Backend,
) -> Result<(Vec<Fr>, Duration), BackendError> {
    let size = a.len();
    let period = b.len();
    if c.len() != size || period == 0 || !size.is_multiple_of(period) || !period.is_power_of_two() {
        return Err(BackendError::Unsupported(format!("evaluations of sizes {size}, {period}, {}", c.len())));
    }
    let t = Instant::now();
    if period == size {
        backend.to_coset(&mut [&mut a, &mut b, &mut c])?;
    } else {
        backend.to_coset(&mut [&mut a, &mut c])?;
        let small = Radix2EvaluationDomain::<Fr>::new(period).expect("a power of two below |H|");
        let g = coset_shift(size).expect("to_coset accepted the size");
        let shift = g.pow([(size / period) as u64]);
        small.ifft_in_place(&mut b);
        small.get_coset(shift).expect("g^T is not in the small subgroup").fft_in_place(&mut b);
    }
    let ntt_time = t.elapsed();
    // Z_H(X) = X^size − 1 is the constant g^size − 1 = −2 on the whole coset.
    let z_inv = (-Fr::from(2u64)).inverse().expect("2 < r");
    a.par_iter_mut().zip(&c).enumerate().for_each(|(i, (a, c))| *a = (*a * b[i & (period - 1)] - c) * z_inv);
    Ok((a, ntt_time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuBackend;
    use ark_ff::UniformRand;

    /// B given by its period (B a polynomial in X^T) gives the same h as B given
    /// in full, for every T; sizes that do not divide are refused.
    #[test]
    fn periodic_b_matches_full_b() {
        let mut rng = rand::thread_rng();
        let n = 1 << 10;
        let a: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let c: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        for t in [1usize, 2, 8, 1 << 10] {
            let period: Vec<Fr> = (0..n / t).map(|_| Fr::rand(&mut rng)).collect();
            let full: Vec<Fr> = (0..n).map(|i| period[i % period.len()]).collect();
            let want = quotient_on_coset(a.clone(), full, c.clone(), &CpuBackend::new()).unwrap().0;
            let got = quotient_on_coset(a.clone(), period, c.clone(), &CpuBackend::new()).unwrap().0;
            assert_eq!(got, want, "T = {t}");
        }
        let bad = quotient_on_coset(a.clone(), vec![Fr::ONE; 3], c.clone(), &CpuBackend::new());
        assert!(matches!(bad, Err(BackendError::Unsupported(_))));
    }
}
