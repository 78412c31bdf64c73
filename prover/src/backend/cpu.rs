//! arkworks on the CPU, parallel over rayon's thread pool.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, VariableBaseMSM};
use ark_ff::{BigInteger, One, PrimeField, Zero};
use rayon::prelude::*;

/// Circuit witnesses are full of 0s and 1s (bits, unused wires) and small signed
/// integers (matrix entries), keys of identity points (wires absent from a
/// query). Pairs that contribute nothing are dropped, scalars equal to one become
/// plain additions, and a small negative scalar −v (a full-width field element)
/// becomes v times the negated base, so the bucket MSM only sees its few digits.
fn prepare<A>(bases: &[A], scalars: &[Fr]) -> (A::Group, Vec<A>, Vec<Fr>)
where
    A: AffineRepr<ScalarField = Fr> + std::ops::Neg<Output = A>,
{
    let n = bases.len().min(scalars.len());
    let (ones, rest): (Vec<usize>, Vec<usize>) = (0..n)
        .into_par_iter()
        .filter(|&i| !scalars[i].is_zero() && !bases[i].is_zero())
        .partition(|&i| scalars[i].is_one());
    let sum_ones: A::Group = ones.par_iter().map(|&i| bases[i].into_group()).sum();
    let (b, s): (Vec<A>, Vec<Fr>) = rest
        .par_iter()
        .map(|&i| {
            let s = scalars[i];
            if s.into_bigint().num_bits() > 128 && (-s).into_bigint().num_bits() <= 128 {
                return (-bases[i], -s);
            }
            (bases[i], s)
        })
        .unzip();
    (sum_ones, b, s)
}

fn msm<G: VariableBaseMSM<ScalarField = Fr>>(bases: &[G::MulBase], scalars: &[Fr]) -> G
where
    G::MulBase: AffineRepr<Group = G, ScalarField = Fr> + std::ops::Neg<Output = G::MulBase>,
{
    let (sum_ones, b, s) = prepare(bases, scalars);
    let s: Vec<_> = s.par_iter().map(|x| x.into_bigint()).collect();
    sum_ones + G::msm_bigint(&b, &s)
}

/// G1 MSM by `veriflop_circuits::msm` (batch-affine buckets): as fast as
/// halo2curves' at 2^22 points and 15% faster at 2^20 on 2 cores, 1.7× arkworks',
/// without copying the bases.
fn msm_g1(bases: &[G1Affine], scalars: &[Fr]) -> G1Projective {
    let (sum_ones, b, s) = prepare(bases, scalars);
    sum_ones + veriflop_circuits::msm::msm(&b, &s)
}

use super::{Backend, BackendError, Ntt};

/// One value per base, in whole groups.
pub(super) fn check_pairs(bases: usize, values: usize, group: usize) -> Result<(), BackendError> {
    if bases != values || group == 0 || values % group != 0 {
        return Err(BackendError::Unsupported(format!("{values} values for {bases} bases in groups of {group}")));
    }
    Ok(())
}

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
        Ok(msm_g1(bases, scalars))
    }

    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> Result<G2Projective, BackendError> {
        Ok(msm(bases, scalars))
    }

    fn msm_g1_small(&self, bases: &[G1Affine], values: &[i128]) -> Result<G1Projective, BackendError> {
        check_pairs(bases.len(), values.len(), 1)?;
        Ok(veriflop_circuits::msm::small_msm(bases, values))
    }

    fn msm_g1_small_groups(
        &self,
        bases: &[G1Affine],
        values: &[i128],
        group: usize,
    ) -> Result<Vec<G1Projective>, BackendError> {
        check_pairs(bases.len(), values.len(), group)?;
        Ok(veriflop_circuits::msm::small_msm_groups(bases, values, group))
    }

    /// Fused: no bit-reversal permutations (`ntt::to_coset`).
    fn to_coset(&self, vectors: &mut [&mut Vec<Fr>]) -> Result<(), BackendError> {
        if let Some(v) = vectors.iter().find(|v| !v.len().is_power_of_two() || super::coset_shift(v.len()).is_none()) {
            return Err(BackendError::Unsupported(format!("NTT size {} is not a supported power of two", v.len())));
        }
        if vectors.windows(2).any(|w| w[0].len() != w[1].len()) {
            return Err(BackendError::Unsupported("vectors of different sizes".into()));
        }
        super::ntt::to_coset(vectors);
        Ok(())
    }

    fn ntt(&self, values: &mut Vec<Fr>, kind: Ntt) -> Result<(), BackendError> {
        let n = values.len();
        if !n.is_power_of_two() || super::coset_shift(n).is_none() {
            return Err(BackendError::Unsupported(format!("NTT size {n} is not a supported power of two")));
        }
        super::ntt::ntt(values, kind);
        Ok(())
    }
}
