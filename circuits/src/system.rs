//! The proof systems a job can be settled with.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CircuitKind, Error};

/// Which SNARK proves a job. The client picks it when posting the job, because
/// it decides which trusted setup the payment relies on: a Groth16 ceremony per
/// shape, or one universal powers-of-tau for halo2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ProofSystem {
    /// Groth16 over BN254 (keys per circuit and shape); every circuit.
    #[default]
    Groth16Bn254,
    /// halo2 (PLONK) with KZG over BN254 and one universal SRS; proves the
    /// Poseidon-committed statement (`CircuitKind::Poseidon` jobs).
    Halo2KzgBn254,
}

impl ProofSystem {
    pub const ALL: [ProofSystem; 2] = [ProofSystem::Groth16Bn254, ProofSystem::Halo2KzgBn254];

    /// Code in bits 112-119 of an on-chain shape id (0 keeps Groth16 ids as they were).
    pub fn code(self) -> u8 {
        match self {
            ProofSystem::Groth16Bn254 => 0,
            ProofSystem::Halo2KzgBn254 => 1,
        }
    }

    /// The wire name used in bundles, jobs and the ledger.
    pub fn name(self) -> &'static str {
        match self {
            ProofSystem::Groth16Bn254 => "groth16-bn254",
            ProofSystem::Halo2KzgBn254 => "halo2-kzg-bn254",
        }
    }

    /// Whether this system can prove jobs whose data is committed as `circuit` says.
    pub fn supports(self, circuit: CircuitKind) -> bool {
        match self {
            ProofSystem::Groth16Bn254 => true,
            ProofSystem::Halo2KzgBn254 => circuit == CircuitKind::Poseidon,
        }
    }

    /// `Ok` when the pair can be proven, else a message that says what can.
    pub fn check_circuit(self, circuit: CircuitKind) -> Result<(), Error> {
        if self.supports(circuit) {
            return Ok(());
        }
        Err(Error::Format(format!("{self} proves Poseidon-committed jobs (circuit poseidon), not {circuit} jobs")))
    }
}

impl fmt::Display for ProofSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProofSystem {
    type Err = Error;
    /// Accepts the wire names and the short ones the CLI uses (`groth16`, `halo2`).
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "groth16" | "groth16-bn254" => Ok(ProofSystem::Groth16Bn254),
            "halo2" | "halo2-kzg-bn254" => Ok(ProofSystem::Halo2KzgBn254),
            _ => Err(Error::Format(format!("unknown proof system {s:?} (expected groth16 or halo2)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_halo2_needs_poseidon() {
        for s in ProofSystem::ALL {
            assert_eq!(s.name().parse::<ProofSystem>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
        }
        assert_eq!("halo2".parse::<ProofSystem>().unwrap(), ProofSystem::Halo2KzgBn254);
        assert!("plonk".parse::<ProofSystem>().is_err());
        assert!(ProofSystem::Halo2KzgBn254.check_circuit(CircuitKind::Poseidon).is_ok());
        assert!(ProofSystem::Halo2KzgBn254.check_circuit(CircuitKind::Committed).is_err());
        assert!(ProofSystem::Halo2KzgBn254.check_circuit(CircuitKind::Naive).is_err());
        assert!(CircuitKind::ALL.iter().all(|&c| ProofSystem::Groth16Bn254.supports(c)));
    }
}
