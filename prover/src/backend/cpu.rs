//! arkworks on the CPU, parallel over rayon's thread pool.

use ark_bn254::{Fq, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, VariableBaseMSM};
use ark_ff::{BigInt, BigInteger, FftField, One, PrimeField, Zero};
use halo2curves_axiom::bn256 as hc;
use halo2curves_axiom::group::prime::PrimeCurveAffine;
use halo2curves_axiom::group::Curve;
use halo2curves_axiom::serde::SerdeObject;
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

/// Below this many pairs arkworks' MSM is as fast and needs no conversion.
const HALO2CURVES_FROM: usize = 1 << 10;

/// G1 MSM with halo2curves' batch-affine Pippenger (about 1.45× arkworks' on
/// BN254 G1 at 2^18–2^20 points on 2 cores). Both libraries keep field elements
/// as the same four Montgomery limbs, so conversion is a copy.
fn msm_g1(bases: &[G1Affine], scalars: &[Fr]) -> G1Projective {
    let (sum_ones, b, s) = prepare(bases, scalars);
    if b.len() < HALO2CURVES_FROM {
        let s: Vec<_> = s.par_iter().map(|x| x.into_bigint()).collect();
        return sum_ones + G1Projective::msm_bigint(&b, &s);
    }
    let b: Vec<hc::G1Affine> = b.par_iter().map(g1_to_hc).collect();
    let s: Vec<hc::Fr> = s.par_iter().map(|x| hc::Fr::from_raw_bytes_unchecked(&limbs_le(&x.0 .0))).collect();
    sum_ones + g1_from_hc(&halo2curves_axiom::msm::msm_best(&s, &b).to_affine())
}

fn limbs_le(l: &[u64; 4]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(8).zip(l) {
        o.copy_from_slice(&x.to_le_bytes());
    }
    out
}

fn fq_to_hc(x: &Fq) -> hc::Fq {
    hc::Fq::from_raw_bytes_unchecked(&limbs_le(&x.0 .0))
}

fn fq_from_hc(x: &hc::Fq) -> Fq {
    let raw = x.to_raw_bytes();
    let limbs = std::array::from_fn(|i| u64::from_le_bytes(raw[8 * i..8 * i + 8].try_into().expect("8 bytes")));
    Fq::new_unchecked(BigInt(limbs))
}

fn g1_to_hc(p: &G1Affine) -> hc::G1Affine {
    match p.xy() {
        Some((x, y)) => hc::G1Affine { x: fq_to_hc(&x), y: fq_to_hc(&y) },
        None => hc::G1Affine::identity(),
    }
}

fn g1_from_hc(p: &hc::G1Affine) -> G1Projective {
    if bool::from(p.is_identity()) {
        return G1Projective::zero();
    }
    G1Affine::new_unchecked(fq_from_hc(&p.x), fq_from_hc(&p.y)).into_group()
}

use veriflop_circuits::cp;

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
        Ok(cp::small_msm(bases, values).into())
    }

    fn msm_g1_small_groups(
        &self,
        bases: &[G1Affine],
        values: &[i128],
        group: usize,
    ) -> Result<Vec<G1Projective>, BackendError> {
        check_pairs(bases.len(), values.len(), group)?;
        Ok(cp::small_msm_groups(bases, values, group))
    }

    /// Fused: no bit-reversal permutations (`ntt::to_coset`).
    fn to_coset(&self, vectors: &mut [&mut Vec<Fr>]) -> Result<(), BackendError> {
        if let Some(v) =
            vectors.iter().find(|v| !v.len().is_power_of_two() || Fr::get_root_of_unity(v.len() as u64).is_none())
        {
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
        if !n.is_power_of_two() || Fr::get_root_of_unity(n as u64).is_none() {
            return Err(BackendError::Unsupported(format!("NTT size {n} is not a supported power of two")));
        }
        super::ntt::ntt(values, kind);
        Ok(())
    }
}
