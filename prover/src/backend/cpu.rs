//! arkworks on the CPU, parallel over rayon's thread pool.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::VariableBaseMSM;
use ark_ff::FftField;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};

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
        let n = bases.len().min(scalars.len());
        Ok(G1Projective::msm_unchecked(&bases[..n], &scalars[..n]))
    }

    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> Result<G2Projective, BackendError> {
        let n = bases.len().min(scalars.len());
        Ok(G2Projective::msm_unchecked(&bases[..n], &scalars[..n]))
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
