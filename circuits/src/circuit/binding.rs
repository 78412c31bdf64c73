//! Binding matrix entries to their public commitments (see [`crate::commit`]).
//!
//! A and B entries are range-checked by bit decomposition (w boolean constraints
//! each); their packs are then linear in the bits, so packing is free and
//! injective. C entries need no range check: Freivalds (or the naive product)
//! forces them to equal the exact product, which lies in range, so their packing
//! is the same as the native one. Only the Poseidon permutations cost more.

use ark_bn254::Fr;
use ark_crypto_primitives::sponge::constraints::CryptographicSpongeVar;
use ark_crypto_primitives::sponge::poseidon::constraints::PoseidonSpongeVar;
use ark_ff::{AdditiveGroup, Field};
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSystemRef, SynthesisError, Variable};

use super::{fr_from_i128, materialize, witness, Val};
use crate::commit::{self, Role};
use crate::matrix::{InputMatrix, OutputMatrix};
use crate::shape::{Shape, PACK_BITS};

fn pow2_table() -> Vec<Fr> {
    let mut t = Vec::with_capacity(PACK_BITS as usize + 1);
    let mut p = Fr::ONE;
    for _ in 0..=PACK_BITS {
        t.push(p);
        p.double_in_place();
    }
    t
}

/// Poseidon(header ‖ packs) == commitment.
fn enforce_hash(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    role: Role,
    packs: Vec<FpVar<Fr>>,
    commitment: &FpVar<Fr>,
) -> Result<(), SynthesisError> {
    let mut elements: Vec<FpVar<Fr>> = commit::header(shape, role).into_iter().map(FpVar::Constant).collect();
    elements.extend(packs);
    let mut sponge = PoseidonSpongeVar::new(cs.clone(), commit::poseidon_config());
    sponge.absorb(&elements)?;
    let out = sponge.squeeze_field_elements(1)?;
    out[0].enforce_equal(commitment)
}

/// Allocates A or B, range-checked, bound to `commitment`; returns the entries (row-major).
pub(crate) fn bind_input(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    role: Role,
    data: Option<&InputMatrix>,
    materialize_entries: bool,
    commitment: &FpVar<Fr>,
) -> Result<Vec<Val>, SynthesisError> {
    let (w, per) = commit::layout(shape, role);
    let (rows, cols) = commit::dims(shape, role);
    let count = rows as usize * cols as usize;
    let pow2 = pow2_table();
    let offset = pow2[w as usize - 1];
    let mut entries = Vec::with_capacity(count);
    let mut packs = Vec::with_capacity(count.div_ceil(per));
    for start in (0..count).step_by(per) {
        let mut pack = Val { lc: lc!(), value: data.map(|_| Fr::from(0u64)) };
        for t in 0..per.min(count - start) {
            let u = data.map(|d| (d.data[start + t] as i64 + (1i64 << (w - 1))) as u64);
            let mut entry =
                Val { lc: lc!() + (-offset, Variable::One), value: data.map(|d| Fr::from(d.data[start + t] as i64)) };
            for i in 0..w as usize {
                let bit = u.map(|u| Fr::from((u >> i) & 1));
                let v = witness(cs, bit)?;
                // bit · (1 − bit) = 0
                cs.enforce_constraint(lc!() + v, lc!() + Variable::One - v, lc!())?;
                entry.lc = entry.lc + (pow2[i], v);
                pack.lc = pack.lc + (pow2[w as usize * t + i], v);
            }
            if let (Some(p), Some(u)) = (pack.value.as_mut(), u) {
                *p += pow2[w as usize * t] * Fr::from(u);
            }
            entries.push(if materialize_entries { materialize(cs, &entry)? } else { entry });
        }
        packs.push(pack.to_fpvar(cs)?);
    }
    enforce_hash(cs, shape, role, packs, commitment)?;
    Ok(entries)
}

/// Allocates C's entries as free witnesses (constrained by the product check).
pub(crate) fn alloc_output(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    data: Option<&OutputMatrix>,
) -> Result<Vec<Val>, SynthesisError> {
    let count = shape.m as usize * shape.n as usize;
    (0..count)
        .map(|i| {
            let value = data.map(|d| fr_from_i128(d.data[i]));
            Ok(Val::var(witness(cs, value)?, value))
        })
        .collect()
}

/// Binds C's entries (variables or linear combinations) to `commitment`.
pub(crate) fn bind_output(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    entries: &[Val],
    commitment: &FpVar<Fr>,
) -> Result<(), SynthesisError> {
    let (w, per) = commit::layout(shape, Role::C);
    let pow2 = pow2_table();
    let offset = pow2[w as usize - 1];
    let mut packs = Vec::with_capacity(entries.len().div_ceil(per));
    for chunk in entries.chunks(per) {
        let mut pack = Val { lc: lc!(), value: Some(Fr::from(0u64)) };
        for (t, e) in chunk.iter().enumerate() {
            let scale = pow2[w as usize * t];
            // scale · (c + 2^(w−1))
            pack.lc = pack.lc + (scale, &e.lc) + (scale * offset, Variable::One);
            pack.value = pack.value.zip(e.value).map(|(p, c)| p + scale * (c + offset));
        }
        packs.push(pack.to_fpvar(cs)?);
    }
    enforce_hash(cs, shape, Role::C, packs, commitment)
}
