//! Data commitments and the Fiat–Shamir transcript (native side).
//!
//! Both use the Poseidon sponge over BN254 Fr (width 3, rate 2, α = 5, 8 full
//! and 57 partial rounds; round constants and MDS from the Grain LFSR as in the
//! Poseidon paper, via `ark-crypto-primitives`). The circuit gadgets in
//! [`crate::circuit`] compute exactly the same functions.
//!
//! Commitment of a matrix X (tag T ∈ {A, B, C}):
//!   cm_X = Poseidon(tag_T, rows, cols, dtype_code, pack_0, …, pack_{P−1})
//! where entries (row-major) are offset to non-negative integers
//! u = x + 2^(w−1) of width w (w = 8/16/32 for A and B, `Shape::output_bits` for C)
//! and ⌊248/w⌋ of them are packed little-endian into each pack_j.
//!
//! Freivalds challenges:
//!   (r, s) = Poseidon(tag_FS, m, k, n, dtype_code, job_id, provider, cm_A, cm_B, cm_C)
//! squeezed as two field elements, so they are fixed only after all data is bound.

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_crypto_primitives::sponge::poseidon::{find_poseidon_ark_and_mds, PoseidonConfig, PoseidonSponge};
use ark_crypto_primitives::sponge::CryptographicSponge;
use ark_ff::{Field, PrimeField};
use rayon::prelude::*;

use crate::matrix::{InputMatrix, OutputMatrix};
use crate::shape::Shape;

/// Which matrix a commitment is for; part of the domain separation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    A,
    B,
    C,
}

/// Poseidon parameters (computed once).
pub fn poseidon_config() -> &'static PoseidonConfig<Fr> {
    static CFG: OnceLock<PoseidonConfig<Fr>> = OnceLock::new();
    CFG.get_or_init(|| {
        let (full, partial, alpha, rate) = (8, 57, 5, 2);
        let (ark, mds) = find_poseidon_ark_and_mds::<Fr>(Fr::MODULUS_BIT_SIZE as u64, rate, full, partial, 0);
        PoseidonConfig::new(full as usize, partial as usize, alpha, mds, ark, rate, 1)
    })
}

/// A domain-separation tag: the ASCII string read as a little-endian integer (≤ 31 bytes).
pub fn tag(s: &str) -> Fr {
    assert!(s.len() <= 31, "tags fit one field element");
    Fr::from_le_bytes_mod_order(s.as_bytes())
}

pub fn role_tag(role: Role) -> Fr {
    tag(match role {
        Role::A => "veriflop/v1/commit/A",
        Role::B => "veriflop/v1/commit/B",
        Role::C => "veriflop/v1/commit/C",
    })
}

pub fn fs_tag() -> Fr {
    tag("veriflop/v1/freivalds")
}

/// Entry width and entries per pack for a role.
pub fn layout(shape: &Shape, role: Role) -> (u32, usize) {
    match role {
        Role::A | Role::B => (shape.dtype.bits(), shape.input_per_pack()),
        Role::C => (shape.output_bits(), shape.output_per_pack()),
    }
}

/// Dimensions of a role's matrix.
pub fn dims(shape: &Shape, role: Role) -> (u32, u32) {
    match role {
        Role::A => (shape.m, shape.k),
        Role::B => (shape.k, shape.n),
        Role::C => (shape.m, shape.n),
    }
}

/// Header absorbed before the packs.
pub fn header(shape: &Shape, role: Role) -> [Fr; 4] {
    let (rows, cols) = dims(shape, role);
    [role_tag(role), Fr::from(rows), Fr::from(cols), Fr::from(shape.dtype.code())]
}

/// Packs offset entries (width w, `per` per element), little-endian.
fn pack(values: &[i128], w: u32, per: usize) -> Vec<Fr> {
    let offset = 1i128 << (w - 1);
    let base = Fr::from(2u64).pow([w as u64]);
    values
        .par_chunks(per)
        .map(|chunk| {
            chunk.iter().rev().fold(Fr::from(0u64), |acc, &v| {
                let u = (v + offset) as u128; // non-negative by the range bound
                acc * base + Fr::from(u)
            })
        })
        .collect()
}

fn hash(elements: &[Fr]) -> Fr {
    let mut sponge = PoseidonSponge::new(poseidon_config());
    sponge.absorb(&elements.to_vec());
    sponge.squeeze_field_elements::<Fr>(1)[0]
}

/// A commitment computed over entries given a chunk at a time (the verifier
/// service's uploads): equal to [`commit_input`] / [`commit_output`] over the
/// concatenation. The caller checks shape and range, as for those.
pub struct Absorber {
    sponge: PoseidonSponge<Fr>,
    w: u32,
    per: usize,
    pending: Vec<i128>,
}

impl Absorber {
    pub fn new(shape: &Shape, role: Role) -> Self {
        let (w, per) = layout(shape, role);
        let mut sponge = PoseidonSponge::new(poseidon_config());
        sponge.absorb(&header(shape, role).to_vec());
        Absorber { sponge, w, per, pending: Vec::new() }
    }

    /// Absorbs the next entries in row-major order.
    pub fn absorb(&mut self, values: &[i128]) {
        self.pending.extend_from_slice(values);
        let whole = self.pending.len() - self.pending.len() % self.per;
        if whole > 0 {
            self.sponge.absorb(&pack(&self.pending[..whole], self.w, self.per));
            self.pending.drain(..whole);
        }
    }

    pub fn finish(mut self) -> Fr {
        if !self.pending.is_empty() {
            self.sponge.absorb(&pack(&self.pending, self.w, self.per));
        }
        self.sponge.squeeze_field_elements::<Fr>(1)[0]
    }
}

fn commit_values(shape: &Shape, role: Role, values: &[i128]) -> Fr {
    let (w, per) = layout(shape, role);
    let mut elements = header(shape, role).to_vec();
    elements.extend(pack(values, w, per));
    hash(&elements)
}

/// Commitment to an input matrix (A or B). The caller checks shape and range
/// (`execute::check_inputs`); the encoding is injective only on in-range data.
pub fn commit_input(shape: &Shape, role: Role, x: &InputMatrix) -> Fr {
    assert!(role != Role::C);
    let values: Vec<i128> = x.data.iter().map(|&v| v as i128).collect();
    commit_values(shape, role, &values)
}

/// Commitment to the result matrix C.
pub fn commit_output(shape: &Shape, c: &OutputMatrix) -> Fr {
    commit_values(shape, Role::C, &c.data)
}

/// Freivalds challenges (r, s) bound to everything public.
pub fn challenges(shape: &Shape, job_id: Fr, provider: Fr, cm: [Fr; 3]) -> (Fr, Fr) {
    let mut sponge = PoseidonSponge::new(poseidon_config());
    sponge.absorb(&transcript(shape, job_id, provider, cm).to_vec());
    let out = sponge.squeeze_field_elements::<Fr>(2);
    (out[0], out[1])
}

/// The transcript absorbed for the challenges, in order.
pub fn transcript(shape: &Shape, job_id: Fr, provider: Fr, cm: [Fr; 3]) -> [Fr; 10] {
    [
        fs_tag(),
        Fr::from(shape.m),
        Fr::from(shape.k),
        Fr::from(shape.n),
        Fr::from(shape.dtype.code()),
        job_id,
        provider,
        cm[0],
        cm[1],
        cm[2],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Dtype;

    #[test]
    fn commitments_separate_roles_shapes_and_data() {
        let s = Shape::new(4, 4, 4, Dtype::Int8).unwrap();
        let a = InputMatrix::random(4, 4, Dtype::Int8, 1).unwrap();
        assert_ne!(commit_input(&s, Role::A, &a), commit_input(&s, Role::B, &a));
        let mut a2 = a.clone();
        a2.data[15] = a2.data[15].wrapping_add(1).clamp(-128, 127);
        if a2 != a {
            assert_ne!(commit_input(&s, Role::A, &a), commit_input(&s, Role::A, &a2));
        }
        let s16 = Shape::new(4, 4, 4, Dtype::Int16).unwrap();
        assert_ne!(commit_input(&s, Role::A, &a), commit_input(&s16, Role::A, &a));
    }
}
