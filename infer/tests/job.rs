//! Commit-and-prove for inference: the honest proof verifies against its
//! statement; a replay to another job or provider, another input, a forged
//! output commitment, a forged proof of knowledge, and another model's keys
//! are each refused.

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::CurveGroup;
use ark_std::UniformRand;
use rand::{Rng, SeedableRng};
use veriflop_circuits::statement::Address;
use veriflop_infer::circuit::{instance_groups, InferenceCircuit, Witness, DENSE_BUDGET};
use veriflop_infer::job::{commit_output, prove, verify, InferenceStatement, ModelKeys};
use veriflop_infer::qap::InferenceReduction;
use veriflop_infer::{run, Layer, Model, QuantParams, Requant};

const BATCH: usize = 3;

fn model(seed: u64) -> Model {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut layer = |k: usize, n: usize, relu: bool| {
        let zp: i8 = rng.gen_range(-20..20);
        Layer {
            d_in: k,
            d_out: n,
            weights: (0..k * n).map(|_| rng.gen_range(-127..=127)).collect(),
            bias: (0..n).map(|_| rng.gen_range(-3000..3000)).collect(),
            requant: Requant::new(rng.gen_range(0.002..0.02), zp, if relu { zp } else { -128 }, 127).unwrap(),
        }
    };
    let layers = vec![layer(5, 4, true), layer(4, 3, false)];
    let q = QuantParams { scale: 0.05, zero_point: 0 };
    Model { input: q, layers, output: q }
}

/// The committed circuit as the setup (or, hollow, the prover) synthesizes it.
fn keys_circuit(m: &Model, dense_budget: u64, hollow: bool) -> InferenceCircuit<'_> {
    InferenceCircuit { model: m, batch: BATCH, witness: None, challenges: None, committed: true, dense_budget, hollow }
}

#[test]
fn groups_match_the_committed_circuit() {
    use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem, SynthesisMode};
    let m = model(1);
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    keys_circuit(&m, DENSE_BUDGET, false).generate_constraints(cs.clone()).unwrap();
    assert_eq!(cs.num_instance_variables(), 3 + instance_groups(&m, BATCH, DENSE_BUDGET).len());
}

/// The keys' reduction gives no QAP row to an input the constraints pin down
/// (veriflop_infer::qap): binding then rests on every committed value being
/// the only input on one side of some row. The circuit pivots all of them, so
/// the domain holds the constraints alone, and every input base is distinct
/// and not the identity.
#[test]
fn every_committed_value_is_pivoted_and_its_base_distinct() {
    use ark_ec::AffineRepr;
    use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisMode};
    let m = model(1);
    let matrices = |dense_budget: u64, hollow: bool| {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Setup);
        keys_circuit(&m, dense_budget, hollow).generate_constraints(cs.clone()).unwrap();
        cs.finalize();
        cs.to_matrices().unwrap()
    };
    // Whichever layers are dense, in the whole circuit's matrices and in the
    // hollow ones (the prover's and the setup's), which must have the same shape.
    let first = BATCH * m.layers[0].d_in * m.layers[0].d_out;
    for budget in [0, first as u64, DENSE_BUDGET] {
        let (full, hollow) = (matrices(budget, false), matrices(budget, true));
        assert_eq!(veriflop_infer::qap::unpivoted(&full), Vec::<usize>::new(), "budget {budget}");
        assert_eq!(veriflop_infer::qap::unpivoted(&hollow), Vec::<usize>::new(), "budget {budget}, hollow");
        assert_eq!(
            (full.num_constraints, full.num_instance_variables, full.num_witness_variables),
            (hollow.num_constraints, hollow.num_instance_variables, hollow.num_witness_variables)
        );
        assert_eq!((full.a, full.c), (hollow.a, hollow.c), "hollow rows change only B");
    }
    let mx = matrices(DENSE_BUDGET, false);

    let keys = ModelKeys::setup(&m, BATCH, &mut rand::rngs::StdRng::seed_from_u64(3)).unwrap();
    assert_eq!(keys.pk.h_query.len(), mx.num_constraints.next_power_of_two());
    let ic = &keys.vk.gamma_abc_g1;
    assert!(ic.iter().all(|p| !p.is_zero()), "an input base is the identity");
    let distinct: std::collections::HashSet<_> = ic.iter().map(|p| p.xy()).collect();
    assert_eq!(distinct.len(), ic.len(), "two input bases coincide");
}

/// The setup's columns (hollow matrices plus the dense layers' weight sums,
/// veriflop_infer::setup) are the whole circuit's, column by column, whichever
/// layers are dense, for split and full-width chunks alike.
#[test]
fn the_setups_columns_are_the_whole_circuits() {
    use ark_groth16::r1cs_to_qap::R1CSToQAP;
    use ark_poly::GeneralEvaluationDomain;
    use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisMode};
    use veriflop_infer::circuit::{limb, Chunks};
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    // model(1)'s intervals are short (split chunks); random_mlp's first layer's
    // are 1108 long (full-width at 2^10), its second's 960 (split).
    let models = [model(1), Model::random_mlp(&[12, 9, 4], 3)];
    let full: Vec<Vec<bool>> =
        models.iter().map(|m| m.layers.iter().map(|l| Chunks::new(l, limb(m)).full).collect()).collect();
    assert_eq!(full, [vec![false, false], vec![true, false]]);
    for m in &models {
        let first = BATCH * m.layers[0].d_in * m.layers[0].d_out;
        for budget in [0, first as u64, DENSE_BUDGET] {
            let tau = Fr::rand(&mut rng);
            let cols = veriflop_infer::setup::columns(m, BATCH, budget, tau).unwrap();
            let cs = ConstraintSystem::<Fr>::new_ref();
            cs.set_optimization_goal(OptimizationGoal::Constraints);
            cs.set_mode(SynthesisMode::Setup);
            keys_circuit(m, budget, false).generate_constraints(cs.clone()).unwrap();
            cs.finalize();
            let (a, b, c, zt, _, size) =
                InferenceReduction::instance_map_with_evaluation::<Fr, GeneralEvaluationDomain<Fr>>(cs, &tau).unwrap();
            assert_eq!((cols.zt, cols.domain_size), (zt, size), "budget {budget}");
            assert!(cols.a == a && cols.c == c, "budget {budget}: A and C");
            assert!(cols.b == b, "budget {budget}: B, where the weight sums are");
        }
    }
}

#[test]
fn proofs_bind_the_job_the_provider_the_data_and_the_model() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let m = model(1);
    let keys = ModelKeys::setup(&m, BATCH, &mut rng).unwrap();
    let x: Vec<i8> = (0..BATCH * m.d_in()).map(|_| rng.gen()).collect();
    let trace = run(&m, BATCH, &x).unwrap();
    let st = InferenceStatement {
        job_id: Fr::from(77u64),
        provider: Address([7; 20]),
        model_digest: m.digest(),
        cm_in: keys.commit_input(&x).unwrap(),
    };
    let p = prove(&keys, &m, &Witness::from(&trace), &st, &mut rng).unwrap();
    assert!(verify(&keys, &st, &p), "the honest proof");
    // The output commitment is the client's check on delivery.
    assert_eq!(p.cm_out, commit_output(&keys, trace.output()).unwrap());

    // Replays: another job, another provider, another input.
    assert!(!verify(&keys, &InferenceStatement { job_id: Fr::from(78u64), ..st }, &p), "another job");
    assert!(!verify(&keys, &InferenceStatement { provider: Address([8; 20]), ..st }, &p), "another provider");
    let mut x2 = x.clone();
    x2[0] = x2[0].wrapping_add(1);
    assert!(!verify(&keys, &InferenceStatement { cm_in: keys.commit_input(&x2).unwrap(), ..st }, &p), "another input");

    // A forged output commitment, even with an honest proof of knowledge of it.
    let mut y = trace.output().to_vec();
    y[1] = y[1].wrapping_add(1);
    let forged = commit_output(&keys, &y).unwrap();
    let vals: Vec<Fr> = y.iter().map(|&v| Fr::from(v as i64)).collect();
    let forged_pok = <G1Projective as ark_ec::VariableBaseMSM>::msm(&keys.pok_out, &vals).unwrap().into_affine();
    let mut q = p.clone();
    q.cm_out = forged;
    q.pok_out = forged_pok;
    assert!(!verify(&keys, &st, &q), "forged cm_out");
    // A proof of knowledge that is not σ·cm.
    let mut q = p.clone();
    q.pok_hidden = G1Projective::rand(&mut rng).into_affine();
    assert!(!verify(&keys, &st, &q), "forged pok_hidden");
    let mut q = p.clone();
    q.pok_out = G1Affine::default();
    assert!(!verify(&keys, &st, &q), "identity pok_out");
    // Shifting value between the prover's two commitments breaks both proofs of knowledge.
    let mut q = p.clone();
    let shift = keys.commit_input(&vec![1; BATCH * m.d_in()]).unwrap();
    // Wrong lengths are refused, not a panic.
    assert!(keys.commit_input(&[1; 3]).is_err());
    assert!(commit_output(&keys, &[]).is_err());
    q.cm_hidden = (p.cm_hidden + shift).into_affine();
    assert!(!verify(&keys, &st, &q), "cm_hidden moved");

    // Another model's keys (same shape): the proof does not verify there, and the
    // statement names the model.
    let other = model(2);
    let keys2 = ModelKeys::setup(&other, BATCH, &mut rng).unwrap();
    assert!(!verify(
        &keys2,
        &InferenceStatement { model_digest: other.digest(), cm_in: keys2.commit_input(&x).unwrap(), ..st },
        &p
    ));
    assert!(!verify(&keys, &InferenceStatement { model_digest: other.digest(), ..st }, &p));
    // And a prover cannot prove model 1's run with model 2's keys.
    assert!(prove(&keys2, &m, &Witness::from(&trace), &st, &mut rng).is_err());
}

/// Under keys with every layer by Freivalds, with the first layer dense, and
/// with every layer dense: the honest run proves and verifies, and a wrong
/// run cannot be proven (the prover's own checks refuse it: an output its
/// interval does not give, or an accumulator that is not X·W + b).
#[test]
fn every_matmul_check_proves_the_run_and_refuses_a_wrong_one() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    // Split chunks only; then a full-width layer and a split one (the
    // fast prover's layouts for both, dense and by Freivalds).
    for m in [model(1), Model::random_mlp(&[12, 9, 4], 3)] {
        let x: Vec<i8> = (0..BATCH * m.d_in()).map(|_| rng.gen()).collect();
        let honest = Witness::from(&run(&m, BATCH, &x).unwrap());
        let first = (BATCH * m.layers[0].d_in * m.layers[0].d_out) as u64;
        for budget in [0, first, DENSE_BUDGET] {
            let keys = ModelKeys::setup_with_budget(&m, BATCH, budget, &mut rng).unwrap();
            let st = InferenceStatement {
                job_id: Fr::from(1u64),
                provider: Address([1; 20]),
                model_digest: m.digest(),
                cm_in: keys.commit_input(&x).unwrap(),
            };
            let p = prove(&keys, &m, &honest, &st, &mut rng).unwrap();
            assert!(verify(&keys, &st, &p), "budget {budget}");

            let mut w = honest.clone();
            let last = w.activations.len() - 1;
            w.activations[last][0] = if w.activations[last][0] == 127 { 126 } else { w.activations[last][0] + 1 };
            assert!(matches!(prove(&keys, &m, &w, &st, &mut rng), Err(veriflop_infer::Error::Unsatisfied(_))));
            for li in 0..m.layers.len() {
                let mut w = honest.clone();
                w.accumulators[li][1] += 1;
                w.activations[li + 1][1] = m.layers[li].requant.apply(w.accumulators[li][1] as i32) as i64;
                let refused = prove(&keys, &m, &w, &st, &mut rng);
                assert!(matches!(refused, Err(veriflop_infer::Error::Unsatisfied(_))), "budget {budget}, layer {li}");
            }
            // An input no int8 run has, at the edge of i64: refused, no overflow.
            let mut w = honest.clone();
            w.activations[0][0] = i64::MAX;
            assert!(prove(&keys, &m, &w, &st, &mut rng).is_err(), "budget {budget}");
        }
    }
}

/// The key files round-trip, the verifier's key alone verifies and recomputes
/// the commitments, and damaged files are refused with an error, never a panic.
#[test]
fn key_files_round_trip_and_refuse_damage() {
    use veriflop_infer::keys::ModelVk;
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let m = model(3);
    let keys = ModelKeys::setup(&m, BATCH, &mut rng).unwrap();
    let x: Vec<i8> = (0..BATCH * m.d_in()).map(|_| rng.gen()).collect();
    let trace = run(&m, BATCH, &x).unwrap();

    let vk = keys.verifying_key();
    assert_eq!((vk.batch, vk.d_in, vk.d_out), (BATCH, m.d_in(), m.d_out()));
    let vk_bytes = vk.to_bytes();
    assert_eq!(ModelVk::from_bytes(&vk_bytes).unwrap(), vk);
    let keys2 = ModelKeys::from_bytes(&keys.to_bytes()).unwrap();
    assert_eq!((&keys2.groups, keys2.dense_budget), (&keys.groups, keys.dense_budget));

    let st = InferenceStatement {
        job_id: Fr::from(5u64),
        provider: Address([1; 20]),
        model_digest: m.digest(),
        cm_in: vk.commit_input(&x).unwrap(),
    };
    let p = prove(&keys2, &m, &Witness::from(&trace), &st, &mut rng).unwrap();
    assert!(vk.verify(&st, &p), "a proof under the reloaded proving key, checked by the verifier's key");
    assert_eq!(vk.commit_output(trace.output()).unwrap(), p.cm_out);
    assert!(vk.commit_input(&x[1..]).is_err(), "a short input is a shape error");

    // Truncations, extensions and every single-byte change of the header and
    // the first points: refused or (a point's change) a different key.
    for cut in [0, 3, 10, 49, vk_bytes.len() - 1] {
        assert!(ModelVk::from_bytes(&vk_bytes[..cut]).is_err(), "truncated at {cut}");
    }
    let mut longer = vk_bytes.clone();
    longer.push(0);
    assert!(ModelVk::from_bytes(&longer).is_err());
    for i in 0..400.min(vk_bytes.len()) {
        let mut b = vk_bytes.clone();
        b[i] ^= 0x41;
        if let Ok(k) = ModelVk::from_bytes(&b) {
            assert_ne!(k, vk, "byte {i} changed but decoded to the same key");
            assert!(i >= 5, "header byte {i} changed and accepted");
        }
    }
    // A header claiming a huge batch is refused before any allocation.
    let mut huge = vk_bytes.clone();
    huge[37..41].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(ModelVk::from_bytes(&huge).is_err());
    // The proving key's checksum catches a flipped byte.
    let mut pk_bytes = keys.to_bytes();
    let last = pk_bytes.len() - 1;
    pk_bytes[last] ^= 1;
    assert!(ModelKeys::from_bytes(&pk_bytes).is_err());
    assert!(ModelKeys::from_bytes(&vk_bytes).is_err(), "a verifying key is not a proving key");
}
