//! One contribution: a fresh δ_j (and for the committed circuit σ_j, for a
//! model's keys σ_hidden,j and σ_out,j) applied to the last file, with proofs of knowledge. Streams: a pass hashes the last
//! file (the proofs are bound to its hash), a second reads it a chunk at a time
//! and writes the next file through a temporary one renamed into place. The
//! secrets live only in this function's frame and are dropped when it returns.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use ark_bn254::{Fr, G1Projective, G2Projective};
use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::{UniformRand, Zero};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

use super::stream::{items, lengths, sigma_tag, sigmas, Pok, Prefix, Reader, Record, Role, Writer, CHUNK};
use super::{challenge, files, inverse, open, scale, scale2, CeremonyError, Phase2, MAX_NAME};

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

/// Sizes of the chunks a part of `n` points is read in.
pub(super) fn chunks(n: usize) -> impl Iterator<Item = usize> {
    (0..n).step_by(CHUNK).map(move |at| CHUNK.min(n - at))
}

/// Reads every part of the key after the prefix, a chunk at a time, handing
/// each chunk (part index, G1 or G2 points) to `f`.
pub(super) fn walk<R: std::io::Read>(
    r: &mut Reader<R>,
    prefix: &Prefix,
    mut f: impl FnMut(usize, Chunk) -> Result<(), String>,
) -> Result<(), String> {
    let want = lengths(prefix.kind, &prefix.shape);
    let mut v = 0;
    for (i, item) in items(prefix.kind).iter().enumerate() {
        let n = if item.vector {
            v += 1;
            let n = r.len(item, want[v - 1])?;
            f(i, Chunk::Len(n))?;
            n
        } else {
            1
        };
        for c in chunks(n) {
            if item.g2 {
                f(i, Chunk::G2(r.g2s(c, item.name)?))?;
            } else {
                f(i, Chunk::G1(r.g1s(c, item.name)?))?;
            }
        }
    }
    Ok(())
}

/// A piece of a key part, as [`walk`] reads it.
pub(super) enum Chunk {
    /// A vector's length prefix.
    Len(usize),
    G1(Vec<ark_bn254::G1Affine>),
    G2(Vec<ark_bn254::G2Affine>),
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

    // Pass 1: the last file's prefix and hash (every point checked).
    let mut r = open(last)?;
    let prev = r.prefix(None).map_err(bad)?;
    walk(&mut r, &prev, |_, _| Ok(())).map_err(bad)?;
    let prev_hash = r.finish().map_err(bad)?;

    let delta = nonzero(&mut rng);
    let sigma: Vec<Fr> = (0..sigmas(prev.kind)).map(|_| nonzero(&mut rng)).collect();
    let pok = |x: Fr, tag: &str, rng: &mut ChaCha20Rng| {
        let s = (G1Projective::generator() * nonzero(rng)).into_affine();
        let sx = (s * x).into_affine();
        let r = challenge(tag, &prev_hash, &s, &sx);
        Pok { s, sx, rx: (G2Projective::from(r) * x).into_affine() }
    };
    let record = Record {
        delta: pok(delta, "delta", &mut rng),
        sigmas: sigma.iter().enumerate().map(|(k, s)| pok(*s, sigma_tag(k), &mut rng)).collect(),
    };
    let mut name = name.to_string();
    while name.len() > MAX_NAME {
        name.pop();
    }
    let next = Prefix {
        kind: prev.kind,
        shape: prev.shape,
        index: prev.index + 1,
        prev: prev_hash,
        name,
        model: prev.model,
        record: Some(record),
        sigma_delta_g2: prev.sigma_delta_g2.map(|p| scale2(&p, sigma[0] * delta)),
    };
    let path = dir.join(Phase2::file_name(next.index));
    if path.exists() {
        return Err(CeremonyError::Usage(format!("{} exists already", path.display())));
    }

    // Pass 2: the next file, a chunk at a time.
    let mut r = open(last)?;
    if r.prefix(Some((prev.kind, prev.shape))).map_err(bad)? != prev {
        return Err(bad("changed while it was read".into()));
    }
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    let mut w = Writer::new(BufWriter::with_capacity(1 << 20, tmp));
    w.bytes(&next.to_bytes()).map_err(io)?;
    let delta_inv = inverse(delta);
    let roles: Vec<Role> = items(prev.kind).iter().map(|i| i.role).collect();
    walk(&mut r, &prev, |i, chunk| {
        let written = match chunk {
            Chunk::Len(n) => w.bytes(&(n as u64).to_le_bytes()),
            Chunk::G2(p) => match roles[i] {
                Role::Delta => w.g2s(&[scale2(&p[0], delta)]),
                Role::Sigma(k) => w.g2s(&[scale2(&p[0], sigma[k])]),
                _ => w.g2s(&p),
            },
            Chunk::G1(p) => w.g1s(&match roles[i] {
                Role::Phase1 => p,
                Role::Delta => scale(&p, delta),
                Role::OverDelta => scale(&p, delta_inv),
                Role::Sigma(k) => scale(&p, sigma[k]),
            }),
        };
        written.map_err(|e| e.to_string())
    })
    .map_err(bad)?;
    if r.finish().map_err(bad)? != prev_hash {
        return Err(bad("changed while it was read".into()));
    }
    let (buf, hash) = w.finish().map_err(io)?;
    let tmp = buf.into_inner().map_err(|e| io(e.into_error()))?;
    tmp.persist_noclobber(&path).map_err(|e| io(e.error))?;
    Ok(Contribution { index: next.index, path, hash })
}
