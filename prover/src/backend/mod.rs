//! The MSM/NTT backends every Groth16 proof goes through.
//!
//! The prover never calls arkworks' MSM or FFT directly: it asks a [`Backend`],
//! so a GPU implementation replaces exactly these operations and nothing else.

mod cpu;
pub mod icicle;
mod ntt;
mod select;

pub use cpu::CpuBackend;
pub use icicle::{IcicleBackend, IcicleConfig};
pub use select::{select, BackendChoice, Selected};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};

/// The four radix-2 transforms the QAP reduction needs, over the multiplicative
/// subgroup H of order `values.len()` (a power of two, with arkworks' roots of
/// unity) and its coset g·H, g = [`coset_shift`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ntt {
    /// coefficients → evaluations on H
    Forward,
    /// evaluations on H → coefficients
    Inverse,
    /// coefficients → evaluations on g·H
    CosetForward,
    /// evaluations on g·H → coefficients
    CosetInverse,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    Unsupported(String),
    /// The backend cannot run here (no install, no device, failed self-test).
    #[error("{0}")]
    Unavailable(String),
    #[error("backend failure: {0}")]
    Device(String),
}

/// The coset shift g for transforms of size n: ω_2n, a primitive 2n-th root of
/// unity. Then g·H is the odd half of the domain of size 2n, where Z_H = −2, and
/// the committed key's h-query is −2·L_(2i+1) of that domain: a prepared powers
/// of tau holds those points (snarkjs makes the same choice; docs/PROTOCOL.md
/// §6). None when 2n exceeds BN254's 2^28 roots.
pub fn coset_shift(n: usize) -> Option<Fr> {
    use ark_ff::FftField;
    Fr::get_root_of_unity(2 * n as u64)
}

pub trait Backend: Send + Sync {
    /// Human-readable name for logs and reports (e.g. "cpu (2 threads)").
    fn name(&self) -> String;
    /// Σ scalars_i · bases_i over the first min(len) pairs.
    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Fr]) -> Result<G1Projective, BackendError>;
    /// Σ scalars_i · bases_i over the first min(len) pairs.
    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> Result<G2Projective, BackendError>;
    /// In-place transform; `values.len()` must be a power of two.
    fn ntt(&self, values: &mut Vec<Fr>, kind: Ntt) -> Result<(), BackendError>;
    /// Evaluations on H → evaluations on the coset g·H, for vectors of one size
    /// (the QAP's A, B and C); an inverse and a coset-forward transform each,
    /// which a backend may fuse.
    fn to_coset(&self, vectors: &mut [&mut Vec<Fr>]) -> Result<(), BackendError> {
        for v in vectors.iter_mut() {
            self.ntt(v, Ntt::Inverse)?;
            self.ntt(v, Ntt::CosetForward)?;
        }
        Ok(())
    }
    /// Σ values_i · bases_i for small signed integers (matrix entries): the data
    /// commitments, cm_C's proof of knowledge, the committed prover's entry terms.
    fn msm_g1_small(&self, bases: &[G1Affine], values: &[i128]) -> Result<G1Projective, BackendError>;
    /// [`Backend::msm_g1_small`] of each run of `group` consecutive pairs (a batch
    /// of equal-size MSMs): the committed prover's product terms, one sum per
    /// column of a matrix.
    fn msm_g1_small_groups(
        &self,
        bases: &[G1Affine],
        values: &[i128],
        group: usize,
    ) -> Result<Vec<G1Projective>, BackendError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_ff::{FftField, Field, UniformRand};
    use ark_poly::{polynomial::univariate::DensePolynomial, DenseUVPolynomial, Polynomial};

    #[test]
    fn cpu_ntt_matches_polynomial_evaluation() {
        let mut rng = rand::thread_rng();
        let b = CpuBackend::new();
        for log in [0u32, 1, 3, 6] {
            let n = 1usize << log;
            let coeffs: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            let poly = DensePolynomial::from_coefficients_slice(&coeffs);
            let omega = Fr::get_root_of_unity(n as u64).unwrap();
            let g = coset_shift(n).unwrap();
            let mut v = coeffs.clone();
            b.ntt(&mut v, Ntt::Forward).unwrap();
            for (i, e) in v.iter().enumerate() {
                assert_eq!(*e, poly.evaluate(&omega.pow([i as u64])));
            }
            b.ntt(&mut v, Ntt::Inverse).unwrap();
            assert_eq!(v, coeffs);
            b.ntt(&mut v, Ntt::CosetForward).unwrap();
            for (i, e) in v.iter().enumerate() {
                assert_eq!(*e, poly.evaluate(&(g * omega.pow([i as u64]))));
            }
            b.ntt(&mut v, Ntt::CosetInverse).unwrap();
            assert_eq!(v, coeffs);
        }
    }

    #[test]
    fn cpu_msm_matches_naive_sum() {
        let mut rng = rand::thread_rng();
        let b = CpuBackend::new();
        // Shortcut cases at small sizes (circuits::msm tests the MSM itself up to 40,000 pairs).
        for n in [1usize, 2, 7, 33, 1500] {
            // Zero, one and small negative scalars, and identity bases, take the shortcuts.
            let g1: Vec<G1Affine> = (0..n)
                .map(|i| if i == 2 { G1Affine::identity() } else { G1Projective::rand(&mut rng).into_affine() })
                .collect();
            let g2: Vec<G2Affine> = (0..n)
                .map(|i| if i == 2 { G2Affine::identity() } else { G2Projective::rand(&mut rng).into_affine() })
                .collect();
            let s: Vec<Fr> = (0..n)
                .map(|i| match i {
                    0 => Fr::from(0u64),
                    1 | 3 => Fr::from(1u64),
                    4 => -Fr::from(5u64),
                    5 => -Fr::from(u128::MAX),
                    _ => Fr::rand(&mut rng),
                })
                .collect();
            let want1: G1Projective = g1.iter().zip(&s).map(|(p, s)| *p * s).sum();
            let want2: G2Projective = g2.iter().zip(&s).map(|(p, s)| *p * s).sum();
            assert_eq!(b.msm_g1(&g1, &s).unwrap(), want1, "n={n}");
            assert_eq!(b.msm_g2(&g2, &s).unwrap(), want2, "n={n}");
            // Small-scalar MSMs, whole and in groups.
            let v: Vec<i128> =
                (0..n as i128).map(|i| (i * 37 % 301) - 150 + if i == 3 { 1 << 40 } else { 0 }).collect();
            let fr: Vec<Fr> = v.iter().map(|&x| veriflop_circuits::circuit::fr_from_i128(x)).collect();
            assert_eq!(b.msm_g1_small(&g1, &v).unwrap(), b.msm_g1(&g1, &fr).unwrap(), "n={n}");
            let group = if n % 3 == 0 { 3 } else { 1 };
            let sums = b.msm_g1_small_groups(&g1, &v, group).unwrap();
            for (g, sum) in sums.iter().enumerate() {
                let r = g * group..(g + 1) * group;
                assert_eq!(*sum, b.msm_g1(&g1[r.clone()], &fr[r]).unwrap(), "n={n} group {g}");
            }
            assert!(b.msm_g1_small(&g1, &v[1..]).is_err(), "one value per base");
        }
        let _ = G1Projective::generator();
    }
}
