//! The commit-and-prove circuit: A, B, C entries are input variables (their
//! γ-basis sums are the data commitments, see [`crate::cp`]), r and s are public
//! inputs, and the only constraints are Freivalds' check: mk + kn + mn + O(m+n+k).
//! No range checks: A and B are fixed by the client's commitments and C is
//! forced to equal A·B, which is in range.

use ark_bn254::Fr;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use super::{fr_from_i128, freivalds, Val, Witness};
use crate::shape::Shape;

/// The committed circuit for one shape; `witness` carries the data and the
/// challenges (r, s) derived from the commitments (`cp::challenges`).
#[derive(Clone, Debug)]
pub struct CommittedCircuit {
    pub shape: Shape,
    pub witness: Option<(Witness, (Fr, Fr))>,
}

impl ConstraintSynthesizer<Fr> for CommittedCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let w = self.witness.as_ref().map(|(w, rs)| (w, *rs));
        synthesize(&cs, &self.shape, w)
    }
}

fn synthesize(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    w: Option<(&Witness, (Fr, Fr))>,
) -> Result<(), SynthesisError> {
    let challenges = w.map(|(_, rs)| rs);
    let w = w.map(|(w, _)| w);
    let input = |v: Option<Fr>| -> Result<Val, SynthesisError> {
        Ok(Val::var(cs.new_input_variable(|| v.ok_or(SynthesisError::AssignmentMissing))?, v))
    };
    // Order fixes the IC layout (`cp::ic_ranges`): job_id, provider, r, s, A, B, C.
    input(w.map(|w| w.job_id))?;
    input(w.map(|w| w.provider))?;
    let r = input(challenges.map(|c| c.0))?;
    let s = input(challenges.map(|c| c.1))?;
    let entries = |len: usize, get: &dyn Fn(&Witness, usize) -> Fr| -> Result<Vec<Val>, SynthesisError> {
        (0..len).map(|i| input(w.map(|w| get(w, i)))).collect()
    };
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    let a = entries(m * k, &|w, i| Fr::from(w.a.data[i] as i64))?;
    let b = entries(k * n, &|w, i| Fr::from(w.b.data[i] as i64))?;
    let c = entries(m * n, &|w, i| fr_from_i128(w.c.data[i]))?;
    freivalds::enforce(cs, shape, &a, &b, &c, &r, &s)
}
