//! veriflop's prover: the Groth16 pipeline over pluggable MSM/NTT backends,
//! per-shape keys, halo2 proving from the universal SRS ([`halo2`]), and the
//! pieces of the `veriflop-prover` CLI.

pub mod backend;
pub mod ceremony;
pub mod committed;
pub mod gemm;
pub mod halo2;
pub mod prove;
pub mod qap;
pub mod setup;
pub mod snarkjs;

pub use backend::{Backend, BackendChoice, CpuBackend, IcicleBackend, IcicleConfig};
pub use prove::{prove, prove_bundle, ProveError, ProveOptions, ProveStats};
pub use setup::KeyStore;
pub use setup::{KeyBody, ProverKey};
