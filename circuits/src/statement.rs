//! What a proof is about: the job, the provider to pay, and the data commitments.

use ark_bn254::Fr;
use ark_ff::PrimeField;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

use crate::circuit::CircuitKind;
use crate::commit::{self, Role};
use crate::cp::{self, CommitKey};
use crate::execute;
use crate::field::{self, serde_fr};
use crate::matrix::InputMatrix;
use crate::shape::Shape;
use crate::system::ProofSystem;
use crate::Error;

/// A 20-byte Ethereum-style address: the provider's payout identity, usable on-chain as is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The address as a field element (160 bits, always canonical).
    pub fn to_fr(&self) -> Fr {
        Fr::from_be_bytes_mod_order(&self.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for Address {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let h = s.strip_prefix("0x").unwrap_or(s);
        if h.len() != 40 {
            return Err(Error::Format(format!("an address is 40 hex digits, got {:?}", s)));
        }
        Ok(Address(field::hex_bytes::<20>(&format!("0x{h}"))?))
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        field::ser_bytes(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Address(field::de_bytes::<D, 20>(d)?))
    }
}

/// A job identifier: a BN254 scalar (public input 0). Fresh ids are 31 random bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JobId(#[serde(with = "serde_fr")] pub Fr);

impl JobId {
    pub fn random() -> Self {
        let mut b = [0u8; 31];
        rand::thread_rng().fill_bytes(&mut b);
        JobId(Fr::from_be_bytes_mod_order(&b))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", field::fr_to_hex(&self.0))
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for JobId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(JobId(field::fr_from_hex(s)?))
    }
}

/// The public statement of a matmul proof: `[job_id, provider, cm_a, cm_b, cm_c]`
/// (for the committed circuit, cm_* are the digests of the commitment points the
/// bundle carries); the shape is fixed by the verifying key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub job_id: JobId,
    pub provider: Address,
    pub shape: Shape,
    #[serde(with = "serde_fr")]
    pub cm_a: Fr,
    #[serde(with = "serde_fr")]
    pub cm_b: Fr,
    #[serde(with = "serde_fr")]
    pub cm_c: Fr,
}

/// Number of public inputs of every matmul circuit.
pub const NUM_PUBLIC_INPUTS: usize = 5;

impl Statement {
    pub fn public_inputs(&self) -> [Fr; NUM_PUBLIC_INPUTS] {
        [self.job_id.0, self.provider.to_fr(), self.cm_a, self.cm_b, self.cm_c]
    }
}

/// A posted job: what the client fixes before any provider works on it.
///
/// `circuit` fixes how cm_a and cm_b are computed: for [`CircuitKind::Committed`]
/// they are the digests of Pedersen commitments under the shape's commitment key
/// ([`crate::cp`]); for the other circuits, Poseidon hashes ([`crate::commit`]).
/// `system` fixes the proof system (and with it the trusted setup) that settles
/// the job; halo2 proves Poseidon-committed jobs only ([`ProofSystem::supports`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: JobId,
    /// The proof system that may settle the job (absent in older job files: Groth16).
    #[serde(default)]
    pub system: ProofSystem,
    #[serde(default)]
    pub circuit: CircuitKind,
    pub shape: Shape,
    #[serde(with = "serde_fr")]
    pub cm_a: Fr,
    #[serde(with = "serde_fr")]
    pub cm_b: Fr,
}

/// A and B's commitments as `circuit` defines them (`ck` is needed for the committed circuit).
pub fn input_commitments(
    circuit: CircuitKind,
    shape: &Shape,
    ck: Option<&CommitKey>,
    a: &InputMatrix,
    b: &InputMatrix,
) -> Result<(Fr, Fr), Error> {
    execute::check_inputs(shape, a, b)?;
    match circuit {
        CircuitKind::Inference => Err(Error::Format(
            "an inference job commits to its input under its model's key (veriflop-infer), not to A and B".into(),
        )),
        CircuitKind::Committed => {
            let ck = ck.ok_or_else(|| {
                Error::Format(format!("the committed circuit needs the commitment key of shape {shape}"))
            })?;
            if ck.shape != *shape {
                return Err(Error::Format(format!("commitment key is for shape {}, not {shape}", ck.shape)));
            }
            let (pa, pb) = ck.commit_inputs(a, b)?;
            Ok((cp::digest(&pa), cp::digest(&pb)))
        }
        CircuitKind::Poseidon | CircuitKind::Naive => {
            Ok((commit::commit_input(shape, Role::A, a), commit::commit_input(shape, Role::B, b)))
        }
    }
}

impl Job {
    /// The client's side: checks A and B fit the shape and commits to them.
    pub fn new(
        job_id: JobId,
        circuit: CircuitKind,
        shape: Shape,
        ck: Option<&CommitKey>,
        a: &InputMatrix,
        b: &InputMatrix,
    ) -> Result<Self, Error> {
        let (cm_a, cm_b) = input_commitments(circuit, &shape, ck, a, b)?;
        Ok(Job { job_id, system: ProofSystem::default(), circuit, shape, cm_a, cm_b })
    }

    /// The same job, to be settled with `system` (which must support its circuit).
    pub fn with_system(self, system: ProofSystem) -> Result<Self, Error> {
        system.check_circuit(self.circuit)?;
        Ok(Job { system, ..self })
    }

    /// Checks that A and B are the matrices this job committed to.
    pub fn check_data(&self, ck: Option<&CommitKey>, a: &InputMatrix, b: &InputMatrix) -> Result<(), Error> {
        let (cm_a, cm_b) = input_commitments(self.circuit, &self.shape, ck, a, b)?;
        if cm_a != self.cm_a {
            return Err(Error::Mismatch(
                "A does not match the job's commitment cm_A: it is not the data the client posted".into(),
            ));
        }
        if cm_b != self.cm_b {
            return Err(Error::Mismatch(
                "B does not match the job's commitment cm_B: it is not the data the client posted".into(),
            ));
        }
        Ok(())
    }

    pub fn statement(&self, provider: Address, cm_c: Fr) -> Statement {
        Statement { job_id: self.job_id, provider, shape: self.shape, cm_a: self.cm_a, cm_b: self.cm_b, cm_c }
    }
}
