//! The inference relation accepts exactly the honest run: every tampering the
//! issue lists (a wrong output in any layer, off-by-one rounding, an activation
//! outside int8, another model's weights, a changed bias, swapped layers) leaves
//! it unsatisfied; and it proves and verifies with Groth16.

use ark_bn254::{Bn254, Fr};
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem};
use ark_snark::SNARK;
use ark_std::UniformRand;
use rand::{Rng, SeedableRng};
use veriflop_infer::circuit::{limb, Challenges, Chunks, InferenceCircuit, Witness};
use veriflop_infer::{run, Layer, Model, QuantParams, Requant};

fn layer(rng: &mut impl Rng, k: usize, n: usize, relu: bool, scale: std::ops::Range<f32>) -> Layer {
    let zp: i8 = rng.gen_range(-20..20);
    Layer {
        d_in: k,
        d_out: n,
        weights: (0..k * n).map(|_| rng.gen_range(-127..=127)).collect(),
        bias: (0..n).map(|_| rng.gen_range(-3000..3000)).collect(),
        requant: Requant::new(rng.gen_range(scale), zp, if relu { zp } else { -128 }, 127).unwrap(),
    }
}

/// A model whose intervals are 50 to 500 accumulators long: split chunks.
fn model(seed: u64) -> Model {
    model_scaled(seed, 0.002..0.02)
}

/// A model whose intervals are at least 1111 long: full-width chunks (2^10).
fn wide(seed: u64) -> Model {
    model_scaled(seed, 0.0004..0.0009)
}

fn model_scaled(seed: u64, scale: std::ops::Range<f32>) -> Model {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let q = QuantParams { scale: 0.05, zero_point: 0 };
    let mut layer = |k, n, relu| layer(&mut rng, k, n, relu, scale.clone());
    Model {
        input: q,
        layers: vec![layer(6, 5, true), layer(5, 5, true), layer(5, 5, false), layer(5, 3, false)],
        output: q,
    }
}

/// Both kinds of chunks, each model's every layer of one kind.
fn models(seed: u64) -> [Model; 2] {
    let (m, w) = (model(seed), wide(seed));
    assert!(m.layers.iter().all(|l| !Chunks::new(l, limb(&m)).full));
    assert!(w.layers.iter().all(|l| Chunks::new(l, limb(&w)).full));
    [m, w]
}

const BATCH: usize = 4;

fn honest(m: &Model) -> Witness {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let x: Vec<i8> = (0..BATCH * m.d_in()).map(|_| rng.gen()).collect();
    Witness::from(&run(m, BATCH, &x).unwrap())
}

fn challenges() -> Challenges {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    Challenges { r: Fr::rand(&mut rng), alpha: Fr::rand(&mut rng) }
}

/// Dense-row budgets: every layer by Freivalds, the first two layers dense
/// (4·6·5 + 4·5·5 = 220 weight terms) and the rest by Freivalds, every layer dense.
const BUDGETS: [u64; 3] = [0, 220, u64::MAX];

fn circuit<'a>(m: &'a Model, w: Option<&'a Witness>, dense_budget: u64) -> InferenceCircuit<'a> {
    let challenges = w.map(|_| challenges());
    InferenceCircuit { model: m, batch: BATCH, witness: w, challenges, committed: false, dense_budget, hollow: false }
}

/// Whether the run satisfies the relation, which must be the same whichever
/// layers are dense.
fn satisfied(m: &Model, w: &Witness) -> bool {
    let results: Vec<bool> = BUDGETS
        .iter()
        .map(|&b| {
            let cs = ConstraintSystem::<Fr>::new_ref();
            circuit(m, Some(w), b).generate_constraints(cs.clone()).unwrap();
            cs.is_satisfied().unwrap()
        })
        .collect();
    assert!(results.iter().all(|&r| r == results[0]), "dense and Freivalds layers disagree: {results:?}");
    results[0]
}

/// Recomputes layers from `from` on, as a prover who changed layer `from − 1`'s
/// output would, so only the changed layer is wrong.
fn recompute_from(m: &Model, w: &mut Witness, from: usize) {
    for li in from..m.layers.len() {
        let l = &m.layers[li];
        for i in 0..BATCH {
            for j in 0..l.d_out {
                let mut a = l.bias[j] as i64;
                for t in 0..l.d_in {
                    a += w.activations[li][i * l.d_in + t] * l.weight(t, j) as i64;
                }
                w.accumulators[li][i * l.d_out + j] = a;
                w.activations[li + 1][i * l.d_out + j] = l.requant.apply(a as i32) as i64;
            }
        }
    }
}

#[test]
fn honest_run_satisfies_the_relation() {
    for m in models(1) {
        let w = honest(&m);
        // Not a degenerate run: the first layer's outputs take several values
        // (the wide model's later layers, with long intervals, take few).
        let distinct: std::collections::BTreeSet<_> = w.activations[1].iter().collect();
        assert!(distinct.len() > 3, "{distinct:?}");
        assert_eq!(w.activations.len(), 5);
        assert!(satisfied(&m, &w));
    }
}

#[test]
fn a_wrong_output_in_any_layer_is_rejected() {
    for m in models(1) {
        for li in 0..m.layers.len() {
            let mut w = honest(&m);
            let v = &mut w.activations[li + 1][3];
            *v = if *v == 127 { 126 } else { *v + 1 };
            recompute_from(&m, &mut w, li + 1);
            assert!(!satisfied(&m, &w), "layer {li}");
            // A wrong accumulator (with its output recomputed) fails the
            // matmul check (a dense layer's lookups read X·W + b, not it).
            let mut w = honest(&m);
            w.accumulators[li][2] += 1;
            w.activations[li + 1][2] = m.layers[li].requant.apply(w.accumulators[li][2] as i32) as i64;
            recompute_from(&m, &mut w, li + 1);
            assert!(!satisfied(&m, &w), "layer {li} accumulator");
        }
    }
}

#[test]
fn off_by_one_rounding_is_rejected() {
    // Move one accumulator to each edge of its output's interval, acc = T(y) and
    // acc = T(y+1) − 1 (the bias of a copy of the model absorbs the move, so the
    // matmul check still holds), then claim y − 1, resp. y + 1: one step of
    // rounding the other way.
    // Both kinds of chunks: a full-width interval's last chunk overlaps the one
    // before it and ends exactly at T(y+1).
    for m in models(1) {
        let li = 2;
        let w = honest(&m);
        let th = m.layers[li].requant.thresholds();
        let n = m.layers[li].d_out;
        let idx = w.activations[li + 1].iter().position(|&y| y > -128 && y < 127).expect("an unclamped output");
        let y = w.activations[li + 1][idx];
        let (lo, hi) = th.interval(y as i8).unwrap();
        for (acc, wrong) in [(lo, y - 1), (hi - 1, y + 1)] {
            let mut m2 = m.clone();
            let mut t = w.clone();
            // Only this entry's row uses the moved bias: keep one row in the batch.
            m2.layers[li].bias[idx % n] += (acc - t.accumulators[li][idx]) as i32;
            recompute_from(&m2, &mut t, li);
            assert_eq!(t.accumulators[li][idx], acc);
            assert_eq!(t.activations[li + 1][idx], y);
            assert!(satisfied(&m2, &t), "the edge itself is honest");
            t.activations[li + 1][idx] = wrong;
            recompute_from(&m2, &mut t, li + 1);
            assert!(!satisfied(&m2, &t), "acc {acc}: {wrong} instead of {y}");
        }
    }
}

/// y + 256 with d + 1 packs to the same chunk-table row as (y, d): only the
/// byte table's range check on y refuses it.
#[test]
fn an_output_shifted_by_256_is_rejected_by_the_byte_range() {
    for m in models(1) {
        let li = 3;
        let mut w = honest(&m);
        let chunks = Chunks::new(&m.layers[li], limb(&m));
        let idx = 0;
        let y = w.activations[li + 1][idx];
        let acc = w.accumulators[li][idx];
        let (a, b) = chunks.find(y, acc).unwrap();
        assert!(satisfied(&m, &w));
        w.activations[li + 1][idx] = y + 256;
        w.slack.insert((li, idx), (acc - a + 1, b - 1 - acc));
        assert!(!satisfied(&m, &w));
    }
}

/// Claiming y + 1 for an accumulator below T(y + 1) needs d = acc − a < 0 for
/// the first chunk [a, b) of y + 1, which only the limb range check refuses.
#[test]
fn a_negative_slack_is_rejected_by_the_limb_range() {
    for m in models(1) {
        let li = 3;
        let mut w = honest(&m);
        let chunks = Chunks::new(&m.layers[li], limb(&m));
        let th = m.layers[li].requant.thresholds();
        let idx = w.activations[li + 1].iter().position(|&y| y > -128 && y < 126).expect("an unclamped output");
        let y = w.activations[li + 1][idx];
        let acc = w.accumulators[li][idx];
        let (lo, _) = th.interval((y + 1) as i8).unwrap();
        let (a, b) = chunks.find(y + 1, lo).unwrap();
        assert!(acc < a);
        w.activations[li + 1][idx] = y + 1;
        w.slack.insert((li, idx), (acc - a, b - 1 - acc));
        assert!(!satisfied(&m, &w));
    }
}

#[test]
fn an_activation_outside_int8_is_rejected() {
    // Clamp the last layer's output range to nothing but what int8 allows, then
    // claim 128 for an entry the layer clamps to 127 (and −129 for −128).
    let m = model(3);
    let mut w = honest(&m);
    let li = 1;
    let mut m2 = m.clone();
    m2.layers[li].requant.scale = 1.0;
    recompute_from(&m2, &mut w, li);
    let hot = w.activations[li + 1].iter().position(|&v| v == 127 || v == -128).expect("a clamped entry");
    let v = w.activations[li + 1][hot];
    w.activations[li + 1][hot] = if v == 127 { 128 } else { -129 };
    recompute_from(&m2, &mut w, li + 1);
    assert!(!satisfied(&m2, &w));
}

#[test]
fn another_models_weights_a_changed_bias_or_swapped_layers_are_rejected() {
    let m = model(1);
    let w = honest(&m);
    assert!(!satisfied(&model(2), &w), "another model's weights");
    let mut b = m.clone();
    b.layers[0].bias[1] += 1;
    assert!(!satisfied(&b, &w), "a bias changed by one");
    // Layers 1 and 2 are both 5→5.
    let mut swapped = m.clone();
    swapped.layers.swap(1, 2);
    assert!(!satisfied(&swapped, &w), "swapped layer order");
    let mut x = w.clone();
    x.activations[0][0] += 1;
    assert!(!satisfied(&m, &x), "another input under the same outputs");
}

/// A layer's chunks cover [−bound, bound] without gaps, each inside one
/// output's interval and at most the model's limb wide (a power of two from
/// 2^10 to 2^15): split chunks tile it, full-width ones are exactly the limb
/// wide and overlap only inside an interval; `find` agrees with the
/// requantization.
#[test]
fn chunks_tile_the_accumulator_range() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for m in models(1) {
        let limb = limb(&m);
        assert!((limb as u64).is_power_of_two() && (1 << 10..=1 << 15).contains(&limb));
        for l in &m.layers {
            let c = Chunks::new(l, limb);
            let bound = l.acc_bound();
            let mut rows = c.rows.clone();
            rows.sort_by_key(|&(_, a, _)| a);
            assert!(rows.first().unwrap().1 <= -bound);
            assert!(rows.last().unwrap().2 >= bound + 1);
            for w in rows.windows(2) {
                if c.full {
                    assert!(w[1].1 <= w[0].2, "no gap");
                    assert!(w[1].1 == w[0].2 || w[0].0 == w[1].0, "overlapping only inside an interval");
                } else {
                    assert_eq!(w[0].2, w[1].1, "contiguous");
                }
            }
            for &(v, a, b) in &rows {
                assert!(a < b && b - a <= limb);
                assert!(!c.full || b - a == limb);
                assert_eq!(l.requant.apply(a as i32) as i64, v);
                assert_eq!(l.requant.apply((b - 1) as i32) as i64, v);
            }
            for _ in 0..1000 {
                let acc = rng.gen_range(-bound..=bound);
                let y = l.requant.apply(acc as i32) as i64;
                let (a, b) = c.find(y, acc).unwrap();
                assert!(a <= acc && acc < b);
                assert_eq!(c.find(y + 1, acc), None);
            }
        }
    }
}

#[test]
fn cost_counts_the_constraints() {
    for m in models(1) {
        assert_eq!(veriflop_infer::circuit::dense_layers(&m, BATCH, 220), [true, true, false, false]);
        let per_output = if Chunks::new(&m.layers[0], limb(&m)).full { 3 } else { 4 };
        for b in BUDGETS {
            let cs = ConstraintSystem::<Fr>::new_ref();
            cs.set_mode(ark_relations::r1cs::SynthesisMode::Setup);
            circuit(&m, None, b).generate_constraints(cs.clone()).unwrap();
            let c = veriflop_infer::circuit::Cost::with_budget(&m, BATCH, b);
            assert_eq!(c.total(), cs.num_constraints(), "budget {b}: {c:?}");
            assert_eq!(c.requant, per_output * BATCH * (5 + 5 + 5 + 3));
        }
        // Dense layers: no row, but one per input entry of a dense first
        // layer; and r·r = r², which pivots r.
        let dense = veriflop_infer::circuit::Cost::with_budget(&m, BATCH, u64::MAX);
        assert_eq!(dense.matmul, 1 + BATCH * 6);
    }
}

#[test]
fn proves_and_verifies_with_groth16() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for m in models(1) {
        let w = honest(&m);
        for b in BUDGETS {
            let (pk, vk) =
                ark_groth16::Groth16::<Bn254>::circuit_specific_setup(circuit(&m, None, b), &mut rng).unwrap();
            let ch = challenges();
            let proof = ark_groth16::Groth16::<Bn254>::prove(&pk, circuit(&m, Some(&w), b), &mut rng).unwrap();
            assert!(ark_groth16::Groth16::<Bn254>::verify(&vk, &[ch.r, ch.alpha], &proof).unwrap());
            assert!(!ark_groth16::Groth16::<Bn254>::verify(&vk, &[ch.r + Fr::from(1u64), ch.alpha], &proof).unwrap());
        }
    }
}
