//! arkworks on the CPU, parallel over rayon's thread pool.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, VariableBaseMSM};
use ark_ff::{BigInteger, FftField, One, PrimeField, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use rayon::prelude::*;

/// Circuit witnesses are full of 0s and 1s (bits, unused wires) and small signed
/// integers (matrix entries), keys of identity points (wires absent from a
/// query). Pairs that contribute nothing are dropped, scalars equal to one become
/// plain additions, and a small negative scalar −v (a full-width field element)
/// becomes v times the negated base, so the bucket MSM only sees its few digits.
fn msm<G: VariableBaseMSM<ScalarField = Fr>>(bases: &[G::MulBase], scalars: &[Fr]) -> G
where
    G::MulBase: AffineRepr<Group = G>,
{
    let n = bases.len().min(scalars.len());
    let (ones, rest): (Vec<usize>, Vec<usize>) = (0..n)
        .into_par_iter()
        .filter(|&i| !scalars[i].is_zero() && !bases[i].is_zero())
        .partition(|&i| scalars[i].is_one());
    let sum_ones: G = ones.par_iter().map(|&i| bases[i].into_group()).sum();
    let (b, s): (Vec<G::MulBase>, Vec<_>) = rest
        .par_iter()
        .map(|&i| {
            let s = scalars[i].into_bigint();
            if s.num_bits() > 128 {
                let neg = (-scalars[i]).into_bigint();
                if neg.num_bits() <= 128 {
                    return (-bases[i], neg);
                }
            }
            (bases[i], s)
        })
        .unzip();
    sum_ones + G::msm_bigint(&b, &s)
}

use super::{Backend, BackendError, Ntt};

#[derive(Clone, Debug, Default)]
pub struct CpuBackend;

impl CpuBackend {
    pub fn new() -> Self {
        CpuBackend
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Fr]) -> Result<G1Projective, BackendError> {
        Ok(msm(bases, scalars))
    }

    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> Result<G2Projective, BackendError> {
        Ok(msm(bases, scalars))
    }

    fn ntt(&self, values: &mut Vec<Fr>, kind: Ntt) -> Result<(), BackendError> {
        let n = values.len();
        let domain = Radix2EvaluationDomain::<Fr>::new(n)
            .filter(|d| d.size() == n)
            .ok_or_else(|| BackendError::Unsupported(format!("NTT size {n} is not a supported power of two")))?;
        let coset = || domain.get_coset(Fr::GENERATOR).expect("generator is outside H");
        match kind {
            Ntt::Forward => domain.fft_in_place(values),
            Ntt::Inverse => domain.ifft_in_place(values),
            Ntt::CosetForward => coset().fft_in_place(values),
            Ntt::CosetInverse => coset().ifft_in_place(values),
        }
        Ok(())
    }
}
