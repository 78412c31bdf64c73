//! veriflop's second proof system (issue #8): the matmul job's statement as a
//! halo2 circuit — PLONK with KZG commitments over BN254 — with one universal
//! SRS for every shape and an EVM verifier.
//!
//! **Statement.** Public instances `[job_id, provider, cm_A, cm_B, cm_C]`, the
//! same as the Groth16 circuits (`Statement::public_inputs()`), where cm_X are
//! the *Poseidon* commitments of `veriflop_circuits::commit` (the "poseidon"
//! commitment scheme of the Groth16 `freivalds`/`poseidon` circuits). A job
//! posted with Poseidon commitments can therefore be proven with either system;
//! a job posted for the commit-and-prove (Pedersen) circuit cannot be proven here.
//! See [`circuit`] for the constraints and the Freivalds challenge design.
//!
//! **Setup.** [`Srs`] is one powers-of-τ: a development one from a 32-byte seed
//! (drawn from the OS, or fixed by a test), or the first 2^k powers of a snarkjs
//! `.ptau` file (Perpetual Powers of Tau). Keys for a shape are derived from it
//! by [`keygen`] with no further trusted setup, once per (shape, SRS): the
//! [`keycache`] keeps them in files next to the SRS.
//!
//! **Crates.** `halo2-axiom` 0.5.3 (used as `halo2_proofs`): axiom's KZG/BN254
//! fork of halo2, maintained, with the multi-phase challenge API this circuit
//! needs; `snark-verifier` 0.2.7 (axiom's fork of PSE's), whose EVM loader turns
//! a halo2 verifying key into a Solidity verifier and which is built against
//! exactly halo2-axiom 0.5.3 (through halo2-base 0.5.5). Pinned with `=` so the
//! prover, the native verifier and the Solidity generator share one halo2.
//! `revm` 43 as in the root workspace.

pub mod circuit;
pub mod encode;
pub mod evm;
pub mod field;
pub mod keycache;
pub mod layout;
pub mod poseidon;
pub mod proof;
mod ptau;
pub mod solc;
pub mod srs;

pub use keycache::{KeyCache, KeyFileError, KeySource};
pub use layout::MAX_K;
pub use proof::{
    circuit_k, keygen, keygen_vk, prove, verify, KeygenError, ProveError, ProverKey, PublicInputs, VerifierKey,
    VerifyError, MAX_PROOF_BYTES,
};
pub use srs::{Srs, SrsError, SrsFingerprint};

/// A development SRS of degree 2^k from a 32-byte seed (see [`Srs::setup_dev`];
/// [`Srs::setup_dev_random`] draws the seed from the OS). A 64-bit seed is
/// not accepted:
///
/// ```compile_fail
/// let _ = veriflop_halo2::setup_srs(4, 7u64);
/// ```
/// ```compile_fail
/// let _ = veriflop_halo2::Srs::setup_dev(4, 7u64);
/// ```
/// ```
/// let srs = veriflop_halo2::setup_srs(4, [7; 32]).unwrap();
/// assert_eq!(srs.k(), 4);
/// ```
pub fn setup_srs(k: u32, seed: [u8; 32]) -> Result<Srs, SrsError> {
    Srs::setup_dev(k, seed)
}
