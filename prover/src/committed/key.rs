//! The committed circuit's proving key, in the form the prover's MSMs read it.

use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_groth16::VerifyingKey;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use veriflop_circuits::circuit::committed::{Layout, SCALAR_VARS};
use veriflop_circuits::Shape;

/// Groth16 proving key of the committed circuit for one shape. Points a query
/// holds only as the identity (products in A and B, entries in B) are left out.
#[derive(Clone, Debug, PartialEq)]
pub struct CommittedKey {
    /// α, β, γ, δ and every input point: IC0..IC3 (1, job_id, provider, r), then
    /// the commitment key (the bases of A's, B's and C's entries).
    pub vk: VerifyingKey<Bn254>,
    pub beta_g1: G1Affine,
    pub delta_g1: G1Affine,
    /// A- and B-query points of the scalar variables: the four scalar inputs,
    /// then the scalar witnesses (powers of r, s, y, Horner accumulators).
    pub a_scalar: Vec<G1Affine>,
    pub b_g1_scalar: Vec<G1Affine>,
    pub b_g2_scalar: Vec<G2Affine>,
    /// A-query points of the entries, in input order (A, B, C row-major).
    pub a_entries: Vec<G1Affine>,
    /// L-query points (over δ) of the scalar witnesses, then of the products in
    /// the layout's group order.
    pub l_scalar: Vec<G1Affine>,
    pub l_products: Vec<G1Affine>,
    /// ℓ_i(τ)·Z_H(τ)/δ for i < |H|, ℓ_i the Lagrange basis of the coset g·H,
    /// g = ω_2|H| (equal to −2·L_(2i+1)(τ)/δ, L the Lagrange basis of size 2|H|):
    /// the prover's h is its evaluations there, so no inverse NTT is needed.
    pub h: Vec<G1Affine>,
    /// σ·IC_C,i: the bases of cm_C's proof of knowledge.
    pub pok: Vec<G1Affine>,
}

/// Number of points in each vector of a key for `shape`, in file order:
/// IC, a_scalar, b_g1_scalar, b_g2_scalar (G2), a_entries, l_scalar, l_products, h, pok.
pub fn lengths(shape: &Shape) -> Option<[usize; 9]> {
    let l = Layout::new(shape);
    let scalars = SCALAR_VARS + l.scalar_witnesses().len();
    let domain = l.domain_size()?;
    Some([
        l.num_inputs(),
        scalars,
        scalars,
        scalars,
        l.num_inputs() - SCALAR_VARS,
        l.scalar_witnesses().len(),
        l.num_products(),
        domain,
        l.m * l.n,
    ])
}

const G1: usize = 64;
const G2: usize = 128;
/// α (G1), β, γ, δ (G2), then β and δ in G1.
const FIXED: usize = G1 + 3 * G2;

impl CommittedKey {
    fn vectors(&self) -> [usize; 9] {
        [
            self.vk.gamma_abc_g1.len(),
            self.a_scalar.len(),
            self.b_g1_scalar.len(),
            self.b_g2_scalar.len(),
            self.a_entries.len(),
            self.l_scalar.len(),
            self.l_products.len(),
            self.h.len(),
            self.pok.len(),
        ]
    }

    /// Whether every vector has the length `shape` needs.
    pub fn fits(&self, shape: &Shape) -> bool {
        lengths(shape) == Some(self.vectors())
    }

    /// The uncompressed encoding: α, β, γ, δ, β₁, δ₁, then the nine vectors
    /// (u64 little-endian length, then the points).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        let ser = |out: &mut Vec<u8>, x: &dyn Fn(&mut Vec<u8>) -> Result<(), ark_serialize::SerializationError>| {
            x(out).expect("writing to a Vec cannot fail")
        };
        let vk = &self.vk;
        ser(&mut out, &|o| vk.alpha_g1.serialize_uncompressed(o));
        ser(&mut out, &|o| vk.beta_g2.serialize_uncompressed(o));
        ser(&mut out, &|o| vk.gamma_g2.serialize_uncompressed(o));
        ser(&mut out, &|o| vk.delta_g2.serialize_uncompressed(o));
        ser(&mut out, &|o| self.beta_g1.serialize_uncompressed(o));
        ser(&mut out, &|o| self.delta_g1.serialize_uncompressed(o));
        for v in [&vk.gamma_abc_g1, &self.a_scalar, &self.b_g1_scalar] {
            ser(&mut out, &|o| v.serialize_uncompressed(o));
        }
        ser(&mut out, &|o| self.b_g2_scalar.serialize_uncompressed(o));
        for v in [&self.a_entries, &self.l_scalar, &self.l_products, &self.h, &self.pok] {
            ser(&mut out, &|o| v.serialize_uncompressed(o));
        }
        out
    }

    pub fn encoded_len(&self) -> usize {
        let v = self.vectors();
        FIXED + 2 * G1 + 9 * 8 + v.iter().sum::<usize>() * G1 + v[3] * (G2 - G1)
    }

    /// Decodes a key for `shape`: every length is checked against the shape
    /// before anything is allocated. Points are not re-validated (the key is the
    /// prover's own file; a wrong key only yields proofs that fail verification).
    pub fn from_bytes(shape: &Shape, mut body: &[u8]) -> Result<Self, String> {
        let want = lengths(shape).ok_or("the shape exceeds the largest NTT domain")?;
        let mut expected = FIXED + 2 * G1 + 9 * 8;
        for (i, n) in want.iter().enumerate() {
            expected += n * if i == 3 { G2 } else { G1 };
        }
        if body.len() != expected {
            return Err(format!("{} bytes, a key for {shape} has {expected}", body.len()));
        }
        let mut off = FIXED + 2 * G1;
        for (i, n) in want.iter().enumerate() {
            let len = u64::from_le_bytes(body[off..off + 8].try_into().expect("8 bytes"));
            if len != *n as u64 {
                return Err(format!("vector {i} holds {len} points, a key for {shape} has {n}"));
            }
            off += 8 + n * if i == 3 { G2 } else { G1 };
        }
        let e = |e: ark_serialize::SerializationError| e.to_string();
        let g1 = |b: &mut &[u8]| G1Affine::deserialize_uncompressed_unchecked(b).map_err(e);
        let g2 = |b: &mut &[u8]| G2Affine::deserialize_uncompressed_unchecked(b).map_err(e);
        let v1 = |b: &mut &[u8]| Vec::<G1Affine>::deserialize_uncompressed_unchecked(b).map_err(e);
        let b = &mut body;
        let (alpha_g1, beta_g2, gamma_g2, delta_g2) = (g1(b)?, g2(b)?, g2(b)?, g2(b)?);
        let (beta_g1, delta_g1) = (g1(b)?, g1(b)?);
        let gamma_abc_g1 = v1(b)?;
        let (a_scalar, b_g1_scalar) = (v1(b)?, v1(b)?);
        let b_g2_scalar = Vec::<G2Affine>::deserialize_uncompressed_unchecked(&mut *b).map_err(e)?;
        let (a_entries, l_scalar, l_products, h, pok) = (v1(b)?, v1(b)?, v1(b)?, v1(b)?, v1(b)?);
        let vk = VerifyingKey { alpha_g1, beta_g2, gamma_g2, delta_g2, gamma_abc_g1 };
        let key = CommittedKey {
            vk,
            beta_g1,
            delta_g1,
            a_scalar,
            b_g1_scalar,
            b_g2_scalar,
            a_entries,
            l_scalar,
            l_products,
            h,
            pok,
        };
        debug_assert!(key.fits(shape));
        Ok(key)
    }
}
