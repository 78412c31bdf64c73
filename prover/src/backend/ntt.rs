//! The CPU backend's radix-2 NTT, cache-blocked.
//!
//! A textbook NTT makes log₂ n passes over the whole vector; at 2^22 field
//! elements (128 MiB) each pass is a trip through main memory, which is what
//! bounds arkworks' FFT on a small machine. Here the first layers of a
//! decimation-in-frequency transform run as full passes only while a butterfly's
//! span exceeds a cache-sized block; the remaining layers then run block by
//! block, in cache (one pass for all of them). The output is bit-reversed and put
//! back in natural order with one permutation. Same transforms, same domains and
//! cosets as arkworks' `Radix2EvaluationDomain` (tests compare them).

use ark_bn254::Fr;
use ark_ff::{FftField, Field, One};
use rayon::prelude::*;

use super::Ntt;

/// Elements per in-cache block (2^13 × 32 bytes = 256 KiB).
const BLOCK: usize = 1 << 13;
/// Elements per parallel task in a full pass.
const TASK: usize = 1 << 12;

/// x_i *= start·step^i, in parallel.
fn scale_by_powers(x: &mut [Fr], start: Fr, step: Fr) {
    x.par_chunks_mut(TASK).enumerate().for_each(|(c, chunk)| {
        let mut p = start * step.pow([(c * TASK) as u64]);
        for v in chunk {
            *v *= p;
            p *= step;
        }
    });
}

/// ω^i for i < n/2.
fn twiddles(omega: Fr, n: usize) -> Vec<Fr> {
    let half = n / 2;
    let mut out = vec![Fr::one(); half];
    out.par_chunks_mut(TASK).enumerate().for_each(|(c, chunk)| {
        let mut p = omega.pow([(c * TASK) as u64]);
        for v in chunk {
            *v = p;
            p *= omega;
        }
    });
    out
}

/// One DIF layer over blocks of `len`: (u, v) → (u + v, (u − v)·tw_j), where
/// tw_j = ω_len^j (the layer's own contiguous table, so reads stream).
fn layer(x: &mut [Fr], len: usize, tw: &[Fr]) {
    let half = len / 2;
    let butterfly = |lo: &mut [Fr], hi: &mut [Fr], j0: usize| {
        for ((u, v), w) in lo.iter_mut().zip(hi.iter_mut()).zip(&tw[j0..]) {
            let (a, b) = (*u, *v);
            *u = a + b;
            *v = (a - b) * w;
        }
    };
    if half >= TASK {
        for block in x.chunks_mut(len) {
            let (lo, hi) = block.split_at_mut(half);
            lo.par_chunks_mut(TASK)
                .zip(hi.par_chunks_mut(TASK))
                .enumerate()
                .for_each(|(c, (lo, hi))| butterfly(lo, hi, c * TASK));
        }
    } else {
        x.par_chunks_mut(len).for_each(|block| {
            let (lo, hi) = block.split_at_mut(half);
            butterfly(lo, hi, 0);
        });
    }
}

/// Decimation in frequency with root ω of order n = x.len(): natural order in,
/// bit-reversed out.
fn dif(x: &mut [Fr], omega: Fr) {
    let n = x.len();
    if n < 2 {
        return;
    }
    let mut tw = twiddles(omega, n);
    let mut len = n;
    while len > BLOCK {
        layer(x, len, &tw);
        len /= 2;
        tw = tw.par_iter().step_by(2).copied().collect();
    }
    // The in-cache layers share the last table: ω_top^i for i < top/2.
    let (top, local) = (len, tw);
    x.par_chunks_mut(top).for_each(|block| {
        let mut len = top;
        while len >= 2 {
            let (half, stride) = (len / 2, top / len);
            for sub in block.chunks_mut(len) {
                let (lo, hi) = sub.split_at_mut(half);
                for (j, (u, v)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                    let (a, b) = (*u, *v);
                    *u = a + b;
                    *v = (a - b) * local[j * stride];
                }
            }
            len /= 2;
        }
    });
}

/// Decimation in time with root ω of order n = x.len(): bit-reversed order in,
/// natural out (the inverse order of [`dif`], so the pair needs no permutation).
fn dit(x: &mut [Fr], omega: Fr) {
    let n = x.len();
    if n < 2 {
        return;
    }
    let top = n.min(BLOCK);
    let local = twiddles(omega.pow([(n / top) as u64]), top);
    x.par_chunks_mut(top).for_each(|block| {
        let mut len = 2;
        while len <= top {
            let (half, stride) = (len / 2, top / len);
            for sub in block.chunks_mut(len) {
                let (lo, hi) = sub.split_at_mut(half);
                for (j, (u, v)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                    let (a, b) = (*u, *v * local[j * stride]);
                    *u = a + b;
                    *v = a - b;
                }
            }
            len *= 2;
        }
    });
    let mut len = top * 2;
    while len <= n {
        let tw = twiddles(omega.pow([(n / len) as u64]), len);
        let half = len / 2;
        let butterfly = |lo: &mut [Fr], hi: &mut [Fr], j0: usize| {
            for ((u, v), w) in lo.iter_mut().zip(hi.iter_mut()).zip(&tw[j0..]) {
                let (a, b) = (*u, *v * w);
                *u = a + b;
                *v = a - b;
            }
        };
        for block in x.chunks_mut(len) {
            let (lo, hi) = block.split_at_mut(half);
            lo.par_chunks_mut(TASK)
                .zip(hi.par_chunks_mut(TASK))
                .enumerate()
                .for_each(|(c, (lo, hi))| butterfly(lo, hi, c * TASK));
        }
        len *= 2;
    }
}

/// Evaluations on H → evaluations on the coset g·H ([`super::coset_shift`]), for each vector: an inverse
/// transform left in bit-reversed order, the coefficients scaled by g^i/n in
/// that order, a forward transform from it (no permutation at all).
pub fn to_coset(vectors: &mut [&mut Vec<Fr>]) {
    let Some(n) = vectors.first().map(|v| v.len()) else { return };
    let omega = Fr::get_root_of_unity(n as u64).expect("a supported power of two");
    let mut scale = vec![Fr::one(); n];
    let g = super::coset_shift(n).expect("a supported size");
    scale_by_powers(&mut scale, Fr::from(n as u64).inverse().expect("n < r"), g);
    bit_reverse(&mut scale);
    let omega_inv = omega.inverse().expect("nonzero");
    for v in vectors.iter_mut() {
        assert_eq!(v.len(), n, "vectors of one size");
        dif(v, omega_inv);
        v.par_iter_mut().zip(&scale).for_each(|(x, s)| *x *= s);
        dit(v, omega);
    }
}

fn bit_reverse(x: &mut [Fr]) {
    let n = x.len();
    if n < 2 {
        return;
    }
    let shift = usize::BITS - n.trailing_zeros();
    for i in 0..n {
        let r = i.reverse_bits() >> shift;
        if i < r {
            x.swap(i, r);
        }
    }
}

/// The transform `kind` over H of size x.len() (a power of two) and its coset g·H.
pub fn ntt(x: &mut [Fr], kind: Ntt) {
    let n = x.len();
    let omega = Fr::get_root_of_unity(n as u64).expect("a supported power of two");
    let g = super::coset_shift(n).expect("a supported size");
    let forward = |x: &mut [Fr]| {
        dif(x, omega);
        bit_reverse(x);
    };
    let inverse = |x: &mut [Fr], post: Fr, step: Fr| {
        dif(x, omega.inverse().expect("nonzero"));
        bit_reverse(x);
        scale_by_powers(x, post, step);
    };
    let n_inv = Fr::from(n as u64).inverse().expect("n < r");
    match kind {
        Ntt::Forward => forward(x),
        Ntt::Inverse => inverse(x, n_inv, Fr::one()),
        Ntt::CosetForward => {
            scale_by_powers(x, Fr::one(), g);
            forward(x)
        }
        Ntt::CosetInverse => inverse(x, n_inv, g.inverse().expect("nonzero")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;
    use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};

    #[test]
    fn matches_arkworks_on_domains_and_cosets() {
        let mut rng = rand::thread_rng();
        // Sizes below, at and above the in-cache block, so both paths run.
        for log in [0u32, 1, 2, 5, 12, 13, 14, 16] {
            let n = 1usize << log;
            let v: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            let d = Radix2EvaluationDomain::<Fr>::new(n).unwrap();
            let coset = d.get_coset(super::super::coset_shift(n).unwrap()).unwrap();
            let mut evals = [d.fft(&v), d.fft(&v)];
            let [x, y] = &mut evals;
            to_coset(&mut [x, y]);
            assert_eq!(evals[0], coset.fft(&v), "to_coset at 2^{log}");
            assert_eq!(evals[1], evals[0]);
            for (kind, want) in [
                (Ntt::Forward, d.fft(&v)),
                (Ntt::Inverse, d.ifft(&v)),
                (Ntt::CosetForward, coset.fft(&v)),
                (Ntt::CosetInverse, coset.ifft(&v)),
            ] {
                let mut got = v.clone();
                ntt(&mut got, kind);
                assert_eq!(got, want, "{kind:?} at 2^{log}");
            }
        }
    }
}
