//! What the verifier accepts: proof bundles and verifying-key files (decoded
//! from untrusted bytes with bounded sizes and full validation), and native
//! Groth16 verification of a bundle against its shape's key and a job's terms.

pub mod auth;
pub mod blobs;
pub mod bundle;
pub mod client;
pub mod keys;
pub mod ledger;
pub mod service;
pub mod verify;

pub use bundle::{Groth16Proof, Halo2Proof, Proof, ProofBundle};
pub use keys::ShapeKey;
pub use veriflop_circuits::ProofSystem;
pub use verify::{JobTerms, Verifier, VerifyError};
