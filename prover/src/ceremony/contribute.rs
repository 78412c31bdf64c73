//! One contribution: fresh δ_j and σ_j applied to the last key, with proofs
//! of knowledge of both. The secrets live only in this function's stack and
//! are dropped when it returns.

use ark_bn254::{Fr, G1Projective, G2Projective};
use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::{UniformRand, Zero};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

use super::{challenge, inverse, scale, scale2, Phase2, Record};

fn nonzero(rng: &mut ChaCha20Rng) -> Fr {
    loop {
        let x = Fr::rand(rng);
        if !x.is_zero() {
            return x;
        }
    }
}

/// The next file after `prev`. Randomness: 64 bytes of the OS RNG, hashed with
/// the contributor's optional `entropy` text, seed a ChaCha20 stream.
pub fn contribute(prev: &Phase2, name: &str, entropy: &[u8]) -> Phase2 {
    let mut seed = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut h = Sha256::new();
    h.update(b"veriflop phase 2 entropy/");
    h.update(seed);
    h.update(entropy);
    let mut rng = ChaCha20Rng::from_seed(h.finalize().into());
    apply(prev, name, &mut rng)
}

/// The contribution with randomness from `rng` (tests give a seeded one).
pub(super) fn apply(prev: &Phase2, name: &str, rng: &mut ChaCha20Rng) -> Phase2 {
    let (delta, sigma) = (nonzero(rng), nonzero(rng));
    let prev_hash = prev.hash();
    let pok = |x: Fr, tag: &str, rng: &mut ChaCha20Rng| {
        let s = (G1Projective::generator() * nonzero(rng)).into_affine();
        let sx = (s * x).into_affine();
        let r = challenge(tag, &prev_hash, &s, &sx);
        (s, sx, (G2Projective::from(r) * x).into_affine())
    };
    let (s, s_delta, r_delta) = pok(delta, "delta", rng);
    let (t, t_sigma, q_sigma) = pok(sigma, "sigma", rng);
    let k = &prev.key;
    let delta_inv = inverse(delta);
    let mut key = k.clone();
    key.vk.delta_g2 = scale2(&k.vk.delta_g2, delta);
    key.delta_g1 = (G1Projective::from(k.delta_g1) * delta).into_affine();
    key.l_scalar = scale(&k.l_scalar, delta_inv);
    key.l_products = scale(&k.l_products, delta_inv);
    key.h = scale(&k.h, delta_inv);
    key.pok = scale(&k.pok, sigma);
    let mut name = name.to_string();
    while name.len() > super::MAX_NAME {
        name.pop();
    }
    Phase2 {
        shape: prev.shape,
        index: prev.index + 1,
        prev: prev_hash,
        name,
        record: Some(Record { s, s_delta, r_delta, t, t_sigma, q_sigma }),
        sigma_delta_g2: scale2(&prev.sigma_delta_g2, sigma * delta),
        key,
    }
}
