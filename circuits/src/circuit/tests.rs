use ark_bn254::Fr;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisMode};

use super::*;
use crate::execute::matmul;
use crate::shape::Dtype;

pub(crate) fn witness_for(shape: &Shape, seed: u64) -> Witness {
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, seed).unwrap();
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, seed + 1).unwrap();
    let c = matmul(shape, &a, &b).unwrap();
    Witness { job_id: Fr::from(7u64), provider: Address([0xab; 20]), a, b, c }
}

fn satisfied(kind: CircuitKind, shape: Shape, w: Witness) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    MatmulCircuit::prove(kind, shape, w, None).generate_constraints(cs.clone()).unwrap();
    cs.finalize();
    cs.is_satisfied().unwrap()
}

#[test]
fn honest_witness_satisfies_both_circuits() {
    for (m, k, n) in [(1, 1, 1), (2, 3, 4), (5, 1, 3), (4, 4, 4), (3, 7, 2)] {
        for dtype in Dtype::ALL {
            let shape = Shape::new(m, k, n, dtype).unwrap();
            for kind in [CircuitKind::Poseidon, CircuitKind::Naive] {
                assert!(satisfied(kind, shape, witness_for(&shape, 3)), "{kind} {shape}");
            }
        }
    }
}

#[test]
fn extreme_entries_satisfy() {
    for dtype in Dtype::ALL {
        let shape = Shape::new(2, 3, 2, dtype).unwrap();
        let mut w = witness_for(&shape, 1);
        w.a.data.iter_mut().for_each(|v| *v = dtype.min() as i32);
        w.b.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = if i % 2 == 0 { dtype.min() as i32 } else { dtype.max() as i32 });
        w.c = matmul(&shape, &w.a, &w.b).unwrap();
        assert!(satisfied(CircuitKind::Poseidon, shape, w), "{dtype}");
    }
}

#[test]
fn wrong_product_is_unsatisfiable() {
    for dtype in Dtype::ALL {
        let shape = Shape::new(3, 4, 5, dtype).unwrap();
        for idx in [0usize, 7, 14] {
            for kind in [CircuitKind::Poseidon, CircuitKind::Naive] {
                let mut w = witness_for(&shape, 9);
                w.c.data[idx] += 1;
                assert!(!satisfied(kind, shape, w), "{kind} {dtype} entry {idx}");
            }
        }
    }
}

#[test]
fn out_of_range_witness_is_refused() {
    let shape = Shape::new(2, 2, 2, Dtype::Int8).unwrap();
    let mut w = witness_for(&shape, 1);
    w.a.data[0] = 200;
    let cs = ConstraintSystem::<Fr>::new_ref();
    assert!(MatmulCircuit::prove(CircuitKind::Poseidon, shape, w, None).generate_constraints(cs).is_err());
}

#[test]
fn freivalds_grows_quadratically() {
    let count = |n: u32, kind| {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Setup);
        MatmulCircuit::setup(kind, Shape::square(n, Dtype::Int8).unwrap()).generate_constraints(cs.clone()).unwrap();
        cs.num_constraints()
    };
    let (f1, f2) = (count(16, CircuitKind::Poseidon), count(32, CircuitKind::Poseidon));
    let (n1, n2) = (count(16, CircuitKind::Naive), count(32, CircuitKind::Naive));
    eprintln!("constraints n=16/32: freivalds {f1}/{f2}, naive {n1}/{n2}");
    // Doubling n: the Freivalds circuit grows ≤ 4×; the extra cost of the naive one ~8×.
    assert!(f2 <= 4 * f1, "freivalds {f1} -> {f2}");
    assert!((n2 - f2) > 7 * (n1 - f1), "naive {n1} -> {n2}");
}

fn committed_satisfied(shape: Shape, w: Witness) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    MatmulCircuit::prove(CircuitKind::Committed, shape, w, Some(Fr::from(3u64)))
        .generate_constraints(cs.clone())
        .unwrap();
    cs.finalize();
    cs.is_satisfied().unwrap()
}

#[test]
fn committed_circuit_checks_the_product_with_quadratic_cost() {
    for (m, k, n) in [(1, 1, 1), (2, 3, 4), (4, 4, 4)] {
        for dtype in Dtype::ALL {
            let shape = Shape::new(m, k, n, dtype).unwrap();
            assert!(committed_satisfied(shape, witness_for(&shape, 2)), "{shape}");
            let mut w = witness_for(&shape, 2);
            w.c.data[0] -= 1;
            assert!(!committed_satisfied(shape, w), "{shape}: wrong C accepted");
        }
    }
    let count = |n: u32| {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(SynthesisMode::Setup);
        MatmulCircuit::setup(CircuitKind::Committed, Shape::square(n, Dtype::Int8).unwrap())
            .generate_constraints(cs.clone())
            .unwrap();
        cs.num_constraints()
    };
    let n = 32usize;
    // 3n² products plus O(n) for powers and y.
    assert!(count(32) <= 3 * n * n + 4 * n, "{}", count(32));
    let mut w = witness_for(&Shape::new(2, 3, 4, Dtype::Int8).unwrap(), 2);
    w.c.data.pop();
    let cs = ConstraintSystem::<Fr>::new_ref();
    let c = MatmulCircuit::prove(
        CircuitKind::Committed,
        Shape::new(2, 3, 4, Dtype::Int8).unwrap(),
        w,
        Some(Fr::from(3u64)),
    );
    assert!(c.generate_constraints(cs).is_err(), "short C refused");
}
