//! Shared fixtures: one development SRS, keys per shape, job data.
#![allow(dead_code)]

use std::sync::OnceLock;

use veriflop_circuits::commit::{commit_input, commit_output, Role};
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Dtype, InputMatrix, OutputMatrix, Shape};
use veriflop_halo2::{keygen, setup_srs, ProverKey, PublicInputs, Srs, VerifierKey};

pub fn srs() -> &'static Srs {
    static S: OnceLock<Srs> = OnceLock::new();
    S.get_or_init(|| setup_srs(11, [42; 32]).unwrap())
}

pub struct Fx {
    pub shape: Shape,
    pub pk: ProverKey,
    pub vk: VerifierKey,
    pub a: InputMatrix,
    pub b: InputMatrix,
    pub c: OutputMatrix,
    pub public: PublicInputs,
    pub proof: Vec<u8>,
}

fn make(m: u32, k: u32, n: u32, dtype: Dtype) -> Fx {
    let shape = Shape::new(m, k, n, dtype).unwrap();
    let (pk, vk) = keygen(&shape, srs()).unwrap();
    let a = InputMatrix::random(m as usize, k as usize, dtype, 1).unwrap();
    let b = InputMatrix::random(k as usize, n as usize, dtype, 2).unwrap();
    let c = matmul(&shape, &a, &b).unwrap();
    let job = ark_bn254::Fr::from(0xC0FFEEu64);
    let provider = ark_bn254::Fr::from(0x1111u64);
    let public = [
        job,
        provider,
        commit_input(&shape, Role::A, &a),
        commit_input(&shape, Role::B, &b),
        commit_output(&shape, &c),
    ];
    let proof = veriflop_halo2::prove(&pk, job, provider, &a, &b, &c).unwrap();
    Fx { shape, pk, vk, a, b, c, public, proof }
}

/// 2×3×4 int8.
pub fn small() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| make(2, 3, 4, Dtype::Int8))
}

/// 8×8×8 int8.
pub fn square() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| make(8, 8, 8, Dtype::Int8))
}
