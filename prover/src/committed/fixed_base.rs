//! Many scalar multiples of the G1 generator, as a setup needs them (millions of
//! query points): a table of d·2^(w·i)·G per w-bit window i, and each output the
//! sum of one table point per window, added in affine coordinates with one
//! shared inversion per window and batch (Montgomery's trick). An affine
//! addition then costs about 6 field multiplications against 11 for a mixed
//! Jacobian one, which is where arkworks' `BatchMulPreprocessing` spends its time.

use ark_bn254::{Fq, Fr, G1Affine, G1Projective};
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{batch_inversion, Field, PrimeField, Zero};
use rayon::prelude::*;

/// Outputs summed together per batch inversion.
const BATCH: usize = 1024;

pub struct FixedBase {
    window: usize,
    windows: usize,
    /// `table[i << window | d]` = d·2^(window·i)·G.
    table: Vec<G1Affine>,
}

impl FixedBase {
    /// A table sized for about `count` multiplications (a bigger window costs a
    /// bigger table and saves additions per output).
    pub fn new(count: usize) -> Self {
        let window = (usize::BITS - count.max(1).leading_zeros()).saturating_sub(4).clamp(4, 16) as usize;
        let windows = (Fr::MODULUS_BIT_SIZE as usize).div_ceil(window);
        let table = (0..windows)
            .into_par_iter()
            .flat_map_iter(|i| {
                let base = G1Projective::generator() * Fr::from(2u64).pow([(window * i) as u64]);
                let mut row = Vec::with_capacity(1 << window);
                let mut x = G1Projective::zero();
                for _ in 0..1usize << window {
                    row.push(x);
                    x += base;
                }
                G1Projective::normalize_batch(&row)
            })
            .collect();
        FixedBase { window, windows, table }
    }

    /// s_i·G for every scalar.
    pub fn mul(&self, scalars: &[Fr]) -> Vec<G1Affine> {
        scalars.par_chunks(BATCH).flat_map_iter(|chunk| self.mul_chunk(chunk)).collect()
    }

    fn digit(&self, s: &[u64; 4], i: usize) -> usize {
        let (bit, mask) = (i * self.window, (1u64 << self.window) - 1);
        let (limb, shift) = (bit / 64, bit % 64);
        let mut d = s[limb] >> shift;
        if shift + self.window > 64 && limb + 1 < 4 {
            d |= s[limb + 1] << (64 - shift);
        }
        (d & mask) as usize
    }

    fn mul_chunk(&self, chunk: &[Fr]) -> Vec<G1Affine> {
        let scalars: Vec<[u64; 4]> = chunk.iter().map(|s| s.into_bigint().0).collect();
        let mut acc = vec![G1Affine::identity(); chunk.len()];
        let mut denom = vec![Fq::zero(); chunk.len()];
        for i in 0..self.windows {
            let row = &self.table[i << self.window..(i + 1) << self.window];
            let q: Vec<&G1Affine> = scalars.iter().map(|s| &row[self.digit(s, i)]).collect();
            // Denominators x_q − x_acc where an affine addition applies; 1 elsewhere.
            for ((d, a), q) in denom.iter_mut().zip(&acc).zip(&q) {
                *d = match (a.xy(), q.xy()) {
                    (Some((ax, _)), Some((qx, _))) if ax != qx => qx - ax,
                    _ => Fq::ONE,
                };
            }
            batch_inversion(&mut denom);
            for ((a, q), inv) in acc.iter_mut().zip(&q).zip(&denom) {
                *a = match (a.xy(), q.xy()) {
                    (_, None) => *a,
                    (None, Some(_)) => **q,
                    (Some((ax, ay)), Some((qx, qy))) if ax != qx => {
                        let lambda = (qy - ay) * inv;
                        let x = lambda.square() - ax - qx;
                        G1Affine::new_unchecked(x, lambda * (ax - x) - ay)
                    }
                    // Equal x: a doubling or a sum to zero (rare; Jacobian is fine).
                    _ => (a.into_group() + *q).into_affine(),
                };
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;

    #[test]
    fn multiples_match_scalar_multiplication() {
        let mut rng = rand::thread_rng();
        for count in [1usize, 5, 3000] {
            let fb = FixedBase::new(count);
            let mut s: Vec<Fr> = (0..count).map(|_| Fr::rand(&mut rng)).collect();
            s[0] = Fr::zero();
            if count > 4 {
                (s[1], s[2], s[3], s[4]) = (Fr::from(1u64), -Fr::from(1u64), Fr::from(2u64), s[4]);
            }
            let got = fb.mul(&s);
            for (x, p) in s.iter().zip(&got) {
                assert_eq!(*p, (G1Projective::generator() * x).into_affine());
            }
        }
    }
}
