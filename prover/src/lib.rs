//! veriflop's prover: the Groth16 pipeline over pluggable MSM/NTT backends,
//! per-shape keys, and the pieces of the `veriflop-prover` CLI.

pub mod backend;
pub mod prove;
pub mod qap;
pub mod setup;
pub mod snarkjs;

pub use backend::{Backend, CpuBackend};
pub use prove::{prove, prove_bundle, ProveError, ProveOptions, ProveStats};
pub use setup::KeyStore;
pub use setup::ProverKey;
