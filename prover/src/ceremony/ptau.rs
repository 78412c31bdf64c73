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
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use ark_bn254::{Fq, Fq2, G1Affine, G2Affine};
use ark_ff::{BigInt, PrimeField, Zero};
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
