//! One contribution: fresh δ_j and σ_j applied to the last file, with proofs of
//! knowledge of both. Streams: a pass hashes the last file (the proofs are
//! bound to its hash), a second reads it a chunk at a time and writes the next
//! file through a temporary one renamed into place. The secrets live only in
//! this function's frame and are dropped when it returns.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use ark_bn254::{Fr, G1Projective, G2Projective};
use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::{UniformRand, Zero};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

use super::stream::{Fixed, Prefix, Writer, B_G2, CHUNK, H, L_SCALAR, POK, VECTORS};
use super::{challenge, files, inverse, open, scale, scale2, CeremonyError, Phase2, Record, MAX_NAME};
use crate::committed;

fn nonzero(rng: &mut ChaCha20Rng) -> Fr {
    loop {
        let x = Fr::rand(rng);
        if !x.is_zero() {
            return x;
        }
    }
}

/// What a contribution wrote.
#[derive(Debug)]
pub struct Contribution {
    pub index: u32,
    pub path: PathBuf,
    /// SHA-256 of the new file: the hash the contributor publishes.
    pub hash: [u8; 32],
}

/// Adds a contribution after the last file of `dir`. Randomness: 64 bytes of
/// the OS RNG, hashed with the contributor's optional `entropy` text, seed a
/// ChaCha20 stream.
pub fn contribute(dir: &Path, name: &str, entropy: &[u8]) -> Result<Contribution, CeremonyError> {
    let mut seed = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut h = Sha256::new();
    h.update(b"veriflop phase 2 entropy/");
    h.update(seed);
    h.update(entropy);
    let mut rng = ChaCha20Rng::from_seed(h.finalize().into());
    let files = files(dir)?;
    let last = files.last().expect("files() returns at least one");
    let bad = |e: String| CeremonyError::Format(format!("{}: {e}", last.display()));
    let io = |e: std::io::Error| CeremonyError::Io(format!("{}: {e}", dir.display()));

    // Pass 1: the last file's prefix and hash.
    let (mut r, len) = open(last)?;
    let prev = r.prefix(None, len).map_err(bad)?;
    let want = committed::lengths(&prev.shape).ok_or_else(|| bad("the shape is too large".into()))?;
    Fixed::read(&mut r).map_err(bad)?;
    for (i, n) in want.iter().enumerate() {
        r.len(*n, VECTORS[i]).map_err(bad)?;
        for c in chunks(*n) {
            if i == B_G2 {
                r.g2s(c, VECTORS[i]).map_err(bad)?;
            } else {
                r.g1s(c, VECTORS[i]).map_err(bad)?;
            }
        }
    }
    let prev_hash = r.finish().map_err(bad)?;

    let (delta, sigma) = (nonzero(&mut rng), nonzero(&mut rng));
    let pok = |x: Fr, tag: &str, rng: &mut ChaCha20Rng| {
        let s = (G1Projective::generator() * nonzero(rng)).into_affine();
        let sx = (s * x).into_affine();
        let r = challenge(tag, &prev_hash, &s, &sx);
        (s, sx, (G2Projective::from(r) * x).into_affine())
    };
    let (s, s_delta, r_delta) = pok(delta, "delta", &mut rng);
    let (t, t_sigma, q_sigma) = pok(sigma, "sigma", &mut rng);
    let mut name = name.to_string();
    while name.len() > MAX_NAME {
        name.pop();
    }
    let next = Prefix {
        shape: prev.shape,
        index: prev.index + 1,
        prev: prev_hash,
        name,
        record: Some(Record { s, s_delta, r_delta, t, t_sigma, q_sigma }),
        sigma_delta_g2: scale2(&prev.sigma_delta_g2, sigma * delta),
    };
    let path = dir.join(Phase2::file_name(next.index));
    if path.exists() {
        return Err(CeremonyError::Usage(format!("{} exists already", path.display())));
    }

    // Pass 2: the next file, a chunk at a time.
    let (mut r, len) = open(last)?;
    if r.prefix(Some(&prev.shape), len).map_err(bad)? != prev {
        return Err(bad("changed while it was read".into()));
    }
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    let mut w = Writer::new(BufWriter::with_capacity(1 << 20, tmp));
    w.bytes(&next.to_bytes()).map_err(io)?;
    let mut fixed = Fixed::read(&mut r).map_err(bad)?;
    fixed.delta_g2 = scale2(&fixed.delta_g2, delta);
    fixed.delta_g1 = (G1Projective::from(fixed.delta_g1) * delta).into_affine();
    w.bytes(&fixed.to_bytes()).map_err(io)?;
    let delta_inv = inverse(delta);
    for (i, n) in want.iter().enumerate() {
        r.len(*n, VECTORS[i]).map_err(bad)?;
        w.bytes(&(*n as u64).to_le_bytes()).map_err(io)?;
        for c in chunks(*n) {
            if i == B_G2 {
                w.g2s(&r.g2s(c, VECTORS[i]).map_err(bad)?).map_err(io)?;
                continue;
            }
            let points = r.g1s(c, VECTORS[i]).map_err(bad)?;
            let points = match i {
                L_SCALAR..=H => scale(&points, delta_inv),
                POK => scale(&points, sigma),
                _ => points,
            };
            w.g1s(&points).map_err(io)?;
        }
    }
    if r.finish().map_err(bad)? != prev_hash {
        return Err(bad("changed while it was read".into()));
    }
    let (buf, hash) = w.finish().map_err(io)?;
    let tmp = buf.into_inner().map_err(|e| io(e.into_error()))?;
    tmp.persist_noclobber(&path).map_err(|e| io(e.error))?;
    Ok(Contribution { index: next.index, path, hash })
}

/// Sizes of the chunks a vector of `n` points is read in.
pub(super) fn chunks(n: usize) -> impl Iterator<Item = usize> {
    (0..n).step_by(CHUNK).map(move |at| CHUNK.min(n - at))
}
