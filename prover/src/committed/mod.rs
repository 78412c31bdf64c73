//! Groth16 for the committed circuit, specialised to its fixed R1CS
//! ([`veriflop_circuits::circuit::committed::Layout`]).
//!
//! The generic path (synthesize with arkworks, libsnark reduction, one MSM per
//! query over every variable) spends most of its time on structure it does not
//! need: a QAP row per matrix entry, synthesis of a job-independent R1CS, and
//! full-width MSMs over identity points and small integers. Here:
//! - the QAP has one extra row per *scalar* input only (1, job_id, provider, r);
//!   the entries' polynomials are independent without theirs (PROTOCOL.md §12.1),
//!   so the domain is about half as large;
//! - the setup ([`setup`]) evaluates the layout's polynomials at τ directly and
//!   keeps only the query points that are not the identity, in the order the
//!   prover's MSMs read them ([`CommittedKey`]);
//! - the prover ([`prove`]) computes the QAP evaluations from A, B, C and r, and
//!   its MSMs over entries and products are small-scalar MSMs: Σ_i A_il·y_l·L_il
//!   = y_l·(Σ_i A_il·L_il), one int8 MSM per group and one full-width MSM over
//!   the groups.
//!
//! The proofs are ordinary Groth16 proofs for the same statement, checked by the
//! same verifying key format (ark-groth16's verifier accepts them).

mod fixed_base;
mod key;
mod prove;
mod setup;

pub use key::{lengths, CommittedKey};
pub use prove::prove;
pub use setup::generate;
