//! Verified AI inference, the workload: int8 feed-forward networks exactly as
//! onnxruntime's CPU kernels run them.
//!
//! - [`requant`]: requantization as onnxruntime computes it (float32), and as
//!   a monotone step function given by thresholds, the form a circuit checks;
//! - [`model`]: the network (dense layers with int32 bias and requantization);
//! - [`execute`]: the exact native executor, the reference;
//! - [`circuit`]: the inference relation as R1CS (Freivalds per layer,
//!   requantization by logUp lookups into threshold tables);
//! - [`job`]: commit-and-prove for a model's run (commitments, transcript,
//!   Groth16 with the model's keys, proofs of knowledge);
//! - [`keys`]: the verifier's part of a model's keys, and both as files;
//! - [`qap`]: the keys' R1CS-to-QAP reduction (no QAP row for an input the
//!   constraints already pin down; the quotient's query over the coset);
//! - [`prover`]: the job's Groth16 prover (one synthesis, cached matrices,
//!   small-scalar MSMs), proofs under the model's arkworks keys;
//! - [`onnx`]: import of models quantized by onnxruntime's tooling (QOperator
//!   or QDQ form), refusing anything else by name.

pub mod circuit;
pub mod execute;
pub mod job;
pub mod keys;
pub mod model;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod prover;
pub mod qap;
pub mod requant;
pub mod setup;

pub use execute::{run, Trace};
pub use model::{Layer, Model, QuantParams};
pub use requant::{Requant, Thresholds};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model: {0}")]
    Model(String),
    #[error("shape: {0}")]
    Shape(String),
    #[error("ONNX: {0}")]
    Onnx(String),
    /// An operator or form outside the supported layer set.
    #[error("unsupported ONNX model: node {node:?} ({op}): {reason}")]
    Unsupported { op: String, node: String, reason: String },
    #[error("{0}")]
    Io(String),
    #[error("key file: {0}")]
    Key(String),
    /// The run does not satisfy the model: nothing can be proven.
    #[error("the run does not satisfy the model (constraint {0})")]
    Unsatisfied(String),
}
