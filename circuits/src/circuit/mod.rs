//! R1CS circuits for a matmul job (Groth16 path).
//!
//! Public inputs (in order): `job_id, provider, cm_A, cm_B, cm_C` (see
//! [`crate::statement::Statement`]). Both circuits bind A, B, C to these
//! commitments ([`binding`]); they differ in how they enforce C = A·B:
//! - [`CircuitKind::Poseidon`] (the default): one random linear check with
//!   Fiat–Shamir challenges derived in-circuit from the commitments, about
//!   mk + kn + mn multiplications;
//! - [`CircuitKind::Naive`]: every product, m·k·n multiplications. Kept as the
//!   reference for differential tests and benchmarks.
//!
//! [`CircuitKind::Committed`] (the default) is the commit-and-prove variant of
//! Freivalds: the matrices are bound by Pedersen-style commitments carried next
//! to the proof ([`crate::cp`]) and cost no constraints of their own.
//!
//! Constraints are written against the constraint system directly (linear
//! combinations of variables) so that sums cost nothing and the few places
//! where a combination is reused many times are materialised on purpose.

mod binding;
pub mod committed;
mod freivalds;
mod naive;

use ark_bn254::Fr;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::fields::fp::{AllocatedFp, FpVar};
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, LinearCombination, SynthesisError, Variable};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::commit::{self, Role};
use crate::matrix::{InputMatrix, OutputMatrix};
use crate::shape::Shape;
use crate::statement::Address;
use crate::Error;

/// The circuit a job is proven with; it also fixes how the job's data is committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CircuitKind {
    /// Commit-and-prove Freivalds (the default): A, B, C are bound by Pedersen
    /// commitments under the key's input bases ([`crate::cp`]); about mk + kn + mn constraints.
    #[default]
    Committed,
    /// Freivalds with every entry hashed in-circuit (Poseidon commitments,
    /// [`crate::commit`]): the previous construction, kept as the reference the
    /// benchmarks compare against and for jobs posted with Poseidon commitments.
    Poseidon,
    /// Every product (m·k·n multiplications), Poseidon commitments: the
    /// reference for differential tests.
    Naive,
    /// Not a matmul: an int8 network's run (`veriflop-infer`, docs/PROTOCOL.md
    /// §16). The job's shape is (batch, d_in, d_out, int8), cm_a the digest of
    /// the input batch's commitment, cm_b the model's digest (mod r), and cm_c
    /// the digest of the output's commitment; keys are the model's.
    Inference,
}

impl CircuitKind {
    /// The matmul circuits (what shape keys, benchmarks and the matmul prover take).
    pub const MATMUL: [CircuitKind; 3] = [CircuitKind::Committed, CircuitKind::Poseidon, CircuitKind::Naive];
    /// Every kind of job.
    pub const ALL: [CircuitKind; 4] =
        [CircuitKind::Committed, CircuitKind::Poseidon, CircuitKind::Naive, CircuitKind::Inference];

    pub fn code(self) -> u8 {
        match self {
            CircuitKind::Poseidon => 1,
            CircuitKind::Naive => 2,
            CircuitKind::Committed => 3,
            CircuitKind::Inference => 4,
        }
    }

    /// Whether the job is a matrix product (every kind but inference).
    pub fn is_matmul(self) -> bool {
        self != CircuitKind::Inference
    }

    pub fn from_code(code: u8) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .ok_or_else(|| Error::Format(format!("unknown circuit code {code}")))
    }

    /// Number of verifying-key input points (the constant one included).
    pub fn num_ic(self) -> usize {
        match self {
            CircuitKind::Committed => 1 + crate::cp::SCALAR_INPUTS,
            _ => 1 + crate::statement::NUM_PUBLIC_INPUTS,
        }
    }
}

impl fmt::Display for CircuitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CircuitKind::Committed => "committed",
            CircuitKind::Poseidon => "poseidon",
            CircuitKind::Naive => "naive",
            CircuitKind::Inference => "inference",
        })
    }
}

impl FromStr for CircuitKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL.into_iter().find(|k| k.to_string() == s).ok_or_else(|| {
            Error::Format(format!("unknown circuit {s:?} (expected committed, poseidon, naive or inference)"))
        })
    }
}

/// The prover's private data and the public identities it proves for.
#[derive(Clone, Debug)]
pub struct Witness {
    pub job_id: Fr,
    pub provider: Address,
    pub a: InputMatrix,
    pub b: InputMatrix,
    pub c: OutputMatrix,
}

/// A matmul circuit for one shape; without a witness it only describes the
/// constraints (key generation).
#[derive(Clone, Debug)]
pub struct MatmulCircuit {
    pub kind: CircuitKind,
    pub shape: Shape,
    pub witness: Option<Witness>,
    /// The committed circuit's Freivalds challenge r (`cp::challenge`), derived
    /// outside the circuit from the commitments.
    pub challenge: Option<Fr>,
}

impl MatmulCircuit {
    pub fn setup(kind: CircuitKind, shape: Shape) -> Self {
        MatmulCircuit { kind, shape, witness: None, challenge: None }
    }

    /// A circuit with its witness; `challenge` is required for [`CircuitKind::Committed`].
    pub fn prove(kind: CircuitKind, shape: Shape, witness: Witness, challenge: Option<Fr>) -> Self {
        MatmulCircuit { kind, shape, witness: Some(witness), challenge }
    }
}

impl ConstraintSynthesizer<Fr> for MatmulCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let shape = self.shape;
        if let Some(w) = &self.witness {
            let ok = (w.a.rows, w.a.cols) == (shape.m as usize, shape.k as usize)
                && (w.b.rows, w.b.cols) == (shape.k as usize, shape.n as usize)
                && (w.c.rows, w.c.cols) == (shape.m as usize, shape.n as usize)
                && w.a.check_dtype(shape.dtype).is_ok()
                && w.b.check_dtype(shape.dtype).is_ok()
                && w.c.data.iter().all(|&v| v.unsigned_abs() <= shape.max_abs_output());
            if !ok {
                return Err(SynthesisError::Unsatisfiable);
            }
        }
        if self.kind == CircuitKind::Inference {
            // An inference job is proven by veriflop-infer's circuit, not a matmul one.
            return Err(SynthesisError::Unsatisfiable);
        }
        let w = self.witness.as_ref();
        if self.kind == CircuitKind::Committed {
            let w = match w {
                Some(w) => Some((w, self.challenge.ok_or(SynthesisError::AssignmentMissing)?)),
                None => None,
            };
            return committed::synthesize(&cs, &shape, w);
        }
        let input = |v: Option<Fr>| FpVar::new_input(cs.clone(), || v.ok_or(SynthesisError::AssignmentMissing));
        let job_id = input(w.map(|w| w.job_id))?;
        let provider = input(w.map(|w| w.provider.to_fr()))?;
        let cm_a = input(w.map(|w| commit::commit_input(&shape, Role::A, &w.a)))?;
        let cm_b = input(w.map(|w| commit::commit_input(&shape, Role::B, &w.b)))?;
        let cm_c = input(w.map(|w| commit::commit_output(&shape, &w.c)))?;

        // The Freivalds circuit uses each A entry once; the naive one n times, so
        // there an entry is worth its own variable.
        let reuse = self.kind == CircuitKind::Naive;
        let a = binding::bind_input(&cs, &shape, Role::A, w.map(|w| &w.a), reuse, &cm_a)?;
        let b = binding::bind_input(&cs, &shape, Role::B, w.map(|w| &w.b), reuse, &cm_b)?;
        match self.kind {
            CircuitKind::Poseidon => {
                let c = binding::alloc_output(&cs, &shape, w.map(|w| &w.c))?;
                binding::bind_output(&cs, &shape, &c, &cm_c)?;
                let transcript = freivalds::Transcript { job_id, provider, cm: [cm_a, cm_b, cm_c] };
                let (r, s) = freivalds::poseidon_challenges(&cs, &shape, &transcript)?;
                freivalds::enforce(&cs, &shape, &a, &b, &c, &r, &s)
            }
            CircuitKind::Naive => {
                let c = naive::product(&cs, &shape, &a, &b)?;
                binding::bind_output(&cs, &shape, &c, &cm_c)
            }
            CircuitKind::Committed | CircuitKind::Inference => unreachable!("handled above"),
        }
    }
}

/// A linear combination with its value (None while generating keys).
#[derive(Clone, Debug)]
pub(crate) struct Val {
    pub lc: LinearCombination<Fr>,
    pub value: Option<Fr>,
}

impl Val {
    pub fn constant(c: Fr) -> Self {
        Val { lc: lc!() + (c, Variable::One), value: Some(c) }
    }

    pub fn var(v: Variable, value: Option<Fr>) -> Self {
        Val { lc: lc!() + v, value }
    }

    pub fn from_fpvar(x: &FpVar<Fr>) -> Self {
        match x {
            FpVar::Constant(c) => Val::constant(*c),
            FpVar::Var(a) => Val::var(a.variable, a.value().ok()),
        }
    }

    /// self += other (a single-variable `other` is inserted in place, keeping long sums linear-time).
    pub fn add(&mut self, other: &Val) {
        if other.lc.0.len() == 1 {
            self.lc += other.lc.0[0];
        } else {
            self.lc = &self.lc + &other.lc;
        }
        self.value = self.value.zip(other.value).map(|(a, b)| a + b);
    }

    pub fn to_fpvar(&self, cs: &ConstraintSystemRef<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
        let v = cs.new_lc(self.lc.clone())?;
        Ok(FpVar::Var(AllocatedFp::new(self.value, v, cs.clone())))
    }
}

pub(crate) fn witness(cs: &ConstraintSystemRef<Fr>, value: Option<Fr>) -> Result<Variable, SynthesisError> {
    cs.new_witness_variable(|| value.ok_or(SynthesisError::AssignmentMissing))
}

/// x·y as a new variable: one constraint.
pub(crate) fn mul(cs: &ConstraintSystemRef<Fr>, x: &Val, y: &Val) -> Result<Val, SynthesisError> {
    let value = x.value.zip(y.value).map(|(a, b)| a * b);
    let v = witness(cs, value)?;
    cs.enforce_constraint(x.lc.clone(), y.lc.clone(), lc!() + v)?;
    Ok(Val::var(v, value))
}

/// A linear combination as its own variable: one constraint, so that reusing it
/// does not copy all its terms into every constraint that uses it.
pub(crate) fn materialize(cs: &ConstraintSystemRef<Fr>, x: &Val) -> Result<Val, SynthesisError> {
    let v = witness(cs, x.value)?;
    cs.enforce_constraint(x.lc.clone(), lc!() + Variable::One, lc!() + v)?;
    Ok(Val::var(v, x.value))
}

/// Signed integer into the field.
pub fn fr_from_i128(v: i128) -> Fr {
    if v < 0 {
        -Fr::from(v.unsigned_abs())
    } else {
        Fr::from(v as u128)
    }
}

#[cfg(test)]
mod tests;
