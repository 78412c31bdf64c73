//! The parts of a snarkjs `.ptau` file (Perpetual Powers of Tau) that phase 2
//! reads, as arkworks points. The container: magic `ptau`, version 1, a section
//! count, then sections `{type u32, size u64, bytes}`. Section 1 is the header
//! (n8 = 32, the base-field modulus q, the power p); 2–6 hold [τ^i]₁
//! (2^(p+1) − 1 points), [τ^i]₂, [ατ^i]₁, [βτ^i]₁ (2^p points each) and [β]₂;
//! `snarkjs powersoftau prepare phase2` adds 12–15, the same points in the
//! Lagrange basis: for each size 2^e ≤ 2^p in turn, [L_i(τ)]₁, [L_i(τ)]₂,
//! [αL_i(τ)]₁, [βL_i(τ)]₁ for the points ω^i of arkworks' domain of size 2^e.
//! Coordinates are 32-byte little-endian Montgomery form; (0, 0) is the identity.
//!
//! The file is read by section offsets, a slice at a time: phase 2 never holds
//! more of it than the vectors it needs. Every point read is checked on the
//! curve (and for G2 in the subgroup); nothing here checks that the sections
//! agree with each other, which [`super::verify`] does.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::scalar_mul::ScalarMul;
use ark_ec::{AffineRepr, PrimeGroup};
use ark_ff::{BigInt, Field, PrimeField, UniformRand, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// A section the phase-2 reader uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    TauG1 = 2,
    TauG2 = 3,
    AlphaTauG1 = 4,
    BetaTauG1 = 5,
    BetaG2 = 6,
    LagrangeG1 = 12,
    LagrangeG2 = 13,
    LagrangeAlphaG1 = 14,
    LagrangeBetaG1 = 15,
}

impl Section {
    fn g2(self) -> bool {
        matches!(self, Section::TauG2 | Section::BetaG2 | Section::LagrangeG2)
    }
    fn point_bytes(self) -> u64 {
        if self.g2() {
            128
        } else {
            64
        }
    }
    /// Points the section holds for a file of power p.
    fn points(self, p: u32) -> u64 {
        match self {
            Section::TauG1 => (1 << (p + 1)) - 1,
            Section::TauG2 | Section::AlphaTauG1 | Section::BetaTauG1 => 1 << p,
            Section::BetaG2 => 1,
            _ => (1 << (p + 1)) - 1,
        }
    }
}

/// An open `.ptau` file: its power, section offsets and SHA-256.
pub struct Ptau {
    file: File,
    pub power: u32,
    /// SHA-256 of the whole file: phase 2's first transcript file names it.
    pub digest: [u8; 32],
    sections: Vec<(u32, u64, u64)>,
}

fn err(m: impl Into<String>) -> String {
    format!(".ptau: {}", m.into())
}

impl Ptau {
    /// Opens and indexes a `.ptau` file and hashes it (one streaming pass).
    pub fn open(path: &Path) -> Result<Ptau, String> {
        let mut file = File::open(path).map_err(|e| err(e.to_string()))?;
        let len = file.metadata().map_err(|e| err(e.to_string()))?.len();
        let mut head = [0u8; 12];
        file.read_exact(&mut head).map_err(|_| err("truncated"))?;
        if &head[..4] != b"ptau" {
            return Err(err("bad magic (not a .ptau file)"));
        }
        let version = u32::from_le_bytes(head[4..8].try_into().expect("4"));
        if version != 1 {
            return Err(err(format!("version {version}, expected 1")));
        }
        let count = u32::from_le_bytes(head[8..12].try_into().expect("4"));
        let mut sections = Vec::new();
        let mut at = 12u64;
        for _ in 0..count.min(64) {
            let mut s = [0u8; 12];
            file.seek(SeekFrom::Start(at)).map_err(|e| err(e.to_string()))?;
            file.read_exact(&mut s).map_err(|_| err("truncated section table"))?;
            let ty = u32::from_le_bytes(s[..4].try_into().expect("4"));
            let size = u64::from_le_bytes(s[4..].try_into().expect("8"));
            let start = at + 12;
            let end = start.checked_add(size).filter(|&e| e <= len);
            let end = end.ok_or_else(|| err(format!("section {ty} runs past the end of the file")))?;
            sections.push((ty, start, size));
            at = end;
        }
        let mut ptau = Ptau { file, power: 0, digest: [0; 32], sections };
        let header = ptau.raw(1, 0, 40.min(ptau.size(1)?))?;
        if header.len() < 40 || u32::from_le_bytes(header[..4].try_into().expect("4")) != 32 {
            return Err(err("header: field size is not 32 bytes"));
        }
        let q = BigInt::<4>::new(std::array::from_fn(|i| {
            u64::from_le_bytes(header[4 + 8 * i..12 + 8 * i].try_into().expect("8"))
        }));
        if q != Fq::MODULUS {
            return Err(err("not a BN254 (bn128) ceremony"));
        }
        ptau.power = u32::from_le_bytes(header[36..40].try_into().expect("4"));
        if ptau.power == 0 || ptau.power > 27 {
            return Err(err(format!("power {} is outside 1..=27", ptau.power)));
        }
        for s in [Section::TauG1, Section::TauG2, Section::AlphaTauG1, Section::BetaTauG1, Section::BetaG2] {
            if ptau.size(s as u32)? != s.points(ptau.power) * s.point_bytes() {
                return Err(err(format!("section {} does not hold the points of power {}", s as u32, ptau.power)));
            }
        }
        ptau.digest = {
            let mut h = Sha256::new();
            ptau.file.seek(SeekFrom::Start(0)).map_err(|e| err(e.to_string()))?;
            std::io::copy(&mut ptau.file, &mut h).map_err(|e| err(e.to_string()))?;
            h.finalize().into()
        };
        Ok(ptau)
    }

    fn find(&self, ty: u32) -> Result<(u64, u64), String> {
        let mut found = self.sections.iter().filter(|s| s.0 == ty);
        match (found.next(), found.next()) {
            (Some(s), None) => Ok((s.1, s.2)),
            (None, _) if (12..=15).contains(&ty) => Err(err(format!(
                "no section {ty}: the file is not prepared for phase 2 (run `snarkjs powersoftau prepare phase2`)"
            ))),
            (None, _) => Err(err(format!("no section {ty}"))),
            _ => Err(err(format!("section {ty} appears twice"))),
        }
    }

    fn size(&self, ty: u32) -> Result<u64, String> {
        Ok(self.find(ty)?.1)
    }

    fn raw(&mut self, ty: u32, offset: u64, len: u64) -> Result<Vec<u8>, String> {
        let (start, size) = self.find(ty)?;
        if offset.checked_add(len).is_none_or(|e| e > size) {
            return Err(err(format!("section {ty} is shorter than needed")));
        }
        let mut buf = vec![0u8; usize::try_from(len).map_err(|_| err("section too large"))?];
        self.file.seek(SeekFrom::Start(start + offset)).map_err(|e| err(e.to_string()))?;
        self.file.read_exact(&mut buf).map_err(|_| err(format!("section {ty} is truncated")))?;
        Ok(buf)
    }

    /// Points first..first + count of a section (G1).
    pub fn g1(&mut self, s: Section, first: u64, count: u64) -> Result<Vec<G1Affine>, String> {
        assert!(!s.g2());
        self.check_range(s, first, count)?;
        let bytes = self.raw(s as u32, first * 64, count * 64)?;
        bytes.par_chunks(64).enumerate().map(|(i, b)| g1(b).ok_or_else(|| bad_point(s, first + i as u64))).collect()
    }

    /// Points first..first + count of a section (G2).
    pub fn g2(&mut self, s: Section, first: u64, count: u64) -> Result<Vec<G2Affine>, String> {
        assert!(s.g2());
        self.check_range(s, first, count)?;
        let bytes = self.raw(s as u32, first * 128, count * 128)?;
        bytes.par_chunks(128).enumerate().map(|(i, b)| g2(b).ok_or_else(|| bad_point(s, first + i as u64))).collect()
    }

    /// The Lagrange basis of size 2^e from a prepared section (12–15).
    pub fn lagrange_g1(&mut self, s: Section, size: usize) -> Result<Vec<G1Affine>, String> {
        self.lagrange_size(size)?;
        self.g1(s, size as u64 - 1, size as u64)
    }

    pub fn lagrange_g2(&mut self, size: usize) -> Result<Vec<G2Affine>, String> {
        self.lagrange_size(size)?;
        self.g2(Section::LagrangeG2, size as u64 - 1, size as u64)
    }

    fn lagrange_size(&self, size: usize) -> Result<(), String> {
        if !size.is_power_of_two() || size > 1 << self.power {
            return Err(err(format!(
                "a Lagrange basis of {size} points needs power {}, the file has {}",
                size.trailing_zeros(),
                self.power
            )));
        }
        Ok(())
    }

    fn check_range(&self, s: Section, first: u64, count: u64) -> Result<(), String> {
        if first + count > s.points(self.power) {
            return Err(err(format!("section {} has no points {first}..{}", s as u32, first + count)));
        }
        Ok(())
    }
}

fn bad_point(s: Section, i: u64) -> String {
    err(format!("point {i} of section {} is not a valid point of its group", s as u32))
}

fn fq(b: &[u8]) -> Option<Fq> {
    let limbs =
        BigInt::<4>::new(std::array::from_fn(|i| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8"))));
    (limbs < Fq::MODULUS).then(|| Fq::new_unchecked(limbs))
}

fn g1(b: &[u8]) -> Option<G1Affine> {
    let (x, y) = (fq(&b[..32])?, fq(&b[32..])?);
    if x.is_zero() && y.is_zero() {
        return Some(G1Affine::identity());
    }
    let p = G1Affine::new_unchecked(x, y);
    p.is_on_curve().then_some(p)
}

fn g2(b: &[u8]) -> Option<G2Affine> {
    let c = |o: usize| fq(&b[o..o + 32]);
    let (x, y) = (Fq2::new(c(0)?, c(32)?), Fq2::new(c(64)?, c(96)?));
    if x.is_zero() && y.is_zero() {
        return Some(G2Affine::identity());
    }
    let p = G2Affine::new_unchecked(x, y);
    (p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve()).then_some(p)
}

// ---- development files ---------------------------------------------------

/// Sections written, with their sizes in points for power p (12–15: every
/// Lagrange basis of 2^0 … 2^p points in turn).
fn layout(p: u32) -> Vec<(u32, u64, u64)> {
    let all = (1u64 << (p + 1)) - 1;
    vec![
        (2, all, 64),
        (3, 1 << p, 128),
        (4, 1 << p, 64),
        (5, 1 << p, 64),
        (6, 1, 128),
        (12, all, 64),
        (13, all, 128),
        (14, all, 64),
        (15, all, 64),
    ]
}

fn fq_le(x: &Fq, out: &mut Vec<u8>) {
    // The .ptau keeps coordinates in Montgomery form, as arkworks does inside.
    for limb in x.0 .0 {
        out.extend_from_slice(&limb.to_le_bytes());
    }
}

fn g1_bytes(points: &[G1Affine]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * 64);
    for p in points {
        let (x, y) = p.xy().expect("not the identity");
        fq_le(&x, &mut out);
        fq_le(&y, &mut out);
    }
    out
}

fn g2_bytes(points: &[G2Affine]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * 128);
    for p in points {
        let (x, y) = p.xy().expect("not the identity");
        for c in [x.c0, x.c1, y.c0, y.c1] {
            fq_le(&c, &mut out);
        }
    }
    out
}

/// A **development** `.ptau` of power `p`, for tests and benchmarks: τ, α, β
/// come from `rng`, so whoever runs it knows them. It holds only what phase 2
/// reads for a domain of 2^(p−1) points (powers up to 2^p in G1 and 2^(p−1)
/// in G2, α and β powers up to 2^(p−1), the Lagrange bases of 2^(p−1) and 2^p
/// points); the rest of every section is zeros (a sparse file).
pub fn write_development<R: rand::RngCore>(path: &Path, p: u32, rng: &mut R) -> std::io::Result<()> {
    let (tau, alpha, beta) = (Fr::rand(rng), Fr::rand(rng), Fr::rand(rng));
    let size = 1usize << (p - 1);
    let mut f = File::create(path)?;
    let mut header = b"ptau".to_vec();
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&11u32.to_le_bytes());
    // Section 1: n8, q, power, ceremony power.
    let mut s1 = 32u32.to_le_bytes().to_vec();
    for limb in Fq::MODULUS.0 {
        s1.extend_from_slice(&limb.to_le_bytes());
    }
    s1.extend_from_slice(&p.to_le_bytes());
    s1.extend_from_slice(&p.to_le_bytes());
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&(s1.len() as u64).to_le_bytes());
    header.extend_from_slice(&s1);
    f.write_all(&header)?;
    let mut at = header.len() as u64;
    let mut starts = std::collections::HashMap::new();
    for (ty, points, bytes) in layout(p) {
        f.seek(SeekFrom::Start(at))?;
        f.write_all(&ty.to_le_bytes())?;
        f.write_all(&(points * bytes).to_le_bytes())?;
        starts.insert(ty, at + 12);
        at += 12 + points * bytes;
        if ty == 6 {
            // Section 7: no phase-1 contributions recorded.
            f.seek(SeekFrom::Start(at))?;
            f.write_all(&7u32.to_le_bytes())?;
            f.write_all(&4u64.to_le_bytes())?;
            f.write_all(&0u32.to_le_bytes())?;
            at += 16;
        }
    }
    f.set_len(at)?;
    let mut put = |ty: u32, first: u64, bytes: Vec<u8>, width: u64| -> std::io::Result<()> {
        f.seek(SeekFrom::Start(starts[&ty] + first * width))?;
        f.write_all(&bytes)?;
        Ok(())
    };
    let powers = |n: usize, times: Fr| -> Vec<Fr> {
        let mut v = Vec::with_capacity(n);
        let mut x = times;
        for _ in 0..n {
            v.push(x);
            x *= tau;
        }
        v
    };
    let g1 = G1Projective::generator();
    let g2 = G2Projective::generator();
    put(2, 0, g1_bytes(&g1.batch_mul(&powers(2 * size + 1, Fr::ONE))), 64)?;
    put(3, 0, g2_bytes(&g2.batch_mul(&powers(size + 1, Fr::ONE))), 128)?;
    put(4, 0, g1_bytes(&g1.batch_mul(&powers(size + 1, alpha))), 64)?;
    put(5, 0, g1_bytes(&g1.batch_mul(&powers(size + 1, beta))), 64)?;
    put(6, 0, g2_bytes(&[(g2 * beta).into()]), 128)?;
    for n in [size, 2 * size] {
        let l = Radix2EvaluationDomain::<Fr>::new(n).expect("a power of two").evaluate_all_lagrange_coefficients(tau);
        put(12, n as u64 - 1, g1_bytes(&g1.batch_mul(&l)), 64)?;
        if n == size {
            put(13, n as u64 - 1, g2_bytes(&g2.batch_mul(&l)), 128)?;
            let scaled = |x: Fr| l.iter().map(|v| *v * x).collect::<Vec<_>>();
            put(14, n as u64 - 1, g1_bytes(&g1.batch_mul(&scaled(alpha))), 64)?;
            put(15, n as u64 - 1, g1_bytes(&g1.batch_mul(&scaled(beta))), 64)?;
        }
    }
    f.flush()?;
    Ok(())
}
