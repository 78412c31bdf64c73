//! The circuit itself, under halo2's MockProver: its Poseidon hashes equal
//! veriflop-circuits' native commitments, and a wrong C violates Freivalds.

use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::bn256::Fr;
use veriflop_circuits::commit::{commit_input, commit_output, Role};
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Dtype, InputMatrix, Shape};
use veriflop_halo2::circuit::{MatmulCircuit, MatmulWitness};
use veriflop_halo2::circuit_k;
use veriflop_halo2::field::from_ark;

fn run(shape: &Shape, a: &InputMatrix, b: &InputMatrix, c: &[i128], cm: [ark_bn254::Fr; 3]) -> bool {
    let wide = |x: &InputMatrix| x.data.iter().map(|&v| v as i128).collect();
    let circuit =
        MatmulCircuit { shape: *shape, witness: Some(MatmulWitness { a: wide(a), b: wide(b), c: c.to_vec() }) };
    let mut instances = vec![Fr::from(77u64), Fr::from(88u64)];
    instances.extend(cm.iter().map(from_ark));
    MockProver::run(circuit_k(shape), &circuit, vec![instances]).unwrap().verify().is_ok()
}

#[test]
fn in_circuit_poseidon_equals_the_native_commitments() {
    for (m, k, n, dtype) in
        [(2, 3, 4, Dtype::Int8), (3, 40, 2, Dtype::Int8), (2, 2, 3, Dtype::Int16), (2, 2, 2, Dtype::Int32)]
    {
        let shape = Shape::new(m, k, n, dtype).unwrap();
        let a = InputMatrix::random(m as usize, k as usize, dtype, 11).unwrap();
        let b = InputMatrix::random(k as usize, n as usize, dtype, 12).unwrap();
        let c = matmul(&shape, &a, &b).unwrap();
        // The instances are veriflop-circuits' (arkworks) commitments: the
        // circuit's hash outputs are copy-constrained to them.
        let cm = [commit_input(&shape, Role::A, &a), commit_input(&shape, Role::B, &b), commit_output(&shape, &c)];
        assert!(run(&shape, &a, &b, &c.data, cm), "{shape}");
        for i in 0..3 {
            let mut bad = cm;
            bad[i] += ark_bn254::Fr::from(1u64);
            assert!(!run(&shape, &a, &b, &c.data, bad), "{shape}: changed cm {i} accepted");
        }
    }
}

#[test]
fn wrong_product_violates_the_freivalds_check() {
    let shape = Shape::new(2, 3, 4, Dtype::Int8).unwrap();
    let a = InputMatrix::random(2, 3, Dtype::Int8, 1).unwrap();
    let b = InputMatrix::random(3, 4, Dtype::Int8, 2).unwrap();
    let mut c = matmul(&shape, &a, &b).unwrap();
    c.data[5] -= 1;
    // Commitments are honest for the wrong C, so only Freivalds can catch it.
    let cm = [commit_input(&shape, Role::A, &a), commit_input(&shape, Role::B, &b), commit_output(&shape, &c)];
    assert!(!run(&shape, &a, &b, &c.data, cm));
}

#[test]
fn out_of_range_entries_violate_the_range_check() {
    // 128 is not an int8, but the packing alone would accept its offset form.
    let shape = Shape::new(1, 1, 1, Dtype::Int8).unwrap();
    let a = veriflop_circuits::Matrix::new(1, 1, vec![128]).unwrap();
    let b = veriflop_circuits::Matrix::new(1, 1, vec![1]).unwrap();
    let c = vec![128i128];
    let cm = [
        commit_input(&shape, Role::A, &a),
        commit_input(&shape, Role::B, &b),
        commit_output(&shape, &veriflop_circuits::Matrix::new(1, 1, c.clone()).unwrap()),
    ];
    assert!(!run(&shape, &a, &b, &c, cm));
}
