//! What the verifier accepts: proof bundles and verifying-key files (decoded
//! from untrusted bytes with bounded sizes and full validation), signed
//! requests, and native verification of a bundle against its shape's key and a
//! job's terms. No async runtime and no database: the service that serves this
//! over HTTP is `veriflop-service`.

pub mod auth;
pub mod bundle;
pub mod keys;
pub mod verify;

pub use bundle::{Groth16Proof, Halo2Proof, Proof, ProofBundle};
pub use keys::ShapeKey;
pub use veriflop_circuits::ProofSystem;
pub use verify::{JobTerms, Verifier, VerifyError};
