//! Reader for snarkjs `.ptau` files (the format of the Perpetual Powers of Tau
//! ceremony): magic `ptau`, version, sections `{type u32, size u64, bytes}`.
//! Section 1 holds n8 = 32, the BN254 base-field modulus q, the power p;
//! section 2 holds 2^(p+1) − 1 points [τ^i]G1, section 3 2^p points [τ^i]G2.
//! Coordinates are little-endian Montgomery form ("LEM"), G2 coordinates as
//! (c0, c1) — the same limbs halo2curves keeps internally, so each coordinate
//! is read with `from_raw_bytes` (which rejects values ≥ q).

use halo2_proofs::halo2curves::bn256::{Fq, Fq2, G1Affine, G2Affine};
use halo2_proofs::halo2curves::ff::{Field, PrimeField};

use crate::srs::{fq_from_montgomery_le, g1_from_xy, g2_from_xy, SrsError};

/// Sections of interest, borrowed from the file bytes.
pub(crate) struct Ptau<'a> {
    pub power: u32,
    tau_g1: &'a [u8],
    tau_g2: &'a [u8],
}

fn err(m: impl Into<String>) -> SrsError {
    SrsError::Format(format!(".ptau: {}", m.into()))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, SrsError> {
    b.get(at..at + 4).map(|x| u32::from_le_bytes(x.try_into().unwrap())).ok_or_else(|| err("truncated"))
}

impl<'a> Ptau<'a> {
    pub fn parse(b: &'a [u8]) -> Result<Ptau<'a>, SrsError> {
        if b.get(..4) != Some(b"ptau") {
            return Err(err("bad magic (not a .ptau file)"));
        }
        let version = u32_at(b, 4)?;
        if version != 1 {
            return Err(err(format!("version {version}, expected 1")));
        }
        let nsections = u32_at(b, 8)?;
        let (mut header, mut g1, mut g2) = (None, None, None);
        let mut at = 12usize;
        for _ in 0..nsections {
            let ty = u32_at(b, at)?;
            let size = b
                .get(at + 4..at + 12)
                .map(|x| u64::from_le_bytes(x.try_into().unwrap()))
                .ok_or_else(|| err("truncated"))?;
            let start = at + 12;
            let end = usize::try_from(size).ok().and_then(|s| start.checked_add(s)).filter(|&e| e <= b.len());
            let end = end.ok_or_else(|| err(format!("section {ty} runs past the end of the file")))?;
            let body = &b[start..end];
            match ty {
                1 => header = Some(body),
                2 => g1 = Some(body),
                3 => g2 = Some(body),
                _ => {}
            }
            at = end;
        }
        let header = header.ok_or_else(|| err("no header section"))?;
        let n8 = u32_at(header, 0)?;
        if n8 != 32 {
            return Err(err(format!("field size {n8} bytes, BN254 has 32")));
        }
        let q = header.get(4..36).ok_or_else(|| err("truncated header"))?;
        let modulus = (-Fq::ONE).to_repr(); // q − 1, little-endian
        let mut q_minus_1 = [0u8; 32];
        q_minus_1.copy_from_slice(q);
        q_minus_1[0] = q_minus_1[0].wrapping_sub(1); // q is odd: no borrow
        if q_minus_1 != modulus.as_ref()[..] {
            return Err(err("not a BN254 (bn128) ceremony"));
        }
        let power = u32_at(header, 36)?;
        if power > 28 {
            return Err(err(format!("power {power} is beyond BN254's 2-adicity")));
        }
        let (g1, g2) = (g1.ok_or_else(|| err("no τ·G1 section"))?, g2.ok_or_else(|| err("no τ·G2 section"))?);
        if g1.len() as u64 != ((1u64 << (power + 1)) - 1) * 64 || g2.len() as u64 != (1u64 << power) * 128 {
            return Err(err("section sizes do not match the power"));
        }
        Ok(Ptau { power, tau_g1: g1, tau_g2: g2 })
    }

    /// [τ^i]G1.
    pub fn g1(&self, i: usize) -> Result<G1Affine, SrsError> {
        let p = self.tau_g1.get(i * 64..(i + 1) * 64).ok_or_else(|| err("index past τ·G1"))?;
        let x = fq(&p[..32])?;
        let y = fq(&p[32..])?;
        g1_from_xy(x, y).ok_or_else(|| err(format!("τ^{i}·G1 is not on the curve")))
    }

    /// [τ^i]G2.
    pub fn g2(&self, i: usize) -> Result<G2Affine, SrsError> {
        let p = self.tau_g2.get(i * 128..(i + 1) * 128).ok_or_else(|| err("index past τ·G2"))?;
        let c = |o: usize| fq(&p[o..o + 32]);
        let x = Fq2 { c0: c(0)?, c1: c(32)? };
        let y = Fq2 { c0: c(64)?, c1: c(96)? };
        g2_from_xy(x, y).ok_or_else(|| err(format!("τ^{i}·G2 is not on the curve")))
    }
}

fn fq(b: &[u8]) -> Result<Fq, SrsError> {
    fq_from_montgomery_le(b).ok_or_else(|| err("coordinate ≥ q"))
}
