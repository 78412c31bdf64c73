//! Commit-and-prove binding (the `committed` circuit): data commitments that are
//! Pedersen vector commitments under the shape's Groth16 input bases.
//!
//! The entries of A, B and C are public-input *variables* of the circuit, but no
//! verifier ever sees them: it only needs Σ x_i·IC_i over them, and those sums are
//! exactly the commitments
//!   cm_A = Σ a_i·IC_{A,i},  cm_B = Σ b_i·IC_{B,i},  cm_C = Σ c_i·IC_{C,i}
//! where IC are the γ-basis points of the verifying key for those variables (the
//! shape's *commitment key*, public). A client computes cm_A, cm_B from its
//! matrices with an MSM over small scalars; the escrow records the 32-byte
//! digests d_X = keccak256(x ‖ y) mod r of the points.
//!
//! The Freivalds challenge is a public input r derived outside the circuit:
//!   seed = keccak256(tag ‖ m ‖ k ‖ n ‖ dtype ‖ job_id ‖ provider ‖ d_A ‖ d_B ‖ d_C)
//!   r = keccak256(seed ‖ 0x01) mod r_F
//! (u32 big-endian dimensions, one dtype byte, 32-byte big-endian field elements,
//! the provider left-padded to 32 bytes) — cheap for a contract to recompute.
//!
//! cm_C is made by the prover, so it comes with a proof of knowledge of its
//! opening over C's bases: pok = σ·cm_C, computable only as Σ c_i·(σ·IC_{C,i})
//! from the proving key. The verifier folds that check into the Groth16 pairing
//! product with ρ = keccak256(seed ‖ 0x03 ‖ π.A ‖ π.B ‖ π.C ‖ pok) mod r_F.
//! See docs/PROTOCOL.md §4 and §7.

use std::ops::Range;

use ark_bn254::{Fq, Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{BigInteger, PrimeField};
use sha3::{Digest, Keccak256};

use crate::matrix::{InputMatrix, OutputMatrix};
use crate::msm::small_msm;
use crate::shape::Shape;
use crate::statement::Address;
use crate::Error;

/// Scalar public inputs of the committed circuit, after the constant one:
/// job_id, provider, r.
pub const SCALAR_INPUTS: usize = 3;

const FS_TAG: &[u8] = b"veriflop/v2/freivalds";

/// Index ranges of A, B and C's bases in the verifying key's IC vector
/// (IC[0] is the constant, IC[1..=3] the scalar inputs).
pub fn ic_ranges(shape: &Shape) -> [Range<usize>; 3] {
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    let a = 1 + SCALAR_INPUTS;
    let b = a + m * k;
    let c = b + k * n;
    [a..b, b..c, c..c + m * n]
}

/// The public bases a client commits with, per shape (and per key set).
#[derive(Clone, Debug, PartialEq)]
pub struct CommitKey {
    pub shape: Shape,
    pub a: Vec<G1Affine>,
    pub b: Vec<G1Affine>,
    pub c: Vec<G1Affine>,
}

impl CommitKey {
    /// Takes the A, B, C bases from a committed circuit's full IC vector.
    pub fn from_ic(shape: Shape, ic: &[G1Affine]) -> Result<Self, Error> {
        let [ra, rb, rc] = ic_ranges(&shape);
        if ic.len() != rc.end {
            return Err(Error::Format(format!(
                "{} input points do not fit shape {shape} ({} expected)",
                ic.len(),
                rc.end
            )));
        }
        Ok(CommitKey { shape, a: ic[ra].to_vec(), b: ic[rb].to_vec(), c: ic[rc].to_vec() })
    }

    pub fn commit_a(&self, a: &InputMatrix) -> G1Affine {
        small_msm(&self.a, &widen(&a.data)).into_affine()
    }

    pub fn commit_b(&self, b: &InputMatrix) -> G1Affine {
        small_msm(&self.b, &widen(&b.data)).into_affine()
    }

    pub fn commit_c(&self, c: &OutputMatrix) -> G1Affine {
        small_msm(&self.c, &c.data).into_affine()
    }

    /// The job's input commitments (points) after checking A and B fit the shape.
    pub fn commit_inputs(&self, a: &InputMatrix, b: &InputMatrix) -> Result<(G1Affine, G1Affine), Error> {
        crate::execute::check_inputs(&self.shape, a, b)?;
        Ok((self.commit_a(a), self.commit_b(b)))
    }
}

/// Commits to input entries under bases (the key's IC points for A or B).
pub fn commit_entries(bases: &[G1Affine], values: &[i32]) -> G1Affine {
    small_msm(bases, &widen(values)).into_affine()
}

fn widen(v: &[i32]) -> Vec<i128> {
    v.iter().map(|&x| x as i128).collect()
}

fn be32(x: &Fr) -> [u8; 32] {
    crate::field::fr_to_bytes(x)
}

/// A point as the EVM encodes it: x ‖ y, 32-byte big-endian each; (0, 0) is the identity.
pub fn g1_to_evm(p: &G1Affine) -> [u8; 64] {
    let mut out = [0u8; 64];
    if let Some((x, y)) = p.xy() {
        out[..32].copy_from_slice(&x.into_bigint().to_bytes_be());
        out[32..].copy_from_slice(&y.into_bigint().to_bytes_be());
    }
    out
}

fn fq_from_be(b: &[u8]) -> Result<Fq, Error> {
    let x = Fq::from_be_bytes_mod_order(b);
    if x.into_bigint().to_bytes_be() != b {
        return Err(Error::Format("coordinate is not below the base field modulus".into()));
    }
    Ok(x)
}

/// Decodes an untrusted EVM-encoded G1 point: canonical coordinates, on the
/// curve ((0, 0) is the identity). BN254's G1 has cofactor 1, so every curve
/// point is in the prime-order group.
pub fn g1_from_evm(b: &[u8; 64]) -> Result<G1Affine, Error> {
    if b.iter().all(|&x| x == 0) {
        return Ok(G1Affine::identity());
    }
    let p = G1Affine::new_unchecked(fq_from_be(&b[..32])?, fq_from_be(&b[32..])?);
    if !p.is_on_curve() || !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(Error::Format("point is not on the BN254 G1 curve".into()));
    }
    Ok(p)
}

/// A G2 point as the EVM precompile takes it: x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0.
pub fn g2_to_evm(p: &G2Affine) -> [u8; 128] {
    let mut out = [0u8; 128];
    if let Some((x, y)) = p.xy() {
        for (i, c) in [x.c1, x.c0, y.c1, y.c0].iter().enumerate() {
            out[32 * i..32 * (i + 1)].copy_from_slice(&c.into_bigint().to_bytes_be());
        }
    }
    out
}

fn keccak_mod_r(parts: &[&[u8]]) -> Fr {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    Fr::from_be_bytes_mod_order(&h.finalize())
}

/// The 32-byte digest the escrow stores for a commitment point.
pub fn digest(p: &G1Affine) -> Fr {
    keccak_mod_r(&[&g1_to_evm(p)])
}

/// Fiat–Shamir seed over everything public.
pub fn seed(shape: &Shape, job_id: Fr, provider: &Address, d: [Fr; 3]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(FS_TAG);
    h.update(shape.m.to_be_bytes());
    h.update(shape.k.to_be_bytes());
    h.update(shape.n.to_be_bytes());
    h.update([shape.dtype.code()]);
    h.update(be32(&job_id));
    let mut p = [0u8; 32];
    p[12..].copy_from_slice(&provider.0);
    h.update(p);
    for x in &d {
        h.update(be32(x));
    }
    h.finalize().into()
}

/// The Freivalds challenge r from the seed.
pub fn challenge(seed: &[u8; 32]) -> Fr {
    keccak_mod_r(&[seed, &[1]])
}

/// ρ, the challenge folding the proof of knowledge of cm_C's opening into the
/// pairing check; it depends on every proof element, so it is fixed after them.
pub fn fold_challenge(seed: &[u8; 32], a: &G1Affine, b: &G2Affine, c: &G1Affine, pok: &G1Affine) -> Fr {
    keccak_mod_r(&[seed, &[3], &g1_to_evm(a), &g2_to_evm(b), &g1_to_evm(c), &g1_to_evm(pok)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::G1Projective;
    use ark_ff::UniformRand;

    #[test]
    fn challenges_depend_on_every_input() {
        let shape = Shape::new(2, 3, 4, crate::Dtype::Int8).unwrap();
        let p = Address([1; 20]);
        let d = [Fr::from(1u64), Fr::from(2u64), Fr::from(3u64)];
        let r = |shape: &Shape, job: u64, p: &Address, d| challenge(&seed(shape, Fr::from(job), p, d));
        let base = r(&shape, 9, &p, d);
        assert_ne!(base, r(&Shape::new(2, 3, 5, crate::Dtype::Int8).unwrap(), 9, &p, d));
        assert_ne!(base, r(&shape, 8, &p, d));
        assert_ne!(base, r(&shape, 9, &Address([2; 20]), d));
        assert_ne!(base, r(&shape, 9, &p, [d[1], d[0], d[2]]));
        assert_eq!(digest(&G1Affine::identity()), keccak_mod_r(&[&[0u8; 64]]));
    }

    #[test]
    fn evm_points_round_trip_and_reject_garbage() {
        let mut rng = rand::thread_rng();
        for p in [G1Affine::identity(), G1Projective::rand(&mut rng).into_affine()] {
            assert_eq!(g1_from_evm(&g1_to_evm(&p)).unwrap(), p);
        }
        let mut off = g1_to_evm(&G1Projective::rand(&mut rng).into_affine());
        off[63] ^= 1;
        assert!(g1_from_evm(&off).is_err(), "off the curve");
        let mut big = [0xffu8; 64];
        big[32..].copy_from_slice(&[0u8; 32]);
        assert!(g1_from_evm(&big).is_err(), "non-canonical coordinate");
    }
}
