//! veriflop's statement: matmul workloads, their native reference execution, data
//! commitments and the R1CS circuits that prove C = A·B for committed A, B, C.
//!
//! See `docs/PROTOCOL.md` for the relation, transcript and soundness argument.

pub mod circuit;
pub mod commit;
pub mod cp;
pub mod execute;
pub mod field;
pub mod matrix;
pub mod msm;
pub mod shape;
pub mod statement;
pub mod stream;
pub mod system;
pub mod venue;

pub use circuit::{CircuitKind, MatmulCircuit, Witness};
pub use matrix::{InputMatrix, Matrix, OutputMatrix};
pub use shape::{Dtype, Shape};
pub use statement::{Address, Job, JobId, Statement};
pub use system::ProofSystem;
pub use venue::{Bytes32, Venue};

/// Errors of this crate; each says what was wrong with which input.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("shape: {0}")]
    Shape(String),
    #[error("value out of range: {0}")]
    Range(String),
    #[error("format: {0}")]
    Format(String),
    #[error("i/o: {0}")]
    Io(String),
    /// Data that does not match what a job committed to (said as is).
    #[error("{0}")]
    Mismatch(String),
}
