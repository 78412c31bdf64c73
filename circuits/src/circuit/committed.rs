//! The commit-and-prove circuit ([`super::CircuitKind::Committed`]).
//!
//! Input variables, in this order (it fixes the key's IC layout, `cp::ic_ranges`):
//! job_id, provider, r, then the entries of A, B and C (row-major). No verifier
//! ever sees the entries: it only needs Σ x_i·IC_i over them, which are exactly
//! the data commitments cm_A, cm_B, cm_C ([`crate::cp`]).
//!
//! The only constraints are Freivalds' check with r and s = r^n:
//! mk + kn + mn + O(m + n + k). No range checks: A and B are fixed by the client's
//! commitments, and C is forced to equal A·B over the field, whose small
//! representative is the integer product (|c| < 2^(output bits) ≪ r/2).

use ark_bn254::Fr;
use ark_relations::r1cs::{ConstraintSystemRef, SynthesisError};

use super::{fr_from_i128, freivalds, Val, Witness};
use crate::shape::Shape;

pub(crate) fn synthesize(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    w: Option<(&Witness, Fr)>,
) -> Result<(), SynthesisError> {
    let r_value = w.map(|(_, r)| r);
    let w = w.map(|(w, _)| w);
    let input = |v: Option<Fr>| -> Result<Val, SynthesisError> {
        Ok(Val::var(cs.new_input_variable(|| v.ok_or(SynthesisError::AssignmentMissing))?, v))
    };
    input(w.map(|w| w.job_id))?;
    input(w.map(|w| w.provider.to_fr()))?;
    let r = input(r_value)?;
    let entries = |len: usize, get: &dyn Fn(&Witness, usize) -> Fr| -> Result<Vec<Val>, SynthesisError> {
        (0..len).map(|i| input(w.map(|w| get(w, i)))).collect()
    };
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    if let Some(w) = w {
        if w.a.data.len() != m * k || w.b.data.len() != k * n || w.c.data.len() != m * n {
            return Err(SynthesisError::Unsatisfiable);
        }
    }
    let a = entries(m * k, &|w, i| Fr::from(w.a.data[i] as i64))?;
    let b = entries(k * n, &|w, i| Fr::from(w.b.data[i] as i64))?;
    let c = entries(m * n, &|w, i| fr_from_i128(w.c.data[i]))?;
    freivalds::enforce(cs, shape, &a, &b, &c, &r, None)
}
