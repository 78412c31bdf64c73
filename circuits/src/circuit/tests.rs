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

fn eval(terms: &[(Fr, usize)], z: &[Fr]) -> Fr {
    terms.iter().map(|(c, v)| *c * z[*v]).sum()
}

#[test]
fn layout_is_the_synthesized_r1cs_and_puts_products_in_c_only() {
    use committed::{Layout, SCALAR_VARS};
    for (m, k, n) in [(1, 1, 1), (2, 3, 4), (3, 1, 2), (1, 4, 1), (4, 4, 4), (5, 2, 3), (8, 4, 6)] {
        let shape = Shape::new(m, k, n, Dtype::Int8).unwrap();
        let layout = Layout::new(&shape);
        let rows = layout.rows();
        assert_eq!(rows.len(), layout.num_rows(), "{shape}");
        let (m, k, n) = (m as usize, k as usize, n as usize);
        let padding = (n - 1).max(1).next_multiple_of(layout.block) - (n - 1).max(1);
        assert_eq!(layout.num_constraints(), m * k + k * n + m * n + (n - 1).max(1) + padding, "{shape}");
        assert_eq!(layout.num_inputs(), SCALAR_VARS + m * k + k * n + m * n);

        // The arkworks synthesis of the same circuit has the same rows, term for term.
        let w = witness_for(&shape, 5);
        let r = Fr::from(11u64);
        let cs = ConstraintSystem::<Fr>::new_ref();
        MatmulCircuit::prove(CircuitKind::Committed, shape, w.clone(), Some(r))
            .generate_constraints(cs.clone())
            .unwrap();
        cs.finalize();
        assert!(cs.is_satisfied().unwrap(), "{shape}");
        let mats = cs.to_matrices().unwrap();
        assert_eq!(mats.num_instance_variables, layout.num_inputs());
        assert_eq!(mats.num_instance_variables + mats.num_witness_variables, layout.num_variables());
        let sorted = |t: &[(Fr, usize)]| {
            let mut t: Vec<(Fr, usize)> = t.to_vec();
            t.sort_by_key(|x| x.1);
            t
        };
        for (i, row) in rows.iter().take(layout.num_constraints()).enumerate() {
            assert_eq!(sorted(&mats.a[i]), sorted(&row.a), "{shape} row {i} A");
            assert_eq!(sorted(&mats.b[i]), sorted(&row.b), "{shape} row {i} B");
            assert_eq!(sorted(&mats.c[i]), sorted(&row.c), "{shape} row {i} C");
        }

        // The honest assignment satisfies every row; a wrong C breaks only Horner's first row.
        let z = layout.assignment(&w, r);
        assert!(rows.iter().all(|row| eval(&row.a, &z) * eval(&row.b, &z) == eval(&row.c, &z)));
        let mut bad = w.clone();
        bad.c.data[m * n - 1] += 1;
        let z = layout.assignment(&bad, r);
        let broken: Vec<usize> =
            (0..rows.len()).filter(|&i| eval(&rows[i].a, &z) * eval(&rows[i].b, &z) != eval(&rows[i].c, &z)).collect();
        assert_eq!(broken, vec![layout.horner_row(0)], "{shape}");

        // Products only in C; entries never in B; each input alone among inputs on some side of some row.
        let products = layout.scalar_witnesses().end..layout.num_variables();
        let entries = SCALAR_VARS..layout.num_inputs();
        let mut home = vec![false; layout.num_inputs()];
        for row in &rows {
            assert!(row.a.iter().chain(&row.b).all(|(_, v)| !products.contains(v)), "{shape}: product in A or B");
            assert!(row.b.iter().all(|(_, v)| !entries.contains(v)), "{shape}: entry in B");
            for terms in [&row.a, &row.b, &row.c] {
                let inputs: Vec<usize> = terms.iter().map(|t| t.1).filter(|&v| v < layout.num_inputs()).collect();
                if let [only] = inputs[..] {
                    home[only] = true;
                }
            }
        }
        // So the inputs' QAP polynomials β·u + α·v + w are linearly independent.
        assert!(home.iter().all(|&h| h), "{shape}: an input shares every (row, side) with another");
    }
}

/// B is the same combination on every row of an aligned block, so B's QAP
/// evaluation is a polynomial in X^T (the prover's NTT saving relies on it); the
/// blocks map to the cosets of the order-|H|/T subgroup, bijectively.
#[test]
fn committed_rows_have_constant_b_on_blocks() {
    use committed::Layout;
    for (m, k, n) in [(1, 1, 1), (4, 4, 4), (8, 4, 6), (16, 16, 16), (32, 8, 33), (12, 20, 7), (64, 64, 64)] {
        let shape = Shape::new(m, k, n, Dtype::Int8).unwrap();
        let layout = Layout::new(&shape);
        let t = layout.block;
        assert!(t.is_power_of_two() && m as usize % t == 0 && k as usize % t == 0, "{shape}: block {t}");
        let size = layout.domain_size().unwrap();
        let unpadded = Layout { block: 1, ..layout };
        assert_eq!(size, unpadded.domain_size().unwrap(), "{shape}: padding grew the domain");
        let mut rows = layout.rows();
        rows.resize(size, Default::default());
        for (beta, block) in rows.chunks(t).enumerate() {
            assert!(block.iter().all(|r| r.b == block[0].b), "{shape}: B varies in block {beta}");
        }
        let mut seen = vec![false; size];
        for row in 0..size {
            let i = layout.qap_index(row, size);
            assert!(!seen[i], "{shape}: two rows at ω^{i}");
            seen[i] = true;
            assert_eq!(i % (size / t), row / t, "{shape}: row {row} outside its block's coset");
        }
    }
    // The headline shapes get the block their NTT saving needs.
    for n in [256u32, 1024] {
        let layout = Layout::new(&Shape::new(n, n, n, Dtype::Int8).unwrap());
        assert_eq!(layout.block, n as usize);
    }
}
