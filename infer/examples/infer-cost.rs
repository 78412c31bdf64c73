//! Constraint split of the inference relation for the two target
//! models, and (with `--prove`) generic arkworks Groth16 timings for the first:
//!
//!     cargo run --release -p veriflop-infer --example infer-cost [-- --prove]
//!
//! Random int8 weights; the cost does not depend on their values beyond the
//! threshold tables' sizes.

use std::time::Instant;

use ark_bn254::{Bn254, Fr};
use ark_snark::SNARK;
use ark_std::UniformRand;
use rand::{Rng, SeedableRng};
use veriflop_infer::circuit::{Challenges, Cost, InferenceCircuit, Witness, DENSE_BUDGET};
use veriflop_infer::{run, Model};

fn main() {
    let prove = std::env::args().any(|a| a == "--prove");
    for (name, dims, batch) in
        [("mlp 784-256-256-10", vec![784, 256, 256, 10], 64), ("mlp 4×1024", vec![1024, 1024, 1024, 1024, 1024], 128)]
    {
        let m = Model::random_mlp(&dims, 1);
        let c = Cost::of(&m, batch);
        // The keys' reduction adds no row for the committed inputs (veriflop_infer::qap).
        let rows = c.total();
        println!(
            "{name}, batch {batch}: {} constraints = matmul {} ({:.0}%) + requantization lookups {} ({:.0}%) + tables {} ({:.0}%); {rows} QAP rows, domain 2^{}",
            c.total(),
            c.matmul,
            100.0 * c.matmul as f64 / c.total() as f64,
            c.requant,
            100.0 * c.requant as f64 / c.total() as f64,
            c.tables,
            100.0 * c.tables as f64 / c.total() as f64,
            rows.next_power_of_two().trailing_zeros()
        );
    }
    if prove {
        let m = Model::random_mlp(&[784, 256, 256, 10], 1);
        let batch = 64;
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let x: Vec<i8> = (0..batch * 784).map(|_| rng.gen()).collect();
        let t = Instant::now();
        let trace = run(&m, batch, &x).unwrap();
        println!("native run: {:.3} s", t.elapsed().as_secs_f64());
        let w = Witness::from(&trace);
        let t = Instant::now();
        let (pk, vk) = ark_groth16::Groth16::<Bn254>::circuit_specific_setup(
            InferenceCircuit {
                model: &m,
                batch,
                witness: None,
                challenges: None,
                committed: false,
                dense_budget: DENSE_BUDGET,
                hollow: false,
            },
            &mut rng,
        )
        .unwrap();
        println!("generic Groth16 setup: {:.1} s", t.elapsed().as_secs_f64());
        let ch = Challenges { r: Fr::rand(&mut rng), alpha: Fr::rand(&mut rng) };
        let t = Instant::now();
        let proof = ark_groth16::Groth16::<Bn254>::prove(
            &pk,
            InferenceCircuit {
                model: &m,
                batch,
                witness: Some(&w),
                challenges: Some(ch),
                committed: false,
                dense_budget: DENSE_BUDGET,
                hollow: false,
            },
            &mut rng,
        )
        .unwrap();
        println!("generic Groth16 prove: {:.1} s", t.elapsed().as_secs_f64());
        assert!(ark_groth16::Groth16::<Bn254>::verify(&vk, &[ch.r, ch.alpha], &proof).unwrap());
        println!("verified");
    }
}
